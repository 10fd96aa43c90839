//! The view state: everything the screen shows, built from the plan and the
//! journal at start and then kept up by Events. Pure: no clock, no I/O; the time of
//! each change is passed in, so a test gets the same screen every time.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::logbuf::{LogBuffer, LogLine};
use super::panels::{PodsPanel, QueuePanel, VeleroPanel};
use super::resume::ResumePrompt;
use super::status::StepState;
use super::step_view::{LastResult, StepView};
use crate::config::Config;
use crate::event::{Hold, Level, Request};
use crate::infra::url::redact_text;
use crate::journal::JournalState;
use crate::plan::PlannedStep;
use crate::runbook::{AccessPath, Party, RunbookId, StepId};

/// What the header says about the migration; taken from the config so the view
/// does not keep the config (which holds secret references) around.
#[derive(Clone, Debug)]
pub struct ConfigSummary {
    pub migration: String,
    pub runbook: RunbookId,
    pub access_path: AccessPath,
    pub operator: String,
    pub party: Party,
    /// `[drain] threshold`, for the queue panel's time to threshold.
    pub drain_threshold: u64,
    /// This migration's folder (journal, logs, procedures written with `P`).
    pub migration_dir: std::path::PathBuf,
    /// Where the dumps and other artifacts go.
    pub dumps_folder: std::path::PathBuf,
}

impl ConfigSummary {
    pub fn of(config: &Config) -> ConfigSummary {
        ConfigSummary {
            migration: redact_text(&config.name),
            runbook: config.runbook,
            access_path: config.access_path,
            operator: redact_text(&config.operator),
            party: config.party,
            drain_threshold: config.drain.threshold,
            migration_dir: config.migration_dir(),
            dumps_folder: config.dumps.folder.clone(),
        }
    }
}

/// The panel that has the keyboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Panel {
    Steps,
    Detail,
    /// The live queue depths.
    Queues,
    /// The live workloads and their pods.
    Pods,
    /// Velero's Backups and Restores, and the backup's transfer.
    Velero,
    Log,
}

/// What the run is doing, for the header's marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMarker {
    /// No run started yet in this session.
    Idle,
    Running,
    /// Pause asked; the engine holds at the next safe point.
    Pausing,
    Paused,
    /// A step waits for the operator.
    Waiting,
    Finished,
    Failed,
}

/// What the open dialog asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogMode {
    /// The answer the waiting Request needs (yes, phrase, who did it).
    Answer,
    /// The reason for skipping the waiting step.
    SkipReason,
}

