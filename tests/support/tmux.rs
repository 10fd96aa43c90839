//! A program running in its own tmux server, for end-to-end tests of the full-screen
//! wizard: type keys, read the screen, check how the program left the terminal.
//!
//! Each [`TmuxSession`] starts a private tmux server on a socket in its own temporary
//! folder (`tmux -S`), with no user configuration, so a test never touches the
//! user's tmux and tests run in parallel. The program runs under a small wrapper
//! script that records its pid and exit status in that folder and then keeps the
//! pane open, untouched: the screen and the terminal modes stay as the program left
//! them, so a test can check that it gave the terminal back.
//!
//! Dropping the session kills its server, and the program with it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// How often `wait_for` and `wait_exit` look at the pane.
const POLL: Duration = Duration::from_millis(50);

/// The wrapper the pane runs: `sh run.sh EXIT_FILE PID_FILE PROGRAM [ARG...]`. The inner
/// `sh` writes its pid and then becomes the program, so the pid is the program's. Both
/// files are written under a temporary name and renamed, so a reader never sees half.
const WRAPPER: &str = r#"exit_file=$1
pid_file=$2
shift 2
sh -c 'echo $$ > "$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pid_file" "$@"
status=$?
echo "exit=$status" > "$exit_file.tmp" && mv "$exit_file.tmp" "$exit_file"
exec sleep 2147483647
"#;

/// The server's whole configuration: no status line (the program gets every row), no
/// delay after Escape, and the pane kept if the wrapper itself is killed.
const CONFIG: &str = "set -g status off\n\
set -g escape-time 0\n\
set -g remain-on-exit on\n\
set -g history-limit 10000\n";

/// What a pane's terminal looks like to tmux: the modes a full-screen program sets
/// and must reset when it exits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TerminalModes {
    /// The alternate screen is on (`#{alternate_on}`).
    pub alternate_screen: bool,
    /// The cursor is shown (`#{cursor_flag}`).
    pub cursor_visible: bool,
}

pub struct TmuxSession {
    /// Holds the socket, the configuration, the wrapper and the pid and exit files.
    dir: tempfile::TempDir,
    socket: PathBuf,
    /// `=name:` so tmux takes the name exactly, never as a prefix of another.
    target: String,
    exit_file: PathBuf,
    pid_file: PathBuf,
}

impl TmuxSession {
    /// Starts `command` (program and arguments, run directly, no shell) in a new
    /// `width` x `height` pane of a private tmux server, with `env` added to the
    /// environment and `cwd` as its working folder. Fails with a clear message when
    /// tmux is not installed (`scripts/install-deps` installs it).
    pub fn start(
        name_hint: &str,
        width: u16,
        height: u16,
        command: &[&str],
        env: &[(&str, &str)],
        cwd: &Path,
    ) -> Result<TmuxSession> {
        if command.is_empty() {
            bail!("TmuxSession::start needs a program to run");
        }
        check_tmux()?;
        // Short: a Unix socket path must fit in 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("cutover-tmux-")
            .tempdir_in("/tmp")
            .or_else(|_| tempfile::tempdir())
            .context("cannot create a folder for the tmux socket")?;
        let hint: String = name_hint
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .take(32)
            .collect();
        let name = super::unique_name(if hint.is_empty() { "tmux" } else { &hint });
        let session = TmuxSession {
            socket: dir.path().join("socket"),
            target: format!("={name}:"),
            exit_file: dir.path().join("exit"),
            pid_file: dir.path().join("pid"),
            dir,
        };
        let config = session.dir.path().join("tmux.conf");
        std::fs::write(&config, CONFIG).context("cannot write the tmux configuration")?;
        let wrapper = session.dir.path().join("run.sh");
        std::fs::write(&wrapper, WRAPPER).context("cannot write the wrapper script")?;

        let mut args: Vec<String> = vec![
            "-f".into(),
            path_str(&config)?.into(),
            "new-session".into(),
            "-d".into(),
            "-s".into(),
            name,
            "-x".into(),
            width.to_string(),
            "-y".into(),
            height.to_string(),
            "-c".into(),
            path_str(cwd)?.into(),
        ];
        for (key, value) in env {
            args.push("-e".into());
            args.push(format!("{key}={value}"));
        }
        args.push("--".into());
        for a in [
            "sh",
            path_str(&wrapper)?,
            path_str(&session.exit_file)?,
            path_str(&session.pid_file)?,
        ] {
            args.push(a.into());
        }
        args.extend(command.iter().map(|a| a.to_string()));
        session
            .tmux(&args)
            .with_context(|| format!("tmux cannot start {command:?}"))?;
        Ok(session)
    }

    /// Sends keys by tmux name (`Enter`, `Escape`, `Tab`, `BTab`, `Up`, `C-c`, `q`...),
    /// one argument each; a word tmux does not know as a key is sent as text.
    pub fn send_keys(&self, keys: &[&str]) -> Result<()> {
        let mut args = vec!["send-keys", "-t", &self.target];
        args.extend_from_slice(keys);
        self.tmux(&args).map(drop)
    }

    /// Types `text` exactly as given (`send-keys -l`): no key names.
    pub fn send_text(&self, text: &str) -> Result<()> {
        self.tmux(&["send-keys", "-t", &self.target, "-l", "--", text])
            .map(drop)
    }

    /// The screen as text, one line per row (trailing blanks trimmed by tmux).
    pub fn capture(&self) -> Result<String> {
        self.tmux(&["capture-pane", "-p", "-t", &self.target])
    }

