//! File-system backup of pod volumes as Velero 1.9.2 does it with restic: pods opt in per
//! volume with the annotation `backup.velero.io/backup-volumes`; each volume becomes a
//! PodVolumeBackup and a snapshot in the namespace's restic repository
//! (`<prefix>/restic/<namespace>/`: `config`, `keys/`, `data/`, `index/`, `snapshots/`), whose
//! objects here hold the volume's bytes (deterministic for a pod and volume, `volume_bytes` long).
//! At a restore, a pod with such backups gets the `restic-wait` init container that Velero's
//! restic restore item action adds, and a PodVolumeRestore.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::super::store::{meta_str, now};
use super::layout::Layout;

pub const VOLUMES_ANNOTATION: &str = "backup.velero.io/backup-volumes";
pub const INIT_CONTAINER: &str = "restic-wait";

/// The volumes `pod` asks to be backed up (`GetVolumesToBackup`), in its order.
pub fn volumes_to_backup(pod: &Value) -> Vec<String> {
    pod.pointer("/metadata/annotations")
        .and_then(|a| a.get(VOLUMES_ANNOTATION))
        .and_then(Value::as_str)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub fn has_volume(pod: &Value, volume: &str) -> bool {
    pod.pointer("/spec/volumes")
        .and_then(Value::as_array)
        .is_some_and(|vs| vs.iter().any(|v| v["name"] == volume))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of a pod's volume: the same every time for the same pod, volume and size.
pub fn volume_bytes(namespace: &str, pod: &str, volume: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut block = Sha256::digest(format!("{namespace}/{pod}/{volume}").as_bytes()).to_vec();
    while out.len() < len {
        out.extend_from_slice(&block);
        block = Sha256::digest(&block).to_vec();
    }
    out.truncate(len);
    out
}

/// One volume's snapshot in a repository: the objects to write and the snapshot's short id.
pub struct Snapshot {
    pub objects: Vec<(String, Vec<u8>)>,
    pub id: String,
    pub size: u64,
}

/// The repository objects of one snapshot (the repository's `config` and key when it is new).
pub fn snapshot(
    layout: &Layout,
    namespace: &str,
    pod: &str,
    volume: &str,
    data: Vec<u8>,
    new_repository: bool,
) -> Snapshot {
    let dir = layout.restic_dir(namespace);
    let mut objects = Vec::new();
    if new_repository {
        let id = hex(&Sha256::digest(
            format!("repository {namespace}").as_bytes(),
        ));
        objects.push((
            format!("{dir}config"),
            serde_json::to_vec(
                &json!({"version": 1, "id": id, "chunker_polynomial": "3dea92648f6e83"}),
            )
            .unwrap_or_default(),
        ));
        objects.push((
            format!("{dir}keys/{}", &hex(&Sha256::digest(id.as_bytes()))),
            serde_json::to_vec(&json!({"created": now(), "username": "velero", "hostname": "velero", "kdf": "scrypt"}))
                .unwrap_or_default(),
        ));
    }
    let size = data.len() as u64;
    let blob = hex(&Sha256::digest(&data));
    objects.push((format!("{dir}data/{}/{blob}", &blob[..2]), data));
    let index = json!({"packs": [{"id": blob, "blobs": [{"id": blob, "type": "data", "offset": 0, "length": size}]}]});
    objects.push((
        format!(
            "{dir}index/{}",
            hex(&Sha256::digest(index.to_string().as_bytes()))
        ),
        serde_json::to_vec(&index).unwrap_or_default(),
    ));
    let snap = json!({
        "time": now(), "tree": blob, "paths": [format!("/host_pods/{pod}/volumes/{volume}")],
        "hostname": "velero", "username": "root", "tags": [format!("pod={pod}"), format!("volume={volume}"), format!("ns={namespace}")],
    });
    let snap_id = hex(&Sha256::digest(snap.to_string().as_bytes()));
    objects.push((
        format!("{dir}snapshots/{snap_id}"),
        serde_json::to_vec(&snap).unwrap_or_default(),
    ));
    Snapshot {
        objects,
        id: snap_id[..8].to_string(),
        size,
    }
}

/// `s3:<s3Url>/<bucket>/<prefix>/restic/<namespace>` (`restic.GetRepoIdentifier` for AWS).
pub fn repo_identifier(url: &str, bucket: &str, layout: &Layout, namespace: &str) -> String {
    format!(
        "s3:{}/{bucket}/{}",
        url.trim_end_matches('/'),
        layout.restic_dir(namespace).trim_end_matches('/')
    )
}

/// The PodVolumeBackup of one volume, Completed (`restic.backupper.BackupPodVolumes`).
#[allow(clippy::too_many_arguments)]
pub fn pod_volume_backup(
    backup: &Value,
    pod: &Value,
    volume: &str,
    location: &str,
    repo: &str,
    snap: &Snapshot,
    name: String,
    started: &str,
) -> Value {
    let backup_name = meta_str(backup, "name").unwrap_or("");
    let backup_uid = meta_str(backup, "uid").unwrap_or("");
    let ns = meta_str(backup, "namespace").unwrap_or("");
    let pod_ns = meta_str(pod, "namespace").unwrap_or("");
    let pod_name = meta_str(pod, "name").unwrap_or("");
    let pod_uid = meta_str(pod, "uid").unwrap_or("");
    json!({
        "apiVersion": "velero.io/v1",
        "kind": "PodVolumeBackup",
        "metadata": {
            "name": name, "namespace": ns, "generateName": format!("{backup_name}-"),
            "labels": {"velero.io/backup-name": backup_name, "velero.io/backup-uid": backup_uid},
            "ownerReferences": [{"apiVersion": "velero.io/v1", "kind": "Backup", "name": backup_name, "uid": backup_uid, "controller": true}],
        },
        "spec": {
            "node": pod.pointer("/spec/nodeName").cloned().unwrap_or(json!("")),
            "pod": {"kind": "Pod", "namespace": pod_ns, "name": pod_name, "uid": pod_uid},
            "volume": volume,
            "backupStorageLocation": location,
            "repoIdentifier": repo,
            "tags": {"backup": backup_name, "backup-uid": backup_uid, "ns": pod_ns, "pod": pod_name, "pod-uid": pod_uid, "volume": volume},
        },
        "status": {
            "phase": "Completed",
            "path": format!("/host_pods/{pod_uid}/volumes/kubernetes.io~empty-dir/{volume}"),
            "snapshotID": snap.id,
            "startTimestamp": started,
            "completionTimestamp": now(),
            "progress": {"totalBytes": snap.size, "bytesDone": snap.size},
        },
    })
}

/// The volumes of a pod from the backup with a snapshot to restore (`GetVolumeBackupsForPod`).
pub fn backups_for_pod<'a>(pvbs: &'a [Value], namespace: &str, pod: &str) -> Vec<&'a Value> {
    pvbs.iter()
        .filter(|p| {
            p.pointer("/spec/pod/namespace").and_then(Value::as_str) == Some(namespace)
                && p.pointer("/spec/pod/name").and_then(Value::as_str) == Some(pod)
                && p.pointer("/status/snapshotID")
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty())
        })
        .collect()
}

