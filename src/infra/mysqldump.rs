//! The MySQL dump of the system database (`dump-system-database` when the source's system
//! database is MySQL): `mysqldump --single-transaction`, one consistent InnoDB snapshot without
//! locking the tables, written as plain SQL to `<dumps>/system-mysql.sql`.
//!
//! Where it is taken from is decided as for PostgreSQL (see `pgdump`): a URL (the config's
//! `source.system_database_url`, or the `system-database` secret of an external database) is
//! dumped by the local `mysqldump` (or `mariadb-dump`) with `--single-transaction --quick
//! --routines --triggers --hex-blob --default-character-set=utf8mb4 --no-tablespaces`, plus
//! `--set-gtid-purged=OFF` when the local client knows it (MariaDB's does not). Its password
//! goes in an option file of mode 0600 (`--defaults-extra-file`), removed afterwards: never on
//! the command line nor in its environment, where `ps` and `/proc` show them. An internal
//! `system-mysql` is dumped by the pod's own mysqldump through exec, with the credentials the
//! pod's environment holds (`MYSQL_USER`/`MYSQL_PASSWORD`, else root), so its client matches
//! its server and no password leaves the pod.
//!
//! Either way the output streams into `<file>.partial` (0600), hashed on the way, with live
//! progress against the database's size; the file must end with mysqldump's `-- Dump
//! completed` line (a dump cut short fails here) before it is renamed into place. The rows of
//! every table are then counted exactly (`count(*)`): 3scale is stopped by now (`scale-down`),
//! so nothing writes between the dump and the count. The record is the same [`DumpRecord`] as
//! for PostgreSQL (format `mysqldump`, rows by `database.table`), kept as the fact `dump`,
//! next to the file as `system-mysql.sql.json`, and in the manifest as kind `mysql-dump`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::artifacts::{
    Report, Throttle, copy_hashing, create_private, dumped, exec_to_private_file, partial_path,
    publish,
};
use super::dump_record::{DumpRecord, MYSQLDUMP_FORMAT};
use super::kube::KubeCluster;
use super::mysql::{self, MysqlParts};
use super::tools::{self, ToolVersion};
use super::url::{redact, scrub};
use crate::format::bytes;

/// The dump's file name in the dump folder.
pub const FILE: &str = "system-mysql.sql";
/// The record's `format`.
pub const FORMAT: &str = MYSQLDUMP_FORMAT;
/// What mysqldump writes last (with its default `--comments`).
const COMPLETED: &str = "-- Dump completed";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The options of every dump, wherever mysqldump runs.
const DUMP_OPTIONS: &[&str] = &[
    "--single-transaction",
    "--quick",
    "--routines",
    "--triggers",
    "--hex-blob",
    "--default-character-set=utf8mb4",
    "--no-tablespaces",
];

/// Run in the database pod as `sh -c SCRIPT cutover DATABASE`: the pod's mysqldump with the
/// pod's credentials; `--set-gtid-purged` only when that client knows it.
pub const POD_DUMP_SCRIPT: &str = r#"U="${MYSQL_USER:-root}"; P="${MYSQL_PASSWORD:-$MYSQL_ROOT_PASSWORD}"
G=; if mysqldump --help 2>/dev/null | grep -q -- --set-gtid-purged; then G=--set-gtid-purged=OFF; fi
MYSQL_PWD="$P" exec mysqldump -h127.0.0.1 -u"$U" --single-transaction --quick --routines \
  --triggers --hex-blob --default-character-set=utf8mb4 --no-tablespaces $G "$1""#;

/// Run in the database pod as `sh -c SCRIPT cutover DATABASE SQL`: the pod's mysql client,
/// tab-separated output without headers.
pub const POD_QUERY_SCRIPT: &str = r#"U="${MYSQL_USER:-root}"; P="${MYSQL_PASSWORD:-$MYSQL_ROOT_PASSWORD}"
MYSQL_PWD="$P" exec mysql -h127.0.0.1 -u"$U" -N -B -e "$2" "$1""#;

/// An option file of mode 0600 holding a client's password, removed when dropped.
pub struct OptionFile(PathBuf);

impl OptionFile {
    /// Writes the `[client]` section of `parts` to a new file in `folder`.
    pub async fn write(folder: &Path, parts: &MysqlParts) -> Result<OptionFile> {
        let path = folder.join(format!(".cutover-mysql-{}.cnf", std::process::id()));
        let mut file = create_private(&path).await?;
        let guard = OptionFile(path);
        file.write_all(parts.option_file().as_bytes())
            .await
            .and(file.sync_all().await)
            .with_context(|| format!("cannot write {}", guard.0.display()))?;
        Ok(guard)
    }

    /// `--defaults-extra-file=PATH`, which must come first on the client's command line.
    pub fn arg(&self) -> String {
        format!("--defaults-extra-file={}", self.0.display())
    }
}

