//! A PostgreSQL database of the test's own: on the local server, or on a throw-away cluster
//! started once per test process when no server answers.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::process::{
    Watchdog, as_user, find_binary, kept_tempdir, kill_all_mentioning, log_tail, path_str,
    postgres_bin_dirs, shq, try_run,
};
use super::{block_on, free_port, unique_name};

const DEFAULT_URL: &str = "postgresql://postgres@127.0.0.1:5432/postgres";
const ENV_URL: &str = "CUTOVER_TEST_PG_URL";
const PORT_ATTEMPTS: u32 = 5;
/// Long enough for a busy machine; the probe only decides whether a server is there.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PgDatabase {
    name: String,
    url: String,
    admin_url: &'static str,
}

impl PgDatabase {
    pub fn create() -> PgDatabase {
        let admin_url = server_url();
        let name = unique_name("cutover_test");
        let sql = format!("CREATE DATABASE \"{name}\"");
        if let Err(e) = block_on(|| execute(admin_url, &sql)) {
            panic!("cannot create test database {name} on {admin_url}: {e}");
        }
        PgDatabase {
            url: with_database(admin_url, &name),
            name,
            admin_url,
        }
    }

    /// A URL for this database, as the server's superuser.
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

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // FORCE ends sessions a failed test left open (PostgreSQL 13 and later).
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(e) = block_on(|| execute(self.admin_url, &sql)) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

async fn execute(url: &str, sql: &str) -> Result<(), String> {
    let connect = tokio_postgres::connect(url, tokio_postgres::NoTls);
    let (client, connection) = tokio::time::timeout(PROBE_TIMEOUT, connect)
        .await
        .map_err(|_| format!("no answer within {PROBE_TIMEOUT:?}"))?
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let result = client.batch_execute(sql).await.map_err(|e| {
        e.as_db_error()
            .map_or_else(|| e.to_string(), |db| db.message().to_string())
    });
    drop(client);
    let _ = driver.await;
    result
}

/// The admin URL of a server that answers: `CUTOVER_TEST_PG_URL`, the local default, or a
/// throw-away cluster.
fn server_url() -> &'static str {
    static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
    let found = SERVER.get_or_init(|| {
        let candidate = std::env::var(ENV_URL).unwrap_or_else(|_| DEFAULT_URL.to_string());
        match block_on(|| execute(&candidate, "SELECT 1")) {
            Ok(()) => Ok(candidate),
            Err(e) => {
                eprintln!(
                    "no PostgreSQL at {candidate} ({e}); starting a throw-away cluster for this \
                     test process"
                );
                start_cluster()
            }
        }
    });
    match found {
        Ok(url) => url,
        Err(e) => panic!("no PostgreSQL server for the tests: {e}"),
    }
}

/// `url` pointing at database `name`. Handles URLs and libpq key=value strings.
fn with_database(url: &str, name: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        // libpq takes the last value of a repeated key.
        return format!("{url} dbname={name}");
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).map_or(url.len(), |i| scheme_end + i);
    let query = url[authority_end..]
        .find('?')
        .map_or("", |i| &url[authority_end + i..]);
    format!("{}/{name}{query}", &url[..authority_end])
}

/// initdb + pg_ctl start in a temporary folder, on a free port, owned by `postgres` when
/// running as root. The watchdog stops it and removes the folder when this process exits.
fn start_cluster() -> Result<String, String> {
    let pg_ctl = find_binary(&["pg_ctl"], &postgres_bin_dirs()).ok_or(
        "pg_ctl not found on PATH nor in /usr/lib/postgresql/*/bin: run scripts/test as root, \
         or apt-get install postgresql",
    )?;
    // initdb from the same installation as pg_ctl, so the data folder matches the server.
    let bin_dir = std::fs::canonicalize(&pg_ctl)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .ok_or_else(|| format!("cannot resolve the folder of {}", pg_ctl.display()))?;
    let initdb = bin_dir.join("initdb");
    let pg_ctl = bin_dir.join("pg_ctl");

    let dir = kept_tempdir("cutover-pg-", Some("postgres"));
    let dir_str = path_str(&dir).to_string();
    let data = dir.join("data");
    let stop = as_user("postgres", &pg_ctl);
    let stop_cmd = format!(
        "{} -D {} stop -m immediate -w -t 60 >/dev/null 2>&1",
        command_line(&stop),
        shq(path_str(&data))
    );
    // Never disarmed: the cluster lives as long as the test process.
    std::mem::forget(Watchdog::spawn(&format!(
        "[ -f {pid} ] && {stop_cmd}; {kill}; rm -rf {dir}",
        pid = shq(path_str(&data.join("postmaster.pid"))),
        kill = kill_all_mentioning(&dir_str),
        dir = shq(&dir_str)
    )));

    try_run(as_user("postgres", &initdb).arg("-D").arg(&data).args([
        "-U",
        "postgres",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
    ]))
    .map_err(|e| format!("initdb failed: {e}"))?;

    let log = dir.join("server.log");
    let mut last_error = String::new();
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -F",
            shq(&dir_str)
        );
        let started = try_run(
            as_user("postgres", &pg_ctl)
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "120", "-o", &options, "start"]),
        );
        match started {
            Ok(()) => return Ok(format!("postgresql://postgres@127.0.0.1:{port}/postgres")),
            // Most likely another process took the port between free_port and the bind.
            Err(e) => last_error = format!("{e}\nserver log:\n{}", log_tail(&log)),
        }
    }
    Err(format!(
        "pg_ctl start failed {PORT_ATTEMPTS} times in {dir_str}: {last_error}"
    ))
}

/// `cmd`'s program and arguments as a sh command line.
fn command_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| shq(a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}
