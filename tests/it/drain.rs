//! The queue drain (`drain-queues`) run by the real binary, `cutover run --headless`, against
//! real servers: a redis-server for backend (storage and queues databases), one for system, and
//! a PostgreSQL database for zync, seeded as a 3scale source, with the simulated workers of the
//! sandbox draining them. The steps before the drain are recorded as skipped in the journal
//! first, so the runs start at the drain. Every wait is a bounded wait for a condition.

use std::collections::BTreeMap;
use std::time::Duration;

use cutover::infra::kube::WorkloadKind;
use cutover::infra::queues::QueueProbe;
use cutover::sim::seed::workers::{self, Worker};
use cutover::sim::seed::{
    Sizes, queue_depths, seed_backend_redis, seed_system_redis_in, seed_zync_database,
};
use cutover::steps::inventory::{Inventory, Location, StoreLocation};
use serde_json::Value;
use tokio::sync::watch;

use crate::cli::{
    Background, Migration, SpawnCaptured, events, step, threescale_toml, wait_until,
    write_kubeconfigs,
};
use crate::dumps;
use crate::sim_support::deployment;
use crate::support::{PgDatabase, RedisServer, signal_pid};

const STEP: &str = "drain-queues";

/// A deadline against hanging on a loaded machine, never a timing assertion.
const DEADLINE: Duration = Duration::from_secs(180);

/// The source's queue stores, seeded, and the runtime the simulated workers run on.
struct Source {
    backend: RedisServer,
    system: RedisServer,
    zync: PgDatabase,
    runtime: tokio::runtime::Runtime,
    /// The depth of every queue right after seeding, zync's pending jobs as `que_jobs`.
    seeded: BTreeMap<String, u64>,
    /// Sidekiq's namespace in system's Redis, if seeded under one.
    namespace: Option<String>,
}

impl Source {
    fn seed(sizes: &Sizes, system_password: Option<&str>) -> Source {
        Source::seed_in(sizes, system_password, None)
    }

    /// As [`Source::seed`], system's Sidekiq keys under `namespace` (3scale 2.13 and earlier
    /// with REDIS_NAMESPACE set).
    fn seed_in(sizes: &Sizes, system_password: Option<&str>, namespace: Option<&str>) -> Source {
        let backend = RedisServer::start();
        let system = match system_password {
            Some(pw) => RedisServer::start_with_password(pw),
            None => RedisServer::start(),
        };
        let zync = PgDatabase::create();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the simulated workers");
        let seeded = runtime.block_on(async {
            seed_backend_redis(&backend.url_db(3), &backend.url_db(1), sizes)
                .await
                .expect("seed backend's Redis");
            seed_system_redis_in(&system.url(), namespace, sizes)
                .await
                .expect("seed system's Redis");
            seed_zync_database(zync.url(), sizes)
                .await
                .expect("seed zync's database");
            let mut probe = QueueProbe::new(Some(backend.url_db(1)), Some(system.url()))
                .with_sidekiq_namespace(namespace);
            let reading = probe.read().await;
            assert!(reading.problems.is_empty(), "{:?}", reading.problems);
            let mut depths = reading.depths;
            // The seed writes this many pending jobs (and two expired ones, not pending).
            depths.insert("que_jobs".to_string(), u64::from(sizes.que_jobs));
            depths
        });
        Source {
            backend,
            system,
            zync,
            runtime,
            seeded,
            namespace: namespace.map(str::to_string),
        }
    }

    fn total(&self) -> u64 {
        self.seeded.values().sum()
    }

    /// backend-worker, system-sidekiq and zync-que, consuming while `enabled` is true.
    fn workers(&self, enabled: &watch::Receiver<bool>, system_too: bool) -> Vec<Worker> {
        let _in_runtime = self.runtime.enter();
        let mut running = vec![
            workers::backend_worker(&self.backend.url_db(1), 40.0, enabled.clone()),
            workers::que_worker(self.zync.url(), 40.0, enabled.clone()),
        ];
        if system_too {
            running.push(workers::sidekiq_in(
                &self.system.url(),
                self.namespace.as_deref(),
                40.0,
                enabled.clone(),
            ));
        }
        running
    }

