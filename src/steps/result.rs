//! What an attempt of a step ends with (`StepResult`), and what a re-check after a crash finds
//! (`Recheck`).

use serde_json::{Map, Value};

use crate::runbook::Outcome;

/// What a finished attempt found or did.
#[derive(Clone, Debug)]
pub struct StepResult {
    pub outcome: Outcome,
    /// One line for the operator: what passed, what failed and why.
    pub summary: String,
    /// The figures recorded in the journal (versions, sizes, counts).
    pub figures: Map<String, Value>,
}

impl StepResult {
    pub fn passed(summary: impl Into<String>, figures: Map<String, Value>) -> StepResult {
        StepResult {
            outcome: Outcome::Passed,
            summary: summary.into(),
            figures,
        }
    }

    pub fn failed(summary: impl Into<String>, figures: Map<String, Value>) -> StepResult {
        StepResult {
            outcome: Outcome::Failed,
            summary: summary.into(),
            figures,
        }
    }

    /// The operator paused or quit while the step asked a question: the step ends
    /// without its answer and runs again on resume.
    pub fn stopped(summary: impl Into<String>) -> StepResult {
        StepResult {
            outcome: Outcome::Stopped,
            summary: summary.into(),
            figures: Map::new(),
        }
    }

    pub fn not_applicable(summary: impl Into<String>) -> StepResult {
        StepResult {
            outcome: Outcome::NotApplicable,
            summary: summary.into(),
            figures: Map::new(),
        }
    }
}

/// Whether a step's end state holds, asked when a run resumes after the process
/// stopped inside that step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recheck {
    /// The end state holds; the step is done without running it again.
    Holds(String),
    /// It does not; the step runs again.
    DoesNotHold(String),
}

impl Recheck {
    /// Holds (saying `holds`) when nothing differs; else does not, listing the differences.
    pub fn unless_differ(differ: &[String], holds: impl FnOnce() -> String) -> Recheck {
        if differ.is_empty() {
            Recheck::Holds(holds())
        } else {
            Recheck::DoesNotHold(differ.join("; "))
        }
    }
}
