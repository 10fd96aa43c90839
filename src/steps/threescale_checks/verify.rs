//! `verify-installation`: what of the joint verification a program can do, then the people's
//! word for the rest.
//!
//! Automated, all read-only:
//! - every host the seeded database names (each active provider's admin and developer portal,
//!   the master portal, both gateways of every hosted product: `steps::resync`) has its zync
//!   route at the destination;
//! - no route of the destination namespace carries the source's or the migration cluster's
//!   wildcard domain;
//! - one call through a hosted product's staging gateway, as one of its live applications makes
//!   it (`user_key` in the query, APIcast's default), answers 2xx. The key is read from the
//!   database and never shown.
//!
//! Then both parties check what only people can (the admin and developer portals, the source's
//! historic analytics in the admin portal) and the operator types `verified by both`. The fact
//! `verified` records the figures and that answer; a resumed run re-checks and asks again
//! unless the answer was recorded.

use anyhow::Result;
use serde_json::{Map, json};

use super::api::Api;
use crate::infra::artifacts::{self, Report};
use crate::infra::kube::CustomKind;
use crate::infra::threescale_api::Token;
use crate::runbook::ClusterRole;
use crate::steps::pgdump::{self, system_database};
use crate::steps::resync::{self, Host};
use crate::steps::{Question, Recheck, StepAction, StepContext, StepFuture, StepResult};

/// The fact: what was verified, and who said the rest was.
pub const VERIFIED_FACT: &str = "verified";
/// The phrase both parties' word is typed as.
pub const PHRASE: &str = "verified by both";

struct Verify;

pub(in crate::steps) static VERIFY_INSTALLATION: &dyn StepAction = &Verify;

/// An application to call a product's staging gateway as: the gateway's host and its key.
struct Caller {
    product: String,
    host: String,
    key: Token,
}

/// What the database says: the hosts zync must route and an application to call as.
async fn from_database(
    ctx: &StepContext,
    report: &Report<'_>,
) -> Result<(Vec<Host>, Option<Caller>)> {
    let target = system_database(ctx, ClusterRole::Destination, report).await?;
    let read = async {
        let hosts = resync::expected_hosts(&target).await?;
        let rows = target
            .rows(
                "SELECT s.name, \
                        lower(split_part(split_part(p.sandbox_endpoint, '://', 2), ':', 1)), \
                        c.user_key \
                 FROM cinstances c JOIN plans pl ON pl.id = c.plan_id \
                 JOIN services s ON s.id = pl.issuer_id AND pl.issuer_type = 'Service' \
                 JOIN proxies p ON p.service_id = s.id \
                 JOIN accounts a ON a.id = s.account_id \
                 WHERE c.type = 'Cinstance' AND c.state = 'live' \
                 AND COALESCE(c.user_key, '') <> '' AND s.deployment_option = 'hosted' \
                 AND s.backend_version = '1' AND NOT COALESCE(a.master, false) \
                 ORDER BY s.id, c.id LIMIT 1",
                "choosing an application to call a staging gateway as",
            )
            .await?;
        let caller = rows.into_iter().find_map(|r| match &r[..] {
            [product, host, key] if !host.is_empty() => Some(Caller {
                product: product.clone(),
                host: host.clone(),
                key: Token::new(key.clone()),
            }),
            _ => None,
        });
        anyhow::Ok((hosts, caller))
    }
    .await;
    pgdump::close(ctx, target).await;
    read
}

