//! The seeded data of the rehearsal sandbox: a 3scale 2.14-like source installation (system and
//! zync databases, backend and system Redis) with enough rows, keys and queued jobs that the
//! migration steps have real work to do, plus the simulated workers that move those queues while
//! the matching workloads have replicas. Facts come from `reference/threescale.md` §1–4.

mod backend_redis;
mod copy;
mod depths;
mod jobs;
mod model;
mod redis_conn;
mod stats_keys;
mod system_db;
pub mod system_mysql;
mod system_redis;
mod system_rows;
mod system_schema;
pub mod workers;
mod zync_db;

use std::collections::BTreeMap;

pub use backend_redis::seed_backend_redis;
pub use depths::{RESQUE_QUEUES, SIDEKIQ_QUEUES, queue_depths};
pub use system_db::seed_system_database;
pub use system_redis::seed_system_redis;
pub use zync_db::{seed_zync_database, seed_zync_database_with_domain};

/// How much data the sandbox gets. The default seeds everything in a few seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sizes {
    /// Services (products) of the default tenant, each with its proxy, plans and metrics.
    pub services: u32,
    /// Applications (cinstances) per service; one developer account per application slot.
    pub applications_per_service: u32,
    /// `stats/{service:N}/...` usage counters per service in backend storage.
    pub stats_keys_per_service: u32,
    /// Jobs over the three Resque queues of backend.
    pub resque_jobs: u32,
    /// Jobs over the eleven Sidekiq queues of system.
    pub sidekiq_jobs: u32,
    /// Pending jobs in zync's `que_jobs`.
    pub que_jobs: u32,
}

impl Default for Sizes {
    fn default() -> Sizes {
        Sizes {
            services: 5,
            applications_per_service: 10,
            stats_keys_per_service: 200,
            resque_jobs: 400,
            sidekiq_jobs: 300,
            que_jobs: 200,
        }
    }
}

/// What one seeding call created: rows per table for a database, keys per key family (and
/// queue depths) for a Redis.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedSummary {
    pub rows_per_table: BTreeMap<String, u64>,
}

impl SeedSummary {
    fn add(&mut self, name: &str, count: u64) {
        *self.rows_per_table.entry(name.to_string()).or_insert(0) += count;
    }

    /// Everything created, summed over tables or key families.
    pub fn total(&self) -> u64 {
        self.rows_per_table.values().sum()
    }
}
