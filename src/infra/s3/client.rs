//! A client of one bucket of an S3 object storage (MinIO, AWS, s3s): `rusty-s3` signs the
//! requests (SigV4, presigned, path-style) and parses S3's XML; they travel on hyper with
//! rustls, the one HTTP stack of the crate. Knows nothing of backups or migrations.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rusty_s3::actions::ListObjectsV2;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use super::endpoint::{S3Endpoint, authority, check_bucket_name};
use super::error::{Refusal, S3Error, ServiceError, error_body, without_signature};
use super::reader::ObjectReader;
use super::types::{
    ANSWER_TIMEOUT, CONNECT_TIMEOUT, DEFAULT_PART_SIZE, IDLE_TIMEOUT, MAX_DOCUMENT, MIN_PART_SIZE,
    ObjectHead, ObjectInfo, SIGNED_FOR,
};

type Http = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client of one bucket. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct S3Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: Http,
    bucket: Bucket,
    credentials: Credentials,
    url: String,
    authority: String,
    access_key: String,
    part_size: usize,
}

impl std::fmt::Debug for S3Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Client")
            .field("endpoint", &self.inner.url)
            .field("bucket", &self.inner.bucket.name())
            .finish_non_exhaustive()
    }
}

/// What a request is, for messages: `GET <key>`, `list <prefix>`.
pub(super) struct Op<'a> {
    pub(super) what: String,
    pub(super) key: Option<&'a str>,
}

impl<'a> Op<'a> {
    pub(super) fn on(what: &str, key: &'a str) -> Op<'a> {
        Op {
            what: format!("{what} `{key}`"),
            key: Some(key),
        }
    }

    pub(super) fn bucket(what: &str) -> Op<'a> {
        Op {
            what: what.to_string(),
            key: None,
        }
    }
}

impl S3Client {
    /// A client of `bucket` at `endpoint`. Nothing is sent yet; a bad URL, bucket name or CA
    /// file is refused here.
    pub fn new(endpoint: &S3Endpoint, bucket: &str) -> Result<S3Client, S3Error> {
        let url = endpoint.parsed()?;
        check_bucket_name(bucket)?;
        let authority = authority(&url);
        let connector =
            super::super::https::connector(endpoint.ca_file.as_deref(), Some(CONNECT_TIMEOUT))
                .map_err(|e| S3Error::Config(format!("{e:#}")))?;
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        let bucket_handle = Bucket::new(
            url.clone(),
            UrlStyle::Path,
            bucket.to_string(),
            endpoint.region().to_string(),
        )
        .map_err(|e| S3Error::Config(format!("the object storage endpoint {authority}: {e}")))?;
        Ok(S3Client {
            inner: Arc::new(Inner {
                http,
                bucket: bucket_handle,
                credentials: Credentials::new(
                    endpoint.access_key.trim(),
                    endpoint.secret_key.clone(),
                ),
                url: url.as_str().trim_end_matches('/').to_string(),
                authority,
                access_key: endpoint.access_key.trim().to_string(),
                part_size: DEFAULT_PART_SIZE,
            }),
        })
    }

    /// The same client with another multipart part size (at least S3's 5 MiB).
    pub fn with_part_size(&self, bytes: usize) -> S3Client {
        let inner = &self.inner;
        S3Client {
            inner: Arc::new(Inner {
                http: inner.http.clone(),
                bucket: inner.bucket.clone(),
                credentials: inner.credentials.clone(),
                url: inner.url.clone(),
                authority: inner.authority.clone(),
                access_key: inner.access_key.clone(),
                part_size: bytes.max(MIN_PART_SIZE),
            }),
        }
    }

    pub fn bucket(&self) -> &str {
        self.inner.bucket.name()
    }

    /// The endpoint's URL as given (no credentials in it).
    pub fn endpoint_url(&self) -> &str {
        &self.inner.url
    }

    /// `host:port` of the endpoint.
    pub fn authority(&self) -> &str {
        &self.inner.authority
    }

    pub fn part_size(&self) -> usize {
        self.inner.part_size
    }

