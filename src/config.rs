//! The TOML config of one migration: typed, validated, secrets by reference.
//!
//! Every table refuses unknown keys, so a typo is an error and not a silently
//! ignored setting. Values that may hold a password (database and Redis URLs) are
//! written as `env:NAME` or `file:PATH`; an inline URL is accepted only when it
//! carries no password. Relative paths are relative to the config file's folder.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::error::bad_input;
use crate::infra::kube::ClusterTarget;
use crate::runbook::{self, AccessPath, ClusterRole, DbKind, Party, Runbook, RunbookId};

mod refs;
mod velero;

pub use refs::{SecretRef, format_duration, parse_duration};
use refs::{resolve_path, shell_word};
pub use velero::{KeycloakAdmin, ObjectStorage, Velero, backup_name};

/// The state folder used when neither the config nor `--state-dir` names one.
pub const DEFAULT_STATE_DIR: &str = "cutover-state";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    migration: RawMigration,
    source: Option<RawCluster>,
    migration_cluster: Option<RawCluster>,
    destination: Option<RawCluster>,
    #[serde(default)]
    drain: RawDrain,
    #[serde(default)]
    dumps: RawDumps,
    #[serde(default)]
    convert: RawConvert,
    #[serde(default)]
    stop_traffic: StopTraffic,
    velero: Option<velero::RawVelero>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMigration {
    name: String,
    runbook: RunbookId,
    access_path: AccessPath,
    party: Party,
    operator: String,
    state_dir: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    kubeconfig: String,
    context: Option<String>,
    namespace: String,
    wildcard_domain: Option<String>,
    system_database_kind: Option<DbKind>,
    system_database_url: Option<String>,
    backend_redis_storage_url: Option<String>,
    backend_redis_queues_url: Option<String>,
    system_redis_url: Option<String>,
    zync_database_url: Option<String>,
    threescale_api: Option<String>,
    threescale_api_ca_file: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDrain {
    threshold: Option<u64>,
    timeout: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDumps {
    folder: Option<String>,
    #[serde(default)]
    age_recipients: Vec<String>,
    age_identity: Option<String>,
    pg_client_image: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConvert {
    postgres_schema: Option<String>,
    scratch_mysql_url: Option<String>,
}

/// One data store: which config key named it, and where its URL comes from.
#[derive(Debug, Clone)]
pub struct Store {
    /// The config key, e.g. `source.system_database_url`, used in every message.
    pub key: String,
    pub cluster: ClusterRole,
    pub kind: StoreKind,
    pub url: SecretRef,
}

impl Store {
    /// The store's URL, read from its reference and checked for its kind.
    pub fn url_value(&self) -> Result<String> {
        let url = self.url.resolve(&self.key)?;
        self.kind.check_url(&self.key, &url)?;
        Ok(url)
    }
}

/// What a data store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    SystemDatabase(DbKind),
    ZyncDatabase,
    BackendRedisStorage,
    BackendRedisQueues,
    SystemRedis,
}

impl StoreKind {
    /// The field of a cluster's table that names this store's URL: `system_redis_url`.
    pub fn field(self) -> &'static str {
        match self {
            StoreKind::SystemDatabase(_) => "system_database_url",
            StoreKind::ZyncDatabase => "zync_database_url",
            StoreKind::BackendRedisStorage => "backend_redis_storage_url",
            StoreKind::BackendRedisQueues => "backend_redis_queues_url",
            StoreKind::SystemRedis => "system_redis_url",
        }
    }

    /// Whether two kinds are the same store: a system database is one whatever its kind.
    pub fn same_store(self, other: StoreKind) -> bool {
        match (self, other) {
            (StoreKind::SystemDatabase(_), StoreKind::SystemDatabase(_)) => true,
            (a, b) => a == b,
        }
    }

    pub fn is_redis(self) -> bool {
        matches!(
            self,
            StoreKind::BackendRedisStorage | StoreKind::BackendRedisQueues | StoreKind::SystemRedis
        )
    }

    /// Refuses a URL whose scheme does not fit the store, naming the key. The
    /// value itself is never shown (it may hold a password).
    pub fn check_url(self, key: &str, url: &str) -> Result<()> {
        let schemes: &[&str] = match self {
            _ if self.is_redis() => &["redis://", "rediss://"],
            StoreKind::SystemDatabase(DbKind::Mysql) => &["mysql://"],
            StoreKind::SystemDatabase(DbKind::Oracle) => return Ok(()),
            _ => &["postgresql://", "postgres://"],
        };
        // libpq also takes `host=... dbname=...`; only PostgreSQL stores accept it.
        let libpq_keywords = self.db_kind() == Some(DbKind::Postgresql) && url.contains('=');
        if schemes.iter().any(|s| url.starts_with(s)) || libpq_keywords {
            Ok(())
        } else {
            Err(bad_input(format!(
                "{key} is not a URL of the right kind: it must start with {}",
                schemes.join(" or ")
            )))
        }
    }

    /// The database kind, for stores that are SQL databases.
    pub fn db_kind(self) -> Option<DbKind> {
        match self {
            StoreKind::SystemDatabase(k) => Some(k),
            StoreKind::ZyncDatabase => Some(DbKind::Postgresql),
            _ => None,
        }
    }
}

/// One cluster of the migration.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub role: ClusterRole,
    pub kubeconfig: PathBuf,
    /// The kubeconfig context; its current context when not given.
    pub context: Option<String>,
    pub namespace: String,
    pub wildcard_domain: Option<String>,
    pub system_database_kind: Option<DbKind>,
    pub stores: Vec<Store>,
    /// How cutover reaches 3scale's APIs on this cluster (the destination's checks).
    pub threescale_api: ThreescaleApi,
}

