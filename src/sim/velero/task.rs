//! The loop of the simulated Velero server: storage location validation, backup sync, backups,
//! restores and download requests, one pass after another. No S3 call runs under the state lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::super::catalog::{self, ResourceType};
use super::super::state::{Inner, Shared};
use super::super::store::{Change, meta_str, now};
use super::super::validate;
use super::backup::{self, BackupJob};
use super::download;
use super::location::{Location, go_duration};
use super::restore::{self, RestoreJob};
use super::store::BackupStore;
use super::sync;

/// The longest the task sleeps with nothing due.
const IDLE: Duration = Duration::from_secs(1);
/// Progress steps from InProgress to the end of the items.
const STEPS: usize = 5;

type Key = (String, String, String);

fn key_of(obj: &Value) -> Key {
    (
        meta_str(obj, "namespace").unwrap_or("").to_string(),
        meta_str(obj, "name").unwrap_or("").to_string(),
        meta_str(obj, "uid").unwrap_or("").to_string(),
    )
}

fn kind(k: &str) -> Option<&'static ResourceType> {
    catalog::find_kind(&[], "velero.io/v1", k)
}

#[derive(Default)]
struct Task {
    /// Location → when it was validated and its spec then.
    validated: HashMap<Key, (Instant, Value)>,
    /// Location → when its last sync pass ended.
    synced: HashMap<Key, Instant>,
    backups: HashMap<Key, (BackupJob, Instant)>,
    restores: HashMap<Key, (RestoreJob, Instant)>,
    pvb_counter: u64,
}

