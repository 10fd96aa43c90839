//! A storage location's backup store (`persistence.objectBackupStore` over the AWS plugin):
//! the real S3 server at the location's `s3Url`, signed with the location's credentials.
//! Errors are worded as the AWS SDK's through Velero's plugin boundary
//! (`rpc error: code = Unknown desc = NoSuchBucket: ...`), since Velero shows them so.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::infra::s3::{S3Client, S3Endpoint, S3Error};

use super::layout::{Layout, SUBDIRS};
use super::location::Location;

pub struct BackupStore {
    client: Arc<S3Client>,
    pub layout: Layout,
}

/// An S3 error as the AWS SDK for Go words it, behind Velero's plugin (gRPC) boundary.
fn aws(e: &S3Error) -> String {
    let sdk = match e {
        S3Error::NoSuchBucket { .. } => {
            "NoSuchBucket: The specified bucket does not exist\n\tstatus code: 404".to_string()
        }
        S3Error::NoSuchKey { .. } => {
            "NoSuchKey: The specified key does not exist.\n\tstatus code: 404".to_string()
        }
        S3Error::Refused(r) => format!("{}: {}\n\tstatus code: 403", r.code, r.message),
        S3Error::Service(e) => format!("{}: {}\n\tstatus code: {}", e.code, e.message, e.status),
        S3Error::Unreachable { authority, detail } => {
            format!("RequestError: send request failed\ncaused by: dial tcp {authority}: {detail}")
        }
        other => other.to_string(),
    };
    format!("rpc error: code = Unknown desc = {sdk}")
}

/// One client per endpoint, key and bucket for the process: a client loads the system's CA
/// store when it is made, which a pass every few hundred milliseconds should not repeat.
fn client(endpoint: &S3Endpoint, bucket: &str) -> Result<Arc<S3Client>, S3Error> {
    static CLIENTS: OnceLock<Mutex<HashMap<String, Arc<S3Client>>>> = OnceLock::new();
    let id = Sha256::digest(
        format!(
            "{}\n{}\n{}\n{}\n{bucket}",
            endpoint.url, endpoint.region, endpoint.access_key, endpoint.secret_key
        )
        .as_bytes(),
    );
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let clients = CLIENTS.get_or_init(Default::default);
    if let Some(c) = clients.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return Ok(c.clone());
    }
    let c = Arc::new(S3Client::new(endpoint, bucket)?);
    clients
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, c.clone());
    Ok(c)
}

impl BackupStore {
    /// The store of a location. Err: why the plugin cannot start (bad credentials file...).
    pub fn open(location: &Location) -> Result<BackupStore, String> {
        let (access_key, secret_key) = location.credentials.clone()?;
        let endpoint = S3Endpoint {
            url: location.url.clone(),
            region: location.region.clone(),
            access_key,
            secret_key,
            ca_file: None,
        };
        let client = client(&endpoint, &location.bucket).map_err(|e| aws(&e))?;
        Ok(BackupStore {
            client,
            layout: Layout::new(&location.prefix),
        })
    }

    /// The first path segments under `prefix` (`ListCommonPrefixes` with `/`).
    async fn common_prefixes(&self, prefix: &str) -> Result<Vec<String>, String> {
        let objects = self.client.list(prefix).await.map_err(|e| aws(&e))?;
        let mut out: Vec<String> = Vec::new();
        for o in objects {
            let Some(rest) = o.key.strip_prefix(prefix) else {
                continue;
            };
            if let Some((dir, _)) = rest.split_once('/')
                && out.last().is_none_or(|l| l != dir)
                && !out.iter().any(|d| d == dir)
            {
                out.push(dir.to_string());
            }
        }
        Ok(out)
    }

    /// `IsValid`: the bucket answers and holds no foreign top-level folder under the prefix.
    pub async fn is_valid(&self) -> Result<(), String> {
        let dirs = self.common_prefixes(self.layout.root()).await?;
        let invalid: Vec<String> = dirs
            .into_iter()
            .filter(|d| !SUBDIRS.contains(&d.as_str()))
            .collect();
        match invalid.len() {
            0 => Ok(()),
            n if n > 3 => Err(format!(
                "Backup store contains {n} invalid top-level directories: [{} ...]",
                invalid[..3].join(" ")
            )),
            _ => Err(format!(
                "Backup store contains invalid top-level directories: [{}]",
                invalid.join(" ")
            )),
        }
    }

    /// `ListBackups`: the folders under `backups/`.
    pub async fn list_backups(&self) -> Result<Vec<String>, String> {
        self.common_prefixes(&self.layout.subdir("backups")).await
    }

    /// An object, None when there is none (`tryGet`).
    pub async fn try_get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        match self.client.get(key).await {
            Ok(found) => Ok(found.map(|b| b.to_vec())),
            Err(S3Error::NoSuchKey { .. }) => Ok(None),
            Err(e) => Err(aws(&e)),
        }
    }

    /// An object that must be there (`GetObject`).
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, String> {
        self.try_get(key).await?.ok_or_else(|| {
            "rpc error: code = Unknown desc = NoSuchKey: The specified key does not exist.\n\t\
             status code: 404"
                .to_string()
        })
    }

    pub async fn exists(&self, key: &str) -> Result<bool, String> {
        Ok(self.try_get(key).await?.is_some())
    }

    pub async fn put(&self, key: &str, data: Vec<u8>) -> Result<(), String> {
        self.client
            .put(key, data.into(), &[])
            .await
            .map(|_| ())
            .map_err(|e| aws(&e))
    }

    /// `CreateSignedURL` for a GET, valid for `ttl`.
    pub fn signed_url(&self, key: &str, ttl: Duration) -> String {
        self.client.presign_get(key, ttl)
    }
}
