//! `check-platform-installed`: the Platform's central components run on cluster A and on
//! cluster B, each with every replica ready. The components are those the Platform's procedure
//! goes through in `control-plane` (control-plane-console, the central Gerrit, Jenkins and
//! Nexus) and the EDP operators that reconcile a registry's Codebase, GerritProject and Jenkins.

use anyhow::Result;

use super::findings::{Findings, cluster_name, get, readiness, velero};
use crate::infra::kube::CustomKind;
use crate::runbook::ClusterRole;
use crate::steps::{StepContext, StepResult};

/// The Deployments of the Platform's namespace a registry migration relies on.
const COMPONENTS: &[&str] = &[
    "control-plane-console",
    "gerrit",
    "jenkins",
    "nexus",
    "codebase-operator",
    "gerrit-operator",
    "jenkins-operator",
];

pub async fn check(ctx: &StepContext) -> Result<StepResult> {
    let v = velero(ctx)?;
    let ns = v.edp_namespace.as_str();
    let mut f = Findings::default();
    for role in [ClusterRole::Source, ClusterRole::Destination] {
        let name = cluster_name(role);
        let kube = ctx.cluster(role).await?;
        if !kube.namespace_exists(ns).await? {
            f.problem(format!(
                "{name} has no namespace {ns}: the Platform is not installed there (a bare OKD \
                 cluster); install it with the Platform deployment first, or check \
                 velero.edp_namespace"
            ));
            continue;
        }
        let mut missing = Vec::new();
        let mut not_ready = Vec::new();
        for c in COMPONENTS {
            match get(&kube, CustomKind::Deployment, ns, c).await? {
                None => missing.push(*c),
                Some(d) => {
                    let (ready, want) = readiness(&d);
                    if want < 1 || ready < want {
                        not_ready.push(format!("{c} {ready}/{want}"));
                    }
                }
            }
        }
        if !missing.is_empty() {
            f.problem(format!(
                "{name} does not run the Platform's {} in {ns}: the Platform is not (fully) \
                 installed there; deploy it with the Platform deployment before moving a \
                 registry",
                missing.join(", ")
            ));
        }
        if !not_ready.is_empty() {
            f.problem(format!(
                "on {name} the Platform's components are not ready ({}): see `oc get pods -n \
                 {ns}` and fix them first",
                not_ready.join(", ")
            ));
        }
        if missing.is_empty() && not_ready.is_empty() {
            ctx.sink.info(format!(
                "{name}: the Platform's {} components run in {ns}",
                COMPONENTS.len()
            ));
        }
    }
    Ok(f.result(ctx, "the Platform runs on cluster A and cluster B"))
}
