//! `registry-post-fixes` on a cluster B that looks restored (the registry's objects set up
//! directly, `sim::installation::registry_namespace`), its PostgreSQL instances' psql simulated
//! in-process (`sim::postgres_pod`) with the passwords A's volumes brought: the first run sets
//! each `postgres` role's password to its secret's (checked by a login), restarts bpms, adds B's
//! egress address to the Nexus route's whitelist, deletes the GerritGroupMembers and reports a
//! Kafka volume whose size differs from A's; the second run, given the first one's facts,
//! changes nothing and says so. No log line or summary holds a password.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};

use cutover::config::Config;
use cutover::event::Event;
use cutover::journal::{JournalState, StepRecord};
use cutover::runbook::{Action, Outcome, StepId};
use cutover::sim::installation::{Platform, install, platform_objects, registry_namespace};
use cutover::sim::postgres_pod::{PgRoles, allow_psql};
use cutover::sim::{ClusterSpec, SimCluster, write_kubeconfig};
use cutover::steps::{Recheck, StepContext, StepResult, StepSink};

const REGISTRY: &str = "abc-02";
const EDP: &str = "control-plane";
const EGRESS: &str = "203.0.113.7";
const WHITELIST: &str = "haproxy.router.openshift.io/ip_whitelist";

struct Scene {
    a: SimCluster,
    b: SimCluster,
    roles: PgRoles,
    config: Arc<Config>,
    _dir: tempfile::TempDir,
}

async fn cluster(name: &str, dir: &std::path::Path, objects: Vec<Value>) -> SimCluster {
    let spec = ClusterSpec::new(name)
        .namespace(EDP)
        .pod_delays(Duration::from_millis(20), Duration::from_millis(20));
    let sim = SimCluster::start(spec).await.expect("the cluster starts");
    install(&sim, objects).expect("the objects install");
    write_kubeconfig(&dir.join(format!("kube-{name}")), &[(name, &sim)]).unwrap();
    sim
}

async fn scene() -> Scene {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::new(REGISTRY, "1.9.7", "http://127.0.0.1:9000");
    let mut a_objects = platform_objects(&platform);
    a_objects.extend(registry_namespace(REGISTRY, "apps.a.example"));
    let mut b_objects = platform_objects(&platform);
    // Restored: the registry's objects as the restore leaves them, Kafka's volume grown.
    for mut object in registry_namespace(REGISTRY, "apps.a.example") {
        if object["kind"] == "PersistentVolumeClaim"
            && object["metadata"]["name"] == "data-0-kafka-cluster-kafka-0"
        {
            object["status"]["capacity"]["storage"] = json!("25Gi");
        }
        b_objects.push(object);
    }
    let a = cluster("a", dir.path(), a_objects).await;
    let b = cluster("b", dir.path(), b_objects).await;
    let roles = PgRoles::default();
    for (instance, pod) in [
        ("operational", "operational-instance1"),
        ("analytical", "analytical-instance1"),
    ] {
        roles.set(instance, &format!("{instance}-password-of-a"));
        allow_psql(&b, REGISTRY, pod, instance, &roles);
    }
    for file in ["key", "kc"] {
        std::fs::write(dir.path().join(file), "x").unwrap();
    }
    let toml = format!(
        r#"[migration]
name = "post"
runbook = "velero-registry"
access_path = "cluster-admin"
party = "customer"
operator = "Op"
state_dir = "state"

[source]
kubeconfig = "kube-a"
namespace = "{EDP}"

[destination]
kubeconfig = "kube-b"
namespace = "{EDP}"

[velero]
registry = "{REGISTRY}"
destination_egress_ip = "{EGRESS}"

[velero.storage.source]
endpoint = "http://127.0.0.1:9000"
access_key = "file:key"
secret_key = "file:key"

[velero.storage.destination]
endpoint = "http://127.0.0.1:9001"
access_key = "file:key"
secret_key = "file:key"

[velero.keycloak]
url = "http://127.0.0.1:9002"
admin_user = "file:kc"
admin_password = "file:kc"
"#
    );
    let path = dir.path().join("cutover.toml");
    std::fs::write(&path, toml).unwrap();
    let config = Arc::new(Config::load(&path).expect("the config loads"));
    let scene = Scene {
        a,
        b,
        roles,
        config,
        _dir: dir,
    };
    bpms_ready(&scene).await;
    scene
}

