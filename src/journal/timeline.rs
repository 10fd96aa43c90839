//! The sessions of a migration, from its journal: who ran it, when, from where,
//! what each session did and how it ended. The resume prompt shows it so the
//! operator who takes over a paused migration knows what happened before.

use chrono::{DateTime, Utc};

use super::entry::{Entry, JournalEvent};
use crate::runbook::{Outcome, Party};

/// How a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// It journaled its end, with the reason.
    Ended { at: DateTime<Utc>, reason: String },
    /// The next entry is another session's, or the journal ends: the process
    /// stopped without ending its session (killed, crashed, machine lost).
    Vanished { last_entry: DateTime<Utc> },
}

/// One session: from a `session-started` entry to its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSummary {
    pub operator: String,
    pub host: String,
    pub pid: u32,
    pub party: Party,
    /// `tui`, `headless`...
    pub mode: String,
    pub started: DateTime<Utc>,
    pub end: SessionEnd,
    /// Steps that finished passed or not applicable in this session, in order.
    pub done: Vec<String>,
    pub failed: Vec<String>,
    pub skipped: Vec<String>,
    pub confirmations: usize,
    /// The last step this session started.
    pub last_started: Option<String>,
}

/// Every session of the journal, oldest first.
pub fn sessions(entries: &[Entry]) -> Vec<SessionSummary> {
    let mut out: Vec<SessionSummary> = Vec::new();
    let mut open: Option<SessionSummary> = None;
    let mut last_time: Option<DateTime<Utc>> = None;
    for e in entries {
        match &e.event {
            JournalEvent::SessionStarted { party, mode, .. } => {
                if let Some(mut s) = open.take() {
                    s.end = SessionEnd::Vanished {
                        last_entry: last_time.unwrap_or(s.started),
                    };
                    out.push(s);
                }
                open = Some(SessionSummary {
                    operator: e.operator.clone(),
                    host: e.host.clone(),
                    pid: e.pid,
                    party: *party,
                    mode: mode.clone(),
                    started: e.time,
                    end: SessionEnd::Vanished { last_entry: e.time },
                    done: Vec::new(),
                    failed: Vec::new(),
                    skipped: Vec::new(),
                    confirmations: 0,
                    last_started: None,
                });
            }
            JournalEvent::SessionEnded { reason } => {
                if let Some(mut s) = open.take() {
                    s.end = SessionEnd::Ended {
                        at: e.time,
                        reason: reason.clone(),
                    };
                    out.push(s);
                }
            }
            event => {
                if let Some(s) = open.as_mut() {
                    match event {
                        JournalEvent::StepStarted { step, .. } => {
                            s.last_started = Some(step.clone());
                        }
                        JournalEvent::StepFinished { step, outcome, .. } => match outcome {
                            Outcome::Failed => s.failed.push(step.clone()),
                            Outcome::Passed | Outcome::NotApplicable => s.done.push(step.clone()),
                            Outcome::Stopped => {}
                        },
                        JournalEvent::StepSkipped { step, .. } => s.skipped.push(step.clone()),
                        JournalEvent::StepConfirmed { .. } => s.confirmations += 1,
                        _ => {}
                    }
                }
            }
        }
        last_time = Some(e.time);
    }
    if let Some(mut s) = open {
        s.end = SessionEnd::Vanished {
            last_entry: last_time.unwrap_or(s.started),
        };
        out.push(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::Map;

    use super::*;

    fn entry(seq: u64, pid: u32, event: JournalEvent) -> Entry {
        Entry {
            seq,
            time: Utc
                .timestamp_opt(1_800_000_000 + seq as i64 * 60, 0)
                .single()
                .expect("time"),
            operator: if pid == 1 { "Ana" } else { "Bo" }.to_string(),
            host: "bastion".to_string(),
            pid,
            event,
        }
    }

    fn started(seq: u64, pid: u32) -> Entry {
        entry(
            seq,
            pid,
            JournalEvent::SessionStarted {
                party: Party::RedHat,
                mode: "tui".into(),
                resumed: seq > 1,
            },
        )
    }

    fn finished(seq: u64, pid: u32, step: &str, outcome: Outcome) -> Entry {
        entry(
            seq,
            pid,
            JournalEvent::StepFinished {
                step: step.into(),
                outcome,
                summary: String::new(),
                figures: Map::new(),
            },
        )
    }

    #[test]
    fn a_session_without_its_end_vanished_at_its_last_entry() {
        let entries = vec![
            started(1, 1),
            finished(2, 1, "a", Outcome::Passed),
            entry(
                3,
                1,
                JournalEvent::StepStarted {
                    step: "b".into(),
                    attempt: 1,
                    runs_as: "automated".into(),
                },
            ),
            started(4, 2),
            finished(5, 2, "b", Outcome::Failed),
            entry(
                6,
                2,
                JournalEvent::SessionEnded {
                    reason: "step b failed".into(),
                },
            ),
        ];
        let s = sessions(&entries);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].operator, "Ana");
        assert_eq!(s[0].done, ["a"]);
        assert_eq!(s[0].last_started.as_deref(), Some("b"));
        assert_eq!(
            s[0].end,
            SessionEnd::Vanished {
                last_entry: entries[2].time
            }
        );
        assert_eq!(s[1].operator, "Bo");
        assert_eq!(s[1].failed, ["b"]);
        assert!(matches!(&s[1].end, SessionEnd::Ended { reason, .. } if reason == "step b failed"));
    }

    #[test]
    fn the_open_session_at_the_end_is_vanished_too() {
        let entries = vec![started(1, 1)];
        let s = sessions(&entries);
        assert!(matches!(s[0].end, SessionEnd::Vanished { .. }));
        assert!(sessions(&[]).is_empty());
    }
}
