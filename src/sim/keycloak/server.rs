//! The simulated Keycloak's HTTP server on loopback: the token endpoint of the master realm and
//! the admin endpoints a realm move calls, with Keycloak's answers and refusals:
//!
//! | request | Keycloak's answer |
//! |---|---|
//! | `POST /realms/master/protocol/openid-connect/token`, a client other than `admin-cli` | 401 `invalid_client` |
//! | the same, grant `password`, unknown user or wrong password | 401 `invalid_grant` "Invalid user credentials" |
//! | the same, grant `refresh_token`, unknown or expired | 400 `invalid_grant` "Invalid refresh token" |
//! | the same, another grant | 400 `unsupported_grant_type` |
//! | `/admin/...` without a valid bearer token (none, unknown, expired) | 401 `{"error":"HTTP 401 Unauthorized"}` |
//! | `/admin/...` with the token of a user who is not an admin of the master realm | 403 `{"error":"HTTP 403 Forbidden"}` |
//! | `GET /admin/realms` | 200, the realms (brief: id, realm, enabled) |
//! | `POST /admin/realms`, a realm of that name or id exists | 409 `{"errorMessage":"Conflict detected. See logs for details"}` |
//! | `POST /admin/realms` | 201 with `Location` |
//! | `POST /admin/realms/{realm}/partialImport` | 200 `PartialImportResults`; 404 `{"error":"Realm not found."}` |
//! | `GET /admin/realms/{realm}/users/count` | 200, the number |
//!
//! Tokens are opaque here (a real one is a JWT cutover does not read); the access token lives
//! [`KeycloakSpec::token_lifespan`] (the master realm's default, 60 s), the refresh token
//! [`KeycloakSpec::refresh_lifespan`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::realms::{KeycloakStore, uuid_of};
use crate::sim::http::Query;
use crate::sim::loopback::Loopback;

/// How a simulated Keycloak starts.
#[derive(Clone, Debug)]
pub struct KeycloakSpec {
    /// The master realm's admin (`KEYCLOAK_ADMIN`).
    pub admin: (String, String),
    /// Users of the master realm who may log in but are no admins.
    pub users: Vec<(String, String)>,
    pub port: Option<u16>,
    /// Where the realms are kept across restarts.
    pub state_file: Option<PathBuf>,
    pub token_lifespan: Duration,
    pub refresh_lifespan: Duration,
}

impl KeycloakSpec {
    pub fn new(admin: &str, password: &str) -> KeycloakSpec {
        KeycloakSpec {
            admin: (admin.to_string(), password.to_string()),
            users: Vec::new(),
            port: None,
            state_file: None,
            token_lifespan: Duration::from_secs(60),
            refresh_lifespan: Duration::from_secs(1800),
        }
    }

    pub fn user(mut self, name: &str, password: &str) -> KeycloakSpec {
        self.users.push((name.to_string(), password.to_string()));
        self
    }

    pub fn port(mut self, port: u16) -> KeycloakSpec {
        self.port = Some(port);
        self
    }

    pub fn state_file(mut self, path: impl Into<PathBuf>) -> KeycloakSpec {
        self.state_file = Some(path.into());
        self
    }

    pub fn token_lifespan(mut self, lifespan: Duration) -> KeycloakSpec {
        self.token_lifespan = lifespan;
        self
    }
}

/// How many of each grant the token endpoint gave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    pub password: u64,
    pub refresh: u64,
}

struct Session {
    user: String,
    admin: bool,
    until: Instant,
}

struct Shared {
    spec: KeycloakSpec,
    store: KeycloakStore,
    access: Mutex<HashMap<String, Session>>,
    refresh: Mutex<HashMap<String, Session>>,
    grants: Mutex<Grants>,
    counter: Mutex<u64>,
}

/// A running Keycloak; dropping it stops it.
pub struct KeycloakServer {
    served: Loopback,
    shared: Arc<Shared>,
}

