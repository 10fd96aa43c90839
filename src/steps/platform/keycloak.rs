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
    let admin = super::findings::keycloak_admin(v)?;
    match admin.realms().await {
        Ok(realms) => {
            ctx.sink.info(format!(
                "cluster B's Keycloak admin API at {} answers; {} realm(s) there",
                admin.url(),
                realms.len()
            ));
            f.figure("keycloak_realms", realms.len().to_string());
        }
        Err(e) => f.problem(format!(
            "cluster B's Keycloak admin API did not let velero.keycloak.admin_user in: {e:#}; \
             check velero.keycloak.url and the admin's credentials"
        )),
    }
    f.figure("keycloak_url", v.keycloak.url.clone());
    Ok(f.result(ctx, format!("Keycloak runs on cluster B in {ns}")))
}
