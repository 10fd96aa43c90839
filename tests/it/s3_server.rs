//! The sandbox's S3 server (`sim::s3`) answers as MinIO does, spoken to with signed requests
//! of an independent client (rusty-s3) beside cutover's own: keys up to 1,024 bytes (a Velero
//! restore log's key is long), what MinIO refuses in a key, listings with a delimiter across
//! pages, ETags in listings, multipart rules, and a body that does not match its Content-MD5.

use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use cutover::infra::s3::{S3Client, S3Error};
use cutover::sim::s3::S3Server;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use md5::Digest;
use rusty_s3::actions::{
    CompleteMultipartUpload, CreateMultipartUpload, ListObjectsV2, PutObject, S3Action, UploadPart,
};
use rusty_s3::{Bucket, Credentials, UrlStyle};

const ACCESS: &str = "minio-access";
const SECRET: &str = "minio-secret-0123456789";
const BUCKET: &str = "abc-02-backups";
const SIGNED: Duration = Duration::from_secs(600);

struct World {
    _dir: tempfile::TempDir,
    server: S3Server,
    bucket: Bucket,
    creds: Credentials,
    client: S3Client,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let server = S3Server::start(&dir.path().join("minio"), ACCESS, SECRET)
        .await
        .unwrap();
    let client = S3Client::new(&server.client_endpoint(), BUCKET).unwrap();
    client.create_bucket().await.unwrap();
    let bucket = Bucket::new(
        server.endpoint().parse().unwrap(),
        UrlStyle::Path,
        BUCKET,
        "us-east-1",
    )
    .unwrap();
    World {
        _dir: dir,
        server,
        bucket,
        creds: Credentials::new(ACCESS, SECRET),
        client,
    }
}

/// One signed request: the status and the body.
async fn send(
    method: hyper::Method,
    url: url::Url,
    headers: &[(&str, String)],
    body: Bytes,
) -> (u16, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = hyper::Request::builder().method(method).uri(url.as_str());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = client
        .request(request.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Completes the upload `id` with the parts' ETags given: the status and the body.
async fn complete(w: &World, key: &str, id: &str, etags: &[&str]) -> (u16, String) {
    let complete =
        CompleteMultipartUpload::new(&w.bucket, Some(&w.creds), key, id, etags.iter().copied());
    send(
        hyper::Method::POST,
        complete.sign(SIGNED),
        &[],
        Bytes::from(complete.body()),
    )
    .await
}

fn code_of(e: &S3Error) -> String {
    match e {
        S3Error::Service(s) => s.code.clone(),
        other => panic!("a refusal with a code was expected: {other}"),
    }
}

#[tokio::test]
async fn s3_server_takes_keys_up_to_1024_bytes_as_minio_does() {
    let w = world().await;
    // A restore's log, as Velero names it: longer than a file name may be.
    let restore = format!(
        "abc-02-2026-12-07-22-53-30-{}",
        "crunchy-postgres-analytical"
    );
    let key = format!(
        "openshift-backups/restores/{restore}/restore-{restore}-logs.gz/{}",
        "x".repeat(200)
    );
    assert!(key.len() > 300);
    let etag = w
        .client
        .put(
            &key,
            Bytes::from_static(b"log lines"),
            &[("origin", "velero")],
        )
        .await
        .unwrap();
    assert_eq!(
        w.client.get(&key).await.unwrap().as_deref(),
        Some(&b"log lines"[..])
    );
    let head = w.client.head(&key).await.unwrap().unwrap();
    assert_eq!(head.size, 9);
    let listed = w.client.list("openshift-backups/restores/").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, key);
    // The listing carries the ETag the PUT gave, as MinIO's does.
    assert_eq!(listed[0].etag.as_deref(), Some(etag.trim_matches('"')));

    let too_long = "k".repeat(1025);
    let e = w
        .client
        .put(&too_long, Bytes::from_static(b"1"), &[])
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "KeyTooLongError", "{e}");
    let long_segment = format!("a/{}/b", "s".repeat(256));
    let e = w
        .client
        .put(&long_segment, Bytes::from_static(b"1"), &[])
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "KeyTooLongError", "{e}");
    // Nothing of either was kept.
    assert_eq!(w.client.list("").await.unwrap().len(), 1);
}

#[tokio::test]
async fn s3_server_refuses_what_a_file_system_cannot_hold_as_minio_does() {
    let w = world().await;
    w.client
        .put("backups/b1", Bytes::from_static(b"1"), &[])
        .await
        .unwrap();
    // An object under an object's key.
    let e = w
        .client
        .put(
            "backups/b1/velero-backup.json",
            Bytes::from_static(b"2"),
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "XMinioParentIsObject", "{e}");
    // An object at a prefix that holds objects.
    w.client
        .put("restic/abc-02/config", Bytes::from_static(b"3"), &[])
        .await
        .unwrap();
    let e = w
        .client
        .put("restic/abc-02", Bytes::from_static(b"4"), &[])
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "XMinioObjectExistsAsDirectory", "{e}");
    assert_eq!(e.status(), Some(409));
    // (`.` and `..` segments a URL folds away before the request is signed.)
    for bad in ["a//b", "/a"] {
        let url = PutObject::new(&w.bucket, Some(&w.creds), bad).sign(SIGNED);
        let (status, body) = send(hyper::Method::PUT, url, &[], Bytes::from_static(b"5")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains("XMinioInvalidObjectName"), "{bad}: {body}");
    }
    let root = w.server.root();
    assert!(!root.join("b").exists());
    assert!(!root.join(BUCKET).join("..").join("b").is_file());
    // A listing's prefix never reaches outside the bucket.
    let other = S3Client::new(&w.server.client_endpoint(), "other-bucket").unwrap();
    other.create_bucket().await.unwrap();
    other
        .put("secret/data", Bytes::from_static(b"6"), &[])
        .await
        .unwrap();
    for prefix in [
        "../other-bucket/",
        "../other-bucket/secret/",
        "/etc/",
        "a/../",
    ] {
        assert!(w.client.list(prefix).await.unwrap().is_empty(), "{prefix}");
    }
    // Deleting an object prunes its empty folders; others stay.
    w.client.delete("restic/abc-02/config").await.unwrap();
    assert!(!root.join(BUCKET).join("restic").exists());
    assert_eq!(w.client.list("").await.unwrap().len(), 1);
}

