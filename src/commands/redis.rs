//! `cutover redis copy` and `cutover redis compare`: the Redis copy and its check, on their own
//! (see `crate::infra::redis_copy` for how they work).
//!
//! URLs may be given as `env:NAME` or `file:PATH`, as in the config, so that no password has to
//! be typed on a command line; whatever form they take, they are shown with the password masked.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use tokio::signal::unix::{SignalKind, signal};

use crate::config::SecretRef;
use crate::error::{ExitCode, bad_input};
use crate::infra::redis_copy::{self, CompareOptions, CopyMethod, CopyOptions, CopyProgress};
use crate::infra::url::redact;
use crate::{errln, outln};

/// How often the copy prints its progress on stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, clap::Subcommand)]
pub enum RedisCommand {
    /// Copies keys from one Redis to another (SCAN; strings by value, other types with DUMP and
    /// RESTORE), resumable.
    Copy {
        /// The source: redis://[USER:PASSWORD@]HOST:PORT/DB, or env:NAME / file:PATH holding it.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The target, in the same forms.
        #[arg(long, value_name = "URL")]
        to: String,
        /// Copy only the keys matching this glob (SCAN MATCH).
        #[arg(long = "match", value_name = "GLOB")]
        pattern: Option<String>,
        /// Overwrite keys the target already has (otherwise a key whose content differs is an
        /// error and nothing is overwritten).
        #[arg(long)]
        replace: bool,
        /// Continue the copy the checkpoint file records.
        #[arg(long)]
        resume: bool,
        /// Copy with each type's commands instead of DUMP/RESTORE (a target older than the
        /// source).
        #[arg(long)]
        per_type: bool,
        /// Where the copy records how far it got (default: in --state-dir, or the current
        /// folder, named after the two URLs).
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
    /// Compares the keys of two Redis servers: missing, extra, type, value and TTL.
    Compare {
        #[arg(long, value_name = "URL")]
        from: String,
        #[arg(long, value_name = "URL")]
        to: String,
        #[arg(long = "match", value_name = "GLOB")]
        pattern: Option<String>,
        /// TTLs this many seconds apart or closer count as equal.
        #[arg(long, value_name = "SECS", default_value_t = 2)]
        ttl_tolerance: u64,
        /// How many differences to list (all are counted).
        #[arg(long, value_name = "N", default_value_t = 20)]
        show: usize,
    },
}

pub async fn run(command: &RedisCommand, state_dir: Option<&Path>) -> Result<ExitCode> {
    match command {
        RedisCommand::Copy {
            from,
            to,
            pattern,
            replace,
            resume,
            per_type,
            checkpoint,
        } => {
            let from_url = resolve("--from", from)?;
            let to_url = resolve("--to", to)?;
            let checkpoint = checkpoint.clone().unwrap_or_else(|| {
                default_checkpoint(state_dir, &from_url, &to_url, pattern.as_deref())
            });
            let mut options = CopyOptions::new(&checkpoint);
            options.pattern = pattern.clone();
            options.replace = *replace;
            options.resume = *resume;
            options.per_type = *per_type;
            let mut resume_cmd = vec![
                "cutover".to_string(),
                "redis".into(),
                "copy".into(),
                "--from".into(),
                shown_arg(from),
                "--to".into(),
                shown_arg(to),
            ];
            if let Some(p) = pattern {
                resume_cmd.extend(["--match".into(), shell_quote(p)]);
            }
            if *replace {
                resume_cmd.push("--replace".into());
            }
            if *per_type {
                resume_cmd.push("--per-type".into());
            }
            resume_cmd.extend([
                "--checkpoint".into(),
                shell_quote(&checkpoint.display().to_string()),
                "--resume".into(),
            ]);
            let mut resume = resume_cmd.join(" ");
            if resume.contains("***") {
                resume.push_str(
                    "\n  (with the password in place of ***, or the URL passed as env:NAME or \
                     file:PATH)",
                );
            }
            copy(&from_url, &to_url, options, &resume).await
        }
        RedisCommand::Compare {
            from,
            to,
            pattern,
            ttl_tolerance,
            show,
        } => {
            let from_url = resolve("--from", from)?;
            let to_url = resolve("--to", to)?;
            let options = CompareOptions {
                pattern: pattern.clone(),
                ttl_tolerance: Duration::from_secs(*ttl_tolerance),
                show: *show,
            };
            compare(&from_url, &to_url, &options).await
        }
    }
}

/// The URL an argument stands for: itself, or read from `env:NAME` / `file:PATH`.
fn resolve(flag: &str, raw: &str) -> Result<String> {
    let reference = if let Some(name) = raw.strip_prefix("env:") {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad_input(format!(
                "{flag}: `env:{name}` is not a valid environment variable name"
            )));
        }
        SecretRef::Env(name.to_string())
    } else if let Some(path) = raw.strip_prefix("file:") {
        if path.is_empty() {
            return Err(bad_input(format!("{flag}: `file:` needs a path")));
        }
        SecretRef::File(PathBuf::from(path))
    } else {
        return Ok(raw.to_string());
    };
    reference.resolve(flag)
}

/// An argument as it may be shown: references as written, URLs with the password masked.
fn shown_arg(raw: &str) -> String {
    if raw.starts_with("env:") || raw.starts_with("file:") {
        shell_quote(raw)
    } else {
        shell_quote(&redact(raw))
    }
}

fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@=,+%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `redis-copy-<hash>.checkpoint.json` in the state folder (or here), the hash taken over the
/// URLs without their passwords and the glob, so two copies never share one.
fn default_checkpoint(
    state_dir: Option<&Path>,
    from: &str,
    to: &str,
    pattern: Option<&str>,
) -> PathBuf {
    let mut hash = Sha256::new();
    hash.update(redact(from).as_bytes());
    hash.update([0]);
    hash.update(redact(to).as_bytes());
    hash.update([0]);
    hash.update(pattern.unwrap_or("").as_bytes());
    let digest = hash.finalize();
    let short: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    state_dir
        .unwrap_or(Path::new("."))
        .join(format!("redis-copy-{short}.checkpoint.json"))
}

async fn copy(from: &str, to: &str, mut options: CopyOptions, resume: &str) -> Result<ExitCode> {
    if let Some(dir) = options.checkpoint.parent()
        && !dir.as_os_str().is_empty()
        && !dir.is_dir()
    {
        return Err(bad_input(format!(
            "the checkpoint folder {} does not exist; create it or pass --checkpoint FILE",
            dir.display()
        )));
    }
    let stop = Arc::clone(&options.stop);
    watch_signals(Arc::clone(&stop))?;
    let mut last = Instant::now();
    options.progress = Some(Box::new(move |p: &CopyProgress| {
        if last.elapsed() >= PROGRESS_EVERY {
            last = Instant::now();
            errln!(
                "copied {} keys, {:.1} MiB, {:.0} keys/s",
                p.keys,
                p.bytes as f64 / 1_048_576.0,
                p.keys_per_second()
            );
        }
    }));
    let checkpoint = options.checkpoint.clone();
    let report = redis_copy::copy(from, to, options).await.map_err(|e| {
        if stop.load(Ordering::SeqCst) {
            e.context("interrupted")
        } else {
            e
        }
    });
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            if checkpoint.exists() && crate::error::exit_code_of(&e) != ExitCode::BadInput {
                errln!("after fixing the cause, continue with:\n  {resume}");
            }
            return Err(e);
        }
    };
    let method = match report.method {
        CopyMethod::Restore { abs_ttl: true } => {
            "strings by value, other types with DUMP/RESTORE, absolute expiry"
        }
        CopyMethod::Restore { abs_ttl: false } => {
            "strings by value, other types with DUMP/RESTORE, remaining TTL"
        }
        CopyMethod::PerType => "type commands",
    };
    outln!(
        "source Redis {} -> target Redis {} ({method})",
        report.source_version,
        report.target_version
    );
    outln!(
        "copied {} keys ({:.1} MiB) in {:.1} s{}",
        report.keys,
        report.bytes as f64 / 1_048_576.0,
        report.elapsed_ms as f64 / 1000.0,
        if report.resumed_from_keys > 0 {
            format!(
                ", after {} copied before the checkpoint",
                report.resumed_from_keys
            )
        } else {
            String::new()
        }
    );
    if report.per_type_keys > 0 && report.method != CopyMethod::PerType {
        outln!(
            "{} keys too large for one RESTORE were written in parts",
            report.per_type_keys
        );
    }
    if report.already_present > 0 {
        outln!(
            "{} keys were already in the target with the same content; left as they were",
            report.already_present
        );
    }
    if report.expired > 0 {
        outln!(
            "{} keys expired or were deleted in the source while being copied",
            report.expired
        );
    }
    if report.interrupted {
        errln!(
            "interrupted: the batches in flight were finished and the checkpoint {} written; \
             continue with:\n  {resume}",
            report.checkpoint.display()
        );
        return Ok(ExitCode::Waiting);
    }
    outln!(
        "done; checkpoint {} (delete it before copying these servers again)",
        report.checkpoint.display()
    );
    Ok(ExitCode::Success)
}

/// SIGINT and SIGTERM set `stop`; a second SIGINT is left to its default (ends the process).
fn watch_signals(stop: Arc<AtomicBool>) -> Result<()> {
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        errln!("stopping: finishing the batches in flight and writing the checkpoint...");
        stop.store(true, Ordering::SeqCst);
    });
    Ok(())
}

async fn compare(from: &str, to: &str, options: &CompareOptions) -> Result<ExitCode> {
    let report = redis_copy::compare(from, to, options).await?;
    outln!(
        "source Redis {} ({} keys) vs target Redis {} ({} keys)",
        report.source_version,
        report.source_keys,
        report.target_version,
        report.target_keys
    );
    if report.equal() {
        outln!(
            "equal: every key of the source is in the target with the same type, value and TTL \
             (within {} s), and the target has no other key{}",
            options.ttl_tolerance.as_secs(),
            if report.equal_by_value > 0 {
                format!(
                    " ({} keys are encoded differently but hold the same values)",
                    report.equal_by_value
                )
            } else {
                String::new()
            }
        );
        return Ok(ExitCode::Success);
    }
    outln!(
        "{} differences: {} missing, {} extra, {} type, {} value, {} ttl",
        report.total_differences(),
        report.missing,
        report.extra,
        report.type_differs,
        report.value_differs,
        report.ttl_differs
    );
    for d in &report.differences {
        outln!("  {:<8} {}: {}", d.kind.to_string(), d.key, d.detail);
    }
    if report.total_differences() > report.differences.len() as u64 {
        outln!(
            "  ... and {} more (--show N lists more)",
            report.total_differences() - report.differences.len() as u64
        );
    }
    Ok(ExitCode::Failed)
}