#[derive(Clone, Debug)]
pub struct ViewState {
    pub summary: ConfigSummary,
    pub runbook_title: &'static str,
    pub steps: Vec<StepView>,
    pub selected: usize,
    pub focus: Panel,
    pub log: LogBuffer,
    /// Show only the selected step's lines.
    pub log_follows_step: bool,
    /// Lines scrolled up from the newest.
    pub log_scroll: usize,
    /// Long log lines wrap instead of being cut.
    pub log_wrap: bool,
    /// Rows the queue panel and the pods panel are scrolled down, when they have the keyboard.
    pub queue_scroll: usize,
    pub pod_scroll: usize,
    /// Rows the Velero panel is scrolled down.
    pub velero_scroll: usize,
    /// The focused panel fills the screen below the header.
    pub zoomed: bool,
    /// The `/` search text, when one is set.
    pub search: Option<String>,
    /// The Request of the step waiting now, texts already safe.
    pub waiting: Option<Request>,
    pub dialog: DialogMode,
    /// What the operator typed so far in the dialog.
    pub input: String,
    /// Why the last answer was refused, shown in the dialog.
    pub refused: Option<String>,
    pub show_help: bool,
    /// Lines the help is scrolled down (it can be taller than a small screen).
    pub help_scroll: u16,
    pub show_procedure: bool,
    /// Lines the step detail is scrolled down, when it has the keyboard.
    pub detail_scroll: u16,
    /// The waiting step's dialog was closed with Esc; the step keeps waiting and
    /// Enter opens the dialog again.
    pub dialog_hidden: bool,
    /// The `/` search text is being typed.
    pub search_editing: bool,
    /// The selection follows the running step until the operator moves it; Esc
    /// goes back to following.
    pub follow_run: bool,
    /// The operator pressed q while a step runs or waits: asked to confirm.
    pub quit_asked: bool,
    /// The rollback prompt is open, with what was typed so far.
    pub rollback_input: Option<String>,
    /// Quit was sent; the session ends when the engine reaches a safe point.
    pub quitting: bool,
    /// How the engine's run ended, once it has.
    pub ended: Option<crate::event::RunEnd>,
    /// The resume prompt shown on start when the journal has history.
    pub resume: Option<ResumePrompt>,
    /// The operator asked to go on before the engine reached its first hold (it was still
    /// re-checking or taking the lock over): the run starts as soon as it holds.
    pub run_when_held: bool,
    /// A command the view sends by itself in answer to an event (see `run_when_held`); the
    /// event loop takes it after applying the events.
    pub outbox: Option<crate::event::Command>,
    pub marker: RunMarker,
    /// Why the engine holds between steps, waiting for Enter (or `r` after a failure).
    pub holding: Option<Hold>,
    pub running: Option<StepId>,
    /// The last notice and when it came; it shows for a while above the key bar
    /// (the log keeps it).
    pub notice: Option<(Level, String)>,
    pub notice_at: DateTime<Utc>,
    pub queues: QueuePanel,
    pub pods: PodsPanel,
    pub velero: VeleroPanel,
    /// When the migration started (first journal entry), or this session did.
    pub started: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub read_only: bool,
    /// The last name typed for who did a hand-off, per party: offered again, editable.
    pub last_done_by: std::collections::HashMap<Party, String>,
    /// The end-of-run summary is open (after the last step; Esc closes it).
    pub finished_open: bool,
    /// What the dumps folder holds at the end of the run: files and bytes (read by the front
    /// end, which may touch the disk).
    pub artifacts: Option<(u64, u64)>,
    /// On a read-only screen: who runs the migration now (None: nobody).
    pub run_by: Option<crate::event::Operator>,
    /// How to start this migration again, when not `cutover` on its config (a rehearsal:
    /// `cutover rehearse --state-dir ...`), for the quit dialog.
    pub resume_how: Option<String>,
}

impl ViewState {
    /// Makes this a read-only screen. With `live` (another process runs the migration now), a
    /// step the journal shows as started runs: it is not a stopped one to re-check.
    pub fn watching(&mut self, live: bool) {
        self.read_only = true;
        if !live {
            return;
        }
        for s in self.steps.iter_mut() {
            if s.state == StepState::Interrupted {
                s.state = StepState::Running;
                self.running = Some(s.id);
            }
        }
    }

    /// Who answers the run's questions, as this screen names them: `you` for the operator,
    /// the operator's name (or `the operator`) on a read-only screen.
    pub fn answerer(&self) -> String {
        if !self.read_only {
            return "you".to_string();
        }
        self.run_by
            .as_ref()
            .map_or_else(|| "the operator".to_string(), |o| o.label())
    }

