//! The rehearsal sandbox: three simulated clusters with a 3scale 2.14 source and a
//! RHOAM destination, real Redis and PostgreSQL servers behind them, seeded data, and
//! workers that drain and fill the queues as the source's workloads have replicas.
//! Everything it starts is stopped when it is dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::exec::{ExecRule, client_pod_rules};
use super::installation::{ExternalStores, InternalDatabases, destination_objects, source_objects};
use super::kubeconfig::write_kubeconfig;
use super::seed::workers::{self, Worker};
use super::seed::{self, Sizes};
use super::server::SimCluster;
use super::servers::{PgDatabase, PgServer, RedisOptions, RedisProcess};
use super::state::ClusterSpec;

pub const SOURCE_NAMESPACE: &str = "3scale";
pub const MIGRATION_NAMESPACE: &str = "3scale";
pub const DESTINATION_NAMESPACE: &str = "redhat-rhoam-3scale";
pub const SOURCE_DOMAIN: &str = "apps.source.sandbox.test";
pub const MIGRATION_DOMAIN: &str = "apps.migration.sandbox.test";
pub const DESTINATION_DOMAIN: &str = "apps.rhoam.sandbox.test";

/// How big and how lively the sandbox is.
#[derive(Clone, Debug)]
pub struct SandboxOptions {
    pub sizes: Sizes,
    /// How long pods take to start and to stop in the simulated clusters.
    pub pod_start_delay: Duration,
    pub pod_stop_delay: Duration,
    /// How fast the simulated workers consume (and APIcast produces) jobs.
    pub jobs_per_second: f64,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            sizes: Sizes::default(),
            pod_start_delay: Duration::from_millis(500),
            pod_stop_delay: Duration::from_millis(500),
            jobs_per_second: 200.0,
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
    pub destination: ExternalStores,
}

pub struct Sandbox {
    pub source: Arc<SimCluster>,
    pub migration: SimCluster,
    pub destination: SimCluster,
    pub kubeconfig: PathBuf,
    pub stores: SandboxStores,
    // Stopped before the servers they talk to.
    _workers: Vec<Worker>,
    _watcher: AbortOnDrop,
    _redis: Vec<RedisProcess>,
    _databases: Vec<PgDatabase>,
    _postgres: PgServer,
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Sandbox {
    /// Starts everything, seeds it, and writes the kubeconfig (contexts `source`,
    /// `migration`, `destination`) into `dir`.
    pub async fn start(dir: &Path, options: SandboxOptions) -> Result<Sandbox> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the sandbox folder {}", dir.display()))?;
        let servers = tokio::task::spawn_blocking(start_servers)
            .await
            .context("the sandbox's server start-up stopped unexpectedly")??;
        let Servers {
            redis,
            postgres,
            databases,
        } = servers;
        let [src_backend, src_system, dst_backend, dst_system] = &redis[..] else {
            anyhow::bail!("the sandbox expected four Redis servers");
        };
        let [src_db, src_zync, mig_db, dst_db, dst_zync] = &databases[..] else {
            anyhow::bail!("the sandbox expected five databases");
        };
        let stores = SandboxStores {
            source_backend_redis: src_backend.url_db(0),
            source_backend_queues: src_backend.url_db(1),
            source_system_redis: src_system.url_db(1),
            source_system_database: src_db.url().to_string(),
            source_zync_database: src_zync.url().to_string(),
            migration_system_database: mig_db.url().to_string(),
            destination: ExternalStores {
                system_database: dst_db.url().to_string(),
                backend_redis_storage: dst_backend.url_db(0),
                backend_redis_queues: dst_backend.url_db(1),
                system_redis: dst_system.url_db(1),
                zync_database: dst_zync.url().to_string(),
            },
        };

        let sizes = &options.sizes;
        seed::seed_system_database(src_db.url(), SOURCE_DOMAIN, sizes).await?;
        seed::seed_zync_database_with_domain(src_zync.url(), SOURCE_DOMAIN, sizes).await?;
        seed::seed_backend_redis(&src_backend.url_db(0), &src_backend.url_db(1), sizes).await?;
        seed::seed_system_redis(&src_system.url_db(1), sizes).await?;
        // The dump step reads the RDB file, as it would in the backend-redis pod.
        src_backend.command(&["SAVE"])?;

        let spec = |name: &str, ns: &str| {
            ClusterSpec::new(name)
                .namespace(ns)
                .pod_delays(options.pod_start_delay, options.pod_stop_delay)
        };
        let source = Arc::new(SimCluster::start(spec("source", SOURCE_NAMESPACE)).await?);
        let migration = SimCluster::start(spec("migration", MIGRATION_NAMESPACE)).await?;
        let destination = SimCluster::start(spec("destination", DESTINATION_NAMESPACE)).await?;

        let internal = InternalDatabases {
            system: src_db.name().to_string(),
            zync: src_zync.name().to_string(),
        };
        apply_all(
            &source,
            source_objects(SOURCE_NAMESPACE, SOURCE_DOMAIN, &internal),
        )?;
        apply_all(
            &destination,
            destination_objects(
                DESTINATION_NAMESPACE,
                DESTINATION_DOMAIN,
                &stores.destination,
            ),
        )?;
        // RHOAM's system database is reached through cutover's client pod there.
        for rule in client_pod_rules() {
            destination.allow_exec(rule);
        }
        wire_source_pods(
            &source,
            src_backend,
            src_system,
            src_db,
            src_zync,
            &postgres,
        )?;

        let kubeconfig = dir.join("kubeconfig");
        write_kubeconfig(
            &kubeconfig,
            &[
                ("source", &source),
                ("migration", &migration),
                ("destination", &destination),
            ],
        )?;

        let (worker_flags, watcher) = watch_source_replicas(&source);
        let rate = options.jobs_per_second;
        let workers = vec![
            workers::backend_worker(&src_backend.url_db(1), rate, worker_flags.backend.clone()),
            workers::sidekiq(&src_system.url_db(1), rate, worker_flags.sidekiq.clone()),
            workers::apicast_traffic(
                &src_backend.url_db(0),
                &src_backend.url_db(1),
                rate / 4.0,
                worker_flags.apicast.clone(),
            ),
            workers::que_worker(src_zync.url(), rate, worker_flags.que.clone()),
        ];

        Ok(Sandbox {
            source,
            migration,
            destination,
            kubeconfig,
            stores,
            _workers: workers,
            _watcher: watcher,
            _redis: redis,
            _databases: databases,
            _postgres: postgres,
        })
    }

