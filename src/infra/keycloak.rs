//! A client of Keycloak's admin REST API, knowing nothing of migrations: an admin user of the
//! master realm logs in (`POST /realms/master/protocol/openid-connect/token`, grant `password`,
//! client `admin-cli`), and the calls a realm move needs are made with its bearer token, which is
//! refreshed (grant `refresh_token`, else the password again) before it expires:
//!
//! - `GET /admin/realms` (the realms' names),
//! - `POST /admin/realms` with a `RealmRepresentation` (201 created; 409 when a realm of that
//!   name or id exists: [`RealmCreated::Existed`]),
//! - `POST /admin/realms/{realm}/partialImport` with `ifResourceExists: SKIP`
//!   ([`PartialImport`]: counts and one result per resource),
//! - `GET /admin/realms/{realm}/users/count`.
//!
//! The base URL is where Keycloak serves its paths: `https://keycloak.apps.example.com`, or with
//! `/auth` for a Keycloak older than 17 (WildFly). No message of this module holds the password,
//! a token or a request body (realms and users carry client secrets and credential hashes): an
//! error names the URL, the admin user, the status and Keycloak's error text.

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use http_body_util::Full;
use hyper::body::Bytes;
use serde::Deserialize;
use serde_json::Value;

use super::https::{self, HttpsClient};
use super::threescale_api::{form_encode, percent};

/// How long one request may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(60);
/// The most of an answer kept (a realm list, a partial import's results).
const MAX_BODY: usize = 64 * 1024 * 1024;
/// A token this close to its end is renewed first.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// The client the admin console's CLI logs in with, present in every master realm.
pub const ADMIN_CLIENT: &str = "admin-cli";

/// The admin user's password. Its value only ever goes into the token request's form.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn new(value: impl Into<String>) -> Password {
        Password(value.into())
    }

    /// The value, for whoever must compare it (the simulator, tests); never to be shown.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// What `POST /admin/realms` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RealmCreated {
    Created,
    /// 409: a realm of that name (or id) was there; nothing changed.
    Existed,
}

/// What a partial import answered (`PartialImportResults`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct PartialImport {
    #[serde(default)]
    pub overwritten: u64,
    #[serde(default)]
    pub added: u64,
    #[serde(default)]
    pub skipped: u64,
    #[serde(default)]
    pub results: Vec<ImportResult>,
}

/// One resource of a partial import (`PartialImportResult`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ImportResult {
    /// `ADDED`, `SKIPPED` or `OVERWRITTEN`.
    pub action: String,
    /// `USER`, `CLIENT`, `GROUP`, `REALM_ROLE`, `CLIENT_ROLE`, `IDP`.
    pub resource_type: String,
    pub resource_name: String,
    #[serde(default)]
    pub id: Option<String>,
}

impl PartialImport {
    /// How many resources of `resource_type` got `action`.
    pub fn count(&self, resource_type: &str, action: &str) -> u64 {
        self.results
            .iter()
            .filter(|r| r.resource_type == resource_type && r.action == action)
            .count() as u64
    }
}

/// A logged-in admin session.
struct Session {
    access: String,
    access_until: Instant,
    refresh: Option<String>,
    refresh_until: Instant,
}

/// A client of one Keycloak's admin API.
pub struct KeycloakAdmin {
    client: HttpsClient,
    base: String,
    username: String,
    password: Password,
    session: tokio::sync::Mutex<Option<Session>>,
}

impl fmt::Debug for KeycloakAdmin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeycloakAdmin")
            .field("url", &self.base)
            .field("username", &self.username)
            .finish()
    }
}

/// How a request authenticates.
enum Auth<'a> {
    None,
    Bearer(&'a str),
}

impl KeycloakAdmin {
    /// A client of the Keycloak at `url` (`https://host[:port][/path]`, or `http://` for a
    /// port-forward), logging in as `username` of the master realm; `ca_file` (PEM) is trusted
    /// besides the system's authorities. Nothing is sent yet ([`login`](Self::login)).
    pub fn new(
        url: &str,
        username: &str,
        password: Password,
        ca_file: Option<&Path>,
    ) -> Result<KeycloakAdmin> {
        let base = check_url(url).map_err(crate::error::bad_input)?;
        if username.trim().is_empty() {
            return Err(crate::error::bad_input(
                "the Keycloak admin user name is empty; name the master realm's admin user",
            ));
        }
        Ok(KeycloakAdmin {
            client: https::client(ca_file)?,
            base,
            username: username.to_string(),
            password,
            session: tokio::sync::Mutex::new(None),
        })
    }

