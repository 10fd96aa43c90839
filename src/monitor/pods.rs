//! The pod monitor: every Deployment and DeploymentConfig (and, for a registry, StatefulSet) of
//! a cluster's namespace with its desired, ready and existing pods, worded as an operator reads
//! a scale-down. One list of workloads per kind and one list of the namespace's pods per
//! reading, however many workloads there are. It watches the source until it is told to follow
//! another cluster (`follow::acted_on`: the one whose workloads the running step scales, the
//! destination during the seed; cluster B once a registry's backup is made).

use std::collections::HashMap;

use anyhow::anyhow;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

use super::options::MonitorOptions;
use crate::config::{Cluster, Config};
use crate::event::{Event, WorkloadSample};
use crate::infra::kube::{
    ClusterTarget, KubeCluster, ORIGINAL_REPLICAS_ANNOTATION, PodInfo, WorkloadInfo, WorkloadKind,
};
use crate::runbook::RunbookId;

/// The name its problems carry.
pub const MONITOR: &str = "pod";

/// Container waiting reasons that mean a pod will not become ready by itself.
const STUCK_REASONS: [&str; 6] = [
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "InvalidImageName",
];

/// The cluster and namespace watched first: the source's (whose namespace the drain and the
/// scale-down act on; the registry's namespace on cluster A for a registry migration).
pub fn watched_cluster(config: &Config) -> Option<ClusterTarget> {
    super::follow::first_cluster(config).map(|c| watched_in(config, c))
}

/// `cluster` with the namespace the pods panel shows there: the config's namespace of the
/// cluster, or for a registry migration the registry's namespace (the first of
/// `[velero] registry_namespaces`, the same name on both clusters).
pub fn watched_in(config: &Config, cluster: &Cluster) -> ClusterTarget {
    let registry = match config.runbook {
        RunbookId::VeleroRegistry => registry_namespace(config),
        _ => None,
    };
    super::follow::in_namespace(cluster, registry.unwrap_or(&cluster.namespace))
}

/// The registry's namespace of a registry migration's config: the one place that reads it.
fn registry_namespace(config: &Config) -> Option<&str> {
    config.velero.as_ref().map(|v| v.registry.as_str())
}

/// The workload kinds the panel lists besides Deployments and DeploymentConfigs: a registry
/// runs its databases and tools in StatefulSets; 3scale has none (and its access path may not
/// allow listing them).
pub fn more_kinds(config: &Config) -> &'static [WorkloadKind] {
    match config.runbook {
        RunbookId::VeleroRegistry => &[WorkloadKind::StatefulSet],
        _ => &[],
    }
}

/// The pods of one workload, by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PodCounts {
    /// Pods that are not terminating (ready or not).
    pub live: u32,
    /// Pods with a deletion timestamp, still there.
    pub terminating: u32,
    /// Live pods that will not become ready by themselves: restarting, image not pulled,
    /// phase Unknown.
    pub failing: u32,
}

impl PodCounts {
    fn add(&mut self, pod: &Pod) {
        let info = PodInfo::from_pod(pod);
        if info.deleting {
            self.terminating += 1;
            return;
        }
        self.live += 1;
        if !info.ready && (info.restarts > 0 || info.phase == "Unknown" || is_stuck(pod)) {
            self.failing += 1;
        }
    }

    /// Pods that exist, terminating ones included.
    pub fn current(&self) -> u32 {
        self.live + self.terminating
    }
}

fn is_stuck(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.state
                    .as_ref()
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref())
                    .is_some_and(|r| STUCK_REASONS.contains(&r))
            })
        })
}

/// How an operator words a workload's state: `Scaled down` (no replicas wanted, no pods left),
/// `Terminating` (none wanted, only ending pods left), `Scaling down` (more pods than wanted, or
/// ending ones beside the wanted ones), `Running` (every wanted replica ready), `Degraded` (a pod
/// that will not become ready by itself), `Starting` (replicas on their way).
pub fn workload_phase(desired: u32, ready: u32, pods: PodCounts) -> &'static str {
    if desired == 0 {
        return match (pods.live, pods.terminating) {
            (0, 0) => "Scaled down",
            (0, _) => "Terminating",
            _ => "Scaling down",
        };
    }
    if pods.live > desired || (pods.terminating > 0 && pods.live == desired && ready >= desired) {
        "Scaling down"
    } else if ready >= desired && pods.live >= desired {
        "Running"
    } else if pods.failing > 0 {
        "Degraded"
    } else {
        "Starting"
    }
}

