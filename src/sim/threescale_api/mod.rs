//! porta's Admin and Master API endpoints the destination checks call, served over HTTP on
//! loopback from a system database on PostgreSQL, the way porta 2.16 answers them:
//!
//! - `GET /master/api/providers/{id}.json` and `PUT /master/api/providers/{id}/plan_upgrade.json`
//!   on the master account's domain (`Master::Api::ProvidersController`);
//! - `GET /admin/api/provider.json` (`Admin::Api::ProvidersController`) and
//!   `GET /admin/api/account/authentication_providers.json`
//!   (`Admin::Api::Account::AuthenticationProvidersController`) on a provider's admin domain.
//!
//! The same router serves the products' gateways (`gateway`): a hosted product's staging or
//! production host answers as APIcast does.
//!
//! The account a request is for is found by its `Host` as porta's `SiteAccountSupport` does
//! (`accounts.self_domain`; master by its `domain` or `self_domain`), and the access token in the
//! `access_token` parameter or HTTP Basic (porta's `ApiAuthentication::ByAccessToken` and
//! `HttpAuthentication`) among the tokens of that account's users (`access_tokens.value`, stored
//! as given in 2.14–2.16: `AccessToken.find_from_value` is `find_by(value:)`), unexpired, with
//! scope `account_management`. The refusals are porta's, in porta's order:
//!
//! | request | porta's answer |
//! |---|---|
//! | `/master/api/...` on a host that is not master's (`force_master_domain`) | 403, empty body |
//! | `/master/api/...` without a token of master's users (`authenticate_access_token plain: 'unauthorized'`) | 401, `unauthorized` |
//! | `/admin/api/...` on a host no provider's admin domain nor master's (`force_provider_or_master_domain`) | 403, `{"error":"Access denied"}` |
//! | `/admin/api/...` with the token of an account that is not approved (`SuspendedAccount`) | 403, empty body |
//! | a token without scope `account_management` (`verify_access_token_scopes`) | 403, `{"error":"Your access token does not have the correct permissions"}` |
//! | `/admin/api/...` without a valid token (`provider_required`) | 403, `{"error":"Access denied"}` |
//! | a read-only token on `plan_upgrade` (the read-only transaction fails) | 403, the permissions error |
//! | an unknown provider or plan | 404, `{"status":"Not found"}` / `{"error":"Plan with ID … not found"}` |
//! | a plan that is not a stock plan of porta's plan rules | 400, `{"error":"Plan … is not one of the 3scale stock plans. …"}` |
//!
//! `plan_upgrade` changes the provider's contract on master's service to the plan, for real
//! (`force_upgrade_to_provider_plan!` → `bought_cinstance.change_plan!`); the switches and
//! limits porta also sets from the plan's rules are not simulated. A provider key (`api_key`)
//! is not accepted in place of a token.

mod gateway;
mod porta;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use crate::infra::pg;
use crate::sim::http::percent_decode;
use crate::sim::loopback::Loopback;

pub use porta::STOCK_PLANS;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A running API server; dropping it stops it.
pub struct ThreescaleApiServer {
    served: Loopback,
}

struct Shared {
    database_url: String,
}

impl ThreescaleApiServer {
    /// Serves the system database at `database_url` on a loopback port (`port`, or a free one).
    pub async fn start(database_url: &str, port: Option<u16>) -> Result<ThreescaleApiServer> {
        let shared = Arc::new(Shared {
            database_url: database_url.to_string(),
        });
        let app = axum::Router::new().fallback(handle).with_state(shared);
        let served = Loopback::serve(app, port, "the simulated 3scale API").await?;
        Ok(ThreescaleApiServer { served })
    }

    pub fn port(&self) -> u16 {
        self.served.port()
    }

    /// `http://127.0.0.1:<port>`, what cutover's `threescale_api` setting names.
    pub fn url(&self) -> String {
        self.served.url()
    }
}

/// An answer: status, and a JSON body, a plain text or nothing.
pub(crate) enum Answer {
    Json(StatusCode, Value),
    Text(StatusCode, &'static str),
    Empty(StatusCode),
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        match self {
            Answer::Json(status, body) => (
                status,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                body.to_string(),
            )
                .into_response(),
            Answer::Text(status, text) => (
                status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                text,
            )
                .into_response(),
            Answer::Empty(status) => status.into_response(),
        }
    }
}

