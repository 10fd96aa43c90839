//! Velero 1.9.2's restore controller and restorer (`pkg/controller/restore_controller.go`,
//! `pkg/restore/restore.go`): a new Restore is validated (its backup and that backup's
//! location must exist; the non-restorable resources are added to its excluded resources),
//! its backup's tarball is read from the bucket (none: the restore Fails with
//! `error downloading backup: ...`; unreadable: a Velero error, PartiallyFailed), then its
//! items are created in Velero's order (the resource priorities, then the backup's resources
//! alphabetically; namespaces as they are needed) with `velero.io/backup-name` and
//! `velero.io/restore-name`, an existing object left alone with a warning when it differs. Pods
//! with file-system backups get the `restic-wait` init container and a PodVolumeRestore; the
//! restore ends when those are done. The log and results go to `restores/<restore>/`.

use std::collections::HashSet;
use std::time::Instant;

use serde_json::{Map, Value, json};

use super::super::api::store_new;
use super::super::catalog::{self, ResourceType};
use super::super::state::{ClusterSpec, Inner};
use super::super::status::ApiError;
use super::super::store::{meta_str, now};
use super::super::validate;
use super::items::{self, IncludesExcludes};
use super::location::Location;
use super::logs::{Log, Outcome};
use super::restic;
use super::store::BackupStore;
use super::tarball::{self, Archive};

/// `nonRestorableResources`.
const NON_RESTORABLE: &[&str] = &[
    "nodes",
    "events",
    "events.events.k8s.io",
    "backups.velero.io",
    "restores.velero.io",
    "resticrepositories.velero.io",
];

/// `defaultRestorePriorities` of Velero 1.9.2's server.
const PRIORITIES: &[&str] = &[
    "customresourcedefinitions",
    "namespaces",
    "storageclasses",
    "volumesnapshotclass.snapshot.storage.k8s.io",
    "volumesnapshotcontents.snapshot.storage.k8s.io",
    "volumesnapshots.snapshot.storage.k8s.io",
    "persistentvolumes",
    "persistentvolumeclaims",
    "secrets",
    "configmaps",
    "serviceaccounts",
    "limitranges",
    "pods",
    "replicasets.apps",
    "clusterclasses.cluster.x-k8s.io",
    "clusters.cluster.x-k8s.io",
    "clusterresourcesets.addons.cluster.x-k8s.io",
];

struct Planned {
    rt: &'static ResourceType,
    original_ns: String,
    target_ns: String,
    name: String,
    path: String,
}

pub struct RestoreJob {
    pub restore: Value,
    location: Location,
    /// The PodVolumeBackups of the backup in this cluster.
    pvbs: Vec<Value>,
    log: Log,
    warnings: Outcome,
    errors: Outcome,
    archive: Option<Archive>,
    plan: Vec<Planned>,
    pub done: usize,
    restored: HashSet<(String, String, String)>,
    /// Namespaces whose restic repository is not in the bucket.
    missing_repos: Vec<String>,
    /// The PodVolumeRestores created, when they are done, and the pods that wait for them.
    pvrs: Vec<(String, Instant)>,
    waiting_pods: Vec<(String, String)>,
    pub failure: Option<String>,
    pub fetched: bool,
}

impl RestoreJob {
    pub fn total(&self) -> usize {
        self.plan.len()
    }

    pub fn planned_done(&self) -> bool {
        self.done >= self.plan.len()
    }

    pub fn progress(&self) -> Value {
        let restored = self.restored.len();
        json!({"totalItems": restored + (self.plan.len() - self.done), "itemsRestored": restored})
    }
}

