//! The resume prompt: shown on start when the journal has history, so whoever
//! opens a paused migration sees who did what and when, where it stopped, and
//! what will be re-checked before anything runs again.

use chrono::{DateTime, Utc};

use super::status::StepState;
use super::step_view::{StepView, settled};
use crate::infra::url::redact_text;
use crate::journal::{SessionEnd, SessionSummary};

/// Sessions shown; older ones are counted, not listed.
const SESSIONS_SHOWN: usize = 4;

/// The prompt's text, made once when the wizard starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumePrompt {
    /// `started 2026-11-22 09:14 UTC, 3 sessions`.
    pub headline: String,
    /// One line a session, oldest shown first.
    pub sessions: Vec<String>,
    /// Where the migration stands.
    pub stopped_at: String,
    /// What runs first, re-checked or asked again.
    pub next: Vec<String>,
}

impl ResumePrompt {
    /// From the journal's sessions and the step rows built from the journal's state.
    /// None when nothing has happened yet (a fresh migration has no prompt).
    pub fn new(sessions: &[SessionSummary], steps: &[StepView]) -> Option<ResumePrompt> {
        let first = sessions.first()?;
        let headline = format!(
            "started {} by {}; {} session{} so far, {} of {} steps settled",
            when(first.started),
            redact_text(&first.operator),
            sessions.len(),
            if sessions.len() == 1 { "" } else { "s" },
            settled(steps),
            steps.len(),
        );
        let skipped = sessions.len().saturating_sub(SESSIONS_SHOWN);
        let mut lines: Vec<String> = Vec::new();
        if skipped > 0 {
            lines.push(format!("({skipped} earlier sessions not shown)"));
        }
        lines.extend(
            sessions
                .iter()
                .skip(skipped)
                .map(|s| session_line(s, steps)),
        );

        let number = |id: &str| {
            steps
                .iter()
                .find(|s| s.id.0 == id)
                .map_or_else(|| id.to_string(), |s| format!("{}. {}", s.number, s.title))
        };
        let interrupted: Vec<_> = steps
            .iter()
            .filter(|s| s.state == StepState::Interrupted)
            .collect();
        let failed = steps.iter().find(|s| s.state == StepState::Failed);
        let next_step = steps.iter().find(|s| !s.state.is_settled());
        let stopped_at = match (interrupted.first(), failed, next_step) {
            (Some(s), _, _) => format!(
                "stopped inside step {}. {}: the process ended while it ran",
                s.number, s.title
            ),
            (None, Some(s), _) => format!("step {}. {} failed", s.number, s.title),
            (None, None, Some(s)) => format!("next: step {}. {}", s.number, s.title),
            (None, None, None) => "every step is done".to_string(),
        };
        let mut next = Vec::new();
        for s in &interrupted {
            next.push(format!(
                "{} is re-checked first: done if its end state holds, run again if not",
                number(s.id.0)
            ));
        }
        if let Some(s) = failed {
            next.push(format!(
                "{} runs again (attempt {})",
                number(s.id.0),
                s.attempts + 1
            ));
        }
        if let Some(s) = next_step.filter(|s| s.need.is_some()) {
            next.push(format!("{} asks for your answer first", number(s.id.0)));
        }
        Some(ResumePrompt {
            headline,
            sessions: lines,
            stopped_at,
            next,
        })
    }
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn session_line(s: &SessionSummary, steps: &[StepView]) -> String {
    let mut did = Vec::new();
    if !s.done.is_empty() {
        did.push(format!("{} done", s.done.len()));
    }
    if !s.failed.is_empty() {
        did.push(format!("{} failed", s.failed.len()));
    }
    if !s.skipped.is_empty() {
        did.push(format!("{} skipped", s.skipped.len()));
    }
    if s.confirmations > 0 {
        did.push(format!("{} confirmed", s.confirmations));
    }
    let did = if did.is_empty() {
        "nothing finished".to_string()
    } else {
        did.join(", ")
    };
    let end = match &s.end {
        SessionEnd::Ended { at, reason } => format!("ended {}: {}", at.format("%H:%M"), reason),
        SessionEnd::Vanished { last_entry } => {
            let inside = s
                .last_started
                .as_deref()
                .and_then(|id| steps.iter().find(|v| v.id.0 == id))
                .filter(|v| v.state == StepState::Interrupted)
                .map(|v| format!(" inside step {}", v.number))
                .unwrap_or_default();
            format!(
                "stopped without ending{inside} (last entry {})",
                last_entry.format("%H:%M")
            )
        }
    };
    redact_text(&format!(
        "{}  {} ({}) on {} [{}]: {did}; {end}",
        s.started.format("%m-%d %H:%M"),
        s.operator,
        s.party.label(),
        s.host,
        s.mode
    ))
}