    /// A customer's migration on the limited path whose source names these stores (through
    /// environment variables, as URLs with passwords must be), with the steps before the
    /// drain recorded as skipped.
    fn migration(&self, threshold: u64, timeout: &str) -> Migration {
        let extra = "backend_redis_queues_url = \"env:TEST_QUEUES_URL\"\n\
                     system_redis_url = \"env:TEST_SYSTEM_REDIS_URL\"\n\
                     zync_database_url = \"env:TEST_ZYNC_DB\"";
        let toml = format!(
            "{}\n[drain]\nthreshold = {threshold}\ntimeout = \"{timeout}\"\n",
            threescale_toml("drain", "customer", "limited", extra)
        );
        let mut m = Migration::new("drain", &toml);
        m.set_env("TEST_QUEUES_URL", &self.backend.url_db(1));
        m.set_env("TEST_SYSTEM_REDIS_URL", &self.system.url());
        m.set_env("TEST_ZYNC_DB", self.zync.url());
        skip_steps_before_the_drain(&m);
        m
    }
}

/// Records every step before the drain as skipped, as a journal of a migration that got that
/// far would show them done.
fn skip_steps_before_the_drain(m: &Migration) {
    record_before_the_drain(m, None);
}

/// As [`skip_steps_before_the_drain`], with the inventory step's fact when given.
fn record_before_the_drain(m: &Migration, inventory: Option<&Inventory>) {
    crate::cli::skip_steps(m, None, STEP, inventory);
}

fn small() -> Sizes {
    Sizes {
        services: 2,
        applications_per_service: 2,
        stats_keys_per_service: 5,
        resque_jobs: 90,
        // 40 jobs over the eleven queues, and 40/20 + 2 = 4 each in schedule, retry and dead.
        sidekiq_jobs: 40,
        que_jobs: 30,
    }
}

/// Polls `probe` every 50 ms until it holds; panics naming `what` (and showing `run`'s output)
/// after the deadline.
fn wait_for(what: &str, run: &Background, mut probe: impl FnMut(&str) -> bool) {
    let start = std::time::Instant::now();
    while start.elapsed() < DEADLINE {
        if probe(&run.stdout_so_far()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "gave up waiting for {what}; output so far:\n{}",
        run.stdout_so_far()
    );
}

fn drain_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "--headless", "--until", STEP];
    args.extend_from_slice(extra);
    args
}

fn finished(m: &Migration) -> Vec<Value> {
    let (entries, _) = m.journal();
    events(&entries, "step-finished", STEP)
        .into_iter()
        .cloned()
        .collect()
}

fn depth_map(v: &Value) -> BTreeMap<String, u64> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object of depths: {v}"))
        .iter()
        .map(|(k, d)| {
            let d = d
                .as_u64()
                .unwrap_or_else(|| panic!("{k}: {d} is not a depth"));
            (k.clone(), d)
        })
        .collect()
}

