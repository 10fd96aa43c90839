//! `transfer-backup`: the backup reaches cluster B by its objects. Every object under the three
//! prefixes of the registry's backup (Velero's files of the backup, the restic repository, the
//! buckets' replication) is streamed from A's object storage to B's with its SHA-256 taken on
//! both sides, `velero-backup.json` last so B's Velero syncs only a whole backup.
//!
//! The records (key, size, SHA-256 of every object) are written to
//! `transfer-<backup>.json` in the dump folder and listed in its manifest; `verify-registry`
//! reads B's bucket against them. A second run (after a stop, a failure or a kill -9) copies
//! only what is missing on B or differs, and says how much it skipped.

use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::{Map, json};

use super::registry_backup::params;
use super::registry_storage::{client, transfer_prefixes};
use super::{Recheck, StepAction, StepContext, StepFuture, StepResult};
use crate::infra::artifacts::{self, Artifact, Manifest};
use crate::infra::s3_transfer::{
    ObjectRecord, TransferError, TransferOptions, TransferProgress, transfer, verify,
};
use crate::runbook::ClusterRole;

struct Transfer;

pub(super) static TRANSFER: &dyn StepAction = &Transfer;

/// The manifest's kind of a transfer's records.
pub const RECORDS_KIND: &str = "object-transfer";

/// The records' file in the dump folder.
pub fn records_file(backup: &str) -> String {
    format!("transfer-{backup}.json")
}

/// The records of the backup's transfer, as the step wrote them; None before it ran.
pub fn load_records(ctx: &StepContext, backup: &str) -> Result<Option<Vec<ObjectRecord>>> {
    let path = ctx.config.dumps.folder.join(records_file(backup));
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is not a transfer record cutover wrote; run transfer-backup again",
                path.display()
            )
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// How often the live figures go out (the gauge and the log's progress line).
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

async fn run(ctx: &StepContext) -> Result<StepResult> {
    let p = params(ctx)?;
    let backup = super::backup_name::required(ctx)?;
    let a = client(ctx, ClusterRole::Source)?;
    let b = client(ctx, ClusterRole::Destination)?;
    let prefixes = transfer_prefixes(&backup, &p.registry);
    let prefix_refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    ctx.sink.info(format!(
        "copying {} from {} (bucket {}) to {} (bucket {})",
        prefixes.join(", "),
        a.endpoint_url(),
        a.bucket(),
        b.endpoint_url(),
        b.bucket()
    ));
    let options = TransferOptions {
        stop: Some(ctx.stop.clone()),
        ..TransferOptions::default()
    };
    let last = Mutex::new(None::<Instant>);
    let on_progress = |p: &TransferProgress| {
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let finished = p.objects_done == p.objects_total;
        if finished || last.is_none_or(|t| now.duration_since(t) >= PROGRESS_EVERY) {
            *last = Some(now);
            ctx.sink
                .progress(p.bytes_done, Some(p.bytes_total), "bytes");
        }
    };
    let started = Instant::now();
    let report = match transfer(&a, &b, &prefix_refs, &options, &on_progress).await {
        Ok(report) => report,
        Err(TransferError::Stopped { copied, skipped }) => {
            return Ok(StepResult::stopped(format!(
                "stopped the transfer ({copied} copied, {skipped} already on B); nothing \
                 half-written stays, and the next run copies the rest"
            )));
        }
        Err(e) => return Ok(ctx.failed(e.to_string())),
    };
    let seconds = started.elapsed().as_secs_f64();
    for prefix in &report.empty_prefixes {
        ctx.sink
            .warn(format!("A's bucket holds nothing under {prefix}"));
    }
    if report.records.is_empty() {
        return Ok(ctx.failed(format!(
            "A's bucket {} holds no object of the backup {backup} under {}: run backup-registry \
             again, or check [velero.storage.source]",
            a.bucket(),
            prefixes.join(", ")
        )));
    }
    if !report.records.iter().any(|r| {
        r.key
            .ends_with(crate::infra::s3_transfer::VELERO_BACKUP_FILE)
    }) {
        return Ok(ctx.failed(format!(
            "A's bucket holds no velero-backup.json of {backup}: Velero has not finished writing \
             the backup there; B's Velero would never sync it"
        )));
    }
    // The records, then their entry in the manifest (its SHA-256 proves the file).
    let folder = &ctx.config.dumps.folder;
    let file = records_file(&backup);
    let mut text = serde_json::to_vec_pretty(&report.records)?;
    text.push(b'\n');
    artifacts::write_whole(&folder.join(&file), &text)?;
    let sha = {
        use sha2::Digest;
        artifacts::hex(&sha2::Sha256::digest(&text))
    };
    Manifest::record(
        folder,
        Artifact {
            file: file.clone(),
            kind: RECORDS_KIND.into(),
            source: format!(
                "{} bucket {} → {} bucket {}",
                a.endpoint_url(),
                a.bucket(),
                b.endpoint_url(),
                b.bucket()
            ),
            bytes: text.len() as u64,
            sha256: sha,
            counts: [
                ("objects".to_string(), report.records.len() as u64),
                ("bytes".to_string(), report.bytes_total),
            ]
            .into_iter()
            .collect(),
            versions: Default::default(),
            encrypted: false,
            step: ctx.step.id.0.to_string(),
            time: chrono::Utc::now(),
        },
    )?;
    let rate = if seconds > 0.0 {
        report.bytes_copied as f64 / seconds
    } else {
        0.0
    };
    let mut figures = Map::new();
    figures.insert("objects".into(), json!(report.records.len()));
    figures.insert("copied".into(), json!(report.copied));
    figures.insert("skipped".into(), json!(report.skipped));
    figures.insert("bytes_total".into(), json!(report.bytes_total));
    figures.insert("bytes_copied".into(), json!(report.bytes_copied));
    figures.insert("seconds".into(), json!((seconds * 10.0).round() / 10.0));
    figures.insert("bytes_per_second".into(), json!(rate.round()));
    Ok(StepResult::passed(
        format!(
            "{} object(s), {}, on B with the SHA-256 they have on A: {} copied, {} already \
             there and identical; records in {file}",
            report.records.len(),
            crate::format::bytes(report.bytes_total),
            report.copied,
            report.skipped
        ),
        figures,
    ))
}

async fn check(ctx: &StepContext) -> Result<Recheck> {
    let Some(backup) = super::backup_name::recorded(ctx) else {
        return Ok(Recheck::DoesNotHold("no backup is recorded".into()));
    };
    let Some(records) = load_records(ctx, &backup)? else {
        return Ok(Recheck::DoesNotHold("no transfer was recorded".into()));
    };
    let b = client(ctx, ClusterRole::Destination)?;
    let mismatches = verify(&b, &records)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(if mismatches.is_empty() {
        Recheck::Holds(format!(
            "B's bucket holds the {} object(s) of the transfer as recorded",
            records.len()
        ))
    } else {
        Recheck::DoesNotHold(format!(
            "{} object(s) in B's bucket differ from the records",
            mismatches.len()
        ))
    })
}

impl StepAction for Transfer {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(run(ctx))
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(check(ctx))
    }
}
