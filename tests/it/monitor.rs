//! The live panels' monitors against real servers: redis-server processes of the test's own and
//! a simulated cluster. Every wait is a bounded wait for a condition, never a timed assertion.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cutover::config::Config;
use cutover::event::{Event, QueueSample, WorkloadSample};
use cutover::infra::kube::WorkloadKind;
use cutover::monitor::{MonitorOptions, Monitors};
use cutover::runbook::ClusterRole;
use cutover::sim::ClusterSpec;
use cutover::sim::seed::{Sizes, queue_depths, seed_backend_redis, seed_system_redis};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::sim_support::{Sandbox, deployment, deployment_config};
use crate::support::{RedisServer, RefusingPort};

/// Generous for a loaded machine: a wait that ends later than this is a failure.
const DEADLINE: Duration = Duration::from_secs(90);

fn fast() -> MonitorOptions {
    MonitorOptions {
        queue_interval: Duration::from_millis(100),
        pod_interval: Duration::from_millis(100),
        timeout: Duration::from_secs(1),
    }
}

fn small() -> Sizes {
    Sizes {
        services: 2,
        applications_per_service: 2,
        stats_keys_per_service: 10,
        resque_jobs: 40,
        sidekiq_jobs: 30,
        que_jobs: 5,
    }
}

/// A threescale-rhoam config whose source reads `kubeconfig` (context `source`, namespace
/// `3scale`) and names the given Redis URLs through files, as an operator would for URLs with
/// passwords.
fn config(
    dir: &Path,
    kubeconfig: &Path,
    queues: Option<&str>,
    system: Option<&str>,
) -> Arc<Config> {
    let mut stores = String::new();
    for (key, url) in [
        ("backend_redis_queues_url", queues),
        ("system_redis_url", system),
    ] {
        if let Some(url) = url {
            let file = dir.join(key);
            std::fs::write(&file, url).expect("write the URL file");
            stores.push_str(&format!("{key} = \"file:{}\"\n", file.display()));
        }
    }
    let text = format!(
        r#"[migration]
name = "monitored"
runbook = "threescale-rhoam"
access_path = "limited"
party = "red-hat"
operator = "Test Operator"

[source]
kubeconfig = "{kubeconfig}"
context = "source"
namespace = "3scale"
{stores}
[migration_cluster]
kubeconfig = "{kubeconfig}"
context = "source"
namespace = "3scale"

[destination]
kubeconfig = "{kubeconfig}"
context = "source"
namespace = "rhoam"
"#,
        kubeconfig = kubeconfig.display()
    );
    let path = dir.join("cutover.toml");
    Arc::new(Config::parse(&text, &path).unwrap_or_else(|e| panic!("test config: {e:#}")))
}

/// The next event `pick` accepts; panics when none comes before the deadline or the monitors
/// stopped sending.
async fn until<T>(
    rx: &mut UnboundedReceiver<Event>,
    what: &str,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    let wait = async {
        loop {
            match rx.recv().await {
                Some(event) => {
                    if let Some(found) = pick(&event) {
                        return found;
                    }
                }
                None => panic!("the monitors stopped while waiting for {what}"),
            }
        }
    };
    tokio::time::timeout(DEADLINE, wait)
        .await
        .unwrap_or_else(|_| panic!("never saw {what}"))
}

fn queues(event: &Event) -> Option<(String, Vec<QueueSample>)> {
    match event {
        Event::QueueDepths { source, queues } => Some((source.clone(), queues.clone())),
        _ => None,
    }
}

fn depth(samples: &[QueueSample], name: &str) -> Option<u64> {
    samples.iter().find(|s| s.name == name).map(|s| s.depth)
}

