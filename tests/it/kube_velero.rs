//! Velero objects through the Kubernetes layer: the simulator validates a Backup against its
//! storage location, then counts its progress up to Completed; a Restore of it follows.

use cutover::infra::kube::CustomKind;
use cutover::runbook::ClusterRole;
use serde_json::json;

use crate::sim_support::{Sandbox, deployment, eventually};

#[tokio::test]
async fn a_backup_and_its_restore_advance_to_completed_with_progress() {
    let sb = Sandbox::start("source", "velero").await;
    sb.sim
        .apply_object(deployment("registry", "registry-app", 1))
        .unwrap();
    let kube = sb.connect(ClusterRole::Source, "velero").await;

    kube.apply_custom(
        CustomKind::BackupStorageLocation,
        None,
        "default",
        &json!({"spec": {"provider": "aws", "objectStorage": {"bucket": "registry-backups"}}}),
    )
    .await
    .unwrap();
    eventually("the storage location is Available", || async {
        let bsl = kube
            .get_custom(CustomKind::BackupStorageLocation, None, "default")
            .await
            .unwrap()
            .unwrap();
        bsl.data["status"]["phase"] == "Available"
    })
    .await;

    let backup = json!({"metadata": {"name": "registry-1"}, "spec": {"includedNamespaces": ["registry"], "storageLocation": "default"}});
    kube.create_custom(CustomKind::VeleroBackup, None, &backup)
        .await
        .unwrap();
    let seen_in_progress = std::sync::atomic::AtomicBool::new(false);
    eventually("the backup is Completed", || async {
        let b = kube
            .get_custom(CustomKind::VeleroBackup, None, "registry-1")
            .await
            .unwrap()
            .unwrap();
        if b.data["status"]["phase"] == "InProgress" {
            seen_in_progress.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        b.data["status"]["phase"] == "Completed"
    })
    .await;
    assert!(
        seen_in_progress.into_inner(),
        "the backup never showed InProgress"
    );
    let b = kube
        .get_custom(CustomKind::VeleroBackup, None, "registry-1")
        .await
        .unwrap()
        .unwrap();
    let progress = &b.data["status"]["progress"];
    assert!(progress["totalItems"].as_u64().unwrap() >= 2, "{progress}");
    assert_eq!(progress["itemsBackedUp"], progress["totalItems"]);
    assert!(b.data["status"]["completionTimestamp"].is_string());

    kube.create_custom(
        CustomKind::VeleroRestore,
        None,
        &json!({"metadata": {"name": "registry-1-restore"}, "spec": {"backupName": "registry-1"}}),
    )
    .await
    .unwrap();
    eventually("the restore is Completed", || async {
        let r = kube
            .get_custom(CustomKind::VeleroRestore, None, "registry-1-restore")
            .await
            .unwrap()
            .unwrap();
        r.data["status"]["phase"] == "Completed"
            && r.data["status"]["progress"]["itemsRestored"]
                == r.data["status"]["progress"]["totalItems"]
    })
    .await;
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
                .is_some_and(|e| e.contains("nowhere"))
    })
    .await;
    kube.create_custom(
        CustomKind::VeleroRestore,
        None,
        &json!({"metadata": {"name": "r"}, "spec": {"backupName": "b"}}),
    )
    .await
    .unwrap();
    eventually(
        "the restore of a failed backup failed validation",
        || async {
            let r = kube
                .get_custom(CustomKind::VeleroRestore, None, "r")
                .await
                .unwrap()
                .unwrap();
            r.data["status"]["phase"] == "FailedValidation"
        },
    )
    .await;
}

#[tokio::test]
async fn a_backup_taken_on_one_cluster_is_restored_on_another() {
    use cutover::sim::{ClusterSpec, ObjectStorage};
    use std::time::Duration;
    let storage = ObjectStorage::default();
    let spec = |name: &str| {
        ClusterSpec::new(name)
            .namespace("velero")
            .pod_delays(Duration::from_millis(50), Duration::from_millis(50))
            .object_storage(&storage)
    };
    let source = Sandbox::with_spec("source", spec("source")).await;
    let destination = Sandbox::with_spec("destination", spec("destination")).await;
    source
        .sim
        .apply_object(deployment("registry", "registry-app", 2))
        .unwrap();
    source
        .sim
        .apply_object(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "registry"},
                             "stringData": {"password": "s3cret"}}))
        .unwrap();
    let src = source.connect(ClusterRole::Source, "velero").await;
    let dst = destination
        .connect(ClusterRole::Destination, "velero")
        .await;
    let bsl = json!({"spec": {"provider": "aws", "objectStorage": {"bucket": "registry-backups"}}});
    src.apply_custom(CustomKind::BackupStorageLocation, None, "default", &bsl)
        .await
        .unwrap();
    dst.apply_custom(CustomKind::BackupStorageLocation, None, "default", &bsl)
        .await
        .unwrap();

    let backup = json!({"metadata": {"name": "move-1"}, "spec": {"includedNamespaces": ["registry"], "storageLocation": "default"}});
    src.create_custom(CustomKind::VeleroBackup, None, &backup)
        .await
        .unwrap();
    eventually("the backup is synced to the destination", || async {
        dst.get_custom(CustomKind::VeleroBackup, None, "move-1")
            .await
            .unwrap()
            .is_some_and(|b| b.data["status"]["phase"] == "Completed")
    })
    .await;
    assert_eq!(storage.backups("registry-backups"), ["move-1"]);

    dst.create_custom(
        CustomKind::VeleroRestore,
        None,
        &json!({"metadata": {"name": "move-1"}, "spec": {"backupName": "move-1"}}),
    )
    .await
    .unwrap();
    eventually("the restore is Completed", || async {
        let r = dst
            .get_custom(CustomKind::VeleroRestore, None, "move-1")
            .await
            .unwrap()
            .unwrap();
        r.data["status"]["phase"] == "Completed"
    })
    .await;
    let secret = destination
        .sim
        .get_object("v1", "Secret", "registry", "db")
        .expect("the secret is restored");
    assert_eq!(secret["data"]["password"], "czNjcmV0");
    assert!(
        destination
            .sim
            .get_object("apps/v1", "Deployment", "registry", "registry-app")
            .is_some()
    );
    let dest = &destination.sim;
    eventually("the restored deployment's pods run", || async {
        dest.list_objects(
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
}
