//! Following a Velero Backup or Restore to its end: its phase and items on the step's progress
//! gauge and in the log as they change, a pause honoured at once (Velero goes on by itself, and
//! a resumed run picks the same object up again), and a warning when it stops moving.

use std::time::Duration;

use anyhow::Result;

use super::StepContext;
use crate::infra::kube::{CustomKind, DownloadTarget, KubeCluster};
use crate::infra::velero::Progress;
use crate::runbook::ClusterRole;

/// Between two readings of the object.
const POLL: Duration = Duration::from_secs(1);
/// No phase or item change for this long gives a warning (repeated as long as it lasts).
const STALLED: Duration = Duration::from_secs(300);

/// How following ended.
pub enum Followed {
    /// The server is done with it: its last progress.
    Finished(Progress),
    /// The operator paused or quit; the object goes on in Velero.
    Stopped,
    /// The object is gone (deleted by someone, or expired).
    Gone,
}

/// Follows `name` (a Backup or a Restore in `velero_namespace`) until Velero is done with it.
/// `what` names it in the log (`the backup reg-…`).
pub async fn follow(
    ctx: &StepContext,
    kube: &KubeCluster,
    kind: CustomKind,
    velero_namespace: &str,
    name: &str,
    what: &str,
) -> Result<Followed> {
    let mut last: Option<Progress> = None;
    let mut moved = tokio::time::Instant::now();
    let mut warned = 0u32;
    loop {
        let Some((_, progress)) = kube.velero_progress(kind, velero_namespace, name).await? else {
            return Ok(Followed::Gone);
        };
        let changed = last.as_ref() != Some(&progress);
        if changed {
            moved = tokio::time::Instant::now();
            warned = 0;
            if last.as_ref().map(|l| &l.phase) != Some(&progress.phase) {
                ctx.sink
                    .info(format!("{what}: {} ({})", progress.phase, progress.items()));
            }
            let total = (progress.total_items > 0).then_some(progress.total_items);
            ctx.sink.progress(progress.items_done, total, "items");
        }
        if progress.finished() {
            return Ok(Followed::Finished(progress));
        }
        let still = moved.elapsed();
        if still >= STALLED * (warned + 1) {
            warned += 1;
            ctx.sink.warn(format!(
                "{what} has not moved for {} min ({}, {}); Velero's own log says why: \
                 velero {} logs {name}",
                still.as_secs() / 60,
                progress.phase,
                progress.items(),
                if kind == CustomKind::VeleroBackup {
                    "backup"
                } else {
                    "restore"
                },
            ));
        }
        last = Some(progress);
        tokio::select! {
            _ = ctx.stop_request() => return Ok(Followed::Stopped),
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// How many of Velero's messages the log shows of one Backup or Restore (the rest are counted).
const SHOWN_MESSAGES: usize = 40;

/// A Backup's or Restore's warnings and errors in the log, as `velero … describe` lists them;
/// when they cannot be fetched, says how to read them.
pub async fn show_results(
    ctx: &StepContext,
    kube: &KubeCluster,
    velero_namespace: &str,
    target: DownloadTarget,
    name: &str,
    what: &str,
) {
    let (role, verb) = match target {
        DownloadTarget::BackupLog => (ClusterRole::Source, "backup"),
        _ => (ClusterRole::Destination, "restore"),
    };
    let ca = ctx
        .config
        .velero
        .as_ref()
        .and_then(|v| v.storage(role))
        .and_then(|s| s.ca_file.clone());
    match kube
        .velero_results(velero_namespace, target, name, ca.as_deref())
        .await
    {
        Ok(results) => {
            for line in results.errors.iter().take(SHOWN_MESSAGES) {
                ctx.sink.error(format!("{what}: error: {line}"));
            }
            for line in results.warnings.iter().take(SHOWN_MESSAGES) {
                ctx.sink.warn(format!("{what}: warning: {line}"));
            }
            let hidden = results.errors.len().saturating_sub(SHOWN_MESSAGES)
                + results.warnings.len().saturating_sub(SHOWN_MESSAGES);
            if hidden > 0 {
                ctx.sink.warn(format!(
                    "{what}: {hidden} more message(s): velero {verb} describe {name} --details"
                ));
            }
        }
        Err(e) => ctx.sink.warn(format!(
            "{what}: its warnings and errors could not be fetched ({e:#}); read them with \
             velero {verb} describe {name} --details"
        )),
    }
}
