//! `check-master-plan`: the master account holds porta's "Master Plan" on master's service, and
//! every tenant (provider account) holds the plan RHOAM's 3scale gives new tenants,
//! `PROVIDER_PLAN` of configmap `system-environment` ("enterprise" by default).
//!
//! porta's db:seed creates both plans on master's service: "Master Plan" (`MASTER_PLAN`),
//! which master is contracted with, and `PROVIDER_PLAN`, the service's default application
//! plan, which the default tenant is upgraded to (`force_upgrade_to_provider_plan!`). Who holds
//! which plan is read from the destination's system database (by URL, or through the client
//! pod, as the seed reaches it): each account's application (`cinstances.type = 'Cinstance'`)
//! on one of master's services. The Master API shows no account's plan, so it is used only for
//! the fix.
//!
//! The fix, offered only when a tenant holds another plan and the `PROVIDER_PLAN` plan is one
//! of master's stock plans: the operator types `upgrade N tenant(s) to <plan>` and each is moved
//! with porta's `PUT /master/api/providers/{id}/plan_upgrade.json` (`plan_id`) with
//! `MASTER_ACCESS_TOKEN`, which also sets the plan's switches and limits; then the database is
//! read again. The plans found are recorded (fact `found`) before anything changes. Answering
//! `leave the plans` leaves the step failed with nothing changed. Master's own contract has no
//! API (porta upgrades providers only): a wrong one fails the step with the console command
//! that fixes it.
//!
//! Resume re-check: the same reading, nothing changed.

use anyhow::Result;
use serde_json::{Value, json};

use super::super::pgdump::{close, system_database};
use super::super::{Question, Recheck, StepAction, StepContext, StepFuture, StepResult};
use super::api::{Answer, Api, FACT, MASTER_TOKEN_KEY, Seed, Verdict, answer};
use crate::runbook::ClusterRole;

/// porta's db:seed's name of master's own plan (`MASTER_PLAN`'s default).
pub const MASTER_PLAN: &str = "Master Plan";
/// The answer that declines the fix.
pub const LEAVE: &str = "leave the plans";
/// `PROVIDER_PLAN`'s default, in porta's db:seed and the operator's `system-environment`.
pub const DEFAULT_PROVIDER_PLAN: &str = "enterprise";

struct MasterPlan;

pub(in crate::steps) static CHECK_MASTER_PLAN: &dyn StepAction = &MasterPlan;

/// One account's contract on master's service.
#[derive(Clone, Debug)]
struct Holding {
    id: String,
    org_name: String,
    master: bool,
    plan_id: String,
    plan: String,
    system_name: String,
}

impl Holding {
    fn on(&self, plan: &str) -> bool {
        self.plan == plan || self.system_name == plan
    }

    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "org_name": self.org_name,
            "master": self.master,
            "plan": self.plan,
            "plan_system_name": self.system_name,
        })
    }
}

/// A stock application plan of master's.
#[derive(Clone, Debug)]
struct Plan {
    id: String,
    name: String,
    system_name: String,
}

struct Reading {
    provider_plan: String,
    holdings: Vec<Holding>,
    plans: Vec<Plan>,
}

impl Reading {
    fn wrong_master(&self) -> Vec<&Holding> {
        self.holdings
            .iter()
            .filter(|h| h.master && !h.on(MASTER_PLAN))
            .collect()
    }

    fn wrong_tenants(&self) -> Vec<&Holding> {
        self.holdings
            .iter()
            .filter(|h| !h.master && !h.on(&self.provider_plan))
            .collect()
    }

    fn target(&self) -> Option<&Plan> {
        self.plans
            .iter()
            .find(|p| p.system_name == self.provider_plan)
            .or_else(|| self.plans.iter().find(|p| p.name == self.provider_plan))
    }

    fn fact(&self) -> Value {
        json!({
            "provider_plan": self.provider_plan,
            "accounts": self.holdings.iter().map(Holding::json).collect::<Vec<_>>(),
        })
    }

