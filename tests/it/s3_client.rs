//! The S3 client against a real S3 server (`sim::s3`, with SigV4 authentication):
//! buckets, listings across pages, HEAD, GET, PUT, multipart uploads, DELETE, presigned GETs,
//! and what an operator reads when the key, the bucket or the endpoint is wrong.

use std::time::Duration;

use bytes::Bytes;
use cutover::infra::s3::{MIN_PART_SIZE, S3Client, S3Endpoint, S3Error};
use cutover::sim::s3::S3Server;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::support::RefusingPort;

const ACCESS: &str = "cutover-test";
const SECRET: &str = "s3cr3t-test-key-0123456789";

async fn server() -> (tempfile::TempDir, S3Server) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let server = S3Server::start(&dir.path().join("storage"), ACCESS, SECRET)
        .await
        .expect("the S3 server starts");
    (dir, server)
}

async fn bucket(server: &S3Server, name: &str) -> S3Client {
    let client = S3Client::new(&server.client_endpoint(), name).expect("a client");
    client.create_bucket().await.expect("the bucket is created");
    client
}

/// Bytes that differ from one offset to the next, so a part out of place shows.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .rotate_left(u32::from(seed % 31)) as u8
        })
        .collect()
}

#[tokio::test]
async fn s3_client_puts_heads_gets_lists_and_deletes() {
    let (_dir, server) = server().await;
    let client = S3Client::new(&server.client_endpoint(), "registry-backups").unwrap();
    assert!(!client.bucket_exists().await.unwrap());
    client.create_bucket().await.unwrap();
    assert!(client.bucket_exists().await.unwrap());
    // Creating it again is fine: it is ours.
    client.create_bucket().await.unwrap();
    assert_eq!(client.bucket(), "registry-backups");
    assert_eq!(client.endpoint_url(), server.endpoint());

    let body = Bytes::from(pattern(70_000, 3));
    let etag = client
        .put(
            "openshift-backups/backups/b1/b1.tar.gz",
            body.clone(),
            &[("sha256", "abc123"), ("origin", "cluster-a")],
        )
        .await
        .unwrap();
    assert!(!etag.is_empty() && !etag.contains('"'), "{etag}");
    client
        .put(
            "openshift-backups/backups/b1/velero-backup.json",
            Bytes::from_static(b"{}"),
            &[],
        )
        .await
        .unwrap();
    client
        .put("obc-backups/reg/x", Bytes::new(), &[])
        .await
        .unwrap();

    let head = client
        .head("openshift-backups/backups/b1/b1.tar.gz")
        .await
        .unwrap()
        .expect("the object is there");
    assert_eq!(head.size, 70_000);
    assert_eq!(head.etag.as_deref(), Some(etag.as_str()));
    assert_eq!(
        head.metadata.get("sha256").map(String::as_str),
        Some("abc123")
    );
    assert_eq!(
        head.metadata.get("origin").map(String::as_str),
        Some("cluster-a")
    );
    assert!(
        client
            .head("openshift-backups/backups/b1/missing")
            .await
            .unwrap()
            .is_none()
    );

    assert_eq!(
        client
            .get("openshift-backups/backups/b1/b1.tar.gz")
            .await
            .unwrap(),
        Some(body.clone())
    );
    assert_eq!(
        client.get("obc-backups/reg/x").await.unwrap(),
        Some(Bytes::new())
    );
    assert_eq!(client.get("nothing/here").await.unwrap(), None);

    let mut reader = client
        .get_stream("openshift-backups/backups/b1/b1.tar.gz")
        .await
        .unwrap();
    assert_eq!(reader.size(), 70_000);
    assert_eq!(
        reader.metadata().get("sha256").map(String::as_str),
        Some("abc123")
    );
    let mut streamed = Vec::new();
    while let Some(chunk) = reader.chunk().await.unwrap() {
        streamed.extend_from_slice(&chunk);
    }
    assert_eq!(streamed, body);
    match client.get_stream("nothing/here").await {
        Err(S3Error::NoSuchKey { key, bucket, .. }) => {
            assert_eq!(
                (key.as_str(), bucket.as_str()),
                ("nothing/here", "registry-backups")
            )
        }
        other => panic!("a missing object is NoSuchKey: {other:?}"),
    }

    let listed = client.list("openshift-backups/").await.unwrap();
    let keys: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "openshift-backups/backups/b1/b1.tar.gz",
            "openshift-backups/backups/b1/velero-backup.json"
        ]
    );
    assert_eq!(listed[0].size, 70_000);
    assert!(listed[0].last_modified.is_some());
    assert_eq!(client.list("").await.unwrap().len(), 3);
    assert!(client.list("no-such-prefix/").await.unwrap().is_empty());

    client
        .delete("openshift-backups/backups/b1/b1.tar.gz")
        .await
        .unwrap();
    assert!(
        client
            .head("openshift-backups/backups/b1/b1.tar.gz")
            .await
            .unwrap()
            .is_none()
    );
    // Deleting what is not there is fine.
    client
        .delete("openshift-backups/backups/b1/b1.tar.gz")
        .await
        .unwrap();
    assert_eq!(client.list("openshift-backups/").await.unwrap().len(), 1);
}

