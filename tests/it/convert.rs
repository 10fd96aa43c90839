//! The MySQL system database: its dump (`dump-system-database` with a MySQL source) and its
//! conversion to PostgreSQL with pgloader (`convert-system-database`), run by the real binary
//! against a real MariaDB seeded as a 3scale-like system database and a real PostgreSQL. The
//! steps before the one under test are recorded as skipped first.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use cutover::sim::seed::system_mysql::{payload, postgres_schema, seed_system_mysql};
use cutover::steps::inventory::Inventory;
use mysql_async::prelude::Queryable;
use serde_json::Value;

use crate::cli::{Migration, Run, events, threescale_toml, write_kubeconfigs};
use crate::dumps;
use crate::support::{MariaDb, PgDatabase, block_on};

const DUMP: &str = "dump-system-database";
const CONVERT: &str = "convert-system-database";
const GATE: &str = "convert system database";
/// With `#` and `"`, which option files and URLs must carry as they are.
const MYSQL_PASSWORD: &str = "My-Sql#\"Secret-pw";
const PG_PASSWORD: &str = "convert-Pg-secret";
/// Rows per table of the seed (some tables get one or three more).
const BASE_ROWS: u64 = 9;

/// A MariaDB database with a user of its own that has a password, as a customer's would.
struct MysqlDb {
    db: MariaDb,
    user: String,
}

impl MysqlDb {
    fn create() -> MysqlDb {
        let db = MariaDb::create();
        let user = format!("cv{}", &db.name()[db.name().len().saturating_sub(12)..]);
        // One account, as 3scale's `mysql` user is: the triggers and the procedure the seed
        // creates as this user have it as their definer, and the dump, as the same account,
        // may read their bodies.
        db.execute(&format!(
            "CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{MYSQL_PASSWORD}'; \
             GRANT ALL ON `{}`.* TO '{user}'@'%'",
            db.name()
        ));
        MysqlDb { db, user }
    }

    /// The URL as the user with the password.
    fn url(&self) -> String {
        let rest = self.db.url().split_once('@').map_or("", |(_, r)| r);
        let pw = MYSQL_PASSWORD.replace('#', "%23").replace('"', "%22");
        format!("mysql://{}:{pw}@{rest}", self.user)
    }

    /// Rows of every table, `table` → rows.
    fn counts(&self) -> BTreeMap<String, u64> {
        let url = self.db.url().to_string();
        block_on(|| async move {
            cutover::infra::mysql::count_rows(&url, std::time::Duration::from_secs(10))
                .await
                .unwrap_or_else(|e| panic!("{e:#}"))
        })
        .into_iter()
        .map(|(t, n)| {
            (
                t.rsplit_once('.').map_or(t.clone(), |(_, t)| t.to_string()),
                n,
            )
        })
        .collect()
    }

    /// The first column of the first row of `sql`, as bytes (NULL as None).
    fn bytes(&self, sql: &str) -> Option<Vec<u8>> {
        let url = self.db.url().to_string();
        let sql = sql.to_string();
        block_on(|| async move {
            let mut conn = mysql_async::Conn::from_url(url.as_str())
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            conn.query_drop("SET SESSION sql_mode = ''")
                .await
                .expect("sql_mode");
            let row: Option<mysql_async::Row> = conn.query_first(sql).await.expect("query");
            let _ = conn.disconnect().await;
            let value = row.and_then(|r| r.as_ref(0).cloned());
            match value {
                Some(mysql_async::Value::Bytes(b)) => Some(b),
                Some(mysql_async::Value::NULL) | None => None,
                Some(other) => Some(other.as_sql(true).into_bytes()),
            }
        })
    }
}

impl Drop for MysqlDb {
    fn drop(&mut self) {
        self.db
            .execute(&format!("DROP USER IF EXISTS '{}'@'%'", self.user));
    }
}

/// A MariaDB database seeded as a 3scale-like system database.
fn seeded_source() -> MysqlDb {
    let source = MysqlDb::create();
    // As its own user, as porta's rake tasks create the triggers and the procedure: their
    // definer is the user the dump runs as.
    let url = source.url();
    block_on(|| async move {
        seed_system_mysql(&url, BASE_ROWS)
            .await
            .unwrap_or_else(|e| panic!("seed the MySQL source: {e:#}"))
    });
    source
}

