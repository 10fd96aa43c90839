//! An object read as it arrives, a piece at a time.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::Stream;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::error::S3Error;
use super::types::{IDLE_TIMEOUT, ObjectHead};

/// An object being read: what its GET said (size, ETag, metadata) and its body, a piece at a
/// time.
pub struct ObjectReader {
    key: String,
    head: ObjectHead,
    body: Incoming,
    read: u64,
    authority: String,
    done: bool,
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader")
            .field("key", &self.key)
            .field("size", &self.head.size)
            .field("read", &self.read)
            .finish_non_exhaustive()
    }
}

impl ObjectReader {
    pub(super) fn new(
        key: String,
        head: ObjectHead,
        body: Incoming,
        authority: String,
    ) -> ObjectReader {
        ObjectReader {
            key,
            head,
            body,
            read: 0,
            authority,
            done: false,
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The object's size (its `Content-Length`).
    pub fn size(&self) -> u64 {
        self.head.size
    }

    pub fn etag(&self) -> Option<&str> {
        self.head.etag.as_deref()
    }

    /// The object's user metadata.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.head.metadata
    }

    /// The next piece; None at the end, which comes only once every byte the object has was
    /// read (a body cut short is an error, not an end).
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, S3Error> {
        if self.done {
            return Ok(None);
        }
        loop {
            let frame = match tokio::time::timeout(IDLE_TIMEOUT, self.body.frame()).await {
                Err(_) => {
                    return Err(S3Error::Timeout {
                        authority: self.authority.clone(),
                        op: format!("GET `{}`", self.key),
                        secs: IDLE_TIMEOUT.as_secs(),
                    });
                }
                Ok(None) => {
                    self.done = true;
                    if self.read != self.head.size {
                        return Err(self.broken(format!(
                            "the body ended after {} of {} bytes",
                            self.read, self.head.size
                        )));
                    }
                    return Ok(None);
                }
                Ok(Some(frame)) => {
                    frame.map_err(|e| self.broken(format!("the body broke off: {e}")))?
                }
            };
            if let Ok(data) = frame.into_data() {
                if data.is_empty() {
                    continue;
                }
                self.read += data.len() as u64;
                if self.read > self.head.size {
                    return Err(
                        self.broken(format!("more bytes than the {} announced", self.head.size))
                    );
                }
                return Ok(Some(data));
            }
        }
    }

    fn broken(&self, detail: String) -> S3Error {
        S3Error::Protocol {
            authority: self.authority.clone(),
            op: format!("GET `{}`", self.key),
            detail,
        }
    }

    /// The body as a stream of pieces.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, S3Error>> + Send + Unpin {
        Box::pin(futures::stream::unfold(self, |mut reader| async move {
            match reader.chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), reader)),
                Ok(None) => None,
                Err(e) => {
                    reader.done = true;
                    Some((Err(e), reader))
                }
            }
        }))
    }
}
