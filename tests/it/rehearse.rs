//! `cutover rehearse`: the whole runbook against the sandbox, then nothing left running; a
//! rehearsal stopped part-way (`--until`, a quit, a kill -9) resumed by the same command from
//! its sandbox's saved state; `--new`; a sandbox whose state is gone refused with exit 2.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::cli::read_journal;
use crate::support::cutover_bin;

/// Long enough for a rehearsal's step on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(120);

pub(crate) fn command(state: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(cutover_bin());
    cmd.arg("rehearse")
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env_remove("CUTOVER_CONFIG")
        .env_remove("CUTOVER_STATE_DIR");
    cmd
}

fn rehearse(state: &Path, args: &[&str]) -> std::process::Output {
    command(state, args).output().expect("run cutover rehearse")
}

/// `cutover rehearse` with `args`, which must exit with `code`; its stdout and stderr.
pub(crate) fn rehearse_expecting(state: &Path, args: &[&str], code: i32) -> (String, String) {
    let out = rehearse(state, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "cutover rehearse {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

/// A state folder for rehearsals (one the user `postgres` can reach, for a sandbox with a
/// PostgreSQL of its own); whatever paused rehearsal is left in it has its sandbox removed
/// when the test ends, so no database stays on a shared server.
pub(crate) struct StateDir {
    dir: tempfile::TempDir,
}

impl StateDir {
    pub(crate) fn new() -> StateDir {
        StateDir {
            dir: crate::sandbox::reachable_tempdir(),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = rehearse(self.path(), &["--discard"]);
    }
}

/// Resumes the killed rehearsal `name` with `--headless` to its end: its stdout.
pub(crate) fn resumed_to_the_end(state: &Path, name: &str) -> String {
    let (stdout, stderr) = rehearse_expecting(state, &["--headless"], 0);
    assert!(stdout.contains(&format!("resuming {name}")), "{stdout}");
    assert!(stderr.contains("took over the lock"), "{stderr}");
    assert!(
        stdout.contains("done: every step of this migration is done"),
        "{stdout}"
    );
    stdout
}

/// A child process killed when the test ends, however it ends.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The rehearsals of `state`, oldest first: (name, sandbox folder).
pub(crate) fn rehearsals(state: &Path) -> Vec<(String, PathBuf)> {
    let mut names: Vec<String> = std::fs::read_dir(state)
        .expect("state dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|f| f.strip_suffix(".toml").map(str::to_string))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let sandbox = state.join(format!("{n}-sandbox"));
            (n, sandbox)
        })
        .collect()
}

pub(crate) fn journal(state: &Path, name: &str) -> Vec<Value> {
    read_journal(&state.join(name).join("journal.jsonl")).0
}

/// How many `step-started` the journal has for each step.
fn starts(entries: &[Value]) -> std::collections::BTreeMap<String, usize> {
    let mut count = std::collections::BTreeMap::new();
    for e in entries.iter().filter(|e| e["event"] == "step-started") {
        *count
            .entry(e["step"].as_str().unwrap_or_default().to_string())
            .or_insert(0) += 1;
    }
    count
}

pub(crate) fn manifest(sandbox: &Path) -> Value {
    let text = std::fs::read_to_string(sandbox.join("sandbox.json")).expect("sandbox.json");
    serde_json::from_str(&text).expect("sandbox.json is JSON")
}

/// Runs `sql` on the PostgreSQL that holds the sandbox's databases (`manifest`): the one at its
/// admin URL, or its own cluster, started for the call from its folder (stopped: the sandbox
/// is not running).
fn on_sandbox_postgres(sandbox: &Path, manifest: &Value, database: Option<&str>, sql: &str) {
    use cutover::sim::servers::PgServer;
    let server = match manifest["postgres"]["kept_cluster_port"].as_u64() {
        Some(port) => PgServer::kept_cluster(
            &sandbox.join("postgres"),
            Some(u16::try_from(port).expect("a port")),
        ),
        None => PgServer::at(
            manifest["postgres"]["admin_url"]
                .as_str()
                .expect("admin url"),
        ),
    }
    .unwrap_or_else(|e| panic!("{e:#}"));
    let url = match database {
        Some(db) => cutover::infra::url::with_database(server.admin_url(), db),
        None => server.admin_url().to_string(),
    };
    let sql = sql.to_string();
    crate::support::block_on(|| async move {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        tokio::spawn(conn);
        client
            .batch_execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    });
}

/// Whether the databases `manifest` names exist on the server it names.
fn databases_left(manifest: &Value) -> Vec<String> {
    let url = manifest["postgres"]["admin_url"]
        .as_str()
        .expect("admin url")
        .to_string();
    let names: Vec<String> = manifest["databases"]
        .as_object()
        .expect("databases")
        .values()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    crate::support::block_on(|| async move {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        tokio::spawn(conn);
        let rows = client
            .query(
                "SELECT datname FROM pg_database WHERE datname = ANY($1)",
                &[&names],
            )
            .await
            .expect("pg_database");
        rows.iter().map(|r| r.get::<_, String>(0)).collect()
    })
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
    let state = StateDir::new();
    let out = rehearse(
        state.path(),
        &["--headless", "--source-database", "postgresql"],
    );
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
        ("restore-destination-3scale", None),
        ("connect-migration-3scale", None),
    ] {
        let s = by_id(step);
        assert_eq!(s["outcome"], "passed", "{step}: {}", s["summary"]);
        assert_eq!(s["runs_as"], "automated", "{step}");
        if let Some(gate) = gate {
            assert_eq!(s["confirmations"][0]["need"], "typed", "{step}");
            assert_eq!(s["confirmations"][0]["text"], gate, "{step}");
        }
    }
    // RHOAM started on the migrated data, and zync routes its hosts: the rake tasks ran in the
    // destination's system pod.
    let started = by_id("restore-destination-3scale");
    assert!(
        started["summary"].as_str().is_some_and(|s| s
            .contains("master.apps.rhoam.sandbox.test → system-master")
            && s.contains("backend's configuration rewrite is enqueued")),
        "{started}"
    );
    // 3scale started on the migration cluster's rewritten data: the source's secrets from the
    // dump, the APIManager created, zync's routes under the migration wildcard.
    // The destination's rewrite held the migration cluster's writers before its transaction.
    let rewrite = by_id("rewrite-routes-destination");
    assert!(
        rewrite["summary"].as_str().is_some_and(|s| s.contains(
            "the migration cluster's writers (system-app, system-sidekiq, zync-que) held at 0"
        ) && s
            .contains("routes resynced when 3scale starts at the destination")),
        "{rewrite}"
    );
    let verified = by_id("verify-installation");
    assert!(
        verified["summary"]
            .as_str()
            .is_some_and(|s| s.contains("answered 200") && s.contains("none on an old domain")),
        "{verified}"
    );
    let connected = by_id("connect-migration-3scale");
    assert!(
        connected["summary"].as_str().is_some_and(|s| s
            .contains("master.apps.migration.sandbox.test → system-master")
            && s.contains("8 object(s) of the source applied")),
        "{connected}"
    );
    // The destination checks went through the sandbox's porta API, for their own reasons:
    // the migrated master and tenant on their plans, the pushed tokens the seeded database's,
    // the tenant approved, and RHOAM's rhsso created on the migrated tenant by its reconciler
    // (the stand-in at configure-destination-3scale) on RHOAM's Keycloak.
    for (step, says) in [
        ("check-master-plan", "\"Master Plan\""),
        (
            "check-master-access",
            "MASTER_ACCESS_TOKEN of secret system-seed",
        ),
        ("check-default-tenant", "approved"),
        (
            "check-sso-integrations",
            "keycloak-edge-redhat-rhoam-rhsso.",
        ),
    ] {
        let s = by_id(step);
        assert_eq!(s["outcome"], "passed", "{step}: {}", s["summary"]);
        assert_eq!(s["runs_as"], "check", "{step}");
        let summary = s["summary"].as_str().unwrap_or_default();
        assert!(summary.contains(says), "{step}: {summary}");
    }
    let folder = std::fs::read_dir(state.path())
        .expect("state dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.is_dir() && p.join("journal.jsonl").exists())
        .expect("the migration's folder");
    let artifacts: Value = serde_json::from_str(
        &std::fs::read_to_string(folder.join("artifacts/manifest.json"))
            .expect("the dumps are listed in artifacts/manifest.json"),
    )
    .expect("manifest json");
    let files: Vec<&str> = artifacts["artifacts"]
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
    // Finished: the sandbox's state is removed, its databases with it.
    let (_, sandbox) = &rehearsals(state.path())[0];
    let m = manifest(sandbox);
    assert_eq!(m["state"], "removed", "{m}");
    assert!(!sandbox.join("redis").exists() && !sandbox.join("clusters").exists());
    if m["postgres"]["kept_cluster_port"].is_null() {
        assert_eq!(databases_left(&m), Vec::<String>::new());
    }
}

#[test]
fn a_mysql_source_is_converted_upgraded_and_seeded_and_rhoam_s_triggers_fill_new_rows() {
    let state = StateDir::new();
    // MySQL is the default source, as it is 3scale's.
    let until = ["--headless", "--until", "check-rhoam-users"];
    let (stdout, _) = rehearse_expecting(state.path(), &until, 0);
    let [(name, sandbox)] = &rehearsals(state.path())[..] else {
        panic!("one rehearsal");
    };
    let entries = journal(state.path(), name);
    let finished = |step: &str| -> Value {
        entries
            .iter()
            .rev()
            .find(|e| e["event"] == "step-finished" && e["step"] == step)
            .cloned()
            .unwrap_or_else(|| panic!("{step} finished:\n{stdout}"))
    };
    for step in [
        "check-mysql",
        "convert-system-database",
        "dump-migration-database",
        "seed-destination-database",
    ] {
        assert_eq!(
            finished(step)["outcome"],
            "passed",
            "{step}: {}",
            finished(step)
        );
    }
    assert!(
        !entries
            .iter()
            .any(|e| e["step"] == "restore-system-database" && e["event"] == "step-started"),
        "a MySQL source is converted, not restored"
    );
    let converted = finished("convert-system-database");
    assert_eq!(converted["figures"]["release"], "2.14", "{converted}");
    assert_eq!(converted["figures"]["triggers"], 76, "{converted}");
    // The upgrade ran its two hops through OLM and the operator, whose system-app-pre Jobs
    // migrated the database (the schema-version gate below agrees).
    let upgraded = finished("upgrade-3scale");
    assert_eq!(upgraded["outcome"], "passed", "{upgraded}");
    assert_eq!(upgraded["figures"]["hops_done"], 2, "{upgraded}");
    assert!(
        upgraded["summary"]
            .as_str()
            .is_some_and(|s| s.contains("upgraded 2.14 → 2.16 (2.15, 2.16)")),
        "{upgraded}"
    );
    for hop in ["hop-2.15", "hop-2.16"] {
        assert!(
            entries.iter().any(|e| e["event"] == "step-fact"
                && e["step"] == "upgrade-3scale"
                && e["key"] == hop),
            "{hop} recorded"
        );
    }
    assert!(
        stdout.contains("schema versions agree") && stdout.contains("(3scale 2.16)"),
        "{stdout}"
    );

    // RHOAM's RH-SSO knows one of the two migrated members (alice.ops): resuming RHOAM would
    // delete the other and the impersonation admin, never ADMIN_USER; that was typed to go on.
    let users = finished("check-rhoam-users");
    assert_eq!(users["outcome"], "passed", "{users}");
    let names: Vec<&str> = users["figures"]["would_delete"]
        .as_array()
        .expect("would_delete")
        .iter()
        .filter_map(|u| u["username"].as_str())
        .collect();
    assert_eq!(names, ["3scaleadmin", "bob.dev"], "{users}");
    assert_eq!(users["figures"]["accepted"], true, "{users}");
    assert!(
        entries.iter().any(|e| e["event"] == "step-confirmed"
            && e["step"] == "check-rhoam-users"
            && e["text"] == "accept deleting 2 users"),
        "the typed acceptance is journaled"
    );
    let list_file = state
        .path()
        .join(name)
        .join("artifacts/rhoam-users-to-delete.txt");
    let list = std::fs::read_to_string(&list_file).expect("the list of users RHOAM would delete");
    assert!(
        list.contains("\tbob.dev\n") && !list.contains("alice.ops"),
        "{list}"
    );

    // RHOAM's database now holds the converted data with 2.16's triggers: a buyer signing up
    // gets its tenant from them.
    let m = manifest(sandbox);
    assert!(m["mariadb"]["database"].is_string(), "{m}");
    let rhoam = m["databases"]["sandbox_rhoam_system"]
        .as_str()
        .expect("RHOAM's database");
    on_sandbox_postgres(
        sandbox,
        &m,
        Some(rhoam),
        "DO $$ DECLARE t bigint; p bigint; BEGIN \
         SELECT id INTO p FROM accounts WHERE provider AND NOT coalesce(master, false) LIMIT 1; \
         INSERT INTO accounts (org_name, created_at, buyer, provider_account_id) \
         VALUES ('Signed up after the seed', now(), true, p) RETURNING tenant_id INTO t; \
         IF p IS NULL OR t IS DISTINCT FROM p THEN \
           RAISE EXCEPTION 'the new buyer got tenant % instead of %', t, p; END IF; \
         IF (SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal) <> 77 THEN \
           RAISE EXCEPTION 'not 2.16''s 77 triggers'; END IF; END $$",
    );
}

#[test]
fn a_rehearsal_stops_everything_it_started() {
    let state = StateDir::new();
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

/// Reads `child`'s stdout lines on a thread of its own, so the test can wait for one with a
/// bound.
pub(crate) fn lines_of(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// The lines up to (and with) the first that contains `text`.
pub(crate) fn wait_line(lines: &std::sync::mpsc::Receiver<String>, text: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + PATIENCE;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(text);
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no line with {text:?}; got:\n{}", seen.join("\n"));
}

#[test]
fn a_rehearsal_stopped_with_until_is_resumed_by_the_same_command() {
    let state = StateDir::new();
    let until = [
        "--headless",
        "--until",
        "restore-system-database",
        "--source-database",
        "postgresql",
    ];
    rehearse_expecting(state.path(), &until, 0);
    let [(name, sandbox)] = &rehearsals(state.path())[..] else {
        panic!("one rehearsal");
    };
    // The destination's porta API has a port of its own, kept, which the config names.
    let api_port = manifest(sandbox)["threescale_api"]
        .as_u64()
        .expect("the API's port in sandbox.json");
    let api = format!("threescale_api = \"http://127.0.0.1:{api_port}\"");
    let config_text = || std::fs::read_to_string(written_config(state.path())).expect("config");
    assert!(config_text().contains(&api), "{}", config_text());
    let first = journal(state.path(), name);
    let dumped = first
        .iter()
        .find(|e| e["event"] == "step-fact" && e["step"] == "restore-system-database")
        .and_then(|e| e["value"]["rows"]["public.accounts"].as_i64())
        .expect("the restored dump's account rows");

    // The same command again: the same rehearsal, nothing done again.
    let (stdout, _) = rehearse_expecting(state.path(), &until, 0);
    assert!(stdout.contains(&format!("resuming {name}")), "{stdout}");
    assert_eq!(starts(&journal(state.path(), name)), starts(&first));

    // The sandbox alone, started again from its state: the migration database still holds
    // what the restore wrote into it before the stop.
    let mut serve = Running(
        command(state.path(), &["--serve"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("rehearse --serve"),
    );
    let lines = lines_of(&mut serve.0);
    let shown = wait_line(&lines, "serving until Ctrl-C");
    assert!(
        shown
            .iter()
            .any(|l| l.contains(&format!("resuming {name}"))),
        "{shown:?}"
    );
    let url = shown
        .iter()
        .find_map(|l| l.strip_prefix("migration database:"))
        .map(|u| u.trim().to_string())
        .expect("the migration database's URL");
    let accounts = crate::support::block_on(|| async move {
        let client = crate::sim_seed::pg(&url).await;
        crate::sim_seed::count(&client, "SELECT count(*) FROM accounts").await
    });
    assert_eq!(accounts, dumped, "the restored rows are still there");
    crate::support::signal_pid(serve.0.id(), rustix::process::Signal::TERM);
    wait_line(&lines, "sandbox stopped; its state stays");

    // Without --until: on to the end, every step started once over the three runs.
    let (stdout, _) = rehearse_expecting(state.path(), &["--headless"], 0);
    assert!(
        stdout.contains("done: every step of this migration is done"),
        "{stdout}"
    );
    let entries = journal(state.path(), name);
    let started = starts(&entries);
    assert!(started.len() >= 35, "{started:?}");
    assert!(started.values().all(|n| *n == 1), "{started:?}");
    assert!(stdout.contains("its state was removed"), "{stdout}");
    // Resumed twice, the API came back on its port, and the checks reached it there.
    assert_eq!(manifest(sandbox)["threescale_api"].as_u64(), Some(api_port));
    assert!(config_text().contains(&api), "{}", config_text());
    for check in ["check-master-access", "check-default-tenant"] {
        let done = entries
            .iter()
            .rev()
            .find(|e| e["event"] == "step-finished" && e["step"] == check)
            .unwrap_or_else(|| panic!("{check} finished"));
        assert_eq!(done["outcome"], "passed", "{check}: {}", done["summary"]);
    }
}

#[test]
fn a_killed_headless_rehearsal_is_resumed_by_the_same_command() {
    let state = StateDir::new();
    let mut run = Running(
        command(state.path(), &["--headless"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rehearse --headless"),
    );
    // Killed while the destination's database is being seeded (or just after).
    let deadline = std::time::Instant::now() + PATIENCE;
    let name = loop {
        let found = rehearsals(state.path()).into_iter().find_map(|(name, _)| {
            let entries = journal(state.path(), &name);
            entries
                .iter()
                .any(|e| e["event"] == "step-started" && e["step"] == "seed-destination-database")
                .then_some(name)
        });
        if let Some(name) = found {
            break name;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "seed-destination-database never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    run.0.kill().expect("kill -9");
    let status = run.0.wait().expect("wait");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    let before = journal(state.path(), &name);
    let finished_before: Vec<String> = before
        .iter()
        .filter(|e| e["event"] == "step-finished")
        .filter_map(|e| e["step"].as_str().map(str::to_string))
        .collect();

    resumed_to_the_end(state.path(), &name);
    let entries = journal(state.path(), &name);
    let started = starts(&entries);
    for step in &finished_before {
        assert_eq!(
            started[step], 1,
            "{step} was done before the kill: {started:?}"
        );
    }
    let interrupted: Vec<&String> = started.keys().filter(|s| started[*s] > 1).collect();
    assert!(
        interrupted
            .iter()
            .all(|s| *s == "seed-destination-database"),
        "only the step cut short may run again: {started:?}"
    );
    if !finished_before
        .iter()
        .any(|s| s == "seed-destination-database")
    {
        assert!(
            entries.iter().any(|e| e["event"] == "step-rechecked"
                && e["step"] == "seed-destination-database"),
            "the step cut short is re-checked"
        );
    }
}

#[test]
fn new_starts_a_fresh_rehearsal_and_removes_the_paused_ones_sandbox() {
    let state = StateDir::new();
    let until = ["--headless", "--until", "check-kubeconfigs"];
    rehearse_expecting(state.path(), &until, 0);
    let [(first, first_sandbox)] = &rehearsals(state.path())[..] else {
        panic!("one rehearsal");
    };
    let first_manifest = manifest(first_sandbox);
    let mut new = vec!["--new"];
    new.extend(until);
    let (stdout, _) = rehearse_expecting(state.path(), &new, 0);
    assert!(
        stdout.contains(&format!("removed the sandbox of {first}")),
        "{stdout}"
    );
    assert!(stdout.contains("starting the sandbox"), "{stdout}");
    let all = rehearsals(state.path());
    assert_eq!(all.len(), 2, "{all:?}");
    let (second, _) = &all[1];
    assert_ne!(second, first);
    let sessions = journal(state.path(), second)
        .iter()
        .filter(|e| e["event"] == "session-started")
        .count();
    assert_eq!(sessions, 1, "a journal of its own");
    assert_eq!(manifest(first_sandbox)["state"], "removed");
    assert!(state.path().join(first).join("journal.jsonl").is_file());
    if first_manifest["postgres"]["kept_cluster_port"].is_null() {
        assert_eq!(databases_left(&first_manifest), Vec::<String>::new());
    }
    // Without --new, the latest paused one is resumed.
    let (stdout, _) = rehearse_expecting(state.path(), &until, 0);
    assert!(stdout.contains(&format!("resuming {second}")), "{stdout}");
}

#[test]
fn a_rehearsal_whose_sandbox_is_gone_says_so_and_exits_2() {
    let state = StateDir::new();
    rehearse_expecting(
        state.path(),
        &["--headless", "--until", "check-kubeconfigs"],
        0,
    );
    let [(name, sandbox)] = &rehearsals(state.path())[..] else {
        panic!("one rehearsal");
    };
    let m = manifest(sandbox);
    let databases: Vec<String> = m["databases"]
        .as_object()
        .expect("databases")
        .values()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();

    // A database dropped behind its back.
    let zync = m["databases"]["sandbox_source_zync"]
        .as_str()
        .expect("the zync database");
    on_sandbox_postgres(sandbox, &m, None, &format!("DROP DATABASE \"{zync}\""));
    let (_, stderr) = rehearse_expecting(state.path(), &["--headless"], 2);
    assert!(
        stderr.contains(&format!("{name} cannot be resumed"))
            && stderr.contains("the source's zync database is gone")
            && stderr.contains("cutover rehearse --new"),
        "{stderr}"
    );

    // Its folder deleted (its databases first: nothing could find them afterwards).
    for db in databases.iter().filter(|d| *d != zync) {
        on_sandbox_postgres(sandbox, &m, None, &format!("DROP DATABASE \"{db}\""));
    }
    if let (Some(admin), Some(db)) = (
        m["mariadb"]["admin_url"].as_str(),
        m["mariadb"]["database"].as_str(),
    ) {
        cutover::sim::servers::MariaServer::at(admin)
            .and_then(|server| server.existing_database(db))
            .and_then(|db| db.remove())
            .unwrap_or_else(|e| panic!("drop the source's MySQL database: {e:#}"));
    }
    std::fs::remove_dir_all(sandbox).expect("remove the sandbox folder");
    let (_, stderr) = rehearse_expecting(state.path(), &["--headless"], 2);
    assert!(
        stderr.contains("its sandbox folder") && stderr.contains("is gone"),
        "{stderr}"
    );
    assert!(stderr.contains("cutover rehearse --new"), "{stderr}");

    // --new starts another.
    let (stdout, _) = rehearse_expecting(
        state.path(),
        &["--headless", "--new", "--until", "check-kubeconfigs"],
        0,
    );
    assert!(stdout.contains("starting the sandbox"), "{stdout}");
}
