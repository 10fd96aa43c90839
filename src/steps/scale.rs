//! Stopping 3scale on the source cluster: `stop-traffic` (the APIcast gateways) and `scale-down`
//! (every other component but the data stores, which the dumps still need).
//!
//! Both run the same quiesce routine, one workload at a time and in order: read its replicas,
//! record them (first as a fact in the journal, fsynced, then in the
//! `cutover.io/pre-migration-replicas` annotation on the object), scale it to 0 through the
//! `scale` subresource and wait until its pods are gone, terminating ones included. A count
//! already recorded (by an interrupted attempt, by stop-traffic for the gateways, or by the manual
//! procedure's annotation) is never replaced, so a workload found at 0 after a crash keeps the
//! count it had before the migration. A rollback (`steps::rollback`, run by the engine) scales back to those counts.
//!
//! The config has no setting for how long a workload's pods may take to end yet: each workload
//! gets [`POD_STOP_TIMEOUT`] (5 minutes), well beyond the default 30 s termination grace period.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Map, Value, json};

use super::{Recheck, StepAction, StepContext, StepFuture, StepResult, StepSink};
use crate::infra::kube::{KubeCluster, ORIGINAL_REPLICAS_ANNOTATION, WorkloadInfo, WorkloadKind};
use crate::journal::JournalState;
use crate::runbook::{ClusterRole, StepId, ids};

/// How long one workload's pods may take to end after it is scaled to 0.
pub const POD_STOP_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// How often the pods of a workload being stopped are listed.
const POLL: Duration = Duration::from_millis(500);

/// The steps whose facts hold recorded replica counts, in the order they run.
pub const QUIESCE_STEPS: [StepId; 2] = [ids::STOP_TRAFFIC, ids::SCALE_DOWN];

/// The fact key of a workload's recorded replicas.
pub fn fact_key(name: &str) -> String {
    format!("replicas/{name}")
}

/// The gateways: stopping them stops API traffic where it enters 3scale.
pub const STOP_TRAFFIC_WORKLOADS: &[&str] = &["apicast-production", "apicast-staging"];

/// Everything else of 3scale, in the order it is stopped: the 3scale operator first (when it
/// runs in the installation's namespace) so it does not scale the others back, the front ends,
/// then the components that write, the caches last. The data stores (system-postgresql or
/// system-mysql, backend-redis, system-redis, zync-database) are not in the list: they stay up
/// for the dumps. system-sphinx is the search component's name up to 3scale 2.13.
pub const SCALE_DOWN_WORKLOADS: &[&str] = &[
    "threescale-operator-controller-manager-v2",
    "apicast-production",
    "apicast-staging",
    "system-app",
    "system-sidekiq",
    "backend-listener",
    "backend-worker",
    "backend-cron",
    "zync-que",
    "zync",
    "system-searchd",
    "system-sphinx",
    "system-memcache",
];

/// 3scale's components of [`SCALE_DOWN_WORKLOADS`], in the same order: the gateways, the
/// components that write, the search component; not the operator before them, nor the search
/// component of 3scale 2.13 and older and the caches after them.
pub const COMPONENTS: &[&str] = SCALE_DOWN_WORKLOADS.split_at(11).0.split_at(1).1;

/// A stop of a list of workloads (one step).
struct Quiesce(&'static [&'static str]);

pub(super) static STOP_TRAFFIC: &dyn StepAction = &Quiesce(STOP_TRAFFIC_WORKLOADS);
pub(super) static SCALE_DOWN: &dyn StepAction = &Quiesce(SCALE_DOWN_WORKLOADS);

impl StepAction for Quiesce {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            let kube = ctx.cluster(ClusterRole::Source).await?;
            let step = usize::from(self.0 != STOP_TRAFFIC_WORKLOADS);
            if step == 1 {
                locate_operator(&kube, &ctx.sink).await?;
            } else if let Some(stopped) = super::backend_route::stop(ctx, &kube).await? {
                return Ok(stopped);
            }
            hold_apimanager(&kube, &ctx.sink, &ctx.history, step).await?;
            quiesce(&kube, &ctx.sink, &ctx.history, self.0, POD_STOP_TIMEOUT).await
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            let kube = ctx.cluster(ClusterRole::Source).await?;
            let step = usize::from(self.0 != STOP_TRAFFIC_WORKLOADS);
            if let Some(why) = apimanager_not_held(&kube, step).await? {
                return Ok(Recheck::DoesNotHold(why));
            }
            if step == 0
                && let Some(why) = super::backend_route::not_disabled(ctx, &kube).await?
            {
                return Ok(Recheck::DoesNotHold(why));
            }
            recheck(&kube, &ctx.history, self.0).await
        })
    }
}

