//! The registry's object storage on each cluster (the Platform's MinIO), as `[velero.storage.*]`
//! names it, and where the backup lies in its bucket: Velero's files under
//! `openshift-backups/backups/<backup>/` (with the saved YAML in `openshift-resources/`),
//! the restic repository under `openshift-backups/restic/<registry>/`, the buckets' replication
//! under `obc-backups/<registry>/`.

use anyhow::{Context, Result};

use super::StepContext;
use crate::config::ObjectStorage;
use crate::infra::s3::{S3Client, S3Endpoint};
use crate::runbook::ClusterRole;

/// The prefix of Velero's storage location in the bucket (the BSL's `objectStorage.prefix`).
pub const VELERO_PREFIX: &str = "openshift-backups";

/// Velero's files of one backup.
pub fn backup_prefix(backup: &str) -> String {
    format!("{VELERO_PREFIX}/backups/{backup}/")
}

/// The three prefixes a backup reaches cluster B by.
pub fn transfer_prefixes(backup: &str, registry: &str) -> Vec<String> {
    vec![
        backup_prefix(backup),
        format!("{VELERO_PREFIX}/restic/{registry}/"),
        format!("obc-backups/{registry}/"),
    ]
}

/// The YAML `backup-registry` saves beside Velero's files.
pub fn resources_prefix(backup: &str) -> String {
    format!("{VELERO_PREFIX}/backups/{backup}/openshift-resources/")
}

/// A client of the registry's bucket in the object storage of `role`'s cluster, its keys read
/// from their references.
pub fn client(ctx: &StepContext, role: ClusterRole) -> Result<S3Client> {
    let velero = ctx
        .config
        .velero
        .as_ref()
        .context("the config has no [velero] section")?;
    let storage = velero
        .storage(role)
        .with_context(|| format!("[velero] names no object storage for the {role} cluster"))?;
    client_for(storage)
}

/// A client of `storage`'s bucket, its keys read from their references.
pub fn client_for(storage: &ObjectStorage) -> Result<S3Client> {
    let endpoint = S3Endpoint {
        url: storage.endpoint.clone(),
        region: storage.region.clone(),
        access_key: storage
            .access_key
            .resolve(&format!("{}.access_key", storage.key))?,
        secret_key: storage
            .secret_key
            .resolve(&format!("{}.secret_key", storage.key))?,
        ca_file: storage.ca_file.clone(),
    };
    S3Client::new(&endpoint, &storage.bucket).map_err(|e| anyhow::anyhow!("{}: {e}", storage.key))
}