fn queue_problem(event: &Event) -> Option<String> {
    match event {
        Event::MonitorProblem {
            monitor: "queue",
            text,
        } => Some(text.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn queue_monitor_sends_seeded_depths_and_follows_new_jobs() {
    let password = "queue-monitor-pw";
    let redis = RedisServer::start_with_password(password);
    let (storage_url, queues_url, system_url) = (redis.url_db(3), redis.url_db(1), redis.url());
    seed_backend_redis(&storage_url, &queues_url, &small())
        .await
        .expect("seed backend Redis");
    seed_system_redis(&system_url, &small())
        .await
        .expect("seed system Redis");
    let seeded = queue_depths(&queues_url, &system_url)
        .await
        .expect("one-off queue depths");

    let dir = tempfile::tempdir().expect("temporary folder");
    let cfg = config(
        dir.path(),
        &dir.path().join("no-kubeconfig"),
        Some(&queues_url),
        Some(&system_url),
    );
    let (tx, mut rx) = unbounded_channel();
    let monitors = Monitors::start(cfg, tx, fast());
    assert!(monitors.running().contains(&"queue"));

    let (source, first) = until(&mut rx, "the first queue depths", queues).await;
    assert!(!source.contains(password), "{source}");
    assert!(
        source.contains(&format!("127.0.0.1:{}/1", redis.port())),
        "{source}"
    );
    assert!(source.contains("***"), "{source}");
    let first: std::collections::BTreeMap<String, u64> =
        first.into_iter().map(|s| (s.name, s.depth)).collect();
    assert_eq!(
        first, seeded,
        "one reading covers every queue of both Redis servers"
    );
    assert!(first["resque:queue:priority"] > 0);

    // Jobs arrive in a Sidekiq queue (database 0) and in a Resque queue (database 1).
    let mailers = first["queue:mailers"];
    for n in 0..5 {
        redis.command(&["RPUSH", "queue:mailers", &format!("{{\"jid\":\"j{n}\"}}")]);
    }
    until(&mut rx, "queue:mailers 5 jobs deeper", |e| {
        queues(e).filter(|(_, q)| depth(q, "queue:mailers") == Some(mailers + 5))
    })
    .await;

    let main = first["resque:queue:main"];
    let client = redis::Client::open(queues_url.as_str()).expect("queues URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the queues database");
    let _: () = redis::cmd("RPUSH")
        .arg("resque:queue:main")
        .arg("{}")
        .arg("{}")
        .arg("{}")
        .query_async(&mut conn)
        .await
        .expect("push Resque jobs");
    let (_, later) = until(&mut rx, "resque:queue:main 3 jobs deeper", |e| {
        queues(e).filter(|(_, q)| depth(q, "resque:queue:main") == Some(main + 3))
    })
    .await;
    assert_eq!(depth(&later, "queue:mailers"), Some(mailers + 5));
    drop(monitors);
}

#[tokio::test]
async fn a_namespaced_sidekiq_shows_its_queues_as_the_drain_reads_them() {
    let redis = RedisServer::start();
    cutover::sim::seed::seed_system_redis_in(&redis.url(), Some("legacy-ns"), &small())
        .await
        .expect("seed system Redis under a namespace");
    let spec = ClusterSpec::new("source").namespace("3scale");
    let sb = Sandbox::with_spec("source", spec).await;
    // A 2.13 system-app: its keys under REDIS_NAMESPACE.
    let mut app = deployment_config("3scale", "system-app", 1);
    app["spec"]["template"]["spec"]["containers"][0]["env"] =
        serde_json::json!([{"name": "REDIS_NAMESPACE", "value": "legacy-ns"}]);
    sb.sim.apply_object(app).expect("store system-app");
    let dir = tempfile::tempdir().expect("temporary folder");
    let cfg = config(dir.path(), &sb.kubeconfig, None, Some(&redis.url()));
    let (tx, mut rx) = unbounded_channel();
    let _monitors = Monitors::start(cfg, tx, fast());
    let (_, depths) = until(&mut rx, "the system Redis's queues", queues).await;
    let mailers = depth(&depths, "queue:mailers").expect("queue:mailers shown");
    assert!(mailers > 0, "read under legacy-ns: {depths:?}");
    assert!(
        depths.iter().all(|q| !q.name.starts_with("legacy-ns")),
        "the plain names are shown: {depths:?}"
    );
}

#[tokio::test]
async fn unreachable_redis_is_reported_without_its_password() {
    let refusing = RefusingPort::new();
    let password = "refused-s3cret";
    let refused_url = format!("redis://:{password}@127.0.0.1:{}/1", refusing.port());
    // A server that answers, asked with the wrong password.
    let redis = RedisServer::start_with_password("the-right-one");
    let wrong = "wrong-pa55word";
    let wrong_url = format!("redis://:{wrong}@127.0.0.1:{}/0", redis.port());

    let dir = tempfile::tempdir().expect("temporary folder");
    let cfg = config(
        dir.path(),
        &dir.path().join("no-kubeconfig"),
        Some(&refused_url),
        Some(&wrong_url),
    );
    let (tx, mut rx) = unbounded_channel();
    let _monitors = Monitors::start(cfg, tx, fast());

    let refused = until(&mut rx, "a problem with the refusing port", |e| {
        queue_problem(e).filter(|t| t.contains(&format!("127.0.0.1:{}", refusing.port())))
    })
    .await;
    assert!(!refused.contains(password), "{refused}");
    assert!(refused.contains("backend queues Redis"), "{refused}");
    assert!(refused.contains("***"), "{refused}");

    let denied = until(&mut rx, "a problem with the wrong password", |e| {
        queue_problem(e).filter(|t| t.contains(&format!("127.0.0.1:{}", redis.port())))
    })
    .await;
    assert!(!denied.contains(wrong), "{denied}");
    assert!(denied.contains("system Redis"), "{denied}");

    // Neither Redis answered, so no depths were sent; the monitor keeps trying.
    let again = until(
        &mut rx,
        "the problem again after the backoff",
        queue_problem,
    )
    .await;
    assert!(
        !again.contains(password) && !again.contains(wrong),
        "{again}"
    );
}

#[tokio::test]
async fn queue_monitor_recovers_when_a_hung_redis_answers_again() {
    let password = "hung-redis-pw";
    let redis = RedisServer::start_with_password(password);
    let dir = tempfile::tempdir().expect("temporary folder");
    let cfg = config(
        dir.path(),
        &dir.path().join("no-kubeconfig"),
        None,
        Some(&redis.url()),
    );
    let (tx, mut rx) = unbounded_channel();
    let monitors = Monitors::start(cfg, tx, fast());

    let (_, before) = until(&mut rx, "the first queue depths", queues).await;
    assert_eq!(depth(&before, "queue:default"), Some(0));
    assert_eq!(
        depth(&before, "resque:queue:main"),
        None,
        "no backend queues Redis configured"
    );

    redis.freeze();
    let text = until(&mut rx, "a problem while the server hangs", queue_problem).await;
    assert!(!text.contains(password), "{text}");
    assert!(text.contains("system Redis"), "{text}");

    redis.thaw();
    redis.command(&["RPUSH", "queue:default", "{}"]);
    until(&mut rx, "depths again after the server answers", |e| {
        queues(e).filter(|(_, q)| depth(q, "queue:default") == Some(1))
    })
    .await;
    assert_eq!(monitors.running(), ["queue", "pod"]);
}

#[tokio::test]
async fn dropping_the_monitors_stops_their_events() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("temporary folder");
    let cfg = config(
        dir.path(),
        &dir.path().join("no-kubeconfig"),
        Some(&redis.url_db(1)),
        Some(&redis.url()),
    );
    let (tx, mut rx) = unbounded_channel();
    let monitors = Monitors::start(cfg, tx, fast());
    until(&mut rx, "the first queue depths", queues).await;
    drop(monitors);
    // The tasks held the only senders: once they are gone the channel ends after what was
    // already queued.
    tokio::time::timeout(DEADLINE, async { while rx.recv().await.is_some() {} })
        .await
        .unwrap_or_else(|_| panic!("events kept coming after the monitors were dropped"));
}

fn workloads(event: &Event) -> Option<(String, Vec<WorkloadSample>)> {
    match event {
        Event::Workloads { scope, workloads } => Some((scope.clone(), workloads.clone())),
        _ => None,
    }
}

fn row<'a>(rows: &'a [WorkloadSample], name: &str) -> Option<&'a WorkloadSample> {
    rows.iter().find(|w| w.name == name)
}

