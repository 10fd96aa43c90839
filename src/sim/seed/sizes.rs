//! How much data the sandbox gets (`Sizes`), and what one seeding call created (`SeedSummary`).

use std::collections::BTreeMap;

/// How much data the sandbox gets. The default seeds everything in a few seconds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    pub(super) fn add(&mut self, name: &str, count: u64) {
        *self.rows_per_table.entry(name.to_string()).or_insert(0) += count;
    }

    /// Everything created, summed over tables or key families.
    pub fn total(&self) -> u64 {
        self.rows_per_table.values().sum()
    }
}
