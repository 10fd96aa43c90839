//! The sandbox itself: three simulated clusters, the servers behind them, the seeded data and
//! the workers, put together fresh ([`Sandbox::start`], thrown away when dropped; or
//! [`Sandbox::create`], kept in its folder) or again from its folder ([`Sandbox::resume`]).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};

use super::manifest::{self, CLUSTERS, Manifest, Removal, SavedOptions, State};
use super::options::{
    DESTINATION_DOMAIN, DESTINATION_NAMESPACE, MIGRATION_NAMESPACE, SOURCE_DOMAIN,
    SOURCE_NAMESPACE, SandboxOptions, SandboxStores, SourceDatabase,
};
use super::servers::{MysqlSource, Servers, Start, remove_state};
use super::wiring::{
    AbortOnDrop, apply_all, watch_source_replicas, wire_source_mysql, wire_source_pods,
};
use crate::error::bad_input;
use crate::sim::exec::client_pod_rules;
use crate::sim::installation::{
    ExternalStores, InternalDatabases, destination_objects, migration_operator_objects,
    source_objects,
};
use crate::sim::kubeconfig::write_kubeconfig;
use crate::sim::rake;
use crate::sim::seed;
use crate::sim::seed::workers::{self, Worker};
use crate::sim::server::SimCluster;
use crate::sim::servers::{PgDatabase, PgServer, RedisProcess, stable_port};
use crate::sim::state::ClusterSpec;
use crate::sim::threescale_api::ThreescaleApiServer;

/// A running sandbox. Dropping it stops everything it started; a thrown-away one also drops
/// its databases and removes its servers' folders, a kept one leaves its state in its folder.
pub struct Sandbox {
    // Fields drop in this order: the workers and the watcher first, then the clusters, then
    // the servers they talk to.
    _workers: Vec<Worker>,
    _watcher: AbortOnDrop,
    pub source: Arc<SimCluster>,
    pub migration: SimCluster,
    pub destination: SimCluster,
    pub kubeconfig: PathBuf,
    pub stores: SandboxStores,
    /// porta's Admin and Master APIs of the destination, served from its system database.
    pub threescale_api: ThreescaleApiServer,
    /// The source's system database.
    pub source_database: SourceDatabase,
    dir: PathBuf,
    kept: bool,
    _redis: Vec<RedisProcess>,
    _mysql: Option<MysqlSource>,
    _databases: Vec<PgDatabase>,
    _postgres: PgServer,
}

/// How many ports a kept cluster tries when the one it picked was taken meanwhile.
const PORT_ATTEMPTS: u32 = 5;

/// How [`Sandbox::build`] comes by its servers and objects.
enum Making<'a> {
    Throwaway,
    Kept,
    Again(&'a Manifest),
}

impl Sandbox {
    /// Starts everything, seeds it, and writes the kubeconfig (contexts `source`,
    /// `migration`, `destination`) into `dir`. Everything goes when the sandbox is dropped.
    pub async fn start(dir: &Path, options: SandboxOptions) -> Result<Sandbox> {
        Self::build(dir, options, Making::Throwaway).await
    }

    /// As [`Sandbox::start`], but the sandbox keeps its state in `dir` (see `manifest` for
    /// the folder): the clusters' objects, saved after every change; the Redis data, in
    /// append-only files; the databases, kept (on a PostgreSQL of its own in `dir` when none
    /// answers at the admin URL). Dropped, its servers stop and the state stays, for
    /// [`Sandbox::resume`]; [`Sandbox::remove`] removes it. A start that fails removes what it
    /// made.
    pub async fn create(dir: &Path, options: SandboxOptions) -> Result<Sandbox> {
        match Self::build(dir, options, Making::Kept).await {
            Ok(sandbox) => Ok(sandbox),
            Err(e) => {
                for left in discard(dir, "its start failed") {
                    tracing::warn!("{left}");
                }
                Err(e)
            }
        }
    }

