//! `cutover rollback --confirm "roll back"`: brings the source back as it ran before the migration
//! stopped it (the runbook's `Rollback`), as a session of mode `rollback` that the engine runs and
//! journals under the migration's lock (`Engine::run_rollback`). Without the phrase, it reads the
//! journal, says what it would do and exits 3, writing nothing.

use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::engine::{Engine, RollbackEnd, rollback::taken_over};
use crate::error::{ExitCode, bad_input};
use crate::event::{Command, Event, Level};
use crate::journal::{self, Header, JOURNAL_FILE, JournalState};
use crate::runbook::{ClusterRole, Rollback};
use crate::steps::rollback::{RollbackOutcome, recorded_counts};
use crate::{errln, outln};

pub struct RollbackOptions {
    /// The typed confirmation (`--confirm "roll back"`).
    pub confirm: Option<String>,
}

pub async fn run(config: &Config, options: RollbackOptions) -> Result<ExitCode> {
    let Some(spec) = config.runbook().rollback.as_ref() else {
        return Err(bad_input(format!(
            "migration {} runs {}, which has no rollback; undo its steps by hand with their \
             procedures",
            config.name, config.runbook
        )));
    };
    let path = config.migration_dir().join(JOURNAL_FILE);
    let header = Header {
        migration: config.name.clone(),
        runbook: config.runbook,
        access_path: config.access_path,
    };
    let read = journal::read(&path)?;
    let Some(first) = read.entries.first() else {
        return Err(bad_input(format!(
            "no journal at {}: this migration has not started, so there is nothing to roll back \
             (check --state-dir and the migration name)",
            path.display()
        )));
    };
    header.check_matches(first, &path)?;
    let state = JournalState::fold(&read.entries);
    if let Some(reason) = taken_over(spec, &state) {
        anyhow::bail!("rollback refused: {reason}");
    }
    if options.confirm.as_deref() != Some(spec.phrase) {
        explain(config, spec, &state, options.confirm.as_deref());
        return Ok(ExitCode::Waiting);
    }

    let (event_tx, mut events) = mpsc::unbounded_channel();
    let (command_tx, commands) = mpsc::unbounded_channel();
    let engine = Engine::open_for_rollback(Arc::new(config.clone()), event_tx, commands)?;
    let mut sigint = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let phrase = spec.phrase.to_string();
    let rollback = engine.run_rollback(&phrase);
    tokio::pin!(rollback);
    let end = loop {
        tokio::select! {
            end = &mut rollback => break end,
            Some(event) = events.recv() => print(&event),
            _ = sigint.recv() => { let _ = command_tx.send(Command::Quit); }
            _ = sigterm.recv() => { let _ = command_tx.send(Command::Quit); }
        }
    };
    while let Ok(event) = events.try_recv() {
        print(&event);
    }
    match end? {
        RollbackEnd::RolledBack(report) => {
            outln!("{}", report.summary());
            Ok(ExitCode::Success)
        }
        RollbackEnd::Incomplete(report) => {
            for w in &report.workloads {
                if let RollbackOutcome::Failed(why) = &w.outcome {
                    errln!("{}: could not be brought back: {why}", w.name);
                }
            }
            errln!("{}", report.summary());
            Ok(ExitCode::Failed)
        }
        RollbackEnd::Interrupted => {
            errln!("rollback interrupted by a signal; run `cutover rollback` again to finish it");
            Ok(ExitCode::Waiting)
        }
    }
}

/// A line for what the engine sends: what the rollback does as it goes, and warnings.
fn print(event: &Event) {
    match event {
        Event::Notice {
            level: Level::Info,
            text,
        } => outln!("{text}"),
        Event::Notice { text, .. } => errln!("{text}"),
        _ => {}
    }
}

/// What the rollback would do and the exact confirmation, when it was not given.
fn explain(config: &Config, spec: &Rollback, state: &JournalState, given: Option<&str>) {
    let phrase = spec.phrase;
    let counts = recorded_counts(state);
    let place = config
        .cluster(ClusterRole::Source)
        .map(|c| {
            format!(
                "the source cluster ({}, namespace {})",
                c.context.as_deref().unwrap_or("current context"),
                c.namespace
            )
        })
        .unwrap_or_else(|| "the source cluster".to_string());
    if let Some(text) = given {
        errln!("the text {text:?} does not match; type exactly: {phrase}");
    }
    errln!("waiting: rollback needs the typed phrase \"{phrase}\"");
    if counts.is_empty() {
        errln!(
            "the journal records no replica count yet; the rollback would scale back only \
             workloads that carry the cutover.io/pre-migration-replicas annotation on {place}"
        );
    } else {
        errln!("it scales back on {place}, only where a workload is still at 0, in this order:");
        for (name, n) in &counts {
            errln!("  {name} -> {n}");
        }
        errln!(
            "plus any workload whose count is only in its cutover.io/pre-migration-replicas annotation"
        );
    }
    errln!("and removes the annotation once each is ready. To go on:");
    errln!(
        "  cutover --config {} rollback --confirm \"{phrase}\"",
        config.path.display()
    );
}