/// Where the requests to 3scale's Admin and Master APIs go: by default to
/// `https://<host>`; with `connect_to` to that address, the request keeping its `Host` (as
/// curl's `--connect-to`), e.g. a port-forward; `ca_file` adds a CA (PEM) to the trusted
/// ones, for a router certificate of a private CA.
#[derive(Debug, Clone, Default)]
pub struct ThreescaleApi {
    pub connect_to: Option<crate::infra::threescale_api::ConnectTo>,
    pub ca_file: Option<PathBuf>,
}

impl Cluster {
    /// Where the cluster is, for the Kubernetes layer.
    pub fn target(&self) -> ClusterTarget {
        ClusterTarget {
            name: self.role.to_string(),
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            namespace: self.namespace.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Drain {
    /// Jobs that may remain in every queue for the drain to pass by itself.
    pub threshold: u64,
    /// How long to wait for the queues before asking for acceptance of the loss.
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Dumps {
    pub folder: PathBuf,
    pub age_recipients: Vec<String>,
    /// The operator's age identity file, to decrypt the secrets dump with.
    pub age_identity: Option<PathBuf>,
    /// The image of the pod that runs PostgreSQL's clients in a cluster whose system database
    /// the config gives no URL of (`cutover-pg-client`).
    pub pg_client_image: String,
}

/// How `convert-system-database` turns a MySQL system database into PostgreSQL.
#[derive(Debug, Clone, Default)]
pub struct Convert {
    /// SQL that creates the 3scale PostgreSQL schema of the source's version, loaded into an
    /// empty target before the data.
    pub postgres_schema: Option<PathBuf>,
    /// A MySQL server the MySQL dump is loaded into for pgloader to read (the source is read
    /// directly when this is not set and the config names it).
    pub scratch_mysql_url: Option<SecretRef>,
}

/// What `stop-traffic` does with the source's `backend` route, through which APIcasts outside
/// the namespace report (`[stop_traffic] backend_route`); asked at the step when not set.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StopTraffic {
    pub backend_route: Option<BackendRoute>,
}

/// `disable`: the route points at no service until the end or a rollback, so external gateways
/// stop too; `keep`: it stays, and what external gateways report after the Redis dump is lost.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum BackendRoute {
    Disable,
    Keep,
}

/// A loaded, validated config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    pub name: String,
    pub runbook: RunbookId,
    pub access_path: AccessPath,
    pub party: Party,
    pub operator: String,
    pub state_dir: PathBuf,
    pub clusters: Vec<Cluster>,
    pub drain: Drain,
    pub dumps: Dumps,
    pub convert: Convert,
    pub stop_traffic: StopTraffic,
    pub velero: Option<Velero>,
}

impl Config {
    /// Reads and validates a config file. Every problem is bad input (exit 2).
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            bad_input(format!(
                "cannot read config {}: {e}; pass the right file with --config",
                path.display()
            ))
        })?;
        Config::parse(&text, path)
    }

    /// Parses config text; `path` names it in messages and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let place = e
                .span()
                .map(|span| {
                    let (line, col) = line_col(text, span.start);
                    format!("{}:{line}:{col}", path.display())
                })
                .unwrap_or_else(|| path.display().to_string());
            bad_input(format!("{place}: {}", e.message().trim_end()))
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        build(raw, path, &base).with_context(|| format!("in config {}", path.display()))
    }

    pub fn runbook(&self) -> &'static Runbook {
        runbook::get(self.runbook)
    }

    pub fn cluster(&self, role: ClusterRole) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.role == role)
    }

    /// Every configured data store, in config order.
    pub fn stores(&self) -> impl Iterator<Item = &Store> {
        self.clusters.iter().flat_map(|c| c.stores.iter())
    }

    /// The store of `kind` the config names on the cluster of `role` (a system database of any
    /// database kind).
    pub fn store(&self, role: ClusterRole, kind: StoreKind) -> Option<&Store> {
        self.stores()
            .find(|s| s.cluster == role && s.kind.same_store(kind))
    }

    /// The system database the config names on the cluster of `role`, whatever its kind.
    pub fn system_database(&self, role: ClusterRole) -> Option<&Store> {
        self.stores()
            .find(|s| s.cluster == role && matches!(s.kind, StoreKind::SystemDatabase(_)))
    }

    /// The source system database kind, when the config says it.
    pub fn source_db_kind(&self) -> Option<DbKind> {
        self.cluster(ClusterRole::Source)
            .and_then(|c| c.system_database_kind)
    }

    /// This migration's folder: `state_dir/<name>/`.
    pub fn migration_dir(&self) -> PathBuf {
        self.state_dir.join(&self.name)
    }

    /// Replaces the state folder (the `--state-dir` flag). The dump folder follows
    /// when it was the default one inside the old state folder.
    pub fn set_state_dir(&mut self, dir: PathBuf) {
        let default_dumps = self.migration_dir().join("artifacts");
        self.state_dir = dir;
        if self.dumps.folder == default_dumps {
            self.dumps.folder = self.migration_dir().join("artifacts");
        }
    }

    /// The value of a procedure placeholder (see `runbook::render_procedure`).
    /// Secrets are never placeholders.
    pub fn placeholder(&self, name: &str) -> Option<String> {
        if name == "migration" {
            return Some(self.name.clone());
        }
        if name == "dumps" {
            return Some(shell_word(&self.dumps.folder.display().to_string()));
        }
        if name == "age_recipients" {
            return (!self.dumps.age_recipients.is_empty()).then(|| {
                self.dumps
                    .age_recipients
                    .iter()
                    .map(|r| format!("-r {}", shell_word(r)))
                    .collect::<Vec<_>>()
                    .join(" ")
            });
        }
        if name == "drain.threshold" {
            return Some(self.drain.threshold.to_string());
        }
        if let Some(role) = name.strip_prefix("oc.") {
            let cluster = self.cluster(role.parse().ok()?)?;
            return Some(format!(
                "oc {}-n {}",
                cluster.kube_flags("--context"),
                cluster.namespace
            ));
        }
        if let Some(field) = name.strip_prefix("velero.") {
            return self.velero_placeholder(field);
        }
        let (role, field) = name.split_once('.')?;
        let cluster = self.cluster(role.parse().ok()?)?;
        match field {
            "namespace" => Some(cluster.namespace.clone()),
            "context" => cluster.context.clone(),
            "kubeconfig" => Some(shell_word(&cluster.kubeconfig.display().to_string())),
            "wildcard_domain" => cluster.wildcard_domain.clone(),
            _ => None,
        }
    }

    fn velero_placeholder(&self, field: &str) -> Option<String> {
        let velero = self.velero.as_ref()?;
        let cli = |role: ClusterRole| {
            self.cluster(role).map(|c| {
                format!(
                    "velero {}-n {}",
                    c.kube_flags("--kubecontext"),
                    velero.namespace
                )
            })
        };
        match field {
            "source" => cli(ClusterRole::Source),
            "destination" => cli(ClusterRole::Destination),
            _ => velero.placeholder(field),
        }
    }
}

