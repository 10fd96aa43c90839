//! Fills backend's two Redis databases: storage (the configuration system pushes, and the usage
//! counters only backend has) and queues (Resque), as apisonator's `docs/redis_keys.md` lists them.

use chrono::{DateTime, Duration, Utc};
use redis::aio::MultiplexedConnection;

use super::jobs::{failed_job, notify_job, report_job, stats_job};
use super::model::{Model, Service};
use super::redis_conn::{connect, refuse_if_not_empty, run};
use super::sizes::{SeedSummary, Sizes};
use super::stats_keys::stats_keys;

/// Commands per pipelined round trip: large enough to amortise the round trip, small enough
/// that one reply never holds much memory.
const BATCH: usize = 1000;
const DAILY_TRAFFIC_TTL_SECONDS: i64 = 2 * 24 * 3600;

/// Writes the storage keys to `storage_url` and the Resque queues to `queues_url` (the same
/// server with another database number, in a default installation). Both databases must be
/// empty; a database with keys is refused before anything is written.
pub async fn seed_backend_redis(
    storage_url: &str,
    queues_url: &str,
    sizes: &Sizes,
) -> anyhow::Result<SeedSummary> {
    let model = Model::build(sizes);
    let now = Utc::now();
    let mut summary = SeedSummary::default();

    let mut storage = connect(storage_url, "backend storage").await?;
    let mut queues = connect(queues_url, "backend queues").await?;
    refuse_if_not_empty(&mut storage, storage_url, "backend storage").await?;
    refuse_if_not_empty(&mut queues, queues_url, "backend queues").await?;

    let mut batch = Batch::new(storage, storage_url, "backend storage keys");
    config_keys(&model, &mut batch, &mut summary).await?;
    for service in &model.services {
        for stat in stats_keys(service, sizes.stats_keys_per_service, now) {
            match stat.ttl {
                Some(ttl) => batch.pipe.set_ex(&stat.key, stat.value, ttl.max(1) as u64),
                None => batch.pipe.set(&stat.key, stat.value),
            };
            batch.counted(&mut summary, "stats").await?;
        }
        let apps: Vec<&str> = service
            .apps
            .iter()
            .map(|a| a.application_id.as_str())
            .collect();
        if !apps.is_empty() {
            batch
                .pipe
                .sadd(format!("stats/{{service:{}}}/cinstances", service.id), apps);
            batch.counted(&mut summary, "stats_cinstances").await?;
        }
        for app in &service.apps {
            let key = format!(
                "daily_traffic/service:{}/cinstance:{}/{}",
                service.id,
                app.application_id,
                now.format("%Y%m%d")
            );
            batch.pipe.set_ex(key, 1, DAILY_TRAFFIC_TTL_SECONDS as u64);
            batch.counted(&mut summary, "daily_traffic").await?;
        }
    }
    batch
        .pipe
        .set("events/id", 4200 + u64::from(sizes.services));
    batch.counted(&mut summary, "events").await?;
    batch.pipe.set("alerts/current_id", 17);
    batch.counted(&mut summary, "alerts").await?;
    batch.flush().await?;

    let mut batch = Batch::new(queues, queues_url, "Resque queues");
    resque_queues(&model, sizes.resque_jobs, now, &mut batch, &mut summary).await?;
    batch.flush().await?;
    Ok(summary)
}

