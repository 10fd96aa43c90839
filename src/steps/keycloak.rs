//! The registry's Keycloak realms and users from cluster A to cluster B, as the Platform's
//! migration procedure moves them: exported with `kc.sh export --dir` in A's Keycloak pod, then
//! imported into B's Keycloak through its admin API, each realm created when B has none of that
//! name and its users (and, for a realm B already had, its clients, roles, groups and identity
//! providers) added by a partial import with `ifResourceExists: SKIP`, which never changes what
//! B has. The realms are those A's `KeycloakRealm` objects in the registry's namespace name.
//!
//! The export is an artifact of the migration, `keycloak-export-<registry>/` in the artifacts
//! folder with Keycloak's own file names (so `kc.sh import --dir` could also read it): every file
//! mode 0600, in a folder 0700, listed in the manifest with its SHA-256, and checked against it
//! before the import. It holds client secrets and password hashes: no log line, summary or error
//! of this module holds a file's content; they name realms, files and counts.
//!
//! [`export_realms`] and [`import_realms`] take their inputs explicitly (the runbook's step
//! wires the config to them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::Utc;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::bad_input;
use crate::infra::artifacts::{
    self, Artifact, Manifest, Report, Throttle, exec_to_private_file, hex, make_private_dir,
    partial_path, write_whole,
};
use crate::infra::keycloak::{KeycloakAdmin, RealmCreated};
use crate::infra::keycloak_export::{ExportFile, export_command, next_file};
use crate::infra::kube::{CustomKind, KubeCluster};

/// Where Keycloak runs on the Platform.
pub const KEYCLOAK_NAMESPACE: &str = "user-management";
/// The largest file of an export cutover reads (a realm's representation; users come 50 a file).
const MAX_FILE: u64 = 512 * 1024 * 1024;
/// Artifact kinds in the manifest.
pub const REALM_KIND: &str = "keycloak-realm";
pub const USERS_KIND: &str = "keycloak-users";

/// The folder of a registry's export, relative to the artifacts folder.
pub fn export_dir(registry: &str) -> String {
    format!("keycloak-export-{registry}")
}

/// The realms `KeycloakRealm` objects in `namespace` name (`spec.realmName`), sorted.
pub async fn registry_realms(kube: &KubeCluster, namespace: &str) -> Result<Vec<String>> {
    let objects = kube
        .list_custom(CustomKind::KeycloakRealm, Some(namespace))
        .await?;
    let mut realms = BTreeSet::new();
    for object in objects {
        let name = object.metadata.name.clone().unwrap_or_default();
        match object.data["spec"]["realmName"].as_str() {
            Some(realm) if !realm.is_empty() => {
                realms.insert(realm.to_string());
            }
            _ => bail!(
                "KeycloakRealm {name} in namespace {namespace} of the {} cluster has no \
                 spec.realmName; fix the object (the keycloak operator needs it too)",
                kube.name()
            ),
        }
    }
    Ok(realms.into_iter().collect())
}

/// Where the export runs: A's Keycloak pod.
pub struct KeycloakPod<'a> {
    pub kube: &'a KubeCluster,
    pub namespace: &'a str,
    pub pod: &'a str,
}

/// One realm of the export.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ExportedRealm {
    pub realm: String,
    /// The realm's files, relative to the artifacts folder.
    pub files: Vec<String>,
    pub users: u64,
}

