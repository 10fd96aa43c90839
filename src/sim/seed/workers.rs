//! The sandbox's stand-ins for the workloads that move queues: backend-worker and
//! system-sidekiq consume, apicast produces, zync-que finishes jobs. Each runs while its
//! `watch` flag is true (the workload has replicas), at a fixed rate, and survives its server
//! going away: a failed round drops the connection, waits with a growing backoff and reconnects.

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, anyhow};
use chrono::Utc;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::depths::{RESQUE_QUEUES, SIDEKIQ_QUEUES};
use super::jobs::{notify_job, report_job};
use super::redis_conn::connect;
use super::stats_keys::MINUTE_TTL_SECONDS;
use crate::infra::pg;
use crate::infra::url::{redact, scrub_error};

/// Work is done in slices this long, so a rate of a few jobs per second is smooth and a
/// disabled worker stops within one slice.
const TICK: Duration = Duration::from_millis(100);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A running simulated worker; dropping it stops the task.
#[derive(Debug)]
pub struct Worker {
    handle: JoinHandle<()>,
}

impl Worker {
    /// True once the task ended: stopped, or its `watch` sender was dropped.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// backend-worker: takes Resque jobs, `priority` before `main` before `stats`, as its
/// `BLPOP queue:priority queue:main queue:stats` does.
pub fn backend_worker(
    queues_url: &str,
    jobs_per_second: f64,
    enabled: watch::Receiver<bool>,
) -> Worker {
    let state = ResqueConsumer {
        url: queues_url.to_string(),
        conn: None,
    };
    spawn("backend-worker", jobs_per_second, enabled, state)
}

/// system-sidekiq: takes Sidekiq jobs from the eleven queues, the urgent ones first.
pub fn sidekiq(
    system_redis_url: &str,
    jobs_per_second: f64,
    enabled: watch::Receiver<bool>,
) -> Worker {
    sidekiq_in(system_redis_url, None, jobs_per_second, enabled)
}

/// system-sidekiq with a Sidekiq namespace (3scale 2.13 and earlier with `REDIS_NAMESPACE`
/// set): every key it reads and writes is `<namespace>:<key>`, as redis-namespace makes them.
pub fn sidekiq_in(
    system_redis_url: &str,
    namespace: Option<&str>,
    jobs_per_second: f64,
    enabled: watch::Receiver<bool>,
) -> Worker {
    let state = SidekiqConsumer {
        url: system_redis_url.to_string(),
        prefix: namespace.map(|n| format!("{n}:")).unwrap_or_default(),
        conn: None,
    };
    spawn("system-sidekiq", jobs_per_second, enabled, state)
}

/// apicast: live API traffic. Each call reports a ReportJob to Resque and counts a hit in the
/// usage counters; every fourth also enqueues backend's NotifyJob. The services, applications
/// and `hits` metric come from backend storage, so traffic matches what was seeded.
pub fn apicast_traffic(
    storage_url: &str,
    queues_url: &str,
    jobs_per_second: f64,
    enabled: watch::Receiver<bool>,
) -> Worker {
    let state = Traffic {
        storage_url: storage_url.to_string(),
        queues_url: queues_url.to_string(),
        conns: None,
        targets: Vec::new(),
        provider_key: String::new(),
        sent: 0,
    };
    spawn("apicast", jobs_per_second, enabled, state)
}

/// zync-que: marks pending `que_jobs` finished, highest priority and oldest first.
pub fn que_worker(zync_url: &str, jobs_per_second: f64, enabled: watch::Receiver<bool>) -> Worker {
    let state = QueConsumer {
        url: zync_url.to_string(),
        client: None,
    };
    spawn("zync-que", jobs_per_second, enabled, state)
}

/// One kind of simulated worker: does `n` jobs per call, and forgets its connection on reset.
trait Round: Send + 'static {
    fn round(&mut self, n: u32) -> impl Future<Output = anyhow::Result<()>> + Send;
    fn reset(&mut self);
}

fn spawn<R: Round>(
    name: &'static str,
    rate: f64,
    enabled: watch::Receiver<bool>,
    state: R,
) -> Worker {
    Worker {
        handle: tokio::spawn(drive(name, rate, enabled, state)),
    }
}

