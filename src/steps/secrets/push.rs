//! `push-secrets`: the secrets whose values the migrated data needs, from the verified and
//! decrypted dump onto the destination, after the operator has seen which keys change.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde_json::{Map, json};

use super::dump::export_source;
use super::objects::{
    BEFORE_FOLDER, FOLDER, ObjectKind, PUSH_FACT, PUSHED, RHOAM_COPIES, RHOAM_OPERATOR_NAMESPACE,
    RHOAM_SEED, SEED, clean, data_keys,
};
use super::tokens::{database_tokens, token_problems};
use crate::error::bad_input;
use crate::infra::age::{Identities, Recipients, decrypt_file, encrypt_to_file};
use crate::infra::artifacts::{self, Artifact, Manifest, Report};
use crate::infra::kube::KubeCluster;
use crate::runbook::ClusterRole;
use crate::steps::pgdump::{close, system_database};
use crate::steps::{Question, Recheck, StepAction, StepContext, StepFuture, StepResult};

struct PushSecrets;

pub(in crate::steps) static PUSH_SECRETS: &dyn StepAction = &PushSecrets;

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

pub(super) fn identity_path(ctx: &StepContext) -> Result<&Path> {
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

/// The refusal when the migrated database lacks the tokens the source's system-seed names
/// (see [`super::tokens`]); read before anything is written.
async fn missing_tokens(
    ctx: &StepContext,
    source: &BTreeMap<String, Secret>,
) -> Result<Option<String>> {
    let Some(seed) = source.get(SEED) else {
        return Ok(None);
    };
    let reporter = ctx.sink.reporter();
    let target = system_database(ctx, ClusterRole::Destination, &reporter.report())
        .await
        .context("checking the access tokens before the push; nothing was pushed")?;
    let shown = target.shown().to_string();
    let rows = database_tokens(&target).await;
    close(ctx, target).await;
    let rows = rows.context("nothing was pushed")?;
    let problems = token_problems(seed, &rows);
    if problems.is_empty() {
        ctx.sink.info(format!(
            "{shown} holds the master and admin access tokens of the source's system-seed \
             (compared by SHA-256, among {} tokens)",
            rows.len()
        ));
        return Ok(None);
    }
    Ok(Some(format!(
        "{}. Nothing was pushed: with these secrets RHOAM could not call 3scale",
        problems.join("; ")
    )))
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
pub(super) async fn export_missing(
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
        ..Question::default()
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

/// Checks every file of the secrets dump against the manifest; Ok(Err(what)) when one differs.
pub(super) async fn verify_folder(
    ctx: &StepContext,
    manifest: &Manifest,
) -> Result<std::result::Result<(), String>> {
    let folder = &ctx.config.dumps.folder;
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
    Ok(artifacts::verify(folder, &files, &report)
        .await
        .map_err(|e| format!("{e:#}")))
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
    if let Err(text) = verify_folder(ctx, &manifest).await? {
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
            if let Some(refusal) = missing_tokens(ctx, &source).await? {
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
                    // The key names are in the question itself: the log lines that list
                    // them may have scrolled away, or be cut on a small screen.
                    text: format!(
                        "{n} destination secret(s) change: {} (key names only; values are \
                         never shown). The current values are saved encrypted first. Type \
                         `{phrase}` to replace them with the source's, or stop: ",
                        changing
                            .iter()
                            .map(|t| t.describe())
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                    phrase: phrase.clone(),
                    ..Question::default()
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
}
