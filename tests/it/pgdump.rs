//! The PostgreSQL dump and restore steps run by the real binary, `cutover run --headless`,
//! against real databases: a source seeded as a 3scale system database, and an empty (or not
//! empty) migration cluster database. The steps before the one under test are recorded as
//! skipped in the journal first, so each run starts there. One test dumps through exec in the
//! `system-postgresql` pod of a simulated source, whose exec rule runs the real pg_dump.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use cutover::sim::seed::{Sizes, seed_system_database};
use cutover::steps::inventory::Inventory;
use serde_json::Value;

use crate::cli::{Migration, Run, events, threescale_toml, write_kubeconfigs};
use crate::dumps;
use crate::support::{PgDatabase, block_on};

const DUMP: &str = "dump-system-database";
const RESTORE: &str = "restore-system-database";
const GATE: &str = "restore system database";
const PASSWORD: &str = "pgdump-Secret-pw";

fn small() -> Sizes {
    Sizes {
        services: 3,
        applications_per_service: 4,
        ..Sizes::default()
    }
}

/// `url` with [`PASSWORD`] as its password (the test server trusts loopback connections, so
/// the password only has to travel, never to be checked); a URL that has one keeps it.
fn with_password(url: &str) -> (String, String) {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((user, host)) = rest.split_once('@')
    {
        if let Some((_, pw)) = user.split_once(':') {
            return (url.to_string(), pw.to_string());
        }
        return (
            format!("{scheme}://{user}:{PASSWORD}@{host}"),
            PASSWORD.to_string(),
        );
    }
    (url.to_string(), PASSWORD.to_string())
}

/// A seeded source system database.
fn seeded_source() -> PgDatabase {
    let db = PgDatabase::create();
    let url = db.url().to_string();
    block_on(|| async move {
        seed_system_database(&url, "apps.source.test", &small())
            .await
            .unwrap_or_else(|e| panic!("seed the source: {e:#}"))
    });
    db
}

/// Exact rows of every table of the public schema, `public.name` → rows.
fn counts(db: &PgDatabase) -> std::collections::BTreeMap<String, u64> {
    let out = std::process::Command::new("psql")
        .args(["-X", "-A", "-t", "-F", "|", "-d", db.url(), "-c"])
        .arg(
            "SELECT 'public.' || tablename, (xpath('/row/c/text()', query_to_xml(\
             format('SELECT count(*) AS c FROM ONLY public.%I', tablename), false, true, \
             '')))[1]::text FROM pg_tables WHERE schemaname = 'public'",
        )
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (t, n) = l.rsplit_once('|')?;
            Some((t.to_string(), n.trim().parse().ok()?))
        })
        .collect()
}

/// A customer's migration on the no-access path (the customer runs every step) whose source
/// and migration cluster system databases are `source` and `target`, through environment
/// variables, with passwords.
fn migration(source: &PgDatabase, target: &PgDatabase) -> Migration {
    let toml = threescale_toml(
        "pgdump",
        "customer",
        "no-access",
        "system_database_url = \"env:TEST_SOURCE_DB\"",
    )
    .replace(
        "wildcard_domain = \"apps.migration.test\"\n",
        "wildcard_domain = \"apps.migration.test\"\nsystem_database_kind = \"postgresql\"\n\
         system_database_url = \"env:TEST_TARGET_DB\"\n",
    );
    let mut m = Migration::new("pgdump", &toml);
    m.set_env("TEST_SOURCE_DB", &with_password(source.url()).0);
    m.set_env("TEST_TARGET_DB", &with_password(target.url()).0);
    m
}

fn dump_fact(m: &Migration) -> Value {
    let (entries, _) = m.journal();
    events(&entries, "step-fact", DUMP)
        .into_iter()
        .find(|e| e["key"] == "dump")
        .map(|e| e["value"].clone())
        .expect("the dump is recorded")
}

fn finished(m: &Migration, step: &str) -> Vec<Value> {
    let (entries, _) = m.journal();
    events(&entries, "step-finished", step)
        .into_iter()
        .cloned()
        .collect()
}

/// Runs the dump step from a fresh journal and checks what it recorded against the file and
/// the source.
fn dump(m: &Migration, source: &PgDatabase, inventory: Option<&Inventory>) -> Value {
    crate::cli::skip_steps(m, None, DUMP, inventory);
    let run = m.run(&["run", "--headless", "--until", DUMP]);
    run.expect_code(0);
    let fact = dump_fact(m);
    let path = PathBuf::from(fact["path"].as_str().expect("the dump's path"));
    assert_eq!(path, m.dir.path().join("dumps/system-database.dump"));
    let meta = std::fs::metadata(&path).expect("the dump is there");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "mode 0600");
    assert_eq!(fact["mode"], "0600");
    assert_eq!(fact["bytes"], meta.len());
    assert_eq!(fact["sha256"], dumps::sha256_of(&path));
    assert!(
        !m.dir
            .path()
            .join("dumps/system-database.dump.partial")
            .exists(),
        "no partial file is left"
    );
    let rows: std::collections::BTreeMap<String, u64> =
        serde_json::from_value(fact["rows"].clone()).expect("rows per table");
    assert_eq!(rows, counts(source), "exact counts of every table");
    assert!(rows["public.accounts"] > 0, "{rows:?}");
    assert_eq!(fact["table_data"], rows.len());
    let done = finished(m, DUMP);
    assert_eq!(done.last().expect("finished")["outcome"], "passed");
    fact
}

