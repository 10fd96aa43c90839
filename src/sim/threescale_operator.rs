//! The 3scale operator's upgrade of an APIManager, as the operator of a `Succeeded` CSV of the
//! catalog (`olm::BUNDLES`) reconciles the APIManagers of its namespace (3scale-operator
//! `controllers/apps/apimanager_controller.go`, `apimanager_status_reconciler.go`,
//! `pkg/3scale/amp/operator/system_reconciler.go`, `pkg/upgrade/migrate_deployment_config_2.15.go`):
//!
//! 1. From 2.15, the preflights: an APIManager annotated two or more minors away is refused
//!    (`Preflights=False`, "Multi minor version hop detected", reconciliation stopped); from 2.16,
//!    one without external system database, system Redis and backend Redis is refused ("External
//!    databases are required..."). Nothing else moves then, the annotations included.
//! 2. `SetDefaults`: the annotations `apps.3scale.net/threescale-operator-version` and
//!    `apps.3scale.net/apimanager-threescale-version` move to the operator's; `Available=False`
//!    while the components roll; the `system-app-pre` Job is made again with the new system image.
//! 3. The Job runs `rake boot openshift:deploy` (its `db:migrate`: the effect wired with
//!    `SimCluster::on_system_app_pre`, else none) and completes, or fails with the effect's error.
//! 4. system-app gets the new image; at 2.15 every DeploymentConfig is replaced by a Deployment
//!    of the same name and replicas (pods labelled `deployment=<name>`). A new APIManager (no
//!    system-app yet) gets its components made instead ([`COMPONENTS`]).
//! 5. The `system-app-post` Job (`openshift:post_deploy`) runs and completes; `Available=True`.
//!
//! Each stage waits one `ClusterSpec::olm_step`.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::catalog::{self, ResourceType};
use super::olm::{self, Bundle, due, write_status};
use super::state::{Inner, Shared};
use super::store::{meta_str, now};

pub use crate::infra::kube::{
    OPERATOR_VERSION_ANNOTATION, VERSION_ANNOTATION as THREESCALE_VERSION_ANNOTATION,
};
pub const PRE_JOB: &str = "system-app-pre";
pub const POST_JOB: &str = "system-app-post";
const SYSTEM_APP: &str = "system-app";

/// The system image of a 3scale minor, which system-app and its hook Jobs run.
pub fn system_image(minor: &str) -> String {
    format!("registry.redhat.io/3scale-amp2/system-rhel8:3scale{minor}")
}

fn minor_number(version: &str) -> Option<i64> {
    version.split('.').nth(1)?.parse().ok()
}

fn kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    catalog::find_kind(&[], api_version, kind)
}

pub(super) fn reconcile(sim: &Arc<Shared>) {
    if sim
        .without()
        .iter()
        .any(|g| g == "operators.coreos.com" || g == "apps.3scale.net")
    {
        return;
    }
    let (Some(csv_rt), Some(am_rt)) = (
        kind("operators.coreos.com/v1alpha1", "ClusterServiceVersion"),
        kind("apps.3scale.net/v1alpha1", "APIManager"),
    ) else {
        return;
    };
    let mut inner = sim.lock();
    let before = inner.store.current_rv();
    for csv in inner.store.list(csv_rt, None) {
        if csv.pointer("/status/phase").and_then(Value::as_str) != Some("Succeeded") {
            continue;
        }
        let Some(b) = meta_str(&csv, "name").and_then(olm::bundle) else {
            continue;
        };
        let ns = meta_str(&csv, "namespace").unwrap_or("").to_string();
        for am in inner.store.list(am_rt, Some(&ns)) {
            apimanager(sim, &mut inner, am_rt, b, &am);
        }
    }
    olm::moved_on(sim, &inner, before);
}

fn annotation<'a>(am: &'a Value, name: &str) -> &'a str {
    am.pointer("/metadata/annotations")
        .and_then(|a| a.get(name))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn condition(am: &Value, type_: &str) -> Option<Value> {
    am.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}

