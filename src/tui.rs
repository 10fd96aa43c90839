//! The full-screen front end: opens the engine (or, read-only, follows the
//! journal), draws the view, forwards keys, and always gives the terminal back:
//! on quit, on error, on panic, on SIGTERM and SIGHUP (after the running step ends
//! and is journaled).

use std::io::{IsTerminal, Stdout, Write, stdout};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use crossterm::event::{Event as TermEvent, EventStream};
use crossterm::{cursor, execute, terminal};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use crate::config::Config;
use crate::engine::{Engine, EngineOptions};
use crate::error::{ExitCode, bad_input};
use crate::event::{Command, Event, RunEnd};
use crate::follow::{DEFAULT_POLL as FOLLOW_POLL, Follower, holder_text};
use crate::monitor::{MonitorOptions, Monitors};
use crate::plan::plan;
use crate::ui::input::Effect;
use crate::ui::resume::ResumePrompt;
use crate::ui::{Theme, ThemeName, ViewState};
use crate::{errln, outln};

pub struct TuiOptions {
    pub theme: Option<ThemeName>,
    /// Follow the journal of a migration someone else runs; send nothing.
    pub read_only: bool,
    /// A rehearsal: the command that resumes it (its sandbox is started again from its state
    /// folder by `cutover rehearse`, not by `cutover` on its config).
    pub rehearsal: Option<String>,
    /// A rehearsal: what does the manual steps' work to its sandbox.
    pub stand_in: Option<Arc<dyn crate::engine::StandIn>>,
}

/// Set by the panic hook: a task panicked and the terminal was given back, so the
/// loop stops drawing and ends the session at the next safe point.
static PANICKED: AtomicBool = AtomicBool::new(false);

/// How often the header's clock and the elapsed time are redrawn when nothing
/// else happens.
const TICK: Duration = Duration::from_secs(1);

/// Runs the wizard; returns the process exit code.
pub async fn run(config: Config, options: TuiOptions) -> Result<ExitCode> {
    if !stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(bad_input(
            "the full-screen wizard needs a terminal; for scripts and CI use `cutover run \
             --headless`",
        ));
    }
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let theme = Theme::new(ThemeName::resolve(options.theme, no_color));
    if options.read_only {
        return watch(config, theme).await;
    }
    // Before anything starts: a signal that arrives while a step runs must end the
    // session at a safe point, never kill the process with the default disposition.
    let mut signals = Signals::install()?;
    let (event_tx, events) = mpsc::unbounded_channel();
    let (command_tx, commands) = mpsc::unbounded_channel();
    let config = Arc::new(config);
    let engine = Engine::open(
        Arc::clone(&config),
        event_tx.clone(),
        commands,
        EngineOptions {
            mode: "tui",
            until: None,
            hold: true,
            stand_in: options.stand_in.clone(),
        },
    )?;
    let (state, sessions) = engine.history()?;
    let journal_path = engine.journal_path()?;
    let mut view = ViewState::from_config(&config, &plan(&config), &state, chrono::Utc::now());
    view.resume = ResumePrompt::new(&sessions, &view.steps);
    view.resume_how = options.rehearsal.clone();
    let monitors = Monitors::start(Arc::clone(&config), event_tx, MonitorOptions::default());
    monitors.follow_journal(&state);
    let engine = tokio::spawn(engine.run());

    let mut screen = Screen::open()?;
    let wiring = Wiring {
        events,
        commands: Some(&command_tx),
        engine: Some(engine),
        monitors: &monitors,
    };
    let outcome = event_loop(&mut screen, &mut view, &theme, &mut signals, wiring).await;
    drop(screen);
    let end = outcome?;
    let resume = match &options.rehearsal {
        Some(again) => format!("run {again} again to resume"),
        None => "run `cutover` again with the same config to resume".to_string(),
    };
    Ok(farewell(&view, end, &journal_path, &resume))
}

