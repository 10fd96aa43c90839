//! The domain rewrite of a 3scale system database (`infra::rewrite`) against a real PostgreSQL
//! database on porta's schema, seeded as the sandbox seeds it.

use cutover::infra::pgtarget::PgTarget;
use cutover::infra::rewrite::{Rewrite, VERIFY_FAILED};
use cutover::sim::seed::porta_schema;
use cutover::sim::seed::{SeedTokens, Sizes, seed_system_database_with};

use crate::support::{PgDatabase, block_on};

const OLD: &str = "apps.source.test";
const NEW: &str = "apps.migration.test";

fn seeded() -> PgDatabase {
    seeded_with(OLD)
}

/// A system database of the sandbox's 3scale whose hosts are under `domain`.
fn seeded_with(domain: &'static str) -> PgDatabase {
    let db = PgDatabase::create();
    let url = db.url().to_string();
    block_on(|| async move {
        seed_system_database_with(
            &url,
            domain,
            &Sizes::default(),
            &SeedTokens::default(),
            porta_schema::source_release(),
        )
        .await
        .unwrap_or_else(|e| panic!("seed the database: {e:#}"))
    });
    db
}

fn target(db: &PgDatabase) -> PgTarget {
    PgTarget::by_url(db.url().to_string(), "test")
}

/// Every text value of the rewritten columns that still ends a host with the old domain.
fn old_hosts(db: &PgDatabase) -> i64 {
    db.query_one(&format!(
        "SELECT (SELECT count(*) FROM accounts WHERE domain LIKE '%.{OLD}' OR self_domain LIKE \
         '%.{OLD}') + (SELECT count(*) FROM proxies WHERE endpoint LIKE '%.{OLD}%' OR \
         sandbox_endpoint LIKE '%.{OLD}%')"
    ))
    .parse()
    .expect("a count")
}

#[test]
fn the_preview_changes_nothing_and_the_rewrite_moves_every_host_in_one_go() {
    let db = seeded();
    assert!(old_hosts(&db) > 0, "the seed uses the old domain");
    let rewrite = Rewrite::new(OLD, NEW).expect("domains");
    let preview = block_on(|| async { rewrite.preview(&target(&db)).await }).expect("preview");
    assert!(preview.total() > 0, "{preview:?}");
    assert!(old_hosts(&db) > 0, "the preview changed nothing");
    let domain = preview
        .changes
        .iter()
        .find(|c| c.column == "accounts.domain")
        .expect("a tenant domain");
    assert!(domain.before.ends_with(&format!(".{OLD}")), "{domain:?}");
    assert_eq!(
        domain.after,
        domain
            .before
            .replace(&format!(".{OLD}"), &format!(".{NEW}"))
    );
    let applied = block_on(|| async { rewrite.apply(&target(&db)).await }).expect("apply");
    let total: u64 = applied.iter().map(|(_, n)| n).sum();
    assert_eq!(total, preview.total(), "{applied:?}");
    assert_eq!(old_hosts(&db), 0);
    // The JSON of the promoted configs: only the listed paths.
    let content = db.query_one("SELECT content FROM proxy_configs ORDER BY id LIMIT 1");
    let json: serde_json::Value = serde_json::from_str(&content).expect("JSON");
    for path in [
        "/proxy/endpoint",
        "/proxy/sandbox_endpoint",
        "/proxy/hosts/0",
        "/proxy/backend/endpoint",
        "/proxy/backend/host",
    ] {
        let value = json.pointer(path).and_then(|v| v.as_str()).unwrap_or("");
        assert!(value.contains(&format!(".{NEW}")), "{path}: {value}");
    }
    // A policy's upstream on the old domain is the owner's to move: left, and reported.
    assert!(content.contains(&format!("legacy-api.{OLD}")), "{content}");
    assert!(
        preview
            .reported
            .iter()
            .any(|r| r.column.starts_with("proxy_configs.content")
                && r.before.contains(&format!("legacy-api.{OLD}"))),
        "{:?}",
        preview.reported
    );
    // Again: nothing left to do.
    let again = block_on(|| async { rewrite.preview(&target(&db)).await }).expect("preview");
    assert_eq!(again.total(), 0, "{again:?}");
}

