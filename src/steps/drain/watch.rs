//! What the drain watches: the three source stores, their connections (direct or through a
//! port-forward), and what one reading of them found.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::config::StoreKind;
use crate::infra::kube::PortForward;
use crate::infra::pg::QueJobsProbe;
use crate::infra::queues::{QueueFamily, QueueProbe};
use crate::infra::url::{self, scrub};
use crate::steps::StepContext;
use crate::steps::inventory::StoreLocation;
use crate::steps::stores::{Reach, SourceStores, config_key, secret_of};

/// Connecting to a store, and then each reading, before it counts as no answer.
pub(super) const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The key zync's pending jobs are reported under, next to the Redis queue keys.
pub(super) const QUE_JOBS: &str = "que_jobs";

/// One of the three stores whose queues the drain watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Part {
    BackendQueues,
    SystemRedis,
    Zync,
}

impl Part {
    pub(super) const ALL: [Part; 3] = [Part::BackendQueues, Part::SystemRedis, Part::Zync];

    pub(super) fn label(self) -> &'static str {
        match self {
            Part::BackendQueues => "backend queues Redis",
            Part::SystemRedis => "system Redis",
            Part::Zync => "zync database",
        }
    }

    pub(super) fn kind(self) -> StoreKind {
        match self {
            Part::BackendQueues => StoreKind::BackendRedisQueues,
            Part::SystemRedis => StoreKind::SystemRedis,
            Part::Zync => StoreKind::ZyncDatabase,
        }
    }

    /// The queue keys this store holds.
    pub(super) fn queues(self) -> Vec<String> {
        match self {
            Part::BackendQueues => keys(QueueFamily::Resque),
            Part::SystemRedis => keys(QueueFamily::Sidekiq),
            Part::Zync => vec![QUE_JOBS.to_string()],
        }
    }

    /// The store a queue key belongs to.
    pub(super) fn of_queue(key: &str) -> Part {
        if key == QUE_JOBS {
            Part::Zync
        } else if key.starts_with("resque:") {
            Part::BackendQueues
        } else {
            Part::SystemRedis
        }
    }
}

pub(super) fn keys(family: QueueFamily) -> Vec<String> {
    family.keys().into_iter().map(|(k, _)| k).collect()
}

/// The stores being watched, with their open connections.
pub(super) struct Watch {
    pub(super) redis: QueueProbe,
    pub(super) zync: Option<QueJobsProbe>,
    pub(super) parts: Vec<Part>,
    /// Where each watched store's URL came from, for messages and figures.
    pub(super) origins: Vec<String>,
    /// The stores with no URL, left out, with why.
    pub(super) missing: Vec<(Part, String)>,
    /// The unmasked URLs, only to scrub error texts.
    pub(super) urls: Vec<String>,
    /// Port-forwards to in-cluster stores, open while the watch lives.
    pub(super) _forwards: Vec<PortForward>,
}

/// What one reading found: the depths of the stores that answered, and why each other one did
/// not (passwords masked).
pub(super) struct Reading {
    pub(super) depths: BTreeMap<String, u64>,
    pub(super) problems: Vec<(Part, String)>,
}

impl Reading {
    pub(super) fn answered(&self, part: Part) -> bool {
        part.queues().iter().all(|q| self.depths.contains_key(q))
    }

    pub(super) fn total(&self) -> u64 {
        self.depths.values().sum()
    }

    pub(super) fn total_of(&self, part: Part) -> u64 {
        self.depths
            .iter()
            .filter(|(k, _)| Part::of_queue(k) == part)
            .map(|(_, d)| d)
            .sum()
    }
}

impl Watch {
    /// The watch over the source stores: the config's URL for each, or else where the
    /// inventory found it. Err: a store that is configured or inventoried but whose URL cannot
    /// be read or reached, which the operator must fix rather than have it left out.
    pub(super) async fn open(ctx: &StepContext) -> Result<Watch> {
        let mut urls: BTreeMap<Part, String> = BTreeMap::new();
        let mut parts = Vec::new();
        let mut origins = Vec::new();
        let mut missing = Vec::new();
        let mut forwards = Vec::new();
        let mut stores = SourceStores::new(ctx);
        for part in Part::ALL {
            let kind = part.kind();
            let (url, origin) = match stores.find(kind, part.label()).await? {
                Some(Reach::Url { url, origin }) => (url, origin),
                Some(Reach::Pod { pod, location }) => {
                    let (url, origin, forward) =
                        forwarded(&mut stores, part, &pod, &location).await?;
                    forwards.push(forward);
                    (url, origin)
                }
                None => {
                    missing.push((part, stores.why_missing(kind)));
                    continue;
                }
            };
            urls.insert(part, url);
            parts.push(part);
            origins.push(origin);
        }
        let namespace = if urls.contains_key(&Part::SystemRedis) {
            match stores.sidekiq_namespace().await {
                Ok((Some(ns), how)) => {
                    ctx.sink.info(format!(
                        "Sidekiq keys of the system Redis are under namespace `{ns}` ({how}): \
                         reading {ns}:queue:<name>, {ns}:schedule, {ns}:retry and {ns}:dead"
                    ));
                    Some(ns)
                }
                Ok((None, how)) => {
                    ctx.sink.info(format!(
                        "Sidekiq keys of the system Redis have no namespace ({how})"
                    ));
                    None
                }
                Err(e) => {
                    ctx.sink.warn(format!(
                        "cannot read Sidekiq's namespace at the source ({e:#}); the system \
                         Redis's queues are read without one. On 3scale 2.13 or earlier with \
                         REDIS_NAMESPACE set they would look empty when they are not: check \
                         `<oc> set env dc/system-app --list | grep REDIS_NAMESPACE`"
                    ));
                    None
                }
            }
        } else {
            None
        };
        let redis = QueueProbe::new(
            urls.get(&Part::BackendQueues).cloned(),
            urls.get(&Part::SystemRedis).cloned(),
        )
        .with_sidekiq_namespace(namespace.as_deref())
        .with_timeout(READ_TIMEOUT);
        let zync = urls
            .get(&Part::Zync)
            .map(|url| QueJobsProbe::new(url.clone()).with_timeout(READ_TIMEOUT));
        Ok(Watch {
            redis,
            zync,
            parts,
            origins,
            missing,
            urls: urls.into_values().collect(),
            _forwards: forwards,
        })
    }