    /// The config's `[dumps]` section: the secrets dump is encrypted to an age identity the
    /// sandbox generates in its folder (mode 0600), which push-secrets decrypts it with. Without
    /// one (the folder cannot be written) the section says so, and dump-secrets asks for
    /// recipients.
    fn dumps_section(&self) -> String {
        let dir = self.kubeconfig.parent().unwrap_or(Path::new("."));
        match sandbox_age_identity(dir) {
            Ok((path, public)) => format!(
                "\n[dumps]\n# The sandbox's own age key; in a migration, both parties' public keys.\n\
                 age_recipients = [{}]\nage_identity = {}\n",
                toml_str(&public),
                toml_str(&path.display().to_string())
            ),
            Err(e) => format!(
                "\n[dumps]\n# No age identity: {}\n",
                format!("{e:#}").replace('\n', " ")
            ),
        }
    }

    /// A config for this sandbox: the whole 3scale runbook on `access_path`, the
    /// destination's external stores and the migration cluster's database by URL.
    pub fn config_toml(
        &self,
        name: &str,
        access_path: &str,
        party: &str,
        operator: &str,
        state_dir: &Path,
    ) -> String {
        let k = toml_str(&self.kubeconfig.display().to_string());
        let d = &self.stores.destination;
        format!(
            r#"# Written by `cutover rehearse` for its sandbox; the clusters and servers exist
# only while the rehearsal runs.
[migration]
name = {name}
runbook = "threescale-rhoam"
access_path = {path}
party = {party}
operator = {operator}
state_dir = {state}

[source]
kubeconfig = {k}
context = "source"
namespace = "{SOURCE_NAMESPACE}"
wildcard_domain = "{SOURCE_DOMAIN}"
system_database_kind = "postgresql"
# The source's Redis servers, as a port-forward to their pods would reach them: the
# queue panel watches the drain on them.
backend_redis_storage_url = {src_storage}
backend_redis_queues_url = {src_queues}
system_redis_url = {src_system}
system_database_url = {src_db}
zync_database_url = {src_zync}

[migration_cluster]
kubeconfig = {k}
context = "migration"
namespace = "{MIGRATION_NAMESPACE}"
wildcard_domain = "{MIGRATION_DOMAIN}"
system_database_kind = "postgresql"
system_database_url = {mig_db}

[destination]
kubeconfig = {k}
context = "destination"
namespace = "{DESTINATION_NAMESPACE}"
wildcard_domain = "{DESTINATION_DOMAIN}"
system_database_kind = "postgresql"
# No system_database_url: seed-destination-database reaches RHOAM's database from inside the
# cluster, through its client pod, which reads the URL from secret system-database.
zync_database_url = {dst_zync}
backend_redis_storage_url = {dst_storage}
backend_redis_queues_url = {dst_queues}
system_redis_url = {dst_system}

[drain]
threshold = 0
timeout = "2m"
{dumps}"#,
            dumps = self.dumps_section(),
            name = toml_str(name),
            path = toml_str(access_path),
            party = toml_str(party),
            operator = toml_str(operator),
            state = toml_str(&state_dir.display().to_string()),
            src_storage = toml_str(&self.stores.source_backend_redis),
            src_queues = toml_str(&self.stores.source_backend_queues),
            src_system = toml_str(&self.stores.source_system_redis),
            src_db = toml_str(&self.stores.source_system_database),
            src_zync = toml_str(&self.stores.source_zync_database),
            mig_db = toml_str(&self.stores.migration_system_database),
            dst_zync = toml_str(&d.zync_database),
            dst_storage = toml_str(&d.backend_redis_storage),
            dst_queues = toml_str(&d.backend_redis_queues),
            dst_system = toml_str(&d.system_redis),
        )
    }
}