impl Cluster {
    /// `--kubeconfig K --context C ` (with a trailing space), for command lines.
    fn kube_flags(&self, context_flag: &str) -> String {
        let mut flags = format!(
            "--kubeconfig {} ",
            shell_word(&self.kubeconfig.display().to_string())
        );
        if let Some(ctx) = &self.context {
            flags.push_str(&format!("{context_flag} {} ", shell_word(ctx)));
        }
        flags
    }
}

fn build(raw: RawConfig, path: &Path, base: &Path) -> Result<Config> {
    let m = raw.migration;
    let book = runbook::get(m.runbook);
    check_name(&m.name)?;
    if m.operator.trim().is_empty() {
        return Err(bad_input(
            "migration.operator is empty; write your name, it is recorded with every action",
        ));
    }
    if !book.paths.contains(&m.access_path) {
        return Err(bad_input(format!(
            "migration.access_path: `{}` is not a path of runbook {}; allowed: {}",
            m.access_path,
            book.id,
            join(book.paths)
        )));
    }
    let state_dir = resolve_path(base, m.state_dir.as_deref().unwrap_or(DEFAULT_STATE_DIR));

    let needs_migration_cluster = m.runbook == RunbookId::ThreescaleRhoam;
    let mut clusters = Vec::new();
    for (role, cluster) in [
        (ClusterRole::Source, raw.source),
        (ClusterRole::MigrationCluster, raw.migration_cluster),
        (ClusterRole::Destination, raw.destination),
    ] {
        match cluster {
            Some(c) => {
                if role == ClusterRole::MigrationCluster && !needs_migration_cluster {
                    return Err(bad_input(format!(
                        "[migration_cluster]: runbook {} has no migration cluster; remove the \
                         section",
                        m.runbook
                    )));
                }
                clusters.push(build_cluster(role, c, base, m.runbook)?)
            }
            None if role != ClusterRole::MigrationCluster || needs_migration_cluster => {
                return Err(bad_input(format!(
                    "[{role}] is missing; runbook {} needs the {role} cluster's kubeconfig and \
                     namespace",
                    m.runbook
                )));
            }
            None => {}
        }
    }

    let drain = Drain {
        threshold: raw.drain.threshold.unwrap_or(0),
        timeout: match raw.drain.timeout.as_deref() {
            Some(t) => parse_duration(t).ok_or_else(|| {
                bad_input(format!(
                    "drain.timeout: `{t}` is not a duration like 90s, 15m or 1h30m"
                ))
            })?,
            None => Duration::from_secs(30 * 60),
        },
    };

    for r in &raw.dumps.age_recipients {
        if !(r.starts_with("age1") || r.starts_with("ssh-ed25519 ") || r.starts_with("ssh-rsa ")) {
            return Err(bad_input(format!(
                "dumps.age_recipients: `{r}` is not an age recipient (age1…) or an SSH public key"
            )));
        }
    }
    let dumps = Dumps {
        folder: match raw.dumps.folder.as_deref() {
            Some(f) => resolve_path(base, f),
            None => state_dir.join(&m.name).join("artifacts"),
        },
        age_recipients: raw.dumps.age_recipients,
        age_identity: raw
            .dumps
            .age_identity
            .as_deref()
            .map(|p| resolve_path(base, p)),
        pg_client_image: match raw.dumps.pg_client_image {
            Some(image) if image.trim().is_empty() || image.chars().any(char::is_whitespace) => {
                return Err(bad_input(format!(
                    "dumps.pg_client_image: `{image}` is not an image reference; name one such \
                     as {}",
                    crate::infra::kube::DEFAULT_CLIENT_IMAGE
                )));
            }
            Some(image) => image,
            None => crate::infra::kube::DEFAULT_CLIENT_IMAGE.to_string(),
        },
    };
    let convert = Convert {
        postgres_schema: raw
            .convert
            .postgres_schema
            .as_deref()
            .map(|p| resolve_path(base, p)),
        scratch_mysql_url: match raw.convert.scratch_mysql_url.as_deref() {
            Some(v) => {
                let key = "convert.scratch_mysql_url";
                let url = SecretRef::parse(key, v, base)?;
                if let SecretRef::Inline(value) = &url {
                    StoreKind::SystemDatabase(DbKind::Mysql).check_url(key, value)?;
                }
                Some(url)
            }
            None => None,
        },
    };

    let velero = match (m.runbook, raw.velero) {
        (RunbookId::VeleroRegistry, Some(v)) => Some(velero::build_velero(v, base)?),
        (RunbookId::VeleroRegistry, None) => {
            return Err(bad_input(
                "[velero] is missing; runbook velero-registry needs the registry's name, each \
                 cluster's object storage and cluster B's Keycloak (see \
                 examples/velero-registry.toml)",
            ));
        }
        (other, Some(_)) => {
            return Err(bad_input(format!(
                "[velero]: runbook {other} does not use Velero; remove the section"
            )));
        }
        (_, None) => None,
    };

    Ok(Config {
        path: path.to_path_buf(),
        name: m.name,
        runbook: m.runbook,
        access_path: m.access_path,
        party: m.party,
        operator: m.operator.trim().to_string(),
        state_dir,
        clusters,
        drain,
        dumps,
        convert,
        stop_traffic: raw.stop_traffic,
        velero,
    })
}

