//! The patch formats: JSON merge patch (RFC 7386, also used for strategic merge on the kinds the
//! simulator serves), JSON patch (RFC 6902) and a server-side apply that merges maps, replaces
//! lists and removes the fields a manager applied before and no longer applies.

use serde_json::{Map, Value, json};

pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in patch {
            if v.is_null() {
                t.shift_remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Applies RFC 6902 operations. The error text becomes the 422 message.
pub fn json_patch(mut doc: Value, ops: &Value) -> Result<Value, String> {
    let Value::Array(ops) = ops else {
        return Err("json: cannot unmarshal object into Go value of type jsonpatch.Patch".into());
    };
    for op in ops {
        let kind = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or("Unexpected kind: missing op")?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("missing path")?;
        match kind {
            "add" => add(&mut doc, path, value_of(op)?)?,
            "remove" => {
                remove(&mut doc, path)?;
            }
            "replace" => {
                remove(&mut doc, path)?;
                add(&mut doc, path, value_of(op)?)?;
            }
            "test" => {
                let found = doc.pointer(path);
                if found != Some(&value_of(op)?) {
                    return Err(format!("testing value {path} failed: test failed"));
                }
            }
            "move" | "copy" => {
                let from = op
                    .get("from")
                    .and_then(Value::as_str)
                    .ok_or("missing from")?;
                let value = if kind == "move" {
                    remove(&mut doc, from)?
                } else {
                    doc.pointer(from)
                        .cloned()
                        .ok_or_else(|| format!("copy from {from}: missing value"))?
                };
                add(&mut doc, path, value)?;
            }
            other => return Err(format!("Unexpected kind: {other}")),
        }
    }
    Ok(doc)
}

fn value_of(op: &Value) -> Result<Value, String> {
    op.get("value")
        .cloned()
        .ok_or_else(|| "missing value".to_string())
}

fn split(path: &str) -> Result<(String, String), String> {
    let idx = path
        .rfind('/')
        .ok_or_else(|| format!("invalid path {path}"))?;
    let last = path[idx + 1..].replace("~1", "/").replace("~0", "~");
    Ok((path[..idx].to_string(), last))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = split(path)?;
    match doc.pointer_mut(&parent) {
        Some(Value::Object(m)) => {
            m.insert(last, value);
            Ok(())
        }
        Some(Value::Array(a)) => {
            let idx = if last == "-" {
                a.len()
            } else {
                last.parse().map_err(|_| format!("invalid index {last}"))?
            };
            if idx > a.len() {
                return Err(format!(
                    "add operation does not apply: doc is missing path: \"{path}\""
                ));
            }
            a.insert(idx, value);
            Ok(())
        }
        _ => Err(format!(
            "add operation does not apply: doc is missing path: \"{path}\""
        )),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split(path)?;
    let missing = || format!("remove operation does not apply: doc is missing path: \"{path}\"");
    match doc.pointer_mut(&parent) {
        Some(Value::Object(m)) => m.shift_remove(&last).ok_or_else(missing),
        Some(Value::Array(a)) => {
            let idx: usize = last.parse().map_err(|_| missing())?;
            if idx < a.len() {
                Ok(a.remove(idx))
            } else {
                Err(missing())
            }
        }
        _ => Err(missing()),
    }
}

/// The `fieldsV1` set of an applied object: maps become `f:` keys, everything else a leaf.
pub fn fields_of(applied: &Value) -> Value {
    fn walk(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (format!("f:{k}"), walk(v))).collect())
            }
            _ => json!({}),
        }
    }
    let mut fields = walk(applied);
    if let Some(m) = fields.as_object_mut() {
        m.shift_remove("f:apiVersion");
        m.shift_remove("f:kind");
        if let Some(Value::Object(meta)) = m.get_mut("f:metadata") {
            for owned in [
                "f:name",
                "f:namespace",
                "f:resourceVersion",
                "f:uid",
                "f:managedFields",
            ] {
                meta.shift_remove(owned);
            }
        }
    }
    fields
}

/// Removes from `live` the leaves in `before` that are not in `now` (fields a manager stopped
/// applying). Shared ownership is not tracked: the simulator has one applier per field.
pub fn prune(live: &mut Value, before: &Value, now: &Value) {
    let (Value::Object(b), Value::Object(l)) = (before, live) else {
        return;
    };
    for (fkey, sub) in b {
        let Some(key) = fkey.strip_prefix("f:") else {
            continue;
        };
        match now.get(fkey) {
            None => {
                l.shift_remove(key);
            }
            Some(now_sub) => {
                if let Some(child) = l.get_mut(key) {
                    prune(child, sub, now_sub);
                }
            }
        }
    }
}

/// Server-side apply of `applied` onto `live` for `manager`.
pub fn apply(live: Option<Value>, applied: &Value, manager: &str, api_version: &str) -> Value {
    let fields = fields_of(applied);
    let mut out = live.unwrap_or_else(|| json!({}));
    let mut managed: Vec<Value> = out
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(previous) = managed
        .iter()
        .find(|m| m["manager"] == manager && m["operation"] == "Apply")
        .and_then(|m| m.get("fieldsV1"))
        .cloned()
    {
        prune(&mut out, &previous, &fields);
    }
    let mut body = applied.clone();
    if let Some(m) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        m.shift_remove("managedFields");
        m.shift_remove("resourceVersion");
    }
    apply_merge(&mut out, &body);
    managed.retain(|m| !(m["manager"] == manager && m["operation"] == "Apply"));
    managed.push(json!({
        "manager": manager,
        "operation": "Apply",
        "apiVersion": api_version,
        "time": super::store::now(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }));
    super::store::meta_mut(&mut out).insert("managedFields".into(), Value::Array(managed));
    out
}

/// Maps merge, lists and scalars replace; unlike a merge patch, `null` is a value.
fn apply_merge(target: &mut Value, applied: &Value) {
    match (target, applied) {
        (Value::Object(t), Value::Object(a)) => {
            for (k, v) in a {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        apply_merge(existing, v)
                    }
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, a) => *t = a.clone(),
    }
}
