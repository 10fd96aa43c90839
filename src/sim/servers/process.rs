//! Finding server binaries, running setup commands, temporary folders, bounded waits and the
//! cleanup watchdog.

use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};

/// How many times a server gets polled while it comes up. Generous: machines can be slow and
/// busy, and a wait that gives up too early fails for nothing.
pub(super) const START_POLLS: u32 = 1200;
pub(super) const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How long dropping a server waits for its cleanup (a throw-away PostgreSQL stops with
/// `pg_ctl stop -m immediate -t 60`) before leaving the rest to the detached cleanup.
const CLEANUP_WAIT: Duration = Duration::from_secs(90);

/// Runs a shell snippet once the owning process is gone, however it ends, or earlier when
/// [`Watchdog::run_now`] asks.
///
/// The watchdog reads its stdin until end of file. The write end lives in this process only
/// (Rust opens pipes close-on-exec), so the kernel closes it when the process exits, also on
/// SIGKILL. It runs in its own process group so that a group kill of the owner (Ctrl-C in a
/// terminal, a test runner's timeout) does not take it along, and it holds none of the owner's
/// output pipes, so nobody waits for it.
pub(super) struct Watchdog {
    child: Child,
}

impl Watchdog {
    pub(super) fn spawn(cleanup: &str) -> anyhow::Result<Watchdog> {
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("cat >/dev/null; {cleanup}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("cannot start the cleanup watchdog (sh): check that /bin/sh exists")?;
        Ok(Watchdog { child })
    }

    /// Stops the watchdog without running its cleanup: the owner cleaned up itself.
    pub(super) fn disarm(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Runs the cleanup now and waits (bounded) for it to finish. Past the bound the cleanup
    /// goes on by itself, detached.
    pub(super) fn run_now(mut self) {
        drop(self.child.stdin.take());
        for _ in 0..CLEANUP_WAIT.as_millis() / POLL_INTERVAL.as_millis() {
            match self.child.try_wait() {
                Ok(None) => sleep(POLL_INTERVAL),
                Ok(Some(_)) | Err(_) => return,
            }
        }
        tracing::warn!(
            "a server cleanup (pid {}) takes longer than {CLEANUP_WAIT:?}; it goes on in the \
             background",
            self.child.id()
        );
    }
}

/// `s` quoted for sh.
pub(super) fn shq(s: impl AsRef<str>) -> String {
    format!("'{}'", s.as_ref().replace('\'', r"'\''"))
}

/// `p` as text, for command lines and cleanup scripts.
pub(super) fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str().ok_or_else(|| {
        anyhow!(
            "the path {} is not UTF-8; set TMPDIR to a folder with a plain name",
            p.display()
        )
    })
}

/// The first executable named one of `names` on PATH, then in `extra_dirs`.
pub(super) fn find_binary(names: &[&str], extra_dirs: &[PathBuf]) -> Option<PathBuf> {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    for dir in path_dirs.iter().chain(extra_dirs) {
        for name in names {
            let candidate = dir.join(name);
            let executable = std::fs::metadata(&candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
            if executable {
                return Some(candidate);
            }
        }
    }
    None
}

/// `/usr/lib/postgresql/N/bin`, newest major first: Debian keeps initdb and pg_ctl there, off
/// PATH.
pub(super) fn postgres_bin_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let major = e.file_name().to_str()?.parse::<u32>().ok()?;
                    Some((major, e.path().join("bin")))
                })
                .collect()
        })
        .unwrap_or_default();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.0));
    dirs.into_iter().map(|(_, dir)| dir).collect()
}

