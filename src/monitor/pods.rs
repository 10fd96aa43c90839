//! The pod monitor: every Deployment and DeploymentConfig of a cluster's namespace with its
//! desired, ready and existing pods, worded as an operator reads a scale-down. One list of
//! workloads per kind and one list of the namespace's pods per reading, however many workloads
//! there are. It watches the source until it is told to follow another cluster (the one whose
//! workloads the running step scales: the destination during the seed).

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
use crate::infra::backoff::Pacer;
use crate::infra::kube::{
    KubeCluster, ORIGINAL_REPLICAS_ANNOTATION, PodInfo, WorkloadInfo, WorkloadKind,
};
use crate::infra::url::scrub;
use crate::runbook::ClusterRole;

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

/// The cluster watched first: the source, whose namespace the drain and the scale-down act on.
pub fn watched_cluster(config: &Config) -> Option<Cluster> {
    config.cluster(ClusterRole::Source).cloned()
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
    let kinds = [WorkloadKind::Deployment, WorkloadKind::DeploymentConfig];
    let mut counts: HashMap<(WorkloadKind, &str), PodCounts> = HashMap::new();
    for pod in pods {
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            continue;
        }
        let Some(labels) = pod.metadata.labels.as_ref() else {
            continue;
        };
        for kind in kinds {
            if let Some(owner) = labels.get(kind.pod_label()) {
                counts.entry((kind, owner.as_str())).or_default().add(pod);
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
/// cluster to watch; when it changes, the next reading is of the new one.
pub(super) async fn run(
    mut follow: watch::Receiver<Cluster>,
    events: UnboundedSender<Event>,
    options: MonitorOptions,
) {
    let mut pacer = Pacer::new(options.pod_interval);
    let mut cluster = follow.borrow_and_update().clone();
    let mut scope = format!("{} / {}", cluster.role, cluster.namespace);
    let mut kube: Option<KubeCluster> = None;
    loop {
        tokio::select! {
            _ = pacer.tick() => {}
            changed = follow.changed() => {
                if changed.is_ok() {
                    cluster = follow.borrow_and_update().clone();
                    scope = format!("{} / {}", cluster.role, cluster.namespace);
                    kube = None;
                    pacer.succeeded();
                }
            }
        }
        if events.is_closed() {
            return;
        }
        let reading = match &kube {
            Some(k) => read(k, &options).await,
            None => match KubeCluster::connect(&cluster.target()).await {
                Ok(k) => {
                    let reading = read(&k, &options).await;
                    kube = Some(k);
                    reading
                }
                Err(e) => Err(e),
            },
        };
        let event = match reading {
            Ok(workloads) => {
                pacer.succeeded();
                Event::Workloads {
                    scope: scope.clone(),
                    workloads,
                }
            }
            Err(e) => {
                let mut text = format!("{e:#}");
                if let Some(k) = &kube {
                    text = scrub(&text, k.server());
                }
                Event::MonitorProblem {
                    monitor: MONITOR,
                    text,
                }
            }
        };
        let failed = matches!(event, Event::MonitorProblem { .. });
        if events.send(event).is_err() {
            return;
        }
        if failed {
            pacer.failed().await;
        }
    }
}

/// One reading: the workloads and the namespace's pods, asked at the same time.
async fn read(kube: &KubeCluster, options: &MonitorOptions) -> anyhow::Result<Vec<WorkloadSample>> {
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
        tokio::time::timeout(timeout, kube.list_workloads()),
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
