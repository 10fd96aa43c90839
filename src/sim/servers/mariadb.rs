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
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Kills whatever else runs from the folder, then removes it.
        match self.watchdog.take() {
            Some(watchdog) => watchdog.run_now(),
            // Failed before the watchdog was up: nothing runs from the folder yet.
            None => {
                let _ = std::fs::remove_dir_all(&self.dir);
            }
        }
        if self.dir.exists() {
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
        let (admin_url, server) = start_server()?;
        Ok(MariaServer {
            inner: Arc::new(Inner {
                admin_url,
                server: Some(server),
            }),
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
/// the folder when this process exits or the returned [`Throwaway`] drops.
fn start_server() -> anyhow::Result<(String, Throwaway)> {
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
    let dir = kept_tempdir("cutover-mariadb", user)?;
    // Owns the folder from here on: an early return stops and removes everything.
    let mut owned = Throwaway {
        child: None,
        dir: dir.clone(),
        watchdog: None,
    };
    let dir_str = path_str(&dir)?.to_string();
    let data = dir.join("data");
    let data_str = path_str(&data)?.to_string();
    // Killing by the folder's name also ends an install or a server that is still starting.
    owned.watchdog = Some(Watchdog::spawn(&format!(
        "{}; rm -rf {}",
        kill_all_mentioning(&dir_str),
        shq(&dir_str)
    ))?);

    let mut install_cmd = Command::new(&install);
    install_cmd.arg("--no-defaults");
    if let Some(user) = user {
        install_cmd.arg(format!("--user={user}"));
    }
    run(install_cmd.arg(format!("--datadir={data_str}")).args([
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        "--skip-name-resolve",
    ]))
    .context("mariadb-install-db failed (as root it runs as the user mysql, which must exist)")?;

    let log = dir.join("error.log");
    let socket = dir.join("mysqld.sock");
    let pid_file = dir.join("mysqld.pid");
    let mut last_error = anyhow!("no attempt made");
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port()?;
        let mut cmd = Command::new(&server);
        cmd.arg("--no-defaults");
        if let Some(user) = user {
            cmd.arg(format!("--user={user}"));
        }
        cmd.arg(format!("--datadir={data_str}"))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", path_str(&socket)?))
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
        "mariadbd did not come up {PORT_ATTEMPTS} times in {dir_str}"
    )))
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
