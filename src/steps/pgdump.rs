//! PostgreSQL dumps and restores: the steps `dump-system-database`, `dump-zync-database` and
//! `dump-migration-database` (pg_dump in the custom format) and `restore-system-database`
//! (pg_restore), and the same code behind `cutover pg dump` and `cutover pg restore`.
//!
//! Where a dump is taken from:
//! - the URL the config names for the store (`source.system_database_url`,
//!   `source.zync_database_url`, `migration_cluster.system_database_url`), else
//! - for the source, where the `inventory` step found it: a store outside the namespace through
//!   the URL of its secret (`system-database`/`URL`, `zync`/`DATABASE_URL`), read at the moment
//!   of use; a store inside it (`system-postgresql`, `zync-database`) by running `pg_dump -Fc -d
//!   <database>` in its pod through exec, since the pod's own pg_dump matches its server and
//!   needs no password. Its output streams out of the pod.
//!
//! Through a URL the local pg_dump runs, after a check that its major version is at least the
//! server's (pg_dump refuses newer servers); the password goes to it in `PGPASSWORD`, never on
//! its command line. Either way the archive streams into `<dumps>/<name>.dump.partial`, created
//! with mode 0600 and hashed (SHA-256) on the way, with live progress in bytes against the
//! database's size; it is synced to disk, then `pg_restore --list` must read it (a truncated or
//! foreign file fails here), and only then is it renamed to `<dumps>/<name>.dump` and the
//! folder synced. The fact `dump` ([`DumpRecord`]) records path, size, SHA-256, mode, server
//! version, the number of TABLE DATA entries and the rows of each of those tables; the same
//! record is written next to the file as `<name>.dump.json` (mode 0600), so that it travels with
//! the dump when the other party restores it with its own cutover.
//!
//! Row counts are exact (`count(*) FROM ONLY`, for every table the archive holds data of), not
//! the `n_live_tup` estimate: a restore is checked against them, and an estimate would either
//! fail good restores or pass bad ones. Through a URL they are taken while pg_dump runs, inside
//! its own snapshot (`pg_export_snapshot` held open in a REPEATABLE READ transaction and passed
//! to `pg_dump --snapshot`), so they describe exactly what the archive holds even if something
//! writes meanwhile, and cost no time of their own: pg_dump spends it compressing. Through exec
//! they are taken right after the dump; 3scale is stopped by then (`scale-down`), so nothing
//! writes.
//!
//! A restore (`restore-system-database`) takes the dump `dump-system-database` recorded in this
//! journal, else the one in the dump folder with its `.json` record (taken by the other party).
//! With neither, and the source system database named in the config, it offers to dump it
//! first (the operator types `dump now`); otherwise it fails and says what to bring. It first
//! reads the whole archive again and compares its
//! SHA-256 with the recorded one (a changed byte stops it, naming the file); then looks at the
//! target: if any table of the dump already exists there, it asks the operator to type
//! `replace <database>` before replacing them (`pg_restore --clean --if-exists`), and never
//! restores over them otherwise. `pg_restore --no-owner --no-acl --exit-on-error --jobs N`
//! loads the archive (N = the CPUs, at most 4); progress counts the tables whose data is
//! loaded. Afterwards every table's rows are checked against the recorded counts: first
//! through the server's own counters (`pg_stat_user_tables`: rows inserted equal to live rows
//! and to the count, none deleted; the tables were just created, so the counters cover the
//! load alone), which cost nothing; a table whose counters do not match is counted with
//! `count(*)`, and only that exact count can fail the step, which then lists the tables. A
//! count(*) right after a load would read, and write hint bits into, every page again, about a
//! third of the load's own time.
//!
//! Resume re-check: a dump holds when its file exists and its SHA-256 matches the fact; a
//! restore holds when the target's row counts match the recorded ones.
//!
//! The migration cluster's database (`dump-migration-database`, `restore-system-database`) is
//! reached by `migration_cluster.system_database_url`, else from inside that cluster through
//! cutover's client pod, which reads the URL from secret `system-database` (see
//! [`super::pgtarget`]); there the archive streams into `pg_restore` over exec's stdin.
//!
//! A MySQL system database is found the same way and dumped by `mysqldump` (see that module).
//! Not automated here: an Oracle system database (the step fails and points to the manual
//! procedure, which has the Data Pump commands). `seed-destination-database` is in `seed`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::io::AsyncRead;

use super::inventory::{self, Location};
use super::pgtarget::{PgTarget, PodDb, SYSTEM_DATABASE_SECRET, counts_of, psql_rows};
use super::{Question, Recheck, StepAction, StepContext, StepFuture, StepResult};
use crate::config::StoreKind;
use crate::infra::artifacts::{
    self, Throttle, copy_hashing, create_private, exec_to_private_file, partial_path, publish,
    sha256_file,
};
pub use crate::infra::artifacts::{Report, human_bytes};
use crate::infra::kube::CLIENT_POD;
use crate::infra::kube::{CLIENT_POD_DEADLINE, KubeCluster};
use crate::infra::pg;
use crate::infra::tools::{self, ToolVersion};
use crate::infra::url::{redact, scrub};
use crate::runbook::{ClusterRole, DbKind, StepId, ids};

/// The fact of a dump step, and of a restore step.
pub const FACT: &str = "dump";
pub const RESTORE_FACT: &str = "restore";
/// The step whose dump `restore-system-database` restores.
pub const SYSTEM_DUMP_STEP: StepId = ids::DUMP_SYSTEM_DATABASE;

