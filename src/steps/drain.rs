//! The queue drain (step `drain-queues`): watches the source's job queues empty out before the
//! source is scaled down, and records the jobs whose loss is accepted when they do not.
//!
//! What it reads, once a second (apisonator's Resque queues, porta's Sidekiq, zync's Que):
//! - backend's queues Redis: `resque:queue:priority`, `resque:queue:main`,
//!   `resque:queue:stats` and `resque:failed`, in one pipelined round trip;
//! - system's Redis: `queue:<name>` for the eleven Sidekiq queues and the `schedule`, `retry`
//!   and `dead` sets, in one pipelined round trip;
//! - zync's database: the pending rows of `que_jobs` (not finished, not expired), in one query.
//!
//! The URLs are the config's source stores (`backend_redis_queues_url`, `system_redis_url`,
//! `zync_database_url`). For a store the config does not name, the location the `inventory`
//! step recorded is used: its URL is read from the source's secret (`backend-redis`
//! `REDIS_QUEUES_URL`, `system-redis` `URL`, `zync` `DATABASE_URL`) when the step starts, and a
//! store inside the source namespace is reached through a port-forward to the pod of the
//! workload serving it. A store found neither way is left out and named in the log, the summary
//! and the figures; with none at all the step fails and says what to configure. A store that is
//! configured or inventoried but cannot be read or reached fails the step: leaving it out would
//! let the drain pass without watching it.
//!
//! Threshold rule: `[drain] threshold` applies to each queue on its own, as the config says
//! (`resque:failed` and `dead` count too: their jobs are lost with the source's Redis like any
//! other). The step passes by itself on a reading where every queue holds at most that many
//! jobs.
//!
//! Freshness rule: it passes only on a reading taken just now in which every watched store
//! answered. A store that does not answer makes the figures stale: the step says so, retries
//! with a backoff (the interval doubled after each failure, at most
//! [`crate::infra::backoff::MAX_BACKOFF`]), and neither passes nor asks to accept a loss while any
//! figure is stale. When the drain time is over with the figures stale, it asks instead whether
//! to keep waiting (type `wait`: another drain time) or pause: no number of lost jobs can be
//! given then, and a store that never answers again must not hold the run forever.
//!
//! When `[drain] timeout` (counted from the start of this attempt) is over and a fresh reading
//! still has a queue above the threshold, the step asks the operator to accept the loss of
//! every job still queued, by typing their number. The engine journals the answer with who gave
//! it; the step records the accepted jobs per queue as the fact `accepted-loss` and passes. The
//! queues are still read while the question is open and the changes logged, but the question
//! cannot be withdrawn: if the queues drain under the threshold meanwhile, an answer still
//! counts as the acceptance. If, after the answer, a fresh reading shows more jobs queued than
//! were accepted, the question is asked again with the new number. Pausing or quitting instead
//! of answering stops the step; it watches again on resume.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::inventory::StoreLocation;
use super::stores::{Reach, SourceStores, config_key, secret_of};
use super::{Question, Recheck, StepAction, StepContext, StepFuture, StepResult};
use crate::config::StoreKind;
use crate::infra::backoff::backoff;
use crate::infra::kube::PortForward;
use crate::infra::pg::QueJobsProbe;
use crate::infra::queues::{QueueFamily, QueueProbe};
use crate::infra::url::{self, scrub};

/// Between two readings while the stores answer.
const INTERVAL: Duration = Duration::from_secs(1);
/// Connecting to a store, and then each reading, before it counts as no answer.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Unchanged figures are logged again after this long, so the log shows the step is alive.
const LOG_EVERY: Duration = Duration::from_secs(30);
/// What the operator types to keep waiting for stores that do not answer.
const KEEP_WAITING: &str = "wait";
/// The key zync's pending jobs are reported under, next to the Redis queue keys.
const QUE_JOBS: &str = "que_jobs";

struct Drain;

pub(super) static DRAIN: &dyn StepAction = &Drain;

impl StepAction for Drain {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(run(ctx))
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(check(ctx))
    }
}

/// One of the three stores whose queues the drain watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    BackendQueues,
    SystemRedis,
    Zync,
}

impl Part {
    const ALL: [Part; 3] = [Part::BackendQueues, Part::SystemRedis, Part::Zync];

