//! What an API server does with a custom resource whose CRD has a structural schema
//! (apiextensions-apiserver): unknown fields are pruned silently (`x-kubernetes-preserve-unknown-fields`
//! keeps them), nulls of non-nullable fields are dropped, defaults are filled in, then the object
//! is validated: types, `enum`, `required`, `minItems`, the `date-time`, `byte`, `int32` and
//! `int64` formats, int-or-string. `pattern` is not checked (the Velero schemas use it only for
//! resource quantities of restore hooks' init containers).
//!
//! Generic over a schema: the Velero kinds' schemas come from `fixtures/velero/crds-v1.9.2.json`
//! (written by `scripts/velero-crds` from Velero's CRDs at tag v1.9.2); another CRD's schema can be
//! added to [`crd_schema`] the same way.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::catalog::ResourceType;
use super::status::ApiError;
use super::store::meta_str;

const VELERO_CRDS: &str = include_str!("../../fixtures/velero/crds-v1.9.2.json");

/// The openAPIV3Schema of a kind from a CRD fixture, if the simulator has one.
pub fn crd_schema(rt: &ResourceType) -> Option<&'static Value> {
    static VELERO: OnceLock<Value> = OnceLock::new();
    if rt.group != "velero.io" {
        return None;
    }
    let fixture = VELERO.get_or_init(|| serde_json::from_str(VELERO_CRDS).unwrap_or(Value::Null));
    let kind = fixture.pointer(&format!("/kinds/{}", rt.kind))?;
    (kind.get("version").and_then(Value::as_str) == Some(rt.version))
        .then(|| kind.get("schema"))
        .flatten()
}

/// Prunes, defaults and validates `obj` against `schema` as the API server does on a write.
pub fn admit(rt: &ResourceType, schema: &Value, mut obj: Value) -> Result<Value, ApiError> {
    let name = meta_str(&obj, "name").unwrap_or("").to_string();
    if let Value::Object(root) = &mut obj {
        // apiVersion, kind and metadata are the server's own; the rest follows the schema.
        let props = schema.get("properties").and_then(Value::as_object);
        root.retain(|k, _| {
            matches!(k.as_str(), "apiVersion" | "kind" | "metadata")
                || props.is_some_and(|p| p.contains_key(k))
        });
        for (k, v) in root.iter_mut() {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(s) = props.and_then(|p| p.get(k)) {
                prune(s, v);
            }
        }
    }
    let mut causes = Vec::new();
    check(schema, &obj, "", &mut causes, true);
    if causes.is_empty() {
        return Ok(obj);
    }
    Err(ApiError::invalid_causes(rt, &name, causes))
}

/// Drops what the schema does not know and nulls it does not allow; fills in defaults.
fn prune(schema: &Value, value: &mut Value) {
    let preserve = schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true);
    match value {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                if !preserve {
                    map.retain(|k, _| props.contains_key(k));
                }
                map.retain(|k, v| !v.is_null() || nullable(props.get(k)));
                for (k, s) in props {
                    match map.get_mut(k) {
                        Some(v) => prune(s, v),
                        None => {
                            if let Some(d) = s.get("default") {
                                map.insert(k.clone(), d.clone());
                            }
                        }
                    }
                }
            } else if let Some(extra) = schema.get("additionalProperties").filter(|a| a.is_object())
            {
                map.retain(|_, v| !v.is_null() || nullable(Some(extra)));
                for v in map.values_mut() {
                    prune(extra, v);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for v in items {
                    prune(item, v);
                }
            }
        }
        _ => {}
    }
}

fn nullable(schema: Option<&Value>) -> bool {
    schema
        .and_then(|s| s.get("nullable"))
        .and_then(Value::as_bool)
        == Some(true)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn check(schema: &Value, v: &Value, path: &str, causes: &mut Vec<(String, String)>, root: bool) {
    if v.is_null() && nullable(Some(schema)) {
        return;
    }
    let int_or_string = schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true);
    let actual = type_name(v);
    if int_or_string {
        if !matches!(actual, "integer" | "string") {
            causes.push((
                path.to_string(),
                format!(
                    "Invalid value: \"{actual}\": {path} in body must be of type integer,string: \"{actual}\""
                ),
            ));
        }
        return;
    }
    if let Some(want) = schema.get("type").and_then(Value::as_str) {
        let fits = want == actual || (want == "number" && actual == "integer");
        if !fits {
            causes.push((
                path.to_string(),
                format!(
                    "Invalid value: \"{actual}\": {path} in body must be of type {want}: \"{actual}\""
                ),
            ));
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(v)
    {
        let supported: Vec<String> = options.iter().map(Value::to_string).collect();
        causes.push((
            path.to_string(),
            format!(
                "Unsupported value: {v}: supported values: {}",
                supported.join(", ")
            ),
        ));
    }
    if let Some(format) = schema.get("format").and_then(Value::as_str) {
        check_format(format, v, path, causes);
    }
    match v {
        Value::Object(map) => check_object(schema, map, path, causes, root),
        Value::Array(items) => {
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                causes.push((
                    path.to_string(),
                    format!(
                        "Invalid value: {}: {path} in body should have at least {min} items",
                        items.len()
                    ),
                ));
            }
            if let Some(item) = schema.get("items") {
                for (n, x) in items.iter().enumerate() {
                    check(item, x, &format!("{path}[{n}]"), causes, false);
                }
            }
        }
        _ => {}
    }
}

fn check_object(
    schema: &Value,
    map: &Map<String, Value>,
    path: &str,
    causes: &mut Vec<(String, String)>,
    root: bool,
) {
    for field in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if map.get(field).is_none_or(Value::is_null) {
            causes.push((join(path, field), "Required value".into()));
        }
    }
    let props = schema.get("properties").and_then(Value::as_object);
    let extra = schema.get("additionalProperties").filter(|a| a.is_object());
    for (k, x) in map {
        if root && k == "metadata" {
            continue;
        }
        let sub = props.and_then(|p| p.get(k)).or(extra);
        if let Some(sub) = sub {
            check(sub, x, &join(path, k), causes, false);
        }
    }
}

fn check_format(format: &str, v: &Value, path: &str, causes: &mut Vec<(String, String)>) {
    let ok = match (format, v) {
        ("date-time", Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        ("byte", Value::String(s)) => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(s).is_ok()
        }
        ("int32", Value::Number(n)) => n
            .as_i64()
            .is_some_and(|i| i >= i64::from(i32::MIN) && i <= i64::from(i32::MAX)),
        _ => true,
    };
    if !ok {
        causes.push((
            path.to_string(),
            format!("Invalid value: {v}: {path} in body must be of type {format}: {v}"),
        ));
    }
}
