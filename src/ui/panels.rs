//! The live panels' data: queue depths, workload pods, and Velero's Backups and Restores with a
//! running transfer's bytes, as samples arrive from the monitors and the steps. Pure: the time of
//! each sample is given, so the history and rates are the same on every run of a test.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

pub use crate::event::{QueueSample, VeleroKind, VeleroSample, WorkloadSample};
use crate::infra::url::redact_text;

/// How many samples of history each row keeps: a few minutes at one a second.
pub const HISTORY: usize = 300;

#[derive(Clone, Debug)]
pub struct QueueRow {
    pub name: String,
    pub depth: u64,
    /// Oldest first; bounded to `HISTORY`.
    pub history: VecDeque<(DateTime<Utc>, u64)>,
}

impl QueueRow {
    /// Jobs per minute leaving the queue over the kept history (negative: growing).
    pub fn drain_rate(&self) -> Option<f64> {
        let (t0, d0) = *self.history.front()?;
        let (t1, d1) = *self.history.back()?;
        let secs = (t1 - t0).num_milliseconds() as f64 / 1000.0;
        (secs > 0.0).then(|| (d0 as f64 - d1 as f64) * 60.0 / secs)
    }

    /// Seconds until the depth reaches `threshold` at the current rate; zero when
    /// it is already there, None when it is not draining.
    pub fn secs_to(&self, threshold: u64) -> Option<u64> {
        if self.depth <= threshold {
            return Some(0);
        }
        let rate = self.drain_rate().filter(|r| *r > 0.0)?;
        Some(((self.depth - threshold) as f64 * 60.0 / rate).ceil() as u64)
    }

    pub fn depths(&self) -> impl Iterator<Item = u64> + '_ {
        self.history.iter().map(|(_, d)| *d)
    }
}

/// Queue depths of the Redis (and database) queues a drain watches.
#[derive(Clone, Debug, Default)]
pub struct QueuePanel {
    /// Which store the depths come from, redacted.
    pub source: String,
    /// The agreed level (`[drain] threshold`): total jobs at or under it is drained.
    pub threshold: u64,
    pub rows: Vec<QueueRow>,
    pub updated: Option<DateTime<Utc>>,
    /// Since when a store stopped answering: its figures are the last it gave.
    pub stale_since: Option<DateTime<Utc>>,
}

