//! What a running step gets: the config, its runbook entry, and a sink for logs,
//! progress and facts. Steps never draw and never touch the journal themselves.

use crate::infra::artifacts::Report;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use chrono::Utc;
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

use crate::config::Config;
use crate::event::{Event, Level};
use crate::infra::kube::KubeCluster;
use crate::journal::JournalState;
use crate::runbook::{Action, ClusterRole, Step, StepId};

/// The fact a step's agreed wait is recorded in (see `StepSink::deadline`).
pub const DEADLINE_FACT: &str = "deadline";

/// Records a fact in the journal before returning (provided by the engine).
pub type FactRecorder = Arc<dyn Fn(StepId, &str, Value) -> Result<()> + Send + Sync>;

/// A question a running step puts to the operator, answered by typing `phrase`
/// exactly (e.g. the number of queued jobs whose loss the operator accepts), or one of
/// `alternatives` where the operator chooses between answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Question {
    pub text: String,
    pub phrase: String,
    pub alternatives: Vec<String>,
}

/// Where a step's questions go, each with the channel its answer comes back on:
/// the typed phrase, or None when the operator stopped the run instead.
pub type QuestionSender = UnboundedSender<(Question, tokio::sync::oneshot::Sender<Option<String>>)>;

pub struct StepContext {
    pub config: Arc<Config>,
    pub step: &'static Step,
    pub sink: StepSink,
    /// The journal's state when this attempt started: earlier steps' facts (the
    /// inventory, recorded replica counts) and this step's own from an interrupted
    /// attempt.
    pub history: Arc<JournalState>,
    /// The actions of the plan's steps this operator does themselves (not hand-offs), in plan
    /// order: what the access check asks permissions for.
    pub own_actions: Vec<Action>,
    /// Turns true when the operator pauses or quits while the step runs; a step that waits a
    /// long time (the drain) ends its wait then, at a safe point.
    pub stop: tokio::sync::watch::Receiver<bool>,
}

