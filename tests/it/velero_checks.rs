//! The prerequisite checks of `velero-registry` against two simulated clusters running the
//! Platform (`sim::installation::platform_objects`), cluster A with the registry: each check
//! passes on a good scene and refuses, saying what to do, a scene broken the way the Platform's
//! procedure warns about: versions that differ, no Keycloak or no Platform on B, a location
//! Unavailable, `backupSyncPeriod` 0, restic passwords that differ, Velero older than 1.9, a
//! registry already on B. Then `backup-registry` on A: a Completed backup with the objects
//! saved beside it, a pod volume not opted into file-system backup refused before anything is
//! made, a backup with item errors failed with the errors from its log. Each step runs as the
//! engine runs it (`steps::implementation`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use cutover::config::Config;
use cutover::event::Event;
use cutover::infra::s3::{S3Client, S3Endpoint};
use cutover::journal::JournalState;
use cutover::runbook::{Action, Outcome, StepId};
use cutover::sim::installation::{
    Platform, install, platform_objects, registry_codebase, registry_namespace, version_update,
};
use cutover::sim::keycloak::{KeycloakServer, KeycloakSpec};
use cutover::sim::s3::S3Server;
use cutover::sim::{ClusterSpec, SimCluster, write_kubeconfig};
use cutover::steps::{StepContext, StepResult, StepSink};

const REGISTRY: &str = "abc-02";
const VERSION: &str = "1.9.7";
const EDP: &str = "control-plane";

/// Two clusters with the Platform (A also with the registry) and a config naming them.
struct Scene {
    a: SimCluster,
    b: SimCluster,
    _dir: tempfile::TempDir,
    config: Arc<Config>,
    /// Each cluster's object storage (a real S3 server) and B's Keycloak.
    _storage: (S3Server, S3Server),
    _keycloak: KeycloakServer,
}

/// A real S3 server holding the registry's bucket.
async fn storage(dir: &std::path::Path, name: &str) -> S3Server {
    let server = S3Server::start(&dir.join(name), "minio-access", "minio-secret")
        .await
        .expect("the S3 server starts");
    let endpoint = S3Endpoint {
        url: server.endpoint(),
        region: String::new(),
        access_key: "minio-access".into(),
        secret_key: "minio-secret".into(),
        ca_file: None,
    };
    S3Client::new(&endpoint, &format!("{REGISTRY}-backups"))
        .unwrap()
        .create_bucket()
        .await
        .expect("the bucket is created");
    server
}

fn platform(endpoint: &str) -> Platform {
    Platform::new(REGISTRY, VERSION, endpoint)
}

async fn cluster(name: &str, dir: &std::path::Path, objects: Vec<Value>) -> SimCluster {
    let spec = ClusterSpec::new(name)
        .namespace(EDP)
        .pod_delays(Duration::from_millis(20), Duration::from_millis(20));
    let sim = SimCluster::start(spec)
        .await
        .unwrap_or_else(|e| panic!("cluster {name} does not start: {e:#}"));
    install(&sim, objects).unwrap_or_else(|e| panic!("install on {name}: {e:#}"));
    write_kubeconfig(&dir.join(format!("kube-{name}")), &[(name, &sim)]).unwrap();
    sim
}

/// A's Platform with the registry at `VERSION`; B's Platform as `b` says, plus `b_extra`.
async fn scene_with(mut a: Platform, mut b: Platform, b_extra: Vec<Value>) -> Scene {
    let dir = tempfile::tempdir().unwrap();
    let storage_a = storage(dir.path(), "s3-a").await;
    let storage_b = storage(dir.path(), "s3-b").await;
    // Each cluster's Velero reaches its own object storage.
    a.storage_endpoint = storage_a.endpoint();
    b.storage_endpoint = storage_b.endpoint();
    let keycloak = KeycloakServer::start(KeycloakSpec::new("admin", "keycloak-admin"))
        .await
        .expect("Keycloak starts");
    let mut a_objects = platform_objects(&a);
    a_objects.extend(registry_codebase(REGISTRY, VERSION, EDP));
    a_objects.extend(registry_namespace(REGISTRY, "apps.a.example"));
    let mut b_objects = platform_objects(&b);
    b_objects.extend(b_extra);
    let a_sim = cluster("a", dir.path(), a_objects).await;
    let b_sim = cluster("b", dir.path(), b_objects).await;
    for (file, value) in [
        ("a-key", "minio-access"),
        ("a-secret", "minio-secret"),
        ("b-key", "minio-access"),
        ("b-secret", "minio-secret"),
        ("kc-user", "admin"),
        ("kc-password", "keycloak-admin"),
    ] {
        std::fs::write(dir.path().join(file), value).unwrap();
    }
    let toml = format!(
        r#"[migration]
name = "checks"
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

[velero.storage.source]
endpoint = "{a_endpoint}"
access_key = "file:a-key"
secret_key = "file:a-secret"

[velero.storage.destination]
endpoint = "{b_endpoint}"
access_key = "file:b-key"
secret_key = "file:b-secret"

[velero.keycloak]
url = "{keycloak_url}"
admin_user = "file:kc-user"
admin_password = "file:kc-password"
"#,
        a_endpoint = storage_a.endpoint(),
        b_endpoint = storage_b.endpoint(),
        keycloak_url = keycloak.url(),
    );
    let path = dir.path().join("cutover.toml");
    std::fs::write(&path, toml).unwrap();
    let config = Arc::new(Config::load(&path).expect("the scene's config loads"));
    Scene {
        a: a_sim,
        b: b_sim,
        _dir: dir,
        config,
        _storage: (storage_a, storage_b),
        _keycloak: keycloak,
    }
}

