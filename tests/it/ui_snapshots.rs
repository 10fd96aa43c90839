//! Whole screens of the wizard on ratatui's TestBackend, from a real config, the
//! real plan and synthetic Events: no servers. The `.snap` files are committed;
//! accept changes with `INSTA_UPDATE=always` after reading them.

use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};
use cutover::config::Config;
use cutover::event::{Event, Level, Request, RunEnd};
use cutover::journal::JournalState;
use cutover::plan::plan;
use cutover::runbook::{Need, Outcome, StepId, StepKind};
use cutover::ui::panels::{QueueSample, WorkloadSample};
use cutover::ui::{StepState, Theme, ViewState, draw};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use serde_json::{Map, Value, json};

use crate::cli::threescale_toml;

pub(crate) fn t(secs: i64) -> DateTime<Utc> {
    let start = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).single();
    start.expect("a valid time") + Duration::seconds(secs)
}

fn config(party: &str) -> Config {
    let toml =
        threescale_toml("acme-prod", party, "limited", "").replace("{dir}", "/home/sre/acme");
    Config::parse(&toml, Path::new("/home/sre/acme/cutover.toml")).expect("the test config parses")
}

pub(crate) fn fresh(party: &str) -> ViewState {
    let config = config(party);
    ViewState::from_config(&config, &plan(&config), &JournalState::default(), t(0))
}

pub(crate) fn screen(view: &ViewState, theme: &Theme, width: u16, height: u16) -> TestBackend {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal
        .draw(|frame| draw(frame, view, theme))
        .expect("the frame draws");
    terminal.backend().clone()
}

