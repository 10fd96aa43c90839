//! The plain-line front end for scripts and CI. It renders Events as lines and
//! answers gates only from `--confirm` given on the command line; the first gate
//! without one ends the run with exit code 3 and says what it needs.

use crate::{err, errln, outln};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::engine::{Engine, EngineOptions, StandIn};
use crate::error::{ExitCode, bad_input};
use crate::event::{Command, Event, Level, Request, RunEnd};
use crate::plan::plan;
use crate::runbook::{Need, Outcome, StepId};

pub struct HeadlessOptions {
    pub until: Option<String>,
    /// `--confirm STEP[=TEXT]`, in the order given.
    pub confirms: Vec<String>,
    /// `--skip STEP=REASON`.
    pub skips: Vec<String>,
    /// A rehearsal: every need without an answer on the command line is confirmed as
    /// this operator (typed gates with their phrase, hand-offs as done by them).
    pub auto_confirm_as: Option<String>,
    /// A rehearsal: what does the manual steps' work to its sandbox.
    pub stand_in: Option<Arc<dyn StandIn>>,
}

/// Runs the migration without a screen; returns the process exit code.
pub async fn run(config: Config, options: HeadlessOptions) -> Result<ExitCode> {
    let steps = plan(&config);
    let known = |id: &str| steps.iter().find(|p| p.step.id.0 == id).map(|p| p.step.id);
    let unknown = |id: &str| {
        bad_input(format!(
            "step `{id}` is not a step of this migration; `cutover plan` lists them"
        ))
    };
    let until = match &options.until {
        Some(id) => Some(known(id).ok_or_else(|| unknown(id))?),
        None => None,
    };
    let mut answers = Answers::default();
    for c in &options.confirms {
        let (id, text) = match c.split_once('=') {
            Some((id, text)) => (id, Some(text.to_string())),
            None => (c.as_str(), None),
        };
        let step = known(id).ok_or_else(|| unknown(id))?;
        answers.add(step, text);
    }
    let mut skips: HashMap<StepId, String> = HashMap::new();
    for c in &options.skips {
        let Some((id, reason)) = c.split_once('=').filter(|(_, r)| !r.trim().is_empty()) else {
            return Err(bad_input(format!(
                "--skip {c}: give the reason, it is recorded: --skip STEP=\"why\""
            )));
        };
        let step = known(id).ok_or_else(|| unknown(id))?;
        if answers.has(step) {
            return Err(bad_input(format!(
                "step {id} is both confirmed and skipped; choose one"
            )));
        }
        skips.insert(step, reason.trim().to_string());
    }
    let (event_tx, mut events) = mpsc::unbounded_channel();
    let (command_tx, commands) = mpsc::unbounded_channel();
    let label = format!(
        "cutover: migration {} ({}, path {}), operator {} ({})",
        config.name,
        config.runbook,
        config.access_path,
        config.operator,
        config.party.label()
    );
    // Before anything starts: a signal that arrives while a step runs must pause the
    // run at a safe point, never kill the process with the default disposition.
    let mut sigint = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut sighup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    let engine = Engine::open(
        Arc::new(config),
        event_tx,
        commands,
        EngineOptions {
            mode: "headless",
            until,
            hold: false,
            stand_in: options.stand_in.clone(),
        },
    )?;
    outln!("{label}");
    let engine = tokio::spawn(engine.run());

    let mut interrupted = false;
    let mut rehearsal_questions: HashMap<StepId, u32> = HashMap::new();
    let mut progress = ProgressLines::default();
    let mut waiting: Option<Request> = None;
    let mut refused: Option<String> = None;
    loop {
        tokio::select! {
                    ev = events.recv() => {
                        let Some(ev) = ev else { break };
                        match &ev {
                            Event::Waiting(req) => {
        let step = req.step;
                                if let Some(reason) = skips.remove(&req.step) {
                                    let _ = command_tx.send(Command::Skip { step, reason });
                                    continue;
                                }
                                let given = answers.take(req);
                                let rehearsal = options.auto_confirm_as.as_ref().filter(|_| {
                                    let asked = rehearsal_questions.entry(req.step).or_insert(0);
                                    *asked += u32::from(req.question.is_some());
                                    *asked <= REHEARSAL_QUESTIONS
                                });
                                let answer = given.or_else(|| {
                                    rehearsal.map(|who| rehearsal_answer(req, who))
                                });
                                match answer {
                                    Some(text) => {
                                        print_line(&ev);
                                        let _ = command_tx.send(Command::Confirm { step, text });
                                    }
                                    None => {
                                        waiting = Some(req.clone());
                                        let _ = command_tx.send(Command::Quit);
                                    }
                                }
                            }
                            Event::ConfirmRefused { reason, .. } => {
                                // The answer came from the command line: it cannot be asked again.
                                refused = Some(reason.clone());
                                let _ = command_tx.send(Command::Quit);
                            }
                            Event::StepProgress { step, done, total, unit } => {
                                if let Some(line) = progress.line(*step, *done, *total, unit) {
                                    outln!("{}   {step}: {line}", chrono::Utc::now().format("%H:%M:%S"));
                                }
                            }
                            _ => print_line(&ev),
                        }
                    }
                    _ = sigint.recv() => { interrupted = true; let _ = command_tx.send(Command::Quit); }
                    _ = sigterm.recv() => { interrupted = true; let _ = command_tx.send(Command::Quit); }
                    _ = sighup.recv() => { interrupted = true; let _ = command_tx.send(Command::Quit); }
                }
    }
    let end = engine
        .await
        .context("the engine task stopped unexpectedly")??;
    if let Some(reason) = refused {
        return Err(bad_input(format!("--confirm refused: {reason}")));
    }
    Ok(match end {
        RunEnd::Finished => {
            outln!("done: every step of this migration is done");
            ExitCode::Success
        }
        RunEnd::ReachedUntil { step } => {
            outln!("stopped after {step} as asked (--until)");
            ExitCode::Success
        }
        RunEnd::Failed { step } => {
            errln!(
                "step {step} failed; fix the cause, then run again: it retries {step}. The manual \
                 procedure is in `cutover plan` and the log in logs/{step}.log"
            );
            ExitCode::Failed
        }
        RunEnd::Paused { .. } if interrupted => {
            errln!("interrupted: paused at a safe point; run the same command again to resume");
            ExitCode::Waiting
        }
        RunEnd::Paused {
            waiting: Some(step),
        } => {
            match waiting {
                Some(req) if req.step == step => err!("{}", explain_wait(&req)),
                _ => errln!("waiting: step {step} needs an answer"),
            }
            ExitCode::Waiting
        }
        RunEnd::Paused { waiting: None } => {
            errln!("paused; run the same command again to resume");
            ExitCode::Waiting
        }
    })
}

