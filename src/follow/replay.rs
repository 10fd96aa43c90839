//! Turns journal entries and step log lines into the Events the wizard shows, as if the engine
//! that wrote them were sending them now. Every text passes through `redact_text` on its way.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::Config;
use crate::event::{Event, Hold, Level, Operator, Request, RunEnd};
use crate::infra::url::redact_text;
use crate::journal::{Entry, HeldAt, JournalEvent, JournalState, StepStatus};
use crate::plan::PlannedStep;
use crate::runbook::{Need, Outcome, StepId, StepKind};
use crate::steps::{DEADLINE_FACT, PROGRESS_WORD};

/// One Event from the journal, with where it sorts among step log lines.
pub(super) struct Item {
    /// Milliseconds of the entry's time and a rank for equal milliseconds; None
    /// for what is not an entry (e.g. a notice about the file itself).
    pub(super) key: Option<(i64, u8)>,
    pub(super) event: Event,
}

/// One new step log line.
pub(super) struct LogItem {
    /// Milliseconds of the line's time stamp (`i64::MAX` when it has none).
    pub(super) ms: i64,
    pub(super) event: Event,
}

/// For equal milliseconds: a step's start comes before its log lines, and its log
/// lines before everything else (its end above all).
pub(super) const RANK_STARTED: u8 = 0;
pub(super) const RANK_LOG: u8 = 1;
pub(super) const RANK_OTHER: u8 = 2;

/// The journal as read so far and what it means for the configured plan.
pub(super) struct Replay {
    pub(super) config: Config,
    pub(super) plan: Vec<PlannedStep>,
    /// The entries of the journal file read so far.
    pub(super) entries: Vec<Entry>,
    pub(super) state: JournalState,
}