#[tokio::test]
async fn s3_client_keys_with_odd_characters_round_trip() {
    let (_dir, server) = server().await;
    let client = bucket(&server, "odd-keys").await;
    let keys = ["odd/a b+c%d=e&f.json", "odd/ключ/ü~!'()*", "odd/plain"];
    for key in keys {
        client
            .put(key, Bytes::from(key.to_string()), &[])
            .await
            .unwrap();
    }
    let mut listed: Vec<String> = client
        .list("odd/")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    listed.sort();
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);
    for key in keys {
        assert_eq!(client.get(key).await.unwrap().unwrap(), key.as_bytes());
        assert!(client.head(key).await.unwrap().is_some(), "{key}");
    }
}

#[tokio::test]
async fn s3_client_lists_past_one_page() {
    let (_dir, server) = server().await;
    let client = bucket(&server, "many-objects").await;
    // S3 answers at most 1,000 keys a page.
    let count = 1_234;
    let puts = (0..count).map(|i| {
        let client = client.clone();
        async move {
            client
                .put(
                    &format!("openshift-backups/restic/reg/data/{i:05}"),
                    Bytes::from(format!("object {i}")),
                    &[],
                )
                .await
        }
    });
    for result in futures::future::join_all(puts).await {
        result.unwrap();
    }
    client
        .put("elsewhere/one", Bytes::from_static(b"x"), &[])
        .await
        .unwrap();
    let listed = client.list("openshift-backups/restic/reg/").await.unwrap();
    assert_eq!(listed.len(), count);
    let expected: Vec<String> = (0..count)
        .map(|i| format!("openshift-backups/restic/reg/data/{i:05}"))
        .collect();
    let keys: Vec<String> = listed.iter().map(|o| o.key.clone()).collect();
    assert_eq!(keys, expected);
    assert_eq!(listed[1_100].size, "object 1100".len() as u64);
}

#[tokio::test]
async fn s3_client_streams_a_multipart_upload_with_its_metadata() {
    let (_dir, server) = server().await;
    let client = bucket(&server, "big-objects")
        .await
        .with_part_size(MIN_PART_SIZE);
    // Two whole parts and a short last one, fed in pieces that straddle the parts' edges.
    let data = pattern(2 * MIN_PART_SIZE + 123_457, 7);
    let pieces: Vec<Result<Bytes, S3Error>> = data
        .chunks(1_000_003)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let etag = client
        .put_stream(
            "big/restic-pack",
            futures::stream::iter(pieces),
            Some(data.len() as u64),
            &[("sha256", "feed")],
        )
        .await
        .unwrap();
    // A multipart ETag says how many parts it had.
    assert!(etag.ends_with("-3"), "{etag}");
    let head = client.head("big/restic-pack").await.unwrap().unwrap();
    assert_eq!(head.size, data.len() as u64);
    assert_eq!(
        head.metadata.get("sha256").map(String::as_str),
        Some("feed")
    );
    assert_eq!(client.get("big/restic-pack").await.unwrap().unwrap(), data);

    // What fits in one part goes in one PUT, metadata and all.
    let small = pattern(1_000, 1);
    let pieces: Vec<Result<Bytes, S3Error>> = vec![Ok(Bytes::from(small.clone()))];
    let etag = client
        .put_stream(
            "big/small",
            futures::stream::iter(pieces),
            None,
            &[("sha256", "beef")],
        )
        .await
        .unwrap();
    assert!(!etag.contains('-'), "{etag}");
    assert_eq!(client.get("big/small").await.unwrap().unwrap(), small);
    let head = client.head("big/small").await.unwrap().unwrap();
    assert_eq!(
        head.metadata.get("sha256").map(String::as_str),
        Some("beef")
    );
}