async fn scene() -> Scene {
    scene_with(
        platform("http://127.0.0.1:9000"),
        platform("http://127.0.0.1:9001"),
        vec![],
    )
    .await
}

/// What a step gets, as the engine gives it: the receiving end of its events, and the facts it
/// recorded.
type Facts = Arc<Mutex<Vec<(String, Value)>>>;

fn context(
    scene: &Scene,
    action: Action,
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
        .find(|s| s.action == Some(action))
        .expect("a step of the runbook runs the action");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let facts: Facts = Arc::new(Mutex::new(Vec::new()));
    let into = facts.clone();
    let recorder: cutover::steps::FactRecorder = Arc::new(move |_s, key: &str, value| {
        into.lock().unwrap().push((key.to_string(), value));
        Ok(())
    });
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let ctx = StepContext {
        config: scene.config.clone(),
        step,
        sink: StepSink::new(StepId(step.id.0), tx, recorder, None),
        history: Arc::new(JournalState::default()),
        own_actions: scene
            .config
            .runbook()
            .steps
            .iter()
            .filter_map(|s| s.action)
            .collect(),
        stop,
    };
    (ctx, rx, facts)
}

/// Runs the step of `action` as the engine does; its result and every log line it wrote.
async fn run(scene: &Scene, action: Action) -> (StepResult, Vec<String>) {
    let (ctx, mut rx, _) = context(scene, action);
    let implementation = cutover::steps::implementation(action)
        .automated()
        .expect("the check is automated");
    let result = implementation
        .run(&ctx)
        .await
        .unwrap_or_else(|e| panic!("{action:?} errs: {e:#}"));
    drop(ctx);
    let mut lines = Vec::new();
    while let Ok(event) = rx.try_recv() {
        if let Event::StepLog { line, .. } = event {
            lines.push(line);
        }
    }
    (result, lines)
}

