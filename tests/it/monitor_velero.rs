//! The live panels of a registry migration against two simulated clusters: the Velero monitor
//! lists the Backups and Restores the test creates, as Velero's controller moves them, and the
//! pod monitor the registry's namespace with its StatefulSets; both look at cluster A until the
//! backup is made and at cluster B from the wait for the synced backup on. Every wait is a
//! bounded wait for a condition.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cutover::config::Config;
use cutover::event::{Event, VeleroKind, VeleroSample, WorkloadSample};
use cutover::infra::kube::{CustomKind, KubeCluster};
use cutover::infra::s3::S3Client;
use cutover::infra::velero::{RestoreRequest, backup_object, restore_object};
use cutover::monitor::{MonitorOptions, Monitors};
use cutover::runbook::ids;
use cutover::sim::s3::S3Server;
use cutover::sim::{ClusterSpec, SimCluster, write_kubeconfig};
use serde_json::json;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::sim_statefulset::stateful_set;
use crate::sim_support::deployment;

const DEADLINE: Duration = Duration::from_secs(90);
const REGISTRY: &str = "registry-acme";
const BACKUP_A: &str = "registry-acme-2026-12-07-10-00";

fn fast() -> MonitorOptions {
    MonitorOptions {
        queue_interval: Duration::from_millis(100),
        pod_interval: Duration::from_millis(100),
        timeout: Duration::from_secs(1),
    }
}

/// A registry migration from context `cluster-a` to `cluster-b`. The clusters' own namespace
/// is another one, so the pods panel shows the registry's only when it reads `[velero]`.
fn config(dir: &Path, kubeconfig: &Path) -> Arc<Config> {
    let text = format!(
        r#"[migration]
name = "registry"
runbook = "velero-registry"
access_path = "cluster-admin"
party = "customer"
operator = "Test Operator"

[source]
kubeconfig = "{k}"
context = "cluster-a"
namespace = "default"

[destination]
kubeconfig = "{k}"
context = "cluster-b"
namespace = "default"

[velero]
namespace = "velero"
registry = "{REGISTRY}"

[velero.storage.source]
endpoint = "http://127.0.0.1:9"
access_key = "env:CUTOVER_TEST_UNUSED_KEY"
secret_key = "env:CUTOVER_TEST_UNUSED_KEY"

[velero.storage.destination]
endpoint = "http://127.0.0.1:9"
access_key = "env:CUTOVER_TEST_UNUSED_KEY"
secret_key = "env:CUTOVER_TEST_UNUSED_KEY"

[velero.keycloak]
url = "http://127.0.0.1:9"
admin_user = "env:CUTOVER_TEST_UNUSED_KEY"
admin_password = "env:CUTOVER_TEST_UNUSED_KEY"
"#,
        k = kubeconfig.display()
    );
    let path = dir.join("cutover.toml");
    Arc::new(Config::parse(&text, &path).unwrap_or_else(|e| panic!("test config: {e:#}")))
}

async fn cluster(name: &str) -> SimCluster {
    let spec = ClusterSpec::new(name)
        .namespace("velero")
        .namespace(REGISTRY)
        .pod_delays(Duration::from_millis(100), Duration::from_millis(100))
        .velero_step(Duration::from_millis(150));
    SimCluster::start(spec)
        .await
        .unwrap_or_else(|e| panic!("simulator does not start: {e:#}"))
}

