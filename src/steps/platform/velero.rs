//! `check-velero`: on cluster A and cluster B, Velero's version (the image tag of its
//! deployment; the Platform runs v1.9.2, older than 1.9 or unknown is refused, since the Backup
//! and Restore objects are built for the version found), the registry's backup storage location
//! Available, B syncing backups (`backupSyncPeriod` not 0: the location's, else the server's
//! `--backup-sync-period`, else Velero's default of one minute), the restic repository
//! passwords equal on both (compared by SHA-256, never shown), and each cluster's object
//! storage (`storage`).

use anyhow::Result;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::infra::velero::{VeleroVersion, parse_go_duration};

use super::findings::{Findings, cluster_name, get, list, velero};
use super::storage;
use crate::infra::kube::CustomKind;
use crate::runbook::ClusterRole;
use crate::steps::{StepContext, StepResult};

/// The secret the Platform's Velero keeps its restic repository password in, and its key.
const RESTIC_SECRET: &str = "velero-restic-credentials";
const RESTIC_KEY: &str = "repository-password";

/// The server's `--backup-sync-period` among a container's args, if given.
fn sync_flag(args: &[Value]) -> Option<String> {
    let args: Vec<&str> = args.iter().filter_map(Value::as_str).collect();
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a.strip_prefix("--backup-sync-period=") {
            return Some(v.to_string());
        }
        if *a == "--backup-sync-period" {
            return args.get(i + 1).map(|v| v.to_string());
        }
    }
    None
}

/// The Velero server's deployment in `ns`: `velero`, else the one running Velero's image.
fn velero_deployment(deployments: Vec<Value>) -> Option<Value> {
    let image = |d: &Value| {
        d.pointer("/spec/template/spec/containers/0/image")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let by_name = deployments
        .iter()
        .find(|d| d.pointer("/metadata/name").and_then(Value::as_str) == Some("velero"))
        .cloned();
    by_name.or_else(|| {
        deployments
            .into_iter()
            .find(|d| image(d).contains("velero/velero"))
    })
}

pub async fn check(ctx: &StepContext) -> Result<StepResult> {
    let v = velero(ctx)?;
    let (ns, location) = (v.namespace.as_str(), v.registry.as_str());
    let mut f = Findings::default();
    let mut restic = Vec::new();
    for role in [ClusterRole::Source, ClusterRole::Destination] {
        let name = cluster_name(role);
        let kube = ctx.cluster(role).await?;
        let deployment = velero_deployment(list(&kube, CustomKind::Deployment, ns).await?);
        let Some(deployment) = deployment else {
            f.problem(format!(
                "{name} runs no Velero in namespace {ns}: the Platform deployment installs it; \
                 check velero.namespace"
            ));
            continue;
        };
        let image = deployment
            .pointer("/spec/template/spec/containers/0/image")
            .and_then(Value::as_str)
            .unwrap_or("");
        match VeleroVersion::from_image(image) {
            None => f.problem(format!(
                "{name} runs Velero image `{image}`, whose version cutover cannot read from its \
                 tag; the Platform runs velero/velero:v1.9.2: deploy a tagged 1.9 release"
            )),
            Some(version) => {
                f.figure(format!("velero_version_{role}"), version.to_string());
                match version.check_supported() {
                    Err(why) => f.problem(format!(
                        "{name} runs Velero {version}: {why}; install the Platform's chart \
                         (v1.9.2) there"
                    )),
                    Ok(()) => ctx.sink.info(format!("{name}: Velero {version} ({image})")),
                }
            }
        }
        match get(&kube, CustomKind::BackupStorageLocation, ns, location).await? {
            None => f.problem(format!(
                "{name} has no backup storage location {location} in {ns}: the registry's \
                 backups go to that location (bucket {}); it comes with the registry's \
                 deployment on the Platform",
                v.storage(role).map(|s| s.bucket.as_str()).unwrap_or("")
            )),
            Some(bsl) => {
                let phase = bsl
                    .pointer("/status/phase")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown");
                if phase != "Available" {
                    let message = bsl
                        .pointer("/status/message")
                        .and_then(Value::as_str)
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default();
                    f.problem(format!(
                        "the backup storage location {location} on {name} is {phase}{message}: \
                         Velero cannot reach its bucket; check the location's s3Url and the \
                         credentials in its secret, then `velero backup-location get \
                         {location}` until it is Available"
                    ));
                }
                if role == ClusterRole::Destination {
                    sync_period(&mut f, &bsl, &deployment, location);
                }
            }
        }
        let secret = kube.get_secret(Some(ns), RESTIC_SECRET).await?;
        let password = secret
            .and_then(|s| s.data)
            .and_then(|d| d.get(RESTIC_KEY).map(|b| b.0.clone()));
        match password {
            None => f.problem(format!(
                "{name} has no {RESTIC_SECRET} (key {RESTIC_KEY}) in {ns}: Velero's restic \
                 repository password; the Platform's chart creates it"
            )),
            Some(p) => restic.push(Sha256::digest(&p)),
        }
        if let Some(s) = v.storage(role) {
            let found = storage::probe(ctx, s, &[]).await?;
            for p in found.problems {
                f.problem(p);
            }
        }
    }
    if let [a, b] = restic.as_slice() {
        if a == b {
            ctx.sink
                .info("the restic repository passwords of A and B are the same (by SHA-256)");
        } else {
            f.problem(format!(
                "the restic repository passwords ({RESTIC_SECRET}) differ between cluster A and \
                 cluster B: B's Velero cannot open the restic repository copied from A, and the \
                 volumes would not be restored; copy A's secret to B (`oc get secret \
                 {RESTIC_SECRET} -n {ns} -o yaml` on A, `oc apply` on B) and restart B's Velero"
            ));
        }
    }
    Ok(f.result(
        ctx,
        format!("Velero is ready on cluster A and cluster B (location {location})"),
    ))
}

/// B's effective backup sync period: the location's, else the server's flag, else Velero's
/// default (one minute); 0 disables the sync that makes the copied backup appear.
fn sync_period(f: &mut Findings, bsl: &Value, deployment: &Value, location: &str) {
    let from_spec = bsl
        .pointer("/spec/backupSyncPeriod")
        .and_then(Value::as_str)
        .map(|p| (p.to_string(), "the location's spec.backupSyncPeriod"));
    let from_flag = deployment
        .pointer("/spec/template/spec/containers/0/args")
        .and_then(Value::as_array)
        .and_then(|a| sync_flag(a))
        .map(|p| (p, "the server's --backup-sync-period"));
    let (period, source) = from_spec
        .or(from_flag)
        .unwrap_or_else(|| ("1m0s".to_string(), "Velero's default"));
    f.figure("backup_sync_period_destination", period.clone());
    match parse_go_duration(&period) {
        Some(d) if d.is_zero() => f.problem(format!(
            "cluster B's Velero never syncs backups from its bucket: backupSyncPeriod is \
             {period} ({source}), so the copied backup would never appear there; set it on the \
             location (`oc patch backupstoragelocation {location} -n <velero namespace> --type \
             merge -p '{{\"spec\":{{\"backupSyncPeriod\":\"1m\"}}}}'`) or remove the server's 0 flag"
        )),
        Some(_) => {}
        None => f.problem(format!(
            "cluster B's backupSyncPeriod `{period}` ({source}) is not a duration Velero reads"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_sync_flag_is_read_from_the_servers_args() {
        assert_eq!(
            sync_flag(&[json!("server"), json!("--backup-sync-period=0s")]).as_deref(),
            Some("0s")
        );
        assert_eq!(sync_flag(&[json!("server")]), None);
    }
}
