//! RHOAM's side of the destination, around the data steps: `pause-destination` before them and
//! `clear-fresh-install` after them. Both act in RHOAM's namespaces, which only Red Hat may
//! change on a managed cluster, so on every path they are Red Hat's; the data steps between
//! (`seed-destination-database`, `restore-backend-redis`) are the customer's where the customer
//! keeps the data, and start only once the destination is paused ([`require_paused`]).
//!
//! `pause-destination` stops what would reconcile or write while the data changes: RHOAM's
//! operator first (it would bring the 3scale operator back), the 3scale operator (it would
//! scale the components back), then 3scale's components, each through the quiesce routine of
//! `scale-down` ([`super::scale::quiesce`]): the count goes to the journal and to the
//! `cutover.io/pre-migration-replicas` annotation, the deployment is scaled to 0 and the step
//! waits until its pods are gone. The annotation is the destination's record: a deployment
//! already at 0 keeps the count its annotation holds, and the source's counts in the journal
//! (same names, other cluster) are never looked at. A deployment that does not exist is noted.
//! The fact `paused` lists what was paused, with the counts. Nothing is resumed here:
//! `restore-destination-3scale` starts them again from the annotations. Resume re-check:
//! nothing of the list runs.
//!
//! `clear-fresh-install` removes what RHOAM's fresh install left that would contradict the
//! migrated data, while the destination is still paused:
//! - the routes zync created for the fresh tenant (label `3scale.net/created-by=zync`), saved
//!   first to `<dumps>/destination-zync-routes-before-clear.json`; zync creates the migrated
//!   domains' routes when `zync:resync:domains` runs at the start;
//! - the completed search reindex Job (`system-searchd-manticore-reindex`, 3scale 2.15 on): the
//!   3scale operator creates it only when it is missing, so deleting it makes the operator run
//!   the reindex (`rake searchd:optimal_index`) over the migrated database when it runs again;
//! - `system-memcache`'s cache, which holds the fresh install's objects: its pods are deleted
//!   and the step waits for new ones (memcached keeps nothing on restart).
//!
//! Resume re-check: no zync route and no completed reindex Job are left.

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

use super::scale::{COMPONENTS, POD_STOP_TIMEOUT, quiesce};
use super::{Recheck, StepAction, StepContext, StepFuture, StepResult};
use crate::infra::artifacts;
use crate::infra::kube::{CustomKind, KubeCluster};
use crate::journal::{JournalState, StepStatus};
use crate::runbook::{ClusterRole, Outcome, StepId, ids};

/// The fact of `pause-destination`: what it paused, with the counts.
pub const PAUSED_FACT: &str = "paused";
/// The fact of `clear-fresh-install`: what it removed.
pub const CLEARED_FACT: &str = "cleared";

/// RHOAM's operator and the 3scale operator RHOAM installs, paused in this order.
pub use crate::infra::kube::RHOAM_OPERATORS as DESTINATION_OPERATORS;

/// 3scale's components in the destination namespace, in the order they are stopped: the
/// gateways, the components that write, the rest. The caches and the external data stores
/// are left alone.
pub const DESTINATION_COMPONENTS: &[&str] = COMPONENTS;

/// The step that pauses the destination.
pub const PAUSE_STEP: StepId = ids::PAUSE_DESTINATION;

/// The label zync puts on the routes it creates (zync `KubernetesService`).
pub const ZYNC_ROUTE_LABEL: (&str, &str) = ("3scale.net/created-by", "zync");
/// The Job the 3scale operator creates once to index the system database into Manticore
/// (3scale-operator `component/system_searchd.go`, from 2.15).
pub const REINDEX_JOB: &str = "system-searchd-manticore-reindex";
/// The cache flushed by restarting it.
pub const MEMCACHE: &str = "system-memcache";
/// Where the zync routes go before they are deleted.
pub const ROUTES_FILE: &str = "destination-zync-routes-before-clear.json";

/// How long a restarted memcache may take to be ready again.
const MEMCACHE_READY_TIMEOUT: Duration = Duration::from_secs(300);

struct Pause;
struct Clear;

pub(super) static PAUSE: &dyn StepAction = &Pause;
pub(super) static CLEAR: &dyn StepAction = &Clear;

