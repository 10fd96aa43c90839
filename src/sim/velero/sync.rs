//! Velero 1.9.2's backup sync (`pkg/controller/backup_sync_controller.go`): every
//! `backupSyncPeriod` (the location's, else the server's; 0 never) each location's
//! `backups/` is listed, and a backup this cluster has no Backup for is created from its
//! `velero-backup.json`, with `spec.storageLocation` and the label `velero.io/storage-location`
//! naming the local location, with its PodVolumeBackups; a folder without
//! `velero-backup.json` is skipped. A Completed Backup of the location whose folder is gone is
//! deleted. The location's `status.lastSyncedTime` is set after each pass.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::super::catalog::{self, ResourceType};
use super::super::state::Inner;
use super::super::store::{meta_str, now};
use super::super::validate;
use super::location::Location;
use super::store::BackupStore;
use super::tarball;

/// What one pass found in a location's bucket.
pub struct Found {
    pub location: Location,
    pub in_store: Vec<String>,
    /// Backups to create: the Backup as stored, and its PodVolumeBackups.
    pub new: Vec<(Value, Vec<Value>)>,
}

fn kinds() -> Option<(
    &'static ResourceType,
    &'static ResourceType,
    &'static ResourceType,
)> {
    Some((
        catalog::find_kind(&[], "velero.io/v1", "Backup")?,
        catalog::find_kind(&[], "velero.io/v1", "PodVolumeBackup")?,
        catalog::find_kind(&[], "velero.io/v1", "BackupStorageLocation")?,
    ))
}

/// The backups this cluster has, by name (in the location's namespace).
pub fn local_backups(inner: &Inner, namespace: &str) -> HashSet<String> {
    kinds()
        .map(|(b, _, _)| inner.store.list(b, Some(namespace)))
        .unwrap_or_default()
        .iter()
        .filter_map(|b| meta_str(b, "name").map(str::to_string))
        .collect()
}

/// Lists the bucket and reads what is new (outside the state lock). Err: the pass failed
/// (Velero logs it and tries again next period, without touching `lastSyncedTime`).
pub async fn look(location: Location, local: &HashSet<String>) -> Result<Found, String> {
    let store = BackupStore::open(&location)?;
    let in_store = store.list_backups().await?;
    let mut new = Vec::new();
    for name in in_store.iter().filter(|n| !local.contains(*n)) {
        let Ok(Some(raw)) = store.try_get(&store.layout.metadata(name)).await else {
            // "Error getting backup metadata from backup store": not synced.
            continue;
        };
        let Ok(backup) = serde_json::from_slice::<Value>(&raw) else {
            continue;
        };
        if backup["kind"] != "Backup" {
            continue;
        }
        let pvbs = match store
            .try_get(&store.layout.backup_file(name, "-podvolumebackups.json.gz"))
            .await
        {
            Ok(Some(gz)) => tarball::gunzip(&gz)
                .ok()
                .and_then(|j| serde_json::from_slice::<Value>(&j).ok())
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        new.push((backup, pvbs));
    }
    Ok(Found {
        location,
        in_store,
        new,
    })
}

/// Creates the new Backups and their PodVolumeBackups, deletes the orphans, and stamps the
/// location (under the state lock).
pub fn apply(inner: &mut Inner, found: Found) {
    let Some((backup_rt, pvb_rt, bsl_rt)) = kinds() else {
        return;
    };
    let ns = found.location.namespace.clone();
    let location = found.location.name.clone();
    for (mut backup, pvbs) in found.new {
        let name = meta_str(&backup, "name").unwrap_or("").to_string();
        if let Some(m) = backup["metadata"].as_object_mut() {
            m.insert("namespace".into(), json!(ns));
            for owned in [
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "generation",
                "managedFields",
            ] {
                m.shift_remove(owned);
            }
        }
        backup["spec"]["storageLocation"] = json!(location);
        backup["metadata"]["labels"]["velero.io/storage-location"] =
            json!(location.chars().take(63).collect::<String>());
        let created = validate::validate(backup_rt, backup)
            .and_then(|b| inner.store.create(backup_rt, &ns, b));
        let Ok(created) = created else {
            continue;
        };
        let uid = meta_str(&created, "uid").unwrap_or("").to_string();
        for mut pvb in pvbs {
            if let Some(refs) = pvb
                .pointer_mut("/metadata/ownerReferences")
                .and_then(Value::as_array_mut)
            {
                for r in refs
                    .iter_mut()
                    .filter(|r| r["kind"] == "Backup" && r["name"] == name.as_str())
                {
                    r["uid"] = json!(uid);
                }
            }
            if pvb
                .pointer("/metadata/labels/velero.io~1backup-uid")
                .is_some()
            {
                pvb["metadata"]["labels"]["velero.io/backup-uid"] = json!(uid);
            }
            if let Some(m) = pvb["metadata"].as_object_mut() {
                m.insert("namespace".into(), json!(ns));
                for owned in ["resourceVersion", "uid", "creationTimestamp", "generation"] {
                    m.shift_remove(owned);
                }
            }
            if let Ok(pvb) = validate::validate(pvb_rt, pvb) {
                let _ = inner.store.create(pvb_rt, &ns, pvb);
            }
        }
    }
    let present: HashSet<&str> = found.in_store.iter().map(String::as_str).collect();
    for b in inner.store.list(backup_rt, Some(&ns)) {
        let name = meta_str(&b, "name").unwrap_or("");
        let here = b
            .pointer("/metadata/labels/velero.io~1storage-location")
            .and_then(Value::as_str)
            == Some(location.as_str());
        if here && b["status"]["phase"] == "Completed" && !present.contains(name) {
            inner.store.remove(backup_rt, &ns, name);
        }
    }
    if let Some(mut bsl) = inner.store.get(bsl_rt, &ns, &location).cloned() {
        bsl["status"]["lastSyncedTime"] = json!(now());
        let _ = inner.store.replace(bsl_rt, &ns, &location, bsl, None);
    }
}
