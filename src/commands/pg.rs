//! `cutover pg dump` and `cutover pg restore`: the dump and restore of the migration steps
//! (`crate::steps::pgdump`) on their own, for a database the operator names.
//!
//! `dump` writes the archive (mode 0600) and, next to it, `<FILE>.json`: the record of its size,
//! SHA-256 and exact row counts. `restore` checks the archive against that record before it
//! restores, refuses a target that already holds the dump's tables unless `--replace` is
//! given, and compares the row counts afterwards. URLs are given as `env:NAME`, `file:PATH` or,
//! without a password, inline: a password on the command line is visible to every user of the
//! host.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;

use crate::errln;
use crate::error::{ExitCode, bad_input};
use crate::format::bytes;
use crate::infra::artifacts::Report;
use crate::infra::dump_record::{self, DumpRecord};
use crate::infra::url::redact;
use crate::infra::{pgdump, pgtarget};
use crate::outln;

pub struct DumpOptions {
    pub url: String,
    pub to: PathBuf,
}

pub struct RestoreOptions {
    pub url: String,
    pub from: PathBuf,
    pub replace: bool,
    pub unverified: bool,
}

/// The URL an argument names: `env:NAME`, `file:PATH`, or the URL itself when it holds no
/// password.
pub fn resolve_url(arg: &str) -> Result<String> {
    if let Some(name) = arg.strip_prefix("env:") {
        let value = std::env::var(name)
            .map_err(|_| bad_input(format!("--url: environment variable {name} is not set")))?;
        return Ok(value.trim().to_string());
    }
    if let Some(path) = arg.strip_prefix("file:") {
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad_input(format!("--url: cannot read {path}: {e}")))?;
        return Ok(text.trim().to_string());
    }
    if redact(arg) != arg {
        return Err(bad_input(
            "--url holds a password, which every user of this host can see on the command \
             line; pass it as env:NAME (an environment variable holding the URL) or file:PATH",
        ));
    }
    Ok(arg.to_string())
}

type Progress = Box<dyn Fn(u64, Option<u64>, &'static str) + Send + Sync>;
type Log = Box<dyn Fn(String) + Send + Sync>;

/// Progress lines and log lines on stderr.
fn terminal_report() -> (Progress, Log) {
    let started = Instant::now();
    let last = std::sync::atomic::AtomicU64::new(0);
    let progress = move |done: u64, total: Option<u64>, unit: &'static str| {
        let secs = started.elapsed().as_secs_f64().max(0.001);
        // One line every few seconds, and the last one.
        let now = started.elapsed().as_secs();
        let finished = total == Some(done);
        if !finished && now < last.load(std::sync::atomic::Ordering::Relaxed) + 5 {
            return;
        }
        last.store(now, std::sync::atomic::Ordering::Relaxed);
        if unit == "bytes" {
            let rate = done as f64 / secs;
            errln!("  {} at {}/s", bytes(done), bytes(rate as u64));
        } else {
            match total {
                Some(t) => errln!("  {done}/{t} {unit}"),
                None => errln!("  {done} {unit}"),
            }
        }
    };
    let log = |line: String| errln!("{line}");
    (Box::new(progress), Box::new(log))
}

pub async fn dump(options: DumpOptions) -> Result<ExitCode> {
    let url = resolve_url(&options.url)?;
    let (progress, log) = terminal_report();
    let report = Report {
        progress: &*progress,
        log: &*log,
    };
    let record = pgdump::dump_url(&url, &options.to, &report).await?;
    let manifest = dump_record::write_record(&record)?;
    outln!("{}", record.summary());
    outln!("record: {} ({:.1}s)", manifest.display(), record.seconds);
    Ok(ExitCode::Success)
}

pub async fn restore(options: RestoreOptions) -> Result<ExitCode> {
    let started = Instant::now();
    let url = resolve_url(&options.url)?;
    let shown = redact(&url);
    let (progress, log) = terminal_report();
    let report = Report {
        progress: &*progress,
        log: &*log,
    };
    let manifest = dump_record::record_path(&options.from);
    let record: Option<DumpRecord> = match std::fs::read_to_string(&manifest) {
        Ok(text) => {
            let mut r: DumpRecord = serde_json::from_str(&text).map_err(|e| {
                bad_input(format!("{} is not a dump record: {e}", manifest.display()))
            })?;
            r.path = options.from.clone();
            Some(r)
        }
        Err(_) if options.unverified => None,
        Err(_) => {
            return Err(bad_input(format!(
                "{} is missing: without the record `cutover pg dump` writes, the archive's \
                 checksum and row counts cannot be checked; pass --unverified to restore it \
                 anyway",
                manifest.display()
            )));
        }
    };
    let tables = match &record {
        Some(record) => {
            errln!(
                "checking {} against its recorded SHA-256",
                options.from.display()
            );
            pgdump::verify_file(record, &report).await?;
            let occupied = pgtarget::occupied(&url, record).await?;
            if !occupied.is_empty() && !options.replace {
                errln!(
                    "{shown} already holds {} of the dump's tables ({}); nothing was restored. \
                     Pass --replace to drop and replace them",
                    occupied.len(),
                    occupied.join(", ")
                );
                return Ok(ExitCode::Failed);
            }
            record.table_data
        }
        None => {
            let pg_restore = crate::infra::tools::require("pg_restore").await?;
            pgdump::table_data(&pg_restore, &options.from).await?.len()
        }
    };
    errln!("restoring {} into {shown}", options.from.display());
    pgdump::pg_restore_into(&url, &options.from, options.replace, tables, &report).await?;
    if let Some(record) = &record {
        let differ = pgtarget::verify_restored(&url, record).await?.differences;
        if !differ.is_empty() {
            errln!("the restore does not hold the dump's rows:");
            for d in &differ {
                errln!("  {d}");
            }
            return Ok(ExitCode::Failed);
        }
        outln!(
            "restored {} into {shown}: {} tables, {} rows, every count equal to the dump's \
             ({:.1}s)",
            options.from.display(),
            record.rows.len(),
            record.total_rows(),
            started.elapsed().as_secs_f64()
        );
    } else {
        outln!(
            "restored {} into {shown} without verification ({:.1}s)",
            options.from.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::Success)
}