impl Drop for OptionFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The first of `names` installed on this host.
pub async fn client(names: &[&str]) -> Result<ToolVersion> {
    for name in names {
        if let Some(found) = tools::version(name).await? {
            return Ok(found);
        }
    }
    bail!(
        "none of {} is installed on this host; install the MySQL or MariaDB client \
         (e.g. `apt-get install default-mysql-client`)",
        names.join(", ")
    )
}

/// Whether `tool --help` mentions `option`.
async fn supports(tool: &ToolVersion, option: &str) -> bool {
    tokio::process::Command::new(&tool.path)
        .arg("--help")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(option))
}

/// Fails unless the file ends with mysqldump's `-- Dump completed` line.
pub async fn check_complete(path: &Path) -> Result<()> {
    let mut file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    let len = file.metadata().await?.len();
    file.seek(std::io::SeekFrom::Start(len.saturating_sub(4096)))
        .await?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).await?;
    let tail = String::from_utf8_lossy(&tail);
    let last = tail
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    if !last.starts_with(COMPLETED) {
        bail!(
            "{} does not end with mysqldump's `{COMPLETED}` line: the dump is incomplete (the \
             connection or mysqldump stopped before the end); dump again",
            path.display()
        );
    }
    Ok(())
}

fn major_of(version: &str) -> u32 {
    version
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| !w.is_empty())
        .and_then(|w| w.parse().ok())
        .unwrap_or(0)
}

/// Dumps the database of `url` with the local mysqldump into `to` (see the module's doc).
pub async fn dump_url(url: &str, to: &Path, report: &Report<'_>) -> Result<DumpRecord> {
    let started = Instant::now();
    // 3scale's own secrets write `mysql2://` (the Ruby driver's scheme).
    let normalized = match url.strip_prefix("mysql2://") {
        Some(rest) => format!("mysql://{rest}"),
        None => url.to_string(),
    };
    let url = normalized.as_str();
    let shown = redact(url);
    let parts = mysql::parts(url)?;
    let Some(database) = parts.database.clone() else {
        bail!("{shown} names no database: add /DATABASE at the end of the URL");
    };
    let tool = client(&["mysqldump", "mariadb-dump"]).await?;
    let info = mysql::probe(url, CONNECT_TIMEOUT).await?;
    (report.log)(format!(
        "dumping {shown} ({} {}, {}) with {} {} to {}",
        info.flavor,
        info.server_version,
        bytes(info.size_bytes),
        tool.name,
        tool.version,
        to.display()
    ));
    let folder = to.parent().unwrap_or(Path::new("."));
    let partial = partial_path(to);
    let file = create_private(&partial).await?;
    let options = OptionFile::write(folder, &parts).await?;
    let mut cmd = tokio::process::Command::new(&tool.path);
    cmd.arg(options.arg()).args(DUMP_OPTIONS);
    if supports(&tool, "--set-gtid-purged").await {
        cmd.arg("--set-gtid-purged=OFF");
    }
    cmd.arg("--")
        .arg(&database)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run {}", tool.path.display()))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        bail!("mysqldump started without its output pipes");
    };
    // No total: the database's size is no measure of its dump's (compressed, or text), and
    // a ratio of the two would mislead; the gauge counts the bytes written.
    let mut throttle = Throttle::new(report, None, "bytes");
    let (copied, errors) = tokio::join!(
        copy_hashing(stdout, file, &mut throttle),
        tools::stderr_text(stderr)
    );
    let status = child.wait().await.context("waiting for mysqldump")?;
    drop(options);
    let errors = scrub(&errors, url);
    let (bytes, sha256) = dumped(copied, status, &partial, "mysqldump", &shown, &errors)?;
    throttle.done(bytes);
    let rows = finish(
        &partial,
        to,
        &errors,
        mysql::count_rows(url, CONNECT_TIMEOUT),
    )
    .await?;
    Ok(record(
        to,
        bytes,
        sha256,
        shown,
        info.server_version,
        format!("{} {}", tool.name, tool.version),
        rows,
        started,
    ))
}

