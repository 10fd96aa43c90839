//! Test harness: real servers, never mocks.
//!
//! Redis servers are started per test on free loopback ports. PostgreSQL and MariaDB give each
//! test its own database on the local server, or on a throw-away server started once per test
//! process when none answers. Everything is removed when the test ends, and a watchdog removes
//! what is left when the test process dies without unwinding (SIGKILL, nextest timeout).
//!
//! Waits are bounded polls that panic with what to check; nothing asserts on wall-clock time.
#![allow(dead_code)]

mod mariadb;
mod postgres;
mod process;
mod redis_server;

use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub use mariadb::MariaDb;
pub use postgres::PgDatabase;
pub use process::signal as signal_pid;
pub use redis_server::RedisServer;

/// A loopback port nobody listened on a moment ago.
///
/// Another process may take it before the caller binds it; the server starters check that
/// the server which answers is their own and try another port when it is not.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("cannot bind a loopback port to find a free one: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("cannot read the address of a loopback listener: {e}"))
        .port()
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
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("cannot build a tokio runtime for the harness: {e}"));
            runtime.block_on(make())
        });
        worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// A name no other test, process or earlier run uses: pid and counter separate tests of this
/// run, the clock separates runs whose leftovers a killed process could not drop.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{n}_{nanos:x}", std::process::id())
}
