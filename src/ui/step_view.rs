//! One row of the step list and what its detail panel shows: the step as planned, where it
//! stands, its last result and the progress of its running transfer.

use chrono::{DateTime, Utc};

use super::status::StepState;
use crate::runbook::{Need, Outcome, Party, StepId, StepKind};

/// The last result of a step, with its figures as `key: value` text.
#[derive(Clone, Debug, PartialEq)]
pub struct LastResult {
    pub outcome: Option<Outcome>,
    pub summary: String,
    pub figures: Vec<(String, String)>,
}

/// Progress of the running transfer.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub done: u64,
    pub total: Option<u64>,
    pub unit: &'static str,
    pub started: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

impl Progress {
    /// 0..=1, clamped (a total can be an estimate that the transfer passes).
    pub fn ratio(&self) -> Option<f64> {
        let total = self.total.filter(|t| *t > 0)?;
        Some((self.done as f64 / total as f64).clamp(0.0, 1.0))
    }

    /// Units per second since the first progress report of this attempt.
    pub fn rate(&self) -> Option<f64> {
        let secs = (self.at - self.started).num_milliseconds() as f64 / 1000.0;
        (secs > 0.0).then(|| self.done as f64 / secs)
    }

    pub fn eta_secs(&self) -> Option<u64> {
        let left = self.total?.saturating_sub(self.done);
        let rate = self.rate().filter(|r| *r > 0.0)?;
        Some((left as f64 / rate).ceil() as u64)
    }
}

/// One row of the step list and what its detail panel shows.
#[derive(Clone, Debug)]
pub struct StepView {
    pub id: StepId,
    /// 1-based, in plan order.
    pub number: usize,
    pub title: &'static str,
    pub phase: &'static str,
    pub phase_title: &'static str,
    pub owner: Party,
    pub hand_off: bool,
    pub runs_as: StepKind,
    pub destructive: bool,
    pub need: Option<Need>,
    pub condition: Option<String>,
    pub state: StepState,
    pub attempts: u32,
    /// Doc, changes and procedure with the config's placeholders filled.
    pub doc: String,
    pub changes: Option<String>,
    pub procedure: String,
    pub last: Option<LastResult>,
    pub progress: Option<Progress>,
    /// The running step waits at most until `.1`, counted from `.0` (its agreed time).
    pub deadline: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl StepView {
    /// Where the running step stands against its agreed time: `3:15 of 5:00 agreed, 1:45 left
    /// (until 09:05:00 UTC)`, or how long ago the agreed time ended.
    pub fn countdown(&self, now: DateTime<Utc>) -> Option<String> {
        let (since, until) = self.deadline?;
        let agreed = (until - since).num_seconds().max(0) as u64;
        let elapsed = (now - since).num_seconds().max(0) as u64;
        let left = (until - now).num_seconds();
        let clock = |secs: u64| {
            let (m, s) = (secs / 60, secs % 60);
            if m >= 60 {
                format!("{}:{:02}:{s:02}", m / 60, m % 60)
            } else {
                format!("{m}:{s:02}")
            }
        };
        let end = until.format("%H:%M:%S");
        Some(if left >= 0 {
            format!(
                "{} of {} agreed, {} left (until {end} UTC)",
                clock(elapsed),
                clock(agreed),
                clock(left as u64),
            )
        } else {
            format!(
                "{} of {} agreed: over {} ago (at {end} UTC)",
                clock(elapsed),
                clock(agreed),
                clock(left.unsigned_abs()),
            )
        })
    }
}

/// How many of `steps` are settled (done, skipped or done by the other party).
pub fn settled(steps: &[StepView]) -> usize {
    steps.iter().filter(|s| s.state.is_settled()).count()
}
