//! The 3scale secrets: `dump-secrets` exports them from the source, encrypted with age, and
//! `push-secrets` puts the ones that must match the migrated data onto the destination.
//!
//! Export (threescale.md §5): the secrets system-seed, system-app, system-master-apicast,
//! system-database, system-redis, backend-redis, backend-internal-api, backend-listener,
//! system-events-hook, system-smtp, system-recaptcha, system-memcache and zync, the S3
//! file-storage secret the APIManager names, the configmaps system-environment,
//! apicast-environment, system, backend-environment and redis-config, and every APIManager.
//! An absent object is noted, not an error (2.16 has no redis-config, RHOAM-like installs no
//! S3 secret). The server-owned fields (uid, resourceVersion, creationTimestamp, managedFields,
//! ownerReferences, namespace, selfLink, generation, status, the last-applied annotation, which
//! repeats the data in clear) are dropped so the objects apply on another cluster. Each object
//! is serialized in memory and encrypted on its way to `<dumps>/secrets/<kind>-<name>.json.age`
//! (the `.partial` holds ciphertext too, mode 0600), listed in `manifest.json` with its number of
//! data keys; the fact `exported` lists the objects with their key NAMES, never a value.
//!
//! Push (a RHOAM destination): only the secrets whose values the migrated data depends on are
//! replaced: system-seed (master and admin tokens and passwords, rows of the database),
//! system-app (SECRET_KEY_BASE, which signs the sessions and encrypted columns), system-master-
//! apicast (the master token APIcast reads its configuration with, a row of the database) and
//! system-recaptcha (the customer's keys). The 3scale operator's own restore never restores
//! system-database, backend-redis, system-redis or system-memcache, which point at the
//! destination's stores; on RHOAM the same holds for zync (its own database), backend-listener
//! (its routes), backend-internal-api and system-events-hook (shared only between RHOAM's own
//! components, in no data), system-smtp (RHOAM's mail relay), the S3 secret (RHOAM's bucket),
//! the configmaps and the APIManager, which the RHOAM operator reconciles: pushing those would
//! break RHOAM, so they stay in the dump as a record. RHOAM keeps copies of system-seed and
//! system-master-apicast in `redhat-rhoam-operator` and restores the 3scale namespace's from
//! them, so those copies are replaced too (when absent there, RHOAM copies the new values
//! itself).
//!
//! Without a secrets dump in the dump folder (dump-secrets was the other party's and its dump
//! has not arrived), the push offers to export the source first when the config names the
//! source cluster (the operator types `export now`), as the database restore offers a dump.
//! Before anything: every artifact under `secrets/` is checked against the manifest (a changed
//! byte stops the push, naming the file); the dump is decrypted in memory with the operator's
//! identity (`dumps.age_identity`). RHOAM runs tenant `3scale` with master domain `master`; a
//! source whose system-seed TENANT_NAME or MASTER_DOMAIN differs from the destination's is
//! refused (the database's provider and master accounts carry those names; renaming a tenant is
//! not part of this migration). The diff (per secret, the key names added, changed and
//! removed; never a value) is shown and the operator types `push N secrets`; the destination's
//! current secrets are saved encrypted to `<dumps>/destination-secrets-before/` first (once: a
//! retry keeps the first copy), then each is replaced (PUT), keeping its labels, annotations and
//! owner references, with exactly the source's data. Afterwards each is read back and compared
//! in memory. Resume re-check: the export holds when every recorded file matches the manifest;
//! the push when every target holds the source's data.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Question, Recheck, StepAction, StepContext, StepFuture, StepResult};
use crate::error::bad_input;
use crate::infra::age::{Identities, Recipients, decrypt_file, encrypt_to_file};
use crate::infra::artifacts::{self, Artifact, Manifest, Report};
use crate::infra::kube::{CustomKind, KubeCluster};
use crate::runbook::ClusterRole;

