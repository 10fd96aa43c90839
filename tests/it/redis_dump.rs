//! The Redis dump, restore and verification steps, run by the real binary against real
//! redis-server processes: the dump through exec in the pods of a simulated source (BGSAVE, then
//! `cat` of the file the server wrote), the restore from that file into a destination server,
//! and the replication fetch (`redis-cli --rdb`'s way) on its own.

use cutover::steps::destination::{DESTINATION_COMPONENTS, DESTINATION_OPERATORS};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use cutover::infra::artifacts::{Manifest, QUIET, Report};
use cutover::infra::kube::WorkloadKind;
use cutover::infra::rdb;
use cutover::infra::redis_copy::{self, CompareOptions};
use cutover::sim::ExecRule;
use cutover::sim::servers::{RedisOptions, RedisProcess};
use cutover::steps::inventory::{Inventory, StoreLocation};
use serde_json::Value;

use crate::cli::{Migration, threescale_toml, write_kubeconfigs};
use crate::dumps::{self, last_fact, last_finished, sha256_of, wait_for_running_pod};
use crate::support::block_on;

const DUMP: &str = "dump-redis";
const PAUSE: &str = "pause-destination";
const SEED: &str = "seed-destination-database";
const RESTORE: &str = "restore-backend-redis";
const VERIFY: &str = "verify-analytics";
const GATE: &str = "restore analytics";

fn server() -> RedisProcess {
    RedisProcess::start(RedisOptions::default().rdb_file("dump.rdb")).expect("redis-server")
}

