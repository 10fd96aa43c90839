//! The state of a migration: the fold of its journal entries.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::entry::{Confirmation, Entry, HeldAt, JournalEvent};
use crate::runbook::{AccessPath, Need, Outcome, RunbookId};

/// Where one step stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    Pending,
    /// Started and not finished: running now, or the process stopped inside it.
    Running,
    Done,
    Failed,
    Skipped,
}

/// What the journal says about one step.
#[derive(Clone, Debug, Serialize)]
pub struct StepRecord {
    pub status: StepStatus,
    pub attempts: u32,
    pub runs_as: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Who started the last attempt, and where.
    pub operator: Option<String>,
    pub host: Option<String>,
    pub outcome: Option<Outcome>,
    pub summary: Option<String>,
    pub figures: Map<String, Value>,
    /// Facts recorded while the step ran (e.g. original replica counts).
    pub facts: Map<String, Value>,
    /// Every confirmation given for this step, with who and when.
    pub confirmations: Vec<ConfirmationRecord>,
    /// A confirmation given in the current session that no attempt has used yet.
    #[serde(skip)]
    pub unused_confirmation: Option<Confirmation>,
    pub rechecks: u32,
    /// Since when the step waits for the operator, until it is answered or starts.
    pub waiting_since: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConfirmationRecord {
    #[serde(flatten)]
    pub confirmation: Confirmation,
    pub operator: String,
    pub host: String,
    pub time: DateTime<Utc>,
}

impl Default for StepRecord {
    fn default() -> Self {
        StepRecord {
            status: StepStatus::Pending,
            attempts: 0,
            runs_as: None,
            started_at: None,
            finished_at: None,
            operator: None,
            host: None,
            outcome: None,
            summary: None,
            figures: Map::new(),
            facts: Map::new(),
            confirmations: Vec::new(),
            unused_confirmation: None,
            rechecks: 0,
            waiting_since: None,
        }
    }
}

impl StepRecord {
    /// Whether the last finished attempt was confirmed as done by the other party.
    pub fn done_by_other_party(&self) -> bool {
        self.status == StepStatus::Done
            && self
                .confirmations
                .last()
                .is_some_and(|c| c.confirmation.need == Need::HandOff)
    }
}

/// The fold of a journal.
#[derive(Clone, Debug, Default)]
pub struct JournalState {
    pub migration: Option<String>,
    pub runbook: Option<RunbookId>,
    pub access_path: Option<AccessPath>,
    pub steps: BTreeMap<String, StepRecord>,
    pub sessions: u32,
    pub started_at: Option<DateTime<Utc>>,
    pub last_entry_at: Option<DateTime<Utc>>,
    pub last_session_end: Option<String>,
    pub torn_lines: Vec<u64>,
    pub lock_takeovers: u32,
    pub entries: u64,
    /// Where the run of the open session holds now, and the step it goes to next; None while
    /// it runs, or once the session ended.
    pub held: Option<(HeldAt, Option<String>)>,
}

impl JournalState {
    pub fn fold(entries: &[Entry]) -> JournalState {
        let mut s = JournalState::default();
        for e in entries {
            s.apply(e);
        }
        s
    }

    /// The record of step `id` (a `StepId` or a step's name as the journal has it).
    pub fn step(&self, id: impl AsRef<str>) -> Option<&StepRecord> {
        self.steps.get(id.as_ref())
    }

    /// The status of step `id`; pending when the journal has nothing of it.
    pub fn status(&self, id: impl AsRef<str>) -> StepStatus {
        self.steps
            .get(id.as_ref())
            .map(|r| r.status)
            .unwrap_or(StepStatus::Pending)
    }

