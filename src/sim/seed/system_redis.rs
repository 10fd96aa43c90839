//! Fills system's Redis with Sidekiq's keys (porta's Sidekiq configuration): the queue set, one
//! list per queue, the scheduled, retry and dead sets, counters and sidekiq-cron's entries.

use chrono::{Duration, Utc};

use super::depths::SIDEKIQ_QUEUES;
use super::jobs::{sidekiq_failed_job, sidekiq_job};
use super::redis_conn::{connect, refuse_if_not_empty, run};
use super::sizes::{SeedSummary, Sizes};

/// How jobs spread over the queues: sync, zync and default traffic dominate a busy system.
const WEIGHTS: [(&str, u32); 11] = [
    ("backend_sync", 3),
    ("billing", 1),
    ("critical", 1),
    ("default", 3),
    ("deletion", 1),
    ("events", 2),
    ("low", 1),
    ("mailers", 2),
    ("priority", 1),
    ("web_hooks", 1),
    ("zync", 3),
];

/// Writes `sizes.sidekiq_jobs` enqueued jobs over the eleven queues, plus a few scheduled,
/// retrying and dead ones, into the Redis at `url`, which must be empty.
pub async fn seed_system_redis(url: &str, sizes: &Sizes) -> anyhow::Result<SeedSummary> {
    seed_system_redis_in(url, None, sizes).await
}

/// [`seed_system_redis`] under a Sidekiq namespace: every key is `<namespace>:<key>`, as
/// 3scale 2.13 and earlier write them with `REDIS_NAMESPACE` set.
pub async fn seed_system_redis_in(
    url: &str,
    namespace: Option<&str>,
    sizes: &Sizes,
) -> anyhow::Result<SeedSummary> {
    let p = namespace.map(|n| format!("{n}:")).unwrap_or_default();
    let mut conn = connect(url, "system").await?;
    refuse_if_not_empty(&mut conn, url, "system").await?;
    let now = Utc::now();
    let mut summary = SeedSummary::default();
    let cycle: Vec<&str> = WEIGHTS
        .iter()
        .flat_map(|(queue, weight)| std::iter::repeat_n(*queue, *weight as usize))
        .collect();

    let mut pipe = redis::pipe();
    pipe.sadd(format!("{p}queues"), SIDEKIQ_QUEUES.as_slice());
    summary.add("queues", SIDEKIQ_QUEUES.len() as u64);
    for i in 0..sizes.sidekiq_jobs {
        let queue = cycle[i as usize % cycle.len()];
        let at = now - Duration::milliseconds(i64::from(sizes.sidekiq_jobs - i) * 50);
        // LPUSH, as Sidekiq's client does; workers take from the right.
        pipe.lpush(
            format!("{p}queue:{queue}"),
            sidekiq_job(queue, u64::from(i), at),
        );
        summary.add(&format!("queue:{queue}"), 1);
        if pipe.len() >= 1000 {
            run(&pipe, &mut conn, url, "Sidekiq queues").await?;
            pipe.clear();
        }
    }
    let extra = u64::from(sizes.sidekiq_jobs / 20) + 2;
    for n in 0..extra {
        let base = 1_000_000 + n;
        let at = now - Duration::minutes(30 + n as i64);
        let due = (now + Duration::minutes(5 + n as i64)).timestamp_millis() as f64 / 1000.0;
        pipe.zadd(
            format!("{p}schedule"),
            sidekiq_job("mailers", base, at),
            due,
        );
        pipe.zadd(
            format!("{p}retry"),
            sidekiq_failed_job("zync", base, at, 3),
            due,
        );
        let died = (now - Duration::days(1 + n as i64)).timestamp_millis() as f64 / 1000.0;
        pipe.zadd(
            format!("{p}dead"),
            sidekiq_failed_job("web_hooks", base, at, 25),
            died,
        );
    }
    for set in ["schedule", "retry", "dead"] {
        summary.add(set, extra);
    }
    pipe.set(format!("{p}stat:processed"), 1_284_311)
        .set(format!("{p}stat:failed"), 2_417);
    summary.add("stat", 2);
    for (name, class, cron) in [
        ("janitor", "JanitorWorker", "0 3 * * *"),
        ("billing", "BillingWorker", "0 8 * * *"),
    ] {
        pipe.sadd(format!("{p}cron_jobs"), format!("cron_job:{name}"));
        pipe.hset_multiple(
            format!("{p}cron_job:{name}"),
            &[
                ("name", name),
                ("klass", class),
                ("cron", cron),
                ("queue", "critical"),
                ("status", "enabled"),
            ],
        );
        summary.add("cron_job", 1);
    }
    run(&pipe, &mut conn, url, "Sidekiq queues").await?;
    Ok(summary)
}
