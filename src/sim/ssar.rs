//! SelfSubjectAccessReview, answered from the cluster's injected denials: everything is
//! allowed except what a test or the rehearsal took away. JSON from kube-rs, protobuf from
//! `kubectl auth can-i`.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::http::{json_response, media_type};
use super::request::parse_body;
use super::state::Shared;
use super::status::ApiError;

pub fn review(sim: &Shared, headers: &HeaderMap, body: &Bytes) -> Result<Response, ApiError> {
    let mut review = if media_type(headers) == "application/vnd.kubernetes.protobuf" {
        super::protobuf::decode_review(body).ok_or_else(|| {
            ApiError::bad_request("the protobuf body is not a SelfSubjectAccessReview".into())
        })?
    } else {
        parse_body(body)?
    };
    let attrs = review.pointer("/spec/resourceAttributes").cloned();
    let allowed = match &attrs {
        Some(a) => {
            let s = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let sub = s("subresource");
            let ns = s("namespace");
            !sim.lock().denied(
                &s("verb"),
                &s("group"),
                &s("resource"),
                (!sub.is_empty()).then_some(sub.as_str()),
                (!ns.is_empty()).then_some(ns.as_str()),
            )
        }
        // Non-resource URLs (`/healthz`...) are open to everyone here.
        None => true,
    };
    let status = if allowed {
        json!({"allowed": true, "reason": "allowed by the simulated cluster's RBAC"})
    } else {
        json!({"allowed": false, "reason": "denied by the simulated cluster's configuration"})
    };
    if let Some(o) = review.as_object_mut() {
        o.insert("kind".into(), json!("SelfSubjectAccessReview"));
        o.insert("apiVersion".into(), json!("authorization.k8s.io/v1"));
        o.insert("status".into(), status);
    }
    Ok(json_response(StatusCode::CREATED, &review))
}
