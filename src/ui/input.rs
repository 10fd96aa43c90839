//! What a key does: pure, from the view and the key to a changed view and at most
//! one Command for the engine. The event loop only forwards keys here and sends
//! what comes back, so every key's effect is tested without a terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::keymap::{Context, KeyAction, action_for};
use super::view::{DialogMode, Panel, RunMarker, ViewState};
use crate::event::{Command, Hold, Level};
use crate::runbook::Need;

/// What the event loop does after a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    Nothing,
    Send(Command),
    /// Leave the wizard now: the engine has ended, or this is a read-only watcher.
    Exit,
    /// Write `text` to the file `path` (a step's procedure) and say where.
    Save {
        path: std::path::PathBuf,
        text: String,
    },
    /// Put `text` on the terminal's clipboard (OSC 52).
    Copy {
        what: String,
        text: String,
    },
}

/// The context whose bindings apply now, most specific first. The key bar uses
/// the same answer, so it always shows the keys that work.
pub fn context(view: &ViewState) -> Context {
    if view.quit_asked {
        Context::Ask
    } else if view.rollback_input.is_some() {
        Context::RollBack
    } else if view.show_help {
        Context::Help
    } else if view.search_editing {
        Context::Search
    } else if dialog_open(view) {
        Context::Dialog
    } else if view.focus == Panel::Log {
        Context::Log
    } else if matches!(view.focus, Panel::Queues | Panel::Pods | Panel::Velero) {
        Context::Live
    } else {
        Context::Steps
    }
}

/// The waiting step's dialog is on screen and has the keyboard.
pub fn dialog_open(view: &ViewState) -> bool {
    view.waiting.is_some() && !view.read_only && !view.dialog_hidden && view.resume.is_none()
}

impl ViewState {
    /// Takes one key. Key releases and repeats of terminals that report them are
    /// ignored, so a key acts once.
    pub fn on_key(&mut self, key: KeyEvent) -> Effect {
        if key.kind == KeyEventKind::Release {
            return Effect::Nothing;
        }
        let ctx = context(self);
        let action = action_for(key.code, key.modifiers, ctx);
        match ctx {
            Context::Ask => self.on_ask(action),
            Context::RollBack => self.on_rollback(key, action),
            Context::Help => self.on_help(action),
            Context::Search => self.on_search(key, action),
            Context::Dialog => self.on_dialog(key, action),
            Context::Steps | Context::Log | Context::Live | Context::Global => self.on_main(action),
        }
    }

    fn on_ask(&mut self, action: Option<KeyAction>) -> Effect {
        match action {
            Some(KeyAction::Continue) => {
                self.quit_asked = false;
                self.quit_now()
            }
            Some(KeyAction::Back) => {
                self.quit_asked = false;
                Effect::Nothing
            }
            _ => Effect::Nothing,
        }
    }

    fn on_rollback(&mut self, key: KeyEvent, action: Option<KeyAction>) -> Effect {
        match action {
            Some(KeyAction::Continue) => {
                let text = self.rollback_input.take().unwrap_or_default();
                self.say("rolling the source back; the log shows each workload");
                Effect::Send(Command::RollBack {
                    text: text.trim().to_string(),
                })
            }
            Some(KeyAction::Back) => {
                self.rollback_input = None;
                Effect::Nothing
            }
            Some(KeyAction::Quit) => {
                self.rollback_input = None;
                self.quit()
            }
            _ => {
                if let Some(text) = self.rollback_input.as_mut() {
                    edit(text, key);
                }
                Effect::Nothing
            }
        }
    }

    fn on_help(&mut self, action: Option<KeyAction>) -> Effect {
        match action {
            Some(KeyAction::Back | KeyAction::Help) => {
                self.show_help = false;
                self.help_scroll = 0;
            }
            Some(KeyAction::Down) => self.help_scroll = self.help_scroll.saturating_add(1),
            Some(KeyAction::Up) => self.help_scroll = self.help_scroll.saturating_sub(1),
            Some(KeyAction::Quit) => {
                self.show_help = false;
                return self.quit();
            }
            _ => {}
        }
        Effect::Nothing
    }

