//! What a request to the simulated API names and carries: the resource it points at
//! (`Target`), its JSON body, and the kind of patch its content type says.

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::Value;

use super::catalog::ResourceType;
use super::http::media_type;
use super::patch;
use super::status::ApiError;

/// What a resource path points at.
pub struct Target {
    pub rt: &'static ResourceType,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

/// The request body as JSON; an empty or broken body is 400, as the real server answers.
pub fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("the request body is empty".into()));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding the request body as JSON: {e}")))
}

/// How a PATCH body is to be read, from its content type.
pub enum PatchKind {
    Merge,
    Strategic,
    Json,
    Apply,
}

pub fn patch_kind(headers: &HeaderMap, rt: &ResourceType) -> Result<PatchKind, ApiError> {
    match media_type(headers).as_str() {
        "application/merge-patch+json" => Ok(PatchKind::Merge),
        "application/strategic-merge-patch+json" if rt.builtin => Ok(PatchKind::Strategic),
        "application/json-patch+json" => Ok(PatchKind::Json),
        "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchKind::Apply),
        _ => Err(ApiError::unsupported_media(rt.builtin)),
    }
}

/// Applies a non-apply patch body to `current`; a body that is JSON but not a patch is 422.
pub fn apply_patch(
    kind: &PatchKind,
    current: &Value,
    patch_body: &Value,
) -> Result<Value, ApiError> {
    match kind {
        PatchKind::Merge | PatchKind::Strategic => {
            if !patch_body.is_object() {
                return Err(ApiError::unprocessable(
                    "the patch is not a JSON object: a merge patch must be an object".into(),
                ));
            }
            let mut next = current.clone();
            patch::merge(&mut next, patch_body);
            Ok(next)
        }
        PatchKind::Json => {
            patch::json_patch(current.clone(), patch_body).map_err(ApiError::unprocessable)
        }
        PatchKind::Apply => Err(ApiError::internal("apply is handled by the caller".into())),
    }
}
