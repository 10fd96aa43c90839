//! The object storage of each cluster, as the config gives it: reachable with its credentials,
//! its bucket there, and what it holds under a prefix (B's leftovers of the registry).

use anyhow::Result;

use crate::config::ObjectStorage;
use crate::steps::StepContext;

/// The three prefixes a registry's backups occupy in its bucket (migrate-registry.adoc): the
/// Velero backups (`openshift-backups/backups/<registry>*`, a name prefix), the restic
/// repository and the replicated object buckets.
pub fn registry_prefixes(registry: &str) -> [String; 3] {
    [
        format!("openshift-backups/backups/{registry}"),
        format!("openshift-backups/restic/{registry}/"),
        format!("obc-backups/{registry}/"),
    ]
}

/// What was found in one object storage.
pub struct StorageFindings {
    /// Problems, each saying what to do.
    pub problems: Vec<String>,
    /// Per prefix asked, the number of objects under it, when it could be listed.
    pub counts: Vec<(String, u64)>,
}

/// Checks that `storage` answers its credentials and holds its bucket, and counts the objects
/// under each of `prefixes`.
pub async fn probe(
    ctx: &StepContext,
    storage: &ObjectStorage,
    prefixes: &[String],
) -> Result<StorageFindings> {
    // The credentials are read now, so a missing one is named even before the S3 client lands.
    storage
        .access_key
        .resolve(&format!("{}.access_key", storage.key))?;
    storage
        .secret_key
        .resolve(&format!("{}.secret_key", storage.key))?;
    // TODO(s3): once `crate::infra::s3::S3Client` is merged from branch `s3`: build it for
    // `storage` (endpoint, region, the two keys, `ca_file`) and `storage.bucket`; a refused
    // request is a problem naming `{key}.access_key` (never the values), a missing bucket one
    // naming `{key}.bucket`; then `list(prefix)` counts each prefix. Until then nothing is
    // asked of the object storage, and the log says so.
    ctx.sink.warn(format!(
        "{}: the object storage {} (bucket {}) is not asked yet by this check; {} prefixes not \
         listed",
        storage.key,
        storage.endpoint,
        storage.bucket,
        prefixes.len()
    ));
    Ok(StorageFindings {
        problems: Vec::new(),
        counts: Vec::new(),
    })
}