    /// The base URL, as messages name it.
    pub fn url(&self) -> &str {
        &self.base
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    /// Logs in (or renews the session): proves the URL, the user and the password.
    pub async fn login(&self) -> Result<()> {
        self.token().await.map(|_| ())
    }

    /// The names of the realms this admin sees.
    pub async fn realms(&self) -> Result<Vec<String>> {
        let (status, body) = self
            .admin(
                hyper::Method::GET,
                "/admin/realms?briefRepresentation=true",
                None,
            )
            .await?;
        self.expect_ok(status, &body, "/admin/realms", "list the realms")?;
        let realms: Vec<Value> = serde_json::from_slice(&body)
            .map_err(|e| anyhow!("{}/admin/realms answered no realm list ({e})", self.base))?;
        Ok(realms
            .iter()
            .filter_map(|r| r["realm"].as_str().map(str::to_string))
            .collect())
    }

    /// Creates a realm from its representation (`realm` names it); [`RealmCreated::Existed`]
    /// when Keycloak answers 409.
    pub async fn create_realm(&self, realm: &Value) -> Result<RealmCreated> {
        let name = realm["realm"].as_str().unwrap_or_default();
        if name.is_empty() {
            return Err(crate::error::bad_input(
                "the realm representation has no `realm` name; it is not a Keycloak realm export",
            ));
        }
        let body = serde_json::to_vec(realm)?;
        let what = format!("create the realm {name}");
        let (status, answer) = self
            .admin(hyper::Method::POST, "/admin/realms", Some(body))
            .await?;
        match status {
            201 | 204 => Ok(RealmCreated::Created),
            409 => Ok(RealmCreated::Existed),
            _ => {
                self.expect_ok(status, &answer, "/admin/realms", &what)?;
                Ok(RealmCreated::Created)
            }
        }
    }

    /// `POST /admin/realms/{realm}/partialImport` with `body` (a `PartialImportRepresentation`;
    /// its `ifResourceExists` is the caller's).
    pub async fn partial_import(&self, realm: &str, body: &Value) -> Result<PartialImport> {
        let path = format!("/admin/realms/{}/partialImport", percent(realm));
        let what = format!("import into the realm {realm}");
        let (status, answer) = self
            .admin(hyper::Method::POST, &path, Some(serde_json::to_vec(body)?))
            .await?;
        self.expect_ok(status, &answer, &path, &what)?;
        serde_json::from_slice(&answer).map_err(|e| {
            anyhow!(
                "{}{path} answered no partial import result ({e}): {}",
                self.base,
                excerpt(&answer)
            )
        })
    }

    /// How many users the realm has.
    pub async fn count_users(&self, realm: &str) -> Result<u64> {
        let path = format!("/admin/realms/{}/users/count", percent(realm));
        let what = format!("count the users of the realm {realm}");
        let (status, answer) = self.admin(hyper::Method::GET, &path, None).await?;
        self.expect_ok(status, &answer, &path, &what)?;
        String::from_utf8_lossy(&answer)
            .trim()
            .parse()
            .map_err(|_| {
                anyhow!(
                    "{}{path} answered no number: {}",
                    self.base,
                    excerpt(&answer)
                )
            })
    }

    /// An admin call with the session's token; a 401 renews the session once (the token may
    /// have been revoked or the server restarted).
    async fn admin(
        &self,
        method: hyper::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Vec<u8>)> {
        for attempt in 0..2 {
            let token = self.token().await?;
            let (status, answer) = self
                .send(
                    method.clone(),
                    path,
                    body.clone().map(|b| ("application/json", b)),
                    Auth::Bearer(&token),
                )
                .await?;
            if status == 401 && attempt == 0 {
                *self.session.lock().await = None;
                continue;
            }
            return Ok((status, answer));
        }
        unreachable!("the loop returns on its second pass")
    }

    /// Success, or an error saying what the status means for `what`.
    fn expect_ok(&self, status: u16, body: &[u8], path: &str, what: &str) -> Result<()> {
        let user = &self.username;
        let base = &self.base;
        match status {
            200..=299 => Ok(()),
            401 => bail!(
                "Keycloak at {base} does not accept the token of admin user `{user}` to {what} \
                 (401 on {path}, even after logging in again): {}",
                excerpt(body)
            ),
            403 => bail!(
                "the Keycloak user `{user}` may not {what} at {base} (403 Forbidden on {path}): \
                 log in as an admin of the master realm (role `admin`, or `create-realm` and \
                 the realms' `manage-realm` and `manage-users`)"
            ),
            404 => bail!(
                "Keycloak at {base} has no {path} (404) to {what}: {}; check the URL (a \
                 Keycloak older than 17 serves under /auth) and the realm's name",
                excerpt(body)
            ),
            _ => bail!(
                "Keycloak at {base} refused to {what} ({status} on {path}): {}",
                excerpt(body)
            ),
        }
    }

    /// A valid access token: the session's, refreshed or renewed when it is about to expire.
    async fn token(&self) -> Result<String> {
        let mut session = self.session.lock().await;
        let now = Instant::now();
        if let Some(s) = session.as_ref()
            && s.access_until > now + EXPIRY_MARGIN
        {
            return Ok(s.access.clone());
        }
        let refresh = session
            .as_ref()
            .filter(|s| s.refresh_until > now + EXPIRY_MARGIN)
            .and_then(|s| s.refresh.clone());
        let renewed = match refresh {
            Some(refresh) => match self
                .grant(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", ADMIN_CLIENT),
                    ("refresh_token", &refresh),
                ])
                .await
            {
                Ok(s) => s,
                // A refresh token the server forgot (restart, session ended): log in again.
                Err(_) => self.password_grant().await?,
            },
            None => self.password_grant().await?,
        };
        let access = renewed.access.clone();
        *session = Some(renewed);
        Ok(access)
    }

