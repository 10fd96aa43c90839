//! `restore-destination-3scale`: the destination starts again on the migrated data. What
//! `pause-destination` stopped goes back to the count its `cutover.io/pre-migration-replicas`
//! annotation holds, in the order that lets each part find what it needs: 3scale's components
//! (the data side first, the gateways last), then the 3scale operator, then RHOAM's operator
//! (which would otherwise start the 3scale operator itself). Each waits until its pods are
//! ready and loses its annotation. Then the APIManager must be `Available`, and
//! `steps::resync` runs zync's domain resync and backend's configuration rewrite in a system
//! pod and waits until zync routes every host of the seeded database.
//!
//! It starts only after `check-rhoam-users` is done or skipped by a recorded decision (RHOAM's
//! reconciler deletes the 3scale users it does not know once it runs again: the operator must
//! have accepted that list). A deployment at 0
//! without an annotation is not started (nothing says its count) and is named; one that runs
//! already is left as it is. The fact `started` records each deployment started, as it goes,
//! so a resumed run goes on where it stopped.
//!
//! Resume re-check: nothing of the list is at 0 with its annotation, the APIManager is
//! Available and zync routes every host of the database.

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

use super::destination::{DESTINATION_COMPONENTS, DESTINATION_OPERATORS};
use super::pgdump::{self, system_database};
use super::resync::{self, Host};
use super::rollback::{RollbackOutcome, restore_workload};
use super::scale::recorded_in_annotation;
use super::{Recheck, StepAction, StepContext, StepFuture, StepResult};
use crate::infra::artifacts;
use crate::infra::kube::{CustomKind, KubeCluster};
use crate::journal::StepStatus;
use crate::runbook::{ClusterRole, ids};

/// The fact: the deployments started, by namespace, with their counts.
pub const STARTED_FACT: &str = "started";

/// How long the APIManager may take to be Available once its operator runs.
const AVAILABLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const POLL: Duration = Duration::from_secs(2);

struct Start;

pub(super) static START_DESTINATION: &dyn StepAction = &Start;

/// Each namespace with its deployments, in start order: the components in the reverse of their
/// stop order (the data side first, the gateways last), then the 3scale operator, then RHOAM's.
fn start_order(kube: &KubeCluster) -> Vec<(String, Vec<&'static str>)> {
    let mut groups = vec![(
        kube.namespace().to_string(),
        DESTINATION_COMPONENTS.iter().rev().copied().collect(),
    )];
    groups.extend(
        DESTINATION_OPERATORS
            .iter()
            .rev()
            .map(|(ns, name)| (ns.to_string(), vec![*name])),
    );
    groups
}