/// `url` with [`PG_PASSWORD`] (the test server trusts loopback: it only has to travel).
fn pg_with_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (user, host) = rest.split_once('@').expect("a user");
    let user = user.split(':').next().unwrap_or(user);
    format!("{scheme}://{user}:{PG_PASSWORD}@{host}")
}

fn psql(db: &PgDatabase, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-F",
            "|",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            db.url(),
            "-c",
        ])
        .arg(sql)
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Exact rows of every table of the public schema, `name` → rows.
fn pg_counts(db: &PgDatabase) -> BTreeMap<String, u64> {
    psql(
        db,
        "SELECT tablename, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c \
         FROM ONLY public.%I', tablename), false, true, '')))[1]::text FROM pg_tables \
         WHERE schemaname = 'public'",
    )
    .lines()
    .filter_map(|l| {
        let (t, n) = l.rsplit_once('|')?;
        Some((t.to_string(), n.trim().parse().ok()?))
    })
    .collect()
}

/// A customer's migration on the no-access path with a MySQL source, a PostgreSQL migration
/// cluster database, the schema file, and a scratch MySQL when given; URLs through the
/// environment, with passwords.
fn migration(source: &MysqlDb, target: &PgDatabase, scratch: Option<&MysqlDb>) -> Migration {
    let mut toml = threescale_toml(
        "convert",
        "customer",
        "no-access",
        "system_database_url = \"env:TEST_SOURCE_DB\"",
    )
    .replacen(
        "system_database_kind = \"postgresql\"",
        "system_database_kind = \"mysql\"",
        1,
    )
    .replace(
        "wildcard_domain = \"apps.migration.test\"\n",
        "wildcard_domain = \"apps.migration.test\"\nsystem_database_kind = \"postgresql\"\n\
         system_database_url = \"env:TEST_TARGET_DB\"\n",
    );
    toml.push_str("\n[convert]\npostgres_schema = \"{dir}/postgres-schema.sql\"\n");
    if scratch.is_some() {
        toml.push_str("scratch_mysql_url = \"env:TEST_SCRATCH_DB\"\n");
    }
    let mut m = Migration::new("convert", &toml);
    std::fs::write(m.dir.path().join("postgres-schema.sql"), postgres_schema())
        .expect("write the schema file");
    m.set_env("TEST_SOURCE_DB", &source.url());
    m.set_env("TEST_TARGET_DB", &pg_with_password(target.url()));
    if let Some(scratch) = scratch {
        m.set_env("TEST_SCRATCH_DB", &scratch.url());
    }
    m
}