#[tokio::test]
async fn s3_server_lists_with_a_delimiter_across_pages() {
    let w = world().await;
    let keys = [
        "openshift-backups/backups/b1/velero-backup.json",
        "openshift-backups/backups/b1/b1.tar.gz",
        "openshift-backups/backups/b2/velero-backup.json",
        "openshift-backups/backups/b3/velero-backup.json",
        "openshift-backups/backups/top.txt",
        "openshift-backups/restic/abc-02/config",
    ];
    for key in keys {
        w.client
            .put(key, Bytes::from_static(b"x"), &[])
            .await
            .unwrap();
    }
    // Two entries a page: b1/, b2/ | b3/, top.txt.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..5 {
        let mut action = ListObjectsV2::new(&w.bucket, Some(&w.creds));
        action.with_prefix("openshift-backups/backups/");
        action.with_delimiter("/");
        action.with_max_keys(2);
        if let Some(t) = &token {
            action.with_continuation_token(t.clone());
        }
        let (status, body) = send(hyper::Method::GET, action.sign(SIGNED), &[], Bytes::new()).await;
        assert_eq!(status, 200, "{body}");
        let page = ListObjectsV2::parse_response(&body).unwrap();
        assert!(page.contents.len() + page.common_prefixes.len() <= 2);
        seen.extend(page.common_prefixes.into_iter().map(|p| p.prefix));
        seen.extend(page.contents.into_iter().map(|c| c.key));
        match page.next_continuation_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "openshift-backups/backups/b1/",
            "openshift-backups/backups/b2/",
            "openshift-backups/backups/b3/",
            "openshift-backups/backups/top.txt",
        ]
    );
    // A prefix that is not a folder's.
    let all = w.client.list("openshift-backups/backups/b").await.unwrap();
    assert_eq!(all.len(), 4);
}

#[tokio::test]
async fn s3_server_holds_multipart_uploads_to_s3_rules() {
    let w = world().await;
    let key = "openshift-backups/backups/b1/b1.tar.gz";
    let create = CreateMultipartUpload::new(&w.bucket, Some(&w.creds), key);
    let (status, body) = send(hyper::Method::POST, create.sign(SIGNED), &[], Bytes::new()).await;
    assert_eq!(status, 200, "{body}");
    let upload = CreateMultipartUpload::parse_response(&body).unwrap();
    let id = upload.upload_id().to_string();
    let mut etags = Vec::new();
    for (n, len) in [(1u16, 1024usize), (2, 10)] {
        let url = UploadPart::new(&w.bucket, Some(&w.creds), key, n, &id).sign(SIGNED);
        let (status, body) = send(
            hyper::Method::PUT,
            url,
            &[],
            Bytes::from(vec![n as u8; len]),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        etags.push(hex::encode(md5::Md5::digest(vec![n as u8; len])));
    }
    assert_eq!(w.server.uploads_in_progress(), (1, 2));
    // The first part is under 5 MiB: refused, and the upload stays to be completed or aborted.
    let parts: Vec<&str> = etags.iter().map(String::as_str).collect();
    let (status, text) = complete(&w, key, &id, &parts).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("EntityTooSmall"), "{text}");
    assert!(w.client.head(key).await.unwrap().is_none());
    // A part's ETag that is not its own.
    let (status, text) = complete(&w, key, &id, &["0123456789abcdef0123456789abcdef"]).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("InvalidPart"), "{text}");
    // The last part alone completes: its ETag is MinIO's, the MD5 of the parts' MD5s and
    // their count.
    let (status, text) = complete(&w, key, &id, &[etags[0].as_str()]).await;
    assert_eq!(status, 200, "{text}");
    let expected = format!(
        "{}-1",
        hex::encode(md5::Md5::digest(hex::decode(&etags[0]).unwrap()))
    );
    assert!(text.contains(&expected), "{text}");
    assert_eq!(w.client.head(key).await.unwrap().unwrap().size, 1024);
    assert_eq!(w.server.uploads_in_progress(), (0, 0));
}

#[tokio::test]
async fn s3_server_refuses_a_body_that_is_not_its_content_md5() {
    let w = world().await;
    let key = "openshift-backups/backups/b1/velero-backup.json";
    let action = PutObject::new(&w.bucket, Some(&w.creds), key);
    let wrong = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(b"other"));
    let (status, text) = send(
        hyper::Method::PUT,
        action.sign(SIGNED),
        &[("content-md5", wrong)],
        Bytes::from_static(b"{}"),
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("BadDigest"), "{text}");
    assert!(w.client.head(key).await.unwrap().is_none());
    let right = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(b"{}"));
    let (status, text) = send(
        hyper::Method::PUT,
        action.sign(SIGNED),
        &[("content-md5", right)],
        Bytes::from_static(b"{}"),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(w.client.head(key).await.unwrap().is_some());
}
