//! `convert-system-database`: a MySQL system database into the migration AWS account's
//! PostgreSQL, with pgloader, as the step's procedure does by hand.
//!
//! 1. The data comes from `convert.scratch_mysql_url` when the config names one: the MySQL dump
//!    `dump-system-database` recorded (or `system-mysql.sql` with its `.json` record in the dump
//!    folder) is first checked against the manifest (a changed byte stops the step, naming the
//!    file) and loaded into it with the local `mysql` client. Otherwise pgloader reads the
//!    source (`source.system_database_url`) directly; 3scale is stopped by then.
//! 2. The target (`migration_cluster.system_database_url`) must hold the 3scale PostgreSQL
//!    schema of the same version, so that table and column types are the ones 3scale expects.
//!    When none of the tables exist, the SQL file `convert.postgres_schema` is loaded with psql;
//!    without it the step fails and says how to load the schema. When the tables hold rows,
//!    the operator must type `empty <database>` before they are truncated; nothing is loaded
//!    over existing rows otherwise.
//! 3. pgloader loads the data only, from a load file written next to the dump (0600, no
//!    password: pgloader reads `MYSQL_PWD` and `PGPASSWORD`), with the 3scale casts (see
//!    `infra::pgloader`). `schema_migrations` and `ar_internal_metadata` stay out: the schema
//!    load wrote the migrations of the PostgreSQL schema, which is the one that now runs.
//!    pgloader exits 0 even when it rejected rows, so its summary is read and any error fails
//!    the step, with pgloader's error lines.
//! 4. Every sequence of an `id` column is set to `max(id) + 1`, so new rows get fresh ids.
//! 5. The target's rows are counted exactly and compared, table by table, with the counts
//!    recorded at dump time (or counted on the source right before the load when no dump is
//!    recorded); a difference fails the step and lists the tables.
//!
//! Resume re-check: the target's counts equal the expected ones, recorded as the fact
//! `expected` before the load.
//!
//! Oracle is not automated: the step fails and points to the ora2pg part of the procedure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use super::pgdump;
use super::{Question, Recheck, StepAction, StepContext, StepFuture, StepResult};
use crate::config::StoreKind;
use crate::infra::artifacts::{CHUNK, Report, Throttle};
use crate::infra::dump_record::{DumpRecord, read_record};
use crate::infra::mysqldump::{self, OptionFile};
use crate::infra::pgdump::verify_before_restore;
use crate::infra::pgtarget::{PgTarget, compare_rows};
use crate::infra::porta::{self, SchemaObjects};
use crate::infra::url::{redact, scrub};
use crate::infra::{mysql, pg, pgloader, tools};
use crate::runbook::{ClusterRole, DbKind};

/// The facts of the step.
pub const FACT: &str = "convert";
pub const EXPECTED_FACT: &str = "expected";
/// The load file, in the dump folder.
pub const LOAD_FILE: &str = "system-mysql.load";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

struct ConvertStep;
pub(super) static CONVERT: &dyn StepAction = &ConvertStep;

/// Where pgloader reads the MySQL data from.
struct DataSource {
    url: String,
    /// Config key, for messages.
    key: &'static str,
}

/// The migration cluster's PostgreSQL system database URL.
fn target(ctx: &StepContext) -> Result<String> {
    let store = ctx
        .config
        .system_database(ClusterRole::MigrationCluster)
        .context(
            "migration_cluster.system_database_url is not set: pgloader runs on this host and \
             writes into the migration AWS account's PostgreSQL by that URL (as env:NAME or \
             file:PATH; through a tunnel when the database is private)",
        )?;
    let (url, key) = (store.url_value()?, &store.key);
    if !(url.starts_with("postgres") || url.contains('=')) {
        bail!(
            "{key} is not a PostgreSQL URL ({}); the conversion writes into PostgreSQL",
            redact(&url)
        );
    }
    Ok(url)
}

/// The MySQL dump to load: recorded by `dump-system-database`, else in the dump folder with its
/// record.
fn mysql_dump(ctx: &StepContext) -> Option<DumpRecord> {
    pgdump::recorded_dump(ctx, pgdump::SYSTEM_DUMP_STEP)
        .filter(|r| r.format == mysqldump::FORMAT)
        .or_else(|| read_record(&ctx.config.dumps.folder.join(mysqldump::FILE)))
}