/// How often a step's progress is printed: a line every few seconds, with the rate since the
/// step's first report, and the last one, so a log of a long dump stays readable.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Per step: when and at what figure its current stage first reported, the last figure, and
/// when a line was last printed.
type StageClock = (std::time::Instant, u64, u64, Option<std::time::Instant>);

#[derive(Default)]
struct ProgressLines {
    steps: HashMap<StepId, StageClock>,
}

impl ProgressLines {
    fn line(&mut self, step: StepId, done: u64, total: Option<u64>, unit: &str) -> Option<String> {
        let now = std::time::Instant::now();
        let (first, first_done, last, printed) =
            self.steps.entry(step).or_insert((now, done, done, None));
        // A figure that goes back starts a new stage (a restore after its checksum), whose
        // rate is its own.
        if done < *last {
            (*first, *first_done, *printed) = (now, done, None);
        }
        *last = done;
        // A stage's opening 0 says nothing yet.
        if done == 0 {
            return None;
        }
        let finished = total.is_some_and(|t| done >= t);
        if !finished && printed.is_some_and(|p| now.duration_since(p) < PROGRESS_EVERY) {
            return None;
        }
        *printed = Some(now);
        let mut line = crate::format::done_of(done, total, unit);
        let secs = now.duration_since(*first).as_secs_f64();
        if secs >= 1.0 {
            let rate = done.saturating_sub(*first_done) as f64 / secs;
            line.push_str(&format!(", {}", crate::format::rate(rate, unit)));
        }
        Some(line)
    }
}

