//! What a Platform check gathers: the `[velero]` table it needs, the problems it found (each
//! saying what to do), its figures, and the result they make.

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use crate::config::Velero;
use crate::infra::kube::{CustomKind, KubeCluster};
use crate::steps::{StepContext, StepResult};

/// The `[velero]` table; its absence is a config error the loader already refuses.
pub fn velero(ctx: &StepContext) -> Result<&Velero> {
    ctx.config
        .velero
        .as_ref()
        .context("the config has no [velero] table; runbook velero-registry needs it")
}

/// A client of cluster B's Keycloak admin API as `[velero.keycloak]` names it, its admin's
/// credentials read from their references.
pub fn keycloak_admin(v: &Velero) -> Result<crate::infra::keycloak::KeycloakAdmin> {
    let user = v
        .keycloak
        .admin_user
        .resolve("velero.keycloak.admin_user")?;
    let password = v
        .keycloak
        .admin_password
        .resolve("velero.keycloak.admin_password")?;
    crate::infra::keycloak::KeycloakAdmin::new(
        &v.keycloak.url,
        &user,
        crate::infra::keycloak::Password::new(password),
        v.keycloak.ca_file.as_deref(),
    )
}

/// Problems and figures, in the order they were found.
#[derive(Default)]
pub struct Findings {
    pub problems: Vec<String>,
    pub figures: Map<String, Value>,
}

impl Findings {
    pub fn problem(&mut self, text: impl Into<String>) {
        self.problems.push(text.into());
    }

    pub fn figure(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        self.figures.insert(key.into(), value.into());
    }

    /// Passed with `summary` when nothing was found, else failed listing every problem.
    pub fn result(self, ctx: &StepContext, summary: impl Into<String>) -> StepResult {
        if self.problems.is_empty() {
            StepResult::passed(summary, self.figures)
        } else {
            ctx.failed_with(self.problems.join("; "), self.figures)
        }
    }
}

/// An object's JSON, for reading its fields by pointer.
pub fn json_of(obj: &kube::api::DynamicObject) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

/// The object `name` of `kind` in `ns`, as JSON, if it is there.
pub async fn get(
    kube: &KubeCluster,
    kind: CustomKind,
    ns: &str,
    name: &str,
) -> Result<Option<Value>> {
    Ok(kube
        .get_custom(kind, Some(ns), name)
        .await?
        .as_ref()
        .map(json_of))
}

/// Every object of `kind` in `ns`, as JSON.
pub async fn list(kube: &KubeCluster, kind: CustomKind, ns: &str) -> Result<Vec<Value>> {
    Ok(kube
        .list_custom(kind, Some(ns))
        .await?
        .iter()
        .map(json_of)
        .collect())
}

/// "cluster A" or "cluster B", as the Platform's procedure names them.
pub fn cluster_name(role: crate::runbook::ClusterRole) -> &'static str {
    match role {
        crate::runbook::ClusterRole::Source => "cluster A",
        crate::runbook::ClusterRole::Destination => "cluster B",
        crate::runbook::ClusterRole::MigrationCluster => "the migration cluster",
    }
}

/// Ready replicas and wanted replicas of a Deployment or StatefulSet.
pub fn readiness(workload: &Value) -> (i64, i64) {
    let want = workload
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let ready = workload
        .pointer("/status/readyReplicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    (ready, want)
}
