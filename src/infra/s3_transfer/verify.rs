//! Proving, later, that the destination still holds what a transfer copied: every recorded
//! object read again and hashed.

use futures::{StreamExt, stream};

use super::hash::hash_object;
use super::record::{Mismatch, ObjectRecord};
use crate::infra::s3::{S3Client, S3Error};

/// Objects read at once.
const CONCURRENCY: usize = 4;

/// One object read back and compared with its record, boxed so that the caller's future is
/// `Send` (see `copy::copy_task`).
fn check_one<'a>(
    destination: &'a S3Client,
    record: ObjectRecord,
) -> futures::future::BoxFuture<'a, Result<Option<Mismatch>, S3Error>> {
    Box::pin(async move {
        let found = match hash_object(destination, &record.key, |_| {}).await {
            Ok((size, sha256)) => Some(ObjectRecord {
                key: record.key.clone(),
                size,
                sha256,
            }),
            Err(S3Error::NoSuchKey { .. }) => None,
            Err(e) => return Err(e),
        };
        let same = found
            .as_ref()
            .is_some_and(|f| f.size == record.size && f.sha256 == record.sha256);
        Ok((!same).then(|| Mismatch {
            key: record.key.clone(),
            expected_size: record.size,
            expected_sha256: record.sha256.clone(),
            found,
        }))
    })
}

/// Reads every recorded object back from `destination` and gives those missing or whose size
/// or SHA-256 is not the recorded one (in the records' order). An error reaching the storage
/// is an error, not a mismatch.
pub async fn verify(
    destination: &S3Client,
    records: &[ObjectRecord],
) -> Result<Vec<Mismatch>, S3Error> {
    let checked: Vec<Result<Option<Mismatch>, S3Error>> = stream::iter(records.to_vec())
        .map(|record| check_one(destination, record))
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut mismatches = Vec::new();
    for result in checked {
        if let Some(mismatch) = result? {
            mismatches.push(mismatch);
        }
    }
    Ok(mismatches)
}
