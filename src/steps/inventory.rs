//! The prerequisites' inventory: what the later steps act on, read from the clusters
//! (not from the operator) and recorded once in the journal.
//!
//! - the 3scale version at the source and the destination, and on the migration
//!   cluster once 3scale is installed there;
//! - the workloads of the source namespace: which of the 3scale workloads exist, as
//!   DeploymentConfigs (3scale 2.14 and earlier) or Deployments (2.15 and later), with
//!   their replicas, and any other workload found there;
//! - where each data store is, from the source's secrets (threescale.md §5): in the
//!   namespace (a service such as `system-postgresql`) or outside it, with its scheme,
//!   host, port and database. Never the user or the password: the URL is redacted
//!   before it is parsed, and the steps that need a store read it from its secret at
//!   the moment of use ([`store_url`]).
//!
//! The fact `inventory` of step `inventory` ([`Inventory`], schema 1):
//!
//! ```json
//! {
//!   "schema": 1,
//!   "namespace": "3scale",
//!   "versions": {
//!     "source": {"version": "2.14", "read_from": "APIManager 3scale, annotation ..."},
//!     "destination": {"version": "2.16", "read_from": "..."},
//!     "migration_cluster": null
//!   },
//!   "workload_kind": "DeploymentConfig",
//!   "workloads": [
//!     {"name": "apicast-production", "kind": "DeploymentConfig", "replicas": 2, "known": true}
//!   ],
//!   "stores": [
//!     {"secret": "system-database", "key": "URL", "location": "internal",
//!      "scheme": "postgresql", "host": "system-postgresql", "port": 5432,
//!      "database": "system", "workload": "system-postgresql", "sentinel": false}
//!   ],
//!   "permissions": {"checked": 47, "denied": []},
//!   "warnings": ["secret zync is not in namespace 3scale ..."]
//! }
//! ```
//!
//! `kind` is `Deployment` or `DeploymentConfig`; `known` is false for a workload that is
//! not one of 3scale's. `location` is `internal`, `external` or `unknown` (a value that
//! is not a URL); `port` is the one written or the scheme's default; `database` is the
//! path of the URL (the Redis database number, `0` when not written); `workload` names
//! the workload of the namespace that serves an internal store, when there is one;
//! `sentinel` says that the secret also lists Redis Sentinel hosts (then `host` is the
//! master group's name). A store whose secret or key is absent is left out of `stores`
//! and named in `warnings`.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::access::{required, resource_name};
use super::{Recheck, StepAction, StepContext, StepFuture, StepResult};
use crate::infra::kube::{Access, CustomKind, KubeCluster, WorkloadInfo, WorkloadKind};
use crate::infra::url::{self, redact};
use crate::runbook::{Action, ClusterRole, StepId, ids};

/// The id of the step and the key of its fact.
pub const STEP: StepId = ids::INVENTORY;
pub const FACT: &str = "inventory";
/// The version of the fact's shape; a later change of shape gets a new number.
pub const SCHEMA: u32 = 1;

/// The workloads the 3scale operator creates (threescale.md §5); `system-sphinx` is
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

/// The secrets and keys that say where each data store is (threescale.md §3-5).
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
    fn shape(&self) -> (Vec<Option<&str>>, BTreeMap<&str, WorkloadKind>) {
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
/// (show [`redact`]ed text instead). Errors name the secret and key, never the value.
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
fn value_of(secret: &k8s_openapi::api::core::v1::Secret, key: &str) -> Result<String, String> {
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

struct InventoryStep;

pub(super) static INVENTORY: &dyn StepAction = &InventoryStep;

impl StepAction for InventoryStep {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(run(ctx))
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(recheck(ctx))
    }
}

/// How a finding is reported: to the step log when the step runs, nowhere on a re-check.
struct Report<'a> {
    ctx: &'a StepContext,
    quiet: bool,
    warnings: Vec<String>,
}

impl Report<'_> {
    fn info(&self, line: String) {
        if !self.quiet {
            self.ctx.sink.info(line);
        }
    }

    fn warn(&mut self, line: String) {
        if !self.quiet {
            self.ctx.sink.warn(line.clone());
        }
        self.warnings.push(line);
    }
}

/// What taking the inventory gave: the inventory, or why the step fails.
enum Taken {
    Found(Box<Inventory>),
    Failed(String),
}

