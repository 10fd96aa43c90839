//! How each Event changes the view. Kept apart from the view's shape so the
//! mapping from engine messages to what the operator sees reads in one place.

use chrono::{DateTime, Utc};

use super::status::StepState;
use super::step_view::{LastResult, Progress};
use super::view::{DialogMode, RunMarker, ViewState, figures};
use crate::event::{Event, Hold, Level, RunEnd};
use crate::infra::url::redact_text;
use crate::runbook::{Outcome, ids};

impl ViewState {
    /// Takes one Event from the engine, at time `now`.
    pub fn apply(&mut self, event: &Event, now: DateTime<Utc>) {
        self.now = now;
        match event {
            Event::RunStarted {
                resumed,
                done,
                total,
            } => {
                self.marker = RunMarker::Running;
                let text = if *resumed {
                    format!("resuming: {done} of {total} steps done")
                } else {
                    format!("starting: {total} steps")
                };
                self.log_line(now, None, Level::Info, &text);
            }
            Event::Notice { level, text } => {
                self.set_notice(*level, text);
                self.log_line(now, None, *level, text);
            }
            Event::StepRechecking { step } => {
                let text = "was running when cutover stopped; checking its end state";
                self.log_line(now, Some(*step), Level::Warn, text);
            }
            Event::StepRechecked {
                step,
                holds,
                detail,
            } => {
                let verdict = if *holds {
                    "end state holds, not run again"
                } else {
                    "end state does not hold, running it again"
                };
                let text = format!("{verdict} ({detail})");
                self.log_line(now, Some(*step), Level::Info, &text);
            }
            Event::Waiting(req) => {
                self.holding = None;
                let mut req = req.clone();
                req.changes = req.changes.as_deref().map(redact_text);
                req.condition = req.condition.as_deref().map(redact_text);
                // The view already holds this step's texts, filled from the same config
                // with the config's values masked; the runbook's own shell (e.g.
                // `printf 'PASSWORD=%s'`) must reach the operator unaltered.
                match self.step(req.step) {
                    Some(s) => {
                        req.procedure = s.procedure.clone();
                        req.changes = s.changes.clone().or(req.changes);
                    }
                    None => {
                        req.procedure = req
                            .procedure
                            .lines()
                            .map(redact_text)
                            .collect::<Vec<_>>()
                            .join("\n");
                    }
                }
                if let Some(s) = self.step_mut(req.step) {
                    s.state = StepState::Waiting;
                }
                // The dialog is about this step: show it, and its detail behind.
                if let Some(i) = self.index_of(req.step) {
                    self.selected = i;
                    self.detail_scroll = 0;
                }
                self.follow_run = true;
                self.dialog_hidden = false;
                let text = match &req.question {
                    Some(q) => format!("asks: {q}"),
                    None => format!("waiting for {}: {}", self.answerer(), req.need.as_str()),
                };
                self.log_line(now, Some(req.step), Level::Info, &text);
                self.dialog = DialogMode::Answer;
                self.input.clear();
                // Who did the party's last hand-off is offered again; Ctrl-U clears it.
                if req.need == crate::runbook::Need::HandOff
                    && let Some(name) = self.last_done_by.get(&req.owner)
                {
                    self.input = name.clone();
                }
                self.waiting = Some(req);
                self.refused = None;
                // The question waits, whatever was asked before: the header says so.
                self.marker = RunMarker::Waiting;
            }
            Event::ConfirmRefused { step, reason } => {
                self.refused = Some(redact_text(reason));
                self.input.clear();
                self.log_line(now, Some(*step), Level::Warn, &format!("refused: {reason}"));
            }
            Event::StepStarted {
                step,
                attempt,
                runs_as,
            } => {
                self.holding = None;
                if self.waiting.as_ref().is_some_and(|r| r.step == *step) {
                    self.waiting = None;
                    self.input.clear();
                    self.refused = None;
                }
                if let Some(s) = self.step_mut(*step) {
                    s.state = StepState::Running;
                    s.attempts = *attempt;
                    s.progress = None;
                    s.deadline = None;
                }
                // Follow the run, unless the operator is looking at another step.
                if self.follow_run
                    && let Some(i) = self.index_of(*step)
                {
                    self.selected = i;
                    self.detail_scroll = 0;
                }
                if *step == ids::TRANSFER_BACKUP {
                    self.velero.transfer_started();
                }
                self.running = Some(*step);
                if self.marker != RunMarker::Pausing {
                    self.marker = RunMarker::Running;
                }
                let text = format!("started ({runs_as}, attempt {attempt})");
                self.log_line(now, Some(*step), Level::Info, &text);
            }
            Event::StepProgress {
                step,
                done,
                total,
                unit,
            } => {
                if *step == ids::TRANSFER_BACKUP {
                    self.velero.transfer_progress(now, *done, *total, unit);
                }
                if let Some(s) = self.step_mut(*step) {
                    // A gauge that goes back, or counts something else, is a new stage: its
                    // rate is its own (a total may grow: an estimate the transfer passed).
                    let started = s
                        .progress
                        .as_ref()
                        .filter(|p| p.done <= *done && p.unit == *unit)
                        .map_or(now, |p| p.started);
                    s.progress = Some(Progress {
                        done: *done,
                        total: *total,
                        unit,
                        started,
                        at: now,
                    });
                }
            }
            Event::StepDeadline { step, since, until } => {
                if let Some(s) = self.step_mut(*step) {
                    s.deadline = Some((*since, *until));
                }
            }
            Event::StepLog { step, level, line } => {
                self.log_line(now, Some(*step), *level, line);
            }
            Event::StepFinished {
                step,
                outcome,
                summary,
                figures: figs,
            } => {
                if *step == ids::TRANSFER_BACKUP {
                    self.velero.transfer_ended();
                }
                if let Some(s) = self.step_mut(*step) {
                    s.deadline = None;
                    s.state = match outcome {
                        Outcome::Passed if s.hand_off => StepState::DoneByOther,
                        Outcome::Passed => StepState::Done,
                        Outcome::Failed => StepState::Failed,
                        Outcome::NotApplicable => StepState::Skipped,
                        Outcome::Stopped => StepState::Pending,
                    };
                    s.last = Some(LastResult {
                        outcome: Some(*outcome),
                        summary: redact_text(summary),
                        figures: figures(figs),
                    });
                }
                if self.running == Some(*step) {
                    self.running = None;
                }
                if self.waiting.as_ref().is_some_and(|r| r.step == *step) {
                    self.waiting = None;
                }
                let level = match outcome {
                    Outcome::Failed => Level::Error,
                    _ => Level::Info,
                };
                let text = format!("{}: {summary}", outcome_word(*outcome));
                self.log_line(now, Some(*step), level, &text);
            }
            Event::Answered { step } => {
                if self.waiting.as_ref().is_some_and(|r| r.step == *step) {
                    self.waiting = None;
                    self.input.clear();
                    self.refused = None;
                }
                if let Some(s) = self.step_mut(*step) {
                    s.state = StepState::Running;
                }
                if *step == ids::TRANSFER_BACKUP {
                    self.velero.transfer_started();
                }
                self.running = Some(*step);
                if self.marker != RunMarker::Pausing {
                    self.marker = RunMarker::Running;
                }
                self.log_line(now, Some(*step), Level::Info, "answered; the step goes on");
            }
            Event::StepSkipped { step, reason } => {
                if let Some(s) = self.step_mut(*step) {
                    s.state = StepState::Skipped;
                    s.last = Some(LastResult {
                        outcome: None,
                        summary: redact_text(&format!("skipped: {reason}")),
                        figures: Vec::new(),
                    });
                }
                if self.waiting.as_ref().is_some_and(|r| r.step == *step) {
                    self.waiting = None;
                    self.input.clear();
                    self.dialog = DialogMode::Answer;
                }
                self.log_line(now, Some(*step), Level::Info, &format!("skipped: {reason}"));
            }
            Event::Holding(hold) => {
                self.running = None;
                // Paused at a gate: the engine asks again when the run goes on.
                if let Some(req) = self.waiting.take()
                    && let Some(s) = self.step_mut(req.step)
                {
                    s.state = StepState::Pending;
                }
                self.input.clear();
                self.refused = None;
                let text = match hold {
                    Hold::Start {
                        next: Some(step), ..
                    } if self.run_when_held => {
                        self.run_when_held = false;
                        self.marker = RunMarker::Running;
                        self.follow_run = true;
                        self.outbox = Some(crate::event::Command::Run);
                        format!("starting the run at {step}")
                    }
                    Hold::Start {
                        next: Some(step), ..
                    } => {
                        self.marker = RunMarker::Idle;
                        if self.read_only {
                            format!("ready: {} starts the run at {step}", self.answerer())
                        } else {
                            format!("ready: Enter starts the run at {step}")
                        }
                    }
                    Hold::Start { next: None, .. } => {
                        self.marker = RunMarker::Finished;
                        "every step is already done".to_string()
                    }
                    Hold::Paused { next } => {
                        self.marker = RunMarker::Paused;
                        let goes_on = if self.read_only {
                            ""
                        } else {
                            "; Enter goes on"
                        };
                        match next {
                            Some(step) => format!("paused before {step}{goes_on}"),
                            None => format!("paused{goes_on}"),
                        }
                    }
                    Hold::Failed { step } => {
                        self.marker = RunMarker::Failed;
                        if self.read_only {
                            format!("step {step} failed; the run holds until it is retried")
                        } else {
                            format!("step {step} failed; fix the cause, then r retries it")
                        }
                    }
                };
                let level = match hold {
                    Hold::Failed { .. } => Level::Error,
                    _ => Level::Info,
                };
                self.log_line(now, None, level, &text);
                // Held unless the run was already asked for and goes on at once.
                let going_on = self.outbox == Some(crate::event::Command::Run);
                self.holding = (!going_on).then(|| hold.clone());
            }
            Event::RunBy { operator } => self.run_by = operator.clone(),
            Event::QueueDepths { source, queues } => {
                self.queues.apply_queue_sample(now, source, queues);
            }
            Event::Workloads { scope, workloads } => {
                self.pods.apply_pods(now, scope, workloads);
            }
            Event::VeleroObjects { scope, objects } => {
                self.velero.apply_objects(now, scope, objects);
            }
            Event::MonitorProblem { monitor, text } => {
                // The panel keeps its last figures, greyed, and says since when.
                match *monitor {
                    crate::monitor::queues::MONITOR => self.queues.stale(now),
                    crate::monitor::pods::MONITOR => {
                        self.pods.stale_since.get_or_insert(now);
                    }
                    crate::monitor::velero::MONITOR => {
                        self.velero.stale_since.get_or_insert(now);
                    }
                    _ => {}
                }
                let text = format!("{monitor} monitor: {text}");
                // A monitor that keeps failing says so once, not every second.
                if self
                    .notice
                    .as_ref()
                    .is_none_or(|(_, t)| *t != redact_text(&text))
                {
                    self.set_notice(Level::Warn, &text);
                    self.log_line(now, None, Level::Warn, &text);
                }
            }
            Event::RunEnded(end) => {
                self.running = None;
                self.holding = None;
                self.ended = Some(end.clone());
                self.quit_asked = false;
                self.finished_open = *end == RunEnd::Finished;
                let (marker, text) = match end {
                    RunEnd::Finished => (RunMarker::Finished, "every step is done".to_string()),
                    RunEnd::ReachedUntil { step } => {
                        (RunMarker::Paused, format!("stopped after {step} as asked"))
                    }
                    RunEnd::Failed { step } => (
                        RunMarker::Failed,
                        format!("step {step} failed; fix the cause, then r retries it"),
                    ),
                    RunEnd::Paused { .. } => (
                        RunMarker::Paused,
                        "paused at a safe point; start cutover again to resume".to_string(),
                    ),
                };
                self.marker = marker;
                let level = if marker == RunMarker::Failed {
                    Level::Error
                } else {
                    Level::Info
                };
                self.log_line(now, None, level, &text);
            }
        }
    }
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "done",
        Outcome::Failed => "failed",
        Outcome::NotApplicable => "not applicable",
        Outcome::Stopped => "stopped before its question was answered",
    }
}