/// Connecting to a database, before it counts as no answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// What a dump produced, recorded as the fact `dump`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DumpRecord {
    pub path: PathBuf,
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
    /// The file's mode, `0600`.
    pub mode: String,
    /// `custom` (pg_dump -Fc).
    pub format: String,
    /// Where it was dumped from: a URL with its password masked, or the pod and database.
    pub source: String,
    pub server_version: String,
    pub server_major: u32,
    /// The pg_dump that wrote it: the local one's version, or `in pod <name>`.
    pub pg_dump: String,
    /// The number of TABLE DATA entries of the archive.
    pub table_data: usize,
    /// Exact rows of each table the archive holds data of, by `schema.name`.
    pub rows: BTreeMap<String, u64>,
    /// How the rows were counted.
    pub rows_counted: String,
    pub seconds: f64,
}

impl DumpRecord {
    pub fn total_rows(&self) -> u64 {
        self.rows.values().sum()
    }

    /// The tables of the archive as (`schema`, `name`).
    pub fn tables(&self) -> Vec<(String, String)> {
        self.rows.keys().filter_map(|t| split_table(t)).collect()
    }

    /// One line for the operator.
    pub fn summary(&self) -> String {
        format!(
            "{}: {}, sha256 {}, {} {}, {} tables with data, {} rows",
            self.path.display(),
            human_bytes(self.bytes),
            &self.sha256[..self.sha256.len().min(12)],
            if self.format == super::mysqldump::FORMAT {
                "MySQL"
            } else {
                "PostgreSQL"
            },
            self.server_version,
            self.table_data,
            self.total_rows()
        )
    }
}

fn split_table(t: &str) -> Option<(String, String)> {
    let (schema, name) = t.split_once('.')?;
    Some((schema.to_string(), name.to_string()))
}

/// What the server says about itself.
struct ServerInfo {
    version: String,
    major: u32,
    size: u64,
}

/// The first [`tools::STDERR_KEPT`] bytes of a tool's stderr, trimmed.
pub(super) async fn read_all_kept(from: impl AsyncRead + Unpin) -> String {
    tools::read_kept(from).await.trim().to_string()
}

/// The tables whose data the archive holds, from `pg_restore --list`: (`schema`, `name`). Fails
/// when pg_restore cannot read the file.
pub async fn table_data(pg_restore: &ToolVersion, file: &Path) -> Result<Vec<(String, String)>> {
    let out = tokio::process::Command::new(&pg_restore.path)
        .arg("--list")
        .arg(file)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("cannot run {}", pg_restore.path.display()))?;
    if !out.status.success() {
        bail!(
            "pg_restore {} cannot read the archive {} ({}): {}; the file is incomplete or \
             damaged, or was written by a newer pg_dump than this pg_restore",
            pg_restore.version,
            file.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(parse_table_data(&String::from_utf8_lossy(&out.stdout)))
}

/// `3360; 0 16390 TABLE DATA public accounts owner` → (`public`, `accounts`).
fn parse_table_data(listing: &str) -> Vec<(String, String)> {
    listing
        .lines()
        .filter(|l| !l.starts_with(';'))
        .filter_map(|l| {
            let rest = l.split_once(" TABLE DATA ")?.1;
            let words: Vec<&str> = rest.split_whitespace().collect();
            match words.as_slice() {
                [schema, name @ .., _owner] if !name.is_empty() => {
                    Some((schema.to_string(), name.join(" ")))
                }
                _ => None,
            }
        })
        .collect()
}

/// Refuses a tool older than the server it serves.
fn check_tool_version(tool: &ToolVersion, server: &ServerInfo, what: &str) -> Result<()> {
    if tool.major < server.major {
        bail!(
            "{} {} ({}) is older than the PostgreSQL {} server; {what}. Install the PostgreSQL \
             {} client tools (or newer) on this host and put them first on PATH",
            tool.name,
            tool.version,
            tool.path.display(),
            server.version,
            server.major
        );
    }
    Ok(())
}

async fn server_info(client: &tokio_postgres::Client, url: &str) -> Result<ServerInfo> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), \
                    current_setting('server_version_num')::int4, \
                    pg_database_size(current_database())",
            &[],
        )
        .await
        .map_err(|e| crate::infra::url::scrub_error(&e, url))
        .with_context(|| format!("PostgreSQL at {} did not report its version", redact(url)))?;
    let version: String = row.try_get(0)?;
    let num: i32 = row.try_get(1)?;
    let size: i64 = row.try_get(2)?;
    Ok(ServerInfo {
        version,
        major: u32::try_from(num / 10000).unwrap_or(0),
        size: u64::try_from(size).unwrap_or(0),
    })
}

