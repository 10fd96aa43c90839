//! A stand-in for the Velero server: a BackupStorageLocation becomes Available; a Backup or
//! Restore is validated (its storage location, its backup), then goes InProgress with
//! `status.progress` counting up over a few steps, then Completed, as Velero's controllers move them.
//!
//! Backups are real: a completed Backup writes the objects of its namespaces to the bucket of
//! its storage location in an `ObjectStorage` that several simulated clusters can share; a
//! cluster whose BackupStorageLocation points at the same bucket sees the Backup appear (as
//! Velero's BSL sync does), and a Restore of it creates the objects there.

use std::time::Instant;

use serde_json::{Value, json};

use super::catalog::{self, ResourceType};
use super::object_storage::StoredBackup;
use super::state::{ClusterSpec, Inner, ensure_namespace};
use super::store::{meta_str, now};

/// Progress steps from InProgress to Completed.
const STEPS: u64 = 5;

/// The bucket of a storage location (`bucket/prefix` when it has a prefix).
fn bucket_of(bsl: &Value) -> Option<String> {
    let bucket = bsl
        .pointer("/spec/objectStorage/bucket")
        .and_then(Value::as_str)?;
    Some(
        match bsl
            .pointer("/spec/objectStorage/prefix")
            .and_then(Value::as_str)
        {
            Some(prefix) if !prefix.is_empty() => format!("{bucket}/{prefix}"),
            _ => bucket.to_string(),
        },
    )
}

/// Kinds a backup holds: the namespaced kinds of the namespaces, minus what controllers
/// recreate (pods) and Velero's own.
fn backed_up(rt: &ResourceType) -> bool {
    rt.namespaced
        && rt.group != "velero.io"
        && rt.kind != "Pod"
        && rt.kind != "SelfSubjectAccessReview"
}

/// An object as a restore recreates it: without what the server owns.
fn restorable(mut obj: Value, namespace: &str) -> Value {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for owned in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "managedFields",
            "deletionTimestamp",
            "ownerReferences",
        ] {
            m.shift_remove(owned);
        }
        m.insert("namespace".into(), json!(namespace));
    }
    if let Some(o) = obj.as_object_mut() {
        o.shift_remove("status");
    }
    obj
}

fn velero(kind: &str) -> Option<&'static ResourceType> {
    catalog::find_kind(&[], "velero.io/v1", kind)
}

fn set_status(inner: &mut Inner, rt: &'static ResourceType, obj: &Value, status: Value) {
    let ns = meta_str(obj, "namespace").unwrap_or("").to_string();
    let name = meta_str(obj, "name").unwrap_or("").to_string();
    let mut next = obj.clone();
    if let Some(o) = next.as_object_mut() {
        o.insert("status".into(), status);
    }
    let _ = inner.store.replace(rt, &ns, &name, next, None);
}

/// Whether this cluster has a storage location, which must look for backups that
/// another cluster writes to the same bucket.
pub fn has_storage_locations(inner: &Inner) -> bool {
    velero("BackupStorageLocation").is_some_and(|rt| !inner.store.list(rt, None).is_empty())
}

pub fn reconcile(inner: &mut Inner, spec: &ClusterSpec) {
    if spec.without_groups.iter().any(|g| g == "velero.io") {
        return;
    }
    let (Some(bsl_rt), Some(backup_rt), Some(restore_rt)) = (
        velero("BackupStorageLocation"),
        velero("Backup"),
        velero("Restore"),
    ) else {
        return;
    };
    for bsl in inner.store.list(bsl_rt, None) {
        if bsl.pointer("/status/phase").is_none() {
            let t = now();
            let status =
                json!({"phase": "Available", "lastSyncedTime": t, "lastValidationTime": t});
            set_status(inner, bsl_rt, &bsl, status);
        }
        sync_location(inner, spec, backup_rt, &bsl);
    }
    for backup in inner.store.list(backup_rt, None) {
        let validate = |inner: &Inner, b: &Value| -> Result<u64, String> {
            location_bucket(inner, bsl_rt, b)?;
            Ok((items_of(inner, b).len() as u64).max(1))
        };
        let step = |inner: &mut Inner, b: &Value, _done: u64, _next: u64, completed: bool| {
            if completed && let Ok(bucket) = location_bucket(inner, bsl_rt, b) {
                let items = items_of(inner, b);
                let name = meta_str(b, "name").unwrap_or("");
                spec.object_storage.put(
                    &bucket,
                    name,
                    StoredBackup {
                        backup: b.clone(),
                        items,
                    },
                );
            }
        };
        advance(
            inner,
            spec,
            backup_rt,
            &backup,
            "itemsBackedUp",
            validate,
            step,
        );
    }
    for restore in inner.store.list(restore_rt, None) {
        let validate = |inner: &Inner, r: &Value| -> Result<u64, String> {
            let stored = stored_backup(inner, spec, bsl_rt, backup_rt, r)?;
            Ok((stored.items.len() as u64).max(1))
        };
        let step = |inner: &mut Inner, r: &Value, done: u64, next: u64, _completed: bool| {
            if let Ok(stored) = stored_backup(inner, spec, bsl_rt, backup_rt, r) {
                restore_items(inner, r, &stored.items, done, next);
            }
        };
        advance(
            inner,
            spec,
            restore_rt,
            &restore,
            "itemsRestored",
            validate,
            step,
        );
    }
}