#[test]
fn a_host_left_in_another_column_rolls_the_whole_rewrite_back() {
    let db = seeded();
    let before = db.query_one("SELECT string_agg(domain, ',' ORDER BY id) FROM accounts");
    // An old host where no rewrite goes: a setting's value.
    db.execute(&format!(
        "UPDATE services SET description = 'see https://docs.{OLD}/guide' \
         WHERE id = (SELECT min(id) FROM services)"
    ));
    let rewrite = Rewrite::new(OLD, NEW).expect("domains");
    let err = block_on(|| async { rewrite.apply(&target(&db)).await })
        .expect_err("the verification fails");
    let text = format!("{err:#}");
    assert!(
        text.contains(VERIFY_FAILED) && text.contains("services.description (1 rows)"),
        "{text}"
    );
    assert_eq!(
        db.query_one("SELECT string_agg(domain, ',' ORDER BY id) FROM accounts"),
        before,
        "rolled back"
    );
}

#[test]
fn a_longer_domain_that_only_contains_the_old_one_is_not_touched() {
    let db = seeded();
    let fake = format!("x.{OLD}.evil.example");
    db.execute(&format!(
        "UPDATE accounts SET domain = '{fake}' WHERE id = (SELECT max(id) FROM accounts)"
    ));
    let rewrite = Rewrite::new(OLD, NEW).expect("domains");
    let preview = block_on(|| async { rewrite.preview(&target(&db)).await }).expect("preview");
    assert!(
        preview.changes.iter().all(|c| c.before != fake),
        "not a suffix: {preview:?}"
    );
}

