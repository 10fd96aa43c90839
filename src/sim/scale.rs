//! The `scale` subresource of Deployments and DeploymentConfigs: an autoscaling/v1 Scale that
//! reads and writes the workload's `spec.replicas` and carries the workload's resourceVersion.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::http::json_response;
use super::request::{PatchKind, Target, apply_patch, parse_body, patch_kind};
use super::state::Shared;
use super::status::ApiError;
use super::store::meta_str;
use super::validate::replicas_not_negative;

/// `app=web,deployment=web`: the workload's selector as the Scale's status spells it.
fn selector_string(workload: &Value) -> String {
    let selector = workload
        .pointer("/spec/selector/matchLabels")
        .or_else(|| workload.pointer("/spec/selector"));
    match selector.and_then(Value::as_object) {
        Some(m) => m
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
            .collect::<Vec<_>>()
            .join(","),
        None => String::new(),
    }
}

pub fn scale_of(workload: &Value) -> Value {
    let meta = workload
        .get("metadata")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let pick = |k: &str| meta.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": pick("name"),
            "namespace": pick("namespace"),
            "uid": pick("uid"),
            "resourceVersion": pick("resourceVersion"),
            "creationTimestamp": pick("creationTimestamp"),
        },
        "spec": {"replicas": workload.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)},
        "status": {
            "replicas": workload.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector_string(workload),
        },
    })
}

fn workload(sim: &Shared, t: &Target, name: &str) -> Result<Value, ApiError> {
    sim.lock()
        .store
        .get(t.rt, t.namespace.as_deref().unwrap_or(""), name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(t.rt, name))
}

pub fn get(sim: &Shared, t: &Target, name: &str) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &scale_of(&workload(sim, t, name)?),
    ))
}

/// Sets the workload's replicas from a Scale; a stale Scale resourceVersion is a conflict on
/// the workload, as the real registry reports it.
fn set_replicas(sim: &Shared, t: &Target, name: &str, scale: &Value) -> Result<Response, ApiError> {
    if scale.get("spec").is_some_and(|s| !s.is_object()) {
        return Err(ApiError::unprocessable("spec: must be an object".into()));
    }
    let replicas = scale.pointer("/spec/replicas");
    replicas_not_negative(t.rt, "Scale", name, replicas)?;
    let replicas = replicas.and_then(Value::as_i64).unwrap_or(0);
    let ns = t.namespace.as_deref().unwrap_or("");
    let mut inner = sim.lock();
    let mut current = inner
        .store
        .get(t.rt, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(t.rt, name))?;
    let expect = meta_str(scale, "resourceVersion").map(str::to_string);
    if let Some(spec) = current.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("replicas".into(), json!(replicas));
    } else if let Some(o) = current.as_object_mut() {
        o.insert("spec".into(), json!({"replicas": replicas}));
    }
    let stored = inner
        .store
        .replace(t.rt, ns, name, current, expect.as_deref())?;
    Ok(json_response(StatusCode::OK, &scale_of(&stored)))
}

pub fn put(sim: &Shared, t: &Target, name: &str, body: &Bytes) -> Result<Response, ApiError> {
    let scale = parse_body(body)?;
    set_replicas(sim, t, name, &scale)
}

pub fn patch(
    sim: &Shared,
    t: &Target,
    name: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let kind = patch_kind(headers, t.rt)?;
    let patch_body = parse_body(body)?;
    let current = scale_of(&workload(sim, t, name)?);
    let next = match kind {
        // Applying a Scale: only spec.replicas means anything here.
        PatchKind::Apply => {
            let mut next = current.clone();
            super::patch::merge(
                &mut next,
                &json!({"spec": patch_body.get("spec").cloned().unwrap_or(Value::Null)}),
            );
            next
        }
        other => apply_patch(&other, &current, &patch_body)?,
    };
    if let Some(extra) = next
        .get("spec")
        .and_then(Value::as_object)
        .and_then(|s| s.keys().find(|k| *k != "replicas"))
    {
        return Err(ApiError::invalid(
            t.rt,
            "Scale",
            name,
            &format!("spec.{extra}"),
            "Invalid value: field not declared in schema",
        ));
    }
    set_replicas(sim, t, name, &next)
}