impl Replay {
    /// The Events the wizard shows for one entry (the state already includes it).
    pub(super) fn events_for(&self, e: &Entry) -> Vec<Event> {
        let who = format!("{} on {}, pid {}", e.operator, e.host, e.pid);
        let notice = |level: Level, text: String| Event::Notice {
            level,
            text: redact_text(&text),
        };
        let step_of = |name: &str| {
            self.step_id(name).ok_or_else(|| {
                vec![notice(
                    Level::Warn,
                    format!("the journal names step `{name}`, which this runbook does not have"),
                )]
            })
        };
        let result: Result<Vec<Event>, Vec<Event>> = match &e.event {
            JournalEvent::MigrationOpened {
                migration,
                runbook,
                access_path,
                ..
            } => Ok(vec![notice(
                Level::Info,
                format!(
                    "migration {migration} opened by {who} (runbook {runbook}, access path \
                     {access_path})"
                ),
            )]),
            JournalEvent::SessionStarted {
                party,
                mode,
                resumed,
            } => {
                let (done, total) = self.progress();
                let what = if *resumed {
                    "resumed the migration"
                } else {
                    "started the migration"
                };
                Ok(vec![
                    notice(
                        Level::Info,
                        format!(
                            "{} ({}) {what} on {}, pid {}, in {mode} mode",
                            e.operator,
                            party.label(),
                            e.host,
                            e.pid
                        ),
                    ),
                    Event::RunBy {
                        operator: Some(Operator {
                            name: e.operator.clone(),
                            party: Some(*party),
                            host: e.host.clone(),
                        }),
                    },
                    Event::RunStarted {
                        resumed: *resumed,
                        done,
                        total,
                    },
                ])
            }
            JournalEvent::RolledBack { steps, summary } => {
                let mut events = vec![notice(
                    Level::Warn,
                    format!(
                        "{who} rolled the source back ({summary}); {} steps from stopping the \
                         traffic on are to be done again",
                        steps.len()
                    ),
                )];
                // A step to do again shows as pending, as after a stop at its question.
                events.extend(steps.iter().filter_map(|s| self.step_id(s)).map(|step| {
                    Event::StepFinished {
                        step,
                        outcome: Outcome::Stopped,
                        summary: "rolled back; to be done again".to_string(),
                        figures: serde_json::Map::new(),
                    }
                }));
                Ok(events)
            }
            JournalEvent::RunHeld { hold, step } => {
                Ok(vec![Event::Holding(self.hold(*hold, step.as_deref()))])
            }
            JournalEvent::SessionEnded { reason } => Ok(vec![
                notice(Level::Info, format!("the session of {who} ended: {reason}")),
                Event::RunEnded(self.run_end()),
                Event::RunBy { operator: None },
            ]),
            JournalEvent::LockTakenOver {
                previous_pid,
                previous_host,
                previous_operator,
                ..
            } => Ok(vec![notice(
                Level::Warn,
                format!(
                    "{who} took over the lock of {previous_operator} (pid {previous_pid} on \
                     {previous_host}), which no longer ran"
                ),
            )]),
            JournalEvent::TornLineFound { line, bytes } => Ok(vec![notice(
                Level::Warn,
                format!(
                    "line {line} of the journal was cut short when a process stopped while \
                     writing it ({bytes} bytes); {who} recorded it as torn"
                ),
            )]),
            JournalEvent::StepWaiting {
                step,
                need,
                question,
                phrase,
                alternatives,
            } => step_of(step).map(|id| match self.plan.iter().find(|p| p.step.id == id) {
                Some(planned) => {
                    let mut request = planned.request(&self.config, *need);
                    if question.is_some() {
                        request.question = question.clone();
                        request.phrase = phrase.clone();
                        request.alternatives = alternatives.clone();
                    }
                    vec![Event::Waiting(request)]
                }
                None => vec![notice(
                    Level::Info,
                    format!(
                        "step {id} waits for {} from {who}; it is not on this config's plan",
                        need.as_str()
                    ),
                )],
            }),
            JournalEvent::StepConfirmed { step, confirmation } => step_of(step).map(|id| {
                let by = format!(
                    "{} ({}) on {}",
                    e.operator,
                    confirmation.party.label(),
                    e.host
                );
                let line = match confirmation.need {
                    Need::HandOff => {
                        let doer = confirmation.text.clone().unwrap_or_else(|| {
                            self.plan
                                .iter()
                                .find(|p| p.step.id == id)
                                .map_or("the other party", |p| p.owner.label())
                                .to_string()
                        });
                        format!("done by {doer}, recorded by {by}")
                    }
                    _ => format!("confirmed by {by}"),
                };
                vec![Event::StepLog {
                    step: id,
                    level: Level::Info,
                    line: redact_text(&line),
                }]
            }),
            JournalEvent::StepStarted {
                step,
                attempt,
                runs_as,
            } => step_of(step).map(|id| {
                let planned = self.plan.iter().find(|p| p.step.id == id);
                let runs_as = runs_as
                    .parse::<StepKind>()
                    .ok()
                    .or(planned.map(|p| p.runs_as))
                    .unwrap_or(StepKind::Manual);
                vec![Event::StepStarted {
                    step: id,
                    attempt: *attempt,
                    runs_as,
                }]
            }),
            JournalEvent::StepRechecked {
                step,
                holds,
                detail,
            } => step_of(step).map(|id| {
                vec![Event::StepRechecked {
                    step: id,
                    holds: *holds,
                    detail: redact_text(detail),
                }]
            }),
            JournalEvent::StepFact { step, key, value } if key == DEADLINE_FACT => step_of(step)
                .map(|id| {
                    let time = |k: &str| {
                        value[k]
                            .as_str()
                            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                            .map(|t| t.with_timezone(&Utc))
                    };
                    match (time("since"), time("until")) {
                        (Some(since), Some(until)) => vec![Event::StepDeadline {
                            step: id,
                            since,
                            until,
                        }],
                        _ => Vec::new(),
                    }
                }),
            JournalEvent::StepFact { step, key, value } => step_of(step).map(|id| {
                vec![Event::StepLog {
                    step: id,
                    level: Level::Info,
                    line: redact_text(&fact_text(key, value)),
                }]
            }),
            JournalEvent::StepFinished {
                step,
                outcome,
                summary,
                figures,
            } => step_of(step).map(|id| {
                vec![Event::StepFinished {
                    step: id,
                    outcome: *outcome,
                    summary: redact_text(summary),
                    figures: figures.clone(),
                }]
            }),
            JournalEvent::StepSkipped { step, reason } => step_of(step).map(|id| {
                vec![Event::StepSkipped {
                    step: id,
                    reason: redact_text(reason),
                }]
            }),
        };
        result.unwrap_or_else(|e| e)
    }

