//! The fact `inventory`: what it holds (see the module doc of `inventory`), how a later step
//! reads it, and how a store's URL is read from its secret at the moment of use.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::infra::kube::{KubeCluster, WorkloadKind};
use crate::runbook::{StepId, ids};
use crate::steps::StepContext;

/// The id of the step and the key of its fact.
pub const STEP: StepId = ids::INVENTORY;
pub const FACT: &str = "inventory";
/// The version of the fact's shape; a later change of shape gets a new number.
pub const SCHEMA: u32 = 1;

/// The workloads the 3scale operator creates (`deployments_lister.go`); `system-sphinx` is
/// the search component's name up to 2.13.
pub const THREESCALE_WORKLOADS: &[&str] = &[
    "apicast-production",
    "apicast-staging",
    "backend-listener",
    "backend-worker",
    "backend-cron",
    "backend-redis",
    "system-app",
    "system-sidekiq",
    "system-searchd",
    "system-sphinx",
    "system-memcache",
    "system-mysql",
    "system-postgresql",
    "system-redis",
    "zync",
    "zync-que",
    "zync-database",
];

/// The secrets and keys that say where each data store is (the operator's secrets).
pub const STORE_KEYS: &[(&str, &str)] = &[
    ("system-database", "URL"),
    ("backend-redis", "REDIS_STORAGE_URL"),
    ("backend-redis", "REDIS_QUEUES_URL"),
    ("system-redis", "URL"),
    ("zync", "DATABASE_URL"),
];

/// The recorded inventory (the fact's shape, see the module's documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub schema: u32,
    /// The source namespace it was taken in.
    pub namespace: String,
    pub versions: Versions,
    /// The kind the 3scale workloads of the source use; None when there are none.
    pub workload_kind: Option<WorkloadKind>,
    pub workloads: Vec<Workload>,
    pub stores: Vec<StoreLocation>,
    pub permissions: Permissions,
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versions {
    pub source: Option<VersionFound>,
    pub destination: Option<VersionFound>,
    pub migration_cluster: Option<VersionFound>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionFound {
    /// `2.14`, `2.16`...
    pub version: String,
    /// Where it was read: the APIManager's annotation or the operator's CSV.
    pub read_from: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    pub name: String,
    pub kind: WorkloadKind,
    /// Desired replicas when the inventory was taken.
    pub replicas: i32,
    /// Whether it is one of 3scale's workloads ([`THREESCALE_WORKLOADS`]).
    pub known: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Location {
    /// A service of the source namespace (`system-postgresql`, `backend-redis:6379`).
    Internal,
    /// Any other host.
    External,
    /// The value is not a URL the inventory can read.
    Unknown,
}

impl Location {
    pub fn as_str(self) -> &'static str {
        match self {
            Location::Internal => "internal",
            Location::External => "external",
            Location::Unknown => "unknown",
        }
    }
}

/// Where one store is, without credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreLocation {
    pub secret: String,
    pub key: String,
    pub location: Location,
    pub scheme: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub database: Option<String>,
    /// The workload of the namespace behind an internal store, when there is one.
    pub workload: Option<String>,
    /// The store is reached through Redis Sentinel: `host` is then the first sentinel
    /// or the master group's name, not the Redis server itself.
    #[serde(default)]
    pub sentinel: bool,
}

impl StoreLocation {
    /// `internal postgresql system-postgresql:5432/system`, for logs and figures.
    pub fn describe(&self) -> String {
        let mut s = self.location.as_str().to_string();
        if let Some(scheme) = &self.scheme {
            s.push(' ');
            s.push_str(scheme);
        }
        if let Some(host) = &self.host {
            s.push(' ');
            s.push_str(host);
            if let Some(port) = self.port {
                s.push_str(&format!(":{port}"));
            }
        }
        if let Some(db) = &self.database {
            s.push('/');
            s.push_str(db);
        }
        s
    }
}

/// The permission table of `check-cluster-access` (or, without it, the inventory's
/// own needs asked again): how many were checked, and the denied ones.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    pub checked: usize,
    /// `source: get secrets in namespace 3scale`.
    pub denied: Vec<String>,
}

impl Inventory {
    pub fn workload(&self, name: &str) -> Option<&Workload> {
        self.workloads.iter().find(|w| w.name == name)
    }

    /// Where the store of `secret`/`key` is, when its secret had it.
    pub fn store(&self, secret: &str, key: &str) -> Option<&StoreLocation> {
        self.stores
            .iter()
            .find(|s| s.secret == secret && s.key == key)
    }

    /// The 3scale workloads found, in the order of [`THREESCALE_WORKLOADS`].
    pub fn known_workloads(&self) -> impl Iterator<Item = &Workload> {
        THREESCALE_WORKLOADS
            .iter()
            .filter_map(|name| self.workload(name))
    }

    /// What a resume re-check compares: the versions and each workload's kind.
    pub(super) fn shape(&self) -> (Vec<Option<&str>>, BTreeMap<&str, WorkloadKind>) {
        let v = &self.versions;
        let versions = [&v.source, &v.destination, &v.migration_cluster]
            .iter()
            .map(|f| f.as_ref().map(|f| f.version.as_str()))
            .collect();
        let kinds = self
            .workloads
            .iter()
            .map(|w| (w.name.as_str(), w.kind))
            .collect();
        (versions, kinds)
    }
}

/// The inventory an earlier attempt of the `inventory` step recorded, if any.
pub fn recorded(ctx: &StepContext) -> Option<Inventory> {
    let value = ctx.fact(STEP, FACT)?;
    serde_json::from_value(value.clone()).ok()
}

/// The URL of a data store, read from `key` of the secret `secret` in the cluster's
/// namespace at the moment of use. It holds credentials: never log, record or show it
/// (show [`crate::infra::url::redact`]ed text instead). Errors name the secret and key, never the value.
pub async fn store_url(kube: &KubeCluster, secret: &str, key: &str) -> Result<String> {
    let role = kube.name();
    let ns = kube.namespace();
    let found = kube.get_secret(None, secret).await.with_context(|| {
        format!(
            "cannot read secret {secret} in namespace {ns} of the {role} cluster; reading it \
             needs `get secrets` there (`kubectl --context {} auth can-i get secrets -n {ns}`)",
            kube.context()
        )
    })?;
    let Some(found) = found else {
        anyhow::bail!(
            "secret {secret} does not exist in namespace {ns} of the {role} cluster; the store \
             of {secret}/{key} must be configured some other way"
        );
    };
    match value_of(&found, key) {
        Ok(url) => Ok(url),
        Err(why) => anyhow::bail!("secret {secret} in namespace {ns} of the {role} cluster: {why}"),
    }
}

/// The trimmed UTF-8 text of `key`, or why there is none (never the value itself).
pub(super) fn value_of(
    secret: &k8s_openapi::api::core::v1::Secret,
    key: &str,
) -> Result<String, String> {
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .ok_or_else(|| format!("has no key {key}"))?;
    let text = std::str::from_utf8(&bytes.0).map_err(|_| format!("key {key} is not UTF-8 text"))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("key {key} is empty"));
    }
    Ok(text.to_string())
}
