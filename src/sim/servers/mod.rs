//! Real data servers for the rehearsal sandbox and the tests: `redis-server` processes on free
//! loopback ports, and databases of their own on a PostgreSQL or MariaDB server, the local one
//! or a throw-away one started with the server's own tools (initdb/pg_ctl,
//! mariadb-install-db/mariadbd) when none answers.
//!
//! Everything started here is stopped and its folder removed when its value is dropped, and a
//! watchdog process does the same when the owning process dies without dropping it (SIGKILL, a
//! panic with `panic = "abort"`, a test runner's timeout). Before a server is used, it is
//! checked to be the one just started (its pid or its data folder), not another that took the
//! port meanwhile.
//!
//! The calls block, with bounded waits: starting a server polls it for up to a minute. From
//! async code, call them in `tokio::task::spawn_blocking` (or accept blocking one worker while
//! the sandbox starts). They work inside and outside a tokio runtime: the database calls run on
//! a thread of their own with their own runtime.

mod mariadb;
mod postgres;
mod process;
mod redis;

use std::future::Future;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

pub use mariadb::{MariaDatabase, MariaServer};
pub use postgres::{PgDatabase, PgServer};
pub use process::signal;
pub use redis::{RedisOptions, RedisProcess};

/// How many times a starter tries another port when the one it picked was taken meanwhile.
const PORT_ATTEMPTS: u32 = 5;

/// A loopback port nobody listened on a moment ago.
///
/// Another process may take it before the caller binds it; the starters here check that the
/// server which answers is their own and try another port when it is not.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .context("cannot bind a loopback port to find a free one (is 127.0.0.1 configured?)")?;
    Ok(listener
        .local_addr()
        .context("cannot read the address of a loopback listener")?
        .port())
}

/// A name no other caller, process or earlier run uses: pid and counter separate the names of
/// this process, the clock separates runs whose leftovers a killed process could not remove.
/// Made of `prefix`, digits, hex digits and underscores; the clock part has a fixed width, so
/// that no name is a prefix of another (the watchdogs find processes by their folder's name).
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{n}_{nanos:08x}", std::process::id())
}

/// Runs a future to completion on a fresh thread with its own runtime, so that blocking calls
/// and `Drop` work the same inside a tokio runtime (either flavour) and outside one.
///
/// A panic of the future is passed on to the caller.
pub fn block_on<F, T>(make: impl FnOnce() -> F + Send) -> anyhow::Result<T>
where
    F: Future<Output = T>,
    T: Send,
{
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot build a tokio runtime to talk to the database server")?;
            Ok(runtime.block_on(make()))
        });
        worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// `name` made of `prefix` (letters, digits, underscores, starting with a letter) and a unique
/// suffix, short enough for a database name (`max` bytes).
fn database_name(prefix: &str, max: usize) -> anyhow::Result<String> {
    let valid = prefix.starts_with(|c: char| c.is_ascii_alphabetic())
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        anyhow::bail!(
            "database name prefix {prefix:?} must start with a letter and hold only letters, \
             digits and underscores"
        );
    }
    let name = unique_name(prefix);
    if name.len() > max {
        anyhow::bail!(
            "database name prefix {prefix:?} is too long: with its unique suffix ({name}) it \
             exceeds the server's {max} bytes"
        );
    }
    Ok(name)
}

/// `url` (`scheme://user@host:port/` with an optional database and query) pointing at
/// database `name`. Also handles libpq key=value strings.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_the_path_and_keeps_the_query() {
        assert_eq!(
            with_database("postgresql://postgres@127.0.0.1:5432/postgres", "x"),
            "postgresql://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306/?ssl-mode=disabled", "x"),
            "mysql://root@127.0.0.1:3306/x?ssl-mode=disabled"
        );
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306", "x"),
            "mysql://root@127.0.0.1:3306/x"
        );
        assert_eq!(
            with_database("host=/tmp user=postgres", "x"),
            "host=/tmp user=postgres dbname=x"
        );
    }

    #[test]
    fn database_names_are_checked() {
        assert!(database_name("cutover_test", 63).is_ok());
        assert!(database_name("x\"; DROP", 63).is_err());
        assert!(database_name("1abc", 63).is_err());
        assert!(database_name(&"a".repeat(60), 63).is_err());
    }
}
