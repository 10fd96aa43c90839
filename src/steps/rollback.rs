//! The rollback of a threescale-rhoam migration: the source's 3scale comes back as it ran before
//! `stop-traffic` and `scale-down`. The engine runs it (see `engine::rollback`) and journals it;
//! this module only scales.
//!
//! Every workload those steps stopped is scaled back to the replica count they recorded (the
//! journal's facts, or the `cutover.io/pre-migration-replicas` annotation when the journal has no
//! fact for it, e.g. after the manual procedure), in the reverse order of the scale-down with the
//! APIcast gateways last, so traffic comes in only once everything behind it runs. As in MTC's
//! unquiesce, a workload is scaled only when it is still at 0: one someone scaled meanwhile is left
//! as it is. Each is waited for until its recorded number of pods is ready, then its annotation is
//! removed. The source's data stores were never stopped or changed, so nothing else is needed.
//!
//! The engine refuses it once the destination has taken over (the runbook's `Rollback`: step
//! `point-customer-systems`, where DNS records, consumers' base URLs and pipelines move to the
//! destination); from then on the destination takes writes that a rollback would silently lose.

use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use super::action::StepFuture;
use super::scale::{
    QUIESCE_STEPS, SCALE_DOWN_WORKLOADS, STOP_TRAFFIC_WORKLOADS, apimanager_fact_key, held_specs,
    recorded_in_annotation, recorded_in_journal,
};
use crate::config::Config;
use crate::infra::kube::{CustomKind, KubeCluster, ORIGINAL_REPLICAS_ANNOTATION, PodInfo};
use crate::journal::JournalState;
use crate::runbook::ClusterRole;

/// How long one workload may take to have its recorded number of pods ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(5 * 60);

const POLL: Duration = Duration::from_millis(500);

/// What happened to one workload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome", content = "detail")]
pub enum RollbackOutcome {
    /// Scaled from 0 back to its recorded count; every pod ready.
    Restored,
    /// Already at its recorded count (a rollback before, or recorded at 0); annotation removed.
    AlreadyThere,
    /// Not at 0 and not at its count: someone scaled it; left as it is, annotation kept.
    LeftAsIs(String),
    /// The journal has a count for it but the workload is gone from the namespace.
    Absent,
    Failed(String),
}

#[derive(Clone, Debug, Serialize)]
pub struct RolledBackWorkload {
    pub name: String,
    /// `deployment` / `deploymentconfig`; None when absent.
    pub kind: Option<String>,
    pub recorded: i32,
    /// `journal` or `annotation`: where the count came from.
    pub recorded_in: &'static str,
    /// Its replicas when the rollback found it.
    pub found: Option<i32>,
    #[serde(flatten)]
    pub outcome: RollbackOutcome,
}

/// How a runbook's source is rolled back; `steps::rollback_of` gives the one of a runbook.
pub trait RollbackAction: Send + Sync {
    /// Rolls back what the journal's `state` says was stopped; `log` gets one line per thing
    /// done or seen.
    fn run<'a>(
        &'a self,
        config: &'a Config,
        state: &'a JournalState,
        log: &'a (dyn Fn(&str) + Send + Sync),
    ) -> StepFuture<'a, RollbackReport>;
}

/// The threescale-rhoam rollback: the source's workloads back to their recorded replicas.
pub(super) static THREESCALE_SOURCE: &dyn RollbackAction = &ThreescaleSource;

struct ThreescaleSource;

impl RollbackAction for ThreescaleSource {
    fn run<'a>(
        &'a self,
        config: &'a Config,
        state: &'a JournalState,
        log: &'a (dyn Fn(&str) + Send + Sync),
    ) -> StepFuture<'a, RollbackReport> {
        Box::pin(rollback(config, state, log))
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct RollbackReport {
    pub workloads: Vec<RolledBackWorkload>,
}

impl RollbackReport {
    /// Whether some workload could not be brought back.
    pub fn failed(&self) -> bool {
        self.workloads
            .iter()
            .any(|w| matches!(w.outcome, RollbackOutcome::Failed(_)))
    }

