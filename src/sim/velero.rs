//! A stand-in for the Velero server: a BackupStorageLocation becomes Available; a Backup or
//! Restore is validated (its storage location, its backup), then goes InProgress with
//! `status.progress` counting up over a few steps, then Completed (velero.md §1).

use std::time::Instant;

use serde_json::{Value, json};

use super::catalog::{self, ResourceType};
use super::store::{meta_str, now};
use super::{ClusterSpec, Inner};

/// Progress steps from InProgress to Completed.
const STEPS: u64 = 5;

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
            set_status(
                inner,
                bsl_rt,
                &bsl,
                json!({"phase": "Available", "lastSyncedTime": t, "lastValidationTime": t}),
            );
        }
    }
    for backup in inner.store.list(backup_rt, None) {
        advance(
            inner,
            spec,
            backup_rt,
            &backup,
            "itemsBackedUp",
            |inner, b| {
                let ns = meta_str(b, "namespace").unwrap_or("");
                let location = b
                    .pointer("/spec/storageLocation")
                    .and_then(Value::as_str)
                    .unwrap_or("default");
                let available = inner
                    .store
                    .get(bsl_rt, ns, location)
                    .and_then(|l| l.pointer("/status/phase"))
                    .and_then(Value::as_str)
                    == Some("Available");
                if !available {
                    return Err(format!(
                        "an existing backup storage location was not specified at backup creation time and the \
                     server default {location} does not exist or is not Available"
                    ));
                }
                let namespaces: Vec<String> = b
                    .pointer("/spec/includedNamespaces")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(items_in(inner, &namespaces))
            },
        );
    }
    for restore in inner.store.list(restore_rt, None) {
        advance(
            inner,
            spec,
            restore_rt,
            &restore,
            "itemsRestored",
            |inner, r| {
                let ns = meta_str(r, "namespace").unwrap_or("");
                let backup_name = r
                    .pointer("/spec/backupName")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let backup = inner.store.get(backup_rt, ns, backup_name);
                match backup
                    .and_then(|b| b.pointer("/status/phase"))
                    .and_then(Value::as_str)
                {
                    Some("Completed") => Ok(backup
                        .and_then(|b| b.pointer("/status/progress/totalItems"))
                        .and_then(Value::as_u64)
                        .unwrap_or(1)),
                    Some(phase) => Err(format!(
                        "backup {backup_name} is not completed (phase {phase})"
                    )),
                    None => Err(format!("backup {backup_name} not found")),
                }
            },
        );
    }
}

/// Objects a backup of `namespaces` would hold (all namespaces when empty); at least one.
fn items_in(inner: &Inner, namespaces: &[String]) -> u64 {
    let mut n = 0u64;
    for rt in catalog::RESOURCES
        .iter()
        .filter(|rt| rt.namespaced && rt.group != "velero.io")
    {
        n += inner
            .store
            .list(rt, None)
            .iter()
            .filter(|o| {
                namespaces.is_empty()
                    || namespaces
                        .iter()
                        .any(|ns| Some(ns.as_str()) == meta_str(o, "namespace"))
            })
            .count() as u64;
    }
    n.max(1)
}

fn advance(
    inner: &mut Inner,
    spec: &ClusterSpec,
    rt: &'static ResourceType,
    obj: &Value,
    counter: &str,
    validate: impl Fn(&Inner, &Value) -> Result<u64, String>,
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
            let mut status = obj.get("status").cloned().unwrap_or_else(|| json!({}));
            status["progress"][counter] = json!(next);
            if next >= total {
                status["phase"] = json!("Completed");
                status["completionTimestamp"] = json!(now());
                if rt.kind == "Backup" {
                    status["expiration"] = json!(
                        (chrono::Utc::now() + chrono::Duration::days(30))
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    );
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