/// Waits until the Platform's pods are ready on both clusters (the simulated kubelet starts
/// them after a short delay), so that readiness is not what a test sees.
async fn ready(scene: &Scene) {
    for sim in [&scene.a, &scene.b] {
        for _ in 0..500 {
            let deployments = sim.list_objects("apps/v1", "Deployment", Some(EDP), None);
            let statefulsets = sim.list_objects("apps/v1", "StatefulSet", None, None);
            let all_ready = deployments.iter().chain(statefulsets.iter()).all(|d| {
                d.pointer("/status/readyReplicas").and_then(Value::as_i64)
                    == d.pointer("/spec/replicas").and_then(Value::as_i64)
            });
            if all_ready {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn passed(action: Action, result: &StepResult) {
    assert_eq!(
        result.outcome,
        Outcome::Passed,
        "{action:?}: {}",
        result.summary
    );
}

fn refused(result: &StepResult, needles: &[&str]) {
    assert_eq!(result.outcome, Outcome::Failed, "{}", result.summary);
    for n in needles {
        assert!(
            result.summary.contains(n),
            "{n:?} missing from: {}",
            result.summary
        );
    }
}

#[tokio::test]
async fn every_check_passes_on_two_clusters_running_the_platform() {
    let s = scene().await;
    ready(&s).await;
    for action in [
        Action::CheckPlatformInstalled,
        Action::CheckPlatformVersions,
        Action::CheckKeycloak,
        Action::CheckVelero,
        Action::CheckTargetClean,
    ] {
        let (result, lines) = run(&s, action).await;
        passed(action, &result);
        for secret in ["minio-secret", "keycloak-admin", "static-passw0rd"] {
            assert!(
                !lines.iter().any(|l| l.contains(secret)) && !result.summary.contains(secret),
                "{action:?} printed a secret"
            );
        }
    }
    let (versions, _) = run(&s, Action::CheckPlatformVersions).await;
    assert_eq!(versions.figures["registry_version"], VERSION);
    let (velero, _) = run(&s, Action::CheckVelero).await;
    assert_eq!(velero.figures["velero_version_source"], "1.9.2");
    assert_eq!(velero.figures["velero_version_destination"], "1.9.2");
    assert_eq!(velero.figures["backup_sync_period_destination"], "1m0s");
}

#[tokio::test]
async fn versions_that_differ_name_the_missing_branch() {
    let mut b = platform("http://127.0.0.1:9001");
    b.versions = vec!["1.9.6".into()];
    let s = scene_with(platform("http://127.0.0.1:9000"), b, vec![]).await;
    let (result, _) = run(&s, Action::CheckPlatformVersions).await;
    refused(
        &result,
        &[
            "no branch refs/heads/1.9.7 in cluster-mgmt",
            "it has: 1.9.6",
            "Upgrade the Platform on cluster B to 1.9.7",
        ],
    );

    // A merged version update raises A's registry past what B has; an open one does not.
    let s = scene().await;
    for (version, status) in [("1.9.8", "MERGED"), ("1.9.9", "NEW")] {
        s.a.apply_object(version_update(REGISTRY, version, status, EDP))
            .unwrap();
    }
    let (result, _) = run(&s, Action::CheckPlatformVersions).await;
    refused(&result, &["refs/heads/1.9.8", "it has: 1.9.7"]);
    assert_eq!(result.figures["registry_version"], "1.9.8");
}

#[tokio::test]
async fn no_platform_on_b_is_refused() {
    let mut b = platform("http://127.0.0.1:9001");
    b.components = false;
    let s = scene_with(platform("http://127.0.0.1:9000"), b, vec![]).await;
    ready(&s).await;
    let (result, _) = run(&s, Action::CheckPlatformInstalled).await;
    refused(
        &result,
        &[
            "cluster B does not run the Platform's control-plane-console",
            "deploy it with the Platform deployment",
        ],
    );
    assert!(!result.summary.contains("cluster A"), "{}", result.summary);
    let (result, _) = run(&s, Action::CheckPlatformVersions).await;
    refused(&result, &["cluster B has no GerritProject cluster-mgmt"]);
}

#[tokio::test]
async fn no_keycloak_on_b_is_refused() {
    let mut b = platform("http://127.0.0.1:9001");
    b.keycloak = false;
    let s = scene_with(platform("http://127.0.0.1:9000"), b, vec![]).await;
    let (result, _) = run(&s, Action::CheckKeycloak).await;
    refused(
        &result,
        &[
            "cluster B has no namespace user-management",
            "install the Platform on B",
        ],
    );
}

#[tokio::test]
async fn an_unavailable_location_is_refused() {
    let s = scene().await;
    // The simulated Velero marks a new location Available once; the test then takes it down,
    // as Velero's validation does when the bucket stops answering.
    let mut bsl = None;
    for _ in 0..500 {
        bsl =
            s.a.get_object("velero.io/v1", "BackupStorageLocation", "velero", REGISTRY)
                .filter(|b| b.pointer("/status/phase").is_some());
        if bsl.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut bsl = bsl.expect("the location gets a phase");
    bsl["status"] = json!({"phase": "Unavailable", "message": "BackupStorageLocation \"abc-02\" is unavailable: rpc error: NoSuchBucket"});
    s.a.apply_object(bsl).unwrap();
    let (result, _) = run(&s, Action::CheckVelero).await;
    refused(
        &result,
        &[
            "the backup storage location abc-02 on cluster A is Unavailable",
            "NoSuchBucket",
            "check the location's s3Url",
        ],
    );
}

#[tokio::test]
async fn an_object_storage_that_refuses_its_keys_or_lacks_the_bucket_is_named() {
    let s = scene().await;
    ready(&s).await;
    std::fs::write(s._dir.path().join("b-secret"), "not-the-secret").unwrap();
    let (result, lines) = run(&s, Action::CheckVelero).await;
    refused(&result, &["velero.storage.destination", "minio-access"]);
    for line in lines.iter().chain([&result.summary]) {
        assert!(!line.contains("not-the-secret"), "{line}");
    }
    std::fs::write(s._dir.path().join("b-secret"), "minio-secret").unwrap();
    let endpoint = S3Endpoint {
        url: s._storage.1.endpoint(),
        region: String::new(),
        access_key: "minio-access".into(),
        secret_key: "minio-secret".into(),
        ca_file: None,
    };
    let bucket = format!("{REGISTRY}-backups");
    let client = S3Client::new(&endpoint, &bucket).unwrap();
    std::fs::remove_dir_all(s._dir.path().join("s3-b").join(&bucket)).unwrap();
    assert!(!client.bucket_exists().await.unwrap());
    let (result, _) = run(&s, Action::CheckVelero).await;
    refused(&result, &["velero.storage.destination.bucket", &bucket]);
}

#[tokio::test]
async fn a_backup_sync_period_of_0_on_b_is_refused() {
    let mut b = platform("http://127.0.0.1:9001");
    b.backup_sync_period = Some("0s".into());
    let s = scene_with(platform("http://127.0.0.1:9000"), b, vec![]).await;
    let (result, _) = run(&s, Action::CheckVelero).await;
    refused(
        &result,
        &[
            "cluster B's Velero never syncs backups",
            "0s (the server's --backup-sync-period)",
            "backupSyncPeriod",
        ],
    );

    // The location's own period wins over the server's flag.
    let mut bsl =
        s.b.get_object("velero.io/v1", "BackupStorageLocation", "velero", REGISTRY)
            .expect("B's location");
    bsl["spec"]["backupSyncPeriod"] = json!("1m0s");
    s.b.apply_object(bsl).unwrap();
    let (result, _) = run(&s, Action::CheckVelero).await;
    assert!(
        !result.summary.contains("never syncs"),
        "{}",
        result.summary
    );
}

#[tokio::test]
async fn restic_passwords_that_differ_are_refused_without_showing_them() {
    let mut b = platform("http://127.0.0.1:9001");
    b.restic_password = "another-passw0rd".into();
    let s = scene_with(platform("http://127.0.0.1:9000"), b, vec![]).await;
    let (result, lines) = run(&s, Action::CheckVelero).await;
    refused(
        &result,
        &[
            "restic repository passwords (velero-restic-credentials) differ",
            "copy A's secret to B",
        ],
    );
    for secret in ["another-passw0rd", "static-passw0rd"] {
        assert!(!result.summary.contains(secret));
        assert!(!lines.iter().any(|l| l.contains(secret)));
    }
}

#[tokio::test]
async fn velero_older_than_1_9_is_refused() {
    let mut a = platform("http://127.0.0.1:9000");
    a.velero_image = "velero/velero:v1.8.2".into();
    let s = scene_with(a, platform("http://127.0.0.1:9001"), vec![]).await;
    let (result, _) = run(&s, Action::CheckVelero).await;
    refused(&result, &["cluster A runs Velero 1.8.2", "1.9.x"]);
}

#[tokio::test]
async fn a_registry_already_on_b_is_refused_with_the_cleanup() {
    let s = scene_with(
        platform("http://127.0.0.1:9000"),
        platform("http://127.0.0.1:9001"),
        registry_namespace(REGISTRY, "apps.b.example"),
    )
    .await;
    let (result, _) = run(&s, Action::CheckTargetClean).await;
    refused(
        &result,
        &[
            "cluster B already has registry abc-02's namespace",
            "statefulsets",
            "persistentvolumeclaims",
            "delete the registry abc-02 in control-plane-console",
            "oc delete gerritproject abc-02 -n control-plane",
            "openshift-backups/restic/abc-02",
        ],
    );
}

#[tokio::test]
async fn the_access_check_finds_every_namespace_and_permission_on_the_platform() {
    let s = scene().await;
    let (result, lines) = run(&s, Action::CheckClusterAccess).await;
    passed(Action::CheckClusterAccess, &result);
    for asked in [
        "get codebases.v2.edp.epam.com in control-plane",
        "get gerritprojects.v2.edp.epam.com in control-plane",
        "list statefulsets.apps in user-management",
        "get backupstoragelocations.velero.io in velero",
        "create pods/exec in user-management",
        "list pods in abc-02",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(asked)),
            "{asked:?} not asked: {lines:#?}"
        );
    }
}

#[tokio::test]
async fn the_backup_name_is_chosen_once_and_recorded() {
    let s = scene().await;
    let (ctx, _rx, facts) = context(&s, Action::VeleroBackup);
    assert!(cutover::steps::backup_name::required(&ctx).is_err());
    let name = cutover::steps::backup_name::choose(&ctx).unwrap();
    let stamp = name.strip_prefix("abc-02-").expect("<registry>-<time>");
    assert_eq!(stamp.len(), "2023-04-18-19-03-14".len(), "{name}");
    assert!(
        stamp.chars().all(|c| c.is_ascii_digit() || c == '-'),
        "{name}"
    );
    let recorded = facts.lock().unwrap().clone();
    assert_eq!(recorded, vec![("backup_name".to_string(), json!(name))]);
}

/// A's bucket, as the scene's Velero writes it.
fn bucket_a(scene: &Scene) -> S3Client {
    S3Client::new(
        &scene._storage.0.client_endpoint(),
        &format!("{REGISTRY}-backups"),
    )
    .unwrap()
}

#[tokio::test]
async fn backup_registry_takes_a_completed_backup_and_saves_the_objects_beside_it() {
    let s = scene().await;
    ready(&s).await;
    let (result, lines) = run(&s, Action::VeleroBackup).await;
    passed(Action::VeleroBackup, &result);
    let name = result.figures["backup"].as_str().unwrap().to_string();
    assert!(name.starts_with("abc-02-"), "{name}");
    // The Backup as backup-registry.sh's command makes it, Completed.
    let backup =
        s.a.get_object("velero.io/v1", "Backup", "velero", &name)
            .expect("the Backup on A");
    assert_eq!(backup["spec"]["includedNamespaces"], json!([REGISTRY]));
    assert_eq!(backup["spec"]["storageLocation"], REGISTRY);
    assert_eq!(backup["status"]["phase"], "Completed");
    assert!(
        lines.iter().any(|l| l.contains("created the Backup")),
        "{lines:#?}"
    );
    // Velero's files and the saved objects in A's bucket, under the backup's folder.
    let keys: Vec<String> = bucket_a(&s)
        .list(&format!("openshift-backups/backups/{name}/"))
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    for want in [
        "velero-backup.json".to_string(),
        format!("{name}.tar.gz"),
        "openshift-resources/postgrescluster/operational.yaml".to_string(),
        "openshift-resources/jenkinsauthorizationrolemapping/administrators.yaml".to_string(),
    ] {
        assert!(
            keys.iter().any(|k| k.ends_with(&want)),
            "{want} not in {keys:#?}"
        );
    }
    assert!(result.figures["saved_objects"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn a_pod_volume_not_opted_into_file_system_backup_stops_the_backup_before_it_is_made() {
    let s = scene().await;
    // A workload of the registry whose claim no backup-volumes annotation names.
    install(
        &s.a,
        vec![
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": "uploads", "namespace": REGISTRY},
                   "spec": {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}}}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "excerpt-worker", "namespace": REGISTRY},
                   "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "excerpt-worker"}},
                            "template": {"metadata": {"labels": {"app": "excerpt-worker"}},
                                         "spec": {"containers": [{"name": "w", "image": "w:1",
                                                    "volumeMounts": [{"name": "uploads", "mountPath": "/u"}]}],
                                                  "volumes": [{"name": "uploads",
                                                    "persistentVolumeClaim": {"claimName": "uploads"}}]}}}}),
        ],
    )
    .unwrap();
    // Its pod is there.
    for _ in 0..200 {
        let pods =
            s.a.list_objects("v1", "Pod", Some(REGISTRY), Some("app=excerpt-worker"));
        if !pods.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (result, _) = run(&s, Action::VeleroBackup).await;
    refused(
        &result,
        &[
            "excerpt-worker",
            "uploads",
            "backup.velero.io/backup-volumes",
            "nothing was created",
        ],
    );
    assert!(
        s.a.list_objects("velero.io/v1", "Backup", Some("velero"), None)
            .is_empty(),
        "no Backup was made"
    );
}

#[tokio::test]
async fn a_backup_with_item_errors_fails_and_lists_them_from_its_log() {
    let s = scene().await;
    install(
        &s.a,
        vec![json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "registry-settings", "namespace": REGISTRY,
                         "annotations": {"sim.cutover.io/backup-error":
                             "error executing custom action: timed out talking to the plugin"}},
            "data": {"a": "1"}})],
    )
    .unwrap();
    ready(&s).await;
    let (result, lines) = run(&s, Action::VeleroBackup).await;
    refused(&result, &["PartiallyFailed", "velero backup logs"]);
    assert_eq!(result.figures["phase"], "PartiallyFailed");
    assert!(result.figures["errors"].as_u64().unwrap() >= 1);
    // The error itself, from the backup's log fetched through a DownloadRequest.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("timed out talking to the plugin")),
        "{lines:#?}"
    );
    // Nothing saved beside a backup that cannot be migrated.
    let name = result.figures["backup"].as_str().unwrap();
    assert!(
        bucket_a(&s)
            .list(&format!(
                "openshift-backups/backups/{name}/openshift-resources/"
            ))
            .await
            .unwrap()
            .is_empty()
    );
}
