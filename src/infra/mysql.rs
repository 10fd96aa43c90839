//! MySQL/MariaDB probe: which server, which database, how big. Used for the MySQL sources that
//! pgloader converts.

use std::time::Duration;

use anyhow::{Context, anyhow};
use mysql_async::prelude::Queryable;

use super::url::{redact, scrub_error};

/// What a MySQL or MariaDB server says about itself and the database of the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlInfo {
    /// As the server words it, e.g. `10.11.19-MariaDB-0+deb12u1`.
    pub server_version: String,
    /// `MariaDB` or `MySQL`.
    pub flavor: String,
    pub database: String,
    /// Data plus indexes of every table in the database, as information_schema estimates them.
    pub size_bytes: u64,
}

/// Connects to `url` (`mysql://USER:PASSWORD@HOST:PORT/DATABASE`) and reads the server version
/// and the database size. Connecting, the query and the disconnect are each bounded by
/// `timeout`.
pub async fn probe(url: &str, timeout: Duration) -> anyhow::Result<MysqlInfo> {
    let shown = redact(url);
    let opts = mysql_async::Opts::from_url(url)
        .map_err(|e| scrub_error(&e, url))
        .with_context(|| {
            format!(
                "{shown} is not a MySQL connection URL (expected \
                 mysql://USER:PASSWORD@HOST:PORT/DATABASE)"
            )
        })?;
    let connected = match tokio::time::timeout(timeout, mysql_async::Conn::new(opts)).await {
        Ok(result) => result.map_err(|e| scrub_error(&e, url)),
        Err(_) => Err(anyhow!("no answer within {timeout:?}")),
    };
    let mut conn = connected.with_context(|| {
        format!(
            "MySQL at {shown} did not answer (check the URL, that the server is reachable from \
             this host, the user and password, and that the database exists)"
        )
    })?;
    let asked = match tokio::time::timeout(timeout, ask(&mut conn, url)).await {
        Ok(result) => result,
        Err(_) => Err(anyhow!("no answer within {timeout:?}")),
    };
    // Close politely whatever the query gave, so the server does not log an aborted connection.
    if let Ok(Err(e)) = tokio::time::timeout(timeout, conn.disconnect()).await {
        tracing::debug!(server = %shown, error = %e, "MySQL disconnect failed");
    }
    let (server_version, database, size_bytes) = asked.with_context(|| {
        format!(
            "MySQL at {shown} did not report its version and database size (check that the user \
             may read information_schema)"
        )
    })?;
    let database = database.with_context(|| {
        format!("{shown} names no database: add /DATABASE at the end of the URL")
    })?;
    let flavor = if server_version.to_ascii_lowercase().contains("mariadb") {
        "MariaDB"
    } else {
        "MySQL"
    };
    Ok(MysqlInfo {
        server_version,
        flavor: flavor.to_string(),
        database,
        size_bytes,
    })
}

async fn ask(
    conn: &mut mysql_async::Conn,
    url: &str,
) -> anyhow::Result<(String, Option<String>, u64)> {
    let row: Option<(String, Option<String>, u64)> = conn
        .query_first(
            "SELECT VERSION(), DATABASE(), CAST(COALESCE((\
                 SELECT SUM(data_length + index_length) FROM information_schema.tables \
                 WHERE table_schema = DATABASE()), 0) AS UNSIGNED)",
        )
        .await
        .map_err(|e| scrub_error(&e, url))?;
    // A SELECT without FROM always returns one row; none means the server is not behaving.
    row.context("the server answered the version query with no row")
}