#[test]
fn the_manual_procedure_s_script_rewrites_the_same_columns() {
    let db = seeded();
    let step = cutover::runbook::all()
        .iter()
        .flat_map(|b| b.steps.iter())
        .find(|s| s.id.0 == "rewrite-routes-migration")
        .expect("the step");
    let procedure = step.procedure;
    let start = "cat > {dumps}/rewrite-routes.sql <<'SQL'\n";
    let from = procedure.find(start).expect("the script's start") + start.len();
    let to = from + procedure[from..].find("\nSQL\n").expect("the script's end");
    let dir = tempfile::tempdir().expect("temporary folder");
    let script = dir.path().join("rewrite-routes.sql");
    std::fs::write(&script, &procedure[from..to]).expect("write the script");
    let mut psql = std::process::Command::new("psql")
        .args([
            db.url(),
            "-X",
            "-q",
            "-v",
            &format!("old={OLD}"),
            "-v",
            &format!("new={NEW}"),
            "-f",
        ])
        .arg(&script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("psql runs");
    use std::io::Write;
    psql.stdin
        .take()
        .expect("stdin")
        .write_all(b"COMMIT\n")
        .expect("answer the prompt");
    let out = psql.wait_with_output().expect("psql ends");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(old_hosts(&db), 0);
    let content = db.query_one("SELECT content FROM proxy_configs ORDER BY id LIMIT 1");
    let json: serde_json::Value = serde_json::from_str(&content).expect("JSON");
    for path in ["/proxy/endpoint", "/proxy/hosts/0", "/proxy/backend/host"] {
        let value = json.pointer(path).and_then(|v| v.as_str()).unwrap_or("");
        assert!(value.contains(&format!(".{NEW}")), "{path}: {value}");
    }
    assert!(content.contains(&format!("legacy-api.{OLD}")), "{content}");
}

const STEP: &str = "rewrite-routes-migration";

/// A migration whose migration cluster's system database is `db` (by URL), every step before
/// the rewrite skipped.
fn migration(name: &str, db: &PgDatabase) -> crate::cli::Migration {
    let toml = crate::cli::threescale_toml(name, "red-hat", "limited", "").replace(
        "wildcard_domain = \"apps.migration.test\"\n",
        "wildcard_domain = \"apps.migration.test\"\nsystem_database_kind = \"postgresql\"\n\
         system_database_url = \"env:TEST_MIGRATION_DB\"\n",
    );
    let mut m = crate::cli::Migration::new(name, &toml);
    m.set_env("TEST_MIGRATION_DB", db.url());
    crate::cli::skip_steps(&m, None, STEP, None);
    m
}

fn run(m: &crate::cli::Migration, answer: Option<&str>) -> crate::cli::Run {
    let mut args = vec!["run", "--headless", "--until", STEP, "--confirm", STEP];
    let typed = answer.map(|a| format!("{STEP}={a}"));
    if let Some(t) = &typed {
        args.extend(["--confirm", t.as_str()]);
    }
    m.run(&args)
}

#[test]
fn the_step_previews_then_asks_then_rewrites_and_a_planted_host_rolls_it_back() {
    let db = seeded();
    db.execute(&format!(
        "UPDATE services SET description = 'see https://docs.{OLD}/guide' \
         WHERE id = (SELECT min(id) FROM services)"
    ));
    let m = migration("rewritestep", &db);
    // Without the phrase: the preview is written and shown, nothing changes.
    let asked = run(&m, None);
    asked.expect_code(3);
    assert!(
        asked
            .stderr
            .contains(&format!("--confirm {STEP}=\"rewrite routes\"")),
        "{}",
        asked.stderr
    );
    let preview = m
        .dir
        .path()
        .join("dumps")
        .join(format!("{STEP}-preview.txt"));
    let text = std::fs::read_to_string(&preview).expect("the preview file");
    assert!(
        text.contains("accounts.domain") && text.contains(&format!("→ 3scale.{NEW}")),
        "{text}"
    );
    assert!(
        asked.stdout.contains("accounts.self_domain: 2 rows"),
        "{}",
        asked.stdout
    );
    assert!(old_hosts(&db) > 0, "nothing changed");

    // The planted host in a column no rewrite goes to: rolled back, named.
    let refused = run(&m, Some("rewrite routes"));
    refused.expect_code(1);
    let done = crate::dumps::last_finished(&m, STEP);
    let summary = done["summary"].as_str().unwrap_or("");
    assert!(
        summary.contains("rolled back, nothing changed")
            && summary.contains("services.description (1 rows)"),
        "{summary}"
    );
    assert!(old_hosts(&db) > 0, "nothing changed");

    // The owner moved it: the rewrite goes through, and is recorded.
    db.execute("UPDATE services SET description = 'see the guide'");
    run(&m, Some("rewrite routes")).expect_code(0);
    assert_eq!(old_hosts(&db), 0);
    let done = crate::dumps::last_finished(&m, STEP);
    assert_eq!(done["outcome"], "passed", "{done}");
    assert!(done["figures"]["rows"].as_u64().unwrap_or(0) > 0, "{done}");
}

#[test]
fn a_rewrite_killed_in_its_transaction_is_all_or_nothing_and_the_resume_finishes_it() {
    let db = seeded();
    let before = old_hosts(&db);
    let m = migration("rewritekill", &db);
    // Another session holds the accounts table against writes: the preview reads it, the
    // rewrite.s transaction waits inside.
    let url = db.url().to_string();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        block_on(|| async move {
            let client = cutover::infra::pg::connect(&url, std::time::Duration::from_secs(30))
                .await
                .unwrap_or_else(|e| panic!("{e:#}"));
            client
                .batch_execute("BEGIN; LOCK TABLE accounts IN SHARE MODE;")
                .await
                .unwrap_or_else(|e| panic!("{e:#}"));
            let _ = locked_tx.send(());
            let _ = release_rx.recv();
            client
                .batch_execute("COMMIT")
                .await
                .unwrap_or_else(|e| panic!("{e:#}"));
        })
    });
    locked_rx.recv().expect("the lock is held");
    let typed = format!("{STEP}=rewrite routes");
    let mut child = m.spawn(&[
        "run",
        "--headless",
        "--until",
        STEP,
        "--confirm",
        STEP,
        "--confirm",
        &typed,
    ]);
    let waiting = |db: &PgDatabase| {
        db.query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
             AND query LIKE '%pg_temp.cutover_host%'",
        ) == "1"
    };
    crate::cli::wait_until("the rewrite waiting inside its transaction", || {
        waiting(&db)
    });
    child.kill().expect("kill -9");
    let _ = child.wait();
    let _ = release_tx.send(());
    holder.join().expect("the lock holder");
    // The killed client's transaction ends one way or the other, never half-way.
    crate::cli::wait_until("the killed rewrite's session to end", || {
        db.query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_temp.cutover_host%' \
             AND state <> 'idle' AND pid <> pg_backend_pid()",
        ) == "0"
    });
    let after_kill = old_hosts(&db);
    assert!(
        after_kill == before || after_kill == 0,
        "all or nothing: {after_kill} of {before}"
    );
    // The same command again: the interrupted step is re-checked, and done or run again.
    run(&m, Some("rewrite routes")).expect_code(0);
    assert_eq!(old_hosts(&db), 0);
    let (entries, _) = m.journal();
    assert_eq!(
        crate::cli::events(&entries, "step-rechecked", STEP).len(),
        1,
        "the interrupted attempt is re-checked"
    );
}

