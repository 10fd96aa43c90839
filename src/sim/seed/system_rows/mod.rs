//! The rows of the seeded system database, built from the [`Model`] and the wildcard domain the
//! way 3scale derives its hosts from it (porta's `db/schema.rb` and its domain settings).

mod accounts;
mod gateway;
mod hosts;
mod products;
mod sso;

use chrono::{DateTime, Duration, Utc};

use super::copy::{Rows, s};
use super::model::Model;

pub(super) use gateway::oidc_issuer;
pub(super) use hosts::Hosts;

/// The values of the access tokens porta's `db:seed` creates from the installation's
/// system-seed and system-master-apicast secrets: the master user's "Master Token"
/// (`MASTER_ACCESS_TOKEN`), its read-only "APIcast" token (`APICAST_ACCESS_TOKEN`, the
/// `ACCESS_TOKEN` of system-master-apicast) and the tenant admin's "Administration" token
/// (`ADMIN_ACCESS_TOKEN`). A sandbox seeds its database with its secrets' values, as an
/// installation's database and secrets agree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedTokens {
    pub master: String,
    pub apicast: String,
    pub admin: String,
}

impl Default for SeedTokens {
    fn default() -> SeedTokens {
        SeedTokens {
            apicast: accounts::token_value(1),
            master: accounts::token_value(2),
            admin: accounts::token_value(3),
        }
    }
}

impl SeedTokens {
    /// The tokens of an installation's objects: `MASTER_ACCESS_TOKEN` and `ADMIN_ACCESS_TOKEN`
    /// of secret system-seed, `ACCESS_TOKEN` of system-master-apicast; None when one is
    /// missing.
    pub fn of_objects(objects: &[serde_json::Value]) -> Option<SeedTokens> {
        let value = |secret: &str, key: &str| -> Option<String> {
            use base64::Engine;
            let object = objects.iter().find(|o| {
                o["kind"] == "Secret" && o["metadata"]["name"].as_str() == Some(secret)
            })?;
            let text = object["data"][key].as_str()?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .ok()?;
            String::from_utf8(bytes).ok()
        };
        Some(SeedTokens {
            master: value("system-seed", "MASTER_ACCESS_TOKEN")?,
            admin: value("system-seed", "ADMIN_ACCESS_TOKEN")?,
            apicast: value("system-master-apicast", "ACCESS_TOKEN")?,
        })
    }
}

pub(super) fn build(
    model: &Model,
    hosts: &Hosts,
    tokens: &SeedTokens,
    now: DateTime<Utc>,
) -> Vec<Rows> {
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
        accounts::access_tokens(tokens, &at),
        accounts::web_hooks(hosts, &at),
    ]
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}
