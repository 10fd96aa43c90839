//! The step: each fix in the procedure's order, its line in the log, the summary counting what
//! changed, what was already in place and what stays by hand.

use anyhow::Result;
use serde_json::{Map, json};

use super::fix::Fix;
use super::{others, postgres};
use crate::runbook::ClusterRole;
use crate::steps::{Recheck, StepAction, StepContext, StepFuture, StepResult};

struct PostFixes;

pub(in crate::steps) static POST_FIXES: &dyn StepAction = &PostFixes;

fn velero(ctx: &StepContext) -> Result<&crate::config::Velero> {
    use anyhow::Context;
    ctx.config
        .velero
        .as_ref()
        .context("the config has no [velero] table; runbook velero-registry needs it")
}

async fn run(ctx: &StepContext) -> Result<StepResult> {
    let v = velero(ctx)?;
    let ns = v.registry.as_str();
    let b = ctx
        .cluster(ClusterRole::Destination)
        .await?
        .in_namespace(ns);
    let a = ctx.cluster(ClusterRole::Source).await?.in_namespace(ns);
    let mut fixes = Vec::new();
    for cluster in postgres::CLUSTERS {
        fixes.push(postgres::fix(ctx, &b, ns, cluster).await?);
    }
    let changed = fixes.iter().any(|f| matches!(f, Fix::Done(_)));
    if changed || postgres::restart_owed(ctx) {
        fixes.push(postgres::restart_bpms(ctx, &b, ns).await?);
    }
    fixes.push(others::nexus(&b, ns, v.destination_egress_ip).await?);
    fixes.push(others::gerrit_members(ctx, &b, ns).await?);
    let (kafka, kafka_by_hand) = others::kafka(&a, &b, ns).await?;
    for line in &kafka {
        if line.contains("differs") || line.contains("not on cluster B") {
            ctx.sink.warn(line);
        } else {
            ctx.sink.info(line);
        }
    }
    let (mut done, mut already, mut problems, mut by_hand) = (0, 0, Vec::new(), Vec::new());
    for fix in fixes {
        match fix {
            Fix::Done(line) => {
                done += 1;
                ctx.sink.info(line);
            }
            Fix::Already(line) => {
                already += 1;
                ctx.sink.info(format!("{line}: nothing to change"));
            }
            Fix::Problem(line) => problems.push(line),
            Fix::ByHand(line) => {
                ctx.sink.warn(&line);
                by_hand.push(line);
            }
            Fix::Stopped(why) => return Ok(StepResult::stopped(why)),
        }
    }
    by_hand.extend(kafka_by_hand);
    by_hand.extend(others::by_hand(ns));
    let mut figures = Map::new();
    figures.insert("changed".into(), json!(done));
    figures.insert("already_in_place".into(), json!(already));
    figures.insert("by_hand".into(), json!(by_hand));
    figures.insert("kafka".into(), json!(kafka));
    if !problems.is_empty() {
        return Ok(ctx.failed_with(
            format!(
                "{}. What was fixed stays fixed; run the step again after that",
                problems.join("; ")
            ),
            figures,
        ));
    }
    let head = if done == 0 {
        format!("nothing to change: all {already} fixes were already in place")
    } else {
        format!("{done} fix(es) made and checked, {already} already in place")
    };
    Ok(StepResult::passed(
        format!("{head}; by hand: {}", by_hand.join("; ")),
        figures,
    ))
}

async fn check(ctx: &StepContext) -> Result<Recheck> {
    let v = velero(ctx)?;
    let ns = v.registry.as_str();
    let b = ctx
        .cluster(ClusterRole::Destination)
        .await?
        .in_namespace(ns);
    let mut differ = postgres::check(&b, ns).await?;
    if postgres::restart_owed(ctx) {
        differ.push("bpms has not been restarted since a password changed".into());
    }
    if v.destination_egress_ip.is_some() {
        match others::nexus_state(&b, ns, v.destination_egress_ip).await? {
            Ok(None) => {}
            Ok(Some(_)) => differ.push("the Nexus route does not admit B's egress address".into()),
            Err(why) => differ.push(why),
        }
    }
    if !others::members_deleted(ctx) {
        differ.push("the GerritGroupMembers have not been deleted".into());
    }
    Ok(Recheck::unless_differ(&differ, || {
        "the post-restore fixes are in place".into()
    }))
}

impl StepAction for PostFixes {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(run(ctx))
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(check(ctx))
    }
}