/// Exports A's Keycloak in `pod` and keeps `realms`' files in `<folder>/keycloak-export-
/// <registry>/`, each recorded in the manifest by `step`. A realm the export does not hold is
/// an error naming it.
pub async fn export_realms(
    pod: &KeycloakPod<'_>,
    realms: &[String],
    folder: &Path,
    registry: &str,
    step: &str,
    report: &Report<'_>,
) -> Result<Vec<ExportedRealm>> {
    if realms.is_empty() {
        return Err(bad_input(format!(
            "no realm to move: the registry {registry} has no KeycloakRealm objects; check the \
             registry's namespace on cluster A"
        )));
    }
    let rel = export_dir(registry);
    let dir = folder.join(&rel);
    make_private_dir(&dir)?;
    clear_export(&dir)?;
    let kube = pod.kube.in_namespace(pod.namespace);
    let command = export_command();
    let command: Vec<&str> = command.iter().map(String::as_str).collect();
    let stream = dir.join(".export-stream");
    (report.log)(format!(
        "exporting Keycloak's realms in pod {}/{} of the {} cluster (kc.sh export --dir, users \
         in files of 50)",
        pod.namespace,
        pod.pod,
        pod.kube.name()
    ));
    let throttle = Throttle::new(report, None, "bytes");
    exec_to_private_file(
        &kube,
        pod.pod,
        &command,
        &stream,
        throttle,
        "kc.sh export",
        "the export of Keycloak's realms broke off; run the step again",
    )
    .await?;
    let partial = partial_path(&stream);
    let kept = keep_files(&partial, &dir, realms).await;
    let _ = std::fs::remove_file(&partial);
    let (kept, skipped) = kept?;
    if !skipped.is_empty() {
        (report.log)(format!(
            "left out of the artifact: {} (not realms of the registry)",
            skipped.join(", ")
        ));
    }
    let source = format!(
        "{} cluster, pod {}/{} (kc.sh export)",
        pod.kube.name(),
        pod.namespace,
        pod.pod
    );
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for realm in realms {
        let Some(files) = kept.get(realm) else {
            missing.push(realm.clone());
            continue;
        };
        let mut users = 0;
        let mut paths = Vec::new();
        for file in files {
            let path = dir.join(&file.name);
            let mut counts = BTreeMap::new();
            let kind = match ExportFile::of(&file.name) {
                ExportFile::Users(..) => {
                    users += file.count;
                    counts.insert("users".to_string(), file.count);
                    USERS_KIND
                }
                _ => {
                    counts.insert("clients".to_string(), file.count);
                    REALM_KIND
                }
            };
            let name = artifacts::relative(folder, &path);
            Manifest::record(
                folder,
                Artifact {
                    file: name.clone(),
                    kind: kind.to_string(),
                    source: source.clone(),
                    bytes: file.bytes,
                    sha256: file.sha256.clone(),
                    counts,
                    versions: BTreeMap::new(),
                    encrypted: false,
                    step: step.to_string(),
                    time: Utc::now(),
                },
            )?;
            paths.push(name);
        }
        (report.log)(format!(
            "realm {realm}: {} file(s), {users} user(s)",
            paths.len()
        ));
        out.push(ExportedRealm {
            realm: realm.clone(),
            files: paths,
            users,
        });
    }
    if !missing.is_empty() {
        let held: Vec<&String> = kept.keys().collect();
        bail!(
            "the export of Keycloak in pod {}/{} holds no realm {} although KeycloakRealm \
             objects name it (the registry's realms it holds: {}); check spec.realmName of those \
             objects and that the realm exists in cluster A's Keycloak",
            pod.namespace,
            pod.pod,
            missing.join(", "),
            if held.is_empty() {
                "none".to_string()
            } else {
                held.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    }
    Ok(out)
}

/// A file written into the export's folder.
struct Kept {
    name: String,
    bytes: u64,
    sha256: String,
    /// Users in a users file; clients in a realm file.
    count: u64,
}

/// Removes an earlier export's files, so none of them is imported with this one's.
fn clear_export(dir: &Path) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") || name.starts_with(".export-stream") {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// Reads the command's output from `stream` and writes the files of `realms` into `dir`; the
/// files of other realms are only named.
async fn keep_files(
    stream: &Path,
    dir: &Path,
    realms: &[String],
) -> Result<(BTreeMap<String, Vec<Kept>>, Vec<String>)> {
    let file = tokio::fs::File::open(stream)
        .await
        .with_context(|| format!("cannot read {}", stream.display()))?;
    let mut reader = tokio::io::BufReader::new(file);
    let wanted: BTreeSet<&str> = realms.iter().map(String::as_str).collect();
    let mut kept: BTreeMap<String, Vec<Kept>> = BTreeMap::new();
    let mut skipped = Vec::new();
    while let Some((name, bytes)) = next_file(&mut reader, MAX_FILE).await? {
        let kind = ExportFile::of(&name);
        let Some(realm) = kind.realm().filter(|r| wanted.contains(r)) else {
            skipped.push(name);
            continue;
        };
        let json: Value = serde_json::from_slice(&bytes).map_err(|e| {
            anyhow::anyhow!("the export's file {name} is not JSON ({e}); export again")
        })?;
        if json["realm"].as_str() != Some(realm) {
            bail!("the export's file {name} is not of the realm {realm}; export again");
        }
        let count = match kind {
            ExportFile::Users(..) => json["users"].as_array().map_or(0, Vec::len),
            _ => json["clients"].as_array().map_or(0, Vec::len),
        } as u64;
        write_whole(&dir.join(&name), &bytes)?;
        kept.entry(realm.to_string()).or_default().push(Kept {
            bytes: bytes.len() as u64,
            sha256: hex(&Sha256::digest(&bytes)),
            name,
            count,
        });
    }
    for (realm, files) in &kept {
        check_whole(realm, files.iter().map(|f| f.name.as_str()))?;
    }
    Ok((kept, skipped))
}

/// A realm's files are its realm file and users files 0..n without a gap.
fn check_whole<'a>(realm: &str, names: impl Iterator<Item = &'a str>) -> Result<Vec<usize>> {
    let mut has_realm = false;
    let mut pages = Vec::new();
    for name in names {
        match ExportFile::of(name) {
            ExportFile::Realm(_) => has_realm = true,
            ExportFile::Users(_, n) => pages.push(n),
            ExportFile::Other(_) => {}
        }
    }
    pages.sort_unstable();
    if !has_realm {
        bail!("the export holds users of the realm {realm} but not its {realm}-realm.json");
    }
    if let Some(gap) = (0..pages.len()).find(|i| pages[*i] != *i) {
        bail!(
            "the export of the realm {realm} has no {realm}-users-{gap}.json although later \
             users files are there; export again"
        );
    }
    Ok(pages)
}

/// What the import did to one realm on B.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RealmImported {
    pub realm: String,
    /// Created now; false when B had it (409), and then its parts were imported with SKIP.
    pub created: bool,
    pub users_added: u64,
    pub users_skipped: u64,
    /// Clients, roles, groups, identity providers of a realm B had.
    pub others_added: u64,
    pub others_skipped: u64,
    /// Users the realm has on B afterwards.
    pub users_on_destination: u64,
}