pub(super) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Runs `cmd` to the end; the error carries its output.
pub(super) fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if output.status.success() {
        Ok(())
    } else {
        bail!(
            "{cmd:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }
}

/// `program`, prefixed with `runuser -u user --` when running as root, because initdb and the
/// database servers refuse to run as root.
pub(super) fn as_user(user: &str, program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", user, "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// `cmd`'s program and arguments as a sh command line.
pub(super) fn command_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| shq(a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A new, private (0700) folder under the system's temporary folder, named `prefix` plus a
/// unique suffix. It outlives this call: removing it is the watchdog's or the owner's job.
/// Owned by `owner` when running as root and `owner` is given.
pub(super) fn kept_tempdir(prefix: &str, owner: Option<&str>) -> anyhow::Result<PathBuf> {
    let base = std::env::temp_dir();
    let mut last_error = None;
    for _ in 0..16 {
        let dir = base.join(super::names::unique_name(prefix));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                if let Some(user) = owner
                    && is_root()
                {
                    let chowned = run(Command::new("chown")
                        .arg("-R")
                        .arg(format!("{user}:"))
                        .arg(&dir));
                    if let Err(e) = chowned {
                        let _ = std::fs::remove_dir_all(&dir);
                        return Err(e.context(format!(
                            "cannot hand {} to the user {user} (the server refuses to run as \
                             root; check that the user exists)",
                            dir.display()
                        )));
                    }
                }
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "cannot create a folder in {} (check that it exists and is writable, or \
                         set TMPDIR)",
                        base.display()
                    )
                });
            }
        }
    }
    Err(anyhow!(
        "cannot find an unused folder name in {}: {last_error:?}",
        base.display()
    ))
}

/// The last lines of a log file, for error messages.
pub(super) fn log_tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Sends `signal` to the process `pid`.
pub fn signal(pid: u32, signal: rustix::process::Signal) -> anyhow::Result<()> {
    let raw = i32::try_from(pid).map_err(|_| anyhow!("pid {pid} is out of range"))?;
    let id = rustix::process::Pid::from_raw(raw)
        .ok_or_else(|| anyhow!("pid {raw} is not a process id"))?;
    rustix::process::kill_process(id, signal)
        .with_context(|| format!("cannot send {signal:?} to process {raw}"))
}

/// A sh snippet that SIGKILLs the process in `pid_expr` only if its command line still
/// mentions one of `markers`, so a recycled pid is never hit.
pub(super) fn guarded_kill(pid_expr: &str, markers: &[&str]) -> String {
    let ours = mentions_any(markers);
    format!("pid={pid_expr}; if [ -n \"$pid\" ] && {ours}; then kill -9 $pid; fi")
}

/// A sh snippet that stops the process in `pid_expr` with SIGTERM, only if its command line
/// still mentions one of `markers`, waits up to `wait` for it to exit, and SIGKILLs it after
/// that (checking the markers again, so a recycled pid is never hit).
pub(super) fn guarded_stop(pid_expr: &str, markers: &[&str], wait: Duration) -> String {
    let ours = mentions_any(markers);
    let tenths = wait.as_millis() / 100;
    format!(
        "pid={pid_expr}; if [ -n \"$pid\" ] && {ours}; then kill -TERM $pid; i=0; \
         while [ $i -lt {tenths} ] && {ours}; do sleep 0.1; i=$((i+1)); done; \
         if {ours}; then kill -9 $pid; fi; fi"
    )
}

/// A sh condition: the command line of process `$pid` mentions one of `markers`.
fn mentions_any(markers: &[&str]) -> String {
    let checks = markers
        .iter()
        .map(|m| format!("grep -qaF {} /proc/$pid/cmdline 2>/dev/null", shq(m)))
        .collect::<Vec<_>>()
        .join(" || ");
    format!("{{ {checks}; }}")
}

/// A sh snippet that SIGKILLs every process whose command line mentions `marker` (but the
/// watchdog itself), twice, to also catch a process that was being forked during the first
/// pass (mariadb-install-db starting its bootstrap server, say).
pub(super) fn kill_all_mentioning(marker: &str) -> String {
    let pass = format!(
        "for f in /proc/[0-9]*/cmdline; do p=${{f#/proc/}}; p=${{p%/cmdline}}; \
         [ \"$p\" = \"$$\" ] && continue; \
         grep -qaF {} \"$f\" 2>/dev/null && kill -9 \"$p\" 2>/dev/null; done",
        shq(marker)
    );
    format!("{pass}; sleep 0.5; {pass}; sleep 0.2")
}