/// Runs the restore with its gate confirmed, the steps after the dumps recorded as skipped.
fn run_restore(m: &Migration) -> Run {
    crate::cli::skip_steps(m, Some("dump-zync-database"), RESTORE, None);
    m.run_confirmed(RESTORE, GATE)
}

/// Runs the restore with its gate and its question (`replace <database>`) answered.
fn run_replacing(m: &Migration, database: &str) -> Run {
    m.run(&[
        "run",
        "--headless",
        "--until",
        RESTORE,
        "--confirm",
        &format!("{RESTORE}=replace {database}"),
        "--confirm",
        &format!("{RESTORE}={GATE}"),
    ])
}

/// Everything the runs printed or kept: stdout and stderr of `runs`, the journal, the logs.
fn assert_no_password(m: &Migration, password: &str, runs: &[&Run]) {
    let journal = std::fs::read_to_string(m.journal_path()).expect("the journal");
    let mut texts = vec![("journal".to_string(), journal)];
    for (i, run) in runs.iter().enumerate() {
        texts.push((format!("run {i} stdout"), run.stdout.clone()));
        texts.push((format!("run {i} stderr"), run.stderr.clone()));
    }
    if let Ok(logs) = std::fs::read_dir(m.migration_dir().join("logs")) {
        for log in logs.flatten() {
            let text = std::fs::read_to_string(log.path()).unwrap_or_default();
            texts.push((log.path().display().to_string(), text));
        }
    }
    for (what, text) in texts {
        assert!(
            !text.contains(password),
            "{what} shows the password:\n{text}"
        );
    }
}

#[test]
fn a_dump_by_url_restores_into_an_empty_database_with_every_count_equal() {
    let source = seeded_source();
    let target = PgDatabase::create();
    let m = migration(&source, &target);
    let fact = dump(&m, &source, None);
    assert!(
        fact["rows_counted"]
            .as_str()
            .is_some_and(|s| s.contains("snapshot")),
        "{fact}"
    );
    assert!(fact["source"].as_str().is_some_and(|s| s.contains("***")));

    let restore = run_restore(&m);
    restore.expect_code(0);
    assert_eq!(counts(&target), counts(&source));
    let done = finished(&m, RESTORE);
    let result = done.last().expect("the restore finished");
    assert_eq!(result["outcome"], "passed", "{result}");
    assert_eq!(result["figures"]["replaced"], false);
    assert_eq!(result["figures"]["differences"], serde_json::json!([]));

    // The journal says the restore is done; status agrees.
    let status = m.status();
    assert_eq!(crate::cli::step(&status, RESTORE)["status"], "done");
    let run = m.run(&["status"]);
    assert_no_password(&m, &with_password(source.url()).1, &[&restore, &run]);
}

#[test]
fn a_restored_database_without_porta_triggers_fails_naming_them() {
    let source = seeded_source();
    // A database whose triggers were lost (a conversion that did not create them).
    source.execute(
        "DROP TRIGGER accounts_tenant_id ON accounts; DROP TRIGGER users_tenant_id ON users; \
         DROP FUNCTION sp_invoices_friendly_id",
    );
    let target = PgDatabase::create();
    let m = migration(&source, &target);
    dump(&m, &source, None);

    let restore = run_restore(&m);
    restore.expect_code(1);
    let done = finished(&m, RESTORE);
    let result = done.last().expect("the restore finished");
    assert_eq!(result["outcome"], "failed", "{result}");
    let summary = result["summary"].as_str().unwrap_or("");
    assert!(
        summary.contains("2 of the 76 tenant_id triggers of 3scale 2.14 are missing (accounts_tenant_id, users_tenant_id)"),
        "{summary}"
    );
    assert!(
        summary.contains("procedure sp_invoices_friendly_id is missing"),
        "{summary}"
    );
    assert!(
        summary.contains("rake multitenant:triggers db:procedures"),
        "{summary}"
    );
    // The rows themselves are all there.
    assert_eq!(counts(&target), counts(&source));
}

