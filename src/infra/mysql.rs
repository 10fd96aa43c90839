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

/// The parts of a `mysql://` URL a client program needs; the password goes to it through an
/// option file or the environment, never on its command line.
#[derive(Clone, PartialEq, Eq)]
pub struct MysqlParts {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub database: Option<String>,
}

impl std::fmt::Debug for MysqlParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlParts")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("database", &self.database)
            .finish()
    }
}

impl MysqlParts {
    /// `mysql://USER@HOST:PORT/DATABASE`: the URL without its password, as pgloader takes it.
    pub fn url_without_password(&self) -> String {
        format!(
            "mysql://{}@{}:{}/{}",
            percent_encode(&self.user),
            self.host,
            self.port,
            self.database.as_deref().unwrap_or("")
        )
    }

    /// The `[client]` section of an option file (`--defaults-extra-file`), with the password.
    pub fn option_file(&self) -> String {
        let mut text = format!(
            "[client]\nhost={}\nport={}\nuser={}\nprotocol=TCP\n",
            quote_option(&self.host),
            self.port,
            quote_option(&self.user)
        );
        if let Some(pw) = &self.password {
            text.push_str(&format!("password={}\n", quote_option(pw)));
        }
        text
    }
}

/// Reads `url` (`mysql://USER:PASSWORD@HOST:PORT/DATABASE`) into its parts.
pub fn parts(url: &str) -> anyhow::Result<MysqlParts> {
    let opts = mysql_async::Opts::from_url(url)
        .map_err(|e| scrub_error(&e, url))
        .with_context(|| {
            format!(
                "{} is not a MySQL connection URL (expected \
                 mysql://USER:PASSWORD@HOST:PORT/DATABASE)",
                redact(url)
            )
        })?;
    Ok(MysqlParts {
        host: opts.ip_or_hostname().to_string(),
        port: opts.tcp_port(),
        user: opts.user().unwrap_or("root").to_string(),
        password: opts.pass().map(str::to_string),
        database: opts.db_name().map(str::to_string).filter(|d| !d.is_empty()),
    })
}

/// A value of an option file, quoted so that `#`, `;` and spaces survive. The client strips a
/// pair of quotes around the value and reads nothing inside as a quote, so the quote used is
/// one the value does not hold; only backslashes and line breaks are escaped.
fn quote_option(value: &str) -> String {
    let quote = if value.contains('"') && !value.contains('\'') {
        '\''
    } else {
        '"'
    };
    let mut out = String::with_capacity(value.len() + 2);
    out.push(quote);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A connection to `url`, bounded by `timeout`; errors name the server, never the password.
pub async fn connect(url: &str, timeout: Duration) -> anyhow::Result<mysql_async::Conn> {
    let shown = redact(url);
    let opts = mysql_async::Opts::from_url(url)
        .map_err(|e| scrub_error(&e, url))
        .with_context(|| format!("{shown} is not a MySQL connection URL"))?;
    let connected = match tokio::time::timeout(timeout, mysql_async::Conn::new(opts)).await {
        Ok(result) => result.map_err(|e| scrub_error(&e, url)),
        Err(_) => Err(anyhow!("no answer within {timeout:?}")),
    };
    connected.with_context(|| {
        format!(
            "MySQL at {shown} did not answer (check the URL, that the server is reachable from \
             this host, the user and password, and that the database exists)"
        )
    })
}

/// The base tables of the URL's database and the exact rows of each (`count(*)`), by
/// `database.table`.
pub async fn count_rows(
    url: &str,
    timeout: Duration,
) -> anyhow::Result<std::collections::BTreeMap<String, u64>> {
    let mut conn = connect(url, timeout).await?;
    let counted = count_in(&mut conn).await.map_err(|e| {
        anyhow!(super::url::scrub(&format!("{e:#}"), url)).context(format!(
            "counting the rows of the tables of {}",
            redact(url)
        ))
    });
    let _ = conn.disconnect().await;
    counted
}

async fn count_in(
    conn: &mut mysql_async::Conn,
) -> anyhow::Result<std::collections::BTreeMap<String, u64>> {
    let database: Option<String> = conn.query_first("SELECT DATABASE()").await?;
    let database = database.context("the URL names no database")?;
    let tables: Vec<String> = conn
        .query(
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1",
        )
        .await?;
    let mut counts = std::collections::BTreeMap::new();
    for table in tables {
        let sql = format!("SELECT COUNT(*) FROM `{}`", table.replace('`', "``"));
        let n: Option<u64> = conn.query_first(sql).await?;
        counts.insert(format!("{database}.{table}"), n.unwrap_or(0));
    }
    Ok(counts)
}

/// Runs `sql` (several statements allowed) on `url`.
pub async fn execute(url: &str, sql: &str, timeout: Duration) -> anyhow::Result<()> {
    let mut conn = connect(url, timeout).await?;
    let result = conn.query_drop(sql).await.map_err(|e| scrub_error(&e, url));
    let _ = conn.disconnect().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_goes_to_the_option_file_only() {
        let p = parts("mysql://sys:p%40ss%22w@db.example:3307/system")
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(
            p.url_without_password(),
            "mysql://sys@db.example:3307/system"
        );
        assert_eq!(p.password.as_deref(), Some("p@ss\"w"));
        assert!(
            p.option_file().contains("password='p@ss\"w'\n"),
            "{}",
            p.option_file()
        );
        assert_eq!(quote_option("a#b\\c"), "\"a#b\\\\c\"");
        assert!(!format!("{p:?}").contains("p@ss"));
        let p = parts("mysql://root@127.0.0.1/").unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(p.port, 3306);
        assert_eq!(p.database, None);
        assert!(!p.option_file().contains("password"));
    }
}
