//! Reading an object whole to know its SHA-256, and hashing one while it streams on.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};

use crate::infra::artifacts::hex;
use crate::infra::s3::{S3Client, S3Error};

/// An object's size and SHA-256 (hex), read as it streams; `on_read` is told each piece's size.
pub(super) async fn hash_object(
    client: &S3Client,
    key: &str,
    mut on_read: impl FnMut(u64),
) -> Result<(u64, String), S3Error> {
    let mut reader = client.get_stream(key).await?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = reader.chunk().await? {
        hasher.update(&chunk);
        size += chunk.len() as u64;
        on_read(chunk.len() as u64);
    }
    Ok((size, hex(&hasher.finalize())))
}

/// The object's pieces, hashed on the way; at the end, when the SHA-256 is not `expected` (the
/// object changed since it was hashed), an error instead of the end, so an upload fed from it
/// is aborted rather than completed.
pub(super) fn checked_stream<'a, S, F>(
    key: &str,
    body: S,
    expected: String,
    on_read: F,
) -> impl Stream<Item = Result<Bytes, S3Error>> + Send + Unpin + 'a
where
    S: Stream<Item = Result<Bytes, S3Error>> + Send + Unpin + 'a,
    F: FnMut(u64) + Send + 'a,
{
    struct State<S, F> {
        key: String,
        body: S,
        hasher: Sha256,
        expected: String,
        on_read: F,
        ended: bool,
    }
    let state = State {
        key: key.to_string(),
        body,
        hasher: Sha256::new(),
        expected,
        on_read,
        ended: false,
    };
    Box::pin(futures::stream::unfold(state, |mut s| async move {
        if s.ended {
            return None;
        }
        match s.body.next().await {
            Some(Ok(chunk)) => {
                s.hasher.update(&chunk);
                (s.on_read)(chunk.len() as u64);
                Some((Ok(chunk), s))
            }
            None => {
                s.ended = true;
                let got = hex(&s.hasher.clone().finalize());
                if got == s.expected {
                    None
                } else {
                    let error = S3Error::Source {
                        key: s.key.clone(),
                        detail: format!(
                            "the source object changed while it was copied (SHA-256 {got}, \
                             {} before)",
                            s.expected
                        ),
                    };
                    Some((Err(error), s))
                }
            }
            Some(Err(e)) => {
                s.ended = true;
                Some((Err(e), s))
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(
        parts: &[&'static [u8]],
    ) -> impl Stream<Item = Result<Bytes, S3Error>> + Send + Unpin {
        futures::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn a_stream_that_is_what_was_hashed_ends() {
        let expected = hex(&Sha256::digest(b"hello world"));
        let mut read = 0;
        let out: Vec<_> =
            checked_stream("k", pieces(&[b"hello ", b"world"]), expected, |n| read += n)
                .collect()
                .await;
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(Result::is_ok));
        assert_eq!(read, 11);
    }

    #[tokio::test]
    async fn a_stream_that_changed_since_it_was_hashed_ends_in_an_error() {
        let expected = hex(&Sha256::digest(b"hello world"));
        let out: Vec<_> = checked_stream("big", pieces(&[b"hello ", b"WORLD"]), expected, |_| {})
            .collect()
            .await;
        assert_eq!(out.len(), 3);
        let Err(e) = &out[2] else {
            panic!("an error at the end")
        };
        assert!(e.to_string().contains("changed while it was copied"), "{e}");
    }
}
