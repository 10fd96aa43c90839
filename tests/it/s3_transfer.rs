//! The transfer of a Velero backup's objects between two real S3 servers (s3s-fs with SigV4,
//! `sim::s3`), each its own storage with its own key, as each cluster has its own MinIO: a full
//! copy with the same SHA-256 on both sides, `velero-backup.json` last, resuming after a stop,
//! an object changed on the destination found by the verification, objects bigger than a part,
//! and a destination that refuses the key before anything is written.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;
use cutover::infra::artifacts::hex;
use cutover::infra::s3::{MIN_PART_SIZE, S3Client, S3Error};
use cutover::infra::s3_transfer::{
    ObjectRecord, SHA256_METADATA, TransferError, TransferOptions, TransferProgress,
    TransferReport, transfer, verify,
};
use cutover::sim::s3::S3Server;
use sha2::{Digest, Sha256};

const BUCKET: &str = "registry-backups";
const PREFIXES: [&str; 3] = [
    "openshift-backups/backups/reg-2026-12-07/",
    "openshift-backups/restic/registry/",
    "obc-backups/registry/",
];

struct World {
    _dir: tempfile::TempDir,
    a_server: S3Server,
    b_server: S3Server,
    a: S3Client,
    b: S3Client,
    /// What A holds under the prefixes: key → bytes.
    objects: BTreeMap<String, Vec<u8>>,
}

/// Bytes no two objects share.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Two storages; A holds a backup as Velero and the Platform's scripts lay it out, with one
/// object bigger than two parts; B's bucket is empty. Parts are S3's smallest (5 MiB).
async fn world() -> World {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let a_server = S3Server::start(&dir.path().join("a"), "minio-a", "secret-of-a-0001")
        .await
        .expect("A's storage starts");
    let b_server = S3Server::start(&dir.path().join("b"), "minio-b", "secret-of-b-0002")
        .await
        .expect("B's storage starts");
    let a = S3Client::new(&a_server.client_endpoint(), BUCKET)
        .unwrap()
        .with_part_size(MIN_PART_SIZE);
    let b = S3Client::new(&b_server.client_endpoint(), BUCKET)
        .unwrap()
        .with_part_size(MIN_PART_SIZE);
    a.create_bucket().await.unwrap();
    b.create_bucket().await.unwrap();

    let backup = "openshift-backups/backups/reg-2026-12-07";
    let mut objects = BTreeMap::new();
    objects.insert(
        format!("{backup}/velero-backup.json"),
        br#"{"kind":"Backup","apiVersion":"velero.io/v1","metadata":{"name":"reg-2026-12-07"}}"#
            .to_vec(),
    );
    objects.insert(
        format!("{backup}/reg-2026-12-07.tar.gz"),
        noise(2 * MIN_PART_SIZE + 777_777, 1),
    );
    objects.insert(format!("{backup}/reg-2026-12-07-logs.gz"), noise(40_000, 2));
    objects.insert(
        format!("{backup}/reg-2026-12-07-podvolumebackups.json.gz"),
        noise(3_000, 3),
    );
    for (i, kind) in ["secrets", "configmaps", "routes"].iter().enumerate() {
        objects.insert(
            format!("{backup}/openshift-resources/{kind}.yaml"),
            noise(5_000 + i * 100, 10 + i as u64),
        );
    }
    let restic = "openshift-backups/restic/registry";
    objects.insert(format!("{restic}/config"), noise(155, 20));
    objects.insert(format!("{restic}/keys/4f1d9c"), noise(460, 21));
    for i in 0..12u64 {
        let size = [1_000, 300_000, 1_200_000][i as usize % 3];
        objects.insert(
            format!("{restic}/data/{i:02x}/{:064x}", i * 7919),
            noise(size, 30 + i),
        );
    }
    objects.insert(format!("{restic}/index/{:064x}", 5), noise(2_000, 50));
    objects.insert(format!("{restic}/snapshots/{:064x}", 6), noise(300, 51));
    for i in 0..4u64 {
        objects.insert(
            format!("obc-backups/registry/file-{i}.pdf"),
            noise(70_000, 60 + i),
        );
    }
    for (key, body) in &objects {
        a.put(key, Bytes::from(body.clone()), &[]).await.unwrap();
    }
    // Outside the prefixes: another backup, another registry's restic repository.
    a.put(
        "openshift-backups/backups/other/velero-backup.json",
        Bytes::from_static(b"{}"),
        &[],
    )
    .await
    .unwrap();
    a.put(
        "openshift-backups/restic/other/config",
        Bytes::from_static(b"x"),
        &[],
    )
    .await
    .unwrap();
    World {
        _dir: dir,
        a_server,
        b_server,
        a,
        b,
        objects,
    }
}

