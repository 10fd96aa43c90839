//! Stopping 3scale on a simulated 2.14 source (stop-traffic, scale-down) and rolling it back:
//! the order of the scale calls, the counts in the journal and in the annotations, refusals,
//! a pod that never ends, kill -9 in the middle of the scale-down, and `cutover rollback`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cutover::infra::kube::{KubeCluster, ORIGINAL_REPLICAS_ANNOTATION};
use cutover::journal::{Confirmation, Entry, Header, JournalEvent, JournalState};
use cutover::runbook::{AccessPath, ClusterRole, Need, Outcome, Party, RunbookId, StepId};
use cutover::sim::installation::{
    ExternalStores, InternalDatabases, SOURCE_WORKLOADS, destination_objects, source_objects,
};
use cutover::sim::{ClusterSpec, SimCluster, write_kubeconfig};
use cutover::steps::scale::{SCALE_DOWN_WORKLOADS, quiesce, recheck};
use cutover::steps::{Recheck, StepSink};
use futures::StreamExt;
use serde_json::Value;

use crate::cli::{Migration, events, read_journal, threescale_toml, wait_until};
use crate::sim_support::{Sandbox, eventually};

const NS: &str = "3scale";
const DC: &str = "apps.openshift.io/v1";

/// The gateways in the order stop-traffic stops them.
const GATEWAYS: [&str; 2] = ["apicast-production", "apicast-staging"];
/// What scale-down stops on a 2.14 source, in order.
const SCALED_DOWN: [&str; 9] = [
    "system-app",
    "system-sidekiq",
    "backend-listener",
    "backend-worker",
    "backend-cron",
    "zync-que",
    "zync",
    "system-searchd",
    "system-memcache",
];
const DATA_STORES: [&str; 4] = [
    "system-postgresql",
    "backend-redis",
    "system-redis",
    "zync-database",
];

fn original(name: &str) -> i64 {
    SOURCE_WORKLOADS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, r)| i64::from(*r))
        .unwrap_or_else(|| panic!("{name} is not a source workload"))
}

/// A customer's migration whose source cluster holds a 3scale 2.14 installation; pods end
/// `stop_delay` after they are deleted.
struct Env {
    m: Migration,
    source: SimCluster,
    _others: Vec<SimCluster>,
    runtime: tokio::runtime::Runtime,
}

impl Env {
    fn start(stop_delay: Duration) -> Env {
        Env::start_with(
            &threescale_toml("acme", "customer", "limited", ""),
            stop_delay,
        )
    }

    fn start_with(toml: &str, stop_delay: Duration) -> Env {
        let m = Migration::new("acme", toml);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the simulated clusters");
        let start = |name: &str, ns: &str, file: &str, stop: Duration| {
            let spec = ClusterSpec::new(name)
                .namespace(ns)
                .pod_delays(Duration::from_millis(50), stop);
            let sim = runtime
                .block_on(SimCluster::start(spec))
                .unwrap_or_else(|e| panic!("the simulated cluster {name} does not start: {e:#}"));
            write_kubeconfig(&m.dir.path().join(file), &[(name, &sim)]).expect("kubeconfig");
            sim
        };
        let source = start("src", NS, "kube-source", stop_delay);
        let migration = start("mig", NS, "kube-migration", Duration::from_millis(50));
        let destination = start(
            "dst",
            "redhat-rhoam-3scale",
            "kube-destination",
            Duration::from_millis(50),
        );
        for object in source_objects(NS, "apps.source.test", &InternalDatabases::default()) {
            source.apply_object(object).expect("seed the source");
        }
        // RHOAM's 3scale at the destination, for the inventory; its stores are never reached.
        let stores = ExternalStores {
            system_database: "postgresql://system@rds.invalid:5432/system".into(),
            backend_redis_storage: "redis://elasticache.invalid:6379/0".into(),
            backend_redis_queues: "redis://elasticache.invalid:6379/1".into(),
            system_redis: "redis://elasticache.invalid:6379/2".into(),
            zync_database: "postgresql://zync@rds.invalid:5432/zync".into(),
        };
        for object in destination_objects("redhat-rhoam-3scale", "apps.rhoam.test", &stores) {
            destination
                .apply_object(object)
                .expect("seed the destination");
        }
        let env = Env {
            m,
            source,
            _others: vec![migration, destination],
            runtime,
        };
        wait_until("every source workload running", || {
            SOURCE_WORKLOADS
                .iter()
                .all(|(name, r)| env.ready(name) == *r as usize && env.replicas(name) == *r as i64)
        });
        env
    }

