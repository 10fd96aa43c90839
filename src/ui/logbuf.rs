//! The log panel's lines: a bounded ring, each line with its time and step, so the
//! panel can show one step's lines or all of them without keeping a copy per step.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use crate::event::Level;
use crate::runbook::StepId;

/// Lines kept; older ones drop off (the full log is in `logs/` on disk).
pub const LOG_CAPACITY: usize = 10_000;

#[derive(Clone, Debug)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    /// None for lines about the run rather than one step.
    pub step: Option<StepId>,
    pub level: Level,
    /// Already passed through `redact_text`.
    pub text: String,
}

/// A line as the ring keeps it: with its text lowercased once, when it arrives,
/// so a search does not lowercase every line of the ring on every frame.
#[derive(Clone, Debug)]
struct Entry {
    line: LogLine,
    /// The lowercased text, when it differs from the text.
    folded: Option<Box<str>>,
}

impl Entry {
    fn new(line: LogLine) -> Entry {
        let lower = line.text.to_lowercase();
        let folded = (lower != line.text).then(|| lower.into_boxed_str());
        Entry { line, folded }
    }

    fn folded(&self) -> &str {
        self.folded.as_deref().unwrap_or(&self.line.text)
    }
}

#[derive(Clone, Debug)]
pub struct LogBuffer {
    lines: VecDeque<Entry>,
    capacity: usize,
}

impl Default for LogBuffer {
    fn default() -> Self {
        LogBuffer::with_capacity(LOG_CAPACITY)
    }
}

impl LogBuffer {
    pub fn with_capacity(capacity: usize) -> LogBuffer {
        LogBuffer {
            lines: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn push(&mut self, line: LogLine) {
        if self.lines.len() == self.capacity {
            self.lines.pop_front();
        }
        self.lines.push_back(Entry::new(line));
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The lines that pass `filter` and contain `search` (case-insensitive), newest
    /// last. Lazy: walked from the newest (`.rev()`), it stops as soon as the caller
    /// has the lines it shows.
    pub fn matching<'a>(
        &'a self,
        filter: Option<StepId>,
        search: Option<&'a str>,
    ) -> impl DoubleEndedIterator<Item = &'a LogLine> + 'a {
        let needle = search.filter(|s| !s.is_empty()).map(str::to_lowercase);
        self.lines
            .iter()
            .filter(move |e| {
                filter.is_none_or(|f| e.line.step == Some(f))
                    && needle.as_deref().is_none_or(|n| e.folded().contains(n))
            })
            .map(|e| &e.line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn line(step: Option<&'static str>, text: &str) -> LogLine {
        LogLine {
            at: Utc.timestamp_opt(0, 0).single().expect("epoch"),
            step: step.map(StepId),
            level: Level::Info,
            text: text.into(),
        }
    }

    #[test]
    fn is_bounded_and_keeps_the_newest() {
        let mut b = LogBuffer::with_capacity(3);
        for i in 0..5 {
            b.push(line(None, &i.to_string()));
        }
        let texts: Vec<_> = b.matching(None, None).map(|l| l.text.clone()).collect();
        assert_eq!(texts, ["2", "3", "4"]);
    }

    #[test]
    fn filters_by_step_and_search() {
        let mut b = LogBuffer::default();
        b.push(line(Some("a"), "Scaled system-app"));
        b.push(line(Some("b"), "scaled zync"));
        b.push(line(None, "run started"));
        assert_eq!(b.matching(Some(StepId("a")), None).count(), 1);
        assert_eq!(b.matching(None, Some("SCALED")).count(), 2);
        assert_eq!(b.matching(Some(StepId("b")), Some("app")).count(), 0);
    }

    #[test]
    fn search_ignores_case_beyond_ascii() {
        let mut b = LogBuffer::default();
        b.push(line(None, "ÉTAPE terminée"));
        b.push(line(None, "étape suivante"));
        b.push(line(None, "all lowercase"));
        assert_eq!(b.matching(None, Some("Étape")).count(), 2);
        assert_eq!(b.matching(None, Some("TERMINÉE")).count(), 1);
        assert_eq!(b.matching(None, Some("LOWER")).count(), 1);
        let newest: Vec<_> = b
            .matching(None, Some("étape"))
            .rev()
            .map(|l| l.text.as_str())
            .collect();
        assert_eq!(newest, ["étape suivante", "ÉTAPE terminée"]);
    }
}