/// Runs the dump step from a fresh journal and checks the file, its record and the manifest.
fn dump(m: &Migration, source: &MysqlDb, inventory: Option<&Inventory>) -> Value {
    crate::cli::skip_steps(m, None, DUMP, inventory);
    let run = m.run(&["run", "--headless", "--until", DUMP]);
    run.expect_code(0);
    let fact = dumps::last_fact(m, DUMP, "dump");
    let path = PathBuf::from(fact["path"].as_str().expect("the dump's path"));
    assert_eq!(path, m.dir.path().join("dumps/system-mysql.sql"));
    let meta = std::fs::metadata(&path).expect("the dump is there");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "mode 0600");
    assert_eq!(fact["bytes"], meta.len());
    assert_eq!(fact["format"], "mysqldump");
    let bytes = std::fs::read(&path).expect("read the dump");
    let sha = dumps::sha256_of(&path);
    assert_eq!(fact["sha256"], sha);
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.trim_end()
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("-- Dump completed")),
        "the dump ends with mysqldump's last line"
    );
    assert!(
        !path.with_extension("sql.partial").exists(),
        "no partial file"
    );
    let rows: BTreeMap<String, u64> =
        serde_json::from_value(fact["rows"].clone()).expect("rows per table");
    let by_table: BTreeMap<String, u64> = rows
        .iter()
        .map(|(t, n)| {
            (
                t.rsplit_once('.')
                    .map_or(t.as_str(), |(_, t)| t)
                    .to_string(),
                *n,
            )
        })
        .collect();
    assert_eq!(by_table, source.counts(), "exact counts of every table");
    assert!(by_table["accounts"] > 0);
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(m.dir.path().join("dumps/manifest.json")).expect("manifest"),
    )
    .expect("manifest JSON");
    let entry = manifest["artifacts"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["file"] == "system-mysql.sql"))
        .expect("the dump is in the manifest");
    assert_eq!(entry["kind"], "mysql-dump");
    assert_eq!(entry["sha256"], sha);
    assert_eq!(entry["counts"], fact["rows"]);
    assert!(
        entry["versions"]["server"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
    if inventory.is_none() {
        // Through the URL, which names the source without its password.
        assert!(
            entry["source"].as_str().is_some_and(|s| s.contains("***")),
            "{entry}"
        );
    }
    assert!(
        m.dir.path().join("dumps/system-mysql.sql.json").exists(),
        "the record travels with the dump"
    );
    let finished = dumps::last_finished(m, DUMP);
    assert_eq!(finished["outcome"], "passed");
    assert!(
        finished["summary"]
            .as_str()
            .is_some_and(|s| s.contains("system-mysql.sql") && s.contains("MySQL")),
        "{finished}"
    );
    fact
}

/// Runs the conversion; the steps before it are skipped first (from the first step when
/// nothing ran yet, else from the one after the dump), unless `skip` is false.
fn run_convert(m: &Migration, skip: Option<Option<&str>>, answers: &[&str]) -> Run {
    if let Some(from) = skip {
        crate::cli::skip_steps(m, from, CONVERT, None);
    }
    let gate = format!("{CONVERT}={GATE}");
    let mut args = vec!["run", "--headless", "--until", CONVERT, "--confirm", &gate];
    let answers: Vec<String> = answers.iter().map(|a| format!("{CONVERT}={a}")).collect();
    for a in &answers {
        args.push("--confirm");
        args.push(a);
    }
    m.run(&args)
}

/// Everything the runs printed or kept: stdout and stderr, the journal, the logs, the load
/// file and pgloader's own log.
fn assert_no_password(m: &Migration, runs: &[&Run]) {
    let mut texts = vec![(
        "journal".to_string(),
        std::fs::read_to_string(m.journal_path()).expect("the journal"),
    )];
    for (i, run) in runs.iter().enumerate() {
        texts.push((format!("run {i} stdout"), run.stdout.clone()));
        texts.push((format!("run {i} stderr"), run.stderr.clone()));
    }
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [
        m.migration_dir().join("logs"),
        m.dir.path().join("dumps"),
        m.dir.path().join("dumps/pgloader"),
    ] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_file()));
        }
    }
    for file in &files {
        texts.push((
            file.display().to_string(),
            String::from_utf8_lossy(&std::fs::read(file).unwrap_or_default()).into_owned(),
        ));
    }
    for (what, text) in texts {
        for pw in [
            MYSQL_PASSWORD,
            PG_PASSWORD,
            "My-Sql%23%22Secret-pw",
            "Secret-pw",
        ] {
            assert!(!text.contains(pw), "{what} shows a password:\n{text}");
        }
    }
}

#[test]
fn the_mysql_source_is_porta_s_schema_with_its_triggers_and_procedure() {
    let source = seeded_source();
    let text = |sql: &str| String::from_utf8(source.bytes(sql).expect("an answer")).expect("UTF-8");
    // The tables of porta's db/schema.rb for 3scale 2.14, with Rails' two.
    let expected =
        crate::support::porta_tables(include_str!("../../fixtures/porta/2.14/upstream/schema.rb"));
    let tables = text(
        "SELECT GROUP_CONCAT(TABLE_NAME ORDER BY BINARY TABLE_NAME SEPARATOR ',') \
         FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
    );
    assert_eq!(tables, expected.join(","));
    let triggers = text(
        "SELECT GROUP_CONCAT(TRIGGER_NAME ORDER BY BINARY TRIGGER_NAME SEPARATOR ',') \
         FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()",
    );
    let names: Vec<&str> = include_str!("../../fixtures/porta/2.14/triggers.txt")
        .lines()
        .collect();
    assert_eq!(triggers, names.join(","));
    assert_eq!(
        text(
            "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() \
             AND ROUTINE_NAME = 'sp_invoices_friendly_id'"
        ),
        "1"
    );
    assert_eq!(
        text("SELECT MAX(CAST(version AS UNSIGNED)) FROM schema_migrations"),
        "20230927012615"
    );
}