#[test]
fn the_drain_passes_by_itself_once_the_workers_bring_every_queue_under_the_threshold() {
    let source = Source::seed(&small(), None);
    let threshold = 5;
    assert!(
        source.seeded.values().any(|d| *d > threshold),
        "{:?}",
        source.seeded
    );
    let m = source.migration(threshold, "10m");
    let (enable, enabled) = watch::channel(false);
    let _workers = source.workers(&enabled, true);

    let run = m
        .command(&drain_args(&["--confirm", STEP]))
        .output_in_background();
    wait_for("the first complete reading", &run, |out| {
        out.contains("drain-queues info: queued: ")
    });
    assert!(
        finished(&m).is_empty(),
        "nothing passes while queues are above the threshold"
    );
    enable.send(true).expect("start the workers");
    let run = run.finish();
    run.expect_code(0);

    let done = finished(&m);
    assert_eq!(done.len(), 1, "{done:?}");
    let result = &done[0];
    assert_eq!(result["outcome"], "passed", "{result}");
    let summary = result["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("every queue at or under 5"), "{summary}");
    let figures = &result["figures"];
    assert_eq!(depth_map(&figures["initial"]), source.seeded, "{figures}");
    assert_eq!(figures["initial_total"], source.total());
    let last = depth_map(&figures["final"]);
    assert_eq!(
        last.keys().collect::<Vec<_>>(),
        source.seeded.keys().collect::<Vec<_>>(),
        "every queue of the three stores is in the final figures"
    );
    assert!(last.values().all(|d| *d <= threshold), "{last:?}");
    let final_total: u64 = last.values().sum();
    assert_eq!(figures["final_total"], final_total);
    assert_eq!(figures["drained"], source.total() - final_total);
    assert_eq!(figures["threshold_per_queue"], threshold);
    assert!(figures["duration_seconds"].is_u64(), "{figures}");
    assert!(figures.get("accepted_loss").is_none(), "{figures}");
    assert!(figures.get("not_watched").is_none(), "{figures}");

    // Progress in jobs drained of the total first seen (the opening 0 prints nothing), and a
    // log that changes with the figures rather than every second.
    let progress = format!("/{} jobs", source.total());
    assert!(
        run.stdout
            .lines()
            .any(|l| l.contains("drain-queues: ") && l.contains(&progress)),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains(&format!("drain-queues: 0{progress}")),
        "{}",
        run.stdout
    );
    let (entries, _) = m.journal();
    let initial = events(&entries, "step-fact", STEP)
        .into_iter()
        .find(|e| e["key"] == "initial-depths")
        .expect("the first figures are recorded for a resumed run");
    assert_eq!(depth_map(&initial["value"]["depths"]), source.seeded);
    let log = std::fs::read_to_string(m.migration_dir().join("logs/drain-queues.log"))
        .expect("the step's log");
    assert!(log.contains("queued: "), "{log}");
}

#[test]
fn queues_that_do_not_drain_ask_to_accept_the_loss_and_record_who_accepted_what() {
    let source = Source::seed(&small(), None);
    let n = source.total();
    let m = source.migration(0, "2s");

    // No answer on the command line: the question is asked, the run waits and says how to
    // answer; the step stopped without passing.
    let asked = m.run(&drain_args(&["--confirm", STEP]));
    asked.expect_code(3);
    let expected_question = format!("{n} jobs are still queued: ");
    assert!(
        asked.stderr.contains(&expected_question),
        "{}",
        asked.stderr
    );
    assert!(
        asked.stderr.contains(&format!("--confirm {STEP}=\"{n}\"")),
        "{}",
        asked.stderr
    );
    assert!(asked.stderr.contains("que_jobs 30"), "{}", asked.stderr);
    let (entries, _) = m.journal();
    let waiting = events(&entries, "step-waiting", STEP);
    let question = waiting
        .iter()
        .find(|e| e["question"].is_string())
        .expect("the question is journaled");
    assert_eq!(question["phrase"], n.to_string());
    assert!(
        question["question"]
            .as_str()
            .is_some_and(|q| q.starts_with(&expected_question)),
        "{question}"
    );
    let done = finished(&m);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["outcome"], "stopped", "{}", done[0]);

    // A wrong number is refused; nothing is accepted.
    let wrong = m.run(&drain_args(&["--confirm", &format!("{STEP}={}", n - 1)]));
    wrong.expect_code(2);
    assert!(wrong.stderr.contains("does not match"), "{}", wrong.stderr);
    let (entries, _) = m.journal();
    assert!(
        events(&entries, "step-fact", STEP)
            .iter()
            .all(|e| e["key"] != "accepted-loss"),
        "a refused answer accepts nothing"
    );
    assert!(
        !events(&entries, "step-confirmed", STEP)
            .iter()
            .any(|e| e["need"] == "typed"),
        "a refused answer is not journaled as a confirmation"
    );

    // The right number: the loss is accepted per queue, and the step passes.
    let right = m.run(&drain_args(&["--confirm", &format!("{STEP}={n}")]));
    right.expect_code(0);
    let (entries, _) = m.journal();
    let accepted = events(&entries, "step-fact", STEP)
        .into_iter()
        .find(|e| e["key"] == "accepted-loss")
        .expect("the accepted loss is recorded");
    let mut per_queue = depth_map(&accepted["value"]);
    assert_eq!(per_queue.remove("total"), Some(n));
    let nonzero: BTreeMap<String, u64> = source
        .seeded
        .iter()
        .filter(|(_, d)| **d > 0)
        .map(|(k, d)| (k.clone(), *d))
        .collect();
    assert_eq!(per_queue, nonzero);
    let confirmed = events(&entries, "step-confirmed", STEP)
        .into_iter()
        .find(|e| e["need"] == "typed")
        .expect("the answer is journaled as a typed confirmation");
    assert_eq!(confirmed["text"], n.to_string());
    assert_eq!(confirmed["operator"], "Test Operator");
    assert_eq!(confirmed["party"], "customer");
    assert!(confirmed["host"].as_str().is_some_and(|h| !h.is_empty()));

    let done = finished(&m);
    let result = done.last().expect("the step finished");
    assert_eq!(result["outcome"], "passed", "{result}");
    assert!(
        result["summary"]
            .as_str()
            .is_some_and(|s| s.contains(&format!("{n} jobs accepted as lost"))),
        "{result}"
    );
    assert_eq!(result["figures"]["accepted_loss"], accepted["value"]);
    assert_eq!(depth_map(&result["figures"]["final"]), source.seeded);
    assert_eq!(result["figures"]["drained"], 0);

    let status = m.status();
    let phrase = n.to_string();
    let drain = step(&status, STEP);
    assert_eq!(drain["status"], "done", "{drain}");
    assert!(
        drain["confirmations"].as_array().is_some_and(|c| c
            .iter()
            .any(|c| c["text"] == phrase.as_str() && c["operator"] == "Test Operator")),
        "{drain}"
    );
}

