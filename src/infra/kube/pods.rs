//! Pods of a workload (by the `deployment=` / `deploymentConfig=` label): a list, and a watch
//! that yields the whole current set after every change, which is what a live panel draws.

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use kube::runtime::watcher;

use super::cluster::KubeCluster;
use super::workloads::WorkloadKind;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PodInfo {
    pub name: String,
    /// `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`.
    pub phase: String,
    pub ready: bool,
    /// Sum over the containers.
    pub restarts: i32,
    /// It has a deletionTimestamp: it is terminating.
    pub deleting: bool,
}

impl PodInfo {
    /// `terminating`, `ready`, or the pod's phase: how a timeout message names its state.
    pub fn state_word(&self) -> &str {
        if self.deleting {
            "terminating"
        } else if self.ready {
            "ready"
        } else {
            &self.phase
        }
    }

    pub fn from_pod(pod: &Pod) -> PodInfo {
        let status = pod.status.as_ref();
        PodInfo {
            name: pod.metadata.name.clone().unwrap_or_default(),
            phase: status
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Unknown".to_string()),
            ready: status
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
            restarts: status
                .and_then(|s| s.container_statuses.as_ref())
                .map(|cs| cs.iter().map(|c| c.restart_count).sum())
                .unwrap_or(0),
            deleting: pod.metadata.deletion_timestamp.is_some(),
        }
    }
}

/// The label selector that narrows the pods of a workload on the server: its naming label,
/// or none for a StatefulSet (whose pods are then picked by their owner).
fn pod_selector(kind: WorkloadKind, name: &str) -> String {
    kind.pod_label()
        .map(|label| format!("{label}={name}"))
        .unwrap_or_default()
}

impl KubeCluster {
    pub(super) fn pods_api(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The raw pods of a workload, for callers that need more than [`PodInfo`].
    pub async fn workload_pods(&self, kind: WorkloadKind, name: &str) -> anyhow::Result<Vec<Pod>> {
        let selector = pod_selector(kind, name);
        let what = format!("the pods of {kind} {name} ({})", kind.kubectl_pods(name));
        let list = self
            .call(
                Some(&self.namespace),
                &what,
                self.pods_api()
                    .list(&ListParams::default().labels(&selector)),
            )
            .await?;
        Ok(list
            .items
            .into_iter()
            .filter(|p| kind.owns(name, p))
            .collect())
    }

    /// The pods of a workload, sorted by name.
    pub async fn pods_of(&self, kind: WorkloadKind, name: &str) -> anyhow::Result<Vec<PodInfo>> {
        let mut pods: Vec<PodInfo> = self
            .workload_pods(kind, name)
            .await?
            .iter()
            .map(PodInfo::from_pod)
            .collect();
        pods.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(pods)
    }

    /// Watches the pods of a workload: each item is the full set (sorted by name) after a
    /// change. Errors are items too; the watch retries by itself after them (with backoff), so
    /// the stream only ends when dropped.
    pub fn watch_pods(
        &self,
        kind: WorkloadKind,
        name: &str,
    ) -> impl Stream<Item = anyhow::Result<Vec<PodInfo>>> + Send + 'static {
        use kube::runtime::WatchStreamExt;
        let selector = pod_selector(kind, name);
        let config = watcher::Config::default().labels(&selector);
        let cluster = self.clone();
        let what = format!(
            "watching the pods of {kind} {name} ({})",
            kind.kubectl_pods(name)
        );
        let owner = name.to_string();
        let events = watcher(self.pods_api(), config).default_backoff();
        let state = (
            std::collections::BTreeMap::<String, PodInfo>::new(),
            None::<std::collections::BTreeMap<String, PodInfo>>,
        );
        events
            .scan(state, move |(pods, pending), event| {
                let item = match event {
                    // A StatefulSet's pods carry no label naming it: the others are left out here.
                    Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p))
                        if !kind.owns(&owner, &p) =>
                    {
                        None
                    }
                    Ok(watcher::Event::Apply(p)) => {
                        let info = PodInfo::from_pod(&p);
                        pods.insert(info.name.clone(), info);
                        Some(Ok(pods.values().cloned().collect()))
                    }
                    Ok(watcher::Event::Delete(p)) => {
                        pods.remove(&p.metadata.name.clone().unwrap_or_default());
                        Some(Ok(pods.values().cloned().collect()))
                    }
                    Ok(watcher::Event::Init) => {
                        *pending = Some(Default::default());
                        None
                    }
                    Ok(watcher::Event::InitApply(p)) => {
                        let info = PodInfo::from_pod(&p);
                        pending
                            .get_or_insert_with(Default::default)
                            .insert(info.name.clone(), info);
                        None
                    }
                    Ok(watcher::Event::InitDone) => {
                        *pods = pending.take().unwrap_or_default();
                        Some(Ok(pods.values().cloned().collect()))
                    }
                    Err(e) => Some(Err(anyhow::anyhow!(
                        "{} cluster (context {}, namespace {}): {what}: {e}; retrying (check the \
                         network and RBAC for list/watch on pods)",
                        cluster.name,
                        cluster.context,
                        cluster.namespace
                    ))),
                };
                futures::future::ready(Some(item))
            })
            .filter_map(futures::future::ready)
    }
}

impl KubeCluster {
    /// Polls (every `POLL`) until the workload has exactly `replicas` pods, none terminating and
    /// all ready (for 0: no pods at all), or `timeout` passes; then says what it last saw.
    pub async fn wait_for_pods(
        &self,
        kind: WorkloadKind,
        name: &str,
        replicas: usize,
        timeout: std::time::Duration,
    ) -> anyhow::Result<Vec<PodInfo>> {
        const POLL: std::time::Duration = std::time::Duration::from_millis(500);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let pods = self.pods_of(kind, name).await?;
            let settled = pods.len() == replicas && pods.iter().all(|p| p.ready && !p.deleting);
            if settled {
                return Ok(pods);
            }
            if tokio::time::Instant::now() >= deadline {
                let seen: Vec<String> = pods
                    .iter()
                    .map(|p| format!("{} {}", p.name, p.state_word()))
                    .collect();
                anyhow::bail!(
                    "{} cluster (context {}), namespace {}: {kind} {name} did not reach {replicas} ready \
                     pods within {}s (now: {}); check `kubectl --context {} get pods -n {} {}` \
                     and the pods' events",
                    self.name,
                    self.context,
                    self.namespace,
                    timeout.as_secs(),
                    if seen.is_empty() {
                        "no pods".to_string()
                    } else {
                        seen.join(", ")
                    },
                    self.context,
                    self.namespace,
                    kind.kubectl_pods(name),
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