    fn workload(&self, name: &str) -> Value {
        self.source
            .get_object(DC, "DeploymentConfig", NS, name)
            .unwrap_or_else(|| panic!("no DeploymentConfig {name}"))
    }

    fn replicas(&self, name: &str) -> i64 {
        self.workload(name)["spec"]["replicas"]
            .as_i64()
            .unwrap_or(-1)
    }

    fn annotation(&self, name: &str) -> Option<String> {
        self.workload(name)["metadata"]["annotations"][ORIGINAL_REPLICAS_ANNOTATION]
            .as_str()
            .map(str::to_string)
    }

    fn pods(&self, name: &str) -> Vec<Value> {
        self.source.list_objects(
            "v1",
            "Pod",
            Some(NS),
            Some(&format!("deploymentConfig={name}")),
        )
    }

    fn ready(&self, name: &str) -> usize {
        self.pods(name)
            .iter()
            .filter(|p| {
                p["metadata"]["deletionTimestamp"].is_null()
                    && p["status"]["conditions"].as_array().is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
            })
            .count()
    }

    /// Watches the DeploymentConfigs through the API (events come in resourceVersion order) and
    /// lists the names in the order their replicas went to 0.
    fn watch_scaled_to_zero(&self) -> Arc<Mutex<Vec<String>>> {
        let order = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = order.clone();
        let kubeconfig = self.m.dir.path().join("kube-source");
        let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ready = started.clone();
        self.runtime.spawn(async move {
            use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
            use kube::runtime::watcher;
            let config = kube::Config::from_custom_kubeconfig(
                kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig"),
                &Default::default(),
            )
            .await
            .expect("client config");
            let client = kube::Client::try_from(config).expect("client");
            let ar = ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("apps.openshift.io", "v1", "DeploymentConfig"),
                "deploymentconfigs",
            );
            let api: kube::Api<DynamicObject> = kube::Api::namespaced_with(client, NS, &ar);
            let mut stream = watcher(api, watcher::Config::default()).boxed();
            while let Some(event) = stream.next().await {
                let obj = match event {
                    Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => o,
                    Ok(watcher::Event::InitDone) => {
                        ready.store(true, std::sync::atomic::Ordering::SeqCst);
                        continue;
                    }
                    _ => continue,
                };
                let name = obj.metadata.name.clone().unwrap_or_default();
                if obj.data.pointer("/spec/replicas").and_then(Value::as_i64) == Some(0)
                    && let Ok(mut o) = seen.lock()
                    && !o.contains(&name)
                {
                    o.push(name);
                }
            }
        });
        wait_until("the DeploymentConfig watch to start", || {
            started.load(std::sync::atomic::Ordering::SeqCst)
        });
        order
    }
}

const CONFIRMS: [&str; 8] = [
    "--confirm",
    "agree-prerequisites",
    "--confirm",
    "stop-traffic=stop traffic",
    // The queues are not what these tests are about; they drain with their own tests.
    "--skip",
    "drain-queues=no jobs in the simulated source",
    "--confirm",
    "scale-down=scale down 3scale",
];

fn run_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "--headless"];
    args.extend(CONFIRMS);
    args.extend(extra);
    args
}

/// The recorded replicas facts of one step, in journal order.
fn replica_facts(entries: &[Value], step: &str) -> Vec<(String, i64)> {
    events(entries, "step-fact", step)
        .into_iter()
        .filter_map(|e| {
            let name = e["key"].as_str()?.strip_prefix("replicas/")?.to_string();
            Some((name, e["value"]["replicas"].as_i64()?))
        })
        .collect()
}