async fn take(ctx: &StepContext, report: &mut Report<'_>) -> Result<Taken> {
    let source = ctx.cluster(ClusterRole::Source).await?;
    let ns = source.namespace().to_string();

    // Versions. The source's may be unreadable only when its workloads tell the story.
    let managers = source
        .list_custom(CustomKind::ApiManager, None)
        .await
        .context("cannot list the APIManagers of the source namespace")?;
    let source_version = match source.threescale_version().await {
        Ok(v) => {
            report.info(format!("source: 3scale {} (from {})", v.version, v.source));
            Some(found(v))
        }
        Err(e) => {
            report.warn(format!("source: 3scale version unknown: {e:#}"));
            None
        }
    };
    let destination = ctx.cluster(ClusterRole::Destination).await?;
    let destination_version = match destination.threescale_version().await {
        Ok(v) => {
            report.info(format!(
                "destination: 3scale {} (from {})",
                v.version, v.source
            ));
            found(v)
        }
        Err(e) => {
            return Ok(Taken::Failed(format!(
                "cannot tell the 3scale version at the destination, which RHOAM must already \
                 run: {e:#}"
            )));
        }
    };
    let migration_version = match ctx.config.cluster(ClusterRole::MigrationCluster) {
        None => None,
        Some(_) => {
            let version = match ctx.cluster(ClusterRole::MigrationCluster).await {
                Ok(kube) => kube.threescale_version().await,
                Err(e) => Err(e),
            };
            match version {
                Ok(v) => {
                    report.info(format!(
                        "migration cluster: 3scale {} (from {})",
                        v.version, v.source
                    ));
                    Some(found(v))
                }
                Err(e) => {
                    // Installed later in the runbook (install-source-3scale).
                    report.info(format!(
                        "migration cluster: no 3scale yet ({})",
                        first_line(&format!("{e:#}"))
                    ));
                    None
                }
            }
        }
    };

    // Workloads.
    let listed = source
        .list_workloads()
        .await
        .context("cannot list the workloads of the source namespace")?;
    let workloads: Vec<Workload> = listed.iter().map(workload).collect();
    let known: Vec<&Workload> = workloads.iter().filter(|w| w.known).collect();
    if managers.is_empty() && known.is_empty() {
        return Ok(Taken::Failed(format!(
            "no 3scale in namespace {ns} of the source cluster (context {}): no APIManager and \
             none of the 3scale workloads ({}); check [source].namespace in the config",
            source.context(),
            THREESCALE_WORKLOADS.join(", ")
        )));
    }
    for w in &workloads {
        report.info(format!(
            "workload {} {}: {} replica(s){}",
            w.kind,
            w.name,
            w.replicas,
            if w.known {
                ""
            } else {
                " (not a 3scale workload)"
            }
        ));
    }
    let absent: Vec<&str> = THREESCALE_WORKLOADS
        .iter()
        .copied()
        .filter(|n| !workloads.iter().any(|w| w.known && w.name == *n))
        .collect();
    if !absent.is_empty() {
        report.info(format!("not in the namespace: {}", absent.join(", ")));
    }
    let workload_kind = kind_of(&known, report);
    if let (Some(kind), Some(v)) = (workload_kind, &source_version)
        && let Some(minor) = minor(&v.version)
    {
        let expected = if minor <= 14 {
            WorkloadKind::DeploymentConfig
        } else {
            WorkloadKind::Deployment
        };
        if kind != expected {
            report.warn(format!(
                "the source's 3scale {} should run {}s, but its workloads are {}s",
                v.version,
                kind_name(expected),
                kind_name(kind)
            ));
        }
    }

    // Stores.
    let mut stores = Vec::new();
    let mut secrets: BTreeMap<&str, Option<k8s_openapi::api::core::v1::Secret>> = BTreeMap::new();
    for (secret, key) in STORE_KEYS {
        if !secrets.contains_key(secret) {
            let read = match source.get_secret(None, secret).await {
                Ok(s) => s,
                Err(e) => {
                    return Ok(Taken::Failed(format!(
                        "cannot read secret {secret} in namespace {ns} of the source cluster; the \
                         inventory needs `get secrets` there (`kubectl --context {} auth can-i get \
                         secrets -n {ns}`): {e:#}",
                        source.context()
                    )));
                }
            };
            if read.is_none() {
                report.warn(format!(
                    "secret {secret} is not in namespace {ns}: where its store is must come from \
                     the config"
                ));
            }
            secrets.insert(secret, read);
        }
        let Some(Some(s)) = secrets.get(secret) else {
            continue;
        };
        match value_of(s, key) {
            Err(why) => report.warn(format!("secret {secret} {why}: its store is not known")),
            Ok(url) => {
                let mut store = locate(secret, key, &url, &ns, &workloads);
                // The hosts may carry a password: only whether they are set is used.
                if let Some(sentinels) = sentinel_key(secret, key)
                    && value_of(s, sentinels).is_ok()
                {
                    store.sentinel = true;
                    report.warn(format!(
                        "secret {secret} sets {sentinels}: the store of {key} is reached through \
                         Redis Sentinel, so its host is the master group's name; find the Redis \
                         servers behind it before the dumps"
                    ));
                }
                if store.location == Location::Unknown {
                    report.warn(format!(
                        "secret {secret} key {key} is not a URL the inventory can read (its value \
                         is not shown)"
                    ));
                } else {
                    report.info(format!("store {secret}/{key}: {}", store.describe()));
                }
                stores.push(store);
            }
        }
    }

    let permissions = permissions(ctx, report).await?;

    Ok(Taken::Found(Box::new(Inventory {
        schema: SCHEMA,
        namespace: ns,
        versions: Versions {
            source: source_version,
            destination: Some(destination_version),
            migration_cluster: migration_version,
        },
        workload_kind,
        workloads,
        stores,
        permissions,
        warnings: report.warnings.clone(),
    })))
}

