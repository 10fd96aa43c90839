//! RHOAM's Admin Portal SSO on its default tenant, as its reconciler creates it
//! (integreatly-operator `pkg/products/threescale/reconciler.go`): through
//! `POST /admin/api/account/authentication_providers.json` with kind `keycloak`, name `rhsso`,
//! client `3scale`, site `https://<keycloak-edge route of redhat-rhoam-rhsso>/auth/realms/openshift`,
//! `skip_ssl_certificate_verification` and `published`. It does so only when the tenant has no
//! integration named `rhsso`; so does [`create_rhsso`].

use std::time::Duration;

use anyhow::{Context, Result};

use crate::infra::pg;
use crate::infra::url::redact;

/// RHOAM's Keycloak route (`keycloak-edge` in `redhat-rhoam-rhsso`) under `wildcard`: the host
/// OpenShift gives a route without one, `<name>-<namespace>.<routing subdomain>`.
pub fn rhoam_keycloak_host(wildcard: &str) -> String {
    format!("keycloak-edge-redhat-rhoam-rhsso.{wildcard}")
}

/// Creates RHOAM's `rhsso` on the tenant whose admin domain is `3scale-admin.<wildcard>` in the
/// system database at `url`, unless it has one of that name. Returns whether it created it.
pub async fn create_rhsso(url: &str, wildcard: &str) -> Result<bool> {
    let shown = redact(url);
    let db = pg::connect(url, Duration::from_secs(10)).await?;
    let admin = format!("3scale-admin.{wildcard}");
    let tenant = db
        .query_opt(
            "SELECT id FROM accounts WHERE self_domain = $1 AND provider",
            &[&admin],
        )
        .await
        .with_context(|| format!("finding RHOAM's tenant in {shown}"))?
        .map(|r| r.get::<_, i64>(0))
        .with_context(|| format!("{shown} has no tenant with admin domain {admin}"))?;
    let existing = db
        .query_opt(
            "SELECT 1 FROM authentication_providers WHERE account_id = $1 \
             AND account_type = 'provider' AND (name = 'rhsso' OR system_name = 'rhsso')",
            &[&tenant],
        )
        .await
        .with_context(|| format!("reading the tenant's SSO integrations in {shown}"))?;
    if existing.is_some() {
        return Ok(false);
    }
    let site = format!(
        "https://{}/auth/realms/openshift",
        rhoam_keycloak_host(wildcard)
    );
    // The client secret is the one of RHOAM's KeycloakClient `3scale`; any value stands for it.
    db.execute(
        "INSERT INTO authentication_providers (name, system_name, client_id, client_secret, \
         site, account_id, tenant_id, kind, published, type, skip_ssl_certificate_verification, \
         account_type, created_at, updated_at) VALUES ('rhsso', 'rhsso', '3scale', \
         md5(random()::text), $1, $2, $2, 'keycloak', true, 'AuthenticationProvider::Keycloak', \
         true, 'provider', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')",
        &[&site, &tenant],
    )
    .await
    .with_context(|| format!("creating RHOAM's rhsso integration in {shown}"))?;
    Ok(true)
}