#[test]
fn a_redis_that_stops_answering_makes_the_figures_stale_and_the_drain_waits_for_it() {
    let password = "drain-system-pw";
    // System's queues are empty and its sets at or under the threshold from the start: its
    // last figures would let the drain pass, but they are stale while it does not answer.
    let sizes = Sizes {
        sidekiq_jobs: 0,
        ..small()
    };
    let source = Source::seed(&sizes, Some(password));
    let threshold = 5;
    let m = source.migration(threshold, "10m");
    let (enable, enabled) = watch::channel(false);
    let _workers = source.workers(&enabled, false);

    let run = m
        .command(&drain_args(&["--confirm", STEP]))
        .output_in_background();
    wait_for("the first complete reading", &run, |out| {
        out.contains("drain-queues info: queued: ")
    });
    source.system.freeze();
    wait_for("the stale figures", &run, |out| {
        out.contains("figures stale since") && out.contains("the system Redis did not answer")
    });
    // Backend's and zync's queues drain meanwhile: what is left is resque:failed's 3 jobs.
    enable.send(true).expect("start the workers");
    wait_for("a partial reading of the drained queues", &run, |out| {
        out.contains("queued where read: 3 jobs (backend queues Redis 3, zync database 0)")
    });
    assert!(
        finished(&m).is_empty(),
        "the drain does not pass while the system Redis does not answer:\n{}",
        run.stdout_so_far()
    );
    source.system.thaw();
    let run = run.finish();
    run.expect_code(0);
    assert!(run.stdout.contains("figures fresh again"), "{}", run.stdout);

    let done = finished(&m);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["outcome"], "passed", "{}", done[0]);
    let last = depth_map(&done[0]["figures"]["final"]);
    assert!(last.values().all(|d| *d <= threshold), "{last:?}");
    assert!(last.contains_key("dead") && last.contains_key("resque:failed"));

    // The password of the system Redis is printed, journaled and logged nowhere.
    let journal = std::fs::read_to_string(m.journal_path()).expect("the journal");
    let log = std::fs::read_to_string(m.migration_dir().join("logs/drain-queues.log"))
        .expect("the step's log");
    for (what, text) in [
        ("stdout", &run.stdout),
        ("stderr", &run.stderr),
        ("journal", &journal),
        ("log", &log),
    ] {
        assert!(
            !text.contains(password),
            "{what} shows the password:\n{text}"
        );
    }
}

/// Where the inventory found a store: outside the namespace at `url`'s host and port, or
/// inside it, served by `workload`.
fn located(secret: &str, key: &str, scheme: &str, at: Result<u16, (&str, u16)>) -> StoreLocation {
    let (location, host, port, workload) = match at {
        Ok(port) => (Location::External, "127.0.0.1".to_string(), port, None),
        Err((service, port)) => (
            Location::Internal,
            service.to_string(),
            port,
            Some(service.to_string()),
        ),
    };
    StoreLocation {
        secret: secret.to_string(),
        key: key.to_string(),
        location,
        scheme: Some(scheme.to_string()),
        host: Some(host),
        port: Some(port),
        database: None,
        workload,
        sentinel: false,
    }
}