fn source_url(ctx: &StepContext) -> Option<Result<String>> {
    ctx.config
        .system_database(ClusterRole::Source)
        .filter(|s| s.kind == StoreKind::SystemDatabase(DbKind::Mysql))
        .map(|s| s.url_value())
}

/// `database.table` → `table`, leaving out the tables the load leaves out.
fn by_table(rows: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    rows.iter()
        .map(|(t, n)| {
            (
                t.rsplit_once('.')
                    .map_or(t.as_str(), |(_, n)| n)
                    .to_string(),
                *n,
            )
        })
        .filter(|(t, _)| !pgloader::EXCLUDED.contains(&t.as_str()))
        .collect()
}

fn public(tables: &BTreeMap<String, u64>) -> Vec<(String, String)> {
    tables
        .keys()
        .map(|t| ("public".to_string(), t.clone()))
        .collect()
}

fn scrubbed(e: anyhow::Error, urls: &[&str]) -> anyhow::Error {
    let mut text = format!("{e:#}");
    for url in urls {
        text = scrub(&text, url);
    }
    anyhow!(text)
}

fn figures_of(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

impl StepAction for ConvertStep {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            if ctx.config.source_db_kind() == Some(DbKind::Oracle) {
                return Ok(StepResult::failed(
                    "the system database is Oracle: a DBA converts it with ora2pg, as the \
                     Oracle part of the step's procedure says (schema load, COPY of the data, \
                     sequence reset, counts); then mark the step done (`--skip \
                     convert-system-database=REASON` in headless mode)",
                    Map::new(),
                ));
            }
            let reporter = ctx.sink.reporter();
            let report = reporter.report();
            match convert(ctx, &report).await? {
                Ok(result) | Err(result) => Ok(result),
            }
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            let expected = ctx
                .fact(ctx.step.id.0, EXPECTED_FACT)
                .and_then(|v| serde_json::from_value::<BTreeMap<String, u64>>(v.clone()).ok())
                .or_else(|| mysql_dump(ctx).map(|r| by_table(&r.rows)));
            let Some(expected) = expected else {
                return Ok(Recheck::DoesNotHold(
                    "no expected row counts are recorded; the conversion runs again".to_string(),
                ));
            };
            let url = target(ctx)?;
            let differ = compare(&url, &expected).await?;
            Ok(Recheck::unless_differ(&differ, || {
                format!(
                    "{} holds every row of the MySQL system database ({} tables)",
                    redact(&url),
                    expected.len()
                )
            }))
        })
    }
}

