//! `cutover run --headless` against real Redis and PostgreSQL servers.

use crate::cli::{Migration, SpawnCaptured, events, step, threescale_toml, write_kubeconfigs};
use crate::support::{PgDatabase, RedisServer};

/// A red-hat operator's migration whose source stores are real servers.
pub fn migration_with_stores(
    storage: &RedisServer,
    queues: &RedisServer,
    db: &PgDatabase,
) -> Migration {
    let extra = format!(
        "system_database_url = \"env:TEST_SOURCE_DB\"\n\
         backend_redis_storage_url = \"{}\"\nbackend_redis_queues_url = \"{}\"",
        storage.url(),
        queues.url_db(1)
    );
    let mut m = Migration::new(
        "acme",
        &threescale_toml("acme", "red-hat", "limited", &extra),
    );
    write_kubeconfigs(&mut m);
    m.set_env("TEST_SOURCE_DB", db.url());
    m
}

const CHECKS: &[&str] = &[
    "check-kubeconfigs",
    "check-redis",
    "check-postgresql",
    "check-dump-tools",
    "check-disk-space",
];

#[test]
fn passes_the_checks_stops_at_the_manual_step_and_continues_with_confirm() {
    let storage = RedisServer::start();
    let queues = RedisServer::start();
    let db = PgDatabase::create();
    storage.command(&["SET", "stats/{service:1}/hits", "42"]);
    db.execute("CREATE TABLE accounts (id bigint primary key, org_name text); INSERT INTO accounts VALUES (1, 'acme');");
    let m = migration_with_stores(&storage, &queues, &db);

    let first = m.run(&["run", "--headless"]);
    first.expect_code(3);
    assert!(
        first.stderr.contains("waiting: step agree-prerequisites"),
        "says which step waits:\n{}",
        first.stderr
    );
    assert!(
        first.stderr.contains("--confirm agree-prerequisites"),
        "{}",
        first.stderr
    );

    let (entries, torn) = m.journal();
    assert!(torn.is_none());
    for check in CHECKS {
        let finished = events(&entries, "step-finished", check);
        assert_eq!(finished.len(), 1, "{check} finished once");
        assert_eq!(
            finished[0]["outcome"], "passed",
            "{check}: {}",
            finished[0]["summary"]
        );
    }
    let pg = &events(&entries, "step-finished", "check-postgresql")[0]["figures"]["source.system_database_url"];
    assert!(pg["major"].as_u64().unwrap_or(0) >= 12, "{pg}");
    assert!(pg["size_bytes"].as_u64().unwrap_or(0) > 0, "{pg}");
    let redis = &events(&entries, "step-finished", "check-redis")[0]["figures"];
    assert_eq!(redis["source.backend_redis_storage_url"]["keys"], 1);
    assert!(
        events(&entries, "step-started", "check-mysql").is_empty(),
        "no MySQL check for a PostgreSQL source"
    );
    assert!(events(&entries, "step-started", "agree-prerequisites").is_empty());

    // Running again without the confirmation waits at the same step; nothing reruns.
    m.run(&["run", "--headless"]).expect_code(3);
    let (entries, _) = m.journal();
    for check in CHECKS {
        assert_eq!(
            events(&entries, "step-started", check).len(),
            1,
            "{check} ran once"
        );
    }

    // Confirmed: the manual step is done, the next (the customer's) is a hand-off.
    let second = m.run(&["run", "--headless", "--confirm", "agree-prerequisites"]);
    second.expect_code(3);
    assert!(
        second.stderr.contains("waiting: step stop-traffic"),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains("Customer's to do"),
        "{}",
        second.stderr
    );

    let third = m.run(&[
        "run",
        "--headless",
        "--confirm",
        "stop-traffic=Carla (ACME SRE)",
    ]);
    third.expect_code(3);
    assert!(
        third.stderr.contains("waiting: step drain-queues"),
        "{}",
        third.stderr
    );

    let status = m.status();
    assert_eq!(status["state"], "in-progress");
    for check in CHECKS {
        let s = step(&status, check);
        assert_eq!(s["status"], "done", "{check}");
        assert_eq!(s["operator"], "Test Operator");
        assert!(
            s["started_at"].is_string() && s["finished_at"].is_string(),
            "{s}"
        );
    }
    let agreed = step(&status, "agree-prerequisites");
    assert_eq!(agreed["status"], "done");
    assert_eq!(agreed["confirmations"][0]["need"], "manual");
    assert_eq!(agreed["confirmations"][0]["operator"], "Test Operator");
    assert!(
        agreed["confirmations"][0]["host"]
            .as_str()
            .is_some_and(|h| !h.is_empty())
    );
    let stopped = step(&status, "stop-traffic");
    assert_eq!(stopped["status"], "done");
    assert_eq!(stopped["hand_off"], true);
    assert_eq!(stopped["done_by_other_party"], true);
    assert_eq!(stopped["confirmations"][0]["need"], "hand-off");
    assert_eq!(stopped["confirmations"][0]["text"], "Carla (ACME SRE)");
    assert_eq!(stopped["confirmations"][0]["party"], "red-hat");
    assert_eq!(step(&status, "drain-queues")["status"], "pending");
}

