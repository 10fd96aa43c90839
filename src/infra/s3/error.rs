//! What went wrong with an object storage, said for the operator: which storage, which bucket,
//! what to check. No error holds a secret key or a signed URL (signatures live only in the
//! query string of the URLs this module's client sends, and no message names one).

use std::fmt;

/// An object storage operation that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Error {
    /// The endpoint, bucket name or CA file given cannot be used as they are.
    Config(String),
    /// No connection to `host:port`.
    Unreachable { authority: String, detail: String },
    /// A connection, but no TLS session (certificate not trusted, wrong scheme...).
    Tls { authority: String, detail: String },
    /// No answer in time.
    Timeout {
        authority: String,
        op: String,
        secs: u64,
    },
    /// 403: the storage refused the access key for this bucket.
    Refused(Box<Refusal>),
    /// 404 NoSuchBucket.
    NoSuchBucket { authority: String, bucket: String },
    /// 404 NoSuchKey.
    NoSuchKey {
        authority: String,
        bucket: String,
        key: String,
    },
    /// Any other error answer, with S3's code and message.
    Service(Box<ServiceError>),
    /// An answer that is not what S3 answers (unreadable XML, a body cut short...).
    Protocol {
        authority: String,
        op: String,
        detail: String,
    },
    /// What was to be uploaded could not be read.
    Source { key: String, detail: String },
}

/// What a 403 said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub authority: String,
    pub bucket: String,
    pub access_key: String,
    /// The request refused: `GET `key``, `list `prefix``.
    pub op: String,
    /// S3's code (`SignatureDoesNotMatch`, `InvalidAccessKeyId`, `AccessDenied`...).
    pub code: String,
    pub message: String,
}

/// An error answer other than 403 and 404.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    pub authority: String,
    pub bucket: String,
    pub op: String,
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl S3Error {
    /// The HTTP status of an error answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            S3Error::Refused(_) => Some(403),
            S3Error::NoSuchBucket { .. } | S3Error::NoSuchKey { .. } => Some(404),
            S3Error::Service(e) => Some(e.status),
            _ => None,
        }
    }

    /// Whether the storage refused who we are (403).
    pub fn is_refused(&self) -> bool {
        matches!(self, S3Error::Refused(_))
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            S3Error::Config(message) => f.write_str(message),
            S3Error::Unreachable { authority, detail } => write!(
                f,
                "cannot reach the object storage at {authority} ({detail}); check the endpoint's \
                 host and port, that the storage (MinIO) runs and that this machine can reach it"
            ),
            S3Error::Tls { authority, detail } => write!(
                f,
                "no TLS session with the object storage at {authority} ({detail}); if its \
                 certificate is signed by a private CA give that CA's PEM file, and check the \
                 endpoint's scheme (http or https)"
            ),
            S3Error::Timeout {
                authority,
                op,
                secs,
            } => write!(
                f,
                "{op} at the object storage {authority} got no answer within {secs}s; check \
                 that the storage is up and not overloaded"
            ),
            S3Error::Refused(refusal) => {
                let Refusal {
                    authority,
                    bucket,
                    access_key,
                    op,
                    code,
                    message,
                } = refusal.as_ref();
                write!(
                    f,
                    "the object storage at {authority} refused {op} in bucket `{bucket}` to \
                     access key `{access_key}` (403 {code}"
                )?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                f.write_str(")")?;
                let hint = match code.as_str() {
                    // NotSignedUp: s3s's word for it.
                    "InvalidAccessKeyId" | "NotSignedUp" => {
                        "the storage does not know this access key: check the access key"
                    }
                    "SignatureDoesNotMatch" => {
                        "the secret key does not match this access key: check the secret key"
                    }
                    "RequestTimeTooSkewed" => "this machine's clock is off: check its time",
                    _ => {
                        "check the secret key belongs to this access key, that the key may use \
                         this bucket, and this machine's clock"
                    }
                };
                write!(f, "; {hint}")
            }
            S3Error::NoSuchBucket { authority, bucket } => write!(
                f,
                "the object storage at {authority} has no bucket `{bucket}` (404 NoSuchBucket); \
                 check the bucket name, or create the bucket"
            ),
            S3Error::NoSuchKey {
                authority,
                bucket,
                key,
            } => write!(
                f,
                "the object storage at {authority} has no object `{key}` in bucket `{bucket}` \
                 (404 NoSuchKey)"
            ),
            S3Error::Service(e) => {
                let ServiceError {
                    authority,
                    bucket,
                    op,
                    status,
                    code,
                    message,
                } = e.as_ref();
                write!(
                    f,
                    "{op} in bucket `{bucket}` at the object storage {authority} failed: {status} \
                     {code}"
                )?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            S3Error::Protocol {
                authority,
                op,
                detail,
            } => write!(
                f,
                "{op} at the object storage {authority}: unexpected answer ({detail}); is this \
                 an S3 endpoint?"
            ),
            S3Error::Source { key, detail } => {
                write!(
                    f,
                    "reading what is to be uploaded as `{key}` failed: {detail}"
                )
            }
        }
    }
}

impl std::error::Error for S3Error {}

/// `Code` and `Message` of an S3 error body (`<Error><Code>..</Code><Message>..</Message>`),
/// empty when the body has none (a HEAD's answer has no body).
pub(super) fn error_body(body: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(body);
    (
        element(&text, "Code").unwrap_or_default(),
        element(&text, "Message").unwrap_or_default(),
    )
}

/// The text of the first `<name>` element, unescaped and cleaned of anything signed.
pub(super) fn element(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = text.find(&open)? + open.len();
    let end = start + text[start..].find(&close)?;
    let raw = &text[start..end];
    let unescaped = raw
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    Some(without_signature(unescaped.trim()))
}

/// A message that quotes a signed URL or header keeps everything but the signature.
pub(super) fn without_signature(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("Signature=") {
        let cut = at + "Signature=".len();
        out.push_str(&rest[..cut]);
        out.push_str("***");
        rest = &rest[cut..];
        let end = rest
            .find(|c: char| c == '&' || c == ',' || c.is_whitespace())
            .unwrap_or(rest.len());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_give_code_and_message() {
        let body = br#"<?xml version="1.0"?><Error><Code>NoSuchBucket</Code><Message>The bucket &amp; more</Message></Error>"#;
        assert_eq!(
            error_body(body),
            ("NoSuchBucket".to_string(), "The bucket & more".to_string())
        );
        assert_eq!(error_body(b""), (String::new(), String::new()));
    }

    #[test]
    fn signatures_never_show() {
        let m = without_signature("url ?X-Amz-Signature=abcdef&X-Amz-Date=1 Signature=ff, x");
        assert!(!m.contains("abcdef") && !m.contains("ff,"), "{m}");
        assert!(m.contains("X-Amz-Date=1"), "{m}");
    }

    #[test]
    fn a_refusal_says_what_to_check() {
        let e = S3Error::Refused(Box::new(Refusal {
            authority: "127.0.0.1:9000".into(),
            bucket: "registry-backups".into(),
            access_key: "minio".into(),
            op: "HEAD".into(),
            code: "SignatureDoesNotMatch".into(),
            message: String::new(),
        }))
        .to_string();
        assert!(e.contains("check the secret key"), "{e}");
        assert!(
            e.contains("registry-backups") && e.contains("`minio`"),
            "{e}"
        );
    }
}
