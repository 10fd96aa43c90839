//! What the engine decides about a rollback, from the runbook's `Rollback` and the journal alone:
//! whether the destination has taken over (then a rollback is refused), and which steps a
//! rollback puts back to be done again. The rollback itself is the runbook's
//! `steps::RollbackAction`; the engine runs it and journals it (`Engine::roll_back`,
//! `Engine::run_rollback`).

use crate::journal::{JournalState, StepStatus};
use crate::plan::PlannedStep;
use crate::runbook::Rollback;

/// Why a rollback is refused because the destination has taken over, or None. A skipped
/// takeover step counts as taken over too: cutover cannot tell whether the switch was made
/// outside it, and the refusal is the side that loses nothing.
pub fn taken_over(spec: &Rollback, state: &JournalState) -> Option<String> {
    let step = spec.takeover_step;
    let r = state.step(step)?;
    let what = match r.status {
        StepStatus::Pending if r.confirmations.is_empty() => return None,
        StepStatus::Pending => "was confirmed".to_string(),
        StepStatus::Running | StepStatus::Failed => "was started".to_string(),
        StepStatus::Done => "is done".to_string(),
        StepStatus::Skipped => format!(
            "was skipped ({}), so cutover cannot tell whether it was done by hand",
            r.summary.as_deref().unwrap_or("no reason recorded")
        ),
    };
    let by = r
        .operator
        .as_deref()
        .or_else(|| r.confirmations.last().map(|c| c.operator.as_str()))
        .map(|o| format!(" by {o}"))
        .unwrap_or_default();
    Some(format!(
        "step {step} {what}{by}: {}, which has taken over. A rollback would lose everything \
         written there since. Fix forward at the destination; {}",
        spec.taken_over, spec.by_hand
    ))
}

/// The steps of the plan from the rollback's first undone step on that have any history (not
/// pending, or pending after a stopped attempt): after a rollback the source runs again, so
/// they are done again from the start.
pub fn steps_to_redo(plan: &[PlannedStep], spec: &Rollback, state: &JournalState) -> Vec<String> {
    plan.iter()
        .map(|p| p.step.id)
        .skip_while(|id| *id != spec.first_undone)
        .filter(|id| {
            state.step(id).is_some_and(|r| {
                r.status != StepStatus::Pending || r.attempts > 0 || !r.facts.is_empty()
            })
        })
        .map(|id| id.0.to_string())
        .collect()
}
