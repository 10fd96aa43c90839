//! `connect-migration-3scale`: 3scale of the source's release, installed on the migration
//! cluster by `install-source-3scale`, starts on the restored and rewritten system database.
//!
//! 1. The connection secrets must be there: `system-database` (`URL`), `backend-redis`
//!    (`REDIS_STORAGE_URL`, `REDIS_QUEUES_URL`) and `system-redis` (`URL`), which name the
//!    migration account's stores and are made when that account is connected; a missing one
//!    stops the step, naming it and the command that makes it, before anything changes.
//! 2. The secrets the data depends on and the `apicast-environment` configmap come from the
//!    verified, decrypted secrets dump (`steps::secrets::dumped`, the official restore's list;
//!    never system-smtp, so the migration cluster cannot mail the customer's users) and are
//!    applied (server-side, field manager `cutover`).
//! 3. The APIManager `3scale` is created with the migration wildcard, the system database,
//!    system Redis and backend Redis external, and the source's `tenantName` and
//!    `system.fileStorage`; one already there must serve the migration wildcard.
//! 4. When the operator has it `Available`, `steps::resync` runs zync's domain resync and
//!    backend's configuration rewrite in a system pod and waits until zync routes every host of
//!    the database.
//!
//! Resume re-check: the APIManager is Available on the migration wildcard and zync routes every
//! host of the database.

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use serde_json::{Map, Value, json};

use super::resync;
use super::secrets::dumped;
use super::{Recheck, StepAction, StepContext, StepFuture, StepResult};
use crate::infra::artifacts;
use crate::infra::kube::{CustomKind, KubeCluster};
use crate::runbook::ClusterRole;

/// The fact: what the step applied and created.
pub const CONNECTED_FACT: &str = "connected";
/// The APIManager's name, as the operator's documentation and RHOAM name it.
pub const APIMANAGER: &str = "3scale";

/// The connection secrets and their keys, with the command that makes each.
const CONNECTION: &[(&str, &[&str], &str)] = &[
    (
        "system-database",
        &["URL"],
        "create secret generic system-database --from-literal=URL=\"$MIGRATION_SYSTEM_DATABASE_URL\"",
    ),
    (
        "backend-redis",
        &["REDIS_STORAGE_URL", "REDIS_QUEUES_URL"],
        "create secret generic backend-redis --from-literal=REDIS_STORAGE_URL=\"redis://$HOST:6379/0\" \
         --from-literal=REDIS_QUEUES_URL=\"redis://$HOST:6379/1\"",
    ),
    (
        "system-redis",
        &["URL"],
        "create secret generic system-redis --from-literal=URL=\"redis://$HOST:6379/1\"",
    ),
];

struct Connect;

pub(super) static CONNECT_MIGRATION: &dyn StepAction = &Connect;

/// What of the connection secrets is missing, with the commands that make them.
async fn missing_connection(kube: &KubeCluster) -> Result<Vec<String>> {
    let mut missing = Vec::new();
    for (name, keys, command) in CONNECTION {
        let secret = kube.get_secret(None, name).await?;
        let data = secret.and_then(|s| s.data).unwrap_or_default();
        let absent: Vec<&str> = keys
            .iter()
            .filter(|k| data.get(**k).is_none_or(|v| v.0.is_empty()))
            .copied()
            .collect();
        if !absent.is_empty() {
            missing.push(format!(
                "secret {name} (key {}): `kubectl --context {} -n {} {command}`",
                absent.join(", "),
                kube.context(),
                kube.namespace()
            ));
        }
    }
    Ok(missing)
}

/// The APIManager to create: the migration wildcard, the stores external, the source's tenant
/// name and file storage.
fn apimanager(wildcard: &str, source: Option<&Value>) -> Value {
    let mut spec = json!({
        "wildcardDomain": wildcard,
        "externalComponents": {
            "system": {"database": true, "redis": true},
            "backend": {"redis": true},
        },
    });
    if let Some(source) = source {
        if let Some(tenant) = source.pointer("/spec/tenantName") {
            spec["tenantName"] = tenant.clone();
        }
        if let Some(storage) = source.pointer("/spec/system/fileStorage") {
            spec["system"] = json!({"fileStorage": storage});
        }
    }
    json!({
        "apiVersion": "apps.3scale.net/v1alpha1",
        "kind": "APIManager",
        "metadata": {"name": APIMANAGER},
        "spec": spec,
    })
}

fn wildcard(ctx: &StepContext) -> std::result::Result<String, String> {
    ctx.config
        .cluster(ClusterRole::MigrationCluster)
        .and_then(|c| c.wildcard_domain.clone())
        .ok_or_else(|| {
            "migration_cluster.wildcard_domain is not set: the APIManager serves the domain the \
             database was rewritten to. Nothing was changed"
                .to_string()
        })
}