impl RealmImported {
    /// Whether the import changed nothing on B.
    pub fn unchanged(&self) -> bool {
        !self.created && self.users_added == 0 && self.others_added == 0
    }

    fn line(&self) -> String {
        let realm = if self.created {
            "created".to_string()
        } else if self.others_added > 0 {
            format!(
                "existed ({} client(s)/role(s)/group(s) added, {} already there)",
                self.others_added, self.others_skipped
            )
        } else {
            "existed".to_string()
        };
        format!(
            "realm {}: {realm}; users {} added, {} skipped (already there); {} on B",
            self.realm, self.users_added, self.users_skipped, self.users_on_destination
        )
    }
}

/// One line for the step's result.
pub fn import_summary(done: &[RealmImported]) -> String {
    let created = done.iter().filter(|r| r.created).count();
    let added: u64 = done.iter().map(|r| r.users_added).sum();
    let skipped: u64 = done.iter().map(|r| r.users_skipped).sum();
    if done.iter().all(RealmImported::unchanged) {
        return format!(
            "nothing changed: B already had all {} realm(s) and their {skipped} user(s) (SKIP)",
            done.len()
        );
    }
    format!(
        "{} realm(s): {created} created, {} existed; users {added} added, {skipped} skipped \
         (already there)",
        done.len(),
        done.len() - created
    )
}

/// Imports `realms` from the export in `<folder>/keycloak-export-<registry>/` into B's Keycloak
/// through `admin`. Every file is checked against the manifest first.
pub async fn import_realms(
    admin: &KeycloakAdmin,
    folder: &Path,
    registry: &str,
    realms: &[String],
    report: &Report<'_>,
) -> Result<Vec<RealmImported>> {
    let files = verified_files(folder, registry, realms).await?;
    admin.login().await?;
    (report.log)(format!(
        "logged in to Keycloak at {} as {}",
        admin.url(),
        admin.username()
    ));
    // A realm B lists is not posted again: Keycloak would refuse it (409) and log an error.
    let on_b = admin.realms().await?;
    let mut done = Vec::new();
    for realm in realms {
        let paths = files.get(realm).map(Vec::as_slice).unwrap_or_default();
        let imported = import_realm(admin, realm, paths, on_b.contains(realm)).await?;
        (report.log)(imported.line());
        done.push(imported);
    }
    Ok(done)
}

/// Each realm's files in the export (realm file first, then its users files in order), each
/// checked against the manifest: listed, there, and of the recorded size and SHA-256.
pub async fn verified_files(
    folder: &Path,
    registry: &str,
    realms: &[String],
) -> Result<BTreeMap<String, Vec<PathBuf>>> {
    let dir = folder.join(export_dir(registry));
    let files = realm_files(&dir, realms)?;
    let manifest = Manifest::load(folder)?;
    for paths in files.values() {
        for path in paths {
            let name = artifacts::relative(folder, path);
            let Some(artifact) = manifest.get(&name) else {
                bail!(
                    "{name} is not listed in the manifest of {}; export the realms again",
                    folder.display()
                );
            };
            artifacts::verify_artifact(folder, artifact, &artifacts::QUIET).await?;
        }
    }
    Ok(files)
}

/// The users the export holds for `realm`, as the manifest counts them.
pub fn exported_users(folder: &Path, registry: &str, realm: &str) -> Result<u64> {
    let manifest = Manifest::load(folder)?;
    let prefix = format!("{}/", export_dir(registry));
    Ok(manifest
        .artifacts
        .iter()
        .filter(|a| {
            a.file.strip_prefix(&prefix).is_some_and(
                |name| matches!(ExportFile::of(name), ExportFile::Users(r, _) if r == realm),
            )
        })
        .map(|a| a.counts.get("users").copied().unwrap_or(0))
        .sum())
}