/// Each namespace with the deployments paused there, in pause order.
fn groups(kube: &KubeCluster) -> Vec<(String, Vec<&'static str>)> {
    DESTINATION_OPERATORS
        .iter()
        .map(|(ns, name)| (ns.to_string(), vec![*name]))
        .chain([(
            kube.namespace().to_string(),
            DESTINATION_COMPONENTS.to_vec(),
        )])
        .collect()
}

/// What the pause found: the counts by namespace and deployment, the deployments that are not
/// there, and the failure that stopped it, if one did.
#[derive(Default)]
struct Paused {
    counts: Map<String, Value>,
    absent: Vec<String>,
    failure: Option<String>,
}

impl Paused {
    fn fact(&self) -> Value {
        json!({ "replicas": self.counts, "absent": self.absent })
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (ns, names) in &self.counts {
            let list: Vec<String> = names
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, n)| format!("{name} {n}"))
                .collect();
            parts.push(format!("{ns}: {}", list.join(", ")));
        }
        if parts.is_empty() {
            return "none of them is there".to_string();
        }
        parts.join("; ")
    }
}

/// Pauses the operators and 3scale's components (see the module's doc), namespace by
/// namespace; records the fact `paused`.
async fn pause(ctx: &StepContext, kube: &KubeCluster) -> Result<Paused> {
    // The source's counts are in the journal under the same names: not these.
    let no_source_counts = JournalState::default();
    let mut paused = Paused::default();
    for (ns, names) in groups(kube) {
        let in_ns = kube.in_namespace(&ns);
        let result = quiesce(
            &in_ns,
            &ctx.sink,
            &no_source_counts,
            &names,
            POD_STOP_TIMEOUT,
        )
        .await?;
        let counts = result
            .figures
            .get("original_replicas")
            .cloned()
            .unwrap_or_else(|| json!({}));
        if counts.as_object().is_some_and(|c| !c.is_empty()) {
            paused.counts.insert(ns.clone(), counts);
        }
        let absent: Vec<&str> = match result.figures.get("absent").and_then(Value::as_array) {
            Some(list) => list.iter().filter_map(Value::as_str).collect(),
            None if result.outcome == Outcome::NotApplicable => names.clone(),
            None => Vec::new(),
        };
        paused
            .absent
            .extend(absent.iter().map(|name| format!("{ns}/{name}")));
        if !matches!(result.outcome, Outcome::Passed | Outcome::NotApplicable) {
            paused.failure = Some(result.summary);
            break;
        }
    }
    ctx.sink.record_fact(PAUSED_FACT, paused.fact())?;
    Ok(paused)
}

/// What of the pause list runs at the destination: `namespace/name N replicas` each.
pub async fn still_running(kube: &KubeCluster) -> Result<Vec<String>> {
    let mut running = Vec::new();
    for (ns, names) in groups(kube) {
        let in_ns = kube.in_namespace(&ns);
        for name in names {
            if let Some(w) = in_ns.find_workload(name).await?
                && w.replicas != 0
            {
                running.push(format!("{ns}/{name} {} replicas", w.replicas));
            }
        }
    }
    Ok(running)
}

/// Before a step changes RHOAM's data: Ok(Ok(what was seen)) when the destination is paused,
/// Ok(Err(why not)) when something of the pause list runs. When the deployments cannot be read
/// (a customer without access to RHOAM's namespaces), a `pause-destination` the journal has as
/// done is taken as the word of who did it, with a warning; otherwise the read's error.
pub async fn require_paused(ctx: &StepContext) -> Result<std::result::Result<String, String>> {
    let running = match ctx.cluster(ClusterRole::Destination).await {
        Ok(kube) => still_running(&kube).await,
        Err(e) => Err(e),
    };
    match running {
        Ok(list) if list.is_empty() => Ok(Ok(
            "the destination is paused: RHOAM's operator, the 3scale operator and 3scale's \
             components are at 0 replicas"
                .to_string(),
        )),
        Ok(list) => Ok(Err(format!(
            "the destination is not paused: {} still run{}. Step {PAUSE_STEP} (Red Hat's) \
             pauses RHOAM's operator, the 3scale operator and 3scale's components; it must be \
             done first, or RHOAM would reconcile and write while the data changes. Nothing \
             was changed",
            list.join(", "),
            if list.len() == 1 { "s" } else { "" }
        ))),
        Err(e) if ctx.history.status(PAUSE_STEP) == StepStatus::Done => {
            let by = ctx
                .history
                .step(PAUSE_STEP)
                .and_then(|r| r.confirmations.last())
                .map(|c| {
                    c.confirmation
                        .text
                        .clone()
                        .unwrap_or_else(|| c.operator.clone())
                })
                .unwrap_or_else(|| "its operator".to_string());
            let text = format!(
                "cannot read the destination's deployments to see that it is paused ({e:#}); \
                 going on, since the journal has {PAUSE_STEP} as done (by {by})"
            );
            ctx.sink.warn(&text);
            Ok(Ok(text))
        }
        Err(e) => Err(e.context(format!(
            "cannot check that the destination is paused, and the journal does not have \
             {PAUSE_STEP} as done; have it done (Red Hat's step) or give this operator read \
             access to the deployments of RHOAM's namespaces. Nothing was changed"
        ))),
    }
}