    async fn password_grant(&self) -> Result<Session> {
        self.grant(&[
            ("grant_type", "password"),
            ("client_id", ADMIN_CLIENT),
            ("username", &self.username),
            ("password", self.password.expose()),
        ])
        .await
    }

    /// The token endpoint of the master realm.
    async fn grant(&self, form: &[(&str, &str)]) -> Result<Session> {
        const PATH: &str = "/realms/master/protocol/openid-connect/token";
        let started = Instant::now();
        let body = form_encode(form).into_bytes();
        let (status, answer) = self
            .send(
                hyper::Method::POST,
                PATH,
                Some(("application/x-www-form-urlencoded", body)),
                Auth::None,
            )
            .await?;
        let user = &self.username;
        let base = &self.base;
        if status != 200 {
            let reason = oauth_error(&answer);
            match status {
                401 | 400 if reason.starts_with("invalid_grant") => bail!(
                    "Keycloak at {base} refused the admin user `{user}` ({status} {reason}): \
                     check the password the config references for that user, and that the user \
                     is in the master realm and enabled"
                ),
                401 => bail!(
                    "Keycloak at {base} refused the login of admin user `{user}` ({status} \
                     {reason}): the master realm's client `{ADMIN_CLIENT}` must allow direct \
                     access grants"
                ),
                404 => bail!(
                    "Keycloak at {base} has no master realm token endpoint ({PATH}: 404): check \
                     the admin URL (a Keycloak older than 17 serves under /auth, e.g. \
                     https://host/auth)"
                ),
                _ => bail!(
                    "Keycloak at {base} did not log in the admin user `{user}` ({status} on \
                     {PATH}): {reason}"
                ),
            }
        }
        #[derive(Deserialize)]
        struct Grant {
            access_token: String,
            #[serde(default)]
            expires_in: u64,
            #[serde(default)]
            refresh_token: Option<String>,
            #[serde(default)]
            refresh_expires_in: u64,
        }
        // The answer holds the tokens: its text never goes into a message.
        let grant: Grant = serde_json::from_slice(&answer).map_err(|_| {
            anyhow!("{base}{PATH} answered 200 without a token; is {base} a Keycloak?")
        })?;
        Ok(Session {
            access: grant.access_token,
            access_until: started + Duration::from_secs(grant.expires_in.max(1)),
            refresh: grant.refresh_token,
            refresh_until: started + Duration::from_secs(grant.refresh_expires_in),
        })
    }

