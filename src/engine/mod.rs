//! Runs the steps of a migration in order, asks for gates, records everything in
//! the journal, and resumes where the journal says. The engine is the journal's only
//! writer: a rollback, from the wizard or from `cutover rollback` (`run_rollback`), is run
//! and journaled here too (`rollback` decides when one is refused and what it undoes).
//!
//! Write-ahead: every entry that announces an action (a confirmation, a step
//! start) is fsynced before the action begins, and the end of every step is
//! fsynced before the next one starts. A step the journal shows as started but not
//! finished was interrupted: on resume it is re-checked before it runs again.

use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::config::Config;
use crate::error::bad_input;
use crate::event::{Command, Event, Hold, Level, Request, RunEnd};
use crate::journal::{
    Confirmation, Header, HeldAt, Identity, Journal, JournalEvent, JournalState, StepStatus,
};
use crate::plan::{PlannedStep, plan};
use crate::runbook::{Need, Outcome, Rollback, StepId, StepKind};
use crate::steps::{self, Recheck, RollbackReport, StepContext, StepResult, StepSink};

pub mod rollback;

/// How `cutover rollback` (`Engine::run_rollback`) ended.
#[derive(Debug)]
pub enum RollbackEnd {
    /// Every workload came back, or none had to; journaled with the steps to do again.
    RolledBack(RollbackReport),
    /// Some workload could not be brought back; the others were. Nothing is to be done again
    /// yet: the rollback is to be finished first.
    Incomplete(RollbackReport),
    /// Stopped by a signal; running it again finishes it.
    Interrupted,
}

/// What the engine needs to run a migration.
pub struct EngineOptions {
    /// The front end's name, recorded with the session (`headless`, `tui`).
    pub mode: &'static str,
    /// Stop after this step is done.
    pub until: Option<StepId>,
    /// Hold at safe points instead of ending the run: before the first step, when a
    /// pause is reached, and after a failed step, each until `Run` (go on, or retry
    /// the failed step) or `Quit`. The full-screen wizard holds; headless does not.
    pub hold: bool,
    /// In a rehearsal, what does the manual work to the sandbox.
    pub stand_in: Option<Arc<dyn StandIn>>,
}

/// In a rehearsal, what stands in for the people who do the manual steps: told when one is
/// confirmed, it does to the sandbox what they would have done (upgrading 3scale on the
/// migration cluster, say), before the step is recorded done. It says what it did, for the
/// step's log and summary; an error fails the step.
pub trait StandIn: Send + Sync {
    fn done(&self, step: StepId) -> futures::future::BoxFuture<'_, Result<Option<String>>>;
}

/// A stop asked for while a step ran or waited, honoured at the next safe point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// Hold (with `hold`) or end the run (without).
    Pause,
    /// End the run.
    Quit,
}

pub struct Engine {
    config: Arc<Config>,
    journal: Arc<Mutex<Journal>>,
    events: UnboundedSender<Event>,
    commands: UnboundedReceiver<Command>,
    commands_open: bool,
    options: EngineOptions,
    /// A pause or quit asked for while a step ran: honoured at the next safe point.
    stop: Option<Stop>,
    /// A rollback reset steps behind the current one: go back to the first.
    rewind: bool,
}

/// What the engine does next with a waiting step.
enum Answer {
    Confirmed,
    Skipped,
    Stop,
}

impl Engine {
    /// Opens a migration for running: reads every secret reference (so a missing
    /// one stops before anything starts), takes the lock and opens the journal.
    /// What opening found (a torn last line, a dead holder's lock taken over) is
    /// sent as notices; everything wrong with the input is bad input (exit 2).
    pub fn open(
        config: Arc<Config>,
        events: UnboundedSender<Event>,
        commands: UnboundedReceiver<Command>,
        options: EngineOptions,
    ) -> Result<Engine> {
        for store in config.stores() {
            store.url_value()?;
        }
        for (key, reference) in config.velero.iter().flat_map(|v| v.secret_refs()) {
            reference.resolve(&key)?;
        }
        Engine::open_journal(config, events, commands, options)
    }

