//! `cutover rehearse`: the whole runbook against the sandbox, then nothing left running.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::cutover_bin;

fn rehearse(state: &Path, args: &[&str]) -> std::process::Output {
    Command::new(cutover_bin())
        .arg("rehearse")
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env_remove("CUTOVER_CONFIG")
        .env_remove("CUTOVER_STATE_DIR")
        .output()
        .expect("run cutover rehearse")
}

/// The config the rehearsal wrote (one per run).
fn written_config(state: &Path) -> PathBuf {
    std::fs::read_dir(state)
        .expect("state dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "toml"))
        .expect("the rehearsal writes its config into the state dir")
}

fn status(config: &Path) -> Value {
    let out = Command::new(cutover_bin())
        .args(["status", "--format", "json", "--config"])
        .arg(config)
        .env_remove("CUTOVER_STATE_DIR")
        .output()
        .expect("status");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn a_headless_rehearsal_runs_the_whole_runbook_through() {
    let state = tempfile::tempdir().expect("tempdir");
    let out = rehearse(state.path(), &["--headless"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("done: every step of this migration is done"),
        "{stdout}"
    );

    let config = written_config(state.path());
    let status = status(&config);
    assert_eq!(status["state"], "finished");
    let steps = status["steps"].as_array().expect("steps");
    assert!(steps.len() >= 35, "the whole runbook: {}", steps.len());
    for s in steps {
        assert!(
            s["status"] == "done" || s["status"] == "skipped",
            "{}: {}",
            s["id"],
            s["status"]
        );
        assert_eq!(s["operator"], "rehearsal operator", "{}", s["id"]);
    }
    let by_id = |id: &str| {
        steps
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("{id}"))
    };
    // The checks ran for real against the sandbox's clusters and servers.
    for check in [
        "check-kubeconfigs",
        "check-cluster-access",
        "check-redis",
        "check-postgresql",
        "check-dump-tools",
    ] {
        assert_eq!(
            by_id(check)["outcome"],
            "passed",
            "{check}: {}",
            by_id(check)["summary"]
        );
        assert_eq!(by_id(check)["runs_as"], "check");
    }
    // The still-manual steps and the hand-offs were confirmed as the rehearsal operator.
    let stop = by_id("stop-traffic");
    assert_eq!(stop["done_by_other_party"], true);
    assert_eq!(stop["confirmations"][0]["text"], "rehearsal operator");
    // The data moves for real on the migration cluster and the destination: behind their
    // typed gates, with the artifacts they read or write in the manifest.
    for (step, gate) in [
        ("restore-system-database", Some("restore system database")),
        ("dump-migration-database", None),
        (
            "seed-destination-database",
            Some("seed destination database"),
        ),
        ("restore-backend-redis", Some("restore analytics")),
        ("push-secrets", Some("push secrets")),
        ("verify-analytics", None),
    ] {
        let s = by_id(step);
        assert_eq!(s["outcome"], "passed", "{step}: {}", s["summary"]);
        assert_eq!(s["runs_as"], "automated", "{step}");
        if let Some(gate) = gate {
            assert_eq!(s["confirmations"][0]["need"], "typed", "{step}");
            assert_eq!(s["confirmations"][0]["text"], gate, "{step}");
        }
    }
    let folder = std::fs::read_dir(state.path())
        .expect("state dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.is_dir() && p.join("journal.jsonl").exists())
        .expect("the migration's folder");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(folder.join("artifacts/manifest.json"))
            .expect("the dumps are listed in artifacts/manifest.json"),
    )
    .expect("manifest json");
    let files: Vec<&str> = manifest["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .filter_map(|a| a["file"].as_str())
        .collect();
    for file in [
        "system-database.dump",
        "migration-system-database.dump",
        "destination-system-database-before-seed.dump",
    ] {
        assert!(files.contains(&file), "{file} in {files:?}");
    }
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("secrets/secret-system-seed")),
        "{files:?}"
    );
}

#[test]
fn a_rehearsal_stops_everything_it_started() {
    let state = tempfile::tempdir().expect("tempdir");
    let out = rehearse(state.path(), &["--headless", "--until", "check-redis"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = std::fs::read_to_string(written_config(state.path())).expect("config");
    let ports: Vec<u16> = config
        .lines()
        .filter(|l| l.contains("redis://127.0.0.1:") || l.contains("server"))
        .filter_map(|l| l.split("127.0.0.1:").nth(1))
        .filter_map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert!(
        !ports.is_empty(),
        "the config names the sandbox's Redis servers:\n{config}"
    );
    for port in ports {
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} still answers"
        );
    }
    let kubeconfig = std::fs::read_to_string(
        std::fs::read_dir(state.path())
            .expect("dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.is_dir() && p.to_string_lossy().ends_with("-sandbox"))
            .expect("sandbox dir")
            .join("kubeconfig"),
    )
    .expect("kubeconfig");
    for server in kubeconfig.split("http://127.0.0.1:").skip(1) {
        let port: u16 = server
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "API server {port} still answers"
        );
    }
}

#[test]
fn rehearse_without_a_mode_says_what_to_run() {
    let state = tempfile::tempdir().expect("tempdir");
    let out = rehearse(state.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--headless"));
}