/// Sets condition `type_` in `conditions`, keeping the others.
fn set_condition(status: &mut Value, type_: &str, true_: bool, reason: &str, message: &str) {
    if !status["conditions"].is_array() {
        status["conditions"] = json!([]);
    }
    let c = json!({
        "type": type_,
        "status": if true_ { "True" } else { "False" },
        "reason": reason,
        "message": message,
        "lastTransitionTime": now(),
    });
    if let Some(list) = status["conditions"].as_array_mut() {
        match list.iter_mut().find(|x| x["type"] == type_) {
            Some(x) => {
                if x["status"] != c["status"] || x["message"] != c["message"] {
                    *x = c;
                }
            }
            None => list.push(c),
        }
    }
}

fn externals(am: &Value) -> bool {
    let on = |p: &str| am.pointer(p).and_then(Value::as_bool) == Some(true);
    on("/spec/externalComponents/system/database")
        && on("/spec/externalComponents/system/redis")
        && on("/spec/externalComponents/backend/redis")
}

/// Why the preflights of operator `b` refuse `am`, as the Preflights condition says it.
fn preflights(am: &Value, b: &Bundle) -> Option<String> {
    let target = minor_number(b.release)?;
    if target < 15 {
        return None;
    }
    let current = annotation(am, THREESCALE_VERSION_ANNOTATION);
    if let Some(from) = minor_number(current)
        && (target - from).abs() > 1
    {
        return Some(format!(
            "Preflights failed - attempted upgrade from {current} to {} not allowed. Multi minor \
             version hop detected. Reconciliation of this 3scale instance is stopped. Remove the \
             operator and refer to official upgrade path for 3scale Operator",
            b.minor()
        ));
    }
    if target >= 16 && !externals(am) {
        return Some(
            "Preflights failed - cannot continue with the installation. External databases are \
             required to be set in the APIManager for system Redis, backend Redis and system \
             database - re-running preflights in 10 minutes"
                .to_string(),
        );
    }
    None
}

fn apimanager(
    sim: &Arc<Shared>,
    inner: &mut Inner,
    am_rt: &'static ResourceType,
    b: &'static Bundle,
    am: &Value,
) {
    let step = sim.spec.olm_step;
    let ns = meta_str(am, "namespace").unwrap_or("").to_string();
    let name = meta_str(am, "name").unwrap_or("").to_string();
    let k = ("apimanagers", ns.clone(), name.clone());
    let at_version = annotation(am, THREESCALE_VERSION_ANNOTATION) == b.release
        && annotation(am, OPERATOR_VERSION_ANNOTATION) == b.operator_version;
    if !at_version {
        if let Some(refusal) = preflights(am, b) {
            let mut status = am.get("status").cloned().unwrap_or_else(|| json!({}));
            set_condition(&mut status, "Preflights", false, "PreflightsPass", &refusal);
            if am.get("status") != Some(&status) {
                write_status(inner, am_rt, am, status);
            }
            return;
        }
        if !due(inner, step, k) {
            return;
        }
        // SetDefaults, then the status; the pre hook Job made again for the new image.
        let mut next = am.clone();
        next["metadata"]["annotations"][OPERATOR_VERSION_ANNOTATION] = json!(b.operator_version);
        next["metadata"]["annotations"][THREESCALE_VERSION_ANNOTATION] = json!(b.release);
        let mut status = am.get("status").cloned().unwrap_or_else(|| json!({}));
        set_condition(&mut status, "Available", false, "", "");
        if minor_number(b.release).unwrap_or(0) >= 15 {
            set_condition(
                &mut status,
                "Preflights",
                true,
                "PreflightsPass",
                "All requirements for the current version are met",
            );
        }
        next["status"] = status;
        let _ = inner.store.replace(am_rt, &ns, &name, next, None);
        replace_job(inner, &ns, PRE_JOB, b);
        if let Some(jobs) = kind("batch/v1", "Job") {
            inner.store.remove(jobs, &ns, POST_JOB);
        }
        return;
    }
    let Some(jobs) = kind("batch/v1", "Job") else {
        return;
    };
    let image = system_image(b.minor());
    let Some(pre) = hook_of_release(inner, jobs, &ns, PRE_JOB, &image) else {
        if due(inner, step, k) {
            replace_job(inner, &ns, PRE_JOB, b);
        }
        return;
    };
    match job_state(&pre) {
        JobState::Failed => return,
        JobState::Running => {
            run_pre_job(sim, inner, jobs, &pre, b, k);
            return;
        }
        JobState::Complete => {}
    }
    if !workloads_rolled(inner, &ns, &image, b) {
        if due(inner, step, k) {
            if has_system_app(inner, &ns) {
                roll_workloads(inner, &ns, &image, b);
            } else {
                make_components(inner, am, &image, b);
            }
        }
        return;
    }
    let Some(post) = hook_of_release(inner, jobs, &ns, POST_JOB, &image) else {
        if due(inner, step, k) {
            replace_job(inner, &ns, POST_JOB, b);
        }
        return;
    };
    if job_state(&post) == JobState::Running {
        if due(inner, step, k) {
            finish_job(inner, jobs, &post, Ok(()));
        }
        return;
    }
    let available = condition(am, "Available").is_some_and(|c| c["status"] == "True");
    if !available && due(inner, step, k) {
        let mut status = am.get("status").cloned().unwrap_or_else(|| json!({}));
        set_condition(&mut status, "Available", true, "", "");
        write_status(inner, am_rt, am, status);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JobState {
    Running,
    Complete,
    Failed,
}

fn job_state(job: &Value) -> JobState {
    let has = |t: &str| {
        job.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == t && c["status"] == "True"))
    };
    if has("Complete") {
        JobState::Complete
    } else if has("Failed") {
        JobState::Failed
    } else {
        JobState::Running
    }
}