/// Dumps the database at `url` with the local pg_dump to `to` (see the module's doc).
pub async fn dump_url(url: &str, to: &Path, report: &Report<'_>) -> Result<DumpRecord> {
    let started = Instant::now();
    let shown = redact(url);
    let pg_dump = tools::require("pg_dump").await?;
    let pg_restore = tools::require("pg_restore").await?;
    let client = pg::connect(url, CONNECT_TIMEOUT).await?;
    let info = server_info(&client, url).await?;
    check_tool_version(&pg_dump, &info, "pg_dump refuses to dump a newer server")?;
    check_tool_version(
        &pg_restore,
        &info,
        "it could not read back the archive to check it",
    )?;
    (report.log)(format!(
        "dumping {shown} (PostgreSQL {}, {}) with pg_dump {} to {}",
        info.version,
        human_bytes(info.size),
        pg_dump.version,
        to.display()
    ));

    // The counts are taken later in this snapshot, the one pg_dump reads.
    let snapshot = match client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
    {
        Ok(()) => match client.query_one("SELECT pg_export_snapshot()", &[]).await {
            Ok(row) => row.try_get::<_, String>(0).ok(),
            Err(e) => {
                (report.log)(format!(
                    "cannot export a snapshot ({e}); the rows are counted after the dump"
                ));
                let _ = client.batch_execute("ROLLBACK").await;
                None
            }
        },
        Err(e) => {
            (report.log)(format!(
                "cannot open a snapshot ({e}); the rows are counted after the dump"
            ));
            None
        }
    };

    let mut cmd = pg::client_command(&pg_dump.path, url)?;
    cmd.arg("--format=custom").stdout(Stdio::piped());
    if let Some(s) = &snapshot {
        cmd.arg(format!("--snapshot={s}"));
    }
    let partial = partial_path(to);
    let file = create_private(&partial).await?;
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run {}", pg_dump.path.display()))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        bail!("pg_dump started without its output pipes");
    };
    // The rows are counted while pg_dump runs, in its snapshot, over the tables the catalog
    // lists; the archive's listing then says which of them it holds.
    let catalog = match &snapshot {
        Some(_) => user_tables(&client)
            .await
            .map_err(|e| anyhow!(scrub(&format!("{e:#}"), url)))?,
        None => Vec::new(),
    };
    let mut throttle = Throttle::new(report, Some(info.size), "bytes");
    let (copied, errors, counted) = tokio::join!(
        copy_hashing(stdout, file, &mut throttle),
        read_all_kept(stderr),
        pg::count_rows(&client, &catalog)
    );
    let status = child.wait().await.context("waiting for pg_dump")?;
    let errors = scrub(&errors, url);
    let (bytes, sha256) = dumped(copied, status, &partial, "pg_dump", &shown, &errors)?;
    throttle.done(bytes);

    let snapshotted = snapshot.is_some();
    let record = finish(&pg_restore, &partial, to, report, |tables| async move {
        let mut counted = counted.map_err(|e| anyhow!(scrub(&format!("{e:#}"), url)))?;
        // Tables the catalog did not list (none, unless pg_dump saw more) are counted now,
        // still in the snapshot; counted tables without data in the archive are left out.
        let rest: Vec<(String, String)> = tables
            .iter()
            .filter(|(s, n)| !counted.contains_key(&format!("{s}.{n}")))
            .cloned()
            .collect();
        let more = pg::count_rows(&client, &rest)
            .await
            .map_err(|e| anyhow!(scrub(&format!("{e:#}"), url)))?;
        counted.extend(more);
        if snapshotted {
            let _ = client.batch_execute("COMMIT").await;
        }
        Ok(tables
            .iter()
            .map(|(s, n)| format!("{s}.{n}"))
            .filter_map(|t| counted.get(&t).map(|n| (t, *n)))
            .collect())
    })
    .await?;
    Ok(DumpRecord {
        bytes,
        sha256,
        source: shown,
        server_version: info.version,
        server_major: info.major,
        pg_dump: pg_dump.version,
        rows_counted: if snapshotted {
            "exact count(*) in the dump's snapshot".to_string()
        } else {
            "exact count(*) right after the dump".to_string()
        },
        seconds: started.elapsed().as_secs_f64(),
        ..record
    })
}

/// Lists the archive, counts its tables' rows with `count`, and publishes the file. The
/// record's size, checksum and source are filled in by the caller.
async fn finish<F, Fut>(
    pg_restore: &ToolVersion,
    partial: &Path,
    to: &Path,
    report: &Report<'_>,
    count: F,
) -> Result<DumpRecord>
where
    F: FnOnce(Vec<(String, String)>) -> Fut,
    Fut: std::future::Future<Output = Result<BTreeMap<String, u64>>>,
{
    let tables = match table_data(pg_restore, partial).await {
        Ok(t) => t,
        Err(e) => {
            let _ = std::fs::remove_file(partial);
            return Err(e);
        }
    };
    let table_count = tables.len();
    let rows = match count(tables).await {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(partial);
            return Err(
                e.context("the archive is whole, but its tables' rows could not be counted")
            );
        }
    };
    publish(partial, to)?;
    (report.log)(format!(
        "{} is readable: {table_count} tables with data, {} rows counted",
        to.display(),
        rows.values().sum::<u64>()
    ));
    Ok(DumpRecord {
        path: to.to_path_buf(),
        bytes: 0,
        sha256: String::new(),
        mode: "0600".to_string(),
        format: "custom".to_string(),
        source: String::new(),
        server_version: String::new(),
        server_major: 0,
        pg_dump: String::new(),
        table_data: table_count,
        rows,
        rows_counted: String::new(),
        seconds: 0.0,
    })
}

/// The size and checksum of the dump `tool` streamed into `partial`. When the tool failed or
/// the copy broke off, the partial is removed and the error says which, with the tool's
/// stderr (`errors`).
pub(crate) fn dumped(
    copied: Result<(u64, String)>,
    status: std::process::ExitStatus,
    partial: &Path,
    tool: &str,
    shown: &str,
    errors: &str,
) -> Result<(u64, String)> {
    match copied {
        Ok(done) if status.success() => Ok(done),
        Ok(_) => {
            let _ = std::fs::remove_file(partial);
            bail!("{tool} of {shown} failed ({status}): {errors}");
        }
        Err(e) => {
            let _ = std::fs::remove_file(partial);
            Err(e.context(format!("the dump of {shown} did not complete: {errors}")))
        }
    }
}

