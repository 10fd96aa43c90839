//! A kept sandbox's folder and its manifest, `sandbox.json`: what a restart needs (the
//! options, every server's port, the databases' names and the server they are on), in a format
//! with a version, so a folder of another version is refused instead of guessed at.
//!
//! The folder:
//!
//! | path | what |
//! |---|---|
//! | `sandbox.json` | this manifest |
//! | `clusters/<name>.json` | each simulated cluster's objects, saved after every change |
//! | `redis/<role>/` | each Redis server's data: its append-only file, the RDB file the dump step reads |
//! | `postgres/` | a PostgreSQL cluster of its own, when none answered at the admin URL |
//! | `kubeconfig`, `age-identity.txt` | the contexts of the three clusters; the age key of the secrets dump |
//!
//! A registry sandbox (`runbook` `velero-registry`, see `registry`) keeps `clusters/a.json` and
//! `clusters/b.json`, each cluster's object storage in `s3/<a|b>/`, the Keycloaks' realms in
//! `keycloak/<a|b>.json`, the keys its config names in `secrets/` and the kubeconfig.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::options::{SandboxOptions, SourceDatabase};
use crate::sim::seed::Sizes;

pub const MANIFEST_FILE: &str = "sandbox.json";
/// The manifest's format; another one is refused.
pub const FORMAT: u32 = 2;

/// The simulated clusters, by their kubeconfig context.
pub const CLUSTERS: [&str; 3] = ["source", "migration", "destination"];

/// The Redis servers: role, what it stands for, and the RDB file the dump step reads from it.
pub const REDIS: [(&str, &str, Option<&str>); 5] = [
    (
        "source-backend",
        "the source's backend Redis",
        Some("dump.rdb"),
    ),
    (
        "source-system",
        "the source's system Redis",
        Some("dump.rdb"),
    ),
    (
        "destination-backend",
        "the destination's backend Redis",
        None,
    ),
    ("destination-system", "the destination's system Redis", None),
    (
        "migration",
        "the migration cluster's empty Redis (backend and system)",
        None,
    ),
];

/// The databases: role (also the prefix of the database's name) and what it stands for.
pub const DATABASES: [(&str, &str); 5] = [
    ("sandbox_source_system", "the source's system database"),
    ("sandbox_source_zync", "the source's zync database"),
    (
        "sandbox_migration_system",
        "the migration cluster's system database",
    ),
    ("sandbox_rhoam_system", "the destination's system database"),
    ("sandbox_rhoam_zync", "the destination's zync database"),
];

pub fn cluster_file(dir: &Path, name: &str) -> PathBuf {
    dir.join("clusters").join(format!("{name}.json"))
}

pub fn redis_dir(dir: &Path, role: &str) -> PathBuf {
    dir.join("redis").join(role)
}

pub fn postgres_dir(dir: &Path) -> PathBuf {
    dir.join("postgres")
}

pub fn mariadb_dir(dir: &Path) -> PathBuf {
    dir.join("mariadb")
}

/// The PostgreSQL schema a MySQL source's conversion loads (see `config`).
pub const PORTA_SCHEMA_FILE: &str = "porta-postgres-schema.sql";

/// The `postgres` role passwords of a registry sandbox's instances on B (`sim::postgres_pod`).
pub const POSTGRES_ROLES_FILE: &str = "postgres-roles.json";

/// What the folder holds besides the manifest, removed with the sandbox's state.
pub const STATE: [&str; 10] = [
    "clusters",
    "redis",
    "postgres",
    "mariadb",
    "kubeconfig",
    PORTA_SCHEMA_FILE,
    "s3",
    "keycloak",
    "secrets",
    POSTGRES_ROLES_FILE,
];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Servers started, not yet seeded: a start that was cut short.
    #[default]
    Starting,
    /// Seeded and wired: it can start again from its folder.
    Ready,
    /// Its state was removed (the rehearsal finished, or another replaced it).
    Removed,
}

/// Why and when a sandbox's state was removed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Removal {
    pub why: String,
    pub at: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub state: State,
    #[serde(default)]
    pub created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<Removal>,
    #[serde(default)]
    pub options: SavedOptions,
    /// Context name → port.
    #[serde(default)]
    pub clusters: BTreeMap<String, u16>,
    /// Role → port.
    #[serde(default)]
    pub redis: BTreeMap<String, u16>,
    #[serde(default)]
    pub postgres: SavedPostgres,
    /// Role → database name.
    #[serde(default)]
    pub databases: BTreeMap<String, String>,
    /// A MySQL source's server and database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mariadb: Option<SavedMariadb>,
    /// The port of the simulated 3scale API of the destination; a sandbox saved before it
    /// existed has none and takes a new one (the rehearsal's config is rewritten on resume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threescale_api: Option<u16>,
    /// The runbook the sandbox is for; none: `threescale-rhoam` (a sandbox saved before
    /// registry rehearsals existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
    /// A registry sandbox's registry and the ports of its servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<SavedRegistry>,
}

/// A registry sandbox's registry, and where its object storages and Keycloak listen.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SavedRegistry {
    pub name: String,
    pub version: String,
    /// Cluster (`a`, `b`) → its object storage's port.
    #[serde(default)]
    pub object_storage: BTreeMap<String, u16>,
    /// Cluster B's Keycloak's port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keycloak: Option<u16>,
    /// The data of each file-system-backed volume on A (None: the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_bytes: Option<usize>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SavedMariadb {
    pub admin_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_server_port: Option<u16>,
    pub database: String,
}

