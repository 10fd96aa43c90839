//! What a real server refuses before it stores an object: fields the kind does not have, values
//! of the wrong type (both through the k8s-openapi types of the built-in kinds), and negative
//! replica counts. Custom resources with a CRD fixture are pruned and validated against its
//! structural schema (`schema`), as apiextensions-apiserver does.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::catalog::ResourceType;
use super::schema;
use super::status::ApiError;
use super::store::meta_str;

/// Checks `obj` as an object of type `rt`; returns it normalised (e.g. Secret `stringData`
/// folded into `data`).
pub fn validate(rt: &'static ResourceType, mut obj: Value) -> Result<Value, ApiError> {
    let name = meta_str(&obj, "name").unwrap_or("").to_string();
    if rt.kind == "Secret" {
        fold_string_data(&mut obj);
    }
    match rt.kind {
        "Deployment" => typed::<Deployment>(rt, &name, &obj)?,
        "StatefulSet" => typed::<StatefulSet>(rt, &name, &obj)?,
        "Pod" => typed::<Pod>(rt, &name, &obj)?,
        "Job" => typed::<Job>(rt, &name, &obj)?,
        "Secret" => typed::<Secret>(rt, &name, &obj)?,
        "ConfigMap" => typed::<ConfigMap>(rt, &name, &obj)?,
        "Namespace" => typed::<Namespace>(rt, &name, &obj)?,
        "Service" => typed::<Service>(rt, &name, &obj)?,
        "PersistentVolumeClaim" => typed::<PersistentVolumeClaim>(rt, &name, &obj)?,
        "ServiceAccount" => typed::<ServiceAccount>(rt, &name, &obj)?,
        "Role" => typed::<Role>(rt, &name, &obj)?,
        "RoleBinding" => typed::<RoleBinding>(rt, &name, &obj)?,
        _ => {}
    }
    if rt.group == "operators.coreos.com" {
        olm_schema(rt, &name, &obj)?;
    }
    if rt.is_workload() {
        replicas_not_negative(rt, rt.kind, &name, obj.pointer("/spec/replicas"))?;
    }
    if let Some(schema) = schema::crd_schema(rt) {
        obj = schema::admit(rt, schema, obj)?;
    }
    Ok(obj)
}

/// What a real server refuses of a change to a stored object, and what it does at once: a
/// PersistentVolumeClaim's spec is immutable but for its storage request, which may only grow;
/// a bound claim's growth is carried out (its `status.capacity` follows, as the volume's
/// resizer does once the storage class allows expansion, which the Platform's does).
pub fn transition(
    rt: &'static ResourceType,
    current: &Value,
    mut next: Value,
) -> Result<Value, ApiError> {
    if rt.kind != "PersistentVolumeClaim" {
        return Ok(next);
    }
    let name = meta_str(&next, "name").unwrap_or("").to_string();
    let request = |v: &Value| {
        v.pointer("/spec/resources/requests/storage")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let (before, after) = (request(current), request(&next));
    let bytes = |q: &Option<String>| q.as_deref().and_then(crate::infra::kube::quantity::bytes);
    let without_request = |v: &Value| {
        let mut spec = v.get("spec").cloned().unwrap_or(Value::Null);
        if let Some(requests) = spec
            .pointer_mut("/resources/requests")
            .and_then(Value::as_object_mut)
        {
            requests.shift_remove("storage");
        }
        spec
    };
    if without_request(current) != without_request(&next) {
        return Err(ApiError::invalid(
            rt,
            rt.kind,
            &name,
            "spec",
            "Forbidden: spec is immutable after creation except resources.requests and \
             volumeAttributesClassName for bound claims",
        ));
    }
    match (bytes(&before), bytes(&after)) {
        (Some(b), Some(a)) if a < b => Err(ApiError::invalid(
            rt,
            rt.kind,
            &name,
            "spec.resources.requests.storage",
            "Forbidden: field can not be less than status.capacity",
        )),
        (Some(b), Some(a)) if a > b => {
            if next.pointer("/status/phase").and_then(Value::as_str) == Some("Bound")
                && let Some(status) = next.get_mut("status").and_then(Value::as_object_mut)
            {
                status.insert(
                    "capacity".into(),
                    serde_json::json!({"storage": after.unwrap_or_default()}),
                );
            }
            Ok(next)
        }
        _ => Ok(next),
    }
}

pub fn replicas_not_negative(
    rt: &'static ResourceType,
    kind: &str,
    name: &str,
    replicas: Option<&Value>,
) -> Result<(), ApiError> {
    match replicas {
        None | Some(Value::Null) => Ok(()),
        Some(v) => match v.as_i64() {
            Some(n) if n >= 0 && n <= i64::from(i32::MAX) => Ok(()),
            Some(n) => Err(ApiError::invalid(
                rt,
                kind,
                name,
                "spec.replicas",
                &format!("Invalid value: {n}: must be greater than or equal to 0"),
            )),
            None => Err(ApiError::invalid(
                rt,
                kind,
                name,
                "spec.replicas",
                &format!("Invalid value: {v}: must be an integer"),
            )),
        },
    }
}

/// What OLM's CRD schemas (operator-framework/api `crds/operators.coreos.com_subscriptions.yaml`,
/// `_installplans.yaml`) require of a Subscription's and an InstallPlan's spec: the required
/// fields, and the approval enum.
fn olm_schema(rt: &'static ResourceType, name: &str, obj: &Value) -> Result<(), ApiError> {
    let (required, approval): (&[&str], &str) = match rt.kind {
        "Subscription" => (
            &["name", "source", "sourceNamespace"],
            "installPlanApproval",
        ),
        "InstallPlan" => (
            &["approval", "approved", "clusterServiceVersionNames"],
            "approval",
        ),
        _ => return Ok(()),
    };
    let Some(spec) = obj.get("spec") else {
        return Err(ApiError::invalid(
            rt,
            rt.kind,
            name,
            "spec",
            "Required value",
        ));
    };
    for field in required {
        if spec.get(*field).is_none_or(Value::is_null) {
            return Err(ApiError::invalid(
                rt,
                rt.kind,
                name,
                &format!("spec.{field}"),
                "Required value",
            ));
        }
    }
    match spec.get(approval) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s == "Automatic" || s == "Manual" => Ok(()),
        Some(other) => Err(ApiError::invalid(
            rt,
            rt.kind,
            name,
            &format!("spec.{approval}"),
            &format!("Unsupported value: {other}: supported values: \"Automatic\", \"Manual\""),
        )),
    }
}

