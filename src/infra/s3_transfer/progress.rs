//! The live progress of a transfer: counts, and the rate over the last seconds.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::record::TransferProgress;

/// How far back the rate looks.
const RATE_WINDOW: Duration = Duration::from_secs(3);
/// The most often bytes alone are reported (an object's end always is).
const EMIT_EVERY: Duration = Duration::from_millis(100);

/// What the objects in flight add to, and the callback told.
pub(super) struct Tracker<'a> {
    state: Mutex<State>,
    report: &'a (dyn Fn(&TransferProgress) + Sync),
}

struct State {
    progress: TransferProgress,
    /// (when, bytes read from the source so far).
    samples: VecDeque<(Instant, u64)>,
    moved: u64,
    last_emit: Option<Instant>,
}

impl<'a> Tracker<'a> {
    pub(super) fn new(
        objects_total: usize,
        bytes_total: u64,
        report: &'a (dyn Fn(&TransferProgress) + Sync),
    ) -> Tracker<'a> {
        Tracker {
            state: Mutex::new(State {
                progress: TransferProgress {
                    objects_total,
                    bytes_total,
                    ..TransferProgress::default()
                },
                samples: VecDeque::new(),
                moved: 0,
                last_emit: None,
            }),
            report,
        }
    }

    fn update(&self, force: bool, change: impl FnOnce(&mut State)) {
        let snapshot = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            change(&mut state);
            let now = Instant::now();
            if !force
                && state
                    .last_emit
                    .is_some_and(|t| now.duration_since(t) < EMIT_EVERY)
            {
                return;
            }
            state.last_emit = Some(now);
            state.progress.clone()
        };
        (self.report)(&snapshot);
    }

    /// An object starts.
    pub(super) fn object(&self, key: &str, size: u64) -> ObjectProgress<'_, 'a> {
        self.update(true, |s| s.progress.current = Some(key.to_string()));
        ObjectProgress {
            tracker: self,
            size,
            counted: 0,
        }
    }

    pub(super) fn snapshot(&self) -> TransferProgress {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .progress
            .clone()
    }
}

/// One object's part of the progress: the bytes read from the source count towards the rate
/// each time, towards the bytes done once (an object hashed, then copied, is read twice).
pub(super) struct ObjectProgress<'t, 'a> {
    tracker: &'t Tracker<'a>,
    size: u64,
    counted: u64,
}

impl ObjectProgress<'_, '_> {
    /// `bytes` more read from the source.
    pub(super) fn read(&mut self, bytes: u64) {
        let new = bytes.min(self.size.saturating_sub(self.counted));
        self.counted += new;
        self.tracker.update(false, |s| {
            s.moved += bytes;
            s.progress.bytes_done += new;
            let now = Instant::now();
            s.samples.push_back((now, s.moved));
            while s
                .samples
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
            {
                s.samples.pop_front();
            }
            if let (Some((t0, b0)), Some((t1, b1))) = (s.samples.front(), s.samples.back()) {
                let span = t1.duration_since(*t0).as_secs_f64();
                if span > 0.0 {
                    s.progress.bytes_per_second = (b1 - b0) as f64 / span;
                }
            }
        });
    }

    /// The object is on the destination (copied, or `skipped`: there already).
    pub(super) fn finish(self, skipped: bool) {
        let rest = self.size - self.counted;
        self.tracker.update(true, |s| {
            s.progress.objects_done += 1;
            if skipped {
                s.progress.skipped += 1;
            }
            s.progress.bytes_done += rest;
        });
    }

    /// The object failed: what it added to the bytes done goes.
    pub(super) fn fail(self) {
        let counted = self.counted;
        self.tracker.update(true, |s| {
            s.progress.bytes_done = s.progress.bytes_done.saturating_sub(counted);
        });
    }
}
