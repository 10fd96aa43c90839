//! Running the restore's stages in order, each one once: a stage whose Restore ended well is
//! journaled (`stage-<id>`) and skipped by a resumed run; a stage whose Restore exists is
//! followed, not created again; a Restore that `Failed` is retried under the next attempt's
//! name (`…-2`), so no two Restores of one stage ever run.

use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use serde_json::{Value, json};

use super::stages::{Component, Stage};
use crate::infra::kube::{CustomKind, DownloadTarget, KubeCluster};
use crate::infra::velero::{Progress, RestoreRequest, restore_object};
use crate::steps::velero_follow::{Followed, follow, show_results};
use crate::steps::{Question, StepContext};

/// How long a component's pods get to show their restore init container done.
const PODS_INITIALIZED_WAIT: Duration = Duration::from_secs(30 * 60);
const POD_POLL: Duration = Duration::from_secs(1);

/// The journal fact of a stage done.
pub fn stage_fact(id: &str) -> String {
    format!("stage-{id}")
}

/// The journal fact of a stage's attempt number (absent: 1).
fn attempt_fact(id: &str) -> String {
    format!("stage-{id}-attempt")
}

/// How one stage ended.
pub enum StageEnd {
    Done(String),
    /// Stop the step with this result's summary (failed or paused).
    Failed(String),
    Stopped(String),
}

/// The Restore's name for an attempt: the stage's name, then `-2`, `-3`… for retries.
fn attempt_name(request: &RestoreRequest, attempt: u64) -> String {
    if attempt <= 1 {
        request.name.clone()
    } else {
        format!("{}-{attempt}", request.name)
    }
}

/// Runs one Restore stage on cluster B: create (once), follow, judge, then the component's
/// pods.
pub async fn restore_stage(
    ctx: &StepContext,
    kube: &KubeCluster,
    velero_namespace: &str,
    registry: &str,
    id: &str,
    request: &RestoreRequest,
    pods_of: Option<Component>,
) -> Result<StageEnd> {
    let mut attempt = ctx
        .fact(ctx.step.id, &attempt_fact(id))
        .and_then(Value::as_u64)
        .unwrap_or(1);
    let mut name = attempt_name(request, attempt);
    match kube
        .velero_progress(CustomKind::VeleroRestore, velero_namespace, &name)
        .await?
    {
        Some((_, p)) if matches!(p.phase.as_str(), "Failed" | "FailedValidation") => {
            attempt += 1;
            ctx.sink.record_fact(&attempt_fact(id), json!(attempt))?;
            let old = name;
            name = attempt_name(request, attempt);
            ctx.sink.warn(format!(
                "stage {id}: the Restore {old} ended {}; trying again as {name}",
                p.phase
            ));
            create(ctx, kube, velero_namespace, request, &name).await?;
        }
        Some(_) => ctx.sink.info(format!(
            "stage {id}: following the Restore {name} already there"
        )),
        None => create(ctx, kube, velero_namespace, request, &name).await?,
    }
    let what = format!("stage {id} (Restore {name})");
    let progress = match follow(
        ctx,
        kube,
        CustomKind::VeleroRestore,
        velero_namespace,
        &name,
        &what,
    )
    .await?
    {
        Followed::Finished(p) => p,
        Followed::Stopped => {
            return Ok(StageEnd::Stopped(format!(
                "paused during {what}; Velero goes on with it and the next run follows it"
            )));
        }
        Followed::Gone => {
            return Ok(StageEnd::Failed(format!(
                "{what} disappeared from cluster B before it finished; run the step again"
            )));
        }
    };
    if progress.warnings + progress.errors > 0 {
        show_results(
            ctx,
            kube,
            velero_namespace,
            DownloadTarget::RestoreResults,
            &name,
            &what,
        )
        .await;
    }
    if progress.phase == "PartiallyFailed" {
        let accept = format!("accept {id}");
        let retry = format!("retry {id}");
        let question = Question {
            text: format!(
                "{what} ended PartiallyFailed with {} error(s) and {} warning(s), listed in the \
                 log. Type `{accept}` to go on with what it restored, or `{retry}` to run this \
                 stage again as a new Restore (objects already there are skipped)",
                progress.errors, progress.warnings
            ),
            phrase: accept.clone(),
            alternatives: vec![retry.clone()],
        };
        match ctx.sink.ask(question).await? {
            Some(answer) if answer.trim() == accept => {
                ctx.sink.warn(format!(
                    "the operator typed `{accept}`: stage {id} goes on with the Restore {name} \
                     PartiallyFailed"
                ));
            }
            Some(answer) if answer.trim() == retry => {
                ctx.sink
                    .record_fact(&attempt_fact(id), json!(attempt + 1))?;
                let next = attempt_name(request, attempt + 1);
                create(ctx, kube, velero_namespace, request, &next).await?;
                return Ok(StageEnd::Failed(format!(
                    "the operator asked to run stage {id} again: the Restore {next} was created; \
                     run the step again to follow it"
                )));
            }
            Some(_) => {
                return Ok(StageEnd::Failed(format!(
                    "{what} ended PartiallyFailed and the answer was neither `{accept}` nor \
                     `{retry}`"
                )));
            }
            None => {
                return Ok(StageEnd::Stopped(format!(
                    "stopped at {what}, PartiallyFailed; the next run asks again"
                )));
            }
        }
    } else if let Some(end) = judge(ctx, &what, &progress) {
        return Ok(end);
    }
    if let Some(component) = pods_of {
        match pods_initialized(ctx, kube, registry, &component).await? {
            Ok(n) => ctx.sink.info(format!(
                "stage {id}: {n} pod(s) with {}={} initialized (file-system restore done)",
                component.label.0, component.label.1
            )),
            Err(end) => return Ok(end),
        }
    }
    Ok(StageEnd::Done(format!(
        "{what}: {} ({}, {} warning(s))",
        progress.phase,
        progress.items(),
        progress.warnings
    )))
}

