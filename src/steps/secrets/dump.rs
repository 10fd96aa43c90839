//! `dump-secrets`: the source's objects exported, each encrypted with age on its way to the
//! dump folder and listed in the manifest with its number of data keys.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::Secret;
use serde_json::{Map, Value, json};

use super::objects::{
    CONFIGMAPS, EXPORT_FACT, ExportRecord, Exported, FOLDER, ObjectKind, RHOAM_SEED, SECRETS, SEED,
    clean, data_keys, s3_secret,
};
use crate::infra::age::{Recipients, encrypt_to_file};
use crate::infra::artifacts::{self, Artifact, Manifest};
use crate::infra::kube::{CustomKind, KubeCluster};
use crate::runbook::ClusterRole;
use crate::steps::{Recheck, StepAction, StepContext, StepFuture, StepResult};

struct DumpSecrets;

pub(in crate::steps) static DUMP_SECRETS: &dyn StepAction = &DumpSecrets;

/// What one export needs besides the object.
struct Exporter<'a> {
    ctx: &'a StepContext,
    kube: &'a KubeCluster,
    recipients: &'a Recipients,
    version: Option<String>,
}

impl Exporter<'_> {
    /// Encrypts `object` (cleaned) to its file and lists it in the manifest.
    async fn export(&self, kind: ObjectKind, name: &str, object: Value) -> Result<Exported> {
        let folder = &self.ctx.config.dumps.folder;
        let object = clean(object);
        let keys = data_keys(&object);
        let file = kind.file(name);
        let path = folder.join(&file);
        let plain = serde_json::to_vec_pretty(&object)
            .with_context(|| format!("cannot serialize {} {name}", kind.as_str()))?;
        drop(object);
        let (bytes, sha256) = encrypt_to_file(self.recipients, &plain, &path).await?;
        drop(plain);
        let mut versions = BTreeMap::from([("age".to_string(), "v1".to_string())]);
        if let Some(v) = &self.version {
            versions.insert("3scale".to_string(), v.clone());
        }
        Manifest::record(
            folder,
            Artifact {
                file: file.clone(),
                kind: kind.as_str().to_string(),
                source: format!(
                    "cluster {} namespace {} {}/{name}",
                    self.kube.context(),
                    self.kube.namespace(),
                    kind.as_str()
                ),
                bytes,
                sha256,
                counts: BTreeMap::from([("keys".to_string(), keys.len() as u64)]),
                versions,
                encrypted: true,
                step: self.ctx.step.id.0.to_string(),
                time: chrono::Utc::now(),
            },
        )?;
        self.ctx.sink.info(format!(
            "{}/{name}: {} key{}, encrypted to {}",
            kind.as_str(),
            keys.len(),
            if keys.len() == 1 { "" } else { "s" },
            path.display()
        ));
        Ok(Exported {
            kind: kind.as_str().to_string(),
            name: name.to_string(),
            file,
            keys,
        })
    }
}

/// Warns at dump time when the source's tenant or master domain is not RHOAM's, which
/// push-secrets refuses.
fn warn_tenant(ctx: &StepContext, seed: &Secret) {
    for (key, rhoam) in RHOAM_SEED {
        let value = seed.data.as_ref().and_then(|d| d.get(*key));
        if value.is_some_and(|v| v.0 != rhoam.as_bytes()) {
            ctx.sink.warn(format!(
                "system-seed {key} is not RHOAM's `{rhoam}`: push-secrets will refuse to push \
                 onto RHOAM, which runs tenant `3scale` with master domain `master`"
            ));
        }
    }
}

