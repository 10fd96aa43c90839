//! Background pollers for the live panels: queue depths of the source's Redis servers
//! ([`queues`]), the scaling state of a namespace's workloads ([`pods`]) and, for a registry
//! migration, Velero's Backups and Restores ([`velero`]), on the cluster the run acts on
//! ([`follow`]).
//!
//! Each monitor is one tokio task that sends Events: figures when a reading works,
//! `Event::MonitorProblem` when it does not (the panel then keeps its last figures). A monitor
//! never gives up: after a failure it waits longer each time, up to [`MAX_BACKOFF`], and goes
//! back to its interval once a reading works again. Connections are kept between readings, and
//! the tasks sleep between ticks, so an idle wizard costs next to nothing.

pub mod follow;
mod options;
pub mod pods;
pub mod queues;
pub mod velero;

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use tokio::sync::watch;

use crate::config::Config;
use crate::event::Event;
use crate::infra::kube::ClusterTarget;
use crate::journal::JournalState;
use crate::runbook::{ClusterRole, StepId};

pub use crate::infra::backoff::MAX_BACKOFF;
pub use options::MonitorOptions;
pub use pods::{PodCounts, workload_phase};

/// The running monitors. Dropping it (or [`Monitors::stop`]) stops them.
#[derive(Debug)]
pub struct Monitors {
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    config: Arc<Config>,
    /// The cluster (and namespace) the pod monitor watches.
    pods_follow: Option<watch::Sender<ClusterTarget>>,
    /// The cluster (and Velero's namespace) the Velero monitor watches.
    velero_follow: Option<watch::Sender<ClusterTarget>>,
}

impl Monitors {
    /// Starts the monitors the config has something for, on the current tokio runtime:
    /// the queue monitor when the source names its backend queues Redis or its system Redis,
    /// the pod monitor when there is a source cluster, the Velero monitor for a registry
    /// migration. Called outside a runtime, it starts nothing and says so with an
    /// `Event::MonitorProblem`.
    pub fn start(
        config: Arc<Config>,
        events: UnboundedSender<Event>,
        options: MonitorOptions,
    ) -> Monitors {
        let mut tasks = Vec::new();
        let mut pods_follow = None;
        let mut velero_follow = None;
        let runtime = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime,
            Err(_) => {
                let _ = events.send(Event::MonitorProblem {
                    monitor: "live panels",
                    text: "the monitors need a tokio runtime and were started outside one; the \
                           panels stay empty"
                        .to_string(),
                });
                return Monitors {
                    tasks,
                    config,
                    pods_follow,
                    velero_follow,
                };
            }
        };
        let stores = queues::watched_stores(&config);
        if !stores.is_empty() {
            // Sidekiq's namespace, as the drain reads it, from the source cluster when there is one.
            let source = config.cluster(ClusterRole::Source).map(|c| c.target());
            let task = queues::run(stores, source, events.clone(), options.clone());
            tasks.push((queues::MONITOR, runtime.spawn(task)));
        }
        if let Some(target) = velero::watched_cluster(&config) {
            let (follow, watched) = watch::channel(target);
            let task = velero::run(watched, events.clone(), options.clone());
            tasks.push((velero::MONITOR, runtime.spawn(task)));
            velero_follow = Some(follow);
        }
        if let Some(target) = pods::watched_cluster(&config) {
            let (follow, watched) = watch::channel(target);
            let task = pods::run(watched, pods::more_kinds(&config), events, options);
            tasks.push((pods::MONITOR, runtime.spawn(task)));
            pods_follow = Some(follow);
        }
        Monitors {
            tasks,
            config,
            pods_follow,
            velero_follow,
        }
    }

    /// On opening a migration with history: the pod and Velero monitors look where the last
    /// step that acted on a cluster acted, as if the run had gone on.
    pub fn follow_journal(&self, state: &JournalState) {
        let book = self.config.runbook();
        let mut started: Vec<_> = state
            .steps
            .iter()
            .filter_map(|(id, r)| Some((r.started_at?, book.step(id)?.id)))
            .collect();
        started.sort();
        for (_, step) in started {
            self.step_started(step);
        }
    }

    /// A step started: the pod and Velero monitors follow the cluster it acts on
    /// (`follow::acted_on`: whose workloads it scales, the destination's during the seed; a
    /// registry's cluster B once the backup is made), and stay there until a step acts on
    /// another one.
    pub fn step_started(&self, step: StepId) {
        let Some(role) = follow::acted_on(&self.config, step) else {
            return;
        };
        let Some(cluster) = self.config.cluster(role) else {
            return;
        };
        let targets = [
            (
                &self.pods_follow,
                Some(pods::watched_in(&self.config, cluster)),
            ),
            (
                &self.velero_follow,
                velero::watched_in(&self.config, cluster),
            ),
        ];
        for (follow, target) in targets {
            if let (Some(follow), Some(target)) = (follow, target) {
                follow.send_if_modified(|watched| {
                    let changed = *watched != target;
                    if changed {
                        *watched = target;
                    }
                    changed
                });
            }
        }
    }

    /// The monitors that were started, by the name their problems carry (`queue`, `pod`,
    /// `velero`).
    pub fn running(&self) -> Vec<&'static str> {
        self.tasks
            .iter()
            .filter(|(_, task)| !task.is_finished())
            .map(|(name, _)| *name)
            .collect()
    }

    /// Stops every monitor now; no Event is sent after the tasks next yield.
    pub fn stop(self) {}
}

impl Drop for Monitors {
    fn drop(&mut self) {
        for (_, task) in &self.tasks {
            task.abort();
        }
    }
}
