//! The tmux harness the end-to-end tests drive the wizard with, checked on small
//! shell programs that do what a full-screen program does to its terminal.

use std::time::Duration;

use crate::support::tmux::{TerminalModes, TmuxSession};

const WAIT: Duration = Duration::from_secs(10);

/// Enters the alternate screen and hides the cursor, greets, reads one line, then
/// gives the terminal back and says what it read, in red, and exits with 7.
const POLITE: &str = r#"printf '\033[?1049h\033[?25l'
printf '%s from %s pid=%s' "$GREETING" "$(pwd)" "$$"
read -r line
printf '\033[?25h\033[?1049l'
printf 'got=[%s] \033[31mred\033[0m\n' "$line"
exit 7"#;

fn start(hint: &str, script: &str, cwd: &std::path::Path) -> TmuxSession {
    TmuxSession::start(
        hint,
        60,
        12,
        &["sh", "-c", script],
        &[("GREETING", "hello")],
        cwd,
    )
    .unwrap_or_else(|e| panic!("{e:#}"))
}

#[test]
fn tmux_harness_types_reads_the_screen_and_sees_the_terminal_given_back() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let cwd = dir.path().canonicalize().expect("the folder's real path");
    let tmux = start("polite", POLITE, &cwd);

    let screen = tmux
        .wait_for("hello from", WAIT)
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        screen.contains(&cwd.display().to_string()),
        "runs in the folder given:\n{screen}"
    );
    let pid = tmux.pane_pid().unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        screen.contains(&format!("pid={pid}")),
        "pane_pid is the program's own pid {pid}:\n{screen}"
    );
    assert_eq!(
        tmux.format("#{window_width}x#{window_height}").ok(),
        Some("60x12".into())
    );
    assert_eq!(
        tmux.terminal_modes().expect("the pane's modes"),
        TerminalModes {
            alternate_screen: true,
            cursor_visible: false
        }
    );
    assert!(
        tmux.assert_terminal_restored().is_err(),
        "still full-screen"
    );
    assert_eq!(
        tmux.wait_exit(Duration::from_millis(200)),
        None,
        "still running"
    );

    // Key names are text when sent literally.
    tmux.send_text("Enter C-c").expect("send text");
    tmux.send_keys(&["Enter"]).expect("send Enter");
    assert_eq!(tmux.wait_exit(WAIT), Some(7));
    tmux.assert_terminal_restored()
        .unwrap_or_else(|e| panic!("{e:#}"));
    let screen = tmux.capture().expect("capture");
    assert!(screen.contains("got=[Enter C-c] red"), "{screen}");
    assert!(
        !screen.contains("hello from"),
        "the alternate screen is gone:\n{screen}"
    );
    let coloured = tmux.capture_with_escapes().expect("capture -e");
    assert!(coloured.contains("\u{1b}[31mred"), "{coloured:?}");
}

#[test]
fn tmux_harness_sees_a_killed_program_leave_the_terminal_full_screen() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let tmux = start(
        "killed",
        r#"printf '\033[?1049h\033[?25lready'; exec sleep 60"#,
        dir.path(),
    );
    tmux.wait_for("ready", WAIT)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let pid = tmux.pane_pid().unwrap_or_else(|e| panic!("{e:#}"));
    crate::support::signal_pid(pid, rustix::process::Signal::KILL);
    assert_eq!(tmux.wait_exit(WAIT), Some(128 + 9));
    let err = tmux
        .assert_terminal_restored()
        .expect_err("SIGKILL leaves the alternate screen on");
    assert!(format!("{err:#}").contains("not restored"), "{err:#}");
}

#[test]
fn tmux_harness_says_what_the_screen_showed_when_a_wait_fails() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let tmux = start(
        "timeout",
        "printf 'something else'; exec sleep 60",
        dir.path(),
    );
    tmux.wait_for("something", WAIT)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let err = tmux
        .wait_for("never shown", Duration::from_millis(300))
        .expect_err("the text never shows");
    let message = format!("{err:#}");
    assert!(
        message.contains("never shown") && message.contains("something else"),
        "{message}"
    );

    // An exited program fails the wait at once, with its status.
    let quick = start("quick", "printf bye; exit 3", dir.path());
    let err = quick
        .wait_for("never shown", WAIT)
        .expect_err("the program exits first");
    let message = format!("{err:#}");
    assert!(
        message.contains("status 3") && message.contains("bye"),
        "{message}"
    );

    // Dropping the session ends the program.
    let pid = tmux.pane_pid().unwrap_or_else(|e| panic!("{e:#}"));
    drop(tmux);
    let deadline = std::time::Instant::now() + WAIT;
    while alive(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(pid), "process {pid} outlived its tmux session");
}

/// Running or sleeping; a zombie waiting for its parent to reap it counts as gone.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .next()?
                .to_string();
            Some(state != "Z" && state != "X")
        })
        .unwrap_or(false)
}
