//! `restore-registry`: the registry restored on cluster B from the backup, stage by stage.

mod actions;
mod run;
mod saved;
pub mod stages;
mod step;

pub(super) use step::{RESTORE, stages_left};