    fn verdict(&self) -> Verdict {
        let fact = self.fact();
        let masters = self.holdings.iter().filter(|h| h.master).count();
        let tenants = self.holdings.len() - masters;
        if masters == 0 {
            return Verdict::failed(
                "the destination's database shows no application of the master account on \
                 master's service: porta's db:seed contracts master with \"Master Plan\""
                    .into(),
                fact,
            );
        }
        let mut wrong: Vec<String> = self
            .wrong_master()
            .iter()
            .map(|h| {
                format!(
                    "the master account ({}) holds \"{}\", not \"{MASTER_PLAN}\" (porta has no \
                     API for master's own contract: in a system-app pod, `bundle exec rails \
                     runner 'Account.master.bought_cinstance.change_plan!(Account.master.\
                     application_plans.find_by!(name: \"{MASTER_PLAN}\"))'`)",
                    h.id, h.plan
                )
            })
            .collect();
        wrong.extend(self.wrong_tenants().iter().map(|h| {
            format!(
                "tenant {} ({}) holds \"{}\", not PROVIDER_PLAN \"{}\"",
                h.id, h.org_name, h.plan, self.provider_plan
            )
        }));
        if wrong.is_empty() {
            Verdict::passed(
                format!(
                    "the master account holds \"{MASTER_PLAN}\" and the {tenants} tenant(s) \
                     PROVIDER_PLAN \"{}\" on master's service",
                    self.provider_plan
                ),
                fact,
            )
        } else {
            Verdict::failed(wrong.join("; "), fact)
        }
    }
}

/// `PROVIDER_PLAN` of the destination's `system-environment`, its default when absent.
async fn provider_plan(ctx: &StepContext) -> Result<String> {
    let kube = ctx.cluster(ClusterRole::Destination).await?;
    let map = kube.get_configmap(None, "system-environment").await?;
    Ok(map
        .and_then(|m| m.data)
        .and_then(|d| d.get("PROVIDER_PLAN").cloned())
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_PROVIDER_PLAN.into()))
}

async fn read(ctx: &StepContext) -> Result<Reading> {
    let provider_plan = provider_plan(ctx).await?;
    let reporter = ctx.sink.reporter();
    let target = system_database(ctx, ClusterRole::Destination, &reporter.report()).await?;
    // Master and the providers master provides, each with its application on one of master's
    // services (porta: `bought_cinstance`).
    let holdings = target
        .rows(
            "SELECT a.id::text, coalesce(a.org_name, ''), coalesce(a.master, false)::text, \
             p.id::text, coalesce(p.name, ''), coalesce(p.system_name, '') \
             FROM accounts a \
             JOIN accounts m ON m.master \
             JOIN cinstances c ON c.user_account_id = a.id AND c.type = 'Cinstance' \
             JOIN services s ON s.id = c.service_id AND s.account_id = m.id \
             JOIN plans p ON p.id = c.plan_id \
             WHERE a.master OR (a.provider AND a.provider_account_id = m.id) \
             ORDER BY a.id, c.id",
            "reading who holds which plan on master's service",
        )
        .await;
    let plans = target
        .rows(
            "SELECT p.id::text, coalesce(p.name, ''), coalesce(p.system_name, '') FROM plans p \
             JOIN services s ON s.id = p.issuer_id JOIN accounts m ON m.id = s.account_id \
             WHERE m.master AND p.type = 'ApplicationPlan' AND p.issuer_type = 'Service' \
             AND coalesce(p.original_id, 0) = 0 ORDER BY p.id",
            "reading master's application plans",
        )
        .await;
    close(ctx, target).await;
    let holdings = holdings?
        .into_iter()
        .filter_map(|r| match r.as_slice() {
            [id, org, master, plan_id, plan, system_name] => Some(Holding {
                id: id.clone(),
                org_name: org.clone(),
                master: master == "true",
                plan_id: plan_id.clone(),
                plan: plan.clone(),
                system_name: system_name.clone(),
            }),
            _ => None,
        })
        .collect();
    let plans = plans?
        .into_iter()
        .filter_map(|r| match r.as_slice() {
            [id, name, system_name] => Some(Plan {
                id: id.clone(),
                name: name.clone(),
                system_name: system_name.clone(),
            }),
            _ => None,
        })
        .collect();
    Ok(Reading {
        provider_plan,
        holdings,
        plans,
    })
}

