//! The restore's first stage: the objects `backup-registry` saved beside the backup, applied on
//! cluster B as restore-registry.sh applies them before Velero's first restore: the codebase
//! operator's webhook of the registry (deleted and created again), then the services, the
//! Gerrit and the Jenkins objects with their status.

use anyhow::Result;
use serde_json::Value;

use super::run::StageEnd;
use crate::infra::kube::KubeCluster;
use crate::runbook::ClusterRole;
use crate::steps::StepContext;
use crate::steps::registry_backup::Params;
use crate::steps::registry_resources::{APPLIED_FIRST, load};
use crate::steps::registry_storage::client;

pub async fn apply(
    ctx: &StepContext,
    kube: &KubeCluster,
    p: &Params,
    backup: &str,
) -> Result<StageEnd> {
    let bucket = client(ctx, ClusterRole::Destination)?;
    let mut applied = 0usize;
    for folder in APPLIED_FIRST {
        let objects = load(&bucket, backup, folder).await?;
        for (key, mut object) in objects {
            let kind = object
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if *folder == "validatingwebhookconfiguration" {
                let api_version = object
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("admissionregistration.k8s.io/v1");
                let api_version = api_version.to_string();
                kube.delete_object(&api_version, &kind, "", &name).await?;
            }
            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut)
                && meta.contains_key("namespace")
            {
                meta.insert("namespace".into(), Value::String(p.registry.clone()));
            }
            if let Err(e) = kube.apply_object(&object).await {
                return Ok(StageEnd::Failed(format!(
                    "applying the saved {kind} {name} ({key}) on cluster B: {e:#}"
                )));
            }
            applied += 1;
        }
    }
    ctx.sink.info(format!(
        "applied {applied} saved object(s) on cluster B ({})",
        APPLIED_FIRST.join(", ")
    ));
    Ok(StageEnd::Done(format!(
        "stage saved-resources: {applied} object(s) applied"
    )))
}