/// The backup's prefixes copied from `a` to `b` with the default options.
async fn copy(a: &S3Client, b: &S3Client) -> Result<TransferReport, TransferError> {
    transfer(a, b, &PREFIXES, &TransferOptions::default(), &|_| {}).await
}

fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Progress as the callback saw it: each report, and the key of each object started in order.
#[derive(Default)]
struct Seen {
    reports: Vec<TransferProgress>,
    started: Vec<String>,
}

fn recorder(seen: &Mutex<Seen>) -> impl Fn(&TransferProgress) + Sync + '_ {
    move |p: &TransferProgress| {
        let mut seen = seen.lock().unwrap();
        if let Some(current) = &p.current
            && seen.started.last() != Some(current)
        {
            seen.started.push(current.clone());
        }
        seen.reports.push(p.clone());
    }
}

#[tokio::test]
async fn s3_transfer_copies_every_object_with_the_same_sha256_on_both_sides() {
    let w = world().await;
    let seen = Mutex::new(Seen::default());
    let mut prefixes = PREFIXES.to_vec();
    prefixes.push("obc-backups/nothing-here/");
    let report = transfer(
        &w.a,
        &w.b,
        &prefixes,
        &TransferOptions::default(),
        &recorder(&seen),
    )
    .await
    .expect("the transfer succeeds");

    assert_eq!(report.copied, w.objects.len());
    assert_eq!(report.skipped, 0);
    assert_eq!(report.empty_prefixes, ["obc-backups/nothing-here/"]);
    let total: u64 = w.objects.values().map(|b| b.len() as u64).sum();
    assert_eq!((report.bytes_copied, report.bytes_total), (total, total));
    // The records: every object with the SHA-256 of what A holds, velero-backup.json last.
    let expected: Vec<ObjectRecord> = {
        let mut v: Vec<ObjectRecord> = w
            .objects
            .iter()
            .map(|(key, body)| ObjectRecord {
                key: key.clone(),
                size: body.len() as u64,
                sha256: sha256(body),
            })
            .collect();
        v.sort_by_key(|r| (r.key.ends_with("velero-backup.json"), r.key.clone()));
        v
    };
    assert_eq!(report.records, expected);
    assert!(
        report
            .records
            .last()
            .unwrap()
            .key
            .ends_with("/velero-backup.json")
    );

    // B holds the same bytes, each with its SHA-256 as metadata; nothing outside the prefixes.
    for (key, body) in &w.objects {
        assert_eq!(
            w.b.get(key).await.unwrap().as_deref(),
            Some(&body[..]),
            "{key}"
        );
        let head = w.b.head(key).await.unwrap().unwrap();
        assert_eq!(
            head.metadata.get(SHA256_METADATA),
            Some(&sha256(body)),
            "{key}"
        );
    }
    assert_eq!(w.b.list("").await.unwrap().len(), w.objects.len());
    // The big object went up in parts (its ETag counts them).
    let big =
        w.b.head("openshift-backups/backups/reg-2026-12-07/reg-2026-12-07.tar.gz");
    let big = big.await.unwrap().unwrap();
    assert!(big.etag.as_deref().unwrap_or("").ends_with("-3"), "{big:?}");

    // Progress: velero-backup.json started after every other object was done; the end counts
    // everything.
    let seen = seen.into_inner().unwrap();
    assert_eq!(
        seen.started.last().map(String::as_str),
        Some("openshift-backups/backups/reg-2026-12-07/velero-backup.json")
    );
    let when_last_started = seen
        .reports
        .iter()
        .find(|p| {
            p.current
                .as_deref()
                .is_some_and(|c| c.ends_with("velero-backup.json"))
        })
        .unwrap();
    assert_eq!(when_last_started.objects_done, w.objects.len() - 1);
    let end = seen.reports.last().unwrap();
    assert_eq!(end.objects_done, end.objects_total);
    assert_eq!(end.objects_total, w.objects.len());
    assert_eq!((end.bytes_done, end.bytes_total), (total, total));
    assert!(seen.reports.iter().all(|p| p.bytes_done <= p.bytes_total));
    assert!(seen.reports.iter().any(|p| p.bytes_per_second > 0.0));

    // Again: nothing written, everything found identical.
    let again = copy(&w.a, &w.b).await.unwrap();
    assert_eq!((again.copied, again.skipped), (0, w.objects.len()));
    assert_eq!(again.bytes_copied, 0);
    assert_eq!(again.records, expected);
    assert!(verify(&w.b, &again.records).await.unwrap().is_empty());
}