/// The bucket of the Available storage location a Backup names.
fn location_bucket(
    inner: &Inner,
    bsl_rt: &'static ResourceType,
    backup: &Value,
) -> Result<String, String> {
    let ns = meta_str(backup, "namespace").unwrap_or("");
    let location = backup
        .pointer("/spec/storageLocation")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let bsl = inner
        .store
        .get(bsl_rt, ns, location)
        .filter(|l| l.pointer("/status/phase").and_then(Value::as_str) == Some("Available"))
        .ok_or_else(|| {
            format!(
                "an existing backup storage location was not specified at backup creation time and \
                 the server default {location} does not exist or is not Available"
            )
        })?;
    bucket_of(bsl)
        .ok_or_else(|| format!("backup storage location {location} has no objectStorage.bucket"))
}

/// The objects a Backup holds now: its namespaces' objects of the backed-up kinds, plus the
/// Namespace objects themselves.
fn items_of(inner: &Inner, backup: &Value) -> Vec<Value> {
    let namespaces: Vec<String> = backup
        .pointer("/spec/includedNamespaces")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let wanted = |ns: Option<&str>| {
        ns.is_some_and(|ns| namespaces.is_empty() || namespaces.iter().any(|n| n == ns))
    };
    let mut items = Vec::new();
    if let Some(ns_rt) = catalog::find_kind(&[], "v1", "Namespace") {
        items.extend(
            inner
                .store
                .list(ns_rt, None)
                .into_iter()
                .filter(|o| wanted(meta_str(o, "name"))),
        );
    }
    for rt in catalog::RESOURCES.iter().filter(|rt| backed_up(rt)) {
        items.extend(
            inner
                .store
                .list(rt, None)
                .into_iter()
                .filter(|o| wanted(meta_str(o, "namespace"))),
        );
    }
    items
}

/// The stored backup a Restore names, through the Backup object and its location's bucket.
fn stored_backup(
    inner: &Inner,
    spec: &ClusterSpec,
    bsl_rt: &'static ResourceType,
    backup_rt: &'static ResourceType,
    restore: &Value,
) -> Result<StoredBackup, String> {
    let ns = meta_str(restore, "namespace").unwrap_or("");
    let name = restore
        .pointer("/spec/backupName")
        .and_then(Value::as_str)
        .unwrap_or("");
    let backup = inner
        .store
        .get(backup_rt, ns, name)
        .ok_or_else(|| format!("backup {name} not found"))?;
    match backup.pointer("/status/phase").and_then(Value::as_str) {
        Some("Completed") => {}
        phase => {
            return Err(format!(
                "backup {name} is not completed (phase {})",
                phase.unwrap_or("New")
            ));
        }
    }
    let bucket = location_bucket(inner, bsl_rt, backup)?;
    spec.object_storage
        .get(&bucket, name)
        .ok_or_else(|| format!("backup {name} is not in the object storage bucket {bucket}"))
}

