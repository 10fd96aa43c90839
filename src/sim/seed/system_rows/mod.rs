//! The rows of the seeded system database, built from the [`Model`] and the wildcard domain the
//! way 3scale derives its hosts from it (porta's `db/schema.rb` and its domain settings).

mod accounts;
mod gateway;
mod hosts;
mod products;
mod sso;
mod tokens;

use chrono::{DateTime, Duration, Utc};

use super::copy::{Rows, s};
use super::model::Model;

pub(super) use gateway::oidc_issuer;
pub(super) use hosts::Hosts;
pub use tokens::SeedTokens;

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
