//! `rewrite-routes-migration` and `rewrite-routes-destination`: the migration cluster's system
//! database moves from one wildcard domain to the next (source → migration cluster, then
//! migration cluster → destination), through `infra::rewrite`.
//!
//! The step first computes the preview (nothing changes): the rows per column, the first rows'
//! before and after in the log, the whole list with the rows that are only reported in
//! `<dumps>/<step>-preview.txt`. Then it asks for its gate's phrase; only then does the one
//! transaction run, which verifies itself and rolls back when an old host is left where none
//! may be (the step then fails naming the columns, and nothing has changed). Before the
//! destination's rewrite, the destination's APIManager must have the configured wildcard.
//!
//! The destination's rewrite first holds the migration cluster's writers at 0 (`steps::writers`,
//! after the typed phrase, before the transaction): nothing writes old hosts back, zync makes no
//! routes for the destination's hosts there, and the dump that follows sees the database as it
//! stays; its re-check requires them at 0. After the transaction, where 3scale runs on the
//! database, `steps::resync` runs its rake tasks and waits for zync's routes; where it does not
//! (the first rewrite, before connect-migration-3scale; the destination's, with the writers
//! held), the step that starts 3scale on that data runs them.
//!
//! The database is reached by `migration_cluster.system_database_url`, else through the client
//! pod. Resume re-check: no row of the rewritten columns names the old domain.

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

use super::pgdump::{self, system_database};
use super::{Question, Recheck, StepAction, StepContext, StepFuture, StepResult};
use super::{resync, writers};
use crate::infra::artifacts::{self, Report};
use crate::infra::kube::CustomKind;
use crate::infra::rewrite::{Change, Preview, Rewrite, VERIFY_FAILED};
use crate::runbook::{ClusterRole, ids};

/// The step's fact: the counts it rewrote.
pub const REWRITE_FACT: &str = "rewrite";

/// How many rows of each column the log shows.
const SHOWN_PER_COLUMN: usize = 3;

struct RewriteStep;

pub(super) static REWRITE: &dyn StepAction = &RewriteStep;

/// The wildcard domains this step moves between, from the config.
fn domains(ctx: &StepContext) -> std::result::Result<Rewrite, String> {
    let (from, to) = if ctx.step.id == ids::REWRITE_ROUTES_DESTINATION {
        (ClusterRole::MigrationCluster, ClusterRole::Destination)
    } else {
        (ClusterRole::Source, ClusterRole::MigrationCluster)
    };
    let wildcard = |role: ClusterRole| {
        ctx.config
            .cluster(role)
            .and_then(|c| c.wildcard_domain.clone())
            .ok_or_else(|| {
                format!(
                    "{role}.wildcard_domain is not set; the rewrite needs the old and the new \
                     wildcard domain. Nothing was changed"
                )
            })
    };
    Rewrite::new(&wildcard(from)?, &wildcard(to)?)
        .map_err(|e| format!("{e:#}. Nothing was changed"))
}

fn line(c: &Change) -> String {
    if c.before == c.after {
        format!("{} #{}: {}", c.column, c.id, c.before)
    } else {
        format!("{} #{}: {} → {}", c.column, c.id, c.before, c.after)
    }
}