    /// One request; the status and the body.
    async fn send(
        &self,
        method: hyper::Method,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
        auth: Auth<'_>,
    ) -> Result<(u16, Vec<u8>)> {
        let url = format!("{}{path}", self.base);
        let mut request = hyper::Request::builder()
            .method(method.clone())
            .uri(&url)
            .header(hyper::header::ACCEPT, "application/json");
        if let Auth::Bearer(token) = auth {
            request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let bytes = match body {
            Some((content_type, bytes)) => {
                request = request.header(hyper::header::CONTENT_TYPE, content_type);
                bytes
            }
            None => Vec::new(),
        };
        let request = request
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| anyhow!("cannot build the request {method} {url}: {e}"))?;
        let exchange = https::exchange(&self.client, request, MAX_BODY, &url, "Keycloak", |e| {
            unreachable_error(&self.base, &method, &url, e)
        });
        tokio::time::timeout(TIMEOUT, exchange).await.map_err(|_| {
            anyhow!(
                "{method} {url} did not answer within {}s; check that Keycloak at {} is up",
                TIMEOUT.as_secs(),
                self.base
            )
        })?
    }
}

/// The error of a request that got no answer: unreachable, refused, or a certificate not
/// trusted.
fn unreachable_error(
    base: &str,
    method: &hyper::Method,
    url: &str,
    e: &(dyn std::error::Error + 'static),
) -> anyhow::Error {
    let cause = https::chain(e);
    let tls = ["certificate", "UnknownIssuer", "tls", "TLS"]
        .iter()
        .any(|w| cause.contains(w));
    if tls {
        anyhow!(
            "{method} {url} failed on TLS ({cause}): the certificate of Keycloak at {base} is not \
             trusted here; give the CA file of its router certificate (PEM) in the config"
        )
    } else {
        anyhow!(
            "cannot reach Keycloak at {base} ({method} {url}: {cause}); check the admin URL and \
             that this host reaches it (route, proxy, firewall)"
        )
    }
}

/// `error: error_description` of an OAuth error answer, or its start.
fn oauth_error(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v["error"].is_string() => {
            let error = v["error"].as_str().unwrap_or_default();
            match v["error_description"].as_str() {
                Some(d) => format!("{error}: {d}"),
                None => error.to_string(),
            }
        }
        _ => excerpt(body),
    }
}

/// The start of an error body, for a message.
fn excerpt(body: &[u8]) -> String {
    https::excerpt(body, 300)
}

/// `http(s)://host[:port][/path]` without a trailing slash; Err says what is wrong.
fn check_url(url: &str) -> std::result::Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            format!(
                "the Keycloak admin URL `{}` is not an http:// or https:// address (e.g. \
                 https://keycloak.apps.example.com)",
                super::url::redact_text(url)
            )
        })?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(format!(
            "the Keycloak admin URL `{}` holds a user name or password; give the URL alone and \
             the credentials by reference",
            super::url::redact_text(url)
        ));
    }
    if authority.is_empty()
        || rest.contains(['?', '#', ' '])
        || authority.parse::<hyper::http::uri::Authority>().is_err()
    {
        return Err(format!(
            "the Keycloak admin URL `{url}` must be a scheme, a host, an optional port and an \
             optional path (e.g. https://keycloak.apps.example.com or https://host/auth)"
        ));
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_never_echo_credentials() {
        assert_eq!(
            check_url("https://kc.example.com/").unwrap(),
            "https://kc.example.com"
        );
        assert_eq!(
            check_url("http://127.0.0.1:8080/auth").unwrap(),
            "http://127.0.0.1:8080/auth"
        );
        for bad in ["kc.example.com", "ftp://x", "https://", "https://h/?x=1"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        let e = check_url("https://admin:hunter2@kc.example.com").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn a_password_never_prints() {
        assert_eq!(format!("{:?}", Password::new("hunter2")), "Password(***)");
    }

    #[test]
    fn partial_import_results_are_counted_by_type_and_action() {
        let answer: PartialImport = serde_json::from_str(
            r#"{"overwritten":0,"added":1,"skipped":1,"results":[
                {"action":"ADDED","resourceType":"USER","resourceName":"a","id":"1"},
                {"action":"SKIPPED","resourceType":"USER","resourceName":"b","id":"2"}]}"#,
        )
        .unwrap();
        assert_eq!(answer.count("USER", "ADDED"), 1);
        assert_eq!(answer.count("USER", "SKIPPED"), 1);
        assert_eq!(answer.count("CLIENT", "ADDED"), 0);
    }

    #[test]
    fn oauth_errors_read_as_keycloak_writes_them() {
        assert_eq!(
            oauth_error(
                br#"{"error":"invalid_grant","error_description":"Invalid user credentials"}"#
            ),
            "invalid_grant: Invalid user credentials"
        );
        assert_eq!(oauth_error(b""), "(empty body)");
    }
}
