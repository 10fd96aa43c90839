//! `Accept: application/json;as=Table;...`: the server-side tables `kubectl get` prints, with
//! the columns a real cluster gives for the kinds a trainee looks at (`kubectl get`'s Table negotiation).

use serde_json::{Value, json};

use super::catalog::ResourceType;
use super::store::meta_str;

pub fn wanted(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table") && a.contains("g=meta.k8s.io"))
}

/// `5s`, `3m`, `2h`, `4d`, as kubectl's duration printer rounds.
fn age(obj: &Value) -> String {
    let Some(created) = meta_str(obj, "creationTimestamp")
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    else {
        return "<unknown>".into();
    };
    let secs = (chrono::Utc::now() - created.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn int(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn column(name: &str, kind: &str) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": kind, "format": format, "description": name, "priority": 0})
}

/// The cells of one row.
type Cells = fn(&Value) -> Vec<Value>;

fn columns_and_cells(rt: &ResourceType) -> (Vec<Value>, Cells) {
    match rt.kind {
        "Deployment" => (
            vec![
                column("Name", "string"),
                column("Ready", "string"),
                column("Up-to-date", "integer"),
                column("Available", "integer"),
                column("Age", "string"),
            ],
            |o| {
                vec![
                    json!(meta_str(o, "name")),
                    json!(format!(
                        "{}/{}",
                        int(o, "/status/readyReplicas"),
                        int(o, "/spec/replicas")
                    )),
                    json!(int(o, "/status/updatedReplicas")),
                    json!(int(o, "/status/availableReplicas")),
                    json!(age(o)),
                ]
            },
        ),
        "DeploymentConfig" => (
            vec![
                column("Name", "string"),
                column("Revision", "integer"),
                column("Desired", "integer"),
                column("Current", "integer"),
                column("Triggered By", "string"),
            ],
            |o| {
                vec![
                    json!(meta_str(o, "name")),
                    json!(int(o, "/status/latestVersion")),
                    json!(int(o, "/spec/replicas")),
                    json!(int(o, "/status/replicas")),
                    json!("config"),
                ]
            },
        ),
        "Pod" => (
            vec![
                column("Name", "string"),
                column("Ready", "string"),
                column("Status", "string"),
                column("Restarts", "string"),
                column("Age", "string"),
            ],
            |o| {
                let statuses = o
                    .pointer("/status/containerStatuses")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let ready = statuses.iter().filter(|c| c["ready"] == true).count();
                let restarts: i64 = statuses
                    .iter()
                    .map(|c| c["restartCount"].as_i64().unwrap_or(0))
                    .sum();
                let terminating = o
                    .pointer("/metadata/deletionTimestamp")
                    .is_some_and(|v| !v.is_null());
                let status = if terminating {
                    "Terminating".to_string()
                } else if o.pointer("/status/phase") == Some(&json!("Pending")) {
                    "ContainerCreating".to_string()
                } else {
                    o.pointer("/status/phase")
                        .and_then(Value::as_str)
                        .unwrap_or("Unknown")
                        .to_string()
                };
                vec![
                    json!(meta_str(o, "name")),
                    json!(format!("{ready}/{}", statuses.len())),
                    json!(status),
                    json!(restarts.to_string()),
                    json!(age(o)),
                ]
            },
        ),
        "Secret" => (
            vec![
                column("Name", "string"),
                column("Type", "string"),
                column("Data", "string"),
                column("Age", "string"),
            ],
            |o| {
                vec![
                    json!(meta_str(o, "name")),
                    o.get("type").cloned().unwrap_or(json!("Opaque")),
                    json!(
                        o.get("data")
                            .and_then(Value::as_object)
                            .map(|d| d.len())
                            .unwrap_or(0)
                    ),
                    json!(age(o)),
                ]
            },
        ),
        "ConfigMap" => (
            vec![
                column("Name", "string"),
                column("Data", "string"),
                column("Age", "string"),
            ],
            |o| {
                vec![
                    json!(meta_str(o, "name")),
                    json!(
                        o.get("data")
                            .and_then(Value::as_object)
                            .map(|d| d.len())
                            .unwrap_or(0)
                    ),
                    json!(age(o)),
                ]
            },
        ),
        "Route" => (
            vec![
                column("Name", "string"),
                column("Host/Port", "string"),
                column("Services", "string"),
                column("Age", "string"),
            ],
            |o| {
                vec![
                    json!(meta_str(o, "name")),
                    o.pointer("/spec/host").cloned().unwrap_or(json!("")),
                    o.pointer("/spec/to/name").cloned().unwrap_or(json!("")),
                    json!(age(o)),
                ]
            },
        ),
        "Backup" | "Restore" => (
            vec![
                column("Name", "string"),
                column("Phase", "string"),
                column("Age", "string"),
            ],
            |o| {
                vec![
                    json!(meta_str(o, "name")),
                    o.pointer("/status/phase").cloned().unwrap_or(json!("")),
                    json!(age(o)),
                ]
            },
        ),
        _ => (
            vec![column("Name", "string"), column("Created At", "date")],
            |o| {
                vec![
                    json!(meta_str(o, "name")),
                    json!(meta_str(o, "creationTimestamp")),
                ]
            },
        ),
    }
}

/// A Table of `objects` (one for a GET by name).
pub fn table(rt: &ResourceType, objects: &[Value], resource_version: &str) -> Value {
    let (columns, cells) = columns_and_cells(rt);
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            json!({
                "cells": cells(o),
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                           "metadata": o.get("metadata").cloned().unwrap_or(json!({}))},
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns,
        "rows": rows,
    })
}