#[test]
fn a_namespaced_sidekiq_is_read_under_its_namespace_and_drained() {
    let namespace = "legacy-ns";
    let source = Source::seed_in(&small(), None, Some(namespace));
    // Read without the namespace, system's Redis looks empty: the mistake this guards against.
    let plain = source
        .runtime
        .block_on(queue_depths(
            &source.backend.url_db(1),
            &source.system.url(),
        ))
        .expect("read without a namespace");
    assert!(
        plain
            .iter()
            .filter(|(k, _)| !k.starts_with("resque:"))
            .all(|(_, d)| *d == 0),
        "{plain:?}"
    );
    let sidekiq_total: u64 = source
        .seeded
        .iter()
        .filter(|(k, _)| !k.starts_with("resque:") && *k != "que_jobs")
        .map(|(_, d)| d)
        .sum();
    assert!(sidekiq_total > 0, "{:?}", source.seeded);

    let mut m = source.migration(5, "10m");
    write_kubeconfigs(&mut m);
    // A 2.13 system-app: REDIS_NAMESPACE from secret system-redis, key NAMESPACE.
    let cluster = &m.clusters.as_ref().expect("simulated clusters").source;
    let mut app = crate::sim_support::deployment_config("3scale", "system-app", 1);
    app["spec"]["template"]["spec"]["containers"][0]["env"] = serde_json::json!([
        {"name": "REDIS_NAMESPACE",
         "valueFrom": {"secretKeyRef": {"name": "system-redis", "key": "NAMESPACE"}}}
    ]);
    cluster.apply_object(app).expect("store system-app");
    let secret = k8s_openapi::api::core::v1::Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("system-redis".to_string()),
            namespace: Some("3scale".to_string()),
            ..Default::default()
        },
        data: Some(
            [(
                "NAMESPACE".to_string(),
                k8s_openapi::ByteString(namespace.as_bytes().to_vec()),
            )]
            .into(),
        ),
        ..Default::default()
    };
    cluster
        .apply_object(serde_json::to_value(secret).expect("the secret as JSON"))
        .expect("store the secret");

    let (enable, enabled) = watch::channel(false);
    let _workers = source.workers(&enabled, true);
    let run = m
        .command(&drain_args(&["--confirm", STEP]))
        .output_in_background();
    wait_for("the first complete reading", &run, |out| {
        out.contains("drain-queues info: queued: ")
    });
    enable.send(true).expect("start the workers");
    let run = run.finish();
    run.expect_code(0);
    assert!(
        run.stdout.contains(&format!(
            "Sidekiq keys of the system Redis are under namespace `{namespace}` (system-app's \
             REDIS_NAMESPACE, from secret system-redis/NAMESPACE)"
        )),
        "{}",
        run.stdout
    );
    let done = finished(&m);
    let result = &done[0];
    assert_eq!(result["outcome"], "passed", "{result}");
    let figures = &result["figures"];
    assert_eq!(depth_map(&figures["initial"]), source.seeded, "{figures}");
    let last = depth_map(&figures["final"]);
    assert!(last.values().all(|d| *d <= 5), "{last:?}");
}