#[test]
fn a_mysql_dump_converts_into_postgresql_with_every_count_equal() {
    let source = seeded_source();
    let scratch = MysqlDb::create();
    let target = PgDatabase::create();
    let m = migration(&source, &target, Some(&scratch));
    dump(&m, &source, None);

    let run = run_convert(&m, Some(Some("dump-zync-database")), &[]);
    run.expect_code(0);
    let finished = dumps::last_finished(&m, CONVERT);
    assert_eq!(finished["outcome"], "passed", "{finished}");

    // Every table of the MySQL source has its rows in PostgreSQL, Rails' bookkeeping aside.
    let mut want = source.counts();
    want.remove("schema_migrations");
    want.remove("ar_internal_metadata");
    let got = pg_counts(&target);
    for (table, n) in &want {
        assert_eq!(got.get(table), Some(n), "{table}: {got:?}");
    }
    assert_eq!(
        scratch.counts(),
        source.counts(),
        "the scratch MySQL got the dump"
    );
    // The schema is porta's of the source's release, with its triggers and procedure, which
    // neither the schema load nor pgloader creates: the step does, as porta's rake tasks do.
    assert_eq!(
        psql(
            &target,
            "SELECT max(version::numeric) FROM schema_migrations"
        ),
        "20230927012615"
    );
    let names = include_str!("../../fixtures/porta/2.14/triggers.txt");
    assert_eq!(
        psql(
            &target,
            "SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE NOT tgisinternal"
        ),
        names.lines().collect::<Vec<_>>().join(",")
    );
    assert_eq!(
        psql(
            &target,
            "SELECT count(*) FROM pg_proc WHERE proname = 'sp_invoices_friendly_id'"
        ),
        "1"
    );
    assert!(
        psql(
            &target,
            "SELECT prosrc FROM pg_proc WHERE proname = 'tp_accounts_tenant_id'"
        )
        .contains("master_id := 1;")
    );
    let converted = dumps::last_fact(&m, CONVERT, "convert");
    assert_eq!(converted["differences"], serde_json::json!([]));
    assert_eq!(converted["schema_loaded"], true);
    assert_eq!(converted["read_from"], "convert.scratch_mysql_url");

    // tinyint(1) became boolean.
    assert_eq!(
        psql(
            &target,
            "SELECT pg_typeof(master)::text, master FROM accounts WHERE id = 1"
        ),
        "boolean|t"
    );
    assert_eq!(
        psql(
            &target,
            "SELECT active, account_created_on FROM web_hooks WHERE id = 2"
        ),
        format!(
            "{}|{}",
            if source.bytes("SELECT active FROM web_hooks WHERE id = 2") == Some(b"1".to_vec()) {
                "t"
            } else {
                "f"
            },
            "f"
        )
    );
    // porta's binary columns: the same bytes, NUL and 0xff included.
    for (table, column, kind) in [
        ("member_permissions", "service_ids", "blob"),
        ("notification_preferences", "preferences", "blob"),
        ("payment_gateway_settings", "gateway_settings", "blob"),
        ("policies", "schema", "longblob"),
    ] {
        let mysql = source
            .bytes(&format!("SELECT `{column}` FROM {table} WHERE id = 2"))
            .expect("the MySQL bytes");
        assert_eq!(
            mysql,
            payload(2, kind),
            "{table}.{column}: the seed's bytes"
        );
        let hex = psql(
            &target,
            &format!("SELECT encode(\"{column}\", 'hex') FROM {table} WHERE id = 2"),
        );
        let want: String = mysql.iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            hex == want,
            "{table}.{column}: the bytea differs from the MySQL bytes"
        );
    }
    // Zero dates are NULL; real dates stay.
    assert_eq!(
        source.bytes("SELECT CAST(activated_at AS CHAR) FROM users WHERE id = 5"),
        Some(b"0000-00-00 00:00:00".to_vec())
    );
    assert_eq!(
        psql(
            &target,
            "SELECT activated_at IS NULL FROM users WHERE id = 5"
        ),
        "t"
    );
    assert_eq!(
        psql(&target, "SELECT activated_at::text FROM users WHERE id = 6"),
        String::from_utf8(
            source
                .bytes("SELECT CAST(activated_at AS CHAR) FROM users WHERE id = 6")
                .expect("a date")
        )
        .expect("text")
    );
    // Unicode and long texts, byte for byte.
    for (table, column) in [("users", "username"), ("proxy_configs", "content")] {
        let mysql = source
            .bytes(&format!("SELECT {column} FROM {table} WHERE id = 1"))
            .expect("a text");
        let pg = psql(
            &target,
            &format!(
                "SELECT encode(convert_to({column}, 'UTF8'), 'hex') FROM {table} WHERE id = 1"
            ),
        );
        let want: String = mysql.iter().map(|b| format!("{b:02x}")).collect();
        assert!(pg == want, "{table}.{column} differs");
    }
    assert!(
        source
            .bytes("SELECT content FROM proxy_configs WHERE id = 1")
            .is_some_and(|b| b.len() > 70_000)
    );
    // NULLs stay NULL.
    assert_eq!(
        psql(
            &target,
            "SELECT telephone_number IS NULL FROM accounts WHERE id = 4"
        ),
        "t"
    );
    // Sequences are past the highest id: rows without an id go in.
    for table in ["accounts", "policies", "proxies"] {
        let max: u64 = psql(&target, &format!("SELECT max(id) FROM {table}"))
            .parse()
            .expect("max id");
        let sql = match table {
            "accounts" => "INSERT INTO accounts (created_at) VALUES (now()) RETURNING id",
            "policies" => {
                "INSERT INTO policies (name, version, schema, account_id) \
                 VALUES ('p', '1', '\\x00', 1) RETURNING id"
            }
            _ => "INSERT INTO proxies (secret_token) VALUES ('t') RETURNING id",
        };
        let out = psql(&target, sql);
        let id: u64 = out
            .parse()
            .unwrap_or_else(|e| panic!("{table}: {out:?}: {e}"));
        assert_eq!(id, max + 1, "{table}");
        psql(&target, &format!("DELETE FROM {table} WHERE id = {id}"));
    }
    // A buyer signing up after the conversion gets its tenant from the trigger, which holds
    // the master account's id as porta writes it in.
    assert_eq!(
        psql(
            &target,
            "INSERT INTO accounts (org_name, created_at, buyer, provider_account_id) \
             VALUES ('Signed up later', now(), true, 2) RETURNING tenant_id"
        ),
        "2"
    );
    psql(
        &target,
        "DELETE FROM accounts WHERE org_name = 'Signed up later'",
    );

    // The load file: mode 0600, no password in it.
    let load = m.dir.path().join("dumps/system-mysql.load");
    let mode = std::fs::metadata(&load)
        .expect("the load file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let status = m.run(&["status"]);
    assert_no_password(&m, &[&run, &status]);

    // Stopped after its last fact, the step is re-checked on resume: the counts hold and it is
    // not run again.
    interrupt_after_the_last_fact(&m);
    let resumed = run_convert(&m, None, &[]);
    resumed.expect_code(0);
    let (entries, _) = m.journal();
    let rechecked = events(&entries, "step-rechecked", CONVERT);
    assert_eq!(rechecked.len(), 1, "{}", resumed.stdout);
    assert_eq!(rechecked[0]["holds"], true, "{}", rechecked[0]);
    assert_eq!(events(&entries, "step-started", CONVERT).len(), 1);

    // A row lost since: the re-check does not hold, names the table, and the step runs again,
    // which asks before emptying the target.
    target.execute("DELETE FROM web_hooks WHERE id = 1");
    interrupt_after_the_last_fact(&m);
    let again = run_convert(&m, None, &[]);
    assert_ne!(again.code, 0, "{}", again.stdout);
    dumps::assert_recheck_failed_then_ran_again(&m, CONVERT, "public.web_hooks");
}