#[tokio::test]
async fn pods_panel_follows_a_scale_down_through_terminating_to_scaled_down() {
    // Pods take a few seconds to end, so a reading every 100 ms sees them terminating.
    let spec = ClusterSpec::new("source")
        .namespace("3scale")
        .pod_delays(Duration::from_millis(100), Duration::from_secs(3));
    let sb = Sandbox::with_spec("source", spec).await;
    sb.sim
        .apply_object(deployment_config("3scale", "system-sidekiq", 2))
        .expect("create the DeploymentConfig");
    sb.sim
        .apply_object(deployment("3scale", "apicast-production", 1))
        .expect("create the Deployment");
    let kube = sb.connect(ClusterRole::Source, "3scale").await;

    let dir = tempfile::tempdir().expect("temporary folder");
    // No Redis in the config (as for the velero-registry runbook): no queue monitor.
    let cfg = config(dir.path(), &sb.kubeconfig, None, None);
    let (tx, mut rx) = unbounded_channel();
    let monitors = Monitors::start(cfg, tx, fast());
    assert_eq!(monitors.running(), ["pod"]);

    let sidekiq = "deploymentconfig/system-sidekiq";
    let apicast = "deployment/apicast-production";
    let (scope, rows) = until(&mut rx, "both workloads running", |e| {
        workloads(e).filter(|(_, rows)| {
            [sidekiq, apicast]
                .iter()
                .all(|n| row(rows, n).is_some_and(|w| w.phase == "Running"))
        })
    })
    .await;
    assert_eq!(scope, "source / 3scale");
    let running = row(&rows, sidekiq).expect("sidekiq row");
    assert_eq!((running.desired, running.ready, running.current), (2, 2, 2));
    assert_eq!(running.original, None);

    // What the scale-down step does: record the count, then scale to 0.
    kube.annotate(
        WorkloadKind::DeploymentConfig,
        "system-sidekiq",
        "cutover.io/pre-migration-replicas",
        "2",
    )
    .await
    .expect("annotate");
    kube.scale(WorkloadKind::DeploymentConfig, "system-sidekiq", 0)
        .await
        .expect("scale to 0");

    let terminating = until(&mut rx, "system-sidekiq terminating", |e| {
        workloads(e).and_then(|(_, rows)| {
            row(&rows, sidekiq)
                .filter(|w| w.phase == "Terminating")
                .cloned()
        })
    })
    .await;
    assert_eq!(terminating.desired, 0);
    assert!(terminating.current > 0, "{terminating:?}");
    assert_eq!(terminating.original, Some(2));

    let (_, rows) = until(&mut rx, "system-sidekiq scaled down", |e| {
        workloads(e)
            .filter(|(_, rows)| row(rows, sidekiq).is_some_and(|w| w.phase == "Scaled down"))
    })
    .await;
    let done = row(&rows, sidekiq).expect("sidekiq row");
    assert_eq!((done.desired, done.current, done.original), (0, 0, Some(2)));
    let other = row(&rows, apicast).expect("apicast row");
    assert_eq!(
        (other.phase.as_str(), other.desired, other.current),
        ("Running", 1, 1),
        "the other workload is untouched"
    );
}