/// The fact of `dump-secrets`: an [`ExportRecord`].
pub const EXPORT_FACT: &str = "exported";
/// The fact of `push-secrets`.
pub const PUSH_FACT: &str = "pushed";
/// Where the export goes, under the dump folder.
pub const FOLDER: &str = "secrets";
/// Where the destination's secrets are saved before the push, under the dump folder.
pub const BEFORE_FOLDER: &str = "destination-secrets-before";

/// The 3scale secrets of threescale.md §5.
pub const SECRETS: &[&str] = &[
    "system-seed",
    "system-app",
    "system-master-apicast",
    "system-database",
    "system-redis",
    "backend-redis",
    "backend-internal-api",
    "backend-listener",
    "system-events-hook",
    "system-smtp",
    "system-recaptcha",
    "system-memcache",
    "zync",
];
/// The 3scale configmaps of threescale.md §5.
pub const CONFIGMAPS: &[&str] = &[
    "system-environment",
    "apicast-environment",
    "system",
    "backend-environment",
    "redis-config",
];
/// What push-secrets replaces at a RHOAM destination.
pub const PUSHED: &[&str] = &[
    "system-seed",
    "system-app",
    "system-master-apicast",
    "system-recaptcha",
];
/// What the 3scale operator's restore never restores: they point at the destination's stores.
pub const NEVER_PUSHED: &[&str] = &[
    "system-database",
    "backend-redis",
    "system-redis",
    "system-memcache",
];
/// RHOAM's operator namespace, where it keeps copies of [`RHOAM_COPIES`].
pub const RHOAM_OPERATOR_NAMESPACE: &str = "redhat-rhoam-operator";
pub const RHOAM_COPIES: &[&str] = &["system-seed", "system-master-apicast"];
/// The keys of system-seed RHOAM fixes, with RHOAM's values.
const RHOAM_SEED: &[(&str, &str)] = &[("TENANT_NAME", "3scale"), ("MASTER_DOMAIN", "master")];
const SEED: &str = "system-seed";

/// The kinds of object the export holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ObjectKind {
    Secret,
    ConfigMap,
    ApiManager,
}

impl ObjectKind {
    fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Secret => "secret",
            ObjectKind::ConfigMap => "configmap",
            ObjectKind::ApiManager => "apimanager",
        }
    }

    /// `secrets/secret-<name>.json.age`, relative to the dump folder.
    fn file(self, name: &str) -> String {
        format!("{FOLDER}/{}-{name}.json.age", self.as_str())
    }
}

/// One exported object: where it went and the names of its data keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exported {
    pub kind: String,
    pub name: String,
    pub file: String,
    pub keys: Vec<String>,
}

/// What `dump-secrets` exported, recorded as the fact `exported`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportRecord {
    pub cluster: String,
    pub namespace: String,
    pub objects: Vec<Exported>,
    /// `secret/<name>`, `configmap/<name>` of what the source does not have.
    pub absent: Vec<String>,
    pub recipients: usize,
}

struct DumpSecrets;
struct PushSecrets;

pub(super) static DUMP_SECRETS: &dyn StepAction = &DumpSecrets;
pub(super) static PUSH_SECRETS: &dyn StepAction = &PushSecrets;

/// The object without what the API server owns, so that it applies on another cluster.
fn clean(mut object: Value) -> Value {
    if let Some(o) = object.as_object_mut() {
        o.remove("status");
        if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in [
                "uid",
                "resourceVersion",
                "creationTimestamp",
                "managedFields",
                "ownerReferences",
                "namespace",
                "selfLink",
                "generation",
            ] {
                meta.remove(field);
            }
            let empty = match meta.get_mut("annotations").and_then(Value::as_object_mut) {
                Some(a) => {
                    a.remove("kubectl.kubernetes.io/last-applied-configuration");
                    a.is_empty()
                }
                None => false,
            };
            if empty {
                meta.remove("annotations");
            }
        }
    }
    object
}

