//! The simulated Velero 1.9.2 against real S3 servers (one per cluster), through the
//! Kubernetes layer: schemas pruned and enforced as the CRDs of 1.9.2 say, a backup writing
//! Velero's layout into its own cluster's bucket, a second cluster syncing it only once its
//! prefixes are copied into its own bucket, a restore there reading the tarball from the
//! bucket, download requests, and the refusals (missing tarball, wrong credentials, sync
//! period 0).

use std::collections::BTreeSet;
use std::io::Read;
use std::time::Duration;

use cutover::infra::kube::{CustomKind, KubeCluster};
use cutover::infra::s3::S3Client;
use cutover::runbook::ClusterRole;
use cutover::sim::s3::S3Server;
use cutover::sim::{ClusterSpec, velero};
use serde_json::{Value, json};

use crate::sim_support::{Sandbox, deployment, eventually};

const BUCKET: &str = "registry-backups";
const PREFIX: &str = "openshift-backups";

/// One cluster with its own object storage (a real S3 server) and a storage location on it.
struct World {
    sb: Sandbox,
    kube: KubeCluster,
    s3: S3Server,
    bucket: S3Client,
    _dir: tempfile::TempDir,
}

fn credentials_file(access: &str, secret: &str) -> String {
    format!("[default]\naws_access_key_id={access}\naws_secret_access_key={secret}\n")
}

/// The location's spec, naming `url` as Velero's AWS plugin reads it.
fn bsl_spec(url: &str, extra: Value) -> Value {
    let mut spec = json!({
        "provider": "aws",
        "objectStorage": {"bucket": BUCKET, "prefix": PREFIX},
        "config": {"region": "minio", "s3Url": url, "s3ForcePathStyle": "true"},
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    json!({"spec": spec})
}

impl World {
    /// A cluster named `name` whose Velero has a location `location` on a fresh S3 server.
    async fn start(name: &str, location: &str, bsl_extra: Value) -> World {
        let dir = tempfile::tempdir().unwrap();
        let s3 = S3Server::start(dir.path(), "velero-key", "velero-secret-value")
            .await
            .unwrap();
        let bucket = S3Client::new(&s3.client_endpoint(), BUCKET).unwrap();
        bucket.create_bucket().await.unwrap();
        let spec = ClusterSpec::new(name)
            .namespace("velero")
            .pod_delays(Duration::from_millis(50), Duration::from_millis(50))
            .velero_step(Duration::from_millis(50));
        let sb = Sandbox::with_spec(name, spec).await;
        sb.sim
            .apply_object(json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "cloud-credentials", "namespace": "velero"},
                "stringData": {"cloud": credentials_file("velero-key", "velero-secret-value")}}))
            .unwrap();
        let kube = sb.connect(ClusterRole::Source, "velero").await;
        kube.apply_custom(
            CustomKind::BackupStorageLocation,
            None,
            location,
            &bsl_spec(&s3.endpoint(), bsl_extra),
        )
        .await
        .unwrap();
        World {
            sb,
            kube,
            s3,
            bucket,
            _dir: dir,
        }
    }

    async fn get(&self, kind: CustomKind, name: &str) -> Option<Value> {
        self.kube
            .get_custom(kind, None, name)
            .await
            .unwrap()
            .map(|o| serde_json::to_value(o).unwrap())
    }

    async fn phase_of(&self, kind: CustomKind, name: &str) -> String {
        self.get(kind, name)
            .await
            .and_then(|o| o["status"]["phase"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    async fn wait_phase(&self, kind: CustomKind, name: &str, phases: &[&str]) -> Value {
        eventually(&format!("{name} reaches one of {phases:?}"), || async {
            phases.contains(&self.phase_of(kind, name).await.as_str())
        })
        .await;
        self.get(kind, name).await.unwrap()
    }

    async fn keys(&self, prefix: &str) -> BTreeSet<String> {
        self.bucket
            .list(prefix)
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect()
    }

    async fn object(&self, key: &str) -> Vec<u8> {
        self.bucket
            .get(key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key} is not in the bucket"))
            .to_vec()
    }
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn tar_paths(tarball: &[u8]) -> BTreeSet<String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tarball));
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn tar_file(tarball: &[u8], path: &str) -> Vec<u8> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tarball));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy() == path {
            let mut out = Vec::new();
            entry.read_to_end(&mut out).unwrap();
            return out;
        }
    }
    panic!("{path} is not in the tarball");
}