/// The workloads stop-traffic and scale-down stopped that run again on the source: each with
/// its replicas now. Empty when none does, or when nothing was stopped yet (the quiesce steps
/// were the other party's, or not reached), or when the config names no source cluster.
pub async fn came_back(ctx: &StepContext) -> Result<Vec<String>> {
    let stopped: Vec<&str> = STOP_TRAFFIC_WORKLOADS
        .iter()
        .chain(SCALE_DOWN_WORKLOADS)
        .filter(|name| recorded_in_journal(&ctx.history, name).is_some_and(|n| n > 0))
        .copied()
        .collect();
    if stopped.is_empty() || ctx.config.cluster(ClusterRole::Source).is_none() {
        return Ok(Vec::new());
    }
    let kube = ctx.cluster(ClusterRole::Source).await?;
    let mut back = Vec::new();
    for name in stopped {
        if let Some(w) = kube.find_workload(name).await?
            && (w.replicas > 0 || w.current_replicas > 0)
        {
            back.push(format!(
                "{name} ({} wanted, {} running)",
                w.replicas, w.current_replicas
            ));
        }
    }
    Ok(back)
}

/// The failure of a source dump during which stopped components came back (see [`came_back`]):
/// they may have written while it ran.
pub async fn dump_while_up(ctx: &StepContext) -> Result<Option<String>> {
    let back = came_back(ctx).await?;
    Ok((!back.is_empty()).then(|| {
        format!(
            "while the dump ran, components scale-down had stopped were running again: {}; the \
             dump may hold some of their writes and miss others. Find what scaled them (the 3scale \
             operator: scale-down's fact `operator` says where it runs), stop them again (retry \
             scale-down), then dump again",
            back.join(", ")
        )
    }))
}

/// The fact that says where the 3scale operator runs.
pub const OPERATOR_FACT: &str = "operator";

/// Where the 3scale operator runs, from its OLM ClusterServiceVersion in the installation's
/// namespace: installed for that namespace, its Deployment is there and is scaled down with the
/// components; installed for all namespaces (`AllNamespaces`), OLM copies the CSV into every
/// namespace with label `olm.copiedFrom: <its namespace>`, and the operator there also serves
/// other installations, so it is left running: the APIManager's specs hold every component at 0
/// instead (see [`COMPONENT_SPECS`]). Recorded as the fact `operator`.
async fn locate_operator(kube: &KubeCluster, sink: &StepSink) -> Result<()> {
    use crate::infra::kube::CustomKind;
    let csvs = kube
        .list_custom(CustomKind::ClusterServiceVersion, None)
        .await
        .context("listing the ClusterServiceVersions, to find where the 3scale operator runs")?;
    let Some(csv) = csvs.iter().find(|c| {
        c.metadata
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with("3scale-operator"))
    }) else {
        sink.warn(format!(
            "no 3scale-operator ClusterServiceVersion in namespace {}: an operator installed \
             without OLM is not seen; the APIManager holds the components at 0 either way",
            kube.namespace()
        ));
        sink.record_fact(OPERATOR_FACT, json!({ "found": false }))?;
        return Ok(());
    };
    let name = csv.metadata.name.clone().unwrap_or_default();
    let deployments: Vec<String> = csv.data["spec"]["install"]["spec"]["deployments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["name"].as_str().map(str::to_string))
        .collect();
    let home = csv
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("olm.copiedFrom"))
        .filter(|ns| ns.as_str() != kube.namespace())
        .cloned();
    match &home {
        Some(ns) => sink.info(format!(
            "the 3scale operator ({name}) is installed for all namespaces and runs in namespace \
             {ns} ({}): it also serves other namespaces, so it is left running; the \
             APIManager's replicas hold every component at 0",
            deployments.join(", ")
        )),
        None => sink.info(format!(
            "the 3scale operator ({name}) runs in namespace {} ({}): scaled down first",
            kube.namespace(),
            deployments.join(", ")
        )),
    }
    sink.record_fact(
        OPERATOR_FACT,
        json!({
            "found": true,
            "csv": name,
            "namespace": home.as_deref().unwrap_or(kube.namespace()),
            "cluster_wide": home.is_some(),
            "deployments": deployments,
        }),
    )?;
    Ok(())
}