    fn on_search(&mut self, key: KeyEvent, action: Option<KeyAction>) -> Effect {
        match action {
            Some(KeyAction::Continue) => {
                self.search_editing = false;
                if self.search.as_deref().is_some_and(str::is_empty) {
                    self.search = None;
                }
            }
            Some(KeyAction::Back) => {
                self.search_editing = false;
                self.search = None;
            }
            Some(KeyAction::Quit) => {
                self.search_editing = false;
                return self.quit();
            }
            _ => {
                let text = self.search.get_or_insert_with(String::new);
                edit(text, key);
                self.log_scroll = 0;
            }
        }
        Effect::Nothing
    }

    fn on_dialog(&mut self, key: KeyEvent, action: Option<KeyAction>) -> Effect {
        let Some(req) = self.waiting.as_ref() else {
            return Effect::Nothing;
        };
        let step = req.step;
        let takes_text = match self.dialog {
            DialogMode::SkipReason => true,
            DialogMode::Answer => match req.need {
                Need::Typed | Need::HandOff => true,
                Need::Manual => req.phrase.is_some(),
                Need::Confirm => false,
            },
        };
        match action {
            Some(KeyAction::Quit) => self.quit(),
            Some(KeyAction::Back) => {
                match self.dialog {
                    DialogMode::SkipReason => self.dialog = DialogMode::Answer,
                    DialogMode::Answer => self.dialog_hidden = true,
                }
                self.input.clear();
                self.refused = None;
                Effect::Nothing
            }
            Some(KeyAction::Skip) if req.question.is_some() => {
                self.refused = Some("a running step cannot be skipped; answer, or pause".into());
                Effect::Nothing
            }
            Some(KeyAction::Skip) => {
                self.begin_skip();
                self.refused = None;
                Effect::Nothing
            }
            Some(KeyAction::Continue) => match self.dialog {
                DialogMode::SkipReason => {
                    let reason = self.input.trim().to_string();
                    if reason.is_empty() {
                        self.refused = Some("type why; the reason is recorded".to_string());
                        return Effect::Nothing;
                    }
                    Effect::Send(Command::Skip { step, reason })
                }
                DialogMode::Answer => {
                    let text = self.input.trim().to_string();
                    if req.need == Need::HandOff && text.is_empty() {
                        self.refused = Some("type the name of who did it".to_string());
                        return Effect::Nothing;
                    }
                    if req.need == Need::HandOff {
                        self.last_done_by.insert(req.owner, text.clone());
                    }
                    let text = takes_text.then_some(text);
                    Effect::Send(Command::Confirm { step, text })
                }
            },
            _ if takes_text => {
                edit(&mut self.input, key);
                self.refused = None;
                Effect::Nothing
            }
            _ => Effect::Nothing,
        }
    }