/// The registry's objects on a cluster: a namespace with a deployment, a secret, and a bare
/// pod whose `data` volume opts in to file-system backup.
fn seed_registry(sb: &Sandbox) {
    sb.sim
        .apply_object(deployment("registry", "registry-app", 2))
        .unwrap();
    sb.sim
        .apply_object(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "registry"},
            "stringData": {"password": "s3cret"}}))
        .unwrap();
    sb.sim
        .apply_object(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "nexus-0", "namespace": "registry", "labels": {"app": "nexus"},
                         "annotations": {"backup.velero.io/backup-volumes": "data"}},
            "spec": {"containers": [{"name": "nexus", "image": "sonatype/nexus3:3.41.1",
                                     "volumeMounts": [{"name": "data", "mountPath": "/nexus-data"}]}],
                     "volumes": [{"name": "data", "emptyDir": {}}]}}))
        .unwrap();
}

/// Waits until the location has synced `n` more times (`lastSyncedTime` moved on `n` times).
async fn synced_times(w: &World, location: &str, n: usize) {
    let seen = std::sync::Mutex::new(BTreeSet::new());
    eventually(&format!("{location} synced {n} times"), || async {
        if let Some(t) = w
            .get(CustomKind::BackupStorageLocation, location)
            .await
            .and_then(|b| b["status"]["lastSyncedTime"].as_str().map(str::to_string))
        {
            seen.lock().unwrap().insert(t);
        }
        seen.lock().unwrap().len() > n
    })
    .await;
}

/// Copies every object under `prefix` from one bucket to the other, `skip` excepted.
async fn copy(from: &World, to: &World, prefix: &str, skip: impl Fn(&str) -> bool) -> usize {
    let mut n = 0;
    for key in from.keys(prefix).await {
        if skip(&key) {
            continue;
        }
        let data = from.object(&key).await;
        to.bucket.put(&key, data.into(), &[]).await.unwrap();
        n += 1;
    }
    n
}

/// GETs a presigned URL (plain HTTP on loopback).
async fn fetch(url: &str) -> Vec<u8> {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<axum::body::Bytes>>();
    let response = client.get(url.parse().unwrap()).await.unwrap();
    assert_eq!(response.status(), 200, "GET of the download URL");
    response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec()
}

async fn download(w: &World, name: &str, kind: &str, target: &str) -> Vec<u8> {
    w.kube
        .create_custom(
            CustomKind::DownloadRequest,
            None,
            &json!({"metadata": {"name": name}, "spec": {"target": {"kind": kind, "name": target}}}),
        )
        .await
        .unwrap();
    let dr = w
        .wait_phase(CustomKind::DownloadRequest, name, &["Processed"])
        .await;
    assert!(dr["status"]["expiration"].is_string(), "{dr}");
    fetch(dr["status"]["downloadURL"].as_str().unwrap()).await
}

