//! The migration lock: one process at a time drives a migration.
//!
//! The holder keeps an exclusive `flock` on `lock` for its whole life and writes
//! who it is into the file. The kernel drops the flock when the holder dies, even
//! by kill -9, so a contender that gets the flock knows the recorded holder is
//! gone; one that does not get it names the live holder. A holder recorded on
//! another host (a shared state folder) cannot be checked from here and is refused.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rustix::fs::{FlockOperation, flock};
use serde::{Deserialize, Serialize};

use super::identity::{Identity, hostname};
use crate::error::bad_input;

pub const LOCK_FILE: &str = "lock";

/// Who holds (or held) a migration's lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    pub operator: String,
    pub started: DateTime<Utc>,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (pid {} on {}, since {})",
            self.operator,
            self.pid,
            self.host,
            self.started.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct Lock {
    file: File,
    path: PathBuf,
}

impl Lock {
    /// Takes the lock of a migration folder. Returns the previous holder when a
    /// stale lock was taken over, so the caller can journal it.
    pub fn acquire(dir: &Path, me: &Identity) -> Result<(Lock, Option<LockHolder>)> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                bad_input(format!(
                    "cannot open lock {}: {e}; check permissions",
                    path.display()
                ))
            })?;
        let previous = read_holder(&mut file);
        // A read-only watcher takes a shared lock for an instant to see whether the
        // holder lives; a few tries keep that instant from refusing a real start.
        let mut taken = false;
        for _ in 0..10 {
            if flock(&file, FlockOperation::NonBlockingLockExclusive).is_ok() {
                taken = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if !taken {
            let who = previous
                .map(|h| h.to_string())
                .unwrap_or_else(|| "another process".to_string());
            return Err(bad_input(format!(
                "this migration is in use by {who}; wait until it stops, or follow it with \
                 `cutover tui --read-only`"
            )));
        }
        let previous = read_holder(&mut file);
        if let Some(p) = &previous
            && p.host != me.host
        {
            return Err(bad_input(format!(
                "the lock {} was taken by {p} on another host; cutover cannot tell from here \
                 whether that process still runs. Stop it there, or, if you are sure it is gone, \
                 remove the lock file",
                path.display()
            )));
        }
        let holder = LockHolder {
            pid: me.pid,
            host: me.host.clone(),
            operator: me.operator.clone(),
            started: Utc::now(),
        };
        let mut text = serde_json::to_vec(&holder).context("cannot encode the lock")?;
        text.push(b'\n');
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)).map(|_| ()))
            .and_then(|_| file.write_all(&text))
            .and_then(|_| file.sync_data())
            .with_context(|| format!("cannot write lock {}", path.display()))?;
        // A holder whose pid still runs here but that no longer holds the flock is
        // gone as far as this migration is concerned; the journal records it either way.
        Ok((Lock { file, path }, previous))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // An empty lock file means nobody holds it; the flock goes with the file.
        let _ = self.file.set_len(0);
        let _ = self.file.sync_data();
    }
}

/// The holder recorded in a lock file, if any (an empty file has none).
fn read_holder(file: &mut File) -> Option<LockHolder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.trim()).ok()
}

/// The holder named in a migration folder's lock file, when some process holds it
/// now. Read-only: used by `status` and read-only watchers.
pub fn current_holder(dir: &Path) -> Option<LockHolder> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new().read(true).open(path).ok()?;
    let holder = read_holder(&mut file)?;
    // Shared lock attempt: it fails while an exclusive holder is alive.
    let held = flock(&file, FlockOperation::NonBlockingLockShared).is_err();
    if held || holder.host != hostname() {
        Some(holder)
    } else {
        None
    }
}
