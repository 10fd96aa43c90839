//! PostgreSQL dumps and restores, as a library of their own: the steps (`steps::pgdump`,
//! `steps::seed`, `steps::convert`) and `cutover pg dump|restore` use the same code.
//!
//! A dump through a URL runs the local pg_dump, after a check that its major version is at
//! least the server's (pg_dump refuses newer servers); the password goes to it in `PGPASSWORD`,
//! never on its command line. A dump in a pod (`dump_exec`) runs the pod's own pg_dump through
//! exec, which matches its server and needs no password. Either way the archive streams into
//! `<name>.dump.partial`, created with mode 0600 and hashed (SHA-256) on the way, with live
//! progress in bytes against the database's size; it is synced to disk, then `pg_restore
//! --list` must read it (a truncated or foreign file fails here), and only then is it renamed to
//! `<name>.dump` and the folder synced. The [`DumpRecord`] says what it holds.
//!
//! Row counts are exact (`count(*) FROM ONLY`, for every table the archive holds data of), not
//! the `n_live_tup` estimate: a restore is checked against them, and an estimate would either
//! fail good restores or pass bad ones. Through a URL they are taken while pg_dump runs, inside
//! its own snapshot (`pg_export_snapshot` held open in a REPEATABLE READ transaction and passed
//! to `pg_dump --snapshot`), so they describe exactly what the archive holds even if something
//! writes meanwhile, and cost no time of their own: pg_dump spends it compressing. Through exec
//! they are taken right after the dump; 3scale is stopped by then, so nothing writes.
//!
//! A restore (`pg_restore_into`) runs `pg_restore --no-owner --no-acl --exit-on-error --jobs N`
//! (N = the CPUs, at most 4), with `--clean --if-exists` when it replaces tables; progress
//! counts the tables whose data is loaded. Afterwards every table's rows are checked against the
//! recorded counts (`verify_restored`): first through the server's own counters
//! (`pg_stat_user_tables`: rows inserted equal to live rows and to the count, none deleted; the
//! tables were just created, so the counters cover the load alone), which cost nothing; a table
//! whose counters do not match is counted with `count(*)`, and only that exact count can fail.
//! A count(*) right after a load would read, and write hint bits into, every page again, about a
//! third of the load's own time.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use super::artifacts::{
    self, Report, Throttle, copy_hashing, create_private, dumped, exec_to_private_file,
    partial_path, publish, sha256_file,
};
use super::dump_record::{CUSTOM_FORMAT, DumpRecord};
use super::kube::KubeCluster;
use super::pg;
use super::pg_pod::{PodDb, counts_of, psql_rows};
use super::tools::{self, ToolVersion};
use super::url::{redact, scrub};
use crate::format::bytes;

/// Connecting to a database, before it counts as no answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// What the server says about itself.
struct PgServerInfo {
    version: String,
    major: u32,
    size: u64,
}

/// The highest `schema_migrations.version` the archive holds (compared as numbers), read with
/// `pg_restore --data-only --table=schema_migrations`; None when it holds no such rows.
pub async fn schema_version(file: &Path) -> Result<Option<String>> {
    let pg_restore = tools::require("pg_restore").await?;
    let out = tokio::process::Command::new(&pg_restore.path)
        .args(["--data-only", "--table=schema_migrations", "--file=-"])
        .arg(file)
        .output()
        .await
        .with_context(|| format!("cannot run {}", pg_restore.path.display()))?;
    if !out.status.success() {
        bail!(
            "pg_restore {} cannot read schema_migrations from {}: {}",
            pg_restore.version,
            file.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(max_copied_version(&String::from_utf8_lossy(&out.stdout)))
}

/// The highest number among the rows of the `COPY ... schema_migrations` blocks of a plain
/// SQL text.
fn max_copied_version(sql: &str) -> Option<String> {
    let mut inside = false;
    let mut best: Option<(usize, String)> = None;
    for line in sql.lines() {
        if line.starts_with("COPY ") && line.contains("schema_migrations") {
            inside = true;
            continue;
        }
        if inside && line == "\\." {
            inside = false;
            continue;
        }
        if inside {
            let v = line.trim();
            if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
                let v = v.trim_start_matches('0').to_string();
                let key = (v.len(), v.clone());
                if best.as_ref().is_none_or(|b| key > *b) {
                    best = Some(key);
                }
            }
        }
    }
    best.map(|(_, v)| v)
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
fn check_tool_version(tool: &ToolVersion, server: &PgServerInfo, what: &str) -> Result<()> {
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

async fn server_info(client: &tokio_postgres::Client, url: &str) -> Result<PgServerInfo> {
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
    Ok(PgServerInfo {
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
        bytes(info.size),
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
    // No total: the database's size is no measure of its dump's (compressed, or text), and
    // a ratio of the two would mislead; the gauge counts the bytes written.
    let mut throttle = Throttle::new(report, None, "bytes");
    let (copied, errors, counted) = tokio::join!(
        copy_hashing(stdout, file, &mut throttle),
        tools::stderr_text(stderr),
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
        format: CUSTOM_FORMAT.to_string(),
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
        Some([version, num, size]) => PgServerInfo {
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
        bytes(info.size),
        to.display()
    ));
    let result = exec_to_private_file(
        kube,
        pod,
        &db.argv("pg_dump", &["-Fc"]),
        to,
        // No total: the database's size is no measure of its dump's (compressed, or text), and
        // a ratio of the two would mislead; the gauge counts the bytes written.
        Throttle::new(report, None, "bytes"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_version_is_the_highest_number_not_the_last_text() {
        let sql = "SET x;\nCOPY public.schema_migrations (version) FROM stdin;\n9\n\
                   20230927012615\n20091104094127\n\\.\nCOPY public.other (a) FROM stdin;\n\
                   99999999999999999\n\\.\n";
        assert_eq!(max_copied_version(sql).as_deref(), Some("20230927012615"));
        assert_eq!(max_copied_version("nothing"), None);
    }

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
            std::path::PathBuf::from("/d/system-database.dump.partial")
        );
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
