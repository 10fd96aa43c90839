//! A kept cluster's objects on disk: one JSON file holding the store's [`Snapshot`], written
//! after every change (a temporary file, synced, then renamed over the old one, so a kill at any
//! moment leaves the previous or the new file whole) and read when the cluster starts again.
//!
//! A write request is answered only once the change it made is saved, as a real API server
//! answers once etcd has committed: whatever a client was told is done (and journaled as done)
//! is on disk. Changes the controllers make by themselves are saved as promptly, without anyone
//! waiting.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use super::store::Snapshot;

/// The format of the file; a file of another format is refused, not guessed at.
const FORMAT: u32 = 1;
/// How long a write request waits for its change to be saved before it fails.
const SAVE_WAIT: Duration = Duration::from_secs(30);

/// The file: the format, then the snapshot's fields.
#[derive(serde::Serialize, serde::Deserialize)]
struct File<S> {
    format: u32,
    #[serde(flatten)]
    store: S,
}

/// What has been saved so far.
#[derive(Clone, Debug, Default)]
pub(crate) struct Saved {
    /// The resourceVersion counter of the last snapshot saved.
    pub rv: u64,
    /// Why the last save failed, when it did (cleared by the next good one).
    pub error: Option<String>,
}

/// The file of one kept cluster, and what has been saved to it.
pub(crate) struct Persist {
    path: PathBuf,
    /// Held while a snapshot is written, so two writes never race and an older snapshot
    /// never replaces a newer one.
    written: Mutex<u64>,
    saved: watch::Sender<Saved>,
}

impl Persist {
    pub fn new(path: &Path) -> Persist {
        Persist {
            path: path.to_path_buf(),
            written: Mutex::new(0),
            saved: watch::channel(Saved::default()).0,
        }
    }

    /// Writes `snapshot` unless a newer one is on disk already. Blocks on the disk.
    pub fn save(&self, snapshot: &Snapshot) {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let rv = snapshot.resource_version;
        if rv < *written {
            return;
        }
        let result = write(&self.path, snapshot);
        if result.is_ok() {
            *written = rv;
        }
        self.saved.send_modify(|saved| match result {
            Ok(()) => {
                saved.rv = saved.rv.max(rv);
                saved.error = None;
            }
            Err(e) => {
                tracing::warn!("{e:#}");
                saved.error = Some(format!("{e:#}"));
            }
        });
    }

    /// Waits until a snapshot at least as new as `rv` is saved. Err: why the saving failed, or
    /// that it takes too long.
    pub async fn wait_saved(&self, rv: u64) -> Result<(), String> {
        let mut saved = self.saved.subscribe();
        let waited = tokio::time::timeout(
            SAVE_WAIT,
            saved.wait_for(|s| s.rv >= rv || s.error.is_some()),
        )
        .await;
        match waited {
            Ok(Ok(s)) => match &s.error {
                Some(e) if s.rv < rv => Err(format!("the simulated cluster cannot save: {e}")),
                _ => Ok(()),
            },
            Ok(Err(_)) => Err("the simulated cluster is stopping".into()),
            Err(_) => Err(format!(
                "the simulated cluster did not save its objects within {SAVE_WAIT:?} (a full or \
                 slow disk?)"
            )),
        }
    }
}

/// The snapshot in `path`. Errors say what is wrong with the file.
pub(crate) fn load(path: &Path) -> anyhow::Result<Snapshot> {
    let text = std::fs::read(path)
        .with_context(|| format!("cannot read the cluster's objects {}", path.display()))?;
    let format = serde_json::from_slice::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("format").and_then(serde_json::Value::as_u64));
    if format != Some(u64::from(FORMAT)) {
        anyhow::bail!(
            "{} is not a cluster snapshot of format {FORMAT} (format {format:?})",
            path.display()
        );
    }
    let file: File<Snapshot> = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a readable cluster snapshot", path.display()))?;
    Ok(file.store)
}

/// Temporary file, synced, renamed over `path`, the folder synced.
fn write(path: &Path, snapshot: &Snapshot) -> anyhow::Result<()> {
    let file = File {
        format: FORMAT,
        store: snapshot,
    };
    let body = serde_json::to_vec(&file).context("cannot encode the cluster's objects")?;
    crate::infra::artifacts::write_whole(path, &body)
        .with_context(|| format!("cannot save the cluster's objects to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_snapshot_loads_and_an_older_one_does_not_replace_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("objects.json");
        let persist = Persist::new(&path);
        let snapshot = |rv: u64| Snapshot {
            resource_version: rv,
            uid_sequence: 3,
            uid_salt: 7,
            objects: vec![serde_json::json!({"kind": "ConfigMap", "rv": rv})],
        };
        persist.save(&snapshot(1005));
        persist.save(&snapshot(1002));
        let loaded = load(&path).expect("load");
        assert_eq!(loaded.resource_version, 1005);
        assert_eq!(loaded.objects[0]["rv"], 1005);
        std::fs::write(&path, br#"{"format": 99}"#).expect("write");
        let err = load(&path).expect_err("another format");
        assert!(format!("{err:#}").contains("format 1"), "{err:#}");
    }
}