/// Why the components of quiesce step `step` are not held down by the APIManager, if they are
/// not: a spec above 0 lets the operator scale them back up.
async fn apimanager_not_held(kube: &KubeCluster, step: usize) -> Result<Option<String>> {
    use crate::infra::kube::CustomKind;
    for am in kube.list_custom(CustomKind::ApiManager, None).await? {
        let name = am.metadata.name.clone().unwrap_or_default();
        for (_, section, spec) in held_specs().filter(|(s, _, _)| *s == step) {
            let replicas = am.data["spec"][section][spec]["replicas"].as_i64();
            if replicas != Some(0) {
                return Ok(Some(format!(
                    "APIManager {name}: spec.{section}.{spec}.replicas is {} instead of 0",
                    replicas.map_or_else(|| "unset".to_string(), |n| n.to_string())
                )));
            }
        }
    }
    Ok(None)
}

/// The replicas the journal recorded for `name` (stop-traffic's facts, then scale-down's).
pub fn recorded_in_journal(state: &JournalState, name: &str) -> Option<i32> {
    let key = fact_key(name);
    QUIESCE_STEPS.iter().find_map(|step| {
        state
            .step(step)?
            .facts
            .get(&key)
            .and_then(|v| v.get("replicas"))
            .and_then(Value::as_i64)
            .and_then(|n| i32::try_from(n).ok())
    })
}

/// The APIcast specs of an APIManager whose replicas stop-traffic holds at 0, with
/// the fact name of each: `apimanager/<name>/<spec>`.
pub const APICAST_SPECS: [&str; 2] = ["productionSpec", "stagingSpec"];

/// The component specs with replicas of an APIManager (3scale-operator's
/// `apis/apps/v1alpha1/apimanager_types.go`) that scale-down holds at 0, as (section, spec): the
/// operator reconciles each component's replicas from them, so a running operator, one
/// installed cluster-wide included, keeps the components down instead of bringing them back.
pub const COMPONENT_SPECS: [(&str, &str); 7] = [
    ("system", "appSpec"),
    ("system", "sidekiqSpec"),
    ("backend", "listenerSpec"),
    ("backend", "workerSpec"),
    ("backend", "cronSpec"),
    ("zync", "appSpec"),
    ("zync", "queSpec"),
];

/// Every spec a quiesce step holds, with the step's index in [`QUIESCE_STEPS`].
pub fn held_specs() -> impl Iterator<Item = (usize, &'static str, &'static str)> {
    APICAST_SPECS
        .iter()
        .map(|spec| (0, "apicast", *spec))
        .chain(
            COMPONENT_SPECS
                .iter()
                .map(|(section, spec)| (1, *section, *spec)),
        )
}

/// The fact that records an APIManager spec's replicas: `apimanager/<name>/<spec>` for
/// APIcast's, `apimanager/<name>/<section>/<spec>` for the others.
pub fn apimanager_fact_key(apimanager: &str, section: &str, spec: &str) -> String {
    if section == "apicast" {
        format!("apimanager/{apimanager}/{spec}")
    } else {
        format!("apimanager/{apimanager}/{section}/{spec}")
    }
}

/// On an operator-managed installation, keeps the 3scale operator from scaling
/// the gateways back up: for each APIManager of the namespace, records the APIcast
/// replicas of its production and staging specs (journal first), then sets them to
/// 0. A spec already at 0 with nothing recorded is left without a record, so a
/// rollback never "restores" a 0 it did not see.
async fn hold_apimanager(
    kube: &KubeCluster,
    sink: &StepSink,
    history: &JournalState,
    step: usize,
) -> Result<()> {
    use crate::infra::kube::CustomKind;
    let managers = kube.list_custom(CustomKind::ApiManager, None).await?;
    for am in managers {
        let Some(name) = am.metadata.name.clone() else {
            continue;
        };
        let mut patch = Map::new();
        let mut held = Vec::new();
        for (_, section, spec) in held_specs().filter(|(s, _, _)| *s == step) {
            let key = apimanager_fact_key(&name, section, spec);
            let current = am.data["spec"][section][spec]["replicas"].as_i64();
            let recorded = history
                .step(QUIESCE_STEPS[step])
                .and_then(|r| r.facts.get(&key))
                .is_some();
            if current == Some(0) && !recorded {
                sink.warn(format!(
                    "APIManager {name}: spec.{section}.{spec}.replicas is already 0 and nothing \
                     was recorded before; a rollback leaves it at 0"
                ));
                continue;
            }
            if !recorded {
                // Unset means the operator's default; the rollback removes the field again.
                sink.record_fact(&key, json!({ "replicas": current }))?;
            }
            if current != Some(0) {
                let section_patch = patch
                    .entry(section.to_string())
                    .or_insert_with(|| json!({}));
                section_patch[spec] = json!({ "replicas": 0 });
                held.push(format!("{section}.{spec}"));
            }
        }
        if !patch.is_empty() {
            kube.patch_custom(
                CustomKind::ApiManager,
                None,
                &name,
                &json!({ "spec": Value::Object(patch) }),
            )
            .await
            .with_context(|| format!("APIManager {name}: cannot set the replicas to 0"))?;
            sink.info(format!(
                "APIManager {name}: replicas set to 0 in {}, so the 3scale operator keeps those \
                 components down",
                held.join(", ")
            ));
        }
    }
    Ok(())
}