/// The whole conversion; Err is a result that ends the step early (failed or stopped).
async fn convert(
    ctx: &StepContext,
    report: &Report<'_>,
) -> Result<std::result::Result<StepResult, StepResult>> {
    let started = Instant::now();
    let folder = &ctx.config.dumps.folder;
    let into = target(ctx)?;
    let shown_target = redact(&into);
    let dump = mysql_dump(ctx);

    // 1. Where the MySQL data is read from, and the rows it must give.
    let scratch = match &ctx.config.convert.scratch_mysql_url {
        Some(r) => Some(r.resolve("convert.scratch_mysql_url")?),
        None => None,
    };
    let (source, expected) = match scratch {
        Some(url) => {
            let Some(dump) = dump.clone() else {
                return Ok(Err(StepResult::failed(
                    format!(
                        "convert.scratch_mysql_url is set, but no MySQL dump is recorded (step \
                         {}) nor in {} with its record; dump the system database first, or \
                         unset convert.scratch_mysql_url to read the source directly",
                        pgdump::SYSTEM_DUMP_STEP,
                        folder.join(mysqldump::FILE).display()
                    ),
                    Map::new(),
                )));
            };
            ctx.sink.info(format!(
                "checking {} against the manifest",
                dump.path.display()
            ));
            if let Err(e) = verify_before_restore(folder, &dump, report).await {
                let text = format!("{e:#}");
                ctx.sink.error(&text);
                return Ok(Err(StepResult::failed(text, Map::new())));
            }
            load_scratch(&url, &dump.path, folder, report).await?;
            (
                DataSource {
                    url,
                    key: "convert.scratch_mysql_url",
                },
                by_table(&dump.rows),
            )
        }
        None => {
            let Some(url) = source_url(ctx) else {
                return Ok(Err(StepResult::failed(
                    "neither convert.scratch_mysql_url nor source.system_database_url (with \
                     system_database_kind = \"mysql\") is set: name a MySQL server to load the \
                     dump into, or the source's MySQL system database to read it directly",
                    Map::new(),
                )));
            };
            let url = url?;
            let expected = match &dump {
                Some(d) => by_table(&d.rows),
                None => {
                    ctx.sink.warn(
                        "no MySQL dump is recorded: the source's rows are counted now and the \
                         load is checked against them",
                    );
                    by_table(&mysql::count_rows(&url, CONNECT_TIMEOUT).await?)
                }
            };
            (
                DataSource {
                    url,
                    key: "source.system_database_url",
                },
                expected,
            )
        }
    };
    let from = mysql::parts(&source.url)?;
    let Some(mysql_schema) = from.database.clone() else {
        bail!(
            "{} ({}) names no database: add /DATABASE at the end of the URL",
            source.key,
            redact(&source.url)
        );
    };
    ctx.sink.record_fact(EXPECTED_FACT, json!(expected))?;
    ctx.sink.info(format!(
        "converting {} ({}) into {shown_target}: {} tables, {} rows expected",
        redact(&source.url),
        source.key,
        expected.len(),
        expected.values().sum::<u64>()
    ));

    // 2. The target's schema, and its rows.
    let tables = public(&expected);
    let client = pg::connect(&into, CONNECT_TIMEOUT).await?;
    let existing = pg::existing_tables(&client, &tables)
        .await
        .map_err(|e| scrubbed(e, &[&into]))?;
    let schema_loaded = existing.is_empty();
    if schema_loaded {
        let Some(schema) = ctx.config.convert.postgres_schema.clone() else {
            return Ok(Err(StepResult::failed(
                format!(
                    "{shown_target} has none of the 3scale tables: load the PostgreSQL schema of \
                     the source's 3scale version first (part 2 of the procedure: rake \
                     db:schema:load with db/postgres_schema.rb), or set convert.postgres_schema \
                     to an SQL file that creates it"
                ),
                Map::new(),
            )));
        };
        ctx.sink.info(format!(
            "{shown_target} has no 3scale tables: loading the schema {}",
            schema.display()
        ));
        load_schema(&into, &schema).await?;
    }
    let existing = pg::existing_tables(&client, &tables)
        .await
        .map_err(|e| scrubbed(e, &[&into]))?;
    let missing: Vec<String> = tables
        .iter()
        .map(|(s, n)| format!("{s}.{n}"))
        .filter(|t| !existing.contains(t))
        .collect();
    if !missing.is_empty() {
        return Ok(Err(StepResult::failed(
            format!(
                "{shown_target} lacks tables the MySQL database has: {}; its schema is not the \
                 one of the source's 3scale version. Load the matching schema into an empty \
                 database",
                missing.join(", ")
            ),
            Map::new(),
        )));
    }
    let held = pg::count_rows(&client, &tables)
        .await
        .map_err(|e| scrubbed(e, &[&into]))?;
    let occupied: Vec<String> = held
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(t, n)| format!("{t} ({n} rows)"))
        .collect();
    if !occupied.is_empty() {
        let database = client
            .query_one("SELECT current_database()::text", &[])
            .await
            .ok()
            .and_then(|r| r.try_get::<_, String>(0).ok())
            .unwrap_or_else(|| "the target".to_string());
        let phrase = format!("empty {database}");
        ctx.sink.warn(format!(
            "{shown_target} already holds rows in {} of the 3scale tables; asking before \
             emptying them",
            occupied.len()
        ));
        let question = Question {
            text: format!(
                "The target {shown_target} already holds rows in {} 3scale tables ({}). The \
                 conversion empties them (TRUNCATE) and loads the MySQL data. Type `{phrase}` to \
                 empty them, or stop and check the target: ",
                occupied.len(),
                crate::format::first_of(&occupied, 8),
            ),
            phrase: phrase.clone(),
            ..Question::default()
        };
        if let Some(result) = ctx
            .confirm(question, "emptying the target's 3scale tables", "converted")
            .await?
        {
            return Ok(Err(result));
        }
        let list: Vec<String> = tables.iter().map(|(s, n)| pg::quote_table(s, n)).collect();
        client
            .batch_execute(&format!("TRUNCATE {}", list.join(", ")))
            .await
            .map_err(|e| scrubbed(e.into(), &[&into]))
            .context(
                "cannot empty the 3scale tables of the target (another table refers to them?); \
                 empty the database by hand",
            )?;
    }

    // 3. pgloader.
    let (pg_target, pg_password) = pgloader::target_url(&into)?;
    let spec = pgloader::LoadSpec {
        from: from.url_without_password(),
        into: pg_target,
        mysql_schema: mysql_schema.clone(),
    };
    let load_path = folder.join(LOAD_FILE);
    write_private(&load_path, &pgloader::load_file(&spec)).await?;
    let tool = tools::version("pgloader").await?.context(
        "pgloader is not installed on this host; install it (Debian/Ubuntu: apt-get install \
         pgloader, version 3.6 or later)",
    )?;
    ctx.sink.info(format!(
        "running pgloader {} with {} (data only, 3scale casts, {mysql_schema} renamed to public)",
        tool.version,
        load_path.display()
    ));
    let sink = ctx.sink.clone();
    let urls = [source.url.clone(), into.clone()];
    let line = |l: &str| {
        let mut text = l.to_string();
        for url in &urls {
            text = scrub(&text, url);
        }
        if text.contains(" ERROR ") || text.contains(" FATAL ") {
            sink.error(text);
        } else {
            sink.info(text);
        }
    };
    // pgloader says nothing per table until its summary; the rows it has committed so far are
    // read from the target's counters (they reach them at each batch's commit).
    let inserted = || async {
        client
            .query_one(
                "SELECT COALESCE(sum(n_tup_ins), 0)::int8 FROM pg_stat_user_tables \
                 WHERE schemaname = 'public'",
                &[],
            )
            .await
            .ok()
            .and_then(|r| r.try_get::<_, i64>(0).ok())
            .map(|n| u64::try_from(n).unwrap_or(0))
    };
    let baseline = inserted().await.unwrap_or(0);
    let rows_total = expected.values().sum::<u64>();
    let mut throttle = Throttle::new(report, Some(rows_total), "rows");
    throttle.tick(0);
    let pgloader_dir = folder.join("pgloader");
    let load = pgloader::run(
        &tool,
        &load_path,
        &pgloader_dir,
        from.password.as_deref(),
        pg_password.as_deref(),
        &line,
    );
    tokio::pin!(load);
    let mut every = tokio::time::interval(Duration::from_millis(500));
    let outcome = loop {
        tokio::select! {
            result = &mut load => break result,
            _ = every.tick() => {
                if let Some(n) = inserted().await {
                    throttle.tick(n.saturating_sub(baseline));
                }
            }
        }
    };
    let outcome = outcome.map_err(|e| scrubbed(e, &[&source.url, &into]))?;
    throttle.done(outcome.tables.values().map(|t| t.rows).sum());
    let loaded: BTreeMap<String, u64> = outcome
        .tables
        .iter()
        .map(|(t, l)| (t.clone(), l.rows))
        .collect();
    if outcome.rejected() > 0 {
        let rejected: Vec<String> = outcome
            .tables
            .iter()
            .filter(|(_, l)| l.errors > 0)
            .map(|(t, l)| format!("{t}: {} errors", l.errors))
            .collect();
        let value = json!({
            "target": shown_target,
            "loaded": loaded,
            "rejected": rejected,
            "errors": outcome.errors.iter().map(|e| scrub(&scrub(e, &source.url), &into)).collect::<Vec<_>>(),
        });
        ctx.sink.record_fact(FACT, value.clone())?;
        return Ok(Err(StepResult::failed(
            format!(
                "pgloader rejected rows ({}): {}; see its errors in the step's log and the \
                 reject files under {}",
                rejected.join(", "),
                outcome
                    .errors
                    .first()
                    .map(|e| scrub(&scrub(e, &source.url), &into))
                    .unwrap_or_default(),
                folder.join("pgloader").display()
            ),
            figures_of(&value),
        )));
    }

    // 4. Sequences.
    let sequences = reset_sequences(&client)
        .await
        .map_err(|e| scrubbed(e, &[&into]))?;
    ctx.sink
        .info(format!("{sequences} id sequences set past the highest id"));

    // 5. porta's triggers and procedures, which neither the schema load nor pgloader creates.
    let objects = match create_porta_objects(&client, &into).await {
        Ok(Ok(objects)) => objects,
        Ok(Err(why)) => {
            ctx.sink.error(&why);
            return Ok(Err(StepResult::failed(why, Map::new())));
        }
        Err(e) => return Err(scrubbed(e, &[&into])),
    };
    ctx.sink.info(format!(
        "porta's {} tenant_id triggers and {} of 3scale {} created (rake \
         multitenant:triggers and db:procedures), checked against the release's list",
        objects.triggers,
        porta::PROCEDURES.join(", "),
        objects.release
    ));

    // 6. Counts.
    let differ = compare(&into, &expected).await?;
    let value = json!({
        "target": shown_target,
        "source": redact(&source.url),
        "read_from": source.key,
        "load_file": load_path,
        "schema_loaded": schema_loaded,
        "emptied": !occupied.is_empty(),
        "pgloader": tool.version,
        "tables": expected.len(),
        "rows": expected.values().sum::<u64>(),
        "loaded": loaded,
        "sequences_reset": sequences,
        "release": objects.release,
        "triggers": objects.triggers,
        "differences": differ,
        "seconds": started.elapsed().as_secs_f64(),
    });
    ctx.sink.record_fact(FACT, value.clone())?;
    if differ.is_empty() {
        Ok(Ok(StepResult::passed(
            format!(
                "converted into {shown_target}: {} tables, {} rows, every count equal to the \
                 MySQL one; {sequences} sequences reset",
                expected.len(),
                expected.values().sum::<u64>()
            ),
            figures_of(&value),
        )))
    } else {
        for d in &differ {
            ctx.sink.error(d);
        }
        Ok(Err(StepResult::failed(
            format!(
                "the conversion into {shown_target} does not hold the MySQL rows: {}",
                differ.join("; ")
            ),
            figures_of(&value),
        )))
    }
}