async fn connect(kubeconfig: &Path, context: &str, ns: &str) -> KubeCluster {
    let target = cutover::infra::kube::ClusterTarget {
        name: context.to_string(),
        kubeconfig: kubeconfig.to_path_buf(),
        context: Some(context.to_string()),
        namespace: ns.to_string(),
    };
    KubeCluster::connect(&target)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {context}: {e:#}"))
}

/// An S3 server for one cluster's Velero: its bucket, Velero's credentials secret and the
/// storage location the chart makes, pointing at it.
async fn storage(velero: &KubeCluster) -> (S3Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(dir.path(), "velero-key", "velero-secret-value")
        .await
        .expect("the S3 server starts");
    S3Client::new(&s3.client_endpoint(), "registry-acme-backups")
        .unwrap()
        .create_bucket()
        .await
        .expect("the bucket");
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": "cloud-credentials"},
        "stringData": {"cloud": "[default]\naws_access_key_id=velero-key\naws_secret_access_key=velero-secret-value\n"}
    }))
    .unwrap();
    velero
        .apply_secret(None, &secret)
        .await
        .expect("Velero's credentials");
    velero
        .apply_custom(
            CustomKind::BackupStorageLocation,
            None,
            "default",
            &json!({"spec": {"provider": "aws", "objectStorage": {"bucket": "registry-acme-backups", "prefix": "openshift-backups"},
                "config": {"region": "minio", "s3Url": s3.endpoint(), "s3ForcePathStyle": "true"}}}),
        )
        .await
        .expect("the storage location");
    (s3, dir)
}

/// A Backup as `velero backup create` makes it, into the location `storage` made.
async fn back_up(velero: &KubeCluster, name: &str) {
    let backup = backup_object(
        "velero",
        name,
        &[REGISTRY],
        "default",
        Duration::from_secs(720 * 3600),
    );
    velero
        .create_custom(CustomKind::VeleroBackup, None, &backup)
        .await
        .expect("create the Backup");
}

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

fn velero(event: &Event) -> Option<(String, Vec<VeleroSample>)> {
    match event {
        Event::VeleroObjects { scope, objects } => Some((scope.clone(), objects.clone())),
        _ => None,
    }
}

fn workloads(event: &Event) -> Option<(String, Vec<WorkloadSample>)> {
    match event {
        Event::Workloads { scope, workloads } => Some((scope.clone(), workloads.clone())),
        _ => None,
    }
}

fn done(objects: &[VeleroSample], name: &str) -> bool {
    objects.iter().any(|o| {
        o.name == name
            && o.phase == "Completed"
            && o.total_items > 0
            && o.items_done == o.total_items
    })
}