impl QueuePanel {
    pub fn new(threshold: u64) -> QueuePanel {
        QueuePanel {
            threshold,
            ..QueuePanel::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn total(&self) -> u64 {
        self.rows.iter().map(|r| r.depth).sum()
    }

    /// The rows in the order the panel shows them: the queues holding jobs, deepest first
    /// (by name for equal depths), and the names of the empty ones, which fold into one row.
    pub fn by_depth(&self) -> (Vec<&QueueRow>, Vec<&str>) {
        let mut full: Vec<&QueueRow> = self.rows.iter().filter(|r| r.depth > 0).collect();
        full.sort_by(|a, b| b.depth.cmp(&a.depth).then_with(|| a.name.cmp(&b.name)));
        let mut empty: Vec<&str> = self
            .rows
            .iter()
            .filter(|r| r.depth == 0)
            .map(|r| r.name.as_str())
            .collect();
        empty.sort_unstable();
        (full, empty)
    }

    /// Takes one probe's depths. A queue missing from a probe keeps its last depth:
    /// the probe lists what it found, and an absent key is an empty list in Redis.
    pub fn apply_queue_sample(&mut self, at: DateTime<Utc>, source: &str, samples: &[QueueSample]) {
        self.source = redact_text(source);
        self.updated = Some(at);
        for s in samples {
            let name = redact_text(&s.name);
            let row = match self.rows.iter().position(|r| r.name == name) {
                Some(i) => &mut self.rows[i],
                None => {
                    self.rows.push(QueueRow {
                        name,
                        depth: 0,
                        history: VecDeque::new(),
                    });
                    let last = self.rows.len() - 1;
                    &mut self.rows[last]
                }
            };
            row.depth = s.depth;
            if row.history.len() == HISTORY {
                row.history.pop_front();
            }
            row.history.push_back((at, s.depth));
        }
        // Every queue answered: whatever stopped answering before answers again.
        if self
            .rows
            .iter()
            .all(|r| r.history.back().map(|(t, _)| *t) == Some(at))
        {
            self.stale_since = None;
        }
    }

    /// A store did not answer at `at`; the first time since it last did is kept.
    pub fn stale(&mut self, at: DateTime<Utc>) {
        self.stale_since.get_or_insert(at);
    }

    /// Whether a row's figure is older than the panel's newest reading.
    pub fn is_stale(&self, row: &QueueRow) -> bool {
        self.stale_since.is_some() && row.history.back().map(|(t, _)| *t) < self.updated
    }
}

#[derive(Clone, Debug)]
pub struct PodRow {
    pub sample: WorkloadSample,
    /// Pods that exist, oldest first; bounded to `HISTORY`.
    pub history: VecDeque<u64>,
}

/// The workloads of one namespace on one cluster.
#[derive(Clone, Debug, Default)]
pub struct PodsPanel {
    /// e.g. `source / 3scale`.
    pub scope: String,
    pub rows: Vec<PodRow>,
    pub updated: Option<DateTime<Utc>>,
    /// Since when the cluster stopped answering: the rows are its last listing.
    pub stale_since: Option<DateTime<Utc>>,
}

impl PodRow {
    /// Pods as wanted: as many ready as desired and no other pod left.
    pub fn steady(&self) -> bool {
        let s = &self.sample;
        s.ready == s.desired && s.current == s.desired
    }
}

impl PodsPanel {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows in the order the panel shows them: the workloads still moving (pods starting
    /// or ending) first, then the steady ones, each in the monitor's order.
    pub fn moving_first(&self) -> Vec<&PodRow> {
        let (moving, steady): (Vec<&PodRow>, Vec<&PodRow>) =
            self.rows.iter().partition(|r| !r.steady());
        moving.into_iter().chain(steady).collect()
    }

    /// Takes one listing. Unlike queues, a workload missing from a listing is gone
    /// (deleted), so rows follow the listing, keeping the history of those that stay.
    pub fn apply_pods(&mut self, at: DateTime<Utc>, scope: &str, workloads: &[WorkloadSample]) {
        self.scope = redact_text(scope);
        self.updated = Some(at);
        self.stale_since = None;
        let mut rows = Vec::with_capacity(workloads.len());
        for w in workloads {
            let mut sample = w.clone();
            sample.name = redact_text(&w.name);
            sample.phase = redact_text(&w.phase);
            let mut history = self
                .rows
                .iter()
                .position(|r| r.sample.name == sample.name)
                .map(|i| std::mem::take(&mut self.rows[i].history))
                .unwrap_or_default();
            if history.len() == HISTORY {
                history.pop_front();
            }
            history.push_back(u64::from(sample.current));
            rows.push(PodRow { sample, history });
        }
        self.rows = rows;
    }
}

/// How far back the transfer's rate looks: long enough to smooth the bursts of a copy that
/// goes object by object, short enough to follow a change of speed.
pub const RATE_WINDOW_SECS: i64 = 10;

/// A running transfer of a backup between the object storages, from its step's progress.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transfer {
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
    /// Objects copied and to copy, when the step reports them (`progress(_, _, "objects")`).
    pub objects: Option<(u64, Option<u64>)>,
    /// Bytes done over the last [`RATE_WINDOW_SECS`], oldest first.
    window: VecDeque<(DateTime<Utc>, u64)>,
}

impl Transfer {
    /// 0..=1 of the bytes, clamped (a total may be an estimate the copy passes).
    pub fn ratio(&self) -> Option<f64> {
        let total = self.bytes_total.filter(|t| *t > 0)?;
        Some((self.bytes_done as f64 / total as f64).clamp(0.0, 1.0))
    }

    /// Bytes per second over the window; None until two readings some time apart.
    pub fn rate(&self) -> Option<f64> {
        let (t0, d0) = *self.window.front()?;
        let (t1, d1) = *self.window.back()?;
        let secs = (t1 - t0).num_milliseconds() as f64 / 1000.0;
        (secs > 0.0).then(|| d1.saturating_sub(d0) as f64 / secs)
    }

    /// Seconds left at the current rate.
    pub fn eta_secs(&self) -> Option<u64> {
        let left = self.bytes_total?.saturating_sub(self.bytes_done);
        let rate = self.rate().filter(|r| *r > 0.0)?;
        Some((left as f64 / rate).ceil() as u64)
    }

    fn bytes(&mut self, at: DateTime<Utc>, done: u64, total: Option<u64>) {
        // Fewer bytes than before: a new attempt or stage, whose rate is its own.
        if done < self.bytes_done {
            self.window.clear();
        }
        self.bytes_done = done;
        self.bytes_total = total;
        self.window.push_back((at, done));
        // Keep one reading at or before the window's start, so the rate spans all of it.
        while self.window.len() > 2
            && self
                .window
                .get(1)
                .is_some_and(|(t, _)| (at - *t).num_seconds() >= RATE_WINDOW_SECS)
        {
            self.window.pop_front();
        }
    }
}

/// Velero's Backups and Restores on the cluster acted on, and the transfer of the backup
/// between the clusters' object storages while it runs.
#[derive(Clone, Debug, Default)]
pub struct VeleroPanel {
    /// e.g. `destination / velero`.
    pub scope: String,
    /// Newest first, as the monitor sends them.
    pub rows: Vec<VeleroSample>,
    pub updated: Option<DateTime<Utc>>,
    /// Since when the cluster stopped answering: the rows are its last listing.
    pub stale_since: Option<DateTime<Utc>>,
    /// While the transfer step runs.
    pub transfer: Option<Transfer>,
}

impl VeleroPanel {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.transfer.is_none()
    }

    /// Takes one listing: rows follow it (a deleted object goes).
    pub fn apply_objects(&mut self, at: DateTime<Utc>, scope: &str, objects: &[VeleroSample]) {
        self.scope = redact_text(scope);
        self.updated = Some(at);
        self.stale_since = None;
        self.rows = objects
            .iter()
            .map(|o| VeleroSample {
                name: redact_text(&o.name),
                phase: redact_text(&o.phase),
                ..o.clone()
            })
            .collect();
    }

    /// The transfer step started: an empty transfer until its first progress.
    pub fn transfer_started(&mut self) {
        self.transfer = Some(Transfer::default());
    }

    /// The transfer step reported progress in `unit` (`bytes`, `objects`).
    pub fn transfer_progress(
        &mut self,
        at: DateTime<Utc>,
        done: u64,
        total: Option<u64>,
        unit: &str,
    ) {
        let transfer = self.transfer.get_or_insert_with(Transfer::default);
        match unit {
            "bytes" => transfer.bytes(at, done, total),
            "objects" => transfer.objects = Some((done, total)),
            _ => {}
        }
    }

    /// The transfer step ended (however): its line goes.
    pub fn transfer_ended(&mut self) {
        self.transfer = None;
    }

    /// `Completed`, `PartiallyFailed`... counted over the rows, for the title: the rows not done
    /// yet (`New`, `InProgress`).
    pub fn running(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| matches!(r.phase.as_str(), "New" | "InProgress"))
            .count()
    }

