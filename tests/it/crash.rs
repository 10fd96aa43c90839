//! kill -9 at chosen points, then a restart: the run converges, nothing that had
//! finished runs again, and the journal stays intact.

use std::collections::HashMap;
use std::net::TcpListener;
use std::time::Duration;

use serde_json::Value;

use crate::cli::{Migration, events, read_journal, step, wait_until};
use crate::headless_run::migration_with_stores;
use crate::support::{PgDatabase, RedisServer};

/// Every line parses (or is a torn last line), sequence numbers follow each other,
/// and no step starts again after it finished with success.
fn assert_journal_sound(m: &Migration) {
    let (entries, _torn) = read_journal(&m.journal_path());
    let mut finished: HashMap<String, u64> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(
            e["seq"].as_u64(),
            Some(i as u64 + 1),
            "sequence at entry {i}: {e}"
        );
        let step = e["step"].as_str().unwrap_or_default().to_string();
        match e["event"].as_str() {
            Some("step-finished") if e["outcome"] == "passed" => {
                finished.insert(step, e["seq"].as_u64().unwrap_or(0));
            }
            Some("step-started") => assert!(
                !finished.contains_key(&step),
                "{step} started again after it had finished: {e}"
            ),
            _ => {}
        }
    }
}

fn kill9(child: &mut std::process::Child) {
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
}

#[test]
fn kill_inside_a_running_check_then_resume_rechecks_it() {
    let storage = RedisServer::start();
    let queues = RedisServer::start();
    let db = PgDatabase::create();
    let mut m = migration_with_stores(&storage, &queues, &db);
    // A listener that never answers: the PostgreSQL check hangs inside its step.
    let hole = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = hole.local_addr().expect("addr").port();
    m.set_env(
        "TEST_SOURCE_DB",
        &format!("postgresql://postgres@127.0.0.1:{port}/x"),
    );

    let mut child = m.spawn(&["run", "--headless"]);
    wait_until("check-postgresql to start", || {
        let (entries, _) = m.journal();
        !events(&entries, "step-started", "check-postgresql").is_empty()
    });
    kill9(&mut child);
    drop(hole);
    let status = m.status();
    assert_eq!(step(&status, "check-postgresql")["status"], "interrupted");
    assert!(
        status["lock"].is_null(),
        "a dead holder holds nothing: {}",
        status["lock"]
    );
    let (entries, _) = m.journal();
    assert!(events(&entries, "step-finished", "check-postgresql").is_empty());
    assert_eq!(events(&entries, "step-finished", "check-redis").len(), 1);
    let killed_pid = child.id();

    // The lock of the dead process is taken over, the interrupted check re-checked.
    m.set_env("TEST_SOURCE_DB", db.url());
    let resumed = m.run(&["run", "--headless"]);
    resumed.expect_code(3);
    assert!(
        resumed.stderr.contains("took over the lock"),
        "{}",
        resumed.stderr
    );
    assert!(resumed.stdout.contains("resuming"), "{}", resumed.stdout);
    let (entries, _) = m.journal();
    let takeover: Vec<&Value> = entries
        .iter()
        .filter(|e| e["event"] == "lock-taken-over")
        .collect();
    assert_eq!(takeover.len(), 1);
    assert_eq!(
        takeover[0]["previous_pid"].as_u64(),
        Some(killed_pid as u64)
    );
    let rechecked = events(&entries, "step-rechecked", "check-postgresql");
    assert_eq!(rechecked.len(), 1);
    assert_eq!(rechecked[0]["holds"], true, "{}", rechecked[0]);
    let finished = events(&entries, "step-finished", "check-postgresql");
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0]["outcome"], "passed");
    assert_eq!(
        events(&entries, "step-started", "check-redis").len(),
        1,
        "check-redis is not run twice"
    );
    assert_eq!(
        events(&entries, "step-started", "check-postgresql").len(),
        1,
        "verified, not re-run"
    );
    assert_journal_sound(&m);
    let status = m.status();
    assert_eq!(step(&status, "check-postgresql")["rechecks"], 1);
    assert_eq!(status["journal"]["lock_takeovers"], 1);
}

#[test]
fn kill_at_many_points_converges_to_the_same_end_state() {
    let storage = RedisServer::start();
    let queues = RedisServer::start();
    let db = PgDatabase::create();
    let m = migration_with_stores(&storage, &queues, &db);
    let mut kills = 0;
    for delay_ms in (0..200).step_by(8) {
        let mut child = m.spawn(&["run", "--headless"]);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let exited = child.try_wait().ok().flatten().is_some();
        kill9(&mut child);
        if !exited {
            kills += 1;
        }
        assert_journal_sound(&m);
        // The journal, torn or not, is readable by a watcher at every point.
        m.run(&["status", "--format", "json"]).expect_code(0);
    }
    assert!(kills > 0, "no run was killed; the sweep tested nothing");
    let last = m.run(&["run", "--headless"]);
    last.expect_code(3);
    assert!(
        last.stderr.contains("waiting: step agree-prerequisites"),
        "{}",
        last.stderr
    );
    assert_journal_sound(&m);
    let status = m.status();
    for check in [
        "check-kubeconfigs",
        "check-redis",
        "check-postgresql",
        "check-dump-tools",
        "check-disk-space",
    ] {
        assert_eq!(step(&status, check)["status"], "done", "{check}");
    }
}

#[test]
fn a_torn_last_line_is_reported_recorded_and_kept() {
    let mut m = Migration::new(
        "t",
        &crate::cli::threescale_toml("t", "customer", "limited", ""),
    );
    crate::cli::write_kubeconfigs(&mut m);
    m.run(&["run", "--headless"]).expect_code(3);
    let path = m.journal_path();
    let before = std::fs::read_to_string(&path).expect("journal");
    let torn_line = before.lines().count() + 1;
    let partial = r#"{"seq":999,"time":"2026-11-22T10:00:00Z","oper"#;
    std::fs::write(&path, format!("{before}{partial}")).expect("write");

    let status = m.run(&["status", "--format", "json"]);
    status.expect_code(0);
    assert!(
        status.stderr.contains(&format!("line {torn_line}")),
        "{}",
        status.stderr
    );
    assert_eq!(
        status.json()["journal"]["torn_last_line"]["line"],
        torn_line
    );

    let resumed = m.run(&["run", "--headless"]);
    resumed.expect_code(3);
    assert!(
        resumed.stderr.contains(&format!("line {torn_line}")),
        "{}",
        resumed.stderr
    );
    let after = std::fs::read_to_string(&path).expect("journal");
    assert!(
        after.starts_with(&format!("{before}{partial}\n")),
        "the torn line is kept as it was"
    );
    let (entries, _) = read_journal(&path);
    let ack: Vec<&Value> = entries
        .iter()
        .filter(|e| e["event"] == "torn-line-found")
        .collect();
    assert_eq!(ack.len(), 1);
    assert_eq!(ack[0]["line"], torn_line);
    let status = m.run(&["status", "--format", "json"]);
    assert!(!status.stderr.contains("incomplete"), "{}", status.stderr);
    assert_eq!(
        status.json()["journal"]["torn_lines_recorded"],
        serde_json::json!([torn_line])
    );
}