#[tokio::test]
async fn a_backup_moves_to_another_cluster_only_through_its_bucket() {
    let a = World::start("source", "default", json!({})).await;
    let b = World::start("destination", "registry", json!({"backupSyncPeriod": "1s"})).await;
    seed_registry(&a.sb);
    a.wait_phase(CustomKind::BackupStorageLocation, "default", &["Available"])
        .await;
    b.wait_phase(
        CustomKind::BackupStorageLocation,
        "registry",
        &["Available"],
    )
    .await;

    let backup = json!({"metadata": {"name": "move-1"},
        "spec": {"includedNamespaces": ["registry"], "storageLocation": "default", "ttl": "240h0m0s"}});
    a.kube
        .create_custom(CustomKind::VeleroBackup, None, &backup)
        .await
        .unwrap();
    let seen_in_progress = std::sync::atomic::AtomicBool::new(false);
    eventually("the backup is Completed", || async {
        let phase = a.phase_of(CustomKind::VeleroBackup, "move-1").await;
        if phase == "InProgress" {
            seen_in_progress.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        phase == "Completed"
    })
    .await;
    assert!(seen_in_progress.into_inner(), "never InProgress");
    let done = a.get(CustomKind::VeleroBackup, "move-1").await.unwrap();
    let status = &done["status"];
    assert_eq!(status["formatVersion"], "1.1.0");
    assert_eq!(
        status["progress"]["itemsBackedUp"],
        status["progress"]["totalItems"]
    );
    assert!(
        status["progress"]["totalItems"].as_u64().unwrap() >= 5,
        "{status}"
    );
    for field in ["startTimestamp", "completionTimestamp", "expiration"] {
        assert!(status[field].is_string(), "{field}: {status}");
    }
    assert!(status.get("errors").is_none(), "{status}");
    assert_eq!(
        done["metadata"]["labels"]["velero.io/storage-location"],
        "default"
    );

    // Velero 1.9.2's files in A's bucket.
    let dir = format!("{PREFIX}/backups/move-1/");
    let files: BTreeSet<String> = a
        .keys(&dir)
        .await
        .into_iter()
        .map(|k| k.trim_start_matches(&dir).to_string())
        .collect();
    for f in [
        "velero-backup.json",
        "move-1.tar.gz",
        "move-1-logs.gz",
        "move-1-resource-list.json.gz",
        "move-1-podvolumebackups.json.gz",
        "move-1-volumesnapshots.json.gz",
        "move-1-csi-volumesnapshots.json.gz",
    ] {
        assert!(files.contains(f), "{f} missing from {files:?}");
    }
    let tarball = a.object(&format!("{dir}move-1.tar.gz")).await;
    let paths = tar_paths(&tarball);
    assert_eq!(tar_file(&tarball, "metadata/version"), b"1.1.0\n");
    for p in [
        "resources/secrets/namespaces/registry/db.json",
        "resources/secrets/v1-preferredversion/namespaces/registry/db.json",
        "resources/deployments.apps/namespaces/registry/registry-app.json",
        "resources/deployments.apps/v1-preferredversion/namespaces/registry/registry-app.json",
        "resources/pods/namespaces/registry/nexus-0.json",
        "resources/namespaces/cluster/registry.json",
        "resources/namespaces/v1-preferredversion/cluster/registry.json",
    ] {
        assert!(paths.contains(p), "{p} missing from {paths:?}");
    }
    let secret: Value = serde_json::from_slice(&tar_file(
        &tarball,
        "resources/secrets/namespaces/registry/db.json",
    ))
    .unwrap();
    assert_eq!(secret["data"]["password"], "czNjcmV0");
    let stored: Value =
        serde_json::from_slice(&a.object(&format!("{dir}velero-backup.json")).await).unwrap();
    assert_eq!(stored["kind"], "Backup");
    assert_eq!(stored["status"]["phase"], "Completed");
    let pvbs: Value = serde_json::from_slice(&gunzip(
        &a.object(&format!("{dir}move-1-podvolumebackups.json.gz"))
            .await,
    ))
    .unwrap();
    assert_eq!(pvbs[0]["spec"]["volume"], "data", "{pvbs}");
    assert_eq!(pvbs[0]["spec"]["pod"]["name"], "nexus-0");
    let restic = a.keys(&format!("{PREFIX}/restic/registry/")).await;
    assert!(
        restic.contains(&format!("{PREFIX}/restic/registry/config")),
        "{restic:?}"
    );
    assert!(
        restic.iter().any(|k| k.contains("/data/")),
        "no data objects in the restic repository: {restic:?}"
    );

    // B sees nothing while its own bucket is empty, nor while velero-backup.json is missing.
    synced_times(&b, "registry", 2).await;
    assert!(b.get(CustomKind::VeleroBackup, "move-1").await.is_none());
    let copied = copy(&a, &b, &format!("{PREFIX}/"), |k| {
        k.ends_with("velero-backup.json")
    })
    .await;
    assert!(copied > 8, "{copied}");
    synced_times(&b, "registry", 2).await;
    assert!(
        b.get(CustomKind::VeleroBackup, "move-1").await.is_none(),
        "a backup folder without velero-backup.json was synced"
    );
    copy(&a, &b, &format!("{PREFIX}/"), |k| {
        !k.ends_with("velero-backup.json")
    })
    .await;
    let synced = b
        .wait_phase(CustomKind::VeleroBackup, "move-1", &["Completed"])
        .await;
    assert_eq!(synced["spec"]["storageLocation"], "registry");
    assert_eq!(
        synced["metadata"]["labels"]["velero.io/storage-location"],
        "registry"
    );

    // A restore on B reads the tarball from B's bucket and recreates the objects.
    b.kube
        .create_custom(
            CustomKind::VeleroRestore,
            None,
            &json!({"metadata": {"name": "move-1-all"}, "spec": {"backupName": "move-1"}}),
        )
        .await
        .unwrap();
    let restore = b
        .wait_phase(
            CustomKind::VeleroRestore,
            "move-1-all",
            &["Completed", "PartiallyFailed", "Failed"],
        )
        .await;
    assert_eq!(restore["status"]["phase"], "Completed", "{restore}");
    assert_eq!(
        restore["status"]["progress"]["itemsRestored"],
        restore["status"]["progress"]["totalItems"]
    );
    let excluded = restore["spec"]["excludedResources"].to_string();
    assert!(
        excluded.contains("backups.velero.io") && excluded.contains("nodes"),
        "{excluded}"
    );
    let secret =
        b.sb.sim
            .get_object("v1", "Secret", "registry", "db")
            .expect("restored");
    assert_eq!(secret["data"]["password"], "czNjcmV0");
    assert_eq!(
        secret["metadata"]["labels"]["velero.io/backup-name"],
        "move-1"
    );
    assert_eq!(
        secret["metadata"]["labels"]["velero.io/restore-name"],
        "move-1-all"
    );
    assert!(
        b.sb.sim
            .get_object("apps/v1", "Deployment", "registry", "registry-app")
            .is_some()
    );
    let pod =
        b.sb.sim
            .get_object("v1", "Pod", "registry", "nexus-0")
            .expect("pod restored");
    assert_eq!(
        pod["spec"]["initContainers"][0]["name"], "restic-wait",
        "{pod}"
    );
    let sim = &b.sb.sim;
    eventually(
        "the restored pod's volume is restored and it is initialized",
        || async {
            let pod = sim.get_object("v1", "Pod", "registry", "nexus-0").unwrap();
            pod["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Initialized" && c["status"] == "True")
            })
        },
    )
    .await;
    let pvrs =
        b.sb.sim
            .list_objects("velero.io/v1", "PodVolumeRestore", Some("velero"), None);
    assert_eq!(pvrs.len(), 1);
    assert_eq!(pvrs[0]["status"]["phase"], "Completed");
    eventually("the restored deployment's pods run", || async {
        sim.list_objects(
            "v1",
            "Pod",
            Some("registry"),
            Some("deployment=registry-app"),
        )
        .iter()
        .filter(|p| p["status"]["phase"] == "Running")
        .count()
            == 2
    })
    .await;
    assert!(
        b.keys(&format!("{PREFIX}/restores/move-1-all/"))
            .await
            .contains(&format!(
                "{PREFIX}/restores/move-1-all/restore-move-1-all-results.gz"
            ))
    );

    // Restored again: every object exists; the changed ones are warnings, as velero words them.
    let mut changed =
        b.sb.sim
            .get_object("v1", "Secret", "registry", "db")
            .unwrap();
    changed["data"]["password"] = json!("b3RoZXI=");
    b.sb.sim.apply_object(changed).unwrap();
    b.kube
        .create_custom(
            CustomKind::VeleroRestore,
            None,
            &json!({"metadata": {"name": "move-1-again"},
                    "spec": {"backupName": "move-1", "includedResources": ["secrets"]}}),
        )
        .await
        .unwrap();
    let again = b
        .wait_phase(
            CustomKind::VeleroRestore,
            "move-1-again",
            &["Completed", "PartiallyFailed", "Failed"],
        )
        .await;
    assert_eq!(again["status"]["phase"], "Completed", "{again}");
    assert_eq!(again["status"]["warnings"], 1, "{again}");
    let results: Value = serde_json::from_slice(&gunzip(
        &download(&b, "again-results", "RestoreResults", "move-1-again").await,
    ))
    .unwrap();
    let warning = results["warnings"]["namespaces"]["registry"][0]
        .as_str()
        .unwrap_or("");
    assert!(
        warning.starts_with("could not restore, Secret \"db\" already exists."),
        "{results}"
    );
    assert_eq!(results["errors"], json!({}), "{results}");
    let log = String::from_utf8(gunzip(
        &download(&b, "again-log", "RestoreLog", "move-1-again").await,
    ))
    .unwrap();
    assert!(log.contains("restore completed"), "{log}");
    let _ = &a.s3;
}

