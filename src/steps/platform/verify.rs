//! `verify-registry`: what cluster B holds after the restore, read only, each difference said
//! with what to do:
//! - every stage of restore-registry done (its journal);
//! - the registry's workloads on B at their replicas, every pod ready;
//! - the objects A has in the registry's namespace there on B, for the kinds the restore brings
//!   back (pods and routes excluded: the workloads make the one, the registry's deployment the
//!   other);
//! - B's Keycloak holds every realm A's KeycloakRealm objects name;
//! - B's bucket still holds every object of the transfer with the SHA-256 recorded (an object
//!   changed after the copy is named).

use std::collections::BTreeSet;

use anyhow::Result;
use serde_json::Value;

use super::findings::{Findings, velero};
use crate::infra::kube::{KubeCluster, WorkloadKind};
use crate::infra::s3_transfer::verify as verify_objects;
use crate::runbook::ClusterRole;
use crate::steps::{StepContext, StepResult};

/// The kinds compared between A and B: (group, version, plural).
const COMPARED: &[(&str, &str, &str)] = &[
    ("", "v1", "services"),
    ("", "v1", "configmaps"),
    ("", "v1", "secrets"),
    ("", "v1", "persistentvolumeclaims"),
    ("", "v1", "serviceaccounts"),
    ("apps", "v1", "deployments"),
    ("apps", "v1", "statefulsets"),
    (
        "postgres-operator.crunchydata.com",
        "v1beta1",
        "postgresclusters",
    ),
    ("databases.spotahome.com", "v1", "redisfailovers"),
    ("kafka.strimzi.io", "v1beta2", "kafkas"),
    ("v1.edp.epam.com", "v1", "keycloakrealms"),
];

/// How many missing names a finding lists.
const LISTED: usize = 10;

async fn in_namespace(ctx: &StepContext, role: ClusterRole, ns: &str) -> Result<KubeCluster> {
    let cluster = ctx
        .config
        .cluster(role)
        .ok_or_else(|| anyhow::anyhow!("the config has no [{role}] cluster"))?;
    let mut target = cluster.target();
    target.namespace = ns.to_string();
    KubeCluster::connect(&target).await
}

fn names(objects: &[Value]) -> BTreeSet<String> {
    objects
        .iter()
        .filter_map(|o| o.pointer("/metadata/name").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

pub async fn check(ctx: &StepContext) -> Result<StepResult> {
    let v = velero(ctx)?;
    let registry = v.registry.clone();
    let mut f = Findings::default();

    match crate::steps::registry_restore::stages_left(ctx) {
        Ok((done, total, None)) => {
            ctx.sink
                .info(format!("restore-registry: all {total} stages done"));
            f.figure("restore_stages", done as u64);
        }
        Ok((done, total, Some(next))) => f.problem(format!(
            "restore-registry did {done} of {total} stages; run it again to go on from {next}"
        )),
        Err(why) => f.problem(format!("{why}; run restore-registry first")),
    }

    let a = in_namespace(ctx, ClusterRole::Source, &registry).await?;
    let b = in_namespace(ctx, ClusterRole::Destination, &registry).await?;

    let workloads = b.list_workloads_with(&[WorkloadKind::StatefulSet]).await?;
    let not_ready: Vec<String> = workloads
        .iter()
        .filter(|w| w.ready_replicas < w.replicas)
        .map(|w| {
            format!(
                "{} {} ({}/{})",
                w.kind, w.name, w.ready_replicas, w.replicas
            )
        })
        .collect();
    f.figure("workloads", workloads.len() as u64);
    if !not_ready.is_empty() {
        f.problem(format!(
            "on cluster B, {} workload(s) of {registry} are not ready: {}; see `oc get pods -n \
             {registry}` and the pods' events",
            not_ready.len(),
            not_ready.join(", ")
        ));
    }

    let mut compared = 0u64;
    for (group, version, plural) in COMPARED {
        let on_a = names(&a.list_any(group, version, plural, &registry).await?);
        if on_a.is_empty() {
            continue;
        }
        let on_b = names(&b.list_any(group, version, plural, &registry).await?);
        compared += on_a.len() as u64;
        let missing: Vec<&String> = on_a.difference(&on_b).collect();
        if !missing.is_empty() {
            let shown: Vec<&str> = missing.iter().take(LISTED).map(|s| s.as_str()).collect();
            f.problem(format!(
                "cluster B lacks {} of A's {plural} in {registry}: {}{}; see `velero restore \
                 describe` of the stages and run restore-registry again for what was not restored",
                missing.len(),
                shown.join(", "),
                if missing.len() > LISTED { ", …" } else { "" }
            ));
        }
    }
    f.figure("objects_compared", compared);

    let realms = crate::steps::keycloak::registry_realms(&a, &registry).await?;
    if !realms.is_empty() {
        let admin = super::findings::keycloak_admin(v)?;
        match admin.realms().await {
            Ok(on_b) => {
                let missing: Vec<&String> = realms.iter().filter(|r| !on_b.contains(r)).collect();
                f.figure("realms", realms.len() as u64);
                if !missing.is_empty() {
                    f.problem(format!(
                        "cluster B's Keycloak lacks the realm(s) {}: run import-keycloak again",
                        missing
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            Err(e) => f.problem(format!("cluster B's Keycloak cannot be read: {e:#}")),
        }
    }

    match crate::steps::backup_name::recorded(ctx) {
        Some(backup) => match crate::steps::registry_transfer::load_records(ctx, &backup)? {
            Some(records) => {
                let bucket = crate::steps::registry_storage::client(ctx, ClusterRole::Destination)?;
                let mismatches = verify_objects(&bucket, &records)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                f.figure("objects_verified", records.len() as u64);
                if !mismatches.is_empty() {
                    let shown: Vec<String> = mismatches
                        .iter()
                        .take(LISTED)
                        .map(|m| m.to_string())
                        .collect();
                    f.problem(format!(
                        "{} object(s) in B's bucket {} are not what transfer-backup copied: {}; \
                         something wrote there after the copy; run transfer-backup again, then \
                         restore from it",
                        mismatches.len(),
                        bucket.bucket(),
                        shown.join("; ")
                    ));
                } else {
                    ctx.sink.info(format!(
                        "B's bucket holds the {} transferred object(s) with the SHA-256 they had \
                         on A",
                        records.len()
                    ));
                }
            }
            None => f.problem("transfer-backup recorded no transfer; run it first"),
        },
        None => f.problem("backup-registry recorded no backup; the migration has not run"),
    }

    Ok(f.result(
        ctx,
        format!(
            "the registry {registry} on cluster B: every stage restored, its workloads ready, \
             A's objects there, its Keycloak realms there, the transferred objects unchanged"
        ),
    ))
}