/// A PostgreSQL database with the 3scale schema, changed by `sql`.
fn target_with_schema(sql: &str) -> PgDatabase {
    let target = PgDatabase::create();
    target.execute(&postgres_schema());
    target.execute(sql);
    target
}

/// Checks that `run` of the conversion failed, as its exit code and its journal entry say,
/// and returns the summary of that entry.
fn failed_summary(m: &Migration, run: &Run) -> String {
    run.expect_code(1);
    let finished = dumps::last_finished(m, CONVERT);
    assert_eq!(finished["outcome"], "failed", "{finished}");
    finished["summary"].as_str().unwrap_or("").to_string()
}

/// Cuts the journal after the conversion's last fact, as if the process had died there.
fn interrupt_after_the_last_fact(m: &Migration) {
    let path = m.journal_path();
    let text = std::fs::read_to_string(&path).expect("journal");
    let lines: Vec<&str> = text.lines().collect();
    let last_fact = lines
        .iter()
        .rposition(|l| {
            serde_json::from_str::<Value>(l)
                .is_ok_and(|v| v["event"] == "step-fact" && v["step"] == CONVERT)
        })
        .expect("a fact of the conversion");
    let kept: String = lines[..=last_fact]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&path, kept).expect("write journal");
}

#[test]
fn a_target_with_rows_is_not_converted_over_without_the_typed_phrase() {
    let source = seeded_source();
    let target = target_with_schema("INSERT INTO accounts (id, created_at) VALUES (4242, now())");
    // No scratch MySQL and no dump: the source is read directly.
    let m = migration(&source, &target, None);

    let refused = run_convert(&m, Some(None), &[]);
    assert_ne!(refused.code, 0, "{}\n{}", refused.stdout, refused.stderr);
    let (entries, _) = m.journal();
    let question = events(&entries, "step-waiting", CONVERT)
        .into_iter()
        .find(|e| e["question"].is_string())
        .unwrap_or_else(|| {
            panic!(
                "the operator is asked:\n{}\n{}",
                refused.stdout, refused.stderr
            )
        });
    let phrase = format!("empty {}", target.name());
    assert_eq!(question["phrase"], phrase);
    assert!(
        question["question"]
            .as_str()
            .is_some_and(|q| q.contains("public.accounts")),
        "{question}"
    );
    assert_eq!(psql(&target, "SELECT count(*) FROM accounts"), "1");
    assert_eq!(
        psql(&target, "SELECT count(*) FROM users"),
        "0",
        "nothing was loaded"
    );

    let run = run_convert(&m, None, &[&phrase]);
    run.expect_code(0);
    assert_eq!(dumps::last_finished(&m, CONVERT)["outcome"], "passed");
    assert_eq!(
        psql(&target, "SELECT count(*) FROM accounts WHERE id = 4242"),
        "0"
    );
    let mut want = source.counts();
    want.remove("schema_migrations");
    want.remove("ar_internal_metadata");
    let got = pg_counts(&target);
    for (table, n) in &want {
        assert_eq!(got.get(table), Some(n), "{table}");
    }
    let converted = dumps::last_fact(&m, CONVERT, "convert");
    assert_eq!(converted["read_from"], "source.system_database_url");
    assert_eq!(converted["emptied"], true);
    assert_no_password(&m, &[&refused, &run]);
}