#[tokio::test]
async fn a_restore_whose_tarball_is_missing_fails_and_a_damaged_one_partially_fails() {
    let a = World::start("source", "default", json!({})).await;
    seed_registry(&a.sb);
    a.wait_phase(CustomKind::BackupStorageLocation, "default", &["Available"])
        .await;
    for name in ["gone", "damaged"] {
        a.kube
            .create_custom(
                CustomKind::VeleroBackup,
                None,
                &json!({"metadata": {"name": name}, "spec": {"includedNamespaces": ["registry"]}}),
            )
            .await
            .unwrap();
        a.wait_phase(CustomKind::VeleroBackup, name, &["Completed"])
            .await;
    }
    a.bucket
        .delete(&format!("{PREFIX}/backups/gone/gone.tar.gz"))
        .await
        .unwrap();
    a.bucket
        .put(
            &format!("{PREFIX}/backups/damaged/damaged.tar.gz"),
            b"not a tarball".to_vec().into(),
            &[],
        )
        .await
        .unwrap();
    for name in ["gone", "damaged"] {
        a.kube
            .create_custom(
                CustomKind::VeleroRestore,
                None,
                &json!({"metadata": {"name": name}, "spec": {"backupName": name, "namespaceMapping": {"registry": "registry-copy"}}}),
            )
            .await
            .unwrap();
    }
    let gone = a
        .wait_phase(
            CustomKind::VeleroRestore,
            "gone",
            &["Completed", "PartiallyFailed", "Failed"],
        )
        .await;
    assert_eq!(gone["status"]["phase"], "Failed", "{gone}");
    let reason = gone["status"]["failureReason"].as_str().unwrap();
    assert!(
        reason.starts_with("error downloading backup: ") && reason.contains("NoSuchKey"),
        "{reason}"
    );
    let damaged = a
        .wait_phase(
            CustomKind::VeleroRestore,
            "damaged",
            &["Completed", "PartiallyFailed", "Failed"],
        )
        .await;
    assert_eq!(damaged["status"]["phase"], "PartiallyFailed", "{damaged}");
    assert_eq!(damaged["status"]["errors"], 1);
    let results: Value = serde_json::from_slice(&gunzip(
        &download(&a, "damaged-results", "RestoreResults", "damaged").await,
    ))
    .unwrap();
    assert_eq!(
        results["errors"]["velero"][0], "gzip: invalid header",
        "{results}"
    );
    assert!(
        a.sb.sim
            .get_object("v1", "Namespace", "", "registry-copy")
            .is_none()
    );
}

