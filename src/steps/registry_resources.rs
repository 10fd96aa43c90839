//! The objects the Platform's scripts keep as YAML beside the Velero backup, because Velero's
//! restore alone does not bring them back right: `backup-registry.sh` saves them from cluster A
//! into `openshift-backups/backups/<backup>/openshift-resources/<folder>/<name>.yaml`, and
//! `restore-registry.sh` applies some of them again on cluster B before the first restore (the
//! codebase operator's validating webhook, the services, Gerrit and Jenkins with their status)
//! and others after (the PostgresClusters, the Jenkins role mappings).
//!
//! cutover writes each object as JSON, which is YAML too, so `oc apply -f` reads these files as
//! it reads the scripts'.

use anyhow::{Context, Result};
use bytes::Bytes;
use serde_json::Value;

use super::registry_storage::resources_prefix;
use crate::infra::kube::KubeCluster;
use crate::infra::s3::S3Client;

/// One resource the scripts save: its folder, where it is served, and whether it is all of the
/// namespace's objects or one named cluster-wide object.
pub struct Saved {
    pub folder: &'static str,
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
}

/// `backup-registry.sh`'s `openshift_registry_resources`, in its order (the webhook apart).
pub const SAVED: &[Saved] = &[
    saved("service", "", "v1", "services"),
    saved("gerrits", "v2.edp.epam.com", "v1", "gerrits"),
    saved("jenkins", "v2.edp.epam.com", "v1", "jenkins"),
    saved("codebases", "v2.edp.epam.com", "v1", "codebases"),
    saved(
        "codebasebranches",
        "v2.edp.epam.com",
        "v1",
        "codebasebranches",
    ),
    saved(
        "jenkinsauthorizationrolemapping",
        "v2.edp.epam.com",
        "v1",
        "jenkinsauthorizationrolemappings",
    ),
    saved(
        "postgrescluster",
        "postgres-operator.crunchydata.com",
        "v1beta1",
        "postgresclusters",
    ),
];

const fn saved(
    folder: &'static str,
    group: &'static str,
    version: &'static str,
    plural: &'static str,
) -> Saved {
    Saved {
        folder,
        group,
        version,
        plural,
    }
}

/// The Keycloak operator's group: each of its resources the registry has objects of is saved
/// in a folder of its plural (the script saves every CRD whose name holds `keycloak`).
const KEYCLOAK_GROUP: &str = "v1.edp.epam.com";

/// The codebase operator's webhook of the registry, saved as `validatingwebhookconfiguration/
/// codebase_operator_webhook.yaml`.
pub fn webhook_name(registry: &str) -> String {
    format!("edp-codebase-operator-validating-webhook-configuration-{registry}")
}

/// What the restore applies before its first Velero restore (restore-registry.sh: the webhook,
/// then `service`, `gerrits`, `jenkins`).
pub const APPLIED_FIRST: &[&str] = &[
    "validatingwebhookconfiguration",
    "service",
    "gerrits",
    "jenkins",
];

/// Saves the registry's objects from cluster A into the backup's folder in A's bucket; returns
/// how many, by folder.
pub async fn save(
    kube: &KubeCluster,
    bucket: &S3Client,
    registry: &str,
    backup: &str,
) -> Result<Vec<(String, usize)>> {
    let prefix = resources_prefix(backup);
    let mut counts = Vec::new();
    let mut folders: Vec<(String, Vec<Value>)> = Vec::new();
    for plural in kube.plurals_of(KEYCLOAK_GROUP, "v1").await? {
        if plural.contains("keycloak") {
            let objects = kube
                .list_any(KEYCLOAK_GROUP, "v1", &plural, registry)
                .await?;
            if !objects.is_empty() {
                folders.push((plural, objects));
            }
        }
    }
    for s in SAVED {
        let objects = kube
            .list_any(s.group, s.version, s.plural, registry)
            .await?;
        folders.push((s.folder.to_string(), objects));
    }
    for (folder, objects) in &folders {
        for object in objects {
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .context("a listed object has no name")?;
            let key = format!("{prefix}{folder}/{name}.yaml");
            bucket
                .put(&key, Bytes::from(serde_json::to_vec_pretty(object)?), &[])
                .await?;
        }
        counts.push((folder.clone(), objects.len()));
    }
    let webhooks = kube
        .list_any(
            "admissionregistration.k8s.io",
            "v1",
            "validatingwebhookconfigurations",
            "",
        )
        .await?;
    let wanted = webhook_name(registry);
    let webhook = webhooks
        .iter()
        .find(|w| w.pointer("/metadata/name").and_then(Value::as_str) == Some(wanted.as_str()));
    if let Some(webhook) = webhook {
        let key = format!("{prefix}validatingwebhookconfiguration/codebase_operator_webhook.yaml");
        bucket
            .put(&key, Bytes::from(serde_json::to_vec_pretty(webhook)?), &[])
            .await?;
    }
    counts.push((
        "validatingwebhookconfiguration".into(),
        usize::from(webhook.is_some()),
    ));
    Ok(counts)
}

/// The saved objects of `folder` in the backup's folder of a bucket, by file.
pub async fn load(bucket: &S3Client, backup: &str, folder: &str) -> Result<Vec<(String, Value)>> {
    let prefix = format!("{}{folder}/", resources_prefix(backup));
    let mut out = Vec::new();
    for info in bucket.list(&prefix).await? {
        if !info.key.ends_with(".yaml") {
            continue;
        }
        let body = bucket
            .get(&info.key)
            .await?
            .with_context(|| format!("{} disappeared from the bucket", info.key))?;
        let object: Value = serde_json::from_slice(&body).with_context(|| {
            format!(
                "{} is not an object cutover saved (JSON); apply it by hand with oc apply -f",
                info.key
            )
        })?;
        out.push((info.key, object));
    }
    Ok(out)
}
