//! The Keycloak steps of `velero-registry` with their settings from `[velero]`: A's Keycloak pod
//! (`keycloak-0` of the Platform's `keycloak` StatefulSet in `velero.keycloak_namespace`), the
//! registry's KeycloakRealms in its namespace, B's admin API from `[velero.keycloak]`.

use super::StepAction;
use super::StepContext;
use super::keycloak_step::{ExportKeycloak, ImportKeycloak, KeycloakSettings};
use crate::infra::keycloak::Password;

/// The pod of the Platform's Keycloak StatefulSet the export runs in.
const KEYCLOAK_POD: &str = "keycloak-0";

fn settings(ctx: &StepContext) -> Result<KeycloakSettings, String> {
    let v = ctx
        .config
        .velero
        .as_ref()
        .ok_or("the config has no [velero] section; runbook velero-registry needs it")?;
    let user = v
        .keycloak
        .admin_user
        .resolve("velero.keycloak.admin_user")
        .map_err(|e| format!("{e:#}"))?;
    let password = v
        .keycloak
        .admin_password
        .resolve("velero.keycloak.admin_password")
        .map_err(|e| format!("{e:#}"))?;
    Ok(KeycloakSettings {
        registry: v.registry.clone(),
        registry_namespace: v.registry.clone(),
        namespace: v.keycloak_namespace.clone(),
        pod: KEYCLOAK_POD.to_string(),
        admin_url: v.keycloak.url.clone(),
        admin_user: user,
        admin_password: Password::new(password),
        ca_file: v.keycloak.ca_file.clone(),
    })
}

pub(super) static EXPORT: &dyn StepAction = &ExportKeycloak { settings };
pub(super) static IMPORT: &dyn StepAction = &ImportKeycloak { settings };