struct Servers {
    redis: Vec<RedisProcess>,
    postgres: PgServer,
    databases: Vec<PgDatabase>,
}

/// Source backend and system Redis, destination backend and system Redis; the
/// source's system and zync databases, the migration cluster's and the destination's.
fn start_servers() -> Result<Servers> {
    let redis = vec![
        RedisProcess::start(RedisOptions::default().rdb_file("dump.rdb"))?,
        RedisProcess::start(RedisOptions::default().rdb_file("dump.rdb"))?,
        RedisProcess::start(RedisOptions::default())?,
        RedisProcess::start(RedisOptions::default())?,
    ];
    let postgres = PgServer::local_or_throwaway()?;
    let databases = [
        "sandbox_source_system",
        "sandbox_source_zync",
        "sandbox_migration_system",
        "sandbox_rhoam_system",
        "sandbox_rhoam_zync",
    ]
    .iter()
    .map(|prefix| postgres.create_database(prefix))
    .collect::<Result<Vec<_>>>()?;
    Ok(Servers {
        redis,
        postgres,
        databases,
    })
}

fn apply_all(cluster: &SimCluster, objects: Vec<Value>) -> Result<()> {
    for object in objects {
        cluster.apply_object(object)?;
    }
    Ok(())
}

/// The source's in-cluster data stores are the sandbox's servers: port-forwards to
/// their pods reach them, and the commands the dump steps run in those pods run here.
fn wire_source_pods(
    source: &SimCluster,
    backend: &RedisProcess,
    system: &RedisProcess,
    system_db: &PgDatabase,
    zync_db: &PgDatabase,
    postgres: &PgServer,
) -> Result<()> {
    let pg_addr = server_addr(postgres.admin_url()).with_context(|| {
        format!(
            "cannot tell the address of PostgreSQL at {}",
            crate::infra::url::redact(postgres.admin_url())
        )
    })?;
    let local = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    source.forward_port("backend-redis", 6379, local(backend.port()));
    source.forward_port("system-redis", 6379, local(system.port()));
    source.forward_port("system-postgresql", 5432, pg_addr);
    source.forward_port("zync-database", 5432, pg_addr);
    let port = |r: &RedisProcess| r.port().to_string();
    source.allow_exec(
        ExecRule::new(
            "backend-redis",
            &["redis-cli"],
            &["redis-cli", "-p", &port(backend)],
        )
        .with_extra_args(),
    );
    source.allow_exec(
        ExecRule::new(
            "system-redis",
            &["redis-cli"],
            &["redis-cli", "-p", &port(system)],
        )
        .with_extra_args(),
    );
    // The dump step asks the server where it saves (CONFIG GET dir, which names the sandbox
    // server's folder) and reads that file; the images' default path maps there too.
    for (pod, server) in [("backend-redis", backend), ("system-redis", system)] {
        if let Some(rdb) = server.rdb_path() {
            let rdb = rdb.display().to_string();
            for asked in ["/var/lib/redis/data/dump.rdb", rdb.as_str()] {
                source.allow_exec(ExecRule::new(pod, &["cat", asked], &["cat", &rdb]));
            }
        }
    }
    source.allow_exec(
        ExecRule::new(
            "system-postgresql",
            &["pg_dump"],
            &["pg_dump", "-d", system_db.url()],
        )
        .with_extra_args(),
    );
    source.allow_exec(
        ExecRule::new(
            "system-postgresql",
            &["psql"],
            &["psql", "-d", system_db.url()],
        )
        .with_extra_args(),
    );
    source.allow_exec(
        ExecRule::new(
            "zync-database",
            &["pg_dump"],
            &["pg_dump", "-d", zync_db.url()],
        )
        .with_extra_args(),
    );
    source.allow_exec(
        ExecRule::new("zync-database", &["psql"], &["psql", "-d", zync_db.url()]).with_extra_args(),
    );
    Ok(())
}

