//! Copying the objects under some prefixes from one S3 bucket to another with proof: streamed
//! with bounded memory, SHA-256 on both sides, resumable, `velero-backup.json` last; and
//! verifying later that the destination still holds what was copied. Plain S3, nothing of
//! migrations.

mod copy;
mod hash;
mod progress;
mod record;
mod verify;

pub use copy::{SHA256_METADATA, TransferOptions, VELERO_BACKUP_FILE, transfer};
pub use record::{
    FailedObject, Mismatch, ObjectRecord, TransferError, TransferProgress, TransferReport,
};
pub use verify::verify;
