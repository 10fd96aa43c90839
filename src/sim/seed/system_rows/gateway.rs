//! Rows of the API gateway configuration: proxies and their promoted configurations, backends
//! and API docs, with every public host derived from the wildcard domain.

use serde_json::json;

use super::super::copy::{Rows, b, n, s};
use super::super::model::{Model, Service, TENANT_ACCOUNT_ID, TENANT_ADMIN_ID, hex};
use super::hosts::{At, Hosts};

pub(super) fn endpoint(hosts: &Hosts, svc: &Service, environment: &str) -> String {
    format!("https://{}:443", hosts.apicast(svc, environment))
}

/// `client:secret@host`, as operators paste the issuer of an OIDC product.
pub(crate) fn oidc_issuer(hosts: &Hosts, svc: &Service) -> Option<String> {
    (svc.backend_version == "oidc").then(|| {
        format!(
            "https://zync:{}@{}/auth/realms/3scale-api",
            hex(0x0d, svc.id as u64, 24),
            hosts.sso()
        )
    })
}

pub(super) fn policy_chain(hosts: &Hosts, svc: &Service) -> serde_json::Value {
    let mut chain = vec![json!({
        "name": "apicast", "version": "builtin", "configuration": {}, "enabled": true
    })];
    if svc.id % 2 == 0 {
        chain.insert(
            0,
            json!({
                "name": "upstream", "version": "builtin", "enabled": true,
                "configuration": {"rules": [{
                    "regex": "^/legacy", "url": format!("https://legacy-api.{}", hosts.wildcard)
                }]}
            }),
        );
    }
    serde_json::Value::Array(chain)
}

pub(super) fn proxies(model: &Model, hosts: &Hosts, at: At) -> Rows {
    let mut rows = Rows::new(
        "proxies",
        &[
            "id",
            "tenant_id",
            "service_id",
            "endpoint",
            "deployed_at",
            "credentials_location",
            "created_at",
            "updated_at",
            "secret_token",
            "sandbox_endpoint",
            "api_test_path",
            "oidc_issuer_endpoint",
            "authentication_method",
            "policies_config",
            "staging_domain",
            "production_domain",
        ],
    );
    for svc in &model.services {
        rows.push(vec![
            n(svc.proxy_id),
            n(TENANT_ACCOUNT_ID),
            n(svc.id),
            s(endpoint(hosts, svc, "production")),
            at(10),
            s(if svc.id % 2 == 0 { "headers" } else { "query" }),
            at(350),
            at(10),
            s(format!(
                "Shared_secret_sent_from_proxy_to_API_backend_{}",
                hex(0x5e, svc.id as u64, 16)
            )),
            s(endpoint(hosts, svc, "staging")),
            s("/"),
            oidc_issuer(hosts, svc),
            s(svc.backend_version),
            s(policy_chain(hosts, svc).to_string()),
            s(hosts.apicast(svc, "staging")),
            s(hosts.apicast(svc, "production")),
        ]);
    }
    rows
}

/// The JSON snapshot porta stores for each promoted configuration: the service with its proxy,
/// the proxy's public hosts and the backend route, all derived from the wildcard domain.
pub(super) fn proxy_config_content(
    hosts: &Hosts,
    svc: &Service,
    environment: &str,
    version: i64,
) -> String {
    let host = hosts.apicast(
        svc,
        if environment == "sandbox" {
            "staging"
        } else {
            "production"
        },
    );
    let backend = hosts.backend();
    json!({
        "id": svc.id,
        "account_id": TENANT_ACCOUNT_ID,
        "name": svc.name,
        "system_name": svc.system_name,
        "backend_version": svc.backend_version,
        "backend_authentication_type": "service_token",
        "backend_authentication_value": svc.service_token,
        "proxy": {
            "id": svc.proxy_id,
            "tenant_id": TENANT_ACCOUNT_ID,
            "service_id": svc.id,
            "endpoint": endpoint(hosts, svc, "production"),
            "sandbox_endpoint": endpoint(hosts, svc, "staging"),
            "api_backend": "https://echo-api.3scale.net:443",
            "auth_app_key": "app_key",
            "auth_app_id": "app_id",
            "auth_user_key": "user_key",
            "credentials_location": if svc.id % 2 == 0 { "headers" } else { "query" },
            "oidc_issuer_endpoint": oidc_issuer(hosts, svc),
            "hosts": [host],
            "backend": {"endpoint": format!("https://{backend}"), "host": backend},
            "policy_chain": policy_chain(hosts, svc),
            "proxy_rules": [{
                "id": svc.id * 10, "http_method": "GET", "pattern": "/",
                "metric_id": svc.metrics.first().map(|m| m.id), "metric_system_name": "hits",
                "delta": 1, "last": false, "position": 1
            }],
            "lock_version": version,
        }
    })
    .to_string()
}

