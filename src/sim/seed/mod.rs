//! The seeded data of the rehearsal sandbox: a 3scale 2.14-like source installation (system and
//! zync databases, backend and system Redis) with enough rows, keys and queued jobs that the
//! migration steps have real work to do, plus the simulated workers that move those queues while
//! the matching workloads have replicas. Facts come from 3scale's sources: porta's
//! `db/schema.rb`, apisonator's `docs/redis_keys.md`, porta's Sidekiq setup and zync's Que.

mod backend_redis;
mod copy;
mod depths;
mod jobs;
mod model;
pub mod porta_schema;
mod redis_conn;
pub mod rhoam_sso;
mod sizes;
mod stats_keys;
mod system_db;
pub mod system_mysql;
mod system_redis;
mod system_rows;
pub mod workers;
mod zync_db;

pub use backend_redis::seed_backend_redis;
pub use depths::{RESQUE_QUEUES, SIDEKIQ_QUEUES, queue_depths};
pub use sizes::{SeedSummary, Sizes};
pub use system_db::{seed_system_database, seed_system_database_with};
pub use system_redis::{seed_system_redis, seed_system_redis_in};
pub use system_rows::SeedTokens;
pub use zync_db::{seed_zync_database, seed_zync_database_with_domain};
