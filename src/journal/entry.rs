//! The journal's line format. Field names are part of the on-disk format: add
//! fields with defaults, never rename.

use std::path::Path;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::bad_input;
use crate::runbook::{AccessPath, Need, Outcome, Party, RunbookId};

/// One line of the journal.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub time: DateTime<Utc>,
    pub operator: String,
    pub host: String,
    pub pid: u32,
    #[serde(flatten)]
    pub event: JournalEvent,
}

/// A confirmation as recorded: what was asked, what was answered, by whom.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub need: Need,
    /// The typed phrase, or for a hand-off the name of who did the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The party of the operator who confirmed.
    pub party: Party,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum JournalEvent {
    /// The first line: which migration this journal belongs to.
    MigrationOpened {
        migration: String,
        runbook: RunbookId,
        access_path: AccessPath,
        cutover_version: String,
    },
    SessionStarted {
        party: Party,
        mode: String,
        resumed: bool,
    },
    SessionEnded {
        reason: String,
    },
    LockTakenOver {
        previous_pid: u32,
        previous_host: String,
        previous_operator: String,
        previous_started: DateTime<Utc>,
    },
    TornLineFound {
        line: u64,
        bytes: u64,
    },
    /// A step began waiting for the operator (a gate, a manual step, a hand-off): a
    /// second person following the journal sees what the run waits for.
    StepWaiting {
        step: String,
        need: Need,
        /// A running step's question (e.g. to accept the loss of queued jobs).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        question: Option<String>,
        /// The answer to type for that question.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phrase: Option<String>,
        /// The other answers it accepts, where the operator chooses.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        alternatives: Vec<String>,
    },
    StepConfirmed {
        step: String,
        #[serde(flatten)]
        confirmation: Confirmation,
    },
    /// Written (and fsynced) before the step's action starts.
    StepStarted {
        step: String,
        attempt: u32,
        /// `automated`, `check` or `manual`: how this attempt runs.
        runs_as: String,
    },
    /// A step that was running when a process stopped was re-checked on resume.
    StepRechecked {
        step: String,
        holds: bool,
        detail: String,
    },
    /// Something a later step or a resumed run needs, recorded while a step runs.
    StepFact {
        step: String,
        key: String,
        value: Value,
    },
    StepFinished {
        step: String,
        outcome: Outcome,
        summary: String,
        #[serde(default, skip_serializing_if = "Map::is_empty")]
        figures: Map<String, Value>,
    },
    StepSkipped {
        step: String,
        reason: String,
    },
    /// The wizard's run holds at a safe point until the operator goes on: before the first
    /// step of a session, after a pause, or after a failure; `step` is the step it goes to next
    /// (the failed one after a failure). Read by a second person following the journal.
    RunHeld {
        hold: HeldAt,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
    },
    /// The source was rolled back (`cutover rollback`): its workloads run again, so
    /// every step from stopping the traffic on must be done again; they are pending.
    RolledBack {
        steps: Vec<String>,
        summary: String,
    },
}

/// Where a run holds (see `JournalEvent::RunHeld`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeldAt {
    Start,
    Paused,
    Failed,
}

impl JournalEvent {
    /// The step an event is about, if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            JournalEvent::StepConfirmed { step, .. }
            | JournalEvent::StepWaiting { step, .. }
            | JournalEvent::StepStarted { step, .. }
            | JournalEvent::StepRechecked { step, .. }
            | JournalEvent::StepFact { step, .. }
            | JournalEvent::StepFinished { step, .. }
            | JournalEvent::StepSkipped { step, .. } => Some(step),
            _ => None,
        }
    }
}

/// What identifies a migration's journal: it must match the config that opens it.
#[derive(Clone, Debug)]
pub struct Header {
    pub migration: String,
    pub runbook: RunbookId,
    pub access_path: AccessPath,
}

impl Header {
    pub fn opened_event(&self) -> JournalEvent {
        JournalEvent::MigrationOpened {
            migration: self.migration.clone(),
            runbook: self.runbook,
            access_path: self.access_path,
            cutover_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Refuses a journal that belongs to another migration, runbook or path.
    pub fn check_matches(&self, first: &Entry, path: &Path) -> Result<()> {
        let JournalEvent::MigrationOpened {
            migration,
            runbook,
            access_path,
            ..
        } = &first.event
        else {
            return Err(bad_input(format!(
                "journal {} does not start with its migration header; keep the file and inspect it",
                path.display()
            )));
        };
        if *migration != self.migration || *runbook != self.runbook {
            return Err(bad_input(format!(
                "journal {} belongs to migration `{migration}` (runbook {runbook}), not `{}` \
                 (runbook {}); use the config of that migration or another --state-dir",
                path.display(),
                self.migration,
                self.runbook
            )));
        }
        if *access_path != self.access_path {
            return Err(bad_input(format!(
                "journal {} was started on access path {access_path}, the config now says {}; the \
                 owners of the steps differ between paths, so a migration cannot change path \
                 midway. Put access_path = \"{access_path}\" back in the config",
                path.display(),
                self.access_path
            )));
        }
        Ok(())
    }
}