#[tokio::test]
async fn s3_client_a_failed_multipart_upload_leaves_no_object() {
    let (_dir, server) = server().await;
    let client = bucket(&server, "big-objects")
        .await
        .with_part_size(MIN_PART_SIZE);
    // The source fails after a part went up.
    let pieces: Vec<Result<Bytes, S3Error>> = vec![
        Ok(Bytes::from(pattern(MIN_PART_SIZE + 10, 2))),
        Err(S3Error::Source {
            key: "source".into(),
            detail: "the source broke".into(),
        }),
    ];
    let e = client
        .put_stream(
            "big/broken",
            futures::stream::iter(pieces),
            None,
            &[("sha256", "x")],
        )
        .await
        .expect_err("fails");
    assert!(e.to_string().contains("the source broke"), "{e}");
    assert!(client.head("big/broken").await.unwrap().is_none());
    assert!(client.list("big/").await.unwrap().is_empty());
    // The aborted upload's parts are gone from the storage's folder too.
    assert_eq!(server.uploads_in_progress(), (0, 0));
}

#[tokio::test]
async fn s3_client_wrong_secret_is_refused_naming_the_key() {
    let (_dir, server) = server().await;
    let good = bucket(&server, "registry-backups").await;
    good.put("a", Bytes::from_static(b"1"), &[]).await.unwrap();
    let mut endpoint = server.client_endpoint();
    endpoint.secret_key = "not-the-secret".into();
    let bad = S3Client::new(&endpoint, "registry-backups").unwrap();
    for result in [
        bad.bucket_exists().await.map(|_| ()),
        bad.list("").await.map(|_| ()),
        bad.get("a").await.map(|_| ()),
        bad.put("b", Bytes::from_static(b"2"), &[])
            .await
            .map(|_| ()),
    ] {
        let e = result.expect_err("refused");
        assert!(e.is_refused(), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("SignatureDoesNotMatch") && text.contains("check the secret key"),
            "{text}"
        );
        assert!(
            text.contains("`cutover-test`") && text.contains("registry-backups"),
            "{text}"
        );
        assert!(
            !text.contains("not-the-secret") && !text.contains(SECRET),
            "{text}"
        );
        assert!(
            !text.contains("X-Amz-Signature=") || text.contains("X-Amz-Signature=***"),
            "{text}"
        );
    }
    // Nothing was written.
    assert!(good.head("b").await.unwrap().is_none());

    let mut endpoint = server.client_endpoint();
    endpoint.access_key = "someone-else".into();
    let e = S3Client::new(&endpoint, "registry-backups")
        .unwrap()
        .list("")
        .await
        .expect_err("refused");
    assert!(e.to_string().contains("check the access key"), "{e}");
}

#[tokio::test]
async fn s3_client_missing_bucket_is_named() {
    let (_dir, server) = server().await;
    let client = S3Client::new(&server.client_endpoint(), "no-such-bucket").unwrap();
    let e = client.list("").await.expect_err("no bucket");
    assert!(
        matches!(&e, S3Error::NoSuchBucket { bucket, .. } if bucket == "no-such-bucket"),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("no bucket `no-such-bucket`") && text.contains("404 NoSuchBucket"),
        "{text}"
    );
    // A HEAD's 404 has no body to tell a missing bucket from a missing object: None.
    assert_eq!(client.head("x").await, Ok(None));
    assert!(matches!(
        client.delete("x").await,
        Err(S3Error::NoSuchBucket { .. })
    ));
}

