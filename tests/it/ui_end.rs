//! The wizard's end and its key bar, on ratatui's TestBackend from a real config and plan:
//! the key bar offers only what acts in each state, the point of no return warns before it is
//! crossed, hand-offs offer the last name again, and the run ends with a summary.

use crossterm::event::{KeyCode, KeyEvent};
use cutover::event::{Command, Event, Hold, RunEnd};
use cutover::runbook::{Need, Party};
use cutover::ui::input::Effect;
use cutover::ui::{Theme, ViewState};

use crate::ui_snapshots::{fresh, id, pass_until, running, screen, t, text, waiting};

fn bar(view: &ViewState) -> String {
    let shown = text(&screen(view, &Theme::default(), 160, 40));
    shown.lines().last().unwrap_or_default().to_string()
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::from(code)
}

#[test]
fn the_key_bar_offers_only_the_keys_that_act_now() {
    let mut view = fresh("customer");
    let next = view.steps[0].id;
    view.apply(
        &Event::Holding(Hold::Start {
            resumed: false,
            next: Some(next),
        }),
        t(0),
    );
    let ready = bar(&view);
    assert!(ready.starts_with("Enter start"), "{ready}");
    assert!(
        !ready.contains("pause") && !ready.contains("retry"),
        "{ready}"
    );

    let (mut view, step, at) = running("customer", "dump-redis", 0);
    let busy = bar(&view);
    assert!(busy.contains("p pause"), "{busy}");
    assert!(!busy.contains("Enter") && !busy.contains("retry"), "{busy}");

    view.apply(
        &Event::Holding(Hold::Paused { next: Some(step) }),
        t(at + 1),
    );
    let paused = bar(&view);
    assert!(paused.starts_with("Enter go on"), "{paused}");
    assert!(
        !paused.contains("pause") && !paused.contains("retry"),
        "{paused}"
    );

    view.apply(&Event::Holding(Hold::Failed { step }), t(at + 2));
    let failed = bar(&view);
    assert!(failed.contains("r retry"), "{failed}");
    assert!(
        !failed.contains("Enter") && !failed.contains("pause"),
        "{failed}"
    );

    view.apply(&Event::RunEnded(RunEnd::Finished), t(at + 3));
    view.finished_open = false;
    let finished = bar(&view);
    assert!(finished.contains("q quit"), "{finished}");
    for gone in ["Enter", "pause", "retry"] {
        assert!(!finished.contains(gone), "{gone}: {finished}");
    }
}

#[test]
fn the_point_of_no_return_warns_and_takes_a_typed_phrase() {
    let mut view = fresh("customer");
    let mut at = 0;
    pass_until(&mut view, "point-customer-systems", &mut at);
    view.apply(
        &waiting(
            &view,
            "point-customer-systems",
            Need::Manual,
            Some("point at the destination"),
        ),
        t(at + 1),
    );
    let shown = text(&screen(&view, &Theme::default(), 120, 40));
    assert!(
        shown.contains("POINT OF NO RETURN: rollback ends here."),
        "{shown}"
    );
    assert!(shown.contains("refuses to roll the source back"), "{shown}");
    assert!(
        shown.contains("Type exactly: point at the destination"),
        "{shown}"
    );
    // One Enter does not cross it.
    let step = id(&view, "point-customer-systems");
    assert_eq!(
        view.on_key(key(KeyCode::Enter)),
        Effect::Send(Command::Confirm {
            step,
            text: Some(String::new())
        }),
        "an empty answer goes to the engine, which refuses it"
    );
    insta::assert_snapshot!(shown);
}

#[test]
fn a_hand_off_offers_the_last_name_typed_for_that_party() {
    let mut view = fresh("red-hat");
    let mut at = 0;
    pass_until(&mut view, "stop-traffic", &mut at);
    view.apply(
        &waiting(&view, "stop-traffic", Need::HandOff, None),
        t(at + 1),
    );
    assert_eq!(view.input, "", "nothing typed yet for the customer's steps");
    for c in "Bo Jensen".chars() {
        view.on_key(key(KeyCode::Char(c)));
    }
    let step = id(&view, "stop-traffic");
    assert_eq!(
        view.on_key(key(KeyCode::Enter)),
        Effect::Send(Command::Confirm {
            step,
            text: Some("Bo Jensen".into())
        })
    );
    view.apply(&Event::Answered { step }, t(at + 2));
    view.apply(
        &waiting(&view, "drain-queues", Need::HandOff, None),
        t(at + 3),
    );
    assert_eq!(view.input, "Bo Jensen", "the same party's next hand-off");
    assert_eq!(
        view.last_done_by.get(&Party::Customer).map(String::as_str),
        Some("Bo Jensen")
    );
}

#[test]
fn the_end_of_the_run_is_a_summary() {
    let mut view = fresh("customer");
    let mut at = 0;
    let last = view.steps.len();
    let third_last = view.steps[last - 3].id.0;
    pass_until(&mut view, third_last, &mut at);
    let ids: Vec<_> = view.steps[view.steps.len() - 3..]
        .iter()
        .map(|s| s.id)
        .collect();
    for step in ids {
        view.apply(
            &Event::StepSkipped {
                step,
                reason: "done by hand before the window".into(),
            },
            t(at),
        );
        at += 1;
    }
    view.apply(&Event::RunEnded(RunEnd::Finished), t(at));
    view.artifacts = Some((12, 3 * 1024 * 1024));
    view.tick(t(3 * 3600 + 12 * 60));
    assert!(view.finished_open);
    let shown = text(&screen(&view, &Theme::default(), 120, 40));
    assert!(
        shown.contains(&format!("All {last} steps are settled, in 3:12:00")),
        "{shown}"
    );
    assert!(shown.contains("artifacts: /home/sre/acme/"), "{shown}");
    assert!(shown.contains("(12 files, 3.0 MiB)"), "{shown}");
    assert!(shown.contains("journal:   /home/sre/acme/"), "{shown}");
    assert!(shown.contains("no longer possible: step "), "{shown}");
    insta::assert_snapshot!(shown);
    // Esc closes it; the screen stays FINISHED.
    view.on_key(key(KeyCode::Esc));
    assert!(!view.finished_open);
    assert!(text(&screen(&view, &Theme::default(), 120, 40)).contains("FINISHED"));
}

#[test]
fn a_new_stage_of_a_step_starts_its_gauge_again() {
    let (mut view, step, at) = running("red-hat", "seed-destination-database", 0);
    let progress = |done: u64, total: u64| Event::StepProgress {
        step,
        done,
        total: Some(total),
        unit: "bytes",
    };
    // The dump's checksum, to the end.
    view.apply(&progress(0, 64_000), t(at));
    view.apply(&progress(64_000, 64_000), t(at + 2));
    // The restore: a new gauge at 0, with a rate of its own.
    view.apply(&progress(0, 64_000), t(at + 60));
    view.apply(&progress(32_000, 64_000), t(at + 64));
    let gauge = view
        .step(step)
        .and_then(|s| s.progress.clone())
        .expect("a gauge");
    assert_eq!(gauge.ratio(), Some(0.5));
    assert_eq!(gauge.started, t(at + 60), "the restore's own start");
    assert_eq!(gauge.rate(), Some(8_000.0));
}