#[test]
fn the_destination_s_rewrite_needs_rhoam_to_route_under_the_configured_wildcard() {
    const DESTINATION_STEP: &str = "rewrite-routes-destination";
    // The migration cluster's database after the first rewrite and the upgrade.
    let db = seeded_with(NEW);
    let toml = crate::cli::threescale_toml("rewritedst", "red-hat", "limited", "").replace(
        "wildcard_domain = \"apps.migration.test\"\n",
        "wildcard_domain = \"apps.migration.test\"\nsystem_database_kind = \"postgresql\"\n\
         system_database_url = \"env:TEST_MIGRATION_DB\"\n",
    );
    let mut m = crate::cli::Migration::new("rewritedst", &toml);
    m.set_env("TEST_MIGRATION_DB", db.url());
    crate::cli::write_kubeconfigs(&mut m);
    crate::cli::skip_steps(&m, None, DESTINATION_STEP, None);
    let destination = &m.clusters.as_ref().expect("simulated clusters").destination;
    let mut rhmi = destination
        .get_object(
            "integreatly.org/v1alpha1",
            "RHMI",
            "redhat-rhoam-operator",
            "rhoam",
        )
        .expect("RHOAM's RHMI");
    assert_eq!(rhmi["spec"]["routingSubdomain"], "apps.rhoam.test");
    rhmi["spec"]["routingSubdomain"] = "apps.other.test".into();
    destination
        .apply_object(rhmi.clone())
        .expect("another subdomain");
    let typed = format!("{DESTINATION_STEP}=rewrite routes");
    let args = [
        "run",
        "--headless",
        "--until",
        DESTINATION_STEP,
        "--confirm",
        DESTINATION_STEP,
        "--confirm",
        &typed,
    ];
    m.run(&args).expect_code(1);
    let done = crate::dumps::last_finished(&m, DESTINATION_STEP);
    let summary = done["summary"].as_str().unwrap_or("");
    assert!(
        summary.contains("RHMI rhoam routes under `apps.other.test`")
            && summary.contains("Nothing was changed"),
        "{summary}"
    );
    let domains = || db.query_one("SELECT string_agg(domain, ',' ORDER BY id) FROM accounts");
    assert!(domains().contains(&format!(".{NEW}")), "untouched");

    rhmi["spec"]["routingSubdomain"] = "apps.rhoam.test".into();
    destination.apply_object(rhmi).expect("RHOAM's subdomain");
    m.run(&args).expect_code(0);
    assert!(
        domains().contains(".apps.rhoam.test") && !domains().contains(&format!(".{NEW}")),
        "{}",
        domains()
    );
}
