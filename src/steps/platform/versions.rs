//! `check-versions-match`: the registry's version on cluster A, as the Platform's admin console
//! reads it (its Codebase's `spec.branchToCopyInDefaultBranch`, else `spec.defaultBranch`,
//! raised by every merged version-update GerritMergeRequest of the registry's project), must be
//! a branch `refs/heads/<version>` of cluster B's `cluster-mgmt` GerritProject: B's
//! control-plane-gerrit is then at the registry's version (migrate-registry.adoc).

use std::cmp::Ordering;

use anyhow::Result;
use serde_json::Value;

use super::findings::{Findings, get, list, velero};
use crate::infra::kube::CustomKind;
use crate::runbook::ClusterRole;
use crate::steps::{StepContext, StepResult};

/// The central Gerrit's repository whose branches are the versions the Platform can run.
const CLUSTER_MGMT: &str = "cluster-mgmt";

/// The numbers of a version branch (`1.9.7` → [1, 9, 7]). The console compares the digits run
/// together; comparing them number by number agrees with it where it is right and also orders
/// 1.10 after 1.9.
fn numbers(branch: &str) -> Vec<u64> {
    branch
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect()
}

fn newer(a: &str, b: &str) -> bool {
    numbers(a).cmp(&numbers(b)) == Ordering::Greater
}

/// The registry's version from its Codebase and the merge requests of its project.
pub fn registry_version(
    codebase: &Value,
    merge_requests: &[Value],
    project: &str,
) -> Option<String> {
    let spec = codebase.get("spec")?;
    let text = |key: &str| {
        spec.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let mut version = text("branchToCopyInDefaultBranch").or_else(|| text("defaultBranch"))?;
    for mr in merge_requests {
        let merged = mr.pointer("/status/value").and_then(Value::as_str) == Some("MERGED");
        let ours = mr.pointer("/spec/projectName").and_then(Value::as_str) == Some(project);
        if let (true, true, Some(branch)) = (
            merged,
            ours,
            mr.pointer("/spec/sourceBranch").and_then(Value::as_str),
        ) && newer(branch, &version)
        {
            version = branch.to_string();
        }
    }
    Some(version)
}

pub async fn check(ctx: &StepContext) -> Result<StepResult> {
    let v = velero(ctx)?;
    let (ns, registry) = (v.edp_namespace.as_str(), v.registry.as_str());
    let mut f = Findings::default();
    let a = ctx.cluster(ClusterRole::Source).await?;
    let Some(codebase) = get(&a, CustomKind::Codebase, ns, registry).await? else {
        f.problem(format!(
            "cluster A has no Codebase {registry} in {ns}: no registry of that name runs there; \
             check velero.registry (`oc get codebases -n {ns}` lists the registries)"
        ));
        return Ok(f.result(ctx, ""));
    };
    // The registry's project is its GerritProject's spec.name (the registry's name).
    let project = get(&a, CustomKind::GerritProject, ns, registry)
        .await?
        .and_then(|p| {
            p.pointer("/spec/name")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| registry.to_string());
    let requests = list(&a, CustomKind::GerritMergeRequest, ns).await?;
    let Some(version) = registry_version(&codebase, &requests, &project) else {
        f.problem(format!(
            "the Codebase {registry} on cluster A names no branch (spec.branchToCopyInDefaultBranch \
             and spec.defaultBranch are empty); its version cannot be read"
        ));
        return Ok(f.result(ctx, ""));
    };
    f.figure("registry_version", version.clone());
    ctx.sink.info(format!(
        "cluster A: registry {registry} is at version {version}"
    ));

    let b = ctx.cluster(ClusterRole::Destination).await?;
    let Some(mgmt) = get(&b, CustomKind::GerritProject, ns, CLUSTER_MGMT).await? else {
        f.problem(format!(
            "cluster B has no GerritProject {CLUSTER_MGMT} in {ns}: its central Gerrit is not \
             there, so the Platform is not installed on B; install it with the Platform \
             deployment at version {version}"
        ));
        return Ok(f.result(ctx, ""));
    };
    let branches: Vec<String> = mgmt
        .pointer("/status/branches")
        .and_then(Value::as_array)
        .map(|b| {
            b.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let versions: Vec<&str> = branches
        .iter()
        .filter_map(|b| b.strip_prefix("refs/heads/"))
        .filter(|b| *b != "master")
        .collect();
    f.figure("platform_branches", versions.join(", "));
    let wanted = format!("refs/heads/{version}");
    if !branches.contains(&wanted) {
        let has = if versions.is_empty() {
            "none".to_string()
        } else {
            versions.join(", ")
        };
        f.problem(format!(
            "cluster B's central Gerrit has no branch {wanted} in {CLUSTER_MGMT} (it has: \
             {has}): B's Platform cannot run registry version {version}. Upgrade the Platform on \
             cluster B to {version}, or upgrade the registry on cluster A to a version B has, \
             then run this check again"
        ));
    }
    Ok(f.result(
        ctx,
        format!("registry {registry} is at {version}; cluster B's {CLUSTER_MGMT} has {wanted}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merged_updates_raise_the_version_and_others_do_not() {
        let codebase =
            json!({"spec": {"defaultBranch": "master", "branchToCopyInDefaultBranch": "1.9.6"}});
        let mr = |branch: &str, status: &str, project: &str| json!({"spec": {"projectName": project, "sourceBranch": branch}, "status": {"value": status}});
        assert_eq!(
            registry_version(&codebase, &[], "abc").as_deref(),
            Some("1.9.6")
        );
        let requests = [
            mr("1.9.7", "MERGED", "abc"),
            mr("1.9.8", "NEW", "abc"),
            mr("1.9.9", "MERGED", "other"),
            mr("1.9.5", "MERGED", "abc"),
        ];
        assert_eq!(
            registry_version(&codebase, &requests, "abc").as_deref(),
            Some("1.9.7")
        );
        let plain = json!({"spec": {"defaultBranch": "1.9.4"}});
        assert_eq!(
            registry_version(&plain, &[], "abc").as_deref(),
            Some("1.9.4")
        );
        assert!(newer("1.10.0", "1.9.9"));
    }
}