#[test]
fn stop_traffic_and_scale_down_stop_3scale_in_order_and_record_every_count() {
    let env = Env::start(Duration::from_millis(100));
    let order = env.watch_scaled_to_zero();
    let run = env.m.run(&run_args(&["--until", "scale-down"]));
    run.expect_code(0);

    let expected: Vec<String> = GATEWAYS
        .iter()
        .chain(SCALED_DOWN.iter())
        .map(|s| s.to_string())
        .collect();
    let seen = order.lock().map(|o| o.clone()).unwrap_or_default();
    assert_eq!(seen, expected, "the order the workloads went to 0");

    let (entries, _) = env.m.journal();
    let gateways = replica_facts(&entries, "stop-traffic");
    assert_eq!(
        gateways,
        GATEWAYS
            .iter()
            .map(|n| (n.to_string(), original(n)))
            .collect::<Vec<_>>()
    );
    let rest = replica_facts(&entries, "scale-down");
    assert_eq!(
        rest,
        SCALED_DOWN
            .iter()
            .map(|n| (n.to_string(), original(n)))
            .collect::<Vec<_>>(),
        "scale-down records each count once, the gateways' stay stop-traffic's"
    );
    for name in GATEWAYS.iter().chain(SCALED_DOWN.iter()) {
        assert_eq!(env.replicas(name), 0, "{name}");
        assert!(env.pods(name).is_empty(), "{name} has pods left");
        assert_eq!(
            env.annotation(name),
            Some(original(name).to_string()),
            "{name}'s annotation"
        );
    }
    for name in DATA_STORES {
        assert_eq!(env.replicas(name), 1, "{name} stays up for the dumps");
        assert_eq!(env.annotation(name), None, "{name} is not touched");
    }
    let finished = events(&entries, "step-finished", "scale-down");
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0]["outcome"], "passed", "{}", finished[0]);
    let figures = &finished[0]["figures"];
    assert_eq!(figures["original_replicas"]["system-app"], 2, "{figures}");
    assert_eq!(
        figures["original_replicas"]["apicast-production"], 2,
        "{figures}"
    );
    assert_eq!(figures["workloads"], 11, "{figures}");
    assert_eq!(
        figures["replicas_before"],
        GATEWAYS
            .iter()
            .chain(SCALED_DOWN.iter())
            .map(|n| original(n))
            .sum::<i64>(),
        "{figures}"
    );
    assert!(
        figures["absent"]
            .as_array()
            .is_some_and(|a| a.iter().any(|n| n == "system-sphinx")),
        "{figures}"
    );
    let log = std::fs::read_to_string(env.m.migration_dir().join("logs/scale-down.log"))
        .expect("the step's log");
    assert!(
        log.contains("system-sphinx: no Deployment or DeploymentConfig"),
        "{log}"
    );
    assert!(
        log.contains("system-app: scaled deploymentconfig from 2 to 0"),
        "{log}"
    );
}

