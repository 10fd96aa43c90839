//! pgloader, which copies a MySQL database into PostgreSQL: the load file for loading the data
//! of a 3scale system database into a schema loaded beforehand, the run, and the reading of its
//! summary. pgloader exits 0 even when it rejected rows, so its summary table is the only
//! reliable word on what it loaded: every table's rows and errors are read from it.
//!
//! Credentials never enter the load file nor the command line: the URLs in the file carry no
//! password, and pgloader reads them from `MYSQL_PWD` and `PGPASSWORD`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use tokio::io::AsyncBufReadExt;

use super::tools::ToolVersion;

/// The casts a 3scale MySQL system database needs to fit the PostgreSQL schema of porta.
pub const CASTS: &[&str] = &[
    "type tinyint when (= precision 1) to boolean drop typemod using tinyint-to-boolean",
    "type binary to bytea using byte-vector-to-bytea",
    "type varbinary to bytea using byte-vector-to-bytea",
    "type tinyblob to bytea using byte-vector-to-bytea",
    "type blob to bytea using byte-vector-to-bytea",
    "type mediumblob to bytea using byte-vector-to-bytea",
    "type longblob to bytea using byte-vector-to-bytea",
    "type mediumtext to text drop typemod using remove-null-characters",
    "type longtext to text drop typemod using remove-null-characters",
    "type datetime to timestamp drop default drop not null using zero-dates-to-null",
    "type date drop not null drop default using zero-dates-to-null",
];

/// Tables whose rows stay out of the load: the PostgreSQL schema load wrote its own.
pub const EXCLUDED: &[&str] = &["schema_migrations", "ar_internal_metadata"];

/// What a load file says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadSpec {
    /// `mysql://USER@HOST:PORT/DATABASE`, without password.
    pub from: String,
    /// `pgsql://USER@HOST:PORT/DATABASE[?sslmode=...]`, without password.
    pub into: String,
    /// The MySQL database, renamed to the PostgreSQL schema `public`.
    pub mysql_schema: String,
}

fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The load file: data only into the existing tables, the 3scale casts, the Rails bookkeeping
/// tables left out, and the MySQL database renamed to `public`. Sequences are reset by the
/// caller afterwards, to `max(id) + 1` of every table.
pub fn load_file(spec: &LoadSpec) -> String {
    let excluded: Vec<String> = EXCLUDED.iter().map(|t| quoted(t)).collect();
    format!(
        "LOAD DATABASE\n  FROM {}\n  INTO {}\n\
         WITH data only, workers = 4, concurrency = 1,\n     \
         batch rows = 10000, prefetch rows = 10000\n\
         SET PostgreSQL PARAMETERS session_replication_role to 'replica'\n\
         CAST {}\n\
         EXCLUDING TABLE NAMES MATCHING {}\n\
         ALTER SCHEMA {} RENAME TO 'public'\n;\n",
        spec.from,
        spec.into,
        CASTS.join(",\n     "),
        excluded.join(", "),
        quoted(&spec.mysql_schema)
    )
}

/// A PostgreSQL URL or `key=value` string as pgloader takes it (`pgsql://USER@HOST:PORT/DB`,
/// with `sslmode` when it is not the default), and its password apart.
pub fn target_url(url: &str) -> Result<(String, Option<String>)> {
    use tokio_postgres::config::{Host, SslMode};
    let shown = super::url::redact(url);
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| super::url::scrub_error(&e, url))
        .with_context(|| format!("{shown} is not a PostgreSQL connection string"))?;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => bail!(
            "{shown} connects through the socket {}; pgloader needs a host and port: use \
             postgresql://USER:PASSWORD@HOST:PORT/DATABASE",
            p.display()
        ),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config
        .get_user()
        .with_context(|| format!("{shown} names no user"))?;
    let db = config.get_dbname().unwrap_or(user);
    let ssl = match config.get_ssl_mode() {
        SslMode::Require => "?sslmode=require",
        SslMode::Disable => "?sslmode=disable",
        _ => "",
    };
    let password = config
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    Ok((
        format!("pgsql://{}@{host}:{port}/{}{ssl}", encode(user), encode(db)),
        password,
    ))
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One table of pgloader's summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableLoad {
    pub errors: u64,
    pub rows: u64,
}

/// The tables of pgloader's summary (`schema.table` → rows and errors), from its output.
/// Rows of the other sections (`fetch meta data`, `Reset Sequences`...) have names of several
/// words and are left out.
pub fn parse_summary(output: &str) -> BTreeMap<String, TableLoad> {
    let mut tables = BTreeMap::new();
    for line in output.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [name, errors, rows, ..] = words.as_slice() else {
            continue;
        };
        let name = name.replace('"', "");
        if !name.contains('.') {
            continue;
        }
        if let (Ok(errors), Ok(rows)) = (errors.parse::<u64>(), rows.parse::<u64>()) {
            tables.insert(name, TableLoad { errors, rows });
        }
    }
    tables
}

/// What a run of pgloader loaded, and the errors it logged.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    pub tables: BTreeMap<String, TableLoad>,
    /// Its `ERROR` lines with the one or two lines that follow (detail, context), at most 20.
    pub errors: Vec<String>,
    /// Every line it printed, for the step's log.
    pub output: Vec<String>,
}