    pub(super) fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Reads every store at once: each Redis in one round trip, zync in one query.
    pub(super) async fn read(&mut self) -> Reading {
        let redis = async {
            if self.redis.is_empty() {
                None
            } else {
                Some(self.redis.read().await)
            }
        };
        let zync = async {
            match self.zync.as_mut() {
                Some(probe) => Some(probe.pending().await),
                None => None,
            }
        };
        let (redis, zync) = futures::join!(redis, zync);
        let mut reading = Reading {
            depths: BTreeMap::new(),
            problems: Vec::new(),
        };
        if let Some(redis) = redis {
            reading.depths.extend(redis.depths);
            let mut texts: Vec<String> = redis
                .problems
                .iter()
                .map(|e| self.scrubbed(&format!("{e:#}")))
                .collect();
            for part in [Part::BackendQueues, Part::SystemRedis] {
                if self.parts.contains(&part) && !reading.answered(part) {
                    // Each problem names the Redis it is about; pick that one's text.
                    let role = match part {
                        Part::BackendQueues => QueueFamily::Resque.role(),
                        _ => QueueFamily::Sidekiq.role(),
                    };
                    let at = texts
                        .iter()
                        .position(|t| t.contains(&format!("the {role} Redis")))
                        .or((!texts.is_empty()).then_some(0));
                    let text = match at {
                        Some(at) => texts.remove(at),
                        None => "no answer".to_string(),
                    };
                    reading.problems.push((part, text));
                }
            }
        }
        match zync {
            Some(Ok(n)) => {
                reading.depths.insert(QUE_JOBS.to_string(), n);
            }
            Some(Err(e)) => {
                let text = self.scrubbed(&format!("{e:#}"));
                reading.problems.push((Part::Zync, text));
            }
            None => {}
        }
        reading
    }

    /// A reading in which every watched store answered.
    pub(super) fn complete(&self, reading: &Reading) -> bool {
        reading.problems.is_empty() && self.parts.iter().all(|p| reading.answered(*p))
    }

    /// `text` with every URL's password masked; the infra layer masks already, this holds even
    /// if a client library starts quoting the URL in a new way.
    pub(super) fn scrubbed(&self, text: &str) -> String {
        self.urls
            .iter()
            .fold(text.to_string(), |t, url| scrub(&t, url))
    }

    /// The stores left out, and the queues that are therefore not watched, for messages.
    pub(super) fn missing_text(&self) -> Option<String> {
        if self.missing.is_empty() {
            return None;
        }
        Some(
            self.missing
                .iter()
                .map(|(p, why)| {
                    format!(
                        "{} ({why}; its queues {} are not watched)",
                        p.label(),
                        p.queues().join(", ")
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

/// A store inside the source namespace, reached through a port-forward to the pod serving it:
/// the URL of its secret with the forward's local port, where that URL came from, and the
/// forward, open while it is kept.
pub(super) async fn forwarded(
    stores: &mut SourceStores<'_>,
    part: Part,
    pod: &str,
    location: &StoreLocation,
) -> Result<(String, String, PortForward)> {
    let kind = part.kind();
    let (secret, key) = secret_of(kind);
    let fix = format!(
        "or set {} in the config (as env:NAME or file:PATH)",
        config_key(kind)
    );
    let shown = location.describe();
    let port = location.port.with_context(|| {
        format!(
            "the inventory found no port for the {} ({shown}); {fix}",
            part.label()
        )
    })?;
    let url = stores
        .secret_url(kind)
        .await
        .with_context(|| format!("the {} is not reachable; {fix}", part.label()))?;
    let forward = stores.kube().await?.port_forward(pod, port).await?;
    let Some(local) = url::with_host_port(&url, "127.0.0.1", forward.local_port()) else {
        bail!(
            "the {} URL in secret {secret}/{key} is not of the form scheme://host:port/...; {fix}",
            part.label()
        );
    };
    let origin = format!("secret {secret}/{key} ({shown}), through a port-forward to pod {pod}");
    Ok((local, origin, forward))
}

/// The message of a step that has nothing to watch.
pub(super) fn nothing_to_watch() -> String {
    "nothing to watch: neither the config nor the inventory names any of the source's queue \
     stores; set [source].backend_redis_queues_url, system_redis_url and zync_database_url (as \
     env:NAME or file:PATH), or drain the queues by hand with the procedure"
        .to_string()
}