fn build_cluster(
    role: ClusterRole,
    c: RawCluster,
    base: &Path,
    book: RunbookId,
) -> Result<Cluster> {
    if c.namespace.trim().is_empty() {
        return Err(bad_input(format!("{role}.namespace is empty")));
    }
    if book == RunbookId::VeleroRegistry {
        let has_stores = c.system_database_kind.is_some()
            || c.system_database_url.is_some()
            || c.backend_redis_storage_url.is_some()
            || c.backend_redis_queues_url.is_some()
            || c.system_redis_url.is_some()
            || c.zync_database_url.is_some();
        if has_stores {
            return Err(bad_input(format!(
                "[{role}]: the 3scale data store keys do not apply to runbook velero-registry; \
                 remove them"
            )));
        }
    }
    let mut stores = Vec::new();
    let mut add = |kind: StoreKind, value: Option<String>| -> Result<()> {
        if let Some(v) = value {
            let key = format!("{role}.{}", kind.field());
            let url = SecretRef::parse(&key, &v, base)?;
            if let SecretRef::Inline(value) = &url {
                kind.check_url(&key, value)?;
            }
            stores.push(Store {
                key,
                cluster: role,
                kind,
                url,
            });
        }
        Ok(())
    };
    if c.system_database_url.is_some() && c.system_database_kind.is_none() {
        return Err(bad_input(format!(
            "{role}.system_database_kind is missing; say which database the URL points to: {}",
            join(DbKind::ALL)
        )));
    }
    if let Some(kind) = c.system_database_kind {
        add(StoreKind::SystemDatabase(kind), c.system_database_url)?;
    }
    add(StoreKind::ZyncDatabase, c.zync_database_url)?;
    add(StoreKind::BackendRedisStorage, c.backend_redis_storage_url)?;
    add(StoreKind::BackendRedisQueues, c.backend_redis_queues_url)?;
    add(StoreKind::SystemRedis, c.system_redis_url)?;
    let threescale_api =
        build_threescale_api(role, c.threescale_api, c.threescale_api_ca_file, base)?;
    Ok(Cluster {
        role,
        kubeconfig: resolve_path(base, &c.kubeconfig),
        context: c.context.filter(|s| !s.trim().is_empty()),
        namespace: c.namespace,
        wildcard_domain: c.wildcard_domain,
        system_database_kind: c.system_database_kind,
        stores,
        threescale_api,
    })
}