    /// The wizard's hold as journaled, for the watcher's screen.
    pub(super) fn hold(&self, at: HeldAt, step: Option<&str>) -> Hold {
        let step = step.and_then(|s| self.step_id(s));
        match (at, step) {
            (HeldAt::Start, next) => Hold::Start {
                resumed: self.state.sessions > 1
                    || self
                        .state
                        .steps
                        .values()
                        .any(|r| r.status != StepStatus::Pending),
                next,
            },
            (HeldAt::Failed, Some(step)) => Hold::Failed { step },
            (HeldAt::Paused | HeldAt::Failed, next) => Hold::Paused { next },
        }
    }

    /// Who holds the lock, with the party of the session they started (from the journal).
    pub(super) fn operator(&self, holder: Option<&crate::journal::LockHolder>) -> Option<Operator> {
        let h = holder?;
        let party = self.entries.iter().rev().find_map(|e| match e.event {
            JournalEvent::SessionStarted { party, .. } if e.pid == h.pid && e.host == h.host => {
                Some(party)
            }
            _ => None,
        });
        Some(Operator {
            name: h.operator.clone(),
            party,
            host: h.host.clone(),
        })
    }

    /// The id of a step of this runbook (or of any runbook cutover ships).
    pub(super) fn step_id(&self, name: &str) -> Option<StepId> {
        self.plan
            .iter()
            .map(|p| p.step.id)
            .find(|id| id.0 == name)
            .or_else(|| {
                crate::runbook::all()
                    .iter()
                    .flat_map(|b| b.steps.iter())
                    .map(|s| s.id)
                    .find(|id| id.0 == name)
            })
    }

    /// Steps of the plan done or skipped, and all steps of the plan.
    pub(super) fn progress(&self) -> (usize, usize) {
        let done = self
            .plan
            .iter()
            .filter(|p| {
                matches!(
                    self.state.status(p.step.id.0),
                    StepStatus::Done | StepStatus::Skipped
                )
            })
            .count();
        (done, self.plan.len())
    }

    /// Whether the journal's last session has started and not ended (whether a process still
    /// holds the lock is the follower's to say).
    pub(super) fn session_open(&self) -> bool {
        let last = self.entries.iter().rev().find(|e| {
            matches!(
                e.event,
                JournalEvent::SessionStarted { .. } | JournalEvent::SessionEnded { .. }
            )
        });
        last.is_some_and(|e| matches!(e.event, JournalEvent::SessionStarted { .. }))
    }

    /// What the step that waits now (if any) asks for.
    pub(super) fn waiting_request(&self) -> Option<Request> {
        let (step, need, question, phrase, alternatives) =
            self.entries.iter().rev().find_map(|e| match &e.event {
                JournalEvent::StepWaiting {
                    step,
                    need,
                    question,
                    phrase,
                    alternatives,
                } => Some((step, *need, question, phrase, alternatives)),
                _ => None,
            })?;
        self.state.step(step)?.waiting_since?;
        let planned = self.plan.iter().find(|p| p.step.id.0 == step)?;
        let mut request = planned.request(&self.config, need);
        if question.is_some() {
            request.question = question.clone();
            request.phrase = phrase.clone();
            request.alternatives = alternatives.clone();
        }
        Some(request)
    }