fn error(status: StatusCode, text: &str) -> Answer {
    Answer::Json(status, json!({ "error": text }))
}

const ACCESS_DENIED: &str = "Access denied";
const NO_PERMISSION: &str = "Your access token does not have the correct permissions";

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    match serve(&shared, &method, &uri, &headers, &body).await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::warn!("simulated 3scale API: {e:#}");
            Answer::Json(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "status": "Internal server error" }),
            )
        }
    }
}

/// What the request names: its host (without a port), its path, its parameters (query and
/// form body) and the token.
struct Request {
    host: String,
    path: String,
    params: Vec<(String, String)>,
    token: Option<String>,
}

impl Request {
    fn of(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Request {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| uri.host())
            .unwrap_or_default();
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        let mut params = parse_form(uri.query().unwrap_or_default());
        params.extend(parse_form(&String::from_utf8_lossy(body)));
        let token = params
            .iter()
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.clone())
            .or_else(|| basic_user_or_password(headers))
            .filter(|t| !t.is_empty());
        Request {
            host: host.to_ascii_lowercase(),
            path: uri.path().to_string(),
            params,
            token,
        }
    }

    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// porta's `http_authentication`: the first non-empty of HTTP Basic's user name and password.
fn basic_user_or_password(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':').unwrap_or((&text, ""));
    [user, password]
        .into_iter()
        .find(|s| !s.is_empty())
        .map(str::to_string)
}

fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