pub(super) fn proxy_configs(model: &Model, hosts: &Hosts, at: At) -> Rows {
    let mut rows = Rows::new(
        "proxy_configs",
        &[
            "id",
            "proxy_id",
            "user_id",
            "version",
            "tenant_id",
            "environment",
            "content",
            "created_at",
            "updated_at",
            "hosts",
        ],
    );
    let mut id = 0;
    for svc in &model.services {
        // Two sandbox versions (the older one historical) and the promoted production one.
        for (environment, version, days) in [
            ("sandbox", 1, 60),
            ("sandbox", 2, 10),
            ("production", 1, 10),
        ] {
            id += 1;
            let host = hosts.apicast(
                svc,
                if environment == "sandbox" {
                    "staging"
                } else {
                    "production"
                },
            );
            rows.push(vec![
                n(id),
                n(svc.proxy_id),
                n(TENANT_ADMIN_ID),
                n(version),
                n(TENANT_ACCOUNT_ID),
                s(environment),
                s(proxy_config_content(hosts, svc, environment, version)),
                at(days),
                at(days),
                s(format!("|{host}|")),
            ]);
        }
    }
    rows
}

pub(super) fn backend_apis(model: &Model, hosts: &Hosts, at: At) -> Rows {
    let mut rows = Rows::new(
        "backend_apis",
        &[
            "id",
            "name",
            "system_name",
            "description",
            "private_endpoint",
            "account_id",
            "created_at",
            "updated_at",
            "tenant_id",
            "state",
        ],
    );
    for (i, svc) in model.services.iter().enumerate() {
        // Upstreams of three kinds: public, in-cluster, and one on the wildcard domain.
        let upstream = match i % 3 {
            0 => "https://echo-api.3scale.net:443".to_string(),
            1 => format!("http://{}.apis.svc.cluster.local:8080", svc.system_name),
            _ => format!("https://{}-backend.{}:443", svc.system_name, hosts.wildcard),
        };
        rows.push(vec![
            n(svc.backend_api_id),
            s(format!("{} Backend", svc.name)),
            s(&svc.system_name),
            s(format!("Backend of {}", svc.name)),
            s(upstream),
            n(TENANT_ACCOUNT_ID),
            at(350),
            at(30),
            n(TENANT_ACCOUNT_ID),
            s("published"),
        ]);
    }
    rows
}

pub(super) fn backend_api_configs(model: &Model, at: At) -> Rows {
    let mut rows = Rows::new(
        "backend_api_configs",
        &[
            "id",
            "path",
            "service_id",
            "backend_api_id",
            "created_at",
            "updated_at",
            "tenant_id",
        ],
    );
    for svc in &model.services {
        rows.push(vec![
            n(svc.backend_api_id),
            s("/"),
            n(svc.id),
            n(svc.backend_api_id),
            at(350),
            at(350),
            n(TENANT_ACCOUNT_ID),
        ]);
    }
    rows
}

pub(super) fn api_docs_services(model: &Model, hosts: &Hosts, at: At) -> Rows {
    let mut rows = Rows::new(
        "api_docs_services",
        &[
            "id",
            "account_id",
            "tenant_id",
            "name",
            "body",
            "published",
            "created_at",
            "updated_at",
            "system_name",
            "swagger_version",
            "service_id",
        ],
    );
    for (i, svc) in model.services.iter().enumerate() {
        let body = json!({
            "openapi": "3.0.2",
            "info": {"title": svc.name, "version": "1.0.0"},
            "servers": [
                {"url": format!("https://{}", hosts.apicast(svc, "production"))},
                {"url": format!("https://{}", hosts.apicast(svc, "staging"))}
            ],
            "paths": {"/orders": {"get": {
                "summary": "List orders",
                "parameters": [{"name": "user_key", "in": "query", "required": true,
                                "schema": {"type": "string"}}],
                "responses": {"200": {"description": "OK"}}
            }}}
        });
        rows.push(vec![
            n(i64::try_from(i).unwrap_or(0) + 1),
            n(TENANT_ACCOUNT_ID),
            n(TENANT_ACCOUNT_ID),
            s(format!("{} spec", svc.name)),
            s(body.to_string()),
            b(true),
            at(300),
            at(20),
            s(format!("{}_spec", svc.system_name)),
            s("3.0"),
            n(svc.id),
        ]);
    }
    rows
}