impl StepAction for Pause {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            let kube = ctx.cluster(ClusterRole::Destination).await?;
            let paused = pause(ctx, &kube).await?;
            let mut figures = Map::new();
            figures.insert(PAUSED_FACT.into(), paused.fact());
            if let Some(why) = &paused.failure {
                ctx.sink.error(why);
                return Ok(StepResult::failed(
                    format!(
                        "{why}. Paused so far, counts in cutover.io/pre-migration-replicas: {}",
                        paused.describe()
                    ),
                    figures,
                ));
            }
            let mut summary = format!(
                "paused and left at 0 until restore-destination-3scale starts them from \
                 cutover.io/pre-migration-replicas: {}",
                paused.describe()
            );
            if !paused.absent.is_empty() {
                summary.push_str(&format!("; not there: {}", paused.absent.join(", ")));
            }
            Ok(StepResult::passed(summary, figures))
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            let kube = ctx.cluster(ClusterRole::Destination).await?;
            let running = still_running(&kube).await?;
            Ok(if running.is_empty() {
                Recheck::Holds("the destination is paused".to_string())
            } else {
                Recheck::DoesNotHold(format!("running again: {}", running.join(", ")))
            })
        })
    }
}

/// The zync routes of the cluster's namespace.
pub(super) async fn zync_routes(kube: &KubeCluster) -> Result<Vec<Value>> {
    let (key, value) = ZYNC_ROUTE_LABEL;
    Ok(kube
        .list_custom(CustomKind::Route, None)
        .await?
        .into_iter()
        .filter(|r| {
            r.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(key))
                .is_some_and(|v| v == value)
        })
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect())
}

fn route_line(route: &Value) -> String {
    format!(
        "{} ({})",
        route["metadata"]["name"].as_str().unwrap_or("?"),
        route["spec"]["host"].as_str().unwrap_or("no host")
    )
}

/// Whether the reindex Job is there and has finished (succeeded or failed).
async fn finished_reindex_job(kube: &KubeCluster) -> Result<Option<Value>> {
    let Some(job) = kube.get_custom(CustomKind::Job, None, REINDEX_JOB).await? else {
        return Ok(None);
    };
    let job = serde_json::to_value(job)?;
    let status = &job["status"];
    let finished = status["succeeded"].as_i64().unwrap_or(0) > 0
        || status["conditions"].as_array().is_some_and(|c| {
            c.iter().any(|c| {
                c["status"] == "True" && (c["type"] == "Complete" || c["type"] == "Failed")
            })
        });
    Ok(finished.then_some(job))
}

/// Restarts memcache's pods, which empties its cache; returns what it did, for the log.
async fn flush_memcache(ctx: &StepContext, kube: &KubeCluster) -> Result<String> {
    let Some(w) = kube.find_workload(MEMCACHE).await? else {
        return Ok(format!("no {MEMCACHE} in the namespace: nothing cached"));
    };
    let pods = kube.pods_of(w.kind, MEMCACHE).await?;
    if pods.is_empty() {
        return Ok(format!("{MEMCACHE} runs no pods: nothing cached"));
    }
    for pod in &pods {
        ctx.sink.info(format!(
            "{MEMCACHE}: deleting pod {} to empty its cache",
            pod.name
        ));
        kube.delete_client_pod(&pod.name).await?;
    }
    let replicas = usize::try_from(w.replicas).unwrap_or(0);
    let fresh = kube
        .wait_for_pods(w.kind, MEMCACHE, replicas, MEMCACHE_READY_TIMEOUT)
        .await
        .context("memcache's pods were deleted but new ones are not ready")?;
    let names: Vec<String> = fresh.iter().map(|p| p.name.clone()).collect();
    Ok(format!(
        "{MEMCACHE} restarted with an empty cache ({})",
        names.join(", ")
    ))
}

