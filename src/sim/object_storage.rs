//! The object storage Velero writes backups to, in memory: buckets by name, each holding the
//! backups taken into it. Clusters given the same handle share it, so a backup taken on one can
//! be restored on another.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// What a backup leaves in its bucket: the Backup object and the items it holds.
#[derive(Clone, Debug)]
pub(super) struct StoredBackup {
    pub(super) backup: Value,
    pub(super) items: Vec<Value>,
}

/// Object storage buckets (by name) shared by the simulated clusters given the same handle.
#[derive(Clone, Default)]
pub struct ObjectStorage(Arc<Mutex<HashMap<String, BTreeMap<String, StoredBackup>>>>);

impl std::fmt::Debug for ObjectStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ObjectStorage")
    }
}

impl ObjectStorage {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, BTreeMap<String, StoredBackup>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Backup names in a bucket.
    pub fn backups(&self, bucket: &str) -> Vec<String> {
        self.lock()
            .get(bucket)
            .map(|b| b.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub(super) fn put(&self, bucket: &str, name: &str, stored: StoredBackup) {
        self.lock()
            .entry(bucket.to_string())
            .or_default()
            .insert(name.to_string(), stored);
    }

    pub(super) fn get(&self, bucket: &str, name: &str) -> Option<StoredBackup> {
        self.lock().get(bucket).and_then(|b| b.get(name)).cloned()
    }
}