    fn on_main(&mut self, action: Option<KeyAction>) -> Effect {
        let Some(action) = action else {
            return Effect::Nothing;
        };
        if self.resume.is_some() {
            return self.on_resume(action);
        }
        if self.finished_open {
            match action {
                KeyAction::Back | KeyAction::Continue => self.finished_open = false,
                KeyAction::Quit => return self.quit(),
                KeyAction::Help => self.show_help = true,
                _ => {}
            }
            return Effect::Nothing;
        }
        match action {
            KeyAction::Help => self.show_help = true,
            KeyAction::Quit => return self.quit(),
            KeyAction::Continue => return self.go_on(),
            KeyAction::Retry => return self.retry(),
            KeyAction::Pause => return self.pause(),
            KeyAction::Up => self.move_by(-1),
            KeyAction::Down => self.move_by(1),
            KeyAction::PageUp => self.page(-1),
            KeyAction::PageDown => self.page(1),
            KeyAction::Newest => self.log_scroll = 0,
            KeyAction::NextPanel => self.cycle_focus(true),
            KeyAction::PrevPanel => self.cycle_focus(false),
            KeyAction::Zoom => self.zoomed = !self.zoomed,
            KeyAction::Wrap => self.log_wrap = !self.log_wrap,
            KeyAction::ClearInput => {}
            KeyAction::Manual => {
                self.show_procedure = !self.show_procedure;
                self.detail_scroll = 0;
            }
            KeyAction::SaveProcedure => return self.save_procedure(),
            KeyAction::CopyProcedure => return self.copy_procedure(),
            KeyAction::FilterLog => {
                self.log_follows_step = !self.log_follows_step;
                self.log_scroll = 0;
            }
            KeyAction::Search => {
                self.search_editing = true;
                self.search.get_or_insert_with(String::new);
                self.focus = Panel::Log;
            }
            KeyAction::Back => self.back(),
            KeyAction::RollBack => self.begin_rollback(),
            KeyAction::Skip => {}
        }
        Effect::Nothing
    }

    /// The resume prompt has the keyboard: Enter resumes, Esc looks around first
    /// (Enter later starts the run), q quits, ? helps.
    fn on_resume(&mut self, action: KeyAction) -> Effect {
        match action {
            KeyAction::Continue => {
                self.resume = None;
                self.go_on()
            }
            KeyAction::Back => {
                self.resume = None;
                Effect::Nothing
            }
            KeyAction::Quit => self.quit(),
            KeyAction::Help => {
                self.show_help = true;
                Effect::Nothing
            }
            _ => Effect::Nothing,
        }
    }

    /// R: the rollback prompt, only while the run holds (the engine refuses it
    /// otherwise, and says why).
    fn begin_rollback(&mut self) {
        if self.read_only {
            self.say("read-only: this screen follows the migration and cannot roll it back");
        } else if crate::runbook::get(self.summary.runbook).rollback.is_none() {
            self.say("this runbook has no rollback: undo its steps by hand with their procedures");
        } else if self.holding.is_none() {
            self.say("a rollback runs only while the run holds: p pauses it first");
        } else {
            self.rollback_input = Some(String::new());
        }
    }

    fn move_by(&mut self, delta: isize) {
        match self.focus {
            Panel::Steps => {
                let i = self.selected.saturating_add_signed(delta);
                let before = self.selected;
                self.select(i);
                if self.selected != before {
                    self.follow_run = false;
                    self.detail_scroll = 0;
                }
            }
            Panel::Detail => {
                self.detail_scroll = if delta > 0 {
                    self.detail_scroll.saturating_add(1)
                } else {
                    self.detail_scroll.saturating_sub(1)
                };
            }
            Panel::Queues => self.queue_scroll = self.queue_scroll.saturating_add_signed(delta),
            Panel::Pods => self.pod_scroll = self.pod_scroll.saturating_add_signed(delta),
            Panel::Velero => {
                self.velero_scroll = self.velero_scroll.saturating_add_signed(delta);
            }
            // Up goes back in time: further from the newest line.
            Panel::Log => {
                self.log_scroll = if delta < 0 {
                    self.log_scroll.saturating_add(1)
                } else {
                    self.log_scroll.saturating_sub(1)
                };
            }
        }
    }

    /// PgUp (-1) and PgDn (1): ten rows of the log or of a live panel.
    fn page(&mut self, direction: isize) {
        match self.focus {
            Panel::Queues => {
                self.queue_scroll = self.queue_scroll.saturating_add_signed(10 * direction);
            }
            Panel::Pods => self.pod_scroll = self.pod_scroll.saturating_add_signed(10 * direction),
            Panel::Velero => {
                self.velero_scroll = self.velero_scroll.saturating_add_signed(10 * direction);
            }
            // Up goes back in time: further from the newest line.
            _ => self.log_scroll = self.log_scroll.saturating_add_signed(-10 * direction),
        }
    }