pub async fn run(sim: Arc<Shared>, mut changes: broadcast::Receiver<Arc<Change>>) {
    if sim.spec.without_groups.iter().any(|g| g == "velero.io") {
        return;
    }
    mark_in_progress_failed(&sim);
    let mut task = Task::default();
    let mut stop = sim.shutdown.clone();
    loop {
        task.pass(&sim).await;
        let wait = task.next_wait(&sim);
        tokio::select! {
            r = changes.recv() => {
                if matches!(r, Err(broadcast::error::RecvError::Closed)) {
                    return;
                }
            }
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}

/// `markInProgressCRsFailed`: what was running when the server stopped will not finish.
fn mark_in_progress_failed(sim: &Shared) {
    let mut inner = sim.lock();
    for k in ["Backup", "Restore"] {
        let Some(rt) = kind(k) else { continue };
        for mut obj in inner.store.list(rt, None) {
            if obj["status"]["phase"] != "InProgress" {
                continue;
            }
            obj["status"]["phase"] = json!("Failed");
            obj["status"]["failureReason"] = json!(
                "get a backup with status \"InProgress\" during the server starting, mark it as \"Failed\""
                    .replace("backup", &k.to_lowercase())
            );
            let (ns, name, _) = key_of(&obj);
            let _ = inner.store.replace(rt, &ns, &name, obj, None);
        }
    }
}

/// Writes a Velero object as its controller patches it, checked against its schema.
fn write(inner: &mut Inner, rt: &'static ResourceType, obj: Value) {
    let (ns, name, uid) = key_of(&obj);
    let Some(current) = inner.store.get(rt, &ns, &name) else {
        return;
    };
    if meta_str(current, "uid") != Some(uid.as_str()) {
        return;
    }
    let mut next = obj;
    next["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
    match validate::validate(rt, next) {
        Ok(v) => {
            let _ = inner.store.replace(rt, &ns, &name, v, None);
        }
        Err(e) => tracing::warn!(
            "the simulated Velero wrote an invalid {}: {}",
            rt.kind,
            e.message
        ),
    }
}

impl Task {
    async fn pass(&mut self, sim: &Shared) {
        self.locations(sim).await;
        self.sync(sim).await;
        self.backups(sim).await;
        self.restores(sim).await;
        self.downloads(sim);
    }

    fn validation_period(sim: &Shared, bsl: &Value) -> Option<Duration> {
        match bsl["spec"]["validationFrequency"]
            .as_str()
            .and_then(go_duration)
        {
            Some(d) if d.is_zero() => None,
            Some(d) => Some(d),
            None => Some(sim.spec.velero_validation_period),
        }
    }

    fn sync_period(sim: &Shared, bsl: &Value) -> Option<Duration> {
        match bsl["spec"]["backupSyncPeriod"].as_str() {
            Some(s) => match go_duration(s) {
                Some(d) if d.is_zero() => None,
                Some(d) => Some(d),
                None => Some(sim.spec.velero_sync_period),
            },
            None => Some(sim.spec.velero_sync_period),
        }
    }

    /// The BackupStorageLocation controller: validates a new or changed location at once, the
    /// others every `validationFrequency`.
    async fn locations(&mut self, sim: &Shared) {
        let Some(rt) = kind("BackupStorageLocation") else {
            return;
        };
        let due: Vec<(Value, Result<Location, String>)> = {
            let inner = sim.lock();
            inner
                .store
                .list(rt, None)
                .into_iter()
                .filter(|bsl| match self.validated.get(&key_of(bsl)) {
                    None => true,
                    Some((_, spec)) if *spec != bsl["spec"] => true,
                    Some((at, _)) => {
                        Self::validation_period(sim, bsl).is_some_and(|p| at.elapsed() >= p)
                    }
                })
                .map(|bsl| {
                    let l = Location::read(&inner, &bsl);
                    (bsl, l)
                })
                .collect()
        };
        for (bsl, location) in due {
            let result = match location {
                Err(e) => Err(e),
                Ok(l) => match BackupStore::open(&l) {
                    Err(e) => Err(e),
                    Ok(store) => store.is_valid().await,
                },
            };
            self.validated
                .insert(key_of(&bsl), (Instant::now(), bsl["spec"].clone()));
            let mut inner = sim.lock();
            let Some(mut current) = inner
                .store
                .get(rt, &key_of(&bsl).0, &key_of(&bsl).1)
                .cloned()
            else {
                continue;
            };
            current["status"]["lastValidationTime"] = json!(now());
            match result {
                Ok(()) => {
                    current["status"]["phase"] = json!("Available");
                    if let Some(s) = current["status"].as_object_mut() {
                        s.shift_remove("message");
                    }
                }
                Err(e) => {
                    current["status"]["phase"] = json!("Unavailable");
                    current["status"]["message"] = json!(format!(
                        "BackupStorageLocation \"{}\" is unavailable: {e}",
                        key_of(&bsl).1
                    ));
                }
            }
            write(&mut inner, rt, current);
        }
    }

    async fn sync(&mut self, sim: &Shared) {
        let Some(rt) = kind("BackupStorageLocation") else {
            return;
        };
        let due: Vec<(
            Key,
            Result<Location, String>,
            std::collections::HashSet<String>,
        )> = {
            let inner = sim.lock();
            inner
                .store
                .list(rt, None)
                .into_iter()
                .filter(|bsl| {
                    Self::sync_period(sim, bsl).is_some_and(|p| {
                        self.synced
                            .get(&key_of(bsl))
                            .is_none_or(|at| at.elapsed() >= p)
                    })
                })
                .map(|bsl| {
                    let local = sync::local_backups(&inner, &key_of(&bsl).0);
                    (key_of(&bsl), Location::read(&inner, &bsl), local)
                })
                .collect()
        };
        for (key, location, local) in due {
            self.synced.insert(key, Instant::now());
            let Ok(location) = location else { continue };
            if let Ok(found) = sync::look(location, &local).await {
                sync::apply(&mut sim.lock(), found);
            }
        }
    }

    async fn backups(&mut self, sim: &Shared) {
        let Some(rt) = kind("Backup") else { return };
        {
            let mut inner = sim.lock();
            for b in inner.store.list(rt, None) {
                if !matches!(b["status"]["phase"].as_str(), None | Some("") | Some("New")) {
                    continue;
                }
                let (next, job) = backup::begin(&inner, &sim.spec, &b);
                let key = key_of(&b);
                write(&mut inner, rt, next);
                if let Some(job) = job {
                    self.backups
                        .insert(key, (job, Instant::now() + sim.spec.velero_step));
                }
            }
        }
        let due = due_now(&self.backups);
        for key in due {
            let Some((mut job, _)) = self.backups.remove(&key) else {
                continue;
            };
            let finished = backup::step(&mut job, STEPS);
            if !finished {
                let mut inner = sim.lock();
                if let Some(mut b) = inner.store.get(rt, &key.0, &key.1).cloned() {
                    b["status"]["progress"] =
                        json!({"totalItems": job.total(), "itemsBackedUp": job.done});
                    write(&mut inner, rt, b);
                }
                drop(inner);
                self.backups
                    .insert(key, (job, Instant::now() + sim.spec.velero_step));
                continue;
            }
            let base = self.pvb_counter;
            let mut n = 0u64;
            let mut names = |backup: &str| {
                n += 1;
                format!("{backup}-{}", suffix(base + n))
            };
            let (done, pvbs) = backup::finish(job, sim.spec.velero_volume_bytes, &mut names).await;
            self.pvb_counter += n;
            let mut inner = sim.lock();
            if let Some(mut b) = inner.store.get(rt, &key.0, &key.1).cloned() {
                b["status"] = done["status"].clone();
                write(&mut inner, rt, b);
            }
            if let Some(pvb_rt) = kind("PodVolumeBackup") {
                for pvb in pvbs {
                    if let Ok(pvb) = validate::validate(pvb_rt, pvb) {
                        let _ = inner.store.create(pvb_rt, &key.0, pvb);
                    }
                }
            }
        }
    }

    async fn restores(&mut self, sim: &Shared) {
        let Some(rt) = kind("Restore") else { return };
        {
            let mut inner = sim.lock();
            for r in inner.store.list(rt, None) {
                if !matches!(r["status"]["phase"].as_str(), None | Some("") | Some("New")) {
                    continue;
                }
                let (next, job) = restore::begin(&inner, &r);
                let key = key_of(&r);
                write(&mut inner, rt, next);
                if let Some(job) = job {
                    self.restores.insert(key, (job, Instant::now()));
                }
            }
        }
        let due = due_now(&self.restores);
        for key in due {
            let Some((mut job, _)) = self.restores.remove(&key) else {
                continue;
            };
            if !job.fetched {
                restore::fetch(&mut job, &sim.spec.without_groups).await;
                let mut inner = sim.lock();
                if let Some(mut r) = inner.store.get(rt, &key.0, &key.1).cloned()
                    && job.failure.is_none()
                {
                    r["status"]["progress"] = job.progress();
                    write(&mut inner, rt, r);
                }
                drop(inner);
                self.restores
                    .insert(key, (job, Instant::now() + sim.spec.velero_step));
                continue;
            }
            if job.failure.is_none() && !job.planned_done() {
                let mut inner = sim.lock();
                let count = job.total().div_ceil(STEPS);
                restore::step(&mut job, &mut inner, &sim.spec, count);
                if let Some(mut r) = inner.store.get(rt, &key.0, &key.1).cloned() {
                    r["status"]["progress"] = job.progress();
                    write(&mut inner, rt, r);
                }
                drop(inner);
                self.restores
                    .insert(key, (job, Instant::now() + sim.spec.velero_step));
                continue;
            }
            if job.failure.is_none() {
                let done = restore::finish_pod_volume_restores(&mut job, &mut sim.lock());
                if !done {
                    self.restores
                        .insert(key, (job, Instant::now() + sim.spec.velero_step));
                    continue;
                }
                sim.kick.notify_one();
            }
            let done = restore::finish(job).await;
            let mut inner = sim.lock();
            if let Some(mut r) = inner.store.get(rt, &key.0, &key.1).cloned() {
                r["status"] = done["status"].clone();
                write(&mut inner, rt, r);
            }
        }
    }

    fn downloads(&mut self, sim: &Shared) {
        let pending = download::pending(&mut sim.lock());
        for p in pending {
            if let Some(url) = download::sign(&p) {
                download::processed(&mut sim.lock(), &p, url);
            }
        }
    }

    fn next_wait(&self, sim: &Shared) -> Duration {
        let now_i = Instant::now();
        let mut due: Vec<Instant> = Vec::new();
        due.extend(self.backups.values().map(|(_, at)| *at));
        due.extend(self.restores.values().map(|(_, at)| *at));
        due.extend(
            self.synced
                .values()
                .map(|at| *at + sim.spec.velero_sync_period),
        );
        due.extend(
            self.validated
                .values()
                .map(|(at, _)| *at + sim.spec.velero_validation_period),
        );
        due.into_iter()
            .min()
            .map(|t| t.saturating_duration_since(now_i))
            .unwrap_or(IDLE)
            .clamp(Duration::from_millis(5), IDLE)
    }
}

/// The jobs whose next move is due.
fn due_now<J>(jobs: &HashMap<Key, (J, Instant)>) -> Vec<Key> {
    let now_i = Instant::now();
    jobs.iter()
        .filter(|(_, (_, at))| *at <= now_i)
        .map(|(k, _)| k.clone())
        .collect()
}

/// Five characters of the controllers' alphabet from a counter.
fn suffix(mut n: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    n = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x2545_f491_4f6c_dd1d;
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
            n /= ALPHABET.len() as u64;
            c
        })
        .collect()
}