    /// The prefix the restores share, `<backup>-<time>-`, dropped from their names on screen:
    /// the name of a listed Backup and the next part, or with no Backup listed (not synced
    /// yet), what two or more restores have in common up to a `-`.
    pub fn restore_prefix(&self) -> Option<String> {
        let restores: Vec<&str> = self
            .rows
            .iter()
            .filter(|r| r.kind == VeleroKind::Restore)
            .map(|r| r.name.as_str())
            .collect();
        let first = *restores.first()?;
        let from_backup = self
            .rows
            .iter()
            .filter(|r| r.kind == VeleroKind::Backup)
            .filter_map(|b| {
                let rest = first.strip_prefix(b.name.as_str())?.strip_prefix('-')?;
                let (time, stage) = rest.split_once('-')?;
                (!stage.is_empty()).then(|| format!("{}-{time}-", b.name))
            })
            .max_by_key(String::len);
        let prefix = match from_backup {
            Some(p) => p,
            None if restores.len() >= 2 => {
                let common = restores.iter().skip(1).fold(first.len(), |n, r| {
                    first
                        .bytes()
                        .zip(r.bytes())
                        .take(n)
                        .take_while(|(a, b)| a == b)
                        .count()
                });
                let cut = first[..common].rfind('-')? + 1;
                first[..cut].to_string()
            }
            None => return None,
        };
        restores
            .iter()
            .all(|r| r.starts_with(&prefix) && r.len() > prefix.len())
            .then_some(prefix)
    }

