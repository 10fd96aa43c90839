//! Finding server binaries, running setup commands, and the cleanup watchdog.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

/// How long a server gets to come up. Generous: CI machines can be slow and busy, and a wait
/// that gives up too early is a flaky test.
pub const START_POLLS: u32 = 1200;
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Runs a shell snippet once this test process is gone, however it ends.
///
/// The watchdog reads its stdin until end of file. The write end lives in this process only
/// (Rust opens pipes close-on-exec), so the kernel closes it when the process exits, also on
/// SIGKILL. It runs in its own process group so that a group kill of the test does not take
/// it along, and it holds none of the test's output pipes, so nobody waits for it.
pub struct Watchdog {
    child: Child,
}

impl Watchdog {
    pub fn spawn(cleanup: &str) -> Watchdog {
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("cat >/dev/null; {cleanup}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the cleanup watchdog (sh): {e}"));
        Watchdog { child }
    }

    /// Stops the watchdog without running its cleanup: the owner cleaned up itself.
    pub fn disarm(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `s` quoted for sh.
pub fn shq(s: impl AsRef<str>) -> String {
    format!("'{}'", s.as_ref().replace('\'', r"'\''"))
}

pub fn path_str(p: &Path) -> &str {
    p.to_str()
        .unwrap_or_else(|| panic!("harness paths must be UTF-8: {}", p.display()))
}

/// The first executable named one of `names` on PATH, then in `extra_dirs`.
pub fn find_binary(names: &[&str], extra_dirs: &[PathBuf]) -> Option<PathBuf> {
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
pub fn postgres_bin_dirs() -> Vec<PathBuf> {
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

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Runs `cmd` to the end; panics with its output when it fails.
pub fn run(cmd: &mut Command, what: &str) {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what} ({cmd:?}): {e}"));
    if !output.status.success() {
        panic!(
            "{what} failed ({}): {cmd:?}\nstdout:\n{}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Like [`run`], but reports failure instead of panicking.
pub fn try_run(cmd: &mut Command) -> Result<(), String> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Prefixes `cmd` with `runuser -u user --` when running as root, because initdb and the
/// database servers refuse to run as root.
pub fn as_user(user: &str, program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", user, "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// A temporary folder that outlives this value: its removal is the watchdog's or the
/// owner's job. Owned by `user` when running as root.
pub fn kept_tempdir(prefix: &str, owner: Option<&str>) -> PathBuf {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temporary folder: {e}"))
        .keep();
    if let Some(user) = owner
        && is_root()
    {
        run(
            Command::new("chown")
                .arg("-R")
                .arg(format!("{user}:"))
                .arg(&dir),
            &format!("chown of the throw-away server folder to {user}"),
        );
    }
    dir
}

/// Polls `probe` until it returns `Some`, panicking after [`START_POLLS`] tries with `what`.
pub fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    for _ in 0..START_POLLS {
        if let Some(value) = probe() {
            return value;
        }
        sleep(POLL_INTERVAL);
    }
    panic!("gave up waiting for {what} after {START_POLLS} polls");
}

/// The last lines of a log file, for panic messages.
pub fn log_tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Sends `signal` to the process `pid`, which this harness started.
pub fn signal(pid: u32, signal: rustix::process::Signal) {
    let raw = i32::try_from(pid).unwrap_or_else(|_| panic!("pid {pid} out of range"));
    let pid = rustix::process::Pid::from_raw(raw)
        .unwrap_or_else(|| panic!("pid {raw} is not a process id"));
    rustix::process::kill_process(pid, signal)
        .unwrap_or_else(|e| panic!("cannot send {signal:?} to process {raw}: {e}"));
}

/// A sh snippet that SIGKILLs the process in `pid_expr` only if its command line still
/// mentions one of `markers`, so a recycled pid is never hit.
pub fn guarded_kill(pid_expr: &str, markers: &[&str]) -> String {
    let checks = markers
        .iter()
        .map(|m| format!("grep -qaF {} /proc/$pid/cmdline 2>/dev/null", shq(m)))
        .collect::<Vec<_>>()
        .join(" || ");
    format!("pid={pid_expr}; if [ -n \"$pid\" ] && {{ {checks}; }}; then kill -9 $pid; fi")
}

/// A sh snippet that SIGKILLs every process whose command line mentions `marker` (but the
/// watchdog itself), twice, to also catch a process that was being forked during the first
/// pass (mariadb-install-db starting its bootstrap server, say).
pub fn kill_all_mentioning(marker: &str) -> String {
    let pass = format!(
        "for f in /proc/[0-9]*/cmdline; do p=${{f#/proc/}}; p=${{p%/cmdline}}; \
         [ \"$p\" = \"$$\" ] && continue; \
         grep -qaF {} \"$f\" 2>/dev/null && kill -9 \"$p\" 2>/dev/null; done",
        shq(marker)
    );
    format!("{pass}; sleep 0.5; {pass}; sleep 0.2")
}