/// The tables whose rows in the target differ from `expected`: `public.name: N converted, M
/// in MySQL`.
async fn compare(url: &str, expected: &BTreeMap<String, u64>) -> Result<Vec<String>> {
    let expected: BTreeMap<String, u64> = expected
        .iter()
        .map(|(table, n)| (format!("public.{table}"), *n))
        .collect();
    compare_rows(url, &expected, "converted", "in MySQL").await
}

/// Sets the sequence of every `id` column of the public schema to `max(id) + 1` (not yet
/// called), as part 5 of the procedure does; returns how many were set.
async fn reset_sequences(client: &tokio_postgres::Client) -> Result<u64> {
    let rows = client
        .query(
            "SELECT table_name::text, pg_get_serial_sequence(quote_ident(table_name), 'id') \
             FROM information_schema.columns WHERE table_schema = 'public' \
             AND column_name = 'id' ORDER BY 1",
            &[],
        )
        .await
        .context("listing the id sequences of the target")?;
    let mut set = 0;
    for row in rows {
        let table: String = row.try_get(0)?;
        let Some(sequence) = row.try_get::<_, Option<String>>(1)? else {
            continue;
        };
        let sql = format!(
            "SELECT setval($1::text::regclass, COALESCE((SELECT max(id) FROM {}), 0) + 1, false)",
            pg::quote_table("public", &table)
        );
        client
            .query_one(sql.as_str(), &[&sequence])
            .await
            .with_context(|| format!("cannot reset the sequence {sequence} of {table}"))?;
        set += 1;
    }
    Ok(set)
}