pub(crate) fn text(backend: &TestBackend) -> String {
    let buffer = backend.buffer();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            out.push_str(buffer[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

pub(crate) fn id(view: &ViewState, step: &str) -> StepId {
    view.steps
        .iter()
        .find(|s| s.id.0 == step)
        .map(|s| s.id)
        .unwrap_or_else(|| panic!("{step} is a step of this plan"))
}

/// Runs every step before `until` to a pass, one second each, from time `at`.
pub(crate) fn pass_until(view: &mut ViewState, until: &str, at: &mut i64) {
    let total = view.steps.len();
    view.apply(
        &Event::RunStarted {
            resumed: false,
            done: 0,
            total,
        },
        t(*at),
    );
    let ids: Vec<StepId> = view
        .steps
        .iter()
        .map(|s| s.id)
        .take_while(|s| s.0 != until)
        .collect();
    for step in ids {
        *at += 1;
        view.apply(
            &Event::StepStarted {
                step,
                attempt: 1,
                runs_as: StepKind::Check,
            },
            t(*at),
        );
        view.apply(
            &Event::StepFinished {
                step,
                outcome: Outcome::Passed,
                summary: format!("{step} holds"),
                figures: Map::new(),
            },
            t(*at),
        );
    }
}
/// A fresh view of `party` with every step before `step` passed, and `step` started (an
/// automated attempt) `delay` seconds after: the view, the step and the time it ran until.
pub(crate) fn running(party: &str, step: &str, delay: i64) -> (ViewState, StepId, i64) {
    running_in(fresh(party), step, delay)
}

/// `view` with every step before `step` passed and `step` started `delay` seconds after.
pub(crate) fn running_in(mut view: ViewState, step: &str, delay: i64) -> (ViewState, StepId, i64) {
    let mut at = 0;
    pass_until(&mut view, step, &mut at);
    let id = id(&view, step);
    view.apply(
        &Event::StepStarted {
            step: id,
            attempt: 1,
            runs_as: StepKind::Automated,
        },
        t(at + delay),
    );
    (view, id, at)
}

pub(crate) fn waiting(
    view: &ViewState,
    step: &str,
    need: Need,
    phrase: Option<&'static str>,
) -> Event {
    let step = id(view, step);
    let s = view.step(step).expect("the step is in the view");
    Event::Waiting(Request {
        step,
        title: s.title,
        need,
        phrase: phrase.map(str::to_string),
        question: None,
        alternatives: Vec::new(),
        owner: s.owner,
        changes: s.changes.clone(),
        procedure: s.procedure.clone(),
        condition: None,
    })
}

fn log(step: StepId, line: &str) -> Event {
    Event::StepLog {
        step,
        level: Level::Info,
        line: line.into(),
    }
}

#[test]
fn fresh_start() {
    let view = fresh("red-hat");
    insta::assert_snapshot!(screen(&view, &Theme::default(), 120, 36));
}

pub(crate) fn failed_step() -> ViewState {
    let mut view = fresh("red-hat");
    let mut at = 0;
    pass_until(&mut view, "check-cluster-access", &mut at);
    let step = id(&view, "check-cluster-access");
    view.apply(
        &Event::StepStarted {
            step,
            attempt: 2,
            runs_as: StepKind::Check,
        },
        t(at + 1),
    );
    view.apply(
        &log(step, "context src: can list deployments in 3scale"),
        t(at + 2),
    );
    view.apply(
        &Event::StepLog {
            step,
            level: Level::Error,
            line: "context dst: cannot patch secrets in redhat-rhoam-3scale (403)".into(),
        },
        t(at + 3),
    );
    let mut figures = Map::new();
    figures.insert("checked".into(), json!(14));
    figures.insert("refused".into(), json!(1));
    view.apply(
        &Event::StepFinished {
            step,
            outcome: Outcome::Failed,
            summary: "1 of 14 permissions missing on destination".into(),
            figures,
        },
        t(at + 3),
    );
    view.apply(&Event::RunEnded(RunEnd::Failed { step }), t(at + 4));
    view.tick(t(95));
    view
}

#[test]
fn a_failed_step() {
    insta::assert_snapshot!(screen(&failed_step(), &Theme::default(), 120, 36));
}

#[test]
fn mono_theme() {
    insta::assert_snapshot!(screen(&failed_step(), &Theme::mono(), 100, 30));
}

#[test]
fn typed_confirm_dialog() {
    let mut view = fresh("customer");
    let mut at = 0;
    pass_until(&mut view, "scale-down", &mut at);
    view.apply(
        &waiting(&view, "scale-down", Need::Typed, Some("scale down 3scale")),
        t(at + 1),
    );
    view.input = "scale do".into();
    view.tick(t(600));
    insta::assert_snapshot!(screen(&view, &Theme::default(), 120, 36));
}

#[test]
fn hand_off_dialog() {
    let mut view = fresh("red-hat");
    let mut at = 0;
    pass_until(&mut view, "drain-queues", &mut at);
    view.apply(
        &waiting(&view, "drain-queues", Need::HandOff, None),
        t(at + 1),
    );
    view.input = "Bo Jensen (ACME ops)".into();
    insta::assert_snapshot!(screen(&view, &Theme::default(), 120, 36));
}

#[test]
fn help_overlay() {
    let mut view = fresh("red-hat");
    view.show_help = true;
    insta::assert_snapshot!(screen(&view, &Theme::default(), 120, 36));
}

#[test]
fn smallest_screen_with_a_transfer_running() {
    let (mut view, step, at) = running("customer", "dump-redis", 0);
    for i in 0..=4u64 {
        let ev = Event::StepProgress {
            step,
            done: i * 12_000,
            total: Some(120_000),
            unit: "keys",
        };
        view.apply(&ev, t(at + i as i64 * 10));
        view.apply(
            &log(step, &format!("copied {} keys", i * 12_000)),
            t(at + i as i64 * 10),
        );
    }
    insta::assert_snapshot!(screen(&view, &Theme::default(), 80, 24));
}

#[test]
fn too_small() {
    let view = fresh("red-hat");
    let shown = text(&screen(&view, &Theme::default(), 79, 23));
    assert!(
        shown.contains("terminal too small: 79x23, need 80x24"),
        "{shown}"
    );
}

#[test]
fn a_drain_with_queue_history() {
    let (mut view, step, at) = running("customer", "drain-queues", 0);
    let queues: [(&str, u64, u64); 5] = [
        ("resque:queue:priority", 40, 2),
        ("resque:queue:main", 1_800, 45),
        ("resque:queue:stats", 600, 20),
        ("sidekiq queue:mailers", 12, 0),
        ("zync que_jobs pending", 75, 1),
    ];
    for i in 0..40u64 {
        let samples: Vec<QueueSample> = queues
            .iter()
            .map(|(name, start, per)| QueueSample {
                name: (*name).into(),
                depth: start.saturating_sub(per * i),
            })
            .collect();
        view.queues.apply_queue_sample(
            t(at + i as i64 * 5),
            "backend queues redis://backend-redis:6379/1",
            &samples,
        );
    }
    view.apply(
        &log(step, "watching 5 queues until 50 jobs or fewer remain"),
        t(at),
    );
    view.apply(&log(step, "total 95 jobs, draining 1,044/min"), t(at + 195));
    view.apply(
        &Event::StepDeadline {
            step,
            since: t(at),
            until: t(at + 300),
        },
        t(at + 1),
    );
    view.tick(t(at + 195));
    let drawn = screen(&view, &Theme::default(), 120, 40);
    let shown = text(&drawn);
    assert!(
        shown.contains("⏱ 3:15 of 5:00 agreed, 1:45 left (until 09:")
            && shown.contains("(0:01:45 left)"),
        "{shown}"
    );
    insta::assert_snapshot!(drawn);
}

#[test]
fn the_header_says_what_the_run_does_after_a_pause_or_a_quit() {
    let (mut view, _, at) = running("customer", "drain-queues", 0);
    let header = |view: &ViewState| {
        text(&screen(view, &Theme::default(), 100, 30))
            .lines()
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    assert!(header(&view).contains("▶ RUNNING"), "{}", header(&view));
    // A pause asked, then a question: it waits for the operator, and the header says so.
    view.on_key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Char('p'),
    ));
    assert!(header(&view).contains("PAUSING"), "{}", header(&view));
    view.apply(
        &waiting(&view, "drain-queues", Need::Typed, Some("54")),
        t(at + 2),
    );
    assert!(
        header(&view).contains("WAITING FOR YOU"),
        "{}",
        header(&view)
    );
    // Quit: QUITTING until the session ends.
    view.quitting = true;
    assert!(header(&view).contains("QUITTING"), "{}", header(&view));
    view.apply(
        &Event::RunEnded(RunEnd::Paused { waiting: None }),
        t(at + 3),
    );
    assert!(!header(&view).contains("QUITTING"), "{}", header(&view));
}

#[test]
fn scale_down_with_pods_terminating() {
    let (mut view, step, at) = running("customer", "scale-down", 0);
    let w = |name: &str, current, phase: &str, original| WorkloadSample {
        name: name.into(),
        desired: 0,
        ready: 0,
        current,
        phase: phase.into(),
        original: Some(original),
    };
    let workloads = [
        w("deployment/apicast-production", 0, "Scaled down", 2),
        w("deployment/apicast-staging", 0, "Scaled down", 1),
        w("deployment/system-app", 2, "Terminating", 3),
        w("deployment/system-sidekiq", 1, "Terminating", 2),
        WorkloadSample {
            name: "deployment/backend-listener".into(),
            desired: 2,
            ready: 2,
            current: 2,
            phase: "Running".into(),
            original: None,
        },
    ];
    view.pods
        .apply_pods(t(at + 30), "source / 3scale", &workloads);
    view.apply(
        &Event::StepProgress {
            step,
            done: 4,
            total: Some(12),
            unit: "workloads",
        },
        t(at + 30),
    );
    view.apply(
        &log(
            step,
            "annotated system-app cutover.io/pre-migration-replicas=3",
        ),
        t(at + 20),
    );
    view.apply(
        &log(step, "scaled system-app to 0, waiting for 3 pods to end"),
        t(at + 21),
    );
    insta::assert_snapshot!(screen(&view, &Theme::default(), 120, 40));
}

#[test]
fn every_status_is_distinguishable_in_mono() {
    let mut view = fresh("red-hat");
    for (i, state) in StepState::ALL.iter().enumerate() {
        view.steps[i].state = *state;
    }
    let theme = Theme::mono();
    let shown = text(&screen(&view, &theme, 120, 40));
    for state in StepState::ALL {
        let mark = format!("{} {}", theme.glyph(state), state.word());
        assert!(
            shown.contains(&mark),
            "{state:?}: `{mark}` missing from\n{shown}"
        );
    }
    let glyphs: std::collections::HashSet<_> =
        StepState::ALL.iter().map(|s| theme.glyph(*s)).collect();
    assert_eq!(glyphs.len(), StepState::ALL.len());
}

#[test]
fn a_password_in_a_url_never_reaches_the_screen() {
    const SECRET: &str = "Hunter2Secret";
    let mut view = fresh("customer");
    let url = format!("redis://admin:{SECRET}@backend-redis:6379/1");
    let step = view.steps[0].id;
    view.apply(
        &Event::Notice {
            level: Level::Warn,
            text: format!("cannot reach {url}"),
        },
        t(1),
    );
    view.apply(
        &Event::StepStarted {
            step,
            attempt: 1,
            runs_as: StepKind::Check,
        },
        t(1),
    );
    view.apply(
        &log(
            step,
            &format!("probing {url} and postgresql://u:{SECRET}@db/system"),
        ),
        t(2),
    );
    let mut figures = Map::new();
    figures.insert("url".into(), Value::String(url.clone()));
    view.apply(
        &Event::StepFinished {
            step,
            outcome: Outcome::Failed,
            summary: format!("{url} refused"),
            figures,
        },
        t(3),
    );
    view.queues.apply_queue_sample(
        t(3),
        &url,
        &[QueueSample {
            name: "resque:queue:main".into(),
            depth: 3,
        }],
    );
    for (w, h) in [(80, 24), (120, 40)] {
        let shown = text(&screen(&view, &Theme::default(), w, h));
        assert!(!shown.contains(SECRET), "{w}x{h}:\n{shown}");
        assert!(
            shown.contains("***"),
            "{w}x{h}: the mask shows where the password was\n{shown}"
        );
    }
}

#[test]
fn mono_draws_no_colour_at_all() {
    // Under NO_COLOR crossterm 0.29 turns each colour change into a reset that
    // wipes bold and reverse, so mono must not change colours anywhere.
    let mut view = failed_step();
    view.show_help = true;
    let backend = screen(&view, &Theme::mono(), 120, 40);
    for cell in backend.buffer().content() {
        assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "{cell:?}");
    }
}

/// Screen sizes from the minimum up, around the layout's thresholds.
pub(crate) const SIZES: [(u16, u16); 6] = [
    (80, 24),
    (81, 25),
    (100, 30),
    (119, 35),
    (160, 50),
    (300, 90),
];

#[test]
fn every_size_from_the_minimum_up_draws_without_breaking() {
    let mut busy = fresh("customer");
    let mut at = 0;
    pass_until(&mut busy, "scale-down", &mut at);
    busy.queues.apply_queue_sample(
        t(at),
        "redis://h:1/1",
        &[QueueSample {
            name: "main".into(),
            depth: 9,
        }],
    );
    busy.pods.apply_pods(
        t(at),
        "source / 3scale",
        &[WorkloadSample {
            name: "deployment/system-app".into(),
            desired: 0,
            ready: 0,
            current: 1,
            phase: "Terminating".into(),
            original: Some(3),
        }],
    );
    busy.apply(
        &waiting(&busy, "scale-down", Need::Typed, Some("scale down 3scale")),
        t(at + 1),
    );
    let mut help = fresh("red-hat");
    help.show_help = true;
    for theme in [Theme::default(), Theme::contrast(), Theme::mono()] {
        for view in [&busy, &help, &failed_step()] {
            for (w, h) in SIZES.into_iter().chain([(20, 5), (1, 1)]) {
                let shown = text(&screen(view, &theme, w, h));
                if w >= 80 && h >= 24 {
                    assert!(
                        shown.contains("steps · elapsed"),
                        "{w}x{h}: no header\n{shown}"
                    );
                    let bar = shown.lines().last().unwrap_or_default();
                    assert!(
                        ["quit", "back", "close"].iter().any(|k| bar.contains(k)),
                        "{w}x{h}: no key bar\n{shown}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_manual_procedure_shows_with_the_config_filled_in() {
    let mut view = fresh("customer");
    view.select(
        view.steps
            .iter()
            .position(|s| s.id.0 == "scale-down")
            .expect("scale-down planned"),
    );
    view.show_procedure = true;
    let shown = text(&screen(&view, &Theme::default(), 160, 60));
    assert!(shown.contains("Manual procedure (m hides it)"), "{shown}");
    assert!(
        shown.contains("oc --kubeconfig /home/sre/acme/kube-source --context src -n 3scale"),
        "placeholders filled:\n{shown}"
    );
    assert!(!shown.contains("{oc.source}"), "{shown}");
}

#[test]
fn confirm_dialog_and_its_skip_reason() {
    let mut view = fresh("customer");
    let mut at = 0;
    pass_until(&mut view, "agree-prerequisites", &mut at);
    view.apply(
        &waiting(&view, "agree-prerequisites", Need::Manual, None),
        t(at + 1),
    );
    insta::assert_snapshot!("manual_dialog", screen(&view, &Theme::default(), 120, 36));
    view.begin_skip();
    view.input = "agreed on the call of 22 Nov".into();
    insta::assert_snapshot!(
        "skip_reason_dialog",
        screen(&view, &Theme::default(), 100, 30)
    );
}

#[test]
fn quit_while_a_step_runs_asks_first() {
    let mut view = fresh("red-hat");
    let mut at = 0;
    pass_until(&mut view, "check-disk-space", &mut at);
    view.apply(
        &Event::StepStarted {
            step: id(&view, "check-disk-space"),
            attempt: 1,
            runs_as: StepKind::Check,
        },
        t(at + 1),
    );
    view.quit_asked = true;
    insta::assert_snapshot!(screen(&view, &Theme::default(), 80, 24));
}

/// A journal written over two sessions by two operators; the first session's
/// process stopped inside a step.
pub(crate) fn resumed_view() -> ViewState {
    use cutover::journal::{Entry, JournalEvent, sessions};
    use cutover::runbook::{AccessPath, Party, RunbookId};
    let entry = |seq: u64, secs: i64, who: &str, pid: u32, event: JournalEvent| Entry {
        seq,
        time: t(secs),
        operator: who.to_string(),
        host: "bastion-1".to_string(),
        pid,
        event,
    };
    let mut entries = vec![
        entry(
            1,
            0,
            "Ana",
            11,
            JournalEvent::MigrationOpened {
                migration: "acme-prod".into(),
                runbook: RunbookId::ThreescaleRhoam,
                access_path: AccessPath::Limited,
                cutover_version: "0.1.0".into(),
            },
        ),
        entry(
            2,
            0,
            "Ana",
            11,
            JournalEvent::SessionStarted {
                party: Party::RedHat,
                mode: "tui".into(),
                resumed: false,
            },
        ),
    ];
    let mut seq = 3;
    for (i, step) in ["check-kubeconfigs", "check-cluster-access", "inventory"]
        .iter()
        .enumerate()
    {
        let secs = 10 + i as i64 * 10;
        entries.push(entry(
            seq,
            secs,
            "Ana",
            11,
            JournalEvent::StepStarted {
                step: step.to_string(),
                attempt: 1,
                runs_as: "check".into(),
            },
        ));
        entries.push(entry(
            seq + 1,
            secs + 2,
            "Ana",
            11,
            JournalEvent::StepFinished {
                step: step.to_string(),
                outcome: Outcome::Passed,
                summary: "holds".into(),
                figures: Map::new(),
            },
        ));
        seq += 2;
    }
    entries.push(entry(
        seq,
        40,
        "Ana",
        11,
        JournalEvent::StepStarted {
            step: "check-redis".into(),
            attempt: 1,
            runs_as: "check".into(),
        },
    ));
    entries.push(entry(
        seq + 1,
        3_600,
        "Bo",
        22,
        JournalEvent::SessionStarted {
            party: Party::RedHat,
            mode: "headless".into(),
            resumed: true,
        },
    ));
    entries.push(entry(
        seq + 2,
        3_601,
        "Bo",
        22,
        JournalEvent::SessionEnded {
            reason: "paused; check-redis waits".into(),
        },
    ));
    let state = JournalState::fold(&entries);
    let config = config("red-hat");
    let mut view = ViewState::from_config(&config, &plan(&config), &state, t(4_000));
    view.resume = cutover::ui::resume::ResumePrompt::new(&sessions(&entries), &view.steps);
    view
}

#[test]
fn resume_prompt_with_its_timeline() {
    let view = resumed_view();
    let prompt = view
        .resume
        .as_ref()
        .expect("a journal with sessions has a prompt");
    assert!(
        prompt.stopped_at.contains("stopped inside step 4"),
        "{prompt:?}"
    );
    insta::assert_snapshot!(screen(&view, &Theme::default(), 120, 36));
}

#[test]
fn a_notice_shows_above_the_key_bar_for_a_while() {
    let mut view = fresh("red-hat");
    view.set_notice(Level::Info, "r retries a step that failed; none has");
    let shown = text(&screen(&view, &Theme::mono(), 80, 24));
    assert!(shown.contains("r retries a step that failed"), "{shown}");
    view.tick(t(21));
    let later = text(&screen(&view, &Theme::mono(), 80, 24));
    assert!(!later.contains("r retries a step that failed"), "{later}");
}

#[test]
fn a_running_step_asks_to_accept_the_loss_of_queued_jobs() {
    let (mut view, step, at) = running("customer", "drain-queues", 1);
    let Event::Waiting(mut request) = waiting(&view, "drain-queues", Need::Typed, Some("1207"))
    else {
        panic!("a waiting event")
    };
    request.question = Some(
        "1207 jobs are still queued after 30m: resque:queue:stats 1180, queue:mailers 27. Type \
         1207 to accept losing them, or pause"
            .into(),
    );
    view.apply(&Event::Waiting(request), t(at + 1_800));
    view.input = "12".into();
    insta::assert_snapshot!(screen(&view, &Theme::default(), 100, 30));
    view.apply(&Event::Answered { step }, t(at + 1_805));
    assert!(view.waiting.is_none());
    assert_eq!(view.step(step).map(|s| s.state), Some(StepState::Running));
}

#[test]
fn a_question_with_two_answers_shows_both_and_matches_either() {
    let (mut view, _, at) = running("customer", "stop-traffic", 1);
    let Event::Waiting(mut request) = waiting(
        &view,
        "stop-traffic",
        Need::Typed,
        Some("disable backend route"),
    ) else {
        panic!("a waiting event")
    };
    request.alternatives = vec!["keep backend route".into()];
    request.question = Some(
        "Gateways outside namespace 3scale (self-managed APIcasts) reach backend through backend \
         (backend-3scale.apps.acme.example): stopping this namespace's gateways does not stop \
         them."
            .into(),
    );
    view.apply(&Event::Waiting(request), t(at + 5));
    view.input = "keep".into();
    let shown = text(&screen(&view, &Theme::default(), 100, 30));
    assert!(
        shown.contains("Type exactly one of: disable backend route · keep backend route"),
        "{shown}"
    );
    assert!(shown.contains("… keep typing"), "{shown}");
    view.input = "keep backend route".into();
    let shown = text(&screen(&view, &Theme::default(), 100, 30));
    assert!(shown.contains("✓ matches: Enter goes ahead"), "{shown}");
    view.input = "keep it".into();
    let shown = text(&screen(&view, &Theme::default(), 100, 30));
    assert!(shown.contains("✗ does not match"), "{shown}");
}

#[test]
fn contrast_theme_for_screen_sharing() {
    let theme = Theme::new(cutover::ui::ThemeName::Contrast);
    let view = failed_step();
    let backend = screen(&view, &theme, 100, 30);
    // Bold where it helps a compressed video: the header and the failed step.
    let buffer = backend.buffer();
    let bold = (0..buffer.area.width)
        .filter(|x| {
            buffer[(*x, 1)]
                .modifier
                .contains(ratatui::style::Modifier::BOLD)
        })
        .count();
    assert!(bold > 0, "the header's second line has bold cells");
    insta::assert_snapshot!(backend);
}

/// A view in the scale-down with both live panels full: the queues of a drained source (five
/// holding jobs, eleven empty) and the fifteen workloads of a 3scale namespace, three moving.
pub(crate) fn busy_view() -> ViewState {
    let (mut view, step, at) = running("customer", "scale-down", 0);
    let mut queues: Vec<QueueSample> = [
        ("dead", 17),
        ("retry", 17),
        ("schedule", 17),
        ("resque:failed", 3),
        ("queue:default", 1),
    ]
    .iter()
    .map(|(name, depth)| QueueSample {
        name: (*name).into(),
        depth: *depth,
    })
    .collect();
    for name in [
        "queue:billing",
        "queue:critical",
        "queue:deletion",
        "queue:events",
        "queue:low",
        "queue:mailers",
        "queue:priority",
        "queue:web_hooks",
        "queue:zync",
        "resque:queue:main",
        "resque:queue:priority",
    ] {
        queues.push(QueueSample {
            name: name.into(),
            depth: 0,
        });
    }
    view.apply(
        &Event::QueueDepths {
            source: "redis://system-redis:6379/1".into(),
            queues,
        },
        t(at),
    );
    let names = [
        "apicast-production",
        "apicast-staging",
        "system-app",
        "system-sidekiq",
        "backend-listener",
        "backend-worker",
        "backend-cron",
        "zync-que",
        "zync",
        "system-searchd",
        "system-memcache",
        "system-postgresql",
        "backend-redis",
        "system-redis",
        "zync-database",
    ];
    let workloads: Vec<WorkloadSample> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            // The first four are down, the next three on their way, the rest run.
            let (desired, current) = match i {
                0..=3 => (0, 0),
                4..=6 => (0, 1),
                _ => (1, 1),
            };
            WorkloadSample {
                name: format!("deploymentconfig/{name}"),
                desired,
                ready: desired,
                current,
                phase: if current > desired {
                    "Terminating"
                } else {
                    "Running"
                }
                .into(),
                original: (i < 7).then_some(2),
            }
        })
        .collect();
    view.apply(
        &Event::Workloads {
            scope: "source / 3scale".into(),
            workloads,
        },
        t(at + 1),
    );
    view.apply(
        &log(
            step,
            "backend-listener: scaled deploymentconfig from 2 to 0",
        ),
        t(at + 1),
    );
    view
}

#[test]
fn the_three_live_panels_show_at_every_size() {
    let view = busy_view();
    for (w, h) in [(80, 24), (100, 30), (120, 34), (160, 45), (200, 50)] {
        let shown = text(&screen(&view, &Theme::default(), w, h));
        for title in ["Queues ·", "Pods ·", "Log ·"] {
            assert!(shown.contains(title), "{w}x{h}: no {title}\n{shown}");
        }
        // The deepest queue and the moving workloads come first; the empty queues fold.
        assert!(shown.contains("dead"), "{w}x{h}: no deepest queue\n{shown}");
        assert!(
            shown.contains("backend-listener"),
            "{w}x{h}: no moving workload\n{shown}"
        );
        assert!(
            !shown.contains("queue:billing    "),
            "{w}x{h}: an empty queue has a row of its own\n{shown}"
        );
    }
    insta::assert_snapshot!(screen(&view, &Theme::default(), 80, 24));
}

/// `panel` zoomed at 80x24 shows every one of `names`, and the step list gives way.
pub(crate) fn zoomed_shows(mut view: ViewState, panel: cutover::ui::view::Panel, names: &[&str]) {
    view.focus = panel;
    view.zoomed = true;
    let shown = text(&screen(&view, &Theme::default(), 80, 24));
    for name in names {
        assert!(shown.contains(name), "{name}\n{shown}");
    }
    assert!(
        !shown.contains("Steps "),
        "the step list gives way\n{shown}"
    );
}

#[test]
fn a_zoomed_pods_panel_shows_every_workload_at_80x24() {
    zoomed_shows(
        busy_view(),
        cutover::ui::view::Panel::Pods,
        &["apicast-production", "zync-database", "system-memcache"],
    );
}

#[test]
fn a_wrapped_log_shows_the_end_of_a_long_line() {
    let mut view = busy_view();
    let step = id(&view, "scale-down");
    let long = format!(
        "{} the end of it",
        "a long line about a workload ".repeat(6)
    );
    view.apply(&log(step, &long), t(400));
    let cut = text(&screen(&view, &Theme::default(), 100, 30));
    assert!(!cut.contains("the end of it"), "{cut}");
    view.log_wrap = true;
    let wrapped = text(&screen(&view, &Theme::default(), 100, 30));
    assert!(wrapped.contains("the end of it"), "{wrapped}");
    assert!(wrapped.contains("Log · all steps · wrapped"), "{wrapped}");
}

#[test]
fn a_watcher_sees_the_operators_state_and_never_you() {
    let mut view = fresh("customer");
    view.watching(false);
    view.apply(
        &Event::RunBy {
            operator: Some(cutover::event::Operator {
                name: "Ana".into(),
                party: Some(cutover::runbook::Party::Customer),
                host: "bastion-1".into(),
            }),
        },
        t(0),
    );
    let mut at = 0;
    pass_until(&mut view, "agree-prerequisites", &mut at);
    view.apply(
        &waiting(&view, "agree-prerequisites", Need::Manual, None),
        t(at + 1),
    );
    let drawn = screen(&view, &Theme::default(), 120, 36);
    let shown = text(&drawn);
    assert!(
        shown.contains(" acme-prod · READ-ONLY · threescale-rhoam · path limited · run by Ana (Customer) on bastion-1"),
        "{shown}"
    );
    assert!(
        shown.contains("? WAITING FOR OPERATOR  Ana (Customer) at agree-prerequisites"),
        "{shown}"
    );
    assert!(
        shown.contains("waiting for Ana (Customer): manual"),
        "{shown}"
    );
    for never in ["you", "YOU", "your"] {
        assert!(
            !shown
                .split(|c: char| !c.is_alphanumeric())
                .any(|w| w == never),
            "{never:?} on a watcher's screen:\n{shown}"
        );
    }
    insta::assert_snapshot!(drawn);
}
