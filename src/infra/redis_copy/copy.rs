//! `copy`: the walk over the source, the batches under way, the checkpoint and the report.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use serde::Serialize;

use super::batch::run_batch;
use super::checkpoint::{
    CHECKPOINT_FORMAT, Checkpoint, CheckpointWriter, Finished, Window, check_resumable,
};
use super::endpoint::{Endpoint, SCAN_COUNT};
use super::task::{BatchOutcome, Ctx, Wires};
use super::version::version_refusal;
use crate::error::bad_input;
use crate::infra::resp::{Wire, WirePool, array, int};

/// Batches under way at once: being read, waiting for a connection to the target, or being
/// written.
pub const IN_FLIGHT: usize = 32;
/// Connections to each server the batches share (besides the walk's own).
pub const WIRES: usize = 8;
/// Batches started and not yet under the checkpoint (running, or finished after one that still
/// runs): what a crash may make a resume redo.
pub const WINDOW: usize = 2 * IN_FLIGHT;
/// Largest payload one RESTORE may carry when the target does not say (`proto-max-bulk-len`).
pub const DEFAULT_MAX_PAYLOAD: u64 = 512 * 1024 * 1024;

/// Figures for a progress gauge.
#[derive(Clone, Copy, Debug, Default)]
pub struct CopyProgress {
    /// Keys written (or found already there) so far.
    pub keys: u64,
    /// Payload bytes written so far.
    pub bytes: u64,
    pub elapsed: Duration,
}

impl CopyProgress {
    pub fn keys_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.keys as f64 / secs
        } else {
            0.0
        }
    }
}

pub type ProgressFn = Box<dyn FnMut(&CopyProgress) + Send>;

pub struct CopyOptions {
    /// SCAN MATCH glob; every key when None.
    pub pattern: Option<String>,
    /// Overwrite keys the target already has (RESTORE ... REPLACE).
    pub replace: bool,
    /// Continue from the checkpoint file instead of starting over.
    pub resume: bool,
    /// Copy every key with its type's commands instead of DUMP/RESTORE.
    pub per_type: bool,
    pub checkpoint: PathBuf,
    /// Set to stop: the batches in flight finish, the checkpoint is written, and the report
    /// says `interrupted`.
    pub stop: Arc<AtomicBool>,
    /// Called after every confirmed batch.
    pub progress: Option<ProgressFn>,
}

impl CopyOptions {
    pub fn new(checkpoint: impl Into<PathBuf>) -> CopyOptions {
        CopyOptions {
            pattern: None,
            replace: false,
            resume: false,
            per_type: false,
            checkpoint: checkpoint.into(),
            stop: Arc::new(AtomicBool::new(false)),
            progress: None,
        }
    }
}

/// How keys were written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CopyMethod {
    /// DUMP/RESTORE, with the absolute expiry when `abs_ttl`.
    Restore { abs_ttl: bool },
    /// Type commands for every key.
    PerType,
}

#[derive(Clone, Debug, Serialize)]
pub struct CopyReport {
    pub source_version: String,
    pub target_version: String,
    pub method: CopyMethod,
    /// Keys written by this run.
    pub keys: u64,
    /// Of `keys`, the strings written by value (`MSET`/`MSETNX`, or `SET` with the expiry)
    /// rather than with RESTORE.
    pub by_value_keys: u64,
    /// Payload (or value) bytes written by this run.
    pub bytes: u64,
    /// Of `keys`, those written with type commands because they were too large for one
    /// RESTORE (or because of `per_type`).
    pub per_type_keys: u64,
    /// Keys the target already had with the same content, left as they were.
    pub already_present: u64,
    /// Keys that expired or were deleted between SCAN and their read or write.
    pub expired: u64,
    /// Keys copied before the checkpoint this run resumed from.
    pub resumed_from_keys: u64,
    pub elapsed_ms: u64,
    /// Stopped before the end; the checkpoint says where to continue.
    pub interrupted: bool,
    pub checkpoint: PathBuf,
}