/// How many of `total` Resque jobs go to each queue: reports dominate, as in live traffic.
pub(super) fn resque_split(total: u32) -> [(&'static str, u32); 3] {
    let priority = total * 70 / 100;
    let main = total * 25 / 100;
    [
        ("priority", priority),
        ("main", main),
        ("stats", total - priority - main),
    ]
}

async fn resque_queues(
    model: &Model,
    total: u32,
    now: DateTime<Utc>,
    batch: &mut Batch<'_>,
    summary: &mut SeedSummary,
) -> anyhow::Result<()> {
    let apps: Vec<(i64, &str)> = model
        .services
        .iter()
        .flat_map(|s| {
            s.apps
                .iter()
                .map(move |a| (s.id, a.application_id.as_str()))
        })
        .collect();
    for (queue, count) in resque_split(total) {
        let key = format!("resque:queue:{queue}");
        for i in 0..count {
            let at = now - Duration::milliseconds(i64::from(count - i) * 20);
            let job = match queue {
                "priority" => {
                    let (sid, app) = apps
                        .get(i as usize % apps.len().max(1))
                        .copied()
                        .unwrap_or((1, "0"));
                    report_job(sid, app, 1 + u64::from(i % 5), at)
                }
                "main" => notify_job(&model.provider_key, at),
                _ => stats_job(model.services.first().map_or(1, |s| s.id), at),
            };
            batch.pipe.rpush(&key, job);
            batch.counted(summary, &key).await?;
        }
    }
    batch
        .pipe
        .sadd("resque:queues", &["priority", "main", "stats"]);
    batch.counted(summary, "resque:queues").await?;
    for i in 0..3 {
        let at = now - Duration::hours(6 + i64::from(i));
        let payload = report_job(model.services.first().map_or(1, |s| s.id), "0", 1, at);
        batch
            .pipe
            .rpush("resque:failed", failed_job(&payload, "priority", at));
        batch.counted(summary, "resque:failed").await?;
    }
    Ok(())
}

/// The keys system pushes to backend (rebuildable with `backend:storage:rewrite`).
async fn config_keys(
    model: &Model,
    batch: &mut Batch<'_>,
    summary: &mut SeedSummary,
) -> anyhow::Result<()> {
    let pk = &model.provider_key;
    let ids: Vec<i64> = model.services.iter().map(|s| s.id).collect();
    batch.pipe.sadd("provider_keys_set", pk);
    batch.counted(summary, "config").await?;
    if !ids.is_empty() {
        batch.pipe.sadd("services_set", &ids);
        batch
            .pipe
            .sadd(format!("service/provider_key:{pk}/ids"), &ids);
        batch
            .pipe
            .set(format!("service/provider_key:{pk}/id"), ids[0]);
        batch.counted(summary, "config").await?;
    }
    for service in &model.services {
        service_keys(service, pk, batch, summary).await?;
    }
    Ok(())
}

async fn service_keys(
    svc: &Service,
    pk: &str,
    batch: &mut Batch<'_>,
    summary: &mut SeedSummary,
) -> anyhow::Result<()> {
    let sid = svc.id;
    let mut set = |key: String, value: String| {
        batch.pipe.set(key, value);
    };
    set(
        format!("service/id:{sid}/backend_version"),
        svc.backend_version.to_string(),
    );
    set(
        format!("service/id:{sid}/referrer_filters_required"),
        "0".to_string(),
    );
    set(format!("service/id:{sid}/state"), "active".to_string());
    set(format!("service/id:{sid}/provider_key"), pk.to_string());
    set(
        format!("service_token/token:{}/service_id:{sid}", svc.service_token),
        "1".to_string(),
    );
    for metric in &svc.metrics {
        set(
            format!("metric/service_id:{sid}/name:{}/id", metric.system_name),
            metric.id.to_string(),
        );
        set(
            format!("metric/service_id:{sid}/id:{}/name", metric.id),
            metric.system_name.to_string(),
        );
        if let Some(parent) = metric.parent_id {
            set(
                format!("metric/service_id:{sid}/id:{}/parent_id", metric.id),
                parent.to_string(),
            );
        }
    }
    for plan in &svc.plans {
        for (metric, period, value) in &plan.limits {
            set(
                format!(
                    "usage_limit/service_id:{sid}/plan_id:{}/metric_id:{metric}/{period}",
                    plan.id
                ),
                value.to_string(),
            );
        }
    }
    for app in &svc.apps {
        let base = format!("application/service_id:{sid}/id:{}", app.application_id);
        set(format!("{base}/plan_id"), app.plan_id.to_string());
        set(format!("{base}/plan_name"), app.plan_name.to_string());
        set(format!("{base}/state"), app.state.to_string());
        set(
            format!("application/service_id:{sid}/key:{}/id", app.user_key),
            app.application_id.clone(),
        );
    }
    let apps: Vec<&str> = svc.apps.iter().map(|a| a.application_id.as_str()).collect();
    if !apps.is_empty() {
        batch
            .pipe
            .sadd(format!("service_id:{sid}/applications"), apps);
    }
    // Applications of app_id/app_key products have keys.
    if svc.backend_version == "2" {
        for app in &svc.apps {
            let key = format!(
                "application/service_id:{sid}/id:{}/keys",
                app.application_id
            );
            batch.pipe.sadd(key, &app.app_key);
        }
    }
    batch.counted(summary, "config").await
}

/// A pipeline that is sent every [`BATCH`] commands.
struct Batch<'a> {
    pipe: redis::Pipeline,
    conn: MultiplexedConnection,
    url: &'a str,
    what: &'static str,
    /// Commands of `pipe` already accounted for in the summary.
    counted_commands: usize,
}

impl<'a> Batch<'a> {
    fn new(conn: MultiplexedConnection, url: &'a str, what: &'static str) -> Batch<'a> {
        Batch {
            pipe: redis::Pipeline::with_capacity(BATCH),
            conn,
            url,
            what,
            counted_commands: 0,
        }
    }

    /// Counts the commands added since the last count under `family`, one key each.
    async fn counted(&mut self, summary: &mut SeedSummary, family: &str) -> anyhow::Result<()> {
        let added = self.pipe.len() - self.counted_commands;
        summary.add(family, added as u64);
        self.counted_commands = self.pipe.len();
        self.maybe_flush().await
    }

    async fn maybe_flush(&mut self) -> anyhow::Result<()> {
        if self.pipe.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        if self.pipe.is_empty() {
            return Ok(());
        }
        run(&self.pipe, &mut self.conn, self.url, self.what).await?;
        self.pipe.clear();
        self.counted_commands = 0;
        Ok(())
    }
}