    /// One line for the journal and the operator.
    pub fn summary(&self) -> String {
        if self.workloads.is_empty() {
            return "rolled back: no workload had a recorded replica count; nothing to do".into();
        }
        let parts: Vec<String> = self
            .workloads
            .iter()
            .map(|w| match &w.outcome {
                RollbackOutcome::Restored => {
                    format!("{} {}→{}", w.name, w.found.unwrap_or(0), w.recorded)
                }
                RollbackOutcome::AlreadyThere => format!("{} at {} already", w.name, w.recorded),
                RollbackOutcome::LeftAsIs(why) => format!("{} left as it is ({why})", w.name),
                RollbackOutcome::Absent => format!("{} absent", w.name),
                RollbackOutcome::Failed(why) => format!("{} FAILED ({why})", w.name),
            })
            .collect();
        let head = if self.failed() {
            "rollback incomplete"
        } else {
            "rolled back"
        };
        format!("{head}: {}", parts.join(", "))
    }
}

/// Workload names in rollback order: the reverse of the scale-down without the gateways, any
/// other recorded name, then the gateways (reverse of stop-traffic).
pub fn rollback_order(state: &JournalState) -> Vec<String> {
    let gateways: Vec<&str> = STOP_TRAFFIC_WORKLOADS.iter().rev().copied().collect();
    let mut out: Vec<String> = SCALE_DOWN_WORKLOADS
        .iter()
        .rev()
        .filter(|n| !gateways.contains(n))
        .map(|n| n.to_string())
        .collect();
    for step in QUIESCE_STEPS {
        let Some(r) = state.step(step) else { continue };
        for key in r.facts.keys() {
            if let Some(name) = key.strip_prefix("replicas/")
                && !out.iter().any(|n| n == name)
                && !gateways.contains(&name)
            {
                out.push(name.to_string());
            }
        }
    }
    out.extend(gateways.iter().map(|n| n.to_string()));
    out
}

/// The counts the journal holds, in rollback order (what a rollback would restore, before the
/// cluster is asked about annotations).
pub fn recorded_counts(state: &JournalState) -> Vec<(String, i32)> {
    rollback_order(state)
        .into_iter()
        .filter_map(|n| recorded_in_journal(state, &n).map(|c| (n, c)))
        .collect()
}

/// Scales the source's stopped workloads back (see the module's doc). `log` gets one line per
/// thing done or seen. A workload that cannot be brought back is reported in the result, and the
/// others are still brought back.
async fn rollback(
    config: &Config,
    state: &JournalState,
    log: &(dyn Fn(&str) + Send + Sync),
) -> Result<RollbackReport> {
    let cluster = config
        .cluster(ClusterRole::Source)
        .context("the config has no [source] cluster; add it with its kubeconfig and namespace")?;
    let kube = KubeCluster::connect(&cluster.target()).await?;
    // First, before the operator comes back: the APIManager's replicas, or the operator
    // would scale the components straight back to 0.
    restore_apimanager(&kube, state, log).await?;
    let mut report = RollbackReport::default();
    for name in rollback_order(state) {
        let journal = recorded_in_journal(state, &name);
        let Some(w) = kube.find_workload(&name).await? else {
            if let Some(n) = journal {
                log(&format!(
                    "{name}: recorded at {n} replicas but no longer in namespace {}; skipped",
                    kube.namespace()
                ));
                report.workloads.push(RolledBackWorkload {
                    name,
                    kind: None,
                    recorded: n,
                    recorded_in: "journal",
                    found: None,
                    outcome: RollbackOutcome::Absent,
                });
            }
            continue;
        };
        let (recorded, recorded_in) = match (journal, recorded_in_annotation(&w)) {
            (Some(n), _) => (n, "journal"),
            (None, Some(n)) => (n, "annotation"),
            // Never stopped by the migration.
            (None, None) => continue,
        };
        let outcome = restore_workload(&kube, &w, recorded, recorded_in, log).await;
        report.workloads.push(RolledBackWorkload {
            name,
            kind: Some(w.kind.as_str().to_string()),
            recorded,
            recorded_in,
            found: Some(w.replicas),
            outcome,
        });
    }
    // Last, once the gateways run: the route external gateways reach backend through.
    super::backend_route::restore(&kube, state, log).await?;
    Ok(report)
}

