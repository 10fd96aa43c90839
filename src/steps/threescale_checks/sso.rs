//! `check-sso-integrations`: RHOAM's own Admin Portal SSO is on the default tenant, and what
//! the other integrations point at.
//!
//! RHOAM's reconciler (integreatly-operator, `pkg/products/threescale/reconciler.go`) creates
//! the default tenant's Admin Portal integration through
//! `POST /admin/api/account/authentication_providers.json`: kind `keycloak`, name `rhsso`,
//! client `3scale`, site `https://<keycloak-edge route of redhat-rhoam-rhsso>/auth/realms/openshift`,
//! published. It creates it only when the tenant has none named `rhsso`: a `rhsso` migrated from
//! the source stays as it came, pointing at the source's Keycloak, and RHOAM never replaces it.
//!
//! The step lists the default tenant's Admin Portal integrations with
//! `GET https://3scale-admin.<wildcard>/admin/api/account/authentication_providers.json`
//! and `ADMIN_ACCESS_TOKEN`, and fails when `rhsso` is missing, is not RHOAM's (kind, client,
//! realm, unpublished) or points outside the destination's wildcard domain (a stale one, named
//! with its site). The other integrations (the other tenants', and the Developer Portals')
//! are read from the destination's system database (by URL or through the client pod): those
//! that still point at the source's or the migration cluster's hosts are listed as warnings,
//! to be repointed by their owners. Fact `found`: what was seen (no client secret).
//!
//! Resume re-check: the same reading.

use anyhow::Result;
use serde_json::{Value, json};

use super::super::{StepAction, StepContext};
use super::api::{
    ADMIN_TOKEN_KEY, Answer, ReadOnlyCheck, Verdict, answer, destination_rows, start, text,
};
use crate::runbook::ClusterRole;

/// What RHOAM names its integration, and its client and realm.
pub const RHOAM_NAME: &str = "rhsso";
pub const RHOAM_CLIENT: &str = "3scale";
pub const RHOAM_REALM_PATH: &str = "/auth/realms/openshift";

pub(in crate::steps) static CHECK_SSO_INTEGRATIONS: &dyn StepAction =
    &ReadOnlyCheck(|ctx| Box::pin(find(ctx)));

/// The host of a URL, lowercase, without port.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    Some(host.to_ascii_lowercase())
}

fn under(host: &str, domain: &str) -> bool {
    !domain.is_empty() && (host == domain || host.ends_with(&format!(".{domain}")))
}

/// Why the `rhsso` integration `item` is not RHOAM's, on the destination's `wildcard`; empty
/// when it is.
fn not_rhoams(item: &Value, wildcard: &str, old: &[String]) -> Vec<String> {
    let mut why = Vec::new();
    let site = text(item, "site");
    match host_of(&site) {
        Some(host) if old.iter().any(|d| under(&host, d)) => why.push(format!(
            "it is a stale one migrated from the source: its site {site} is an old cluster's \
             (RHOAM only creates rhsso when the tenant has none, so it will not replace it: \
             delete it, or point it at RHOAM's Keycloak)"
        )),
        Some(host) if !under(&host, wildcard) => why.push(format!(
            "its site {site} is not on the destination's wildcard domain {wildcard}: a stale \
             one, not RHOAM's Keycloak (RHOAM only creates rhsso when the tenant has none)"
        )),
        Some(_) if !site.trim_end_matches('/').ends_with(RHOAM_REALM_PATH) => why.push(format!(
            "its site {site} is not RHOAM's realm ({RHOAM_REALM_PATH})"
        )),
        Some(_) => {}
        None => why.push(format!("its site `{site}` is not a URL")),
    }
    if text(item, "kind") != "keycloak" {
        why.push(format!("its kind is {}, not keycloak", text(item, "kind")));
    }
    if text(item, "client_id") != RHOAM_CLIENT {
        why.push(format!(
            "its client is {}, not {RHOAM_CLIENT}",
            text(item, "client_id")
        ));
    }
    if item["published"] != json!(true) {
        why.push("it is not published".into());
    }
    why
}

