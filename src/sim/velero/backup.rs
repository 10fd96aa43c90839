//! Velero 1.9.2's backup controller and backupper (`pkg/controller/backup_controller.go`,
//! `pkg/backup`): a new Backup is validated and completed (`prepareBackupRequest`), its items
//! are collected at once, counted up in `status.progress` over a few steps, then written to
//! the location's bucket (`persistBackup`, `PutBackup`'s order: the log, `velero-backup.json`,
//! the tarball, then the lists), and the Backup gets its final phase: Completed,
//! PartiallyFailed (errors logged) or Failed.
//!
//! Test scenes: an object annotated `sim.cutover.io/backup-error: <message>` is not backed up
//! and logs that error (the backup ends PartiallyFailed); a Backup annotated
//! `sim.cutover.io/backup-fail: <reason>` ends Failed with that reason (as a backupper error).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::super::catalog::{self, ResourceType};
use super::super::state::{ClusterSpec, Inner};
use super::super::store::{meta_str, now};
use super::items::{self, IncludesExcludes};
use super::location::{Location, go_duration};
use super::logs::Log;
use super::restic;
use super::store::BackupStore;
use super::tarball::{self, FORMAT_VERSION, Item};

pub const ITEM_ERROR_ANNOTATION: &str = "sim.cutover.io/backup-error";
pub const FAIL_ANNOTATION: &str = "sim.cutover.io/backup-fail";
/// `defaultBackupTTL`: 30 days.
const DEFAULT_TTL: &str = "720h0m0s";

