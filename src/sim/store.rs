//! The object store of one simulated cluster: JSON objects keyed by type, namespace and name,
//! one resourceVersion counter, and the change history that watches replay from.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use super::catalog::ResourceType;
use super::status::ApiError;

/// Changes kept for watches that resume from an older resourceVersion; older ones get 410.
const HISTORY: usize = 50_000;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjKey {
    pub group: &'static str,
    pub plural: &'static str,
    pub namespace: String,
    pub name: String,
}

/// One change, as a watch event will carry it.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub group: &'static str,
    pub plural: &'static str,
    pub namespace: String,
    pub event: &'static str,
    pub object: Value,
}

pub struct ObjectStore {
    rv: u64,
    uid_seq: u64,
    uid_salt: u64,
    objects: BTreeMap<ObjKey, Value>,
    history: VecDeque<Arc<Change>>,
    pub changes: broadcast::Sender<Arc<Change>>,
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn key(rt: &'static ResourceType, ns: &str, name: &str) -> ObjKey {
    ObjKey {
        group: rt.group,
        plural: rt.plural,
        namespace: if rt.namespaced {
            ns.to_string()
        } else {
            String::new()
        },
        name: name.to_string(),
    }
}

pub fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata").and_then(Value::as_object)
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta(obj).and_then(|m| m.get(field)).and_then(Value::as_str)
}

pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    if let Value::Object(o) = obj {
        let entry = o.entry("metadata").or_insert_with(|| json!({}));
        if !entry.is_object() {
            *entry = json!({});
        }
        if let Value::Object(m) = entry {
            return m;
        }
    }
    unreachable!("metadata was made an object just above")
}

/// Objects equal apart from the fields the server itself maintains on every write.
fn same_content(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
        v
    };
    strip(a) == strip(b)
}

/// Everything a kept cluster needs to start again as it was: its objects as stored (with their
/// resourceVersions, uids and status), the resourceVersion counter and the uid sequence. The
/// watch history is not kept: a watch from before the restart gets 410 Gone, as after an API
/// server's compaction.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub resource_version: u64,
    pub uid_sequence: u64,
    pub uid_salt: u64,
    pub objects: Vec<Value>,
}

