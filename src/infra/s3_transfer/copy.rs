//! Copying every object under some prefixes from one bucket to another, with proof.
//!
//! Each object is streamed from the source to the destination (small ones in one request, big
//! ones as a multipart upload, a few objects at a time: memory stays within a few parts), its
//! SHA-256 computed while it is read from the source, written as the destination object's
//! `sha256` metadata, and computed again by reading the destination's copy back; a copy that
//! differs is removed and its object fails. A big object's SHA-256 must be known before its
//! upload starts (metadata goes with the upload's first request), so the source is read once
//! to hash it, and the copy that follows is checked against it: an object that changed in
//! between is aborted, never completed.
//!
//! Resuming: an object the destination already has, of the same size, whose `sha256` metadata
//! is the SHA-256 of the source's object (read again to know it), is not written again. The
//! metadata is on complete objects only (a single PUT or a completed multipart upload), so
//! whatever a stopped run left is either complete and proven or absent.
//!
//! Objects whose key ends with `velero-backup.json` go last, and only when every other object
//! made it: the destination's Velero syncs a backup as soon as that file appears.

use futures::{StreamExt, stream};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::hash::{checked_stream, hash_object};
use super::progress::{ObjectProgress, Tracker};
use super::record::{FailedObject, ObjectRecord, TransferError, TransferProgress, TransferReport};
use crate::infra::artifacts::hex;
use crate::infra::s3::{ObjectInfo, S3Client, S3Error};

/// The user metadata that holds an object's SHA-256 on the destination.
pub const SHA256_METADATA: &str = "sha256";
/// What makes Velero sync a backup; copied last.
pub const VELERO_BACKUP_FILE: &str = "velero-backup.json";

/// How a transfer runs.
#[derive(Clone, Debug)]
pub struct TransferOptions {
    /// Objects in flight at once.
    pub concurrency: usize,
    /// Set to true to stop: objects in flight are dropped (multipart uploads aborted), what was
    /// complete stays.
    pub stop: Option<watch::Receiver<bool>>,
}

impl Default for TransferOptions {
    fn default() -> TransferOptions {
        TransferOptions {
            concurrency: 4,
            stop: None,
        }
    }
}

/// One object done.
struct Copied {
    record: ObjectRecord,
    skipped: bool,
}

/// Copies every object under `prefixes` from `source` to `destination`; `progress` is told as
/// it goes. See the module's documentation for what is proven and how a second run resumes.
pub async fn transfer(
    source: &S3Client,
    destination: &S3Client,
    prefixes: &[&str],
    options: &TransferOptions,
    progress: &(dyn Fn(&TransferProgress) + Sync),
) -> Result<TransferReport, TransferError> {
    if source.endpoint_url() == destination.endpoint_url()
        && source.bucket() == destination.bucket()
    {
        return Err(TransferError::Destination(S3Error::Config(format!(
            "the source and the destination are the same bucket `{}` at {}; give each \
             cluster's own object storage",
            source.bucket(),
            source.authority()
        ))));
    }
    preflight(source).await.map_err(TransferError::Source)?;
    preflight(destination)
        .await
        .map_err(TransferError::Destination)?;

    let mut objects: Vec<ObjectInfo> = Vec::new();
    let mut empty_prefixes = Vec::new();
    for prefix in prefixes {
        let listed = source.list(prefix).await.map_err(TransferError::Source)?;
        if listed.is_empty() {
            empty_prefixes.push(prefix.to_string());
        }
        objects.extend(listed);
    }
    objects.sort_by(|x, y| x.key.cmp(&y.key));
    objects.dedup_by(|x, y| x.key == y.key);
    let (last, first): (Vec<ObjectInfo>, Vec<ObjectInfo>) = objects
        .into_iter()
        .partition(|o| o.key.ends_with(VELERO_BACKUP_FILE));
    let bytes_total = first.iter().chain(&last).map(|o| o.size).sum();
    let tracker = Tracker::new(first.len() + last.len(), bytes_total, progress);

    let concurrency = options.concurrency.max(1);
    let work = async {
        let mut done = copy_all(source, destination, &first, concurrency, &tracker).await;
        let mut failed = take_failures(&mut done);
        let mut held_back = Vec::new();
        if failed.is_empty() {
            let mut finals = copy_all(source, destination, &last, 1, &tracker).await;
            failed = take_failures(&mut finals);
            done.extend(finals);
        } else {
            held_back = last.iter().map(|o| o.key.clone()).collect();
        }
        let copied: Vec<Copied> = done.into_iter().filter_map(Result::ok).collect();
        (copied, failed, held_back)
    };
    let stop = options.stop.clone();
    if stop.as_ref().is_some_and(|s| *s.borrow()) {
        return Err(TransferError::Stopped {
            copied: 0,
            skipped: 0,
        });
    }
    let outcome = tokio::select! {
        outcome = work => Some(outcome),
        () = stop_requested(stop) => None,
    };
    let Some((copied, failed, held_back)) = outcome else {
        let at = tracker.snapshot();
        return Err(TransferError::Stopped {
            copied: at.objects_done - at.skipped,
            skipped: at.skipped,
        });
    };
    let skipped = copied.iter().filter(|c| c.skipped).count();
    if !failed.is_empty() {
        return Err(TransferError::Objects {
            failed,
            held_back,
            copied: copied.len() - skipped,
            skipped,
        });
    }
    let bytes_copied = copied
        .iter()
        .filter(|c| !c.skipped)
        .map(|c| c.record.size)
        .sum();
    let mut records: Vec<ObjectRecord> = copied.into_iter().map(|c| c.record).collect();
    records.sort_by(|x, y| {
        let last = |k: &str| k.ends_with(VELERO_BACKUP_FILE);
        (last(&x.key), &x.key).cmp(&(last(&y.key), &y.key))
    });
    Ok(TransferReport {
        copied: records.len() - skipped,
        skipped,
        bytes_copied,
        bytes_total,
        empty_prefixes,
        records,
    })
}

