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

#[test]
fn velero_objects_and_the_transfer_fill_the_velero_panel_and_a_problem_greys_it() {
    use super::view::Panel;
    use crate::event::{VeleroKind, VeleroSample};
    use crate::runbook::ids::TRANSFER_BACKUP;
    let mut v = view();
    assert!(
        !v.panels().contains(&Panel::Velero),
        "no panel without figures"
    );
    v.apply(
        &Event::StepStarted {
            step: TRANSFER_BACKUP,
            attempt: 1,
            runs_as: StepKind::Automated,
        },
        t(1),
    );
    assert!(
        v.panels().contains(&Panel::Velero),
        "the transfer shows at once"
    );
    for (s, done) in [(2, 0), (4, 2_000_000), (6, 4_000_000)] {
        v.apply(
            &Event::StepProgress {
                step: TRANSFER_BACKUP,
                done,
                total: Some(10_000_000),
                unit: "bytes",
            },
            t(s),
        );
    }
    let transfer = v.velero.transfer.clone().expect("a transfer");
    assert_eq!(transfer.bytes_done, 4_000_000);
    assert_eq!(transfer.rate(), Some(1_000_000.0));
    v.apply(
        &Event::VeleroObjects {
            scope: "source / velero".into(),
            objects: vec![VeleroSample {
                kind: VeleroKind::Backup,
                name: "registry-1".into(),
                phase: "Completed".into(),
                items_done: 9,
                total_items: 9,
                warnings: 0,
                errors: 0,
                started: Some(t(0)),
            }],
        },
        t(7),
    );
    assert_eq!(v.velero.rows.len(), 1);
    v.apply(
        &Event::MonitorProblem {
            monitor: crate::monitor::velero::MONITOR,
            text: "no answer".into(),
        },
        t(8),
    );
    assert_eq!(v.velero.stale_since, Some(t(8)));
    assert_eq!(v.velero.rows.len(), 1, "the last listing stays");
    v.apply(
        &Event::StepFinished {
            step: TRANSFER_BACKUP,
            outcome: Outcome::Passed,
            summary: "copied".into(),
            figures: Map::new(),
        },
        t(9),
    );
    assert!(
        v.velero.transfer.is_none(),
        "the transfer's line goes with its step"
    );
    v.focus = Panel::Velero;
    v.cycle_focus(true);
    assert_eq!(v.focus, Panel::Log, "Tab goes on from the Velero panel");
}