impl ObjectStore {
    pub fn new(salt: u64) -> ObjectStore {
        let (changes, _) = broadcast::channel(4096);
        ObjectStore {
            rv: 1000,
            uid_seq: 0,
            uid_salt: salt,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            changes,
        }
    }

    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            resource_version: self.rv,
            uid_sequence: self.uid_seq,
            uid_salt: self.uid_salt,
            objects: self.objects.values().cloned().collect(),
        }
    }

    /// Replaces everything with `snapshot`; `kind_of` finds each object's type (None: the
    /// cluster does not serve it, an error naming the object).
    pub fn restore(
        &mut self,
        snapshot: Snapshot,
        kind_of: impl Fn(&Value) -> Option<&'static ResourceType>,
    ) -> Result<(), String> {
        let mut objects = BTreeMap::new();
        for object in snapshot.objects {
            let name = meta_str(&object, "name").unwrap_or("").to_string();
            let Some(rt) = kind_of(&object) else {
                return Err(format!(
                    "{} {} {name} is of a kind this cluster does not serve",
                    object["apiVersion"], object["kind"]
                ));
            };
            let ns = meta_str(&object, "namespace").unwrap_or("").to_string();
            objects.insert(key(rt, &ns, &name), object);
        }
        self.rv = snapshot.resource_version;
        self.uid_seq = snapshot.uid_sequence;
        self.uid_salt = snapshot.uid_salt;
        self.objects = objects;
        self.history.clear();
        Ok(())
    }

    pub fn oldest_replayable(&self) -> u64 {
        self.history
            .front()
            .map(|c| c.rv.saturating_sub(1))
            .unwrap_or(self.rv)
    }

    pub fn history_after(&self, rv: u64) -> Vec<Arc<Change>> {
        self.history.iter().filter(|c| c.rv > rv).cloned().collect()
    }

    pub fn uid(&mut self) -> String {
        self.uid_seq += 1;
        let n = self.uid_seq;
        let s = self.uid_salt;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (s >> 32) as u32,
            (s >> 16) as u16,
            (s & 0xfff) as u16,
            (n >> 48) as u16 & 0xfff,
            n & 0xffff_ffff_ffff
        )
    }

    pub fn get(&self, rt: &'static ResourceType, ns: &str, name: &str) -> Option<&Value> {
        self.objects.get(&key(rt, ns, name))
    }

    pub fn list(&self, rt: &'static ResourceType, ns: Option<&str>) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|(k, _)| k.group == rt.group && k.plural == rt.plural)
            .filter(|(k, _)| ns.is_none_or(|ns| !rt.namespaced || k.namespace == ns))
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn record(&mut self, rt: &'static ResourceType, ns: &str, event: &'static str, object: Value) {
        let change = Arc::new(Change {
            rv: self.rv,
            group: rt.group,
            plural: rt.plural,
            namespace: ns.to_string(),
            event,
            object,
        });
        self.history.push_back(change.clone());
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
        // No receiver is fine: nobody watches.
        let _ = self.changes.send(change);
    }

    /// Stores a new object, filling in what the server owns. The caller has validated it.
    pub fn create(
        &mut self,
        rt: &'static ResourceType,
        ns: &str,
        mut obj: Value,
    ) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the request body is not a JSON object".into(),
            ));
        }
        let mut name = meta_str(&obj, "name").unwrap_or("").to_string();
        if name.is_empty() {
            match meta_str(&obj, "generateName") {
                Some(prefix) if !prefix.is_empty() => {
                    let uid = self.uid();
                    name = format!("{prefix}{}", &uid[uid.len() - 5..]);
                }
                _ => {
                    return Err(ApiError::invalid(
                        rt,
                        rt.kind,
                        "",
                        "metadata.name",
                        "Required value: name or generateName is required",
                    ));
                }
            }
        }
        let k = key(rt, ns, &name);
        if self.objects.contains_key(&k) {
            return Err(ApiError::already_exists(rt, &name));
        }
        self.rv += 1;
        let uid = self.uid();
        let has_spec = obj.get("spec").is_some();
        if let Some(o) = obj.as_object_mut() {
            o.insert("apiVersion".into(), json!(rt.api_version()));
            o.insert("kind".into(), json!(rt.kind));
            o.shift_remove("status")
                .map(|s| o.insert("status".into(), s));
        }
        let rv = self.rv;
        let m = meta_mut(&mut obj);
        m.insert("name".into(), json!(name));
        if rt.namespaced {
            m.insert("namespace".into(), json!(ns));
        } else {
            m.remove("namespace");
        }
        m.insert("uid".into(), json!(uid));
        m.insert("resourceVersion".into(), json!(rv.to_string()));
        m.insert("creationTimestamp".into(), json!(now()));
        if has_spec {
            m.insert("generation".into(), json!(1));
        }
        self.objects.insert(k, obj.clone());
        self.record(rt, ns, "ADDED", obj.clone());
        Ok(obj)
    }

    /// Replaces an object. `expect_rv` is the resourceVersion the client read (optimistic lock).
    /// A write that changes nothing leaves the resourceVersion as it was.
    pub fn replace(
        &mut self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        mut obj: Value,
        expect_rv: Option<&str>,
    ) -> Result<Value, ApiError> {
        let k = key(rt, ns, name);
        let Some(old) = self.objects.get(&k) else {
            return Err(ApiError::not_found(rt, name));
        };
        let old_rv = meta_str(old, "resourceVersion").unwrap_or("").to_string();
        if let Some(expected) = expect_rv.filter(|e| !e.is_empty())
            && expected != old_rv
        {
            return Err(ApiError::conflict(rt, name));
        }
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the request body is not a JSON object".into(),
            ));
        }
        let old_meta = meta(old).cloned().unwrap_or_default();
        let spec_changed = old.get("spec") != obj.get("spec");
        if let Some(o) = obj.as_object_mut() {
            o.insert("apiVersion".into(), json!(rt.api_version()));
            o.insert("kind".into(), json!(rt.kind));
        }
        let m = meta_mut(&mut obj);
        for owned in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
        ] {
            match old_meta.get(owned) {
                Some(v) => m.insert(owned.into(), v.clone()),
                None => m.remove(owned),
            };
        }
        m.insert("resourceVersion".into(), json!(old_rv));
        if same_content(old, &obj) {
            return Ok(old.clone());
        }
        self.rv += 1;
        let rv = self.rv;
        let m = meta_mut(&mut obj);
        m.insert("resourceVersion".into(), json!(rv.to_string()));
        if spec_changed && let Some(g) = old_meta.get("generation").and_then(Value::as_i64) {
            m.insert("generation".into(), json!(g + 1));
        }
        self.objects.insert(k, obj.clone());
        self.record(rt, ns, "MODIFIED", obj.clone());
        Ok(obj)
    }

    /// Starts a graceful deletion: the object stays, with a deletionTimestamp, until removed.
    pub fn mark_deleting(
        &mut self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        timestamp: &str,
        grace_seconds: u64,
    ) -> Result<Value, ApiError> {
        let rv = self.rv + 1;
        let obj = self
            .objects
            .get_mut(&key(rt, ns, name))
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        let m = meta_mut(obj);
        m.insert("deletionTimestamp".into(), json!(timestamp));
        m.insert("deletionGracePeriodSeconds".into(), json!(grace_seconds));
        m.insert("resourceVersion".into(), json!(rv.to_string()));
        let obj = obj.clone();
        self.rv = rv;
        self.record(rt, ns, "MODIFIED", obj.clone());
        Ok(obj)
    }

    pub fn remove(&mut self, rt: &'static ResourceType, ns: &str, name: &str) -> Option<Value> {
        let mut obj = self.objects.remove(&key(rt, ns, name))?;
        self.rv += 1;
        let rv = self.rv;
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
        self.record(rt, ns, "DELETED", obj.clone());
        Some(obj)
    }
}
