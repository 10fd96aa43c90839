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

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

use super::{
    Entry, Header, JOURNAL_FILE, JournalEvent, JournalState, LockHolder, Need, Outcome, StepStatus,
    current_holder, parse,
};
use crate::config::Config;
use crate::error::bad_input;
use crate::event::{Event, Level, Request, RunEnd};
use crate::infra::url::redact;
use crate::plan::{PlannedStep, plan};
use crate::runbook::{StepId, StepKind};

/// How often `Follower::run` looks at the journal and the step logs.
pub const DEFAULT_POLL: Duration = Duration::from_millis(500);

/// The folder of the step logs inside a migration folder (see `steps::StepSink`).
const LOGS_DIR: &str = "logs";
/// Lines of the running step's log shown when the follower starts.
const TAIL_AT_START: usize = 5;
/// How much of the end of a step log is read at start to find its last lines.
const TAIL_BYTES: u64 = 64 * 1024;
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

/// Which file a path names now; a different one means the file was replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    fn of(meta: &std::fs::Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Where reading the journal file stands.
struct JournalTail {
    file: Option<File>,
    id: Option<FileId>,
    /// Bytes read from the file so far.
    offset: u64,
    /// Read bytes after the last newline: a line not written to its end yet.
    partial: Vec<u8>,
    /// Complete lines taken so far (line numbers are 1-based, as in messages).
    lines: u64,
    /// Complete lines that are not entries, waiting for the entry that records
    /// them as torn.
    unacknowledged: Vec<u64>,
    /// The journal stopped following on; nothing more is taken until it is replaced.
    broken: bool,
    /// The last problem reported about reading the file, so it is said once.
    problem: Option<String>,
}

impl JournalTail {
    fn new(file: Option<File>, id: Option<FileId>) -> JournalTail {
        JournalTail {
            file,
            id,
            offset: 0,
            partial: Vec::new(),
            lines: 0,
            unacknowledged: Vec::new(),
            broken: false,
            problem: None,
        }
    }
}

/// Where reading one step log stands.
struct LogTail {
    id: FileId,
    offset: u64,
    partial: Vec<u8>,
}

/// One Event from the journal, with where it sorts among step log lines.
struct Item {
    /// Milliseconds of the entry's time and a rank for equal milliseconds; None
    /// for what is not an entry (e.g. a notice about the file itself).
    key: Option<(i64, u8)>,
    event: Event,
}

/// One new step log line.
struct LogItem {
    /// Milliseconds of the line's time stamp (`i64::MAX` when it has none).
    ms: i64,
    event: Event,
}

/// For equal milliseconds: a step's start comes before its log lines, and its log
/// lines before everything else (its end above all).
const RANK_STARTED: u8 = 0;
const RANK_LOG: u8 = 1;
const RANK_OTHER: u8 = 2;