/// The `--confirm STEP[=TEXT]` answers of the command line, per step in the order given.
/// A gate and each question a step asks while it runs take one answer: the one that is
/// exactly the phrase asked for, else the first left. A command-line answer serves once, so a
/// step that asks again (more jobs queued, still no figures) stops the run. The text given to
/// a gate that needs no phrase also answers the step's first question when it is the only
/// answer given for the step (`--confirm drain-queues=12` accepts the loss of 12 jobs).
#[derive(Default)]
struct Answers {
    by_step: HashMap<StepId, VecDeque<Option<String>>>,
}

impl Answers {
    fn add(&mut self, step: StepId, text: Option<String>) {
        self.by_step.entry(step).or_default().push_back(text);
    }

    fn has(&self, step: StepId) -> bool {
        self.by_step.get(&step).is_some_and(|q| !q.is_empty())
    }

    /// The answer to `req`, or None when the command line gave none left for it.
    fn take(&mut self, req: &Request) -> Option<Option<String>> {
        let queue = self.by_step.get_mut(&req.step)?;
        let accepted: Vec<&str> = req
            .phrase
            .iter()
            .chain(&req.alternatives)
            .map(|p| p.trim())
            .collect();
        let exact = queue.iter().position(|a| {
            a.as_deref()
                .map(str::trim)
                .is_some_and(|a| accepted.contains(&a))
        });
        let entry = queue.remove(exact.unwrap_or(0))?;
        if req.question.is_some() {
            // A question needs a text; a bare `--confirm STEP` answers only a gate.
            return entry.map(Some);
        }
        if queue.is_empty()
            && req.need != Need::Typed
            && let Some(text) = &entry
        {
            queue.push_back(Some(text.clone()));
        }
        Some(entry)
    }
}

/// How many questions of one step a rehearsal answers by itself before it stops
/// (a store that never answers would otherwise be waited for without end).
const REHEARSAL_QUESTIONS: u32 = 3;

/// The answer a rehearsal gives: the exact phrase where one is asked, the rehearsal
/// operator's name for a hand-off, a plain yes otherwise.
fn rehearsal_answer(req: &Request, who: &str) -> Option<String> {
    match req.need {
        Need::HandOff => Some(who.to_string()),
        _ => req.phrase.clone(),
    }
}

/// What a waiting step needs and how to give it on the command line.
fn explain_wait(req: &Request) -> String {
    let id = req.step;
    let mut out = format!("waiting: step {id} ({}) ", req.title);
    if let (Some(question), Some(phrase)) = (&req.question, &req.phrase) {
        out.push_str(&format!(
            "asks while it runs: {question}\nTo answer, run again with:\n  --confirm {id}=\"{phrase}\"\n"
        ));
        for other in &req.alternatives {
            out.push_str(&format!("or:\n  --confirm {id}=\"{other}\"\n"));
        }
        return out;
    }
    match req.need {
        Need::HandOff => out.push_str(&format!(
            "is {}'s to do. When they have done it, record it with:\n  --confirm {id}=\"NAME OF WHO DID IT\"\n",
            req.owner.label()
        )),
        Need::Manual => {
            out.push_str("is done by hand. Do it, then confirm with:\n");
            match &req.phrase {
                Some(p) => out.push_str(&format!("  --confirm {id}=\"{p}\"\n")),
                None => out.push_str(&format!("  --confirm {id}\n")),
            }
        }
        Need::Confirm => out.push_str(&format!("needs your go-ahead:\n  --confirm {id}\n")),
        Need::Typed => out.push_str(&format!(
            "changes things that cannot be undone. Type the phrase to go ahead:\n  --confirm {id}=\"{}\"\n",
            req.phrase.as_deref().unwrap_or_default()
        )),
    }
    if let Some(condition) = &req.condition {
        out.push_str(&format!(
            "It applies {condition}; when it does not, skip it:\n  --skip {id}=\"REASON\"\n"
        ));
    }
    if let Some(changes) = &req.changes {
        out.push_str(&format!("It changes: {changes}\n"));
    }
    out.push_str("Procedure:\n");
    for line in req.procedure.lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out
}