    fn label(self) -> &'static str {
        match self {
            Part::BackendQueues => "backend queues Redis",
            Part::SystemRedis => "system Redis",
            Part::Zync => "zync database",
        }
    }

    fn kind(self) -> StoreKind {
        match self {
            Part::BackendQueues => StoreKind::BackendRedisQueues,
            Part::SystemRedis => StoreKind::SystemRedis,
            Part::Zync => StoreKind::ZyncDatabase,
        }
    }

    /// The queue keys this store holds.
    fn queues(self) -> Vec<String> {
        match self {
            Part::BackendQueues => keys(QueueFamily::Resque),
            Part::SystemRedis => keys(QueueFamily::Sidekiq),
            Part::Zync => vec![QUE_JOBS.to_string()],
        }
    }

    /// The store a queue key belongs to.
    fn of_queue(key: &str) -> Part {
        if key == QUE_JOBS {
            Part::Zync
        } else if key.starts_with("resque:") {
            Part::BackendQueues
        } else {
            Part::SystemRedis
        }
    }
}

fn keys(family: QueueFamily) -> Vec<String> {
    family.keys().into_iter().map(|(k, _)| k).collect()
}

/// The stores being watched, with their open connections.
struct Watch {
    redis: QueueProbe,
    zync: Option<QueJobsProbe>,
    parts: Vec<Part>,
    /// Where each watched store's URL came from, for messages and figures.
    origins: Vec<String>,
    /// The stores with no URL, left out, with why.
    missing: Vec<(Part, String)>,
    /// The unmasked URLs, only to scrub error texts.
    urls: Vec<String>,
    /// Port-forwards to in-cluster stores, open while the watch lives.
    _forwards: Vec<PortForward>,
}

/// What one reading found: the depths of the stores that answered, and why each other one did
/// not (passwords masked).
struct Reading {
    depths: BTreeMap<String, u64>,
    problems: Vec<(Part, String)>,
}

impl Reading {
    fn answered(&self, part: Part) -> bool {
        part.queues().iter().all(|q| self.depths.contains_key(q))
    }

    fn total(&self) -> u64 {
        self.depths.values().sum()
    }