/// Follows one migration's journal and step logs; see the module doc.
pub struct Follower {
    config: Config,
    header: Header,
    path: PathBuf,
    logs_dir: PathBuf,
    plan: Vec<PlannedStep>,
    /// The entries of the journal file read so far.
    entries: Vec<Entry>,
    state: JournalState,
    /// After the journal was replaced: the entries already shown from the file
    /// before, which are not shown again while the new file repeats them.
    shown: Option<Vec<Entry>>,
    holder: Option<LockHolder>,
    journal: JournalTail,
    logs: HashMap<String, LogTail>,
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
            config: config.clone(),
            header: Header {
                migration: config.name.clone(),
                runbook: config.runbook,
                access_path: config.access_path,
            },
            path,
            logs_dir: dir.join(LOGS_DIR),
            plan: plan(config),
            entries: Vec::new(),
            state: JournalState::default(),
            shown: None,
            holder: current_holder(&dir),
            journal: JournalTail::new(Some(file), Some(id)),
            logs: HashMap::new(),
            start_tail: Vec::new(),
            polls: 0,
        };
        follower.load(&bytes)?;
        follower.mark_log_ends();
        Ok(follower)
    }

    /// The fold of the journal as read so far: for building the screen at start.
    pub fn state(&self) -> &JournalState {
        &self.state
    }

    /// The entries read so far.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Who holds the migration's lock, as last read.
    pub fn holder(&self) -> Option<&LockHolder> {
        self.holder.as_ref()
    }

    /// The journal file followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the screen shows at start beyond `state()`: who runs the migration,
    /// the run in progress and what it waits for, and the last lines of the
    /// running step's log. `run` sends these first.
    pub fn initial_events(&self) -> Vec<Event> {
        let mut out = vec![Event::Notice {
            level: Level::Info,
            text: format!(
                "watching migration {} read-only: {}",
                self.config.name,
                holder_text(self.holder.as_ref())
            ),
        }];
        if self.session_live() {
            let (done, total) = self.progress();
            let resumed = self.entries.iter().rev().find_map(|e| match e.event {
                JournalEvent::SessionStarted { resumed, .. } => Some(resumed),
                _ => None,
            });
            out.push(Event::RunStarted {
                resumed: resumed.unwrap_or(done > 0),
                done,
                total,
            });
            if let Some(request) = self.waiting_request() {
                out.push(Event::Waiting(request));
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
        let before = self.entries.len();
        let items = self.poll_journal();
        let mut out = merge(items, lines);
        let sessions_now: Vec<(u32, String)> = self.entries[before.min(self.entries.len())..]
            .iter()
            .filter(|e| matches!(e.event, JournalEvent::SessionStarted { .. }))
            .map(|e| (e.pid, e.host.clone()))
            .collect();
        if self.entries.len() != before || self.polls.is_multiple_of(HOLDER_EVERY) {
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
        self.state = JournalState::fold(&read.entries);
        self.entries = read.entries;
        Ok(())
    }

    /// Notes where each step log ends now, and keeps the last lines of the
    /// running step's log for `initial_events`.
    fn mark_log_ends(&mut self) {
        let running: Vec<String> = self
            .state
            .steps
            .iter()
            .filter(|(_, r)| r.status == StepStatus::Running)
            .map(|(id, _)| id.clone())
            .collect();
        let Ok(dir) = std::fs::read_dir(&self.logs_dir) else {
            return;
        };
        for entry in dir.flatten() {
            let path = entry.path();
            let Some((name, step)) = self.log_step(&path) else {
                continue;
            };
            let Ok(mut file) = File::open(&path) else {
                continue;
            };
            let Ok(meta) = file.metadata() else {
                continue;
            };
            let len = meta.len();
            let from = len.saturating_sub(TAIL_BYTES);
            let mut tail = Vec::new();
            if file
                .seek(SeekFrom::Start(from))
                .and_then(|_| file.read_to_end(&mut tail))
                .is_err()
            {
                continue;
            }
            // Start after the last complete line: a line being written now is read
            // whole once its newline is there.
            let complete = tail.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            if running.contains(&name) && complete > 0 {
                let lines: Vec<&[u8]> = tail[..complete - 1].split(|&b| b == b'\n').collect();
                // The first piece may be cut by where the read began.
                let whole = if from > 0 { &lines[1..] } else { &lines[..] };
                let skip = whole.len().saturating_sub(TAIL_AT_START);
                self.start_tail
                    .extend(whole[skip..].iter().map(|line| log_item(step, line).event));
            }
            self.logs.insert(
                name,
                LogTail {
                    id: FileId::of(&meta),
                    offset: from + complete as u64,
                    partial: Vec::new(),
                },
            );
        }
    }

    /// The step a log file belongs to, named `<step id>.log`.
    fn log_step(&self, path: &Path) -> Option<(String, StepId)> {
        let name = path.file_name()?.to_str()?;
        let stem = name.strip_suffix(".log")?;
        let step = self.step_id(stem)?;
        Some((stem.to_string(), step))
    }

    /// New complete lines of every step log.
    fn poll_logs(&mut self) -> Vec<LogItem> {
        let mut out = Vec::new();
        let Ok(dir) = std::fs::read_dir(&self.logs_dir) else {
            return out;
        };
        for entry in dir.flatten() {
            let path = entry.path();
            let Some((name, step)) = self.log_step(&path) else {
                continue;
            };
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let id = FileId::of(&meta);
            // A log that appeared after the start is new: read from its beginning.
            let tail = self.logs.entry(name).or_insert(LogTail {
                id,
                offset: 0,
                partial: Vec::new(),
            });
            if tail.id != id || meta.len() < tail.offset {
                *tail = LogTail {
                    id,
                    offset: 0,
                    partial: Vec::new(),
                };
            }
            if meta.len() == tail.offset {
                continue;
            }
            let mut buf = Vec::new();
            let read = File::open(&path).and_then(|mut f| {
                f.seek(SeekFrom::Start(tail.offset))?;
                f.read_to_end(&mut buf)
            });
            if read.is_err() {
                continue;
            }
            tail.offset += buf.len() as u64;
            tail.partial.extend_from_slice(&buf);
            for line in take_complete_lines(&mut tail.partial) {
                out.push(log_item(step, &line));
            }
        }
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
            self.shown = Some(std::mem::take(&mut self.entries));
        }
        self.entries.clear();
        self.state = JournalState::default();
        self.journal = JournalTail::new(Some(file), Some(id));
    }

    fn read_new(&mut self, out: &mut Vec<Item>) {
        let Some(file) = self.journal.file.as_mut() else {
            return;
        };
        let offset = self.journal.offset;
        let mut buf = Vec::new();
        if let Err(e) = file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_to_end(&mut buf))
        {
            let text = format!(
                "cannot read the journal {}: {e}; still trying",
                self.path.display()
            );
            self.report_problem(text, out);
            return;
        }
        self.journal.problem = None;
        self.journal.offset += buf.len() as u64;
        self.journal.partial.extend_from_slice(&buf);
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
        let expected = self.entries.last().map_or(1, |e| e.seq + 1);
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
        if self.entries.is_empty()
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
        self.state.apply(&entry);
        let index = self.entries.len();
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
            for event in self.events_for(&entry) {
                out.push(Item { key, event });
            }
        }
        self.entries.push(entry);
    }

    /// The Events the wizard shows for one entry (the state already includes it).
    fn events_for(&self, e: &Entry) -> Vec<Event> {
        let who = format!("{} on {}, pid {}", e.operator, e.host, e.pid);
        let notice = |level: Level, text: String| Event::Notice {
            level,
            text: scrub(&text),
        };
        let step_of = |name: &str| {
            self.step_id(name).ok_or_else(|| {
                vec![notice(
                    Level::Warn,
                    format!("the journal names step `{name}`, which this runbook does not have"),
                )]
            })
        };
        let result: Result<Vec<Event>, Vec<Event>> = match &e.event {
            JournalEvent::MigrationOpened {
                migration,
                runbook,
                access_path,
                ..
            } => Ok(vec![notice(
                Level::Info,
                format!(
                    "migration {migration} opened by {who} (runbook {runbook}, access path \
                     {access_path})"
                ),
            )]),
            JournalEvent::SessionStarted {
                party,
                mode,
                resumed,
            } => {
                let (done, total) = self.progress();
                let what = if *resumed {
                    "resumed the migration"
                } else {
                    "started the migration"
                };
                Ok(vec![
                    notice(
                        Level::Info,
                        format!(
                            "{} ({}) {what} on {}, pid {}, in {mode} mode",
                            e.operator,
                            party.label(),
                            e.host,
                            e.pid
                        ),
                    ),
                    Event::RunStarted {
                        resumed: *resumed,
                        done,
                        total,
                    },
                ])
            }
            JournalEvent::RolledBack { steps, summary } => {
                let mut events = vec![notice(
                    Level::Warn,
                    format!(
                        "{who} rolled the source back ({summary}); {} steps from stopping the \
                         traffic on are to be done again",
                        steps.len()
                    ),
                )];
                // A step to do again shows as pending, as after a stop at its question.
                events.extend(steps.iter().filter_map(|s| self.step_id(s)).map(|step| {
                    Event::StepFinished {
                        step,
                        outcome: Outcome::Stopped,
                        summary: "rolled back; to be done again".to_string(),
                        figures: serde_json::Map::new(),
                    }
                }));
                Ok(events)
            }
            JournalEvent::SessionEnded { reason } => Ok(vec![
                notice(Level::Info, format!("the session of {who} ended: {reason}")),
                Event::RunEnded(self.run_end()),
            ]),
            JournalEvent::LockTakenOver {
                previous_pid,
                previous_host,
                previous_operator,
                ..
            } => Ok(vec![notice(
                Level::Warn,
                format!(
                    "{who} took over the lock of {previous_operator} (pid {previous_pid} on \
                     {previous_host}), which no longer ran"
                ),
            )]),
            JournalEvent::TornLineFound { line, bytes } => Ok(vec![notice(
                Level::Warn,
                format!(
                    "line {line} of the journal was cut short when a process stopped while \
                     writing it ({bytes} bytes); {who} recorded it as torn"
                ),
            )]),
            JournalEvent::StepWaiting {
                step,
                need,
                question,
                phrase,
            } => step_of(step).map(|id| match self.plan.iter().find(|p| p.step.id == id) {
                Some(planned) => {
                    let mut request = planned.request(&self.config, *need);
                    if question.is_some() {
                        request.question = question.clone();
                        request.phrase = phrase.clone();
                    }
                    vec![Event::Waiting(request)]
                }
                None => vec![notice(
                    Level::Info,
                    format!(
                        "step {id} waits for {} from {who}; it is not on this config's plan",
                        need.as_str()
                    ),
                )],
            }),
            JournalEvent::StepConfirmed { step, confirmation } => step_of(step).map(|id| {
                let by = format!(
                    "{} ({}) on {}",
                    e.operator,
                    confirmation.party.label(),
                    e.host
                );
                let line = match confirmation.need {
                    Need::HandOff => {
                        let doer = confirmation.text.clone().unwrap_or_else(|| {
                            self.plan
                                .iter()
                                .find(|p| p.step.id == id)
                                .map_or("the other party", |p| p.owner.label())
                                .to_string()
                        });
                        format!("done by {doer}, recorded by {by}")
                    }
                    _ => format!("confirmed by {by}"),
                };
                vec![Event::StepLog {
                    step: id,
                    level: Level::Info,
                    line: scrub(&line),
                }]
            }),
            JournalEvent::StepStarted {
                step,
                attempt,
                runs_as,
            } => step_of(step).map(|id| {
                let planned = self.plan.iter().find(|p| p.step.id == id);
                let runs_as = runs_as
                    .parse::<StepKind>()
                    .ok()
                    .or(planned.map(|p| p.runs_as))
                    .unwrap_or(StepKind::Manual);
                vec![Event::StepStarted {
                    step: id,
                    attempt: *attempt,
                    runs_as,
                }]
            }),
            JournalEvent::StepRechecked {
                step,
                holds,
                detail,
            } => step_of(step).map(|id| {
                vec![Event::StepRechecked {
                    step: id,
                    holds: *holds,
                    detail: scrub(detail),
                }]
            }),
            JournalEvent::StepFact { step, key, value } => step_of(step).map(|id| {
                let value = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                vec![Event::StepLog {
                    step: id,
                    level: Level::Info,
                    line: scrub(&format!("recorded {key}: {value}")),
                }]
            }),
            JournalEvent::StepFinished {
                step,
                outcome,
                summary,
                figures,
            } => step_of(step).map(|id| {
                vec![Event::StepFinished {
                    step: id,
                    outcome: *outcome,
                    summary: scrub(summary),
                    figures: figures.clone(),
                }]
            }),
            JournalEvent::StepSkipped { step, reason } => step_of(step).map(|id| {
                vec![Event::StepSkipped {
                    step: id,
                    reason: scrub(reason),
                }]
            }),
        };
        result.unwrap_or_else(|e| e)
    }

    /// The id of a step of this runbook (or of any runbook cutover ships).
    fn step_id(&self, name: &str) -> Option<StepId> {
        self.plan
            .iter()
            .map(|p| p.step.id)
            .find(|id| id.0 == name)
            .or_else(|| {
                crate::runbook::all()
                    .iter()
                    .flat_map(|b| b.steps.iter())
                    .map(|s| s.id)
                    .find(|id| id.0 == name)
            })
    }

    /// Steps of the plan done or skipped, and all steps of the plan.
    fn progress(&self) -> (usize, usize) {
        let done = self
            .plan
            .iter()
            .filter(|p| {
                matches!(
                    self.state.status(p.step.id.0),
                    StepStatus::Done | StepStatus::Skipped
                )
            })
            .count();
        (done, self.plan.len())
    }

    /// Whether a session is open and a process holds the lock.
    fn session_live(&self) -> bool {
        let last = self.entries.iter().rev().find(|e| {
            matches!(
                e.event,
                JournalEvent::SessionStarted { .. } | JournalEvent::SessionEnded { .. }
            )
        });
        self.holder.is_some()
            && last.is_some_and(|e| matches!(e.event, JournalEvent::SessionStarted { .. }))
    }

    /// What the step that waits now (if any) asks for.
    fn waiting_request(&self) -> Option<Request> {
        let (step, need, question, phrase) =
            self.entries.iter().rev().find_map(|e| match &e.event {
                JournalEvent::StepWaiting {
                    step,
                    need,
                    question,
                    phrase,
                } => Some((step, *need, question, phrase)),
                _ => None,
            })?;
        self.state.step(step)?.waiting_since?;
        let planned = self.plan.iter().find(|p| p.step.id.0 == step)?;
        let mut request = planned.request(&self.config, need);
        if question.is_some() {
            request.question = question.clone();
            request.phrase = phrase.clone();
        }
        Some(request)
    }

    /// How the session that just ended left the run, from the journal.
    fn run_end(&self) -> RunEnd {
        let last_step_end = self
            .entries
            .iter()
            .rev()
            .take_while(|e| !matches!(e.event, JournalEvent::SessionStarted { .. }))
            .find_map(|e| match &e.event {
                JournalEvent::StepFinished { step, outcome, .. } => Some((step, Some(*outcome))),
                JournalEvent::StepSkipped { step, .. } => Some((step, None)),
                _ => None,
            });
        if let Some((step, Some(Outcome::Failed))) = last_step_end
            && self.state.status(step) == StepStatus::Failed
            && let Some(id) = self.step_id(step)
        {
            return RunEnd::Failed { step: id };
        }
        let (done, total) = self.progress();
        if done == total {
            return RunEnd::Finished;
        }
        let waiting = self
            .plan
            .iter()
            .find(|p| {
                self.state
                    .step(p.step.id.0)
                    .is_some_and(|r| r.waiting_since.is_some())
            })
            .map(|p| p.step.id);
        RunEnd::Paused { waiting }
    }
}

