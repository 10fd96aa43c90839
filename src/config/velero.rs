//! The `[velero]` table of a `velero-registry` migration: the registry (its name is its
//! namespace on both clusters), the namespaces of Velero, the Platform and Keycloak, the backup's
//! TTL, each cluster's object storage (`[velero.storage.source]`, `[velero.storage.destination]`)
//! and cluster B's Keycloak admin API (`[velero.keycloak]`). Keys and passwords are references
//! (`env:`/`file:`), read when a step needs them and never printed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::refs::{
    SecretRef, format_duration, is_dns_label, parse_duration, resolve_path, secret_reference,
};
use crate::error::bad_input;
use crate::runbook::ClusterRole;

/// The Platform's region for MinIO (backup-registry.sh's rclone config).
const DEFAULT_REGION: &str = "eu-central-1";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVelero {
    registry: Option<String>,
    namespace: Option<String>,
    backup_ttl: Option<String>,
    edp_namespace: Option<String>,
    keycloak_namespace: Option<String>,
    destination_egress_ip: Option<String>,
    storage: Option<RawStorages>,
    keycloak: Option<RawKeycloak>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorages {
    source: Option<RawStorage>,
    destination: Option<RawStorage>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    endpoint: Option<String>,
    region: Option<String>,
    bucket: Option<String>,
    access_key: Option<String>,
    secret_key: Option<String>,
    ca_file: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeycloak {
    url: Option<String>,
    admin_user: Option<String>,
    admin_password: Option<String>,
    ca_file: Option<String>,
}

/// A loaded `[velero]` table.
#[derive(Debug, Clone)]
pub struct Velero {
    /// The registry's name: its namespace on both clusters, its Codebase, its Velero location.
    pub registry: String,
    /// Velero's namespace on both clusters.
    pub namespace: String,
    /// How long Velero keeps the backup.
    pub backup_ttl: Duration,
    /// The Platform's namespace (Codebases, GerritProjects, the central components).
    pub edp_namespace: String,
    /// Keycloak's namespace.
    pub keycloak_namespace: String,
    /// Cluster B's egress (NAT) address, which `registry-post-fixes` adds with /32 to the
    /// registry's Nexus route whitelist. Not an object of the Kubernetes API (it is the cloud
    /// NAT's address), hence a key; without it that fix is left by hand.
    pub destination_egress_ip: Option<std::net::Ipv4Addr>,
    pub source_storage: ObjectStorage,
    pub destination_storage: ObjectStorage,
    pub keycloak: KeycloakAdmin,
}

/// One cluster's object storage (the Platform's MinIO) and the registry's bucket in it.
#[derive(Debug, Clone)]
pub struct ObjectStorage {
    /// The config table, `velero.storage.source`, for messages.
    pub key: String,
    /// `http(s)://host[:port]`.
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub access_key: SecretRef,
    pub secret_key: SecretRef,
    /// A CA (PEM) to trust besides the system's, for a MinIO certificate of a private CA.
    pub ca_file: Option<PathBuf>,
}

/// Cluster B's Keycloak admin API and the admin's credentials.
#[derive(Debug, Clone)]
pub struct KeycloakAdmin {
    /// `https://keycloak.apps.b.example` (the route of `keycloak` in user-management).
    pub url: String,
    pub admin_user: SecretRef,
    pub admin_password: SecretRef,
    pub ca_file: Option<PathBuf>,
}

impl Velero {
    /// The object storage of cluster `role` (A: source, B: destination).
    pub fn storage(&self, role: ClusterRole) -> Option<&ObjectStorage> {
        match role {
            ClusterRole::Source => Some(&self.source_storage),
            ClusterRole::Destination => Some(&self.destination_storage),
            ClusterRole::MigrationCluster => None,
        }
    }

    /// Every secret reference of the table with its key, so that a run reads them all before
    /// anything starts.
    pub fn secret_refs(&self) -> Vec<(String, &SecretRef)> {
        let mut refs = Vec::new();
        for s in [&self.source_storage, &self.destination_storage] {
            refs.push((format!("{}.access_key", s.key), &s.access_key));
            refs.push((format!("{}.secret_key", s.key), &s.secret_key));
        }
        refs.push((
            "velero.keycloak.admin_user".into(),
            &self.keycloak.admin_user,
        ));
        refs.push((
            "velero.keycloak.admin_password".into(),
            &self.keycloak.admin_password,
        ));
        refs
    }

    /// The backup's TTL as Velero's `--ttl` reads it: `720h`.
    pub fn ttl_text(&self) -> String {
        format_duration(self.backup_ttl)
    }

    /// A placeholder of `{velero.<field>}` that comes from this table alone.
    pub(super) fn placeholder(&self, field: &str) -> Option<String> {
        Some(match field {
            "registry" => self.registry.clone(),
            "namespace" => self.namespace.clone(),
            "backup_ttl" => self.ttl_text(),
            "edp_namespace" => self.edp_namespace.clone(),
            "keycloak_namespace" => self.keycloak_namespace.clone(),
            "keycloak_url" => self.keycloak.url.clone(),
            "destination_egress_ip" => self
                .destination_egress_ip
                .map_or_else(|| "${B_EGRESS_IP}".to_string(), |ip| ip.to_string()),
            "source_endpoint" => self.source_storage.endpoint.clone(),
            "source_bucket" => self.source_storage.bucket.clone(),
            "source_region" => self.source_storage.region.clone(),
            "destination_endpoint" => self.destination_storage.endpoint.clone(),
            "destination_bucket" => self.destination_storage.bucket.clone(),
            "destination_region" => self.destination_storage.region.clone(),
            _ => return None,
        })
    }
}

/// The name of the registry's backup taken at `at`: `<registry>-YYYY-MM-DD-HH-MM-SS` in UTC, as
/// the Platform's Create-registry-backup job names it (`abc-02-2023-04-18-19-03-14`). The
/// backup step chooses it once and records it as a fact; every later step reads the fact.
pub fn backup_name(registry: &str, at: DateTime<Utc>) -> String {
    format!("{registry}-{}", at.format("%Y-%m-%d-%H-%M-%S"))
}

/// The longest registry name whose backup name stays a DNS label (Velero puts it in the label
/// `velero.io/backup-name`): 63 less the 20 characters of `-YYYY-MM-DD-HH-MM-SS`.
const MAX_REGISTRY: usize = 63 - 20;

pub(super) fn build_velero(v: RawVelero, base: &Path) -> Result<Velero> {
    let registry = v.registry.ok_or_else(|| {
        bad_input(
            "velero.registry is missing; write the registry's name (its namespace on both \
             clusters, e.g. `registry = \"abc-02\"`)",
        )
    })?;
    if !is_dns_label(&registry) || registry.len() > MAX_REGISTRY {
        return Err(bad_input(format!(
            "velero.registry: `{registry}` is not a registry name: lowercase letters, digits and \
             '-', starting and ending with a letter or digit, at most {MAX_REGISTRY} characters"
        )));
    }
    let namespace = |key: &str, value: Option<String>, default: &str| -> Result<String> {
        let ns = value.unwrap_or_else(|| default.to_string());
        if is_dns_label(&ns) {
            Ok(ns)
        } else {
            Err(bad_input(format!(
                "velero.{key}: `{ns}` is not a namespace name (lowercase letters, digits, '-')"
            )))
        }
    };
    let backup_ttl = match v.backup_ttl.as_deref() {
        None => Duration::from_secs(720 * 3600),
        Some(text) => match parse_duration(text) {
            Some(d) if !d.is_zero() => d,
            _ => {
                return Err(bad_input(format!(
                    "velero.backup_ttl: `{text}` is not a positive duration like 720h or 72h30m"
                )));
            }
        },
    };
    let storages = v.storage.ok_or_else(|| {
        bad_input(
            "[velero.storage.source] and [velero.storage.destination] are missing; give each \
             cluster's object storage: endpoint, access_key and secret_key",
        )
    })?;
    let storage = |role: &str, raw: Option<RawStorage>| -> Result<ObjectStorage> {
        let key = format!("velero.storage.{role}");
        let raw = raw.ok_or_else(|| {
            bad_input(format!(
                "[{key}] is missing; give cluster {}'s object storage: endpoint, access_key and \
                 secret_key",
                if role == "source" { "A" } else { "B" }
            ))
        })?;
        build_storage(&key, raw, &registry, base)
    };
    let source_storage = storage("source", storages.source)?;
    let destination_storage = storage("destination", storages.destination)?;
    let keycloak = build_keycloak(
        v.keycloak.ok_or_else(|| {
            bad_input(
                "[velero.keycloak] is missing; give cluster B's Keycloak: url, admin_user and \
                 admin_password",
            )
        })?,
        base,
    )?;
    let destination_egress_ip = v
        .destination_egress_ip
        .as_deref()
        .map(egress_ip)
        .transpose()?;
    Ok(Velero {
        destination_egress_ip,
        namespace: namespace("namespace", v.namespace, "velero")?,
        edp_namespace: namespace("edp_namespace", v.edp_namespace, "control-plane")?,
        keycloak_namespace: namespace(
            "keycloak_namespace",
            v.keycloak_namespace,
            "user-management",
        )?,
        registry,
        backup_ttl,
        source_storage,
        destination_storage,
        keycloak,
    })
}

/// `velero.destination_egress_ip`: one IPv4 address, bare or written with `/32`.
fn egress_ip(text: &str) -> Result<std::net::Ipv4Addr> {
    let bare = text.trim().strip_suffix("/32").unwrap_or(text.trim());
    bare.parse().map_err(|_| {
        bad_input(format!(
            "velero.destination_egress_ip: `{text}` is not an IPv4 address; give cluster B's              egress (NAT) address, e.g. `destination_egress_ip = \"203.0.113.7\"` (from a pod \
             on B: `curl -s https://ifconfig.me`)"
        ))
    })
}

fn required(key: &str, value: Option<String>, what: &str) -> Result<String> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(bad_input(format!("{key} is missing; {what}"))),
    }
}