/// Dumps `db` by running pg_dump in `pod` through exec (see the module's doc): the database's
/// own pod, or a client pod.
pub async fn dump_exec(
    kube: &KubeCluster,
    pod: &str,
    db: &PodDb,
    to: &Path,
    report: &Report<'_>,
) -> Result<DumpRecord> {
    let started = Instant::now();
    let pg_restore = tools::require("pg_restore").await?;
    let database = db.describe();
    let info_rows = psql_rows(
        kube,
        pod,
        db,
        "SELECT current_setting('server_version'), current_setting('server_version_num'), \
         pg_database_size(current_database())",
    )
    .await?;
    let info = match info_rows.first().map(Vec::as_slice) {
        Some([version, num, size]) => ServerInfo {
            version: version.to_string(),
            major: num.parse::<u32>().map(|n| n / 10000).unwrap_or(0),
            size: size.parse().unwrap_or(0),
        },
        _ => bail!(
            "psql in pod {pod} did not report the server version of {database}: {info_rows:?}"
        ),
    };
    check_tool_version(
        &pg_restore,
        &info,
        "it could not read back the archive the pod's pg_dump writes",
    )?;
    let shown = format!("pod {pod}, {database}, through exec");
    (report.log)(format!(
        "dumping {database} (PostgreSQL {}, {}) with pg_dump in pod {pod} to {}",
        info.version,
        human_bytes(info.size),
        to.display()
    ));
    let result = exec_to_private_file(
        kube,
        pod,
        &db.argv("pg_dump", &["-Fc"]),
        to,
        Throttle::new(report, Some(info.size), "bytes"),
        "pg_dump",
        &format!("the dump of {database} did not complete"),
    )
    .await?;
    let partial = partial_path(to);
    let record = finish(&pg_restore, &partial, to, report, |tables| async move {
        let Some(query) = pg::count_query(&tables) else {
            return Ok(BTreeMap::new());
        };
        counts_of(psql_rows(kube, pod, db, &query).await?)
    })
    .await?;
    Ok(DumpRecord {
        bytes: result.bytes,
        sha256: result.sha256,
        source: shown,
        server_version: info.version,
        server_major: info.major,
        pg_dump: format!("in pod {pod}"),
        rows_counted: "exact count(*) right after the dump".to_string(),
        seconds: started.elapsed().as_secs_f64(),
        ..record
    })
}

/// Reads the whole archive and compares its SHA-256 with the recorded one.
pub async fn verify_file(record: &DumpRecord, report: &Report<'_>) -> Result<()> {
    let path = &record.path;
    if !path.exists() {
        bail!(
            "the dump {} is not there any more; dump again, or put the file back",
            path.display()
        );
    }
    let (bytes, sha) = sha256_file(path, report).await?;
    if sha != record.sha256 {
        bail!(
            "the dump {} has changed since it was written: its SHA-256 is {sha} ({bytes} bytes), \
             the recorded one {} ({} bytes). Nothing was restored; dump again or find the \
             original file",
            path.display(),
            record.sha256,
            record.bytes
        );
    }
    Ok(())
}

/// The dump's tables that already exist in the database at `url`.
pub async fn occupied(url: &str, record: &DumpRecord) -> Result<Vec<String>> {
    PgTarget::by_url(url.to_string(), "--to")
        .occupied(record)
        .await
}

/// The parallel jobs of a restore: the CPUs of this host, at most 4.
pub fn restore_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().clamp(1, 4))
        .unwrap_or(2)
}

/// `pg_restore --no-owner --no-acl --exit-on-error --jobs N` of `file` into `url`; with
/// `replace`, `--clean --if-exists` first drops the objects the archive holds. Progress counts
/// the tables whose data is loaded, of `tables`.
pub async fn pg_restore_into(
    url: &str,
    file: &Path,
    replace: bool,
    tables: usize,
    report: &Report<'_>,
) -> Result<()> {
    let pg_restore = tools::require("pg_restore").await?;
    let mut cmd = pg::client_command(&pg_restore.path, url)?;
    cmd.args(["--no-owner", "--no-acl", "--exit-on-error", "--verbose"])
        .arg(format!("--jobs={}", restore_jobs()));
    if replace {
        cmd.args(["--clean", "--if-exists"]);
    }
    cmd.arg(file).stdout(Stdio::null());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run {}", pg_restore.path.display()))?;
    let Some(stderr) = child.stderr.take() else {
        bail!("pg_restore started without its stderr pipe");
    };
    let mut lines = tokio::io::BufReader::new(stderr);
    let mut kept = String::new();
    let mut loaded = 0u64;
    let mut throttle = Throttle::new(report, Some(tables as u64), "tables");
    throttle.tick(0);
    let mut line = String::new();
    loop {
        line.clear();
        use tokio::io::AsyncBufReadExt;
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let l = line.trim();
        // Printed once per table, by the worker that loads it, also with --jobs.
        let data_done = l.contains("processing data for table");
        if data_done {
            loaded += 1;
            throttle.tick(loaded);
        } else if (l.contains("error")
            || l.contains("warning")
            || l.contains("DETAIL")
            || l.contains("Command was"))
            && kept.len() < tools::STDERR_KEPT
        {
            kept.push_str(l);
            kept.push('\n');
        }
    }
    let status = child.wait().await.context("waiting for pg_restore")?;
    if !status.success() {
        bail!(
            "pg_restore of {} into {} failed ({status}): {}",
            file.display(),
            redact(url),
            scrub(kept.trim(), url)
        );
    }
    throttle.done(loaded);
    Ok(())
}

