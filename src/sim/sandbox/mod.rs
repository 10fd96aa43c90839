//! The rehearsal sandboxes. The 3scale one: three simulated clusters with a 3scale 2.14 source and a
//! RHOAM destination, real Redis and PostgreSQL servers behind them, seeded data, and
//! workers that drain and fill the queues as the source's workloads have replicas.
//!
//! A sandbox is thrown away when dropped ([`Sandbox::start`], for tests), or kept in its
//! folder ([`Sandbox::create`]): stopped, it leaves its state there (`manifest` lists it), and
//! [`Sandbox::resume`] starts it again from that state, on the same ports, without seeding
//! anything again.
//!
//! The registry one ([`RegistrySandbox`], `registry`): clusters A and B running the Platform,
//! each with its object storage, and the Keycloaks, with the same lifecycle; `discard` and the
//! manifest serve both (its `runbook` says which).

mod config;
mod manifest;
mod options;
mod registry;
mod registry_config;
mod servers;
mod wiring;
mod world;

pub use manifest::{MANIFEST_FILE, REGISTRY_RUNBOOK, Removal, THREESCALE_RUNBOOK, runbook};
pub use options::{
    DESTINATION_DOMAIN, DESTINATION_NAMESPACE, MIGRATION_DOMAIN, MIGRATION_NAMESPACE,
    SOURCE_DOMAIN, SOURCE_NAMESPACE, SandboxOptions, SandboxStores, SourceDatabase,
};
pub use registry::{
    A_DOMAIN, B_DOMAIN, PLATFORM_NAMESPACE, REGISTRY_CLUSTERS, RegistrySandbox, SANDBOX_REGISTRY,
    SANDBOX_REGISTRY_VERSION, create_in_console,
};
pub use world::{Sandbox, discard, removal};
