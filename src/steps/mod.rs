//! The steps' implementations, one module per action family. `registry` maps every runbook
//! `Action` to its implementation or to "manual for now"; `action` is the trait they implement and `result` what they end with;
//! `context` is what a running step gets (the config, its journal history, a sink for logs,
//! progress, facts and questions, and helpers to reach clusters and stores).
//!
//! A step never draws, never reads keys and never writes the journal: it reports through its
//! sink, and the engine records what matters.

pub mod access;
mod action;
mod backend_route;
pub mod backup_name;
mod connect;
mod context;
pub mod convert;
pub mod destination;
mod drain;
pub mod inventory;
pub mod keycloak;
pub mod keycloak_step;
pub mod pgdump;
mod platform;
mod prereq;
pub mod redisdump;
mod registry;
pub mod registry_backup;
mod registry_keycloak;
mod registry_resources;
pub mod registry_restore;
mod registry_storage;
mod registry_sync;
pub mod registry_transfer;
mod result;
pub mod resync;
pub mod rewrite;
pub mod rhoam_users;
pub mod rollback;
pub mod scale;
pub mod secrets;
pub mod seed;
mod start;
pub mod stores;
pub mod threescale_checks;
pub mod upgrade;
mod velero_follow;
mod writers;

pub use action::{StepAction, StepFuture};
pub use context::{
    DEADLINE_FACT, FactRecorder, PROGRESS_WORD, Question, QuestionSender, StepContext, StepSink,
};
pub use registry::{Implementation, implementation, rollback_of};
pub use result::{Recheck, StepResult};
pub use rollback::{RollbackAction, RollbackReport};
