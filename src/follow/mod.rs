//! Follows a migration's journal and step logs while another process writes them,
//! and turns what is new into the Events the wizard shows, so a second person on
//! a call can watch the same screen read-only (`cutover tui --read-only`).
//!
//! The follower never writes into the migration folder and never takes its lock.
//! It polls the journal's length (a stat), reads only the bytes added since the
//! last poll, and parses only complete lines: a last line without its newline is
//! one the writer has not finished yet, not a torn line. A line that was torn when
//! a writer died is accepted once the next entry records it as torn, as
//! `journal::read` accepts it; anything else that does not follow on (a line that is
//! not an entry, a sequence gap) is reported and the journal is no longer followed
//! until it is replaced. The step logs under `logs/` are followed the same way,
//! from where they ended when the follower started.
//!
//! `tail` reads the files, `replay` turns what they hold into Events; this file puts the two
//! together.

mod replay;
mod tail;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use tokio::sync::mpsc::UnboundedSender;

use replay::{Item, LogItem, RANK_OTHER, RANK_STARTED, Replay, log_item, merge};
use tail::{
    FileId, JournalTail, StepLogs, count_lines, parse_entry, same_entry, take_complete_lines,
};

use crate::config::Config;
use crate::error::bad_input;
use crate::event::{Event, Level};
use crate::journal::{
    Entry, Header, JOURNAL_FILE, JournalEvent, JournalState, LockHolder, StepStatus,
    current_holder, parse,
};
use crate::plan::plan;

/// How often `Follower::run` looks at the journal and the step logs.
pub const DEFAULT_POLL: Duration = Duration::from_millis(500);

/// The folder of the step logs inside a migration folder (see `steps::StepSink`).
const LOGS_DIR: &str = "logs";
/// Every how many polls the lock holder is read again when the journal is quiet
/// (a holder killed with -9 writes nothing on its way out).
const HOLDER_EVERY: u64 = 10;

/// `run by Ana on bastion-1, pid 4242`, or `nobody runs it now`: for a header.
pub fn holder_text(holder: Option<&LockHolder>) -> String {
    match holder {
        Some(h) => format!("run by {} on {}, pid {}", h.operator, h.host, h.pid),
        None => "nobody runs it now".to_string(),
    }
}

/// Follows one migration's journal and step logs; see the module doc.
pub struct Follower {
    header: Header,
    path: PathBuf,
    /// The entries read so far, their fold, and the plan they are shown against.
    replay: Replay,
    /// After the journal was replaced: the entries already shown from the file
    /// before, which are not shown again while the new file repeats them.
    shown: Option<Vec<Entry>>,
    holder: Option<LockHolder>,
    journal: JournalTail,
    logs: StepLogs,
    /// The last lines of the running step's log when the follower started.
    start_tail: Vec<Event>,
    polls: u64,
}

