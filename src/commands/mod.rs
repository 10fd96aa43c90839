//! The read-only commands: what the runbook is (`matrix`), what this migration
//! will do (`plan`) and where it stands (`status`).

pub mod matrix;
pub mod pg;
pub mod plan;
pub mod redis;
pub mod rehearsals;
pub mod rehearse;
pub mod rehearse_sandbox;
pub mod rollback;
pub mod status;

use crate::outln;

/// Output formats of the read-only commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

/// One JSON document on stdout.
pub(crate) fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    outln!("{text}");
    Ok(())
}