    /// Opens a migration for `run_rollback` (`cutover rollback`): takes the lock and opens the
    /// journal like `open`, without reading the stores' secrets, which a rollback never uses.
    pub fn open_for_rollback(
        config: Arc<Config>,
        events: UnboundedSender<Event>,
        commands: UnboundedReceiver<Command>,
    ) -> Result<Engine> {
        let options = EngineOptions {
            stand_in: None,
            mode: "rollback",
            until: None,
            hold: false,
        };
        Engine::open_journal(config, events, commands, options)
    }

    fn open_journal(
        config: Arc<Config>,
        events: UnboundedSender<Event>,
        commands: UnboundedReceiver<Command>,
        options: EngineOptions,
    ) -> Result<Engine> {
        let header = Header {
            migration: config.name.clone(),
            runbook: config.runbook,
            access_path: config.access_path,
        };
        let identity = Identity::of_this_process(&config.operator);
        let (journal, report) = Journal::open(&config.migration_dir(), &header, identity)?;
        let engine = Engine {
            config,
            journal: Arc::new(Mutex::new(journal)),
            events,
            commands,
            commands_open: true,
            options,
            stop: None,
            rewind: false,
        };
        if let Some(t) = &report.torn {
            engine.emit(Event::Notice {
                level: Level::Warn,
                text: format!(
                    "line {} of the journal was cut short when a process stopped while writing \
                     it ({} bytes); it is kept as it is and recorded as torn",
                    t.line, t.bytes
                ),
            });
        }
        if let Some(prev) = &report.took_over {
            engine.emit(Event::Notice {
                level: Level::Warn,
                text: format!(
                    "took over the lock of {prev}, which no longer runs; recorded in the journal"
                ),
            });
        }
        Ok(engine)
    }

    fn emit(&self, event: Event) {
        // A front end that has gone away does not stop the engine at a bad point;
        // the journal is the record either way.
        let _ = self.events.send(event);
    }

    fn record(&self, event: JournalEvent) -> Result<()> {
        record_in(&self.journal, event)
    }

