//! The rehearsal sandbox: three simulated clusters with a 3scale 2.14 source and a
//! RHOAM destination, real Redis and PostgreSQL servers behind them, seeded data, and
//! workers that drain and fill the queues as the source's workloads have replicas.
//!
//! A sandbox is thrown away when dropped ([`Sandbox::start`], for tests), or kept in its
//! folder ([`Sandbox::create`]): stopped, it leaves its state there (`manifest` lists it), and
//! [`Sandbox::resume`] starts it again from that state, on the same ports, without seeding
//! anything again.

mod config;
mod manifest;
mod options;
mod servers;
mod wiring;
mod world;

pub use manifest::{MANIFEST_FILE, Removal};
pub use options::{
    DESTINATION_DOMAIN, DESTINATION_NAMESPACE, MIGRATION_DOMAIN, MIGRATION_NAMESPACE,
    SOURCE_DOMAIN, SOURCE_NAMESPACE, SandboxOptions, SandboxStores, SourceDatabase,
};
pub use world::{Sandbox, discard, removal};
