//! The name of the registry's backup: chosen once by `backup-registry` (`<registry>-<UTC time>`,
//! as the Platform's Create-registry-backup job names it) and recorded as its fact
//! `backup_name` before the Backup is created, so that a resumed run, the transfer, the sync
//! wait and the restores all use the same one.

use anyhow::{Context, Result};
use chrono::Utc;
use serde_json::Value;

use super::StepContext;
use crate::config::backup_name;
use crate::runbook::ids;

/// The fact of `backup-registry` that holds the backup's name.
pub const BACKUP_NAME_FACT: &str = "backup_name";

/// The backup's name as `backup-registry` recorded it, if it has.
pub fn recorded(ctx: &StepContext) -> Option<String> {
    ctx.fact(ids::BACKUP_REGISTRY, BACKUP_NAME_FACT)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// For `backup-registry`: the recorded name, else a new one from the registry and the time now,
/// recorded (fsynced) before this returns.
pub fn choose(ctx: &StepContext) -> Result<String> {
    if let Some(name) = recorded(ctx) {
        return Ok(name);
    }
    let registry = &ctx
        .config
        .velero
        .as_ref()
        .context("the config has no [velero] table; runbook velero-registry needs it")?
        .registry;
    let name = backup_name(registry, Utc::now());
    ctx.sink
        .record_fact(BACKUP_NAME_FACT, Value::String(name.clone()))?;
    Ok(name)
}

/// For the steps after the backup: the recorded name, or what to do without one.
pub fn required(ctx: &StepContext) -> Result<String> {
    recorded(ctx).context(
        "backup-registry has recorded no backup name: run backup-registry first; every later \
         step works on the backup it made",
    )
}