#[tokio::test]
async fn s3_transfer_resumes_after_a_stop_copying_only_the_rest() {
    let w = world().await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let options = TransferOptions {
        concurrency: 2,
        stop: Some(stop_rx),
    };
    let stop_after = 6;
    let stopper = |p: &TransferProgress| {
        if p.objects_done >= stop_after {
            let _ = stop_tx.send(true);
        }
    };
    let e = transfer(&w.a, &w.b, &PREFIXES, &options, &stopper)
        .await
        .expect_err("stopped");
    let TransferError::Stopped { copied, skipped } = e else {
        panic!("a stop is reported as such: {e:?}");
    };
    assert!(copied >= stop_after && copied < w.objects.len(), "{copied}");
    assert_eq!(skipped, 0);
    assert!(e.to_string().contains("run the transfer again"), "{e}");

    let complete = only_whole_objects_on_b(&w).await;
    assert!(complete >= copied);

    // Two objects on B look copied but are not: one without the metadata (as another tool would
    // leave it), one of the right size whose content and recorded SHA-256 are wrong.
    let restic_config = "openshift-backups/restic/registry/config";
    w.b.put(
        restic_config,
        Bytes::from(w.objects[restic_config].clone()),
        &[],
    )
    .await
    .unwrap();
    let pdf = "obc-backups/registry/file-2.pdf";
    let wrong = noise(w.objects[pdf].len(), 999);
    w.b.put(
        pdf,
        Bytes::from(wrong.clone()),
        &[(SHA256_METADATA, &sha256(&wrong))],
    )
    .await
    .unwrap();
    // What B holds with its own SHA-256 (only these may be skipped).
    let mut proven = 0;
    for o in w.b.list("").await.unwrap() {
        if o.key == restic_config || o.key == pdf {
            continue;
        }
        let head = w.b.head(&o.key).await.unwrap().unwrap();
        if head.metadata.contains_key(SHA256_METADATA) {
            proven += 1;
        }
    }

    let seen = Mutex::new(Seen::default());
    let report = transfer(
        &w.a,
        &w.b,
        &PREFIXES,
        &TransferOptions::default(),
        &recorder(&seen),
    )
    .await
    .expect("the second run finishes");
    assert_eq!(report.skipped, proven);
    assert_eq!(report.copied, w.objects.len() - proven);
    let end = seen.lock().unwrap().reports.last().cloned().unwrap();
    assert_eq!((end.skipped, end.objects_done), (proven, w.objects.len()));
    for (key, body) in &w.objects {
        assert_eq!(
            w.b.get(key).await.unwrap().as_deref(),
            Some(&body[..]),
            "{key}"
        );
    }
    assert!(verify(&w.b, &report.records).await.unwrap().is_empty());

    no_upload_lingers(&w).await;
}

/// What a stop left on B: objects carrying a SHA-256, each whole and that hash its own, never
/// velero-backup.json. Gives how many. An object without the metadata may be there too (the
/// test server writes a PUT's data before its metadata, so a drop can fall between): a resume
/// does not take it for copied, which is what matters.
async fn only_whole_objects_on_b(w: &World) -> usize {
    let on_b = w.b.list("").await.unwrap();
    let mut proven = 0;
    for object in &on_b {
        let head = w.b.head(&object.key).await.unwrap().unwrap();
        let body = &w.objects[&object.key];
        if let Some(recorded) = head.metadata.get(SHA256_METADATA) {
            assert_eq!(recorded, &sha256(body), "{}", object.key);
            assert_eq!(head.size, body.len() as u64);
            proven += 1;
        }
    }
    assert!(!on_b.iter().any(|o| o.key.ends_with("velero-backup.json")));
    proven
}