/// The source's route `backend`: where it points, and the service kept in its annotation.
fn backend_route(env: &Env) -> (String, Option<String>) {
    let route = env
        .source
        .get_object("route.openshift.io/v1", "Route", NS, "backend")
        .expect("the route backend");
    (
        route["spec"]["to"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        route["metadata"]["annotations"]["cutover.io/pre-migration-service"]
            .as_str()
            .map(str::to_string),
    )
}

#[test]
fn stop_traffic_asks_what_to_do_with_the_backend_route_and_a_rollback_opens_it_again() {
    let toml = threescale_toml("acme", "customer", "limited", "")
        .replace("[stop_traffic]\nbackend_route = \"keep\"\n", "");
    let env = Env::start_with(&toml, Duration::from_millis(50));
    let to_stop_traffic = [
        "run",
        "--headless",
        "--until",
        "stop-traffic",
        "--confirm",
        "agree-prerequisites",
        "--confirm",
        "stop-traffic=stop traffic",
    ];
    // Not decided in the config: the step asks, with both answers on the command line.
    let run = env.m.run(&to_stop_traffic);
    run.expect_code(3);
    assert!(
        run.stderr
            .contains("--confirm stop-traffic=\"disable backend route\"")
            && run
                .stderr
                .contains("--confirm stop-traffic=\"keep backend route\"")
            && run.stderr.contains("backend-3scale.apps.source.test"),
        "{}",
        run.stderr
    );
    assert_eq!(backend_route(&env), ("backend-listener".into(), None));

    let mut answered = to_stop_traffic.to_vec();
    answered.extend(["--confirm", "stop-traffic=disable backend route"]);
    env.m.run(&answered).expect_code(0);
    assert_eq!(
        backend_route(&env),
        (
            "cutover-stopped-backend".into(),
            Some("backend-listener".into())
        )
    );
    let (entries, _) = env.m.journal();
    let fact = events(&entries, "step-fact", "stop-traffic")
        .into_iter()
        .rfind(|e| e["key"] == "backend-route")
        .map(|e| e["value"].clone())
        .expect("the fact backend-route");
    assert_eq!(fact["choice"], "disable", "{fact}");
    assert_eq!(fact["routes"][0]["host"], "backend-3scale.apps.source.test");
    let confirmations = events(&entries, "step-confirmed", "stop-traffic");
    assert!(
        confirmations
            .iter()
            .any(|c| c["text"] == "disable backend route"),
        "who decided is recorded: {confirmations:?}"
    );

    // The rollback opens it again, once the gateways run.
    env.m
        .run(&["rollback", "--confirm", "roll back"])
        .expect_code(0);
    assert_eq!(backend_route(&env), ("backend-listener".into(), None));
}

#[test]
fn a_cluster_wide_3scale_operator_is_found_by_its_csv_and_the_apimanager_holds_the_components() {
    let env = Env::start(Duration::from_millis(50));
    // OLM installed the operator for all namespaces: it runs in openshift-operators, and the
    // CSV in the 3scale namespace is OLM's copy.
    let operators_ns = "openshift-operators";
    let operator = "threescale-operator-controller-manager-v2";
    env.source
        .apply_object(serde_json::json!({
            "apiVersion": "operators.coreos.com/v1alpha1",
            "kind": "ClusterServiceVersion",
            "metadata": {
                "name": "3scale-operator.v0.11.0",
                "namespace": NS,
                "labels": {"olm.copiedFrom": operators_ns},
            },
            "spec": {
                "version": "0.11.0",
                "install": {"strategy": "deployment", "spec": {"deployments": [{"name": operator}]}},
            },
        }))
        .expect("the copied CSV");
    env.source
        .apply_object(crate::sim_support::deployment(operators_ns, operator, 1))
        .expect("the operator's deployment");
    env.m
        .run(&run_args(&["--until", "scale-down"]))
        .expect_code(0);

    let (entries, _) = env.m.journal();
    let fact = events(&entries, "step-fact", "scale-down")
        .into_iter()
        .find(|e| e["key"] == "operator")
        .map(|e| e["value"].clone())
        .expect("where the operator runs is recorded");
    assert_eq!(fact["cluster_wide"], true, "{fact}");
    assert_eq!(fact["namespace"], operators_ns, "{fact}");
    assert_eq!(fact["deployments"][0], operator, "{fact}");
    // It serves other namespaces too: left running.
    let running = env
        .source
        .get_object("apps/v1", "Deployment", operators_ns, operator)
        .expect("the operator");
    assert_eq!(running["spec"]["replicas"], 1);
    // The APIManager holds every component at 0 instead.
    let am = env
        .source
        .get_object("apps.3scale.net/v1alpha1", "APIManager", NS, "3scale")
        .expect("the APIManager");
    for (section, spec) in cutover::steps::scale::COMPONENT_SPECS {
        assert_eq!(am["spec"][section][spec]["replicas"], 0, "{section}.{spec}");
    }
    let log = std::fs::read_to_string(env.m.migration_dir().join("logs/scale-down.log"))
        .expect("the step's log");
    assert!(
        log.contains("is installed for all namespaces and runs in namespace openshift-operators"),
        "{log}"
    );
}

#[test]
fn a_refused_scale_fails_the_step_with_the_permission_it_needs() {
    let env = Env::start(Duration::from_millis(50));
    env.source.deny(
        "patch",
        "apps.openshift.io",
        "deploymentconfigs",
        Some("scale"),
        Some(NS),
    );
    let run = env.m.run(&run_args(&[]));
    run.expect_code(1);
    let (entries, _) = env.m.journal();
    let finished = events(&entries, "step-finished", "stop-traffic");
    assert_eq!(finished.len(), 1);
    let summary = finished[0]["summary"].as_str().unwrap_or_default();
    assert_eq!(finished[0]["outcome"], "failed");
    assert!(
        summary.contains("apicast-production")
            && summary.contains("`patch` on deploymentconfigs.apps.openshift.io/scale")
            && summary.contains("auth can-i patch"),
        "{summary}"
    );
    assert!(run.stderr.contains("stop-traffic"), "{}", run.stderr);
    // Recorded first, then refused: the count is kept, nothing was scaled.
    assert_eq!(
        replica_facts(&entries, "stop-traffic"),
        vec![("apicast-production".to_string(), 2)]
    );
    assert_eq!(env.annotation("apicast-production").as_deref(), Some("2"));
    assert_eq!(env.replicas("apicast-production"), 2);
    assert!(events(&entries, "step-started", "drain-queues").is_empty());
}

/// A sink whose facts go to a list, as the engine's go to the journal.
/// Facts a test sink received: key and value, in order.
type Facts = Arc<Mutex<Vec<(String, Value)>>>;

fn recording_sink(step: &'static str) -> (StepSink, Facts) {
    let facts = Arc::new(Mutex::new(Vec::new()));
    let into = facts.clone();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    // Nobody reads the events here; the sink ignores a closed channel.
    drop(rx);
    let recorder: cutover::steps::FactRecorder = Arc::new(move |_step, key: &str, value| {
        into.lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .push((key.to_string(), value));
        Ok(())
    });
    (StepSink::new(StepId(step), tx, recorder, None), facts)
}

#[tokio::test]
async fn a_pod_that_never_ends_fails_the_step_with_its_state() {
    let sb = Sandbox::start("src", NS).await;
    for object in source_objects(NS, "apps.source.test", &InternalDatabases::default()) {
        sb.sim.apply_object(object).unwrap();
    }
    let kube: KubeCluster = sb.connect(ClusterRole::Source, NS).await;
    eventually("system-memcache running", || async {
        kube.workload("system-memcache")
            .await
            .unwrap()
            .ready_replicas
            == 1
    })
    .await;
    // A finalizer nobody removes keeps the pod once it is deleted.
    let mut pod = sb
        .sim
        .list_objects(
            "v1",
            "Pod",
            Some(NS),
            Some("deploymentConfig=system-memcache"),
        )
        .pop()
        .expect("the memcache pod");
    let pod_name = pod["metadata"]["name"].as_str().unwrap().to_string();
    pod["metadata"]["finalizers"] = serde_json::json!(["test.cutover.io/hold"]);
    sb.sim.apply_object(pod.clone()).unwrap();

    let (sink, facts) = recording_sink("scale-down");
    let history = JournalState::default();
    let result = quiesce(
        &kube,
        &sink,
        &history,
        &["system-memcache"],
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    assert_eq!(result.outcome, Outcome::Failed);
    assert!(
        result.summary.contains(&pod_name)
            && result.summary.contains("terminating since")
            && result.summary.contains("finalizers test.cutover.io/hold")
            && result.summary.contains("did not end within 2s"),
        "{}",
        result.summary
    );
    assert_eq!(result.figures["original_replicas"]["system-memcache"], 1);
    let recorded = facts.lock().unwrap().clone();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].0, "replicas/system-memcache");
    assert_eq!(recorded[0].1["replicas"], 1);
    // Not done while the pod is there, even with the count recorded.
    let verdict = recheck(&kube, &history, &["system-memcache"])
        .await
        .unwrap();
    assert!(
        matches!(&verdict, Recheck::DoesNotHold(d) if d.contains(&pod_name)),
        "{verdict:?}"
    );

    // The finalizer goes: the pod ends, the step's end state holds (count from the annotation).
    let mut pod = sb
        .sim
        .get_object("v1", "Pod", NS, &pod_name)
        .expect("still there");
    pod["metadata"]["finalizers"] = serde_json::json!([]);
    sb.sim.apply_object(pod).unwrap();
    eventually("the held pod to end", || async {
        kube.pods_of(
            cutover::infra::kube::WorkloadKind::DeploymentConfig,
            "system-memcache",
        )
        .await
        .unwrap()
        .is_empty()
    })
    .await;
    let verdict = recheck(&kube, &history, &["system-memcache"])
        .await
        .unwrap();
    assert!(
        matches!(&verdict, Recheck::Holds(d) if d.contains("system-memcache (was 1)")),
        "{verdict:?}"
    );

    // Running again records nothing new and scales nothing: the count stays 1.
    let (sink, facts) = recording_sink("scale-down");
    let result = quiesce(
        &kube,
        &sink,
        &history,
        &["system-memcache"],
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    assert_eq!(result.outcome, Outcome::Passed, "{}", result.summary);
    assert_eq!(result.figures["original_replicas"]["system-memcache"], 1);
    let recorded = facts.lock().unwrap().clone();
    assert_eq!(
        recorded.len(),
        1,
        "copied from the annotation: {recorded:?}"
    );
    assert_eq!(recorded[0].1["replicas"], 1);
    assert_eq!(recorded[0].1["from"], "annotation");
}

#[test]
fn kill_mid_scale_down_then_resume_keeps_the_counts_and_rollback_restores_them() {
    let env = Env::start(Duration::from_millis(300));
    let mut child = env.m.spawn(&run_args(&["--until", "scale-down"]));
    wait_until("scale-down to record three counts", || {
        let (entries, _) = env.m.journal();
        replica_facts(&entries, "scale-down").len() >= 3
    });
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    let (entries, _) = env.m.journal();
    assert!(
        events(&entries, "step-finished", "scale-down").is_empty(),
        "killed inside scale-down"
    );
    let before: BTreeMap<String, i64> = replica_facts(&entries, "scale-down").into_iter().collect();
    assert!(SCALED_DOWN.len() > before.len(), "the kill left work to do");

    let resumed = env.m.run(&run_args(&["--until", "scale-down"]));
    resumed.expect_code(0);
    let (entries, _) = env.m.journal();
    let rechecked = events(&entries, "step-rechecked", "scale-down");
    assert_eq!(rechecked.len(), 1);
    assert_eq!(rechecked[0]["holds"], false, "{}", rechecked[0]);
    let facts = replica_facts(&entries, "scale-down");
    let names: Vec<&str> = facts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, SCALED_DOWN, "each count recorded once, in order");
    for (name, n) in &facts {
        assert_eq!(*n, original(name), "{name}'s recorded count");
    }
    for name in GATEWAYS.iter().chain(SCALED_DOWN.iter()) {
        assert_eq!(env.replicas(name), 0, "{name}");
        assert_eq!(
            env.annotation(name),
            Some(original(name).to_string()),
            "{name}"
        );
    }
    let finished = events(&entries, "step-finished", "scale-down");
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0]["outcome"], "passed", "{}", finished[0]);
    for (name, n) in &before {
        assert_eq!(
            finished[0]["figures"]["original_replicas"][name], *n,
            "{name} keeps the count from before the kill"
        );
    }

    // The operator is told to keep the gateways down, and the APIManager's counts are kept.
    let apicast = |spec: &str| {
        env.source
            .get_object("apps.3scale.net/v1alpha1", "APIManager", NS, "3scale")
            .map(|am| am["spec"]["apicast"][spec]["replicas"].clone())
    };
    assert_eq!(apicast("productionSpec"), Some(serde_json::json!(0)));
    assert_eq!(apicast("stagingSpec"), Some(serde_json::json!(0)));
    let (entries, _) = read_journal(&env.m.journal_path());
    let kept: Vec<&Value> = entries
        .iter()
        .filter(|e| {
            e["event"] == "step-fact"
                && e["key"]
                    .as_str()
                    .is_some_and(|k| k.starts_with("apimanager/"))
        })
        .collect();
    let keys: std::collections::BTreeSet<&str> =
        kept.iter().filter_map(|e| e["key"].as_str()).collect();
    assert_eq!(
        kept.len(),
        2 + cutover::steps::scale::COMPONENT_SPECS.len(),
        "APIcast's production and staging (stop-traffic), the other components' specs \
         (scale-down), once each: {kept:#?}"
    );
    assert_eq!(keys.len(), kept.len(), "{keys:?}");
    // scale-down holds every component's spec at 0, so a running operator keeps them down.
    let am = env
        .source
        .get_object("apps.3scale.net/v1alpha1", "APIManager", NS, "3scale")
        .expect("the APIManager");
    let before: Vec<(&str, &str, Value)> = cutover::steps::scale::COMPONENT_SPECS
        .iter()
        .map(|(section, spec)| {
            let key = format!("apimanager/3scale/{section}/{spec}");
            let recorded = kept
                .iter()
                .find(|e| e["key"] == key.as_str())
                .map(|e| e["value"]["replicas"].clone())
                .unwrap_or_else(|| panic!("{key} recorded"));
            assert_eq!(am["spec"][section][spec]["replicas"], 0, "{section}.{spec}");
            (*section, *spec, recorded)
        })
        .collect();

    // Rollback: explained and waiting without the phrase, then done with it.
    let waiting = env.m.run(&["rollback"]);
    waiting.expect_code(3);
    assert!(
        waiting.stderr.contains("--confirm \"roll back\"")
            && waiting.stderr.contains("system-app -> 2"),
        "{}",
        waiting.stderr
    );
    env.m
        .run(&["rollback", "--confirm", "roll it back"])
        .expect_code(3);
    assert_eq!(
        env.replicas("system-app"),
        0,
        "nothing done without the phrase"
    );

    let rolled = env.m.run(&["rollback", "--confirm", "roll back"]);
    rolled.expect_code(0);
    assert_eq!(apicast("productionSpec"), Some(serde_json::json!(2)));
    assert_eq!(apicast("stagingSpec"), Some(serde_json::json!(1)));
    let am = env
        .source
        .get_object("apps.3scale.net/v1alpha1", "APIManager", NS, "3scale")
        .expect("the APIManager");
    for (section, spec, recorded) in &before {
        assert_eq!(
            am["spec"][section][spec]["replicas"], *recorded,
            "{section}.{spec} back to what was recorded"
        );
    }
    for name in GATEWAYS.iter().chain(SCALED_DOWN.iter()) {
        assert_eq!(
            env.replicas(name),
            original(name),
            "{name} back to its count"
        );
        assert_eq!(env.ready(name), original(name) as usize, "{name} ready");
        assert_eq!(env.annotation(name), None, "{name}'s annotation removed");
    }
    // Gateways come back last, after everything behind them.
    let out = &rolled.stdout;
    let at = |s: &str| {
        out.find(&format!("{s}: scaling"))
            .unwrap_or_else(|| panic!("{s} not scaled:\n{out}"))
    };
    assert!(at("system-memcache") < at("system-app"), "{out}");
    assert!(at("system-app") < at("apicast-staging"), "{out}");
    assert!(at("apicast-staging") < at("apicast-production"), "{out}");
    assert!(out.contains("apicast-production: 2/2 ready"), "{out}");

    let (entries, _) = read_journal(&env.m.journal_path());
    let session = entries
        .iter()
        .position(|e| e["event"] == "session-started" && e["mode"] == "rollback")
        .expect("the rollback's session in the journal");
    let end = entries[session..]
        .iter()
        .find(|e| e["event"] == "session-ended")
        .expect("the rollback's end");
    let reason = end["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("rolled back:") && reason.contains("system-app 0→2"),
        "{reason}"
    );

    // The source runs again: stopping it is to be done again, and the journal says so.
    let rolled_back = entries[session..]
        .iter()
        .find(|e| e["event"] == "rolled-back")
        .expect("a rolled-back entry");
    let redo: Vec<&str> = rolled_back["steps"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
        .unwrap_or_default();
    assert!(
        redo.contains(&"stop-traffic") && redo.contains(&"scale-down"),
        "{redo:?}"
    );
    let status = env.m.status();
    for step in ["stop-traffic", "scale-down"] {
        assert_eq!(
            crate::cli::step(&status, step)["status"],
            "pending",
            "{step}"
        );
    }
    // What they recorded described the run the rollback undid: done again, they record afresh.
    let parsed: Vec<Entry> = entries
        .iter()
        .map(|e| serde_json::from_value(e.clone()).expect("a journal entry"))
        .collect();
    let state = JournalState::fold(&parsed);
    for step in ["stop-traffic", "scale-down"] {
        let facts = &state.step(step).expect("the step's record").facts;
        assert!(facts.is_empty(), "{step} keeps {facts:?}");
    }

    // A second rollback finds everything running: nothing to scale, exit 0.
    let again = env.m.run(&["rollback", "--confirm", "roll back"]);
    again.expect_code(0);
    assert!(!again.stdout.contains(": scaling"), "{}", again.stdout);
}

