//! What a transfer reports: each object's record for the manifest, the live progress, the end
//! and what went wrong.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::infra::s3::S3Error;

/// One object copied (or found already copied): its key, size and SHA-256, equal on both sides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    pub key: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// Where a transfer stands, as the live panel shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TransferProgress {
    /// Objects finished (copied or skipped) of all to do.
    pub objects_done: usize,
    pub objects_total: usize,
    /// Of them, found already on the destination, identical.
    pub skipped: usize,
    /// Bytes of the finished objects plus what was read of those in flight, of all.
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// Bytes a second read from the source over the last seconds.
    pub bytes_per_second: f64,
    /// The object last started.
    pub current: Option<String>,
}

/// A transfer that ended with every object on the destination.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferReport {
    /// Every object under the prefixes, in the order copied: by key, `velero-backup.json` last.
    pub records: Vec<ObjectRecord>,
    /// Objects written to the destination by this run.
    pub copied: usize,
    /// Objects already on the destination, identical, not written again.
    pub skipped: usize,
    pub bytes_copied: u64,
    pub bytes_total: u64,
    /// Prefixes under which the source holds nothing.
    pub empty_prefixes: Vec<String>,
}

/// An object that could not be copied, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedObject {
    pub key: String,
    pub reason: String,
}

/// Why a transfer did not end with every object on the destination.
#[derive(Clone, Debug, PartialEq)]
pub enum TransferError {
    /// The source's bucket could not be read (nothing was written).
    Source(S3Error),
    /// The destination refused or could not be reached before anything was written.
    Destination(S3Error),
    /// Some objects failed; the others were copied. The Velero backup's `velero-backup.json`
    /// objects were held back, so the destination's Velero does not sync an incomplete backup.
    Objects {
        failed: Vec<FailedObject>,
        held_back: Vec<String>,
        copied: usize,
        skipped: usize,
    },
    /// Stopped on request; what was complete on the destination stays, nothing half-written.
    Stopped { copied: usize, skipped: usize },
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::Source(e) => write!(f, "cannot read the source storage: {e}"),
            TransferError::Destination(e) => {
                write!(
                    f,
                    "the destination storage cannot take the objects, nothing was written: {e}"
                )
            }
            TransferError::Objects {
                failed,
                held_back,
                copied,
                skipped,
            } => {
                write!(
                    f,
                    "{} object(s) failed ({copied} copied, {skipped} already there): ",
                    failed.len()
                )?;
                for (i, failure) in failed.iter().take(10).enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "`{}`: {}", failure.key, failure.reason)?;
                }
                if failed.len() > 10 {
                    write!(f, "; and {} more", failed.len() - 10)?;
                }
                if !held_back.is_empty() {
                    write!(
                        f,
                        "; held back so the destination's Velero does not sync an incomplete \
                         backup: {}",
                        held_back.join(", ")
                    )?;
                }
                f.write_str("; run the transfer again: it copies only what is missing or differs")
            }
            TransferError::Stopped { copied, skipped } => write!(
                f,
                "stopped ({copied} copied, {skipped} already there); run the transfer again to \
                 copy the rest"
            ),
        }
    }
}

impl std::error::Error for TransferError {}

/// An object of a transfer's records that the destination no longer holds as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    pub key: String,
    pub expected_size: u64,
    pub expected_sha256: String,
    /// None when the object is missing.
    pub found: Option<ObjectRecord>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.found {
            None => write!(f, "`{}` is missing", self.key),
            Some(found) => write!(
                f,
                "`{}` differs: {} bytes, SHA-256 {} (copied: {} bytes, SHA-256 {})",
                self.key, found.size, found.sha256, self.expected_size, self.expected_sha256
            ),
        }
    }
}