    /// Starts the kept sandbox in `dir` again from its state: the clusters' objects as they
    /// were saved, the Redis data and the databases as they were left; nothing is seeded again,
    /// and the workers run as the source's replicas say. A sandbox that cannot start again (its
    /// folder, a database or a server's data gone, a manifest of another format, a port taken)
    /// is bad input that says what is wrong.
    ///
    /// Every server comes back on the port it had, rather than on a new one with the objects and
    /// the config rewritten to match: the migration's journal names those ports too (the
    /// inventory's stores, the dumps' sources, as facts later steps read), and a journal is
    /// never rewritten; so do the destination's secrets, the config and the kubeconfig. The
    /// ports lie below the kernel's ephemeral range, where no outgoing connection takes them
    /// while the sandbox is stopped; one another server took is an error naming it.
    pub async fn resume(dir: &Path) -> Result<Sandbox> {
        let manifest = ready_manifest(dir, "its start was cut short before it was seeded")?;
        for name in CLUSTERS {
            if !manifest.clusters.contains_key(name) {
                return Err(bad_input(format!(
                    "its manifest names no port for its {name} cluster"
                )));
            }
            let file = manifest::cluster_file(dir, name);
            if !file.is_file() {
                return Err(bad_input(format!(
                    "the objects of its {name} cluster ({}) are gone",
                    file.display()
                )));
            }
        }
        let options = manifest
            .options
            .options(&manifest.postgres, manifest.mariadb.as_ref());
        Self::build(dir, options, Making::Again(&manifest)).await
    }

    /// Stops the sandbox and removes its state (see [`discard`]); returns what could not be
    /// removed. A thrown-away sandbox just stops.
    pub fn remove(self, why: &str) -> Vec<String> {
        let (dir, kept) = (self.dir.clone(), self.kept);
        drop(self);
        if kept { discard(&dir, why) } else { Vec::new() }
    }

    /// The sandbox's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    async fn build(dir: &Path, options: SandboxOptions, making: Making<'_>) -> Result<Sandbox> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the sandbox folder {}", dir.display()))?;
        let kept = !matches!(making, Making::Throwaway);
        let folder = dir.to_path_buf();
        let admin_url = options.postgres_admin_url.clone();
        let mysql_admin = (options.source_database == SourceDatabase::Mysql)
            .then(|| options.mariadb_admin_url.clone());
        let again = match &making {
            Making::Again(m) => Some((*m).clone()),
            _ => None,
        };
        let servers = tokio::task::spawn_blocking(move || {
            let how = match (&again, kept) {
                (Some(manifest), _) => Start::Again {
                    dir: &folder,
                    manifest,
                },
                (None, true) => Start::Kept {
                    dir: &folder,
                    admin_url: &admin_url,
                    mysql: mysql_admin.as_deref(),
                },
                (None, false) => Start::Throwaway {
                    admin_url: &admin_url,
                    mysql: mysql_admin.as_deref(),
                },
            };
            Servers::start(how)
        })
        .await
        .context("the sandbox's server start-up stopped unexpectedly")??;
        let mut manifest = match &making {
            Making::Again(m) => (*m).clone(),
            _ => Manifest {
                format: manifest::FORMAT,
                state: State::Starting,
                created: manifest::now(),
                options: SavedOptions::of(&options),
                ..Manifest::default()
            },
        };
        if matches!(making, Making::Kept) {
            servers.record(&mut manifest);
            // From here on a cut-short start leaves a manifest that names what to remove.
            manifest::write(dir, &manifest)?;
        }
        let Servers {
            redis,
            postgres,
            databases,
            mysql,
        } = servers;
        let [src_backend, src_system, dst_backend, dst_system, mig_redis] = &redis[..] else {
            anyhow::bail!("the sandbox expected five Redis servers");
        };
        let [src_db, src_zync, mig_db, dst_db, dst_zync] = &databases[..] else {
            anyhow::bail!("the sandbox expected five databases");
        };
        let stores = SandboxStores {
            source_backend_redis: src_backend.url_db(0),
            source_backend_queues: src_backend.url_db(1),
            source_system_redis: src_system.url_db(1),
            source_system_database: match &mysql {
                Some(m) => m.database.url().to_string(),
                None => src_db.url().to_string(),
            },
            source_zync_database: src_zync.url().to_string(),
            migration_system_database: mig_db.url().to_string(),
            migration: ExternalStores {
                system_database: mig_db.url().to_string(),
                backend_redis_storage: mig_redis.url_db(0),
                backend_redis_queues: mig_redis.url_db(1),
                system_redis: mig_redis.url_db(2),
                zync_database: String::new(),
            },
            destination: ExternalStores {
                system_database: dst_db.url().to_string(),
                backend_redis_storage: dst_backend.url_db(0),
                backend_redis_queues: dst_backend.url_db(1),
                system_redis: dst_system.url_db(1),
                zync_database: dst_zync.url().to_string(),
            },
        };

