//! `check-master-access` and `check-default-tenant`: RHOAM's 3scale answers its master and its
//! default tenant's APIs with the tokens of the destination's system-seed.
//!
//! - `check-master-access`: `GET https://<MASTER_DOMAIN>.<wildcard>/master/api/providers/{id}.json`
//!   with `MASTER_ACCESS_TOKEN`, `{id}` the default tenant's account (the provider whose admin
//!   domain is `3scale-admin.<wildcard>`, read from the destination's system database,
//!   by URL or through the client pod, as the seed reaches it). porta's Master API answers with
//!   the tenant (`{"signup":{"account":{…}}}`) only on master's domain and to a token of
//!   master's users: that the token in the secret and the seeded database agree.
//! - `check-default-tenant`: `GET https://3scale-admin.<wildcard>/admin/api/provider.json`
//!   with `ADMIN_ACCESS_TOKEN`: the account behind RHOAM's host exists, its admin domain is
//!   that host, and it is approved (porta refuses the API to an account that is not, with 403
//!   and no body).
//!
//! Both record fact `found` (hosts, ids, states; never a token) and are re-run on resume.

use anyhow::Result;
use serde_json::json;

use super::super::{StepAction, StepContext};
use super::api::{
    ADMIN_TOKEN_KEY, Answer, MASTER_TOKEN_KEY, RHOAM_TENANT, ReadOnlyCheck, Verdict, answer,
    destination_rows, start, text,
};

pub(in crate::steps) static CHECK_MASTER_ACCESS: &dyn StepAction =
    &ReadOnlyCheck(|ctx| Box::pin(master_access(ctx)));
pub(in crate::steps) static CHECK_DEFAULT_TENANT: &dyn StepAction =
    &ReadOnlyCheck(|ctx| Box::pin(default_tenant(ctx)));

/// The id of the provider account whose admin domain is `host`, from the destination's system
/// database.
async fn tenant_id(ctx: &StepContext, host: &str) -> Result<Option<String>> {
    // The host is a DNS name built from the config and the secret: quoted as a literal.
    let quoted = host.replace('\'', "''");
    let rows = destination_rows(
        ctx,
        &format!(
            "SELECT id::text FROM accounts WHERE lower(self_domain) = '{quoted}' \
             AND provider AND NOT coalesce(master, false) ORDER BY id LIMIT 1"
        ),
        "finding the default tenant's account",
    )
    .await;
    Ok(rows?.into_iter().next().and_then(|r| r.into_iter().next()))
}

async fn master_access(ctx: &StepContext) -> Result<Verdict> {
    let (api, seed, token) = match start(ctx, MASTER_TOKEN_KEY).await? {
        Ok(started) => started,
        Err(verdict) => return Ok(verdict),
    };
    let master = api.master_host(&seed);
    let admin = api.admin_host();
    let Some(id) = tenant_id(ctx, &admin).await? else {
        return Ok(Verdict::failed(
            format!(
                "the destination's database has no provider account with admin domain {admin} \
                 (RHOAM's default tenant), whose id the master API is asked for"
            ),
            json!({ "master_host": master, "tenant_admin_domain": admin }),
        ));
    };
    let path = format!("/master/api/providers/{id}.json");
    ctx.sink
        .info(format!("GET https://{master}{path}{}", api.through));
    let response = api.client.get(&master, &path, &token).await?;
    let fact = json!({
        "master_host": master,
        "tenant_id": id,
        "status": response.status,
    });
    Ok(match answer(&response, &seed, MASTER_TOKEN_KEY)? {
        Answer::Refused(why) => Verdict::failed(why, fact),
        Answer::Ok(body) => {
            let account = &body["signup"]["account"];
            let seen = text(account, "admin_domain");
            let mut fact = fact;
            fact["tenant_admin_domain"] = json!(seen);
            fact["tenant_state"] = json!(text(account, "state"));
            if text(account, "id") != id {
                Verdict::failed(
                    format!(
                        "{} answered with account {}, not the tenant {id} it was asked for",
                        response.url,
                        text(account, "id")
                    ),
                    fact,
                )
            } else {
                Verdict::passed(
                    format!(
                        "the master API on {master} accepts {} and shows tenant {id} \
                         ({seen})",
                        seed.named(MASTER_TOKEN_KEY)
                    ),
                    fact,
                )
            }
        }
    })
}

async fn default_tenant(ctx: &StepContext) -> Result<Verdict> {
    let (api, seed, token) = match start(ctx, ADMIN_TOKEN_KEY).await? {
        Ok(started) => started,
        Err(verdict) => return Ok(verdict),
    };
    let admin = api.admin_host();
    let path = "/admin/api/provider.json";
    ctx.sink
        .info(format!("GET https://{admin}{path}{}", api.through));
    let response = api.client.get(&admin, path, &token).await?;
    let fact = json!({ "admin_host": admin, "status": response.status });
    if seed.tenant_name() != RHOAM_TENANT {
        ctx.sink.warn(format!(
            "system-seed's TENANT_NAME is {}: RHOAM still drives its tenant through {admin}",
            seed.tenant_name()
        ));
    }
    Ok(match answer(&response, &seed, ADMIN_TOKEN_KEY)? {
        Answer::Refused(why) => {
            Verdict::failed(format!("RHOAM's default tenant ({admin}): {why}"), fact)
        }
        Answer::Ok(body) => {
            let account = &body["account"];
            let state = text(account, "state");
            let domain = text(account, "admin_domain");
            let mut fact = fact;
            fact["id"] = json!(text(account, "id"));
            fact["state"] = json!(state);
            fact["admin_domain"] = json!(domain);
            if !domain.eq_ignore_ascii_case(&admin) {
                Verdict::failed(
                    format!(
                        "{} answered for an account whose admin domain is {domain}, not {admin}",
                        response.url
                    ),
                    fact,
                )
            } else if state != "approved" {
                Verdict::failed(
                    format!(
                        "RHOAM's default tenant ({admin}, account {}) is {state}, not approved: \
                         approve it in the master portal (Accounts → the tenant → Approve)",
                        text(account, "id")
                    ),
                    fact,
                )
            } else {
                Verdict::passed(
                    format!(
                        "RHOAM's default tenant answers on {admin} (account {}, approved) to {}",
                        text(account, "id"),
                        seed.named(ADMIN_TOKEN_KEY)
                    ),
                    fact,
                )
            }
        }
    })
}