    fn total_of(&self, part: Part) -> u64 {
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
    async fn open(ctx: &StepContext) -> Result<Watch> {
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
        let redis = QueueProbe::new(
            urls.get(&Part::BackendQueues).cloned(),
            urls.get(&Part::SystemRedis).cloned(),
        )
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

    fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Reads every store at once: each Redis in one round trip, zync in one query.
    async fn read(&mut self) -> Reading {
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
    fn complete(&self, reading: &Reading) -> bool {
        reading.problems.is_empty() && self.parts.iter().all(|p| reading.answered(*p))
    }

    /// `text` with every URL's password masked; the infra layer masks already, this holds even
    /// if a client library starts quoting the URL in a new way.
    fn scrubbed(&self, text: &str) -> String {
        self.urls
            .iter()
            .fold(text.to_string(), |t, url| scrub(&t, url))
    }

    /// The stores left out, and the queues that are therefore not watched, for messages.
    fn missing_text(&self) -> Option<String> {
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
async fn forwarded(
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
fn nothing_to_watch() -> String {
    "nothing to watch: neither the config nor the inventory names any of the source's queue \
     stores; set [source].backend_redis_queues_url, system_redis_url and zync_database_url (as \
     env:NAME or file:PATH), or drain the queues by hand with the procedure"
        .to_string()
}

/// The queues above `threshold`, deepest first.
fn above(depths: &BTreeMap<String, u64>, threshold: u64) -> Vec<(&str, u64)> {
    let mut over: Vec<(&str, u64)> = depths
        .iter()
        .filter(|(_, d)| **d > threshold)
        .map(|(k, d)| (k.as_str(), *d))
        .collect();
    over.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    over
}

/// `queue depth, queue depth` over the queues that hold jobs, deepest first.
fn listing(depths: &BTreeMap<String, u64>) -> String {
    let listed = above(depths, 0);
    if listed.is_empty() {
        return "none".to_string();
    }
    listed
        .iter()
        .map(|(k, d)| format!("{k} {d}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn jobs(n: u64) -> String {
    if n == 1 {
        "1 job".to_string()
    } else {
        format!("{n} jobs")
    }
}

fn duration_text(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, s) => format!("{h}h {m:02}m {s:02}s"),
    }
}

fn depths_json(depths: &BTreeMap<String, u64>) -> Value {
    Value::Object(depths.iter().map(|(k, d)| (k.clone(), json!(d))).collect())
}

/// What the step remembers across readings: the first figures, what was logged last, and how
/// long the figures have been stale.
struct Tracker {
    started: Instant,
    threshold: u64,
    /// The first depth read of each queue (from an earlier attempt when one recorded them).
    initial: BTreeMap<String, u64>,
    initial_recorded: bool,
    /// The last complete reading.
    last: Option<BTreeMap<String, u64>>,
    /// What the last figures line said, and when it was logged.
    logged: Option<(Vec<(Part, u64)>, bool)>,
    logged_at: Instant,
    /// The last progress sent.
    progress: Option<(u64, u64)>,
    /// Since when the figures are stale, and the problems last reported.
    stale_since: Option<chrono::DateTime<Utc>>,
    problems_logged: Vec<Part>,
    failures: u32,
}

impl Tracker {
    fn new(ctx: &StepContext) -> Tracker {
        // The first figures of an earlier attempt stay the first figures of this step.
        let initial: BTreeMap<String, u64> = ctx
            .fact(ctx.step.id.0, "initial-depths")
            .and_then(|v| v.get("depths"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                    .collect()
            })
            .unwrap_or_default();
        Tracker {
            started: Instant::now(),
            threshold: ctx.config.drain.threshold,
            initial_recorded: !initial.is_empty(),
            initial,
            last: None,
            logged: None,
            logged_at: Instant::now(),
            progress: None,
            stale_since: None,
            problems_logged: Vec::new(),
            failures: 0,
        }
    }

    fn initial_total(&self) -> u64 {
        self.initial.values().sum()
    }

    /// Takes in one reading: first figures, log lines, progress. Returns whether it was
    /// complete.
    fn note(&mut self, ctx: &StepContext, watch: &Watch, reading: &Reading) -> Result<bool> {
        for (k, d) in &reading.depths {
            self.initial.entry(k.clone()).or_insert(*d);
        }
        let complete = watch.complete(reading);
        if complete && !self.initial_recorded {
            ctx.sink.record_fact(
                "initial-depths",
                json!({ "at": Utc::now().to_rfc3339(), "depths": depths_json(&self.initial) }),
            )?;
            self.initial_recorded = true;
        }

        if complete {
            self.failures = 0;
            if let Some(since) = self.stale_since.take() {
                ctx.sink.info(format!(
                    "figures fresh again: every store answers (stale since {})",
                    since.format("%H:%M:%S UTC")
                ));
            }
            self.problems_logged.clear();
            self.last = Some(reading.depths.clone());
        } else {
            self.failures = self.failures.saturating_add(1);
            let since = *self.stale_since.get_or_insert_with(Utc::now);
            // Each store's outage is reported once; the figures line below repeats that the
            // figures are stale at least every LOG_EVERY.
            for (part, text) in &reading.problems {
                if !self.problems_logged.contains(part) {
                    ctx.sink.warn(format!(
                        "figures stale since {}: the {} did not answer: {text}; retrying with \
                         backoff; the drain neither passes nor asks until every store answers",
                        since.format("%H:%M:%S UTC"),
                        part.label()
                    ));
                }
            }
            self.problems_logged = reading.problems.iter().map(|(p, _)| *p).collect();
        }

        let per_store: Vec<(Part, u64)> = watch
            .parts
            .iter()
            .filter(|p| reading.answered(**p))
            .map(|p| (*p, reading.total_of(*p)))
            .collect();
        let key = (per_store.clone(), complete);
        if self.logged.as_ref() != Some(&key) || self.logged_at.elapsed() >= LOG_EVERY {
            let stores = per_store
                .iter()
                .map(|(p, n)| format!("{} {n}", p.label()))
                .collect::<Vec<_>>()
                .join(", ");
            let line = if complete {
                let over = above(&reading.depths, self.threshold);
                let verdict = if over.is_empty() {
                    format!(
                        "every queue at or under the threshold of {}",
                        self.threshold
                    )
                } else {
                    format!(
                        "above the threshold of {} per queue: {}",
                        self.threshold,
                        over.iter()
                            .map(|(k, d)| format!("{k} {d}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                format!("queued: {} ({stores}); {verdict}", jobs(reading.total()))
            } else {
                let down: Vec<&str> = reading.problems.iter().map(|(p, _)| p.label()).collect();
                format!(
                    "figures stale ({} not answering); queued where read: {} ({})",
                    down.join(", "),
                    jobs(reading.total()),
                    if stores.is_empty() {
                        "no store answered".to_string()
                    } else {
                        stores
                    }
                )
            };
            ctx.sink.info(line);
            self.logged = Some(key);
            self.logged_at = Instant::now();
        }

        if complete {
            let total = self.initial_total();
            let drained = total.saturating_sub(reading.total());
            if self.progress != Some((drained, total)) {
                ctx.sink.progress(drained, Some(total), "jobs");
                self.progress = Some((drained, total));
            }
        }
        Ok(complete)
    }

    /// The wait before the next reading.
    fn wait(&self) -> Duration {
        if self.failures == 0 {
            INTERVAL
        } else {
            backoff(INTERVAL, self.failures)
        }
    }

    /// The figures of the journal: first and last depths, jobs drained, how long it took.
    fn figures(&self, watch: &Watch, last: &BTreeMap<String, u64>) -> Map<String, Value> {
        let mut f = Map::new();
        f.insert("threshold_per_queue".into(), json!(self.threshold));
        f.insert("initial".into(), depths_json(&self.initial));
        f.insert("initial_total".into(), json!(self.initial_total()));
        f.insert("final".into(), depths_json(last));
        let final_total: u64 = last.values().sum();
        f.insert("final_total".into(), json!(final_total));
        f.insert(
            "drained".into(),
            json!(self.initial_total().saturating_sub(final_total)),
        );
        f.insert(
            "duration_seconds".into(),
            json!(self.started.elapsed().as_secs()),
        );
        f.insert("watched".into(), json!(watch.origins));
        if !watch.missing.is_empty() {
            let not: Vec<String> = watch.missing.iter().flat_map(|(p, _)| p.queues()).collect();
            f.insert("not_watched".into(), json!(not));
        }
        f
    }
}

async fn run(ctx: &StepContext) -> Result<StepResult> {
    let watch = match Watch::open(ctx).await {
        Ok(watch) => watch,
        Err(e) => {
            return Ok(StepResult::failed(
                format!("cannot watch the queues: {e:#}"),
                Map::new(),
            ));
        }
    };
    if watch.is_empty() {
        let text = nothing_to_watch();
        ctx.sink.error(&text);
        return Ok(StepResult::failed(text, Map::new()));
    }
    let mut watch = watch;
    let drain = &ctx.config.drain;
    ctx.sink.info(format!(
        "watching {}: every queue must hold at most {} jobs; after {} the loss of the jobs \
         still queued must be accepted",
        watch
            .parts
            .iter()
            .zip(&watch.origins)
            .map(|(p, origin)| format!("the {} ({origin})", p.label()))
            .collect::<Vec<_>>()
            .join(", "),
        drain.threshold,
        duration_text(drain.timeout)
    ));
    if let Some(missing) = watch.missing_text() {
        ctx.sink.warn(format!("not watched: {missing}"));
    }
    let mut tracker = Tracker::new(ctx);
    // When a drain with stale figures next asks whether to keep waiting.
    let mut ask_stale_after = drain.timeout;
    loop {
        let reading = watch.read().await;
        if tracker.note(ctx, &watch, &reading)? {
            let over = above(&reading.depths, drain.threshold);
            if over.is_empty() {
                return Ok(passed(&tracker, &watch, &reading.depths));
            }
            if tracker.started.elapsed() >= drain.timeout {
                ctx.sink.warn(format!(
                    "the drain time of {} is over with {} queue(s) above the threshold; asking \
                     to accept the loss of the jobs still queued",
                    duration_text(drain.timeout),
                    over.len()
                ));
                return accept_loss(ctx, &mut watch, &mut tracker, reading.depths).await;
            }
        } else if tracker.started.elapsed() >= ask_stale_after {
            // No number of jobs can be put to the operator, and the step must not wait
            // forever for a store that may never answer again: a pause ends it here.
            if !keep_waiting(ctx, &mut watch, &mut tracker, &reading).await? {
                return Ok(StepResult::stopped(
                    "paused while the figures were stale after the drain time; the drain \
                     watches again on resume",
                ));
            }
            ask_stale_after = tracker.started.elapsed() + drain.timeout;
            continue;
        }
        tokio::time::sleep(tracker.wait()).await;
    }
}

/// Asks, with the figures stale after the drain time, whether to keep waiting for the stores
/// that do not answer; false when the operator paused or quit instead.
async fn keep_waiting(
    ctx: &StepContext,
    watch: &mut Watch,
    tracker: &mut Tracker,
    reading: &Reading,
) -> Result<bool> {
    let down: Vec<&str> = reading.problems.iter().map(|(p, _)| p.label()).collect();
    let since = tracker
        .stale_since
        .map(|t| t.format(" since %H:%M:%S UTC").to_string())
        .unwrap_or_default();
    ctx.sink.warn(format!(
        "the drain time of {} is over and the figures are stale{since}; asking whether to keep \
         waiting",
        duration_text(ctx.config.drain.timeout)
    ));
    let question = Question {
        text: format!(
            "the drain time of {} is over, but the figures are stale{since}: the {} did not \
             answer, so the jobs still queued cannot be counted and no loss can be accepted; \
             type {KEEP_WAITING} to keep watching for another drain time, or pause (the step \
             watches again on resume)",
            duration_text(ctx.config.drain.timeout),
            down.join(" and "),
        ),
        phrase: KEEP_WAITING.to_string(),
    };
    let answer = ask_while_reading(ctx, watch, tracker, question, |_, complete| {
        complete.then(|| {
            format!(
                "every store answers again, but the question cannot be withdrawn: type \
                 {KEEP_WAITING} to go on, or pause"
            )
        })
    })
    .await?;
    Ok(answer.is_some())
}

/// Puts `question` to the operator and reads on while it is open, logging once what `note`
/// says about a reading. Returns the answer, or None when the operator paused or quit.
async fn ask_while_reading(
    ctx: &StepContext,
    watch: &mut Watch,
    tracker: &mut Tracker,
    question: Question,
    note: impl Fn(&Reading, bool) -> Option<String>,
) -> Result<Option<String>> {
    let asked = ctx.sink.ask(question);
    tokio::pin!(asked);
    let mut noted = false;
    loop {
        tokio::select! {
            answer = &mut asked => return answer,
            _ = tokio::time::sleep(tracker.wait()) => {
                let reading = watch.read().await;
                let complete = tracker.note(ctx, watch, &reading)?;
                if !noted && let Some(line) = note(&reading, complete) {
                    ctx.sink.info(line);
                    noted = true;
                }
            }
        }
    }
}

/// The result of a drain that reached the threshold.
fn passed(tracker: &Tracker, watch: &Watch, last: &BTreeMap<String, u64>) -> StepResult {
    let total: u64 = last.values().sum();
    let mut summary = format!(
        "drained {} of {} in {}; every queue at or under {}",
        tracker.initial_total().saturating_sub(total),
        jobs(tracker.initial_total()),
        duration_text(tracker.started.elapsed()),
        tracker.threshold
    );
    if total > 0 {
        summary.push_str(&format!(
            "; {} left under the threshold are lost at cutover as agreed ({})",
            jobs(total),
            listing(last)
        ));
    }
    if let Some(missing) = watch.missing_text() {
        summary.push_str(&format!("; not watched: {missing}"));
    }
    StepResult::passed(summary, tracker.figures(watch, last))
}

/// Asks the operator to accept the loss of the jobs in `depths` (a complete, fresh reading),
/// reading on while the question is open.
async fn accept_loss(
    ctx: &StepContext,
    watch: &mut Watch,
    tracker: &mut Tracker,
    mut depths: BTreeMap<String, u64>,
) -> Result<StepResult> {
    loop {
        let total: u64 = depths.values().sum();
        let question = Question {
            text: format!(
                "{} are still queued: {} (per queue; the threshold is {} per queue and the \
                 drain time of {} is over); type {total} to accept losing them, or pause",
                jobs(total),
                listing(&depths),
                tracker.threshold,
                duration_text(ctx.config.drain.timeout)
            ),
            phrase: total.to_string(),
        };
        let threshold = tracker.threshold;
        let answer = ask_while_reading(ctx, watch, tracker, question, |reading, complete| {
            (complete && above(&reading.depths, threshold).is_empty()).then(|| {
                format!(
                    "every queue is now at or under the threshold, but the question cannot be \
                     withdrawn: answer it ({total}) to accept the loss as asked, or pause and \
                     run the step again"
                )
            })
        })
        .await?;
        let Some(_accepted) = answer else {
            return Ok(StepResult::stopped(format!(
                "paused while asked to accept the loss of {}; the drain watches again on resume",
                jobs(total)
            )));
        };
        // The figures after the answer: more jobs than were accepted must be accepted too.
        let after = watch.read().await;
        let last = if tracker.note(ctx, watch, &after)? {
            after.depths
        } else {
            ctx.sink.warn(
                "the figures after the answer are stale; the final figures are those of the \
                 question",
            );
            depths.clone()
        };
        let now: u64 = last.values().sum();
        if now > total {
            ctx.sink.warn(format!(
                "{} were accepted as lost, but {} are queued now; asking again",
                jobs(total),
                jobs(now)
            ));
            depths = last;
            continue;
        }
        let mut accepted: Map<String, Value> = depths
            .iter()
            .filter(|(_, d)| **d > 0)
            .map(|(k, d)| (k.clone(), json!(d)))
            .collect();
        accepted.insert("total".into(), json!(total));
        ctx.sink
            .record_fact("accepted-loss", Value::Object(accepted.clone()))?;
        ctx.sink.warn(format!(
            "{} accepted as lost: {}",
            jobs(total),
            listing(&depths)
        ));
        let mut figures = tracker.figures(watch, &last);
        figures.insert("accepted_loss".into(), Value::Object(accepted));
        let mut summary = format!(
            "{} accepted as lost ({}) after {}; drained {} of {}",
            jobs(total),
            listing(&depths),
            duration_text(tracker.started.elapsed()),
            tracker.initial_total().saturating_sub(now),
            jobs(tracker.initial_total())
        );
        if let Some(missing) = watch.missing_text() {
            summary.push_str(&format!("; not watched: {missing}"));
        }
        return Ok(StepResult::passed(summary, figures));
    }
}

/// On resume: the end state holds when an earlier attempt recorded an accepted loss, or when a
/// fresh, complete reading has every queue at or under the threshold.
async fn check(ctx: &StepContext) -> Result<Recheck> {
    if let Some(accepted) = ctx.fact(ctx.step.id, "accepted-loss") {
        let total = accepted.get("total").and_then(Value::as_u64).unwrap_or(0);
        return Ok(Recheck::Holds(format!(
            "the loss of {} was accepted in an earlier attempt",
            jobs(total)
        )));
    }
    let mut watch = match Watch::open(ctx).await {
        Ok(watch) => watch,
        Err(e) => {
            return Ok(Recheck::DoesNotHold(format!(
                "cannot watch the queues: {e:#}"
            )));
        }
    };
    if watch.is_empty() {
        return Ok(Recheck::DoesNotHold(nothing_to_watch()));
    }
    let reading = watch.read().await;
    if !watch.complete(&reading) {
        let down: Vec<String> = reading
            .problems
            .iter()
            .map(|(p, text)| format!("{}: {text}", p.label()))
            .collect();
        return Ok(Recheck::DoesNotHold(format!(
            "the figures are incomplete ({}); the drain watches again",
            down.join("; ")
        )));
    }
    let threshold = ctx.config.drain.threshold;
    let over = above(&reading.depths, threshold);
    Ok(if over.is_empty() {
        Recheck::Holds(format!(
            "every queue at or under {threshold} ({} queued)",
            jobs(reading.total())
        ))
    } else {
        Recheck::DoesNotHold(format!(
            "above the threshold of {threshold} per queue: {}",
            over.iter()
                .map(|(k, d)| format!("{k} {d}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_belong_to_their_store() {
        assert_eq!(Part::of_queue("resque:failed"), Part::BackendQueues);
        assert_eq!(Part::of_queue("queue:zync"), Part::SystemRedis);
        assert_eq!(Part::of_queue("dead"), Part::SystemRedis);
        assert_eq!(Part::of_queue(QUE_JOBS), Part::Zync);
        for part in Part::ALL {
            assert!(part.queues().iter().all(|q| Part::of_queue(q) == part));
        }
    }

    #[test]
    fn the_listing_names_queues_with_jobs_deepest_first() {
        let depths: BTreeMap<String, u64> = [("a", 1), ("b", 0), ("c", 7), ("que_jobs", 7)]
            .into_iter()
            .map(|(k, d)| (k.to_string(), d))
            .collect();
        assert_eq!(listing(&depths), "c 7, que_jobs 7, a 1");
        assert_eq!(above(&depths, 1), vec![("c", 7), ("que_jobs", 7)]);
        assert_eq!(listing(&BTreeMap::new()), "none");
    }
}
