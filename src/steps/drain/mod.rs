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
//! Sets that do not drain by themselves: `dead` and `resque:failed` hold failed jobs that never
//! run again unless retried by hand; `retry` and `schedule` hold jobs that run only when their
//! time comes. They count like any queue, and the step names them apart: at the start, in the
//! figures lines that find jobs in them, in the question and in the figures (`held`).
//!
//! The clock: `[drain] timeout` is counted from the start of the first attempt, recorded with
//! its end as the fact `deadline` (and shown as a countdown); a resumed attempt goes on with the
//! same clock instead of starting the agreed time again. A pause or a quit ends the wait between
//! two readings at once, with the step stopped and the time left said.
//!
//! When the drain time is over and a fresh reading
//! still has a queue above the threshold, the step asks the operator to accept the loss of
//! every job still queued, by typing their number. The engine journals the answer with who gave
//! it; the step records the accepted jobs per queue as the fact `accepted-loss` and passes. The
//! queues are still read while the question is open and the changes logged, but the question
//! cannot be withdrawn: if the queues drain under the threshold meanwhile, an answer still
//! counts as the acceptance. If, after the answer, a fresh reading shows more jobs queued than
//! were accepted, the question is asked again with the new number. Pausing or quitting instead
//! of answering stops the step; it watches again on resume.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::{Question, Recheck, StepAction, StepContext, StepFuture, StepResult};
use crate::infra::queues::Held;

mod tracker;
mod watch;

use tracker::{Tracker, above, duration_text, held_listing, jobs, listing};
use watch::{Reading, Watch, nothing_to_watch};

/// What the operator types to keep waiting for stores that do not answer.
const KEEP_WAITING: &str = "wait";

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
    let held: Vec<String> = watch
        .parts
        .iter()
        .flat_map(|p| p.queues())
        .filter_map(|k| Held::of(&k).map(|h| format!("{k} ({})", h.text())))
        .collect();
    if !held.is_empty() {
        ctx.sink.info(format!(
            "sets that do not drain by themselves: {}; their jobs count against the threshold \
             like any other, and past the drain time their loss must be accepted",
            held.join(", ")
        ));
    }
    let mut tracker = Tracker::new(ctx);
    ctx.sink.deadline(tracker.since, tracker.until)?;
    loop {
        let reading = watch.read().await;
        if tracker.note(ctx, &watch, &reading)? {
            let over = above(&reading.depths, drain.threshold);
            if over.is_empty() {
                return Ok(passed(&tracker, &watch, &reading.depths));
            }
            if tracker.over() {
                ctx.sink.warn(format!(
                    "the drain time of {} is over with {} queue(s) above the threshold; asking \
                     to accept the loss of the jobs still queued",
                    duration_text(drain.timeout),
                    over.len()
                ));
                return accept_loss(ctx, &mut watch, &mut tracker, reading.depths).await;
            }
        } else if tracker.over() {
            // No number of jobs can be put to the operator, and the step must not wait
            // forever for a store that may never answer again: a pause ends it here.
            if !keep_waiting(ctx, &mut watch, &mut tracker, &reading).await? {
                return Ok(StepResult::stopped(
                    "paused while the figures were stale after the drain time; the drain \
                     watches again on resume",
                ));
            }
            tracker.until = Utc::now()
                .checked_add_signed(
                    chrono::Duration::from_std(drain.timeout).unwrap_or(chrono::Duration::MAX),
                )
                .unwrap_or(tracker.until);
            ctx.sink.deadline(tracker.since, tracker.until)?;
            continue;
        }
        // A pause or a quit ends the wait at once; the clock goes on, journaled.
        tokio::select! {
            _ = tokio::time::sleep(tracker.wait()) => {}
            _ = ctx.stop_request() => {
                let left = (tracker.until - Utc::now()).to_std().unwrap_or_default();
                return Ok(StepResult::stopped(format!(
                    "paused during the drain with {} of the agreed time left; the drain \
                     watches again on resume, and its clock goes on",
                    duration_text(left)
                )));
            }
        }
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
        ..Question::default()
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
        duration_text(tracker.elapsed()),
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
        let held = held_listing(&depths)
            .map(|h| format!("; of them, in sets that do not drain by themselves: {h}"))
            .unwrap_or_default();
        let question = Question {
            text: format!(
                "{} are still queued: {} (per queue; the threshold is {} per queue and the \
                 drain time of {} is over){held}; type {total} to accept losing them, or pause",
                jobs(total),
                listing(&depths),
                tracker.threshold,
                duration_text(ctx.config.drain.timeout)
            ),
            phrase: total.to_string(),
            ..Question::default()
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
            duration_text(tracker.elapsed()),
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
    use super::watch::{Part, QUE_JOBS};
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
