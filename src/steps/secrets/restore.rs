//! The source's objects read back from the verified, decrypted dump, for a cluster that runs
//! the source's 3scale on the migrated data (`connect-migration-3scale`): the secrets the data
//! depends on and the configmaps the operator does not make from the APIManager, and the
//! source's APIManager, whose settings the new one copies.

use anyhow::Result;
use serde_json::Value;

use super::objects::{FOLDER, ObjectKind, SEED};
use super::push::{export_missing, identity_path, verify_folder};
use crate::infra::age::{Identities, decrypt_file};
use crate::infra::artifacts::Manifest;
use crate::steps::{StepContext, StepResult};
use serde_json::Map;

/// The secrets the migrated data depends on, restored where the source's 3scale runs again
/// (the official restore's list): not the connection secrets, which name that cluster's own
/// stores, nor system-smtp (that cluster must not mail the customer's users), nor
/// backend-listener and system-environment, which carry the source's domain.
pub const RESTORED_SECRETS: &[&str] = &[
    "system-seed",
    "system-app",
    "system-master-apicast",
    "backend-internal-api",
    "system-events-hook",
    "system-recaptcha",
    "zync",
];
/// The configmaps restored with them.
pub const RESTORED_CONFIGMAPS: &[&str] = &["apicast-environment"];

/// What the dump holds of the restored objects, decrypted, and the source's APIManagers.
pub struct Dumped {
    /// (kind, name, object), each stripped of what its server owned.
    pub objects: Vec<(&'static str, String, Value)>,
    pub apimanagers: Vec<Value>,
    /// What the source did not have.
    pub absent: Vec<String>,
}

/// Reads [`RESTORED_SECRETS`], [`RESTORED_CONFIGMAPS`] and the APIManagers from the secrets
/// dump once every file of it matches the manifest. Without a dump, offers to export the source
/// first (as push-secrets does); Ok(Err(result)) is the step's result when there is none or a
/// file differs.
pub async fn dumped(ctx: &StepContext) -> Result<std::result::Result<Dumped, StepResult>> {
    let folder = &ctx.config.dumps.folder;
    let seed_file = ObjectKind::Secret.file(SEED);
    let mut manifest = Manifest::load(folder)?;
    if manifest.get(&seed_file).is_none() {
        if let Err(result) = export_missing(ctx, &seed_file).await? {
            return Ok(Err(result));
        }
        manifest = Manifest::load(folder)?;
    }
    if let Err(why) = verify_folder(ctx, &manifest).await? {
        ctx.sink.error(&why);
        return Ok(Err(StepResult::failed(why, Map::new())));
    }
    let identities = Identities::load(identity_path(ctx)?)?;
    let mut out = Dumped {
        objects: Vec::new(),
        apimanagers: Vec::new(),
        absent: Vec::new(),
    };
    let wanted = RESTORED_SECRETS
        .iter()
        .map(|n| (ObjectKind::Secret, *n))
        .chain(
            RESTORED_CONFIGMAPS
                .iter()
                .map(|n| (ObjectKind::ConfigMap, *n)),
        );
    for (kind, name) in wanted {
        let file = kind.file(name);
        if manifest.get(&file).is_none() {
            out.absent.push(format!("{}/{name}", kind.as_str()));
            continue;
        }
        let object = read(&identities, folder, &file)?;
        if object["metadata"]["name"] != name {
            anyhow::bail!("{file} holds another object than {name}; use the dump-secrets export");
        }
        out.objects.push((kind.as_str(), name.to_string(), object));
    }
    let prefix = format!("{FOLDER}/{}-", ObjectKind::ApiManager.as_str());
    for a in manifest
        .artifacts
        .iter()
        .filter(|a| a.file.starts_with(&prefix))
    {
        out.apimanagers.push(read(&identities, folder, &a.file)?);
    }
    Ok(Ok(out))
}

fn read(identities: &Identities, folder: &std::path::Path, file: &str) -> Result<Value> {
    let plain = decrypt_file(identities, &folder.join(file))?;
    serde_json::from_slice(&plain).map_err(|_| anyhow::anyhow!("{file} does not hold an object"))
}