/// `--read-only`: follows the journal and step logs of a migration another
/// process runs, with its own live panels; sends nothing and takes no lock.
async fn watch(config: Config, theme: Theme) -> Result<ExitCode> {
    let mut signals = Signals::install()?;
    let follower = Follower::open(&config)?;
    let now = chrono::Utc::now();
    let config = Arc::new(config);
    let mut view = ViewState::from_config(&config, &plan(&config), follower.state(), now);
    view.watching(follower.runs_now());
    for ev in follower.initial_events() {
        view.apply(&ev, now);
    }
    let text = format!("watching read-only; {}", holder_text(follower.holder()));
    view.set_notice(crate::event::Level::Info, &text);
    let (event_tx, events) = mpsc::unbounded_channel();
    let monitors = Monitors::start(
        Arc::clone(&config),
        event_tx.clone(),
        MonitorOptions::default(),
    );
    monitors.follow_journal(follower.state());
    let following = tokio::spawn(follower.run(event_tx, FOLLOW_POLL));
    let mut screen = Screen::open()?;
    let wiring = Wiring {
        events,
        commands: None,
        engine: None,
        monitors: &monitors,
    };
    let outcome = event_loop(&mut screen, &mut view, &theme, &mut signals, wiring).await;
    drop(screen);
    following.abort();
    outcome?;
    Ok(ExitCode::Success)
}

/// What ended the loop.
struct LoopEnd {
    /// The engine's answer, when it ran one.
    run: Option<Result<RunEnd>>,
    /// A signal asked to stop.
    signalled: bool,
}

/// The terminal in raw mode on the alternate screen; given back on drop.
struct Screen {
    terminal: Terminal<CrosstermBackend<Stdout>>,
    /// Drawing failed (the terminal went away on SIGHUP): stop drawing.
    broken: bool,
}

impl Screen {
    fn open() -> Result<Screen> {
        install_panic_hook();
        terminal::enable_raw_mode().context("cannot put the terminal in raw mode")?;
        // Mouse reporting stays off, so the operator can select and copy text.
        if let Err(e) = execute!(stdout(), terminal::EnterAlternateScreen, cursor::Hide) {
            restore_terminal();
            return Err(e).context("cannot switch to the alternate screen");
        }
        let terminal = match Terminal::new(CrosstermBackend::new(stdout())) {
            Ok(t) => t,
            Err(e) => {
                restore_terminal();
                return Err(e).context("cannot size the terminal");
            }
        };
        Ok(Screen {
            terminal,
            broken: false,
        })
    }

    fn draw(&mut self, view: &ViewState, theme: &Theme) {
        if self.broken || PANICKED.load(Ordering::SeqCst) {
            return;
        }
        if self
            .terminal
            .draw(|frame| crate::ui::draw(frame, view, theme))
            .is_err()
        {
            self.broken = true;
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Raw mode off, main screen back, cursor shown. Each step is tried even when an
/// earlier one fails (a terminal that has gone away fails them all).
fn restore_terminal() {
    let _ = terminal::disable_raw_mode();
    let mut out = stdout();
    let _ = execute!(out, terminal::LeaveAlternateScreen, cursor::Show);
    let _ = out.flush();
}

fn install_panic_hook() {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICKED.store(true, Ordering::SeqCst);
        restore_terminal();
        previous(info);
    }));
}

struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
            hup: signal(SignalKind::hangup()).context("cannot watch SIGHUP")?,
            int: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.hup.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

/// What the event loop listens to and talks to, besides the screen and the signals.
struct Wiring<'a> {
    events: UnboundedReceiver<Event>,
    /// Where Commands go; None for a read-only watcher.
    commands: Option<&'a UnboundedSender<Command>>,
    /// The engine's task; None for a read-only watcher.
    engine: Option<tokio::task::JoinHandle<Result<RunEnd>>>,
    monitors: &'a Monitors,
}