impl StepContext {
    /// Whether the operator asked to pause or quit while the step runs.
    pub fn stop_requested(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves when the operator asks to pause or quit; never, for a step that cannot be
    /// asked (a re-check).
    pub async fn stop_request(&self) {
        let mut stop = self.stop.clone();
        if stop.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// A connection to the configured cluster of `role`; without one in the config, a message
    /// that says to add it.
    pub async fn cluster(&self, role: ClusterRole) -> Result<KubeCluster> {
        let cluster = self.config.cluster(role).with_context(|| {
            format!("the config has no [{role}] cluster; add it with its kubeconfig and namespace")
        })?;
        KubeCluster::connect(&cluster.target()).await
    }

    /// A failure the operator reads as an error: logged, and the step's result.
    pub fn failed(&self, why: impl Into<String>) -> super::result::StepResult {
        self.failed_with(why, serde_json::Map::new())
    }

    /// [`failed`](Self::failed) with the figures gathered so far.
    pub fn failed_with(
        &self,
        why: impl Into<String>,
        figures: serde_json::Map<String, Value>,
    ) -> super::result::StepResult {
        let why = why.into();
        self.sink.error(&why);
        super::result::StepResult::failed(why, figures)
    }

    /// A fact an earlier attempt of `step` recorded, if any.
    pub fn fact(&self, step: impl AsRef<str>, key: &str) -> Option<&Value> {
        self.history.step(step)?.facts.get(key)
    }

    /// Asks `question` and goes on only on its exact phrase: None then (the answer is logged
    /// as `the operator typed ...: <doing>`). Another answer fails the step, a pause or quit
    /// stops it; either way the result says that nothing was `<undone>`.
    pub async fn confirm(
        &self,
        question: Question,
        doing: &str,
        undone: &str,
    ) -> Result<Option<super::result::StepResult>> {
        use super::result::StepResult;
        let phrase = question.phrase.clone();
        Ok(match self.sink.ask(question).await? {
            Some(answer) if answer.trim() == phrase => {
                self.sink
                    .info(format!("the operator typed `{phrase}`: {doing}"));
                None
            }
            Some(_) => Some(StepResult::failed(
                format!("the answer was not `{phrase}`; nothing was {undone}"),
                serde_json::Map::new(),
            )),
            None => Some(StepResult::stopped(format!(
                "stopped before {doing}; nothing was {undone}"
            ))),
        })
    }
}

/// The word of a progress line in a step log (next to `Info`, `Warn`, `Error`):
/// `<time> Progress <done> <total or -> <unit>`, so a watcher can draw the gauge.
pub const PROGRESS_WORD: &str = "Progress";
/// Progress lines are written at most this often (and at the end of a transfer).
const PROGRESS_LINE_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Where a step reports: Events to the front end, lines to `logs/<step>.log`,
/// facts to the journal.
#[derive(Clone)]
pub struct StepSink {
    step: StepId,
    events: UnboundedSender<Event>,
    facts: FactRecorder,
    log_file: Arc<Mutex<Option<std::fs::File>>>,
    /// When the last progress line was written.
    progress_line: Arc<Mutex<Option<std::time::Instant>>>,
    questions: Option<QuestionSender>,
}

impl StepSink {
    pub fn new(
        step: StepId,
        events: UnboundedSender<Event>,
        facts: FactRecorder,
        logs_dir: Option<PathBuf>,
    ) -> StepSink {
        let file = logs_dir.and_then(|dir| {
            std::fs::create_dir_all(&dir).ok()?;
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(format!("{}.log", step.0)))
                .ok()
        });
        StepSink {
            step,
            events,
            facts,
            log_file: Arc::new(Mutex::new(file)),
            progress_line: Arc::new(Mutex::new(None)),
            questions: None,
        }
    }

    /// Lets the step ask the operator questions (the engine's front ends answer).
    pub fn with_questions(mut self, questions: QuestionSender) -> StepSink {
        self.questions = Some(questions);
        self
    }

    /// Asks the operator and waits for the answer: the typed phrase (journaled with
    /// who gave it before this returns), or None when the operator paused or quit
    /// instead; the step then ends without the answer and runs again on resume.
    pub async fn ask(&self, question: Question) -> Result<Option<String>> {
        let Some(questions) = &self.questions else {
            anyhow::bail!("this step asks a question, and nothing here can answer it");
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        questions
            .send((question, reply))
            .map_err(|_| anyhow::anyhow!("the engine stopped before the question was asked"))?;
        Ok(answer.await.unwrap_or(None))
    }

    pub fn log(&self, level: Level, line: impl Into<String>) {
        let line = line.into();
        if let Ok(mut guard) = self.log_file.lock()
            && let Some(f) = guard.as_mut()
        {
            // The log is a convenience copy; the journal holds what matters.
            let _ = writeln!(
                f,
                "{} {:?} {}",
                Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                level,
                line
            );
        }
        let _ = self.events.send(Event::StepLog {
            step: self.step,
            level,
            line,
        });
    }

    pub fn info(&self, line: impl Into<String>) {
        self.log(Level::Info, line);
    }

    pub fn warn(&self, line: impl Into<String>) {
        self.log(Level::Warn, line);
    }

    pub fn error(&self, line: impl Into<String>) {
        self.log(Level::Error, line);
    }

    pub fn progress(&self, done: u64, total: Option<u64>, unit: &'static str) {
        // A line in the step log too, spaced out, for a read-only screen's gauge.
        let due = self.progress_line.lock().is_ok_and(|mut last| {
            let due = total == Some(done)
                || last.is_none_or(|t: std::time::Instant| t.elapsed() >= PROGRESS_LINE_EVERY);
            if due {
                *last = Some(std::time::Instant::now());
            }
            due
        });
        if due
            && let Ok(mut guard) = self.log_file.lock()
            && let Some(f) = guard.as_mut()
        {
            let total = total.map_or_else(|| "-".to_string(), |t| t.to_string());
            let _ = writeln!(
                f,
                "{} {PROGRESS_WORD} {done} {total} {unit}",
                Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            );
        }
        let _ = self.events.send(Event::StepProgress {
            step: self.step,
            done,
            total,
            unit,
        });
    }

    /// The step's progress and log lines as an infra [`Report`]: `let r = sink.reporter();`
    /// then `r.report()` where a function takes one.
    pub fn reporter(&self) -> SinkReporter {
        let (progress, log) = (self.clone(), self.clone());
        SinkReporter {
            progress: Box::new(move |done, total, unit| progress.progress(done, total, unit)),
            log: Box::new(move |line| log.info(line)),
        }
    }

    /// Says that the step waits at most until `until`, counted from `since`: recorded as the
    /// fact `deadline` (so a watcher and a resumed attempt see it) and shown as a countdown.
    pub fn deadline(
        &self,
        since: chrono::DateTime<Utc>,
        until: chrono::DateTime<Utc>,
    ) -> Result<()> {
        self.record_fact(
            DEADLINE_FACT,
            serde_json::json!({ "since": since.to_rfc3339(), "until": until.to_rfc3339() }),
        )?;
        let _ = self.events.send(Event::StepDeadline {
            step: self.step,
            since,
            until,
        });
        Ok(())
    }

    /// Records a fact in the journal (fsynced) before the step goes on.
    pub fn record_fact(&self, key: &str, value: Value) -> Result<()> {
        (self.facts)(self.step, key, value)
    }
}

/// A step sink seen as an infra [`Report`].
pub struct SinkReporter {
    progress: Box<dyn Fn(u64, Option<u64>, &'static str) + Send + Sync>,
    log: Box<dyn Fn(String) + Send + Sync>,
}

impl SinkReporter {
    pub fn report(&self) -> Report<'_> {
        Report {
            progress: &*self.progress,
            log: &*self.log,
        }
    }
}
