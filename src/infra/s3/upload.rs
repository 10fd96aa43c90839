//! Writing an object of any size with memory bounded by one part: a multipart upload, aborted
//! when it fails or is dropped, so a half-written object never appears.

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

use super::client::{S3Client, metadata_headers};
use super::error::S3Error;

/// S3's most parts in one upload.
const MAX_PARTS: u64 = 10_000;

/// A multipart upload not completed: aborted when dropped (a cancelled transfer), so its parts
/// do not linger. An upload never completed is no object anyway.
struct PendingUpload {
    client: S3Client,
    key: String,
    upload_id: String,
    armed: bool,
}

impl PendingUpload {
    async fn abort(mut self) {
        self.armed = false;
        // The upload failed already; a failed abort only leaves parts the storage's
        // lifecycle removes, and the first error is the one to tell.
        let _ = self
            .client
            .abort_multipart(&self.key, &self.upload_id)
            .await;
    }
}

impl Drop for PendingUpload {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let client = self.client.clone();
            let key = std::mem::take(&mut self.key);
            let upload_id = std::mem::take(&mut self.upload_id);
            runtime.spawn(async move {
                let _ = client.abort_multipart(&key, &upload_id).await;
            });
        }
    }
}

impl S3Client {
    /// Writes an object from a stream of pieces, with user metadata: in one request when it
    /// fits in one part, else as a multipart upload of parts of [`S3Client::part_size`] (more
    /// when `size_hint` says the object needs more than S3's 10,000 parts), one part in memory
    /// at a time. A failed or dropped upload is aborted: the object appears whole or not at
    /// all. Gives the ETag.
    pub async fn put_stream<S>(
        &self,
        key: &str,
        mut body: S,
        size_hint: Option<u64>,
        metadata: &[(&str, &str)],
    ) -> Result<String, S3Error>
    where
        S: Stream<Item = Result<Bytes, S3Error>> + Unpin,
    {
        let headers = metadata_headers(metadata)?;
        let part_size = part_size_for(self.part_size(), size_hint);
        let mut pending = BytesMut::new();
        let (first, mut ended) = fill(&mut body, &mut pending, part_size).await?;
        if ended {
            return self.put(key, first, metadata).await;
        }
        let upload_id = self.create_multipart(key, &headers).await?;
        let upload = PendingUpload {
            client: self.clone(),
            key: key.to_string(),
            upload_id,
            armed: true,
        };
        let mut etags = Vec::new();
        let mut part = first;
        let result: Result<String, S3Error> = async {
            loop {
                let number = u16::try_from(etags.len() + 1)
                    .ok()
                    .filter(|n| u64::from(*n) <= MAX_PARTS)
                    .ok_or_else(|| S3Error::Source {
                        key: key.to_string(),
                        detail: format!(
                            "more than {MAX_PARTS} parts of {part_size} bytes; the object is \
                             bigger than it was said to be"
                        ),
                    })?;
                etags.push(
                    self.upload_part(key, &upload.upload_id, number, part)
                        .await?,
                );
                if ended {
                    break;
                }
                let (next, end) = fill(&mut body, &mut pending, part_size).await?;
                ended = end;
                if next.is_empty() {
                    break;
                }
                part = next;
            }
            self.complete_multipart(key, &upload.upload_id, &etags)
                .await
        }
        .await;
        match result {
            Ok(etag) => {
                let mut upload = upload;
                upload.armed = false;
                Ok(etag)
            }
            Err(e) => {
                upload.abort().await;
                Err(e)
            }
        }
    }
}

/// The part size for an object of `size_hint` bytes: `base`, or more when that would take
/// more than S3's 10,000 parts.
fn part_size_for(base: usize, size_hint: Option<u64>) -> usize {
    let needed = size_hint.map_or(0, |size| size.div_ceil(MAX_PARTS));
    base.max(usize::try_from(needed).unwrap_or(usize::MAX))
}

/// The next part: up to `size` bytes from `pending` and then `body`, and whether the body
/// ended. What a piece brings beyond `size` stays in `pending` for the next part.
async fn fill<S>(
    body: &mut S,
    pending: &mut BytesMut,
    size: usize,
) -> Result<(Bytes, bool), S3Error>
where
    S: Stream<Item = Result<Bytes, S3Error>> + Unpin,
{
    while pending.len() < size {
        match body.next().await {
            Some(chunk) => pending.extend_from_slice(&chunk?),
            None => {
                let all = pending.split().freeze();
                return Ok((all, true));
            }
        }
    }
    Ok((pending.split_to(size).freeze(), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_grow_only_past_ten_thousand() {
        assert_eq!(part_size_for(8 << 20, Some(100 << 20)), 8 << 20);
        assert_eq!(part_size_for(8 << 20, None), 8 << 20);
        let huge = 200u64 << 30;
        assert!(part_size_for(8 << 20, Some(huge)) as u64 * MAX_PARTS >= huge);
    }

    #[tokio::test]
    async fn parts_are_cut_at_the_size_and_keep_the_rest() {
        let pieces: Vec<Result<Bytes, S3Error>> =
            vec![Ok(Bytes::from(vec![1u8; 7])), Ok(Bytes::from(vec![2u8; 7]))];
        let mut body = futures::stream::iter(pieces);
        let mut pending = BytesMut::new();
        let (a, end) = fill(&mut body, &mut pending, 5).await.unwrap();
        assert_eq!((a.len(), end), (5, false));
        let (b, end) = fill(&mut body, &mut pending, 5).await.unwrap();
        assert_eq!((b.to_vec(), end), (vec![1, 1, 2, 2, 2], false));
        let (c, end) = fill(&mut body, &mut pending, 5).await.unwrap();
        assert_eq!((c.len(), end), (4, true));
    }
}
