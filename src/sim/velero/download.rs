//! Velero 1.9.2's DownloadRequest controller: a new request for a backup's or a restore's file
//! gets `status.downloadURL`, a presigned GET of the file in the backup's location, phase
//! `Processed` and an `expiration` ten minutes on (`persistence.DownloadURLTTL`); an expired
//! request is deleted. A target that cannot be found leaves the request unprocessed (only its
//! expiration set), and it is tried again.

use std::time::Duration;

use serde_json::{Value, json};

use super::super::catalog;
use super::super::state::Inner;
use super::super::store::meta_str;
use super::location::Location;
use super::store::BackupStore;

pub const URL_TTL: Duration = Duration::from_secs(600);

/// A request to answer: where its file is.
pub struct Pending {
    pub namespace: String,
    pub name: String,
    pub location: Location,
    pub key: String,
}

fn expiration() -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(URL_TTL.as_secs() as i64))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Deletes expired requests and finds the files of new ones (under the state lock).
pub fn pending(inner: &mut Inner) -> Vec<Pending> {
    let Some(rt) = catalog::find_kind(&[], "velero.io/v1", "DownloadRequest") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for dr in inner.store.list(rt, None) {
        let ns = meta_str(&dr, "namespace").unwrap_or("").to_string();
        let name = meta_str(&dr, "name").unwrap_or("").to_string();
        let expired = dr["status"]["expiration"]
            .as_str()
            .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
            .is_some_and(|e| e < chrono::Utc::now());
        if expired {
            inner.store.remove(rt, &ns, &name);
            continue;
        }
        match dr["status"]["phase"].as_str() {
            None | Some("") | Some("New") => {}
            _ => continue,
        }
        if dr["status"]["expiration"].as_str().is_none() {
            let mut next = dr.clone();
            next["status"]["expiration"] = json!(expiration());
            let _ = inner.store.replace(rt, &ns, &name, next, None);
        }
        if let Some((location, key)) = target(inner, &ns, &dr) {
            out.push(Pending {
                namespace: ns,
                name,
                location,
                key,
            });
        }
    }
    out
}

fn target(inner: &Inner, ns: &str, dr: &Value) -> Option<(Location, String)> {
    let kind = dr["spec"]["target"]["kind"].as_str()?;
    let name = dr["spec"]["target"]["name"].as_str()?;
    let mut backup_name = name.to_string();
    if matches!(kind, "RestoreLog" | "RestoreResults") {
        let restore = inner.store.get(
            catalog::find_kind(&[], "velero.io/v1", "Restore")?,
            ns,
            name,
        )?;
        backup_name = restore["spec"]["backupName"].as_str()?.to_string();
    }
    let backup = inner.store.get(
        catalog::find_kind(&[], "velero.io/v1", "Backup")?,
        ns,
        &backup_name,
    )?;
    let bsl_name = backup["spec"]["storageLocation"].as_str()?;
    let bsl = inner.store.get(
        catalog::find_kind(&[], "velero.io/v1", "BackupStorageLocation")?,
        ns,
        bsl_name,
    )?;
    let location = Location::read(inner, bsl).ok()?;
    let layout = super::layout::Layout::new(&location.prefix);
    let key = layout.download_key(kind, name)?;
    Some((location, key))
}

/// The presigned URL (outside the lock; no I/O, but the client is built here).
pub fn sign(p: &Pending) -> Option<String> {
    Some(
        BackupStore::open(&p.location)
            .ok()?
            .signed_url(&p.key, URL_TTL),
    )
}

/// Marks a request Processed with its URL (under the lock).
pub fn processed(inner: &mut Inner, p: &Pending, url: String) {
    let Some(rt) = catalog::find_kind(&[], "velero.io/v1", "DownloadRequest") else {
        return;
    };
    let Some(mut dr) = inner.store.get(rt, &p.namespace, &p.name).cloned() else {
        return;
    };
    dr["status"]["phase"] = json!("Processed");
    dr["status"]["downloadURL"] = json!(url);
    dr["status"]["expiration"] = json!(expiration());
    let _ = inner.store.replace(rt, &p.namespace, &p.name, dr, None);
}
