//! Databases of our own on a PostgreSQL server: the one at a given admin URL, or a throw-away
//! cluster (initdb + pg_ctl in a temporary folder) when none answers there; or a kept cluster
//! in a folder of the caller's, stopped but not removed, and started again from it later.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};

use super::names::database_name;
use super::ports::{PORT_ATTEMPTS, ensure_free, free_port, stable_port};
use super::process::{
    Watchdog, as_user, command_line, find_binary, is_root, kept_tempdir, kill_all_mentioning,
    log_tail, path_str, postgres_bin_dirs, run, shq,
};
use super::runtime::block_on;
use crate::error::bad_input;
use crate::infra::url::{redact, scrub_error, with_database};

/// Long enough for a busy machine; the probe only decides whether a server is there.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// PostgreSQL's identifier limit (NAMEDATALEN - 1).
const MAX_NAME: usize = 63;

/// A PostgreSQL server to create databases on. Cloning shares it; a throw-away cluster stops
/// and its folder goes when the last clone and the last of its [`PgDatabase`]s are dropped.
#[derive(Clone)]
pub struct PgServer {
    inner: Arc<Inner>,
}

struct Inner {
    admin_url: String,
    cluster: Option<Cluster>,
}

/// A throw-away or kept cluster's folder (data, socket, log) and the watchdog that stops it.
struct Cluster {
    dir: PathBuf,
    watchdog: Option<Watchdog>,
    /// A kept cluster's folder stays when it stops.
    kept: bool,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The watchdog's cleanup is the one way to stop the cluster: pg_ctl stop, then (for a
        // throw-away one) a kill of whatever still runs from the folder and its removal.
        match self.watchdog.take() {
            Some(watchdog) => watchdog.run_now(),
            // Failed before the watchdog was up: nothing runs from the folder yet.
            None if !self.kept => {
                let _ = std::fs::remove_dir_all(&self.dir);
            }
            None => {}
        }
        if !self.kept && self.dir.exists() {
            tracing::warn!("could not remove {}", self.dir.display());
        }
    }
}

/// Where a cluster lives, and on which port it listens.
enum Placement<'a> {
    /// A new temporary folder, removed with the cluster; a free port.
    Throwaway,
    /// This folder (created and initialised when it holds no cluster yet), kept when the
    /// cluster stops; this port, or a free one outside the kernel's ephemeral range.
    Kept { dir: &'a Path, port: Option<u16> },
}

impl PgServer {
    /// The server a default local installation answers on, as its superuser over TCP.
    pub const DEFAULT_ADMIN_URL: &'static str = "postgresql://postgres@127.0.0.1:5432/postgres";

    /// The server at [`PgServer::DEFAULT_ADMIN_URL`], or a throw-away cluster when none
    /// answers there.
    pub fn local_or_throwaway() -> anyhow::Result<PgServer> {
        Self::at_or_throwaway(Self::DEFAULT_ADMIN_URL)
    }

    /// The server at `admin_url` (a superuser, or a user allowed to create databases), or a
    /// throw-away cluster when none answers there.
    pub fn at_or_throwaway(admin_url: &str) -> anyhow::Result<PgServer> {
        match Self::at(admin_url) {
            Ok(server) => Ok(server),
            Err(probe) => {
                tracing::info!(
                    "no PostgreSQL at {} ({probe:#}); starting a throw-away cluster",
                    redact(admin_url)
                );
                Self::throwaway().with_context(|| {
                    format!(
                        "no PostgreSQL answers at {} ({probe:#}), and none could be started",
                        redact(admin_url)
                    )
                })
            }
        }
    }

    /// The server at `admin_url`, once it answers.
    pub fn at(admin_url: &str) -> anyhow::Result<PgServer> {
        block_on(|| execute(admin_url, "SELECT 1"))??;
        Ok(PgServer {
            inner: Arc::new(Inner {
                admin_url: admin_url.to_string(),
                cluster: None,
            }),
        })
    }