/// Puts journal Events and step log lines in the order they happened. Entries
/// keep their journal order; a log line goes before the first entry that is later.
fn merge(items: Vec<Item>, lines: Vec<LogItem>) -> Vec<Event> {
    let mut out = Vec::with_capacity(items.len() + lines.len());
    let mut lines = lines.into_iter().peekable();
    for item in items {
        if let Some(key) = item.key {
            while let Some(line) = lines.next_if(|l| (l.ms, RANK_LOG) < key) {
                out.push(line.event);
            }
        }
        out.push(item.event);
    }
    out.extend(lines.map(|l| l.event));
    out
}

/// Removes the complete lines (without their newline) from the front of `buf`,
/// leaving a last line not written to its end yet.
fn take_complete_lines(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
        return Vec::new();
    };
    let complete: Vec<u8> = buf.drain(..=end).collect();
    complete[..end]
        .split(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

fn parse_entry(line: &[u8]) -> Option<Entry> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| serde_json::from_str::<Entry>(s).ok())
}

fn same_entry(a: &Entry, b: &Entry) -> bool {
    a.seq == b.seq && a.time == b.time && a.pid == b.pid && a.host == b.host
}

/// A step log line as `StepSink` writes it: `<UTC time> <Info|Warn|Error> <text>`.
/// A line in another shape is shown whole.
fn log_item(step: StepId, line: &[u8]) -> LogItem {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches('\r');
    let mut parts = text.splitn(3, ' ');
    let time = parts
        .next()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let level = match parts.next() {
        Some("Info") => Some(Level::Info),
        Some("Warn") => Some(Level::Warn),
        Some("Error") => Some(Level::Error),
        _ => None,
    };
    let (ms, level, line) = match (time, level) {
        (Some(time), Some(level)) => (
            time.timestamp_millis(),
            level,
            parts.next().unwrap_or_default().to_string(),
        ),
        _ => (i64::MAX, Level::Info, text.to_string()),
    };
    LogItem {
        ms,
        event: Event::StepLog {
            step,
            level,
            line: scrub(&line),
        },
    }
}