/// What [`create_porta_objects`] created.
struct PortaObjects {
    release: &'static str,
    triggers: usize,
}

/// Creates porta's procedures and tenant_id triggers for the release the target's schema
/// belongs to (its `max(schema_migrations.version)`), in one transaction, with the master
/// account's id written in as porta's rake task does once the master exists; then reads them
/// back. `Ok(Err)`: a refusal (an unknown schema version, or objects still missing after).
async fn create_porta_objects(
    client: &tokio_postgres::Client,
    url: &str,
) -> Result<std::result::Result<PortaObjects, String>> {
    let target = PgTarget::by_url(url.to_string(), "migration_cluster.system_database_url");
    let before = SchemaObjects::read(&target).await?;
    let Some(release) = before.release() else {
        return Ok(Err(format!(
            "the target's schema version ({}) is none of the 3scale releases cutover knows \
             ({}), so it cannot create porta's triggers and procedures for it: run `bundle exec \
             rake multitenant:triggers db:procedures` with the system image of the source's \
             version against the target (DATABASE_URL), check `SELECT count(*) FROM pg_trigger \
             WHERE NOT tgisinternal`, then mark this step done",
            before.schema_version.as_deref().unwrap_or("none"),
            porta::known()
        )));
    };
    let master: Option<i64> = client
        .query_opt("SELECT id FROM accounts WHERE master = TRUE LIMIT 1", &[])
        .await
        .context("reading the master account's id")?
        .map(|r| r.try_get::<_, i64>(0))
        .transpose()?;
    let sql: Vec<String> = release
        .procedure_statements()
        .into_iter()
        .chain(release.trigger_statements(master))
        .collect();
    client
        .batch_execute(&format!("BEGIN;\n{}\nCOMMIT;", sql.join("\n")))
        .await
        .context("creating porta's triggers and procedures on the target")?;
    let after = SchemaObjects::read(&target).await?;
    let missing = after.missing();
    if !missing.is_empty() {
        return Ok(Err(format!(
            "after creating porta's triggers and procedures the target still lacks: {}",
            missing.join("; ")
        )));
    }
    Ok(Ok(PortaObjects {
        release: release.name,
        triggers: release.trigger_names().len(),
    }))
}