fn found(v: crate::infra::kube::ThreescaleVersion) -> VersionFound {
    VersionFound {
        version: v.version,
        read_from: v.source,
    }
}

fn workload(w: &WorkloadInfo) -> Workload {
    Workload {
        name: w.name.clone(),
        kind: w.kind,
        replicas: w.replicas,
        known: THREESCALE_WORKLOADS.contains(&w.name.as_str()),
    }
}

/// The kind most 3scale workloads use; a mix is worth a warning.
fn kind_of(known: &[&Workload], report: &mut Report<'_>) -> Option<WorkloadKind> {
    let dcs = known
        .iter()
        .filter(|w| w.kind == WorkloadKind::DeploymentConfig)
        .count();
    let deployments = known.len() - dcs;
    if dcs > 0 && deployments > 0 {
        report.warn(format!(
            "the 3scale workloads mix {dcs} DeploymentConfig(s) and {deployments} Deployment(s); \
             an upgrade to 2.15 may be half done"
        ));
    }
    match (dcs, deployments) {
        (0, 0) => None,
        (d, n) if d >= n => Some(WorkloadKind::DeploymentConfig),
        _ => Some(WorkloadKind::Deployment),
    }
}

/// The Kubernetes kind: `Deployment`, `DeploymentConfig`.
fn kind_name(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::Deployment => "Deployment",
        WorkloadKind::DeploymentConfig => "DeploymentConfig",
    }
}

/// `2.14` → 14.
fn minor(version: &str) -> Option<u32> {
    let mut parts = version.trim_start_matches('v').split('.');
    let _major = parts.next()?;
    parts.next()?.parse().ok()
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// The parts of a store URL that say where it is; no credentials.
#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    scheme: String,
    host: String,
    port: Option<u16>,
    database: Option<String>,
}

/// Parses `url` after redacting it, dropping the user info, so that no part of a
/// password can reach the result even when the URL is malformed.
fn parse_url(url: &str) -> Option<Parsed> {
    let redacted = redact(url.trim());
    let p = url::parts(&redacted)?;
    let scheme = p.scheme.to_ascii_lowercase();
    if p.host.is_empty() {
        return None;
    }
    let port = match p.port {
        Some(port) => Some(port.parse::<u16>().ok()?),
        None => default_port(&scheme),
    };
    let is_redis = scheme == "redis" || scheme == "rediss";
    Some(Parsed {
        port,
        database: p
            .database()
            .map(str::to_string)
            .or_else(|| is_redis.then(|| "0".to_string())),
        scheme,
        host: p.host.to_ascii_lowercase(),
    })
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "redis" | "rediss" => Some(6379),
        "postgresql" | "postgres" => Some(5432),
        "mysql" | "mysql2" => Some(3306),
        "oracle-enhanced" | "oracle" => Some(1521),
        _ => None,
    }
}