    /// The screen with its escape sequences for colours and attributes (`-e`), to
    /// check for example that no colour is drawn under `NO_COLOR`.
    pub fn capture_with_escapes(&self) -> Result<String> {
        self.tmux(&["capture-pane", "-p", "-e", "-t", &self.target])
    }

    /// Polls the screen every 50 ms until it contains `text`, and returns that screen.
    /// Fails with the last screen when `timeout` passes, or at once when the program
    /// has exited without showing it.
    pub fn wait_for(&self, text: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.capture()?;
            if screen.contains(text) {
                return Ok(screen);
            }
            if let Some(status) = self.exit_status() {
                // The program is gone: the screen will not change any more.
                let screen = self.capture().unwrap_or(screen);
                if screen.contains(text) {
                    return Ok(screen);
                }
                bail!(
                    "the program exited (status {status}) without showing {text:?}; last screen:\n{}",
                    framed(&screen)
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "{text:?} did not show within {timeout:?}; last screen:\n{}",
                    framed(&screen)
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// The program's exit status once it has exited, waiting up to `timeout`; None when
    /// it still runs then. A program killed by a signal gives 128 + the signal number,
    /// as in a shell.
    pub fn wait_exit(&self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    /// The program's own pid (not tmux's nor the wrapper's), for signals and for
    /// reading `/proc`. Waits up to five seconds for the program to start.
    pub fn pane_pid(&self) -> Result<u32> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(pid) =
                read_complete(&self.pid_file).and_then(|text| text.trim().parse::<u32>().ok())
            {
                return Ok(pid);
            }
            if Instant::now() >= deadline {
                bail!(
                    "the program did not start within 5 s; pane pid {}, screen:\n{}",
                    self.format("#{pane_pid}").unwrap_or_default(),
                    framed(&self.capture().unwrap_or_default())
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// The alternate-screen and cursor modes of the pane now.
    pub fn terminal_modes(&self) -> Result<TerminalModes> {
        let text = self.format("#{alternate_on} #{cursor_flag}")?;
        match text.split_whitespace().collect::<Vec<_>>()[..] {
            [alt, cursor] => Ok(TerminalModes {
                alternate_screen: alt == "1",
                cursor_visible: cursor == "1",
            }),
            _ => bail!("tmux gave {text:?} for the pane's modes"),
        }
    }

    /// Checks that the program gave the terminal back: the pane is out of the
    /// alternate screen and the cursor shows. Meant for after the program exited.
    pub fn assert_terminal_restored(&self) -> Result<()> {
        let modes = self.terminal_modes()?;
        let expected = TerminalModes {
            alternate_screen: false,
            cursor_visible: true,
        };
        if modes != expected {
            bail!(
                "the terminal was not restored: {modes:?} (want the normal screen and a visible \
                 cursor); screen:\n{}",
                framed(&self.capture().unwrap_or_default())
            );
        }
        Ok(())
    }

    /// Resizes the pane, as an operator resizing the terminal window would.
    pub fn resize(&self, width: u16, height: u16) -> Result<()> {
        self.tmux(&[
            "resize-window",
            "-t",
            &self.target,
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
        ])
        .map(drop)
    }

    /// A tmux format (`#{...}`) expanded for the pane.
    pub fn format(&self, format: &str) -> Result<String> {
        let out = self.tmux(&["display-message", "-p", "-t", &self.target, format])?;
        Ok(out.trim_end_matches('\n').to_string())
    }

    fn exit_status(&self) -> Option<i32> {
        read_complete(&self.exit_file)?
            .trim()
            .strip_prefix("exit=")?
            .parse()
            .ok()
    }

    /// Runs one tmux command against this session's server; its stdout.
    fn tmux<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Result<String> {
        let output = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .context("cannot run tmux")?;
        text_of(output)
    }
}

impl Drop for TmuxSession {
    fn drop(&mut self) {
        let program = if self.exit_status().is_none() {
            read_complete(&self.pid_file).and_then(|t| t.trim().parse::<i32>().ok())
        } else {
            None
        };
        // Killing the server hangs up every pane, which ends the program and the wrapper.
        let _ = self.tmux(&["kill-server"]);
        // A program that ignores the hang-up is killed outright.
        if let Some(pid) = program.and_then(rustix::process::Pid::from_raw) {
            let deadline = Instant::now() + Duration::from_secs(1);
            while rustix::process::test_kill_process(pid).is_ok() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// Fails with what to do when tmux is missing: tests that need it must not pass
/// without it.
fn check_tmux() -> Result<()> {
    match Command::new("tmux").arg("-V").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(anyhow!(
            "`tmux -V` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(anyhow!(
            "tmux is not installed, and the end-to-end tests of the wizard run it in tmux; \
             install it with scripts/install-deps (as root) or `apt-get install tmux`"
        )),
        Err(e) => Err(anyhow!("cannot run tmux: {e}")),
    }
}

fn text_of(output: Output) -> Result<String> {
    if !output.status.success() {
        bail!(
            "tmux failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout).context("tmux printed text that is not UTF-8")
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| anyhow!("{} is not UTF-8", path.display()))
}

/// A file's text when it is whole (ends with a newline); None before it is written.
fn read_complete(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .filter(|text| text.ends_with('\n'))
}

/// The screen between rules, so blank rows at its ends still show in a message.
fn framed(screen: &str) -> String {
    format!("{0}\n{screen}\n{0}", "-".repeat(40))
}
