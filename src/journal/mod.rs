//! The append-only journal of a migration: one JSON object per line, fsynced when
//! written. The state of a migration is the fold of its journal (see `state`);
//! nothing else is authoritative. Only the engine writes it.
//!
//! A line that was being written when the process died (no newline at the end of
//! the file) is a torn line: it is reported, terminated and acknowledged by a
//! `torn-line-found` entry, never dropped or rewritten. Any other line that does
//! not parse makes the journal corrupt, and the message names the line.

mod entry;
mod identity;
mod lock;
mod state;
mod timeline;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::Utc;

pub use entry::{Confirmation, Entry, Header, HeldAt, JournalEvent};
pub use identity::{Identity, hostname};

pub use lock::{Lock, LockHolder, current_holder};
pub use state::{JournalState, StepRecord, StepStatus};
pub use timeline::{SessionEnd, SessionSummary, sessions};

use crate::error::bad_input;

pub const JOURNAL_FILE: &str = "journal.jsonl";

/// A line that was cut short when a process died while writing it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TornLine {
    /// 1-based line number in the file.
    pub line: u64,
    pub bytes: u64,
}

/// What reading a journal file found.
#[derive(Debug, Default)]
pub struct JournalRead {
    pub entries: Vec<Entry>,
    /// A torn last line that no entry has acknowledged yet.
    pub torn: Option<TornLine>,
    /// Byte length of the file when read.
    pub len: u64,
}

/// Reads and checks a journal file without changing it. A missing file is an
/// empty journal.
pub fn read(path: &Path) -> Result<JournalRead> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(JournalRead::default()),
        Err(e) => {
            return Err(bad_input(format!(
                "cannot read journal {}: {e}; check its permissions",
                path.display()
            )));
        }
    };
    parse(&bytes, path)
}

/// Reads and checks journal bytes (the whole file, or its complete lines so far); `path` names
/// the file in messages.
pub fn parse(bytes: &[u8], path: &Path) -> Result<JournalRead> {
    let mut out = JournalRead {
        len: bytes.len() as u64,
        ..Default::default()
    };
    // Lines that did not parse, waiting for a later torn-line-found entry.
    let mut unacknowledged: Vec<u64> = Vec::new();
    let mut rest = bytes;
    let mut line_no = 0u64;
    while !rest.is_empty() {
        line_no += 1;
        let (line, complete) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let line = &rest[..i];
                rest = &rest[i + 1..];
                (line, true)
            }
            None => {
                let line = rest;
                rest = &[];
                (line, false)
            }
        };
        let parsed = std::str::from_utf8(line)
            .ok()
            .and_then(|s| serde_json::from_str::<Entry>(s).ok());
        match parsed {
            Some(entry) if complete => {
                let expected = out.entries.last().map(|e| e.seq + 1).unwrap_or(1);
                if entry.seq != expected {
                    return Err(bad_input(format!(
                        "journal {} is corrupt at line {line_no}: sequence number {} where {expected} \
                         was expected; keep the file as it is and inspect it",
                        path.display(),
                        entry.seq
                    )));
                }
                if let JournalEvent::TornLineFound { line, .. } = &entry.event {
                    unacknowledged.retain(|l| l != line);
                }
                out.entries.push(entry);
            }
            _ if !complete => {
                out.torn = Some(TornLine {
                    line: line_no,
                    bytes: line.len() as u64,
                });
            }
            _ => unacknowledged.push(line_no),
        }
    }
    if let Some(line) = unacknowledged.first() {
        return Err(bad_input(format!(
            "journal {} is corrupt at line {line}: it is not a journal entry; keep the file as it \
             is, and inspect or restore it from a copy before resuming",
            path.display()
        )));
    }
    Ok(out)
}

/// The journal of one migration, open for appending. Holding one means holding
/// the migration's lock.
pub struct Journal {
    file: File,
    path: PathBuf,
    next_seq: u64,
    identity: Identity,
    entries: Vec<Entry>,
    _lock: Lock,
}

/// What opening a journal for writing found and did.
#[derive(Debug, Default)]
pub struct OpenReport {
    /// The journal already had entries: this is a resumed migration.
    pub resumed: bool,
    pub torn: Option<TornLine>,
    pub took_over: Option<LockHolder>,
}