/// The ordinary tables of the database outside the system schemas and extensions: those
/// pg_dump dumps the data of.
async fn user_tables(client: &tokio_postgres::Client) -> Result<Vec<(String, String)>> {
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg\\_%' \
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
                 AND d.objid = c.oid AND d.deptype = 'e') \
             ORDER BY 1, 2",
            &[],
        )
        .await
        .context("listing the tables of the database")?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// How a restore's rows were checked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// Tables whose rows the server's counters vouch for.
    pub by_counters: usize,
    /// Tables counted with count(*).
    pub by_count: usize,
    /// `schema.name: N restored, M dumped`, for every table that differs.
    pub differences: Vec<String>,
}

/// [`PgTarget::verify_restored`] of the database at `url`.
pub async fn verify_restored(url: &str, record: &DumpRecord) -> Result<Verified> {
    PgTarget::by_url(url.to_string(), "--to")
        .verify_restored(record)
        .await
}

/// [`PgTarget::compare_rows`] of the database at `url`.
pub(crate) async fn compare_rows(
    url: &str,
    expected: &BTreeMap<String, u64>,
    landed: &str,
    origin: &str,
) -> Result<Vec<String>> {
    PgTarget::by_url(url.to_string(), "the config")
        .compare_rows(expected, landed, origin)
        .await
}

// ---------------------------------------------------------------------------- the steps

/// Which database a dump step dumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    System,
    Zync,
    Migration,
}

impl Target {
    fn file(self) -> &'static str {
        match self {
            Target::System => "system-database.dump",
            Target::Zync => "zync-database.dump",
            Target::Migration => "migration-system-database.dump",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Target::System => "the source's system database",
            Target::Zync => "the source's zync database",
            Target::Migration => "the migration cluster's system database",
        }
    }
}

struct DumpStep(Target);
struct RestoreStep;

pub(super) static DUMP_SYSTEM: &dyn StepAction = &DumpStep(Target::System);
pub(super) static DUMP_ZYNC: &dyn StepAction = &DumpStep(Target::Zync);
pub(super) static DUMP_MIGRATION: &dyn StepAction = &DumpStep(Target::Migration);
pub(super) static RESTORE_SYSTEM: &dyn StepAction = &RestoreStep;

/// How a step reaches the database it dumps.
enum Source {
    Url {
        url: String,
        origin: String,
    },
    Exec {
        kube: Box<KubeCluster>,
        pod: String,
        database: String,
        /// A MySQL database, dumped by `mysqldump` in its pod.
        mysql: bool,
    },
    /// The migration cluster's database, by URL or through a client pod.
    Database(PgTarget),
    /// Not automated: the reason, with what to do instead.
    Manual(String),
}

fn manual(kind: &str, step: &str) -> String {
    format!(
        "the system database is {kind}: this step dumps PostgreSQL and MySQL only; dump it with the {kind} \
         part of the step's procedure, then mark the step done (`--skip {step}=REASON` in \
         headless mode)"
    )
}

async fn source_of(ctx: &StepContext, target: Target, report: &Report<'_>) -> Result<Source> {
    let step = ctx.step.id.0;
    // The source's stores: their config key, else their secret as the inventory found it. The
    // migration cluster's database has its own way (a URL or a client pod).
    let (kind_matches, secret, key, config_key): (fn(StoreKind) -> bool, _, _, _) = match target {
        Target::System => (
            |k| matches!(k, StoreKind::SystemDatabase(_)),
            "system-database",
            "URL",
            "source.system_database_url",
        ),
        Target::Zync => (
            |k| k == StoreKind::ZyncDatabase,
            "zync",
            "DATABASE_URL",
            "source.zync_database_url",
        ),
        Target::Migration => {
            let database = system_database(ctx, ClusterRole::MigrationCluster, report).await?;
            return Ok(Source::Database(database));
        }
    };
    if target == Target::System && ctx.config.source_db_kind() == Some(DbKind::Oracle) {
        return Ok(Source::Manual(manual("Oracle", step)));
    }
    if let Some(store) = ctx
        .config
        .stores()
        .find(|s| s.cluster == ClusterRole::Source && kind_matches(s.kind))
    {
        return Ok(Source::Url {
            url: store.url_value()?,
            origin: format!("config {}", store.key),
        });
    }
    let fix = format!("or set {config_key} in the config (as env:NAME or file:PATH)");
    let Some(inv) = inventory::recorded(ctx) else {
        bail!("{config_key} is not set and no inventory is recorded; run the inventory step {fix}");
    };
    let Some(location) = inv.store(secret, key).cloned() else {
        bail!("{config_key} is not set and the inventory found no {secret}/{key}; {fix}");
    };
    let scheme = location.scheme.clone().unwrap_or_default();
    if scheme.starts_with("oracle") {
        return Ok(Source::Manual(manual("Oracle", step)));
    }
    let kube = ctx.cluster(ClusterRole::Source).await?;
    match location.location {
        Location::External => {
            let url = inventory::store_url(&kube, secret, key)
                .await
                .with_context(|| format!("{} is not reachable; {fix}", target.label()))?;
            Ok(Source::Url {
                url,
                origin: format!("secret {secret}/{key}, as the inventory found"),
            })
        }
        Location::Internal => {
            let shown = location.describe();
            let workload = location
                .workload
                .as_deref()
                .and_then(|name| inv.workload(name))
                .cloned()
                .with_context(|| {
                    format!(
                        "{} is inside the source namespace ({shown}) and the inventory found no \
                         workload serving it; {fix}",
                        target.label()
                    )
                })?;
            let database = location
                .database
                .clone()
                .filter(|d| !d.is_empty())
                .with_context(|| {
                    format!("the inventory found no database name in {secret}/{key}; {fix}")
                })?;
            let pods = kube.workload_pods(workload.kind, &workload.name).await?;
            let pod = pods
                .iter()
                .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
                .and_then(|p| p.metadata.name.clone())
                .with_context(|| {
                    format!(
                        "no running pod of {} {} serves {}; {fix}",
                        workload.kind,
                        workload.name,
                        target.label()
                    )
                })?;
            Ok(Source::Exec {
                kube: Box::new(kube),
                pod,
                database,
                mysql: scheme.starts_with("mysql"),
            })
        }
        Location::Unknown => {
            bail!("the inventory could not read {secret}/{key} as a URL; check the secret, {fix}")
        }
    }
}

