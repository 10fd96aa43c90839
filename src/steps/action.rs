//! What every step implementation is: a `StepAction` with a `run` that does the step and reports
//! through the context's sink, and a `check` that says whether its end state already holds (asked
//! when a run resumes after the process stopped inside the step).

use std::future::Future;
use std::pin::Pin;

use anyhow::Result;

use super::context::StepContext;
use super::result::{Recheck, StepResult};

pub type StepFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// An action's implementation.
pub trait StepAction: Send + Sync {
    /// Does the step and reports through the context's sink.
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult>;

    /// Says whether the step's end state already holds.
    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck>;
}
