//! `/version` and discovery, legacy and aggregated (apidiscovery.k8s.io/v2). Aggregated is
//! answered only when the client asks for it in Accept, and then for `/api` and `/apis` alike,
//! since client-go uses it only when both are aggregated.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::catalog::{self, ResourceType};
use super::http::{json_bytes, json_response};

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

pub fn wants_aggregated(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=APIGroupDiscoveryList") && a.contains("v=v2"))
}

pub fn version(minor: u32) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "major": "1",
            "minor": minor.to_string(),
            "gitVersion": format!("v1.{minor}.4"),
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2025-01-01T00:00:00Z",
            "goVersion": "go1.23.0",
            "compiler": "gc",
            "platform": "linux/amd64",
        }),
    )
}

pub fn core_versions(addr: &str) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}],
        }),
    )
}

fn group_entry(group: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

pub fn group_list(without: &[String]) -> Response {
    let groups: Vec<Value> = catalog::groups(without)
        .iter()
        .map(|(g, v)| group_entry(g, v))
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    )
}

pub fn group(without: &[String], name: &str) -> Option<Response> {
    let (g, v) = catalog::groups(without)
        .into_iter()
        .find(|(g, _)| *g == name)?;
    let mut body = group_entry(g, v);
    if let Some(o) = body.as_object_mut() {
        o.insert("kind".into(), json!("APIGroup"));
        o.insert("apiVersion".into(), json!("v1"));
    }
    Some(json_response(StatusCode::OK, &body))
}

pub fn resource_list(without: &[String], group: &str, version: &str) -> Option<Response> {
    let types: Vec<&ResourceType> = catalog::served(without)
        .filter(|rt| rt.group == group && rt.version == version)
        .collect();
    if types.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for rt in &types {
        resources.push(json!({
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": rt.verbs,
            "shortNames": rt.short_names,
        }));
        for sub in rt.subresources {
            let mut entry = json!({
                "name": format!("{}/{}", rt.plural, sub.name),
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": sub.kind,
                "verbs": sub.verbs,
            });
            if let (Some((g, v)), Some(o)) = (sub.group_version, entry.as_object_mut()) {
                o.insert("group".into(), json!(g));
                o.insert("version".into(), json!(v));
            }
            resources.push(entry);
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json_response(
        StatusCode::OK,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    ))
}

fn aggregated_item(without: &[String], group: &str, version: &str) -> Value {
    let resources: Vec<Value> = catalog::served(without)
        .filter(|rt| rt.group == group && rt.version == version)
        .map(|rt| {
            let subresources: Vec<Value> = rt
                .subresources
                .iter()
                .map(|s| {
                    let (g, v) = s.group_version.unwrap_or((rt.group, rt.version));
                    json!({
                        "subresource": s.name,
                        "responseKind": {"group": g, "version": v, "kind": s.kind},
                        "verbs": s.verbs,
                    })
                })
                .collect();
            json!({
                "resource": rt.plural,
                "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
                "scope": if rt.namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": rt.singular,
                "verbs": rt.verbs,
                "shortNames": rt.short_names,
                "subresources": subresources,
            })
        })
        .collect();
    let metadata = if group.is_empty() {
        json!({})
    } else {
        json!({"name": group})
    };
    json!({
        "metadata": metadata,
        "versions": [{"version": version, "freshness": "Current", "resources": resources}],
    })
}

/// `/api` (core) or `/apis` (every other group) in the aggregated format.
pub fn aggregated(without: &[String], core: bool) -> Response {
    let items: Vec<Value> = if core {
        vec![aggregated_item(without, "", "v1")]
    } else {
        catalog::groups(without)
            .iter()
            .map(|(g, v)| aggregated_item(without, g, v))
            .collect()
    };
    let body = json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    });
    json_bytes(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
        AGGREGATED,
    )
}