async fn event_loop(
    screen: &mut Screen,
    view: &mut ViewState,
    theme: &Theme,
    signals: &mut Signals,
    wiring: Wiring<'_>,
) -> Result<LoopEnd> {
    let Wiring {
        mut events,
        commands,
        engine,
        monitors,
    } = wiring;
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut engine = engine;
    let mut run: Option<Result<RunEnd>> = None;
    let mut signalled = false;
    let send = |c: Command| {
        if let Some(tx) = commands {
            // The engine may have ended already; the view says so.
            let _ = tx.send(c);
        }
    };
    screen.draw(view, theme);
    loop {
        let mut quit_now = false;
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { break };
                let now = chrono::Utc::now();
                // The pods panel follows the cluster whose workloads the step scales.
                let follow = |ev: &Event| {
                    if let Event::StepStarted { step, .. } = ev {
                        monitors.step_started(*step);
                    }
                };
                follow(&ev);
                view.apply(&ev, now);
                // Take what else has arrived before drawing: a burst of log lines
                // makes one frame, not one each.
                while let Ok(ev) = events.try_recv() {
                    follow(&ev);
                    view.apply(&ev, now);
                }
                // The end-of-run summary says what the dumps folder holds.
                if view.finished_open && view.artifacts.is_none() {
                    view.artifacts = folder_size(&view.summary.dumps_folder);
                }
                if let Some(c) = view.outbox.take() {
                    send(c);
                }
            }
            key = keys.next() => match key {
                Some(Ok(TermEvent::Key(key))) => match view.on_key(key) {
                    Effect::Nothing => {}
                    Effect::Send(c) => send(c),
                    Effect::Exit => quit_now = true,
                    Effect::Save { path, text } => {
                        let (level, said) = match save_file(&path, &text) {
                            Ok(()) => (
                                crate::event::Level::Info,
                                format!("procedure written to {}", path.display()),
                            ),
                            Err(e) => (crate::event::Level::Warn, format!("{e:#}")),
                        };
                        view.set_notice(level, &said);
                    }
                    Effect::Copy { what, text } => {
                        let said = match copy_to_clipboard(&text) {
                            Ok(()) => format!(
                                "{what} sent to the terminal's clipboard (OSC 52); if nothing \
                                 arrives, the terminal does not allow it: P writes it to a file"
                            ),
                            Err(e) => format!("cannot reach the terminal's clipboard: {e}"),
                        };
                        view.set_notice(crate::event::Level::Info, &said);
                    }
                },
                Some(Ok(TermEvent::Resize(..))) => {
                    let _ = screen.terminal.autoresize();
                }
                Some(Ok(_)) => {}
                // The terminal is gone (hang-up): stop reading it; the signal, if
                // one comes, or the engine's end closes the session.
                Some(Err(_)) | None => {
                    screen.broken = true;
                    if !view.quitting && view.ended.is_none() {
                        view.quitting = true;
                        send(Command::Quit);
                    }
                    keys = EventStream::new();
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
            end = async {
                match engine.as_mut() {
                    Some(handle) => handle.await,
                    None => std::future::pending().await,
                }
            }, if engine.is_some() => {
                engine = None;
                let end = end.context("the engine task stopped unexpectedly").and_then(|r| r);
                let failed = end.is_err();
                run = Some(end);
                if failed || view.quitting || commands.is_none() {
                    break;
                }
            }
            _ = signals.next() => {
                signalled = true;
                if commands.is_none() || view.ended.is_some() {
                    break;
                }
                view.quitting = true;
                send(Command::Quit);
            }
            _ = tick.tick() => {
                view.tick(chrono::Utc::now());
                if PANICKED.load(Ordering::SeqCst) && !view.quitting {
                    view.quitting = true;
                    send(Command::Quit);
                }
            }
        }
        if quit_now {
            break;
        }
        screen.draw(view, theme);
    }
    // Quit from a finished or failed run: the engine has ended already, or ends
    // now that nobody sends it commands.
    if let Some(handle) = engine {
        run = Some(
            handle
                .await
                .context("the engine task stopped unexpectedly")
                .and_then(|r| r),
        );
    }
    Ok(LoopEnd { run, signalled })
}