/// No multipart upload of a stopped run lingers on B (aborted when dropped, which happens
/// in a task of its own: waited for, bounded).
async fn no_upload_lingers(w: &World) {
    let uploads = || w.b_server.uploads_in_progress().0;
    for _ in 0..100 {
        if uploads() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(uploads(), 0);
}

#[tokio::test]
async fn s3_transfer_dropped_mid_way_leaves_only_whole_objects_and_resumes() {
    let w = world().await;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let done_tx = Mutex::new(Some(done_tx));
    // Dropped while the big object's multipart upload is mid-way: a part of it is on B.
    let b_server = &w.b_server;
    let watcher = |_: &TransferProgress| {
        let parts = b_server.uploads_in_progress().1 > 0;
        if parts && let Some(tx) = done_tx.lock().unwrap().take() {
            let _ = tx.send(());
        }
    };
    let options = TransferOptions {
        concurrency: 2,
        stop: None,
    };
    tokio::select! {
        result = transfer(&w.a, &w.b, &PREFIXES, &options, &watcher) => {
            panic!("the transfer was to be dropped before its end: {result:?}")
        }
        _ = done_rx => {}
    }
    let complete = only_whole_objects_on_b(&w).await;
    assert!(complete < w.objects.len());
    let big = "openshift-backups/backups/reg-2026-12-07/reg-2026-12-07.tar.gz";
    assert!(w.b.head(big).await.unwrap().is_none());
    no_upload_lingers(&w).await;

    let report = copy(&w.a, &w.b).await.expect("the next run finishes");
    assert_eq!(report.skipped, complete);
    assert_eq!(report.copied, w.objects.len() - complete);
    assert!(verify(&w.b, &report.records).await.unwrap().is_empty());
}

#[tokio::test]
async fn s3_transfer_verify_finds_an_object_changed_on_the_destination() {
    let w = world().await;
    let report = copy(&w.a, &w.b).await.unwrap();
    assert!(verify(&w.b, &report.records).await.unwrap().is_empty());

    // Changed in B's bucket after the copy: same size, other bytes, the metadata kept as it
    // was; another one removed.
    let changed = &format!("openshift-backups/restic/registry/index/{:064x}", 5);
    let original = &w.objects[changed];
    let mut tampered = original.clone();
    tampered[100] ^= 0xff;
    w.b.put(
        changed,
        Bytes::from(tampered.clone()),
        &[(SHA256_METADATA, &sha256(original))],
    )
    .await
    .unwrap();
    let removed = "obc-backups/registry/file-0.pdf";
    w.b.delete(removed).await.unwrap();

    let mismatches = verify(&w.b, &report.records).await.unwrap();
    let keys: Vec<&str> = mismatches.iter().map(|m| m.key.as_str()).collect();
    // In the records' order.
    assert_eq!(keys, [removed, changed]);
    let found = mismatches[1]
        .found
        .as_ref()
        .expect("the changed one is there");
    assert_eq!(found.sha256, sha256(&tampered));
    assert_eq!(mismatches[1].expected_sha256, sha256(original));
    assert!(mismatches[0].found.is_none());
    assert!(mismatches[0].to_string().contains("is missing"));
    assert!(mismatches[1].to_string().contains("differs"));
}

#[tokio::test]
async fn s3_transfer_wrong_credentials_on_the_destination_are_refused_before_writing() {
    let w = world().await;
    let mut endpoint = w.b_server.client_endpoint();
    endpoint.secret_key = "not-b-s-secret".into();
    let b_wrong = S3Client::new(&endpoint, BUCKET).unwrap();
    let e = copy(&w.a, &b_wrong).await.expect_err("refused");
    assert!(
        matches!(&e, TransferError::Destination(inner) if inner.is_refused()),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(text.contains("nothing was written"), "{text}");
    assert!(
        text.contains("`minio-b`") && text.contains("check the secret key"),
        "{text}"
    );
    assert!(
        !text.contains("not-b-s-secret") && !text.contains("secret-of-b"),
        "{text}"
    );
    assert!(w.b.list("").await.unwrap().is_empty());

    // A missing bucket on B is named; so is one on A.
    let b_other = S3Client::new(&w.b_server.client_endpoint(), "no-such-bucket").unwrap();
    let e = copy(&w.a, &b_other).await.expect_err("no bucket");
    let named = matches!(&e, TransferError::Destination(S3Error::NoSuchBucket { bucket, .. })
        if bucket == "no-such-bucket");
    assert!(named, "{e:?}");
    let a_other = S3Client::new(&w.a_server.client_endpoint(), "no-such-bucket").unwrap();
    let e = copy(&a_other, &w.b).await.expect_err("no bucket");
    assert!(
        matches!(&e, TransferError::Source(S3Error::NoSuchBucket { .. })),
        "{e:?}"
    );
    // The same bucket on both sides is refused.
    let e = copy(&w.a, &w.a).await.expect_err("same bucket");
    assert!(e.to_string().contains("same bucket"), "{e}");
}

#[tokio::test]
async fn s3_transfer_of_empty_prefixes_copies_nothing_and_says_so() {
    let w = world().await;
    let report = transfer(
        &w.a,
        &w.b,
        &["openshift-backups/backups/missing-backup/"],
        &TransferOptions::default(),
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!((report.copied, report.skipped), (0, 0));
    assert!(report.records.is_empty());
    assert_eq!(
        report.empty_prefixes,
        ["openshift-backups/backups/missing-backup/"]
    );
    assert!(w.b.list("").await.unwrap().is_empty());
}
