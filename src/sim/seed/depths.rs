//! Queue depths of backend's Resque and system's Sidekiq, each Redis in one pipelined round
//! trip: the drain step and its live panel read the same figures.

use std::collections::BTreeMap;

use anyhow::Context;

use super::redis_conn::connect;
use crate::infra::url::{redact, scrub_error};

/// Backend's Resque queues in the order its workers fetch them.
pub const RESQUE_QUEUES: [&str; 3] = ["priority", "main", "stats"];

/// The queues `rake sidekiq:worker` processes in porta 2.13–2.16.
pub const SIDEKIQ_QUEUES: [&str; 11] = [
    "backend_sync",
    "billing",
    "critical",
    "default",
    "deletion",
    "events",
    "low",
    "mailers",
    "priority",
    "web_hooks",
    "zync",
];

/// Depth of every queue, keyed by its Redis key: `resque:queue:<q>` and `resque:failed` from
/// `queues_url`; `queue:<q>`, `schedule`, `retry` and `dead` from `system_redis_url`.
pub async fn queue_depths(
    queues_url: &str,
    system_redis_url: &str,
) -> anyhow::Result<BTreeMap<String, u64>> {
    let resque: Vec<String> = RESQUE_QUEUES
        .iter()
        .map(|q| format!("resque:queue:{q}"))
        .chain(["resque:failed".to_string()])
        .collect();
    let mut depths = BTreeMap::new();
    let lists = resque.iter().map(|k| (k.clone(), "LLEN")).collect();
    depths.extend(read(queues_url, "backend queues", lists).await?);

    let mut sidekiq: Vec<(String, &str)> = SIDEKIQ_QUEUES
        .iter()
        .map(|q| (format!("queue:{q}"), "LLEN"))
        .collect();
    sidekiq.extend(["schedule", "retry", "dead"].map(|k| (k.to_string(), "ZCARD")));
    depths.extend(read(system_redis_url, "system", sidekiq).await?);
    Ok(depths)
}

async fn read(
    url: &str,
    role: &str,
    keys: Vec<(String, &str)>,
) -> anyhow::Result<Vec<(String, u64)>> {
    let mut conn = connect(url, role).await?;
    let mut pipe = redis::pipe();
    for (key, command) in &keys {
        pipe.cmd(command).arg(key);
    }
    let counts: Vec<u64> = pipe
        .query_async(&mut conn)
        .await
        .map_err(|e| scrub_error(&e, url))
        .with_context(|| {
            format!(
                "reading the queue depths of the {role} Redis at {} failed (a key of the wrong \
                 type answers WRONGTYPE: check that the URL points at the {role} Redis)",
                redact(url)
            )
        })?;
    Ok(keys.into_iter().map(|(k, _)| k).zip(counts).collect())
}
