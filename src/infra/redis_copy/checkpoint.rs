//! Where a copy stands, on disk (`Checkpoint`, written by `CheckpointWriter`), and in memory
//! (`Window`: the batches under way, which the checkpoint moves over only when every batch
//! before them finished); and whether a checkpoint may be resumed.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::endpoint::Endpoint;
use super::task::BatchOutcome;
use crate::error::bad_input;

const CHECKPOINT_FSYNC_EVERY: Duration = Duration::from_secs(1);
pub(super) const CHECKPOINT_FORMAT: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Checkpoint {
    pub(super) format: u32,
    pub(super) source: String,
    pub(super) target: String,
    pub(super) pattern: Option<String>,
    pub(super) source_run_id: String,
    pub(super) target_run_id: String,
    /// The SCAN cursor to continue from; every key the walk returned before it is restored.
    pub(super) cursor: u64,
    pub(super) done: bool,
    pub(super) keys: u64,
    pub(super) bytes: u64,
    pub(super) updated: String,
}

impl Checkpoint {
    pub(super) fn read(path: &Path) -> Result<Option<Checkpoint>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(bad_input(format!(
                    "cannot read the checkpoint {}: {e}",
                    path.display()
                )));
            }
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            bad_input(format!(
                "the checkpoint {} is not readable ({e}); it may have been cut short by a machine \
                 crash: delete it and copy again with --replace",
                path.display()
            ))
        })
    }
}

/// Writes checkpoints: every write renamed into place, fsynced at most once per
/// [`CHECKPOINT_FSYNC_EVERY`] and always when `durable` is asked for.
pub(super) struct CheckpointWriter {
    pub(super) path: PathBuf,
    pub(super) tmp: PathBuf,
    last_sync: Option<Instant>,
}

impl CheckpointWriter {
    pub(super) fn new(path: &Path) -> CheckpointWriter {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        CheckpointWriter {
            path: path.to_path_buf(),
            tmp: PathBuf::from(tmp),
            last_sync: None,
        }
    }

    pub(super) fn write(&mut self, cp: &Checkpoint, durable: bool) -> Result<()> {
        let sync = durable
            || self
                .last_sync
                .is_none_or(|t| t.elapsed() >= CHECKPOINT_FSYNC_EVERY);
        let body = serde_json::to_vec_pretty(cp)?;
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&self.tmp)?;
            f.write_all(&body)?;
            f.write_all(b"\n")?;
            if sync {
                f.sync_all()?;
            }
            std::fs::rename(&self.tmp, &self.path)?;
            if sync
                && let Some(dir) = self.path.parent()
                && let Ok(d) = std::fs::File::open(if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                })
            {
                d.sync_all()?;
            }
            Ok(())
        };
        write().with_context(|| {
            format!(
                "cannot write the checkpoint {} (check the folder exists and is writable)",
                self.path.display()
            )
        })?;
        if sync {
            self.last_sync = Some(Instant::now());
        }
        Ok(())
    }
}

/// The batches started and not yet under the checkpoint, in walk order: the cursor that
/// follows each, and once it has finished its outcome (None when it failed). Batches finish in
/// any order; the checkpoint moves over those finished without a gap before them, never past
/// one still running or failed.
#[derive(Default)]
pub(super) struct Window {
    /// The number of the oldest batch.
    pub(super) first: usize,
    pub(super) batches: VecDeque<(u64, Option<Option<BatchOutcome>>)>,
    /// A failed batch left the window: the checkpoint stays before it for good.
    blocked: bool,
}

/// A batch leaving the [`Window`].
#[derive(Debug)]
pub(super) enum Finished {
    /// Confirmed with every batch before it: the checkpoint moves to this cursor.
    Confirmed(u64, BatchOutcome),
    /// Finished after a batch that failed: its keys are counted, and written again by a
    /// resume.
    AfterFailure(BatchOutcome),
}

impl Window {
    pub(super) fn len(&self) -> usize {
        self.batches.len()
    }

    /// A batch is started, whose SCAN reply gave the cursor `next`; gives its number.
    pub(super) fn start(&mut self, next: u64) -> usize {
        self.batches.push_back((next, None));
        self.first + self.batches.len() - 1
    }