/// The hook Job `name` when it runs the release's system image (the operator makes it again
/// when the image changes).
fn hook_of_release(
    inner: &Inner,
    jobs: &'static ResourceType,
    ns: &str,
    name: &str,
    image: &str,
) -> Option<Value> {
    inner
        .store
        .get(jobs, ns, name)
        .filter(|j| job_image(j) == image)
        .cloned()
}

fn job_image(job: &Value) -> &str {
    job.pointer("/spec/template/spec/containers/0/image")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A hook Job of release `b`, as `component.AppPreHookJob`/`AppPostHookJob` make it, running.
fn hook_job(ns: &str, name: &str, b: &Bundle) -> Value {
    let task = if name == PRE_JOB {
        "openshift:deploy"
    } else {
        "openshift:post_deploy"
    };
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"app": "3scale-api-management", "threescale_component": "system"},
        },
        "spec": {
            "completions": 1,
            "template": {"spec": {
                "containers": [{
                    "name": name,
                    "image": system_image(b.minor()),
                    "args": ["bash", "-c", format!("bundle exec rake boot {task}")],
                }],
                "restartPolicy": "Never",
                "serviceAccountName": "amp",
            }},
        },
        "status": {"active": 1, "startTime": now()},
    })
}

fn replace_job(inner: &mut Inner, ns: &str, name: &str, b: &Bundle) {
    let Some(jobs) = kind("batch/v1", "Job") else {
        return;
    };
    inner.store.remove(jobs, ns, name);
    let _ = inner.store.create(jobs, ns, hook_job(ns, name, b));
}

/// A Job's end: `Complete`, or `Failed` with the effect's error as its condition's message.
fn finish_job(
    inner: &mut Inner,
    jobs: &'static ResourceType,
    job: &Value,
    result: Result<(), String>,
) {
    let mut status = job.get("status").cloned().unwrap_or_else(|| json!({}));
    if let Some(o) = status.as_object_mut() {
        o.shift_remove("active");
    }
    match result {
        Ok(()) => {
            status["succeeded"] = json!(1);
            status["completionTime"] = json!(now());
            status["conditions"] =
                json!([{"type": "Complete", "status": "True", "lastTransitionTime": now()}]);
        }
        Err(message) => {
            status["failed"] = json!(1);
            status["conditions"] = json!([{
                "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                "message": format!("Job has reached the specified backoff limit: {message}"),
                "lastTransitionTime": now(),
            }]);
        }
    }
    write_status(inner, jobs, job, status);
}