/// The old clusters' wildcard domains, from the config.
fn old_domains(ctx: &StepContext) -> Vec<String> {
    [ClusterRole::Source, ClusterRole::MigrationCluster]
        .into_iter()
        .filter_map(|r| ctx.config.cluster(r)?.wildcard_domain.clone())
        .map(|w| w.trim().trim_matches('.').to_ascii_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// The integrations the Admin API does not show: every one but the default tenant's Admin
/// Portal's, from the database, each `[account admin domain, system_name, account_type, site]`.
async fn other_rows(ctx: &StepContext, admin_host: &str) -> Result<Vec<Vec<String>>> {
    let quoted = admin_host.replace('\'', "''");
    destination_rows(
        ctx,
        &format!(
            "SELECT coalesce(a.self_domain, a.id::text), coalesce(ap.system_name, ''), \
                 coalesce(ap.account_type, ''), \
                 concat_ws(' ', ap.site, ap.authorize_url, ap.token_url, ap.user_info_url) \
                 FROM authentication_providers ap JOIN accounts a ON a.id = ap.account_id \
                 WHERE NOT (lower(coalesce(a.self_domain, '')) = '{quoted}' \
                 AND ap.account_type = 'provider') ORDER BY a.id, ap.id"
        ),
        "listing the other SSO integrations",
    )
    .await
}

async fn find(ctx: &StepContext) -> Result<Verdict> {
    let (api, seed, token) = match start(ctx, ADMIN_TOKEN_KEY).await? {
        Ok(started) => started,
        Err(verdict) => return Ok(verdict),
    };
    let admin = api.admin_host();
    let path = "/admin/api/account/authentication_providers.json";
    ctx.sink
        .info(format!("GET https://{admin}{path}{}", api.through));
    let response = api.client.get(&admin, path, &token).await?;
    let body = match answer(&response, &seed, ADMIN_TOKEN_KEY)? {
        Answer::Ok(body) => body,
        Answer::Refused(why) => {
            return Ok(Verdict::failed(
                why,
                json!({ "admin_host": admin, "status": response.status }),
            ));
        }
    };
    let items: Vec<Value> = body["authentication_providers"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| i["authentication_provider"].clone())
                .collect()
        })
        .unwrap_or_default();
    let shown: Vec<Value> = items
        .iter()
        .map(|i| {
            json!({
                "system_name": text(i, "system_name"),
                "name": text(i, "name"),
                "kind": text(i, "kind"),
                "client_id": text(i, "client_id"),
                "site": text(i, "site"),
                "published": i["published"],
            })
        })
        .collect();
    for i in &shown {
        ctx.sink.info(format!(
            "admin portal SSO of {admin}: {} ({}, client {}, {}, {})",
            text(i, "system_name"),
            text(i, "kind"),
            text(i, "client_id"),
            text(i, "site"),
            if i["published"] == json!(true) {
                "published"
            } else {
                "not published"
            }
        ));
    }

    let old = old_domains(ctx);
    let mut stale_elsewhere = Vec::new();
    // The tenant's own other Admin Portal integrations, as the API showed them, then the rest
    // from the database.
    let mut rows: Vec<Vec<String>> = items
        .iter()
        .filter(|i| text(i, "system_name") != RHOAM_NAME && text(i, "name") != RHOAM_NAME)
        .map(|i| {
            let urls = ["site", "authorize_url", "token_url", "user_info_url"]
                .map(|k| text(i, k))
                .join(" ");
            vec![
                admin.clone(),
                text(i, "system_name"),
                "provider".into(),
                urls,
            ]
        })
        .collect();
    rows.extend(other_rows(ctx, &admin).await?);
    for row in rows {
        let [domain, system_name, account_type, urls] = row.as_slice() else {
            continue;
        };
        let old_hosts: Vec<String> = urls
            .split_whitespace()
            .filter_map(host_of)
            .filter(|h| old.iter().any(|d| under(h, d)))
            .collect();
        if !old_hosts.is_empty() {
            let line = format!(
                "{domain}: {account_type} portal SSO {system_name} still points at {}",
                old_hosts.join(", ")
            );
            ctx.sink.warn(&line);
            stale_elsewhere.push(line);
        }
    }
    let fact = json!({
        "admin_host": admin,
        "admin_portal": shown,
        "old_hosts_elsewhere": stale_elsewhere,
    });
    let rhsso = items
        .iter()
        .find(|i| text(i, "system_name") == RHOAM_NAME || text(i, "name") == RHOAM_NAME);
    let Some(rhsso) = rhsso else {
        return Ok(Verdict::failed(
            format!(
                "RHOAM's Admin Portal SSO `{RHOAM_NAME}` is not on its default tenant ({admin}): \
                 RHOAM's operator creates it when it reconciles 3scale; check that it runs and \
                 reconciles (redhat-rhoam-operator)"
            ),
            fact,
        ));
    };
    let why = not_rhoams(rhsso, &api.wildcard, &old);
    if !why.is_empty() {
        return Ok(Verdict::failed(
            format!(
                "the `{RHOAM_NAME}` SSO integration of {admin} (id {}) is not RHOAM's: {}",
                text(rhsso, "id"),
                why.join("; ")
            ),
            fact,
        ));
    }
    let elsewhere = if stale_elsewhere.is_empty() {
        String::new()
    } else {
        format!(
            "; {} other integration(s) still point at an old cluster (listed in the log) for \
             their owners to repoint",
            stale_elsewhere.len()
        )
    };
    Ok(Verdict::passed(
        format!(
            "RHOAM's `{RHOAM_NAME}` SSO is on {admin}: keycloak, client {RHOAM_CLIENT}, {}, \
             published{elsewhere}",
            text(rhsso, "site")
        ),
        fact,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rhsso(site: &str) -> Value {
        json!({"kind": "keycloak", "client_id": "3scale", "published": true, "site": site})
    }

    #[test]
    fn rhoams_rhsso_is_on_the_destination_and_a_migrated_one_is_stale() {
        let old = vec!["apps.source.test".to_string()];
        let ok =
            rhsso("https://keycloak-edge-redhat-rhoam-rhsso.apps.dest.test/auth/realms/openshift");
        assert!(not_rhoams(&ok, "apps.dest.test", &old).is_empty());
        let stale = rhsso("https://keycloak-rhsso.apps.source.test/auth/realms/openshift");
        let why = not_rhoams(&stale, "apps.dest.test", &old).join(" ");
        assert!(why.contains("stale"), "{why}");
        let elsewhere = rhsso("https://sso.example.com/auth/realms/openshift");
        assert!(!not_rhoams(&elsewhere, "apps.dest.test", &old).is_empty());
        assert_eq!(host_of("https://u@H.x:8443/p"), Some("h.x".into()));
    }
}
