//! A client of 3scale's Admin and Master APIs (porta), knowing nothing of migrations: it sends
//! one request to a host name (`master.<wildcard>`, `3scale-admin.<wildcard>`) with an access
//! token and gives back the status and the body.
//!
//! porta finds the account a request is for by its `Host` (the provider's `self_domain`), so
//! the host name is what matters, not where the connection goes: by default the connection
//! goes to `https://<host>`; with [`ConnectTo`] it goes elsewhere (a port-forward, a router's
//! address) and the request keeps `Host: <host>`, as curl's `--connect-to` does.
//!
//! The token travels in the `Authorization: Basic` header (user name = token, empty password),
//! which porta's `ApiAuthentication::HttpAuthentication` accepts wherever it accepts the
//! `access_token` parameter: it never appears in a URL, so no URL this module names (errors,
//! [`Response::url`]) holds it. [`Token`] never prints its value.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use base64::Engine;
use http_body_util::Full;
use hyper::body::Bytes;

use super::https::{self, HttpsClient};

/// How long one request may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// The most of a body kept, so a wrong host serving a big page cannot fill memory.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// An access token. Its value is only ever written into a request header.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(value: impl Into<String>) -> Token {
        Token(value.into())
    }

    /// The value, for whoever must compare it (the simulator, tests); never to be shown.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn basic(&self) -> String {
        let pair = format!("{}:", self.0);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Where connections go instead of the host named by the request (`http://127.0.0.1:8080`,
/// `https://10.0.0.5:443`): a scheme and an authority, nothing else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectTo {
    pub scheme: &'static str,
    pub authority: String,
}

impl ConnectTo {
    /// Parses `http://host:port` or `https://host[:port]`; Err says what is wrong.
    pub fn parse(text: &str) -> std::result::Result<ConnectTo, String> {
        let text = text.trim();
        let (scheme, rest) = if let Some(rest) = text.strip_prefix("http://") {
            ("http", rest)
        } else if let Some(rest) = text.strip_prefix("https://") {
            ("https", rest)
        } else {
            return Err(format!(
                "`{text}` is not an http:// or https:// address (e.g. http://127.0.0.1:8080)"
            ));
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty()
            || authority.contains(['/', '?', '#', '@', ' '])
            || authority.parse::<hyper::http::uri::Authority>().is_err()
        {
            return Err(format!(
                "`{text}` must be a scheme, a host and an optional port only (e.g. \
                 http://127.0.0.1:8080), with no path, query or user"
            ));
        }
        Ok(ConnectTo {
            scheme,
            authority: authority.to_string(),
        })
    }
}

impl fmt::Display for ConnectTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}

/// What porta answered.
#[derive(Clone, Debug)]
pub struct Response {
    /// The request's URL as the operator would type it (`https://<host><path>`), without the
    /// token.
    pub url: String,
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON; Err names the URL and what came instead.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(|e| {
            anyhow!(
                "{} answered {} with a body that is not JSON ({e}): {}",
                self.url,
                self.status,
                self.excerpt()
            )
        })
    }

    /// The start of the body, for a message.
    pub fn excerpt(&self) -> String {
        https::excerpt(&self.body, 200)
    }
}