/// `Available=True` on every APIManager of the namespace, or the conditions that say why not.
pub(super) async fn apimanager_available(
    kube: &KubeCluster,
) -> Result<std::result::Result<(), String>> {
    let managers = kube.list_custom(CustomKind::ApiManager, None).await?;
    if managers.is_empty() {
        return Ok(Err(format!(
            "no APIManager in namespace {}",
            kube.namespace()
        )));
    }
    for am in managers {
        let name = am.metadata.name.clone().unwrap_or_default();
        let conditions = am.data["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let available = conditions
            .iter()
            .any(|c| c["type"] == "Available" && c["status"] == "True");
        if !available {
            let said: Vec<String> = conditions
                .iter()
                .filter(|c| c["status"] != "True" || c["type"] == "Available")
                .map(|c| {
                    format!(
                        "{}={}{}",
                        c["type"].as_str().unwrap_or("?"),
                        c["status"].as_str().unwrap_or("?"),
                        c["message"]
                            .as_str()
                            .filter(|m| !m.is_empty())
                            .map(|m| format!(" ({m})"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            return Ok(Err(format!(
                "APIManager {name} is not Available{}",
                if said.is_empty() {
                    String::new()
                } else {
                    format!(": {}", said.join(", "))
                }
            )));
        }
    }
    Ok(Ok(()))
}

pub(super) async fn wait_available(
    ctx: &StepContext,
    kube: &KubeCluster,
) -> Result<Option<String>> {
    let deadline = tokio::time::Instant::now() + AVAILABLE_TIMEOUT;
    let mut said = String::new();
    loop {
        match apimanager_available(kube).await? {
            Ok(()) => return Ok(None),
            Err(why) => {
                if why != said {
                    ctx.sink.info(format!("waiting: {why}"));
                    said = why.clone();
                }
                if tokio::time::Instant::now() >= deadline {
                    return Ok(Some(format!(
                        "{why} after {} min; see `kubectl --context {} -n {} describe \
                         apimanager` and the 3scale operator's log",
                        AVAILABLE_TIMEOUT.as_secs() / 60,
                        kube.context(),
                        kube.namespace()
                    )));
                }
            }
        }
        tokio::select! {
            _ = ctx.stop_request() => return Ok(Some(
                "stopped while waiting for the APIManager to be Available".to_string())),
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Starts every deployment of the list from its annotation; Ok(Err(why)) at the first one
/// that cannot be.
async fn start_all(
    ctx: &StepContext,
    kube: &KubeCluster,
    fact: &mut Map<String, Value>,
) -> Result<std::result::Result<Vec<String>, String>> {
    let mut notes = Vec::new();
    let log = |line: &str| ctx.sink.info(line);
    for (ns, names) in start_order(kube) {
        let in_ns = kube.in_namespace(&ns);
        for name in names {
            let Some(w) = in_ns.find_workload(name).await? else {
                notes.push(format!("{ns}/{name} is not there"));
                continue;
            };
            let Some(recorded) = recorded_in_annotation(&w) else {
                if w.replicas == 0 {
                    notes.push(format!(
                        "{ns}/{name} is at 0 with no cutover.io/pre-migration-replicas: left at 0"
                    ));
                    ctx.sink.warn(format!(
                        "{ns}/{name} is at 0 and no annotation says its count: not started; \
                         scale it by hand if it should run"
                    ));
                }
                continue;
            };
            match restore_workload(&in_ns, &w, recorded, "annotation", &log).await {
                RollbackOutcome::Restored | RollbackOutcome::AlreadyThere => {
                    let entry = fact
                        .entry(ns.clone())
                        .or_insert_with(|| Value::Object(Map::new()));
                    entry[name] = json!(recorded);
                    ctx.sink
                        .record_fact(STARTED_FACT, Value::Object(fact.clone()))?;
                }
                RollbackOutcome::LeftAsIs(why) => notes.push(format!("{ns}/{name}: {why}")),
                RollbackOutcome::Absent => notes.push(format!("{ns}/{name} is not there")),
                RollbackOutcome::Failed(why) => {
                    return Ok(Err(format!("{ns}/{name}: {why}")));
                }
            }
        }
    }
    Ok(Ok(notes))
}

/// The hosts zync must route, from the seeded database.
async fn hosts(ctx: &StepContext, report: &artifacts::Report<'_>) -> Result<Vec<Host>> {
    let target = system_database(ctx, ClusterRole::Destination, report)
        .await
        .context("cannot read the destination's database for the hosts zync must route")?;
    let hosts = resync::expected_hosts(&target).await;
    pgdump::close(ctx, target).await;
    hosts
}

fn failed(ctx: &StepContext, why: String, figures: Map<String, Value>) -> StepResult {
    ctx.sink.error(&why);
    StepResult::failed(why, figures)
}

impl StepAction for Start {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            if !matches!(
                ctx.history.status(ids::CHECK_RHOAM_USERS),
                StepStatus::Done | StepStatus::Skipped
            ) {
                return Ok(failed(
                    ctx,
                    format!(
                        "{} is neither done nor skipped: once RHOAM's operator runs it deletes \
                         the 3scale users RH-SSO does not know, so that list must be accepted \
                         first. Nothing was started",
                        ids::CHECK_RHOAM_USERS
                    ),
                    Map::new(),
                ));
            }
            let kube = ctx.cluster(ClusterRole::Destination).await?;
            let mut fact = ctx
                .fact(ctx.step.id, STARTED_FACT)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let notes = match start_all(ctx, &kube, &mut fact).await? {
                Ok(notes) => notes,
                Err(why) => {
                    return Ok(failed(
                        ctx,
                        format!("{why}. Started so far: {}", Value::Object(fact.clone())),
                        fact,
                    ));
                }
            };
            let mut figures = Map::new();
            figures.insert(STARTED_FACT.into(), Value::Object(fact.clone()));
            if let Some(why) = wait_available(ctx, &kube).await? {
                return Ok(failed(ctx, why, figures));
            }
            ctx.sink.info("the APIManager is Available");
            let reporter = ctx.sink.reporter();
            let want = hosts(ctx, &reporter.report()).await?;
            let done = match resync::resync(ctx, &kube, &want).await? {
                Ok(done) => done,
                Err(why) => return Ok(failed(ctx, why, figures)),
            };
            ctx.sink.record_fact(resync::RESYNC_FACT, done.fact())?;
            figures.insert(resync::RESYNC_FACT.into(), done.fact());
            let started: usize = fact
                .values()
                .filter_map(Value::as_object)
                .map(Map::len)
                .sum();
            let mut summary = format!(
                "{started} deployment(s) started at their recorded counts, the APIManager is \
                 Available, zync routes the {} host(s) of the seeded database ({}) and backend's \
                 configuration rewrite is enqueued",
                done.routed,
                resync::describe(&want)
            );
            if !notes.is_empty() {
                summary.push_str(&format!("; {}", notes.join("; ")));
            }
            Ok(StepResult::passed(summary, figures))
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            let kube = ctx.cluster(ClusterRole::Destination).await?;
            for (ns, names) in start_order(&kube) {
                let in_ns = kube.in_namespace(&ns);
                for name in names {
                    if let Some(w) = in_ns.find_workload(name).await?
                        && w.replicas == 0
                        && recorded_in_annotation(&w).is_some()
                    {
                        return Ok(Recheck::DoesNotHold(format!("{ns}/{name} is still at 0")));
                    }
                }
            }
            if let Err(why) = apimanager_available(&kube).await? {
                return Ok(Recheck::DoesNotHold(why));
            }
            let missing = resync::unrouted(&kube, &hosts(ctx, &artifacts::QUIET).await?).await?;
            Ok(if missing.is_empty() {
                Recheck::Holds(
                    "3scale runs at the destination and zync routes every host of its database"
                        .to_string(),
                )
            } else {
                Recheck::DoesNotHold(format!("no route yet for {}", resync::describe(&missing)))
            })
        })
    }
}