fn figures_of(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// The dump an earlier attempt or step recorded.
pub(crate) fn recorded_dump(ctx: &StepContext, step: StepId) -> Option<DumpRecord> {
    serde_json::from_value(ctx.fact(step, FACT)?.clone()).ok()
}

/// `<dump>.json`, the record kept next to a dump so that it travels with the file (a dump the
/// other party took reaches this host with its record).
pub fn record_path(dump: &Path) -> PathBuf {
    let mut name = dump
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".json");
    dump.with_file_name(name)
}

/// Writes `record` to [`record_path`] (mode 0600, synced).
pub fn write_record(record: &DumpRecord) -> Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = record_path(&record.path);
    let text = serde_json::to_string_pretty(record)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Writes the record next to the dump and adds the dump to the manifest of the dump folder,
/// where `source` says where it came from.
pub(crate) fn keep_record(ctx: &StepContext, record: &DumpRecord, source: &str) -> Result<()> {
    write_record(record)?;
    let folder = &ctx.config.dumps.folder;
    let mysql = record.format == super::mysqldump::FORMAT;
    let versions = [
        ("server", record.server_version.clone()),
        (
            if mysql { "mysqldump" } else { "pg_dump" },
            record.pg_dump.clone(),
        ),
        ("format", record.format.clone()),
    ];
    artifacts::Manifest::record(
        folder,
        artifacts::Artifact {
            file: artifacts::relative(folder, &record.path),
            kind: if mysql {
                "mysql-dump"
            } else {
                "postgresql-dump"
            }
            .to_string(),
            source: source.to_string(),
            bytes: record.bytes,
            sha256: record.sha256.clone(),
            counts: record.rows.clone(),
            versions: versions
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            encrypted: false,
            step: ctx.step.id.0.to_string(),
            time: chrono::Utc::now(),
        },
    )
}

/// Checks the dump before a restore: against the manifest of the dump folder when it lists
/// the file, else against the record's checksum (a dump that arrived without a manifest).
pub async fn verify_before_restore(
    folder: &Path,
    record: &DumpRecord,
    report: &Report<'_>,
) -> Result<()> {
    let file = artifacts::relative(folder, &record.path);
    let listed = artifacts::Manifest::load(folder)?.get(&file).cloned();
    match listed {
        Some(artifact) => {
            if artifact.sha256 != record.sha256 {
                bail!(
                    "the manifest and the dump's record disagree on {file}: SHA-256 {} against \
                     {}. Nothing was restored; find which is the original before going on",
                    artifact.sha256,
                    record.sha256
                );
            }
            artifacts::verify_artifact(folder, &artifact, report).await
        }
        None => verify_file(record, report).await,
    }
}

/// The record next to `dump`, with its path set to where the dump is now.
pub fn read_record(dump: &Path) -> Option<DumpRecord> {
    let text = std::fs::read_to_string(record_path(dump)).ok()?;
    let mut record: DumpRecord = serde_json::from_str(&text).ok()?;
    record.path = dump.to_path_buf();
    Some(record)
}

/// The system database dump to restore: the one `dump-system-database` recorded in this
/// journal, the one this step took itself on an earlier attempt, or one that arrived in the
/// dump folder with its record (taken by the other party's cutover).
fn system_dump(ctx: &StepContext) -> Option<DumpRecord> {
    recorded_dump(ctx, SYSTEM_DUMP_STEP)
        .or_else(|| recorded_dump(ctx, ctx.step.id))
        .or_else(|| read_record(&ctx.config.dumps.folder.join(Target::System.file())))
}