fn entry(seq: u64, event: JournalEvent) -> Entry {
    Entry {
        seq,
        time: chrono::Utc::now(),
        operator: "Carla".into(),
        host: "bastion".into(),
        pid: 1,
        event,
    }
}

#[test]
fn rollback_is_refused_once_the_customer_systems_point_at_the_destination() {
    let header = Header {
        migration: "acme".into(),
        runbook: RunbookId::ThreescaleRhoam,
        access_path: AccessPath::Limited,
    };
    let mut entries = vec![entry(1, header.opened_event())];
    let state = JournalState::fold(&entries);
    let spec = cutover::runbook::get(RunbookId::ThreescaleRhoam)
        .rollback
        .as_ref()
        .expect("threescale-rhoam rolls back");
    assert_eq!(cutover::engine::rollback::taken_over(spec, &state), None);
    entries.push(entry(
        2,
        JournalEvent::StepConfirmed {
            step: "point-customer-systems".into(),
            confirmation: Confirmation {
                need: Need::Confirm,
                text: None,
                party: Party::Customer,
            },
        },
    ));
    let reason = cutover::engine::rollback::taken_over(spec, &JournalState::fold(&entries))
        .expect("confirmed: taken over");
    assert!(
        reason.contains("point-customer-systems was confirmed by Carla")
            && reason.contains("taken over"),
        "{reason}"
    );
}