/// The service a host names in namespace `ns`: a name without a dot (resolved in the
/// pod's own namespace), or `<svc>.<ns>[.svc[.cluster.local]]`.
fn service_in_namespace<'a>(host: &'a str, ns: &str) -> Option<&'a str> {
    let host = host.trim_end_matches('.');
    if host.is_empty() || host == "localhost" || host.contains(':') {
        return None;
    }
    match host.split_once('.') {
        None => Some(host),
        Some((name, domain)) => {
            let local = [
                ns.to_string(),
                format!("{ns}.svc"),
                format!("{ns}.svc.cluster.local"),
            ];
            local.iter().any(|d| d == domain).then_some(name)
        }
    }
}

fn locate(secret: &str, key: &str, url: &str, ns: &str, workloads: &[Workload]) -> StoreLocation {
    let Some(p) = parse_url(url) else {
        return StoreLocation {
            secret: secret.to_string(),
            key: key.to_string(),
            location: Location::Unknown,
            scheme: None,
            host: None,
            port: None,
            database: None,
            workload: None,
            sentinel: false,
        };
    };
    let service = service_in_namespace(&p.host, ns);
    StoreLocation {
        secret: secret.to_string(),
        key: key.to_string(),
        location: if service.is_some() {
            Location::Internal
        } else {
            Location::External
        },
        workload: service
            .filter(|s| workloads.iter().any(|w| w.name == *s))
            .map(str::to_string),
        scheme: Some(p.scheme),
        host: Some(p.host),
        port: p.port,
        database: p.database,
        sentinel: false,
    }
}

/// The key that lists the Sentinel hosts of a Redis store (threescale.md §3-5).
fn sentinel_key(secret: &str, key: &str) -> Option<&'static str> {
    match (secret, key) {
        ("backend-redis", "REDIS_STORAGE_URL") => Some("REDIS_STORAGE_SENTINEL_HOSTS"),
        ("backend-redis", "REDIS_QUEUES_URL") => Some("REDIS_QUEUES_SENTINEL_HOSTS"),
        ("system-redis", "URL") => Some("SENTINEL_HOSTS"),
        _ => None,
    }
}

