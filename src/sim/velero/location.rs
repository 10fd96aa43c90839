//! A BackupStorageLocation as Velero's AWS object store plugin reads it: bucket and prefix
//! from `spec.objectStorage`, the endpoint from `spec.config` (`s3Url`, `region`,
//! `s3ForcePathStyle`), the credentials from the secret `spec.credential` names, else from
//! Velero's `cloud-credentials` secret (key `cloud`), in the AWS credentials-file format.

use serde_json::Value;

use super::super::catalog;
use super::super::state::Inner;
use super::super::store::meta_str;

/// What the sim's object store client needs of one location, read under the state lock.
#[derive(Clone, Debug, PartialEq)]
pub struct Location {
    pub namespace: String,
    pub name: String,
    pub bucket: String,
    pub prefix: String,
    pub url: String,
    pub region: String,
    /// Err: why the plugin cannot start (Velero's words); the location is Unavailable.
    pub credentials: Result<(String, String), String>,
    pub read_only: bool,
}

impl Location {
    /// Reads `bsl` and its credentials from the cluster. Err: why Velero cannot get a backup
    /// store for it (`persistence.NewObjectBackupStoreGetter().Get`).
    pub fn read(inner: &Inner, bsl: &Value) -> Result<Location, String> {
        let namespace = meta_str(bsl, "namespace").unwrap_or("").to_string();
        let name = meta_str(bsl, "name").unwrap_or("").to_string();
        let spec = &bsl["spec"];
        let Some(storage) = spec.get("objectStorage").filter(|o| o.is_object()) else {
            return Err("backup storage location does not use object storage".into());
        };
        let provider = spec["provider"].as_str().unwrap_or("");
        if provider.is_empty() {
            return Err("object storage provider name must not be empty".into());
        }
        if !matches!(provider, "aws" | "velero.io/aws") {
            return Err(format!(
                "unable to locate ObjectStore plugin named velero.io/{}",
                provider.trim_start_matches("velero.io/")
            ));
        }
        let raw_bucket = storage["bucket"].as_str().unwrap_or("");
        let bucket = raw_bucket.trim_matches('/').to_string();
        if bucket.contains('/') {
            return Err(format!(
                "backup storage location's bucket name \"{raw_bucket}\" must not contain a '/' \
                 (if using a prefix, put it in the 'Prefix' field instead)"
            ));
        }
        let prefix = storage["prefix"]
            .as_str()
            .unwrap_or("")
            .trim_matches('/')
            .to_string();
        let config = &spec["config"];
        let region = config["region"].as_str().unwrap_or("").to_string();
        let url = config["s3Url"].as_str().unwrap_or("").to_string();
        if region.is_empty() && url.is_empty() {
            // The AWS plugin asks the bucket's region from AWS itself, which no test reaches.
            return Err(
                "rpc error: code = Unknown desc = unable to determine bucket's region: \
                 no s3Url configured for this location"
                    .into(),
            );
        }
        let credentials = match spec.pointer("/credential/name").and_then(Value::as_str) {
            Some(secret) => {
                let key = spec
                    .pointer("/credential/key")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                secret_key(inner, &namespace, secret, key)
                    .map_err(|e| format!("unable to get credentials: {e}"))
            }
            None => secret_key(inner, &namespace, "cloud-credentials", "cloud"),
        }
        .and_then(|file| aws_credentials(&file));
        Ok(Location {
            namespace,
            name,
            bucket,
            prefix,
            url,
            region: if region.is_empty() {
                "us-east-1".into()
            } else {
                region
            },
            credentials,
            read_only: spec["accessMode"].as_str() == Some("ReadOnly"),
        })
    }
}

fn secret_key(inner: &Inner, ns: &str, name: &str, key: &str) -> Result<String, String> {
    let rt = catalog::find_kind(&[], "v1", "Secret").ok_or("no Secret kind")?;
    let secret = inner
        .store
        .get(rt, ns, name)
        .ok_or_else(|| format!("secrets \"{name}\" not found"))?;
    let encoded = secret
        .get("data")
        .and_then(|d| d.get(key))
        .and_then(Value::as_str)
        .ok_or_else(|| format!("\"{key}\" secret key not found"))?;
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| format!("secret {name} key {key} is not base64: {e}"))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The `[default]` profile's keys of an AWS shared credentials file.
fn aws_credentials(file: &str) -> Result<(String, String), String> {
    let mut in_default = false;
    let (mut id, mut secret) = (None, None);
    for line in file.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_default = line == "[default]";
            continue;
        }
        if !in_default {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "aws_access_key_id" => id = Some(v.trim().to_string()),
                "aws_secret_access_key" => secret = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    match (id, secret) {
        (Some(id), Some(secret)) => Ok((id, secret)),
        _ => Err(
            "rpc error: code = Unknown desc = NoCredentialProviders: no valid providers in chain. \
             Deprecated.\n\tFor verbose messaging see aws.Config.CredentialsChainVerboseErrors"
                .into(),
        ),
    }
}

/// A Go duration (`1m0s`, `30s`, `1h`, `500ms`) as metav1.Duration serializes one; None when it
/// is not one (a negative one included).
pub use crate::infra::velero::parse_go_duration as go_duration;
