//! PostgreSQL connection and probe: which server version, which database, how big.

use std::time::Duration;

use anyhow::{Context, anyhow};
use tokio_postgres::NoTls;

use super::url::{redact, scrub_error};

/// What a PostgreSQL server says about itself and the database of the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgInfo {
    /// As the server words it, e.g. `15.19 (Debian 15.19-0+deb12u1)`.
    pub server_version: String,
    /// From `server_version_num`, which, unlike `server_version`, has one fixed format.
    pub major: u32,
    pub database: String,
    pub size_bytes: u64,
}

/// A client for `url` (URL or libpq key=value form), with its connection task spawned on the
/// current runtime. Connecting is bounded by `timeout`.
pub async fn connect(url: &str, timeout: Duration) -> anyhow::Result<tokio_postgres::Client> {
    let shown = redact(url);
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| scrub_error(&e, url))
        .with_context(|| {
            format!(
                "{shown} is not a PostgreSQL connection string (expected \
                 postgresql://USER:PASSWORD@HOST:PORT/DATABASE or host=... dbname=...)"
            )
        })?;
    config.connect_timeout(timeout);
    let connected = match tokio::time::timeout(timeout, config.connect(NoTls)).await {
        Ok(result) => result.map_err(|e| scrub_error(&e, url)),
        Err(_) => Err(anyhow!("no answer within {timeout:?}")),
    };
    let (client, connection) = connected.with_context(|| {
        format!(
            "PostgreSQL at {shown} did not answer (check the URL, that the server is reachable \
             from this host, the user and password, and that the database exists)"
        )
    })?;
    tokio::spawn(async move {
        // The connection ends with an error only when the server or network drops it; the
        // client's next call reports that to its caller, so here it is only worth a trace.
        if let Err(e) = connection.await {
            tracing::debug!(server = %shown, error = %e, "PostgreSQL connection closed");
        }
    });
    Ok(client)
}

/// Connects to `url` and reads the server version and the size of the URL's database.
/// Connecting and the query are each bounded by `timeout`.
pub async fn probe(url: &str, timeout: Duration) -> anyhow::Result<PgInfo> {
    let client = connect(url, timeout).await?;
    let query = client.query_one(
        "SELECT current_setting('server_version'), \
                current_setting('server_version_num')::int4, \
                current_database()::text, \
                pg_database_size(current_database())",
        &[],
    );
    let row = match tokio::time::timeout(timeout, query).await {
        Ok(result) => result.map_err(|e| scrub_error(&e, url)),
        Err(_) => Err(anyhow!("no answer within {timeout:?}")),
    }
    .with_context(|| {
        format!(
            "PostgreSQL at {} did not report its version and database size (check that the \
             user may connect to the database and call pg_database_size)",
            redact(url)
        )
    })?;
    let server_version: String = row.try_get(0)?;
    let version_num: i32 = row.try_get(1)?;
    let database: String = row.try_get(2)?;
    let size: i64 = row.try_get(3)?;
    Ok(PgInfo {
        server_version,
        major: u32::try_from(version_num / 10000)
            .with_context(|| format!("server_version_num {version_num} is not a version"))?,
        database,
        size_bytes: u64::try_from(size)
            .with_context(|| format!("pg_database_size returned {size}, not a size"))?,
    })
}