    /// The steps' texts keep their `{placeholders}` until `fill_placeholders`;
    /// `from_config` does both.
    pub fn new(
        summary: ConfigSummary,
        steps: &[PlannedStep],
        journal: &JournalState,
        now: DateTime<Utc>,
    ) -> ViewState {
        let book = crate::runbook::get(summary.runbook);
        let rows: Vec<StepView> = steps
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let record = journal.step(p.step.id.0);
                StepView {
                    id: p.step.id,
                    number: i + 1,
                    title: p.step.title,
                    phase: p.step.phase,
                    phase_title: book.phase(p.step.phase).map_or(p.step.phase, |ph| ph.title),
                    owner: p.owner,
                    hand_off: p.hand_off,
                    runs_as: p.runs_as,
                    destructive: p.step.destructive,
                    need: p.need,
                    condition: p.condition(),
                    state: StepState::from_record(record),
                    attempts: record.map_or(0, |r| r.attempts),
                    doc: p.step.doc.to_string(),
                    changes: p.step.changes.map(str::to_string),
                    procedure: p.step.procedure.to_string(),
                    last: record.and_then(|r| {
                        r.summary.as_ref().map(|s| LastResult {
                            outcome: r.outcome,
                            summary: redact_text(s),
                            figures: figures(&r.figures),
                        })
                    }),
                    progress: None,
                    deadline: None,
                }
            })
            .collect();
        // Start on the step the run will go to next: the first one not settled.
        let selected = rows.iter().position(|s| !s.state.is_settled()).unwrap_or(0);
        // The last name recorded for each party's hand-offs, to offer again.
        let mut done_by: Vec<(Party, DateTime<Utc>, String)> = Vec::new();
        for p in steps.iter().filter(|p| p.hand_off) {
            let Some(record) = journal.step(p.step.id.0) else {
                continue;
            };
            for c in &record.confirmations {
                if let (crate::runbook::Need::HandOff, Some(name)) =
                    (c.confirmation.need, &c.confirmation.text)
                {
                    done_by.push((p.owner, c.time, name.clone()));
                }
            }
        }
        done_by.sort_by_key(|(_, time, _)| *time);
        let last_done_by = done_by
            .into_iter()
            .map(|(party, _, name)| (party, redact_text(&name)))
            .collect();
        ViewState {
            queues: QueuePanel::new(summary.drain_threshold),
            summary,
            runbook_title: book.title,
            steps: rows,
            selected,
            focus: Panel::Steps,
            log: LogBuffer::default(),
            log_follows_step: false,
            log_scroll: 0,
            log_wrap: false,
            queue_scroll: 0,
            pod_scroll: 0,
            velero_scroll: 0,
            zoomed: false,
            search: None,
            waiting: None,
            dialog: DialogMode::Answer,
            input: String::new(),
            refused: None,
            show_help: false,
            help_scroll: 0,
            show_procedure: false,
            detail_scroll: 0,
            dialog_hidden: false,
            search_editing: false,
            follow_run: true,
            quit_asked: false,
            rollback_input: None,
            quitting: false,
            run_when_held: false,
            outbox: None,
            ended: None,
            resume: None,
            marker: RunMarker::Idle,
            holding: None,
            running: None,
            notice: None,
            notice_at: now,
            pods: PodsPanel::default(),
            velero: VeleroPanel::default(),
            started: journal.started_at.unwrap_or(now),
            now,
            read_only: false,
            run_by: None,
            finished_open: false,
            artifacts: None,
            last_done_by,
            resume_how: None,
        }
    }

    /// The usual way in: summary and placeholders from the config.
    pub fn from_config(
        config: &Config,
        steps: &[PlannedStep],
        journal: &JournalState,
        now: DateTime<Utc>,
    ) -> ViewState {
        let mut view = ViewState::new(ConfigSummary::of(config), steps, journal, now);
        view.fill_placeholders(|name| config.placeholder(name));
        view
    }

    /// Fills `{placeholders}` of every step's doc, changes and procedure, so the
    /// operator can paste the commands as shown.
    pub fn fill_placeholders(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        use crate::runbook::render_procedure;
        // The runbook's own text holds no secret (procedures name them through shell
        // variables); only the values the config fills in are masked.
        let lookup = |name: &str| lookup(name).map(|v| redact_text(&v));
        for s in &mut self.steps {
            s.doc = render_procedure(&s.doc, lookup);
            s.changes = s.changes.as_deref().map(|c| render_procedure(c, lookup));
            s.procedure = render_procedure(&s.procedure, lookup);
        }
    }

    /// Shows `text` above the key bar for a while.
    pub fn set_notice(&mut self, level: Level, text: &str) {
        self.notice = Some((level, redact_text(text)));
        self.notice_at = self.now;
    }

    /// The notice to show now: info for 20 seconds, warnings and errors for a minute.
    pub fn visible_notice(&self) -> Option<&(Level, String)> {
        let (level, _) = self.notice.as_ref()?;
        let keep = if *level == Level::Info { 20 } else { 60 };
        ((self.now - self.notice_at).num_seconds() < keep).then_some(self.notice.as_ref()?)
    }

    pub fn tick(&mut self, now: DateTime<Utc>) {
        self.now = now;
    }

    pub fn selected_step(&self) -> Option<&StepView> {
        self.steps.get(self.selected)
    }

    pub fn step(&self, id: StepId) -> Option<&StepView> {
        self.steps.iter().find(|s| s.id == id)
    }

    pub(super) fn step_mut(&mut self, id: StepId) -> Option<&mut StepView> {
        self.steps.iter_mut().find(|s| s.id == id)
    }

    pub(super) fn index_of(&self, id: StepId) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    /// The phase the run is in: that of the running or waiting step, else of the
    /// next step to do, else the last.
    pub fn current_phase(&self) -> Option<&'static str> {
        let id = self.running.or(self.waiting.as_ref().map(|r| r.step));
        id.and_then(|id| self.step(id))
            .or_else(|| self.steps.iter().find(|s| !s.state.is_settled()))
            .or(self.steps.last())
            .map(|s| s.phase_title)
    }

    pub fn elapsed_secs(&self) -> u64 {
        (self.now - self.started).num_seconds().max(0) as u64
    }

    pub fn settled(&self) -> usize {
        super::step_view::settled(&self.steps)
    }

    /// The panels on screen, in the order Tab visits them: a live panel only once it has
    /// figures.
    pub fn panels(&self) -> Vec<Panel> {
        let mut out = vec![Panel::Steps, Panel::Detail];
        if !self.queues.is_empty() {
            out.push(Panel::Queues);
        }
        if !self.velero.is_empty() {
            out.push(Panel::Velero);
        }
        if !self.pods.is_empty() {
            out.push(Panel::Pods);
        }
        out.push(Panel::Log);
        out
    }

    /// Gives the keyboard to the next panel on screen (the previous one when not `forward`).
    pub fn cycle_focus(&mut self, forward: bool) {
        let panels = self.panels();
        let at = panels.iter().position(|p| *p == self.focus).unwrap_or(0);
        let n = panels.len();
        let next = if forward {
            (at + 1) % n
        } else {
            (at + n - 1) % n
        };
        self.focus = panels[next];
    }

    /// The UI sent `Command::Pause`; the engine has not held yet.
    pub fn pause_requested(&mut self) {
        if matches!(self.marker, RunMarker::Running | RunMarker::Waiting) {
            self.marker = RunMarker::Pausing;
        }
    }

    pub fn select(&mut self, index: usize) {
        if !self.steps.is_empty() {
            self.selected = index.min(self.steps.len() - 1);
        }
    }

    /// Opens the skip dialog for the waiting step.
    pub fn begin_skip(&mut self) {
        if self.waiting.is_some() {
            self.dialog = DialogMode::SkipReason;
            self.input.clear();
        }
    }

    pub(super) fn log_line(
        &mut self,
        now: DateTime<Utc>,
        step: Option<StepId>,
        level: Level,
        text: &str,
    ) {
        self.log.push(LogLine {
            at: now,
            step,
            level,
            text: redact_text(text),
        });
    }
}

/// Figures as `key: value` text, byte counts made readable; values redacted.
pub(super) fn figures(map: &Map<String, Value>) -> Vec<(String, String)> {
    map.iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) if k.ends_with("bytes") => n
                    .as_u64()
                    .map_or_else(|| n.to_string(), crate::format::bytes),
                other => other.to_string(),
            };
            (k.replace('_', " "), redact_text(&text))
        })
        .collect()
}