/// The names of an object's data keys.
fn data_keys(object: &Value) -> Vec<String> {
    ["data", "stringData", "binaryData"]
        .iter()
        .filter_map(|f| object.get(*f).and_then(Value::as_object))
        .flat_map(|m| m.keys().cloned())
        .collect()
}

/// The S3 file-storage secret an APIManager names.
fn s3_secret(apimanager: &Value) -> Option<String> {
    apimanager
        .pointer("/spec/system/fileStorage/simpleStorageService/configurationSecretRef/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

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
async fn export_source(ctx: &StepContext) -> Result<ExportRecord> {
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

/// Key names that differ between a secret's data and what it should hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
struct Diff {
    added: Vec<String>,
    changed: Vec<String>,
    removed: Vec<String>,
}

type Data = BTreeMap<String, ByteString>;

fn diff(current: &Data, desired: &Data) -> Diff {
    let mut d = Diff::default();
    for (k, v) in desired {
        match current.get(k) {
            None => d.added.push(k.clone()),
            Some(c) if c != v => d.changed.push(k.clone()),
            Some(_) => {}
        }
    }
    d.removed = current
        .keys()
        .filter(|k| !desired.contains_key(*k))
        .cloned()
        .collect();
    d
}

impl Diff {
    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (verb, keys) in [
            ("changes", &self.changed),
            ("adds", &self.added),
            ("removes", &self.removed),
        ] {
            if !keys.is_empty() {
                parts.push(format!("{verb} {}", keys.join(", ")));
            }
        }
        parts.join("; ")
    }
}

/// One destination secret the push replaces.
struct Target {
    namespace: String,
    name: String,
    /// The destination's secret as read before the push.
    current: Option<Secret>,
    /// The source's secret, decrypted.
    source: Secret,
    /// Created when absent (the 3scale namespace), or left to RHOAM (its operator namespace).
    create: bool,
}

impl Target {
    fn desired(&self) -> Data {
        self.source.data.clone().unwrap_or_default()
    }

    fn diff(&self) -> Option<Diff> {
        let current = self.current.as_ref()?;
        Some(diff(
            &current.data.clone().unwrap_or_default(),
            &self.desired(),
        ))
    }

    fn place(&self) -> String {
        format!("secret {} in {}", self.name, self.namespace)
    }

    /// Whether the push changes it.
    fn changes(&self) -> bool {
        match self.diff() {
            Some(d) => !d.is_empty(),
            None => self.create,
        }
    }

    fn describe(&self) -> String {
        match (self.diff(), self.create) {
            (Some(d), _) if d.is_empty() => {
                format!("{}: already holds the source's values", self.place())
            }
            (Some(d), _) => format!("{}: {}", self.place(), d.describe()),
            (None, true) => format!(
                "{}: absent, created with the source's keys {}",
                self.place(),
                self.desired()
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            (None, false) => format!(
                "{}: absent, left alone (RHOAM copies the new values there itself)",
                self.place()
            ),
        }
    }

    /// `destination-secrets-before/[<namespace>/]secret-<name>.json.age`.
    fn before_file(&self, destination_ns: &str) -> String {
        if self.namespace == destination_ns {
            format!("{BEFORE_FOLDER}/secret-{}.json.age", self.name)
        } else {
            format!(
                "{BEFORE_FOLDER}/{}/secret-{}.json.age",
                self.namespace, self.name
            )
        }
    }
}

/// The source's pushed secrets, decrypted from the verified dump: name → Secret.
fn read_source(
    folder: &Path,
    manifest: &Manifest,
    identity: &Path,
) -> Result<BTreeMap<String, Secret>> {
    let identities = Identities::load(identity)?;
    let mut out = BTreeMap::new();
    for name in PUSHED {
        let file = ObjectKind::Secret.file(name);
        if manifest.get(&file).is_none() {
            continue;
        }
        let plain = decrypt_file(&identities, &folder.join(&file))?;
        let secret: Secret = serde_json::from_slice(&plain)
            .map_err(|_| anyhow::anyhow!("{file} does not hold a Secret"))?;
        drop(plain);
        if secret.metadata.name.as_deref() != Some(name) {
            anyhow::bail!("{file} holds another secret than {name}; use the dump-secrets export");
        }
        out.insert(name.to_string(), secret);
    }
    Ok(out)
}

fn identity_path(ctx: &StepContext) -> Result<&Path> {
    ctx.config.dumps.age_identity.as_deref().ok_or_else(|| {
        bad_input(
            "dumps.age_identity is not set: the secrets dump can only be read with your age \
             identity. Set it in the config to your identity file (AGE-SECRET-KEY-1… or an SSH \
             private key whose public key was among dumps.age_recipients at the dump)",
        )
    })
}

/// The targets of the push: the 3scale namespace's secrets, and RHOAM's copies.
async fn targets(kube: &KubeCluster, source: &BTreeMap<String, Secret>) -> Result<Vec<Target>> {
    let ns = kube.namespace().to_string();
    let mut out = Vec::new();
    for (name, secret) in source {
        out.push(Target {
            namespace: ns.clone(),
            name: name.clone(),
            current: kube.get_secret(None, name).await?,
            source: secret.clone(),
            create: true,
        });
    }
    for name in RHOAM_COPIES {
        if let Some(secret) = source.get(*name) {
            out.push(Target {
                namespace: RHOAM_OPERATOR_NAMESPACE.to_string(),
                name: name.to_string(),
                current: kube
                    .get_secret(Some(RHOAM_OPERATOR_NAMESPACE), name)
                    .await?,
                source: secret.clone(),
                create: false,
            });
        }
    }
    Ok(out)
}

/// The refusal when the source's tenant or master domain is not the destination's.
fn tenant_mismatch(source: &BTreeMap<String, Secret>, targets: &[Target]) -> Option<String> {
    let seed = source.get(SEED)?;
    let destination = targets
        .iter()
        .find(|t| t.name == SEED && t.create)
        .and_then(|t| t.current.as_ref());
    let differ: Vec<&str> = RHOAM_SEED
        .iter()
        .filter(|(key, rhoam)| {
            let want = destination
                .and_then(|d| d.data.as_ref())
                .and_then(|d| d.get(*key))
                .map(|v| v.0.clone())
                .unwrap_or_else(|| rhoam.as_bytes().to_vec());
            let have = seed.data.as_ref().and_then(|d| d.get(*key)).map(|v| &v.0);
            have.is_some_and(|h| *h != want)
        })
        .map(|(key, _)| *key)
        .collect();
    (!differ.is_empty()).then(|| {
        format!(
            "the source's system-seed {} differs from the destination's: RHOAM runs tenant \
             `3scale` with master domain `master`, and the migrated database's provider and \
             master accounts carry the source's names. Nothing was pushed; a tenant rename is not \
             part of this migration (see the step's procedure)",
            differ.join(" and ")
        )
    })
}

/// The secret to PUT: the destination's object (labels, annotations, owner references, type)
/// with exactly the source's data; or, when absent, a new one with the source's labels.
fn replacement(target: &Target) -> Secret {
    match &target.current {
        Some(current) => {
            let mut s = current.clone();
            s.data = Some(target.desired());
            s.string_data = None;
            s
        }
        None => Secret {
            metadata: ObjectMeta {
                name: Some(target.name.clone()),
                namespace: Some(target.namespace.clone()),
                labels: target.source.metadata.labels.clone(),
                ..ObjectMeta::default()
            },
            data: Some(target.desired()),
            type_: target.source.type_.clone(),
            ..Secret::default()
        },
    }
}

/// Saves the destination's current `target` encrypted, once: a file an earlier attempt of this
/// step listed in the manifest holds the values from before any push and is kept.
async fn save_before(
    ctx: &StepContext,
    kube: &KubeCluster,
    recipients: &Recipients,
    target: &Target,
) -> Result<Option<String>> {
    let Some(current) = &target.current else {
        return Ok(None);
    };
    let folder = &ctx.config.dumps.folder;
    let file = target.before_file(kube.namespace());
    let path = folder.join(&file);
    if Manifest::load(folder)?
        .get(&file)
        .is_some_and(|a| a.step == ctx.step.id.0)
        && path.exists()
    {
        ctx.sink.info(format!(
            "{} was saved by an earlier attempt ({file}); kept",
            target.place()
        ));
        return Ok(Some(file));
    }
    let object = clean(serde_json::to_value(current)?);
    let keys = data_keys(&object);
    let plain = serde_json::to_vec_pretty(&object)?;
    drop(object);
    let (bytes, sha256) = encrypt_to_file(recipients, &plain, &path).await?;
    drop(plain);
    Manifest::record(
        folder,
        Artifact {
            file: file.clone(),
            kind: "secret".to_string(),
            source: format!(
                "cluster {} namespace {} secret/{} (before push-secrets)",
                kube.context(),
                target.namespace,
                target.name
            ),
            bytes,
            sha256,
            counts: BTreeMap::from([("keys".to_string(), keys.len() as u64)]),
            versions: BTreeMap::from([("age".to_string(), "v1".to_string())]),
            encrypted: true,
            step: ctx.step.id.0.to_string(),
            time: chrono::Utc::now(),
        },
    )?;
    ctx.sink.info(format!(
        "saved {} encrypted to {}",
        target.place(),
        path.display()
    ));
    Ok(Some(file))
}

/// The targets that do not hold the source's data now (read again), by place.
async fn not_holding(kube: &KubeCluster, targets: &[Target]) -> Result<Vec<String>> {
    let mut differ = Vec::new();
    for t in targets {
        let now = kube.get_secret(Some(&t.namespace), &t.name).await?;
        match now {
            Some(s) if s.data.clone().unwrap_or_default() == t.desired() => {}
            Some(s) => differ.push(format!(
                "{}: {}",
                t.place(),
                diff(&s.data.clone().unwrap_or_default(), &t.desired()).describe()
            )),
            None if t.create => differ.push(format!("{}: absent", t.place())),
            None => {}
        }
    }
    Ok(differ)
}

/// What a push does when no secrets dump is in the dump folder (dump-secrets was the other
/// party's, and its dump has not arrived): when the config names the source cluster, it offers
/// to export the source's secrets here first, after the operator types `export now`; otherwise
/// it fails and says what to bring. Err is the step's result without a dump.
async fn export_missing(
    ctx: &StepContext,
    seed_file: &str,
) -> Result<std::result::Result<(), StepResult>> {
    let missing = format!(
        "no secrets dump: {} does not list {seed_file}",
        ctx.config.dumps.folder.join(artifacts::MANIFEST).display()
    );
    if ctx.config.cluster(ClusterRole::Source).is_none() {
        return Ok(Err(StepResult::failed(
            format!(
                "{missing}. Bring the dump folder of whoever ran dump-secrets, with its \
                 manifest.json"
            ),
            Map::new(),
        )));
    }
    let phrase = "export now";
    let question = Question {
        text: format!(
            "{missing}. The config names the source cluster: type `{phrase}` to export its \
             secrets (encrypted to dumps.age_recipients) to {} first, or stop and bring the dump \
             of whoever ran dump-secrets: ",
            ctx.config.dumps.folder.join(FOLDER).display()
        ),
        phrase: phrase.to_string(),
    };
    if let Some(result) = ctx
        .confirm(question, "exporting the source", "exported or pushed")
        .await?
    {
        return Ok(Err(result));
    }
    let record = export_source(ctx).await?;
    ctx.sink.info(format!(
        "exported {} objects from the source",
        record.objects.len()
    ));
    Ok(Ok(()))
}

/// The verified dump's files and the decrypted source secrets; Err is the step's result. Without
/// a dump, `offer_export` offers to export the source first (never in a re-check).
async fn verified_source(
    ctx: &StepContext,
    offer_export: bool,
) -> Result<std::result::Result<BTreeMap<String, Secret>, StepResult>> {
    let folder = &ctx.config.dumps.folder;
    let manifest = Manifest::load(folder)?;
    let seed_file = ObjectKind::Secret.file(SEED);
    let manifest = if manifest.get(&seed_file).is_some() {
        manifest
    } else if !offer_export {
        return Ok(Err(StepResult::failed(
            format!(
                "no secrets dump: {} does not list {seed_file}",
                artifacts::MANIFEST
            ),
            Map::new(),
        )));
    } else {
        match export_missing(ctx, &seed_file).await? {
            Ok(()) => Manifest::load(folder)?,
            Err(result) => return Ok(Err(result)),
        }
    };
    let files: Vec<String> = manifest
        .artifacts
        .iter()
        .filter(|a| a.file.starts_with(&format!("{FOLDER}/")))
        .map(|a| a.file.clone())
        .collect();
    ctx.sink.info(format!(
        "checking the {} files of the secrets dump against {}",
        files.len(),
        artifacts::MANIFEST
    ));
    let sink = ctx.sink.clone();
    let log = move |line: String| sink.info(line);
    let progress = |_: u64, _: Option<u64>, _: &'static str| {};
    let report = Report {
        progress: &progress,
        log: &log,
    };
    if let Err(e) = artifacts::verify(folder, &files, &report).await {
        let text = format!("{e:#}");
        ctx.sink.error(&text);
        return Ok(Err(StepResult::failed(text, Map::new())));
    }
    let source = read_source(folder, &manifest, identity_path(ctx)?)?;
    let missing: Vec<&str> = PUSHED
        .iter()
        .filter(|n| !source.contains_key(**n))
        .copied()
        .collect();
    if !missing.is_empty() {
        ctx.sink.info(format!(
            "not in the source's dump, so not pushed: {}",
            missing.join(", ")
        ));
    }
    Ok(Ok(source))
}

impl StepAction for PushSecrets {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            let source = match verified_source(ctx, true).await? {
                Ok(s) => s,
                Err(result) => return Ok(result),
            };
            let recipients = Recipients::parse(&ctx.config.dumps.age_recipients)?;
            let kube = ctx.cluster(ClusterRole::Destination).await?;
            let targets = targets(&kube, &source).await?;
            if let Some(refusal) = tenant_mismatch(&source, &targets) {
                ctx.sink.error(&refusal);
                return Ok(StepResult::failed(refusal, Map::new()));
            }
            for t in &targets {
                ctx.sink.info(t.describe());
            }
            let changing: Vec<&Target> = targets.iter().filter(|t| t.changes()).collect();
            if !changing.is_empty() {
                let n = changing.len();
                let phrase = format!("push {n} secret{}", if n == 1 { "" } else { "s" });
                let question = Question {
                    text: format!(
                        "{n} destination secret(s) change: {} (key names above; values are \
                         never shown). The current values are saved encrypted first. Type \
                         `{phrase}` to replace them with the source's, or stop: ",
                        changing
                            .iter()
                            .map(|t| t.place())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    phrase: phrase.clone(),
                };
                if let Some(result) = ctx
                    .confirm(question, "pushing the secrets", "pushed")
                    .await?
                {
                    return Ok(result);
                }
            }
            let mut saved = Vec::new();
            for t in &changing {
                if let Some(file) = save_before(ctx, &kube, &recipients, t).await? {
                    saved.push(file);
                }
            }
            let mut pushed = Vec::new();
            for t in &targets {
                let action = if !t.changes() {
                    if t.current.is_some() {
                        "unchanged"
                    } else {
                        "absent"
                    }
                } else if t.current.is_some() {
                    kube.replace_secret(Some(&t.namespace), &replacement(t))
                        .await?;
                    "replaced"
                } else {
                    kube.create_secret(Some(&t.namespace), &replacement(t))
                        .await?;
                    "created"
                };
                if action == "replaced" || action == "created" {
                    ctx.sink.info(format!("{}: {action}", t.place()));
                }
                pushed.push(json!({
                    "namespace": t.namespace,
                    "name": t.name,
                    "action": action,
                    "diff": t.diff(),
                }));
            }
            let differ = not_holding(&kube, &targets).await?;
            let value = json!({
                "cluster": kube.context(),
                "targets": pushed,
                "saved": saved,
                "differences": differ,
            });
            ctx.sink.record_fact(PUSH_FACT, value)?;
            let mut figures = Map::new();
            figures.insert("changed".into(), json!(changing.len()));
            figures.insert("targets".into(), json!(targets.len()));
            if differ.is_empty() {
                Ok(StepResult::passed(
                    format!(
                        "{} of {} destination secrets replaced with the source's values (read \
                         back and compared); the earlier values are saved encrypted in {}",
                        changing.len(),
                        targets.len(),
                        ctx.config.dumps.folder.join(BEFORE_FOLDER).display()
                    ),
                    figures,
                ))
            } else {
                for d in &differ {
                    ctx.sink.error(d);
                }
                Ok(StepResult::failed(
                    format!(
                        "the destination does not hold the source's secrets after the push: {}",
                        differ.join("; ")
                    ),
                    figures,
                ))
            }
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            let source = match verified_source(ctx, false).await? {
                Ok(s) => s,
                Err(result) => return Ok(Recheck::DoesNotHold(result.summary)),
            };
            let kube = ctx.cluster(ClusterRole::Destination).await?;
            let targets = targets(&kube, &source).await?;
            let differ = not_holding(&kube, &targets).await?;
            Ok(Recheck::unless_differ(&differ, || {
                format!(
                    "the destination's {} secrets hold the source's values",
                    targets.iter().filter(|t| t.current.is_some()).count()
                )
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_restore_rule_is_kept() {
        for name in NEVER_PUSHED {
            assert!(!PUSHED.contains(name), "{name} must stay the destination's");
            assert!(SECRETS.contains(name), "{name} is exported as a record");
        }
        for name in PUSHED.iter().chain(RHOAM_COPIES) {
            assert!(SECRETS.contains(name), "{name} is exported");
        }
    }

    #[test]
    fn server_owned_fields_and_the_clear_copy_are_dropped() {
        let cleaned = clean(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {
                "name": "system-seed", "namespace": "3scale", "uid": "u",
                "resourceVersion": "7", "creationTimestamp": "t", "managedFields": [],
                "ownerReferences": [], "selfLink": "/x", "generation": 2,
                "labels": {"app": "3scale-api-management"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{..}"}
            },
            "data": {"A": "eA==", "B": "eQ=="},
            "status": {}
        }));
        assert_eq!(
            cleaned,
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "system-seed", "labels": {"app": "3scale-api-management"}},
                "data": {"A": "eA==", "B": "eQ=="}
            })
        );
        assert_eq!(data_keys(&cleaned), vec!["A", "B"]);
    }

    #[test]
    fn the_diff_names_keys_only() {
        let data = |pairs: &[(&str, &str)]| -> Data {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect()
        };
        let d = diff(
            &data(&[("A", "old-value"), ("B", "same"), ("C", "gone")]),
            &data(&[("A", "new-value"), ("B", "same"), ("D", "added")]),
        );
        assert_eq!(d.changed, vec!["A"]);
        assert_eq!(d.added, vec!["D"]);
        assert_eq!(d.removed, vec!["C"]);
        let text = d.describe();
        assert_eq!(text, "changes A; adds D; removes C");
        assert!(diff(&data(&[("A", "x")]), &data(&[("A", "x")])).is_empty());
    }

    #[test]
    fn the_s3_secret_is_read_from_the_apimanager() {
        let m = json!({"spec": {"system": {"fileStorage": {"simpleStorageService": {
            "configurationSecretRef": {"name": "aws-auth"}}}}}});
        assert_eq!(s3_secret(&m).as_deref(), Some("aws-auth"));
        assert_eq!(s3_secret(&json!({"spec": {}})), None);
    }
}