impl StepAction for Clear {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            match require_paused(ctx).await? {
                Ok(seen) => ctx.sink.info(seen),
                Err(why) => {
                    ctx.sink.error(&why);
                    return Ok(StepResult::failed(why, Map::new()));
                }
            }
            let kube = ctx.cluster(ClusterRole::Destination).await?;
            let mut fact = ctx
                .fact(ctx.step.id, CLEARED_FACT)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();

            // The fresh tenant's routes, kept in the dump folder, then deleted.
            let routes = zync_routes(&kube).await?;
            let file = ctx.config.dumps.folder.join(ROUTES_FILE);
            if !routes.is_empty() && !file.exists() {
                let text = serde_json::to_vec_pretty(&routes)?;
                artifacts::write_whole(&file, &text)
                    .with_context(|| format!("cannot write {}", file.display()))?;
                ctx.sink.info(format!(
                    "{} zync route(s) saved to {}",
                    routes.len(),
                    file.display()
                ));
            }
            let mut deleted: Vec<Value> = fact
                .get("routes")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for route in &routes {
                let name = route["metadata"]["name"].as_str().unwrap_or_default();
                deleted.push(json!({"name": name, "host": route["spec"]["host"]}));
                fact.insert("routes".into(), json!(deleted));
                ctx.sink
                    .record_fact(CLEARED_FACT, Value::Object(fact.clone()))?;
                kube.delete_custom(CustomKind::Route, None, name).await?;
                ctx.sink.info(format!(
                    "deleted the fresh install's route {}",
                    route_line(route)
                ));
            }

            // The reindex Job, so that the operator runs it again over the migrated data.
            match finished_reindex_job(&kube).await? {
                Some(_) => {
                    fact.insert("reindex_job".into(), json!(REINDEX_JOB));
                    ctx.sink
                        .record_fact(CLEARED_FACT, Value::Object(fact.clone()))?;
                    kube.delete_custom(CustomKind::Job, None, REINDEX_JOB)
                        .await?;
                    ctx.sink.info(format!(
                        "deleted the completed Job {REINDEX_JOB}: the 3scale operator creates \
                         it again when it runs, and it indexes the migrated database"
                    ));
                }
                None => ctx.sink.info(format!(
                    "no completed Job {REINDEX_JOB}: the search index is built when 3scale \
                     starts (3scale before 2.15: run `bundle exec rake searchd:optimal_index` \
                     in system-app once it runs)"
                )),
            }

            let memcache = flush_memcache(ctx, &kube).await?;
            ctx.sink.info(&memcache);
            fact.insert("memcache".into(), json!(memcache));
            ctx.sink
                .record_fact(CLEARED_FACT, Value::Object(fact.clone()))?;

            let hosts: Vec<String> = deleted
                .iter()
                .map(|r| r["host"].as_str().unwrap_or("?").to_string())
                .collect();
            let summary = format!(
                "{} zync route(s) of the fresh install deleted ({}; saved in {}), zync creates \
                 the migrated domains' routes when 3scale starts; {}; {}",
                deleted.len(),
                crate::format::first_of(&hosts, 6),
                file.display(),
                if fact.contains_key("reindex_job") {
                    format!("{REINDEX_JOB} deleted so the operator reindexes")
                } else {
                    format!("no {REINDEX_JOB} to run again")
                },
                memcache
            );
            Ok(StepResult::passed(summary, fact))
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            let kube = ctx.cluster(ClusterRole::Destination).await?;
            let routes = zync_routes(&kube).await?;
            let job = finished_reindex_job(&kube).await?;
            let mut left: Vec<String> = routes.iter().map(route_line).collect();
            if job.is_some() {
                left.push(format!("Job {REINDEX_JOB} (completed)"));
            }
            let flushed = ctx
                .fact(ctx.step.id, CLEARED_FACT)
                .is_some_and(|f| f.get("memcache").is_some());
            if !flushed {
                left.push(format!("{MEMCACHE}'s cache (not restarted yet)"));
            }
            Ok(if left.is_empty() {
                Recheck::Holds("no zync route and no completed reindex Job left".to_string())
            } else {
                Recheck::DoesNotHold(format!("still there: {}", left.join(", ")))
            })
        })
    }
}
