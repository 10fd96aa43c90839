//! Refusals as a real API server words them: a `Status` body with the exact `reason` strings
//! kube-rs (`is_conflict()`, `is_not_found()`...) and kubectl match on.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::catalog::ResourceType;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

fn details(rt: &ResourceType, name: &str) -> Value {
    json!({"name": name, "group": rt.group, "kind": rt.plural})
}

impl ApiError {
    pub fn unknown_path() -> ApiError {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: "the server could not find the requested resource".into(),
            details: Some(json!({})),
        }
    }

    pub fn not_found(rt: &ResourceType, name: &str) -> ApiError {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{} \"{name}\" not found", rt.group_resource()),
            details: Some(details(rt, name)),
        }
    }

    pub fn namespace_not_found(ns: &str) -> ApiError {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("namespaces \"{ns}\" not found"),
            details: Some(json!({"name": ns, "kind": "namespaces"})),
        }
    }

    pub fn already_exists(rt: &ResourceType, name: &str) -> ApiError {
        ApiError {
            code: 409,
            reason: "AlreadyExists",
            message: format!("{} \"{name}\" already exists", rt.group_resource()),
            details: Some(details(rt, name)),
        }
    }

    pub fn conflict(rt: &ResourceType, name: &str) -> ApiError {
        ApiError {
            code: 409,
            reason: "Conflict",
            message: format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                rt.group_resource()
            ),
            details: Some(details(rt, name)),
        }
    }

    /// 422 with every cause a schema check found, worded as the API server joins them
    /// (`[a: x, b: y]` when there are several).
    pub fn invalid_causes(
        rt: &ResourceType,
        name: &str,
        causes: Vec<(String, String)>,
    ) -> ApiError {
        let joined: Vec<String> = causes.iter().map(|(f, c)| format!("{f}: {c}")).collect();
        let what = match joined.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let list: Vec<Value> = causes
            .iter()
            .map(|(f, c)| json!({"reason": "FieldValueInvalid", "message": c, "field": f}))
            .collect();
        ApiError {
            code: 422,
            reason: "Invalid",
            message: format!("{} \"{name}\" is invalid: {what}", rt.group_kind()),
            details: Some(
                json!({"name": name, "group": rt.group, "kind": rt.kind, "causes": list}),
            ),
        }
    }

    /// 422 with one cause; the message names `Deployment.apps`, the details the bare Kind.
    pub fn invalid(
        rt: &ResourceType,
        kind: &str,
        name: &str,
        field: &str,
        cause: &str,
    ) -> ApiError {
        let group_kind = match kind {
            k if k == rt.kind => rt.group_kind(),
            "Scale" => "Scale.autoscaling".to_string(),
            other => other.to_string(),
        };
        ApiError {
            code: 422,
            reason: "Invalid",
            message: format!("{group_kind} \"{name}\" is invalid: {field}: {cause}"),
            details: Some(json!({
                "name": name,
                "group": rt.group,
                "kind": kind,
                "causes": [{"reason": "FieldValueInvalid", "message": cause, "field": field}],
            })),
        }
    }

    pub fn unprocessable(message: String) -> ApiError {
        ApiError {
            code: 422,
            reason: "Invalid",
            message,
            details: None,
        }
    }

    pub fn bad_request(message: String) -> ApiError {
        ApiError {
            code: 400,
            reason: "BadRequest",
            message,
            details: None,
        }
    }

    pub fn unsupported_media(builtin: bool) -> ApiError {
        let types = if builtin {
            "application/json-patch+json, application/merge-patch+json, \
             application/strategic-merge-patch+json, application/apply-patch+yaml"
        } else {
            "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
        };
        ApiError {
            code: 415,
            reason: "UnsupportedMediaType",
            message: format!(
                "the body of the request was in an unknown format - accepted media types include: {types}"
            ),
            details: None,
        }
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError {
            code: 405,
            reason: "MethodNotAllowed",
            message: "the server does not allow this method on the requested resource".into(),
            details: Some(json!({})),
        }
    }

    pub fn unauthorized() -> ApiError {
        ApiError {
            code: 401,
            reason: "Unauthorized",
            message: "Unauthorized".into(),
            details: None,
        }
    }

    /// The apiserver's `forbiddenMessage` wording.
    pub fn forbidden(
        rt: &ResourceType,
        verb: &str,
        name: Option<&str>,
        subresource: Option<&str>,
        namespace: Option<&str>,
    ) -> ApiError {
        let what = match name {
            Some(n) => format!("{} \"{n}\"", rt.group_resource()),
            None => rt.group_resource(),
        };
        let resource = match subresource {
            Some(s) => format!("{}/{s}", rt.plural),
            None => rt.plural.to_string(),
        };
        let scope = match namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_string(),
        };
        ApiError {
            code: 403,
            reason: "Forbidden",
            message: format!(
                "{what} is forbidden: User \"sim-operator\" cannot {verb} resource \"{resource}\" in API \
                 group \"{}\" {scope}",
                rt.group
            ),
            details: Some(details(rt, name.unwrap_or(""))),
        }
    }

    pub fn expired(message: String) -> ApiError {
        ApiError {
            code: 410,
            reason: "Expired",
            message,
            details: None,
        }
    }

    pub fn internal(message: String) -> ApiError {
        ApiError {
            code: 500,
            reason: "InternalError",
            message,
            details: None,
        }
    }

    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let (Some(details), Some(obj)) = (&self.details, status.as_object_mut()) {
            obj.insert("details".into(), details.clone());
        }
        status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        super::http::json_response(code, &self.to_status())
    }
}