/// How a request says who sends it; never shown.
#[derive(Clone, Copy)]
enum Credential<'a> {
    /// An access token, in HTTP Basic (porta's APIs).
    Token(&'a Token),
    /// An application's key, in the query (a product's gateway).
    UserKey(&'a Token),
}

/// A client of porta's APIs.
#[derive(Clone)]
pub struct ApiClient {
    client: HttpsClient,
    connect_to: Option<ConnectTo>,
}

impl ApiClient {
    /// A client that trusts the system's certificate authorities and, when given, those of
    /// `ca_file` (PEM; a private router certificate's CA), and connects to `connect_to` when
    /// given.
    pub fn new(connect_to: Option<ConnectTo>, ca_file: Option<&Path>) -> Result<ApiClient> {
        let client = https::client(ca_file)?;
        Ok(ApiClient { client, connect_to })
    }

    /// `GET https://<host><path>` with `token`.
    pub async fn get(&self, host: &str, path: &str, token: &Token) -> Result<Response> {
        self.send(
            hyper::Method::GET,
            host,
            path,
            None,
            Credential::Token(token),
        )
        .await
    }

    /// `GET https://<host><path>?user_key=...` through a product's gateway, as an application
    /// calls it (APIcast's default: the key in the query); the key is shown as `***` wherever
    /// the URL is named.
    pub async fn get_as_application(
        &self,
        host: &str,
        path: &str,
        user_key: &Token,
    ) -> Result<Response> {
        self.send(
            hyper::Method::GET,
            host,
            path,
            None,
            Credential::UserKey(user_key),
        )
        .await
    }

    /// `PUT https://<host><path>` with `form` as `application/x-www-form-urlencoded`.
    pub async fn put_form(
        &self,
        host: &str,
        path: &str,
        form: &[(&str, &str)],
        token: &Token,
    ) -> Result<Response> {
        let body = form_encode(form);
        self.send(
            hyper::Method::PUT,
            host,
            path,
            Some(body),
            Credential::Token(token),
        )
        .await
    }

    async fn send(
        &self,
        method: hyper::Method,
        host: &str,
        path: &str,
        body: Option<String>,
        credential: Credential<'_>,
    ) -> Result<Response> {
        if host.is_empty() || host.contains(['/', '@', ' ', '?', '#']) {
            bail!("`{host}` is not a host name");
        }
        if !path.starts_with('/') || path.contains(['?', '#']) {
            bail!("`{path}` is not a path");
        }
        let (query, shown_query) = match credential {
            Credential::Token(_) => (String::new(), String::new()),
            Credential::UserKey(key) => (
                format!("?user_key={}", percent(key.expose())),
                "?user_key=***".to_string(),
            ),
        };
        let url = format!("https://{host}{path}{shown_query}");
        let target = match &self.connect_to {
            Some(c) => format!("{}://{}{path}{query}", c.scheme, c.authority),
            None => format!("https://{host}{path}{query}"),
        };
        let through = match &self.connect_to {
            Some(c) => format!(" (connecting to {c})"),
            None => String::new(),
        };
        let mut request = hyper::Request::builder()
            .method(method.clone())
            .uri(&target)
            .header(hyper::header::HOST, host)
            .header(hyper::header::ACCEPT, "application/json");
        if let Credential::Token(token) = credential {
            request = request.header(hyper::header::AUTHORIZATION, token.basic());
        }
        if body.is_some() {
            request = request.header(
                hyper::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| anyhow!("cannot build the request {method} {url}: {e}"))?;
        let exchange = async {
            let (status, bytes) =
                https::exchange(&self.client, request, MAX_BODY, &url, "porta", |e| {
                    anyhow!("{method} {url}{through} failed: {}", https::chain(e))
                })
                .await?;
            Ok(Response {
                url: url.clone(),
                status,
                body: bytes,
            })
        };
        tokio::time::timeout(TIMEOUT, exchange).await.map_err(|_| {
            anyhow!(
                "{method} {url}{through} did not answer within {}s",
                TIMEOUT.as_secs()
            )
        })?
    }
}

/// `application/x-www-form-urlencoded` of `form`.
pub fn form_encode(form: &[(&str, &str)]) -> String {
    form.iter()
        .map(|(k, v)| format!("{}={}", percent(k), percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `text` percent-encoded (RFC 3986 unreserved characters kept), for a form or a path segment.
pub fn percent(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_to_takes_a_scheme_and_an_authority_only() {
        assert_eq!(
            ConnectTo::parse("http://127.0.0.1:8080/").unwrap(),
            ConnectTo {
                scheme: "http",
                authority: "127.0.0.1:8080".into()
            }
        );
        assert!(ConnectTo::parse("https://router.example.com").is_ok());
        for bad in [
            "127.0.0.1:80",
            "ftp://x",
            "http://",
            "http://u:p@h:1",
            "http://h:1/path",
        ] {
            assert!(ConnectTo::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_token_never_prints() {
        let t = Token::new("s3cr3t");
        assert_eq!(format!("{t:?}"), "Token(***)");
        assert!(!t.basic().contains("s3cr3t"));
    }

    #[test]
    fn forms_are_percent_encoded() {
        assert_eq!(
            form_encode(&[("plan_id", "7"), ("a b", "x&y")]),
            "plan_id=7&a%20b=x%26y"
        );
    }
}