impl StepAction for DumpStep {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            let target = self.0;
            let to = ctx.config.dumps.folder.join(target.file());
            let reporter = ctx.sink.reporter();
            let report = reporter.report();
            let record = match source_of(ctx, target, &report).await? {
                Source::Manual(why) => return Ok(StepResult::failed(why, Map::new())),
                Source::Database(database) => {
                    ctx.sink
                        .info(format!("{} from {}", target.label(), database.shown()));
                    let dumped = database.dump(&to, &report).await;
                    close(ctx, database).await;
                    dumped?
                }
                Source::Url { url, origin } if url.starts_with("mysql") => {
                    ctx.sink
                        .info(format!("{} (MySQL) from {origin}", target.label()));
                    let to = ctx.config.dumps.folder.join(super::mysqldump::FILE);
                    super::mysqldump::dump_url(&url, &to, &report).await?
                }
                Source::Exec {
                    kube,
                    pod,
                    database,
                    mysql: true,
                } => {
                    let to = ctx.config.dumps.folder.join(super::mysqldump::FILE);
                    super::mysqldump::dump_exec(&kube, &pod, &database, &to, &report).await?
                }
                Source::Url { url, origin } => {
                    ctx.sink.info(format!("{} from {origin}", target.label()));
                    dump_url(&url, &to, &report).await?
                }
                Source::Exec {
                    kube,
                    pod,
                    database,
                    mysql: false,
                } => dump_exec(&kube, &pod, &PodDb::Named(database), &to, &report).await?,
            };
            let value = serde_json::to_value(&record)?;
            ctx.sink.record_fact(FACT, value.clone())?;
            keep_record(ctx, &record, &record.source)?;
            Ok(StepResult::passed(record.summary(), figures_of(&value)))
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            let Some(record) = recorded_dump(ctx, ctx.step.id) else {
                return Ok(Recheck::DoesNotHold(
                    "no dump is recorded; the dump runs again".to_string(),
                ));
            };
            let report = artifacts::QUIET;
            Ok(match verify_file(&record, &report).await {
                Ok(()) => Recheck::Holds(format!("{} is whole", record.summary())),
                Err(e) => Recheck::DoesNotHold(format!("{e:#}")),
            })
        })
    }
}

/// The system database of the migration cluster or the destination (`role`): by the URL the
/// config names for it, else through a client pod in the cluster's namespace that reads
/// secret `system-database`/`URL` (see [`super::pgtarget`]). The pod's progress goes to
/// `report`.
pub(crate) async fn system_database(
    ctx: &StepContext,
    role: ClusterRole,
    report: &Report<'_>,
) -> Result<PgTarget> {
    let store = ctx
        .config
        .stores()
        .find(|s| s.cluster == role && matches!(s.kind, StoreKind::SystemDatabase(_)));
    if let Some(store) = store {
        return Ok(PgTarget::by_url(store.url_value()?, &store.key));
    }
    let cluster = ctx.config.cluster(role).with_context(|| {
        format!("the config has no {role} cluster, and no URL of its system database")
    })?;
    let kube = KubeCluster::connect(&cluster.target()).await?;
    (report.log)(format!(
        "no system database URL of the {role} is in the config: reaching it from inside the \
         cluster, through pod {CLIENT_POD} in namespace {}",
        cluster.namespace
    ));
    PgTarget::in_pod(
        kube,
        SYSTEM_DATABASE_SECRET,
        &ctx.config.dumps.pg_client_image,
        report.log,
    )
    .await
}

/// Lets go of `database`: deletes its client pod, if any; a failure to is a warning, since the
/// pod ends by itself after its deadline.
pub(crate) async fn close(ctx: &StepContext, database: PgTarget) {
    let through_pod = database.through_pod();
    match database.close().await {
        Ok(()) if through_pod => ctx.sink.info(format!("deleted pod {CLIENT_POD}")),
        Ok(()) => {}
        Err(e) => ctx.sink.warn(format!(
            "{e:#}; the pod ends by itself within {} h",
            CLIENT_POD_DEADLINE.as_secs() / 3600
        )),
    }
}

impl StepAction for RestoreStep {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            let started = Instant::now();
            let reporter = ctx.sink.reporter();
            let report = reporter.report();
            let record = match system_dump(ctx) {
                Some(record) => record,
                None => match dump_missing(ctx, &report).await? {
                    Ok(record) => record,
                    Err(result) => return Ok(result),
                },
            };
            ctx.sink.info(format!(
                "checking {} against its recorded SHA-256",
                record.path.display()
            ));
            if let Err(e) = verify_before_restore(&ctx.config.dumps.folder, &record, &report).await
            {
                let text = format!("{e:#}");
                ctx.sink.error(&text);
                return Ok(StepResult::failed(text, Map::new()));
            }
            let target = system_database(ctx, ClusterRole::MigrationCluster, &report).await?;
            let result = restore(ctx, &target, &record, &report, started).await;
            close(ctx, target).await;
            result
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            let Some(record) = system_dump(ctx) else {
                return Ok(Recheck::DoesNotHold(
                    "no dump of the system database is recorded".to_string(),
                ));
            };
            let target =
                system_database(ctx, ClusterRole::MigrationCluster, &artifacts::QUIET).await?;
            let differ = target.compare_counts(&record).await;
            close(ctx, target).await;
            let differ = differ?;
            let shown = target_shown(ctx);
            Ok(Recheck::unless_differ(&differ, || {
                format!(
                    "{shown} holds every row of the dump ({} tables)",
                    record.rows.len()
                )
            }))
        })
    }
}

/// How a re-check names the migration cluster's system database.
fn target_shown(ctx: &StepContext) -> String {
    ctx.config
        .stores()
        .find(|s| {
            s.cluster == ClusterRole::MigrationCluster
                && matches!(s.kind, StoreKind::SystemDatabase(_))
        })
        .map(|s| s.key.clone())
        .unwrap_or_else(|| "the migration cluster's system database".to_string())
}