fn print_line(ev: &Event) {
    let now = chrono::Utc::now().format("%H:%M:%S");
    match ev {
        Event::RunStarted {
            resumed: true,
            done,
            total,
        } => {
            outln!("{now} resuming: {done} of {total} steps done")
        }
        Event::RunStarted {
            resumed: false,
            total,
            ..
        } => outln!("{now} starting: {total} steps"),
        Event::Notice {
            level: Level::Info,
            text,
        } => outln!("{now} info: {text}"),
        Event::Notice { level, text } => errln!("{} {text}", level_tag(*level)),
        Event::StepRechecking { step } => {
            outln!("{now} ? {step}: was running when cutover stopped; checking its end state")
        }
        Event::StepRechecked {
            step,
            holds,
            detail,
        } => outln!(
            "{now} ? {step}: {} ({detail})",
            if *holds {
                "end state holds, not run again"
            } else {
                "end state does not hold, running it again"
            }
        ),
        Event::Waiting(req) => outln!("{now} ~ {}: confirmed ({})", req.step, req.need.as_str()),
        Event::ConfirmRefused { step, reason } => outln!("{now} x {step}: {reason}"),
        Event::StepStarted {
            step,
            attempt,
            runs_as,
        } => {
            outln!("{now} > {step} ({runs_as}, attempt {attempt})")
        }
        // Printed through ProgressLines, which spaces them out.
        Event::StepProgress { .. } => {}
        // Only a read-only screen is told who runs the migration.
        Event::RunBy { .. } => {}
        Event::StepDeadline { step, since, until } => outln!(
            "{now}   {step}: waits at most until {} UTC ({} agreed, counted since {} UTC)",
            until.format("%H:%M:%S"),
            crate::config::format_duration((*until - *since).to_std().unwrap_or_default()),
            since.format("%H:%M:%S")
        ),
        Event::StepLog { step, level, line } => {
            outln!("{now}   {step} {} {line}", level_tag(*level))
        }
        Event::StepFinished {
            step,
            outcome,
            summary,
            ..
        } => {
            let mark = match outcome {
                Outcome::Passed => "ok",
                Outcome::Failed => "FAILED",
                Outcome::NotApplicable => "n/a",
                Outcome::Stopped => "stopped",
            };
            outln!("{now} = {step} {mark}: {summary}")
        }
        Event::StepSkipped { step, reason } => outln!("{now} = {step} skipped: {reason}"),
        Event::Answered { step } => outln!("{now} ~ {step}: answered; the step goes on"),
        // Headless never asks the engine to hold, and runs no monitors.
        Event::RunEnded(_)
        | Event::Holding(_)
        | Event::QueueDepths { .. }
        | Event::Workloads { .. }
        | Event::VeleroObjects { .. }
        | Event::MonitorProblem { .. } => {}
    }
}

fn level_tag(level: Level) -> &'static str {
    match level {
        Level::Info => "info:",
        Level::Warn => "warning:",
        Level::Error => "error:",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stages_opening_zero_prints_nothing_and_a_new_stage_prints_at_once() {
        let step = crate::runbook::ids::SEED_DESTINATION_DATABASE;
        let mut lines = ProgressLines::default();
        assert_eq!(lines.line(step, 0, Some(100), "bytes"), None);
        assert!(lines.line(step, 40, Some(100), "bytes").is_some());
        // Spaced out within a stage.
        assert_eq!(lines.line(step, 60, Some(100), "bytes"), None);
        // Its end always prints.
        assert!(lines.line(step, 100, Some(100), "bytes").is_some());
        // The next stage: its 0 is silent, its first figure prints without waiting.
        assert_eq!(lines.line(step, 0, Some(100), "bytes"), None);
        assert!(lines.line(step, 10, Some(100), "bytes").is_some());
    }
}