        let fresh = !matches!(making, Making::Again(_));
        let internal = InternalDatabases {
            system: match &mysql {
                Some(m) => m.database.name().to_string(),
                None => src_db.name().to_string(),
            },
            zync: src_zync.name().to_string(),
            mysql: mysql.is_some(),
        };
        let source_install = source_objects(SOURCE_NAMESPACE, SOURCE_DOMAIN, &internal);
        let destination_install = destination_objects(
            DESTINATION_NAMESPACE,
            DESTINATION_DOMAIN,
            &stores.destination,
        );
        if fresh {
            let sizes = &options.sizes;
            // The database holds the tokens the installation's secrets name, as db:seed made it.
            let tokens = seed::SeedTokens::of_objects(&source_install)
                .context("the source installation's secrets name no access tokens")?;
            let release = seed::porta_schema::source_release();
            match &mysql {
                Some(m) => {
                    seed::system_mysql::seed_system_mysql_with(
                        m.database.url(),
                        SOURCE_DOMAIN,
                        sizes,
                        &tokens,
                        release,
                    )
                    .await?;
                }
                None => {
                    seed::seed_system_database_with(
                        src_db.url(),
                        SOURCE_DOMAIN,
                        sizes,
                        &tokens,
                        release,
                    )
                    .await?;
                }
            }
            // RHOAM's freshly installed 3scale: its release, its own tokens, one product.
            let tokens = seed::SeedTokens::of_objects(&destination_install)
                .context("the destination installation's secrets name no access tokens")?;
            let fresh_install = seed::Sizes {
                services: 1,
                applications_per_service: 1,
                ..seed::Sizes::default()
            };
            seed::seed_system_database_with(
                dst_db.url(),
                DESTINATION_DOMAIN,
                &fresh_install,
                &tokens,
                seed::porta_schema::destination_release(),
            )
            .await?;
            // RHOAM's reconciler created its Admin Portal SSO on the fresh install's tenant.
            seed::rhoam_sso::create_rhsso(dst_db.url(), DESTINATION_DOMAIN).await?;
            seed::seed_zync_database_with_domain(src_zync.url(), SOURCE_DOMAIN, sizes).await?;
            seed::seed_backend_redis(&src_backend.url_db(0), &src_backend.url_db(1), sizes).await?;
            seed::seed_system_redis(&src_system.url_db(1), sizes).await?;
            // The dump step reads the RDB file, as it would in the backend-redis pod.
            src_backend.command(&["SAVE"])?;
        }

        let ports = match &making {
            Making::Again(m) => Some(&m.clusters),
            _ => None,
        };
        let start = |name: &'static str, ns: &'static str| {
            let spec = ClusterSpec::new(name)
                .namespace(ns)
                .pod_delays(options.pod_start_delay, options.pod_stop_delay);
            let port = ports.and_then(|p| p.get(name).copied());
            start_cluster(spec, kept.then_some((dir, port)))
        };
        let source = Arc::new(start("source", SOURCE_NAMESPACE).await?);
        let migration = start("migration", MIGRATION_NAMESPACE).await?;
        let destination = start("destination", DESTINATION_NAMESPACE).await?;

        if fresh {
            apply_all(&source, source_install)?;
            apply_all(
                &migration,
                migration_operator_objects(MIGRATION_NAMESPACE, &stores.migration),
            )?;
            apply_all(&destination, destination_install)?;
        }
        // The upgrade's db:migrate on the migration cluster runs on its system database.
        migration.on_system_app_pre(seed::porta_schema::db_migrate_on_upgrade(
            stores.migration_system_database.clone(),
        ));
        // RHOAM's system database is reached through cutover's client pod there.
        for rule in client_pod_rules() {
            destination.allow_exec(rule);
        }
        // 3scale's rake tasks in system's pods, wherever 3scale runs on migrated data.
        rake::allow_rake(&migration);
        rake::allow_rake(&destination);
        wire_source_pods(
            &source,
            src_backend,
            src_system,
            src_db,
            src_zync,
            &postgres,
        )?;
        if let Some(m) = &mysql {
            wire_source_mysql(&source, m.server.admin_url())?;
        }