    /// The journal, for reading; a writer that panicked earlier is an error.
    fn journal(&self) -> Result<std::sync::MutexGuard<'_, Journal>> {
        lock(&self.journal)
    }

    /// What the journal holds when the engine opens it: the fold and the sessions
    /// so far, for the front end's first screen and its resume prompt.
    pub fn history(&self) -> Result<(JournalState, Vec<crate::journal::SessionSummary>)> {
        let journal = self.journal()?;
        Ok((journal.state(), crate::journal::sessions(journal.entries())))
    }

    /// Where the journal is, for the message that says how to resume.
    pub fn journal_path(&self) -> Result<std::path::PathBuf> {
        Ok(self.journal()?.path().to_path_buf())
    }

    fn state(&self) -> Result<JournalState> {
        Ok(self.journal()?.state())
    }

    /// Runs until every step is done, a step fails, a gate waits without an answer,
    /// the `until` step is done, or the front end asks to stop.
    pub async fn run(mut self) -> Result<RunEnd> {
        let steps = plan(&self.config);
        let state = self.state()?;
        let resumed = state
            .steps
            .values()
            .any(|r| r.status != StepStatus::Pending);
        self.record(JournalEvent::SessionStarted {
            party: self.config.party,
            mode: self.options.mode.to_string(),
            resumed,
        })?;
        let done = steps
            .iter()
            .filter(|p| {
                matches!(
                    state.status(p.step.id.0),
                    StepStatus::Done | StepStatus::Skipped
                )
            })
            .count();
        self.emit(Event::RunStarted {
            resumed,
            done,
            total: steps.len(),
        });

        let next = steps
            .iter()
            .find(|p| {
                !matches!(
                    state.status(p.step.id.0),
                    StepStatus::Done | StepStatus::Skipped
                )
            })
            .map(|p| p.step.id);
        // Nothing left to do: no hold, the run finishes at once.
        let end = if self.options.hold
            && next.is_some()
            && !self.hold_here(Hold::Start { resumed, next }).await
        {
            Ok(RunEnd::Paused { waiting: None })
        } else {
            self.run_steps(&steps).await
        };
        let reason = match &end {
            Ok(RunEnd::Finished) => "finished".to_string(),
            Ok(RunEnd::ReachedUntil { step }) => format!("stopped after {step} (--until)"),
            Ok(RunEnd::Failed { step }) => format!("step {step} failed"),
            Ok(RunEnd::Paused {
                waiting: Some(step),
            }) => format!("paused; {step} waits"),
            Ok(RunEnd::Paused { waiting: None }) => "paused".to_string(),
            Err(e) => format!("stopped by an error: {e:#}"),
        };
        // Ending the session is recorded even when the run ended in an error.
        let ended = self.record(JournalEvent::SessionEnded { reason });
        let end = end?;
        ended?;
        self.emit(Event::RunEnded(end.clone()));
        Ok(end)
    }

    async fn run_steps(&mut self, steps: &[PlannedStep]) -> Result<RunEnd> {
        let mut i = 0;
        while let Some(planned) = steps.get(i) {
            // After a rollback at a hold, the steps it reset are ahead again.
            if std::mem::take(&mut self.rewind) && i > 0 {
                i = 0;
                continue;
            }
            let id = planned.step.id;
            self.drain_commands();
            // A pause holds here with `hold`; a quit, or a pause without it, ends the run.
            let hold = self.stop == Some(Stop::Pause) && self.options.hold;
            if self.stop.is_some() {
                if !hold || !self.hold_here(Hold::Paused { next: Some(id) }).await {
                    return Ok(RunEnd::Paused { waiting: None });
                }
                // From the top of the loop: a rollback at the hold may have put
                // earlier steps back.
                continue;
            }
            let state = self.state()?;
            let record = state.step(id.0).cloned().unwrap_or_default();
            match record.status {
                StepStatus::Done | StepStatus::Skipped if self.options.until == Some(id) => {
                    return Ok(RunEnd::ReachedUntil { step: id });
                }
                StepStatus::Done | StepStatus::Skipped => {
                    i += 1;
                    continue;
                }
                StepStatus::Running => {
                    if self.recheck(planned).await? {
                        if self.options.until == Some(id) {
                            return Ok(RunEnd::ReachedUntil { step: id });
                        }
                        i += 1;
                        continue;
                    }
                }
                StepStatus::Pending | StepStatus::Failed => {}
            }
            if let Some(need) = planned.need {
                let already = record
                    .unused_confirmation
                    .as_ref()
                    .is_some_and(|c| c.need == need);
                if !already {
                    match self.ask(planned, need).await? {
                        Answer::Confirmed => {}
                        Answer::Skipped if self.options.until == Some(id) => {
                            return Ok(RunEnd::ReachedUntil { step: id });
                        }
                        Answer::Skipped => {
                            i += 1;
                            continue;
                        }
                        // Paused at the gate: hold there, and ask again on `Run`.
                        Answer::Stop
                            if self.options.hold
                                && self.commands_open
                                && self.stop != Some(Stop::Quit) =>
                        {
                            if self.hold_here(Hold::Paused { next: Some(id) }).await {
                                continue;
                            }
                            return Ok(RunEnd::Paused { waiting: Some(id) });
                        }
                        Answer::Stop => return Ok(RunEnd::Paused { waiting: Some(id) }),
                    }
                }
            }
            let result = self.attempt(planned, record.attempts + 1).await?;
            if result.outcome == Outcome::Stopped {
                // Paused at the step's question: hold there with `hold`, and run the
                // step again on `Run`.
                if self.options.hold
                    && self.commands_open
                    && self.stop != Some(Stop::Quit)
                    && self.hold_here(Hold::Paused { next: Some(id) }).await
                {
                    continue;
                }
                return Ok(RunEnd::Paused { waiting: Some(id) });
            }
            if result.outcome == Outcome::Failed {
                // With `hold`, `Run` retries the step: the loop comes back to it.
                if self.options.hold
                    && self.stop != Some(Stop::Quit)
                    && self.hold_here(Hold::Failed { step: id }).await
                {
                    continue;
                }
                return Ok(RunEnd::Failed { step: id });
            }
            if self.options.until == Some(id) {
                return Ok(RunEnd::ReachedUntil { step: id });
            }
            i += 1;
        }
        Ok(RunEnd::Finished)
    }

    /// Holds at a safe point until `Run` (true) or `Quit` (false). A closed command
    /// channel is a quit: the front end has gone.
    async fn hold_here(&mut self, hold: Hold) -> bool {
        // Journaled, so a second person following the journal sees the run hold too.
        let (at, step) = match &hold {
            Hold::Start { next, .. } => (HeldAt::Start, *next),
            Hold::Paused { next } => (HeldAt::Paused, *next),
            Hold::Failed { step } => (HeldAt::Failed, Some(*step)),
        };
        if let Err(e) = self.record(JournalEvent::RunHeld {
            hold: at,
            step: step.map(|s| s.0.to_string()),
        }) {
            // Nothing is lost but a watcher's view of the hold; the run holds all the same.
            self.emit(Event::Notice {
                level: Level::Warn,
                text: format!("the hold could not be journaled: {e:#}"),
            });
        }
        self.emit(Event::Holding(hold));
        self.stop = None;
        while self.commands_open {
            match self.commands.recv().await {
                Some(Command::Run) => return true,
                Some(Command::Quit) | None => break,
                Some(Command::Pause) => {}
                Some(Command::RollBack { text }) => {
                    if self.roll_back(&text).await {
                        // Hold again, before the first step to do again.
                        self.rewind = true;
                        let next = self.first_pending();
                        self.emit(Event::Holding(Hold::Paused { next }));
                    }
                }
                Some(Command::Confirm { step, .. } | Command::Skip { step, .. }) => {
                    self.emit(Event::ConfirmRefused {
                        step,
                        reason: format!("step {step} is not waiting for an answer"),
                    });
                }
            }
        }
        self.stop = Some(Stop::Quit);
        false
    }

    /// The first step of the plan the journal does not show as done or skipped.
    fn first_pending(&self) -> Option<StepId> {
        let state = self.state().ok()?;
        plan(&self.config)
            .iter()
            .find(|p| {
                !matches!(
                    state.status(p.step.id.0),
                    StepStatus::Done | StepStatus::Skipped
                )
            })
            .map(|p| p.step.id)
    }

    fn refuse_rollback(&self) {
        self.emit(Event::Notice {
            level: Level::Warn,
            text: "a rollback runs only while the run holds (before it starts, paused, or after \
                   a failure): pause first"
                .to_string(),
        });
    }

    /// Rolls the source back while the run holds (the wizard's `R`); true when it did, and the
    /// journal now shows the steps the runbook's rollback undoes as to be done again.
    async fn roll_back(&mut self, text: &str) -> bool {
        let spec = match self.rollback_allowed(text) {
            Ok(spec) => spec,
            Err(e) => {
                self.emit(Event::Notice {
                    level: Level::Warn,
                    text: format!("{e:#}"),
                });
                return false;
            }
        };
        let (level, text, done) = match self.rolled_back(spec).await {
            Ok(report) if !report.failed() => (Level::Info, report.summary(), true),
            Ok(report) => (Level::Error, report.summary(), false),
            Err(e) => (Level::Error, format!("{e:#}"), false),
        };
        self.emit(Event::Notice { level, text });
        done
    }

    /// The runbook's rollback, when `text` is its phrase and the destination has not taken
    /// over; otherwise why not (bad input for a runbook without a rollback).
    fn rollback_allowed(&self, text: &str) -> Result<&'static Rollback> {
        let book = self.config.runbook();
        let Some(spec) = book.rollback.as_ref() else {
            return Err(bad_input(format!(
                "runbook {} has no rollback; undo its steps by hand with their procedures",
                book.id
            )));
        };
        if text != spec.phrase {
            bail!("rollback not started: type exactly: {}", spec.phrase);
        }
        if let Some(reason) = rollback::taken_over(spec, &self.state()?) {
            bail!("rollback refused: {reason}");
        }
        Ok(spec)
    }

    /// Runs the runbook's rollback and journals it: when every workload came back, a
    /// `rolled-back` entry with the steps to do again. Its lines go out as notices.
    async fn rolled_back(&self, spec: &'static Rollback) -> Result<RollbackReport> {
        let action = steps::rollback_of(self.config.runbook)
            .with_context(|| format!("runbook {} has no rollback", self.config.runbook))?;
        let state = self.state()?;
        let events = self.events.clone();
        let log = move |line: &str| {
            let _ = events.send(Event::Notice {
                level: Level::Info,
                text: format!("rollback: {line}"),
            });
        };
        let report = action.run(&self.config, &state, &log).await?;
        if report.failed() {
            return Ok(report);
        }
        let steps = rollback::steps_to_redo(&plan(&self.config), spec, &state);
        self.record(JournalEvent::RolledBack {
            steps: steps.clone(),
            summary: report.summary(),
        })
        .context("rolled back, but it could not be journaled")?;
        let book = self.config.runbook();
        for step in steps.iter().filter_map(|s| book.step(s)) {
            self.emit(Event::StepFinished {
                step: step.id,
                outcome: Outcome::Stopped,
                summary: "rolled back; to be done again".to_string(),
                figures: Map::new(),
            });
        }
        Ok(report)
    }

    /// `cutover rollback`: a session of its own (mode `rollback`) that rolls the source back
    /// and ends, with everything in the journal. `Quit` (a signal) stops it where it is; running
    /// it again finishes it. A wrong phrase, a runbook without a rollback and a destination that
    /// has taken over are errors, and then nothing is journaled.
    pub async fn run_rollback(mut self, text: &str) -> Result<RollbackEnd> {
        let spec = self.rollback_allowed(text)?;
        self.record(JournalEvent::SessionStarted {
            party: self.config.party,
            mode: self.options.mode.to_string(),
            resumed: true,
        })?;
        let (_, closed) = tokio::sync::mpsc::unbounded_channel();
        let mut commands = std::mem::replace(&mut self.commands, closed);
        // Only a Quit stops it; a front end that goes away lets it finish.
        let quit = async {
            while let Some(c) = commands.recv().await {
                if c == Command::Quit {
                    return;
                }
            }
            std::future::pending::<()>().await
        };
        let end = tokio::select! {
            r = self.rolled_back(spec) => r.map(|report| if report.failed() {
                RollbackEnd::Incomplete(report)
            } else {
                RollbackEnd::RolledBack(report)
            }),
            () = quit => Ok(RollbackEnd::Interrupted),
        };
        let reason = match &end {
            Ok(RollbackEnd::RolledBack(report) | RollbackEnd::Incomplete(report)) => {
                report.summary()
            }
            Ok(RollbackEnd::Interrupted) => {
                "rollback interrupted by a signal; run `cutover rollback` again to finish it"
                    .to_string()
            }
            Err(e) => format!("rollback stopped by an error: {e:#}"),
        };
        self.record(JournalEvent::SessionEnded { reason })
            .context("the rollback ended but could not be journaled")?;
        end
    }

    /// Processes commands that arrived between steps.
    fn drain_commands(&mut self) {
        while self.commands_open {
            match self.commands.try_recv() {
                Ok(Command::Pause) => self.stop = self.stop.or(Some(Stop::Pause)),
                Ok(Command::Quit) => self.stop = Some(Stop::Quit),
                Ok(Command::Run) => self.stop = None,
                Ok(Command::RollBack { .. }) => self.refuse_rollback(),
                Ok(Command::Confirm { step, .. } | Command::Skip { step, .. }) => {
                    self.emit(Event::ConfirmRefused {
                        step,
                        reason: format!("step {step} is not waiting for an answer"),
                    });
                }
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                    self.commands_open = false;
                    self.stop = Some(Stop::Quit);
                }
            }
        }
    }

    fn context(&self, planned: &PlannedStep) -> Result<StepContext> {
        let history = Arc::new(self.state()?);
        let journal = Arc::clone(&self.journal);
        let facts: steps::FactRecorder = Arc::new(move |step: StepId, key: &str, value: Value| {
            let fact = JournalEvent::StepFact {
                step: step.0.to_string(),
                key: key.to_string(),
                value,
            };
            record_in(&journal, fact)
        });
        Ok(StepContext {
            config: Arc::clone(&self.config),
            step: planned.step,
            sink: StepSink::new(
                planned.step.id,
                self.events.clone(),
                facts,
                Some(self.config.migration_dir().join("logs")),
            ),
            history,
            // A re-check cannot be asked to stop; an attempt gets a channel of its own.
            stop: tokio::sync::watch::channel(false).1,
            own_actions: plan(&self.config)
                .iter()
                .filter(|p| !p.hand_off)
                .filter_map(|p| p.step.action)
                .collect(),
        })
    }

    /// Re-checks a step the journal shows as interrupted. True when its end state
    /// holds and it is now recorded as done.
    async fn recheck(&mut self, planned: &PlannedStep) -> Result<bool> {
        let id = planned.step.id;
        self.emit(Event::StepRechecking { step: id });
        let action = match planned.runs_as {
            StepKind::Manual => None,
            _ => planned
                .step
                .action
                .and_then(|a| steps::implementation(a).automated()),
        };
        let verdict = match action {
            None => Recheck::DoesNotHold(
                "cutover cannot verify a manual step by itself; confirm it again".to_string(),
            ),
            Some(action) => {
                let ctx = self.context(planned)?;
                match action.check(&ctx).await {
                    Ok(v) => v,
                    Err(e) => Recheck::DoesNotHold(format!("the re-check failed: {e:#}")),
                }
            }
        };
        let (holds, detail) = match verdict {
            Recheck::Holds(d) => (true, d),
            Recheck::DoesNotHold(d) => (false, d),
        };
        self.record(JournalEvent::StepRechecked {
            step: id.0.to_string(),
            holds,
            detail: detail.clone(),
        })?;
        self.emit(Event::StepRechecked {
            step: id,
            holds,
            detail: detail.clone(),
        });
        if holds {
            let summary = format!("verified after the interrupted attempt: {detail}");
            self.record(JournalEvent::StepFinished {
                step: id.0.to_string(),
                outcome: Outcome::Passed,
                summary: summary.clone(),
                figures: Map::new(),
            })?;
            self.emit(Event::StepFinished {
                step: id,
                outcome: Outcome::Passed,
                summary,
                figures: Map::new(),
            });
        }
        Ok(holds)
    }

    /// Waits for the operator's answer to what a step needs, and journals it.
    async fn ask(&mut self, planned: &PlannedStep, need: Need) -> Result<Answer> {
        let id = planned.step.id;
        let request = planned.request(&self.config, need);
        self.record(JournalEvent::StepWaiting {
            step: id.0.to_string(),
            need,
            question: None,
            phrase: None,
            alternatives: Vec::new(),
        })?;
        self.emit(Event::Waiting(request.clone()));
        loop {
            if self.stop.is_some() || !self.commands_open {
                return Ok(Answer::Stop);
            }
            let Some(command) = self.commands.recv().await else {
                self.commands_open = false;
                self.stop = Some(Stop::Quit);
                return Ok(Answer::Stop);
            };
            match command {
                Command::Pause => {
                    self.stop = Some(Stop::Pause);
                    return Ok(Answer::Stop);
                }
                Command::Quit => {
                    self.stop = Some(Stop::Quit);
                    return Ok(Answer::Stop);
                }
                Command::Run => {}
                Command::RollBack { .. } => self.refuse_rollback(),
                Command::Skip { step, reason } if step == id => {
                    if reason.trim().is_empty() {
                        self.emit(Event::ConfirmRefused {
                            step: id,
                            reason: "a skip needs a reason; it is recorded".to_string(),
                        });
                        continue;
                    }
                    self.record(JournalEvent::StepSkipped {
                        step: id.0.to_string(),
                        reason: reason.clone(),
                    })?;
                    self.emit(Event::StepSkipped { step: id, reason });
                    return Ok(Answer::Skipped);
                }
                Command::Confirm { step, text } if step == id => {
                    match check_answer(&request, text) {
                        Ok(text) => {
                            self.record(JournalEvent::StepConfirmed {
                                step: id.0.to_string(),
                                confirmation: Confirmation {
                                    need,
                                    text,
                                    party: self.config.party,
                                },
                            })?;
                            return Ok(Answer::Confirmed);
                        }
                        Err(reason) => self.emit(Event::ConfirmRefused { step: id, reason }),
                    }
                }
                Command::Confirm { step, .. } | Command::Skip { step, .. } => {
                    self.emit(Event::ConfirmRefused {
                        step,
                        reason: format!("step {step} is not waiting; {id} is"),
                    });
                }
            }
        }
    }

    /// One attempt of a step: start journaled, action, end journaled.
    async fn attempt(&mut self, planned: &PlannedStep, attempt: u32) -> Result<StepResult> {
        let id = planned.step.id;
        // Who the operator said did a hand-off, before the start uses the confirmation.
        let done_by = self
            .state()?
            .step(id.0)
            .and_then(|r| r.unused_confirmation.as_ref())
            .and_then(|c| c.text.clone());
        self.record(JournalEvent::StepStarted {
            step: id.0.to_string(),
            attempt,
            runs_as: planned.runs_as.to_string(),
        })?;
        self.emit(Event::StepStarted {
            step: id,
            attempt,
            runs_as: planned.runs_as,
        });

        let action = match planned.runs_as {
            StepKind::Manual => None,
            _ => planned
                .step
                .action
                .and_then(|a| steps::implementation(a).automated()),
        };
        let result = match action {
            None => self.manual_done(planned, done_by.as_deref()).await,
            Some(action) => {
                let (questions, mut asked) = tokio::sync::mpsc::unbounded_channel();
                let (stop_step, stop) = tokio::sync::watch::channel(false);
                let mut ctx = self.context(planned)?;
                ctx.sink = ctx.sink.with_questions(questions);
                ctx.stop = stop;
                let fut = action.run(&ctx);
                tokio::pin!(fut);
                // The question the step waits on, with where its answer goes.
                let mut pending: Option<(Request, tokio::sync::oneshot::Sender<Option<String>>)> =
                    None;
                loop {
                    if !self.commands_open {
                        if let Some((_, reply)) = pending.take() {
                            let _ = reply.send(None);
                        }
                        break fut.await;
                    }
                    tokio::select! {
                        biased;
                        r = &mut fut => break r,
                        q = asked.recv() => {
                            // Asked to pause or quit: a question is not put any more, the
                            // step ends at once without its answer.
                            let q = match q {
                                Some((_, reply)) if self.stop.is_some() => {
                                    let _ = reply.send(None);
                                    continue;
                                }
                                q => q,
                            };
                            if let Some((question, reply)) = q {
                                let mut request = planned.request(&self.config, Need::Typed);
                                request.question = Some(question.text);
                                request.phrase = Some(question.phrase);
                                request.alternatives = question.alternatives;
                                self.record(JournalEvent::StepWaiting {
                                    step: id.0.to_string(),
                                    need: Need::Typed,
                                    question: request.question.clone(),
                                    phrase: request.phrase.clone(),
                                    alternatives: request.alternatives.clone(),
                                })?;
                                self.emit(Event::Waiting(request.clone()));
                                pending = Some((request, reply));
                            }
                        }
                        c = self.commands.recv() => match c {
                            Some(Command::Confirm { step, text }) if step == id && pending.is_some() => {
                                let Some((request, reply)) = pending.take() else { continue };
                                match check_answer(&request, text) {
                                    Ok(text) => {
                                        self.record(JournalEvent::StepConfirmed {
                                            step: id.0.to_string(),
                                            confirmation: Confirmation {
                                                need: Need::Typed,
                                                text: text.clone(),
                                                party: self.config.party,
                                            },
                                        })?;
                                        self.emit(Event::Answered { step: id });
                                        let _ = reply.send(text);
                                    }
                                    Err(reason) => {
                                        self.emit(Event::ConfirmRefused { step: id, reason });
                                        pending = Some((request, reply));
                                    }
                                }
                            }
                            Some(Command::Skip { step, .. }) if step == id && pending.is_some() => {
                                self.emit(Event::ConfirmRefused {
                                    step: id,
                                    reason: "a running step cannot be skipped; answer its question, \
                                             or pause"
                                        .to_string(),
                                });
                            }
                            Some(c @ (Command::Pause | Command::Quit)) => {
                                // A question left unanswered ends the step early.
                                if let Some((_, reply)) = pending.take() {
                                    let _ = reply.send(None);
                                }
                                let (stop, what) = if c == Command::Quit {
                                    (Stop::Quit, "stopping")
                                } else {
                                    (Stop::Pause, "pausing")
                                };
                                self.stop = Some(if self.stop == Some(Stop::Quit) { Stop::Quit } else { stop });
                                // A step in a long wait ends it now; others finish first.
                                let _ = stop_step.send(true);
                                self.emit(Event::Notice {
                                    level: Level::Info,
                                    text: format!("{what} after {id} finishes"),
                                });
                            }
                            Some(Command::Run) => self.stop = None,
                            Some(Command::RollBack { .. }) => self.refuse_rollback(),
                            Some(Command::Confirm { step, .. } | Command::Skip { step, .. }) => {
                                self.emit(Event::ConfirmRefused {
                                    step,
                                    reason: format!("step {step} is not waiting for an answer"),
                                });
                            }
                            None => {
                                self.commands_open = false;
                                self.stop = Some(Stop::Quit);
                                if let Some((_, reply)) = pending.take() {
                                    let _ = reply.send(None);
                                }
                            }
                        },
                    }
                }
                .unwrap_or_else(|e| StepResult::failed(format!("{e:#}"), Map::new()))
            }
        };
        self.record(JournalEvent::StepFinished {
            step: id.0.to_string(),
            outcome: result.outcome,
            summary: result.summary.clone(),
            figures: result.figures.clone(),
        })
        .with_context(|| {
            format!(
                "{id} ended ({:?}) but could not be journaled",
                result.outcome
            )
        })?;
        self.emit(Event::StepFinished {
            step: id,
            outcome: result.outcome,
            summary: result.summary.clone(),
            figures: result.figures.clone(),
        });
        Ok(result)
    }
}

