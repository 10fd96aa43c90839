//! Connections to the sandbox's Redis servers, with errors that name the server.

use std::time::Duration;

use anyhow::Context;
use redis::aio::MultiplexedConnection;

use crate::infra::url::{redact, scrub_error};

pub(super) const TIMEOUT: Duration = Duration::from_secs(10);

/// A multiplexed connection to `url`; `role` says which Redis of the installation it is
/// (`backend storage`, `backend queues`, `system`), for the error message.
pub(super) async fn connect(url: &str, role: &str) -> anyhow::Result<MultiplexedConnection> {
    let shown = redact(url);
    let client = redis::Client::open(url)
        .map_err(|e| scrub_error(&e, url))
        .with_context(|| format!("{shown} is not a Redis URL (for the {role} Redis)"))?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(TIMEOUT))
        .set_response_timeout(Some(TIMEOUT));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| scrub_error(&e, url))
        .with_context(|| {
            format!(
                "the {role} Redis at {shown} did not answer (check that the server runs and the \
                 password in the URL)"
            )
        })
}

/// Runs `pipe` on `conn`, naming the server and what was being written when it fails.
pub(super) async fn run(
    pipe: &redis::Pipeline,
    conn: &mut MultiplexedConnection,
    url: &str,
    what: &str,
) -> anyhow::Result<()> {
    pipe.exec_async(conn)
        .await
        .map_err(|e| scrub_error(&e, url))
        .with_context(|| format!("writing {what} to the Redis at {} failed", redact(url)))
}

/// Refuses a Redis database that already holds keys: the seeders add, so a second run would
/// double the queues, and seeding must never write into a real installation's Redis.
pub(super) async fn refuse_if_not_empty(
    conn: &mut MultiplexedConnection,
    url: &str,
    role: &str,
) -> anyhow::Result<()> {
    let keys: u64 = redis::cmd("DBSIZE")
        .query_async(conn)
        .await
        .map_err(|e| scrub_error(&e, url))
        .with_context(|| {
            format!(
                "cannot count the keys of the {role} Redis at {}",
                redact(url)
            )
        })?;
    if keys > 0 {
        anyhow::bail!(
            "the {role} Redis at {} is not empty ({keys} keys); the sandbox seeds only an empty \
             database: flush it (FLUSHDB) or point the rehearsal at another database number",
            redact(url)
        );
    }
    Ok(())
}
