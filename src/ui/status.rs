//! Where a step stands, as the screen shows it. Finer than the journal's
//! `StepStatus`: it tells a step the process stopped inside from one running now,
//! a step waiting for the operator, and a hand-off the other party did.

use crate::journal::{StepRecord, StepStatus};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepState {
    Pending,
    Running,
    /// The journal says it started and never finished: the process stopped inside
    /// it; the engine re-checks it on resume.
    Interrupted,
    /// Waiting for the operator at its gate.
    Waiting,
    Done,
    Failed,
    Skipped,
    /// A hand-off confirmed as done by the other party.
    DoneByOther,
}

impl StepState {
    pub const ALL: [StepState; 8] = [
        StepState::Pending,
        StepState::Running,
        StepState::Interrupted,
        StepState::Waiting,
        StepState::Done,
        StepState::Failed,
        StepState::Skipped,
        StepState::DoneByOther,
    ];

    /// The word shown next to the glyph; at most 8 characters so the column is fixed.
    pub fn word(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Running => "running",
            StepState::Interrupted => "stopped",
            StepState::Waiting => "waiting",
            StepState::Done => "done",
            StepState::Failed => "FAILED",
            StepState::Skipped => "skipped",
            StepState::DoneByOther => "they did",
        }
    }

    /// What the word means, for the help screen.
    pub fn meaning(self) -> &'static str {
        match self {
            StepState::Pending => "not started",
            StepState::Running => "running now",
            StepState::Interrupted => "stopped inside it; re-checked on resume",
            StepState::Waiting => "waits for an answer",
            StepState::Done => "done",
            StepState::Failed => "failed; r retries it",
            StepState::Skipped => "skipped, with the reason recorded",
            StepState::DoneByOther => "hand-off done by the other party",
        }
    }

    /// Finished one way or another: the run goes past it.
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            StepState::Done | StepState::Skipped | StepState::DoneByOther
        )
    }

    /// From what the journal recorded, before this session's Events.
    pub fn from_record(record: Option<&StepRecord>) -> StepState {
        let Some(r) = record else {
            return StepState::Pending;
        };
        match r.status {
            StepStatus::Pending => StepState::Pending,
            StepStatus::Running => StepState::Interrupted,
            StepStatus::Done if r.done_by_other_party() => StepState::DoneByOther,
            StepStatus::Done => StepState::Done,
            StepStatus::Failed => StepState::Failed,
            StepStatus::Skipped => StepState::Skipped,
        }
    }
}