        let kubeconfig = dir.join("kubeconfig");
        write_kubeconfig(
            &kubeconfig,
            &[
                ("source", &source),
                ("migration", &migration),
                ("destination", &destination),
            ],
        )?;
        let threescale_api = start_threescale_api(
            &stores.destination.system_database,
            kept,
            manifest.threescale_api,
        )
        .await?;
        if kept {
            manifest.threescale_api = Some(threescale_api.port());
            manifest.clusters = [
                ("source", &*source),
                ("migration", &migration),
                ("destination", &destination),
            ]
            .iter()
            .map(|(name, c)| (name.to_string(), c.addr().port()))
            .collect();
            manifest.state = State::Ready;
            manifest::write(dir, &manifest)?;
        }

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
            _workers: workers,
            _watcher: watcher,
            source,
            migration,
            destination,
            kubeconfig,
            stores,
            threescale_api,
            source_database: options.source_database,
            dir: dir.to_path_buf(),
            kept,
            _redis: redis,
            _mysql: mysql,
            _databases: databases,
            _postgres: postgres,
        })
    }
}

/// The destination's simulated 3scale API: a kept sandbox's on the port it had (or a stable
/// one), since the rehearsal's config names it; a thrown-away one's on any free port.
async fn start_threescale_api(
    database: &str,
    kept: bool,
    port: Option<u16>,
) -> Result<ThreescaleApiServer> {
    on_port(kept, port, |port| {
        ThreescaleApiServer::start(database, (port != 0).then_some(port))
    })
    .await
}

/// Starts a server with `start(port)`: a thrown-away sandbox's on any free port (0), a kept
/// one's on the port it had, or else on a stable port (another if a process took it meanwhile).
pub(super) async fn on_port<T, F, Fut>(kept: bool, port: Option<u16>, start: F) -> Result<T>
where
    F: Fn(u16) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    if !kept {
        return start(0).await;
    }
    if let Some(port) = port {
        return start(port).await;
    }
    let mut last = anyhow::anyhow!("no attempt made");
    for _ in 0..PORT_ATTEMPTS {
        match start(stable_port()?).await {
            Ok(server) => return Ok(server),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A simulated cluster; kept ones (`kept`: the sandbox folder and the port to take again)
/// save their objects in the folder, on a port outside the kernel's ephemeral range.
pub(super) async fn start_cluster(
    spec: ClusterSpec,
    kept: Option<(&Path, Option<u16>)>,
) -> Result<SimCluster> {
    let Some((dir, port)) = kept else {
        return SimCluster::start(spec).await;
    };
    let file = manifest::cluster_file(dir, &spec.name);
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let spec = spec.state_file(file);
    if let Some(port) = port {
        return SimCluster::start(spec.port(port)).await;
    }
    let mut last = anyhow::anyhow!("no attempt made");
    for _ in 0..PORT_ATTEMPTS {
        // Another process may take the port between the check and the bind: try another.
        match SimCluster::start(spec.clone().port(stable_port()?)).await {
            Ok(cluster) => return Ok(cluster),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Removes the state of the kept sandbox in `dir`, which must not be running: its databases
/// (dropped from a shared server), the clusters' objects, the Redis data, its PostgreSQL's
/// folder and its kubeconfig. The manifest stays, marked removed with `why`, with the age
/// identity (it decrypts the secrets dump the rehearsal made). Returns what could not be
/// removed. A sandbox removed already is left as it is.
/// The manifest of a kept sandbox that may start again; bad input saying why not (`cut_short`
/// for a start that never finished).
pub(super) fn ready_manifest(dir: &Path, cut_short: &str) -> Result<Manifest> {
    let manifest = manifest::read(dir).map_err(|e| bad_input(format!("{e:#}")))?;
    match manifest.state {
        State::Ready => Ok(manifest),
        State::Starting => Err(bad_input(cut_short.to_string())),
        State::Removed => {
            let why = manifest.removed.as_ref().map_or("", |r| r.why.as_str());
            Err(bad_input(format!("its state was removed ({why})")))
        }
    }
}

pub fn discard(dir: &Path, why: &str) -> Vec<String> {
    if manifest::removal(dir).is_some() {
        return Vec::new();
    }
    let manifest = manifest::read(dir).ok();
    let mut left = remove_state(dir, manifest.as_ref());
    let mut tombstone = manifest.unwrap_or_default();
    tombstone.format = manifest::FORMAT;
    tombstone.state = State::Removed;
    tombstone.removed = Some(Removal {
        why: why.to_string(),
        at: manifest::now(),
    });
    let written = std::fs::create_dir_all(dir)
        .map_err(anyhow::Error::from)
        .and_then(|()| manifest::write(dir, &tombstone));
    if let Err(e) = written {
        left.push(format!("cannot mark {} removed: {e:#}", dir.display()));
    }
    left
}

/// How the sandbox in `dir` was removed, when it was.
pub fn removal(dir: &Path) -> Option<Removal> {
    manifest::removal(dir)
}