/// Writes `text` to `path` (mode 0600, synced).
async fn write_private(path: &Path, text: &str) -> Result<()> {
    let mut file = crate::infra::artifacts::create_private(path).await?;
    file.write_all(text.as_bytes())
        .await
        .and(file.sync_all().await)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Loads the SQL file `schema` into `url` with psql, in one transaction, stopping at the
/// first error.
async fn load_schema(url: &str, schema: &PathBuf) -> Result<()> {
    if !schema.is_file() {
        bail!(
            "convert.postgres_schema names {}, which is not a readable file",
            schema.display()
        );
    }
    let psql = tools::require("psql").await?;
    let mut cmd = pg::client_command(&psql.path, url)?;
    cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"])
        .arg("--file")
        .arg(schema)
        .stdout(Stdio::null());
    let out = cmd
        .output()
        .await
        .with_context(|| format!("cannot run {}", psql.path.display()))?;
    if !out.status.success() {
        bail!(
            "loading the schema {} into {} failed ({}): {}; nothing of it was kept",
            schema.display(),
            redact(url),
            out.status,
            scrub(String::from_utf8_lossy(&out.stderr).trim(), url)
        );
    }
    Ok(())
}

/// Streams the MySQL dump into the scratch server with the local mysql client (the password in
/// an option file of mode 0600), with progress in bytes.
async fn load_scratch(url: &str, dump: &Path, folder: &Path, report: &Report<'_>) -> Result<()> {
    let shown = redact(url);
    let parts = mysql::parts(url)?;
    let Some(database) = parts.database.clone() else {
        bail!("convert.scratch_mysql_url ({shown}) names no database: add /DATABASE at the end");
    };
    let tool = mysqldump::client(&["mysql", "mariadb"]).await?;
    (report.log)(format!(
        "loading {} into the scratch MySQL {shown} with {} {}",
        dump.display(),
        tool.name,
        tool.version
    ));
    let options = OptionFile::write(folder, &parts).await?;
    let mut child = tokio::process::Command::new(&tool.path)
        .arg(options.arg())
        .arg("--default-character-set=utf8mb4")
        .arg("--")
        .arg(&database)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {}", tool.path.display()))?;
    let (Some(mut stdin), Some(stderr)) = (child.stdin.take(), child.stderr.take()) else {
        bail!("the mysql client started without its pipes");
    };
    let file = tokio::fs::File::open(dump)
        .await
        .with_context(|| format!("cannot open {}", dump.display()))?;
    let size = file.metadata().await.ok().map(|m| m.len());
    let mut lines = tokio::io::BufReader::with_capacity(CHUNK, file);
    let feed = async {
        let mut throttle = Throttle::new(report, size, "bytes");
        let mut line = Vec::new();
        let mut sent = 0u64;
        loop {
            line.clear();
            let n = lines.read_until(b'\n', &mut line).await?;
            if n == 0 {
                break;
            }
            // The triggers and the procedure belong to the source's user: creating them as
            // another user takes SUPER, which a scratch server's user rarely has. They do not
            // matter here (pgloader copies data only), so they are created as the scratch user.
            stdin.write_all(&without_definer(&line)).await?;
            sent += n as u64;
            throttle.tick(sent);
        }
        stdin.shutdown().await?;
        drop(stdin);
        throttle.done(sent);
        Ok::<_, std::io::Error>(())
    };
    let (fed, errors) = tokio::join!(feed, crate::infra::tools::stderr_text(stderr));
    let status = child.wait().await.context("waiting for the mysql client")?;
    drop(options);
    let errors = scrub(&errors, url);
    if !status.success() {
        bail!("loading the dump into the scratch MySQL {shown} failed ({status}): {errors}");
    }
    fed.with_context(|| format!("the mysql client stopped reading the dump: {errors}"))?;
    Ok(())
}

/// A mysqldump line without its `DEFINER=`user`@`host`` clause (mysqldump writes it as
/// `/*!50017 DEFINER=...*/` before a trigger and as `CREATE DEFINER=... PROCEDURE` for a
/// routine); any other line as it is.
fn without_definer(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    const KEY: &[u8] = b"DEFINER=`";
    let Some(at) = line.windows(KEY.len()).position(|w| w == KEY) else {
        return line.into();
    };
    // Two backquoted names joined by @, where `` is a quote inside a name.
    let mut i = at + KEY.len() - 1;
    for part in 0..2 {
        if line.get(i) != Some(&b'`') {
            return line.into();
        }
        i += 1;
        loop {
            match line.get(i) {
                None => return line.into(),
                Some(b'`') if line.get(i + 1) == Some(&b'`') => i += 2,
                Some(b'`') => break,
                Some(_) => i += 1,
            }
        }
        i += 1;
        if part == 0 {
            if line.get(i) != Some(&b'@') {
                return line.into();
            }
            i += 1;
        }
    }
    let (start, end) = match (
        line[..at].ends_with(b"/*!50017 "),
        line[i..].starts_with(b"*/ "),
    ) {
        (true, true) => (at - b"/*!50017 ".len(), i + 3),
        _ if line.get(i) == Some(&b' ') => (at, i + 1),
        _ => (at, i),
    };
    let mut out = line[..start].to_vec();
    out.extend_from_slice(&line[end..]);
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definers_are_dropped_from_triggers_and_routines_only() {
        let trigger = b"/*!50003 CREATE*/ /*!50017 DEFINER=`sys`@`%`*/ /*!50003 TRIGGER t BEFORE";
        assert_eq!(
            &*without_definer(trigger),
            b"/*!50003 CREATE*/ /*!50003 TRIGGER t BEFORE"
        );
        let routine = b"CREATE DEFINER=`a``b`@`10.0.0.1` PROCEDURE `p`(x numeric)";
        assert_eq!(
            &*without_definer(routine),
            b"CREATE PROCEDURE `p`(x numeric)"
        );
        let data = b"INSERT INTO `t` VALUES (1,'DEFINER=`x` in a value');";
        assert_eq!(&*without_definer(data), &data[..]);
        let plain = b"INSERT INTO `t` VALUES (1,'x');";
        assert_eq!(&*without_definer(plain), &plain[..]);
    }

    #[test]
    fn counts_are_by_table_without_the_rails_bookkeeping() {
        let rows: BTreeMap<String, u64> = [
            ("system.accounts".to_string(), 3),
            ("system.schema_migrations".to_string(), 40),
            ("system.ar_internal_metadata".to_string(), 1),
        ]
        .into();
        let by = by_table(&rows);
        assert_eq!(by.len(), 1);
        assert_eq!(by["accounts"], 3);
    }
}