async fn send(url: &str, args: &[&str]) -> redis::Value {
    let client = redis::Client::open(url).expect("url");
    let mut c = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query_async(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// Backend storage keys of every type, some with TTLs, in database 0, and Resque queues in
/// database 1.
fn seed_backend(server: &RedisProcess) {
    let storage = server.url_db(0);
    let queues = server.url_db(1);
    block_on(|| async move {
        let writes: &[&[&str]] = &[
            &[
                "SET",
                "stats/{service:2}/cinstance:a1/metric:7/eternity",
                "4711",
            ],
            &[
                "SET",
                "stats/{service:2}/cinstance:a1/metric:7/day:20261123",
                "12",
                "EX",
                "86400",
            ],
            &[
                "SET",
                "stats/{service:2}/cinstance:a1/metric:7/minute:202611230400",
                "3",
                "EX",
                "180",
            ],
            &["SADD", "stats/{service:2}/cinstances", "a1", "b2"],
            &[
                "HSET",
                "application/service_id:2/id:a1",
                "plan_id",
                "9",
                "state",
                "live",
            ],
            &["ZADD", "events/queue", "1", "e1", "2.5", "e2"],
            &[
                "RPUSH",
                "alerts/service_id:2/allowed_set",
                "50",
                "80",
                "100",
            ],
            &["XADD", "audit", "1-1", "who", "system"],
            &["PEXPIRE", "events/queue", "900000"],
        ];
        for w in writes {
            send(&storage, w).await;
        }
        send(
            &queues,
            &[
                "RPUSH",
                "resque:queue:priority",
                "{\"class\":\"ReportJob\"}",
            ],
        )
        .await;
    });
}

fn seed_system(server: &RedisProcess) {
    let url = server.url_db(1);
    block_on(|| async move {
        send(&url, &["SADD", "queues", "default", "critical"]).await;
        send(&url, &["SET", "stat:processed", "120"]).await;
    });
}

fn compare(from: &str, to: &str) -> redis_copy::CompareReport {
    let (from, to) = (from.to_string(), to.to_string());
    block_on(|| async move {
        redis_copy::compare(&from, &to, &CompareOptions::default())
            .await
            .expect("compare")
    })
}

fn store(secret: &str, key: &str, host: &str, db: &str) -> StoreLocation {
    dumps::internal_store(secret, key, "redis", host, 6379, db)
}

/// Both Redis servers inside the source namespace, each with its pod.
fn inventory() -> Inventory {
    let workload = |name: &str| dumps::workload(name, WorkloadKind::DeploymentConfig);
    dumps::inventory(
        WorkloadKind::DeploymentConfig,
        vec![workload("backend-redis"), workload("system-redis")],
        vec![
            store("backend-redis", "REDIS_STORAGE_URL", "backend-redis", "0"),
            store("backend-redis", "REDIS_QUEUES_URL", "backend-redis", "1"),
            store("system-redis", "URL", "system-redis", "1"),
        ],
    )
}

/// A customer's no-access migration (the customer runs all three steps) whose source Redis
/// servers are reached only through their pods, and whose destination backend Redis is
/// `destination`.
struct Setup {
    m: Migration,
    backend: RedisProcess,
    system: RedisProcess,
    destination: RedisProcess,
}

fn setup() -> Setup {
    let backend = server();
    let system = server();
    let destination = server();
    seed_backend(&backend);
    seed_system(&system);
    let toml = threescale_toml("redisdump", "customer", "no-access", "").replace(
        "wildcard_domain = \"apps.rhoam.test\"\n",
        "wildcard_domain = \"apps.rhoam.test\"\nbackend_redis_storage_url = \
         \"env:TEST_DEST_REDIS\"\n",
    );
    let mut m = Migration::new("redisdump", &toml);
    m.set_env("TEST_DEST_REDIS", &destination.url_db(0));
    write_kubeconfigs(&mut m);
    let cluster = &m.clusters.as_ref().expect("simulated clusters").source;
    for (pod, server) in [("backend-redis", &backend), ("system-redis", &system)] {
        let port = server.port().to_string();
        cluster.allow_exec(
            ExecRule::new(pod, &["redis-cli"], &["redis-cli", "-p", &port]).with_extra_args(),
        );
        let rdb = server
            .rdb_path()
            .expect("an rdb file")
            .display()
            .to_string();
        cluster.allow_exec(ExecRule::new(pod, &["cat", &rdb], &["cat", &rdb]));
        wait_for_running_pod(cluster, pod);
    }
    Setup {
        m,
        backend,
        system,
        destination,
    }
}

fn lastsave(server: &RedisProcess) -> i64 {
    server
        .command(&["LASTSAVE"])
        .expect("LASTSAVE")
        .trim_start_matches(':')
        .parse()
        .expect("a number")
}

/// Runs the dump and checks the files against the servers and the manifest: `method` is how
/// both were taken.
fn dump(s: &Setup, method: &str) -> Value {
    let before = (lastsave(&s.backend), lastsave(&s.system));
    // LASTSAVE counts whole seconds: the dump's save must fall in a later second than the
    // setup's for "a fresh save" to show (the replication fetch saves at once).
    let since = before.0.max(before.1);
    while std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
        <= since
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    crate::cli::skip_steps(&s.m, None, DUMP, Some(&inventory()));
    let run = s.m.run(&["run", "--headless", "--until", DUMP]);
    run.expect_code(0);
    assert_eq!(last_finished(&s.m, DUMP)["outcome"], "passed");
    assert!(lastsave(&s.backend) > before.0, "a fresh BGSAVE");
    assert!(lastsave(&s.system) > before.1, "a fresh BGSAVE");

    let dumps = last_fact(&s.m, DUMP, "redis-dumps");
    let list = dumps["dumps"].as_array().expect("dumps");
    assert_eq!(list.len(), 2, "storage and queues are one server: {dumps}");
    assert_eq!(dumps["not_dumped"], serde_json::json!([]));
    let folder = s.m.dir.path().join("dumps");
    let manifest = Manifest::load(&folder).expect("manifest");
    for (d, server) in list.iter().zip([&s.backend, &s.system]) {
        let path = PathBuf::from(d["path"].as_str().expect("path"));
        assert_eq!(d["method"], method);
        let mode = std::fs::metadata(&path).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // The file is the one the server's own BGSAVE wrote.
        let own = std::fs::read(server.rdb_path().expect("rdb")).expect("server's file");
        assert_eq!(std::fs::read(&path).expect("dump"), own);
        let entry = manifest
            .get(d["file"].as_str().expect("file"))
            .expect("listed");
        assert_eq!(entry.kind, "redis-rdb");
        assert_eq!(entry.sha256, sha256_of(&path));
        assert_eq!(
            entry.versions["server"],
            d["server_version"].as_str().unwrap()
        );
        assert_eq!(entry.versions["rdb"], d["rdb_version"].to_string());
        assert!(entry.source.contains("pod"), "{}", entry.source);
    }
    assert_eq!(list[0]["file"], "backend-redis.rdb");
    assert_eq!(list[0]["storage_db"], 0);
    assert_eq!(list[0]["keyspace"]["db0"], 8);
    assert_eq!(list[0]["keyspace"]["db1"], 1);
    assert_eq!(list[1]["file"], "system-redis.rdb");
    assert_eq!(list[1]["keyspace"]["db1"], 2);
    dumps
}

#[test]
fn without_exec_the_pods_are_dumped_through_a_port_forward() {
    let s = setup();
    let cluster = &s.m.clusters.as_ref().expect("simulated clusters").source;
    cluster.deny("create", "", "pods", Some("exec"), None);
    for (pod, server) in [("backend-redis", &s.backend), ("system-redis", &s.system)] {
        let local = std::net::SocketAddr::from(([127, 0, 0, 1], server.port()));
        cluster.forward_port(pod, 6379, local);
    }
    let dumps = dump(&s, "replication-port-forward");
    assert!(
        dumps["dumps"][0]["source"]
            .as_str()
            .is_some_and(|t| t.contains("port-forward")),
        "{dumps}"
    );
}

/// Runs the restore once Red Hat has paused the destination (on this path `pause-destination`
/// is Red Hat's: a hand-off, done here as Red Hat would), the steps between skipped.
fn restore(s: &Setup) -> crate::cli::Run {
    crate::cli::skip_steps(&s.m, Some("dump-secrets"), PAUSE, None);
    s.m.run_confirmed(PAUSE, "Red Hat SRE").expect_code(0);
    let clusters = s.m.clusters.as_ref().expect("simulated clusters");
    let ns = "redhat-rhoam-3scale";
    let paused = DESTINATION_OPERATORS
        .iter()
        .map(|(ns, name)| (*ns, *name))
        .chain(DESTINATION_COMPONENTS.iter().map(|name| (ns, *name)));
    for (ns, name) in paused {
        let mut d = clusters
            .destination
            .get_object("apps/v1", "Deployment", ns, name)
            .unwrap_or_else(|| panic!("no Deployment {ns}/{name}"));
        d["spec"]["replicas"] = 0.into();
        clusters.destination.apply_object(d).expect("paused");
    }
    crate::cli::skip_steps(&s.m, Some(SEED), RESTORE, None);
    s.m.run_confirmed(RESTORE, GATE)
}

#[test]
fn the_restore_refuses_while_rhoam_runs() {
    let s = setup();
    dump(&s, "bgsave-exec");
    s.destination
        .command(&["SET", "fresh-install", "1"])
        .expect("SET");
    crate::cli::skip_steps(&s.m, Some("dump-secrets"), RESTORE, None);
    s.m.run_confirmed(RESTORE, GATE).expect_code(1);
    let done = last_finished(&s.m, RESTORE);
    let summary = done["summary"].as_str().unwrap_or("");
    assert!(
        summary.contains("the destination is not paused")
            && summary.contains("backend-listener 2 replicas")
            && summary.contains("pause-destination"),
        "{summary}"
    );
    assert_eq!(
        s.destination
            .command(&["GET", "fresh-install"])
            .expect("GET"),
        "1",
        "nothing flushed"
    );
}

#[test]
fn dumped_through_exec_restored_from_the_file_and_verified() {
    let s = setup();
    dump(&s, "bgsave-exec");
    // What the fresh install wrote: flushed by the restore.
    s.destination
        .command(&["SET", "fresh-install", "1"])
        .expect("SET");

    restore(&s).expect_code(0);
    let done = last_finished(&s.m, RESTORE);
    assert_eq!(done["outcome"], "passed", "{done}");
    assert!(
        done["figures"]["source"]
            .as_str()
            .is_some_and(|t| t.contains("backend-redis.rdb")),
        "{done}"
    );
    assert_eq!(done["figures"]["keys_before"], 1);
    assert_eq!(done["figures"]["keys"], 8);
    let report = compare(&s.backend.url_db(0), &s.destination.url_db(0));
    assert!(report.equal(), "{report:#?}");
    assert_eq!(
        s.destination
            .command(&["EXISTS", "fresh-install"])
            .expect("EXISTS"),
        ":0"
    );

    // A key lost at the destination comes back; one it changed since stays as it is.
    let lost = "stats/{service:2}/cinstances";
    let counted = "stats/{service:2}/cinstance:a1/metric:7/eternity";
    s.destination.command(&["DEL", lost]).expect("DEL");
    s.destination.command(&["INCR", counted]).expect("INCR");
    crate::cli::skip_steps(&s.m, Some("push-secrets"), VERIFY, None);
    let run =
        s.m.run(&["run", "--headless", "--until", VERIFY, "--confirm", VERIFY]);
    run.expect_code(0);
    let done = last_finished(&s.m, VERIFY);
    assert_eq!(done["outcome"], "passed", "{done}");
    assert_eq!(done["figures"]["copied_back"]["copied"], 1, "{done}");
    assert_eq!(done["figures"]["after"]["missing"], 0, "{done}");
    assert_eq!(done["figures"]["after"]["value_differs"], 1, "{done}");
    assert_eq!(
        s.destination.command(&["GET", counted]).expect("GET"),
        "4712",
        "an existing key is never overwritten"
    );
    assert_eq!(
        s.destination.command(&["SCARD", lost]).expect("SCARD"),
        ":2"
    );
}

#[test]
fn a_changed_byte_in_the_rdb_stops_the_restore_naming_it() {
    let s = setup();
    dump(&s, "bgsave-exec");
    s.destination
        .command(&["SET", "fresh-install", "1"])
        .expect("SET");
    let path = s.m.dir.path().join("dumps/backend-redis.rdb");
    dumps::flip_middle_byte(&path);

    restore(&s).expect_code(1);
    let done = last_finished(&s.m, RESTORE);
    assert_eq!(done["outcome"], "failed", "{done}");
    let summary = done["summary"].as_str().unwrap_or("");
    assert!(
        summary.contains("backend-redis.rdb") && summary.contains("has changed"),
        "{summary}"
    );
    assert_eq!(
        s.destination
            .command(&["EXISTS", "fresh-install"])
            .expect("EXISTS"),
        ":1",
        "nothing was flushed"
    );
}

async fn fetch(url: String, to: PathBuf) -> anyhow::Result<rdb::Written> {
    rdb::fetch(&url, &to, &QUIET).await
}

#[test]
fn the_replication_fetch_holds_what_the_server_holds() {
    let password = "fetch-Secret-pw";
    let source =
        RedisProcess::start(RedisOptions::default().password(password)).expect("redis-server");
    seed_backend(&source);
    let dir = tempfile::tempdir().expect("tempdir");
    let to = dir.path().join("backend-redis.rdb");
    let url = source.url_db(0);
    let written = block_on(|| fetch(url.clone(), to.clone())).expect("the fetch");
    assert_eq!(written.bytes, std::fs::metadata(&to).expect("file").len());
    assert_eq!(written.sha256, sha256_of(&to));
    assert_eq!(
        written.rdb_version,
        rdb::header_version(b"REDIS0010").unwrap()
    );
    assert!(!dir.path().join("backend-redis.rdb.partial").exists());

    // Loaded into another server, the file holds every key of both databases.
    let (to2, src0, src1) = (to.clone(), source.url_db(0), source.url_db(1));
    block_on(|| async move {
        let scratch = rdb::Scratch::start(&to2, &QUIET).await.expect("scratch");
        for (src, db) in [(src0, 0), (src1, 1)] {
            let r = redis_copy::compare(&src, &scratch.url_db(db), &CompareOptions::default())
                .await
                .expect("compare");
            assert!(r.equal() && r.source_keys > 0, "{r:#?}");
        }
    });
}

#[test]
fn a_server_that_refuses_sync_gets_a_message_saying_what_to_use_instead() {
    let source = server();
    let password = "nosync-Secret-pw";
    source
        .command(&[
            "ACL",
            "SETUSER",
            "nosync",
            "on",
            &format!(">{password}"),
            "~*",
            "&*",
            "+@all",
            "-sync",
            "-psync",
        ])
        .expect("ACL SETUSER");
    let url = format!("redis://nosync:{password}@127.0.0.1:{}/0", source.port());
    let dir = tempfile::tempdir().expect("tempdir");
    let to = dir.path().join("system-redis.rdb");
    let err = block_on(|| fetch(url.clone(), to.clone())).expect_err("SYNC is refused");
    let text = format!("{err:#}");
    assert!(text.contains("refused SYNC"), "{text}");
    assert!(
        text.contains("pod access") && text.contains("logical copy"),
        "{text}"
    );
    assert!(!text.contains(password), "{text}");
    assert!(!to.exists() && !dir.path().join("system-redis.rdb.partial").exists());
}

#[test]
fn a_save_already_running_is_waited_for_then_ours_starts() {
    let source = server();
    seed_backend(&source);
    // Each key takes the saving child 0.3 s: the first save is still running when ours asks.
    // The child reads the setting as it was at the fork, so ours, forked later, is quick.
    source
        .command(&["CONFIG", "SET", "rdb-key-save-delay", "300000"])
        .expect("CONFIG SET");
    let saves = |s: &RedisProcess| -> u64 {
        let info = s.command(&["INFO", "persistence"]).expect("INFO");
        cutover::infra::redis::info_field(&info, "rdb_saves")
            .and_then(|n| n.parse().ok())
            .expect("rdb_saves")
    };
    let before = saves(&source);
    assert_eq!(
        source.command(&["BGSAVE"]).expect("BGSAVE"),
        "+Background saving started"
    );
    source
        .command(&["CONFIG", "SET", "rdb-key-save-delay", "0"])
        .expect("CONFIG SET");
    let url = source.url();
    let lines = block_on(|| async move {
        let lines = std::sync::Mutex::new(Vec::new());
        let progress = |_: u64, _: Option<u64>, _: &'static str| {};
        let log = |line: String| lines.lock().expect("lines").push(line);
        let report = Report {
            progress: &progress,
            log: &log,
        };
        let cmd = rdb::Commander::connect(&url).await.expect("connect");
        rdb::snapshot(&cmd, &report).await.expect("the snapshot");
        lines.into_inner().expect("lines")
    });
    assert!(
        lines.iter().any(|l| l.contains("already running")),
        "{lines:?}"
    );
    assert_eq!(saves(&source), before + 2, "the running save, then ours");
}

#[test]
fn a_source_named_by_url_is_fetched_by_replication_and_its_password_never_shows() {
    let password = "dumpurl-Secret-pw";
    let backend =
        RedisProcess::start(RedisOptions::default().password(password)).expect("redis-server");
    seed_backend(&backend);
    let toml = threescale_toml(
        "redisdump",
        "customer",
        "no-access",
        "backend_redis_storage_url = \"env:TEST_SOURCE_REDIS\"",
    );
    let mut m = Migration::new("redisdump", &toml);
    m.set_env("TEST_SOURCE_REDIS", &backend.url_db(0));
    crate::cli::skip_steps(&m, None, DUMP, None);
    let run = m.run(&["run", "--headless", "--until", DUMP]);
    run.expect_code(0);
    let dumps = last_fact(&m, DUMP, "redis-dumps");
    let storage = &dumps["dumps"][0];
    assert_eq!(storage["method"], "replication", "{dumps}");
    assert_eq!(storage["keyspace"]["db0"], 8, "{dumps}");
    assert!(
        storage["source"]
            .as_str()
            .is_some_and(|s| s.contains("***")),
        "{dumps}"
    );
    // Neither the queues nor the system Redis is named anywhere: a warning each, not a failure.
    assert_eq!(
        dumps["not_dumped"].as_array().map(Vec::len),
        Some(2),
        "{dumps}"
    );
    let journal = std::fs::read_to_string(m.journal_path()).expect("journal");
    let manifest =
        std::fs::read_to_string(m.dir.path().join("dumps/manifest.json")).expect("manifest");
    for text in [&journal, &manifest, &run.stdout, &run.stderr] {
        assert!(!text.contains(password), "the password shows:\n{text}");
    }
}
