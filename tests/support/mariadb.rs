//! A MariaDB/MySQL database of the test's own: on the local server, or on a throw-away
//! `mariadbd` started once per test process when no server answers. MariaDB stands in for the
//! MySQL sources that pgloader converts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use mysql_async::prelude::Queryable;

use super::process::{
    POLL_INTERVAL, START_POLLS, Watchdog, find_binary, is_root, kept_tempdir, kill_all_mentioning,
    log_tail, path_str, shq, try_run,
};
use super::{block_on, free_port, unique_name};

const DEFAULT_URL: &str = "mysql://root@127.0.0.1:3306/";
const ENV_URL: &str = "CUTOVER_TEST_MYSQL_URL";
const PORT_ATTEMPTS: u32 = 5;
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct MariaDb {
    name: String,
    url: String,
    admin_url: &'static str,
}

impl MariaDb {
    pub fn create() -> MariaDb {
        let admin_url = server_url();
        let name = unique_name("cutover_test");
        let sql = format!("CREATE DATABASE `{name}`");
        if let Err(e) = block_on(|| execute(admin_url, &sql)) {
            panic!("cannot create test database {name} on {admin_url}: {e}");
        }
        MariaDb {
            url: with_database(admin_url, &name),
            name,
            admin_url,
        }
    }

    /// A `mysql://` URL for this database, as root.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs SQL (several statements allowed) in this database, for test setup.
    pub fn execute(&self, sql: &str) {
        if let Err(e) = block_on(|| execute(&self.url, sql)) {
            panic!("SQL failed in {}: {e}\n{sql}", self.name);
        }
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS `{}`", self.name);
        if let Err(e) = block_on(|| execute(self.admin_url, &sql)) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

async fn execute(url: &str, sql: &str) -> Result<(), String> {
    let opts = mysql_async::Opts::from_url(url).map_err(|e| e.to_string())?;
    let mut conn = tokio::time::timeout(PROBE_TIMEOUT, mysql_async::Conn::new(opts))
        .await
        .map_err(|_| format!("no answer within {PROBE_TIMEOUT:?}"))?
        .map_err(|e| e.to_string())?;
    let result = conn.query_drop(sql).await.map_err(|e| e.to_string());
    let _ = conn.disconnect().await;
    result
}

async fn query_string(url: &str, sql: &str) -> Result<Option<String>, String> {
    let opts = mysql_async::Opts::from_url(url).map_err(|e| e.to_string())?;
    let mut conn = tokio::time::timeout(PROBE_TIMEOUT, mysql_async::Conn::new(opts))
        .await
        .map_err(|_| format!("no answer within {PROBE_TIMEOUT:?}"))?
        .map_err(|e| e.to_string())?;
    let result = conn.query_first(sql).await.map_err(|e| e.to_string());
    let _ = conn.disconnect().await;
    result
}

/// `url` (`mysql://user@host:port/` with an optional database and query) pointing at `name`.
fn with_database(url: &str, name: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).map_or(url.len(), |i| scheme_end + i);
    let query = url[authority_end..]
        .find('?')
        .map_or("", |i| &url[authority_end + i..]);
    format!("{}/{name}{query}", &url[..authority_end])
}

/// The admin URL of a server that answers: `CUTOVER_TEST_MYSQL_URL`, the local default, or a
/// throw-away server.
fn server_url() -> &'static str {
    static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
    let found = SERVER.get_or_init(|| {
        let candidate = std::env::var(ENV_URL).unwrap_or_else(|_| DEFAULT_URL.to_string());
        match block_on(|| execute(&candidate, "SELECT 1")) {
            Ok(()) => Ok(candidate),
            Err(e) => {
                eprintln!(
                    "no MySQL/MariaDB at {candidate} ({e}); starting a throw-away mariadbd for \
                     this test process"
                );
                start_server()
            }
        }
    });
    match found {
        Ok(url) => url,
        Err(e) => panic!("no MySQL/MariaDB server for the tests: {e}"),
    }
}

/// mariadb-install-db + mariadbd in a temporary folder, on a free port, with its own socket.
/// As root the server runs as `mysql` (it refuses root). The watchdog kills it and removes
/// the folder when this process exits.
fn start_server() -> Result<String, String> {
    let sbin = [
        PathBuf::from("/usr/sbin"),
        PathBuf::from("/usr/local/sbin"),
        PathBuf::from("/usr/libexec"),
    ];
    let server = find_binary(&["mariadbd", "mysqld"], &sbin).ok_or(
        "mariadbd/mysqld not found: run scripts/test as root, or apt-get install mariadb-server",
    )?;
    let install = find_binary(&["mariadb-install-db", "mysql_install_db"], &sbin).ok_or(
        "mariadb-install-db not found: run scripts/test as root, or apt-get install \
         mariadb-server",
    )?;
    let user = if is_root() { Some("mysql") } else { None };
    let dir = kept_tempdir("cutover-mariadb-", user);
    let dir_str = path_str(&dir).to_string();
    let data = dir.join("data");
    let pid_file = dir.join("mysqld.pid");
    // Killing by the folder's name also ends an install or a server that is still starting.
    std::mem::forget(Watchdog::spawn(&format!(
        "{}; rm -rf {}",
        kill_all_mentioning(&dir_str),
        shq(&dir_str)
    )));

    let mut install_cmd = Command::new(&install);
    install_cmd.arg("--no-defaults");
    if let Some(user) = user {
        install_cmd.arg(format!("--user={user}"));
    }
    try_run(
        install_cmd
            .arg(format!("--datadir={}", path_str(&data)))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ]),
    )
    .map_err(|e| format!("mariadb-install-db failed: {e}"))?;

    let log = dir.join("error.log");
    let mut last_error = String::new();
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port();
        let mut cmd = Command::new(&server);
        cmd.arg("--no-defaults");
        if let Some(user) = user {
            cmd.arg(format!("--user={user}"));
        }
        cmd.arg(format!("--datadir={}", path_str(&data)))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", path_str(&dir.join("mysqld.sock"))))
            .arg(format!("--pid-file={}", path_str(&pid_file)))
            .arg(format!("--log-error={}", path_str(&log)))
            .args([
                "--skip-log-bin",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=32M",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", server.display()))?;
        let url = format!("mysql://root@127.0.0.1:{port}/");
        match wait_until_ours(&mut child, &url, &data) {
            Ok(()) => {
                // The server lives as long as the test process; the watchdog ends it.
                std::mem::forget(child);
                return Ok(url);
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                last_error = format!("{e}\nerror log:\n{}", log_tail(&log));
            }
        }
    }
    Err(format!(
        "mariadbd did not come up {PORT_ATTEMPTS} times in {dir_str}: {last_error}"
    ))
}

/// Ok once the server on `url` is ours (its datadir is `data`); Err when it exited, most
/// likely because another process took the port.
fn wait_until_ours(child: &mut Child, url: &str, data: &Path) -> Result<(), String> {
    let want = path_str(data).trim_end_matches('/').to_string();
    for _ in 0..START_POLLS {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("mariadbd exited ({status})"));
        }
        if let Ok(Some(datadir)) = block_on(|| query_string(url, "SELECT @@datadir")) {
            return if datadir.trim_end_matches('/') == want {
                Ok(())
            } else {
                Err(format!("{url} is another server (datadir {datadir})"))
            };
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    Err(format!(
        "mariadbd did not answer on {url} after {START_POLLS} polls"
    ))
}