/// [`SandboxOptions`] as the manifest keeps them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SavedOptions {
    pub sizes: Option<Sizes>,
    pub pod_start_delay_ms: u64,
    pub pod_stop_delay_ms: u64,
    pub jobs_per_second: f64,
    /// `mysql` or `postgresql`; a sandbox saved before sources could be MySQL has none, and
    /// ran PostgreSQL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_database: Option<String>,
}

impl SavedOptions {
    pub fn of(options: &SandboxOptions) -> SavedOptions {
        SavedOptions {
            sizes: Some(options.sizes.clone()),
            pod_start_delay_ms: millis(options.pod_start_delay),
            pod_stop_delay_ms: millis(options.pod_stop_delay),
            jobs_per_second: options.jobs_per_second,
            source_database: Some(options.source_database.kind().to_string()),
        }
    }

    /// The options a restart runs with; the admin URLs come from [`SavedPostgres`] and
    /// [`SavedMariadb`].
    pub fn options(
        &self,
        postgres: &SavedPostgres,
        mariadb: Option<&SavedMariadb>,
    ) -> SandboxOptions {
        let defaults = SandboxOptions::default();
        SandboxOptions {
            sizes: self.sizes.clone().unwrap_or_default(),
            pod_start_delay: Duration::from_millis(self.pod_start_delay_ms),
            pod_stop_delay: Duration::from_millis(self.pod_stop_delay_ms),
            jobs_per_second: self.jobs_per_second,
            postgres_admin_url: postgres.admin_url.clone(),
            source_database: self
                .source_database
                .as_deref()
                .and_then(SourceDatabase::parse)
                .unwrap_or(SourceDatabase::Postgresql),
            mariadb_admin_url: mariadb
                .map(|m| m.admin_url.clone())
                .unwrap_or(defaults.mariadb_admin_url),
            registry_volume_bytes: defaults.registry_volume_bytes,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Where the databases are: the server at `admin_url` (no password in it: a local server
/// trusting loopback), or a cluster of the sandbox's own in `postgres/` on `kept_cluster_port`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SavedPostgres {
    pub admin_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_cluster_port: Option<u16>,
}

impl Manifest {
    /// Every port the sandbox listens on, with what listens there.
    pub fn ports(&self) -> Vec<(u16, String)> {
        let mut ports = Vec::new();
        for (role, what, _) in REDIS {
            if let Some(port) = self.redis.get(role) {
                ports.push((*port, what.to_string()));
            }
        }
        for (name, port) in &self.clusters {
            ports.push((*port, format!("the simulated {name} cluster")));
        }
        if let Some(port) = self.postgres.kept_cluster_port {
            ports.push((port, "the sandbox's PostgreSQL".to_string()));
        }
        if let Some(port) = self.mariadb.as_ref().and_then(|m| m.kept_server_port) {
            ports.push((port, "the sandbox's MariaDB".to_string()));
        }
        if let Some(r) = &self.registry {
            for (name, port) in &r.object_storage {
                ports.push((*port, format!("the object storage of cluster {name}")));
            }
            if let Some(port) = r.keycloak {
                ports.push((port, "cluster B's Keycloak".to_string()));
            }
        }
        ports
    }
}

/// The manifest in `dir`; errors say what is wrong, in words for the operator.
pub fn read(dir: &Path) -> anyhow::Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    if !dir.is_dir() {
        anyhow::bail!("its sandbox folder {} is gone", dir.display());
    }
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "its sandbox folder {} has no {MANIFEST_FILE} (a sandbox of an older cutover, which \
             kept nothing)",
            dir.display()
        ),
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    };
    let value: Value =
        serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let format = value.get("format").and_then(Value::as_u64);
    if format != Some(u64::from(FORMAT)) {
        let found = format.map_or_else(|| "none".to_string(), |f| f.to_string());
        anyhow::bail!(
            "{} is of format {found}, made by another version of cutover; this one reads format \
             {FORMAT}",
            path.display()
        );
    }
    serde_json::from_value(value).with_context(|| format!("{} is not readable", path.display()))
}

/// The runbook of the sandbox in `dir`, as its manifest says (none: `threescale-rhoam`); None
/// when the manifest cannot be read.
pub fn runbook(dir: &Path) -> Option<String> {
    let text = std::fs::read(dir.join(MANIFEST_FILE)).ok()?;
    let value: Value = serde_json::from_slice(&text).ok()?;
    Some(
        value
            .get("runbook")
            .and_then(Value::as_str)
            .unwrap_or(THREESCALE_RUNBOOK)
            .to_string(),
    )
}

/// The runbook of a sandbox whose manifest names none.
pub const THREESCALE_RUNBOOK: &str = "threescale-rhoam";
/// The runbook of a registry sandbox.
pub const REGISTRY_RUNBOOK: &str = "velero-registry";

/// The manifest's removal, when the sandbox in `dir` was removed by cutover.
pub fn removal(dir: &Path) -> Option<Removal> {
    let text = std::fs::read(dir.join(MANIFEST_FILE)).ok()?;
    let value: Value = serde_json::from_slice(&text).ok()?;
    if value.get("state").and_then(Value::as_str) != Some("removed") {
        return None;
    }
    let removal = value
        .get("removed")
        .and_then(|r| serde_json::from_value(r.clone()).ok());
    Some(removal.unwrap_or_default())
}

/// Writes `manifest` into `dir` (whole or not at all).
pub fn write(dir: &Path, manifest: &Manifest) -> anyhow::Result<()> {
    let mut text = serde_json::to_vec_pretty(manifest).context("cannot encode the manifest")?;
    text.push(b'\n');
    crate::infra::artifacts::write_whole(&dir.join(MANIFEST_FILE), &text)
}

/// Now, as the manifest writes times.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