/// The init container Velero's restic restore item action puts first in the pod.
pub fn init_container(restore_uid: &str, volumes: &[String], image_tag: &str) -> Value {
    let mounts: Vec<Value> = volumes
        .iter()
        .map(|v| json!({"name": v, "mountPath": format!("/restores/{v}")}))
        .collect();
    json!({
        "name": INIT_CONTAINER,
        "image": format!("velero/velero-restic-restore-helper:{image_tag}"),
        "command": ["/velero-restic-restore-helper"],
        "args": [restore_uid],
        "env": [
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "resources": {"limits": {"cpu": "100m", "memory": "128Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
        "volumeMounts": mounts,
    })
}

/// A PodVolumeRestore for one volume of a restored pod (`restic.restorer.RestorePodVolumes`).
pub fn pod_volume_restore(restore: &Value, pod: &Value, pvb: &Value, name: String) -> Value {
    let restore_name = meta_str(restore, "name").unwrap_or("");
    let restore_uid = meta_str(restore, "uid").unwrap_or("");
    json!({
        "apiVersion": "velero.io/v1",
        "kind": "PodVolumeRestore",
        "metadata": {
            "name": name, "namespace": meta_str(restore, "namespace").unwrap_or(""),
            "generateName": format!("{restore_name}-"),
            "labels": {
                "velero.io/restore-name": restore_name, "velero.io/restore-uid": restore_uid,
                "velero.io/pod-uid": meta_str(pod, "uid").unwrap_or(""),
            },
            "ownerReferences": [{"apiVersion": "velero.io/v1", "kind": "Restore", "name": restore_name, "uid": restore_uid, "controller": true}],
        },
        "spec": {
            "pod": {"kind": "Pod", "namespace": meta_str(pod, "namespace").unwrap_or(""), "name": meta_str(pod, "name").unwrap_or(""), "uid": meta_str(pod, "uid").unwrap_or("")},
            "volume": pvb["spec"]["volume"],
            "backupStorageLocation": pvb["spec"]["backupStorageLocation"],
            "repoIdentifier": pvb["spec"]["repoIdentifier"],
            "snapshotID": pvb["status"]["snapshotID"],
        },
        "status": {"phase": "InProgress", "startTimestamp": now(), "progress": {"totalBytes": pvb["status"]["progress"]["totalBytes"], "bytesDone": 0}},
    })
}