/// The old wildcard domains of the config (the source's, the migration cluster's).
fn old_domains(ctx: &StepContext) -> Vec<String> {
    [ClusterRole::Source, ClusterRole::MigrationCluster]
        .iter()
        .filter_map(|r| ctx.config.cluster(*r)?.wildcard_domain.clone())
        .map(|w| w.trim().trim_matches('.').to_ascii_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// What the program verified, or what is wrong.
struct Seen {
    routed: usize,
    call: String,
    problems: Vec<String>,
}

async fn verify(
    ctx: &StepContext,
    report: &Report<'_>,
) -> Result<std::result::Result<Seen, String>> {
    let api = match Api::new(ctx)? {
        Ok(api) => api,
        Err(why) => return Ok(Err(why)),
    };
    let kube = ctx.cluster(ClusterRole::Destination).await?;
    let (hosts, caller) = from_database(ctx, report).await?;
    let mut problems = Vec::new();
    let missing = resync::unrouted(&kube, &hosts).await?;
    if !missing.is_empty() {
        problems.push(format!(
            "no route for {} of the {} host(s) the database names: {}",
            missing.len(),
            hosts.len(),
            resync::describe(&missing)
        ));
    }
    let old = old_domains(ctx);
    let stale: Vec<String> = kube
        .list_custom(CustomKind::Route, None)
        .await?
        .iter()
        .filter_map(|r| {
            let host = r.data["spec"]["host"].as_str()?.to_ascii_lowercase();
            old.iter()
                .any(|d| host.ends_with(&format!(".{d}")))
                .then(|| format!("{} ({host})", r.metadata.name.clone().unwrap_or_default()))
        })
        .collect();
    if !stale.is_empty() {
        problems.push(format!(
            "route(s) on an old domain: {}",
            crate::format::first_of(&stale, 6)
        ));
    }
    let call = match caller {
        None => {
            problems.push(
                "the database has no live application of a hosted product with a user key to \
                 call a staging gateway as; call one by hand"
                    .to_string(),
            );
            String::new()
        }
        Some(c) => {
            let answer = api.client.get_as_application(&c.host, "/", &c.key).await;
            match answer {
                Ok(r) if r.ok() => format!(
                    "a call through product {}'s staging gateway ({}) answered {}",
                    c.product, c.host, r.status
                ),
                Ok(r) => {
                    problems.push(format!(
                        "a call through product {}'s staging gateway as one of its live \
                         applications answered {}{}: {}",
                        c.product,
                        r.status,
                        api.through,
                        r.excerpt()
                    ));
                    String::new()
                }
                Err(e) => {
                    problems.push(format!(
                        "the staging gateway of product {} did not answer: {e:#}",
                        c.product
                    ));
                    String::new()
                }
            }
        }
    };
    ctx.sink.info(format!(
        "{} host(s) of the database routed, {} on an old domain{}",
        hosts.len() - missing.len(),
        stale.len(),
        if call.is_empty() {
            String::new()
        } else {
            format!("; {call}")
        }
    ));
    Ok(Ok(Seen {
        routed: hosts.len() - missing.len(),
        call,
        problems,
    }))
}

impl StepAction for Verify {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            let reporter = ctx.sink.reporter();
            let seen = match verify(ctx, &reporter.report()).await? {
                Ok(seen) => seen,
                Err(why) => return Ok(ctx.failed(why)),
            };
            if !seen.problems.is_empty() {
                return Ok(ctx.failed(format!(
                    "the destination is not ready to hand over: {}. The source is still there, \
                         scaled down: fix this, or roll back",
                    seen.problems.join("; ")
                )));
            }
            let question = Question {
                text: format!(
                    "Verified by cutover: every host of the database has its route, none is on \
                     an old domain, {}. Both parties now check the admin and developer portals \
                     and that the source's historic analytics show in the admin portal. Type \
                     `{PHRASE}` once they have, or stop: ",
                    seen.call
                ),
                phrase: PHRASE.to_string(),
                ..Question::default()
            };
            if let Some(result) = ctx
                .confirm(question, "recording the verification", "verified")
                .await?
            {
                return Ok(result);
            }
            let fact = json!({"routed": seen.routed, "call": seen.call, "answer": PHRASE});
            ctx.sink.record_fact(VERIFIED_FACT, fact.clone())?;
            let mut figures = Map::new();
            figures.insert(VERIFIED_FACT.into(), fact);
            Ok(StepResult::passed(
                format!(
                    "{} host(s) of the database routed at the destination, none on an old \
                     domain; {}; the portals and the historic analytics verified by both \
                     parties",
                    seen.routed, seen.call
                ),
                figures,
            ))
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            if ctx.fact(ctx.step.id, VERIFIED_FACT).is_none() {
                return Ok(Recheck::DoesNotHold(
                    "both parties' word is not recorded yet".to_string(),
                ));
            }
            Ok(match verify(ctx, &artifacts::QUIET).await? {
                Ok(seen) if seen.problems.is_empty() => {
                    Recheck::Holds("verified, and still so".to_string())
                }
                Ok(seen) => Recheck::DoesNotHold(seen.problems.join("; ")),
                Err(why) => Recheck::DoesNotHold(why),
            })
        })
    }
}