/// The bucket is there and this key may use it.
async fn preflight(client: &S3Client) -> Result<(), S3Error> {
    if client.bucket_exists().await? {
        Ok(())
    } else {
        Err(S3Error::NoSuchBucket {
            authority: client.authority().to_string(),
            bucket: client.bucket().to_string(),
        })
    }
}

async fn stop_requested(stop: Option<watch::Receiver<bool>>) {
    match stop {
        Some(mut stop) => {
            if stop.wait_for(|s| *s).await.is_err() {
                // The sender is gone: nobody can ask any more.
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

async fn copy_all(
    source: &S3Client,
    destination: &S3Client,
    objects: &[ObjectInfo],
    concurrency: usize,
    tracker: &Tracker<'_>,
) -> Vec<Result<Copied, FailedObject>> {
    stream::iter(objects.to_vec())
        .map(|object| copy_task(source, destination, object, tracker))
        .buffer_unordered(concurrency)
        .collect()
        .await
}

/// One object's copy as a boxed future: naming its lifetime lets the caller's future be `Send`
/// for the engine's tasks (a closure's `async move` over borrowed items is not, for every
/// lifetime the compiler must consider).
fn copy_task<'a>(
    source: &'a S3Client,
    destination: &'a S3Client,
    object: ObjectInfo,
    tracker: &'a Tracker<'_>,
) -> futures::future::BoxFuture<'a, Result<Copied, FailedObject>> {
    Box::pin(async move {
        let mut progress = tracker.object(&object.key, object.size);
        match copy_one(source, destination, &object, &mut progress).await {
            Ok(copied) => {
                progress.finish(copied.skipped);
                Ok(copied)
            }
            Err(reason) => {
                progress.fail();
                Err(FailedObject {
                    key: object.key.clone(),
                    reason,
                })
            }
        }
    })
}

fn take_failures(done: &mut Vec<Result<Copied, FailedObject>>) -> Vec<FailedObject> {
    let mut failed: Vec<FailedObject> = done
        .iter()
        .filter_map(|r| r.as_ref().err().cloned())
        .collect();
    done.retain(Result::is_ok);
    failed.sort_by(|x, y| x.key.cmp(&y.key));
    failed
}

/// One object: skipped when the destination has it, copied and read back otherwise.
async fn copy_one(
    source: &S3Client,
    destination: &S3Client,
    object: &ObjectInfo,
    progress: &mut ObjectProgress<'_, '_>,
) -> Result<Copied, String> {
    let key = object.key.as_str();
    let text = |e: S3Error| e.to_string();
    let mut known: Option<String> = None;
    if let Some(there) = destination.head(key).await.map_err(text)?
        && there.size == object.size
        && let Some(recorded) = there.metadata.get(SHA256_METADATA)
    {
        let (size, sha256) = hash_object(source, key, |n| progress.read(n))
            .await
            .map_err(text)?;
        if size == there.size && &sha256 == recorded {
            return Ok(Copied {
                record: ObjectRecord {
                    key: key.to_string(),
                    size,
                    sha256,
                },
                skipped: true,
            });
        }
        known = Some(sha256);
    }

    let part_size = destination.part_size() as u64;
    // One that fits in a part (as listed and as served: it may have grown since) is read
    // into memory; a bigger one is streamed.
    let small = if object.size <= part_size {
        let reader = source.get_stream(key).await.map_err(text)?;
        (reader.size() <= part_size).then_some(reader)
    } else {
        None
    };
    let sha256 = match small {
        Some(mut reader) => {
            // Hashed as read, written with its SHA-256 in one request.
            let mut body = Vec::with_capacity(usize::try_from(reader.size()).unwrap_or(0));
            while let Some(chunk) = reader.chunk().await.map_err(text)? {
                progress.read(chunk.len() as u64);
                body.extend_from_slice(&chunk);
            }
            let sha256 = hex(&Sha256::digest(&body));
            destination
                .put(key, body.into(), &[(SHA256_METADATA, &sha256)])
                .await
                .map_err(text)?;
            sha256
        }
        None => {
            // Hashed first (unless the resume check just did), then streamed and checked
            // against it: changed in between, the upload is aborted.
            let expected = match known {
                Some(sha256) => sha256,
                None => {
                    hash_object(source, key, |n| progress.read(n))
                        .await
                        .map_err(text)?
                        .1
                }
            };
            let reader = source.get_stream(key).await.map_err(text)?;
            let size = reader.size();
            let body = checked_stream(key, reader.into_stream(), expected.clone(), |n| {
                progress.read(n)
            });
            destination
                .put_stream(key, body, Some(size), &[(SHA256_METADATA, &expected)])
                .await
                .map_err(text)?;
            expected
        }
    };

    // Read back: the destination's copy must be what was read from the source.
    let (size_there, sha256_there) = hash_object(destination, key, |_| {}).await.map_err(text)?;
    if sha256_there != sha256 {
        let removed = match destination.delete(key).await {
            Ok(()) => "it was removed",
            Err(_) => "removing it failed too",
        };
        return Err(format!(
            "the destination's copy differs from the source ({size_there} bytes, SHA-256 \
             {sha256_there}; the source's SHA-256 {sha256}); {removed}"
        ));
    }
    Ok(Copied {
        record: ObjectRecord {
            key: key.to_string(),
            size: size_there,
            sha256,
        },
        skipped: false,
    })
}
