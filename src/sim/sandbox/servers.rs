//! The sandbox's data servers: four Redis servers (the source's backend and system Redis, the
//! destination's) and five databases on one PostgreSQL (the source's system and zync databases,
//! the migration cluster's, the destination's two). Started fresh and thrown away with the
//! sandbox, started fresh and kept in the sandbox's folder, or started again from that folder.
//! The calls block (see `sim::servers`).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use super::manifest::{self, DATABASES, Manifest, REDIS, SavedMariadb, SavedPostgres};
use crate::error::bad_input;
use crate::sim::servers::{
    self, MariaDatabase, MariaServer, PgDatabase, PgServer, RedisOptions, RedisProcess,
};

/// How long a restart waits for the ports of its servers to be free: after a kill -9, the
/// watchdogs of the killed process are still stopping them for a few seconds.
const PORTS_WAIT: Duration = Duration::from_secs(30);

pub(super) struct Servers {
    /// In the order of [`REDIS`].
    pub redis: Vec<RedisProcess>,
    pub postgres: PgServer,
    /// In the order of [`DATABASES`].
    pub databases: Vec<PgDatabase>,
    /// A MySQL source's system database, on its server.
    pub mysql: Option<MysqlSource>,
}

/// A MySQL source's system database. The database drops before its server stops.
pub(super) struct MysqlSource {
    pub database: MariaDatabase,
    pub server: MariaServer,
}

/// How the servers start.
pub(super) enum Start<'a> {
    /// Temporary folders and databases, removed when dropped. `mysql`: the MariaDB admin URL,
    /// for a MySQL source.
    Throwaway {
        admin_url: &'a str,
        mysql: Option<&'a str>,
    },
    /// Data kept in the sandbox folder `dir`, databases kept.
    Kept {
        dir: &'a Path,
        admin_url: &'a str,
        mysql: Option<&'a str>,
    },
    /// Again from the sandbox folder `dir`, as its manifest says.
    Again {
        dir: &'a Path,
        manifest: &'a Manifest,
    },
}

impl Servers {
    pub fn start(how: Start<'_>) -> anyhow::Result<Servers> {
        match how {
            Start::Throwaway { admin_url, mysql } => fresh(None, admin_url, mysql),
            Start::Kept {
                dir,
                admin_url,
                mysql,
            } => fresh(Some(dir), admin_url, mysql),
            Start::Again { dir, manifest } => again(dir, manifest),
        }
    }

    /// What the manifest records of these servers.
    pub fn record(&self, manifest: &mut Manifest) {
        manifest.redis = REDIS
            .iter()
            .zip(&self.redis)
            .map(|((role, _, _), r)| (role.to_string(), r.port()))
            .collect();
        manifest.databases = DATABASES
            .iter()
            .zip(&self.databases)
            .map(|((role, _), db)| (role.to_string(), db.name().to_string()))
            .collect();
        manifest.postgres = SavedPostgres {
            admin_url: self.postgres.admin_url().to_string(),
            kept_cluster_port: self.postgres.dir().and_then(|_| self.postgres.port()),
        };
        manifest.mariadb = self.mysql.as_ref().map(|m| SavedMariadb {
            admin_url: m.server.admin_url().to_string(),
            kept_server_port: m.server.dir().and_then(|_| m.server.port()),
            database: m.database.name().to_string(),
        });
    }
}