#[test]
fn without_urls_in_the_config_the_drain_watches_the_stores_the_inventory_found() {
    let password = "drain-inventory-pw";
    let source = Source::seed(&small(), Some(password));
    // The config names no store: only the inventory says where they are.
    let toml = format!(
        "{}\n[drain]\nthreshold = 100\ntimeout = \"10m\"\n",
        threescale_toml("drain", "customer", "limited", "")
    );
    let mut m = Migration::new("drain", &toml);
    write_kubeconfigs(&mut m);
    let cluster = &m.clusters.as_ref().expect("simulated clusters").source;

    // backend's queues Redis and zync's database outside the namespace; system's Redis inside
    // it, behind the system-redis service, reached through a port-forward to its pod.
    let system_in_cluster = format!("redis://:{password}@system-redis:6379/0");
    let secrets = [
        (
            "backend-redis",
            "REDIS_QUEUES_URL",
            source.backend.url_db(1),
        ),
        ("system-redis", "URL", system_in_cluster),
        ("zync", "DATABASE_URL", source.zync.url().to_string()),
    ];
    for (name, key, url) in &secrets {
        let secret = k8s_openapi::api::core::v1::Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some("3scale".to_string()),
                ..Default::default()
            },
            data: Some(
                [(
                    key.to_string(),
                    k8s_openapi::ByteString(url.as_bytes().to_vec()),
                )]
                .into(),
            ),
            ..Default::default()
        };
        cluster
            .apply_object(serde_json::to_value(secret).expect("the secret as JSON"))
            .expect("store the secret");
    }
    cluster
        .apply_object(deployment("3scale", "system-redis", 1))
        .expect("store the system-redis deployment");
    cluster.forward_port(
        "system-redis",
        6379,
        ([127, 0, 0, 1], source.system.port()).into(),
    );
    wait_until("a running system-redis pod", || {
        cluster
            .list_objects("v1", "Pod", Some("3scale"), Some("deployment=system-redis"))
            .iter()
            .any(|p| p["status"]["phase"] == "Running")
    });
    let zync_port: u16 = source
        .zync
        .url()
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next()?.parse().ok())
        .unwrap_or(5432);
    let inventory = dumps::inventory(
        WorkloadKind::Deployment,
        vec![dumps::workload("system-redis", WorkloadKind::Deployment)],
        vec![
            located(
                "backend-redis",
                "REDIS_QUEUES_URL",
                "redis",
                Ok(source.backend.port()),
            ),
            located("system-redis", "URL", "redis", Err(("system-redis", 6379))),
            located("zync", "DATABASE_URL", "postgresql", Ok(zync_port)),
        ],
    );
    record_before_the_drain(&m, Some(&inventory));

    let run = m.run(&drain_args(&["--confirm", STEP]));
    run.expect_code(0);
    let done = finished(&m);
    assert_eq!(done.len(), 1);
    let result = &done[0];
    assert_eq!(result["outcome"], "passed", "{result}");
    // Every queue of the three stores was read, system's through the port-forward.
    assert_eq!(depth_map(&result["figures"]["final"]), source.seeded);
    let watched = result["figures"]["watched"].to_string();
    assert!(
        watched.contains("secret system-redis/URL")
            && watched.contains("port-forward to pod system-redis"),
        "{watched}"
    );
    assert!(watched.contains("secret zync/DATABASE_URL"), "{watched}");

    let journal = std::fs::read_to_string(m.journal_path()).expect("the journal");
    for (what, text) in [
        ("stdout", &run.stdout),
        ("stderr", &run.stderr),
        ("journal", &journal),
    ] {
        assert!(
            !text.contains(password),
            "{what} shows the password:\n{text}"
        );
    }
}

#[test]
fn stale_figures_after_the_drain_time_ask_to_keep_waiting_and_never_a_loss() {
    let source = Source::seed(&small(), None);
    let m = source.migration(0, "2s");
    source.system.freeze();
    let waited = m.run(&drain_args(&["--confirm", STEP]));
    source.system.thaw();
    waited.expect_code(3);
    assert!(
        waited.stdout.contains("figures stale since"),
        "{}",
        waited.stdout
    );
    assert!(
        waited.stderr.contains("the figures are stale since")
            && waited.stderr.contains("the system Redis did not answer")
            && waited
                .stderr
                .contains(&format!("--confirm {STEP}=\"wait\"")),
        "{}",
        waited.stderr
    );
    let (entries, _) = m.journal();
    assert!(
        events(&entries, "step-fact", STEP)
            .iter()
            .all(|e| e["key"] != "accepted-loss"),
        "no loss is accepted on stale figures"
    );
    assert!(
        events(&entries, "step-waiting", STEP)
            .iter()
            .all(|e| e["phrase"].is_null() || e["phrase"] == "wait"),
        "no number of jobs is asked on stale figures"
    );
    let done = finished(&m);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["outcome"], "stopped", "{}", done[0]);
}

