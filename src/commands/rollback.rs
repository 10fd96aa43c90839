//! `cutover rollback --confirm "roll back"`: brings the source's 3scale back as it ran before the
//! migration stopped it (see `crate::rollback`), under the migration's lock, recorded in its
//! journal as a session of mode `rollback` whose end says what each workload became.

use anyhow::{Context, Result};
use tokio::signal::unix::{SignalKind, signal};

use crate::config::Config;
use crate::error::{ExitCode, bad_input};
use crate::journal::{self, Header, Identity, JOURNAL_FILE, Journal, JournalEvent, JournalState};
use crate::rollback::{RollbackOutcome, recorded_counts, rollback, taken_over};
use crate::runbook::{ClusterRole, RunbookId};
use crate::{errln, outln};

pub use crate::rollback::PHRASE;

pub struct RollbackOptions {
    /// The typed confirmation (`--confirm "roll back"`).
    pub confirm: Option<String>,
}

pub async fn run(config: &Config, options: RollbackOptions) -> Result<ExitCode> {
    if config.runbook != RunbookId::ThreescaleRhoam {
        return Err(bad_input(format!(
            "`cutover rollback` applies to the threescale-rhoam runbook; migration {} runs {}",
            config.name, config.runbook
        )));
    }
    let dir = config.migration_dir();
    let path = dir.join(JOURNAL_FILE);
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
    if let Some(reason) = taken_over(&state) {
        anyhow::bail!("rollback refused: {reason}");
    }
    if options.confirm.as_deref() != Some(PHRASE) {
        explain(config, &state, options.confirm.as_deref());
        return Ok(ExitCode::Waiting);
    }

    let identity = Identity::of_this_process(&config.operator);
    let (mut journal, report) = Journal::open(&dir, &header, identity)?;
    if let Some(t) = &report.torn {
        errln!(
            "warning: line {} of the journal was cut short when a process stopped while writing \
             it ({} bytes); it is kept as it is and recorded as torn",
            t.line,
            t.bytes
        );
    }
    if let Some(prev) = &report.took_over {
        errln!(
            "warning: took over the lock of {prev}, which no longer runs; recorded in the journal"
        );
    }
    // The journal may have moved between the read above and the lock.
    let state = journal.state();
    if let Some(reason) = taken_over(&state) {
        anyhow::bail!("rollback refused: {reason}");
    }
    journal.append(JournalEvent::SessionStarted {
        party: config.party,
        mode: "rollback".to_string(),
        resumed: true,
    })?;

    let mut sigint = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let log = |line: &str| outln!("{line}");
    let result = tokio::select! {
        r = rollback(config, &state, &log) => Some(r),
        _ = sigint.recv() => None,
        _ = sigterm.recv() => None,
    };
    let (reason, outcome) = match result {
        None => (
            "rollback interrupted by a signal; run `cutover rollback` again to finish it"
                .to_string(),
            Ok(ExitCode::Waiting),
        ),
        Some(Ok(report)) => {
            let code = if report.failed() {
                ExitCode::Failed
            } else {
                ExitCode::Success
            };
            for w in &report.workloads {
                if let RollbackOutcome::Failed(why) = &w.outcome {
                    errln!("{}: could not be brought back: {why}", w.name);
                }
            }
            if !report.failed() {
                // The source runs again: everything from stopping the traffic on is to
                // be done again, or a later run would dump a source that kept changing.
                let steps = crate::rollback::steps_to_redo(config, &state);
                journal
                    .append(JournalEvent::RolledBack {
                        steps,
                        summary: report.summary(),
                    })
                    .context("the rollback ended but could not be journaled")?;
            }
            (report.summary(), Ok(code))
        }
        Some(Err(e)) => (format!("rollback stopped by an error: {e:#}"), Err(e)),
    };
    journal
        .append(JournalEvent::SessionEnded {
            reason: reason.clone(),
        })
        .context("the rollback ended but could not be journaled")?;
    let code = outcome?;
    if code == ExitCode::Success {
        outln!("{reason}");
    } else {
        errln!("{reason}");
    }
    Ok(code)
}

/// What the rollback would do and the exact confirmation, when it was not given.
fn explain(config: &Config, state: &JournalState, given: Option<&str>) {
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
        errln!("the text {text:?} does not match; type exactly: {PHRASE}");
    }
    errln!("waiting: rollback needs the typed phrase \"{PHRASE}\"");
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
        "  cutover --config {} rollback --confirm \"{PHRASE}\"",
        config.path.display()
    );
}