/// An `http://` or `https://` URL with a host, without user info (credentials go by reference).
fn http_url(key: &str, text: &str) -> Result<String> {
    let parts = crate::infra::url::parts(text);
    let ok = parts.as_ref().is_some_and(|p| {
        matches!(p.scheme, "http" | "https") && !p.host.is_empty() && p.userinfo.is_none()
    });
    if !ok {
        return Err(bad_input(format!(
            "{key}: `{}` is not an http(s) URL such as https://minio.apps.example:9000 (credentials \
             go in their own keys, by reference)",
            crate::infra::url::redact(text)
        )));
    }
    Ok(text.trim_end_matches('/').to_string())
}

fn ca_file(key: &str, raw: Option<String>, base: &Path) -> Result<Option<PathBuf>> {
    let Some(raw) = raw else { return Ok(None) };
    let path = resolve_path(base, &raw);
    if !path.is_file() {
        return Err(bad_input(format!(
            "{key}: {} is not a readable file; give the PEM file of the CA that signed the \
             server's certificate",
            path.display()
        )));
    }
    Ok(Some(path))
}

fn build_storage(key: &str, raw: RawStorage, registry: &str, base: &Path) -> Result<ObjectStorage> {
    let endpoint = required(
        &format!("{key}.endpoint"),
        raw.endpoint,
        "give the object storage's URL, e.g. https://minio.apps.example:9000",
    )?;
    let endpoint = http_url(&format!("{key}.endpoint"), &endpoint)?;
    let bucket = raw.bucket.unwrap_or_else(|| format!("{registry}-backups"));
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !bucket.starts_with(['-', '.'])
        && !bucket.ends_with(['-', '.']);
    if !bucket_ok {
        return Err(bad_input(format!(
            "{key}.bucket: `{bucket}` is not a bucket name (3 to 63 lowercase letters, digits, \
             '-' and '.')"
        )));
    }
    let region = raw.region.unwrap_or_else(|| DEFAULT_REGION.to_string());
    if region.trim().is_empty() || region.chars().any(char::is_whitespace) {
        return Err(bad_input(format!(
            "{key}.region: `{region}` is not a region"
        )));
    }
    let reference = |field: &str, value: Option<String>| -> Result<SecretRef> {
        let k = format!("{key}.{field}");
        let v = required(&k, value, "give it as `env:NAME` or `file:PATH`")?;
        secret_reference(&k, &v, base)
    };
    Ok(ObjectStorage {
        key: key.to_string(),
        access_key: reference("access_key", raw.access_key)?,
        secret_key: reference("secret_key", raw.secret_key)?,
        ca_file: ca_file(&format!("{key}.ca_file"), raw.ca_file, base)?,
        endpoint,
        region,
        bucket,
    })
}