/// Moves each of `tenants` to `plan` with porta's plan_upgrade; Err(text) on a refusal.
async fn upgrade(
    ctx: &StepContext,
    tenants: &[Holding],
    plan: &Plan,
) -> Result<std::result::Result<(), String>> {
    let api = match Api::new(ctx)? {
        Ok(api) => api,
        Err(why) => return Ok(Err(why)),
    };
    let seed = Seed::read(ctx).await?;
    let token = seed.token(MASTER_TOKEN_KEY)?;
    let master = api.master_host(&seed);
    for tenant in tenants {
        let path = format!("/master/api/providers/{}/plan_upgrade.json", tenant.id);
        ctx.sink.info(format!(
            "PUT https://{master}{path} plan_id={} ({}){}",
            plan.id, plan.name, api.through
        ));
        let response = api
            .client
            .put_form(&master, &path, &[("plan_id", &plan.id)], &token)
            .await?;
        match answer(&response, &seed, MASTER_TOKEN_KEY)? {
            Answer::Ok(_) => ctx.sink.info(format!(
                "tenant {} ({}) moved from \"{}\" to \"{}\"",
                tenant.id, tenant.org_name, tenant.plan, plan.name
            )),
            Answer::Refused(why) => {
                return Ok(Err(format!(
                    "moving tenant {} to \"{}\" failed: {why}",
                    tenant.id, plan.name
                )));
            }
        }
    }
    Ok(Ok(()))
}

impl StepAction for MasterPlan {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            let reading = read(ctx).await?;
            for h in &reading.holdings {
                ctx.sink.info(format!(
                    "account {} ({}{}) holds \"{}\" (plan {})",
                    h.id,
                    h.org_name,
                    if h.master { ", master" } else { "" },
                    h.plan,
                    h.plan_id
                ));
            }
            let verdict = reading.verdict();
            let tenants: Vec<Holding> = reading.wrong_tenants().into_iter().cloned().collect();
            if verdict.ok || tenants.is_empty() || !reading.wrong_master().is_empty() {
                return verdict.result(ctx);
            }
            let Some(plan) = reading.target().cloned() else {
                let mut verdict = verdict;
                verdict.summary = format!(
                    "{}. Master's service has no stock plan \"{}\" to move them to",
                    verdict.summary, reading.provider_plan
                );
                return verdict.result(ctx);
            };
            // What was found goes to the journal before anything changes.
            ctx.sink.record_fact(FACT, reading.fact())?;
            ctx.sink.warn(&verdict.summary);
            let n = tenants.len();
            let phrase = format!(
                "upgrade {n} tenant{} to {}",
                if n == 1 { "" } else { "s" },
                plan.system_name
            );
            let names: Vec<String> = tenants
                .iter()
                .map(|t| format!("{} ({}, on \"{}\")", t.id, t.org_name, t.plan))
                .collect();
            let question = Question {
                text: format!(
                    "{}. porta's Master API can move them to \"{}\" (PUT \
                     /master/api/providers/{{id}}/plan_upgrade.json, which also sets the \
                     plan's switches and limits): {}. Type `{phrase}` to do it, or \
                     `{LEAVE}` to leave the plans as they are (the step fails): ",
                    verdict.summary,
                    plan.name,
                    crate::format::first_of(&names, 10)
                ),
                phrase: phrase.clone(),
                alternatives: vec![LEAVE.to_string()],
            };
            match ctx.sink.ask(question).await? {
                Some(answer) if answer.trim() == phrase => ctx.sink.info(format!(
                    "the operator typed `{phrase}`: moving the tenants to PROVIDER_PLAN"
                )),
                Some(_) => {
                    let why = format!(
                        "{}; the operator chose to leave the plans as they are: nothing was \
                         changed",
                        verdict.summary
                    );
                    ctx.sink.error(&why);
                    return Ok(StepResult::failed(why, serde_json::Map::new()));
                }
                None => {
                    return Ok(StepResult::stopped(format!(
                        "{}; stopped before moving the tenants: nothing was changed",
                        verdict.summary
                    )));
                }
            }
            if let Err(why) = upgrade(ctx, &tenants, &plan).await? {
                ctx.sink.error(&why);
                return Ok(StepResult::failed(why, serde_json::Map::new()));
            }
            let after = read(ctx).await?.verdict();
            let mut result = after.result(ctx)?;
            if result.outcome == crate::runbook::Outcome::Passed {
                result.summary = format!(
                    "{}; moved {n} tenant(s) to \"{}\" with porta's plan_upgrade",
                    result.summary, plan.name
                );
            }
            Ok(result)
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move { Ok(read(ctx).await?.verdict().recheck()) })
    }
}
