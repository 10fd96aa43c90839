//! Frame figures: how long drawing one whole frame of the wizard takes with every
//! buffer full (10,000 log lines, ten queues and a dozen workloads each with a full
//! history), at a roomy and at the smallest size, and with the log searched or
//! filtered to one step (the cases that may walk the whole ring). The target is
//! under 2 ms a frame (ARCHITECTURE.md, "Performance targets"). Run: `cargo bench --bench render`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, TimeZone, Utc};
use cutover::config::Config;
use cutover::event::{Event, Level};
use cutover::journal::JournalState;
use cutover::plan::plan;
use cutover::runbook::{Outcome, StepId, StepKind};
use cutover::ui::logbuf::{LOG_CAPACITY, LogLine};
use cutover::ui::panels::{HISTORY, QueueSample, WorkloadSample};
use cutover::ui::view::Panel;
use cutover::ui::{Theme, ViewState, draw};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::Map;

const WARMUP: usize = 30;
const FRAMES: usize = 500;
const TARGET: Duration = Duration::from_millis(2);
const QUEUES: usize = 10;
const WORKLOADS: usize = 12;

const TOML: &str = r#"
[migration]
name = "acme-prod"
runbook = "threescale-rhoam"
access_path = "limited"
party = "customer"
operator = "Bench Operator"

[source]
kubeconfig = "/home/sre/acme/kube-source"
context = "src"
namespace = "3scale"
wildcard_domain = "apps.source.test"
system_database_kind = "postgresql"

[migration_cluster]
kubeconfig = "/home/sre/acme/kube-migration"
context = "mig"
namespace = "3scale"
wildcard_domain = "apps.migration.test"

[destination]
kubeconfig = "/home/sre/acme/kube-destination"
context = "dst"
namespace = "redhat-rhoam-3scale"
wildcard_domain = "apps.rhoam.test"

[dumps]
folder = "/home/sre/acme/dumps"
"#;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0)
        .single()
        .unwrap_or_default()
}

/// A view in the middle of a drain: the steps before it passed, the log ring full,
/// every live panel row with a full history.
fn busy_view() -> anyhow::Result<ViewState> {
    let config =
        Config::parse(TOML, Path::new("/home/sre/acme/cutover.toml")).context("bench config")?;
    let mut view = ViewState::from_config(&config, &plan(&config), &JournalState::default(), t(0));
    let ids: Vec<StepId> = view.steps.iter().map(|s| s.id).collect();
    let drain = view
        .steps
        .iter()
        .position(|s| s.id.0 == "drain-queues")
        .context("the plan has drain-queues")?;
    view.apply(
        &Event::RunStarted {
            resumed: false,
            done: 0,
            total: ids.len(),
        },
        t(0),
    );
    for (i, step) in ids.iter().take(drain).enumerate() {
        let at = t(i as i64);
        let runs_as = StepKind::Check;
        view.apply(
            &Event::StepStarted {
                step: *step,
                attempt: 1,
                runs_as,
            },
            at,
        );
        view.apply(
            &Event::StepFinished {
                step: *step,
                outcome: Outcome::Passed,
                summary: format!("{step} holds"),
                figures: Map::new(),
            },
            at,
        );
    }
    view.apply(
        &Event::StepStarted {
            step: ids[drain],
            attempt: 1,
            runs_as: StepKind::Automated,
        },
        t(drain as i64),
    );

    // The ring, full: most lines from the running step, some from earlier ones, a
    // few about the run; one in a thousand mentions a rare word for the search.
    for i in 0..LOG_CAPACITY {
        let step = match i % 10 {
            0 => None,
            1..=3 => Some(ids[i % drain.max(1)]),
            _ => Some(ids[drain]),
        };
        let text = if i % 1000 == 7 {
            format!("queue resque:queue:main stalled for 30s at depth {i}")
        } else {
            format!(
                "total {} jobs in 10 queues, draining {}/min; 4 workers busy on backend-worker-{}",
                100_000 - i,
                1_000 + i % 97,
                i % 7
            )
        };
        let level = match i % 50 {
            0 => Level::Warn,
            25 => Level::Error,
            _ => Level::Info,
        };
        view.log.push(LogLine {
            at: t(i as i64),
            step,
            level,
            text,
        });
    }

    for s in 0..HISTORY {
        let at = t(100 + s as i64);
        let queues: Vec<QueueSample> = (0..QUEUES)
            .map(|q| QueueSample {
                name: format!("resque:queue:backend-{q}"),
                depth: (20_000 - (s as u64) * (q as u64 + 1) * 5) % 20_000,
            })
            .collect();
        view.queues
            .apply_queue_sample(at, "backend queues redis://backend-redis:6379/1", &queues);
        let workloads: Vec<WorkloadSample> = (0..WORKLOADS)
            .map(|w| WorkloadSample {
                name: format!("deployment/system-component-{w}"),
                desired: 0,
                ready: 0,
                current: ((HISTORY - s) % 4) as u32,
                phase: "Terminating".into(),
                original: Some(3),
            })
            .collect();
        view.pods.apply_pods(at, "source / 3scale", &workloads);
    }
    view.tick(t(100 + HISTORY as i64));
    Ok(view)
}