/// The API server stores `stringData` as base64 `data` and never returns `stringData`.
fn fold_string_data(obj: &mut Value) {
    use base64::Engine;
    let Some(o) = obj.as_object_mut() else { return };
    let Some(Value::Object(string_data)) = o.shift_remove("stringData") else {
        return;
    };
    let data = o
        .entry("data")
        .or_insert_with(|| Value::Object(Default::default()));
    if !data.is_object() {
        *data = Value::Object(Default::default());
    }
    if let Some(data) = data.as_object_mut() {
        for (k, v) in string_data {
            let text = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            data.insert(
                k,
                Value::String(base64::engine::general_purpose::STANDARD.encode(text)),
            );
        }
    }
}

/// Decodes into the k8s-openapi type (types checked), then compares the input with the
/// re-encoded value: anything the type dropped is a field the kind does not have. k8s-openapi
/// itself ignores unknown fields, so the comparison is what makes this strict.
fn typed<T: DeserializeOwned + Serialize>(
    rt: &'static ResourceType,
    name: &str,
    obj: &Value,
) -> Result<(), ApiError> {
    let decoded: T = serde_json::from_value(obj.clone()).map_err(|e| {
        ApiError::invalid(rt, rt.kind, name, "<body>", &format!("Invalid value: {e}"))
    })?;
    let back = serde_json::to_value(&decoded).map_err(|e| ApiError::internal(e.to_string()))?;
    if let Some(path) = first_unknown(obj, &back, "") {
        return Err(ApiError::invalid(
            rt,
            rt.kind,
            name,
            &path,
            &format!("Invalid value: field not declared in schema: unknown field \"{path}\""),
        ));
    }
    Ok(())
}

fn first_unknown(input: &Value, known: &Value, path: &str) -> Option<String> {
    match (input, known) {
        (Value::Object(i), Value::Object(k)) => {
            for (key, value) in i {
                if value.is_null() {
                    continue;
                }
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match k.get(key) {
                    None => {
                        // Empty maps and lists may be dropped by the re-encoding.
                        let empty = matches!(value, Value::Object(m) if m.is_empty())
                            || matches!(value, Value::Array(a) if a.is_empty());
                        if !empty {
                            return Some(here);
                        }
                    }
                    Some(inner) => {
                        if let Some(found) = first_unknown(value, inner, &here) {
                            return Some(found);
                        }
                    }
                }
            }
            None
        }
        (Value::Array(i), Value::Array(k)) => i
            .iter()
            .zip(k.iter())
            .enumerate()
            .find_map(|(n, (a, b))| first_unknown(a, b, &format!("{path}[{n}]"))),
        _ => None,
    }
}