/// What a restore of `record` into `target` records: where, from which file, how long, and how
/// every table's rows were checked.
pub(crate) fn restored_fact(
    target: &PgTarget,
    record: &DumpRecord,
    started: Instant,
    verified: &Verified,
) -> Map<String, Value> {
    let value = json!({
        "target": target.shown(),
        "file": record.path,
        "sha256": record.sha256,
        "tables": record.rows.len(),
        "rows": record.total_rows(),
        "jobs": if target.through_pod() { 1 } else { restore_jobs() },
        "seconds": started.elapsed().as_secs_f64(),
        "differences": verified.differences,
        "verified_by_counters": verified.by_counters,
        "verified_by_count": verified.by_count,
    });
    figures_of(&value)
}

/// The restore of `record` into `target`, once the dump is verified: asks before replacing
/// tables the target already holds, restores, and checks every table's rows.
async fn restore(
    ctx: &StepContext,
    target: &PgTarget,
    record: &DumpRecord,
    report: &Report<'_>,
    started: Instant,
) -> Result<StepResult> {
    let shown = target.shown();
    let occupied = target.occupied(record).await?;
    let replace = !occupied.is_empty();
    if replace {
        let database = target.database().await?;
        let phrase = format!("replace {database}");
        let question = Question {
            text: format!(
                "The target {shown} already holds {} of the dump's tables ({}). Restoring drops \
                 and replaces them with the dump's data. Type `{phrase}` to replace them, or \
                 stop and empty the database yourself: ",
                occupied.len(),
                crate::format::first_of(&occupied, 8),
            ),
            phrase: phrase.clone(),
        };
        ctx.sink.warn(format!(
            "{shown} already holds {} of the dump's tables; asking before replacing them",
            occupied.len()
        ));
        if let Some(result) = ctx
            .confirm(question, "replacing the existing tables", "restored")
            .await?
        {
            return Ok(result);
        }
    }
    ctx.sink.info(format!(
        "restoring {} into {shown} with pg_restore --no-owner --no-acl{}",
        record.path.display(),
        if replace { " --clean --if-exists" } else { "" }
    ));
    target.restore(record, replace, report).await?;
    let verified = target.verify_restored(record).await?;
    let differ = verified.differences.clone();
    let mut fact = restored_fact(target, record, started, &verified);
    fact.insert("replaced".into(), json!(replace));
    let value = Value::Object(fact);
    ctx.sink.record_fact(RESTORE_FACT, value.clone())?;
    if differ.is_empty() {
        Ok(StepResult::passed(
            format!(
                "restored into {shown}: {} tables, {} rows, every count equal to the dump's",
                record.rows.len(),
                record.total_rows()
            ),
            figures_of(&value),
        ))
    } else {
        for d in &differ {
            ctx.sink.error(d);
        }
        Ok(StepResult::failed(
            format!(
                "the restore into {shown} does not hold the dump's rows: {}",
                differ.join("; ")
            ),
            figures_of(&value),
        ))
    }
}

/// What a restore does when no dump of the system database is recorded or in the dump folder
/// (it was the other party's to take, and has not arrived): when the config names the source
/// system database, it offers to dump it here first, after the operator types `dump now`;
/// otherwise it fails and says what to bring. Err is the step's result without a dump.
async fn dump_missing(
    ctx: &StepContext,
    report: &Report<'_>,
) -> Result<std::result::Result<DumpRecord, StepResult>> {
    let to = ctx.config.dumps.folder.join(Target::System.file());
    let missing = format!(
        "no dump of the system database is recorded (step {SYSTEM_DUMP_STEP}) and none is in \
         {} with its record ({}); without its checksum and row counts the restore cannot be \
         verified",
        to.display(),
        record_path(&to).display()
    );
    let store = ctx.config.stores().find(|s| {
        s.cluster == ClusterRole::Source && s.kind == StoreKind::SystemDatabase(DbKind::Postgresql)
    });
    let Some(store) = store else {
        return Ok(Err(StepResult::failed(
            format!(
                "{missing}. Bring the dump and its .json record from whoever ran \
                 {SYSTEM_DUMP_STEP}, or set source.system_database_url to let this step dump it"
            ),
            Map::new(),
        )));
    };
    let phrase = "dump now";
    let question = Question {
        text: format!(
            "{missing}. The config names the source system database ({}): type `{phrase}` to \
             dump it to {} first, or stop and bring the dump: ",
            store.key,
            to.display()
        ),
        phrase: phrase.to_string(),
    };
    if let Some(result) = ctx
        .confirm(question, "dumping the source", "dumped or restored")
        .await?
    {
        return Ok(Err(result));
    }
    let record = dump_url(&store.url_value()?, &to, report).await?;
    ctx.sink.record_fact(FACT, serde_json::to_value(&record)?)?;
    keep_record(ctx, &record, &record.source)?;
    ctx.sink.info(record.summary());
    Ok(Ok(record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_data_entries_are_read_from_the_listing() {
        let listing = ";\n; Archive created at 2026-11-23\n;\n\
            215; 1259 16390 TABLE public accounts postgres\n\
            3360; 0 16390 TABLE DATA public accounts postgres\n\
            3361; 0 16400 TABLE DATA public proxy configs sys\n\
            3362; 0 0 SEQUENCE SET public accounts_id_seq postgres\n";
        assert_eq!(
            parse_table_data(listing),
            vec![
                ("public".to_string(), "accounts".to_string()),
                ("public".to_string(), "proxy configs".to_string())
            ]
        );
    }

    #[test]
    fn partial_files_sit_next_to_the_dump() {
        assert_eq!(
            partial_path(Path::new("/d/system-database.dump")),
            PathBuf::from("/d/system-database.dump.partial")
        );
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