fn build_keycloak(raw: RawKeycloak, base: &Path) -> Result<KeycloakAdmin> {
    let key = "velero.keycloak";
    let url = required(
        &format!("{key}.url"),
        raw.url,
        "give cluster B's Keycloak URL (the route `keycloak` in user-management)",
    )?;
    let reference = |field: &str, value: Option<String>| -> Result<SecretRef> {
        let k = format!("{key}.{field}");
        let v = required(&k, value, "give it as `env:NAME` or `file:PATH`")?;
        secret_reference(&k, &v, base)
    };
    Ok(KeycloakAdmin {
        url: http_url(&format!("{key}.url"), &url)?,
        admin_user: reference("admin_user", raw.admin_user)?,
        admin_password: reference("admin_password", raw.admin_password)?,
        ca_file: ca_file(&format!("{key}.ca_file"), raw.ca_file, base)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backup_is_named_as_the_platform_names_it() {
        let at = chrono::DateTime::parse_from_rfc3339("2023-04-18T19:03:14Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(backup_name("abc-02", at), "abc-02-2023-04-18-19-03-14");
        let longest = "a".repeat(MAX_REGISTRY);
        assert_eq!(backup_name(&longest, at).len(), 63);
    }

    #[test]
    fn the_egress_address_is_one_ipv4_address() {
        assert_eq!(
            egress_ip("203.0.113.7/32").ok(),
            Some(std::net::Ipv4Addr::new(203, 0, 113, 7))
        );
        assert!(egress_ip("203.0.113.7").is_ok());
        for bad in ["203.0.113.0/24", "b.example", "", "2001:db8::1"] {
            let e = egress_ip(bad)
                .err()
                .map(|e| format!("{e:#}"))
                .unwrap_or_default();
            assert!(e.contains("velero.destination_egress_ip"), "{bad}: {e}");
        }
    }
}