    /// Esc on the main screen: clear the search, then back to the step list
    /// following the run.
    fn back(&mut self) {
        if self.search.is_some() {
            self.search = None;
            return;
        }
        self.focus = Panel::Steps;
        self.zoomed = false;
        self.follow_run = true;
        self.log_scroll = 0;
        let at = self
            .running
            .or(self.waiting.as_ref().map(|r| r.step))
            .and_then(|id| self.index_of(id));
        if let Some(i) = at {
            self.selected = i;
            self.detail_scroll = 0;
        }
    }

    /// P: the selected step's procedure as a file under the migration's folder:
    /// `procedures/<NN>-<step>.sh`, with a header that says what it is.
    fn save_procedure(&mut self) -> Effect {
        let Some(step) = self.steps.get(self.selected) else {
            return Effect::Nothing;
        };
        let path = self
            .summary
            .migration_dir
            .join("procedures")
            .join(format!("{:02}-{}.sh", step.number, step.id));
        let text = format!(
            "# Step {} · {} · {}\n# Migration {}, written by cutover at {} UTC from the config; \
             read it before running it.\n{}\n",
            step.number,
            step.id,
            step.title,
            self.summary.migration,
            self.now.format("%Y-%m-%d %H:%M:%S"),
            step.procedure.trim_end()
        );
        Effect::Save { path, text }
    }

    /// c: the selected step's procedure to the terminal's clipboard.
    fn copy_procedure(&mut self) -> Effect {
        let Some(step) = self.steps.get(self.selected) else {
            return Effect::Nothing;
        };
        Effect::Copy {
            what: format!("the procedure of step {} ({})", step.number, step.id),
            text: format!("{}\n", step.procedure.trim_end()),
        }
    }

    fn say(&mut self, text: &str) {
        self.set_notice(Level::Info, text);
    }

    /// Enter on the main screen.
    fn go_on(&mut self) -> Effect {
        if self.read_only {
            self.say("read-only: this screen follows the migration and cannot run it");
            return Effect::Nothing;
        }
        if self.waiting.is_some() {
            self.dialog_hidden = false;
            return Effect::Nothing;
        }
        match &self.holding {
            Some(Hold::Start { next: Some(_), .. } | Hold::Paused { .. }) => {
                self.holding = None;
                self.marker = RunMarker::Running;
                self.follow_run = true;
                Effect::Send(Command::Run)
            }
            Some(Hold::Failed { step }) => {
                let text = format!("step {step} failed: r retries it once the cause is fixed");
                self.say(&text);
                Effect::Nothing
            }
            None if self.marker == RunMarker::Idle && !self.read_only => {
                self.run_when_held = true;
                self.say("starting as soon as the engine is ready");
                Effect::Nothing
            }
            Some(Hold::Start { next: None, .. }) | None => {
                let text = match self.marker {
                    RunMarker::Running | RunMarker::Pausing => "a step is running",
                    RunMarker::Finished => "every step is done; q quits",
                    _ => "nothing to start now",
                };
                self.say(text);
                Effect::Nothing
            }
        }
    }

    fn retry(&mut self) -> Effect {
        if self.read_only {
            self.say("read-only: this screen follows the migration and cannot run it");
            return Effect::Nothing;
        }
        match &self.holding {
            Some(Hold::Failed { .. }) => {
                self.holding = None;
                self.marker = RunMarker::Running;
                self.follow_run = true;
                Effect::Send(Command::Run)
            }
            _ => {
                self.say("r retries a step that failed; none has");
                Effect::Nothing
            }
        }
    }

    fn pause(&mut self) -> Effect {
        if self.read_only {
            self.say("read-only: this screen follows the migration and cannot pause it");
            return Effect::Nothing;
        }
        match self.marker {
            RunMarker::Running | RunMarker::Waiting => {
                self.pause_requested();
                Effect::Send(Command::Pause)
            }
            RunMarker::Pausing => Effect::Nothing,
            _ => {
                self.say("nothing runs: the run is already holding");
                Effect::Nothing
            }
        }
    }