    /// How the session that just ended left the run, from the journal.
    pub(super) fn run_end(&self) -> RunEnd {
        let last_step_end = self
            .entries
            .iter()
            .rev()
            .take_while(|e| !matches!(e.event, JournalEvent::SessionStarted { .. }))
            .find_map(|e| match &e.event {
                JournalEvent::StepFinished { step, outcome, .. } => Some((step, Some(*outcome))),
                JournalEvent::StepSkipped { step, .. } => Some((step, None)),
                _ => None,
            });
        if let Some((step, Some(Outcome::Failed))) = last_step_end
            && self.state.status(step) == StepStatus::Failed
            && let Some(id) = self.step_id(step)
        {
            return RunEnd::Failed { step: id };
        }
        let (done, total) = self.progress();
        if done == total {
            return RunEnd::Finished;
        }
        let waiting = self
            .plan
            .iter()
            .find(|p| {
                self.state
                    .step(p.step.id.0)
                    .is_some_and(|r| r.waiting_since.is_some())
            })
            .map(|p| p.step.id);
        RunEnd::Paused { waiting }
    }
}

/// Puts journal Events and step log lines in the order they happened. Entries
/// keep their journal order; a log line goes before the first entry that is later.
pub(super) fn merge(items: Vec<Item>, lines: Vec<LogItem>) -> Vec<Event> {
    let mut out = Vec::with_capacity(items.len() + lines.len());
    let mut lines = lines.into_iter().peekable();
    for item in items {
        if let Some(key) = item.key {
            while let Some(line) = lines.next_if(|l| (l.ms, RANK_LOG) < key) {
                out.push(line.event);
            }
        }
        out.push(item.event);
    }
    out.extend(lines.map(|l| l.event));
    out
}

/// A step log line as `StepSink` writes it: `<UTC time> <Info|Warn|Error> <text>`.
/// A line in another shape is shown whole.
/// The gauge of a progress line's `<done> <total or -> <unit>`; None when it is not one.
fn progress_event(step: StepId, text: &str) -> Option<Event> {
    let mut words = text.split(' ');
    let done = words.next()?.parse().ok()?;
    let total = match words.next()? {
        "-" => None,
        t => Some(t.parse().ok()?),
    };
    // Event units are static words: the ones steps report in.
    let unit = match words.next()? {
        "bytes" => "bytes",
        "keys" => "keys",
        "jobs" => "jobs",
        "workloads" => "workloads",
        "rows" => "rows",
        "objects" => "objects",
        "files" => "files",
        "tables" => "tables",
        _ => "items",
    };
    Some(Event::StepProgress {
        step,
        done,
        total,
        unit,
    })
}

/// A recorded fact in words, for the log of a watcher: `recorded replicas/system-app:
/// replicas 2`, `recorded initial-depths: at 09:01:02 UTC, depths of 18`. Never JSON: nested
/// values are counted, times shortened, long texts cut.
fn fact_text(key: &str, value: &Value) -> String {
    fn scalar(v: &Value) -> String {
        match v {
            Value::String(s) => match DateTime::parse_from_rfc3339(s) {
                Ok(t) => t.with_timezone(&Utc).format("%H:%M:%S UTC").to_string(),
                Err(_) if s.chars().count() > 60 => {
                    format!("{}…", s.chars().take(59).collect::<String>())
                }
                Err(_) => s.clone(),
            },
            Value::Array(a) => format!("{} items", a.len()),
            Value::Object(o) => format!("of {}", o.len()),
            Value::Null => "none".to_string(),
            other => other.to_string(),
        }
    }
    let text = match value {
        Value::Object(fields) if fields.is_empty() => "nothing".to_string(),
        Value::Object(fields) => {
            let mut parts: Vec<String> = fields
                .iter()
                .take(6)
                .map(|(k, v)| format!("{k} {}", scalar(v)))
                .collect();
            if fields.len() > 6 {
                parts.push(format!("and {} more", fields.len() - 6));
            }
            parts.join(", ")
        }
        other => scalar(other),
    };
    format!("recorded {key}: {text}")
}

