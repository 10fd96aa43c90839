//! The view state: everything the screen shows, built from the plan and the
//! journal at start and then kept up by Events. Pure: no clock, no I/O; the time of
//! each change is passed in, so a test gets the same screen every time.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::logbuf::{LogBuffer, LogLine};
use super::panels::{PodsPanel, QueuePanel};
use super::status::StepState;
use crate::config::Config;
use crate::event::{Hold, Level, Request};
use crate::infra::url::redact_text;
use crate::journal::JournalState;
use crate::plan::PlannedStep;
use crate::runbook::{AccessPath, Party, RunbookId, StepId, StepKind};
use crate::runbook::{Need, Outcome};

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
        }
    }
}

/// The last result of a step, with its figures as `key: value` text.
#[derive(Clone, Debug, PartialEq)]
pub struct LastResult {
    pub outcome: Option<Outcome>,
    pub summary: String,
    pub figures: Vec<(String, String)>,
}

/// Progress of the running transfer.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub done: u64,
    pub total: Option<u64>,
    pub unit: &'static str,
    pub started: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

impl Progress {
    /// 0..=1, clamped (a total can be an estimate that the transfer passes).
    pub fn ratio(&self) -> Option<f64> {
        let total = self.total.filter(|t| *t > 0)?;
        Some((self.done as f64 / total as f64).clamp(0.0, 1.0))
    }

    /// Units per second since the first progress report of this attempt.
    pub fn rate(&self) -> Option<f64> {
        let secs = (self.at - self.started).num_milliseconds() as f64 / 1000.0;
        (secs > 0.0).then(|| self.done as f64 / secs)
    }

    pub fn eta_secs(&self) -> Option<u64> {
        let left = self.total?.saturating_sub(self.done);
        let rate = self.rate().filter(|r| *r > 0.0)?;
        Some((left as f64 / rate).ceil() as u64)
    }
}

/// One row of the step list and what its detail panel shows.
#[derive(Clone, Debug)]
pub struct StepView {
    pub id: StepId,
    /// 1-based, in plan order.
    pub number: usize,
    pub title: &'static str,
    pub phase: &'static str,
    pub phase_title: &'static str,
    pub owner: Party,
    pub hand_off: bool,
    pub runs_as: StepKind,
    pub destructive: bool,
    pub need: Option<Need>,
    pub condition: Option<String>,
    pub state: StepState,
    pub attempts: u32,
    /// Doc, changes and procedure with the config's placeholders filled.
    pub doc: String,
    pub changes: Option<String>,
    pub procedure: String,
    pub last: Option<LastResult>,
    pub progress: Option<Progress>,
}

/// The panel that has the keyboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Panel {
    Steps,
    Detail,
    Log,
}

impl Panel {
    pub fn next(self) -> Panel {
        match self {
            Panel::Steps => Panel::Detail,
            Panel::Detail => Panel::Log,
            Panel::Log => Panel::Steps,
        }
    }
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
    pub resume: Option<super::resume::ResumePrompt>,
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
    /// When the migration started (first journal entry), or this session did.
    pub started: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub read_only: bool,
}

impl ViewState {
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
                }
            })
            .collect();
        // Start on the step the run will go to next: the first one not settled.
        let selected = rows.iter().position(|s| !s.state.is_settled()).unwrap_or(0);
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
            started: journal.started_at.unwrap_or(now),
            now,
            read_only: false,
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
        self.steps.iter().filter(|s| s.state.is_settled()).count()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, RunEnd};
    use crate::plan::plan;
    use crate::ui::fixture::{config, t, view};

    #[test]
    fn a_fresh_view_has_every_step_pending_and_selects_the_first() {
        let v = view();
        assert!(v.steps.iter().all(|s| s.state == StepState::Pending));
        assert_eq!(v.selected, 0);
        assert_eq!(v.marker, RunMarker::Idle);
        assert!(!v.steps.iter().any(|s| s.procedure.contains("{oc.source}")));
    }

    #[test]
    fn procedures_are_the_runbook_text_with_the_config_filled_in() {
        let config = config();
        let v = view();
        for (s, p) in v.steps.iter().zip(plan(&config)) {
            let expected =
                crate::runbook::render_procedure(p.step.procedure, |n| config.placeholder(n));
            assert_eq!(s.procedure, expected, "{}", s.id);
        }
    }

    #[test]
    fn events_move_a_step_through_its_states() {
        let mut v = view();
        let id = v.steps[1].id;
        v.apply(
            &Event::RunStarted {
                resumed: false,
                done: 0,
                total: v.steps.len(),
            },
            t(1),
        );
        v.apply(
            &Event::StepStarted {
                step: id,
                attempt: 1,
                runs_as: StepKind::Check,
            },
            t(2),
        );
        assert_eq!(v.step(id).map(|s| s.state), Some(StepState::Running));
        assert_eq!((v.selected, v.running), (1, Some(id)));
        v.apply(
            &Event::StepFinished {
                step: id,
                outcome: Outcome::Failed,
                summary: "no access".into(),
                figures: Map::new(),
            },
            t(3),
        );
        assert_eq!(v.step(id).map(|s| s.state), Some(StepState::Failed));
        v.apply(&Event::RunEnded(RunEnd::Failed { step: id }), t(4));
        assert_eq!(v.marker, RunMarker::Failed);
        assert_eq!(v.running, None);
        assert_eq!(v.elapsed_secs(), 4);
        assert_eq!(v.log.matching(Some(id), None).count(), 2);
    }

    #[test]
    fn a_finished_hand_off_is_done_by_the_other_party() {
        let mut v = view();
        let Some(i) = v.steps.iter().position(|s| s.hand_off) else {
            panic!("the limited path has hand-offs for red-hat");
        };
        let id = v.steps[i].id;
        v.apply(
            &Event::StepFinished {
                step: id,
                outcome: Outcome::Passed,
                summary: "done by Bo".into(),
                figures: Map::new(),
            },
            t(1),
        );
        assert_eq!(v.steps[i].state, StepState::DoneByOther);
    }

    #[test]
    fn progress_gives_rate_and_eta() {
        let mut v = view();
        let id = v.steps[0].id;
        let p = |done| Event::StepProgress {
            step: id,
            done,
            total: Some(1000),
            unit: "keys",
        };
        v.apply(&p(0), t(0));
        v.apply(&p(100), t(10));
        let Some(progress) = v.steps[0].progress.clone() else {
            panic!("progress kept")
        };
        assert_eq!(progress.rate(), Some(10.0));
        assert_eq!(progress.eta_secs(), Some(90));
        assert_eq!(progress.ratio(), Some(0.1));
    }

    #[test]
    fn log_lines_are_redacted() {
        let mut v = view();
        let id = v.steps[0].id;
        v.apply(
            &Event::StepLog {
                step: id,
                level: Level::Info,
                line: "connect redis://:sekrit@h:6379/1".into(),
            },
            t(1),
        );
        assert!(
            v.log
                .matching(None, None)
                .all(|l| !l.text.contains("sekrit"))
        );
    }
}