/// Runs the pre Job's effect once (again after the cluster started anew with the Job still
/// running), or completes it after a step when nothing is wired.
fn run_pre_job(
    sim: &Arc<Shared>,
    inner: &mut Inner,
    jobs: &'static ResourceType,
    job: &Value,
    b: &'static Bundle,
    k: (&'static str, String, String),
) {
    let Some(effect) = inner.system_app_pre.clone() else {
        if due(inner, sim.spec.olm_step, k) {
            finish_job(inner, jobs, job, Ok(()));
        }
        return;
    };
    let ns = meta_str(job, "namespace").unwrap_or("").to_string();
    let uid = meta_str(job, "uid").unwrap_or("").to_string();
    if !inner.hooks_running.insert((ns.clone(), uid.clone())) {
        return;
    }
    let sim = sim.clone();
    let release = b.minor();
    tokio::spawn(async move {
        let result = effect(release).await;
        let mut inner = sim.lock();
        inner.hooks_running.remove(&(ns.clone(), uid.clone()));
        if let Some(job) = inner.store.get(jobs, &ns, PRE_JOB).cloned()
            && meta_str(&job, "uid") == Some(uid.as_str())
        {
            finish_job(&mut inner, jobs, &job, result);
        }
        drop(inner);
        sim.kick.notify_one();
    });
}

fn workloads_rolled(inner: &Inner, ns: &str, image: &str, b: &Bundle) -> bool {
    let (Some(dc_rt), Some(d_rt)) = (
        kind("apps.openshift.io/v1", "DeploymentConfig"),
        kind("apps/v1", "Deployment"),
    ) else {
        return true;
    };
    let to_deployments = minor_number(b.release).unwrap_or(0) >= 15;
    if to_deployments && !inner.store.list(dc_rt, Some(ns)).is_empty() {
        return false;
    }
    let app = inner
        .store
        .get(d_rt, ns, SYSTEM_APP)
        .or_else(|| inner.store.get(dc_rt, ns, SYSTEM_APP));
    // No system-app: a new APIManager, whose components are still to be made.
    app.is_some_and(|w| {
        w.pointer("/spec/template/spec/containers/0/image")
            .and_then(Value::as_str)
            == Some(image)
    })
}

/// The components the operator makes for an APIManager whose system database, system Redis
/// and backend Redis are external (`pkg/3scale/amp/component`; zync's database stays inside),
/// each at the operator's default of one replica, APIcast's as its spec says.
pub const COMPONENTS: &[&str] = &[
    "apicast-staging",
    "apicast-production",
    "backend-listener",
    "backend-worker",
    "backend-cron",
    "system-memcache",
    "system-app",
    "system-sidekiq",
    "system-searchd",
    "zync",
    "zync-que",
    "zync-database",
];

/// A new APIManager's components: DeploymentConfigs up to 2.14, Deployments from 2.15, on the
/// release's images, with the replicas the APIManager's spec names (else 1).
fn make_components(inner: &mut Inner, am: &Value, image: &str, b: &Bundle) {
    let ns = meta_str(am, "namespace").unwrap_or("").to_string();
    let deployments = minor_number(b.release).unwrap_or(0) >= 15;
    let Some(rt) = (if deployments {
        kind("apps/v1", "Deployment")
    } else {
        kind("apps.openshift.io/v1", "DeploymentConfig")
    }) else {
        return;
    };
    for name in COMPONENTS {
        let replicas = match *name {
            "apicast-staging" => am.pointer("/spec/apicast/stagingSpec/replicas"),
            "apicast-production" => am.pointer("/spec/apicast/productionSpec/replicas"),
            _ => None,
        }
        .and_then(Value::as_i64)
        .unwrap_or(1);
        let label = if deployments {
            "deployment"
        } else {
            "deploymentConfig"
        };
        let image = if name.starts_with("system-") && *name != "system-memcache" {
            image.to_string()
        } else {
            format!("registry.redhat.io/3scale-amp2/{name}")
        };
        let template = json!({
            "metadata": {"labels": {label: name, "app": "3scale-api-management"}},
            "spec": {"containers": [{"name": name, "image": image}]},
        });
        let object = if deployments {
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": ns, "labels": {"app": "3scale-api-management"}},
                "spec": {"replicas": replicas, "selector": {"matchLabels": {label: name}},
                         "template": template},
            })
        } else {
            json!({
                "apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig",
                "metadata": {"name": name, "namespace": ns, "labels": {"app": "3scale-api-management"}},
                "spec": {"replicas": replicas, "selector": {label: name},
                         "strategy": {"type": "Rolling"}, "template": template},
            })
        };
        if inner.store.get(rt, &ns, name).is_none() {
            let _ = inner.store.create(rt, &ns, object);
        }
    }
}

