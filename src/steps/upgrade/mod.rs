//! `install-source-3scale` (a check) and `upgrade-3scale`: 3scale on the migration cluster, as
//! the 3scale operator installed through OLM runs it.
//!
//! - The check: the CSV the 3scale Subscription installed (`Succeeded`) ships the source's 3scale
//!   minor as the inventory recorded it, and so do the APIManager's annotations when there is an
//!   APIManager already.
//! - The upgrade: from the source's minor to RHOAM's (the destination's, as the inventory
//!   recorded it, else read there), one minor a hop (`hop`): the Subscription's channel moved to
//!   `threescale-2.(N+1)`, the InstallPlan for the next `3scale-operator.v0.*` approved (any other
//!   refused), its CSV `Succeeded`, and the operator's work settled (annotations, hook Jobs,
//!   Available and Preflights, from 2.15 no DeploymentConfig). Each hop starts from what the
//!   cluster shows, so a hop done is skipped and a hop half done continued after a kill -9.
//!   Facts: `plan` (from, to, the hops) before anything changes, `hop-2.N` when a hop is done.
//!
//! Resume re-check: the installed CSV ships RHOAM's minor and the last hop is settled.

mod hop;
mod seen;

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

use super::{Recheck, StepAction, StepContext, StepFuture, StepResult};
use crate::infra::kube::KubeCluster;
use crate::runbook::ClusterRole;
use hop::{Ended, Hop, Probe};

pub use seen::{csv_release, minor_of};

struct CheckSource;
struct Upgrade;

pub(super) static CHECK_SOURCE: &dyn StepAction = &CheckSource;
pub(super) static UPGRADE: &dyn StepAction = &Upgrade;

/// The source's 3scale minor, from the inventory.
fn source_version(ctx: &StepContext) -> Result<String> {
    let found = super::inventory::recorded(ctx)
        .and_then(|i| i.versions.source)
        .context(
            "the inventory recorded no 3scale version of the source: run the inventory step \
             again once the source's APIManager (or its operator's CSV) can be read",
        )?;
    minor_of(&found.version).with_context(|| {
        format!(
            "the inventory recorded the source's 3scale version as {:?}, not a 2.N version",
            found.version
        )
    })
}

/// RHOAM's 3scale minor: the inventory's, else read at the destination.
async fn target_version(ctx: &StepContext) -> Result<String> {
    let recorded = super::inventory::recorded(ctx)
        .and_then(|i| i.versions.destination)
        .map(|v| v.version);
    let version = match recorded {
        Some(v) => v,
        None => {
            ctx.cluster(ClusterRole::Destination)
                .await?
                .threescale_version()
                .await?
                .version
        }
    };
    minor_of(&version)
        .with_context(|| format!("RHOAM's 3scale version {version:?} is not a 2.N version"))
}

/// What the migration cluster runs: its installed CSV, `Succeeded`, and its 3scale minor.
async fn running(kube: &KubeCluster) -> Result<std::result::Result<seen::Installed, String>> {
    let sub = seen::subscription(kube).await?;
    let Some(installed) = seen::installed(kube, &sub).await? else {
        return Ok(Err(format!(
            "the Subscription {} names no installed CSV (state {}): approve its InstallPlan",
            seen::name(&sub),
            sub.data["status"]["state"].as_str().unwrap_or("none")
        )));
    };
    if installed.release.is_none() {
        return Ok(Err(format!(
            "the installed CSV {} (version {}) is not one of the 3scale operator's",
            installed.csv, installed.operator_version
        )));
    }
    if !installed.succeeded() {
        return Ok(Err(format!(
            "the installed CSV {} is {}, not Succeeded: {}",
            installed.csv, installed.phase, installed.message
        )));
    }
    Ok(Ok(installed))
}

/// Whether the migration cluster runs the source's version: Ok(what holds) or Err(why not).
async fn runs_source(ctx: &StepContext) -> Result<std::result::Result<String, String>> {
    let source = source_version(ctx)?;
    let kube = ctx.cluster(ClusterRole::MigrationCluster).await?;
    let installed = match running(&kube).await? {
        Ok(i) => i,
        Err(why) => return Ok(Err(why)),
    };
    let release = installed.release.clone().unwrap_or_default();
    if release != source {
        return Ok(Err(format!(
            "the migration cluster's 3scale operator {} ships 3scale {release}, the source runs \
             {source}: install the source's version (channel threescale-{source}, its CSV) as \
             the procedure says, since the database restored there is the source's",
            installed.csv
        )));
    }
    if let Some(am) = seen::apimanager(&kube).await? {
        let (version, _) = seen::apimanager_versions(&am);
        if minor_of(version).as_deref() != Some(source.as_str()) {
            return Ok(Err(format!(
                "APIManager {} on the migration cluster is annotated 3scale {}, the source runs \
                 {source}",
                seen::name(&am),
                if version.is_empty() {
                    "(none)"
                } else {
                    version
                }
            )));
        }
    }
    Ok(Ok(format!(
        "the migration cluster runs 3scale {source} ({}), as the source",
        installed.csv
    )))
}

impl StepAction for CheckSource {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            let figures = |holds: bool| {
                let mut f = Map::new();
                f.insert("runs_source_version".into(), json!(holds));
                f
            };
            Ok(match runs_source(ctx).await? {
                Ok(holds) => StepResult::passed(holds, figures(true)),
                Err(why) => StepResult::failed(why, figures(false)),
            })
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            Ok(match runs_source(ctx).await? {
                Ok(holds) => Recheck::Holds(holds),
                Err(why) => Recheck::DoesNotHold(why),
            })
        })
    }
}