/// Each realm's files in `dir`: its realm file first, then its users files in order. A realm
/// without its realm file is an error naming it.
fn realm_files(dir: &Path, realms: &[String]) -> Result<BTreeMap<String, Vec<PathBuf>>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read the Keycloak export {}; export the realms first",
            dir.display()
        )
    })?;
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut out = BTreeMap::new();
    for realm in realms {
        let mine: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .filter(|n| ExportFile::of(n).realm() == Some(realm.as_str()))
            .collect();
        if !mine
            .iter()
            .any(|n| ExportFile::of(n) == ExportFile::Realm(realm.clone()))
        {
            bail!(
                "the Keycloak export {} has no {realm}-realm.json for the realm {realm}; export \
                 the realms again",
                dir.display()
            );
        }
        let pages = check_whole(realm, mine.iter().copied())?;
        let mut paths = vec![dir.join(format!("{realm}-realm.json"))];
        paths.extend(
            pages
                .iter()
                .map(|n| dir.join(format!("{realm}-users-{n}.json"))),
        );
        out.insert(realm.clone(), paths);
    }
    Ok(out)
}

async fn read_json(path: &Path) -> Result<Value> {
    let bytes = tokio::fs::read(path)
        .await
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("{} is not JSON ({e})", path.display()))
}

/// One realm: created unless B has it (`on_b`), then partial imports with SKIP.
async fn import_realm(
    admin: &KeycloakAdmin,
    realm: &str,
    paths: &[PathBuf],
    on_b: bool,
) -> Result<RealmImported> {
    let mut done = RealmImported {
        realm: realm.to_string(),
        ..Default::default()
    };
    let Some((realm_path, users_paths)) = paths.split_first() else {
        bail!("the export has no files of the realm {realm}");
    };
    let mut rep = read_json(realm_path).await?;
    // A realm file with its users (`--users realm_file`) has them imported like a users file's.
    let inline_users = rep
        .as_object_mut()
        .and_then(|m| m.remove("users"))
        .and_then(|u| u.as_array().cloned())
        .unwrap_or_default();
    let created = if on_b {
        RealmCreated::Existed
    } else {
        admin.create_realm(&rep).await?
    };
    match created {
        RealmCreated::Created => done.created = true,
        RealmCreated::Existed => {
            let parts = json!({
                "ifResourceExists": "SKIP",
                "clients": rep.get("clients").cloned().unwrap_or(json!([])),
                "roles": rep.get("roles").cloned().unwrap_or(json!({})),
                "groups": rep.get("groups").cloned().unwrap_or(json!([])),
                "identityProviders": rep.get("identityProviders").cloned().unwrap_or(json!([])),
            });
            let answer = admin.partial_import(realm, &parts).await?;
            done.others_added = answer.added;
            done.others_skipped = answer.skipped;
        }
    }
    let mut pages: Vec<Vec<Value>> = Vec::new();
    if !inline_users.is_empty() {
        pages.push(inline_users);
    }
    for path in users_paths {
        let file = read_json(path).await?;
        pages.push(file["users"].as_array().cloned().unwrap_or_default());
    }
    for users in pages {
        if users.is_empty() {
            continue;
        }
        let answer = admin
            .partial_import(realm, &json!({"ifResourceExists": "SKIP", "users": users}))
            .await?;
        done.users_added += answer.count("USER", "ADDED");
        done.users_skipped += answer.count("USER", "SKIPPED");
    }
    done.users_on_destination = admin.count_users(realm).await?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_files_must_follow_each_other() {
        let ok = ["r-realm.json", "r-users-0.json", "r-users-1.json"];
        assert_eq!(check_whole("r", ok.into_iter()).unwrap(), vec![0, 1]);
        let gap = ["r-realm.json", "r-users-0.json", "r-users-2.json"];
        let e = check_whole("r", gap.into_iter()).unwrap_err();
        assert!(e.to_string().contains("r-users-1.json"), "{e}");
        assert!(check_whole("r", ["r-users-0.json"].into_iter()).is_err());
    }

    #[test]
    fn a_second_import_says_nothing_changed() {
        let again = RealmImported {
            realm: "r".into(),
            users_skipped: 3,
            users_on_destination: 3,
            ..Default::default()
        };
        assert!(import_summary(std::slice::from_ref(&again)).starts_with("nothing changed"));
        let first = RealmImported {
            created: true,
            users_added: 3,
            ..again
        };
        assert!(import_summary(&[first]).contains("1 created"));
    }
}