impl Follower {
    /// Reads the journal of the configured migration once, and notes where every
    /// step log ends now. A journal that does not exist yet, cannot be read, belongs
    /// to another migration or is corrupt is bad input.
    pub fn open(config: &Config) -> Result<Follower> {
        let dir = config.migration_dir();
        let path = dir.join(JOURNAL_FILE);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(bad_input(format!(
                    "there is no migration to watch yet at {}: its journal {} does not exist. \
                     Start the migration with `cutover` first (same config and --state-dir), \
                     then watch it with `cutover tui --read-only`",
                    dir.display(),
                    path.display()
                )));
            }
            Err(e) => {
                return Err(bad_input(format!(
                    "cannot read journal {}: {e}; check its permissions",
                    path.display()
                )));
            }
        };
        let mut bytes = Vec::new();
        let id = file
            .metadata()
            .and_then(|m| file.read_to_end(&mut bytes).map(|_| FileId::of(&m)))
            .map_err(|e| {
                bad_input(format!(
                    "cannot read journal {}: {e}; check its permissions",
                    path.display()
                ))
            })?;
        let mut follower = Follower {
            header: Header {
                migration: config.name.clone(),
                runbook: config.runbook,
                access_path: config.access_path,
            },
            path,
            replay: Replay {
                config: config.clone(),
                plan: plan(config),
                entries: Vec::new(),
                state: JournalState::default(),
            },
            shown: None,
            holder: current_holder(&dir),
            journal: JournalTail::new(Some(file), Some(id)),
            logs: StepLogs::new(dir.join(LOGS_DIR)),
            start_tail: Vec::new(),
            polls: 0,
        };
        follower.load(&bytes)?;
        follower.mark_log_ends();
        Ok(follower)
    }

    /// The fold of the journal as read so far: for building the screen at start.
    pub fn state(&self) -> &JournalState {
        &self.replay.state
    }

    /// The entries read so far.
    pub fn entries(&self) -> &[Entry] {
        &self.replay.entries
    }

    /// Who holds the migration's lock, as last read.
    pub fn holder(&self) -> Option<&LockHolder> {
        self.holder.as_ref()
    }

    /// Whether a live process runs the migration now (it holds the lock, and its session has
    /// started and not ended): a step the journal shows as started is running, not stopped.
    pub fn runs_now(&self) -> bool {
        self.holder.is_some() && self.replay.session_open()
    }

    /// The journal file followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the screen shows at start beyond `state()`: who runs the migration,
    /// the run in progress and what it waits for, and the last lines of the
    /// running step's log. `run` sends these first.
    pub fn initial_events(&self) -> Vec<Event> {
        let mut out = vec![
            Event::Notice {
                level: Level::Info,
                text: format!(
                    "watching migration {} read-only: {}",
                    self.replay.config.name,
                    holder_text(self.holder.as_ref())
                ),
            },
            Event::RunBy {
                operator: self
                    .replay
                    .operator(self.holder.as_ref().filter(|_| self.runs_now())),
            },
        ];
        if self.runs_now() {
            let (done, total) = self.replay.progress();
            let resumed = self
                .replay
                .entries
                .iter()
                .rev()
                .find_map(|e| match e.event {
                    JournalEvent::SessionStarted { resumed, .. } => Some(resumed),
                    _ => None,
                });
            out.push(Event::RunStarted {
                resumed: resumed.unwrap_or(done > 0),
                done,
                total,
            });
            if let Some(request) = self.replay.waiting_request() {
                out.push(Event::Waiting(request));
            } else if let Some((at, step)) = &self.replay.state.held {
                out.push(Event::Holding(self.replay.hold(*at, step.as_deref())));
            }
        }
        out.extend(self.start_tail.iter().cloned());
        out
    }

    /// Looks once at the journal and the step logs and returns the Events for what
    /// is new, in the order it happened. Never blocks on the writer.
    pub fn poll_once(&mut self) -> Vec<Event> {
        self.polls += 1;
        // Step logs first: a line read now was written before any entry read after
        // it, so the entries of this poll can place every line.
        let lines = self.poll_logs();
        let before = self.replay.entries.len();
        let items = self.poll_journal();
        let mut out = merge(items, lines);
        let entries = &self.replay.entries;
        let sessions_now: Vec<(u32, String)> = entries[before.min(entries.len())..]
            .iter()
            .filter(|e| matches!(e.event, JournalEvent::SessionStarted { .. }))
            .map(|e| (e.pid, e.host.clone()))
            .collect();
        if self.replay.entries.len() != before || self.polls.is_multiple_of(HOLDER_EVERY) {
            let dir = self.path.parent().unwrap_or(Path::new("."));
            let now = current_holder(dir);
            if now != self.holder {
                // A session start already says who; a change nothing in the journal
                // explains (e.g. a holder killed with -9) is said here.
                let explained = now
                    .as_ref()
                    .is_some_and(|h| sessions_now.contains(&(h.pid, h.host.clone())));
                if !explained {
                    let text = match &now {
                        Some(_) => format!("this migration is now {}", holder_text(now.as_ref())),
                        None => "nobody runs this migration now: its lock is free".to_string(),
                    };
                    out.push(Event::Notice {
                        level: Level::Info,
                        text,
                    });
                    out.push(Event::RunBy {
                        operator: self.replay.operator(now.as_ref()),
                    });
                }
                self.holder = now;
            }
        }
        out
    }

    /// Sends `initial_events`, then polls every `poll` and sends what is new, until
    /// the receiver is dropped.
    pub async fn run(mut self, events: UnboundedSender<Event>, poll: Duration) {
        for event in self.initial_events() {
            if events.send(event).is_err() {
                return;
            }
        }
        let mut tick = tokio::time::interval(poll.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if events.is_closed() {
                return;
            }
            for event in self.poll_once() {
                if events.send(event).is_err() {
                    return;
                }
            }
        }
    }

    /// Takes the journal as read at start: the existing parse, over complete lines.
    fn load(&mut self, bytes: &[u8]) -> Result<()> {
        let complete_len = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let complete = &bytes[..complete_len];
        let (read, unacknowledged) = match parse(complete, &self.path) {
            Ok(read) => (read, None),
            Err(err) => {
                // A writer that just terminated a torn line writes the entry that
                // records it right after; a last line that is not an entry may be
                // one such, acknowledged by the next poll.
                let body = &complete[..complete_len.saturating_sub(1)];
                let last_start = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                if parse_entry(&body[last_start..]).is_some() {
                    return Err(err);
                }
                match parse(&complete[..last_start], &self.path) {
                    Ok(read) => (read, Some(count_lines(complete))),
                    Err(_) => return Err(err),
                }
            }
        };
        match read.entries.first() {
            Some(first) => self.header.check_matches(first, &self.path)?,
            None if complete_len > 0 => {
                return Err(bad_input(format!(
                    "journal {} has no readable first entry; keep the file and inspect it",
                    self.path.display()
                )));
            }
            None => {}
        }
        self.journal.offset = bytes.len() as u64;
        self.journal.partial = bytes[complete_len..].to_vec();
        self.journal.lines = count_lines(complete);
        self.journal.unacknowledged = unacknowledged.into_iter().collect();
        self.replay.state = JournalState::fold(&read.entries);
        self.replay.entries = read.entries;
        Ok(())
    }

    /// Notes where each step log ends now, and keeps the last lines of the
    /// running step's log for `initial_events`.
    fn mark_log_ends(&mut self) {
        let running: Vec<String> = self
            .replay
            .state
            .steps
            .iter()
            .filter(|(_, r)| r.status == StepStatus::Running)
            .map(|(id, _)| id.clone())
            .collect();
        let replay = &self.replay;
        let lines = self
            .logs
            .mark_ends(|name| replay.step_id(name).is_some(), &running);
        self.start_tail = lines
            .into_iter()
            .filter_map(|(name, line)| Some(log_item(replay.step_id(&name)?, &line).event))
            .collect();
    }

    /// New complete lines of every step log, in the order they were written.
    fn poll_logs(&mut self) -> Vec<LogItem> {
        let replay = &self.replay;
        let mut out: Vec<LogItem> = self
            .logs
            .poll(|name| replay.step_id(name).is_some())
            .into_iter()
            .filter_map(|(name, line)| Some(log_item(replay.step_id(&name)?, &line)))
            .collect();
        // Lines of one log are in order; lines of different logs interleave by time.
        out.sort_by_key(|l| l.ms);
        out
    }

    /// New entries of the journal, as Events, after checking that the file is the
    /// one read before.
    fn poll_journal(&mut self) -> Vec<Item> {
        let mut out = Vec::new();
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) => {
                let text = if e.kind() == std::io::ErrorKind::NotFound {
                    format!(
                        "the journal {} is gone; the screen waits for it to come back",
                        self.path.display()
                    )
                } else {
                    format!(
                        "cannot read the journal {}: {e}; still trying",
                        self.path.display()
                    )
                };
                self.report_problem(text, &mut out);
                return out;
            }
        };
        let id = FileId::of(&meta);
        if self.journal.id != Some(id) {
            self.reopen("was replaced by another file", &mut out);
        } else if meta.len() < self.journal.offset {
            self.reopen("is shorter than before (truncated)", &mut out);
        } else if meta.len() == self.journal.offset {
            return out;
        }
        self.read_new(&mut out);
        out
    }

    fn report_problem(&mut self, text: String, out: &mut Vec<Item>) {
        if self.journal.problem.as_deref() != Some(text.as_str()) {
            out.push(Item {
                key: None,
                event: Event::Notice {
                    level: Level::Warn,
                    text: text.clone(),
                },
            });
            self.journal.problem = Some(text);
        }
    }

    /// Starts over on the file now at the journal's path.
    fn reopen(&mut self, what: &str, out: &mut Vec<Item>) {
        let opened = File::open(&self.path).and_then(|f| {
            let meta = f.metadata()?;
            Ok((f, FileId::of(&meta)))
        });
        let (file, id) = match opened {
            Ok(o) => o,
            Err(e) => {
                let text = format!(
                    "cannot read the journal {}: {e}; still trying",
                    self.path.display()
                );
                self.report_problem(text, out);
                return;
            }
        };
        out.push(Item {
            key: None,
            event: Event::Notice {
                level: Level::Warn,
                text: format!(
                    "the journal {} {what}; reading it again from the start",
                    self.path.display()
                ),
            },
        });
        // While the new file only repeats what was shown, nothing is shown twice.
        if self.shown.is_none() {
            self.shown = Some(std::mem::take(&mut self.replay.entries));
        }
        self.replay.entries.clear();
        self.replay.state = JournalState::default();
        self.journal = JournalTail::new(Some(file), Some(id));
    }

    fn read_new(&mut self, out: &mut Vec<Item>) {
        if let Err(e) = self.journal.read_new() {
            let text = format!(
                "cannot read the journal {}: {e}; still trying",
                self.path.display()
            );
            self.report_problem(text, out);
            return;
        }
        self.journal.problem = None;
        for line in take_complete_lines(&mut self.journal.partial) {
            self.take_line(&line, out);
        }
    }

    /// One complete line of the journal, with the same rules as `journal::read`.
    fn take_line(&mut self, line: &[u8], out: &mut Vec<Item>) {
        self.journal.lines += 1;
        if self.journal.broken {
            return;
        }
        let line_no = self.journal.lines;
        let Some(entry) = parse_entry(line) else {
            self.journal.unacknowledged.push(line_no);
            return;
        };
        let expected = self.replay.entries.last().map_or(1, |e| e.seq + 1);
        if entry.seq != expected {
            let what = format!(
                "is corrupt at line {line_no}: sequence number {} where {expected} was expected",
                entry.seq
            );
            self.break_off(&what, out);
            return;
        }
        if let JournalEvent::TornLineFound { line, .. } = &entry.event {
            self.journal.unacknowledged.retain(|l| l != line);
        }
        if let Some(bad) = self.journal.unacknowledged.first() {
            let what = format!(
                "is corrupt at line {bad}: it is not a journal entry and no entry records it \
                 as torn"
            );
            self.break_off(&what, out);
            return;
        }
        if self.replay.entries.is_empty()
            && let Err(e) = self.header.check_matches(&entry, &self.path)
        {
            out.push(Item {
                key: None,
                event: Event::Notice {
                    level: Level::Error,
                    text: format!("{e}; the screen no longer follows it"),
                },
            });
            self.journal.broken = true;
            return;
        }
        self.accept(entry, out);
    }

    fn break_off(&mut self, what: &str, out: &mut Vec<Item>) {
        self.journal.broken = true;
        out.push(Item {
            key: None,
            event: Event::Notice {
                level: Level::Error,
                text: format!(
                    "the journal {} {what}; the screen no longer follows it. Keep the file as it \
                     is and inspect it",
                    self.path.display()
                ),
            },
        });
    }

    fn accept(&mut self, entry: Entry, out: &mut Vec<Item>) {
        self.replay.state.apply(&entry);
        let index = self.replay.entries.len();
        let repeat = match self.shown.as_ref().map(|shown| shown.get(index)) {
            None => false,
            Some(Some(old)) if same_entry(old, &entry) => true,
            Some(Some(_)) => {
                out.push(Item {
                    key: None,
                    event: Event::Notice {
                        level: Level::Warn,
                        text: format!(
                            "from entry {} on, the journal differs from what this screen \
                             showed; what follows is the journal as it is now. Start the \
                             watcher again for a screen built from it alone",
                            entry.seq
                        ),
                    },
                });
                self.shown = None;
                false
            }
            Some(None) => {
                self.shown = None;
                false
            }
        };
        if !repeat {
            let rank = match entry.event {
                JournalEvent::StepStarted { .. } => RANK_STARTED,
                _ => RANK_OTHER,
            };
            let key = Some((entry.time.timestamp_millis(), rank));
            for event in self.replay.events_for(&entry) {
                out.push(Item { key, event });
            }
        }
        self.replay.entries.push(entry);
    }
}