/// Components scale-down stopped that run again while the source is dumped (an operator it
/// could not hold, say) fail the dump: it may hold some of their writes and miss others.
#[test]
fn a_dump_during_which_stopped_components_run_again_fails() {
    let source = seeded_source();
    let target = PgDatabase::create();
    let mut m = migration(&source, &target);
    crate::cli::write_kubeconfigs(&mut m);
    crate::cli::skip_steps(&m, None, DUMP, None);
    // scale-down recorded system-app's 2 replicas; the source's system-app runs 2 again.
    {
        let (_, mut journal) = crate::cli::open_journal(&m);
        journal
            .append(cutover::journal::JournalEvent::StepFact {
                step: "scale-down".to_string(),
                key: "replicas/system-app".to_string(),
                value: serde_json::json!({ "replicas": 2 }),
            })
            .expect("record scale-down's count");
    }
    let run = m.run(&["run", "--headless", "--until", DUMP]);
    run.expect_code(1);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("components scale-down had stopped were running again: system-app (2 wanted"),
        "{all}"
    );
}

#[test]
fn a_changed_byte_in_the_dump_stops_the_restore_naming_the_file() {
    let source = seeded_source();
    let target = PgDatabase::create();
    let m = migration(&source, &target);
    let fact = dump(&m, &source, None);
    let path = PathBuf::from(fact["path"].as_str().expect("path"));
    dumps::flip_middle_byte(&path);

    let restore = run_restore(&m);
    restore.expect_code(1);
    let done = finished(&m, RESTORE);
    let result = done.last().expect("the restore finished");
    assert_eq!(result["outcome"], "failed", "{result}");
    let summary = result["summary"].as_str().unwrap_or("");
    assert!(
        summary.contains(&path.display().to_string()) && summary.contains("has changed"),
        "{summary}"
    );
    assert!(counts(&target).is_empty(), "nothing was restored");
    assert_no_password(&m, &with_password(source.url()).1, &[&restore]);
}

#[test]
fn a_target_that_holds_the_tables_is_not_restored_over_without_the_typed_phrase() {
    let source = seeded_source();
    let target = PgDatabase::create();
    target.execute("CREATE TABLE accounts (id bigint); INSERT INTO accounts VALUES (42);");
    let m = migration(&source, &target);
    dump(&m, &source, None);

    // The gate's phrase is not the answer to the question: refused, nothing restored.
    let restore = run_restore(&m);
    assert_ne!(restore.code, 0, "{}\n{}", restore.stdout, restore.stderr);
    let (entries, _) = m.journal();
    let question = events(&entries, "step-waiting", RESTORE)
        .into_iter()
        .find(|e| e["question"].is_string())
        .expect("the operator is asked");
    assert_eq!(question["phrase"], format!("replace {}", target.name()));
    assert!(
        question["question"]
            .as_str()
            .is_some_and(|q| q.contains("public.accounts")),
        "{question}"
    );
    let rows = counts(&target);
    assert_eq!(rows.len(), 1, "only the table that was there: {rows:?}");
    assert_eq!(rows["public.accounts"], 1);
    assert!(
        finished(&m, RESTORE)
            .iter()
            .all(|f| f["outcome"] != "passed"),
        "the restore did not pass"
    );

    // The gate and the question each take their own answer: the tables are replaced.
    let again = run_replacing(&m, target.name());
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    let rows = counts(&target);
    assert!(rows.len() > 1, "the dump's tables are there: {rows:?}");
    assert_ne!(rows["public.accounts"], 1, "accounts holds the dump's rows");
    assert!(
        finished(&m, RESTORE)
            .iter()
            .any(|f| f["outcome"] == "passed"),
        "the restore passed"
    );
    assert_no_password(&m, &with_password(source.url()).1, &[&restore, &again]);
}

#[test]
fn a_migration_database_only_its_cluster_reaches_is_restored_through_the_client_pod() {
    use base64::Engine;
    let source = seeded_source();
    let target = PgDatabase::create();
    target.execute("CREATE TABLE accounts (id bigint); INSERT INTO accounts VALUES (42);");
    // No migration cluster URL: its system-database secret holds it, inside the cluster.
    let toml = threescale_toml(
        "pgdump",
        "customer",
        "no-access",
        "system_database_url = \"env:TEST_SOURCE_DB\"",
    );
    let mut m = Migration::new("pgdump", &toml);
    m.set_env("TEST_SOURCE_DB", &with_password(source.url()).0);
    write_kubeconfigs(&mut m);
    let (target_url, target_password) = with_password(target.url());
    let migration = &m.clusters.as_ref().expect("simulated clusters").migration;
    migration
        .apply_object(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "system-database", "namespace": "3scale"},
            "data": {"URL": base64::engine::general_purpose::STANDARD.encode(&target_url)},
        }))
        .expect("the migration cluster's secret");
    for rule in cutover::sim::client_pod_rules() {
        migration.allow_exec(rule);
    }
    dump(&m, &source, None);

    // The question names the database the pod's psql found, and the tables it holds.
    crate::cli::skip_steps(&m, Some("dump-zync-database"), RESTORE, None);
    let run = run_replacing(&m, target.name());
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        counts(&target),
        counts(&source),
        "every row, through the pod"
    );
    let done = finished(&m, RESTORE);
    let result = done.last().expect("the restore finished");
    assert_eq!(result["outcome"], "passed", "{result}");
    assert_eq!(result["figures"]["replaced"], true);
    assert_eq!(
        result["figures"]["jobs"], 1,
        "one pg_restore, reading stdin"
    );
    assert!(
        result["figures"]["target"]
            .as_str()
            .is_some_and(|t| t.contains("cutover-pg-client")),
        "{result}"
    );
    let left = migration
        .list_objects("v1", "Pod", Some("3scale"), None)
        .iter()
        .filter(|p| p["metadata"]["name"] == cutover::infra::kube::CLIENT_POD)
        .count();
    assert_eq!(left, 0, "the client pod is deleted");
    assert_no_password(&m, &target_password, &[&run]);
}