#[tokio::test]
async fn pod_monitor_reports_an_unreadable_kubeconfig() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let cfg = config(dir.path(), &dir.path().join("no-kubeconfig"), None, None);
    let (tx, mut rx) = unbounded_channel();
    let _monitors = Monitors::start(cfg, tx, fast());
    let text = until(&mut rx, "a pod monitor problem", |e| match e {
        Event::MonitorProblem {
            monitor: "pod",
            text,
        } => Some(text.clone()),
        _ => None,
    })
    .await;
    assert!(text.contains("no-kubeconfig"), "{text}");
    assert!(text.contains("source cluster"), "{text}");
}

#[tokio::test]
async fn pod_monitor_reports_a_refusing_cluster_and_recovers() {
    let sb = Sandbox::start("source", "3scale").await;
    sb.sim
        .apply_object(deployment("3scale", "zync", 1))
        .expect("create the Deployment");
    let dir = tempfile::tempdir().expect("temporary folder");
    let cfg = config(dir.path(), &sb.kubeconfig, None, None);
    let (tx, mut rx) = unbounded_channel();
    let _monitors = Monitors::start(cfg, tx, fast());
    until(&mut rx, "the zync row", |e| {
        workloads(e).filter(|(_, rows)| row(rows, "deployment/zync").is_some())
    })
    .await;

    sb.sim.set_unauthorized(true);
    let text = until(&mut rx, "a pod monitor problem", |e| match e {
        Event::MonitorProblem {
            monitor: "pod",
            text,
        } => Some(text.clone()),
        _ => None,
    })
    .await;
    assert!(text.contains("source cluster"), "{text}");
    assert!(!text.contains(&sb.sim.token()), "{text}");

    sb.sim.set_unauthorized(false);
    sb.sim
        .apply_object(deployment("3scale", "zync-que", 1))
        .expect("create another Deployment");
    until(&mut rx, "rows again, with the new workload", |e| {
        workloads(e).filter(|(_, rows)| row(rows, "deployment/zync-que").is_some())
    })
    .await;
}