#[tokio::test]
async fn s3_client_unreachable_endpoint_names_host_and_port() {
    let refusing = RefusingPort::new();
    let endpoint = S3Endpoint {
        url: format!("http://127.0.0.1:{}", refusing.port()),
        region: String::new(),
        access_key: ACCESS.into(),
        secret_key: SECRET.into(),
        ca_file: None,
    };
    let client = S3Client::new(&endpoint, "registry-backups").unwrap();
    let e = client.bucket_exists().await.expect_err("unreachable");
    assert!(matches!(e, S3Error::Unreachable { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(&format!(
            "cannot reach the object storage at 127.0.0.1:{}",
            refusing.port()
        )),
        "{text}"
    );
    assert!(!text.contains(SECRET), "{text}");

    // TLS spoken to a plain-HTTP server is a TLS error, not a refusal.
    let (_dir, server) = server().await;
    let mut endpoint = server.client_endpoint();
    endpoint.url = endpoint.url.replace("http://", "https://");
    let e = S3Client::new(&endpoint, "registry-backups")
        .unwrap()
        .bucket_exists()
        .await
        .expect_err("no TLS");
    assert!(
        matches!(e, S3Error::Tls { .. } | S3Error::Protocol { .. }),
        "{e:?}"
    );

    // Bad input is refused before anything is sent.
    endpoint.url = "minio:9000".into();
    let e = S3Client::new(&endpoint, "registry-backups").expect_err("not a URL");
    assert!(e.to_string().contains("http(s)://host:port"), "{e}");
    let e = S3Client::new(&server.client_endpoint(), "Registry_Backups")
        .expect_err("not a bucket name");
    assert!(e.to_string().contains("not a bucket name"), "{e}");
}

#[tokio::test]
async fn s3_client_presigned_get_works_over_plain_http() {
    let (_dir, server) = server().await;
    let client = bucket(&server, "registry-backups").await;
    let body = Bytes::from(pattern(5_000, 9));
    client
        .put("openshift-backups/backups/b1/b1-logs.gz", body.clone(), &[])
        .await
        .unwrap();
    let url = client.presign_get(
        "openshift-backups/backups/b1/b1-logs.gz",
        Duration::from_secs(600),
    );
    assert!(url.starts_with(&server.endpoint()), "{url}");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    assert!(!url.contains(SECRET));

    let http: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let response = http.get(url.parse().unwrap()).await.unwrap();
    assert_eq!(response.status(), 200);
    let got = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(got, body);

    // Tampered with, it is refused.
    let tampered = url.replace("b1-logs.gz", "b1.tar.gz");
    let response = http.get(tampered.parse().unwrap()).await.unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn s3_server_keeps_its_data_across_a_restart_on_the_same_port() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("storage");
    let server = S3Server::start(&root, ACCESS, SECRET).await.unwrap();
    let port = server.port();
    let client = bucket(&server, "registry-backups").await;
    client
        .put(
            "kept",
            Bytes::from_static(b"still here"),
            &[("sha256", "aa")],
        )
        .await
        .unwrap();
    server.stop().await;
    assert!(matches!(
        client.list("").await,
        Err(S3Error::Unreachable { .. })
    ));

    let again = S3Server::start_on(&root, ACCESS, SECRET, port)
        .await
        .unwrap();
    assert_eq!(again.endpoint(), client.endpoint_url());
    assert_eq!(
        client.get("kept").await.unwrap().unwrap(),
        Bytes::from_static(b"still here")
    );
    assert_eq!(
        client
            .head("kept")
            .await
            .unwrap()
            .unwrap()
            .metadata
            .get("sha256")
            .map(String::as_str),
        Some("aa")
    );
}