/// `threescale_api` and `threescale_api_ca_file` of `[destination]`: an http(s) address and a
/// readable PEM file; any other cluster's are refused, since only the destination's checks
/// call 3scale's APIs.
fn build_threescale_api(
    role: ClusterRole,
    connect_to: Option<String>,
    ca_file: Option<String>,
    base: &Path,
) -> Result<ThreescaleApi> {
    if role != ClusterRole::Destination && (connect_to.is_some() || ca_file.is_some()) {
        return Err(bad_input(format!(
            "{role}.threescale_api and {role}.threescale_api_ca_file apply only to \
             [destination], whose checks call 3scale's APIs; remove them"
        )));
    }
    let connect_to = match connect_to {
        Some(text) => Some(
            crate::infra::threescale_api::ConnectTo::parse(&text)
                .map_err(|e| bad_input(format!("{role}.threescale_api: {e}")))?,
        ),
        None => None,
    };
    let ca_file = match ca_file {
        Some(path) => {
            let path = resolve_path(base, &path);
            if !path.is_file() {
                return Err(bad_input(format!(
                    "{role}.threescale_api_ca_file: {} is not a readable file; give the PEM \
                     file of the CA that signed the router's certificate",
                    path.display()
                )));
            }
            Some(path)
        }
        None => None,
    };
    Ok(ThreescaleApi {
        connect_to,
        ca_file,
    })
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(bad_input(format!(
            "migration.name `{name}`: use letters, digits, '-', '_' and '.' (at most 63); it \
             names the state folder"
        )))
    }
}

fn join<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        assert_eq!(line_col("a\nbc\nd", 3), (2, 2));
        assert_eq!(line_col("abc", 0), (1, 1));
    }
}