pub(super) fn log_item(step: StepId, line: &[u8]) -> LogItem {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches('\r');
    let mut parts = text.splitn(3, ' ');
    let time = parts
        .next()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let word = parts.next();
    if word == Some(PROGRESS_WORD)
        && let Some(time) = time
        && let Some(event) = progress_event(step, parts.next().unwrap_or_default())
    {
        return LogItem {
            ms: time.timestamp_millis(),
            event,
        };
    }
    let level = match word {
        Some("Info") => Some(Level::Info),
        Some("Warn") => Some(Level::Warn),
        Some("Error") => Some(Level::Error),
        _ => None,
    };
    let (ms, level, line) = match (time, level) {
        (Some(time), Some(level)) => (
            time.timestamp_millis(),
            level,
            parts.next().unwrap_or_default().to_string(),
        ),
        _ => (i64::MAX, Level::Info, text.to_string()),
    };
    LogItem {
        ms,
        event: Event::StepLog {
            step,
            level,
            line: redact_text(&line),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fact_reads_as_words_never_as_json() {
        let depths = serde_json::json!({
            "at": "2026-12-07T09:01:02.5+00:00",
            "depths": {"dead": 17, "retry": 17},
        });
        assert_eq!(
            fact_text("initial-depths", &depths),
            "recorded initial-depths: at 09:01:02 UTC, depths of 2"
        );
        assert_eq!(
            fact_text("replicas/system-app", &serde_json::json!({"replicas": 2})),
            "recorded replicas/system-app: replicas 2"
        );
        assert_eq!(
            fact_text("note", &serde_json::json!("kept")),
            "recorded note: kept"
        );
        let many: serde_json::Map<String, Value> = (0..8)
            .map(|i| (format!("k{i}"), serde_json::json!(i)))
            .collect();
        let text = fact_text("many", &Value::Object(many));
        assert!(text.ends_with("k5 5, and 2 more"), "{text}");
        for text in [text, fact_text("initial-depths", &depths)] {
            assert!(!text.contains('{') && !text.contains('"'), "{text}");
        }
    }

    fn ev(ms: i64, rank: u8, line: &str) -> Item {
        Item {
            key: Some((ms, rank)),
            event: Event::Notice {
                level: Level::Info,
                text: line.to_string(),
            },
        }
    }

    fn log(ms: i64, line: &str) -> LogItem {
        LogItem {
            ms,
            event: Event::StepLog {
                step: StepId("s"),
                level: Level::Info,
                line: line.to_string(),
            },
        }
    }

    fn texts(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                Event::Notice { text, .. } => text.clone(),
                Event::StepLog { line, .. } => line.clone(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn log_lines_go_between_a_start_and_an_end_of_the_same_millisecond() {
        let items = vec![
            ev(10, RANK_STARTED, "started"),
            ev(10, RANK_OTHER, "finished"),
        ];
        let out = merge(items, vec![log(10, "line")]);
        assert_eq!(texts(&out), ["started", "line", "finished"]);
    }

    #[test]
    fn log_lines_follow_time_and_entries_keep_their_order() {
        let items = vec![
            ev(5, RANK_OTHER, "a"),
            ev(3, RANK_OTHER, "b"),
            ev(20, RANK_OTHER, "c"),
        ];
        let out = merge(items, vec![log(4, "x"), log(15, "y"), log(i64::MAX, "z")]);
        assert_eq!(texts(&out), ["x", "a", "b", "y", "c", "z"]);
    }

    #[test]
    fn a_log_line_in_the_sink_format_is_parsed() {
        let item = log_item(StepId("s"), b"2026-11-23T09:00:01.250Z Warn slow: 3 s");
        let Event::StepLog { level, line, .. } = item.event else {
            panic!("a step log line");
        };
        assert_eq!((level, line.as_str()), (Level::Warn, "slow: 3 s"));
        assert_eq!(item.ms % 1000, 250);
        let odd = log_item(StepId("s"), b"no time here");
        assert_eq!(odd.ms, i64::MAX);
    }
}