async fn create(
    ctx: &StepContext,
    kube: &KubeCluster,
    velero_namespace: &str,
    request: &RestoreRequest,
    name: &str,
) -> Result<()> {
    let request = RestoreRequest {
        name: name.to_string(),
        ..request.clone()
    };
    let object = restore_object(velero_namespace, &request);
    kube.create_custom(CustomKind::VeleroRestore, Some(velero_namespace), &object)
        .await?;
    ctx.sink.info(format!("created the Restore {name}"));
    Ok(())
}

/// A finished Restore's verdict: None when the stage may go on.
fn judge(ctx: &StepContext, what: &str, progress: &Progress) -> Option<StageEnd> {
    match progress.phase.as_str() {
        "Completed" => {
            if progress.warnings > 0 {
                ctx.sink.warn(format!(
                    "{what} is Completed with {} warning(s) (objects already there are skipped \
                     and counted as warnings)",
                    progress.warnings
                ));
            }
            None
        }
        phase => {
            let mut why = format!(
                "{what} ended {phase} with {} error(s) and {} warning(s)",
                progress.errors, progress.warnings
            );
            if !progress.failure_reason.is_empty() {
                why.push_str(&format!(": {}", progress.failure_reason));
            }
            if !progress.validation_errors.is_empty() {
                why.push_str(&format!(": {}", progress.validation_errors.join("; ")));
            }
            Some(StageEnd::Failed(why))
        }
    }
}

/// Waits until the component's pods exist and each is `Initialized` (Velero's restore init
/// container has put the volume data back). Ok(count) or the stage's end.
async fn pods_initialized(
    ctx: &StepContext,
    kube: &KubeCluster,
    registry: &str,
    component: &Component,
) -> Result<std::result::Result<usize, StageEnd>> {
    let pods: Api<Pod> = Api::namespaced(kube.client().clone(), registry);
    let selector = format!("{}={}", component.label.0, component.label.1);
    let deadline = tokio::time::Instant::now() + PODS_INITIALIZED_WAIT;
    loop {
        let list = pods.list(&ListParams::default().labels(&selector)).await?;
        let total = list.items.len();
        let ready = list.items.iter().filter(|p| initialized(p)).count();
        if total > 0 {
            ctx.sink.progress(ready as u64, Some(total as u64), "pods");
        }
        if total > 0 && ready == total {
            return Ok(Ok(total));
        }
        if tokio::time::Instant::now() >= deadline {
            let waiting: Vec<String> = list
                .items
                .iter()
                .filter(|p| !initialized(p))
                .filter_map(|p| p.metadata.name.clone())
                .collect();
            return Ok(Err(StageEnd::Failed(format!(
                "the pods with {selector} in {registry} were not initialized within {} min \
                 ({}); Velero's restore init container waits for the volume data: see velero \
                 restore logs and the pods' events",
                PODS_INITIALIZED_WAIT.as_secs() / 60,
                if total == 0 {
                    "none exists".to_string()
                } else {
                    format!("waiting: {}", waiting.join(", "))
                }
            ))));
        }
        tokio::select! {
            _ = ctx.stop_request() => {
                return Ok(Err(StageEnd::Stopped(format!(
                    "paused while the pods with {selector} initialize; the next run waits again"
                ))));
            }
            _ = tokio::time::sleep(POD_POLL) => {}
        }
    }
}

fn initialized(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Initialized" && c.status == "True")
        })
}

/// The stages of `all` restore-registry has not journaled as done, with their ids (read by the
/// step itself and by verify-registry).
pub fn remaining<'a>(
    ctx: &StepContext,
    all: &'a [Stage],
    backup: &str,
    time: &str,
) -> Vec<(String, &'a Stage)> {
    all.iter()
        .map(|s| (s.id(backup, time), s))
        .filter(|(id, _)| {
            ctx.fact(crate::runbook::ids::RESTORE_REGISTRY, &stage_fact(id))
                .is_none()
        })
        .collect()
}
