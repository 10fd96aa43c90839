//! What a sandbox is made of: its namespaces and domains, how big and lively it is
//! ([`SandboxOptions`]), and where its data stores answer ([`SandboxStores`]).

use std::time::Duration;

use crate::sim::installation::ExternalStores;
use crate::sim::seed::Sizes;
use crate::sim::servers::{MariaServer, PgServer};

pub const SOURCE_NAMESPACE: &str = "3scale";
pub const MIGRATION_NAMESPACE: &str = "3scale";
pub const DESTINATION_NAMESPACE: &str = "redhat-rhoam-3scale";
pub const SOURCE_DOMAIN: &str = "apps.source.sandbox.test";
pub const MIGRATION_DOMAIN: &str = "apps.migration.sandbox.test";
pub const DESTINATION_DOMAIN: &str = "apps.rhoam.sandbox.test";

/// Which database the source's system database is: MySQL (MariaDB here), 3scale's default, or
/// PostgreSQL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SourceDatabase {
    #[default]
    Mysql,
    Postgresql,
}

impl SourceDatabase {
    /// The config's `system_database_kind` for it.
    pub fn kind(self) -> &'static str {
        match self {
            SourceDatabase::Mysql => "mysql",
            SourceDatabase::Postgresql => "postgresql",
        }
    }

    pub fn parse(text: &str) -> Option<SourceDatabase> {
        match text {
            "mysql" => Some(SourceDatabase::Mysql),
            "postgresql" => Some(SourceDatabase::Postgresql),
            _ => None,
        }
    }
}

/// How big and how lively the sandbox is.
#[derive(Clone, Debug)]
pub struct SandboxOptions {
    pub sizes: Sizes,
    /// How long pods take to start and to stop in the simulated clusters.
    pub pod_start_delay: Duration,
    pub pod_stop_delay: Duration,
    /// How fast the simulated workers consume (and APIcast produces) jobs.
    pub jobs_per_second: f64,
    /// The PostgreSQL server the databases are created on, as a user allowed to create them.
    /// When none answers there: a throw-away cluster (a kept sandbox: a cluster in its folder).
    pub postgres_admin_url: String,
    /// The source's system database.
    pub source_database: SourceDatabase,
    /// The MySQL/MariaDB server a MySQL source's database is created on, as a user allowed to
    /// create them. When none answers there: one of its own (in the folder of a kept sandbox).
    pub mariadb_admin_url: String,
    /// The registry sandbox: the data each volume of cluster A's registry that Velero backs up
    /// by file system holds (written to the restic repository in A's bucket).
    pub registry_volume_bytes: usize,
}

/// The registry sandbox's volume data by default: small, for a quick rehearsal.
pub const REGISTRY_VOLUME_BYTES: usize = 64 * 1024;

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            sizes: Sizes::default(),
            pod_start_delay: Duration::from_millis(500),
            pod_stop_delay: Duration::from_millis(500),
            jobs_per_second: 200.0,
            postgres_admin_url: PgServer::DEFAULT_ADMIN_URL.to_string(),
            source_database: SourceDatabase::default(),
            mariadb_admin_url: MariaServer::DEFAULT_ADMIN_URL.to_string(),
            registry_volume_bytes: REGISTRY_VOLUME_BYTES,
        }
    }
}

/// The URLs of the sandbox's data stores (no passwords: loopback servers of its own).
#[derive(Clone, Debug)]
pub struct SandboxStores {
    pub source_backend_redis: String,
    /// The same server's queue database (Resque).
    pub source_backend_queues: String,
    pub source_system_redis: String,
    pub source_system_database: String,
    pub source_zync_database: String,
    pub migration_system_database: String,
    /// The migration account's stores, as its connection secrets name them: the system
    /// database and one empty Redis (backend in databases 0 and 1, system in 2).
    pub migration: ExternalStores,
    pub destination: ExternalStores,
}