struct Figures {
    case: String,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

/// Draws `FRAMES` frames of `view` after a warm-up; the time of each `draw`.
fn measure(case: &str, view: &ViewState, width: u16, height: u16) -> anyhow::Result<Figures> {
    let theme = Theme::default();
    let mut terminal = Terminal::new(TestBackend::new(width, height))?;
    let mut each = Vec::with_capacity(FRAMES);
    for i in 0..WARMUP + FRAMES {
        let start = Instant::now();
        terminal.draw(|frame| draw(frame, view, &theme))?;
        if i >= WARMUP {
            each.push(start.elapsed());
        }
    }
    each.sort();
    Ok(Figures {
        case: format!("{case} {width}x{height}"),
        p50: percentile(&each, 0.5),
        p99: percentile(&each, 0.99),
        max: each.last().copied().unwrap_or_default(),
    })
}

fn main() -> anyhow::Result<()> {
    let busy = busy_view()?;
    anyhow::ensure!(busy.log.len() == LOG_CAPACITY, "the log ring is full");

    let mut searched = busy.clone();
    searched.focus = Panel::Log;
    searched.search = Some("STALLED".into());
    // Nothing matches: the search walks every line and finds none.
    let mut unmatched = busy.clone();
    unmatched.focus = Panel::Log;
    unmatched.search = Some("no such text".into());
    // Filtered to a step that passed early: a tenth of the ring at most, spread out.
    let mut filtered = busy.clone();
    filtered.focus = Panel::Log;
    filtered.log_follows_step = true;
    filtered.select(1);
    let mut both = filtered.clone();
    both.search = Some("stalled".into());

    let mut rows = Vec::new();
    for (w, h) in [(200, 50), (80, 24)] {
        rows.push(measure("all panels", &busy, w, h)?);
        rows.push(measure("log search, 10 hits", &searched, w, h)?);
        rows.push(measure("log search, no hit", &unmatched, w, h)?);
        rows.push(measure("log of one step", &filtered, w, h)?);
        rows.push(measure("one step + search", &both, w, h)?);
    }

    println!(
        "frame draw on TestBackend, {FRAMES} frames each: {} log lines, {QUEUES} queues and \
         {WORKLOADS} workloads with {HISTORY} samples each",
        LOG_CAPACITY
    );
    println!(
        "{:<34} {:>10} {:>10} {:>10}  target {:?}",
        "case", "p50", "p99", "max", TARGET
    );
    let mut missed = 0;
    for r in &rows {
        let ok = r.p99 < TARGET;
        if !ok {
            missed += 1;
        }
        println!(
            "{:<34} {:>10.3?} {:>10.3?} {:>10.3?}  {}",
            r.case,
            r.p50,
            r.p99,
            r.max,
            if ok { "ok" } else { "MISSED (p99)" }
        );
    }
    if missed > 0 {
        println!("{missed} case(s) over {TARGET:?} at p99");
    }
    Ok(())
}