/// A backup between its start and its upload.
pub struct BackupJob {
    pub backup: Value,
    pub location: Location,
    items: Vec<(&'static ResourceType, Value)>,
    pub log: Log,
    pub done: usize,
}

impl BackupJob {
    pub fn total(&self) -> usize {
        self.items.len()
    }
}

fn label_value(s: &str) -> String {
    // label.GetValidName: at most 63 characters.
    s.chars().take(63).collect()
}

/// `prepareBackupRequest` and the first status patch: the Backup as it goes FailedValidation
/// or InProgress, and for the latter the job.
pub fn begin(inner: &Inner, spec: &ClusterSpec, original: &Value) -> (Value, Option<BackupJob>) {
    let mut b = original.clone();
    let ns = meta_str(&b, "namespace").unwrap_or("").to_string();
    let name = meta_str(&b, "name").unwrap_or("").to_string();
    let mut errors: Vec<String> = Vec::new();
    b["status"]["version"] = json!(1);
    b["status"]["formatVersion"] = json!(FORMAT_VERSION);
    let ttl = b["spec"]["ttl"]
        .as_str()
        .filter(|t| go_duration(t).is_some_and(|d| !d.is_zero()))
        .unwrap_or(DEFAULT_TTL)
        .to_string();
    b["spec"]["ttl"] = json!(ttl);
    if b["spec"]["csiSnapshotTimeout"]
        .as_str()
        .is_none_or(|t| go_duration(t).is_none_or(|d| d.is_zero()))
    {
        b["spec"]["csiSnapshotTimeout"] = json!("10m0s");
    }
    let expiration = chrono::Utc::now()
        + chrono::Duration::from_std(go_duration(&ttl).unwrap_or_default()).unwrap_or_default();
    b["status"]["expiration"] =
        json!(expiration.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    if b["spec"].get("defaultVolumesToRestic").is_none() {
        b["spec"]["defaultVolumesToRestic"] = json!(false);
    }
    let bsl_rt = catalog::find_kind(&[], "velero.io/v1", "BackupStorageLocation");
    let locations = bsl_rt
        .map(|rt| inner.store.list(rt, Some(&ns)))
        .unwrap_or_default();
    let server_specified = b["spec"]["storageLocation"]
        .as_str()
        .is_none_or(str::is_empty);
    if server_specified {
        let default = locations
            .iter()
            .find(|l| l["spec"]["default"] == true)
            .and_then(|l| meta_str(l, "name"))
            .unwrap_or("default")
            .to_string();
        b["spec"]["storageLocation"] = json!(default);
    }
    let location_name = b["spec"]["storageLocation"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let bsl = locations
        .iter()
        .find(|l| meta_str(l, "name") == Some(location_name.as_str()));
    let mut location = None;
    match bsl {
        None => {
            let err = format!("backupstoragelocations.velero.io \"{location_name}\" not found");
            errors.push(if server_specified {
                format!("an existing backup storage location wasn't specified at backup creation time and the server default '{location_name}' doesn't exist. Please address this issue (see `velero backup-location -h` for options) and create a new backup. Error: {err}")
            } else {
                format!("an existing backup storage location wasn't specified at backup creation time and the default '{location_name}' wasn't found. Please address this issue (see `velero backup-location -h` for options) and create a new backup. Error: {err}")
            });
        }
        Some(bsl) => {
            if bsl["spec"]["accessMode"] == "ReadOnly" {
                errors.push(format!("backup can't be created because backup storage location {location_name} is currently in read-only mode"));
            }
            location = Some(Location::read(inner, bsl));
        }
    }
    b["metadata"]["labels"]["velero.io/storage-location"] = json!(label_value(&location_name));
    let minor = spec.server_minor;
    b["metadata"]["annotations"]["velero.io/source-cluster-k8s-gitversion"] =
        json!(format!("v1.{minor}.4"));
    b["metadata"]["annotations"]["velero.io/source-cluster-k8s-major-version"] = json!("1");
    b["metadata"]["annotations"]["velero.io/source-cluster-k8s-minor-version"] =
        json!(minor.to_string());
    for e in IncludesExcludes::validate(
        &b["spec"]["includedResources"],
        &b["spec"]["excludedResources"],
    ) {
        errors.push(format!("Invalid included/excluded resource lists: {e}"));
    }
    for e in IncludesExcludes::validate(
        &b["spec"]["includedNamespaces"],
        &b["spec"]["excludedNamespaces"],
    ) {
        errors.push(format!("Invalid included/excluded namespace lists: {e}"));
    }
    if b["spec"]
        .get("orLabelSelectors")
        .is_some_and(|v| !v.is_null())
        && b["spec"].get("labelSelector").is_some_and(|v| !v.is_null())
    {
        errors.push("encountered labelSelector as well as orLabelSelectors in backup spec, only one can be specified".into());
    }
    if !errors.is_empty() {
        b["status"]["validationErrors"] = json!(errors);
        b["status"]["phase"] = json!("FailedValidation");
        return (b, None);
    }
    b["status"]["phase"] = json!("InProgress");
    b["status"]["startTimestamp"] = json!(now());
    let mut log = Log::new(&format!("backup={ns}/{name}"));
    let items = collect(inner, spec, &b, &mut log);
    b["status"]["progress"] = json!({"totalItems": items.len()});
    // A location whose store cannot be had fails the backup when it runs, as in Velero.
    let location = match location {
        Some(Ok(l)) => l,
        Some(Err(e)) => Location {
            namespace: ns.clone(),
            name: location_name.clone(),
            bucket: String::new(),
            prefix: String::new(),
            url: String::new(),
            region: String::new(),
            credentials: Err(e),
            read_only: false,
        },
        None => unreachable_location(&ns, &location_name),
    };
    (
        b.clone(),
        Some(BackupJob {
            backup: b,
            location,
            items,
            log,
            done: 0,
        }),
    )
}

fn unreachable_location(ns: &str, name: &str) -> Location {
    Location {
        namespace: ns.into(),
        name: name.into(),
        bucket: String::new(),
        prefix: String::new(),
        url: String::new(),
        region: String::new(),
        credentials: Err(format!(
            "backupstoragelocations.velero.io \"{name}\" not found"
        )),
        read_only: false,
    }
}

/// `itemCollector.getAllItems`: the items of the included namespaces and resources.
fn collect(
    inner: &Inner,
    spec: &ClusterSpec,
    b: &Value,
    log: &mut Log,
) -> Vec<(&'static ResourceType, Value)> {
    let without = &spec.without_groups;
    let namespaces = IncludesExcludes::new(
        &b["spec"]["includedNamespaces"],
        &b["spec"]["excludedNamespaces"],
    );
    let resources = IncludesExcludes::resources(
        without,
        &b["spec"]["includedResources"],
        &b["spec"]["excludedResources"],
    );
    let selector = items::label_selector(&b["spec"]["labelSelector"]);
    let include_cluster = b["spec"]["includeClusterResources"].as_bool();
    log.info(&format!(
        "Including namespaces: {}",
        namespaces.includes_string()
    ));
    log.info(&format!(
        "Excluding namespaces: {}",
        namespaces.excludes_string()
    ));
    log.info(&format!(
        "Including resources: {}",
        resources.includes_string()
    ));
    log.info(&format!(
        "Excluding resources: {}",
        resources.excludes_string()
    ));
    log.info(&format!(
        "Backing up all pod volumes using Restic: {}",
        b["spec"]["defaultVolumesToRestic"] == true
    ));
    let mut out = Vec::new();
    for rt in items::backup_order(without) {
        let gr = items::group_resource(rt);
        let is_ns = rt.kind == "Namespace" && rt.group.is_empty();
        if !rt.namespaced && !is_ns {
            match include_cluster {
                None if !namespaces.include_everything() => continue,
                Some(false) => continue,
                _ => {}
            }
        }
        if !resources.should_include(&gr) {
            continue;
        }
        let listed: Vec<Value> = if is_ns && !namespaces.include_everything() {
            namespaces
                .includes()
                .iter()
                .filter_map(|n| inner.store.get(rt, "", n).cloned())
                .collect()
        } else {
            inner.store.list(rt, None)
        };
        for obj in listed {
            let ns = meta_str(&obj, "namespace").unwrap_or("");
            let name = if is_ns {
                meta_str(&obj, "name").unwrap_or("")
            } else {
                ns
            };
            if (rt.namespaced || is_ns) && !namespaces.should_include(name) {
                continue;
            }
            if selector.as_ref().is_some_and(|s| !s.matches(&obj)) {
                continue;
            }
            out.push((rt, obj));
        }
    }
    log.info(&format!("Collected {} items matching the backup spec from the Kubernetes API (actual number of items backed up may be more or less depending on velero.io/exclude-from-backup annotation, plugins returning additional related items to back up, etc.)", out.len()));
    out
}

/// Advances a job by one step of the progress; true when every item has been processed.
pub fn step(job: &mut BackupJob, steps: usize) -> bool {
    let total = job.items.len();
    job.done = (job.done + total.div_ceil(steps.max(1)).max(1)).min(total);
    job.done >= total
}

/// The files of a finished backup and its final status, uploaded to the location's bucket.
/// Returns the Backup as it ends, and the PodVolumeBackups to create in the cluster.
pub async fn finish(
    mut job: BackupJob,
    volume_bytes: usize,
    pvb_names: &mut (dyn FnMut(&str) -> String + Send),
) -> (Value, Vec<Value>) {
    let mut b = job.backup.clone();
    let name = meta_str(&b, "name").unwrap_or("").to_string();
    let store = match BackupStore::open(&job.location) {
        Ok(s) => s,
        Err(e) => return (failed(b, &e), Vec::new()),
    };
    match store.exists(&store.layout.metadata(&name)).await {
        Ok(true) => {
            return (
                failed(b, "backup already exists in object storage"),
                Vec::new(),
            );
        }
        Ok(false) => {}
        Err(e) => {
            return (
                failed(
                    b,
                    &format!("error checking if backup already exists in object storage: {e}"),
                ),
                Vec::new(),
            );
        }
    }
    let mut archive_items = Vec::new();
    let mut resource_list: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut pvbs = Vec::new();
    let mut repo_objects: Vec<(String, Vec<u8>)> = Vec::new();
    let mut new_repos: Vec<String> = Vec::new();
    let total = job.items.len();
    for (n, (rt, obj)) in std::mem::take(&mut job.items).into_iter().enumerate() {
        let ns = meta_str(&obj, "namespace").map(str::to_string);
        let item_name = meta_str(&obj, "name").unwrap_or("").to_string();
        let gr = items::group_resource(rt);
        let ns_field = ns.clone().unwrap_or_default();
        job.log.line(
            "info",
            "Processing item",
            &[
                ("progress", ""),
                ("resource", &gr),
                ("namespace", &ns_field),
                ("name", &item_name),
            ],
        );
        let labels = obj.pointer("/metadata/labels");
        if labels
            .and_then(|l| l.get("velero.io/exclude-from-backup"))
            .and_then(Value::as_str)
            == Some("true")
        {
            job.log
                .info("Excluding item because it has label velero.io/exclude-from-backup=true");
            continue;
        }
        if obj
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|d| !d.is_null())
        {
            job.log.info("Skipping item because it's being deleted.");
            continue;
        }
        if let Some(msg) = obj
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(ITEM_ERROR_ANNOTATION))
            .and_then(Value::as_str)
        {
            job.log.line(
                "info",
                "1 errors encountered backup up item",
                &[("name", &item_name)],
            );
            job.log.line(
                "error",
                "Error backing up item",
                &[("error", msg), ("name", &item_name)],
            );
            continue;
        }
        if rt.kind == "Pod" && rt.group.is_empty() {
            let ns_name = ns.clone().unwrap_or_default();
            for volume in restic::volumes_to_backup(&obj) {
                if !restic::has_volume(&obj, &volume) {
                    job.log.line(
                        "warning",
                        &format!(
                            "No volume named {volume} found in pod {ns_name}/{item_name}, skipping"
                        ),
                        &[],
                    );
                    continue;
                }
                let fresh = !new_repos.contains(&ns_name)
                    && !store
                        .exists(&format!("{}config", store.layout.restic_dir(&ns_name)))
                        .await
                        .unwrap_or(false);
                if fresh {
                    new_repos.push(ns_name.clone());
                }
                let started = now();
                let data = restic::volume_bytes(&ns_name, &item_name, &volume, volume_bytes);
                let snap =
                    restic::snapshot(&store.layout, &ns_name, &item_name, &volume, data, fresh);
                let repo = restic::repo_identifier(
                    &job.location.url,
                    &job.location.bucket,
                    &store.layout,
                    &ns_name,
                );
                pvbs.push(restic::pod_volume_backup(
                    &b,
                    &obj,
                    &volume,
                    &job.location.name,
                    &repo,
                    &snap,
                    pvb_names(&name),
                    &started,
                ));
                repo_objects.extend(snap.objects);
            }
        }
        let version = rt.version.to_string();
        let key = format!("{}/{}", rt.api_version(), rt.kind);
        resource_list.entry(key).or_default().push(match &ns {
            Some(ns) => format!("{ns}/{item_name}"),
            None => item_name.clone(),
        });
        archive_items.push(Item {
            group_resource: gr.clone(),
            version,
            namespace: ns.filter(|_| rt.namespaced),
            name: item_name.clone(),
            json: serde_json::to_vec(&obj).unwrap_or_default(),
        });
        let backed_up = archive_items.len();
        let estimate = backed_up + (total - (n + 1));
        job.log.line("info", &format!("Backed up {backed_up} items out of an estimated total of {estimate} (estimate will change throughout the backup)"), &[("progress", ""), ("resource", &gr), ("namespace", &ns_field), ("name", &item_name)]);
    }
    let backed_up = archive_items.len();
    job.log.line(
        "info",
        &format!("Backed up a total of {backed_up} items"),
        &[("progress", "")],
    );
    for list in resource_list.values_mut() {
        list.sort();
    }
    let fatal = b
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(FAIL_ANNOTATION))
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(reason) = &fatal {
        job.log.line("error", "backup failed", &[("error", reason)]);
    }
    b["status"]["progress"] = json!({"totalItems": backed_up, "itemsBackedUp": backed_up});
    b["status"]["completionTimestamp"] = json!(now());
    if job.log.warnings > 0 {
        b["status"]["warnings"] = json!(job.log.warnings);
    }
    if job.log.errors > 0 {
        b["status"]["errors"] = json!(job.log.errors);
    }
    b["status"]["phase"] = json!(match (&fatal, job.log.errors) {
        (Some(_), _) => "Failed",
        (None, 0) => "Completed",
        _ => "PartiallyFailed",
    });
    if let Some(reason) = &fatal {
        b["status"]["failureReason"] = json!(reason);
    }
    job.log
        .info("Setting up backup store to persist the backup");
    let persisted = persist(
        &store,
        &name,
        &b,
        &archive_items,
        &resource_list,
        &pvbs,
        &repo_objects,
        &job.log,
    )
    .await;
    if let Err(e) = persisted {
        b = failed(b, &e);
    }
    (b, pvbs)
}

