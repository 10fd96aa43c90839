//! The messages between the engine and a front end. The engine, the monitors and the
//! follower send Events; a front end renders them and answers with Commands. Nothing else
//! passes between them, so a new front end needs no engine change.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::runbook::{Need, Outcome, Party, StepId, StepKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// What a waiting step needs, with everything a front end shows to ask for it.
#[derive(Clone, Debug, Serialize)]
pub struct Request {
    pub step: StepId,
    pub title: &'static str,
    pub need: Need,
    /// The exact phrase to type, for a typed gate or a running step's question.
    pub phrase: Option<String>,
    /// A question a running step asks (e.g. to accept the loss of the jobs still
    /// queued), shown above the phrase; None for a step's gate.
    pub question: Option<String>,
    /// Other phrases the question accepts, where the operator chooses between answers.
    pub alternatives: Vec<String>,
    /// The party that owns the step, for a hand-off.
    pub owner: Party,
    /// What the step changes, rendered from the config (destructive steps).
    pub changes: Option<String>,
    /// The manual procedure, rendered from the config.
    pub procedure: String,
    /// When the step applies only under a condition the config leaves open.
    pub condition: Option<String>,
}

/// One queue's depth at one moment, from the queue monitor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QueueSample {
    /// e.g. `resque:queue:priority`, or `queue:mailers` (Sidekiq).
    pub name: String,
    pub depth: u64,
}

/// One workload's scaling state at one moment, from the pod monitor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorkloadSample {
    /// e.g. `deployment/system-app`.
    pub name: String,
    pub desired: u32,
    pub ready: u32,
    /// Pods that exist, terminating ones included.
    pub current: u32,
    /// `Running`, `Terminating`, `Scaled down`... as the monitor words it.
    pub phase: String,
    /// The replica count recorded before scale-down, when there is one.
    pub original: Option<u32>,
}

/// Which of Velero's objects a [`VeleroSample`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VeleroKind {
    Backup,
    Restore,
}

impl VeleroKind {
    /// `backup` / `restore`, as `velero` names them.
    pub fn as_str(self) -> &'static str {
        match self {
            VeleroKind::Backup => "backup",
            VeleroKind::Restore => "restore",
        }
    }
}

/// One Velero Backup or Restore at one moment, from the Velero monitor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VeleroSample {
    pub kind: VeleroKind,
    pub name: String,
    /// `New` (not taken by the server yet), `InProgress`, `Completed`, `PartiallyFailed`...
    pub phase: String,
    /// Items backed up or restored so far (`status.progress`).
    pub items_done: u64,
    pub total_items: u64,
    pub warnings: u64,
    pub errors: u64,
    /// `status.startTimestamp`; None while the server has not started it.
    pub started: Option<DateTime<Utc>>,
}

/// Why the engine holds between steps, waiting for `Run` or `Quit` (only when the
/// front end asked it to hold: the full-screen wizard does, headless does not).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "hold")]
pub enum Hold {
    /// Before the first step of a session: the operator starts the run.
    Start {
        resumed: bool,
        /// The step the run goes to first, if any is left.
        next: Option<StepId>,
    },
    /// A pause asked for was reached at a safe point.
    Paused { next: Option<StepId> },
    /// A step failed; `Run` retries it.
    Failed { step: StepId },
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "end")]
pub enum RunEnd {
    /// Every step of the path is done or skipped.
    Finished,
    /// The step named by `--until` is done.
    ReachedUntil { step: StepId },
    /// A step failed; the run stopped after it.
    Failed { step: StepId },
    /// Paused or quit by the operator while a step waited or between steps.
    Paused { waiting: Option<StepId> },
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case", tag = "event")]
pub enum Event {
    RunStarted {
        resumed: bool,
        done: usize,
        total: usize,
    },
    /// Something the operator must read that is not about one step.
    Notice {
        level: Level,
        text: String,
    },
    StepRechecking {
        step: StepId,
    },
    StepRechecked {
        step: StepId,
        holds: bool,
        detail: String,
    },
    Waiting(Request),
    /// A confirmation was refused (e.g. the typed phrase did not match).
    ConfirmRefused {
        step: StepId,
        reason: String,
    },
    StepStarted {
        step: StepId,
        attempt: u32,
        runs_as: StepKind,
    },
    StepProgress {
        step: StepId,
        done: u64,
        total: Option<u64>,
        unit: &'static str,
    },
    StepLog {
        step: StepId,
        level: Level,
        line: String,
    },
    /// A running step waits at most until `until` (an agreed time, counted from `since`, which
    /// a resumed attempt keeps): the screen counts down to it.
    StepDeadline {
        step: StepId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    StepFinished {
        step: StepId,
        outcome: Outcome,
        summary: String,
        figures: Map<String, Value>,
    },
    StepSkipped {
        step: StepId,
        reason: String,
    },
    /// A running step's question was answered; the step goes on.
    Answered {
        step: StepId,
    },
    /// The engine holds at a safe point until `Run` or `Quit`.
    Holding(Hold),
    RunEnded(RunEnd),
    /// Queue depths from the queue monitor (`source` is the redacted store).
    QueueDepths {
        source: String,
        queues: Vec<QueueSample>,
    },
    /// Workloads of one namespace from the pod monitor (`scope`: `source / 3scale`).
    Workloads {
        scope: String,
        workloads: Vec<WorkloadSample>,
    },
    /// Velero's Backups and Restores on the cluster acted on, newest first and bounded, from
    /// the Velero monitor (`scope`: `destination / velero`).
    VeleroObjects {
        scope: String,
        objects: Vec<VeleroSample>,
    },
    /// A monitor could not read its figures; the panel keeps its last ones.
    MonitorProblem {
        monitor: &'static str,
        text: String,
    },
    /// Who runs the migration a read-only screen follows (None: nobody now). Sent by the
    /// follower when it starts and whenever another session takes the migration or ends.
    RunBy {
        operator: Option<Operator>,
    },
}

/// Who runs a migration, as its journal and lock say.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Operator {
    pub name: String,
    /// From the session's start in the journal; None when the journal does not say.
    pub party: Option<Party>,
    pub host: String,
}

impl Operator {
    /// `Ana (Customer)`, or `Ana` when the party is not known.
    pub fn label(&self) -> String {
        match self.party {
            Some(p) => format!("{} ({})", self.name, p.label()),
            None => self.name.clone(),
        }
    }
}

/// What a front end asks of the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Confirm what a waiting step needs; `text` is the typed phrase, or for a
    /// hand-off the name of who did the step.
    Confirm { step: StepId, text: Option<String> },
    /// Skip a waiting step, with the reason recorded.
    Skip { step: StepId, reason: String },
    /// Hold at the next safe point (a gate, or the end of the running step) until
    /// `Run` or `Quit`.
    Pause,
    /// Go on after a pause.
    Run,
    /// Stop at the next safe point and end the session; the journal says how to
    /// resume.
    Quit,
    /// Roll the source back (every recorded workload to its recorded replicas) while
    /// the run holds; `text` must be the rollback phrase.
    RollBack { text: String },
}
