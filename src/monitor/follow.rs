//! Which cluster the cluster monitors (pods, Velero) look at, and the loop they share: read one
//! namespace of that cluster every interval over a kept connection, and start again on the
//! new cluster when told to follow another one.
//!
//! A 3scale migration's pods panel follows the cluster whose workloads the running step scales
//! (`steps::access::scaled_cluster`). A registry migration with Velero acts on cluster A (the
//! source) until the backup is made, and on cluster B (the destination) from the wait for the
//! synced backup on: the panels follow that.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

use crate::config::{Cluster, Config};
use crate::event::Event;
use crate::infra::backoff::Pacer;
use crate::infra::kube::{ClusterTarget, KubeCluster};
use crate::infra::url::scrub;
use crate::runbook::{ClusterRole, RunbookId, StepId, ids};

/// The cluster the panels look at first: the source, where every runbook starts acting.
pub fn first_cluster(config: &Config) -> Option<&Cluster> {
    config.cluster(ClusterRole::Source)
}

/// The cluster `step` acts on, for the panels; None when it acts on no cluster's workloads
/// (the panels stay where they are).
pub fn acted_on(config: &Config, step: StepId) -> Option<ClusterRole> {
    let book = config.runbook();
    match config.runbook {
        RunbookId::VeleroRegistry => {
            if step == ids::BACKUP_REGISTRY {
                return Some(ClusterRole::Source);
            }
            // From the wait for the synced backup on, everything happens on cluster B.
            let at = |id: StepId| book.steps.iter().position(|s| s.id == id);
            match (at(step), at(ids::WAIT_BACKUP_SYNCED)) {
                (Some(i), Some(from)) if i >= from => Some(ClusterRole::Destination),
                _ => None,
            }
        }
        _ => book
            .step(step.0)
            .and_then(|s| s.action)
            .and_then(crate::steps::access::scaled_cluster),
    }
}

/// `cluster` with the calls going to `namespace`.
pub fn in_namespace(cluster: &Cluster, namespace: &str) -> ClusterTarget {
    ClusterTarget {
        namespace: namespace.to_string(),
        ..cluster.target()
    }
}

/// `source / 3scale`: the cluster's role and the namespace, as the panels' titles show it.
pub fn scope(target: &ClusterTarget) -> String {
    format!("{} / {}", target.name, target.namespace)
}

/// Reads with `read` until aborted or until nobody listens to the events any more. `follow`
/// says which cluster and namespace; when it changes, the next reading is of the new one, at
/// once. A reading that fails becomes `Event::MonitorProblem` (the API server's address
/// masked) and the next one waits the backoff; the connection is kept between readings.
pub(super) async fn run<F, Fut>(
    monitor: &'static str,
    mut follow: watch::Receiver<ClusterTarget>,
    interval: Duration,
    events: UnboundedSender<Event>,
    read: F,
) where
    F: Fn(KubeCluster, String) -> Fut,
    Fut: Future<Output = anyhow::Result<Event>>,
{
    let mut pacer = Pacer::new(interval);
    let mut target = follow.borrow_and_update().clone();
    let mut kube: Option<KubeCluster> = None;
    loop {
        tokio::select! {
            _ = pacer.tick() => {}
            changed = follow.changed() => {
                if changed.is_ok() {
                    target = follow.borrow_and_update().clone();
                    kube = None;
                    pacer.succeeded();
                }
            }
        }
        if events.is_closed() {
            return;
        }
        if kube.is_none() {
            match KubeCluster::connect(&target).await {
                Ok(k) => kube = Some(k),
                Err(e) => {
                    if !problem(&events, monitor, format!("{e:#}")) {
                        return;
                    }
                    pacer.failed().await;
                    continue;
                }
            }
        }
        let Some(k) = kube.clone() else { continue };
        let server = k.server().to_string();
        match read(k, scope(&target)).await {
            Ok(event) => {
                pacer.succeeded();
                if events.send(event).is_err() {
                    return;
                }
            }
            Err(e) => {
                if !problem(&events, monitor, scrub(&format!("{e:#}"), &server)) {
                    return;
                }
                pacer.failed().await;
            }
        }
    }
}

/// Sends a problem; false when nobody listens any more.
fn problem(events: &UnboundedSender<Event>, monitor: &'static str, text: String) -> bool {
    events.send(Event::MonitorProblem { monitor, text }).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn velero_config() -> Config {
        let toml = include_str!("../../examples/velero-registry.toml");
        Config::parse(toml, Path::new("/c/cutover.toml")).expect("the test config parses")
    }

    #[test]
    fn a_registry_migration_acts_on_a_until_the_backup_and_on_b_from_the_sync() {
        let config = velero_config();
        assert_eq!(
            acted_on(&config, ids::BACKUP_REGISTRY),
            Some(ClusterRole::Source)
        );
        for step in [
            ids::WAIT_BACKUP_SYNCED,
            ids::RESTORE_REGISTRY,
            ids::VERIFY_REGISTRY,
        ] {
            assert_eq!(
                acted_on(&config, step),
                Some(ClusterRole::Destination),
                "{step}"
            );
        }
        // The checks before the backup leave the panels where they are.
        assert_eq!(acted_on(&config, ids::CHECK_VELERO), None);
        assert_eq!(
            first_cluster(&config).map(|c| c.role),
            Some(ClusterRole::Source)
        );
    }
}