fn failed(mut b: Value, reason: &str) -> Value {
    b["status"]["phase"] = json!("Failed");
    b["status"]["failureReason"] = json!(reason);
    if b["status"].get("completionTimestamp").is_none() {
        b["status"]["completionTimestamp"] = json!(now());
    }
    b
}

fn gz_json(v: &Value) -> Vec<u8> {
    let mut text = serde_json::to_vec(v).unwrap_or_default();
    text.push(b'\n');
    tarball::gzip(&text).unwrap_or_default()
}

/// `persistBackup` and `PutBackup`, in their order; the restic repository's objects first, as
/// the restic daemon writes them while the backup runs.
#[allow(clippy::too_many_arguments)]
async fn persist(
    store: &BackupStore,
    name: &str,
    b: &Value,
    items: &[Item],
    resource_list: &BTreeMap<String, Vec<String>>,
    pvbs: &[Value],
    repo_objects: &[(String, Vec<u8>)],
    log: &Log,
) -> Result<(), String> {
    for (key, data) in repo_objects {
        store.put(key, data.clone()).await?;
    }
    let contents =
        tarball::write(items).map_err(|e| format!("error writing backup tarball: {e}"))?;
    let layout = &store.layout;
    // Uploading the log is best effort in Velero.
    let _ = store
        .put(
            &layout.backup_file(name, "-logs.gz"),
            tarball::gzip(log.text().as_bytes()).unwrap_or_default(),
        )
        .await;
    let mut metadata = serde_json::to_vec_pretty(b).unwrap_or_default();
    metadata.push(b'\n');
    store.put(&layout.metadata(name), metadata).await?;
    store.put(&layout.contents(name), contents).await?;
    let pvb_list = if pvbs.is_empty() {
        Value::Null
    } else {
        json!(pvbs)
    };
    for (suffix, data) in [
        ("-podvolumebackups.json.gz", gz_json(&pvb_list)),
        ("-volumesnapshots.json.gz", gz_json(&Value::Null)),
        ("-resource-list.json.gz", gz_json(&json!(resource_list))),
        ("-csi-volumesnapshots.json.gz", gz_json(&Value::Null)),
        ("-csi-volumesnapshotcontents.json.gz", gz_json(&Value::Null)),
        ("-csi-volumesnapshotclasses.json.gz", gz_json(&Value::Null)),
    ] {
        store.put(&layout.backup_file(name, suffix), data).await?;
    }
    Ok(())
}