async fn drive<R: Round>(
    name: &'static str,
    rate: f64,
    mut enabled: watch::Receiver<bool>,
    mut state: R,
) {
    let rate = if rate.is_finite() { rate.max(0.0) } else { 0.0 };
    let mut credit = 0.0_f64;
    let mut backoff = MIN_BACKOFF;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if !*enabled.borrow_and_update() {
            credit = 0.0;
            // Sleeps until the flag changes; a dropped sender means the sandbox is going away.
            if enabled.changed().await.is_err() {
                return;
            }
            continue;
        }
        tokio::select! {
            _ = tick.tick() => {}
            changed = enabled.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
        }
        // At most a second of work is owed, so a stall does not turn into a burst.
        credit = (credit + rate * TICK.as_secs_f64()).min(rate.max(1.0));
        let n = credit.floor();
        if n < 1.0 {
            continue;
        }
        credit -= n;
        match state.round(n as u32).await {
            Ok(()) => backoff = MIN_BACKOFF,
            Err(e) => {
                tracing::debug!(worker = name, error = %format!("{e:#}"), retry_in = ?backoff, "simulated worker round failed");
                state.reset();
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    changed = enabled.changed() => if changed.is_err() { return; },
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

async fn ensure<'a>(
    conn: &'a mut Option<MultiplexedConnection>,
    url: &str,
    role: &str,
) -> anyhow::Result<&'a mut MultiplexedConnection> {
    if conn.is_none() {
        *conn = Some(connect(url, role).await?);
    }
    conn.as_mut()
        .ok_or_else(|| anyhow!("no connection to the {role} Redis"))
}

fn scrubbed(url: &str, what: &str) -> impl FnOnce(redis::RedisError) -> anyhow::Error {
    let url = url.to_string();
    let what = what.to_string();
    move |e| scrub_error(&e, &url).context(format!("{what} on the Redis at {}", redact(&url)))
}

struct ResqueConsumer {
    url: String,
    conn: Option<MultiplexedConnection>,
}

impl Round for ResqueConsumer {
    async fn round(&mut self, n: u32) -> anyhow::Result<()> {
        let url = self.url.clone();
        let conn = ensure(&mut self.conn, &url, "backend queues").await?;
        let mut left = n as usize;
        for queue in RESQUE_QUEUES {
            if left == 0 {
                break;
            }
            let key = format!("resque:queue:{queue}");
            let taken: Option<Vec<String>> = redis::cmd("LPOP")
                .arg(&key)
                .arg(left)
                .query_async(conn)
                .await
                .map_err(scrubbed(&url, "taking Resque jobs"))?;
            left -= taken.map_or(0, |jobs| jobs.len()).min(left);
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.conn = None;
    }
}

/// Sidekiq's urgent queues first; the order among the rest does not matter to a drain.
const SIDEKIQ_ORDER: [&str; 11] = [
    "critical",
    "priority",
    "backend_sync",
    "zync",
    "events",
    "default",
    "web_hooks",
    "mailers",
    "billing",
    "deletion",
    "low",
];

struct SidekiqConsumer {
    url: String,
    /// `<namespace>:` before every key, or nothing.
    prefix: String,
    conn: Option<MultiplexedConnection>,
}

impl Round for SidekiqConsumer {
    async fn round(&mut self, n: u32) -> anyhow::Result<()> {
        debug_assert!(SIDEKIQ_ORDER.iter().all(|q| SIDEKIQ_QUEUES.contains(q)));
        let url = self.url.clone();
        let conn = ensure(&mut self.conn, &url, "system").await?;
        let mut left = n as usize;
        for queue in SIDEKIQ_ORDER {
            if left == 0 {
                break;
            }
            // Sidekiq's client LPUSHes and its fetcher BRPOPs: the oldest job is on the right.
            let taken: Option<Vec<String>> = redis::cmd("RPOP")
                .arg(format!("{}queue:{queue}", self.prefix))
                .arg(left)
                .query_async(conn)
                .await
                .map_err(scrubbed(&url, "taking Sidekiq jobs"))?;
            left -= taken.map_or(0, |jobs| jobs.len()).min(left);
        }
        let done = n as usize - left;
        if done > 0 {
            let _: i64 = conn
                .incr(format!("{}stat:processed", self.prefix), done)
                .await
                .map_err(scrubbed(&url, "counting processed jobs"))?;
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.conn = None;
    }
}

/// (service id, application id, id of the `hits` metric)
type Target = (String, String, String);

struct Traffic {
    storage_url: String,
    queues_url: String,
    conns: Option<(MultiplexedConnection, MultiplexedConnection)>,
    targets: Vec<Target>,
    provider_key: String,
    sent: u64,
}

impl Traffic {
    async fn discover(&mut self, storage: &mut MultiplexedConnection) -> anyhow::Result<()> {
        let url = self.storage_url.clone();
        let mut services: Vec<String> = storage
            .smembers("services_set")
            .await
            .map_err(scrubbed(&url, "reading services_set"))?;
        services.sort();
        let mut targets = Vec::new();
        for sid in services {
            let apps: Vec<String> = storage
                .smembers(format!("service_id:{sid}/applications"))
                .await
                .map_err(scrubbed(&url, "reading the applications of a service"))?;
            let hits: Option<String> = storage
                .get(format!("metric/service_id:{sid}/name:hits/id"))
                .await
                .map_err(scrubbed(&url, "reading the hits metric of a service"))?;
            let Some(hits) = hits else { continue };
            targets.extend(apps.into_iter().map(|app| (sid.clone(), app, hits.clone())));
        }
        let key: Option<String> = storage
            .srandmember("provider_keys_set")
            .await
            .map_err(scrubbed(&url, "reading provider_keys_set"))?;
        if targets.is_empty() {
            return Err(anyhow!(
                "backend storage at {} has no service with applications and a hits metric \
                 (seed it first)",
                redact(&url)
            ));
        }
        self.targets = targets;
        self.provider_key = key.unwrap_or_default();
        Ok(())
    }
}

impl Round for Traffic {
    async fn round(&mut self, n: u32) -> anyhow::Result<()> {
        if self.conns.is_none() {
            let storage = connect(&self.storage_url, "backend storage").await?;
            let queues = connect(&self.queues_url, "backend queues").await?;
            self.conns = Some((storage, queues));
        }
        let (mut storage, mut queues) = self
            .conns
            .clone()
            .context("no connection to backend's Redis")?;
        if self.targets.is_empty() {
            self.discover(&mut storage).await?;
        }
        let now = Utc::now();
        let mut jobs = redis::pipe();
        let mut counters = redis::pipe();
        for _ in 0..n {
            let (sid, app, mid) = &self.targets[(self.sent % self.targets.len() as u64) as usize];
            jobs.rpush("resque:queue:priority", report_job(sid, app, 1, now));
            if self.sent.is_multiple_of(4) && !self.provider_key.is_empty() {
                jobs.rpush("resque:queue:main", notify_job(&self.provider_key, now));
            }
            for scope in [
                format!("stats/{{service:{sid}}}/metric:{mid}"),
                format!("stats/{{service:{sid}}}/cinstance:{app}/metric:{mid}"),
            ] {
                counters.incr(format!("{scope}/eternity"), 1);
                counters.incr(format!("{scope}/{}", now.format("day:%Y%m%d")), 1);
                counters.incr(format!("{scope}/{}", now.format("hour:%Y%m%d%H")), 1);
                let minute = format!("{scope}/{}", now.format("minute:%Y%m%d%H%M"));
                counters.incr(&minute, 1);
                counters.expire(&minute, MINUTE_TTL_SECONDS);
            }
            self.sent += 1;
        }
        counters
            .exec_async(&mut storage)
            .await
            .map_err(scrubbed(&self.storage_url, "counting traffic"))?;
        jobs.exec_async(&mut queues)
            .await
            .map_err(scrubbed(&self.queues_url, "enqueuing report jobs"))?;
        Ok(())
    }

    fn reset(&mut self) {
        self.conns = None;
        self.targets.clear();
    }
}

struct QueConsumer {
    url: String,
    client: Option<tokio_postgres::Client>,
}

impl Round for QueConsumer {
    async fn round(&mut self, n: u32) -> anyhow::Result<()> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            self.client = Some(pg::connect(&self.url, Duration::from_secs(10)).await?);
        }
        let client = self
            .client
            .as_ref()
            .context("no connection to zync's database")?;
        client
            .execute(
                "UPDATE que_jobs SET finished_at = now() WHERE id IN ( \
                   SELECT id FROM que_jobs WHERE finished_at IS NULL AND expired_at IS NULL \
                   ORDER BY priority, run_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)",
                &[&i64::from(n)],
            )
            .await
            .with_context(|| {
                format!(
                    "finishing que_jobs in zync's database at {}",
                    redact(&self.url)
                )
            })?;
        Ok(())
    }

    fn reset(&mut self) {
        self.client = None;
    }
}
