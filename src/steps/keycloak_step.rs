//! The two Keycloak steps of the registry runbook as `StepAction`s over `steps::keycloak`:
//! the export on cluster A (the source) and the import on cluster B (the destination). What
//! they need from the config comes through a [`Settings`] function the registry gives them, so
//! the config keys stay the config's business.
//!
//! - export: the realms A's `KeycloakRealm` objects name, exported in A's Keycloak pod and kept
//!   as the artifact `keycloak-export-<registry>/`; fact `keycloak-export` (realms, files, users;
//!   no content). Re-check: every realm's files are in the manifest and unchanged.
//! - import: into B's Keycloak, per realm created or existed, users added or skipped; fact
//!   `keycloak-import`. Running it again changes nothing (SKIP) and says so. Re-check: B has
//!   every realm and at least the users the export holds for each.

use std::path::PathBuf;

use anyhow::Result;
use serde_json::{Map, json};

use super::keycloak::{
    KeycloakPod, export_realms, exported_users, import_realms, import_summary, registry_realms,
    verified_files,
};
use super::{Recheck, StepAction, StepContext, StepFuture, StepResult};
use crate::infra::keycloak::{KeycloakAdmin, Password};
use crate::runbook::ClusterRole;

/// The facts the steps record.
pub const EXPORT_FACT: &str = "keycloak-export";
pub const IMPORT_FACT: &str = "keycloak-import";

/// What the steps need from the config.
pub struct KeycloakSettings {
    /// The registry's name (the export's folder is named after it).
    pub registry: String,
    /// The registry's namespace on A, where its `KeycloakRealm` objects are.
    pub registry_namespace: String,
    /// Keycloak's namespace and pod on A (`user-management`, `keycloak-0`).
    pub namespace: String,
    pub pod: String,
    /// B's Keycloak admin API, its master realm admin and the CA of its certificate.
    pub admin_url: String,
    pub admin_user: String,
    pub admin_password: Password,
    pub ca_file: Option<PathBuf>,
}

/// Reads the settings from the step's config; Err says what is missing.
pub type Settings = fn(&StepContext) -> Result<KeycloakSettings, String>;

/// `kc.sh export` on A, kept as an artifact.
pub struct ExportKeycloak {
    pub settings: Settings,
}

/// The import into B with SKIP.
pub struct ImportKeycloak {
    pub settings: Settings,
}

async fn realms_on_a(ctx: &StepContext, s: &KeycloakSettings) -> Result<Vec<String>> {
    let kube = ctx.cluster(ClusterRole::Source).await?;
    registry_realms(&kube, &s.registry_namespace).await
}

/// A re-check's start: the settings and the realms A's objects name; Err(why) when the settings
/// are missing.
async fn recheck_start(
    settings: Settings,
    ctx: &StepContext,
) -> Result<Result<(KeycloakSettings, Vec<String>), String>> {
    let s = match settings(ctx) {
        Ok(s) => s,
        Err(why) => return Ok(Err(why)),
    };
    let realms = realms_on_a(ctx, &s).await?;
    Ok(Ok((s, realms)))
}

fn admin(s: &KeycloakSettings) -> Result<KeycloakAdmin> {
    KeycloakAdmin::new(
        &s.admin_url,
        &s.admin_user,
        s.admin_password.clone(),
        s.ca_file.as_deref(),
    )
}

impl StepAction for ExportKeycloak {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            let s = match (self.settings)(ctx) {
                Ok(s) => s,
                Err(why) => return Ok(ctx.failed(why)),
            };
            let kube = ctx.cluster(ClusterRole::Source).await?;
            let realms = registry_realms(&kube, &s.registry_namespace).await?;
            let pod = KeycloakPod {
                kube: &kube,
                namespace: &s.namespace,
                pod: &s.pod,
            };
            let reporter = ctx.sink.reporter();
            let exported = export_realms(
                &pod,
                &realms,
                &ctx.config.dumps.folder,
                &s.registry,
                ctx.step.id.as_ref(),
                &reporter.report(),
            )
            .await?;
            let users: u64 = exported.iter().map(|r| r.users).sum();
            ctx.sink.record_fact(EXPORT_FACT, json!(exported))?;
            let mut figures = Map::new();
            figures.insert("realms".into(), json!(exported.len()));
            figures.insert("users".into(), json!(users));
            Ok(StepResult::passed(
                format!(
                    "{} realm(s) with {users} user(s) exported from pod {}/{} into {} (0600, in \
                     the manifest)",
                    exported.len(),
                    s.namespace,
                    s.pod,
                    super::keycloak::export_dir(&s.registry)
                ),
                figures,
            ))
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            let (s, realms) = match recheck_start(self.settings, ctx).await? {
                Ok(start) => start,
                Err(why) => return Ok(Recheck::DoesNotHold(why)),
            };
            Ok(
                match verified_files(&ctx.config.dumps.folder, &s.registry, &realms).await {
                    Ok(files) => Recheck::Holds(format!(
                        "the export of {} realm(s) is there and unchanged",
                        files.len()
                    )),
                    Err(why) => Recheck::DoesNotHold(format!("{why:#}")),
                },
            )
        })
    }
}

impl StepAction for ImportKeycloak {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            let s = match (self.settings)(ctx) {
                Ok(s) => s,
                Err(why) => return Ok(ctx.failed(why)),
            };
            let realms = realms_on_a(ctx, &s).await?;
            let admin = admin(&s)?;
            let reporter = ctx.sink.reporter();
            let done = import_realms(
                &admin,
                &ctx.config.dumps.folder,
                &s.registry,
                &realms,
                &reporter.report(),
            )
            .await?;
            ctx.sink.record_fact(IMPORT_FACT, json!(done))?;
            let mut figures = Map::new();
            figures.insert(
                "created".into(),
                json!(done.iter().filter(|r| r.created).count()),
            );
            figures.insert(
                "users_added".into(),
                json!(done.iter().map(|r| r.users_added).sum::<u64>()),
            );
            figures.insert(
                "users_skipped".into(),
                json!(done.iter().map(|r| r.users_skipped).sum::<u64>()),
            );
            Ok(StepResult::passed(import_summary(&done), figures))
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            let (s, realms) = match recheck_start(self.settings, ctx).await? {
                Ok(start) => start,
                Err(why) => return Ok(Recheck::DoesNotHold(why)),
            };
            let admin = admin(&s)?;
            let on_b = admin.realms().await?;
            let mut differ = Vec::new();
            for realm in &realms {
                if !on_b.contains(realm) {
                    differ.push(format!("B has no realm {realm}"));
                    continue;
                }
                let want = exported_users(&ctx.config.dumps.folder, &s.registry, realm)?;
                let have = admin.count_users(realm).await?;
                if have < want {
                    differ.push(format!(
                        "realm {realm} has {have} user(s) on B, the export {want}"
                    ));
                }
            }
            Ok(Recheck::unless_differ(&differ, || {
                format!("B has the {} realm(s) and their users", realms.len())
            }))
        })
    }
}
