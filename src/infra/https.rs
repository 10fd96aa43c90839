//! The one HTTPS client setup of the adapters that speak HTTP themselves (porta's APIs, S3):
//! hyper with rustls on ring, trusting the system's certificate authorities and, when given, a
//! CA file (PEM) for a private certificate.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

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