/// The hops from `from` to `to` (`2.14`, `2.16` → `2.14 → 2.15`, `2.15 → 2.16`).
fn hops(from: &str, to: &str) -> Vec<Hop> {
    let (Some(a), Some(b)) = (seen::minor_number(from), seen::minor_number(to)) else {
        return Vec::new();
    };
    let major = from.split('.').next().unwrap_or("2");
    let of = b.saturating_sub(a) as usize;
    (a..b)
        .enumerate()
        .map(|(i, m)| Hop {
            n: i + 1,
            of,
            from: format!("{major}.{m}"),
            to: format!("{major}.{}", m + 1),
        })
        .collect()
}

fn figures(source: &str, target: &str, done: usize) -> Map<String, Value> {
    let mut f = Map::new();
    f.insert("from".into(), json!(source));
    f.insert("to".into(), json!(target));
    f.insert("hops_done".into(), json!(done));
    f
}

/// Where an upgrade starts from: the versions, the migration cluster, what it runs.
struct Start {
    source: String,
    target: String,
    kube: KubeCluster,
    running: std::result::Result<seen::Installed, String>,
}

async fn start(ctx: &StepContext) -> Result<Start> {
    let source = source_version(ctx)?;
    let target = target_version(ctx).await?;
    let kube = ctx.cluster(ClusterRole::MigrationCluster).await?;
    let running = running(&kube).await?;
    Ok(Start {
        source,
        target,
        kube,
        running,
    })
}

async fn upgrade(ctx: &StepContext) -> Result<StepResult> {
    let Start {
        source,
        target,
        kube,
        running,
    } = start(ctx).await?;
    let installed = match running {
        Ok(i) => i,
        Err(why) => return Ok(StepResult::failed(why, figures(&source, &target, 0))),
    };
    let at = installed.release.clone().unwrap_or_default();
    let number = |v: &str| seen::minor_number(v).unwrap_or(0);
    if number(&at) < number(&source) || number(&at) > number(&target) {
        return Ok(StepResult::failed(
            format!(
                "the migration cluster runs 3scale {at} ({}): an upgrade goes from the source's \
                 {source} to RHOAM's {target}",
                installed.csv
            ),
            figures(&source, &target, 0),
        ));
    }
    let hops = hops(&source, &target);
    ctx.sink.record_fact(
        "plan",
        json!({"from": source, "to": target, "hops": hops.iter().map(|h| h.to.clone()).collect::<Vec<_>>()}),
    )?;
    ctx.sink.info(format!(
        "3scale on the migration cluster: {source} → {target} in {} hop(s); it runs {at} ({}) now",
        hops.len(),
        installed.csv
    ));
    for hop in &hops {
        ctx.sink
            .progress(hop.n as u64 - 1, Some(hops.len() as u64), "hops");
        if number(&hop.to) < number(&at) {
            ctx.sink.info(format!("{}: done before", hop.label()));
            continue;
        }
        match hop::run(ctx, &kube, hop).await? {
            Ended::Done(csv) => {
                ctx.sink.record_fact(
                    &format!("hop-{}", hop.to),
                    json!({"from": hop.from, "to": hop.to, "csv": csv.csv, "operator_version": csv.operator_version}),
                )?;
                ctx.sink
                    .info(format!("{}: done, {} runs", hop.label(), csv.csv));
            }
            Ended::Failed(why) => {
                return Ok(StepResult::failed(
                    why,
                    figures(&source, &target, hop.n - 1),
                ));
            }
            Ended::Stopped(at) => {
                return Ok(StepResult::stopped(format!(
                    "stopped at {at}; OLM and the operator go on: run the step again to continue"
                )));
            }
        }
    }
    ctx.sink
        .progress(hops.len() as u64, Some(hops.len() as u64), "hops");
    Ok(StepResult::passed(
        if hops.is_empty() {
            format!("the migration cluster already runs RHOAM's 3scale {target}")
        } else {
            format!(
                "3scale on the migration cluster upgraded {source} → {target} ({}); its system \
                 database migrated by the operator; its writers run until the destination's \
                 rewrite holds them at 0",
                hops.iter()
                    .map(|h| h.to.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        figures(&source, &target, hops.len()),
    ))
}

async fn upgraded(ctx: &StepContext) -> Result<Recheck> {
    let start = start(ctx).await?;
    let target = &start.target;
    let installed = match &start.running {
        Ok(i) => i,
        Err(why) => return Ok(Recheck::DoesNotHold(why.clone())),
    };
    let at = installed.release.as_deref().unwrap_or_default();
    if at != target {
        return Ok(Recheck::DoesNotHold(format!(
            "the migration cluster runs 3scale {at} ({}), RHOAM runs {target}",
            installed.csv
        )));
    }
    let Some(last) = hops(&start.source, target).pop() else {
        return Ok(Recheck::Holds(format!(
            "the migration cluster runs 3scale {target}"
        )));
    };
    Ok(match hop::settled(&start.kube, &last, installed).await? {
        Probe::Ready(()) => Recheck::Holds(format!(
            "the migration cluster runs 3scale {target} ({}), its upgrade settled",
            installed.csv
        )),
        Probe::Waiting(what) | Probe::Fail(what) => Recheck::DoesNotHold(what),
    })
}

impl StepAction for Upgrade {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(upgrade(ctx))
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(upgraded(ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_go_one_minor_at_a_time() {
        let h = hops("2.14", "2.16");
        let labels: Vec<String> = h.iter().map(Hop::label).collect();
        assert_eq!(
            labels,
            ["hop 1 of 2: 2.14 → 2.15", "hop 2 of 2: 2.15 → 2.16"]
        );
        assert_eq!(h[0].channel(), "threescale-2.15");
        assert!(hops("2.16", "2.16").is_empty());
    }
}
