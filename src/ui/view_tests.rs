//! Tests of the view state (`view`, `apply`), on the fixture's config and plan.

use super::status::StepState;
use super::view::RunMarker;
use crate::event::{Event, Level, RunEnd};
use crate::plan::plan;
use crate::runbook::{Outcome, StepKind};
use crate::ui::fixture::{config, t, view};
use serde_json::Map;

#[test]
fn a_fresh_view_has_every_step_pending_and_selects_the_first() {
    let v = view();
    assert!(v.steps.iter().all(|s| s.state == StepState::Pending));
    assert_eq!(v.selected, 0);
    assert_eq!(v.marker, RunMarker::Idle);
    assert!(!v.steps.iter().any(|s| s.procedure.contains("{oc.source}")));
}

#[test]
fn procedures_are_the_runbook_text_with_the_config_filled_in() {
    let config = config();
    let v = view();
    for (s, p) in v.steps.iter().zip(plan(&config)) {
        let expected =
            crate::runbook::render_procedure(p.step.procedure, |n| config.placeholder(n));
        assert_eq!(s.procedure, expected, "{}", s.id);
    }
}

#[test]
fn events_move_a_step_through_its_states() {
    let mut v = view();
    let id = v.steps[1].id;
    v.apply(
        &Event::RunStarted {
            resumed: false,
            done: 0,
            total: v.steps.len(),
        },
        t(1),
    );
    v.apply(
        &Event::StepStarted {
            step: id,
            attempt: 1,
            runs_as: StepKind::Check,
        },
        t(2),
    );
    assert_eq!(v.step(id).map(|s| s.state), Some(StepState::Running));
    assert_eq!((v.selected, v.running), (1, Some(id)));
    v.apply(
        &Event::StepFinished {
            step: id,
            outcome: Outcome::Failed,
            summary: "no access".into(),
            figures: Map::new(),
        },
        t(3),
    );
    assert_eq!(v.step(id).map(|s| s.state), Some(StepState::Failed));
    v.apply(&Event::RunEnded(RunEnd::Failed { step: id }), t(4));
    assert_eq!(v.marker, RunMarker::Failed);
    assert_eq!(v.running, None);
    assert_eq!(v.elapsed_secs(), 4);
    assert_eq!(v.log.matching(Some(id), None).count(), 2);
}

#[test]
fn a_finished_hand_off_is_done_by_the_other_party() {
    let mut v = view();
    let Some(i) = v.steps.iter().position(|s| s.hand_off) else {
        panic!("the limited path has hand-offs for red-hat");
    };
    let id = v.steps[i].id;
    v.apply(
        &Event::StepFinished {
            step: id,
            outcome: Outcome::Passed,
            summary: "done by Bo".into(),
            figures: Map::new(),
        },
        t(1),
    );
    assert_eq!(v.steps[i].state, StepState::DoneByOther);
}

#[test]
fn progress_gives_rate_and_eta() {
    let mut v = view();
    let id = v.steps[0].id;
    let p = |done| Event::StepProgress {
        step: id,
        done,
        total: Some(1000),
        unit: "keys",
    };
    v.apply(&p(0), t(0));
    v.apply(&p(100), t(10));
    let Some(progress) = v.steps[0].progress.clone() else {
        panic!("progress kept")
    };
    assert_eq!(progress.rate(), Some(10.0));
    assert_eq!(progress.eta_secs(), Some(90));
    assert_eq!(progress.ratio(), Some(0.1));
}

#[test]
fn log_lines_are_redacted() {
    let mut v = view();
    let id = v.steps[0].id;
    v.apply(
        &Event::StepLog {
            step: id,
            level: Level::Info,
            line: "connect redis://:sekrit@h:6379/1".into(),
        },
        t(1),
    );
    assert!(
        v.log
            .matching(None, None)
            .all(|l| !l.text.contains("sekrit"))
    );
}