/// Exports the source's objects (see the module's doc) and records the fact `exported` for the
/// running step.
pub(super) async fn export_source(ctx: &StepContext) -> Result<ExportRecord> {
    let recipients = Recipients::parse(&ctx.config.dumps.age_recipients)?;
    let kube = ctx.cluster(ClusterRole::Source).await?;
    let managers = kube.list_custom(CustomKind::ApiManager, None).await?;
    let exporter = Exporter {
        ctx,
        kube: &kube,
        recipients: &recipients,
        version: kube.threescale_version().await.ok().map(|v| v.version),
    };
    let manager_values: Vec<(String, Value)> = managers
        .iter()
        .map(|m| {
            let ar = CustomKind::ApiManager.api_resource();
            let mut v = serde_json::to_value(m)?;
            if let Some(o) = v.as_object_mut() {
                o.insert("apiVersion".into(), Value::String(ar.api_version.clone()));
                o.insert("kind".into(), Value::String(ar.kind.clone()));
            }
            Ok((m.metadata.name.clone().unwrap_or_default(), v))
        })
        .collect::<Result<_>>()?;
    let mut secrets: Vec<String> = SECRETS.iter().map(|s| s.to_string()).collect();
    for (_, m) in &manager_values {
        if let Some(s3) = s3_secret(m).filter(|s| !secrets.contains(s)) {
            ctx.sink.info(format!(
                "the APIManager names the S3 file-storage secret {s3}"
            ));
            secrets.push(s3);
        }
    }
    let mut objects = Vec::new();
    let mut absent = Vec::new();
    for name in &secrets {
        match kube.get_secret(None, name).await? {
            Some(secret) => {
                if name == SEED {
                    warn_tenant(ctx, &secret);
                }
                let value = serde_json::to_value(&secret)?;
                objects.push(exporter.export(ObjectKind::Secret, name, value).await?);
            }
            None => absent.push(format!("secret/{name}")),
        }
    }
    for name in CONFIGMAPS {
        match kube.get_configmap(None, name).await? {
            Some(cm) => {
                let value = serde_json::to_value(&cm)?;
                objects.push(exporter.export(ObjectKind::ConfigMap, name, value).await?);
            }
            None => absent.push(format!("configmap/{name}")),
        }
    }
    if manager_values.is_empty() {
        absent.push("apimanager".to_string());
    }
    for (name, value) in manager_values {
        objects.push(
            exporter
                .export(ObjectKind::ApiManager, &name, value)
                .await?,
        );
    }
    if !absent.is_empty() {
        ctx.sink.info(format!(
            "not in the source (nothing to export): {}",
            absent.join(", ")
        ));
    }
    let record = ExportRecord {
        cluster: kube.context().to_string(),
        namespace: kube.namespace().to_string(),
        objects,
        absent,
        recipients: recipients.len(),
    };
    ctx.sink
        .record_fact(EXPORT_FACT, serde_json::to_value(&record)?)?;
    Ok(record)
}

impl StepAction for DumpSecrets {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            let record = export_source(ctx).await?;
            let count = |k: ObjectKind| {
                record
                    .objects
                    .iter()
                    .filter(|o| o.kind == k.as_str())
                    .count()
            };
            let mut figures = Map::new();
            figures.insert("secrets".into(), json!(count(ObjectKind::Secret)));
            figures.insert("configmaps".into(), json!(count(ObjectKind::ConfigMap)));
            figures.insert("apimanagers".into(), json!(count(ObjectKind::ApiManager)));
            figures.insert("absent".into(), json!(record.absent.len()));
            Ok(StepResult::passed(
                format!(
                    "exported {} secrets, {} configmaps and {} APIManager(s) to {}, encrypted to \
                     {} recipient(s){}",
                    count(ObjectKind::Secret),
                    count(ObjectKind::ConfigMap),
                    count(ObjectKind::ApiManager),
                    ctx.config.dumps.folder.join(FOLDER).display(),
                    record.recipients,
                    if record.absent.is_empty() {
                        String::new()
                    } else {
                        format!("; absent: {}", record.absent.join(", "))
                    }
                ),
                figures,
            ))
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            let Some(record) = ctx
                .fact(ctx.step.id.0, EXPORT_FACT)
                .and_then(|v| serde_json::from_value::<ExportRecord>(v.clone()).ok())
            else {
                return Ok(Recheck::DoesNotHold(
                    "no export is recorded; the export runs again".to_string(),
                ));
            };
            let files: Vec<String> = record.objects.iter().map(|o| o.file.clone()).collect();
            let folder = &ctx.config.dumps.folder;
            let report = artifacts::QUIET;
            Ok(match artifacts::verify(folder, &files, &report).await {
                Ok(()) => Recheck::Holds(format!(
                    "{} exported objects are in {} with their manifest checksums",
                    files.len(),
                    folder.join(FOLDER).display()
                )),
                Err(e) => Recheck::DoesNotHold(format!("{e:#}")),
            })
        })
    }
}
