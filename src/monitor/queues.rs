//! The queue monitor: depths of the source's backend queues Redis (Resque) and system Redis
//! (Sidekiq), the queues the drain step waits on, in one round trip per Redis per reading.

use tokio::sync::mpsc::UnboundedSender;

use super::options::MonitorOptions;
use crate::config::{Config, Store, StoreKind};
use crate::event::{Event, QueueSample};
use crate::infra::backoff::Pacer;
use crate::infra::kube::{ClusterTarget, KubeCluster};
use crate::infra::queues::{QueueProbe, sidekiq_namespace};
use crate::infra::url::scrub;
use crate::runbook::ClusterRole;

/// The name its problems carry.
pub const MONITOR: &str = "queue";

/// The source stores whose queues the drain watches: backend queues Redis, then system Redis.
pub fn watched_stores(config: &Config) -> Vec<Store> {
    let mut stores: Vec<Store> = config
        .stores()
        .filter(|s| s.cluster == ClusterRole::Source)
        .filter(|s| {
            matches!(
                s.kind,
                StoreKind::BackendRedisQueues | StoreKind::SystemRedis
            )
        })
        .cloned()
        .collect();
    stores.sort_by_key(|s| s.kind != StoreKind::BackendRedisQueues);
    stores
}

/// Reads until aborted or until nobody listens to the events any more.
pub(super) async fn run(
    stores: Vec<Store>,
    source: Option<ClusterTarget>,
    events: UnboundedSender<Event>,
    options: MonitorOptions,
) {
    let mut pacer = Pacer::new(options.queue_interval);
    let mut probe: Option<QueueProbe> = None;
    loop {
        pacer.tick().await;
        if events.is_closed() {
            return;
        }
        let probe = match &mut probe {
            Some(probe) => probe,
            None => match probe_for(&stores) {
                Ok(made) => {
                    let namespace = match (&source, made.reads_system_redis()) {
                        (Some(target), true) => match namespace_at(target).await {
                            Ok(ns) => ns,
                            Err(e) => {
                                let text = format!(
                                    "cannot read Sidekiq's namespace at the source ({e:#}); the \
                                     system Redis's queues are shown without one"
                                );
                                if !problem(&events, text) {
                                    return;
                                }
                                None
                            }
                        },
                        _ => None,
                    };
                    probe.insert(
                        made.with_sidekiq_namespace(namespace.as_deref())
                            .with_timeout(options.timeout),
                    )
                }
                Err(e) => {
                    // Unset variable or unreadable file: the operator may fix it while the
                    // wizard runs, so it is read again after the backoff.
                    if !problem(&events, format!("{e:#}")) {
                        return;
                    }
                    pacer.failed().await;
                    continue;
                }
            },
        };
        let reading = probe.read().await;
        let failed = !reading.problems.is_empty();
        if !reading.depths.is_empty() {
            let queues = reading
                .depths
                .into_iter()
                .map(|(name, depth)| QueueSample { name, depth })
                .collect();
            let sent = events.send(Event::QueueDepths {
                source: probe.source(),
                queues,
            });
            if sent.is_err() {
                return;
            }
        }
        for e in &reading.problems {
            // The infra layer masks passwords already; masking again costs nothing and holds
            // even if a client library starts quoting the URL in a new way.
            let text = probe
                .urls()
                .fold(format!("{e:#}"), |text, url| scrub(&text, url));
            if !problem(&events, text) {
                return;
            }
        }
        if failed {
            pacer.failed().await;
        } else {
            pacer.succeeded();
        }
    }
}

/// Sidekiq's namespace at the source cluster `target` (see `infra::queues::sidekiq_namespace`).
async fn namespace_at(target: &ClusterTarget) -> anyhow::Result<Option<String>> {
    let kube = KubeCluster::connect(target).await?;
    Ok(sidekiq_namespace(&kube).await?.0)
}

/// A probe of the stores' URLs; the error names the config key of the one that cannot be read.
fn probe_for(stores: &[Store]) -> anyhow::Result<QueueProbe> {
    let mut queues_url = None;
    let mut system_url = None;
    for store in stores {
        let url = store.url_value()?;
        match store.kind {
            StoreKind::BackendRedisQueues => queues_url = Some(url),
            _ => system_url = Some(url),
        }
    }
    Ok(QueueProbe::new(queues_url, system_url))
}

/// Sends a problem; false when nobody listens any more.
fn problem(events: &UnboundedSender<Event>, text: String) -> bool {
    events
        .send(Event::MonitorProblem {
            monitor: MONITOR,
            text,
        })
        .is_ok()
}
