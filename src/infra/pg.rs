//! PostgreSQL connection and probe: which server version, which database, how big.

use std::time::Duration;

use anyhow::{Context, anyhow};
use tokio_postgres::NoTls;

use super::url::{self, redact, scrub_error};

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
/// A client error in words: the server's message (with its detail and hint) where the server
/// answered, not only "db error".
pub fn error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = format!("{}: {}", db.severity(), db.message());
            if let Some(detail) = db.detail() {
                text.push_str(&format!(" ({detail})"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!("; hint: {hint}"));
            }
            text
        }
        None => format!("{e:#}"),
    }
}

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

/// Counts zync's pending Que jobs (`que_jobs`) again and again over
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

/// `url` without its password, and the password (percent-decoded), so that a client program
/// gets the password through `PGPASSWORD` and never on its command line, where `ps` shows it.
/// Takes URLs (`postgresql://u:pw@h/db?password=...`) and libpq `key=value` strings.
pub fn split_password(url: &str) -> anyhow::Result<(String, Option<String>)> {
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| scrub_error(&e, url))
        .with_context(|| format!("{} is not a PostgreSQL connection string", redact(url)))?;
    let password = config
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let stripped = url::without_password(url);
    Ok((stripped, password))
}

/// A command that runs the PostgreSQL client `program` (psql, pg_dump, pg_restore) against
/// `url`: the connection string without its password in `--dbname`, the password in
/// `PGPASSWORD` (never on the command line), `--no-password` so that it never prompts, no
/// stdin, stderr piped, killed when dropped. The caller adds its options and stdout.
pub fn client_command(
    program: &std::path::Path,
    url: &str,
) -> anyhow::Result<tokio::process::Command> {
    let (conninfo, password) = split_password(url)?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.arg("--no-password")
        .arg("--dbname")
        .arg(conninfo)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(pw) = password {
        cmd.env("PGPASSWORD", pw);
    }
    Ok(cmd)
}

/// `"schema"."name"`, quoted for SQL.
pub fn quote_table(schema: &str, name: &str) -> String {
    format!(
        "\"{}\".\"{}\"",
        schema.replace('"', "\"\""),
        name.replace('"', "\"\"")
    )
}

/// One query counting the rows of each table exactly (`count(*) FROM ONLY`, as pg_dump copies
/// each table's own rows), giving `schema.name|count` per line in psql's unaligned output and
/// `(text, bigint)` rows to a client.
pub fn count_query(tables: &[(String, String)]) -> Option<String> {
    if tables.is_empty() {
        return None;
    }
    let parts: Vec<String> = tables
        .iter()
        .map(|(schema, name)| {
            let label = format!("{schema}.{name}").replace('\'', "''");
            format!(
                "SELECT '{label}'::text, count(*) FROM ONLY {}",
                quote_table(schema, name)
            )
        })
        .collect();
    Some(parts.join(" UNION ALL "))
}

/// The exact row count of each table (`schema.name` → rows), over `client`.
pub async fn count_rows(
    client: &tokio_postgres::Client,
    tables: &[(String, String)],
) -> anyhow::Result<std::collections::BTreeMap<String, u64>> {
    let mut counts = std::collections::BTreeMap::new();
    let Some(query) = count_query(tables) else {
        return Ok(counts);
    };
    for row in client
        .query(query.as_str(), &[])
        .await
        .context("counting the rows of the dump's tables")?
    {
        let table: String = row.try_get(0)?;
        let n: i64 = row.try_get(1)?;
        counts.insert(
            table,
            u64::try_from(n).with_context(|| format!("count(*) returned {n}"))?,
        );
    }
    Ok(counts)
}

/// A query listing which of `tables` (`schema`, `name`) exist, as `schema.name`, one per row;
/// None for no tables. Literal text only, so it runs over psql as well as over a connection.
pub fn existing_tables_query(tables: &[(String, String)]) -> Option<String> {
    if tables.is_empty() {
        return None;
    }
    let wanted: Vec<String> = tables
        .iter()
        .map(|(s, n)| format!("'{}'", format!("{s}.{n}").replace('\'', "''")))
        .collect();
    Some(format!(
        "SELECT n.nspname::text || '.' || c.relname::text FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND n.nspname::text || '.' || c.relname::text IN ({}) \
         ORDER BY 1",
        wanted.join(", ")
    ))
}

/// Which of `tables` (`schema`, `name`) exist in the database of `client`, as `schema.name`.
pub async fn existing_tables(
    client: &tokio_postgres::Client,
    tables: &[(String, String)],
) -> anyhow::Result<Vec<String>> {
    let Some(query) = existing_tables_query(tables) else {
        return Ok(Vec::new());
    };
    let messages = client
        .simple_query(&query)
        .await
        .context("listing the tables of the target database")?;
    Ok(messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url() {
        let (url, pw) =
            split_password("postgresql://sys@db.example:5433/system?sslmode=require&password=x")
                .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(
            url,
            "postgresql://sys@db.example:5433/system?sslmode=require"
        );
        assert_eq!(pw.as_deref(), Some("x"));
        let (url, pw) =
            split_password("postgres://sys:s3cret@db/system").unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(url, "postgres://sys@db/system");
        assert_eq!(pw.as_deref(), Some("s3cret"));
        let (url, pw) = split_password("host=db password='a b\\'c' dbname=system")
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(url, "host=db dbname=system");
        assert_eq!(pw.as_deref(), Some("a b'c"));
        let (url, pw) =
            split_password("postgresql://db/system").unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(url, "postgresql://db/system");
        assert_eq!(pw, None);
    }

    #[test]
    fn table_lists_quote_their_names() {
        assert_eq!(existing_tables_query(&[]), None);
        let q = existing_tables_query(&[("public".into(), "o'brien".into())]).unwrap_or_default();
        assert!(q.ends_with("IN ('public.o''brien') ORDER BY 1"), "{q}");
    }

    #[test]
    fn counts_quote_their_tables() {
        let q = count_query(&[("public".into(), "we\"ird".into())]).unwrap_or_default();
        assert_eq!(
            q,
            "SELECT 'public.we\"ird'::text, count(*) FROM ONLY \"public\".\"we\"\"ird\""
        );
    }
}