fn bpms_pods(scene: &Scene) -> Vec<Value> {
    scene
        .b
        .list_objects("v1", "Pod", Some(REGISTRY), Some("app=bpms"))
}

/// Waits until B's bpms pod and the PostgreSQL masters run.
async fn bpms_ready(scene: &Scene) {
    for _ in 0..500 {
        let pods = scene.b.list_objects("v1", "Pod", Some(REGISTRY), None);
        let running = |prefix: &str| {
            pods.iter().any(|p| {
                p["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(prefix))
                    && p["status"]["phase"] == "Running"
            })
        };
        if running("bpms") && running("operational-") && running("analytical-") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("B's pods do not start");
}

type Facts = Arc<Mutex<Map<String, Value>>>;

fn context(
    scene: &Scene,
    history: Map<String, Value>,
) -> (
    StepContext,
    tokio::sync::mpsc::UnboundedReceiver<Event>,
    Facts,
) {
    let step = scene
        .config
        .runbook()
        .steps
        .iter()
        .find(|s| s.action == Some(Action::RegistryPostFixes))
        .expect("the runbook has the step");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let facts: Facts = Arc::new(Mutex::new(history.clone()));
    let into = facts.clone();
    let recorder: cutover::steps::FactRecorder = Arc::new(move |_s, key: &str, value| {
        into.lock().unwrap().insert(key.to_string(), value);
        Ok(())
    });
    let mut state = JournalState::default();
    state.steps.insert(
        step.id.0.to_string(),
        StepRecord {
            facts: history,
            ..StepRecord::default()
        },
    );
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let ctx = StepContext {
        config: scene.config.clone(),
        step,
        sink: StepSink::new(StepId(step.id.0), tx, recorder, None),
        history: Arc::new(state),
        own_actions: vec![],
        stop,
    };
    (ctx, rx, facts)
}

/// One run: its result, its log lines, and the facts after it.
async fn run(
    scene: &Scene,
    history: Map<String, Value>,
) -> (StepResult, Vec<String>, Map<String, Value>) {
    let (ctx, mut rx, facts) = context(scene, history);
    let step = cutover::steps::implementation(Action::RegistryPostFixes)
        .automated()
        .expect("the step is automated");
    let result = step
        .run(&ctx)
        .await
        .unwrap_or_else(|e| panic!("the step errs: {e:#}"));
    drop(ctx);
    let mut lines = Vec::new();
    while let Ok(event) = rx.try_recv() {
        if let Event::StepLog { line, .. } = event {
            lines.push(line);
        }
    }
    let facts = facts.lock().unwrap().clone();
    (result, lines, facts)
}

fn uids(pods: &[Value]) -> BTreeSet<String> {
    pods.iter()
        .filter_map(|p| p["metadata"]["uid"].as_str().map(str::to_string))
        .collect()
}

fn whitelist(scene: &Scene) -> String {
    let route = scene
        .b
        .get_object("route.openshift.io/v1", "Route", REGISTRY, "nexus")
        .expect("the route is there");
    route["metadata"]["annotations"][WHITELIST]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn assert_no_password(result: &StepResult, lines: &[String]) {
    let text = format!(
        "{}\n{}\n{}",
        result.summary,
        serde_json::to_string(&result.figures).unwrap(),
        lines.join("\n")
    );
    for secret in [
        "operational-pg-passw0rd",
        "analytical-pg-passw0rd",
        "password-of-a",
    ] {
        assert!(
            !text.contains(secret),
            "a password is in the step's output: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn post_fixes_are_made_checked_and_not_made_twice() {
    let scene = scene().await;
    let bpms_before = uids(&bpms_pods(&scene));
    assert!(!bpms_before.is_empty());

    let (first, lines, facts) = run(&scene, Map::new()).await;
    assert_eq!(
        first.outcome,
        Outcome::Passed,
        "{}\n{}",
        first.summary,
        lines.join("\n")
    );
    assert_eq!(
        scene.roles.password("operational").as_deref(),
        Some("operational-pg-passw0rd")
    );
    assert_eq!(
        scene.roles.password("analytical").as_deref(),
        Some("analytical-pg-passw0rd")
    );
    let list = whitelist(&scene);
    assert_eq!(list, format!("10.0.0.0/8 192.168.10.5/32 {EGRESS}/32"));
    assert!(
        scene
            .b
            .list_objects(
                "v2.edp.epam.com/v1",
                "GerritGroupMember",
                Some(REGISTRY),
                None
            )
            .is_empty(),
        "the GerritGroupMembers are deleted"
    );
    let bpms_after = uids(&bpms_pods(&scene));
    assert!(
        !bpms_after.is_empty() && bpms_after.is_disjoint(&bpms_before),
        "bpms restarted: {bpms_before:?} then {bpms_after:?}: {lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l
                .contains("data-0-kafka-cluster-kafka-0: 25Gi on cluster B, 20Gi on cluster A")),
        "the Kafka volume is reported on both clusters: {lines:#?}"
    );
    assert!(
        first.summary.contains("seal \"transit\""),
        "{}",
        first.summary
    );
    assert!(
        first.summary.contains("gerrit-ci-users-sshkey"),
        "{}",
        first.summary
    );
    assert!(
        first.summary.contains(
            "storage.kafka.size: 25Gi (the capacity of data-0-kafka-cluster-kafka-0 on cluster B)"
        ),
        "{}",
        first.summary
    );
    assert_no_password(&first, &lines);
    assert_eq!(facts.get("bpms_restart"), Some(&json!("done")));
    // A's objects are untouched.
    assert_eq!(
        scene
            .a
            .list_objects(
                "v2.edp.epam.com/v1",
                "GerritGroupMember",
                Some(REGISTRY),
                None
            )
            .len(),
        2
    );

    // The second run changes nothing and says so.
    let (second, lines2, _) = run(&scene, facts.clone()).await;
    assert_eq!(second.outcome, Outcome::Passed, "{}", second.summary);
    assert!(
        second.summary.starts_with("nothing to change"),
        "{}",
        second.summary
    );
    assert_eq!(whitelist(&scene), list);
    assert_eq!(
        uids(&bpms_pods(&scene)),
        bpms_after,
        "bpms is not restarted again"
    );
    assert_no_password(&second, &lines2);

    // And the re-check after a crash finds the end state.
    let (ctx, _rx, _) = context(&scene, facts);
    let recheck = cutover::steps::implementation(Action::RegistryPostFixes)
        .automated()
        .unwrap()
        .check(&ctx)
        .await
        .expect("the check runs");
    assert!(matches!(recheck, Recheck::Holds(_)), "{recheck:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_owed_by_a_killed_run_is_finished_and_bad_secrets_are_named() {
    let scene = scene().await;
    // A run killed after setting a password, before bpms restarted: the password already works.
    scene.roles.set("operational", "operational-pg-passw0rd");
    scene.roles.set("analytical", "analytical-pg-passw0rd");
    let before = uids(&bpms_pods(&scene));
    let mut history = Map::new();
    history.insert("bpms_restart".into(), json!("due"));
    let (result, lines, facts) = run(&scene, history).await;
    assert_eq!(
        result.outcome,
        Outcome::Passed,
        "{}\n{lines:#?}",
        result.summary
    );
    assert!(
        uids(&bpms_pods(&scene)).is_disjoint(&before),
        "the owed restart is done"
    );
    assert_eq!(facts.get("bpms_restart"), Some(&json!("done")));

    // A secret the restore did not bring back is named, with what to do. (Its PostgresCluster
    // goes first: the Crunchy operator would make the secret again for its `postgres` user.)
    scene.b.delete_object(
        "postgres-operator.crunchydata.com/v1beta1",
        "PostgresCluster",
        REGISTRY,
        "analytical",
    );
    scene
        .b
        .delete_object("v1", "Secret", REGISTRY, "analytical-pguser-postgres");
    let (result, lines, _) = run(&scene, facts).await;
    assert_eq!(result.outcome, Outcome::Failed);
    assert!(
        result
            .summary
            .contains("no secret analytical-pguser-postgres"),
        "{}",
        result.summary
    );
    assert_no_password(&result, &lines);
}