    /// A new cluster in a temporary folder, on a free loopback port, trusting local
    /// connections, run as `postgres` when running as root. It stops and its folder goes when
    /// the last [`PgServer`] clone is dropped, or when this process dies.
    pub fn throwaway() -> anyhow::Result<PgServer> {
        Self::with_cluster(Placement::Throwaway)
    }

    /// A cluster kept in `dir`: initialised there when `dir` holds none yet, else started from
    /// it; on `port`, or on a free port outside the kernel's ephemeral range (so it is free again
    /// when the cluster starts again). It stops when the last [`PgServer`] clone is dropped, or
    /// when this process dies, and its folder stays. The server runs without fsync: the data
    /// survives the end of this process and of the server, not a crash of the machine.
    pub fn kept_cluster(dir: &Path, port: Option<u16>) -> anyhow::Result<PgServer> {
        Self::with_cluster(Placement::Kept { dir, port })
    }

    fn with_cluster(placement: Placement<'_>) -> anyhow::Result<PgServer> {
        let (admin_url, cluster) = start_cluster(placement)?;
        Ok(PgServer {
            inner: Arc::new(Inner {
                admin_url,
                cluster: Some(cluster),
            }),
        })
    }

    /// The URL this server is administered through.
    pub fn admin_url(&self) -> &str {
        &self.inner.admin_url
    }

    /// True for a cluster started by [`PgServer::throwaway`].
    pub fn is_throwaway(&self) -> bool {
        self.inner.cluster.is_some()
    }

    /// The throw-away (or kept) cluster's folder (data, socket, log).
    pub fn dir(&self) -> Option<&Path> {
        self.inner.cluster.as_ref().map(|c| c.dir.as_path())
    }

    /// The port of the admin URL (5432 when it names none).
    pub fn port(&self) -> Option<u16> {
        let parts = crate::infra::url::parts(self.admin_url())?;
        parts.port.unwrap_or("5432").parse().ok()
    }

    /// A new, empty database named `prefix` plus a unique suffix. `prefix`: letters, digits and
    /// underscores, starting with a letter.
    pub fn create_database(&self, prefix: &str) -> anyhow::Result<PgDatabase> {
        let name = database_name(prefix, MAX_NAME)?;
        let sql = format!("CREATE DATABASE \"{name}\"");
        block_on(|| execute(self.admin_url(), &sql))?
            .with_context(|| format!("cannot create the database {name}"))?;
        Ok(PgDatabase {
            url: with_database(self.admin_url(), &name),
            name,
            server: self.clone(),
            keep: false,
        })
    }

    /// The existing database `name`, which dropping the value leaves in place (as
    /// [`PgDatabase::keep`]). An error says when the server has no such database.
    pub fn existing_database(&self, name: &str) -> anyhow::Result<PgDatabase> {
        let found = block_on(|| database_exists(self.admin_url(), name))??;
        if !found {
            bail!(
                "the database {name} is not on the PostgreSQL at {}",
                redact(self.admin_url())
            );
        }
        Ok(PgDatabase {
            url: with_database(self.admin_url(), name),
            name: name.to_string(),
            server: self.clone(),
            keep: true,
        })
    }

    /// Drops the database `name` when it exists, ending the sessions still on it.
    pub fn drop_database(&self, name: &str) -> anyhow::Result<()> {
        // FORCE ends sessions a failed caller left open (PostgreSQL 13 and later).
        let sql = format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            name.replace('"', "\"\"")
        );
        block_on(|| execute(self.admin_url(), &sql))?
            .with_context(|| format!("cannot drop the database {name}"))
    }
}

/// A database of our own. Dropping it drops the database, ending the sessions still on it,
/// unless it is kept ([`PgDatabase::keep`]).
pub struct PgDatabase {
    name: String,
    url: String,
    server: PgServer,
    /// Dropping the value leaves the database in place.
    keep: bool,
}

