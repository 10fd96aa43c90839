//! `check-target-clean`: cluster B holds nothing of the registry: its namespace is absent or
//! holds no workloads, pods, volumes, services or routes, and B's bucket has nothing under the
//! registry's three prefixes. A registry deployed on B before must be removed first, in the
//! order of the Platform's procedure; leftovers are named with it. Nothing is deleted here.

use anyhow::Result;
use serde_json::Value;

use super::findings::{Findings, list, velero};
use super::storage;
use crate::infra::kube::CustomKind;
use crate::runbook::ClusterRole;
use crate::steps::{StepContext, StepResult};

/// What a registry leaves in its namespace (an empty namespace has none of these; it does have
/// service accounts, their secrets and the CA configmaps, which are not counted).
const KINDS: &[(CustomKind, &str)] = &[
    (CustomKind::Deployment, "deployments"),
    (CustomKind::StatefulSet, "statefulsets"),
    (CustomKind::Pod, "pods"),
    (CustomKind::PersistentVolumeClaim, "persistentvolumeclaims"),
    (CustomKind::Service, "services"),
    (CustomKind::Route, "routes"),
];

pub async fn check(ctx: &StepContext) -> Result<StepResult> {
    let v = velero(ctx)?;
    let registry = v.registry.as_str();
    let mut f = Findings::default();
    let b = ctx.cluster(ClusterRole::Destination).await?;
    let cleanup = format!(
        "remove it first as the Platform's procedure says: delete the registry {registry} in \
         control-plane-console on B and wait until it is gone, delete its GerritProject \
         (`oc delete gerritproject {registry} -n {}`) and its repository in the central Gerrit, \
         then the directories openshift-backups/backups/{registry}*, \
         openshift-backups/restic/{registry} and obc-backups/{registry} in B's bucket {}",
        v.edp_namespace, v.destination_storage.bucket
    );
    if b.namespace_exists(registry).await? {
        let mut found = Vec::new();
        for (kind, what) in KINDS {
            let items = list(&b, *kind, registry).await?;
            if !items.is_empty() {
                let names: Vec<&str> = items
                    .iter()
                    .take(3)
                    .filter_map(|o| o.pointer("/metadata/name").and_then(Value::as_str))
                    .collect();
                let more = if items.len() > names.len() {
                    ", ..."
                } else {
                    ""
                };
                found.push(format!(
                    "{} {what} ({}{more})",
                    items.len(),
                    names.join(", ")
                ));
            }
        }
        f.figure("namespace_objects", found.join(", "));
        if found.is_empty() {
            ctx.sink.info(format!(
                "cluster B: namespace {registry} exists and is empty"
            ));
        } else {
            f.problem(format!(
                "cluster B already has registry {registry}'s namespace with {}: a restore does \
                 not overwrite what exists; {cleanup}",
                found.join(", ")
            ));
        }
    } else {
        ctx.sink.info(format!("cluster B: no namespace {registry}"));
    }
    let prefixes = storage::registry_prefixes(registry);
    let found = storage::probe(ctx, &v.destination_storage, &prefixes).await?;
    for p in found.problems {
        f.problem(p);
    }
    let leftovers: Vec<String> = found
        .counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(prefix, n)| format!("{n} objects under {prefix}"))
        .collect();
    if !leftovers.is_empty() {
        f.problem(format!(
            "B's bucket {} holds {} of an earlier registry {registry}; {cleanup}",
            v.destination_storage.bucket,
            leftovers.join(", ")
        ));
    }
    Ok(f.result(
        ctx,
        format!("cluster B holds nothing of registry {registry}"),
    ))
}