/// The replicas the annotation on the object says, when it is there and a number.
pub fn recorded_in_annotation(w: &WorkloadInfo) -> Option<i32> {
    w.annotations
        .get(ORIGINAL_REPLICAS_ANNOTATION)
        .and_then(|v| v.trim().parse::<i32>().ok())
        .filter(|n| *n >= 0)
}

/// Pods that still count: running, starting or terminating. Pods that ended (Succeeded, Failed,
/// e.g. evicted) and are not being deleted run nothing and may stay for ever; they are ignored.
fn remaining(pods: Vec<Pod>) -> Vec<Pod> {
    pods.into_iter()
        .filter(|p| {
            let deleting = p.metadata.deletion_timestamp.is_some();
            let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
            deleting || !matches!(phase, Some("Succeeded" | "Failed"))
        })
        .collect()
}

/// One pod in words for the operator: name, phase, terminating, reasons, finalizers.
pub fn describe_pod(pod: &Pod) -> String {
    let name = pod.metadata.name.as_deref().unwrap_or("(unnamed)");
    let status = pod.status.as_ref();
    let mut parts = vec![
        status
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Unknown".to_string()),
    ];
    if let Some(t) = &pod.metadata.deletion_timestamp {
        parts.push(format!("terminating since {}", t.0));
    }
    if let Some(reason) = status.and_then(|s| s.reason.as_deref()) {
        parts.push(format!("reason {reason}"));
    }
    for c in status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
    {
        let state = c.state.as_ref();
        if let Some(r) = state
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.as_deref())
        {
            parts.push(format!("{} waiting: {r}", c.name));
        }
        if let Some(r) = state
            .and_then(|s| s.terminated.as_ref())
            .and_then(|t| t.reason.as_deref())
        {
            parts.push(format!("{} terminated: {r}", c.name));
        }
    }
    if let Some(f) = pod.metadata.finalizers.as_ref().filter(|f| !f.is_empty()) {
        parts.push(format!("finalizers {}", f.join(", ")));
    }
    format!("{name} ({})", parts.join(", "))
}

/// The RBAC rule a refused call on a workload needs, for the message.
fn permission(kind: WorkloadKind, subresource: Option<&str>) -> String {
    let (group, plural) = match kind {
        WorkloadKind::Deployment => ("apps", "deployments"),
        WorkloadKind::DeploymentConfig => ("apps.openshift.io", "deploymentconfigs"),
        WorkloadKind::StatefulSet => ("apps", "statefulsets"),
    };
    match subresource {
        Some(sub) => format!("`patch` on {plural}.{group}/{sub}"),
        None => format!("`patch` on {plural}.{group}"),
    }
}

/// A failed call on a workload, worded with the permission it needs when it was refused (403).
fn refused(
    kube: &KubeCluster,
    what: &str,
    kind: WorkloadKind,
    subresource: Option<&str>,
    e: &anyhow::Error,
) -> String {
    let text = format!("{e:#}");
    if text.contains("(403)") {
        let rule = permission(kind, subresource);
        let resource = rule
            .trim_start_matches("`patch` on ")
            .replace("/scale", " --subresource=scale");
        format!(
            "{what} was refused: the {role} cluster's user needs {rule} in namespace {ns} \
             (check with `kubectl --context {ctx} auth can-i patch {resource} -n {ns}`): {text}",
            role = kube.name(),
            ns = kube.namespace(),
            ctx = kube.context(),
        )
    } else {
        format!("{what} failed: {text}")
    }
}