    /// q: ask first when a step runs or waits; otherwise quit at once.
    fn quit(&mut self) -> Effect {
        let busy = matches!(
            self.marker,
            RunMarker::Running | RunMarker::Pausing | RunMarker::Waiting
        ) && self.ended.is_none();
        if busy && !self.read_only && !self.quitting {
            self.quit_asked = true;
            return Effect::Nothing;
        }
        self.quit_now()
    }

    fn quit_now(&mut self) -> Effect {
        if self.read_only || self.ended.is_some() {
            return Effect::Exit;
        }
        if self.quitting {
            let text = match self.running.and_then(|id| self.step(id)) {
                Some(step) => format!(
                    "already quitting: {} ends at its next safe point and is journaled, then \
                     the session closes",
                    step.id
                ),
                None => "already quitting: the session closes once the run has stopped".into(),
            };
            self.say(&text);
            return Effect::Nothing;
        }
        self.quitting = true;
        if self.running.is_some() {
            let text = "quitting: the running step ends and is journaled first";
            self.say(text);
        }
        Effect::Send(Command::Quit)
    }
}

/// Edits a one-line text field: printable characters, Backspace, Ctrl-U clears.
fn edit(text: &mut String, key: KeyEvent) {
    match key.code {
        KeyCode::Backspace => {
            text.pop();
        }
        KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => text.clear(),
        KeyCode::Char(c)
            if !key
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
                && !c.is_control()
                && text.chars().count() < 200 =>
        {
            text.push(c);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyEvent;

    use super::*;
    use crate::event::{Event, Request, RunEnd};
    use crate::runbook::StepKind;
    use crate::ui::fixture::t;

    /// The fixture's view, holding before its first step.
    fn view() -> ViewState {
        let mut v = crate::ui::fixture::view();
        let next = Some(v.steps[0].id);
        v.apply(
            &Event::Holding(Hold::Start {
                resumed: false,
                next,
            }),
            t(0),
        );
        v
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn typed(v: &mut ViewState, text: &str) {
        for c in text.chars() {
            assert_eq!(v.on_key(key(KeyCode::Char(c))), Effect::Nothing);
        }
    }

    fn wait(
        v: &mut ViewState,
        i: usize,
        need: Need,
        phrase: Option<&str>,
    ) -> crate::runbook::StepId {
        let s = &v.steps[i];
        let req = Request {
            step: s.id,
            title: s.title,
            need,
            phrase: phrase.map(str::to_string),
            question: None,
            alternatives: Vec::new(),
            owner: s.owner,
            changes: None,
            procedure: String::new(),
            condition: None,
        };
        let id = s.id;
        v.apply(&Event::Waiting(req), t(1));
        id
    }

    #[test]
    fn enter_starts_the_run_once_and_only_when_it_holds() {
        let mut v = view();
        assert_eq!(v.on_key(key(KeyCode::Enter)), Effect::Send(Command::Run));
        assert_eq!(v.marker, RunMarker::Running);
        assert_eq!(v.on_key(key(KeyCode::Enter)), Effect::Nothing);
    }

    #[test]
    fn a_typed_gate_sends_what_was_typed_and_backspace_edits_it() {
        let mut v = view();
        let id = wait(&mut v, 3, Need::Typed, Some("scale down"));
        assert_eq!(context(&v), Context::Dialog);
        typed(&mut v, "scale downx");
        v.on_key(key(KeyCode::Backspace));
        // q is text in a dialog, not quit.
        assert_eq!(v.input, "scale down");
        assert_eq!(
            v.on_key(key(KeyCode::Enter)),
            Effect::Send(Command::Confirm {
                step: id,
                text: Some("scale down".into())
            })
        );
    }

    #[test]
    fn a_hand_off_needs_a_name_and_a_skip_needs_a_reason() {
        let mut v = view();
        let id = wait(&mut v, 2, Need::HandOff, None);
        assert_eq!(v.on_key(key(KeyCode::Enter)), Effect::Nothing);
        assert!(v.refused.is_some());
        v.on_key(key(KeyCode::Tab));
        assert_eq!(v.dialog, DialogMode::SkipReason);
        assert_eq!(v.on_key(key(KeyCode::Enter)), Effect::Nothing);
        typed(&mut v, "no redis here");
        assert_eq!(
            v.on_key(key(KeyCode::Enter)),
            Effect::Send(Command::Skip {
                step: id,
                reason: "no redis here".into()
            })
        );
        v.on_key(key(KeyCode::Esc));
        assert_eq!(v.dialog, DialogMode::Answer);
        typed(&mut v, "Bo");
        assert_eq!(
            v.on_key(key(KeyCode::Enter)),
            Effect::Send(Command::Confirm {
                step: id,
                text: Some("Bo".into())
            })
        );
    }

    #[test]
    fn esc_hides_the_dialog_and_enter_brings_it_back() {
        let mut v = view();
        wait(&mut v, 1, Need::Confirm, None);
        v.on_key(key(KeyCode::Esc));
        assert!(!dialog_open(&v));
        // Navigation works while the step waits.
        v.on_key(key(KeyCode::Char('j')));
        assert_eq!(v.selected, 2);
        assert_eq!(v.on_key(key(KeyCode::Enter)), Effect::Nothing);
        assert!(dialog_open(&v));
    }

    #[test]
    fn moving_the_selection_stops_following_the_run_until_esc() {
        let mut v = view();
        v.on_key(key(KeyCode::Enter));
        v.on_key(key(KeyCode::Char('j')));
        v.on_key(key(KeyCode::Char('j')));
        assert!(!v.follow_run);
        let id = v.steps[5].id;
        v.apply(
            &Event::StepStarted {
                step: id,
                attempt: 1,
                runs_as: StepKind::Check,
            },
            t(2),
        );
        assert_eq!(v.selected, 2);
        v.on_key(key(KeyCode::Esc));
        assert_eq!(v.selected, 5);
        assert!(v.follow_run);
    }

    #[test]
    fn quit_asks_while_a_step_runs_and_sends_quit_once() {
        let mut v = view();
        v.on_key(key(KeyCode::Enter));
        let id = v.steps[0].id;
        v.apply(
            &Event::StepStarted {
                step: id,
                attempt: 1,
                runs_as: StepKind::Check,
            },
            t(2),
        );
        assert_eq!(v.on_key(key(KeyCode::Char('q'))), Effect::Nothing);
        assert_eq!(context(&v), Context::Ask);
        assert_eq!(v.on_key(key(KeyCode::Char('n'))), Effect::Nothing);
        assert!(!v.quit_asked);
        v.on_key(key(KeyCode::Char('q')));
        assert_eq!(
            v.on_key(key(KeyCode::Char('y'))),
            Effect::Send(Command::Quit)
        );
        assert_eq!(v.on_key(key(KeyCode::Char('q'))), Effect::Nothing);
        v.apply(&Event::RunEnded(RunEnd::Paused { waiting: None }), t(3));
        assert_eq!(v.on_key(key(KeyCode::Char('q'))), Effect::Exit);
    }

    #[test]
    fn ctrl_c_quits_from_a_dialog_too() {
        let mut v = view();
        wait(&mut v, 1, Need::Typed, Some("go"));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(v.on_key(ctrl_c), Effect::Nothing);
        assert!(v.quit_asked);
        assert_eq!(v.on_key(key(KeyCode::Enter)), Effect::Send(Command::Quit));
    }

    #[test]
    fn a_failed_step_is_retried_with_r_not_enter() {
        let mut v = view();
        let step = v.steps[0].id;
        v.apply(&Event::Holding(Hold::Failed { step }), t(2));
        assert_eq!(v.on_key(key(KeyCode::Enter)), Effect::Nothing);
        assert!(v.notice.is_some());
        assert_eq!(
            v.on_key(key(KeyCode::Char('r'))),
            Effect::Send(Command::Run)
        );
    }

    #[test]
    fn search_takes_letters_and_esc_clears_it() {
        let mut v = view();
        v.on_key(key(KeyCode::Char('/')));
        assert_eq!(context(&v), Context::Search);
        typed(&mut v, "qj");
        assert_eq!(v.search.as_deref(), Some("qj"));
        v.on_key(key(KeyCode::Enter));
        assert_eq!(context(&v), Context::Log);
        assert_eq!(v.search.as_deref(), Some("qj"));
        v.on_key(key(KeyCode::Char('k')));
        assert_eq!(v.log_scroll, 1);
        v.on_key(key(KeyCode::Esc));
        assert_eq!(v.search, None);
    }

    #[test]
    fn the_resume_prompt_takes_enter_esc_and_q() {
        let mut v = view();
        v.resume = Some(crate::ui::resume::ResumePrompt {
            headline: String::new(),
            sessions: Vec::new(),
            stopped_at: String::new(),
            next: Vec::new(),
        });
        assert_eq!(v.on_key(key(KeyCode::Char('j'))), Effect::Nothing);
        assert_eq!(v.selected, 0);
        assert_eq!(v.on_key(key(KeyCode::Enter)), Effect::Send(Command::Run));
        assert!(v.resume.is_none());
    }

    #[test]
    fn enter_on_the_resume_prompt_before_the_engine_holds_starts_the_run_when_it_does() {
        let mut v = view();
        v.holding = None;
        v.marker = RunMarker::Idle;
        v.resume = Some(crate::ui::resume::ResumePrompt {
            headline: String::new(),
            sessions: Vec::new(),
            stopped_at: String::new(),
            next: Vec::new(),
        });
        assert_eq!(v.on_key(key(KeyCode::Enter)), Effect::Nothing);
        assert!(v.resume.is_none());
        assert!(v.run_when_held);
        let step = v.steps[0].id;
        v.apply(
            &Event::Holding(Hold::Start {
                next: Some(step),
                resumed: true,
            }),
            t(1),
        );
        assert_eq!(v.outbox.take(), Some(Command::Run));
        assert_eq!(v.holding, None);
        assert_eq!(v.marker, RunMarker::Running);
        assert!(!v.run_when_held);
    }

    #[test]
    fn r_uppercase_rolls_back_only_while_holding_and_sends_the_typed_phrase() {
        let mut v = view();
        let shift_r = KeyEvent::new(KeyCode::Char('R'), KeyModifiers::SHIFT);
        v.on_key(shift_r);
        assert_eq!(context(&v), Context::RollBack);
        typed(&mut v, "roll back");
        assert_eq!(
            v.on_key(key(KeyCode::Enter)),
            Effect::Send(Command::RollBack {
                text: "roll back".into()
            })
        );
        assert_eq!(context(&v), Context::Steps);
        // Running: not offered; the notice says to pause first.
        v.on_key(key(KeyCode::Enter));
        let id = v.steps[0].id;
        v.apply(
            &Event::StepStarted {
                step: id,
                attempt: 1,
                runs_as: StepKind::Check,
            },
            t(1),
        );
        assert_eq!(v.on_key(shift_r), Effect::Nothing);
        assert!(v.rollback_input.is_none());
        assert!(v.notice.as_ref().is_some_and(|(_, t)| t.contains("pause")));
    }

    #[test]
    fn a_read_only_view_sends_nothing() {
        let mut v = view();
        v.read_only = true;
        wait(&mut v, 1, Need::Confirm, None);
        for code in [KeyCode::Enter, KeyCode::Char('p'), KeyCode::Char('r')] {
            assert_eq!(v.on_key(key(code)), Effect::Nothing);
        }
        assert_eq!(v.on_key(key(KeyCode::Char('q'))), Effect::Exit);
    }
}