/// One row of the panel from a workload and the counts of its pods.
fn sample(workload: &WorkloadInfo, pods: PodCounts) -> WorkloadSample {
    let desired = u32::try_from(workload.replicas).unwrap_or(0);
    let ready = u32::try_from(workload.ready_replicas).unwrap_or(0);
    WorkloadSample {
        name: format!("{}/{}", workload.kind.as_str(), workload.name),
        desired,
        ready,
        current: pods.current(),
        phase: workload_phase(desired, ready, pods).to_string(),
        original: workload
            .annotations
            .get(ORIGINAL_REPLICAS_ANNOTATION)
            .and_then(|v| v.trim().parse().ok()),
    }
}

/// The rows of the panel: every workload with the pods its label selects. Pods that have ended
/// (Succeeded, Failed) are no replicas and not counted.
pub fn samples(workloads: &[WorkloadInfo], pods: &[Pod]) -> Vec<WorkloadSample> {
    let kinds = [
        WorkloadKind::Deployment,
        WorkloadKind::DeploymentConfig,
        WorkloadKind::StatefulSet,
    ];
    let mut counts: HashMap<(WorkloadKind, &str), PodCounts> = HashMap::new();
    for pod in pods {
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            continue;
        }
        for kind in kinds {
            if let Some(owner) = kind.owner_of(pod) {
                counts.entry((kind, owner)).or_default().add(pod);
            }
        }
    }
    workloads
        .iter()
        .map(|w| {
            let pods = counts
                .get(&(w.kind, w.name.as_str()))
                .copied()
                .unwrap_or_default();
            sample(w, pods)
        })
        .collect()
}

/// Reads until aborted or until nobody listens to the events any more. `follow` says which
/// cluster and namespace to watch; when it changes, the next reading is of the new one. `more`:
/// the workload kinds listed besides Deployments and DeploymentConfigs (StatefulSets).
pub(super) async fn run(
    follow: watch::Receiver<ClusterTarget>,
    more: &'static [WorkloadKind],
    events: UnboundedSender<Event>,
    options: MonitorOptions,
) {
    let interval = options.pod_interval;
    super::follow::run(MONITOR, follow, interval, events, |kube, scope| {
        let options = options.clone();
        async move {
            let workloads = read(&kube, more, &options).await?;
            Ok(Event::Workloads { scope, workloads })
        }
    })
    .await
}

/// One reading: the workloads and the namespace's pods, asked at the same time.
async fn read(
    kube: &KubeCluster,
    more: &[WorkloadKind],
    options: &MonitorOptions,
) -> anyhow::Result<Vec<WorkloadSample>> {
    let timeout = options.timeout;
    let no_answer = |what: &str| {
        anyhow!(
            "{} cluster (context {}, server {}), namespace {}: no answer within {timeout:?} while \
             listing the {what}; check that the API server is reachable from this host",
            kube.name(),
            kube.context(),
            kube.server(),
            kube.namespace()
        )
    };
    let pods_api: Api<Pod> = Api::namespaced(kube.client().clone(), kube.namespace());
    let params = ListParams::default();
    let (workloads, pods) = tokio::join!(
        tokio::time::timeout(timeout, kube.list_workloads_with(more)),
        tokio::time::timeout(timeout, pods_api.list(&params)),
    );
    let workloads = workloads.map_err(|_| no_answer("workloads"))??;
    let pods = pods.map_err(|_| no_answer("pods"))?.map_err(|e| {
        anyhow!(
            "{} cluster (context {}), namespace {}: listing the pods failed: {e}; check the \
             network and that this user may list pods there",
            kube.name(),
            kube.context(),
            kube.namespace()
        )
    })?;
    Ok(samples(&workloads, &pods.items))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(live: u32, terminating: u32, failing: u32) -> PodCounts {
        PodCounts {
            live,
            terminating,
            failing,
        }
    }

    #[test]
    fn a_scale_down_reads_as_an_operator_expects() {
        assert_eq!(workload_phase(2, 2, counts(2, 0, 0)), "Running");
        // Replicas set to 0, the controller has not marked the pods yet.
        assert_eq!(workload_phase(0, 2, counts(2, 0, 0)), "Scaling down");
        assert_eq!(workload_phase(0, 0, counts(0, 2, 0)), "Terminating");
        assert_eq!(workload_phase(0, 0, counts(0, 0, 0)), "Scaled down");
        // 3 -> 1: one kept, two ending.
        assert_eq!(workload_phase(1, 1, counts(1, 2, 0)), "Scaling down");
        assert_eq!(workload_phase(1, 3, counts(3, 0, 0)), "Scaling down");
    }

    #[test]
    fn a_scale_up_starts_and_a_crashing_pod_degrades() {
        assert_eq!(workload_phase(2, 0, counts(0, 0, 0)), "Starting");
        assert_eq!(workload_phase(2, 1, counts(2, 0, 0)), "Starting");
        assert_eq!(workload_phase(2, 1, counts(2, 0, 1)), "Degraded");
        assert_eq!(workload_phase(1, 1, counts(1, 0, 0)), "Running");
    }
}