fn customer_migration() -> Migration {
    let mut m = Migration::new(
        "cust",
        &threescale_toml("cust", "customer", "no-access", ""),
    );
    write_kubeconfigs(&mut m);
    m
}

#[test]
fn a_typed_gate_needs_its_exact_phrase() {
    let m = customer_migration();
    let agree = ["run", "--headless", "--confirm", "agree-prerequisites"];
    let run = m.run(&agree);
    run.expect_code(3);
    assert!(
        run.stderr
            .contains("--confirm stop-traffic=\"stop traffic\""),
        "{}",
        run.stderr
    );

    let no_text = m.run(&["run", "--headless", "--confirm", "stop-traffic"]);
    no_text.expect_code(2);
    assert!(
        no_text
            .stderr
            .contains("needs the typed phrase: stop traffic"),
        "{}",
        no_text.stderr
    );
    let wrong = m.run(&[
        "run",
        "--headless",
        "--confirm",
        "stop-traffic=stop  traffic",
    ]);
    wrong.expect_code(2);
    assert!(wrong.stderr.contains("does not match"), "{}", wrong.stderr);
    let (entries, _) = m.journal();
    assert!(
        events(&entries, "step-started", "stop-traffic").is_empty(),
        "refused answers start nothing"
    );
    assert!(events(&entries, "step-confirmed", "stop-traffic").is_empty());

    let right = m.run(&[
        "run",
        "--headless",
        "--confirm",
        "stop-traffic=stop traffic",
    ]);
    right.expect_code(3);
    assert!(
        right.stderr.contains("waiting: step drain-queues"),
        "{}",
        right.stderr
    );
    let (entries, _) = m.journal();
    let confirmed = events(&entries, "step-confirmed", "stop-traffic");
    assert_eq!(confirmed.len(), 1);
    assert_eq!(confirmed[0]["text"], "stop traffic");
    assert_eq!(confirmed[0]["party"], "customer");
    assert_eq!(confirmed[0]["operator"], "Test Operator");
}

#[test]
fn until_stops_after_the_named_step() {
    let m = customer_migration();
    m.run(&["run", "--headless", "--until", "check-kubeconfigs"])
        .expect_code(0);
    let status = m.status();
    assert_eq!(step(&status, "check-kubeconfigs")["status"], "done");
    assert_eq!(step(&status, "check-redis")["status"], "pending");
    // Already there: stops at once, starts nothing.
    let entries_before = m.journal().0.len();
    m.run(&["run", "--headless", "--until", "check-kubeconfigs"])
        .expect_code(0);
    let (entries, _) = m.journal();
    assert!(
        entries[entries_before..]
            .iter()
            .all(|e| e["event"] != "step-started")
    );
}

#[test]
fn a_waiting_step_can_be_skipped_with_a_recorded_reason() {
    let m = customer_migration();
    let no_reason = m.run(&["run", "--headless", "--skip", "agree-prerequisites"]);
    no_reason.expect_code(2);
    assert!(
        no_reason.stderr.contains("give the reason"),
        "{}",
        no_reason.stderr
    );
    let run = m.run(&[
        "run",
        "--headless",
        "--skip",
        "agree-prerequisites=agreed in the kickoff call",
    ]);
    run.expect_code(3);
    assert!(
        run.stderr.contains("waiting: step stop-traffic"),
        "{}",
        run.stderr
    );
    let status = m.status();
    let skipped = step(&status, "agree-prerequisites");
    assert_eq!(skipped["status"], "skipped");
    assert_eq!(skipped["summary"], "skipped: agreed in the kickoff call");
    assert_eq!(skipped["operator"], "Test Operator");
    let (entries, _) = m.journal();
    assert!(events(&entries, "step-started", "agree-prerequisites").is_empty());
}

#[test]
fn a_failing_check_exits_1_and_is_retried_on_the_next_run() {
    let refusing = crate::support::RefusingPort::new();
    let dead = refusing.port();
    let extra = format!("backend_redis_storage_url = \"redis://127.0.0.1:{dead}/0\"");
    let mut m = Migration::new("f", &threescale_toml("f", "customer", "limited", &extra));
    write_kubeconfigs(&mut m);
    let run = m.run(&["run", "--headless"]);
    run.expect_code(1);
    assert!(run.stderr.contains("check-redis failed"), "{}", run.stderr);
    assert!(
        run.stdout.contains(&format!("127.0.0.1:{dead}")),
        "names the server:\n{}",
        run.stdout
    );
    m.run(&["run", "--headless"]).expect_code(1);
    let status = m.status();
    assert_eq!(status["state"], "failed");
    assert_eq!(step(&status, "check-redis")["attempts"], 2);
    assert!(m.migration_dir().join("logs/check-redis.log").exists());
}