#[tokio::test]
async fn the_velero_and_pods_panels_follow_the_registry_from_cluster_a_to_cluster_b() {
    let (a, b) = (cluster("cluster-a").await, cluster("cluster-b").await);
    let dir = tempfile::tempdir().expect("temporary folder");
    let kubeconfig = dir.path().join("kubeconfig");
    write_kubeconfig(&kubeconfig, &[("cluster-a", &a), ("cluster-b", &b)]).expect("kubeconfig");
    a.apply_object(stateful_set(REGISTRY, "gerrit", 2))
        .expect("A's StatefulSet");
    a.apply_object(deployment(REGISTRY, "registry-app", 1))
        .expect("A's Deployment");
    b.apply_object(stateful_set(REGISTRY, "nexus", 1))
        .expect("B's StatefulSet");
    let velero_a = connect(&kubeconfig, "cluster-a", "velero").await;
    let velero_b = connect(&kubeconfig, "cluster-b", "velero").await;
    let _storage_a = storage(&velero_a).await;
    back_up(&velero_a, BACKUP_A).await;

    let (tx, mut rx) = unbounded_channel();
    let monitors = Monitors::start(config(dir.path(), &kubeconfig), tx, fast());
    let mut running = monitors.running();
    running.sort_unstable();
    assert_eq!(running, ["pod", "velero"]);

    // Cluster A: its Backup counted up to Completed, and the registry's workloads.
    let mut saw_progress = false;
    let (scope, objects) = until(&mut rx, "A's backup Completed", |e| {
        let (scope, objects) = velero(e)?;
        saw_progress |= objects
            .iter()
            .any(|o| o.phase == "InProgress" && o.total_items > 0);
        done(&objects, BACKUP_A).then_some((scope, objects))
    })
    .await;
    assert_eq!(scope, "source / velero");
    assert!(saw_progress, "the backup was never seen in progress");
    assert_eq!(objects[0].kind, VeleroKind::Backup);
    assert!(objects[0].started.is_some());
    let (scope, rows) = until(&mut rx, "A's StatefulSet running", |e| {
        workloads(e).filter(|(_, rows)| {
            rows.iter()
                .any(|w| w.name == "statefulset/gerrit" && w.phase == "Running")
        })
    })
    .await;
    assert_eq!(scope, format!("source / {REGISTRY}"));
    let gerrit = rows
        .iter()
        .find(|w| w.name == "statefulset/gerrit")
        .expect("gerrit");
    assert_eq!((gerrit.desired, gerrit.ready, gerrit.current), (2, 2, 2));
    assert!(rows.iter().any(|w| w.name == "deployment/registry-app"));

    // The backup is made on A: the panels stay there.
    monitors.step_started(ids::BACKUP_REGISTRY);
    // From the wait for the synced backup on, cluster B.
    monitors.step_started(ids::WAIT_BACKUP_SYNCED);
    let (scope, rows) = until(&mut rx, "B's workloads", |e| {
        workloads(e).filter(|(scope, _)| scope.starts_with("destination"))
    })
    .await;
    assert_eq!(scope, format!("destination / {REGISTRY}"));
    let names: Vec<&str> = rows.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["statefulset/nexus"]);

    // On B: the synced Backup (made here for the test), then the restore's stages.
    let backup_b = "registry-acme-2026-12-07-12-00";
    let _storage_b = storage(&velero_b).await;
    back_up(&velero_b, backup_b).await;
    until(&mut rx, "B's backup Completed", |e| {
        velero(e)
            .filter(|(scope, objects)| scope == "destination / velero" && done(objects, backup_b))
    })
    .await;
    let stages = ["init", "vault"];
    for stage in stages {
        let name = format!("{backup_b}-20261207120500-{stage}");
        let restore = restore_object(
            "velero",
            &RestoreRequest {
                name: name.clone(),
                backup: backup_b.to_string(),
                ..RestoreRequest::default()
            },
        );
        velero_b
            .create_custom(CustomKind::VeleroRestore, None, &restore)
            .await
            .expect("create the Restore");
        until(&mut rx, "the restore Completed", |e| {
            velero(e).filter(|(_, objects)| done(objects, &name))
        })
        .await;
    }
    let (_, objects) = until(&mut rx, "B's backup and both restores", |e| {
        velero(e).filter(|(_, objects)| objects.len() == 3)
    })
    .await;
    let kinds: Vec<VeleroKind> = objects.iter().map(|o| o.kind).collect();
    assert_eq!(
        kinds,
        [VeleroKind::Restore, VeleroKind::Restore, VeleroKind::Backup],
        "newest first: {objects:?}"
    );
    assert!(
        objects.iter().all(|o| o.name != BACKUP_A),
        "A's backup is not on B"
    );
}

#[tokio::test]
async fn the_velero_monitor_reports_a_refusing_cluster_and_recovers() {
    let a = cluster("cluster-a").await;
    let dir = tempfile::tempdir().expect("temporary folder");
    let kubeconfig = dir.path().join("kubeconfig");
    write_kubeconfig(&kubeconfig, &[("cluster-a", &a), ("cluster-b", &a)]).expect("kubeconfig");
    let (tx, mut rx) = unbounded_channel();
    let _monitors = Monitors::start(config(dir.path(), &kubeconfig), tx, fast());
    until(&mut rx, "an empty listing", |e| {
        velero(e).filter(|(_, objects)| objects.is_empty())
    })
    .await;

    a.set_unauthorized(true);
    let text = until(&mut rx, "a velero monitor problem", |e| match e {
        Event::MonitorProblem {
            monitor: "velero",
            text,
        } => Some(text.clone()),
        _ => None,
    })
    .await;
    assert!(text.contains("source cluster"), "{text}");
    assert!(!text.contains(&a.token()), "{text}");

    a.set_unauthorized(false);
    let velero_a = connect(&kubeconfig, "cluster-a", "velero").await;
    let _storage_a = storage(&velero_a).await;
    back_up(&velero_a, BACKUP_A).await;
    until(&mut rx, "the new backup after the problem", |e| {
        velero(e).filter(|(_, objects)| objects.iter().any(|o| o.name == BACKUP_A))
    })
    .await;
}