/// Checks that the dump at `partial` is whole, counts its tables' rows with `count`, and
/// publishes it as `to`; `partial` is removed on any failure. `said` is mysqldump's stderr.
async fn finish(
    partial: &Path,
    to: &Path,
    said: &str,
    count: impl std::future::Future<Output = Result<BTreeMap<String, u64>>>,
) -> Result<BTreeMap<String, u64>> {
    let checked = async {
        check_complete(partial)
            .await
            .map_err(|e| e.context(format!("mysqldump said: {said}")))?;
        count
            .await
            .map_err(|e| e.context("the dump is whole, but its tables' rows could not be counted"))
    };
    match checked.await {
        Ok(rows) => {
            publish(partial, to)?;
            Ok(rows)
        }
        Err(e) => {
            let _ = std::fs::remove_file(partial);
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn record(
    to: &Path,
    bytes: u64,
    sha256: String,
    source: String,
    server_version: String,
    tool: String,
    rows: BTreeMap<String, u64>,
    started: Instant,
) -> DumpRecord {
    DumpRecord {
        path: to.to_path_buf(),
        bytes,
        sha256,
        mode: "0600".to_string(),
        format: FORMAT.to_string(),
        source,
        server_major: major_of(&server_version),
        server_version,
        pg_dump: tool,
        table_data: rows.len(),
        rows,
        rows_counted: "exact count(*) right after the dump".to_string(),
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Runs `sql` with the pod's mysql client against `database`; tab-separated lines.
async fn query_in_pod(kube: &KubeCluster, pod: &str, database: &str, sql: &str) -> Result<String> {
    kube.exec_output(
        pod,
        &["sh", "-c", POD_QUERY_SCRIPT, "cutover", database, sql],
        "mysql",
    )
    .await
}

/// Dumps `database` with mysqldump in `pod` through exec (see the module's doc).
pub async fn dump_exec(
    kube: &KubeCluster,
    pod: &str,
    database: &str,
    to: &Path,
    report: &Report<'_>,
) -> Result<DumpRecord> {
    let started = Instant::now();
    let info = query_in_pod(
        kube,
        pod,
        database,
        "SELECT VERSION(), CAST(COALESCE((SELECT SUM(data_length + index_length) FROM \
         information_schema.tables WHERE table_schema = DATABASE()), 0) AS UNSIGNED)",
    )
    .await?;
    let (version, size) = info
        .trim()
        .split_once('\t')
        .map(|(v, s)| (v.to_string(), s.trim().parse::<u64>().unwrap_or(0)))
        .with_context(|| {
            format!(
                "mysql in pod {pod} did not report the server version of {database}: {:?}",
                info.trim()
            )
        })?;
    (report.log)(format!(
        "dumping database {database} (MySQL {version}, {}) with mysqldump in pod {pod} to {}",
        bytes(size),
        to.display()
    ));
    let result = exec_to_private_file(
        kube,
        pod,
        &["sh", "-c", POD_DUMP_SCRIPT, "cutover", database],
        to,
        // No total: the database's size is no measure of its dump's (compressed, or text), and
        // a ratio of the two would mislead; the gauge counts the bytes written.
        Throttle::new(report, None, "bytes"),
        "mysqldump",
        &format!("the dump of database {database} did not complete"),
    )
    .await?;
    let partial = partial_path(to);
    let rows = finish(
        &partial,
        to,
        result.stderr.trim(),
        count_in_pod(kube, pod, database),
    )
    .await?;
    Ok(record(
        to,
        result.bytes,
        result.sha256,
        format!("pod {pod}, database {database}, through exec"),
        version,
        format!("in pod {pod}"),
        rows,
        started,
    ))
}

/// Exact rows of every base table of `database`, counted by the pod's client.
async fn count_in_pod(
    kube: &KubeCluster,
    pod: &str,
    database: &str,
) -> Result<BTreeMap<String, u64>> {
    let listed = query_in_pod(
        kube,
        pod,
        database,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() \
         AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .await?;
    let tables: Vec<&str> = listed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut rows = BTreeMap::new();
    if tables.is_empty() {
        return Ok(rows);
    }
    let query: Vec<String> = tables
        .iter()
        .map(|t| {
            format!(
                "SELECT '{}', COUNT(*) FROM `{}`",
                t.replace('\'', "''"),
                t.replace('`', "``")
            )
        })
        .collect();
    let text = query_in_pod(kube, pod, database, &query.join(" UNION ALL ")).await?;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (table, n) = line
            .rsplit_once('\t')
            .with_context(|| format!("mysql printed {line:?}, not table and count"))?;
        let n: u64 = n
            .trim()
            .parse()
            .with_context(|| format!("mysql printed {line:?}, not table and count"))?;
        rows.insert(format!("{database}.{table}"), n);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_majors() {
        assert_eq!(major_of("10.11.19-MariaDB-0+deb12u1"), 10);
        assert_eq!(major_of("8.0.36"), 8);
        assert_eq!(major_of(""), 0);
    }

    #[tokio::test]
    async fn a_dump_without_its_last_line_is_incomplete() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("d.sql");
        std::fs::write(
            &path,
            "CREATE TABLE a (id int);\n-- Dump completed on 2026-11-23\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(check_complete(&path).await.is_ok());
        std::fs::write(&path, "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1),")
            .unwrap_or_else(|e| panic!("{e}"));
        let err = check_complete(&path).await.err().map(|e| format!("{e:#}"));
        assert!(err.is_some_and(|e| e.contains("incomplete")));
    }
}