#[test]
fn the_quiesce_lists_leave_the_data_stores_alone() {
    for store in DATA_STORES
        .iter()
        .chain(["system-mysql", "backend-redis", "system-redis"].iter())
    {
        assert!(!SCALE_DOWN_WORKLOADS.contains(store), "{store}");
    }
}

#[test]
fn the_rollback_command_refuses_with_the_reason_once_the_destination_took_over() {
    let env = Env::start(Duration::from_millis(50));
    env.m
        .run(&run_args(&["--until", "stop-traffic"]))
        .expect_code(0);
    assert_eq!(env.replicas("apicast-production"), 0);
    // The customer confirmed that its systems point at the destination.
    let (entries, _) = env.m.journal();
    let seq = entries.len() + 1;
    let line = format!(
        r#"{{"seq":{seq},"time":"2026-11-22T10:00:00Z","operator":"Carla","host":"bastion","pid":1,"event":"step-confirmed","step":"point-customer-systems","need":"confirm","party":"customer"}}"#
    );
    let path = env.m.journal_path();
    let text = std::fs::read_to_string(&path).expect("journal");
    std::fs::write(&path, format!("{text}{line}\n")).expect("append");

    let refused = env.m.run(&["rollback", "--confirm", "roll back"]);
    refused.expect_code(1);
    assert!(
        refused.stderr.contains("rollback refused")
            && refused
                .stderr
                .contains("point-customer-systems was confirmed by Carla"),
        "{}",
        refused.stderr
    );
    assert_eq!(env.replicas("apicast-production"), 0, "nothing scaled");
    let (after, _) = env.m.journal();
    assert_eq!(after.len(), seq, "a refusal writes nothing");
}