    pub fn apply(&mut self, e: &Entry) {
        self.entries += 1;
        self.last_entry_at = Some(e.time);
        // Anything but a hold means the run no longer holds where it did (a fact or a log of a
        // step that ends after a pause is not journaled after the hold).
        if !matches!(e.event, JournalEvent::RunHeld { .. }) {
            self.held = None;
        }
        match &e.event {
            JournalEvent::RunHeld { hold, step } => self.held = Some((*hold, step.clone())),
            JournalEvent::MigrationOpened {
                migration,
                runbook,
                access_path,
                ..
            } => {
                self.migration = Some(migration.clone());
                self.runbook = Some(*runbook);
                self.access_path = Some(*access_path);
                self.started_at = Some(e.time);
            }
            JournalEvent::SessionStarted { .. } => {
                self.sessions += 1;
                // A confirmation counts only for the session it was given in: after
                // a restart the operator is asked again.
                for r in self.steps.values_mut() {
                    r.unused_confirmation = None;
                }
            }
            JournalEvent::SessionEnded { reason } => self.last_session_end = Some(reason.clone()),
            JournalEvent::LockTakenOver { .. } => self.lock_takeovers += 1,
            JournalEvent::TornLineFound { line, .. } => self.torn_lines.push(*line),
            JournalEvent::StepWaiting { step, .. } => {
                self.steps.entry(step.clone()).or_default().waiting_since = Some(e.time);
            }
            JournalEvent::StepConfirmed { step, confirmation } => {
                let r = self.steps.entry(step.clone()).or_default();
                r.waiting_since = None;
                r.confirmations.push(ConfirmationRecord {
                    confirmation: confirmation.clone(),
                    operator: e.operator.clone(),
                    host: e.host.clone(),
                    time: e.time,
                });
                r.unused_confirmation = Some(confirmation.clone());
            }
            JournalEvent::StepStarted {
                step,
                attempt,
                runs_as,
            } => {
                let r = self.steps.entry(step.clone()).or_default();
                r.status = StepStatus::Running;
                r.attempts = (*attempt).max(r.attempts);
                r.runs_as = Some(runs_as.clone());
                r.started_at = Some(e.time);
                r.finished_at = None;
                r.operator = Some(e.operator.clone());
                r.host = Some(e.host.clone());
                r.unused_confirmation = None;
                r.waiting_since = None;
            }
            JournalEvent::StepRechecked { step, .. } => {
                self.steps.entry(step.clone()).or_default().rechecks += 1;
            }
            JournalEvent::StepFact { step, key, value } => {
                let r = self.steps.entry(step.clone()).or_default();
                r.facts.insert(key.clone(), value.clone());
            }
            JournalEvent::StepFinished {
                step,
                outcome,
                summary,
                figures,
            } => {
                let r = self.steps.entry(step.clone()).or_default();
                r.status = match outcome {
                    Outcome::Passed => StepStatus::Done,
                    Outcome::NotApplicable => StepStatus::Skipped,
                    Outcome::Stopped => StepStatus::Pending,
                    Outcome::Failed => StepStatus::Failed,
                };
                r.outcome = Some(*outcome);
                r.summary = Some(summary.clone());
                r.figures = figures.clone();
                r.finished_at = Some(e.time);
            }
            JournalEvent::RolledBack { steps, summary } => {
                for step in steps {
                    let r = self.steps.entry(step.clone()).or_default();
                    r.status = StepStatus::Pending;
                    r.outcome = None;
                    r.summary = Some(if summary.starts_with("rolled back") {
                        summary.clone()
                    } else {
                        format!("rolled back: {summary}")
                    });
                    r.finished_at = None;
                    r.waiting_since = None;
                    r.unused_confirmation = None;
                    // What the step recorded described a run the rollback undid (the replicas
                    // it found, a drain's clock and first depths, a dump's record): done again,
                    // it records afresh.
                    r.facts.clear();
                }
            }
            JournalEvent::StepSkipped { step, reason } => {
                let r = self.steps.entry(step.clone()).or_default();
                r.status = StepStatus::Skipped;
                r.waiting_since = None;
                r.summary = Some(format!("skipped: {reason}"));
                r.finished_at = Some(e.time);
                r.operator = Some(e.operator.clone());
                r.host = Some(e.host.clone());
            }
        }
    }
}