/// Stops `names` in order on the source (see the module's doc). Workloads absent from the
/// namespace are skipped with a log line. Facts go through `sink` (fsynced before anything
/// changes); `history` is the journal as the attempt found it.
pub async fn quiesce(
    kube: &KubeCluster,
    sink: &StepSink,
    history: &JournalState,
    names: &[&str],
    timeout: Duration,
) -> Result<StepResult> {
    let ns = kube.namespace().to_string();
    let mut present = Vec::new();
    let mut absent = Vec::new();
    for name in names {
        if kube.find_workload(name).await?.is_some() {
            present.push(*name);
        } else {
            sink.info(format!(
                "{name}: no Deployment or DeploymentConfig of that name in namespace {ns}; skipped"
            ));
            absent.push(*name);
        }
    }
    let mut figures = Map::new();
    if !absent.is_empty() {
        figures.insert("absent".into(), json!(absent));
    }
    if present.is_empty() {
        return Ok(StepResult::not_applicable(format!(
            "none of {} is in namespace {ns}; nothing to stop",
            names.join(", ")
        )));
    }
    let total = present.len() as u64;
    sink.progress(0, Some(total), "workloads");
    // Counts recorded by this attempt; `history` has those of earlier attempts and steps.
    let mut recorded_now: BTreeMap<String, i32> = BTreeMap::new();
    let mut originals = Map::new();
    for (i, name) in present.iter().enumerate() {
        // A workload deleted since the list above is gone: nothing left to stop.
        let Some(w) = kube.find_workload(name).await? else {
            sink.warn(format!("{name}: deleted while the step ran; skipped"));
            continue;
        };
        let original = match record(kube, sink, history, &mut recorded_now, &w).await {
            Ok(n) => n,
            Err(message) => {
                sink.error(&message);
                return Ok(StepResult::failed(
                    message,
                    with_originals(figures, originals),
                ));
            }
        };
        originals.insert(name.to_string(), json!(original));
        if w.replicas != 0 {
            if let Err(e) = kube.scale(w.kind, name, 0).await {
                let what = format!("scaling {} {name} from {} to 0", w.kind, w.replicas);
                let message = refused(kube, &what, w.kind, Some("scale"), &e);
                sink.error(&message);
                return Ok(StepResult::failed(
                    message,
                    with_originals(figures, originals),
                ));
            }
            sink.info(format!(
                "{name}: scaled {} from {} to 0",
                w.kind, w.replicas
            ));
        } else {
            sink.info(format!(
                "{name}: already at 0 replicas (recorded count {original})"
            ));
        }
        if let Err(message) = wait_gone(kube, sink, &w, timeout).await {
            sink.error(&message);
            return Ok(StepResult::failed(
                message,
                with_originals(figures, originals),
            ));
        }
        sink.progress(i as u64 + 1, Some(total), "workloads");
    }
    let replicas: i64 = originals.values().filter_map(Value::as_i64).sum();
    let list: Vec<String> = originals
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    let mut summary = format!(
        "{} workloads at 0 with no pods left ({replicas} replicas before: {})",
        originals.len(),
        list.join(", ")
    );
    if !absent.is_empty() {
        summary.push_str(&format!("; not in the namespace: {}", absent.join(", ")));
    }
    figures.insert("workloads".into(), json!(originals.len()));
    figures.insert("replicas_before".into(), json!(replicas));
    Ok(StepResult::passed(
        summary,
        with_originals(figures, originals),
    ))
}

fn with_originals(
    mut figures: Map<String, Value>,
    originals: Map<String, Value>,
) -> Map<String, Value> {
    figures.insert("original_replicas".into(), Value::Object(originals));
    figures
}