impl PgDatabase {
    /// A URL for this database, as the server's admin user.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn server(&self) -> &PgServer {
        &self.server
    }

    /// Runs SQL (several statements allowed) in this database, for setup.
    pub fn execute(&self, sql: &str) -> anyhow::Result<()> {
        block_on(|| execute(&self.url, sql))?
            .with_context(|| format!("SQL failed in the database {}", self.name))
    }

    /// Drops the database now, saying whether that worked (dropping the value only logs it).
    pub fn remove(mut self) -> anyhow::Result<()> {
        self.keep = true;
        self.server.drop_database(&self.name)
    }

    /// From now on, dropping the value leaves the database in place (a kept sandbox's).
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if !self.keep
            && let Err(e) = self.server.drop_database(&self.name)
        {
            tracing::warn!("{e:#}");
        }
    }
}

/// Runs `sql` on a fresh connection to `url`; errors name the server (password redacted).
async fn execute(url: &str, sql: &str) -> anyhow::Result<()> {
    let client = connect(url).await?;
    client
        .batch_execute(sql)
        .await
        .map_err(|e| pg_error(&e, url))
}

/// A connection to `url`, its driver running on the current runtime until the client drops.
async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let shown = redact(url);
    let (client, connection) = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_postgres::connect(url, tokio_postgres::NoTls),
    )
    .await
    .map_err(|_| anyhow!("PostgreSQL at {shown} did not answer within {CONNECT_TIMEOUT:?}"))?
    .map_err(|e| scrub_error(&e, url))
    .with_context(|| {
        format!(
            "cannot connect to PostgreSQL at {shown} (check that the server runs and \
                     lets this user in)"
        )
    })?;
    tokio::spawn(connection);
    Ok(client)
}

/// The server's message for a database error (the bare driver error says only "db error").
fn pg_error(e: &tokio_postgres::Error, url: &str) -> anyhow::Error {
    match e.as_db_error() {
        Some(db) => anyhow!("{}", crate::infra::url::scrub(db.message(), url)),
        None => scrub_error(e, url),
    }
}