#[test]
fn monitors_started_outside_a_runtime_say_so() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let cfg = config(dir.path(), &dir.path().join("no-kubeconfig"), None, None);
    let (tx, mut rx) = unbounded_channel();
    let monitors = Monitors::start(cfg, tx, MonitorOptions::default());
    assert!(monitors.running().is_empty());
    match rx.try_recv() {
        Ok(Event::MonitorProblem { text, .. }) => assert!(text.contains("runtime"), "{text}"),
        other => panic!("expected a problem, got {other:?}"),
    }
}

#[tokio::test]
async fn queue_monitor_reads_a_missing_url_file_again_until_it_is_there() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("temporary folder");
    let cfg = config(
        dir.path(),
        &dir.path().join("no-kubeconfig"),
        None,
        Some(&redis.url()),
    );
    let file = dir.path().join("system_redis_url");
    std::fs::remove_file(&file).expect("remove the URL file");
    let (tx, mut rx) = unbounded_channel();
    let _monitors = Monitors::start(cfg, tx, fast());
    let text = until(&mut rx, "a problem naming the config key", queue_problem).await;
    assert!(text.contains("source.system_redis_url"), "{text}");

    std::fs::write(&file, redis.url()).expect("write the URL file");
    until(&mut rx, "depths once the file is there", queues).await;
}

#[tokio::test]
async fn the_pod_monitor_follows_the_cluster_of_the_step_that_scales() {
    let spec = ClusterSpec::new("source")
        .namespace("3scale")
        .namespace("rhoam")
        .pod_delays(Duration::from_millis(50), Duration::from_millis(50));
    let sb = Sandbox::with_spec("source", spec).await;
    sb.sim
        .apply_object(deployment_config("3scale", "system-app", 1))
        .expect("create the source's workload");
    sb.sim
        .apply_object(deployment("rhoam", "system-app", 2))
        .expect("create the destination's workload");
    let dir = tempfile::tempdir().expect("temporary folder");
    let cfg = config(dir.path(), &sb.kubeconfig, None, None);
    let (tx, mut rx) = unbounded_channel();
    let monitors = Monitors::start(cfg, tx, fast());
    let (scope, _) = until(&mut rx, "the source's workloads", workloads).await;
    assert_eq!(scope, "source / 3scale");

    // A step that touches no workload leaves the panel where it is.
    monitors.step_started(cutover::runbook::ids::DUMP_REDIS);
    // The pause scales the destination's workloads: the panel goes there.
    monitors.step_started(cutover::runbook::ids::PAUSE_DESTINATION);
    let (scope, rows) = until(&mut rx, "the destination's workloads", |e| {
        workloads(e).filter(|(scope, _)| scope.starts_with("destination"))
    })
    .await;
    assert_eq!(scope, "destination / rhoam");
    let app = row(&rows, "deployment/system-app").expect("the destination's system-app");
    assert_eq!(app.desired, 2);
    // The scale-down of the source takes it back.
    monitors.step_started(cutover::runbook::ids::SCALE_DOWN);
    until(&mut rx, "the source again", |e| {
        workloads(e).filter(|(scope, _)| scope == "source / 3scale")
    })
    .await;
}
