//! `check-keycloak`: cluster B is no bare OKD cluster: Keycloak, the Platform's user
//! management, runs in its namespace with every replica ready, and its admin API answers the
//! configured credentials (never shown).

use anyhow::Result;
use serde_json::Value;

use super::findings::{Findings, list, readiness, velero};
use crate::infra::kube::CustomKind;
use crate::runbook::ClusterRole;
use crate::steps::{StepContext, StepResult};

fn is_keycloak(sts: &Value) -> bool {
    let name = sts.pointer("/metadata/name").and_then(Value::as_str);
    let label = sts
        .pointer("/metadata/labels/app.kubernetes.io~1name")
        .and_then(Value::as_str);
    name == Some("keycloak") || label == Some("keycloak")
}

pub async fn check(ctx: &StepContext) -> Result<StepResult> {
    let v = velero(ctx)?;
    let ns = v.keycloak_namespace.as_str();
    let mut f = Findings::default();
    let b = ctx.cluster(ClusterRole::Destination).await?;
    if !b.namespace_exists(ns).await? {
        f.problem(format!(
            "cluster B has no namespace {ns}: Keycloak, the Platform's user management, is not \
             installed there, so portal and admin logins cannot work; a bare OKD cluster cannot \
             take a registry: install the Platform on B with the Platform deployment (or check \
             velero.keycloak_namespace)"
        ));
        return Ok(f.result(ctx, ""));
    }
    let keycloaks: Vec<Value> = list(&b, CustomKind::StatefulSet, ns)
        .await?
        .into_iter()
        .filter(is_keycloak)
        .collect();
    match keycloaks.first() {
        None => f.problem(format!(
            "cluster B runs no Keycloak in {ns} (no statefulset keycloak): install the Platform \
             on B with the Platform deployment, which installs Keycloak"
        )),
        Some(sts) => {
            let (ready, want) = readiness(sts);
            if want < 1 || ready < want {
                f.problem(format!(
                    "Keycloak on cluster B is not ready ({ready}/{want} replicas): see `oc get \
                     pods -n {ns}` and fix it before importing the registry's realms"
                ));
            } else {
                ctx.sink.info(format!(
                    "cluster B: Keycloak runs in {ns} ({ready}/{want} ready)"
                ));
            }
        }
    }
    // TODO(keycloak): once `crate::infra::keycloak::KeycloakAdmin` is merged from branch
    // `keycloak`, log in at `v.keycloak.url` with `admin_user`/`admin_password` (resolved from
    // their references) and list the realms; a refused login is a problem naming
    // velero.keycloak.admin_user, never the values. Until then only the references are read.
    for (key, reference) in [
        ("velero.keycloak.admin_user", &v.keycloak.admin_user),
        ("velero.keycloak.admin_password", &v.keycloak.admin_password),
    ] {
        reference.resolve(key)?;
    }
    ctx.sink.warn(format!(
        "Keycloak's admin API at {} is not called by this check yet; import-keycloak logs in \
         there",
        v.keycloak.url
    ));
    f.figure("keycloak_url", v.keycloak.url.clone());
    Ok(f.result(ctx, format!("Keycloak runs on cluster B in {ns}")))
}