    /// Creates the bucket; one that exists already and that this key may use is fine.
    pub async fn create_bucket(&self) -> Result<(), S3Error> {
        let action = self.inner.bucket.create_bucket(&self.inner.credentials);
        let body = action.body();
        let url = action.sign(SIGNED_FOR);
        let op = Op::bucket("create bucket");
        match self
            .call(hyper::Method::PUT, url, &[], Bytes::from(body), &op)
            .await
        {
            Ok(_) => Ok(()),
            Err(S3Error::Service(e)) if e.code == "BucketAlreadyOwnedByYou" => Ok(()),
            // AWS says this of a bucket someone else owns, some storages of any existing
            // bucket.
            // Whether it is ours is whether we may use it.
            Err(S3Error::Service(e)) if e.code == "BucketAlreadyExists" => {
                if self.bucket_exists().await? {
                    Ok(())
                } else {
                    Err(S3Error::Service(e))
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Whether the bucket exists. A refusal is an error: a key that may not see the bucket
    /// cannot tell.
    pub async fn bucket_exists(&self) -> Result<bool, S3Error> {
        let url = self.handle().head_bucket(self.creds()).sign(SIGNED_FOR);
        let op = Op::bucket("HEAD bucket");
        match self
            .call(hyper::Method::HEAD, url, &[], Bytes::new(), &op)
            .await
        {
            Ok(_) => Ok(true),
            Err(S3Error::NoSuchBucket { .. }) => Ok(false),
            // A HEAD's answer has no body, so no code says why: a listing's does.
            Err(S3Error::Refused(_)) => match self.list_page(None, None, Some(1)).await {
                Ok(_) => Ok(true),
                Err(S3Error::NoSuchBucket { .. }) => Ok(false),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Every object whose key starts with `prefix` (ListObjectsV2, all pages), in key order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, S3Error> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let (objects, next) = self.list_page(Some(prefix), token.as_deref(), None).await?;
            out.extend(objects);
            match next {
                Some(next) if Some(&next) != token.as_ref() => token = Some(next),
                Some(_) => {
                    return Err(S3Error::Protocol {
                        authority: self.inner.authority.clone(),
                        op: format!("list `{prefix}`"),
                        detail: "the listing gave the same continuation token twice".into(),
                    });
                }
                None => return Ok(out),
            }
        }
    }

    async fn list_page(
        &self,
        prefix: Option<&str>,
        token: Option<&str>,
        max_keys: Option<usize>,
    ) -> Result<(Vec<ObjectInfo>, Option<String>), S3Error> {
        let mut action: ListObjectsV2<'_> = self.handle().list_objects_v2(self.creds());
        if let Some(prefix) = prefix.filter(|p| !p.is_empty()) {
            action.with_prefix(prefix);
        }
        if let Some(token) = token {
            action.with_continuation_token(token);
        }
        if let Some(max) = max_keys {
            action.with_max_keys(max);
        }
        let url = action.sign(SIGNED_FOR);
        let op = Op::bucket(&format!("list `{}`", prefix.unwrap_or("")));
        let response = self
            .call(hyper::Method::GET, url, &[], Bytes::new(), &op)
            .await?;
        let body = self.read_document(response, &op).await?;
        let text = String::from_utf8_lossy(&body);
        let parsed = ListObjectsV2::parse_response(&text)
            .map_err(|e| self.protocol(&op, format!("unreadable listing: {e}")))?;
        let objects = parsed
            .contents
            .into_iter()
            .map(|c| ObjectInfo {
                key: c.key,
                size: c.size.unwrap_or(0),
                etag: c.etag.map(|e| unquote(&e)),
                last_modified: c.last_modified,
            })
            .collect();
        Ok((objects, parsed.next_continuation_token))
    }

    /// What the storage says of an object; None when there is none.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectHead>, S3Error> {
        let url = self
            .handle()
            .head_object(self.creds(), key)
            .sign(SIGNED_FOR);
        let op = Op::on("HEAD", key);
        match self
            .call(hyper::Method::HEAD, url, &[], Bytes::new(), &op)
            .await
        {
            Ok(response) => Ok(Some(head_of(response.headers(), &op, self)?)),
            Err(S3Error::NoSuchKey { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A whole object, in memory (small objects: a manifest, a JSON file); None when there is
    /// none.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, S3Error> {
        let mut reader = match self.get_stream(key).await {
            Ok(reader) => reader,
            Err(S3Error::NoSuchKey { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut out = Vec::with_capacity(
            usize::try_from(reader.size())
                .unwrap_or(0)
                .min(MAX_DOCUMENT),
        );
        while let Some(chunk) = reader.chunk().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(Some(Bytes::from(out)))
    }

    /// An object as it arrives, one piece at a time (bounded memory).
    pub async fn get_stream(&self, key: &str) -> Result<ObjectReader, S3Error> {
        let url = self.handle().get_object(self.creds(), key).sign(SIGNED_FOR);
        let op = Op::on("GET", key);
        let response = self
            .call(hyper::Method::GET, url, &[], Bytes::new(), &op)
            .await?;
        let head = head_of(response.headers(), &op, self)?;
        Ok(ObjectReader::new(
            key.to_string(),
            head,
            response.into_body(),
            self.inner.authority.clone(),
        ))
    }

    /// Writes an object in one request, with user metadata (`x-amz-meta-<name>`); gives its
    /// ETag.
    pub async fn put(
        &self,
        key: &str,
        body: Bytes,
        metadata: &[(&str, &str)],
    ) -> Result<String, S3Error> {
        let headers = metadata_headers(metadata)?;
        let mut action = self.handle().put_object(self.creds(), key);
        for (name, value) in &headers {
            action.headers_mut().insert(name.clone(), value.clone());
        }
        let url = action.sign(SIGNED_FOR);
        let op = Op::on("PUT", key);
        let response = self
            .call(hyper::Method::PUT, url, &headers, body, &op)
            .await?;
        Ok(etag_of(response.headers()).unwrap_or_default())
    }

    /// Deletes an object; one that is not there is fine.
    pub async fn delete(&self, key: &str) -> Result<(), S3Error> {
        let url = self
            .handle()
            .delete_object(self.creds(), key)
            .sign(SIGNED_FOR);
        let op = Op::on("DELETE", key);
        match self
            .call(hyper::Method::DELETE, url, &[], Bytes::new(), &op)
            .await
        {
            Ok(_) | Err(S3Error::NoSuchKey { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A URL anyone holding it may GET the object with, for `ttl` (1 s to 7 days), as Velero's
    /// DownloadRequests give. It carries a signature: never log it.
    pub fn presign_get(&self, key: &str, ttl: Duration) -> String {
        let ttl = ttl.clamp(Duration::from_secs(1), Duration::from_secs(7 * 24 * 3600));
        self.handle()
            .get_object(self.creds(), key)
            .sign(ttl)
            .to_string()
    }

    // --- the multipart upload's requests (used by `stream`) ---

    pub(super) async fn create_multipart(
        &self,
        key: &str,
        headers: &[(String, String)],
    ) -> Result<String, S3Error> {
        let mut action = self.handle().create_multipart_upload(self.creds(), key);
        for (name, value) in headers {
            action.headers_mut().insert(name.clone(), value.clone());
        }
        let url = action.sign(SIGNED_FOR);
        let op = Op::on("start the multipart upload of", key);
        let response = self
            .call(hyper::Method::POST, url, headers, Bytes::new(), &op)
            .await?;
        let body = self.read_document(response, &op).await?;
        let parsed = rusty_s3::actions::CreateMultipartUpload::parse_response(
            &String::from_utf8_lossy(&body),
        )
        .map_err(|e| self.protocol(&op, format!("unreadable answer: {e}")))?;
        Ok(parsed.upload_id().to_string())
    }

    pub(super) async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u16,
        body: Bytes,
    ) -> Result<String, S3Error> {
        let url = self
            .handle()
            .upload_part(self.creds(), key, number, upload_id)
            .sign(SIGNED_FOR);
        let op = Op::on(&format!("upload part {number} of"), key);
        let response = self.call(hyper::Method::PUT, url, &[], body, &op).await?;
        etag_of(response.headers()).ok_or_else(|| self.protocol(&op, "no ETag for the part".into()))
    }

    pub(super) async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        etags: &[String],
    ) -> Result<String, S3Error> {
        let action = self.inner.bucket.complete_multipart_upload(
            Some(&self.inner.credentials),
            key,
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = action.sign(SIGNED_FOR);
        let body = action.body();
        let op = Op::on("complete the multipart upload of", key);
        let response = self
            .call(hyper::Method::POST, url, &[], Bytes::from(body), &op)
            .await?;
        let body = self.read_document(response, &op).await?;
        // S3 may answer 200 and still fail the completion, with an error document.
        let (code, message) = error_body(&body);
        if !code.is_empty() {
            return Err(self.service_error(&op, 200, code, message));
        }
        let parsed = rusty_s3::actions::CompleteMultipartUploadResponse::parse(
            &String::from_utf8_lossy(&body),
        )
        .map_err(|e| self.protocol(&op, format!("unreadable answer: {e}")))?;
        Ok(unquote(parsed.etag()))
    }

    pub(super) async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), S3Error> {
        let url = self
            .handle()
            .abort_multipart_upload(self.creds(), key, upload_id)
            .sign(SIGNED_FOR);
        let op = Op::on("abort the multipart upload of", key);
        let response = self
            .send(hyper::Method::DELETE, url, &[], Bytes::new(), &op)
            .await?;
        self.check(response, &op).await.map(|_| ())
    }

    // --- one request ---

    fn handle(&self) -> &Bucket {
        &self.inner.bucket
    }

    fn creds(&self) -> Option<&Credentials> {
        Some(&self.inner.credentials)
    }

    /// One request whose answer must be a success.
    async fn call(
        &self,
        method: hyper::Method,
        url: url::Url,
        headers: &[(String, String)],
        body: Bytes,
        op: &Op<'_>,
    ) -> Result<hyper::Response<Incoming>, S3Error> {
        let response = self.send(method, url, headers, body, op).await?;
        self.check(response, op).await
    }

    async fn send(
        &self,
        method: hyper::Method,
        url: url::Url,
        headers: &[(String, String)],
        body: Bytes,
        op: &Op<'_>,
    ) -> Result<hyper::Response<Incoming>, S3Error> {
        let mut request = hyper::Request::builder().method(method).uri(url.as_str());
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request.body(Full::new(body)).map_err(|e| {
            self.protocol(
                op,
                format!(
                    "cannot build the request: {}",
                    without_signature(&e.to_string())
                ),
            )
        })?;
        match tokio::time::timeout(ANSWER_TIMEOUT, self.inner.http.request(request)).await {
            Err(_) => Err(S3Error::Timeout {
                authority: self.inner.authority.clone(),
                op: op.what.clone(),
                secs: ANSWER_TIMEOUT.as_secs(),
            }),
            Ok(Err(e)) => Err(self.connection_error(&e, op)),
            Ok(Ok(response)) => Ok(response),
        }
    }

    fn connection_error(&self, e: &hyper_util::client::legacy::Error, op: &Op<'_>) -> S3Error {
        let detail = without_signature(&super::super::https::chain(e));
        let authority = self.inner.authority.clone();
        if is_tls(e) {
            S3Error::Tls { authority, detail }
        } else if e.is_connect() {
            S3Error::Unreachable { authority, detail }
        } else {
            self.protocol(op, format!("the connection failed: {detail}"))
        }
    }

    /// The answer when it is a success; the error it says otherwise.
    async fn check(
        &self,
        response: hyper::Response<Incoming>,
        op: &Op<'_>,
    ) -> Result<hyper::Response<Incoming>, S3Error> {
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let body = self.read_document(response, op).await.unwrap_or_default();
        let (code, message) = error_body(&body);
        Err(self.service_error(op, status, code, message))
    }

    fn service_error(&self, op: &Op<'_>, status: u16, code: String, message: String) -> S3Error {
        let authority = self.inner.authority.clone();
        let bucket = self.bucket().to_string();
        match (status, code.as_str()) {
            (403, _) => S3Error::Refused(Box::new(Refusal {
                authority,
                bucket,
                access_key: self.inner.access_key.clone(),
                op: op.what.clone(),
                code: if code.is_empty() {
                    "AccessDenied".into()
                } else {
                    code
                },
                message,
            })),
            (_, "NoSuchBucket") => S3Error::NoSuchBucket { authority, bucket },
            (_, "NoSuchKey") => S3Error::NoSuchKey {
                authority,
                bucket,
                key: op.key.unwrap_or_default().to_string(),
            },
            // A HEAD's 404 has no body: an object's is a missing object, a bucket's a missing
            // bucket.
            (404, "") => match op.key {
                Some(key) => S3Error::NoSuchKey {
                    authority,
                    bucket,
                    key: key.to_string(),
                },
                None => S3Error::NoSuchBucket { authority, bucket },
            },
            _ => S3Error::Service(Box::new(ServiceError {
                authority,
                bucket,
                op: op.what.clone(),
                status,
                code: if code.is_empty() {
                    "(no code)".into()
                } else {
                    code
                },
                message,
            })),
        }
    }

    /// A whole (small) answer body: an XML document or an error.
    async fn read_document(
        &self,
        response: hyper::Response<Incoming>,
        op: &Op<'_>,
    ) -> Result<Vec<u8>, S3Error> {
        let mut body = response.into_body();
        let mut out = Vec::new();
        loop {
            let frame = match tokio::time::timeout(IDLE_TIMEOUT, body.frame()).await {
                Err(_) => {
                    return Err(S3Error::Timeout {
                        authority: self.inner.authority.clone(),
                        op: op.what.clone(),
                        secs: IDLE_TIMEOUT.as_secs(),
                    });
                }
                Ok(None) => return Ok(out),
                Ok(Some(frame)) => {
                    frame.map_err(|e| self.protocol(op, format!("the answer broke off: {e}")))?
                }
            };
            if let Ok(data) = frame.into_data() {
                out.extend_from_slice(&data);
                if out.len() > MAX_DOCUMENT {
                    return Err(
                        self.protocol(op, format!("an answer of more than {MAX_DOCUMENT} bytes"))
                    );
                }
            }
        }
    }

    pub(super) fn protocol(&self, op: &Op<'_>, detail: String) -> S3Error {
        S3Error::Protocol {
            authority: self.inner.authority.clone(),
            op: op.what.clone(),
            detail,
        }
    }
}

/// Whether a connection error is TLS's: rustls's error somewhere in the chain. An
/// `io::Error` wrapping another error gives that error's *source* as its own, so it is
/// descended through `get_ref` (hyper-rustls wraps tokio-rustls's `io::Error` in another).
fn is_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    if e.downcast_ref::<rustls::Error>().is_some() {
        return true;
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>()
        && let Some(inner) = io.get_ref()
    {
        return is_tls(inner);
    }
    e.source().is_some_and(is_tls)
}

/// `x-amz-meta-<name>` headers of user metadata, checked: names of lowercase letters, digits
/// and hyphens, values of printable ASCII (what every S3 keeps as given).
pub(super) fn metadata_headers(
    metadata: &[(&str, &str)],
) -> Result<Vec<(String, String)>, S3Error> {
    metadata
        .iter()
        .map(|(name, value)| {
            let name_ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            let value_ok = value.chars().all(|c| c.is_ascii_graphic() || c == ' ');
            if name_ok && value_ok {
                Ok((format!("x-amz-meta-{name}"), value.to_string()))
            } else {
                Err(S3Error::Config(format!(
                    "object metadata `{name}` cannot be sent: names of lowercase letters, digits \
                     and hyphens, values of printable ASCII"
                )))
            }
        })
        .collect()
}

fn head_of(
    headers: &hyper::HeaderMap,
    op: &Op<'_>,
    client: &S3Client,
) -> Result<ObjectHead, S3Error> {
    let size = headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| client.protocol(op, "no Content-Length".into()))?;
    let metadata = headers
        .iter()
        .filter_map(|(name, value)| {
            let name = name.as_str().strip_prefix("x-amz-meta-")?;
            Some((name.to_string(), value.to_str().ok()?.to_string()))
        })
        .collect();
    Ok(ObjectHead {
        size,
        etag: etag_of(headers),
        last_modified: headers
            .get(hyper::header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        metadata,
    })
}

fn etag_of(headers: &hyper::HeaderMap) -> Option<String> {
    headers
        .get(hyper::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(unquote)
}

fn unquote(etag: &str) -> String {
    etag.trim().trim_matches('"').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_names_and_values_are_checked() {
        assert_eq!(
            metadata_headers(&[("sha256", "ab12")]).unwrap(),
            vec![("x-amz-meta-sha256".to_string(), "ab12".to_string())]
        );
        assert!(metadata_headers(&[("Sha256", "x")]).is_err());
        assert!(metadata_headers(&[("sha256", "a\nb")]).is_err());
    }

    #[test]
    fn etags_lose_their_quotes() {
        assert_eq!(unquote("\"abc-2\""), "abc-2");
    }
}
