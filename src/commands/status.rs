//! `cutover status`: where a migration stands, from its journal. Read-only: it
//! takes no lock and changes nothing, so it is safe while a run is going on.

use crate::{errln, out};
use anyhow::Result;
use serde_json::{Value, json};

use super::{Format, print_json};
use crate::config::Config;
use crate::format::{markdown_table, text_table};
use crate::journal::{self, JOURNAL_FILE, JournalState, StepStatus, TornLine, current_holder};
use crate::plan::{PlannedStep, plan};

/// A step's status in words. A step the journal shows as started, with no process
/// holding the lock, was interrupted: the next run re-checks it.
fn status_word(r: &crate::journal::StepRecord, running_now: bool) -> &'static str {
    match r.status {
        StepStatus::Pending => "pending",
        StepStatus::Running if running_now => "running",
        StepStatus::Running => "interrupted",
        StepStatus::Done => "done",
        StepStatus::Failed => "failed",
        StepStatus::Skipped => "skipped",
    }
}

/// Where a migration stands as a whole.
pub(crate) fn overall(state: &JournalState, steps: &[PlannedStep]) -> String {
    if state.entries == 0 {
        return "not-started".into();
    }
    if steps
        .iter()
        .any(|p| state.status(p.step.id.0) == StepStatus::Failed)
    {
        return "failed".into();
    }
    if steps.iter().all(|p| {
        matches!(
            state.status(p.step.id.0),
            StepStatus::Done | StepStatus::Skipped
        )
    }) {
        return "finished".into();
    }
    "in-progress".into()
}

pub fn run(config: &Config, format: Format) -> Result<()> {
    let dir = config.migration_dir();
    let path = dir.join(JOURNAL_FILE);
    let read = journal::read(&path)?;
    if let Some(first) = read.entries.first() {
        let header = crate::journal::Header {
            migration: config.name.clone(),
            runbook: config.runbook,
            access_path: config.access_path,
        };
        header.check_matches(first, &path)?;
    }
    if let Some(t) = &read.torn {
        errln!(
            "warning: the last line of {} (line {}) is incomplete: a process stopped while writing \
             it. The next run records and terminates it; nothing is lost.",
            path.display(),
            t.line
        );
    }
    let state = JournalState::fold(&read.entries);
    let steps = plan(config);
    let holder = current_holder(&dir);
    let doc = to_json(
        config,
        &state,
        &steps,
        &path,
        read.torn.as_ref(),
        holder.as_ref(),
    );
    match format {
        Format::Json => print_json(&doc),
        Format::Text | Format::Markdown => {
            out!(
                "{}",
                render(
                    config,
                    &state,
                    &steps,
                    holder.as_ref(),
                    format == Format::Markdown
                )
            );
            Ok(())
        }
    }
}

fn to_json(
    config: &Config,
    state: &JournalState,
    steps: &[PlannedStep],
    path: &std::path::Path,
    torn: Option<&TornLine>,
    holder: Option<&journal::LockHolder>,
) -> Value {
    let steps_json: Vec<Value> = steps
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let r = state.step(p.step.id.0).cloned().unwrap_or_default();
            json!({
                "number": i + 1,
                "id": p.step.id,
                "title": p.step.title,
                "phase": p.step.phase,
                "owner": p.owner,
                "hand_off": p.hand_off,
                "runs_as": p.runs_as,
                "status": status_word(&r, holder.is_some()),
                "done_by_other_party": r.done_by_other_party(),
                "attempts": r.attempts,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "operator": r.operator,
                "host": r.host,
                "outcome": r.outcome,
                "summary": r.summary,
                "figures": r.figures,
                "facts": r.facts,
                "confirmations": r.confirmations,
                "rechecks": r.rechecks,
            })
        })
        .collect();
    json!({
        "migration": config.name,
        "runbook": config.runbook,
        "access_path": config.access_path,
        "party": config.party,
        "state": overall(state, steps),
        "journal": {
            "path": path.display().to_string(),
            "entries": state.entries,
            "sessions": state.sessions,
            "started_at": state.started_at,
            "last_entry_at": state.last_entry_at,
            "last_session_end": state.last_session_end,
            "torn_last_line": torn,
            "torn_lines_recorded": state.torn_lines,
            "lock_takeovers": state.lock_takeovers,
        },
        "lock": holder,
        "steps": steps_json,
    })
}

fn render(
    config: &Config,
    state: &JournalState,
    steps: &[PlannedStep],
    holder: Option<&journal::LockHolder>,
    markdown: bool,
) -> String {
    let mut out = format!(
        "Migration {} ({}, access path {}): {}\n",
        config.name,
        config.runbook,
        config.access_path,
        overall(state, steps)
    );
    if let Some(start) = state.started_at {
        out.push_str(&format!(
            "Started {}, {} sessions, {} journal entries; last: {}\n",
            start.format("%Y-%m-%d %H:%M UTC"),
            state.sessions,
            state.entries,
            state.last_session_end.as_deref().unwrap_or("running")
        ));
    }
    match holder {
        Some(h) => out.push_str(&format!("In use by {h}\n")),
        None => out.push_str("Not running now\n"),
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = steps
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let r = state.step(p.step.id.0).cloned().unwrap_or_default();
            let status = match status_word(&r, holder.is_some()) {
                "done" if r.done_by_other_party() => "done by other party",
                word => word,
            };
            let when = r
                .finished_at
                .or(r.started_at)
                .map(|t| t.format("%m-%d %H:%M:%S").to_string())
                .unwrap_or_default();
            vec![
                (i + 1).to_string(),
                p.step.id.to_string(),
                status.to_string(),
                when,
                r.operator.unwrap_or_default(),
                r.summary.unwrap_or_default(),
            ]
        })
        .collect();
    let headers = ["#", "step", "status", "when (UTC)", "by", "result"];
    if markdown {
        out.push_str(&markdown_table(&headers, &rows));
    } else {
        out.push_str(&text_table(&headers, &rows));
    }
    out
}
