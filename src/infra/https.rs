//! The HTTPS client cutover's adapters share (porta's APIs, Keycloak's admin API, S3): hyper with
//! rustls, trusting the system's certificate authorities and optionally those of a PEM file (a
//! private router certificate's CA), plain `http://` allowed for port-forwards and simulators;
//! and the one way their errors and bodies are read.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The client type the adapters hold.
pub type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A connector for `http://` and `https://` URLs. `ca_file` adds the certificates of a PEM file
/// to the system's; `connect_timeout` bounds the TCP connection (None: the system's).
pub fn connector(
    ca_file: Option<&Path>,
    connect_timeout: Option<Duration>,
) -> Result<HttpsConnector<HttpConnector>> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A certificate of the system store rustls cannot read is skipped, as curl does.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .with_context(|| format!("cannot read the CA file {}", path.display()))?
            .collect::<std::result::Result<_, _>>()
            .with_context(|| format!("{} is not a PEM certificate file", path.display()))?;
        if certs.is_empty() {
            bail!("{} holds no PEM certificate", path.display());
        }
        for cert in certs {
            roots.add(cert).with_context(|| {
                format!("{} holds a certificate rustls refuses", path.display())
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("cannot set up TLS")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(connect_timeout);
    http.set_nodelay(true);
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http))
}

/// A client that trusts the system's certificate authorities and, when given, those of
/// `ca_file` (PEM).
pub fn client(ca_file: Option<&Path>) -> Result<HttpsClient> {
    Ok(Client::builder(TokioExecutor::new()).build(connector(ca_file, None)?))
}

/// The error and its causes on one line (hyper's client error alone says little: "client
/// error (Connect)").
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Sends `request` and reads the whole answer (at most `max` bytes): its status and body. A
/// request that gets no answer is `unanswered`'s error.
pub async fn exchange(
    client: &HttpsClient,
    request: hyper::Request<Full<Bytes>>,
    max: usize,
    url: &str,
    what: &str,
    unanswered: impl FnOnce(&hyper_util::client::legacy::Error) -> anyhow::Error,
) -> Result<(u16, Vec<u8>)> {
    let response = client.request(request).await.map_err(|e| unanswered(&e))?;
    let status = response.status().as_u16();
    let body = read_body(response, max, url, what).await?;
    Ok((status, body))
}

/// The whole body of `response`, at most `max` bytes; `url` and `what` (the kind of server
/// expected) name it in errors.
pub async fn read_body(
    response: hyper::Response<hyper::body::Incoming>,
    max: usize,
    url: &str,
    what: &str,
) -> Result<Vec<u8>> {
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| anyhow!("reading the answer of {url} failed: {e}"))?;
        if let Ok(data) = frame.into_data() {
            bytes.extend_from_slice(&data);
            if bytes.len() > max {
                bail!("{url} answered more than {max} bytes; is it {what}?");
            }
        }
    }
    Ok(bytes)
}

/// The start of an error answer's body (at most `chars` characters), for a message; a success
/// body, which may hold tokens, is never shown.
pub fn excerpt(body: &[u8], chars: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".into();
    }
    let cut: String = text.chars().take(chars).collect();
    if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_must_hold_pem_certificates() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let bad = dir.path().join("not-a-ca.pem");
        std::fs::write(&bad, "not a certificate\n").expect("write");
        let Err(e) = client(Some(&bad)) else {
            panic!("a file without certificates was accepted");
        };
        assert!(format!("{e:#}").contains("not-a-ca.pem"), "{e:#}");
        let missing = dir.path().join("missing.pem");
        assert!(client(Some(&missing)).is_err());
        // A real bundle, where the system has one.
        let bundle = Path::new("/etc/ssl/certs/ca-certificates.crt");
        if bundle.exists() {
            assert!(client(Some(bundle)).is_ok());
        }
    }
}
