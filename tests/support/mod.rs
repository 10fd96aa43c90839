//! Test harness: real servers, never mocks.
//!
//! A thin layer over `cutover::sim::servers`, which the rehearsal sandbox uses too: Redis
//! servers are started per test on free loopback ports; PostgreSQL and MariaDB give each test
//! its own database on the local server (or the one `CUTOVER_TEST_PG_URL` /
//! `CUTOVER_TEST_MYSQL_URL` name), or on a throw-away server started once per test process when
//! none answers. Everything is removed when the test ends, and a watchdog removes what is left
//! when the test process dies without unwinding (SIGKILL, nextest timeout).
//!
//! Waits are bounded polls; where the library returns an error saying what to check, the
//! harness panics with it. Nothing asserts on wall-clock time.
#![allow(dead_code)]

mod mariadb;
mod postgres;
mod process;
mod redis_server;
pub mod tmux;

use std::future::Future;
use std::path::PathBuf;

pub use mariadb::MariaDb;
pub use postgres::PgDatabase;
pub use process::signal as signal_pid;
pub use redis_server::RedisServer;

/// A loopback port nobody listened on a moment ago.
///
/// Another process may take it before the caller binds it; the server starters check that
/// the server which answers is their own and try another port when it is not.
pub fn free_port() -> u16 {
    cutover::sim::servers::free_port().unwrap_or_else(|e| panic!("{e:#}"))
}

/// A loopback port that refuses connections for as long as this value lives: bound but never
/// listening, so nobody answers and no other process can take the port meanwhile.
pub struct RefusingPort {
    _socket: tokio::net::TcpSocket,
    port: u16,
}

impl RefusingPort {
    pub fn new() -> RefusingPort {
        let socket = tokio::net::TcpSocket::new_v4()
            .unwrap_or_else(|e| panic!("cannot create a TCP socket: {e}"));
        socket
            .bind(([127, 0, 0, 1], 0).into())
            .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
        let port = socket
            .local_addr()
            .unwrap_or_else(|e| panic!("cannot read the address of a bound socket: {e}"))
            .port();
        RefusingPort {
            _socket: socket,
            port,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

/// The `cutover` binary Cargo built for this test run.
pub fn cutover_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cutover"))
}

/// Runs a future to completion on a fresh thread with its own runtime, so that setup and
/// `Drop` work the same inside a `#[tokio::test]` and in plain `#[test]`s.
pub fn block_on<F, T>(make: impl FnOnce() -> F + Send) -> T
where
    F: Future<Output = T>,
    T: Send,
{
    cutover::sim::servers::block_on(make).unwrap_or_else(|e| panic!("{e:#}"))
}

/// A name no other test, process or earlier run uses: pid and counter separate tests of this
/// run, the clock separates runs whose leftovers a killed process could not drop.
pub fn unique_name(prefix: &str) -> String {
    cutover::sim::servers::unique_name(prefix)
}

/// The tables a porta schema file (`db/schema.rb` or `db/postgres_schema.rb`) creates, with
/// Rails' own two, sorted by byte.
pub fn porta_tables(schema_rb: &str) -> Vec<String> {
    let mut tables: Vec<String> = schema_rb
        .lines()
        .filter_map(|l| l.trim().strip_prefix("create_table \""))
        .filter_map(|l| l.split('"').next())
        .map(str::to_string)
        .chain(["ar_internal_metadata".into(), "schema_migrations".into()])
        .collect();
    tables.sort();
    tables
}