#[test]
fn an_internal_database_is_dumped_through_exec_in_its_pod() {
    let source = seeded_source();
    // No source URL in the config: the inventory says the database is inside the namespace.
    let toml = threescale_toml("pgdump", "customer", "no-access", "");
    let mut m = Migration::new("pgdump", &toml);
    write_kubeconfigs(&mut m);
    let cluster = &m.clusters.as_ref().expect("simulated clusters").source;

    // In the pod, pg_dump and psql reach the database as the local superuser; here they run
    // against the test server with its address in the environment.
    let url = source.url();
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (user, host_port) = rest
        .split_once('/')
        .map_or(rest, |(a, _)| a)
        .rsplit_once('@')
        .unwrap_or(("postgres", "127.0.0.1:5432"));
    let user = user.split(':').next().unwrap_or("postgres");
    let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, "5432"));
    let env = [
        format!("PGHOST={host}"),
        format!("PGPORT={port}"),
        format!("PGUSER={user}"),
    ];
    for tool in ["pg_dump", "psql"] {
        dumps::allow_local_tool(cluster, "system-postgresql", &[tool], &env);
    }
    dumps::wait_for_running_pod(cluster, "system-postgresql");
    let inventory = dumps::pod_database("system-postgresql", "postgresql", 5432, source.name());
    let fact = dump(&m, &source, Some(&inventory));
    assert!(
        fact["source"]
            .as_str()
            .is_some_and(|s| s.contains("pod system-postgresql") && s.contains("exec")),
        "{fact}"
    );
    assert!(
        fact["pg_dump"]
            .as_str()
            .is_some_and(|s| s.starts_with("in pod system-postgresql")),
        "{fact}"
    );
}

/// `cutover pg` with `env:NAME` URLs.
fn pg_command(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = std::process::Command::new(crate::support::cutover_bin());
    cmd.arg("pg").args(args).stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run cutover pg");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn cutover_pg_dumps_and_restores_with_the_same_checks() {
    let source = seeded_source();
    let target = PgDatabase::create();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("system.dump");
    let file_arg = file.display().to_string();
    let (src_url, password) = with_password(source.url());
    let (dst_url, _) = with_password(target.url());
    let env = [("SRC", src_url.as_str()), ("DST", dst_url.as_str())];

    // A password on the command line is refused before anything runs.
    let inline = pg_command(&["dump", "--url", &src_url, "--to", &file_arg], &env);
    inline.expect_code(2);
    assert!(!file.exists());

    let dump = pg_command(&["dump", "--url", "env:SRC", "--to", &file_arg], &env);
    dump.expect_code(0);
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("system.dump.json")).expect("the record"),
    )
    .expect("JSON");
    assert_eq!(record["sha256"], dumps::sha256_of(&file));

    let restore = pg_command(&["restore", "--from", &file_arg, "--url", "env:DST"], &env);
    restore.expect_code(0);
    assert_eq!(counts(&target), counts(&source));

    // Again into the now full target: refused without --replace, replaced with it.
    let again = pg_command(&["restore", "--from", &file_arg, "--url", "env:DST"], &env);
    again.expect_code(1);
    assert!(again.stderr.contains("--replace"), "{}", again.stderr);
    let replaced = pg_command(
        &[
            "restore",
            "--from",
            &file_arg,
            "--url",
            "env:DST",
            "--replace",
        ],
        &env,
    );
    replaced.expect_code(0);
    assert_eq!(counts(&target), counts(&source));

    for run in [&inline, &dump, &restore, &again, &replaced] {
        for text in [&run.stdout, &run.stderr] {
            assert!(!text.contains(&password), "the password shows:\n{text}");
        }
    }
}
