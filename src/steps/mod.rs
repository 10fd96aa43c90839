//! One module per action family. Each action a runbook step can name is
//! implemented behind `StepAction`; an action without an implementation yet runs
//! as a manual step (the wizard shows the procedure and asks for confirmation).

pub mod access;
mod context;
pub mod convert;
mod drain;
pub mod inventory;
mod mysqldump;
pub mod pgdump;
pub mod pgtarget;
mod prereq;
pub mod redisdump;
pub mod scale;
pub mod secrets;
pub mod seed;

use std::future::Future;
use std::pin::Pin;

use anyhow::Result;
use serde_json::{Map, Value};

pub use context::{FactRecorder, Question, QuestionSender, StepContext, StepSink};

use crate::runbook::Action;
use crate::runbook::Outcome;

pub type StepFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

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

/// An action's implementation.
pub trait StepAction: Send + Sync {
    /// Does the step and reports through the context's sink.
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult>;

    /// Says whether the step's end state already holds.
    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck>;
}

/// The implementation of `action`, or None while it runs as a manual step.
pub fn implementation(action: Action) -> Option<&'static dyn StepAction> {
    prereq::implementation(action)
        .or_else(|| drain::implementation(action))
        .or_else(|| scale::implementation(action))
        .or_else(|| inventory::implementation(action))
        .or_else(|| pgdump::implementation(action))
        .or_else(|| convert::implementation(action))
        .or_else(|| redisdump::implementation(action))
        .or_else(|| secrets::implementation(action))
        .or_else(|| seed::implementation(action))
}