/// Creates items `done..next` of a restore (namespaces mapped per `spec.namespaceMapping`);
/// existing objects are left alone, as Velero does by default.
fn restore_items(inner: &mut Inner, restore: &Value, items: &[Value], done: u64, next: u64) {
    let mapping = restore
        .pointer("/spec/namespaceMapping")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let map = |ns: &str| {
        mapping
            .get(ns)
            .and_then(Value::as_str)
            .unwrap_or(ns)
            .to_string()
    };
    let (from, to) = (done as usize, (next as usize).min(items.len()));
    for item in items.get(from..to).unwrap_or(&[]) {
        let api_version = item.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = item.get("kind").and_then(Value::as_str).unwrap_or("");
        let Some(rt) = catalog::find_kind(&[], api_version, kind) else {
            continue;
        };
        if rt.kind == "Namespace" {
            let _ = ensure_namespace(inner, &map(meta_str(item, "name").unwrap_or("")));
            continue;
        }
        let ns = map(meta_str(item, "namespace").unwrap_or(""));
        let name = meta_str(item, "name").unwrap_or("");
        if inner.store.get(rt, &ns, name).is_some() {
            continue;
        }
        let _ = ensure_namespace(inner, &ns);
        let _ = inner.store.create(rt, &ns, restorable(item.clone(), &ns));
    }
}

/// Velero's BSL sync: backups in the location's bucket that this cluster has no Backup object
/// for appear as Completed Backups.
fn sync_location(
    inner: &mut Inner,
    spec: &ClusterSpec,
    backup_rt: &'static ResourceType,
    bsl: &Value,
) {
    if bsl.pointer("/status/phase").and_then(Value::as_str) != Some("Available") {
        return;
    }
    let Some(bucket) = bucket_of(bsl) else { return };
    let ns = meta_str(bsl, "namespace").unwrap_or("").to_string();
    let location = meta_str(bsl, "name").unwrap_or("").to_string();
    for name in spec.object_storage.backups(&bucket) {
        if inner.store.get(backup_rt, &ns, &name).is_some() {
            continue;
        }
        let Some(stored) = spec.object_storage.get(&bucket, &name) else {
            continue;
        };
        let status = stored
            .backup
            .get("status")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let mut backup = restorable(stored.backup, &ns);
        backup["spec"]["storageLocation"] = json!(location);
        backup["metadata"]["labels"]["velero.io/storage-location"] = json!(location);
        backup["status"] = status;
        backup["status"]["phase"] = json!("Completed");
        let _ = inner.store.create(backup_rt, &ns, backup);
    }
}

fn advance(
    inner: &mut Inner,
    spec: &ClusterSpec,
    rt: &'static ResourceType,
    obj: &Value,
    counter: &str,
    validate: impl Fn(&Inner, &Value) -> Result<u64, String>,
    mut step: impl FnMut(&mut Inner, &Value, u64, u64, bool),
) {
    let ns = meta_str(obj, "namespace").unwrap_or("").to_string();
    let name = meta_str(obj, "name").unwrap_or("").to_string();
    let key = (rt.plural, ns, name);
    let phase = obj
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("New");
    let now_instant = Instant::now();
    match phase {
        "New" | "" => {
            let status = match validate(inner, obj) {
                Err(reason) => json!({"phase": "FailedValidation", "validationErrors": [reason]}),
                Ok(total) => json!({
                    "phase": "InProgress",
                    "startTimestamp": now(),
                    "version": 1,
                    "formatVersion": "1.1.0",
                    "progress": {"totalItems": total, counter: 0},
                }),
            };
            set_status(inner, rt, obj, status);
            inner
                .velero_next
                .insert(key, now_instant + spec.velero_step);
        }
        "InProgress" => {
            if inner
                .velero_next
                .get(&key)
                .is_some_and(|due| *due > now_instant)
            {
                return;
            }
            let total = obj
                .pointer("/status/progress/totalItems")
                .and_then(Value::as_u64)
                .unwrap_or(1);
            let done = obj
                .pointer(&format!("/status/progress/{counter}"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let next = (done + total.div_ceil(STEPS)).min(total);
            let completed = next >= total;
            step(inner, obj, done, next, completed);
            let mut status = obj.get("status").cloned().unwrap_or_else(|| json!({}));
            status["progress"][counter] = json!(next);
            if completed {
                status["phase"] = json!("Completed");
                status["completionTimestamp"] = json!(now());
                if rt.kind == "Backup" {
                    let expiration = chrono::Utc::now() + chrono::Duration::days(30);
                    status["expiration"] =
                        json!(expiration.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                }
                inner.velero_next.remove(&key);
            } else {
                inner
                    .velero_next
                    .insert(key, now_instant + spec.velero_step);
            }
            set_status(inner, rt, obj, status);
        }
        _ => {}
    }
}