/// `validateAndComplete` and the first patch: FailedValidation, or InProgress with a job.
pub fn begin(inner: &Inner, original: &Value) -> (Value, Option<RestoreJob>) {
    let mut r = original.clone();
    let ns = meta_str(&r, "namespace").unwrap_or("").to_string();
    let name = meta_str(&r, "name").unwrap_or("").to_string();
    let mut errors: Vec<String> = Vec::new();
    let mut excluded: Vec<Value> = r["spec"]["excludedResources"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for n in NON_RESTORABLE {
        if !excluded.iter().any(|e| e == n) {
            excluded.push(json!(n));
        }
    }
    r["spec"]["excludedResources"] = json!(excluded);
    let included: Vec<&str> = r["spec"]["includedResources"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for n in NON_RESTORABLE {
        if included.contains(n) {
            errors.push(format!("{n} are non-restorable resources"));
        }
    }
    for e in IncludesExcludes::validate(
        &r["spec"]["includedResources"],
        &r["spec"]["excludedResources"],
    ) {
        errors.push(format!("Invalid included/excluded resource lists: {e}"));
    }
    for e in IncludesExcludes::validate(
        &r["spec"]["includedNamespaces"],
        &r["spec"]["excludedNamespaces"],
    ) {
        errors.push(format!("Invalid included/excluded namespace lists: {e}"));
    }
    if r["spec"]
        .get("orLabelSelectors")
        .is_some_and(|v| !v.is_null())
        && r["spec"].get("labelSelector").is_some_and(|v| !v.is_null())
    {
        errors.push("encountered labelSelector as well as orLabelSelectors in restore spec, only one can be specified".into());
    }
    let backup_name = r["spec"]["backupName"].as_str().unwrap_or("").to_string();
    let schedule = r["spec"]["scheduleName"].as_str().unwrap_or("");
    let mut found = None;
    if backup_name.is_empty() == schedule.is_empty() {
        errors.push("Either a backup or schedule must be specified as a source for the restore, but not both".into());
    } else if !schedule.is_empty() {
        errors.push("No backups found for schedule".into());
    } else {
        match fetch_backup_info(inner, &ns, &backup_name) {
            Ok(info) => found = Some(info),
            Err(e) => errors.push(format!("Error retrieving backup: {e}")),
        }
    }
    if !errors.is_empty() {
        r["status"]["validationErrors"] = json!(errors);
        r["status"]["phase"] = json!("FailedValidation");
        return (r, None);
    }
    let Some((location, pvbs)) = found else {
        return (r, None);
    };
    r["status"]["phase"] = json!("InProgress");
    r["status"]["startTimestamp"] = json!(now());
    let job = RestoreJob {
        restore: r.clone(),
        location,
        pvbs,
        log: Log::new(&format!("restore={ns}/{name}")),
        warnings: Outcome::default(),
        errors: Outcome::default(),
        archive: None,
        plan: Vec::new(),
        done: 0,
        restored: HashSet::new(),
        missing_repos: Vec::new(),
        pvrs: Vec::new(),
        waiting_pods: Vec::new(),
        failure: None,
        fetched: false,
    };
    (r, Some(job))
}

fn fetch_backup_info(
    inner: &Inner,
    ns: &str,
    backup_name: &str,
) -> Result<(Location, Vec<Value>), String> {
    let backup_rt = catalog::find_kind(&[], "velero.io/v1", "Backup").ok_or("no Backup kind")?;
    let bsl_rt =
        catalog::find_kind(&[], "velero.io/v1", "BackupStorageLocation").ok_or("no BSL kind")?;
    let pvb_rt = catalog::find_kind(&[], "velero.io/v1", "PodVolumeBackup").ok_or("no PVB kind")?;
    let backup = inner
        .store
        .get(backup_rt, ns, backup_name)
        .ok_or_else(|| format!("backups.velero.io \"{backup_name}\" not found"))?;
    let location_name = backup["spec"]["storageLocation"].as_str().unwrap_or("");
    let bsl = inner
        .store
        .get(bsl_rt, ns, location_name)
        .ok_or_else(|| format!("backupstoragelocations.velero.io \"{location_name}\" not found"))?;
    let location = Location::read(inner, bsl)?;
    let pvbs = inner
        .store
        .list(pvb_rt, Some(ns))
        .into_iter()
        .filter(|p| {
            p.pointer("/metadata/labels/velero.io~1backup-name")
                .and_then(Value::as_str)
                == Some(backup_name)
        })
        .collect();
    Ok((location, pvbs))
}

/// Downloads and reads the backup's tarball (outside the state lock), then plans the items.
pub async fn fetch(job: &mut RestoreJob, without: &[String]) {
    job.fetched = true;
    let backup_name = job.restore["spec"]["backupName"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let store = match BackupStore::open(&job.location) {
        Ok(s) => s,
        Err(e) => {
            job.failure = Some(format!("error downloading backup: {e}"));
            return;
        }
    };
    let bytes = match store.get(&store.layout.contents(&backup_name)).await {
        Ok(b) => b,
        Err(e) => {
            job.failure = Some(format!("error downloading backup: {e}"));
            return;
        }
    };
    for pvb in &job.pvbs {
        let ns = pvb
            .pointer("/spec/pod/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !job.missing_repos.contains(&ns)
            && !store
                .exists(&format!("{}config", store.layout.restic_dir(&ns)))
                .await
                .unwrap_or(false)
        {
            job.missing_repos.push(ns);
        }
    }
    job.log.info("starting restore");
    job.log.info(&format!(
        "Starting restore of backup {}/{backup_name}",
        meta_str(&job.restore, "namespace").unwrap_or("")
    ));
    let archive = match tarball::read(&bytes) {
        Ok(a) => a,
        Err(e) => {
            job.log
                .info(&format!("error unzipping and extracting: {e}"));
            job.errors.velero.push(e);
            return;
        }
    };
    match archive.resources() {
        Ok(resources) => plan(job, without, &archive, &resources),
        Err(e) => job
            .errors
            .velero
            .push(format!("error parsing backup contents: {e}")),
    }
    job.archive = Some(archive);
}

fn plan(
    job: &mut RestoreJob,
    without: &[String],
    archive: &Archive,
    resources: &tarball::Resources,
) {
    let spec = &job.restore["spec"];
    let res_ie = IncludesExcludes::resources(
        without,
        &spec["includedResources"],
        &spec["excludedResources"],
    );
    let ns_ie = IncludesExcludes::new(&spec["includedNamespaces"], &spec["excludedNamespaces"]);
    let selector = items::label_selector(&spec["labelSelector"]);
    let mapping = spec["namespaceMapping"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let include_cluster = spec["includeClusterResources"].as_bool();
    let mut order: Vec<String> = PRIORITIES.iter().map(|s| s.to_string()).collect();
    order.extend(resources.keys().cloned());
    let mut processed: HashSet<String> = HashSet::new();
    for resource in order {
        let Some(rt) = items::resolve(without, &resource) else {
            job.log.line(
                "info",
                "Skipping restore of resource because it cannot be resolved via discovery",
                &[("resource", &resource)],
            );
            continue;
        };
        let gr = items::group_resource(rt);
        if processed.contains(&gr) {
            continue;
        }
        if !res_ie.should_include(&gr) {
            job.log.line(
                "info",
                "Skipping restore of resource because the restore spec excludes it",
                &[("resource", &gr)],
            );
            continue;
        }
        if rt.kind == "Namespace" && rt.group.is_empty() {
            continue;
        }
        let Some(by_ns) = resources.get(&gr) else {
            continue;
        };
        for (ns, names) in by_ns {
            if !ns.is_empty() && !ns_ie.should_include(ns) {
                job.log.info(&format!("Skipping namespace {ns}"));
                continue;
            }
            let target = mapping
                .get(ns)
                .and_then(Value::as_str)
                .unwrap_or(ns)
                .to_string();
            if target.is_empty()
                && (include_cluster == Some(false)
                    || (include_cluster != Some(true) && !ns_ie.include_everything()))
            {
                job.log.info(&format!(
                    "Skipping resource {resource} because it's cluster-scoped"
                ));
                continue;
            }
            if target.is_empty() {
                job.log.info(&format!(
                    "Resource '{gr}' will be restored at cluster scope"
                ));
            } else {
                job.log.info(&format!(
                    "Resource '{gr}' will be restored into namespace '{target}'"
                ));
            }
            for name in names {
                let path = Archive::item_path(&gr, ns, name);
                let obj: Value = match archive.file(&path).map(serde_json::from_slice::<Value>) {
                    Some(Ok(o)) => o,
                    Some(Err(e)) => {
                        job.errors
                            .add(&target, format!("error decoding \"{path}\": {e}"));
                        continue;
                    }
                    None => continue,
                };
                if selector.as_ref().is_some_and(|s| !s.matches(&obj)) {
                    continue;
                }
                job.plan.push(Planned {
                    rt,
                    original_ns: ns.clone(),
                    target_ns: target.clone(),
                    name: name.clone(),
                    path,
                });
            }
        }
        processed.insert(gr);
    }
}

/// Restores the next `count` planned items under the state lock.
pub fn step(job: &mut RestoreJob, inner: &mut Inner, spec: &ClusterSpec, count: usize) {
    let end = (job.done + count.max(1)).min(job.plan.len());
    for i in job.done..end {
        restore_item(job, inner, spec, i);
        let p = &job.plan[i];
        let restored = job.restored.len();
        let estimate = restored + (job.plan.len() - (i + 1));
        let (gr, target, name) = (
            items::group_resource(p.rt),
            p.target_ns.clone(),
            p.name.clone(),
        );
        job.log.line("info", &format!("Restored {restored} items out of an estimated total of {estimate} (estimate will change throughout the restore)"), &[("progress", ""), ("resource", &gr), ("namespace", &target), ("name", &name)]);
    }
    job.done = end;
}

fn reset_metadata_and_status(obj: &mut Value) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.retain(|k, _| matches!(k.as_str(), "name" | "namespace" | "labels" | "annotations"));
    }
    if let Some(o) = obj.as_object_mut() {
        o.shift_remove("status");
    }
}

fn add_restore_labels(obj: &mut Value, restore: &str, backup: &str) {
    let labels = obj["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut labels: Map<String, Value> = labels;
    labels.insert(
        "velero.io/backup-name".into(),
        json!(backup.chars().take(63).collect::<String>()),
    );
    labels.insert(
        "velero.io/restore-name".into(),
        json!(restore.chars().take(63).collect::<String>()),
    );
    obj["metadata"]["labels"] = Value::Object(labels);
}

fn ensure_namespace(
    job: &mut RestoreJob,
    inner: &mut Inner,
    original: &str,
    target: &str,
) -> Result<(), ApiError> {
    let ns_rt = catalog::find_kind(&[], "v1", "Namespace").ok_or_else(ApiError::unknown_path)?;
    if inner.store.get(ns_rt, "", target).is_some() {
        return Ok(());
    }
    let from_backup: Option<Value> = job
        .archive
        .as_ref()
        .and_then(|a| a.file(&Archive::item_path("namespaces", "", original)))
        .and_then(|b| serde_json::from_slice(b).ok());
    let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": target}});
    if let Some(b) = from_backup {
        for k in ["labels", "annotations"] {
            if let Some(v) = b["metadata"].get(k) {
                ns["metadata"][k] = v.clone();
            }
        }
        if let Some(s) = b.get("spec") {
            ns["spec"] = s.clone();
        }
    }
    ns["status"] = json!({"phase": "Active"});
    inner.store.create(ns_rt, "", ns)?;
    job.restored
        .insert(("namespaces".into(), String::new(), target.to_string()));
    Ok(())
}

fn restore_item(job: &mut RestoreJob, inner: &mut Inner, spec: &ClusterSpec, i: usize) {
    let (rt, original_ns, target, name, path) = {
        let p = &job.plan[i];
        (
            p.rt,
            p.original_ns.clone(),
            p.target_ns.clone(),
            p.name.clone(),
            p.path.clone(),
        )
    };
    let gr = items::group_resource(rt);
    let resource_id = if target.is_empty() {
        format!("{gr}/{name}")
    } else {
        format!("{gr}/{target}/{name}")
    };
    let Some(mut obj) = job
        .archive
        .as_ref()
        .and_then(|a| a.file(&path))
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
    else {
        return;
    };
    if !target.is_empty()
        && let Err(e) = ensure_namespace(job, inner, &original_ns, &target)
    {
        job.errors.velero.push(e.message);
        return;
    }
    let phase = obj.pointer("/status/phase").and_then(Value::as_str);
    let completed = (rt.kind == "Pod" && matches!(phase, Some("Failed") | Some("Succeeded")))
        || (rt.kind == "Job"
            && obj
                .pointer("/status/completionTime")
                .and_then(Value::as_str)
                .is_some_and(|c| !c.is_empty()));
    if completed {
        job.log
            .info(&format!("{}/{name} is complete - skipping", original_ns));
        return;
    }
    let key = (gr.clone(), target.clone(), name.clone());
    if !job.restored.insert(key) {
        job.log.info(&format!(
            "Skipping {resource_id} because it's already been restored."
        ));
        return;
    }
    if rt.kind == "Pod"
        && obj
            .pointer("/metadata/annotations/kubernetes.io~1config.mirror")
            .is_some()
    {
        job.log.info("Not restoring pod because it's a mirror pod");
        return;
    }
    reset_metadata_and_status(&mut obj);
    let mut restic_volumes: Vec<Value> = Vec::new();
    match (rt.group, rt.kind) {
        ("", "Pod") => {
            pod_action(&mut obj);
            let pvbs: Vec<Value> = restic::backups_for_pod(&job.pvbs, &original_ns, &name)
                .into_iter()
                .cloned()
                .collect();
            if !pvbs.is_empty() {
                let volumes: Vec<String> = pvbs
                    .iter()
                    .filter_map(|p| p["spec"]["volume"].as_str().map(str::to_string))
                    .collect();
                let uid = meta_str(&job.restore, "uid").unwrap_or("").to_string();
                let init = restic::init_container(&uid, &volumes, "v1.9.2");
                let mut inits = obj["spec"]["initContainers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if inits
                    .first()
                    .is_some_and(|c| c["name"] == restic::INIT_CONTAINER)
                {
                    inits[0] = init;
                } else {
                    inits.insert(0, init);
                }
                obj["spec"]["initContainers"] = json!(inits);
                restic_volumes = pvbs;
            }
        }
        ("batch", "Job") => {
            for p in [
                "/spec/selector/matchLabels",
                "/spec/template/metadata/labels",
            ] {
                if let Some(m) = obj.pointer_mut(p).and_then(Value::as_object_mut) {
                    m.shift_remove("controller-uid");
                }
            }
        }
        ("", "Service") => {
            if obj["spec"]["clusterIP"] != "None"
                && let Some(s) = obj["spec"].as_object_mut()
            {
                s.shift_remove("clusterIP");
                s.shift_remove("clusterIPs");
            }
        }
        ("", "PersistentVolumeClaim") => {
            if let Some(a) = obj
                .pointer_mut("/metadata/annotations")
                .and_then(Value::as_object_mut)
            {
                for k in [
                    "pv.kubernetes.io/bind-completed",
                    "pv.kubernetes.io/bound-by-controller",
                    "pv.kubernetes.io/provisioned-by",
                ] {
                    a.shift_remove(k);
                }
            }
        }
        _ => {}
    }
    if !target.is_empty() {
        obj["metadata"]["namespace"] = json!(target);
    }
    let restore_name = meta_str(&job.restore, "name").unwrap_or("").to_string();
    let backup_name = job.restore["spec"]["backupName"]
        .as_str()
        .unwrap_or("")
        .to_string();
    add_restore_labels(&mut obj, &restore_name, &backup_name);
    let kind = obj["kind"].as_str().unwrap_or(rt.kind).to_string();
    job.log
        .info(&format!("Attempting to restore {kind}: {name}"));
    let created = validate::validate(rt, obj.clone())
        .and_then(|o| store_new(inner, rt, &target, o, spec.pod_start_delay));
    let created = match created {
        Ok(c) => c,
        Err(e) => {
            if let Some(current) = inner.store.get(rt, &target, &name).cloned() {
                let mut from_cluster = current;
                reset_metadata_and_status(&mut from_cluster);
                add_restore_labels(&mut from_cluster, &restore_name, &backup_name);
                if from_cluster != obj {
                    job.warnings.add(&target, format!("could not restore, {kind} \"{name}\" already exists. Warning: the in-cluster version is different than the backed-up version."));
                } else {
                    job.log.info(&format!("Restore of {kind}, {name} skipped: it already exists in the cluster and is the same as the backed up version"));
                }
            } else {
                job.log.line(
                    "error",
                    &format!("error restoring {name}: {}", e.message),
                    &[],
                );
                job.errors.add(
                    &target,
                    format!("error restoring {resource_id}: {}", e.message),
                );
            }
            return;
        }
    };
    if !restic_volumes.is_empty() {
        start_pod_volume_restores(job, inner, spec, rt, &created, &restic_volumes);
    }
}

/// `PodAction`: no node, no priority, no service account token volumes.
fn pod_action(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    spec.insert("nodeName".into(), json!(""));
    spec.shift_remove("priority");
    let sa = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let token = format!("{sa}-token-");
    if let Some(vs) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        vs.retain(|v| !v["name"].as_str().unwrap_or("").starts_with(&token));
    }
    for list in ["containers", "initContainers"] {
        for c in spec
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(ms) = c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                ms.retain(|m| !m["name"].as_str().unwrap_or("").starts_with(&token));
            }
        }
    }
    if spec.get("nodeName").and_then(Value::as_str) == Some("") {
        spec.shift_remove("nodeName");
    }
}

/// The pod waits in `restic-wait` (Initialized False) until its volumes are restored.
fn start_pod_volume_restores(
    job: &mut RestoreJob,
    inner: &mut Inner,
    spec: &ClusterSpec,
    pods_rt: &'static ResourceType,
    pod: &Value,
    pvbs: &[Value],
) {
    let Some(pvr_rt) = catalog::find_kind(&[], "velero.io/v1", "PodVolumeRestore") else {
        return;
    };
    let due = Instant::now() + spec.velero_step * 3;
    let ns = meta_str(pod, "namespace").unwrap_or("").to_string();
    let pod_name = meta_str(pod, "name").unwrap_or("").to_string();
    let velero_ns = meta_str(&job.restore, "namespace")
        .unwrap_or("")
        .to_string();
    for pvb in pvbs {
        let suffix = inner.suffix(5);
        let pvr = restic::pod_volume_restore(
            &job.restore,
            pod,
            pvb,
            format!("{}-{suffix}", meta_str(&job.restore, "name").unwrap_or("")),
        );
        if let Ok(stored) = inner.store.create(pvr_rt, &velero_ns, pvr) {
            job.pvrs
                .push((meta_str(&stored, "name").unwrap_or("").to_string(), due));
        }
    }
    let mut next = pod.clone();
    let t = now();
    if let Some(conditions) = next
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        conditions.push(json!({"type": "Initialized", "status": "False", "lastTransitionTime": t, "reason": "ContainersNotInitialized", "message": format!("containers with incomplete status: [{}]", restic::INIT_CONTAINER)}));
    }
    next["status"]["initContainerStatuses"] = json!([{
        "name": restic::INIT_CONTAINER, "image": format!("velero/velero-restic-restore-helper:v1.9.2"),
        "imageID": "", "ready": false, "restartCount": 0, "state": {"running": {"startedAt": t}},
    }]);
    let _ = inner.store.replace(pods_rt, &ns, &pod_name, next, None);
    // The kubelet starts it once restic-wait ends, when its volumes are restored.
    inner.pod_deadlines.insert(
        (ns.clone(), pod_name.clone()),
        Instant::now() + std::time::Duration::from_secs(3600),
    );
    job.waiting_pods.push((ns, pod_name));
}

/// Whether every PodVolumeRestore is due; marks them Completed (or Failed when their
/// repository is not in the bucket), records their errors, and lets their pods start (the
/// caller wakes the pod controller).
pub fn finish_pod_volume_restores(job: &mut RestoreJob, inner: &mut Inner) -> bool {
    let now_i = Instant::now();
    if job.pvrs.iter().any(|(_, due)| *due > now_i) {
        return false;
    }
    let Some(pvr_rt) = catalog::find_kind(&[], "velero.io/v1", "PodVolumeRestore") else {
        return true;
    };
    let velero_ns = meta_str(&job.restore, "namespace")
        .unwrap_or("")
        .to_string();
    for (name, _) in std::mem::take(&mut job.pvrs) {
        let Some(mut pvr) = inner.store.get(pvr_rt, &velero_ns, &name).cloned() else {
            continue;
        };
        let pod_ns = pvr
            .pointer("/spec/pod/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let source_ns = job
            .pvbs
            .iter()
            .find(|p| p["status"]["snapshotID"] == pvr["spec"]["snapshotID"])
            .and_then(|p| p.pointer("/spec/pod/namespace"))
            .and_then(Value::as_str)
            .unwrap_or(&pod_ns)
            .to_string();
        if job.missing_repos.contains(&source_ns) {
            let repo = pvr["spec"]["repoIdentifier"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let message = format!(
                "error restoring volume: error running restic restore, cmd=restic restore --repo={repo}, stderr=Fatal: unable to open config file: Stat: The specified key does not exist.\nIs there a repository at the following location?\n{repo}\n: exit status 1"
            );
            pvr["status"]["phase"] = json!("Failed");
            pvr["status"]["message"] = json!(message);
            job.errors
                .velero
                .push(format!("pod volume restore failed: {message}"));
        } else {
            pvr["status"]["phase"] = json!("Completed");
            pvr["status"]["progress"]["bytesDone"] =
                pvr["status"]["progress"]["totalBytes"].clone();
        }
        pvr["status"]["completionTimestamp"] = json!(now());
        let _ = inner.store.replace(pvr_rt, &velero_ns, &name, pvr, None);
    }
    for pod in std::mem::take(&mut job.waiting_pods) {
        inner.pod_deadlines.insert(pod, now_i);
    }
    true
}

/// Uploads the log and results and gives the Restore its final status.
pub async fn finish(mut job: RestoreJob) -> Value {
    let mut r = job.restore.clone();
    if let Some(reason) = job.failure.take() {
        r["status"]["phase"] = json!("Failed");
        r["status"]["failureReason"] = json!(reason);
        r["status"]["completionTimestamp"] = json!(now());
        return r;
    }
    for m in job.errors.velero.clone() {
        job.log
            .line("error", &format!("Velero restore error: {m}"), &[]);
    }
    for m in job.errors.cluster.clone() {
        job.log.line(
            "error",
            &format!("Cluster resource restore error: {m}"),
            &[],
        );
    }
    for (ns, ms) in job.errors.namespaces.clone() {
        for m in ms {
            job.log.line(
                "error",
                &format!("Namespace {ns}, resource restore error: {m}"),
                &[],
            );
        }
    }
    for m in job.warnings.velero.clone() {
        job.log
            .line("warning", &format!("Velero restore warning: {m}"), &[]);
    }
    for m in job.warnings.cluster.clone() {
        job.log.line(
            "warning",
            &format!("Cluster resource restore warning: {m}"),
            &[],
        );
    }
    for (ns, ms) in job.warnings.namespaces.clone() {
        for m in ms {
            job.log.line(
                "warning",
                &format!("Namespace {ns}, resource restore warning: {m}"),
                &[],
            );
        }
    }
    job.log.info("restore completed");
    let name = meta_str(&r, "name").unwrap_or("").to_string();
    match BackupStore::open(&job.location) {
        Err(e) => {
            return failed(
                r,
                &format!("error setting up backup store to persist log and results files: {e}"),
            );
        }
        Ok(store) => {
            if let Err(e) = store
                .put(
                    &store.layout.restore_file(&name, "-logs.gz"),
                    tarball::gzip(job.log.text().as_bytes()).unwrap_or_default(),
                )
                .await
            {
                job.errors
                    .velero
                    .push(format!("error uploading log file to backup storage: {e}"));
            }
            let results =
                json!({"errors": job.errors.to_json(), "warnings": job.warnings.to_json()});
            let mut text = serde_json::to_vec(&results).unwrap_or_default();
            text.push(b'\n');
            let _ = store
                .put(
                    &store.layout.restore_file(&name, "-results.gz"),
                    tarball::gzip(&text).unwrap_or_default(),
                )
                .await;
        }
    }
    let restored = job.restored.len();
    r["status"]["progress"] = json!({"totalItems": restored, "itemsRestored": restored});
    let (warnings, errors) = (job.warnings.count(), job.errors.count());
    if warnings > 0 {
        r["status"]["warnings"] = json!(warnings);
    }
    if errors > 0 {
        r["status"]["errors"] = json!(errors);
    }
    r["status"]["phase"] = json!(if errors > 0 {
        "PartiallyFailed"
    } else {
        "Completed"
    });
    r["status"]["completionTimestamp"] = json!(now());
    r
}

fn failed(mut r: Value, reason: &str) -> Value {
    r["status"]["phase"] = json!("Failed");
    r["status"]["failureReason"] = json!(reason);
    r["status"]["completionTimestamp"] = json!(now());
    r
}