impl KeycloakServer {
    /// Serves `spec`'s Keycloak (its realms from the state file when it has one) on loopback.
    pub async fn start(spec: KeycloakSpec) -> Result<KeycloakServer> {
        let store = KeycloakStore::open(spec.state_file.as_deref())?;
        let port = spec.port;
        let shared = Arc::new(Shared {
            spec,
            store,
            access: Default::default(),
            refresh: Default::default(),
            grants: Default::default(),
            counter: Default::default(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let served = Loopback::serve(app, port, "the simulated Keycloak").await?;
        Ok(KeycloakServer { served, shared })
    }

    pub fn port(&self) -> u16 {
        self.served.port()
    }

    /// `http://127.0.0.1:<port>`, the admin URL.
    pub fn url(&self) -> String {
        self.served.url()
    }

    /// Its realms.
    pub fn store(&self) -> &KeycloakStore {
        &self.shared.store
    }

    /// The grants given so far.
    pub fn grants(&self) -> Grants {
        *lock(&self.shared.grants)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn answer(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    if path == "/realms/master/protocol/openid-connect/token" && method == Method::POST {
        return token(&shared, &body);
    }
    let Some(rest) = path.strip_prefix("/admin/realms") else {
        return answer(
            404,
            json!({"error": "Unable to find matching target resource method"}),
        );
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    let session = bearer.and_then(|t| {
        lock(&shared.access)
            .get(t)
            .filter(|s| s.until > Instant::now())
            .map(|s| (s.user.clone(), s.admin))
    });
    let Some((_user, admin)) = session else {
        return answer(401, json!({"error": "HTTP 401 Unauthorized"}));
    };
    if !admin {
        return answer(403, json!({"error": "HTTP 403 Forbidden"}));
    }
    match admin_call(&shared, &method, rest, &body) {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!("simulated Keycloak: {e:#}");
            answer(500, json!({"error": "unknown_error"}))
        }
    }
}

fn admin_call(shared: &Shared, method: &Method, rest: &str, body: &[u8]) -> Result<Response> {
    let parts: Vec<String> = rest
        .split('/')
        .filter(|p| !p.is_empty())
        .map(crate::sim::http::percent_decode)
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let json_body = || serde_json::from_slice::<Value>(body).ok();
    Ok(match (method, parts.as_slice()) {
        (&Method::GET, []) => {
            let realms: Vec<Value> = shared
                .store
                .realm_names()
                .iter()
                .filter_map(|name| shared.store.realm(name))
                .map(|rep| json!({"id": rep["id"], "realm": rep["realm"], "enabled": rep["enabled"]}))
                .collect();
            answer(200, Value::Array(realms))
        }
        (&Method::POST, []) => {
            let Some(rep) = json_body() else {
                return Ok(answer(400, json!({"error": "unknown_error"})));
            };
            let name = rep["realm"].as_str().unwrap_or_default().to_string();
            match shared.store.create_realm(rep)? {
                Ok(()) => (
                    StatusCode::CREATED,
                    [(header::LOCATION, format!("/admin/realms/{name}"))],
                )
                    .into_response(),
                Err((status, body)) => answer(status, body),
            }
        }
        (&Method::POST, [realm, "partialImport"]) => {
            let Some(request) = json_body() else {
                return Ok(answer(400, json!({"error": "unknown_error"})));
            };
            match shared.store.partial_import(realm, &request)? {
                Ok(result) => answer(200, result),
                Err((status, body)) => answer(status, body),
            }
        }
        (&Method::GET, [realm, "users", "count"]) => match shared.store.usernames(realm) {
            Some(users) => answer(200, json!(users.len())),
            None => answer(404, json!({"error": "Realm not found."})),
        },
        (&Method::GET, [realm]) => match shared.store.realm(realm) {
            Some(rep) => answer(200, rep),
            None => answer(404, json!({"error": "Realm not found."})),
        },
        _ => answer(
            404,
            json!({"error": "Unable to find matching target resource method"}),
        ),
    })
}

/// The master realm's token endpoint.
fn token(shared: &Shared, body: &[u8]) -> Response {
    let text = String::from_utf8_lossy(body);
    let form = Query::parse(Some(&text));
    let field = |k: &str| form.get(k).unwrap_or_default();
    if field("client_id") != "admin-cli" {
        return answer(
            401,
            json!({"error": "invalid_client",
                   "error_description": "Invalid client or Invalid client credentials"}),
        );
    }
    let now = Instant::now();
    let (user, admin) = match field("grant_type") {
        "password" => {
            let (name, password) = (field("username"), field("password"));
            let spec = &shared.spec;
            let admin = spec.admin.0.eq_ignore_ascii_case(name) && spec.admin.1 == password;
            let user = spec
                .users
                .iter()
                .any(|(n, p)| n.eq_ignore_ascii_case(name) && p == password);
            if !admin && !user {
                return answer(
                    401,
                    json!({"error": "invalid_grant",
                           "error_description": "Invalid user credentials"}),
                );
            }
            lock(&shared.grants).password += 1;
            (name.to_lowercase(), admin)
        }
        "refresh_token" => {
            let known = lock(&shared.refresh)
                .get(field("refresh_token"))
                .filter(|s| s.until > now)
                .map(|s| (s.user.clone(), s.admin));
            let Some(known) = known else {
                return answer(
                    400,
                    json!({"error": "invalid_grant", "error_description": "Invalid refresh token"}),
                );
            };
            lock(&shared.grants).refresh += 1;
            known
        }
        _ => {
            return answer(
                400,
                json!({"error": "unsupported_grant_type",
                       "error_description": "Unsupported grant_type"}),
            );
        }
    };
    let n = {
        let mut c = lock(&shared.counter);
        *c += 1;
        *c
    };
    let access = uuid_of(&format!("access/{user}/{n}/{:?}", now));
    let refresh = uuid_of(&format!("refresh/{user}/{n}/{:?}", now));
    let spec = &shared.spec;
    lock(&shared.access).insert(
        access.clone(),
        Session {
            user: user.clone(),
            admin,
            until: now + spec.token_lifespan,
        },
    );
    lock(&shared.refresh).insert(
        refresh.clone(),
        Session {
            user,
            admin,
            until: now + spec.refresh_lifespan,
        },
    );
    answer(
        200,
        json!({
            "access_token": access,
            "expires_in": spec.token_lifespan.as_secs(),
            "refresh_expires_in": spec.refresh_lifespan.as_secs(),
            "refresh_token": refresh,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "session_state": uuid_of(&format!("session/{n}")),
            "scope": "profile email"
        }),
    )
}
