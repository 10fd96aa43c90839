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

/// Counts zync's pending Que jobs (`que_jobs`, reference/threescale.md §4) again and again over
/// one kept connection, connecting again only after an error. Pending means not finished and
/// not expired where the table has `finished_at` and `expired_at` (Que 1 and later); Que 0.x
/// deletes a job when it is done, so there every row is pending.
pub struct QueJobsProbe {
    url: String,
    timeout: Duration,
    /// The connection and the count query that fits its table, once connected.
    conn: Option<(tokio_postgres::Client, String)>,
}

impl std::fmt::Debug for QueJobsProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueJobsProbe")
            .field("source", &self.source())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl QueJobsProbe {
    /// A probe of zync's database at `url`; connects on the first [`pending`](Self::pending).
    pub fn new(url: String) -> QueJobsProbe {
        QueJobsProbe {
            url,
            timeout: Duration::from_secs(10),
            conn: None,
        }
    }

    /// Bounds connecting and each count (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> QueJobsProbe {
        self.timeout = timeout;
        self
    }

    /// The database it reads, password masked.
    pub fn source(&self) -> String {
        redact(&self.url)
    }

    /// The URL it reads, unmasked: for scrubbing text that may quote it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The number of pending jobs, in one query once connected.
    pub async fn pending(&mut self) -> anyhow::Result<u64> {
        let (client, query) = match self.conn.take() {
            Some(conn) if !conn.0.is_closed() => conn,
            _ => {
                let client = connect(&self.url, self.timeout).await?;
                let query = pending_query(&client, &self.url, self.timeout).await?;
                (client, query)
            }
        };
        let count = bounded(self.timeout, client.query_one(query.as_str(), &[]))
            .await
            .map_err(|e| scrub_error(e.as_ref(), &self.url))
            .with_context(|| {
                format!(
                    "zync's database at {} did not count its que_jobs (check that the server \
                     runs and is reachable, and that the user may read que_jobs)",
                    redact(&self.url)
                )
            })?;
        let n: i64 = count.try_get(0)?;
        // Kept only after a count that worked: after an error the connection may be broken.
        self.conn = Some((client, query));
        u64::try_from(n).with_context(|| format!("count(*) returned {n}, not a count"))
    }
}

/// Connects to zync's database at `url` and counts its pending Que jobs once.
pub async fn pending_que_jobs(url: &str, timeout: Duration) -> anyhow::Result<u64> {
    QueJobsProbe::new(url.to_string())
        .with_timeout(timeout)
        .pending()
        .await
}

/// The count query that fits the `que_jobs` table of this database: which of `finished_at` and
/// `expired_at` it has decides what pending means.
async fn pending_query(
    client: &tokio_postgres::Client,
    url: &str,
    timeout: Duration,
) -> anyhow::Result<String> {
    let shown = redact(url);
    let row = bounded(
        timeout,
        client.query_one(
            "SELECT to_regclass('que_jobs') IS NOT NULL, \
                    COALESCE((SELECT array_agg(attname::text ORDER BY attname) FROM pg_attribute \
                      WHERE attrelid = to_regclass('que_jobs') AND attnum > 0 \
                        AND NOT attisdropped AND attname IN ('finished_at', 'expired_at')), \
                      '{}'::text[])",
            &[],
        ),
    )
    .await
    .map_err(|e| scrub_error(e.as_ref(), url))
    .with_context(|| format!("cannot read the layout of que_jobs in zync's database at {shown}"))?;
    let exists: bool = row.try_get(0)?;
    if !exists {
        anyhow::bail!(
            "the database at {shown} has no que_jobs table; check that the URL points at zync's \
             database (zync_production)"
        );
    }
    let columns: Vec<String> = row.try_get(1)?;
    let pending: Vec<String> = columns.iter().map(|c| format!("{c} IS NULL")).collect();
    Ok(if pending.is_empty() {
        "SELECT count(*) FROM que_jobs".to_string()
    } else {
        format!(
            "SELECT count(*) FROM que_jobs WHERE {}",
            pending.join(" AND ")
        )
    })
}

/// `fut` bounded by `timeout`; running out is an error like any other.
async fn bounded<T>(
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, Box<dyn std::error::Error + Send + Sync + 'static>> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(anyhow!("no answer within {timeout:?}").into()),
    }
}