#[tokio::test]
async fn a_location_that_never_syncs_and_one_with_wrong_credentials() {
    let a = World::start("source", "default", json!({})).await;
    seed_registry(&a.sb);
    a.wait_phase(CustomKind::BackupStorageLocation, "default", &["Available"])
        .await;
    a.kube
        .create_custom(
            CustomKind::VeleroBackup,
            None,
            &json!({"metadata": {"name": "b1"}, "spec": {"includedNamespaces": ["registry"]}}),
        )
        .await
        .unwrap();
    a.wait_phase(CustomKind::VeleroBackup, "b1", &["Completed"])
        .await;

    let b = World::start(
        "destination",
        "default",
        json!({"backupSyncPeriod": "0s", "validationFrequency": "1s"}),
    )
    .await;
    copy(&a, &b, &format!("{PREFIX}/"), |_| false).await;
    // Validated again and again, never synced.
    let validations = std::sync::Mutex::new(BTreeSet::new());
    eventually("the location is validated three times", || async {
        if let Some(t) = b
            .get(CustomKind::BackupStorageLocation, "default")
            .await
            .and_then(|l| {
                l["status"]["lastValidationTime"]
                    .as_str()
                    .map(str::to_string)
            })
        {
            validations.lock().unwrap().insert(t);
        }
        validations.lock().unwrap().len() >= 3
    })
    .await;
    let bsl = b
        .get(CustomKind::BackupStorageLocation, "default")
        .await
        .unwrap();
    assert_eq!(bsl["status"]["phase"], "Available");
    assert!(bsl["status"].get("lastSyncedTime").is_none(), "{bsl}");
    assert!(b.get(CustomKind::VeleroBackup, "b1").await.is_none());
    // The same location with a period syncs it.
    b.kube
        .apply_custom(
            CustomKind::BackupStorageLocation,
            None,
            "default",
            &bsl_spec(&b.s3.endpoint(), json!({"backupSyncPeriod": "1s"})),
        )
        .await
        .unwrap();
    b.wait_phase(CustomKind::VeleroBackup, "b1", &["Completed"])
        .await;

    // Wrong secret key, and a bucket that does not exist.
    b.sb.sim
        .apply_object(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "wrong-key", "namespace": "velero"},
            "stringData": {"cloud": credentials_file("velero-key", "not-the-secret")}}))
        .unwrap();
    let mut wrong = bsl_spec(
        &b.s3.endpoint(),
        json!({"credential": {"name": "wrong-key", "key": "cloud"}}),
    );
    b.kube
        .apply_custom(CustomKind::BackupStorageLocation, None, "wrong", &wrong)
        .await
        .unwrap();
    let bsl = b
        .wait_phase(
            CustomKind::BackupStorageLocation,
            "wrong",
            &["Unavailable", "Available"],
        )
        .await;
    let message = bsl["status"]["message"].as_str().unwrap_or("");
    assert_eq!(bsl["status"]["phase"], "Unavailable", "{bsl}");
    assert!(
        message.starts_with(
            "BackupStorageLocation \"wrong\" is unavailable: rpc error: code = Unknown desc = "
        ) && message.contains("status code: 403"),
        "{message}"
    );
    assert!(!message.contains("not-the-secret"), "{message}");
    wrong["spec"]["objectStorage"]["bucket"] = json!("no-such-bucket");
    wrong["spec"]["credential"] = Value::Null;
    b.kube
        .apply_custom(CustomKind::BackupStorageLocation, None, "nobucket", &wrong)
        .await
        .unwrap();
    let nobucket = b
        .wait_phase(
            CustomKind::BackupStorageLocation,
            "nobucket",
            &["Unavailable", "Available"],
        )
        .await;
    assert!(
        nobucket["status"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("NoSuchBucket"),
        "{nobucket}"
    );
    // A backup to an unavailable location fails when it runs, as in Velero 1.9.2.
    b.kube
        .create_custom(
            CustomKind::VeleroBackup,
            None,
            &json!({"metadata": {"name": "refused"}, "spec": {"storageLocation": "wrong"}}),
        )
        .await
        .unwrap();
    let failed = b
        .wait_phase(
            CustomKind::VeleroBackup,
            "refused",
            &["Failed", "Completed"],
        )
        .await;
    let reason = failed["status"]["failureReason"].as_str().unwrap_or("");
    assert_eq!(failed["status"]["phase"], "Failed", "{failed}");
    assert!(
        reason.starts_with("error checking if backup already exists in object storage: ")
            && reason.contains("status code: 403"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_backup_with_item_errors_is_partially_failed_and_says_why() {
    let a = World::start("source", "default", json!({})).await;
    seed_registry(&a.sb);
    a.sb.sim
        .apply_object(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "broken", "namespace": "registry",
                         "annotations": {velero::ITEM_ERROR_ANNOTATION: "the item could not be read"}},
            "data": {"x": "y"}}))
        .unwrap();
    a.wait_phase(CustomKind::BackupStorageLocation, "default", &["Available"])
        .await;
    for (name, annotations) in [
        ("partly", json!({})),
        (
            "failing",
            json!({velero::FAIL_ANNOTATION: "the restic repository is locked"}),
        ),
    ] {
        a.kube
            .create_custom(
                CustomKind::VeleroBackup,
                None,
                &json!({"metadata": {"name": name, "annotations": annotations},
                        "spec": {"includedNamespaces": ["registry"]}}),
            )
            .await
            .unwrap();
    }
    let partly = a
        .wait_phase(
            CustomKind::VeleroBackup,
            "partly",
            &["PartiallyFailed", "Completed", "Failed"],
        )
        .await;
    assert_eq!(partly["status"]["phase"], "PartiallyFailed", "{partly}");
    assert_eq!(partly["status"]["errors"], 1);
    let log = String::from_utf8(gunzip(
        &download(&a, "partly-log", "BackupLog", "partly").await,
    ))
    .unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("level=error") && l.contains("the item could not be read")),
        "{log}"
    );
    let failing = a
        .wait_phase(
            CustomKind::VeleroBackup,
            "failing",
            &["PartiallyFailed", "Completed", "Failed"],
        )
        .await;
    assert_eq!(failing["status"]["phase"], "Failed", "{failing}");
    assert_eq!(
        failing["status"]["failureReason"],
        "the restic repository is locked"
    );
}

