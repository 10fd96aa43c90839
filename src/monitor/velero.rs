//! The Velero monitor: the Backups and Restores (`velero.io/v1`) in Velero's namespace of the
//! cluster a registry migration acts on, with their phase, items done of the total, warnings and
//! errors, read as `infra::velero::Progress` reads a status. One list of each per reading; the
//! newest come first and at most [`MAX_OBJECTS`] are sent, as a cluster may keep months of
//! scheduled backups. It watches cluster A until the backup is made, then cluster B
//! (`follow::acted_on`), like the pods panel.

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use kube::api::DynamicObject;
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

use super::options::MonitorOptions;
use crate::config::{Cluster, Config};
use crate::event::{Event, VeleroKind, VeleroSample};
use crate::infra::kube::{ClusterTarget, CustomKind, KubeCluster};
use crate::infra::velero::Progress;
use crate::runbook::RunbookId;

/// The name its problems carry.
pub const MONITOR: &str = "velero";

/// The most objects one reading sends: the restore of a registry makes about fifteen.
pub const MAX_OBJECTS: usize = 32;

/// The namespace Velero runs in, for a registry migration only (`[velero] namespace`, the same
/// on both clusters); None: no Velero monitor.
pub fn velero_namespace(config: &Config) -> Option<&str> {
    match config.runbook {
        RunbookId::VeleroRegistry => config.velero.as_ref().map(|v| v.namespace.as_str()),
        _ => None,
    }
}

/// `cluster` with the calls going to Velero's namespace.
pub fn watched_in(config: &Config, cluster: &Cluster) -> Option<ClusterTarget> {
    velero_namespace(config).map(|ns| super::follow::in_namespace(cluster, ns))
}

/// The cluster and namespace watched first: Velero's on cluster A.
pub fn watched_cluster(config: &Config) -> Option<ClusterTarget> {
    watched_in(config, super::follow::first_cluster(config)?)
}

fn time(value: Option<&Value>) -> Option<DateTime<Utc>> {
    let text = value?.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// One row from one object (`data`: its fields besides the metadata).
pub fn sample(kind: VeleroKind, name: &str, data: &Value) -> VeleroSample {
    let progress = match kind {
        VeleroKind::Backup => Progress::of_backup(data),
        VeleroKind::Restore => Progress::of_restore(data),
    };
    VeleroSample {
        kind,
        name: name.to_string(),
        phase: progress.phase,
        items_done: progress.items_done,
        total_items: progress.total_items,
        warnings: progress.warnings,
        errors: progress.errors,
        started: time(data.pointer("/status/startTimestamp")),
    }
}

/// The rows of the panel: every Backup and Restore, newest first (by creation, then start),
/// a Restore before the Backup it was made from when both are of the same second; at most
/// [`MAX_OBJECTS`].
pub fn samples(backups: &[DynamicObject], restores: &[DynamicObject]) -> Vec<VeleroSample> {
    let mut rows: Vec<(_, VeleroSample)> = backups
        .iter()
        .map(|o| (VeleroKind::Backup, o))
        .chain(restores.iter().map(|o| (VeleroKind::Restore, o)))
        .map(|(kind, o)| {
            let name = o.metadata.name.as_deref().unwrap_or_default();
            let created = o.metadata.creation_timestamp.as_ref().map(|t| t.0);
            (created, sample(kind, name, &o.data))
        })
        .collect();
    rows.sort_by(|(ca, a), (cb, b)| {
        cb.cmp(ca)
            .then_with(|| b.started.cmp(&a.started))
            .then_with(|| (b.kind == VeleroKind::Restore).cmp(&(a.kind == VeleroKind::Restore)))
            .then_with(|| b.name.cmp(&a.name))
    });
    rows.into_iter().map(|(_, s)| s).take(MAX_OBJECTS).collect()
}

/// Reads until aborted or until nobody listens to the events any more. `follow` says which
/// cluster (and Velero's namespace there) to watch.
pub(super) async fn run(
    follow: watch::Receiver<ClusterTarget>,
    events: UnboundedSender<Event>,
    options: MonitorOptions,
) {
    let interval = options.pod_interval;
    super::follow::run(MONITOR, follow, interval, events, |kube, scope| {
        let timeout = options.timeout;
        async move {
            let objects = read(&kube, timeout).await?;
            Ok(Event::VeleroObjects { scope, objects })
        }
    })
    .await
}

/// One reading: the Backups and the Restores, asked at the same time.
async fn read(
    kube: &KubeCluster,
    timeout: std::time::Duration,
) -> anyhow::Result<Vec<VeleroSample>> {
    let no_answer = |what: &str| {
        anyhow!(
            "{} cluster (context {}, server {}), namespace {}: no answer within {timeout:?} while \
             listing Velero's {what}; check that the API server is reachable from this host",
            kube.name(),
            kube.context(),
            kube.server(),
            kube.namespace()
        )
    };
    let (backups, restores) = tokio::join!(
        tokio::time::timeout(timeout, kube.list_custom(CustomKind::VeleroBackup, None)),
        tokio::time::timeout(timeout, kube.list_custom(CustomKind::VeleroRestore, None)),
    );
    let backups = backups.map_err(|_| no_answer("backups"))??;
    let restores = restores.map_err(|_| no_answer("restores"))??;
    Ok(samples(&backups, &restores))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(name: &str, created: &str, data: Value) -> DynamicObject {
        let mut o: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": name, "namespace": "velero", "creationTimestamp": created},
        }))
        .expect("a valid object");
        o.data = data;
        o
    }

    #[test]
    fn statuses_read_as_velero_writes_them_newest_first() {
        let backup = object(
            "registry-20261207",
            "2026-12-07T10:00:00Z",
            json!({"status": {"phase": "Completed", "startTimestamp": "2026-12-07T10:00:01Z",
                "progress": {"totalItems": 120, "itemsBackedUp": 120}, "warnings": 2}}),
        );
        let init = object(
            "registry-20261207-20261207120000-init",
            "2026-12-07T12:00:00Z",
            json!({"status": {"phase": "PartiallyFailed", "errors": 1,
                "progress": {"totalItems": 80, "itemsRestored": 79}}}),
        );
        let vault = object(
            "registry-20261207-20261207120000-vault",
            "2026-12-07T12:05:00Z",
            json!({"spec": {"backupName": "registry-20261207"}}),
        );
        let rows = samples(&[backup], &[init, vault]);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "registry-20261207-20261207120000-vault",
                "registry-20261207-20261207120000-init",
                "registry-20261207"
            ]
        );
        assert_eq!(rows[0].phase, "New", "not taken by the server yet");
        assert_eq!(rows[0].started, None);
        assert_eq!(
            (
                rows[1].kind,
                rows[1].items_done,
                rows[1].total_items,
                rows[1].errors
            ),
            (VeleroKind::Restore, 79, 80, 1)
        );
        assert_eq!(
            (rows[2].kind, rows[2].items_done, rows[2].warnings),
            (VeleroKind::Backup, 120, 2)
        );
        assert!(rows[2].started.is_some());
    }

    #[test]
    fn a_reading_is_bounded() {
        let many: Vec<DynamicObject> = (0..MAX_OBJECTS + 10)
            .map(|i| {
                object(
                    &format!("daily-{i:03}"),
                    &format!("2026-11-{:02}T00:00:00Z", 1 + i % 28),
                    json!({}),
                )
            })
            .collect();
        assert_eq!(samples(&many, &[]).len(), MAX_OBJECTS);
    }
}
