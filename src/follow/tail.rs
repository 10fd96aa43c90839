//! Reading files another process is writing: the journal's bytes added since the last look, and
//! the new complete lines of the step logs. Nothing here knows what a line means; `replay` does.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::journal::Entry;
use crate::steps::PROGRESS_WORD;

/// Lines of the running step's log shown when the follower starts.
const TAIL_AT_START: usize = 5;
/// How much of the end of a step log is read at start to find its last lines.
const TAIL_BYTES: u64 = 64 * 1024;

/// Which file a path names now; a different one means the file was replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    pub(super) fn of(meta: &std::fs::Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Where reading the journal file stands.
pub(super) struct JournalTail {
    pub(super) file: Option<File>,
    pub(super) id: Option<FileId>,
    /// Bytes read from the file so far.
    pub(super) offset: u64,
    /// Read bytes after the last newline: a line not written to its end yet.
    pub(super) partial: Vec<u8>,
    /// Complete lines taken so far (line numbers are 1-based, as in messages).
    pub(super) lines: u64,
    /// Complete lines that are not entries, waiting for the entry that records
    /// them as torn.
    pub(super) unacknowledged: Vec<u64>,
    /// The journal stopped following on; nothing more is taken until it is replaced.
    pub(super) broken: bool,
    /// The last problem reported about reading the file, so it is said once.
    pub(super) problem: Option<String>,
}

impl JournalTail {
    pub(super) fn new(file: Option<File>, id: Option<FileId>) -> JournalTail {
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

    /// The bytes added to the file since the last read; they are also kept in `partial`, from
    /// which `take_complete_lines` takes what is whole.
    pub(super) fn read_new(&mut self) -> std::io::Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let mut buf = Vec::new();
        file.seek(SeekFrom::Start(self.offset))?;
        file.read_to_end(&mut buf)?;
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        Ok(())
    }
}

/// Where reading one step log stands.
struct LogTail {
    id: FileId,
    offset: u64,
    partial: Vec<u8>,
}

/// The step logs of a migration folder (`logs/<step>.log`), followed from where each ended when
/// the follower started.
pub(super) struct StepLogs {
    dir: PathBuf,
    tails: HashMap<String, LogTail>,
}

impl StepLogs {
    pub(super) fn new(dir: PathBuf) -> StepLogs {
        StepLogs {
            dir,
            tails: HashMap::new(),
        }
    }

    /// Notes where each log of a step (`is_step` says which names are steps) ends now, and
    /// returns the last few complete lines of the logs of the steps in `running`, for the
    /// screen at start.
    pub(super) fn mark_ends(
        &mut self,
        is_step: impl Fn(&str) -> bool,
        running: &[String],
    ) -> Vec<(String, Vec<u8>)> {
        let mut start_tail = Vec::new();
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return start_tail;
        };
        for entry in dir.flatten() {
            let path = entry.path();
            let Some(name) = log_name(&path).filter(|n| is_step(n)) else {
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
                // The last lines of text, then the last progress line (the gauge as it is).
                let is_progress =
                    |l: &&[u8]| l.split(|&b| b == b' ').nth(1) == Some(PROGRESS_WORD.as_bytes());
                let text: Vec<&[u8]> = whole.iter().copied().filter(|l| !is_progress(l)).collect();
                let skip = text.len().saturating_sub(TAIL_AT_START);
                let gauge = whole.iter().copied().rfind(is_progress);
                start_tail.extend(
                    text[skip..]
                        .iter()
                        .copied()
                        .chain(gauge)
                        .map(|l| (name.clone(), l.to_vec())),
                );
            }
            self.tails.insert(
                name,
                LogTail {
                    id: FileId::of(&meta),
                    offset: from + complete as u64,
                    partial: Vec::new(),
                },
            );
        }
        start_tail
    }

    /// The new complete lines of every step log, each with the name of its step; a log that
    /// appeared since is read from its beginning, one replaced or truncated from its new start.
    pub(super) fn poll(&mut self, is_step: impl Fn(&str) -> bool) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return out;
        };
        for entry in dir.flatten() {
            let path = entry.path();
            let Some(name) = log_name(&path).filter(|n| is_step(n)) else {
                continue;
            };
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let id = FileId::of(&meta);
            let tail = self.tails.entry(name.clone()).or_insert(LogTail {
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
                out.push((name.clone(), line));
            }
        }
        out
    }
}

/// The step a log file is named after: `<step id>.log`.
fn log_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    Some(name.strip_suffix(".log")?.to_string())
}

/// Removes the complete lines (without their newline) from the front of `buf`,
/// leaving a last line not written to its end yet.
pub(super) fn take_complete_lines(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
        return Vec::new();
    };
    let complete: Vec<u8> = buf.drain(..=end).collect();
    complete[..end]
        .split(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

pub(super) fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

pub(super) fn parse_entry(line: &[u8]) -> Option<Entry> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| serde_json::from_str::<Entry>(s).ok())
}

/// Whether two entries are the same line of a journal (after it was replaced by a copy).
pub(super) fn same_entry(a: &Entry, b: &Entry) -> bool {
    a.seq == b.seq && a.time == b.time && a.pid == b.pid && a.host == b.host
}

#[cfg(test)]
mod tests {
    use super::*;

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
