//! Background pollers for the live panels: queue depths of the source's Redis servers
//! ([`queues`]) and the scaling state of the source namespace's workloads ([`pods`]).
//!
//! Each monitor is one tokio task that sends Events: figures when a reading works,
//! `Event::MonitorProblem` when it does not (the panel then keeps its last figures). A monitor
//! never gives up: after a failure it waits longer each time, up to [`MAX_BACKOFF`], and goes
//! back to its interval once a reading works again. Connections are kept between readings, and
//! the tasks sleep between ticks, so an idle wizard costs next to nothing.

mod options;
pub mod pods;
pub mod queues;

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use tokio::sync::watch;

use crate::config::{Cluster, Config};
use crate::event::Event;
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
    /// The cluster the pod monitor watches.
    pods_follow: Option<watch::Sender<Cluster>>,
}

impl Monitors {
    /// Starts the monitors the config has something for, on the current tokio runtime:
    /// the queue monitor when the source names its backend queues Redis or its system Redis,
    /// the pod monitor when there is a source cluster. Called outside a runtime, it starts
    /// nothing and says so with an `Event::MonitorProblem`.
    pub fn start(
        config: Arc<Config>,
        events: UnboundedSender<Event>,
        options: MonitorOptions,
    ) -> Monitors {
        let mut tasks = Vec::new();
        let mut pods_follow = None;
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
        if let Some(cluster) = pods::watched_cluster(&config) {
            let (follow, watched) = watch::channel(cluster);
            let task = pods::run(watched, events, options);
            tasks.push((pods::MONITOR, runtime.spawn(task)));
            pods_follow = Some(follow);
        }
        Monitors {
            tasks,
            config,
            pods_follow,
        }
    }

    /// On opening a migration with history: the pod monitor looks where the last step that
    /// scaled workloads acted, as if the run had gone on.
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

    /// A step started: the pod monitor follows the cluster whose workloads it scales (the
    /// destination's during the seed), and stays there until a step acts on another one.
    pub fn step_started(&self, step: StepId) {
        let Some(follow) = &self.pods_follow else {
            return;
        };
        let role = self
            .config
            .runbook()
            .step(step.0)
            .and_then(|s| s.action)
            .and_then(crate::steps::access::scaled_cluster);
        let Some(cluster) = role.and_then(|r| self.config.cluster(r)) else {
            return;
        };
        follow.send_if_modified(|watched| {
            let changed = watched.role != cluster.role;
            if changed {
                *watched = cluster.clone();
            }
            changed
        });
    }

    /// The monitors that were started, by the name their problems carry (`queue`, `pod`).
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
