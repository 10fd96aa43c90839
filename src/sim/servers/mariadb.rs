//! Databases of our own on a MariaDB/MySQL server: the one at a given admin URL, or a
//! throw-away `mariadbd` (mariadb-install-db + mariadbd in a temporary folder) when none answers
//! there. MariaDB stands in for the MySQL sources that pgloader converts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use mysql_async::prelude::Queryable;

use super::names::database_name;
use super::ports::{PORT_ATTEMPTS, free_port};
use super::process::{
    POLL_INTERVAL, START_POLLS, Watchdog, find_binary, is_root, kept_tempdir, kill_all_mentioning,
    log_tail, path_str, run, shq,
};
use super::runtime::block_on;
use crate::infra::url::{redact, scrub_error, with_database};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// MariaDB's and MySQL's limit for a database name.
const MAX_NAME: usize = 64;

/// A MariaDB/MySQL server to create databases on. Cloning shares it; a throw-away server stops
/// and its folder goes when the last clone and the last of its [`MariaDatabase`]s are dropped.
#[derive(Clone)]
pub struct MariaServer {
    inner: Arc<Inner>,
}

struct Inner {
    admin_url: String,
    server: Option<Throwaway>,
}

/// A throw-away server's process, folder (data, socket, logs) and watchdog.
struct Throwaway {
    child: Option<Child>,
    dir: PathBuf,
    watchdog: Option<Watchdog>,
    /// A server whose folder stays when it stops (stopped cleanly, by SIGTERM).
    kept: bool,
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.kept {
                // A clean shutdown, so the next start needs no recovery.
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(child.id().to_string())
                    .status();
            } else {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        // Kills whatever else runs from the folder, then removes it.
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

impl MariaServer {
    /// The server a default local installation answers on, as root over TCP.
    pub const DEFAULT_ADMIN_URL: &'static str = "mysql://root@127.0.0.1:3306/";

    /// The server at [`MariaServer::DEFAULT_ADMIN_URL`], or a throw-away one when none
    /// answers there.
    pub fn local_or_throwaway() -> anyhow::Result<MariaServer> {
        Self::at_or_throwaway(Self::DEFAULT_ADMIN_URL)
    }

    /// The server at `admin_url` (`mysql://user[:password]@host:port/`, a user allowed to
    /// create databases), or a throw-away one when none answers there.
    pub fn at_or_throwaway(admin_url: &str) -> anyhow::Result<MariaServer> {
        match Self::at(admin_url) {
            Ok(server) => Ok(server),
            Err(probe) => {
                tracing::info!(
                    "no MySQL/MariaDB at {} ({probe:#}); starting a throw-away mariadbd",
                    redact(admin_url)
                );
                Self::throwaway().with_context(|| {
                    format!(
                        "no MySQL/MariaDB answers at {} ({probe:#}), and none could be started",
                        redact(admin_url)
                    )
                })
            }
        }
    }

    /// The server at `admin_url`, once it answers.
    pub fn at(admin_url: &str) -> anyhow::Result<MariaServer> {
        block_on(|| execute(admin_url, "SELECT 1"))??;
        Ok(MariaServer {
            inner: Arc::new(Inner {
                admin_url: admin_url.to_string(),
                server: None,
            }),
        })
    }

    /// A new server in a temporary folder, on a free loopback port with its own socket, root
    /// without a password; run as `mysql` when running as root (it refuses root). It stops and
    /// its folder goes when the last [`MariaServer`] clone is dropped, or when this process
    /// dies.
    pub fn throwaway() -> anyhow::Result<MariaServer> {
        let (admin_url, server) = start_server(None)?;
        Ok(MariaServer {
            inner: Arc::new(Inner {
                admin_url,
                server: Some(server),
            }),
        })
    }

    /// A server whose data stays in `dir` (initialised when it holds none), on `port` or a free
    /// one outside the kernel's ephemeral range; stopped cleanly when the last clone is dropped
    /// or this process dies, its folder kept, so it starts again from there.
    pub fn kept(dir: &Path, port: Option<u16>) -> anyhow::Result<MariaServer> {
        let (admin_url, server) = start_server(Some((dir, port)))?;
        Ok(MariaServer {
            inner: Arc::new(Inner {
                admin_url,
                server: Some(server),
            }),
        })
    }

    /// The port of the admin URL (3306 when it names none).
    pub fn port(&self) -> Option<u16> {
        let parts = crate::infra::url::parts(self.admin_url())?;
        parts.port.unwrap_or("3306").parse().ok()
    }

    /// The existing database `name`, which dropping the value leaves in place (as
    /// [`MariaDatabase::keep`]). An error says when the server has no such database.
    pub fn existing_database(&self, name: &str) -> anyhow::Result<MariaDatabase> {
        let sql = format!(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{}'",
            name.replace('\'', "")
        );
        let found = block_on(|| query_string(self.admin_url(), &sql))??;
        if found.is_none() {
            bail!(
                "the database {name} is not on the MySQL/MariaDB at {}",
                redact(self.admin_url())
            );
        }
        Ok(MariaDatabase {
            url: with_database(self.admin_url(), name),
            name: name.to_string(),
            server: self.clone(),
            dropped: true,
        })
    }

    /// The URL this server is administered through.
    pub fn admin_url(&self) -> &str {
        &self.inner.admin_url
    }

    /// True for a server started by [`MariaServer::throwaway`].
    pub fn is_throwaway(&self) -> bool {
        self.inner.server.is_some()
    }

    /// The throw-away server's folder (data, socket, logs).
    pub fn dir(&self) -> Option<&Path> {
        self.inner.server.as_ref().map(|s| s.dir.as_path())
    }

    /// A new, empty database named `prefix` plus a unique suffix. `prefix`: letters, digits and
    /// underscores, starting with a letter.
    pub fn create_database(&self, prefix: &str) -> anyhow::Result<MariaDatabase> {
        let name = database_name(prefix, MAX_NAME)?;
        let sql = format!("CREATE DATABASE `{name}`");
        block_on(|| execute(self.admin_url(), &sql))?
            .with_context(|| format!("cannot create the database {name}"))?;
        Ok(MariaDatabase {
            url: with_database(self.admin_url(), &name),
            name,
            server: self.clone(),
            dropped: false,
        })
    }
}

/// A database of our own. Dropping it drops the database.
pub struct MariaDatabase {
    name: String,
    url: String,
    server: MariaServer,
    dropped: bool,
}

impl MariaDatabase {
    /// A `mysql://` URL for this database, as the server's admin user.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn server(&self) -> &MariaServer {
        &self.server
    }

    /// Runs SQL (several statements allowed) in this database, for setup.
    pub fn execute(&self, sql: &str) -> anyhow::Result<()> {
        block_on(|| execute(&self.url, sql))?
            .with_context(|| format!("SQL failed in the database {}", self.name))
    }

    /// Leaves the database in place when the value is dropped.
    pub fn keep(&mut self) {
        self.dropped = true;
    }

    /// Drops the database now, saying whether that worked (dropping the value only logs it).
    pub fn remove(mut self) -> anyhow::Result<()> {
        self.dropped = true;
        self.drop_database()
    }

    fn drop_database(&self) -> anyhow::Result<()> {
        let sql = format!("DROP DATABASE IF EXISTS `{}`", self.name);
        block_on(|| execute(self.server.admin_url(), &sql))?
            .with_context(|| format!("cannot drop the database {}", self.name))
    }
}

impl Drop for MariaDatabase {
    fn drop(&mut self) {
        if !self.dropped
            && let Err(e) = self.drop_database()
        {
            tracing::warn!("{e:#}");
        }
    }
}

/// A connection to `url`; errors name the server (password redacted).
async fn connect(url: &str) -> anyhow::Result<mysql_async::Conn> {
    let shown = redact(url);
    let opts = mysql_async::Opts::from_url(url)
        .map_err(|e| scrub_error(&e, url))
        .with_context(|| format!("{shown} is not a mysql:// URL"))?;
    tokio::time::timeout(CONNECT_TIMEOUT, mysql_async::Conn::new(opts))
        .await
        .map_err(|_| anyhow!("MySQL/MariaDB at {shown} did not answer within {CONNECT_TIMEOUT:?}"))?
        .map_err(|e| scrub_error(&e, url))
        .with_context(|| {
            format!(
                "cannot connect to MySQL/MariaDB at {shown} (check that the server runs and lets \
                 this user in)"
            )
        })
}

async fn execute(url: &str, sql: &str) -> anyhow::Result<()> {
    let mut conn = connect(url).await?;
    let result = conn.query_drop(sql).await.map_err(|e| scrub_error(&e, url));
    let _ = conn.disconnect().await;
    result
}

async fn query_string(url: &str, sql: &str) -> anyhow::Result<Option<String>> {
    let mut conn = connect(url).await?;
    let result = conn
        .query_first(sql)
        .await
        .map_err(|e| scrub_error(&e, url));
    let _ = conn.disconnect().await;
    result
}

/// mariadb-install-db + mariadbd in a temporary folder, on a free port, with its own socket.
/// As root the server runs as `mysql` (it refuses root). The watchdog kills it and removes
/// the folder when this process exits or the returned [`Throwaway`] drops. With `kept` (a
/// folder, and the port to take again), the data stays in that folder, initialised only when
/// it holds none, and the watchdog stops the server cleanly and leaves the folder.
fn start_server(kept: Option<(&Path, Option<u16>)>) -> anyhow::Result<(String, Throwaway)> {
    let sbin = [
        PathBuf::from("/usr/sbin"),
        PathBuf::from("/usr/local/sbin"),
        PathBuf::from("/usr/libexec"),
    ];
    let install_hint = "install MariaDB's server (Debian/Ubuntu: apt-get install mariadb-server; \
                        scripts/test does it when run as root)";
    let server = find_binary(&["mariadbd", "mysqld"], &sbin)
        .ok_or_else(|| anyhow!("mariadbd/mysqld not found on PATH nor in sbin: {install_hint}"))?;
    let install =
        find_binary(&["mariadb-install-db", "mysql_install_db"], &sbin).ok_or_else(|| {
            anyhow!("mariadb-install-db not found on PATH nor in sbin: {install_hint}")
        })?;
    let user = if is_root() { Some("mysql") } else { None };
    let (dir, wanted_port) = match kept {
        None => (kept_tempdir("cutover-mariadb", user)?, None),
        Some((dir, port)) => (owned_dir(dir, user)?, port),
    };
    // Owns the folder from here on: an early return stops everything (and removes a
    // temporary folder).
    let mut owned = Throwaway {
        child: None,
        dir: dir.clone(),
        watchdog: None,
        kept: kept.is_some(),
    };
    let dir_str = path_str(&dir)?.to_string();
    let data = dir.join("data");
    let data_str = path_str(&data)?.to_string();
    // Killing by the folder's name also ends an install or a server that is still starting.
    let cleanup = if kept.is_some() {
        format!(
            "pkill -TERM -f {} ; sleep 5; {}",
            shq(format!("--datadir={data_str}")),
            kill_all_mentioning(&dir_str)
        )
    } else {
        format!(
            "{}; rm -rf {}",
            kill_all_mentioning(&dir_str),
            shq(&dir_str)
        )
    };
    owned.watchdog = Some(Watchdog::spawn(&cleanup)?);

    let initialised = data.join("mysql").is_dir();
    let mut install_cmd = Command::new(&install);
    install_cmd.arg("--no-defaults");
    if let Some(user) = user {
        install_cmd.arg(format!("--user={user}"));
    }
    if !initialised {
        run(install_cmd.arg(format!("--datadir={data_str}")).args([
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ]))
        .context(
            "mariadb-install-db failed (as root it runs as the user mysql, which must exist)",
        )?;
    }

    let log = dir.join("error.log");
    // A kept server's folder may be deep in a state folder, past the length a Unix socket's
    // path may have: its socket goes in the temporary folder (only TCP is used).
    let socket_at = |port: u16| {
        if kept.is_some() {
            std::env::temp_dir().join(format!("cutover-mysqld-{port}.sock"))
        } else {
            dir.join("mysqld.sock")
        }
    };
    let pid_file = dir.join("mysqld.pid");
    let mut last_error = anyhow!("no attempt made");
    let attempts = if wanted_port.is_some() {
        1
    } else {
        PORT_ATTEMPTS
    };
    for _ in 0..attempts {
        let port = match wanted_port {
            Some(port) => {
                super::ports::ensure_free(port)?;
                port
            }
            None if kept.is_some() => super::ports::stable_port()?,
            None => free_port()?,
        };
        let mut cmd = Command::new(&server);
        cmd.arg("--no-defaults");
        if let Some(user) = user {
            cmd.arg(format!("--user={user}"));
        }
        cmd.arg(format!("--datadir={data_str}"))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", path_str(&socket_at(port))?))
            .arg(format!("--pid-file={}", path_str(&pid_file)?))
            .arg(format!("--log-error={}", path_str(&log)?))
            .args([
                "--skip-log-bin",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=32M",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", server.display()))?;
        let child = owned.child.insert(child);
        let url = format!("mysql://root@127.0.0.1:{port}/");
        match wait_until_ours(child, &url, &data_str) {
            Ok(()) => return Ok((url, owned)),
            Err(e) => {
                // Most likely another process took the port between free_port and the bind.
                let _ = child.kill();
                let _ = child.wait();
                owned.child = None;
                last_error = anyhow!("{e:#}\nerror log:\n{}", log_tail(&log));
            }
        }
    }
    Err(last_error.context(format!(
        "mariadbd did not come up {attempts} time(s) in {dir_str}"
    )))
}

/// `dir`, created when missing and handed to `user` when running as root (the server runs as
/// that user).
fn owned_dir(dir: &Path, user: Option<&str>) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the MariaDB folder {}", dir.display()))?;
    if let Some(user) = user {
        run(Command::new("chown")
            .arg("-R")
            .arg(format!("{user}:"))
            .arg(dir))
        .with_context(|| {
            format!(
                "cannot hand {} to the user {user} (the server refuses to run as root; \
                     check that the user exists)",
                dir.display()
            )
        })?;
    }
    Ok(dir.to_path_buf())
}

/// Ok once the server on `url` is ours (its datadir is `data`); Err when it exited, most
/// likely because another process took the port, or another server answers.
fn wait_until_ours(child: &mut Child, url: &str, data: &str) -> anyhow::Result<()> {
    let want = data.trim_end_matches('/');
    for _ in 0..START_POLLS {
        if let Ok(Some(status)) = child.try_wait() {
            bail!("mariadbd exited ({status})");
        }
        if let Ok(Ok(Some(datadir))) = block_on(|| query_string(url, "SELECT @@datadir")) {
            return if datadir.trim_end_matches('/') == want {
                Ok(())
            } else {
                Err(anyhow!(
                    "{url} answers as another server (datadir {datadir})"
                ))
            };
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    bail!("mariadbd did not answer on {url} after {START_POLLS} polls of {POLL_INTERVAL:?}")
}
