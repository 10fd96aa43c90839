//! What the dump tests share: the inventory that places stores in pods of the source
//! namespace, exec rules that run a local tool in place of one in a pod, and reading the
//! journal and the files a step wrote.

use std::path::{Path, PathBuf};

use cutover::infra::kube::WorkloadKind;
use cutover::sim::{ExecRule, SimCluster};
use cutover::steps::inventory::{
    Inventory, Location, Permissions, StoreLocation, Versions, Workload,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::cli::{Migration, Run, events, wait_until};

/// A workload of the source namespace with one replica that the inventory knows.
pub fn workload(name: &str, kind: WorkloadKind) -> Workload {
    Workload {
        name: name.to_string(),
        kind,
        replicas: 1,
        known: true,
    }
}

/// An inventory of the `3scale` namespace with `workloads` of `kind` and `stores`.
pub fn inventory(
    kind: WorkloadKind,
    workloads: Vec<Workload>,
    stores: Vec<StoreLocation>,
) -> Inventory {
    Inventory {
        schema: 1,
        namespace: "3scale".to_string(),
        versions: Versions {
            source: None,
            destination: None,
            migration_cluster: None,
        },
        workload_kind: Some(kind),
        workloads,
        stores,
        permissions: Permissions::default(),
        warnings: Vec::new(),
    }
}

/// A store inside the namespace, in the pod of the workload named like its host.
pub fn internal_store(
    secret: &str,
    key: &str,
    scheme: &str,
    host: &str,
    port: u16,
    database: &str,
) -> StoreLocation {
    StoreLocation {
        secret: secret.to_string(),
        key: key.to_string(),
        location: Location::Internal,
        scheme: Some(scheme.to_string()),
        host: Some(host.to_string()),
        port: Some(port),
        database: Some(database.to_string()),
        workload: Some(host.to_string()),
        sentinel: false,
    }
}

/// The inventory of a system database in the pod of the deployment config `pod`, reached as
/// `scheme` on `port`.
pub fn pod_database(pod: &str, scheme: &str, port: u16, database: &str) -> Inventory {
    inventory(
        WorkloadKind::DeploymentConfig,
        vec![workload(pod, WorkloadKind::DeploymentConfig)],
        vec![internal_store(
            "system-database",
            "URL",
            scheme,
            pod,
            port,
            database,
        )],
    )
}

/// Lets `command` (with whatever arguments follow) be exec'ed in `pod`, run here under `env`
/// with the variables `vars`.
pub fn allow_local_tool(cluster: &SimCluster, pod: &str, command: &[&str], vars: &[String]) {
    let mut run: Vec<&str> = vec!["env"];
    run.extend(vars.iter().map(String::as_str));
    run.extend(command);
    cluster.allow_exec(ExecRule::new(pod, command, &run).with_extra_args());
}

/// Waits for a running pod in `3scale` whose name starts with `prefix`.
pub fn wait_for_running_pod(cluster: &SimCluster, prefix: &str) {
    wait_until(&format!("a running {prefix} pod"), || {
        cluster
            .list_objects("v1", "Pod", Some("3scale"), None)
            .iter()
            .any(|p| {
                p["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(prefix))
                    && p["status"]["phase"] == "Running"
            })
    });
}

/// The last `step-finished` entry of `step`.
pub fn last_finished(m: &Migration, step: &str) -> Value {
    let (entries, _) = m.journal();
    events(&entries, "step-finished", step)
        .last()
        .map(|e| (*e).clone())
        .unwrap_or_else(|| panic!("{step} finished"))
}

/// The value of the last fact `key` that `step` recorded.
pub fn last_fact(m: &Migration, step: &str, key: &str) -> Value {
    let (entries, _) = m.journal();
    events(&entries, "step-fact", step)
        .into_iter()
        .rfind(|e| e["key"] == key)
        .map(|e| e["value"].clone())
        .unwrap_or_else(|| panic!("{step} recorded {key}"))
}

/// The SHA-256 of the file at `path`, in lower-case hex.
pub fn sha256_of(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Changes one bit in the middle of the file at `path`, as a damaged copy would be.
pub fn flip_middle_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(path, &bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// The last re-check of `step` did not hold, naming `table`, and the step started a second
/// time.
pub fn assert_recheck_failed_then_ran_again(m: &Migration, step: &str, table: &str) {
    let (entries, _) = m.journal();
    let rechecked = events(&entries, "step-rechecked", step);
    let last = rechecked.last().expect("a re-check");
    assert_eq!(last["holds"], false, "{last}");
    assert!(
        last["detail"].as_str().is_some_and(|d| d.contains(table)),
        "{last}"
    );
    assert_eq!(events(&entries, "step-started", step).len(), 2);
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// `needle` appears in no output of the runs and in no file under the migration's folder
/// (journal, logs, state, dumps).
pub fn assert_absent_everywhere(m: &Migration, runs: &[&Run], needle: &str) {
    let found = |text: &[u8]| text.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        found(format!("x{needle}y").as_bytes()),
        "the search finds it"
    );
    for (i, run) in runs.iter().enumerate() {
        assert!(!found(run.stdout.as_bytes()), "in the stdout of run {i}");
        assert!(!found(run.stderr.as_bytes()), "in the stderr of run {i}");
    }
    let mut files = Vec::new();
    files_under(m.dir.path(), &mut files);
    assert!(files.contains(&m.journal_path()), "the journal is searched");
    for f in &files {
        let body = std::fs::read(f).expect("read an output file");
        assert!(!found(&body), "{needle:?} appears in {}", f.display());
    }
}
