//! A real S3 server for the tests and the sandbox: the s3s project's S3 protocol (requests,
//! SigV4 authentication of one access key, presigned URLs, errors as XML) over a folder
//! (`store`), on 127.0.0.1. A wrong key or signature is refused 403, a missing bucket 404
//! NoSuchBucket, a missing key NoSuchKey, creating an existing bucket BucketAlreadyOwnedByYou,
//! as MinIO answers. Buckets are the folder's subfolders and objects its files, so the data
//! stays when the server stops and a server started again on the folder (and the same port)
//! serves it again. Keys are taken up to S3's 1,024 bytes, listings carry ETags, and a listing
//! asked for `encoding-type=url` gets its keys encoded as S3 and MinIO encode them, so a client
//! decoding them is not led astray by a `+`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{HttpError, HttpResponse};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::infra::s3::{DEFAULT_REGION, S3Endpoint};

mod store;

/// One S3 server on loopback; stops when dropped (its data stays in its folder).
pub struct S3Server {
    addr: SocketAddr,
    root: PathBuf,
    access_key: String,
    secret_key: String,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for S3Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Server")
            .field("addr", &self.addr)
            .field("root", &self.root)
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

impl S3Server {
    /// A server over `root` (created when missing) on a free port.
    pub async fn start(root: &Path, access_key: &str, secret_key: &str) -> Result<S3Server> {
        S3Server::start_on(root, access_key, secret_key, 0).await
    }

    /// A server over `root` on `port` (0: a free one), as a kept sandbox starts it again.
    pub async fn start_on(
        root: &Path,
        access_key: &str,
        secret_key: &str,
        port: u16,
    ) -> Result<S3Server> {
        std::fs::create_dir_all(root).with_context(|| {
            format!("cannot create the object storage folder {}", root.display())
        })?;
        let folder = store::Folder::new(root)
            .with_context(|| format!("cannot serve {} as object storage", root.display()))?;
        let mut builder = S3ServiceBuilder::new(folder);
        builder.set_auth(SimpleAuth::from_single(access_key, secret_key));
        let service = builder.build();
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{port} for the object storage"))?;
        let addr = listener
            .local_addr()
            .context("the object storage's listening address")?;
        let task = tokio::spawn(async move {
            // Dropped with this task, aborting every connection.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((socket, _)) = accepted else { continue };
                        let service = service.clone();
                        let service = hyper::service::service_fn(move |request| {
                            let service = service.clone();
                            async move { serve(&service, request).await }
                        });
                        connections.spawn(async move {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(socket), service)
                                .await;
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(S3Server {
            addr,
            root: root.to_path_buf(),
            access_key: access_key.to_string(),
            secret_key: secret_key.to_string(),
            task,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The folder it serves.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The multipart uploads in progress, and the parts they hold.
    pub fn uploads_in_progress(&self) -> (usize, usize) {
        store::multipart::uploads(&self.root)
    }

    /// What a client needs to reach it with its key.
    pub fn client_endpoint(&self) -> S3Endpoint {
        S3Endpoint {
            url: self.endpoint(),
            region: DEFAULT_REGION.to_string(),
            access_key: self.access_key.clone(),
            secret_key: self.secret_key.clone(),
            ca_file: None,
        }
    }

    /// Stops it and waits until its port is free again.
    pub async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One request, through s3s; a listing asked for `encoding-type=url` gets its keys encoded.
async fn serve(
    service: &S3Service,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<HttpResponse, HttpError> {
    let encode = wants_url_encoding(request.uri().query().unwrap_or(""));
    let response = hyper::service::Service::call(service, request).await?;
    if !encode || !response.status().is_success() {
        return Ok(response);
    }
    let (mut parts, body) = response.into_parts();
    let bytes = body.collect().await.map_err(HttpError::new)?.to_bytes();
    let text = url_encode_listing(&String::from_utf8_lossy(&bytes));
    parts
        .headers
        .insert(hyper::header::CONTENT_LENGTH, text.len().into());
    Ok(HttpResponse::from_parts(parts, s3s::Body::from(text)))
}

/// Whether a request is a listing (`GET /<bucket>?list-type=2` or V1) asking for url-encoded
/// keys.
fn wants_url_encoding(query: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes()).any(|(k, v)| k == "encoding-type" && v == "url")
}

/// A listing's keys, prefixes and markers url-encoded as S3 does (`encoding-type=url`): a space
/// as `+`, what is not unreserved or `/` as `%XX`.
fn url_encode_listing(xml: &str) -> String {
    let mut out = xml.to_string();
    for name in [
        "Key",
        "Prefix",
        "StartAfter",
        "Delimiter",
        "Marker",
        "NextMarker",
    ] {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let mut rebuilt = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(at) = rest.find(&open) {
            let start = at + open.len();
            let Some(len) = rest[start..].find(&close) else {
                break;
            };
            rebuilt.push_str(&rest[..start]);
            rebuilt.push_str(&form_encode(&xml_unescape(&rest[start..start + len])));
            rest = &rest[start + len..];
        }
        rebuilt.push_str(rest);
        out = rebuilt;
    }
    out
}

fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_are_encoded_as_s3_encodes_them() {
        assert!(wants_url_encoding("list-type=2&encoding-type=url&prefix=a"));
        assert!(!wants_url_encoding("list-type=2"));
        let xml = "<Contents><Key>a b+c&amp;d/é</Key></Contents><Prefix>p q</Prefix>";
        assert_eq!(
            url_encode_listing(xml),
            "<Contents><Key>a+b%2Bc%26d/%C3%A9</Key></Contents><Prefix>p+q</Prefix>"
        );
    }
}
