//! What the drain remembers across readings (first figures, its clock, staleness, what it
//! logged) and how it words queue figures.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::watch::{Part, Reading, Watch};
use crate::infra::backoff::backoff;
use crate::infra::queues::Held;
use crate::steps::{DEADLINE_FACT, StepContext};

/// Between two readings while the stores answer.
pub(super) const INTERVAL: Duration = Duration::from_secs(1);
/// Unchanged figures are logged again after this long, so the log shows the step is alive.
pub(super) const LOG_EVERY: Duration = Duration::from_secs(30);

/// The queues above `threshold`, deepest first.
pub(super) fn above(depths: &BTreeMap<String, u64>, threshold: u64) -> Vec<(&str, u64)> {
    let mut over: Vec<(&str, u64)> = depths
        .iter()
        .filter(|(_, d)| **d > threshold)
        .map(|(k, d)| (k.as_str(), *d))
        .collect();
    over.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    over
}

/// `queue depth, queue depth` over the queues that hold jobs, deepest first.
pub(super) fn listing(depths: &BTreeMap<String, u64>) -> String {
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

/// The sets among `depths` that hold jobs but do not drain by themselves, with why:
/// `dead 3 (failed, never run again by themselves), retry 17 (run only when their time
/// comes)`; None when they hold none.
pub(super) fn held_listing(depths: &BTreeMap<String, u64>) -> Option<String> {
    let held: Vec<String> = above(depths, 0)
        .into_iter()
        .filter_map(|(k, d)| Held::of(k).map(|h| format!("{k} {d} ({})", h.text())))
        .collect();
    (!held.is_empty()).then(|| held.join(", "))
}

/// The jobs in `depths` held in sets that do not drain by themselves.
pub(super) fn held_depths(depths: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    depths
        .iter()
        .filter(|(k, d)| **d > 0 && Held::of(k).is_some())
        .map(|(k, d)| (k.clone(), *d))
        .collect()
}

pub(super) fn jobs(n: u64) -> String {
    if n == 1 {
        "1 job".to_string()
    } else {
        format!("{n} jobs")
    }
}

pub(super) fn duration_text(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, s) => format!("{h}h {m:02}m {s:02}s"),
    }
}

pub(super) fn depths_json(depths: &BTreeMap<String, u64>) -> Value {
    Value::Object(depths.iter().map(|(k, d)| (k.clone(), json!(d))).collect())
}

/// What the step remembers across readings: the first figures, what was logged last, and how
/// long the figures have been stale.
pub(super) struct Tracker {
    /// The drain's clock: when the first attempt began, and when the agreed time ends. A
    /// resumed attempt keeps both (the fact `deadline`); keeping on waiting moves the end.
    pub(super) since: chrono::DateTime<Utc>,
    pub(super) until: chrono::DateTime<Utc>,
    pub(super) threshold: u64,
    /// The first depth read of each queue (from an earlier attempt when one recorded them).
    pub(super) initial: BTreeMap<String, u64>,
    pub(super) initial_recorded: bool,
    /// The last complete reading.
    pub(super) last: Option<BTreeMap<String, u64>>,
    /// What the last figures line said, and when it was logged.
    pub(super) logged: Option<(Vec<(Part, u64)>, bool)>,
    pub(super) logged_at: Instant,
    /// The last progress sent.
    pub(super) progress: Option<(u64, u64)>,
    /// Since when the figures are stale, and the problems last reported.
    pub(super) stale_since: Option<chrono::DateTime<Utc>>,
    pub(super) problems_logged: Vec<Part>,
    pub(super) failures: u32,
}

impl Tracker {
    pub(super) fn new(ctx: &StepContext) -> Tracker {
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
        // The clock of an earlier attempt goes on: resuming does not start the agreed time again.
        let clock = ctx.fact(ctx.step.id, DEADLINE_FACT).and_then(|v| {
            let time = |k: &str| {
                chrono::DateTime::parse_from_rfc3339(v[k].as_str()?)
                    .ok()
                    .map(|t| t.with_timezone(&Utc))
            };
            Some((time("since")?, time("until")?))
        });
        let (since, until) = clock.unwrap_or_else(|| {
            let now = Utc::now();
            let agreed = chrono::Duration::from_std(ctx.config.drain.timeout)
                .unwrap_or(chrono::Duration::MAX);
            (now, now.checked_add_signed(agreed).unwrap_or(now))
        });
        Tracker {
            since,
            until,
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

    pub(super) fn initial_total(&self) -> u64 {
        self.initial.values().sum()
    }

    /// Takes in one reading: first figures, log lines, progress. Returns whether it was
    /// complete.
    pub(super) fn note(
        &mut self,
        ctx: &StepContext,
        watch: &Watch,
        reading: &Reading,
    ) -> Result<bool> {
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
                let held = held_listing(&reading.depths)
                    .map(|h| format!("; not draining by themselves: {h}"))
                    .unwrap_or_default();
                format!(
                    "queued: {} ({stores}); {verdict}{held}",
                    jobs(reading.total())
                )
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

    /// How long the drain has run, across attempts.
    pub(super) fn elapsed(&self) -> Duration {
        (Utc::now() - self.since).to_std().unwrap_or_default()
    }

    /// Whether the agreed time is over.
    pub(super) fn over(&self) -> bool {
        Utc::now() >= self.until
    }

    /// The wait before the next reading.
    pub(super) fn wait(&self) -> Duration {
        if self.failures == 0 {
            INTERVAL
        } else {
            backoff(INTERVAL, self.failures)
        }
    }

    /// The figures of the journal: first and last depths, jobs drained, how long it took.
    pub(super) fn figures(
        &self,
        watch: &Watch,
        last: &BTreeMap<String, u64>,
    ) -> Map<String, Value> {
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
        f.insert("duration_seconds".into(), json!(self.elapsed().as_secs()));
        let held = held_depths(last);
        if !held.is_empty() {
            f.insert("held".into(), depths_json(&held));
        }
        f.insert("watched".into(), json!(watch.origins));
        if !watch.missing.is_empty() {
            let not: Vec<String> = watch.missing.iter().flat_map(|(p, _)| p.queues()).collect();
            f.insert("not_watched".into(), json!(not));
        }
        f
    }
}