impl LoadReport {
    pub fn rejected(&self) -> u64 {
        self.tables.values().map(|t| t.errors).sum()
    }
}

/// Runs pgloader on `load_file`, with its log and reject files under `root_dir` and the
/// passwords in its environment; each line it prints goes to `line` as it comes. Fails when
/// pgloader fails or prints no summary.
pub async fn run(
    tool: &ToolVersion,
    load_file: &Path,
    root_dir: &Path,
    mysql_password: Option<&str>,
    pg_password: Option<&str>,
    line: &(dyn Fn(&str) + Send + Sync),
) -> Result<LoadReport> {
    std::fs::create_dir_all(root_dir)
        .with_context(|| format!("cannot create {}", root_dir.display()))?;
    let mut cmd = tokio::process::Command::new(&tool.path);
    cmd.arg("--root-dir")
        .arg(root_dir)
        .arg("--logfile")
        .arg(root_dir.join("pgloader.log"))
        .arg(load_file)
        .env_remove("MYSQL_PWD")
        .env_remove("PGPASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(pw) = mysql_password {
        cmd.env("MYSQL_PWD", pw);
    }
    if let Some(pw) = pg_password {
        cmd.env("PGPASSWORD", pw);
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run {}", tool.path.display()))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        bail!("pgloader started without its output pipes");
    };
    let read = |from: Box<dyn tokio::io::AsyncRead + Unpin + Send>| async move {
        let mut lines = tokio::io::BufReader::new(from).lines();
        let mut kept = Vec::new();
        while let Ok(Some(l)) = lines.next_line().await {
            line(&l);
            kept.push(l);
        }
        kept
    };
    let (out, err) = tokio::join!(read(Box::new(stdout)), read(Box::new(stderr)));
    let status = child.wait().await.context("waiting for pgloader")?;
    let mut output = out;
    output.extend(err);
    let errors = error_lines(&output);
    if !status.success() {
        bail!(
            "pgloader {} failed ({status}): {}",
            tool.version,
            if errors.is_empty() {
                output
                    .iter()
                    .rev()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" / ")
            } else {
                errors.join(" / ")
            }
        );
    }
    let tables = parse_summary(&output.join("\n"));
    if tables.is_empty() {
        bail!(
            "pgloader {} printed no summary of the tables it loaded: {}",
            tool.version,
            errors.join(" / ")
        );
    }
    Ok(LoadReport {
        tables,
        errors,
        output,
    })
}

fn error_lines(output: &[String]) -> Vec<String> {
    let mut kept = Vec::new();
    for (i, l) in output.iter().enumerate() {
        if l.contains(" ERROR ") || l.contains(" FATAL ") {
            let mut text = l.clone();
            for next in output.iter().skip(i + 1).take(2) {
                if next.starts_with("DETAIL") || next.starts_with("CONTEXT") {
                    text.push(' ');
                    text.push_str(next);
                }
            }
            kept.push(text);
            if kept.len() >= 20 {
                break;
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUMMARY: &str = "\
2026-11-23T03:41:16.564001Z ERROR Database error 23502: null value in column \"data\"
             table name     errors       rows      bytes      total time
-----------------------  ---------  ---------  ---------  --------------
        fetch meta data          0          1                     0.104s
      Drop Foreign Keys          0          0                     0.000s
-----------------------  ---------  ---------  ---------  --------------
        public.accounts          1          0                     0.052s
 public.\"proxy_configs\"          0         12     3.4 kB          0.010s
-----------------------  ---------  ---------  ---------  --------------
COPY Threads Completion          0          4                     0.052s
        Reset Sequences          0          1                     0.056s
-----------------------  ---------  ---------  ---------  --------------
      Total import time          1         12     3.4 kB          0.108s
";

    #[test]
    fn the_summary_gives_each_tables_rows_and_errors() {
        let tables = parse_summary(SUMMARY);
        assert_eq!(tables.len(), 2, "{tables:?}");
        assert_eq!(tables["public.accounts"], TableLoad { errors: 1, rows: 0 });
        assert_eq!(
            tables["public.proxy_configs"],
            TableLoad {
                errors: 0,
                rows: 12
            }
        );
    }

    #[test]
    fn the_load_file_has_no_password_and_every_cast() {
        let text = load_file(&LoadSpec {
            from: "mysql://sys@db:3306/system".to_string(),
            into: "pgsql://pg@pg:5432/system?sslmode=require".to_string(),
            mysql_schema: "system".to_string(),
        });
        assert!(text.contains("FROM mysql://sys@db:3306/system\n"));
        assert!(text.contains("ALTER SCHEMA 'system' RENAME TO 'public'"));
        assert!(text.contains("MATCHING 'schema_migrations', 'ar_internal_metadata'"));
        for cast in CASTS {
            assert!(text.contains(cast), "{cast}");
        }
        let (url, pw) =
            target_url("postgresql://pg:s%40cret@pg.example:5433/system?sslmode=require")
                .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(url, "pgsql://pg@pg.example:5433/system?sslmode=require");
        assert_eq!(pw.as_deref(), Some("s@cret"));
    }
}
