//! The rows of the seeded system database, built from the [`Model`] and the wildcard domain the
//! way 3scale derives its hosts from it (reference/threescale.md §1a–1b, §2).

mod accounts;
mod gateway;
mod products;
mod sso;

use chrono::{DateTime, Duration, Utc};

use super::copy::{Rows, s};
use super::model::{Model, Service, TENANT_NAME};

pub(super) use gateway::oidc_issuer;

/// The host names 3scale builds from the wildcard domain (`THREESCALE_SUPERDOMAIN`).
pub(super) struct Hosts {
    pub wildcard: String,
}

impl Hosts {
    pub fn master(&self) -> String {
        format!("master.{}", self.wildcard)
    }
    pub fn tenant(&self) -> String {
        format!("{TENANT_NAME}.{}", self.wildcard)
    }
    pub fn tenant_admin(&self) -> String {
        format!("{TENANT_NAME}-admin.{}", self.wildcard)
    }
    pub fn backend(&self) -> String {
        format!("backend-{TENANT_NAME}.{}", self.wildcard)
    }
    /// The RH-SSO (Keycloak) route of the installation, which lives under the same wildcard.
    pub fn sso(&self) -> String {
        format!("keycloak-rhsso.{}", self.wildcard)
    }
    pub fn apicast(&self, service: &Service, environment: &str) -> String {
        format!(
            "{}-{TENANT_NAME}-apicast-{environment}.{}",
            service.system_name, self.wildcard
        )
    }
}

pub(super) fn build(model: &Model, hosts: &Hosts, now: DateTime<Utc>) -> Vec<Rows> {
    let at = |days_ago: i64| s(stamp(now - Duration::days(days_ago)));
    vec![
        accounts::accounts(model, hosts, &at),
        accounts::users(model, hosts, &at),
        accounts::settings(hosts, &at),
        accounts::provider_constraints(&at),
        products::services(model, &at),
        products::metrics(model, &at),
        products::plans(model, &at),
        products::usage_limits(model, &at),
        products::cinstances(model, hosts, &at),
        gateway::proxies(model, hosts, &at),
        gateway::proxy_configs(model, hosts, &at),
        gateway::backend_apis(model, hosts, &at),
        gateway::backend_api_configs(model, &at),
        gateway::api_docs_services(model, hosts, &at),
        sso::authentication_providers(hosts, &at),
        accounts::access_tokens(&at),
        accounts::web_hooks(hosts, &at),
    ]
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

pub(super) type At<'a> = &'a dyn Fn(i64) -> Option<String>;