pub(super) async fn restore_workload(
    kube: &KubeCluster,
    w: &crate::infra::kube::WorkloadInfo,
    recorded: i32,
    recorded_in: &str,
    log: &(dyn Fn(&str) + Send + Sync),
) -> RollbackOutcome {
    let name = w.name.as_str();
    let outcome = if w.replicas == 0 && recorded > 0 {
        log(&format!(
            "{name}: scaling {} from 0 to {recorded} (recorded in the {recorded_in})",
            w.kind
        ));
        if let Err(e) = kube.scale(w.kind, name, recorded).await {
            return RollbackOutcome::Failed(format!("scaling to {recorded}: {e:#}"));
        }
        RollbackOutcome::Restored
    } else if w.replicas == recorded {
        log(&format!(
            "{name}: already at its recorded {recorded} replicas"
        ));
        RollbackOutcome::AlreadyThere
    } else {
        let why = format!(
            "at {} replicas, not 0, recorded {recorded}: someone scaled it; left as it is with its \
             annotation",
            w.replicas
        );
        log(&format!("{name}: {why}"));
        return RollbackOutcome::LeftAsIs(why);
    };
    if let Err(e) = wait_ready(kube, w, recorded, log).await {
        return RollbackOutcome::Failed(e);
    }
    if w.annotations.contains_key(ORIGINAL_REPLICAS_ANNOTATION) {
        if let Err(e) = kube
            .remove_annotation(w.kind, name, ORIGINAL_REPLICAS_ANNOTATION)
            .await
        {
            return RollbackOutcome::Failed(format!(
                "running again, but removing its {ORIGINAL_REPLICAS_ANNOTATION} annotation \
                 failed: {e:#}"
            ));
        }
        log(&format!("{name}: {ORIGINAL_REPLICAS_ANNOTATION} removed"));
    }
    outcome
}

/// Waits until the workload has exactly `replicas` pods, all ready and none terminating.
async fn wait_ready(
    kube: &KubeCluster,
    w: &crate::infra::kube::WorkloadInfo,
    replicas: i32,
    log: &(dyn Fn(&str) + Send + Sync),
) -> Result<(), String> {
    let name = w.name.as_str();
    let want = usize::try_from(replicas).unwrap_or(0);
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let mut last: Option<(usize, usize)> = None;
    loop {
        let pods: Vec<PodInfo> = kube
            .pods_of(w.kind, name)
            .await
            .map_err(|e| format!("listing its pods: {e:#}"))?
            .into_iter()
            .filter(|p| p.deleting || !matches!(p.phase.as_str(), "Succeeded" | "Failed"))
            .collect();
        let ready = pods.iter().filter(|p| p.ready && !p.deleting).count();
        if last != Some((ready, pods.len())) {
            log(&format!(
                "{name}: {ready}/{want} ready ({} pods)",
                pods.len()
            ));
            last = Some((ready, pods.len()));
        }
        if ready == want && pods.len() == want {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            let seen: Vec<String> = pods
                .iter()
                .map(|p| format!("{} {}", p.name, p.state_word()))
                .collect();
            return Err(format!(
                "scaled to {replicas} but {ready} pods were ready after {}s ({}); check `kubectl \
                 --context {} get pods -n {} {}` and the pods' events",
                READY_TIMEOUT.as_secs(),
                if seen.is_empty() {
                    "no pods".to_string()
                } else {
                    seen.join(", ")
                },
                kube.context(),
                kube.namespace(),
                w.kind.kubectl_pods(name),
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Puts back the replicas stop-traffic and scale-down recorded for each APIManager's specs,
/// only where the spec still says 0 (someone may have changed it since).
async fn restore_apimanager(
    kube: &KubeCluster,
    state: &JournalState,
    log: &(dyn Fn(&str) + Send + Sync),
) -> Result<()> {
    for am in kube.list_custom(CustomKind::ApiManager, None).await? {
        let Some(name) = am.metadata.name.clone() else {
            continue;
        };
        let mut patch = serde_json::Map::new();
        for (step, section, spec) in held_specs() {
            let Some(recorded) = state
                .step(QUIESCE_STEPS[step])
                .and_then(|r| r.facts.get(&apimanager_fact_key(&name, section, spec)))
            else {
                continue;
            };
            let current = am.data["spec"][section][spec]["replicas"].as_i64();
            if current != Some(0) {
                log(&format!(
                    "APIManager {name}: spec.{section}.{spec}.replicas is {current:?}, not 0; \
                     left as it is"
                ));
                continue;
            }
            // A recorded null removes the field: the operator's default again.
            let section_patch = patch
                .entry(section.to_string())
                .or_insert_with(|| serde_json::json!({}));
            section_patch[spec] = serde_json::json!({ "replicas": recorded["replicas"].clone() });
        }
        if !patch.is_empty() {
            kube.patch_custom(
                CustomKind::ApiManager,
                None,
                &name,
                &serde_json::json!({ "spec": serde_json::Value::Object(patch) }),
            )
            .await
            .with_context(|| format!("APIManager {name}: cannot restore the replicas"))?;
            log(&format!("APIManager {name}: replicas restored"));
        }
    }
    Ok(())
}