#[tokio::test]
async fn velero_1_9_2_schemas_prune_unknown_fields_and_refuse_wrong_values() {
    let sb = Sandbox::start("source", "velero").await;
    let kube = sb.connect(ClusterRole::Source, "velero").await;
    // 1.9.2 has no defaultVolumesToFsBackup: the server drops it without a word.
    let created = kube
        .create_custom(
            CustomKind::VeleroBackup,
            None,
            &json!({"metadata": {"name": "fs"}, "spec": {"includedNamespaces": ["registry"],
                    "defaultVolumesToFsBackup": true, "defaultVolumesToRestic": false}}),
        )
        .await
        .unwrap();
    let spec = serde_json::to_value(&created).unwrap()["spec"].clone();
    assert!(spec.get("defaultVolumesToFsBackup").is_none(), "{spec}");
    assert_eq!(spec["defaultVolumesToRestic"], false);
    assert_eq!(spec["includedNamespaces"][0], "registry");

    let refused = kube
        .create_custom(
            CustomKind::VeleroBackup,
            None,
            &json!({"metadata": {"name": "bad-ttl"}, "spec": {"ttl": 5}}),
        )
        .await
        .unwrap_err();
    let text = format!("{refused:#}");
    assert!(
        text.contains("spec.ttl in body must be of type string: \"integer\""),
        "{text}"
    );
    let refused = kube
        .create_custom(
            CustomKind::DownloadRequest,
            None,
            &json!({"metadata": {"name": "results"}, "spec": {"target": {"kind": "BackupResults", "name": "fs"}}}),
        )
        .await
        .unwrap_err();
    let text = format!("{refused:#}");
    assert!(
        text.contains("spec.target.kind: Unsupported value: \"BackupResults\""),
        "{text}"
    );
    let refused = kube
        .create_custom(
            CustomKind::VeleroRestore,
            None,
            &json!({"metadata": {"name": "r"}, "spec": {"backupName": "fs", "existingResourcePolicy": "replace"}}),
        )
        .await;
    // existingResourcePolicy is a plain string in 1.9.2: accepted as is.
    assert!(refused.is_ok(), "{refused:?}");
}