async fn serve(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Answer> {
    let request = Request::of(uri, headers, body);
    let db = pg::connect(&shared.database_url, CONNECT_TIMEOUT).await?;
    if let Some((service, _staging)) = gateway::product_of(&db, &request.host).await? {
        let reply = gateway::call(&db, &request.path, request.param("user_key"), service).await?;
        let status = |code| StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
        return Ok(match reply {
            gateway::Reply::Text(code, text) => Answer::Text(status(code), text),
            gateway::Reply::Json(code, body) => Answer::Json(status(code), body),
        });
    }
    if let Some(rest) = request.path.strip_prefix("/master/api/") {
        return master_api(&db, method, &request, rest).await;
    }
    if let Some(rest) = request.path.strip_prefix("/admin/api/") {
        return admin_api(&db, method, &request, rest).await;
    }
    Ok(Answer::Json(
        StatusCode::NOT_FOUND,
        json!({ "status": "Not found" }),
    ))
}

/// `Master::Api::ProvidersController`, behind `Master::BaseController#force_master_domain` and
/// `authenticate_access_token plain: 'unauthorized'`.
async fn master_api(
    db: &tokio_postgres::Client,
    method: &Method,
    request: &Request,
    rest: &str,
) -> Result<Answer> {
    let Some(master) = porta::master(db).await? else {
        return Ok(Answer::Empty(StatusCode::FORBIDDEN));
    };
    if request.host != master.domain && request.host != master.self_domain {
        return Ok(Answer::Empty(StatusCode::FORBIDDEN));
    }
    let token = match &request.token {
        Some(value) => porta::token(db, master.id, value).await?,
        None => None,
    };
    let Some(token) = token else {
        return Ok(Answer::Text(StatusCode::UNAUTHORIZED, "unauthorized"));
    };
    if !token.has_scope("account_management") {
        return Ok(error(StatusCode::FORBIDDEN, NO_PERMISSION));
    }
    let Some(rest) = rest.strip_prefix("providers/") else {
        return Ok(not_found());
    };
    let (id, action) = match rest.split_once('/') {
        Some((id, action)) => (id, Some(action)),
        None => (rest, None),
    };
    let id = id.trim_end_matches(".json");
    let Ok(id) = id.parse::<i64>() else {
        return Ok(not_found());
    };
    match (method, action) {
        (&Method::GET, None) => match porta::provider_of(db, master.id, id).await? {
            Some(account) => Ok(Answer::Json(
                StatusCode::OK,
                json!({ "signup": { "account": account } }),
            )),
            None => Ok(not_found()),
        },
        (&Method::PUT, Some("plan_upgrade.json" | "plan_upgrade")) => {
            plan_upgrade(db, &master, id, request, &token).await
        }
        _ => Ok(not_found()),
    }
}

/// `PUT /master/api/providers/{id}/plan_upgrade.json`: `find_plan_for_upgrade` (master's stock
/// application plans), the provider among master's, the plan among porta's plan rules, then
/// the provider's contract on master's service moves to the plan.
async fn plan_upgrade(
    db: &tokio_postgres::Client,
    master: &porta::Master,
    provider: i64,
    request: &Request,
    token: &porta::Token,
) -> Result<Answer> {
    let plan_id = request.param("plan_id").unwrap_or_default();
    let plan = match plan_id.parse::<i64>() {
        Ok(id) => porta::master_stock_plan(db, master.id, id).await?,
        Err(_) => None,
    };
    let Some(plan) = plan else {
        return Ok(error(
            StatusCode::NOT_FOUND,
            &format!("Plan with ID {plan_id} not found"),
        ));
    };
    if porta::provider_of(db, master.id, provider).await?.is_none() {
        return Ok(not_found());
    }
    if !STOCK_PLANS.contains(&plan.system_name.as_str()) {
        return Ok(error(
            StatusCode::BAD_REQUEST,
            &format!(
                "Plan {} is not one of the 3scale stock plans. Cannot automatically change to it.",
                plan.name
            ),
        ));
    }
    // A read-only token's transaction is read-only: porta's write fails, answered as 403.
    if token.permission != "rw" {
        return Ok(error(StatusCode::FORBIDDEN, NO_PERMISSION));
    }
    porta::change_provider_plan(db, master, provider, plan.id).await?;
    let account = porta::provider_of(db, master.id, provider).await?;
    Ok(Answer::Json(
        StatusCode::OK,
        json!({ "signup": { "account": account } }),
    ))
}

/// `Admin::Api::BaseController`'s filters, then the two read endpoints.
async fn admin_api(
    db: &tokio_postgres::Client,
    method: &Method,
    request: &Request,
    rest: &str,
) -> Result<Answer> {
    // force_provider_or_master_domain
    let Some(account) = porta::admin_domain_account(db, &request.host).await? else {
        return Ok(error(StatusCode::FORBIDDEN, ACCESS_DENIED));
    };
    let token = match &request.token {
        Some(value) => porta::token(db, account.id, value).await?,
        None => None,
    };
    // SuspendedAccount: the token's account must be approved.
    if token.is_some() && account.state != "approved" {
        return Ok(Answer::Empty(StatusCode::FORBIDDEN));
    }
    if let Some(token) = &token
        && !token.has_scope("account_management")
    {
        return Ok(error(StatusCode::FORBIDDEN, NO_PERMISSION));
    }
    // provider_required
    if token.is_none() {
        return Ok(error(StatusCode::FORBIDDEN, ACCESS_DENIED));
    }
    if method != Method::GET {
        return Ok(not_found());
    }
    match rest {
        "provider.json" => Ok(Answer::Json(
            StatusCode::OK,
            json!({ "account": porta::account_json(db, account.id).await? }),
        )),
        "account/authentication_providers.json" => {
            let items = porta::admin_portal_sso(db, account.id).await?;
            Ok(Answer::Json(
                StatusCode::OK,
                json!({ "authentication_providers": items
                    .into_iter()
                    .map(|p| json!({ "authentication_provider": p }))
                    .collect::<Vec<_>>() }),
            ))
        }
        _ => Ok(not_found()),
    }
}

fn not_found() -> Answer {
    Answer::Json(StatusCode::NOT_FOUND, json!({ "status": "Not found" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_basic_auth_are_read_as_porta_reads_them() {
        assert_eq!(
            parse_form("plan_id=7&a%20b=x%26y&c=d+e"),
            vec![
                ("plan_id".to_string(), "7".to_string()),
                ("a b".to_string(), "x&y".to_string()),
                ("c".to_string(), "d e".to_string())
            ]
        );
        let mut headers = HeaderMap::new();
        let basic = base64::engine::general_purpose::STANDARD.encode(":tok");
        headers.insert(
            header::AUTHORIZATION,
            format!("Basic {basic}").parse().unwrap(),
        );
        assert_eq!(basic_user_or_password(&headers).as_deref(), Some("tok"));
    }
}