/// What the operator reads on the main screen after the wizard closes, and the
/// exit code: 0 done or paused by the operator, 1 a step failed or an error, 3
/// stopped by a signal (paused at a safe point).
fn farewell(view: &ViewState, end: LoopEnd, journal: &std::path::Path, resume: &str) -> ExitCode {
    match end.run {
        Some(Err(e)) => {
            errln!("error: {e:#}");
            errln!("the journal is at {}; {resume}", journal.display());
            ExitCode::Failed
        }
        Some(Ok(RunEnd::Finished)) => {
            outln!("done: every step of this migration is done");
            outln!("journal: {}", journal.display());
            ExitCode::Success
        }
        Some(Ok(RunEnd::Failed { step })) => {
            errln!(
                "step {step} failed; fix the cause, then {resume}: it retries {step}. Its log is \
                 in logs/{step}.log"
            );
            errln!("journal: {}", journal.display());
            ExitCode::Failed
        }
        Some(Ok(run)) => {
            let at = match &run {
                // At a gate or a question, or in the middle of a step that ended its wait.
                RunEnd::Paused { waiting: Some(s) } if view.waiting.is_some() => {
                    format!(" ({s} waits for an answer)")
                }
                RunEnd::Paused { waiting: Some(s) } => {
                    format!(" ({s} stopped part-way, journaled; it runs again on resume)")
                }
                _ => view
                    .steps
                    .iter()
                    .find(|s| !s.state.is_settled())
                    .map(|s| format!(" before step {}. {}", s.number, s.id))
                    .unwrap_or_default(),
            };
            let why = if end.signalled {
                "stopped by a signal: paused"
            } else {
                "paused"
            };
            errln!("{why} at a safe point{at}; {resume}");
            errln!("journal: {}", journal.display());
            if end.signalled {
                ExitCode::Waiting
            } else {
                ExitCode::Success
            }
        }
        None => ExitCode::Success,
    }
}

/// Writes `text` to `path` whole or not at all (a temporary file renamed into place).
fn save_file(path: &std::path::Path, text: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create {}: check its permissions", dir.display()))?;
    let tmp = path.with_extension("sh.tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| {
            format!(
                "cannot write {}: check the state folder's permissions and free space",
                path.display()
            )
        })
}

/// The OSC 52 sequence that asks the terminal to put `text` on its clipboard; inside tmux
/// it is also wrapped for tmux to pass on (when its `allow-passthrough` is on).
pub fn osc52(text: &str, in_tmux: bool) -> String {
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD.encode(text);
    let plain = format!("\x1b]52;c;{data}\x07");
    if in_tmux {
        format!("{plain}\x1bPtmux;\x1b\x1b]52;c;{data}\x07\x1b\\")
    } else {
        plain
    }
}

fn copy_to_clipboard(text: &str) -> std::io::Result<()> {
    let mut out = stdout();
    out.write_all(osc52(text, std::env::var_os("TMUX").is_some()).as_bytes())?;
    out.flush()
}

/// Files and bytes under `dir`, or None when it cannot be read.
fn folder_size(dir: &std::path::Path) -> Option<(u64, u64)> {
    let mut files = 0u64;
    let mut bytes = 0u64;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).ok()?.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    Some((files, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_carries_the_text_in_base64_and_tmux_gets_it_wrapped() {
        assert_eq!(osc52("ls\n", false), "\x1b]52;c;bHMK\x07");
        let wrapped = osc52("ls\n", true);
        assert!(wrapped.starts_with("\x1b]52;c;bHMK\x07\x1bPtmux;\x1b\x1b]52;c;bHMK\x07"));
        assert!(wrapped.ends_with("\x1b\\"));
    }

    #[test]
    fn a_saved_file_is_whole_and_its_folder_is_made() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("procedures").join("09-stop-traffic.sh");
        save_file(&path, "echo one\n").expect("written");
        assert_eq!(
            std::fs::read_to_string(&path).ok().as_deref(),
            Some("echo one\n")
        );
        assert_eq!(folder_size(dir.path()), Some((1, 9)));
        assert!(!path.with_extension("sh.tmp").exists());
    }
}