/// The result of a manual step or hand-off: what the operator confirmed.
impl Engine {
    /// A confirmed manual step's result; in a rehearsal, once its stand-in has done the work.
    async fn manual_done(&self, planned: &PlannedStep, done_by: Option<&str>) -> StepResult {
        let mut result = manual_result(planned, done_by);
        let Some(stand_in) = &self.options.stand_in else {
            return result;
        };
        let step = planned.step.id;
        match stand_in.done(step).await {
            Ok(Some(what)) => {
                self.emit(Event::StepLog {
                    step,
                    level: Level::Info,
                    line: what.clone(),
                });
                result.summary = format!("{}; {what}", result.summary);
            }
            Ok(None) => {}
            Err(e) => {
                result = StepResult::failed(
                    format!(
                        "the rehearsal's sandbox could not do what this step does by hand: {e:#}"
                    ),
                    Map::new(),
                );
            }
        }
        result
    }
}

fn manual_result(planned: &PlannedStep, done_by: Option<&str>) -> StepResult {
    let summary = if planned.hand_off {
        match done_by {
            Some(who) => format!(
                "done by {who} ({}), hand-off confirmed",
                planned.owner.label()
            ),
            None => format!("done by {} (hand-off confirmed)", planned.owner.label()),
        }
    } else {
        "done by hand (confirmed)".to_string()
    };
    StepResult::passed(summary, Map::new())
}

/// Checks an answer against what was asked; returns the text to journal.
fn check_answer(request: &Request, text: Option<String>) -> Result<Option<String>, String> {
    match (request.need, request.phrase.as_deref()) {
        (Need::Typed | Need::Manual, Some(phrase)) => {
            let accepted = |t: &str| t == phrase || request.alternatives.iter().any(|a| a == t);
            let wanted = std::iter::once(phrase)
                .chain(request.alternatives.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" or ");
            match text {
                Some(t) if accepted(&t) => Ok(Some(t)),
                Some(_) => Err(format!("the text does not match; type exactly: {wanted}")),
                None => Err(format!("this step needs the typed phrase: {wanted}")),
            }
        }
        (Need::HandOff, _) => Ok(text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())),
        _ => Ok(None),
    }
}

/// Appends `event` to the shared journal and makes it durable.
fn record_in(journal: &Mutex<Journal>, event: JournalEvent) -> Result<()> {
    lock(journal)?.append(event)?;
    Ok(())
}

fn lock(journal: &Mutex<Journal>) -> Result<std::sync::MutexGuard<'_, Journal>> {
    journal
        .lock()
        .map_err(|_| anyhow!("the journal writer failed earlier; stop and resume"))
}