#[test]
fn the_wizard_rolls_back_while_the_run_holds_and_the_steps_are_to_be_done_again() {
    use crate::engine_hold::Driver;
    use cutover::event::{Command, Event, Hold};
    let env = Env::start(Duration::from_millis(50));
    env.runtime.block_on(async {
        let mut d = Driver::start(&env.m);
        d.hold().await;
        d.send(Command::Run);
        // Answer what the checks lead to; pause as soon as the traffic is stopped.
        loop {
            let ev = d
                .until("a gate, a failure or the pause", |e| match e {
                    Event::Waiting(r) => Some(Ok(r.step.0)),
                    Event::Holding(h) => Some(Err(h.clone())),
                    _ => None,
                })
                .await;
            match ev {
                Ok("stop-traffic") => {
                    d.send(Command::Confirm {
                        step: StepId("stop-traffic"),
                        text: Some("stop traffic".into()),
                    });
                    d.send(Command::Pause);
                }
                Ok(step) => d.send(Command::Confirm {
                    step: StepId(step),
                    text: None,
                }),
                Err(Hold::Paused { next }) => {
                    assert_eq!(next.map(|s| s.0), Some("drain-queues"));
                    break;
                }
                Err(other) => panic!("held for {other:?} before the pause"),
            }
        }
        assert_eq!(env.replicas("apicast-production"), 0);
        // A wrong phrase changes nothing; the right one rolls back and holds again.
        d.send(Command::RollBack {
            text: "rollback".into(),
        });
        d.send(Command::RollBack {
            text: "roll back".into(),
        });
        let again = d.hold().await;
        assert_eq!(
            again,
            Hold::Paused {
                next: Some(cutover::runbook::StepId("stop-traffic"))
            }
        );
        // Going on asks for stopping the traffic again, not for the drain.
        d.send(Command::Run);
        let next = d
            .until("the next gate", |e| match e {
                Event::Waiting(r) => Some(r.step.0),
                _ => None,
            })
            .await;
        assert_eq!(next, "stop-traffic");
        d.send(Command::Quit);
        d.end().await;
    });
    assert_eq!(
        env.replicas("apicast-production"),
        original("apicast-production")
    );
    assert_eq!(env.annotation("apicast-production"), None);
    let status = env.m.status();
    assert_eq!(
        crate::cli::step(&status, "stop-traffic")["status"],
        "pending"
    );
    let (entries, _) = read_journal(&env.m.journal_path());
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["event"] == "rolled-back")
            .count(),
        1,
        "the wrong phrase rolled nothing back"
    );
}
