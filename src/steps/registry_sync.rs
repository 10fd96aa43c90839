//! `wait-backup-synced`: cluster B's Velero shows the backup. Velero syncs a backup from its
//! storage location's bucket once `velero-backup.json` is there (every `backupSyncPeriod`,
//! a minute by default), as a Backup in its own namespace whose storage location is B's own;
//! the restore can only name a Backup B's Velero knows.
//!
//! The wait is bounded: three sync periods and a minute beyond them. When it runs out the step
//! says what to look at, in the order a sync fails: the location Unavailable, the file not in
//! B's bucket, sync switched off.

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

use super::registry_backup::params;
use super::{Recheck, StepAction, StepContext, StepFuture, StepResult};
use crate::infra::kube::{CustomKind, KubeCluster};
use crate::runbook::ClusterRole;

struct WaitSynced;

pub(super) static WAIT_SYNCED: &dyn StepAction = &WaitSynced;

/// Velero's default `--backup-sync-period`.
const DEFAULT_SYNC_PERIOD: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_secs(2);

/// B's sync period for its storage location: the location's `backupSyncPeriod`, else the
/// default. Zero means B never syncs.
async fn sync_period(kube: &KubeCluster, velero_ns: &str, location: &str) -> Result<Duration> {
    let bsl = kube
        .get_custom(CustomKind::BackupStorageLocation, Some(velero_ns), location)
        .await?
        .with_context(|| {
            format!(
                "cluster B has no BackupStorageLocation {location} in {velero_ns}: the Platform \
                 creates it with the registry's Velero configuration"
            )
        })?;
    Ok(bsl
        .data
        .pointer("/spec/backupSyncPeriod")
        .and_then(Value::as_str)
        .and_then(crate::infra::velero::parse_go_duration)
        .unwrap_or(DEFAULT_SYNC_PERIOD))
}

async fn run(ctx: &StepContext) -> Result<StepResult> {
    let p = params(ctx)?;
    let backup = super::backup_name::required(ctx)?;
    let kube = ctx.cluster(ClusterRole::Destination).await?;
    let period = sync_period(&kube, &p.velero_namespace, &p.registry).await?;
    if period.is_zero() {
        return Ok(ctx.failed(format!(
            "cluster B's storage location {} has backupSyncPeriod 0: its Velero never syncs \
             backups from the bucket. Set it (e.g. `oc patch backupstoragelocation {} -n {} \
             --type merge -p '{{\"spec\":{{\"backupSyncPeriod\":\"1m\"}}}}'`) and run the step \
             again",
            p.registry, p.registry, p.velero_namespace
        )));
    }
    let limit = period * 3 + Duration::from_secs(60);
    ctx.sink.info(format!(
        "waiting for cluster B's Velero to sync the backup {backup} (sync every {} s; at most \
         {} s)",
        period.as_secs(),
        limit.as_secs()
    ));
    let started = tokio::time::Instant::now();
    loop {
        if let Some((object, progress)) = kube
            .velero_progress(CustomKind::VeleroBackup, &p.velero_namespace, &backup)
            .await?
        {
            let location = object
                .pointer("/spec/storageLocation")
                .and_then(Value::as_str)
                .unwrap_or("");
            if location != p.registry {
                return Ok(ctx.failed(format!(
                    "cluster B has a Backup {backup}, but in storage location {location:?}, not \
                     {}: it was not synced from the registry's bucket. Delete it on B (velero \
                     backup delete {backup}) only if it is a leftover, then run the step again",
                    p.registry
                )));
            }
            if let Some(why) = progress.backup_refusal() {
                return Ok(ctx.failed(format!(
                    "cluster B synced the backup {backup}, but {why}: copy it again \
                     (transfer-backup) from a backup that is Completed"
                )));
            }
            let mut figures = Map::new();
            figures.insert("backup".into(), json!(backup));
            figures.insert("items".into(), json!(progress.items_done));
            figures.insert("waited_seconds".into(), json!(started.elapsed().as_secs()));
            return Ok(StepResult::passed(
                format!(
                    "cluster B's Velero has the backup {backup}: Completed, {} items, storage \
                     location {}",
                    progress.items_done, p.registry
                ),
                figures,
            ));
        }
        let waited = started.elapsed();
        ctx.sink
            .progress(waited.as_secs(), Some(limit.as_secs()), "s");
        if waited >= limit {
            let bsl = kube
                .get_custom(
                    CustomKind::BackupStorageLocation,
                    Some(&p.velero_namespace),
                    &p.registry,
                )
                .await?;
            let phase = bsl
                .as_ref()
                .and_then(|b| b.data.pointer("/status/phase"))
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string();
            let synced = bsl
                .as_ref()
                .and_then(|b| b.data.pointer("/status/lastSyncedTime"))
                .and_then(Value::as_str)
                .unwrap_or("never")
                .to_string();
            return Ok(ctx.failed(format!(
                "cluster B's Velero has not synced the backup {backup} within {} s. Its storage \
                 location {} is {phase} (last synced: {synced}); Velero syncs only from an \
                 Available location, and only a backup whose velero-backup.json is in B's bucket \
                 under openshift-backups/backups/{backup}/ (transfer-backup copies it last)",
                limit.as_secs(),
                p.registry
            )));
        }
        tokio::select! {
            _ = ctx.stop_request() => {
                return Ok(StepResult::stopped(
                    "stopped waiting for the sync; the next run waits again",
                ));
            }
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

async fn check(ctx: &StepContext) -> Result<Recheck> {
    let p = params(ctx)?;
    let backup = super::backup_name::required(ctx)?;
    let kube = ctx.cluster(ClusterRole::Destination).await?;
    Ok(
        match kube
            .velero_progress(CustomKind::VeleroBackup, &p.velero_namespace, &backup)
            .await?
        {
            Some((_, progress)) if progress.backup_refusal().is_none() => {
                Recheck::Holds(format!("cluster B has the backup {backup}"))
            }
            _ => Recheck::DoesNotHold(format!("cluster B does not have the backup {backup}")),
        },
    )
}

impl StepAction for WaitSynced {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(run(ctx))
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(check(ctx))
    }
}