/// Whether the server at `url` has a database named `name`.
async fn database_exists(url: &str, name: &str) -> anyhow::Result<bool> {
    let client = connect(url).await?;
    let rows = client
        .query("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .map_err(|e| pg_error(&e, url))?;
    Ok(!rows.is_empty())
}

/// The data folder of the server at `url`.
async fn data_directory(url: &str) -> anyhow::Result<String> {
    let client = connect(url).await?;
    let row = client
        .query_one("SHOW data_directory", &[])
        .await
        .map_err(|e| pg_error(&e, url))?;
    row.try_get::<_, String>(0).map_err(|e| pg_error(&e, url))
}

/// initdb + pg_ctl start in a temporary folder (or a kept one), on a free port (or the one
/// asked for), owned by `postgres` when running as root. The watchdog stops the cluster (and
/// removes a temporary folder) when this process exits or the returned [`Cluster`] drops.
fn start_cluster(placement: Placement<'_>) -> anyhow::Result<(String, Cluster)> {
    let pg_ctl = find_binary(&["pg_ctl"], &postgres_bin_dirs()).ok_or_else(|| {
        anyhow!(
            "pg_ctl not found on PATH nor in /usr/lib/postgresql/*/bin: install PostgreSQL's \
             server (Debian/Ubuntu: apt-get install postgresql; scripts/test does it when run \
             as root)"
        )
    })?;
    // initdb from the same installation as pg_ctl, so the data folder matches the server.
    let bin_dir = std::fs::canonicalize(&pg_ctl)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .ok_or_else(|| anyhow!("cannot resolve the folder of {}", pg_ctl.display()))?;
    let initdb = bin_dir.join("initdb");
    let pg_ctl = bin_dir.join("pg_ctl");
    if !initdb.exists() {
        bail!(
            "{} has no initdb next to it: install PostgreSQL's server (Debian/Ubuntu: apt-get \
             install postgresql)",
            pg_ctl.display()
        );
    }

    let (dir, kept, wanted_port) = match placement {
        Placement::Throwaway => (kept_tempdir("cutover-pg", Some("postgres"))?, false, None),
        Placement::Kept { dir, port } => (kept_dir(dir)?, true, port),
    };
    // Owns the folder from here on: an early return stops everything (and removes a
    // temporary folder).
    let mut cluster = Cluster {
        dir: dir.clone(),
        watchdog: None,
        kept,
    };
    let dir_str = path_str(&dir)?.to_string();
    let data = dir.join("data");
    let data_str = path_str(&data)?.to_string();
    let pg_ctl_stop = |mode: &str| {
        format!(
            "{} -D {} stop -m {mode} -w -t 60 >/dev/null 2>&1",
            command_line(&as_user("postgres", &pg_ctl)),
            shq(&data_str)
        )
    };
    let pid_file = shq(path_str(&data.join("postmaster.pid"))?);
    let cleanup = if kept {
        // A clean stop, so the next start needs no recovery; the folder stays.
        format!(
            "[ -f {pid_file} ] && {{ {} || {}; }}",
            pg_ctl_stop("fast"),
            pg_ctl_stop("immediate")
        )
    } else {
        format!(
            "[ -f {pid_file} ] && {}; {}; rm -rf {}",
            pg_ctl_stop("immediate"),
            kill_all_mentioning(&dir_str),
            shq(&dir_str)
        )
    };
    cluster.watchdog = Some(Watchdog::spawn(&cleanup)?);

    if !data.join("PG_VERSION").exists() {
        if data.exists() {
            bail!(
                "{} holds no PostgreSQL cluster (no PG_VERSION): remove it, or start afresh",
                data.display()
            );
        }
        run(as_user("postgres", &initdb).arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]))
        .context("initdb failed (as root it runs as the user postgres, which must exist)")?;
    }

    let log = dir.join("server.log");
    // A kept cluster's folder may be deep in a state folder, past the length a Unix socket's
    // path may have: it listens on TCP only, which is all that is used.
    let socket = if kept { String::new() } else { dir_str.clone() };
    let attempts = if wanted_port.is_some() {
        1
    } else {
        PORT_ATTEMPTS
    };
    let mut last_error = anyhow!("no attempt made");
    for _ in 0..attempts {
        let port = match wanted_port {
            Some(port) => {
                ensure_free(port)?;
                port
            }
            None if kept => stable_port()?,
            None => free_port()?,
        };
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -F",
            shq(&socket)
        );
        let started = run(as_user("postgres", &pg_ctl)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "120", "-o", &options, "start"]));
        let url = format!("postgresql://postgres@127.0.0.1:{port}/postgres");
        let ours = started.and_then(|()| {
            let found = block_on(|| data_directory(&url))??;
            if found.trim_end_matches('/') == data_str.trim_end_matches('/') {
                Ok(())
            } else {
                Err(anyhow!(
                    "port {port} answers as another server (data directory {found})"
                ))
            }
        });
        match ours {
            Ok(()) => return Ok((url, cluster)),
            Err(e) => {
                // Most likely another process took the port between free_port and the bind.
                last_error = anyhow!("{e:#}\nserver log:\n{}", log_tail(&log));
                let _ = run(as_user("postgres", &pg_ctl).arg("-D").arg(&data).args([
                    "stop",
                    "-m",
                    "immediate",
                    "-w",
                    "-t",
                    "60",
                ]));
            }
        }
    }
    Err(last_error.context(format!(
        "pg_ctl start failed {attempts} time(s) in {dir_str}"
    )))
}

/// `dir`, created when missing and handed to the user `postgres` when running as root, who
/// must be able to reach it: initdb and the server run as that user.
fn kept_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the PostgreSQL folder {}", dir.display()))?;
    if !is_root() {
        return Ok(dir.to_path_buf());
    }
    run(std::process::Command::new("chown")
        .arg("-R")
        .arg("postgres:")
        .arg(dir))
    .with_context(|| {
        format!(
            "cannot hand {} to the user postgres (the server refuses to run as root; check that \
             the user exists)",
            dir.display()
        )
    })?;
    let reachable = run(as_user("postgres", Path::new("test")).arg("-w").arg(dir));
    if reachable.is_err() {
        return Err(bad_input(format!(
            "the user postgres, which runs the sandbox's PostgreSQL, cannot reach {}: a folder on \
             the way is closed to other users. Choose a --state-dir it can reach (under /tmp, \
             say), or let a local PostgreSQL answer on 127.0.0.1:5432",
            dir.display()
        )));
    }
    Ok(dir.to_path_buf())
}