#[tokio::test]
async fn a_backup_to_a_missing_location_fails_validation() {
    let sb = Sandbox::start("source", "velero").await;
    let kube = sb.connect(ClusterRole::Source, "velero").await;
    kube.create_custom(
        CustomKind::VeleroBackup,
        None,
        &json!({"metadata": {"name": "b"}, "spec": {"storageLocation": "nowhere"}}),
    )
    .await
    .unwrap();
    eventually("the backup failed validation", || async {
        let b = kube
            .get_custom(CustomKind::VeleroBackup, None, "b")
            .await
            .unwrap()
            .unwrap();
        b.data["status"]["phase"] == "FailedValidation"
            && b.data["status"]["validationErrors"][0]
                .as_str()
                .is_some_and(|e| e.contains("the default 'nowhere' wasn't found"))
    })
    .await;
    kube.create_custom(
        CustomKind::VeleroRestore,
        None,
        &json!({"metadata": {"name": "r"}, "spec": {"backupName": "missing"}}),
    )
    .await
    .unwrap();
    eventually(
        "the restore of a missing backup failed validation",
        || async {
            let r = kube
                .get_custom(CustomKind::VeleroRestore, None, "r")
                .await
                .unwrap()
                .unwrap();
            r.data["status"]["phase"] == "FailedValidation"
                && r.data["status"]["validationErrors"][0]
                    == "Error retrieving backup: backups.velero.io \"missing\" not found"
        },
    )
    .await;
}