/// The permission table `check-cluster-access` recorded for this migration; when that
/// step did not record one (skipped), the inventory's own needs are asked again.
async fn permissions(ctx: &StepContext, report: &mut Report<'_>) -> Result<Permissions> {
    let table = ctx
        .history
        .step(ids::CHECK_CLUSTER_ACCESS)
        .and_then(|r| r.figures.get("permissions"))
        .and_then(Value::as_array);
    if let Some(table) = table {
        let denied: Vec<String> = table
            .iter()
            .filter(|row| row["allowed"] == false)
            .map(|row| {
                format!(
                    "{}: {} {}{}",
                    row["cluster"].as_str().unwrap_or("?"),
                    row["verb"].as_str().unwrap_or("?"),
                    row["resource"].as_str().unwrap_or("?"),
                    row["namespace"]
                        .as_str()
                        .map(|n| format!(" in namespace {n}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        let p = Permissions {
            checked: table.len(),
            denied,
        };
        log_permissions(&p, "check-cluster-access checked", report);
        return Ok(p);
    }
    let mut p = Permissions::default();
    for need in required(Action::Inventory) {
        let Some(cluster) = ctx.config.cluster(need.cluster) else {
            continue;
        };
        let namespace = need.scope.namespace(&cluster.namespace, None);
        let kube = ctx.cluster(need.cluster).await?;
        let access = Access {
            verb: need.verb.to_string(),
            group: need.group.to_string(),
            resource: need.resource.to_string(),
            subresource: need.subresource.map(str::to_string),
            namespace: namespace.clone(),
        };
        p.checked += 1;
        if !kube.can_i(&access).await? {
            p.denied.push(format!(
                "{}: {} {}{}",
                need.cluster,
                need.verb,
                resource_name(&need),
                namespace
                    .map(|n| format!(" in namespace {n}"))
                    .unwrap_or_default()
            ));
        }
    }
    log_permissions(
        &p,
        "asked again (check-cluster-access recorded none) for the inventory's",
        report,
    );
    Ok(p)
}

fn log_permissions(p: &Permissions, how: &str, report: &mut Report<'_>) {
    if p.denied.is_empty() {
        report.info(format!(
            "permissions: {how} {} permission(s), none denied",
            p.checked
        ));
    } else {
        report.warn(format!(
            "permissions: {how} {} permission(s), {} denied: {}",
            p.checked,
            p.denied.len(),
            p.denied.join("; ")
        ));
    }
}

async fn run(ctx: &StepContext) -> Result<StepResult> {
    let mut report = Report {
        ctx,
        quiet: false,
        warnings: Vec::new(),
    };
    let inventory = match take(ctx, &mut report).await? {
        Taken::Failed(why) => {
            ctx.sink.error(why.clone());
            return Ok(StepResult::failed(why, Map::new()));
        }
        Taken::Found(inventory) => inventory,
    };
    let value = serde_json::to_value(&*inventory).context("cannot encode the inventory")?;
    ctx.sink.record_fact(FACT, value)?;
    Ok(StepResult::passed(summary(&inventory), figures(&inventory)))
}

fn version_text(v: &Option<VersionFound>, absent: &str) -> String {
    v.as_ref()
        .map(|v| format!("3scale {}", v.version))
        .unwrap_or_else(|| absent.to_string())
}

fn workloads_text(inv: &Inventory) -> String {
    let known: Vec<&Workload> = inv.known_workloads().collect();
    let replicas: i32 = known.iter().map(|w| w.replicas).sum();
    let kind = inv
        .workload_kind
        .map(|k| format!(" {}s", kind_name(k)))
        .unwrap_or_default();
    let mut s = format!("{}{kind}, {replicas} replicas", known.len());
    let others = inv.workloads.iter().filter(|w| !w.known).count();
    if others > 0 {
        s.push_str(&format!(", {others} other workload(s)"));
    }
    s
}

fn summary(inv: &Inventory) -> String {
    let internal = inv
        .stores
        .iter()
        .filter(|s| s.location == Location::Internal)
        .count();
    let external = inv
        .stores
        .iter()
        .filter(|s| s.location == Location::External)
        .count();
    let mut s = format!(
        "source {} ({}), destination {}, migration cluster {}; {} store(s): {internal} internal, \
         {external} external",
        version_text(&inv.versions.source, "version unknown"),
        workloads_text(inv),
        version_text(&inv.versions.destination, "version unknown"),
        version_text(&inv.versions.migration_cluster, "without 3scale yet"),
        inv.stores.len()
    );
    if !inv.warnings.is_empty() {
        s.push_str(&format!("; {} warning(s), see the log", inv.warnings.len()));
    }
    s
}

fn figures(inv: &Inventory) -> Map<String, Value> {
    let mut f = Map::new();
    f.insert(
        "source".into(),
        json!(version_text(&inv.versions.source, "version unknown")),
    );
    f.insert(
        "destination".into(),
        json!(version_text(&inv.versions.destination, "version unknown")),
    );
    f.insert(
        "migration_cluster".into(),
        json!(version_text(
            &inv.versions.migration_cluster,
            "no 3scale yet"
        )),
    );
    f.insert("workloads".into(), json!(workloads_text(inv)));
    for s in &inv.stores {
        f.insert(format!("{}/{}", s.secret, s.key), json!(s.describe()));
    }
    f.insert(
        "permissions".into(),
        json!(if inv.permissions.denied.is_empty() {
            format!("{} checked, none denied", inv.permissions.checked)
        } else {
            format!(
                "{} checked, denied: {}",
                inv.permissions.checked,
                inv.permissions.denied.join("; ")
            )
        }),
    );
    if !inv.warnings.is_empty() {
        f.insert("warnings".into(), json!(inv.warnings.len()));
    }
    f
}

async fn recheck(ctx: &StepContext) -> Result<Recheck> {
    let Some(before) = recorded(ctx) else {
        return Ok(Recheck::DoesNotHold(
            "no inventory was recorded before the interruption".to_string(),
        ));
    };
    let mut report = Report {
        ctx,
        quiet: true,
        warnings: Vec::new(),
    };
    let now = match take(ctx, &mut report).await? {
        Taken::Failed(why) => return Ok(Recheck::DoesNotHold(why)),
        Taken::Found(now) => now,
    };
    let (v_before, k_before) = before.shape();
    let (v_now, k_now) = now.shape();
    Ok(if v_before != v_now {
        Recheck::DoesNotHold(format!(
            "the 3scale versions changed since the inventory: {} -> {}",
            versions_text(&before),
            versions_text(&now)
        ))
    } else if k_before != k_now {
        Recheck::DoesNotHold(
            "the source's workloads changed since the inventory (names or kinds)".to_string(),
        )
    } else {
        Recheck::Holds(format!(
            "the recorded inventory still matches: {}",
            summary(&before)
        ))
    })
}

fn versions_text(inv: &Inventory) -> String {
    format!(
        "source {}, destination {}, migration cluster {}",
        version_text(&inv.versions.source, "unknown"),
        version_text(&inv.versions.destination, "unknown"),
        version_text(&inv.versions.migration_cluster, "none")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> Option<Parsed> {
        parse_url(url)
    }

    #[test]
    fn internal_postgresql_url_without_credentials() {
        let p = parsed("postgresql://system:s3cr3t@system-postgresql:5432/system").expect("url");
        assert_eq!(
            p,
            Parsed {
                scheme: "postgresql".into(),
                host: "system-postgresql".into(),
                port: Some(5432),
                database: Some("system".into()),
            }
        );
    }

    #[test]
    fn redis_defaults_and_password_only_user_info() {
        let p = parsed("redis://:pw@backend-redis/1").expect("url");
        assert_eq!(p.host, "backend-redis");
        assert_eq!(p.port, Some(6379));
        assert_eq!(p.database.as_deref(), Some("1"));
        let p = parsed("rediss://cache.example.com:6380").expect("url");
        assert_eq!(p.database.as_deref(), Some("0"));
        assert_eq!(p.port, Some(6380));
    }

    #[test]
    fn passwords_with_url_characters_never_reach_the_parts() {
        for url in [
            "mysql2://root:p@ss/w?rd#x@system-mysql:3306/system",
            "postgresql://u:se/cr?et@db.example.com/zync_production?sslmode=require",
            "redis://user:p@ss:word@host:6379/0",
        ] {
            let p = parsed(url).expect("url");
            let all = format!("{} {} {:?} {:?}", p.scheme, p.host, p.port, p.database);
            for secret in ["p@ss", "w?rd", "se/cr", "ss:word", "root", "user"] {
                assert!(!all.contains(secret), "{url}: {all}");
            }
        }
        let p = parsed("mysql2://root:p@ss/w?rd#x@system-mysql:3306/system").expect("url");
        assert_eq!(
            (p.host.as_str(), p.database.as_deref()),
            ("system-mysql", Some("system"))
        );
    }

    #[test]
    fn ipv6_and_bad_ports() {
        let p = parsed("redis://[::1]:7000/2").expect("url");
        assert_eq!((p.host.as_str(), p.port), ("::1", Some(7000)));
        assert!(parsed("redis://host:port/0").is_none());
        assert!(parsed("host=x dbname=y password=z").is_none());
        assert!(parsed("not a url").is_none());
    }

    #[test]
    fn hosts_of_the_namespace_are_internal() {
        assert_eq!(
            service_in_namespace("system-postgresql", "3scale"),
            Some("system-postgresql")
        );
        assert_eq!(
            service_in_namespace("backend-redis.3scale.svc.cluster.local", "3scale"),
            Some("backend-redis")
        );
        assert_eq!(
            service_in_namespace("backend-redis.3scale.svc", "3scale"),
            Some("backend-redis")
        );
        assert_eq!(
            service_in_namespace("backend-redis.other.svc", "3scale"),
            None
        );
        assert_eq!(service_in_namespace("db.example.com", "3scale"), None);
        assert_eq!(service_in_namespace("localhost", "3scale"), None);
        assert_eq!(service_in_namespace("10.0.0.7", "3scale"), None);
        assert_eq!(service_in_namespace("::1", "3scale"), None);
    }

    #[test]
    fn minors() {
        assert_eq!(minor("2.14"), Some(14));
        assert_eq!(minor("2.15.1"), Some(15));
        assert_eq!(minor("x"), None);
    }
}