impl Journal {
    /// Takes the lock of `dir` and opens its journal, creating the folder and the
    /// journal (with its header) when new. A journal of another migration is refused.
    pub fn open(dir: &Path, header: &Header, identity: Identity) -> Result<(Journal, OpenReport)> {
        std::fs::create_dir_all(dir).map_err(|e| {
            bad_input(format!(
                "cannot create state folder {}: {e}; check --state-dir (or migration.state_dir) \
                 and that this user may write there",
                dir.display()
            ))
        })?;
        let (lock, took_over) = Lock::acquire(dir, &identity)?;
        let path = dir.join(JOURNAL_FILE);
        let read = read(&path)?;
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| {
                bad_input(format!(
                    "cannot open journal {} for writing: {e}; check its permissions",
                    path.display()
                ))
            })?;
        sync_dir(dir);
        if let Some(first) = read.entries.first() {
            header.check_matches(first, &path)?;
        } else if read.torn.is_some() || read.len > 0 {
            return Err(bad_input(format!(
                "journal {} has no readable first entry; keep the file and inspect it",
                path.display()
            )));
        }
        if read.torn.is_some() {
            // Terminate the torn line so the next entry starts on a line of its own.
            file.write_all(b"\n")
                .and_then(|_| file.sync_data())
                .with_context(|| format!("cannot write to journal {}", path.display()))?;
        }
        let next_seq = read.entries.last().map(|e| e.seq + 1).unwrap_or(1);
        let mut journal = Journal {
            file,
            path,
            next_seq,
            identity,
            entries: read.entries,
            _lock: lock,
        };
        let report = OpenReport {
            resumed: !journal.entries.is_empty(),
            torn: read.torn.clone(),
            took_over: took_over.clone(),
        };
        if journal.entries.is_empty() {
            journal.append(header.opened_event())?;
        }
        if let Some(torn) = read.torn {
            journal.append(JournalEvent::TornLineFound {
                line: torn.line,
                bytes: torn.bytes,
            })?;
        }
        if let Some(prev) = took_over {
            journal.append(JournalEvent::LockTakenOver {
                previous_pid: prev.pid,
                previous_host: prev.host,
                previous_operator: prev.operator,
                previous_started: prev.started,
            })?;
        }
        Ok((journal, report))
    }

    /// Appends one event and makes it durable before returning.
    pub fn append(&mut self, event: JournalEvent) -> Result<Entry> {
        let entry = Entry {
            seq: self.next_seq,
            time: Utc::now(),
            operator: self.identity.operator.clone(),
            host: self.identity.host.clone(),
            pid: self.identity.pid,
            event,
        };
        let mut line = serde_json::to_vec(&entry).context("cannot encode a journal entry")?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|_| self.file.sync_data())
            .with_context(|| {
                format!(
                    "cannot write to journal {}; check free disk space; nothing was started",
                    self.path.display()
                )
            })?;
        self.next_seq += 1;
        self.entries.push(entry.clone());
        Ok(entry)
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn state(&self) -> JournalState {
        JournalState::fold(&self.entries)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }
}

/// Makes a new directory entry durable; best effort, as not every filesystem
/// lets a directory be fsynced.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64) -> String {
        format!(
            r#"{{"seq":{seq},"time":"2026-11-22T10:00:00Z","operator":"o","host":"h","pid":1,"event":"session-ended","reason":"x"}}"#
        )
    }

    #[test]
    fn torn_last_line_is_reported_not_dropped() {
        let text = format!("{}\n{}\n{{\"seq\":3,\"ti", line(1), line(2));
        let read = parse(text.as_bytes(), Path::new("j")).expect("torn tail is not corruption");
        assert_eq!(read.entries.len(), 2);
        assert_eq!(read.torn, Some(TornLine { line: 3, bytes: 12 }));
    }

    #[test]
    fn bad_middle_line_is_corruption_naming_the_line() {
        let text = format!("{}\ngarbage\n{}\n", line(1), line(2));
        let err = parse(text.as_bytes(), Path::new("j")).expect_err("corrupt");
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn acknowledged_torn_line_is_accepted() {
        let ack = r#"{"seq":2,"time":"2026-11-22T10:00:00Z","operator":"o","host":"h","pid":1,"event":"torn-line-found","line":2,"bytes":5}"#;
        let text = format!("{}\n{{\"se\n{ack}\n{}\n", line(1), line(3));
        let read = parse(text.as_bytes(), Path::new("j")).expect("acknowledged");
        assert_eq!(read.entries.len(), 3);
        assert_eq!(read.torn, None);
    }

    #[test]
    fn sequence_gap_is_corruption() {
        let text = format!("{}\n{}\n", line(1), line(3));
        let err = parse(text.as_bytes(), Path::new("j")).expect_err("gap");
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