/// `text` with every word that may be a URL or a `key=value` connection string
/// passed through `redact`: what reaches a watcher's screen carries no password
/// even when a line that should not have held one did.
fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |out: &mut String, word: &mut String| {
        if word.contains("://") || word.contains('=') || word.contains('@') {
            out.push_str(&redact(word));
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() {
            flush(&mut out, &mut word);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut out, &mut word);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ms: i64, rank: u8, line: &str) -> Item {
        Item {
            key: Some((ms, rank)),
            event: Event::Notice {
                level: Level::Info,
                text: line.to_string(),
            },
        }
    }

    fn log(ms: i64, line: &str) -> LogItem {
        LogItem {
            ms,
            event: Event::StepLog {
                step: StepId("s"),
                level: Level::Info,
                line: line.to_string(),
            },
        }
    }

    fn texts(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                Event::Notice { text, .. } => text.clone(),
                Event::StepLog { line, .. } => line.clone(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn log_lines_go_between_a_start_and_an_end_of_the_same_millisecond() {
        let items = vec![
            ev(10, RANK_STARTED, "started"),
            ev(10, RANK_OTHER, "finished"),
        ];
        let out = merge(items, vec![log(10, "line")]);
        assert_eq!(texts(&out), ["started", "line", "finished"]);
    }

    #[test]
    fn log_lines_follow_time_and_entries_keep_their_order() {
        let items = vec![
            ev(5, RANK_OTHER, "a"),
            ev(3, RANK_OTHER, "b"),
            ev(20, RANK_OTHER, "c"),
        ];
        let out = merge(items, vec![log(4, "x"), log(15, "y"), log(i64::MAX, "z")]);
        assert_eq!(texts(&out), ["x", "a", "b", "y", "c", "z"]);
    }

    #[test]
    fn a_log_line_in_the_sink_format_is_parsed() {
        let item = log_item(StepId("s"), b"2026-11-23T09:00:01.250Z Warn slow: 3 s");
        let Event::StepLog { level, line, .. } = item.event else {
            panic!("a step log line");
        };
        assert_eq!((level, line.as_str()), (Level::Warn, "slow: 3 s"));
        assert_eq!(item.ms % 1000, 250);
        let odd = log_item(StepId("s"), b"no time here");
        assert_eq!(odd.ms, i64::MAX);
    }

    #[test]
    fn scrub_masks_passwords_and_keeps_spacing() {
        let out = scrub("copy redis://:hunter2@h:1/0  to password=pw done");
        assert!(!out.contains("hunter2") && !out.contains("pw "), "{out}");
        assert!(out.contains("  to "), "{out}");
    }

    #[test]
    fn complete_lines_are_taken_and_the_rest_kept() {
        let mut buf = b"a\nbb\ncc".to_vec();
        assert_eq!(
            take_complete_lines(&mut buf),
            vec![b"a".to_vec(), b"bb".to_vec()]
        );
        assert_eq!(buf, b"cc");
        assert!(take_complete_lines(&mut buf).is_empty());
    }
}