    /// Batch `n` finished, or failed (None).
    pub(super) fn finish(&mut self, n: usize, outcome: Option<BatchOutcome>) {
        if let Some(slot) = n
            .checked_sub(self.first)
            .and_then(|i| self.batches.get_mut(i))
        {
            slot.1 = Some(outcome);
        }
    }

    /// The next batch to leave: the oldest, once finished.
    pub(super) fn pop_finished(&mut self) -> Option<Finished> {
        loop {
            if !self.batches.front().is_some_and(|(_, done)| done.is_some()) {
                return None;
            }
            let (next, done) = self.batches.pop_front()?;
            self.first += 1;
            match done.flatten() {
                Some(o) if !self.blocked => return Some(Finished::Confirmed(next, o)),
                Some(o) => return Some(Finished::AfterFailure(o)),
                None => self.blocked = true,
            }
        }
    }
}

pub(super) fn check_resumable(
    cp: &Checkpoint,
    source: &Endpoint,
    target: &Endpoint,
    pattern: Option<&str>,
) -> Result<()> {
    if cp.format != CHECKPOINT_FORMAT {
        return Err(bad_input(format!(
            "it is of format {}, this cutover writes format {CHECKPOINT_FORMAT}",
            cp.format
        )));
    }
    if cp.source != source.shown || cp.target != target.shown || cp.pattern.as_deref() != pattern {
        return Err(bad_input(format!(
            "it records a copy from {} to {} (match {}), not from {} to {} (match {}); pass the \
             same --from, --to and --match, or another --checkpoint",
            cp.source,
            cp.target,
            cp.pattern.as_deref().unwrap_or("every key"),
            source.shown,
            target.shown,
            pattern.unwrap_or("every key"),
        )));
    }
    if cp.source_run_id != source.info.run_id {
        bail!(
            "the source restarted since the checkpoint was written, so its SCAN cursor no longer \
             means the same keys; delete the checkpoint and copy again with --replace"
        );
    }
    if cp.target_run_id != target.info.run_id {
        bail!(
            "the target restarted since the checkpoint was written, so keys confirmed before may \
             not have survived it; delete the checkpoint and copy again with --replace, then \
             check with `cutover redis compare`"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: u64) -> BatchOutcome {
        BatchOutcome {
            keys: n,
            ..BatchOutcome::default()
        }
    }

    fn confirmed(w: &mut Window) -> Vec<(u64, u64)> {
        std::iter::from_fn(|| w.pop_finished())
            .map(|f| match f {
                Finished::Confirmed(next, o) => (next, o.keys),
                Finished::AfterFailure(o) => panic!("after a failure: {o:?}"),
            })
            .collect()
    }

    #[test]
    fn the_checkpoint_moves_only_over_batches_finished_without_a_gap() {
        let mut w = Window::default();
        let (a, b, c, d) = (w.start(10), w.start(20), w.start(30), w.start(0));
        w.finish(c, Some(keys(3)));
        w.finish(b, Some(keys(2)));
        assert!(confirmed(&mut w).is_empty(), "the first batch still runs");
        assert_eq!(w.len(), 4);
        w.finish(a, Some(keys(1)));
        assert_eq!(confirmed(&mut w), [(10, 1), (20, 2), (30, 3)]);
        let e = w.start(40);
        w.finish(e, Some(keys(5)));
        assert!(confirmed(&mut w).is_empty());
        w.finish(d, Some(keys(4)));
        assert_eq!(confirmed(&mut w), [(0, 4), (40, 5)]);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn the_checkpoint_stays_before_a_failed_batch_for_good() {
        let mut w = Window::default();
        let (a, b, c) = (w.start(10), w.start(20), w.start(30));
        w.finish(c, Some(keys(3)));
        w.finish(b, None);
        assert!(confirmed(&mut w).is_empty());
        w.finish(a, Some(keys(1)));
        assert!(matches!(
            w.pop_finished(),
            Some(Finished::Confirmed(10, BatchOutcome { keys: 1, .. }))
        ));
        // The failed batch leaves without a word; the one after it is counted, not confirmed.
        assert!(matches!(
            w.pop_finished(),
            Some(Finished::AfterFailure(BatchOutcome { keys: 3, .. }))
        ));
        let d = w.start(0);
        w.finish(d, Some(keys(4)));
        assert!(matches!(w.pop_finished(), Some(Finished::AfterFailure(_))));
        assert!(w.pop_finished().is_none());
    }
}