#[test]
fn a_changed_byte_in_the_mysql_dump_stops_the_conversion_naming_the_file() {
    let source = seeded_source();
    let scratch = MysqlDb::create();
    let target = PgDatabase::create();
    let m = migration(&source, &target, Some(&scratch));
    let dumped = dump(&m, &source, None);
    let path = PathBuf::from(dumped["path"].as_str().expect("path"));
    dumps::flip_middle_byte(&path);

    let run = run_convert(&m, Some(Some("dump-zync-database")), &[]);
    let summary = failed_summary(&m, &run);
    assert!(summary.contains("system-mysql.sql"), "{summary}");
    assert!(
        pg_counts(&target).is_empty(),
        "nothing was loaded, not even the schema"
    );
    assert!(
        scratch.counts().is_empty(),
        "the scratch MySQL was not touched"
    );
    assert_no_password(&m, &[&run]);
}

#[test]
fn an_internal_mysql_is_dumped_by_mysqldump_in_its_pod() {
    let source = seeded_source();
    // No source URL: the inventory says the database is inside the namespace.
    let toml = threescale_toml("convert", "customer", "no-access", "").replacen(
        "system_database_kind = \"postgresql\"",
        "system_database_kind = \"mysql\"",
        1,
    );
    let mut m = Migration::new("convert", &toml);
    write_kubeconfigs(&mut m);
    let cluster = &m.clusters.as_ref().expect("simulated clusters").source;
    cluster
        .apply_object(serde_json::json!({
            "apiVersion": "apps.openshift.io/v1",
            "kind": "DeploymentConfig",
            "metadata": {"name": "system-mysql", "namespace": "3scale"},
            "spec": {
                "replicas": 1,
                "selector": {"deploymentConfig": "system-mysql"},
                "strategy": {"type": "Rolling"},
                "template": {
                    "metadata": {"labels": {"deploymentConfig": "system-mysql"}},
                    "spec": {"containers": [{"name": "system-mysql",
                                             "image": "registry.redhat.io/rhel8/mysql-80"}]},
                },
            },
        }))
        .expect("install system-mysql");
    // In the pod, the shell scripts find the credentials in the environment, as the image
    // sets them; here they run locally against the test server.
    let port = source
        .db
        .url()
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .expect("a port")
        .to_string();
    let env = [
        format!("MYSQL_USER={}", source.user),
        format!("MYSQL_PASSWORD={MYSQL_PASSWORD}"),
        format!("MYSQL_TCP_PORT={port}"),
    ];
    dumps::allow_local_tool(cluster, "system-mysql", &["sh", "-c"], &env);
    dumps::wait_for_running_pod(cluster, "system-mysql");
    let inventory = dumps::pod_database("system-mysql", "mysql2", 3306, source.db.name());
    let fact = dump(&m, &source, Some(&inventory));
    assert!(
        fact["source"]
            .as_str()
            .is_some_and(|s| s.contains("pod system-mysql") && s.contains("exec")),
        "{fact}"
    );
    assert!(
        fact["pg_dump"]
            .as_str()
            .is_some_and(|s| s.starts_with("in pod system-mysql")),
        "{fact}"
    );
    let status = m.run(&["status"]);
    assert_no_password(&m, &[&status]);
}

#[test]
fn an_oracle_system_database_is_left_to_the_manual_ora2pg_procedure() {
    let toml = threescale_toml("convert", "customer", "no-access", "").replacen(
        "system_database_kind = \"postgresql\"",
        "system_database_kind = \"oracle\"",
        1,
    );
    let m = Migration::new("convert", &toml);
    let run = run_convert(&m, Some(None), &[]);
    let summary = failed_summary(&m, &run);
    assert!(
        summary.contains("Oracle") && summary.contains("ora2pg"),
        "{summary}"
    );
}

#[test]
fn rows_pgloader_rejects_fail_the_conversion_naming_the_table() {
    let source = seeded_source();
    // A schema that does not take the NULLs the source has in accounts.telephone_number.
    let target =
        target_with_schema("ALTER TABLE accounts ALTER COLUMN telephone_number SET NOT NULL");
    let m = migration(&source, &target, None);
    let run = run_convert(&m, Some(None), &[]);
    let summary = failed_summary(&m, &run);
    assert!(
        summary.contains("rejected") && summary.contains("public.accounts"),
        "{summary}"
    );
    assert!(
        summary.contains("telephone_number"),
        "pgloader's error: {summary}"
    );
    assert_no_password(&m, &[&run]);
}