fn has_system_app(inner: &Inner, ns: &str) -> bool {
    [
        kind("apps/v1", "Deployment"),
        kind("apps.openshift.io/v1", "DeploymentConfig"),
    ]
    .into_iter()
    .flatten()
    .any(|rt| inner.store.get(rt, ns, SYSTEM_APP).is_some())
}

/// system-app on the new image; from 2.15 each DeploymentConfig replaced by a Deployment.
fn roll_workloads(inner: &mut Inner, ns: &str, image: &str, b: &Bundle) {
    let (Some(dc_rt), Some(d_rt)) = (
        kind("apps.openshift.io/v1", "DeploymentConfig"),
        kind("apps/v1", "Deployment"),
    ) else {
        return;
    };
    if minor_number(b.release).unwrap_or(0) >= 15 {
        for dc in inner.store.list(dc_rt, Some(ns)) {
            let name = meta_str(&dc, "name").unwrap_or("").to_string();
            if inner.store.get(d_rt, ns, &name).is_none() {
                let _ = inner.store.create(d_rt, ns, deployment_of(&dc));
            }
            inner.store.remove(dc_rt, ns, &name);
        }
    }
    for rt in [d_rt, dc_rt] {
        if let Some(app) = inner.store.get(rt, ns, SYSTEM_APP).cloned() {
            let mut next = app.clone();
            next["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
            let _ = inner.store.replace(rt, ns, SYSTEM_APP, next, None);
        }
    }
}

/// The Deployment the 2.15 operator makes for a DeploymentConfig: same name, labels and
/// replicas, pods selected by `deployment=<name>`.
fn deployment_of(dc: &Value) -> Value {
    let name = meta_str(dc, "name").unwrap_or("");
    let mut labels = dc
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_else(Map::new);
    labels.shift_remove("deploymentConfig");
    labels.insert("deployment".into(), json!(name));
    let mut template = dc
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    template["metadata"]["labels"] = Value::Object(labels);
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": meta_str(dc, "namespace").unwrap_or(""),
            "labels": dc.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({})),
        },
        "spec": {
            "replicas": dc.pointer("/spec/replicas").cloned().unwrap_or(json!(1)),
            "selector": {"matchLabels": {"deployment": name}},
            "template": template,
        },
    })
}

/// The hook Jobs of an installation of `b` the operator has settled (both completed).
pub fn settled_jobs(ns: &str, b: &Bundle) -> Vec<Value> {
    [PRE_JOB, POST_JOB]
        .iter()
        .map(|name| {
            let mut job = hook_job(ns, name, b);
            job["status"] = json!({
                "succeeded": 1, "startTime": now(), "completionTime": now(),
                "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": now()}],
            });
            job
        })
        .collect()
}
