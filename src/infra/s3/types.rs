//! The objects' shapes and the limits every request of the client keeps.

use std::collections::BTreeMap;
use std::time::Duration;

/// How long a signed request stays valid. It is sent right after it is signed, and S3 checks
/// the time when a request starts, so a long upload is not cut.
pub(super) const SIGNED_FOR: Duration = Duration::from_secs(15 * 60);
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// From sending a request to the answer's headers (an upload's part included).
pub(super) const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);
/// Between two pieces of an answer's body.
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The most of an error answer or an XML document kept.
pub(super) const MAX_DOCUMENT: usize = 16 * 1024 * 1024;
/// The parts of a multipart upload: big enough for few requests, small enough to keep a few
/// in memory at once.
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;
/// S3's smallest part (all but the last).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// An object as a listing shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Without quotes; some storages list none.
    pub etag: Option<String>,
    /// As the storage wrote it (ISO 8601).
    pub last_modified: Option<String>,
}

/// What a HEAD says of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectHead {
    pub size: u64,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// User metadata (`x-amz-meta-<name>`), by lowercase name without the prefix.
    pub metadata: BTreeMap<String, String>,
}
