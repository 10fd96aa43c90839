//! `backup-registry`: the registry's Velero backup on cluster A, as the Platform's
//! `backup-registry.sh` makes it (`velero backup create <registry>-<time> --include-namespaces
//! <registry> --storage-location <registry> --ttl <ttl>`), built for the Velero version the
//! cluster runs and judged by its status, never by the CLI's exit code.
//!
//! - The backup's name is chosen once and journaled (fact `backup`) before the Backup is
//!   created, so a resumed run follows the same Backup and never makes a second one.
//! - Before creating it: every pod volume on a PersistentVolumeClaim must be opted into
//!   file-system backup (`backup.velero.io/backup-volumes`), unless the server backs up every
//!   volume by default (`--default-volumes-to-restic`); otherwise its data would silently not be
//!   in the backup.
//! - Good only when `Completed`, no error and every item backed up; otherwise the step fails with
//!   Velero's errors.

use anyhow::{Context, Result};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use serde_json::{Map, json};

use super::velero_follow::{Followed, follow, show_results};
use super::{Recheck, StepAction, StepContext, StepFuture, StepResult};
use crate::infra::kube::{CustomKind, DownloadTarget, KubeCluster};
use crate::infra::velero::{VeleroVersion, backup_object};
use crate::runbook::ClusterRole;

struct Backup;

pub(super) static BACKUP: &dyn StepAction = &Backup;

/// Velero's annotation by which a pod opts volumes into file-system backup.
pub const BACKUP_VOLUMES_ANNOTATION: &str = "backup.velero.io/backup-volumes";
/// The server flag that backs up every pod volume without the annotation (Velero 1.9).
const DEFAULT_VOLUMES_FLAG: &str = "--default-volumes-to-restic";

/// What the step needs from the config.
pub struct Params {
    pub registry: String,
    pub velero_namespace: String,
    pub ttl: std::time::Duration,
    /// The Platform's namespace (`control-plane`).
    pub edp_namespace: String,
    /// Keycloak's namespace (`user-management`).
    pub keycloak_namespace: String,
}

pub fn params(ctx: &StepContext) -> Result<Params> {
    let velero = ctx
        .config
        .velero
        .as_ref()
        .context("the config has no [velero] section; add it with the registry's name")?;
    Ok(Params {
        registry: velero.registry.clone(),
        velero_namespace: velero.namespace.clone(),
        ttl: velero.backup_ttl,
        edp_namespace: velero.edp_namespace.clone(),
        keycloak_namespace: velero.keycloak_namespace.clone(),
    })
}

/// The Velero version the cluster runs, from the image of its `velero` deployment.
pub async fn velero_version(kube: &KubeCluster, velero_namespace: &str) -> Result<VeleroVersion> {
    let deployments: Api<Deployment> = Api::namespaced(kube.client().clone(), velero_namespace);
    let velero = deployments
        .get_opt("velero")
        .await
        .with_context(|| format!("reading deployment velero in {velero_namespace}"))?
        .with_context(|| {
            format!(
                "no deployment velero in namespace {velero_namespace} on {}: Velero comes with \
                 the Platform; check [velero] namespace",
                kube.name()
            )
        })?;
    let image = velero_container(&velero)
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    VeleroVersion::from_image(&image).with_context(|| {
        format!(
            "the velero deployment on {} runs image {image:?}, whose tag is not a version",
            kube.name()
        )
    })
}

fn velero_container(d: &Deployment) -> Option<&k8s_openapi::api::core::v1::Container> {
    let containers = &d.spec.as_ref()?.template.spec.as_ref()?.containers;
    containers
        .iter()
        .find(|c| c.name == "velero")
        .or(containers.first())
}

/// Whether the server backs up every pod volume by default.
async fn volumes_by_default(kube: &KubeCluster, velero_namespace: &str) -> Result<bool> {
    let deployments: Api<Deployment> = Api::namespaced(kube.client().clone(), velero_namespace);
    let Some(velero) = deployments.get_opt("velero").await? else {
        return Ok(false);
    };
    let args = velero_container(&velero)
        .map(|c| {
            c.args
                .iter()
                .flatten()
                .chain(c.command.iter().flatten())
                .cloned()
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    Ok(args
        .iter()
        .any(|a| a == DEFAULT_VOLUMES_FLAG || a == &format!("{DEFAULT_VOLUMES_FLAG}=true")))
}

/// Pod volumes on a PersistentVolumeClaim that no `backup.velero.io/backup-volumes` names:
/// `pod/volume (claim)`.
pub async fn unprotected_volumes(kube: &KubeCluster, namespace: &str) -> Result<Vec<String>> {
    let pods: Api<Pod> = Api::namespaced(kube.client().clone(), namespace);
    let list = pods
        .list(&Default::default())
        .await
        .with_context(|| format!("listing the pods of {namespace} on {}", kube.name()))?;
    let mut out = Vec::new();
    for pod in list.items {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let opted: Vec<String> = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(BACKUP_VOLUMES_ANNOTATION))
            .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
            .unwrap_or_default();
        let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref());
        for volume in volumes.into_iter().flatten() {
            if let Some(claim) = &volume.persistent_volume_claim
                && !opted.contains(&volume.name)
            {
                out.push(format!("{name}/{} ({})", volume.name, claim.claim_name));
            }
        }
    }
    out.sort();
    Ok(out)
}