/// `host:port` of a PostgreSQL URL, for the port-forward target.
fn server_addr(url: &str) -> Option<SocketAddr> {
    let p = crate::infra::url::parts(url)?;
    let host = if p.host == "localhost" {
        "127.0.0.1"
    } else {
        p.host
    };
    format!("{host}:{}", p.port.unwrap_or("5432")).parse().ok()
}

/// Whether each simulated worker runs: the workloads that do its work have replicas.
struct WorkerFlags {
    backend: watch::Receiver<bool>,
    sidekiq: watch::Receiver<bool>,
    apicast: watch::Receiver<bool>,
    que: watch::Receiver<bool>,
}

/// Polls the source's workloads and turns the workers on and off with their replicas:
/// backend-worker drains Resque, system-sidekiq drains Sidekiq, apicast-production
/// makes traffic, zync-que works the que.
fn watch_source_replicas(source: &Arc<SimCluster>) -> (WorkerFlags, AbortOnDrop) {
    let names = [
        "backend-worker",
        "system-sidekiq",
        "apicast-production",
        "zync-que",
    ];
    let (senders, receivers): (Vec<_>, Vec<_>) = names.iter().map(|_| watch::channel(true)).unzip();
    let cluster = Arc::clone(source);
    let task = tokio::spawn(async move {
        loop {
            for (name, tx) in names.iter().zip(&senders) {
                let replicas = cluster
                    .get_object(
                        "apps.openshift.io/v1",
                        "DeploymentConfig",
                        SOURCE_NAMESPACE,
                        name,
                    )
                    .and_then(|o| o.pointer("/spec/replicas").and_then(Value::as_i64))
                    .unwrap_or(0);
                tx.send_if_modified(|on| {
                    let now = replicas > 0;
                    std::mem::replace(on, now) != now
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    let mut r = receivers.into_iter();
    let mut next = || r.next().unwrap_or_else(|| watch::channel(false).1);
    let flags = WorkerFlags {
        backend: next(),
        sidekiq: next(),
        apicast: next(),
        que: next(),
    };
    (flags, AbortOnDrop(task))
}

/// The sandbox's age identity in `dir` (created with mode 0600 on first use) and its public
/// key.
fn sandbox_age_identity(dir: &Path) -> Result<(PathBuf, String)> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    const PUBLIC: &str = "# public key: ";
    let path = dir.join("age-identity.txt");
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Some(public) = text.lines().find_map(|l| l.strip_prefix(PUBLIC))
    {
        return Ok((path, public.trim().to_string()));
    }
    let (text, public) = crate::infra::age::generate_identity();
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write the sandbox's age identity {}", path.display()))?;
    Ok((path, public))
}

fn toml_str(s: &str) -> String {
    // A TOML basic string is a JSON string for everything these values hold.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_address_of_a_postgresql_url() {
        assert_eq!(
            server_addr("postgresql://postgres@127.0.0.1:5432/postgres"),
            "127.0.0.1:5432".parse().ok()
        );
        assert_eq!(
            server_addr("postgresql://u:p@localhost:6543/x?sslmode=disable"),
            "127.0.0.1:6543".parse().ok()
        );
    }
}