fn fresh(kept: Option<&Path>, admin_url: &str, mysql: Option<&str>) -> anyhow::Result<Servers> {
    let redis = REDIS
        .iter()
        .map(|(role, _, rdb)| {
            let mut options = RedisOptions::default();
            if let Some(dir) = kept {
                options = options.kept_dir(manifest::redis_dir(dir, role));
            }
            if let Some(name) = rdb {
                options = options.rdb_file(*name);
            }
            RedisProcess::start(options)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let postgres = match kept {
        None => PgServer::at_or_throwaway(admin_url)?,
        Some(dir) => match PgServer::at(admin_url) {
            Ok(server) => server,
            Err(probe) => {
                tracing::info!(
                    "no PostgreSQL at {} ({probe:#}); starting one in the sandbox's folder",
                    crate::infra::url::redact(admin_url)
                );
                PgServer::kept_cluster(&manifest::postgres_dir(dir), None)?
            }
        },
    };
    let mut databases = DATABASES
        .iter()
        .map(|(prefix, _)| postgres.create_database(prefix))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut mysql = match mysql {
        None => None,
        Some(admin_url) => {
            let server = match kept {
                None => MariaServer::at_or_throwaway(admin_url)?,
                Some(dir) => match MariaServer::at(admin_url) {
                    Ok(server) => server,
                    Err(probe) => {
                        tracing::info!(
                            "no MariaDB at {} ({probe:#}); starting one in the sandbox's folder",
                            crate::infra::url::redact(admin_url)
                        );
                        MariaServer::kept(&manifest::mariadb_dir(dir), None)?
                    }
                },
            };
            let database = server.create_database("sandbox_source_mysql")?;
            Some(MysqlSource { database, server })
        }
    };
    // Kept only once all are there: a failure on the way drops those already made.
    if kept.is_some() {
        databases.iter_mut().for_each(PgDatabase::keep);
        if let Some(m) = &mut mysql {
            m.database.keep();
        }
    }
    Ok(Servers {
        redis,
        postgres,
        databases,
        mysql,
    })
}

/// The servers of a kept sandbox, started again on their ports from their folders. What is
/// missing is bad input (the sandbox cannot be restarted), with what is gone.
fn again(dir: &Path, manifest: &Manifest) -> anyhow::Result<Servers> {
    for (role, what, _) in REDIS {
        let data = manifest::redis_dir(dir, role);
        if !data.join("appendonlydir").is_dir() {
            return Err(bad_input(format!(
                "the data of {what} ({}) is gone",
                data.display()
            )));
        }
        if !manifest.redis.contains_key(role) {
            return Err(bad_input(format!("its manifest names no port for {what}")));
        }
    }
    let postgres_dir = manifest::postgres_dir(dir);
    if manifest.postgres.kept_cluster_port.is_some()
        && !postgres_dir.join("data/PG_VERSION").exists()
    {
        return Err(bad_input(format!(
            "its PostgreSQL's data folder {} is gone",
            postgres_dir.join("data").display()
        )));
    }
    let ports = manifest.ports();
    let just_ports: Vec<u16> = ports.iter().map(|(p, _)| *p).collect();
    let taken = servers::wait_until_free(&just_ports, PORTS_WAIT);
    if let Some((port, what)) = ports.iter().find(|(p, _)| taken.contains(p)) {
        return Err(bad_input(format!(
            "port {port}, where {what} listens, is taken by another process; stop it (`ss -ltnp \
             'sport = :{port}'` names it) and run the same command again"
        )));
    }
    let mut redis = Vec::new();
    for (role, what, rdb) in REDIS {
        let port = manifest.redis.get(role).copied().unwrap_or_default();
        let mut options = RedisOptions::default()
            .kept_dir(manifest::redis_dir(dir, role))
            .port(port);
        if let Some(name) = rdb {
            options = options.rdb_file(name);
        }
        redis.push(
            RedisProcess::start(options)
                .with_context(|| format!("cannot start {what} again on port {port}"))?,
        );
    }
    let postgres = match manifest.postgres.kept_cluster_port {
        Some(port) => {
            wait_for_postmaster_exit(&postgres_dir.join("data"));
            PgServer::kept_cluster(&postgres_dir, Some(port))
                .context("cannot start the sandbox's PostgreSQL again")?
        }
        None => PgServer::at(&manifest.postgres.admin_url).map_err(|e| {
            bad_input(format!(
                "the PostgreSQL at {} that holds its databases does not answer ({e:#}); start it \
                 and run the same command again",
                crate::infra::url::redact(&manifest.postgres.admin_url)
            ))
        })?,
    };
    let mut databases = Vec::new();
    for (role, what) in DATABASES {
        let Some(name) = manifest.databases.get(role) else {
            return Err(bad_input(format!(
                "its manifest names no database for {what}"
            )));
        };
        let db = postgres
            .existing_database(name)
            .map_err(|e| bad_input(format!("{what} is gone: {e:#}")))?;
        databases.push(db);
    }
    let mysql = match &manifest.mariadb {
        None => None,
        Some(saved) => {
            let server = match saved.kept_server_port {
                Some(port) => MariaServer::kept(&manifest::mariadb_dir(dir), Some(port))
                    .context("cannot start the sandbox's MariaDB again")?,
                None => MariaServer::at(&saved.admin_url).map_err(|e| {
                    bad_input(format!(
                        "the MariaDB at {} that holds its MySQL source does not answer ({e:#}); \
                         start it and run the same command again",
                        crate::infra::url::redact(&saved.admin_url)
                    ))
                })?,
            };
            let database = server
                .existing_database(&saved.database)
                .map_err(|e| bad_input(format!("its MySQL source is gone: {e:#}")))?;
            Some(MysqlSource { database, server })
        }
    };
    Ok(Servers {
        redis,
        postgres,
        databases,
        mysql,
    })
}

/// Waits (bounded) until no postmaster runs from `data`: after a kill -9 of the process that
/// ran the sandbox, its watchdog stops the server, which may let its port go before it exits
/// and removes `postmaster.pid`. Past the bound, starting it says what holds it.
fn wait_for_postmaster_exit(data: &Path) {
    let alive = || {
        std::fs::read_to_string(data.join("postmaster.pid"))
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse::<u32>().ok())
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
    };
    let start = std::time::Instant::now();
    while alive() && start.elapsed() < PORTS_WAIT {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Removes what the sandbox in `dir` keeps outside its folder (its databases on a shared
/// server), then the state in its folder; the manifest stays, marked removed. Returns what it
/// could not remove, for the operator.
pub(super) fn remove_state(dir: &Path, manifest: Option<&Manifest>) -> Vec<String> {
    let mut left = Vec::new();
    if let Some(m) = manifest {
        let ports: Vec<u16> = m.ports().iter().map(|(p, _)| *p).collect();
        // A server still being stopped by a killed process's watchdog has its folder in use.
        let taken = servers::wait_until_free(&ports, PORTS_WAIT);
        if !taken.is_empty() {
            left.push(format!("ports {taken:?} still answer"));
        }
        if m.postgres.kept_cluster_port.is_none() && !m.databases.is_empty() {
            left.extend(drop_databases(&m.postgres.admin_url, m.databases.values()));
        }
        if let Some(saved) = m.mariadb.as_ref().filter(|s| s.kept_server_port.is_none()) {
            let dropped = MariaServer::at(&saved.admin_url)
                .and_then(|server| server.existing_database(&saved.database))
                .and_then(|db| db.remove());
            if let Err(e) = dropped {
                left.push(format!(
                    "the MySQL database {} stays on the MariaDB at {} ({e:#}); drop it there by \
                     hand",
                    saved.database,
                    crate::infra::url::redact(&saved.admin_url)
                ));
            }
        }
    }
    for name in manifest::STATE {
        let path = dir.join(name);
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match removed {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                left.push(format!("cannot remove {}: {e}", path.display()));
            }
            _ => {}
        }
    }
    left
}

fn drop_databases<'a>(admin_url: &str, names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let names: Vec<&String> = names.collect();
    let server = match PgServer::at(admin_url) {
        Ok(server) => server,
        Err(e) => {
            return vec![format!(
                "the databases {names:?} stay on the PostgreSQL at {}, which does not answer \
                 ({e:#}); drop them there by hand",
                crate::infra::url::redact(admin_url)
            )];
        }
    };
    names
        .into_iter()
        .filter_map(|name| server.drop_database(name).err().map(|e| format!("{e:#}")))
        .collect()
}