#[test]
fn status_works_before_any_run() {
    let m = customer_migration();
    let status = m.status();
    assert_eq!(status["state"], "not-started");
    assert_eq!(status["journal"]["entries"], 0);
    assert!(status["steps"].as_array().is_some_and(|s| s.len() > 20));
    let text = m.run(&["status"]);
    text.expect_code(0);
    assert!(text.stdout.contains("not-started"));
}

#[test]
fn a_mysql_source_is_checked_with_its_server_and_pgloader() {
    let db = crate::support::MariaDb::create();
    db.execute("CREATE TABLE accounts (id bigint primary key, org_name varchar(255)); INSERT INTO accounts VALUES (1, 'acme');");
    let toml = threescale_toml("my", "customer", "limited", "").replace(
        "system_database_kind = \"postgresql\"",
        "system_database_kind = \"mysql\"\nsystem_database_url = \"env:TEST_MYSQL_URL\"",
    );
    let mut m = Migration::new("my", &toml);
    write_kubeconfigs(&mut m);
    m.set_env("TEST_MYSQL_URL", db.url());
    let run = m.run(&["run", "--headless", "--until", "check-dump-tools"]);
    run.expect_code(0);
    let (entries, _) = m.journal();
    let mysql = events(&entries, "step-finished", "check-mysql");
    assert_eq!(mysql.len(), 1);
    assert_eq!(mysql[0]["outcome"], "passed", "{}", mysql[0]);
    assert_eq!(
        mysql[0]["figures"]["source.system_database_url"]["flavor"],
        "MariaDB"
    );
    let tools = &events(&entries, "step-finished", "check-dump-tools")[0];
    assert_eq!(tools["outcome"], "passed", "{tools}");
    assert!(
        tools["figures"]["pgloader"]["version"].is_string(),
        "{tools}"
    );
    assert!(
        tools["figures"]["mysqldump"]["version"].is_string(),
        "{tools}"
    );
}

#[test]
fn sigterm_inside_a_step_lets_it_finish_then_pauses_with_exit_3() {
    let storage = RedisServer::start();
    let queues = RedisServer::start();
    let db = PgDatabase::create();
    let m = migration_with_stores(&storage, &queues, &db);
    storage.freeze();
    let child = m.command(&["run", "--headless"]).output_in_background();
    crate::cli::wait_until("check-redis to start", || {
        let (entries, _) = m.journal();
        !events(&entries, "step-started", "check-redis").is_empty()
    });
    crate::support::signal_pid(child.id(), rustix::process::Signal::TERM);
    // The engine has the stop request before the step can end: Redis is still frozen.
    crate::cli::wait_until("the engine to acknowledge the signal", || {
        child
            .stdout_so_far()
            .contains("stopping after check-redis finishes")
    });
    storage.thaw();
    let run = child.finish();
    run.expect_code(3);
    assert!(run.stderr.contains("interrupted"), "{}", run.stderr);
    let (entries, _) = m.journal();
    let finished = events(&entries, "step-finished", "check-redis");
    assert_eq!(finished.len(), 1, "the running step ends and is journaled");
    assert_eq!(finished[0]["outcome"], "passed");
    assert!(
        events(&entries, "step-started", "check-postgresql").is_empty(),
        "nothing starts after the signal"
    );
    let last = entries.last().expect("entries");
    assert_eq!(last["event"], "session-ended");
    // The next run goes on from there.
    let next = m.run(&["run", "--headless"]);
    next.expect_code(3);
    assert!(
        next.stderr.contains("waiting: step agree-prerequisites"),
        "{}",
        next.stderr
    );
}

#[test]
fn a_step_whose_condition_the_config_leaves_open_asks_to_run_or_skip() {
    let toml = threescale_toml("c", "customer", "limited", "")
        .replace("system_database_kind = \"postgresql\"\n", "");
    let mut m = Migration::new("c", &toml);
    write_kubeconfigs(&mut m);
    let run = m.run(&["run", "--headless"]);
    run.expect_code(3);
    assert!(
        run.stderr.contains("waiting: step check-mysql"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("only if the source system database is mysql"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--skip check-mysql="), "{}", run.stderr);
    // Confirmed: the check itself runs (and finds no MySQL URL to probe).
    let run = m.run(&[
        "run",
        "--headless",
        "--confirm",
        "check-mysql",
        "--until",
        "check-mysql",
    ]);
    run.expect_code(0);
    let (entries, _) = m.journal();
    let started = events(&entries, "step-started", "check-mysql");
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["runs_as"], "check");
    assert_eq!(
        events(&entries, "step-finished", "check-mysql")[0]["outcome"],
        "not-applicable"
    );
}