#[test]
fn the_drain_clock_survives_a_kill_and_a_resume() {
    let source = Source::seed(&small(), None);
    let n = source.total();
    // No worker runs: the queues never drain, so the drain ends with its question once the
    // agreed time is over.
    let m = source.migration(0, "4s");
    let run = m
        .command(&drain_args(&["--confirm", STEP]))
        .output_in_background();
    wait_for("the first figures", &run, |out| {
        out.contains("drain-queues info: queued: ")
    });
    let first = run.stdout_so_far();
    assert!(
        first.contains("drain-queues: waits at most until "),
        "the countdown's end is said: {first}"
    );
    assert!(
        first.contains("sets that do not drain by themselves: "),
        "{first}"
    );
    signal_pid(run.id(), rustix::process::Signal::KILL);
    run.finish();
    let (entries, _) = m.journal();
    let clocks: Vec<Value> = events(&entries, "step-fact", STEP)
        .into_iter()
        .filter(|e| e["key"] == "deadline")
        .map(|e| e["value"].clone())
        .collect();
    assert_eq!(clocks.len(), 1, "the clock is journaled before the wait");
    let clock = clocks[0].clone();
    let until = clock["until"].as_str().expect("the deadline's end");
    let until = chrono::DateTime::parse_from_rfc3339(until).expect("an RFC 3339 time");

    // The resumed attempt goes on with the same clock: same start, same end.
    let resumed = m.run(&drain_args(&["--confirm", STEP]));
    resumed.expect_code(3);
    let (entries, _) = m.journal();
    assert_eq!(
        events(&entries, "step-started", STEP).len(),
        2,
        "the drain ran again after the crash"
    );
    let clocks: Vec<Value> = events(&entries, "step-fact", STEP)
        .into_iter()
        .filter(|e| e["key"] == "deadline")
        .map(|e| e["value"].clone())
        .collect();
    assert!(clocks.len() >= 2, "the resumed attempt says its clock");
    assert!(
        clocks.iter().all(|c| *c == clock),
        "the resumed attempt kept the first attempt's clock: {clocks:?}"
    );
    let question = events(&entries, "step-waiting", STEP)
        .into_iter()
        .find(|e| e["question"].is_string())
        .expect("the question is journaled");
    let asked_at = question["time"].as_str().expect("the entry's time");
    let asked_at = chrono::DateTime::parse_from_rfc3339(asked_at).expect("an RFC 3339 time");
    assert!(
        asked_at >= until,
        "the question came once the first attempt's time was over ({asked_at} < {until})"
    );
    // The question names the sets that do not drain by themselves, with why.
    let text = question["question"].as_str().unwrap_or_default();
    assert!(
        text.contains(&format!("{n} jobs are still queued"))
            && text.contains("of them, in sets that do not drain by themselves: ")
            && text.contains("dead 4 (failed, never run again by themselves)")
            && text.contains("retry 4 (run only when their time comes)"),
        "{text}"
    );
}

#[test]
fn a_drain_interrupted_by_a_crash_is_done_on_resume_once_the_queues_are_under_the_threshold() {
    let source = Source::seed(&small(), None);
    let threshold = 5;
    let m = source.migration(threshold, "10m");
    let run = m
        .command(&drain_args(&["--confirm", STEP]))
        .output_in_background();
    wait_for("the first complete reading", &run, |out| {
        out.contains("drain-queues info: queued: ")
    });
    signal_pid(run.id(), rustix::process::Signal::KILL);
    run.finish();
    assert!(
        finished(&m).is_empty(),
        "the crashed attempt did not finish"
    );

    // The queues drain while cutover is down.
    let (enable, enabled) = watch::channel(true);
    let _workers = source.workers(&enabled, true);
    let (queues_url, system_url, zync_url) = (
        source.backend.url_db(1),
        source.system.url(),
        source.zync.url().to_string(),
    );
    wait_until("every queue at or under the threshold", || {
        source.runtime.block_on(async {
            let mut depths = queue_depths(&queues_url, &system_url)
                .await
                .expect("read the queue depths");
            let pending = cutover::infra::pg::pending_que_jobs(&zync_url, DEADLINE)
                .await
                .expect("count zync's pending jobs");
            depths.insert("que_jobs".to_string(), pending);
            depths.values().all(|d| *d <= threshold)
        })
    });
    enable.send(false).expect("stop the workers");

    let resumed = m.run(&drain_args(&[]));
    resumed.expect_code(0);
    assert!(
        resumed
            .stdout
            .contains("? drain-queues: end state holds, not run again"),
        "{}",
        resumed.stdout
    );
    let (entries, _) = m.journal();
    let rechecked = events(&entries, "step-rechecked", STEP);
    assert_eq!(rechecked.len(), 1);
    assert_eq!(rechecked[0]["holds"], true, "{}", rechecked[0]);
    assert_eq!(
        events(&entries, "step-started", STEP).len(),
        1,
        "the drain is not run again"
    );
    let done = finished(&m);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["outcome"], "passed", "{}", done[0]);
}
