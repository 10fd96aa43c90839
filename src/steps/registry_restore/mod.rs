//! `restore-registry`: the registry restored on cluster B from the backup, stage by stage.

pub mod stages;