/// Copies the keys of `from` (those matching `options.pattern`) into `to`. See the module doc.
pub async fn copy(from: &str, to: &str, mut options: CopyOptions) -> Result<CopyReport> {
    let started = Instant::now();
    let source = Endpoint::connect("source", from).await?;
    let target = Endpoint::connect("target", to).await?;
    if source.shown == target.shown {
        return Err(bad_input(format!(
            "--from and --to are the same Redis ({}): a copy needs two",
            source.shown
        )));
    }
    if !options.per_type
        && let Some(reason) = version_refusal(&source.info, &target.info)
    {
        // The operator's choice of target and method, and nothing written yet: bad input.
        return Err(bad_input(format!("copy refused: {reason}")));
    }

    let existing = Checkpoint::read(&options.checkpoint)?;
    let mut checkpoint = match (existing, options.resume) {
        (Some(_), false) => {
            return Err(bad_input(format!(
                "the checkpoint {} of an earlier copy exists: add --resume to continue it, or \
                 delete it to start over",
                options.checkpoint.display()
            )));
        }
        (None, true) => {
            return Err(bad_input(format!(
                "--resume: there is no checkpoint at {}; check --checkpoint, or copy without \
                 --resume",
                options.checkpoint.display()
            )));
        }
        (Some(cp), true) => {
            check_resumable(&cp, &source, &target, options.pattern.as_deref())
                .with_context(|| format!("cannot resume from {}", options.checkpoint.display()))?;
            cp
        }
        (None, false) => Checkpoint {
            format: CHECKPOINT_FORMAT,
            source: source.shown.clone(),
            target: target.shown.clone(),
            pattern: options.pattern.clone(),
            source_run_id: source.info.run_id.clone(),
            target_run_id: target.info.run_id.clone(),
            cursor: 0,
            done: false,
            keys: 0,
            bytes: 0,
            updated: chrono::Utc::now().to_rfc3339(),
        },
    };
    let resumed_from_keys = checkpoint.keys;
    let mut writer = CheckpointWriter::new(&options.checkpoint);
    let method = if options.per_type {
        CopyMethod::PerType
    } else {
        CopyMethod::Restore {
            abs_ttl: target.info.abs_ttl,
        }
    };
    let mut report = CopyReport {
        source_version: source.info.version.clone(),
        target_version: target.info.version.clone(),
        method,
        keys: 0,
        by_value_keys: 0,
        bytes: 0,
        per_type_keys: 0,
        already_present: 0,
        expired: 0,
        resumed_from_keys,
        elapsed_ms: 0,
        interrupted: false,
        checkpoint: options.checkpoint.clone(),
    };
    if checkpoint.done {
        report.elapsed_ms = elapsed_ms(started);
        return Ok(report);
    }
    if !options.resume {
        writer.write(&checkpoint, true)?;
    }

    let max_payload = max_payload(&target).await;
    let wires = if options.per_type {
        None
    } else {
        let (source, target) = tokio::try_join!(
            WirePool::connect("source", from, &source.shown, WIRES),
            WirePool::connect("target", to, &target.shown, WIRES),
        )?;
        Some(Wires { source, target })
    };
    let ctx = Arc::new(Ctx {
        source: source.clone(),
        target,
        replace: options.replace,
        per_type: options.per_type,
        max_payload,
        wires,
    });
    // The walk runs ahead on a connection of its own, at most IN_FLIGHT replies ahead, so that
    // a SCAN never waits behind the read pipelines.
    let mut scanner = Wire::connect("source", from, &source.shown).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<(u64, Vec<Vec<u8>>)>>(IN_FLIGHT);
    let walk_stop = Arc::clone(&options.stop);
    let pattern = options.pattern.clone();
    let mut cursor = checkpoint.cursor;
    let walker = tokio::spawn(async move {
        while !walk_stop.load(Ordering::SeqCst) {
            let reply = scanner.scan(cursor, pattern.as_deref(), SCAN_COUNT).await;
            let next = reply.as_ref().map(|(next, _)| *next).ok();
            if tx.send(reply).await.is_err() {
                break;
            }
            match next {
                Some(0) | None => break,
                Some(n) => cursor = n,
            }
        }
    });
    let mut totals = BatchOutcome::default();
    let mut window = Window::default();
    // The running batches, each giving back its number, as they finish (in any order). They
    // run within this task, not as tasks of their own: the client then takes at most one core
    // whatever the runtime's threads, and leaves the others to the servers when they share a
    // machine (a batch's own work is small next to what it waits for).
    let mut running: FuturesUnordered<BoxFuture<'static, (usize, Result<BatchOutcome>)>> =
        FuturesUnordered::new();
    let mut walked = false;
    // The first error; no batch starts after it.
    let mut failure: Option<anyhow::Error> = None;

    loop {
        let stopping = options.stop.load(Ordering::SeqCst) || failure.is_some();
        let start = !walked && !stopping && running.len() < IN_FLIGHT && window.len() < WINDOW;
        if !start && running.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            Some((n, outcome)) = running.next() => {
                let outcome = match outcome {
                    Ok(o) => Some(o),
                    Err(e) => {
                        failure.get_or_insert(e);
                        None
                    }
                };
                window.finish(n, outcome);
            }
            scanned = rx.recv(), if start => {
                match scanned {
                    Some(Ok((next, keys))) => {
                        let n = window.start(next);
                        let ctx = Arc::clone(&ctx);
                        running.push(Box::pin(async move { (n, run_batch(&ctx, keys).await) }));
                        walked = next == 0;
                    }
                    Some(Err(e)) => failure = Some(e),
                    // The walk stopped because `stop` was set.
                    None => walked = true,
                }
                continue;
            }
        }
        let mut moved = false;
        while let Some(finished) = window.pop_finished() {
            match finished {
                Finished::Confirmed(next, o) => {
                    totals.add(&o);
                    checkpoint.cursor = next;
                    checkpoint.done = next == 0;
                    checkpoint.keys += o.keys + o.already_present;
                    checkpoint.bytes += o.bytes;
                    moved = true;
                }
                Finished::AfterFailure(o) => totals.add(&o),
            }
        }
        if moved {
            checkpoint.updated = chrono::Utc::now().to_rfc3339();
            writer.write(&checkpoint, checkpoint.done)?;
            if let Some(progress) = options.progress.as_mut() {
                progress(&CopyProgress {
                    keys: checkpoint.keys - resumed_from_keys,
                    bytes: totals.bytes,
                    elapsed: started.elapsed(),
                });
            }
        }
    }
    drop(rx);
    walker.abort();
    writer.write(&checkpoint, true)?;
    report.keys = totals.keys;
    report.by_value_keys = totals.by_value_keys;
    report.bytes = totals.bytes;
    report.per_type_keys = totals.per_type_keys;
    report.already_present = totals.already_present;
    report.expired = totals.expired;
    report.elapsed_ms = elapsed_ms(started);
    if let Some(e) = failure {
        return Err(e.context(format!(
            "copy stopped after {} keys; the checkpoint {} holds where it stands",
            report.keys + report.already_present,
            options.checkpoint.display()
        )));
    }
    report.interrupted = !checkpoint.done;
    Ok(report)
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The target's `proto-max-bulk-len`, or the default when CONFIG is not allowed.
pub(super) async fn max_payload(target: &Endpoint) -> u64 {
    let mut cmd = redis::cmd("CONFIG");
    cmd.arg("GET").arg("proto-max-bulk-len");
    match target.query(&cmd, "CONFIG GET").await {
        Ok(v) => array(v)
            .get(1)
            .and_then(int)
            .and_then(|n| u64::try_from(n).ok())
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_MAX_PAYLOAD),
        Err(_) => DEFAULT_MAX_PAYLOAD,
    }
}
