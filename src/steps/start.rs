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
//! have accepted that list). A deployment at 0 without an annotation is not started (nothing
//! says its count) and is named; one that runs already is left as it is. The fact `started` records each deployment started, as it goes,
//! so a resumed run goes on where it stopped.
//!
//! Resume re-check: nothing of the list is at 0 with its annotation, the APIManager is
//! Available and zync routes every host of the database.

use anyhow::Result;
use serde_json::{Map, Value, json};

use super::destination::{DESTINATION_COMPONENTS, DESTINATION_OPERATORS};
use super::resync;
use super::rollback::{RollbackOutcome, restore_workload};
use super::scale::recorded_in_annotation;
use super::{Recheck, StepAction, StepContext, StepFuture, StepResult};
use crate::infra::artifacts;
use crate::infra::kube::KubeCluster;
use crate::journal::StepStatus;
use crate::runbook::{ClusterRole, ids};

/// The fact: the deployments started, by namespace, with their counts.
pub const STARTED_FACT: &str = "started";

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

impl StepAction for Start {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            if !matches!(
                ctx.history.status(ids::CHECK_RHOAM_USERS),
                StepStatus::Done | StepStatus::Skipped
            ) {
                return Ok(ctx.failed_with(
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
                    return Ok(ctx.failed_with(
                        format!("{why}. Started so far: {}", Value::Object(fact.clone())),
                        fact,
                    ));
                }
            };
            let mut figures = Map::new();
            figures.insert(STARTED_FACT.into(), Value::Object(fact.clone()));
            let (want, done) =
                match resync::once_available(ctx, &kube, ClusterRole::Destination).await? {
                    Ok(done) => done,
                    Err(why) => return Ok(ctx.failed_with(why, figures)),
                };
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
            if let Err(why) = resync::apimanager_available(&kube).await? {
                return Ok(Recheck::DoesNotHold(why));
            }
            let want =
                resync::database_hosts(ctx, ClusterRole::Destination, &artifacts::QUIET).await?;
            let missing = resync::unrouted(&kube, &want).await?;
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