/// The APIManager there, and whether it serves `wildcard`.
async fn existing(kube: &KubeCluster, wildcard: &str) -> Result<Option<Result<(), String>>> {
    let managers = kube.list_custom(CustomKind::ApiManager, None).await?;
    Ok(managers.first().map(|am| {
        let name = am.metadata.name.clone().unwrap_or_default();
        let serves = am.data["spec"]["wildcardDomain"].as_str().unwrap_or("");
        if serves == wildcard {
            Ok(())
        } else {
            Err(format!(
                "APIManager {name} is there already and serves `{serves}`, not \
                 migration_cluster.wildcard_domain `{wildcard}`, the domain the database was \
                 rewritten to: fix one of them; nothing was changed"
            ))
        }
    }))
}

impl StepAction for Connect {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            let wildcard = match wildcard(ctx) {
                Ok(w) => w,
                Err(why) => return Ok(ctx.failed_with(why, Map::new())),
            };
            let kube = ctx.cluster(ClusterRole::MigrationCluster).await?;
            let missing = missing_connection(&kube).await?;
            if !missing.is_empty() {
                return Ok(ctx.failed_with(
                    format!(
                        "the migration account's stores are not connected yet: {}. Make them \
                         (connect-migration-aws), then run the step again; nothing was changed",
                        missing.join("; ")
                    ),
                    Map::new(),
                ));
            }
            ctx.sink.info(
                "the connection secrets system-database, backend-redis and system-redis are \
                 there",
            );
            let present = existing(&kube, &wildcard).await?;
            if let Some(Err(why)) = &present {
                return Ok(ctx.failed_with(why.clone(), Map::new()));
            }
            let dump = match dumped(ctx).await? {
                Ok(d) => d,
                Err(result) => return Ok(result),
            };
            let mut applied = Vec::new();
            for (kind, name, object) in &dump.objects {
                if *kind == "secret" {
                    let secret: Secret = serde_json::from_value(object.clone())
                        .with_context(|| format!("the dump's secret {name} is not a Secret"))?;
                    kube.apply_secret(None, &secret).await?;
                } else {
                    let cm: ConfigMap = serde_json::from_value(object.clone())
                        .with_context(|| format!("the dump's configmap {name} is not one"))?;
                    kube.apply_configmap(None, &cm).await?;
                }
                ctx.sink.info(format!(
                    "applied the source's {kind} {name} (values not shown)"
                ));
                applied.push(format!("{kind}/{name}"));
            }
            if !dump.absent.is_empty() {
                ctx.sink.info(format!(
                    "not in the source's dump (the source had none): {}",
                    dump.absent.join(", ")
                ));
            }
            let mut fact = Map::new();
            fact.insert("applied".into(), json!(applied));
            ctx.sink
                .record_fact(CONNECTED_FACT, Value::Object(fact.clone()))?;
            if present.is_none() {
                let object = apimanager(&wildcard, dump.apimanagers.first());
                kube.create_custom(CustomKind::ApiManager, None, &object)
                    .await?;
                ctx.sink.info(format!(
                    "created APIManager {APIMANAGER}: wildcardDomain {wildcard}, system database, \
                     system Redis and backend Redis external{}",
                    if dump.apimanagers.is_empty() {
                        String::new()
                    } else {
                        ", tenant name and file storage as the source's".to_string()
                    }
                ));
                fact.insert("apimanager".into(), json!(APIMANAGER));
                ctx.sink
                    .record_fact(CONNECTED_FACT, Value::Object(fact.clone()))?;
            } else {
                ctx.sink.info(format!(
                    "the APIManager is there already and serves {wildcard}"
                ));
            }
            let (want, done) =
                match resync::once_available(ctx, &kube, ClusterRole::MigrationCluster).await? {
                    Ok(done) => done,
                    Err(why) => return Ok(ctx.failed_with(why, fact)),
                };
            fact.insert(resync::RESYNC_FACT.into(), done.fact());
            Ok(StepResult::passed(
                format!(
                    "3scale runs on the migration cluster's data under {wildcard}: {} object(s) of \
                     the source applied, the APIManager Available, zync routes the {} host(s) of \
                     the database ({}) and backend's configuration rewrite is enqueued",
                    applied.len(),
                    done.routed,
                    resync::describe(&want)
                ),
                fact,
            ))
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            let wildcard = match wildcard(ctx) {
                Ok(w) => w,
                Err(why) => return Ok(Recheck::DoesNotHold(why)),
            };
            let kube = ctx.cluster(ClusterRole::MigrationCluster).await?;
            match existing(&kube, &wildcard).await? {
                None => return Ok(Recheck::DoesNotHold("no APIManager yet".to_string())),
                Some(Err(why)) => return Ok(Recheck::DoesNotHold(why)),
                Some(Ok(())) => {}
            }
            if let Err(why) = resync::apimanager_available(&kube).await? {
                return Ok(Recheck::DoesNotHold(why));
            }
            let want =
                resync::database_hosts(ctx, ClusterRole::MigrationCluster, &artifacts::QUIET)
                    .await?;
            let missing = resync::unrouted(&kube, &want).await?;
            Ok(if missing.is_empty() {
                Recheck::Holds(
                    "3scale runs on the migration cluster and zync routes every host of its \
                     database"
                        .to_string(),
                )
            } else {
                Recheck::DoesNotHold(format!("no route yet for {}", resync::describe(&missing)))
            })
        })
    }
}
