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
    let client = crate::steps::registry_storage::client_for(storage)?;
    let mut problems = Vec::new();
    let mut counts = Vec::new();
    match client.bucket_exists().await {
        Ok(true) => {}
        Ok(false) => {
            problems.push(format!(
                "{}.bucket: the object storage {} has no bucket {}; the Platform's registry \
                 deployment creates it (check the bucket's name in the registry's Velero \
                 location)",
                storage.key, storage.endpoint, storage.bucket
            ));
            return Ok(StorageFindings { problems, counts });
        }
        Err(e) => {
            problems.push(format!("{}: {e}", storage.key));
            return Ok(StorageFindings { problems, counts });
        }
    }
    for prefix in prefixes {
        match client.list(prefix).await {
            Ok(objects) => counts.push((prefix.clone(), objects.len() as u64)),
            Err(e) => problems.push(format!("{}: listing {prefix}: {e}", storage.key)),
        }
    }
    ctx.sink.info(format!(
        "{}: the object storage {} answers with its keys and holds the bucket {}",
        storage.key, storage.endpoint, storage.bucket
    ));
    Ok(StorageFindings { problems, counts })
}