async fn run(ctx: &StepContext) -> Result<StepResult> {
    let p = params(ctx)?;
    let kube = ctx.cluster(ClusterRole::Source).await?;
    let version = velero_version(&kube, &p.velero_namespace).await?;
    if let Err(why) = version.check_supported() {
        return Ok(ctx.failed(format!("cluster A: {why}")));
    }
    if let Some(name) = super::backup_name::recorded(ctx) {
        ctx.sink.info(format!(
            "following the backup {name} an earlier attempt started"
        ));
    }
    let name = super::backup_name::choose(ctx)?;
    let existing = kube
        .velero_progress(CustomKind::VeleroBackup, &p.velero_namespace, &name)
        .await?;
    if existing.is_none() {
        if !volumes_by_default(&kube, &p.velero_namespace).await? {
            let missing = unprotected_volumes(&kube, &p.registry).await?;
            if !missing.is_empty() {
                return Ok(ctx.failed(format!(
                    "{} pod volume(s) on a PersistentVolumeClaim are not opted into Velero's \
                     file-system backup, so their data would not be in the backup: {}. Annotate \
                     each pod's workload template with {BACKUP_VOLUMES_ANNOTATION}=<volume,…> \
                     (the registry's charts do) and run the step again; nothing was created",
                    missing.len(),
                    missing.join(", ")
                )));
            }
        }
        let object = backup_object(
            &p.velero_namespace,
            &name,
            &[p.registry.as_str()],
            &p.registry,
            p.ttl,
        );
        kube.create_custom(CustomKind::VeleroBackup, Some(&p.velero_namespace), &object)
            .await?;
        ctx.sink.info(format!(
            "created the Backup {name} of namespace {} on cluster A (Velero {version}, storage \
             location {}, ttl {})",
            p.registry,
            p.registry,
            crate::infra::velero::go_duration(p.ttl)
        ));
    }
    let what = format!("the backup {name}");
    let progress = match follow(
        ctx,
        &kube,
        CustomKind::VeleroBackup,
        &p.velero_namespace,
        &name,
        &what,
    )
    .await?
    {
        Followed::Finished(progress) => progress,
        Followed::Stopped => {
            return Ok(StepResult::stopped(format!(
                "stopped following {what}; Velero goes on with it, and the next run follows it \
                 again"
            )));
        }
        Followed::Gone => {
            return Ok(ctx.failed(format!(
                "{what} disappeared from cluster A before it finished; run the step again to \
                 make a new one"
            )));
        }
    };
    let mut figures = Map::new();
    figures.insert("backup".into(), json!(name));
    figures.insert("items".into(), json!(progress.items_done));
    figures.insert("total_items".into(), json!(progress.total_items));
    figures.insert("warnings".into(), json!(progress.warnings));
    figures.insert("errors".into(), json!(progress.errors));
    figures.insert("phase".into(), json!(progress.phase));
    if progress.warnings + progress.errors > 0 {
        show_results(
            ctx,
            &kube,
            &p.velero_namespace,
            DownloadTarget::BackupLog,
            &name,
            &what,
        )
        .await;
    }
    if let Some(why) = progress.backup_refusal() {
        return Ok(ctx.failed_with(
            format!(
                "{what} cannot be migrated: {why}. See velero backup describe {name} --details \
                 and velero backup logs {name} on cluster A; fix the cause and run the step \
                 again: it makes a new backup"
            ),
            figures,
        ));
    }
    // As backup-registry.sh does after the backup: the objects Velero's restore alone does not
    // bring back right, saved beside it in A's bucket.
    let bucket = super::registry_storage::client(ctx, ClusterRole::Source)?;
    let saved = super::registry_resources::save(&kube, &bucket, &p.registry, &name).await?;
    let total: usize = saved.iter().map(|(_, n)| n).sum();
    let listed: Vec<String> = saved
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(folder, n)| format!("{folder} {n}"))
        .collect();
    ctx.sink.info(format!(
        "saved {total} object(s) beside the backup in {}/{}: {}",
        bucket.bucket(),
        super::registry_storage::resources_prefix(&name),
        if listed.is_empty() {
            "none".to_string()
        } else {
            listed.join(", ")
        }
    ));
    figures.insert("saved_objects".into(), json!(total));
    Ok(StepResult::passed(
        format!(
            "{what} is Completed: {} items, {} warning(s), no error; {total} object(s) saved \
             beside it",
            progress.items_done, progress.warnings
        ),
        figures,
    ))
}

async fn check(ctx: &StepContext) -> Result<Recheck> {
    let p = params(ctx)?;
    let Some(name) = super::backup_name::recorded(ctx) else {
        return Ok(Recheck::DoesNotHold("no backup was started".into()));
    };
    let kube = ctx.cluster(ClusterRole::Source).await?;
    Ok(
        match kube
            .velero_progress(CustomKind::VeleroBackup, &p.velero_namespace, &name)
            .await?
        {
            None => Recheck::DoesNotHold(format!("the backup {name} is not on cluster A")),
            Some((_, progress)) => match progress.backup_refusal() {
                None => Recheck::Holds(format!("the backup {name} is Completed")),
                Some(why) => Recheck::DoesNotHold(why),
            },
        },
    )
}

impl StepAction for Backup {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(run(ctx))
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(check(ctx))
    }
}
