//! The `restore-registry` step: its stages in order on cluster B, each journaled when done.

use anyhow::Result;
use serde_json::{Map, Value, json};

use super::run::{StageEnd, remaining, restore_stage, stage_fact};
use super::stages::{Stage, stages};
use crate::runbook::ClusterRole;
use crate::steps::registry_backup::params;
use crate::steps::{Recheck, StepAction, StepContext, StepFuture, StepResult};

struct Restore;

pub(in crate::steps) static RESTORE: &dyn StepAction = &Restore;

/// The fact holding the time the restore first started (`%Y%m%d%H%M%S`), part of every
/// Restore's name.
const TIME_FACT: &str = "time";

async fn run(ctx: &StepContext) -> Result<StepResult> {
    let p = params(ctx)?;
    let backup = crate::steps::backup_name::required(ctx)?;
    let time = match ctx.fact(ctx.step.id, TIME_FACT).and_then(Value::as_str) {
        Some(t) => t.to_string(),
        None => {
            let t = chrono::Utc::now().format("%Y%m%d%H%M%S").to_string();
            ctx.sink.record_fact(TIME_FACT, json!(t))?;
            t
        }
    };
    let kube = ctx.cluster(ClusterRole::Destination).await?;
    let all = stages(&backup, &time);
    let todo = remaining(ctx, &all, &backup, &time);
    let done_before = all.len() - todo.len();
    if done_before > 0 {
        ctx.sink.info(format!(
            "{done_before} of {} stages were done by an earlier attempt; going on with {}",
            all.len(),
            todo.first().map(|(id, _)| id.as_str()).unwrap_or("none")
        ));
    }
    let mut lines = Vec::new();
    for (id, stage) in todo {
        let end = match stage {
            Stage::SavedResources => super::saved::apply(ctx, &kube, &p, &backup).await?,
            Stage::Action(action) => super::actions::run(ctx, &kube, &p, &backup, *action).await?,
            Stage::Restore { request, pods_of } => {
                restore_stage(
                    ctx,
                    &kube,
                    &p.velero_namespace,
                    &p.registry,
                    &id,
                    request,
                    *pods_of,
                )
                .await?
            }
        };
        match end {
            StageEnd::Done(line) => {
                ctx.sink.record_fact(&stage_fact(&id), json!("done"))?;
                ctx.sink.info(&line);
                lines.push(line);
            }
            StageEnd::Stopped(why) => return Ok(StepResult::stopped(why)),
            StageEnd::Failed(why) => {
                return Ok(ctx.failed(format!(
                    "{why}. The stages before it are done; the next run continues with this \
                     one"
                )));
            }
        }
    }
    let mut figures = Map::new();
    figures.insert("backup".into(), json!(backup));
    figures.insert("stages".into(), json!(all.len()));
    Ok(StepResult::passed(
        format!(
            "the registry {} is restored on cluster B from {backup}: {} stages",
            p.registry,
            all.len()
        ),
        figures,
    ))
}

/// Where the restore stands: the stages done and the first left (None when all are done);
/// Err when it has not started.
pub fn stages_left(ctx: &StepContext) -> Result<(usize, usize, Option<String>), String> {
    let backup = crate::steps::backup_name::required(ctx).map_err(|e| format!("{e:#}"))?;
    let Some(time) = ctx
        .fact(crate::runbook::ids::RESTORE_REGISTRY, TIME_FACT)
        .and_then(Value::as_str)
    else {
        return Err("restore-registry has not started".into());
    };
    let all = stages(&backup, time);
    let todo = remaining(ctx, &all, &backup, time);
    Ok((
        all.len() - todo.len(),
        all.len(),
        todo.first().map(|(id, _)| id.clone()),
    ))
}

async fn check(ctx: &StepContext) -> Result<Recheck> {
    let backup = crate::steps::backup_name::required(ctx)?;
    let Some(time) = ctx.fact(ctx.step.id, TIME_FACT).and_then(Value::as_str) else {
        return Ok(Recheck::DoesNotHold("the restore has not started".into()));
    };
    let all = stages(&backup, time);
    let todo = remaining(ctx, &all, &backup, time);
    Ok(match todo.first() {
        None => Recheck::Holds(format!("all {} stages are done", all.len())),
        Some((id, _)) => Recheck::DoesNotHold(format!(
            "{} of {} stages are left, from {id}",
            todo.len(),
            all.len()
        )),
    })
}

impl StepAction for Restore {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(run(ctx))
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(check(ctx))
    }
}