    /// How a row's name shows: a restore without the shared prefix.
    pub fn short_name<'a>(&self, row: &'a VeleroSample, prefix: Option<&str>) -> &'a str {
        match (row.kind, prefix) {
            (VeleroKind::Restore, Some(p)) => row.name.strip_prefix(p).unwrap_or(&row.name),
            _ => &row.name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0)
            .single()
            .expect("valid time")
    }

    fn q(name: &str, depth: u64) -> QueueSample {
        QueueSample {
            name: name.into(),
            depth,
        }
    }

    #[test]
    fn rate_and_time_to_threshold_come_from_the_history() {
        let mut p = QueuePanel::new(10);
        p.apply_queue_sample(at(0), "redis://h:1/1", &[q("main", 130)]);
        p.apply_queue_sample(at(60), "redis://h:1/1", &[q("main", 70)]);
        let row = &p.rows[0];
        assert_eq!(row.drain_rate(), Some(60.0));
        assert_eq!(row.secs_to(10), Some(60));
        assert_eq!(p.total(), 70);
    }

    #[test]
    fn history_is_bounded() {
        let mut p = QueuePanel::new(0);
        for i in 0..(HISTORY as i64 + 50) {
            p.apply_queue_sample(at(i), "r", &[q("main", 5)]);
        }
        assert_eq!(p.rows[0].history.len(), HISTORY);
    }

    #[test]
    fn the_source_is_redacted() {
        let mut p = QueuePanel::new(0);
        p.apply_queue_sample(at(0), "redis://:topsecret@h:1/1", &[q("main", 1)]);
        assert!(!p.source.contains("topsecret"));
    }

    #[test]
    fn a_store_that_stops_answering_leaves_its_rows_stale_until_it_answers_again() {
        let mut p = QueuePanel::new(0);
        p.apply_queue_sample(
            at(0),
            "r",
            &[q("resque:queue:main", 4), q("queue:mailers", 2)],
        );
        // The system Redis stops answering: only the backend queue is read.
        p.apply_queue_sample(at(1), "r", &[q("resque:queue:main", 3)]);
        p.stale(at(1));
        p.apply_queue_sample(at(2), "r", &[q("resque:queue:main", 2)]);
        p.stale(at(2));
        assert_eq!(p.stale_since, Some(at(1)), "since the first miss");
        let stale: Vec<&str> = p
            .rows
            .iter()
            .filter(|r| p.is_stale(r))
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(stale, ["queue:mailers"]);
        p.apply_queue_sample(
            at(3),
            "r",
            &[q("resque:queue:main", 1), q("queue:mailers", 0)],
        );
        assert_eq!(p.stale_since, None);
        assert!(p.rows.iter().all(|r| !p.is_stale(r)));
    }

    #[test]
    fn queues_with_jobs_come_first_and_empty_ones_fold() {
        let mut p = QueuePanel::new(0);
        p.apply_queue_sample(
            at(0),
            "r",
            &[
                q("queue:a", 0),
                q("dead", 17),
                q("retry", 17),
                q("queue:b", 0),
                q("failed", 3),
            ],
        );
        let (full, empty) = p.by_depth();
        let names: Vec<&str> = full.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["dead", "retry", "failed"]);
        assert_eq!(empty, ["queue:a", "queue:b"]);
    }

    #[test]
    fn moving_workloads_come_before_steady_ones() {
        let w = |name: &str, desired, ready, current| WorkloadSample {
            name: name.into(),
            desired,
            ready,
            current,
            phase: String::new(),
            original: None,
        };
        let mut p = PodsPanel::default();
        p.apply_pods(
            at(0),
            "source / 3scale",
            &[
                w("a", 1, 1, 1),
                w("b", 0, 0, 2),
                w("c", 0, 0, 0),
                w("d", 2, 1, 2),
            ],
        );
        let names: Vec<&str> = p
            .moving_first()
            .iter()
            .map(|r| r.sample.name.as_str())
            .collect();
        assert_eq!(names, ["b", "d", "a", "c"]);
    }

    #[test]
    fn pods_follow_the_listing_and_keep_history() {
        let w = |name: &str, current| WorkloadSample {
            name: name.into(),
            desired: 0,
            ready: 0,
            current,
            phase: "Terminating".into(),
            original: Some(2),
        };
        let mut p = PodsPanel::default();
        p.apply_pods(at(0), "source / 3scale", &[w("a", 2), w("b", 1)]);
        p.apply_pods(at(1), "source / 3scale", &[w("a", 1)]);
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].history, [2, 1]);
    }

    fn velero(kind: VeleroKind, name: &str, phase: &str) -> VeleroSample {
        VeleroSample {
            kind,
            name: name.into(),
            phase: phase.into(),
            items_done: 0,
            total_items: 0,
            warnings: 0,
            errors: 0,
            started: None,
        }
    }

    #[test]
    fn restores_lose_their_backup_and_time_prefix() {
        let mut p = VeleroPanel::default();
        let b = "registry-acme-20261207";
        p.apply_objects(
            at(0),
            "destination / velero",
            &[
                velero(
                    VeleroKind::Restore,
                    &format!("{b}-20261207120000-vault"),
                    "InProgress",
                ),
                velero(
                    VeleroKind::Restore,
                    &format!("{b}-20261207120000-init"),
                    "Completed",
                ),
                velero(VeleroKind::Backup, b, "Completed"),
            ],
        );
        let prefix = p.restore_prefix();
        assert_eq!(
            prefix.as_deref(),
            Some("registry-acme-20261207-20261207120000-")
        );
        let names: Vec<&str> = p
            .rows
            .iter()
            .map(|r| p.short_name(r, prefix.as_deref()))
            .collect();
        assert_eq!(names, ["vault", "init", b]);
        assert_eq!(p.running(), 1);

        // Before the Backup is listed, what the restores share.
        p.apply_objects(
            at(1),
            "destination / velero",
            &[
                velero(VeleroKind::Restore, "b-1-20261207120000-redis-admin", "New"),
                velero(VeleroKind::Restore, "b-1-20261207120000-redis", "Completed"),
            ],
        );
        assert_eq!(p.restore_prefix().as_deref(), Some("b-1-20261207120000-"));
        // One restore alone, no Backup: its name stays whole.
        p.apply_objects(
            at(2),
            "s",
            &[velero(VeleroKind::Restore, "b-1-t-init", "New")],
        );
        assert_eq!(p.restore_prefix(), None);
    }

    #[test]
    fn the_transfer_rate_is_smoothed_over_a_window_and_restarts_with_an_attempt() {
        let mut p = VeleroPanel::default();
        assert!(p.is_empty());
        p.transfer_started();
        assert!(!p.is_empty(), "the line shows from the start");
        // A burst, then a steady 1 MB/s.
        p.transfer_progress(at(0), 0, Some(100_000_000), "bytes");
        p.transfer_progress(at(1), 20_000_000, Some(100_000_000), "bytes");
        for s in 2..=20 {
            p.transfer_progress(
                at(s),
                20_000_000 + (s as u64 - 1) * 1_000_000,
                Some(100_000_000),
                "bytes",
            );
        }
        p.transfer_progress(at(20), 39, Some(120), "objects");
        let t = p.transfer.as_ref().expect("a transfer");
        let rate = t.rate().expect("a rate");
        assert!(
            (rate - 1_000_000.0).abs() < 1.0,
            "{rate}: the burst is out of the window"
        );
        assert_eq!(t.objects, Some((39, Some(120))));
        assert_eq!(t.ratio(), Some(0.39));
        assert_eq!(t.eta_secs(), Some(61));
        // A new attempt counts from 0 again.
        p.transfer_progress(at(21), 1_000, Some(100_000_000), "bytes");
        assert_eq!(p.transfer.as_ref().and_then(Transfer::rate), None);
        p.transfer_ended();
        assert!(p.is_empty());
    }
}