/// Writes the whole preview next to the dumps; returns its path.
fn write_preview(
    ctx: &StepContext,
    rewrite: &Rewrite,
    preview: &Preview,
) -> Result<std::path::PathBuf> {
    let path = ctx
        .config
        .dumps
        .folder
        .join(format!("{}-preview.txt", ctx.step.id));
    let mut text = format!(
        "Domain rewrite {} → {} ({}), {} rows\n\nRows per column:\n",
        rewrite.old(),
        rewrite.new_domain(),
        ctx.step.id,
        preview.total()
    );
    for (column, n) in &preview.counts {
        text.push_str(&format!("  {column}: {n}\n"));
    }
    text.push_str("\nRewritten (before → after):\n");
    for c in &preview.changes {
        text.push_str(&format!("  {}\n", line(c)));
    }
    text.push_str("\nReported, not rewritten (the owners decide):\n");
    for c in &preview.reported {
        text.push_str(&format!("  {}\n", line(c)));
    }
    artifacts::write_whole(&path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The destination's APIManager must serve the wildcard the rewrite writes.
async fn destination_matches(ctx: &StepContext, rewrite: &Rewrite) -> Result<Option<String>> {
    let kube = ctx.cluster(ClusterRole::Destination).await?;
    for am in kube.list_custom(CustomKind::ApiManager, None).await? {
        let name = am.metadata.name.clone().unwrap_or_default();
        let wildcard = am.data["spec"]["wildcardDomain"].as_str().unwrap_or("");
        if wildcard != rewrite.new_domain() {
            return Ok(Some(format!(
                "the destination's APIManager {name} serves wildcardDomain `{wildcard}`, not \
                 destination.wildcard_domain `{}`: the rewritten hosts would match no route \
                 there. Set destination.wildcard_domain to RHOAM's routing subdomain. Nothing \
                 was changed",
                rewrite.new_domain()
            )));
        }
        ctx.sink.info(format!(
            "the destination's APIManager {name} serves wildcardDomain {wildcard}, as the config \
             says"
        ));
    }
    let (ns, _) = crate::infra::kube::RHOAM_OPERATORS[0];
    let installs = kube.list_custom(CustomKind::Rhmi, Some(ns)).await?;
    if installs.is_empty() {
        ctx.sink.warn(format!(
            "no RHMI in namespace {ns}: RHOAM's routing subdomain is not compared"
        ));
    }
    for rhmi in installs {
        let name = rhmi.metadata.name.clone().unwrap_or_default();
        let subdomain = rhmi.data["spec"]["routingSubdomain"].as_str().unwrap_or("");
        if subdomain != rewrite.new_domain() {
            return Ok(Some(format!(
                "RHOAM's RHMI {name} routes under `{subdomain}`, not destination.wildcard_domain \
                 `{}`: the rewritten hosts would match no route there. Set \
                 destination.wildcard_domain to RHOAM's routing subdomain. Nothing was changed",
                rewrite.new_domain()
            )));
        }
        ctx.sink.info(format!(
            "RHOAM's RHMI {name} routes under {subdomain}, as the config says"
        ));
    }
    Ok(None)
}

async fn rewrite(
    ctx: &StepContext,
    target: &crate::infra::pgtarget::PgTarget,
    rewrite: &Rewrite,
) -> Result<StepResult> {
    let shown = target.shown().to_string();
    ctx.sink.info(format!(
        "previewing the rewrite of .{} to .{} in {shown}",
        rewrite.old(),
        rewrite.new_domain()
    ));
    let preview = rewrite.preview(target).await?;
    let file = write_preview(ctx, rewrite, &preview)?;
    for (column, n) in preview.counts.iter().filter(|(_, n)| *n > 0) {
        ctx.sink.info(format!("{column}: {n} rows"));
        for c in preview
            .changes
            .iter()
            .filter(|c| &c.column == column)
            .take(SHOWN_PER_COLUMN)
        {
            ctx.sink.info(format!("  {}", line(c)));
        }
    }
    if !preview.reported.is_empty() {
        ctx.sink.warn(format!(
            "{} row(s) name the old domain where the owners decide (not rewritten): {}",
            preview.reported.len(),
            crate::format::first_of(
                &preview
                    .reported
                    .iter()
                    .map(|c| format!("{} #{}", c.column, c.id))
                    .collect::<Vec<_>>(),
                8
            )
        ));
    }
    let mut figures = Map::new();
    figures.insert("preview".into(), json!(file));
    figures.insert("reported".into(), json!(preview.reported.len()));
    if preview.total() == 0 {
        let mut summary = format!(
            "no row of {shown} names .{} where the rewrite goes; nothing to rewrite (preview in \
             {})",
            rewrite.old(),
            file.display()
        );
        match hold_writers(ctx).await? {
            Ok(Some(held)) => summary.push_str(&format!("; {held}")),
            Ok(None) => {}
            Err(why) => return Ok(ctx.failed(why)),
        }
        return Ok(StepResult::passed(summary, figures));
    }
    let phrase = ctx
        .step
        .gate
        .phrase()
        .unwrap_or("rewrite routes")
        .to_string();
    let question = Question {
        text: format!(
            "{} rows of {shown} name .{} and move to .{} ({}; every row in {}). Type `{phrase}` \
             to rewrite them in one transaction{}, or stop: ",
            preview.total(),
            rewrite.old(),
            rewrite.new_domain(),
            preview
                .counts
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(c, n)| format!("{c} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            file.display(),
            if ctx.step.id == ids::REWRITE_ROUTES_DESTINATION {
                " (first holding the migration cluster's writers at 0, where 3scale runs there)"
            } else {
                ""
            }
        ),
        phrase,
        ..Question::default()
    };
    if let Some(result) = ctx
        .confirm(question, "rewriting the domains", "rewritten")
        .await?
    {
        return Ok(result);
    }
    let held = match hold_writers(ctx).await? {
        Ok(held) => held,
        Err(why) => return Ok(ctx.failed(format!("{why}; nothing was rewritten"))),
    };
    let applied = match rewrite.apply(target).await {
        Ok(applied) => applied,
        Err(e) => {
            let text = format!("{e:#}");
            if let Some(at) = text.find(VERIFY_FAILED) {
                let what = text[at + VERIFY_FAILED.len()..].trim();
                return Ok(ctx.failed(format!(
                    "the rewrite was rolled back, nothing changed: after it, {what}. Those \
                         columns are not the rewrite's to change: have the owners move them (or \
                         check that the wildcard domains are right), then run the step again"
                )));
            }
            return Err(e);
        }
    };
    let total: u64 = applied.iter().map(|(_, n)| n).sum();
    let counts: Map<String, Value> = applied.iter().map(|(c, n)| (c.clone(), json!(n))).collect();
    let fact = json!({
        "old": rewrite.old(),
        "new": rewrite.new_domain(),
        "rows": total,
        "columns": counts,
        "reported": preview.reported.len(),
        "preview": file,
    });
    ctx.sink.record_fact(REWRITE_FACT, fact)?;
    figures.insert("rows".into(), json!(total));
    figures.insert("columns".into(), Value::Object(counts));
    let resynced = match resync_after(ctx, target).await? {
        Ok(text) => text,
        Err(why) => {
            return Ok(ctx.failed(format!(
                "rewrote {total} rows of {shown} (committed and verified), but {why}"
            )));
        }
    };
    let resynced = match held {
        Some(held) => format!("{held}; {resynced}"),
        None => resynced,
    };
    Ok(StepResult::passed(
        format!(
            "rewrote {total} rows of {shown} from .{} to .{} in one transaction, verified: no \
             old host left outside the reported columns ({} reported row(s); preview in {}); \
             {resynced}",
            rewrite.old(),
            rewrite.new_domain(),
            preview.reported.len(),
            file.display()
        ),
        figures,
    ))
}

/// Before the destination's rewrite, the migration cluster's writers are held at 0
/// (`steps::writers`); Ok(None) for the first rewrite, or where no 3scale is there.
async fn hold_writers(ctx: &StepContext) -> Result<std::result::Result<Option<String>, String>> {
    if ctx.step.id != ids::REWRITE_ROUTES_DESTINATION {
        return Ok(Ok(None));
    }
    let Ok(kube) = ctx.cluster(ClusterRole::MigrationCluster).await else {
        return Ok(Ok(None));
    };
    if kube.find_workload(writers::WRITERS[0]).await?.is_none() {
        return Ok(Ok(None));
    }
    Ok(writers::hold(ctx, &kube).await?.map(Some))
}

/// After the rewrite, where 3scale already runs on this database (the migration cluster after
/// its upgrade), its rake tasks bring zync's routes and backend's configuration along; where it
/// does not run yet, the step that starts it runs them. Ok(Err(why)) when they ran and the
/// routes did not come.
async fn resync_after(
    ctx: &StepContext,
    target: &crate::infra::pgtarget::PgTarget,
) -> Result<std::result::Result<String, String>> {
    let kube = match ctx.cluster(ClusterRole::MigrationCluster).await {
        Ok(kube) => kube,
        Err(e) => {
            ctx.sink.warn(format!(
                "cannot reach the migration cluster to resync 3scale's routes ({e:#}); run \
                 `bundle exec rake zync:resync:domains` and `backend:storage:enqueue_rewrite` in \
                 its system-sidekiq pod once 3scale runs there"
            ));
            return Ok(Ok("routes not resynced (cluster unreachable)".to_string()));
        }
    };
    if !resync::system_runs(&kube).await? {
        let (text, short) = if ctx.step.id == ids::REWRITE_ROUTES_DESTINATION {
            (
                "3scale is held on the migration cluster: restore-destination-3scale runs \
                 zync:resync:domains and backend:storage:enqueue_rewrite at the destination, on \
                 the seeded database",
                "routes resynced when 3scale starts at the destination",
            )
        } else {
            (
                "3scale does not run on the migration cluster yet: connect-migration-3scale runs \
                 zync:resync:domains and backend:storage:enqueue_rewrite when it starts it",
                "routes resynced when 3scale starts there",
            )
        };
        ctx.sink.info(text);
        return Ok(Ok(short.to_string()));
    }
    let hosts = resync::expected_hosts(target).await?;
    Ok(match resync::resync(ctx, &kube, &hosts).await? {
        Ok(done) => {
            ctx.sink.record_fact(resync::RESYNC_FACT, done.fact())?;
            Ok(format!(
                "zync routes the {} host(s) the database names, backend's configuration \
                 rewrite enqueued (in {})",
                done.routed, done.pod
            ))
        }
        Err(why) => Err(why),
    })
}

impl StepAction for RewriteStep {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            let rewrite_of = match domains(ctx) {
                Ok(r) => r,
                Err(why) => return Ok(ctx.failed(why)),
            };
            if ctx.step.id == ids::REWRITE_ROUTES_DESTINATION
                && ctx.config.cluster(ClusterRole::Destination).is_some()
                && let Some(why) = destination_matches(ctx, &rewrite_of).await?
            {
                return Ok(ctx.failed(why));
            }
            let reporter = ctx.sink.reporter();
            let report: Report<'_> = reporter.report();
            let target = system_database(ctx, ClusterRole::MigrationCluster, &report)
                .await
                .context("nothing was changed")?;
            let result = rewrite(ctx, &target, &rewrite_of).await;
            pgdump::close(ctx, target).await;
            result
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            let rewrite_of = match domains(ctx) {
                Ok(r) => r,
                Err(why) => return Ok(Recheck::DoesNotHold(why)),
            };
            let target =
                system_database(ctx, ClusterRole::MigrationCluster, &artifacts::QUIET).await?;
            let preview = rewrite_of.preview(&target).await;
            pgdump::close(ctx, target).await;
            let preview = preview?;
            if preview.total() == 0
                && ctx.step.id == ids::REWRITE_ROUTES_DESTINATION
                && let Ok(kube) = ctx.cluster(ClusterRole::MigrationCluster).await
            {
                let running = writers::running(&kube).await?;
                if !running.is_empty() {
                    return Ok(Recheck::DoesNotHold(format!(
                        "the migration cluster's writers still run: {}",
                        running.join(", ")
                    )));
                }
            }
            Ok(if preview.total() == 0 {
                Recheck::Holds(format!(
                    "no row names .{} where the rewrite goes",
                    rewrite_of.old()
                ))
            } else {
                Recheck::DoesNotHold(format!(
                    "{} rows still name .{}",
                    preview.total(),
                    rewrite_of.old()
                ))
            })
        })
    }
}
