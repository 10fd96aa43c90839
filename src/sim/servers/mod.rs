//! Real data servers for the rehearsal sandbox and the tests: `redis-server` processes on free
//! loopback ports, and databases of their own on a PostgreSQL or MariaDB server, the local one
//! or a throw-away one started with the server's own tools (initdb/pg_ctl,
//! mariadb-install-db/mariadbd) when none answers.
//!
//! Everything started here is stopped and its folder removed when its value is dropped, and a
//! watchdog process does the same when the owning process dies without dropping it (SIGKILL, a
//! panic with `panic = "abort"`, a test runner's timeout). Kept servers (a Redis with
//! `RedisOptions::kept_dir`, `PgServer::kept_cluster`, a database marked `PgDatabase::keep`)
//! are stopped cleanly the same ways, but their data stays, for a sandbox that is started again
//! from it. Before a server is used, it is checked to be the one just started (its pid or its
//! data folder), not another that took the port meanwhile.
//!
//! The calls block, with bounded waits: starting a server polls it for up to a minute. From
//! async code, call them in `tokio::task::spawn_blocking` (or accept blocking one worker while
//! the sandbox starts). They work inside and outside a tokio runtime: the database calls run on
//! a thread of their own with their own runtime.

mod mariadb;
mod names;
mod ports;
mod postgres;
mod process;
mod redis;
mod runtime;

pub use mariadb::{MariaDatabase, MariaServer};
pub use names::unique_name;
pub use ports::{ensure_free, free_port, is_free, stable_port, wait_until_free};
pub use postgres::{PgDatabase, PgServer};
pub use process::signal;
pub use redis::{RedisOptions, RedisProcess};
pub use runtime::block_on;