/// Makes sure the workload's count is recorded in the journal and in the annotation; returns
/// it. The journal is written first: a crash between the two leaves the journal's count, which
/// the next attempt copies onto the object. An existing count is never replaced.
async fn record(
    kube: &KubeCluster,
    sink: &StepSink,
    history: &JournalState,
    recorded_now: &mut BTreeMap<String, i32>,
    w: &WorkloadInfo,
) -> Result<i32, String> {
    let name = w.name.as_str();
    let journal = recorded_now
        .get(name)
        .copied()
        .or_else(|| recorded_in_journal(history, name));
    let annotation = recorded_in_annotation(w);
    let annotate = |n: i32| async move {
        kube.annotate(w.kind, name, ORIGINAL_REPLICAS_ANNOTATION, &n.to_string())
            .await
            .map_err(|e| {
                refused(
                    kube,
                    &format!(
                        "annotating {} {name} with {ORIGINAL_REPLICAS_ANNOTATION}={n}",
                        w.kind
                    ),
                    w.kind,
                    None,
                    &e,
                )
            })
    };
    let fact = |n: i32, from: &str| {
        sink.record_fact(
            &fact_key(name),
            json!({"kind": w.kind.as_str(), "replicas": n, "from": from}),
        )
        .map_err(|e| format!("cannot record the replicas of {name} in the journal: {e:#}"))
    };
    let n = match (journal, annotation) {
        (Some(n), Some(a)) => {
            if a != n {
                sink.warn(format!(
                    "{name}: the annotation says {a} replicas, the journal {n}; the journal's count \
                     is kept and the annotation left as it is"
                ));
            }
            n
        }
        (Some(n), None) => {
            annotate(n).await?;
            sink.info(format!(
                "{name}: annotated {ORIGINAL_REPLICAS_ANNOTATION}={n} (recorded earlier)"
            ));
            n
        }
        (None, Some(a)) => {
            fact(a, "annotation")?;
            sink.info(format!(
                "{name}: recorded {a} replicas from its existing {ORIGINAL_REPLICAS_ANNOTATION} \
                 annotation"
            ));
            a
        }
        (None, None) => {
            let n = w.replicas;
            fact(n, "workload")?;
            annotate(n).await?;
            sink.info(format!(
                "{name}: recorded {n} replicas (journal, then {ORIGINAL_REPLICAS_ANNOTATION})"
            ));
            n
        }
    };
    recorded_now.insert(name.to_string(), n);
    Ok(n)
}

/// Waits until the workload has no pods left (terminating ones included), logging each change.
async fn wait_gone(
    kube: &KubeCluster,
    sink: &StepSink,
    w: &WorkloadInfo,
    timeout: Duration,
) -> Result<(), String> {
    let name = w.name.as_str();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last: Option<(usize, usize)> = None;
    loop {
        let pods = kube
            .workload_pods(w.kind, name)
            .await
            .map(remaining)
            .map_err(|e| format!("cannot list the pods of {} {name}: {e:#}", w.kind))?;
        if pods.is_empty() {
            sink.info(format!("{name}: no pods left"));
            return Ok(());
        }
        let terminating = pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_some())
            .count();
        if last != Some((pods.len(), terminating)) {
            sink.info(format!(
                "{name}: {} pods left, {terminating} terminating",
                pods.len()
            ));
            last = Some((pods.len(), terminating));
        }
        if tokio::time::Instant::now() >= deadline {
            let states: Vec<String> = pods.iter().map(describe_pod).collect();
            return Err(format!(
                "{} {name} is at 0 replicas but {} of its pods did not end within {}s: {}. Check \
                 `kubectl --context {} get pods -n {} {}` and the pods' events (a \
                 finalizer, or a node that does not answer, keeps a pod); when they are gone, run \
                 the step again",
                w.kind,
                pods.len(),
                timeout.as_secs(),
                states.join("; "),
                kube.context(),
                kube.namespace(),
                w.kind.kubectl_pods(name),
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Whether the step's end state holds: every workload present is at 0 replicas, has no pods
/// and has its count recorded (journal or annotation).
pub async fn recheck(
    kube: &KubeCluster,
    history: &JournalState,
    names: &[&str],
) -> Result<Recheck> {
    let mut done = Vec::new();
    for name in names {
        let Some(w) = kube.find_workload(name).await? else {
            continue;
        };
        if w.replicas != 0 {
            return Ok(Recheck::DoesNotHold(format!(
                "{} {name} still wants {} replicas",
                w.kind, w.replicas
            )));
        }
        let pods = remaining(kube.workload_pods(w.kind, name).await?);
        if !pods.is_empty() {
            return Ok(Recheck::DoesNotHold(format!(
                "{} {name} still has {} pods: {}",
                w.kind,
                pods.len(),
                pods.iter().map(describe_pod).collect::<Vec<_>>().join("; ")
            )));
        }
        let Some(n) = recorded_in_journal(history, name).or_else(|| recorded_in_annotation(&w))
        else {
            return Ok(Recheck::DoesNotHold(format!(
                "{} {name} is at 0 but its original replica count is recorded nowhere",
                w.kind
            )));
        };
        done.push(format!("{name} (was {n})"));
    }
    Ok(Recheck::Holds(format!(
        "{} workloads at 0 with no pods and their counts recorded: {}",
        done.len(),
        done.join(", ")
    )))
}
