//! The real binary's full-screen wizard in tmux against the rehearsal sandbox
//! (simulated clusters, real Redis and PostgreSQL servers): start, navigate, run
//! the first steps, confirm a manual step, answer a typed gate, quit while a step
//! waits, start again and resume; with `NO_COLOR=1`; stopped by SIGTERM; killed
//! with -9; `cutover rehearse` quit part-way and started again. After every exit the
//! terminal must be given back.

use std::path::PathBuf;
use std::time::Duration;

use cutover::sim::sandbox::{Sandbox, SandboxOptions, SourceDatabase};

use crate::cli::read_journal;
use crate::support::tmux::TmuxSession;
use crate::support::{cutover_bin, signal_pid};

/// Long enough for a step or a screen on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// A sandbox serving while the test runs, and a config for it.
struct Rehearsal {
    sandbox: Sandbox,
    config: PathBuf,
    state: PathBuf,
    name: String,
    dir: tempfile::TempDir,
    // Dropped last: the sandbox's tasks run on it.
    _runtime: tokio::runtime::Runtime,
}

impl Rehearsal {
    fn start(name: &str, party: &str) -> Rehearsal {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let dir = tempfile::tempdir().expect("a temporary directory");
        // A PostgreSQL source: the screens below count its steps.
        let options = SandboxOptions {
            pod_start_delay: Duration::from_millis(50),
            source_database: SourceDatabase::Postgresql,
            ..SandboxOptions::default()
        };
        let sandbox = runtime
            .block_on(Sandbox::start(&dir.path().join("sandbox"), options))
            .expect("the sandbox starts");
        let state = dir.path().join("state");
        let config = dir.path().join("cutover.toml");
        let toml = sandbox.config_toml(name, "limited", party, "Ana", &state);
        std::fs::write(&config, toml).expect("write the config");
        Rehearsal {
            sandbox,
            config,
            state,
            name: name.to_string(),
            dir,
            _runtime: runtime,
        }
    }

    /// The wizard on this migration in a new tmux pane.
    fn wizard(&self, size: (u16, u16), args: &[&str], env: &[(&str, &str)]) -> TmuxSession {
        let bin = cutover_bin();
        let config = self.config.display().to_string();
        let mut command = vec![bin.to_str().expect("a UTF-8 path"), "--config", &config];
        command.extend_from_slice(args);
        TmuxSession::start("wizard", size.0, size.1, &command, env, self.dir.path())
            .expect("tmux starts the wizard")
    }

    /// Records every step before `step` as skipped in this migration's journal, as a journal
    /// of a migration that got that far shows them done.
    fn skip_to(&self, step: &str) {
        use cutover::journal::{Header, Identity, Journal, JournalEvent};
        let config = cutover::config::Config::load(&self.config).expect("the config loads");
        let header = Header {
            migration: config.name.clone(),
            runbook: config.runbook,
            access_path: config.access_path,
        };
        let (mut journal, _) = Journal::open(
            &config.migration_dir(),
            &header,
            Identity::of_this_process("Ana"),
        )
        .expect("the journal opens");
        for p in cutover::plan::plan(&config)
            .iter()
            .take_while(|p| p.step.id.0 != step)
        {
            journal
                .append(JournalEvent::StepSkipped {
                    step: p.step.id.0.to_string(),
                    reason: "done before this test".to_string(),
                })
                .expect("record a skipped step");
        }
    }

    fn journal(&self) -> Vec<serde_json::Value> {
        read_journal(&self.state.join(&self.name).join("journal.jsonl")).0
    }
}

fn wait(t: &TmuxSession, text: &str) -> String {
    t.wait_for(text, PATIENCE)
        .unwrap_or_else(|e| panic!("{e:#}"))
}

fn keys(t: &TmuxSession, keys: &[&str]) {
    for k in keys {
        t.send_keys(&[k]).expect("tmux sends the key");
        // An Escape followed at once by a letter reads as Alt+letter, as in any
        // terminal; a person types slower than that.
        if *k == "Escape" {
            std::thread::sleep(Duration::from_millis(150));
        }
    }
}

/// From the start (customer on the limited path): runs the checks, confirms the manual step and
/// stops the traffic, up to the drain's gate.
fn to_the_drain_gate(t: &TmuxSession) {
    wait(t, "READY");
    keys(t, &["Enter"]);
    wait(t, "Manual step: Confirm the agreed prerequisites");
    keys(t, &["Enter"]);
    wait(t, "Type exactly: stop traffic");
    t.send_text("stop traffic").expect("type");
    keys(t, &["Enter"]);
    wait(t, "Drain the job queues · step 10");
}

fn exit_of(t: &TmuxSession) -> i32 {
    t.wait_exit(PATIENCE).unwrap_or_else(|| {
        panic!(
            "the wizard did not exit; screen:\n{}",
            t.capture().unwrap_or_default()
        )
    })
}

fn restored(t: &TmuxSession) {
    t.assert_terminal_restored()
        .unwrap_or_else(|e| panic!("{e:#}"));
}

/// The SGR parameters of `screen` that set a colour (30-38, 40-48, 90-97,
/// 100-107); 39 and 49 put the terminal's own colours back and are not colours.
fn colours(screen: &str) -> Vec<String> {
    let mut found = Vec::new();
    for part in screen.split("\u{1b}[").skip(1) {
        let Some(end) = part.find(|c: char| !(c.is_ascii_digit() || c == ';')) else {
            continue;
        };
        if !part[end..].starts_with('m') {
            continue;
        }
        for p in part[..end].split(';') {
            let colour = p
                .parse::<u32>()
                .is_ok_and(|n| matches!(n, 30..=38 | 40..=48 | 90..=97 | 100..=107));
            if colour {
                found.push(part[..end].to_string());
            }
        }
    }
    found
}

fn count(entries: &[serde_json::Value], event: &str, step: &str) -> usize {
    entries
        .iter()
        .filter(|e| e["event"] == event && e["step"] == step)
        .count()
}

#[test]
fn run_the_first_steps_answer_the_gates_quit_and_resume() {
    let r = Rehearsal::start("e2e", "customer");
    let t = r.wizard((120, 36), &[], &[]);
    wait(&t, "READY");
    wait(&t, "Enter starts the run at check-kubeconfigs");

    // Navigate: the detail follows the selection; help opens and closes.
    keys(&t, &["j", "j"]);
    wait(&t, "Step 3 · inventory");
    keys(&t, &["?"]);
    wait(&t, "Help · j/k scroll · Esc closes");
    keys(&t, &["Escape"]);
    let screen = wait(&t, "Enter start");
    assert!(!screen.contains("Help · j/k"), "{screen}");

    // Run: the checks pass, the manual step waits with its dialog.
    keys(&t, &["Enter"]);
    wait(&t, "Manual step: Confirm the agreed prerequisites");
    keys(&t, &["Enter"]);

    // The typed gate refuses a wrong phrase and takes the exact one.
    wait(&t, "Type exactly: stop traffic");
    t.send_text("stop trafic").expect("type");
    keys(&t, &["Enter"]);
    wait(&t, "Refused: the text does not match");
    keys(&t, &["C-u"]);
    t.send_text("stop traffic").expect("type");
    wait(&t, "matches: Enter goes ahead");
    keys(&t, &["Enter"]);

    // The next gate waits. p pauses there; Enter goes on and asks again.
    wait(&t, "Drain the job queues · step 10");
    keys(&t, &["Escape", "p"]);
    wait(&t, "PAUSED");
    keys(&t, &["Enter"]);
    wait(&t, "Drain the job queues · step 10");
    // Quit from the step list asks first, then pauses.
    keys(&t, &["Escape", "q"]);
    wait(&t, "waits for an answer. Quitting leaves it waiting");
    keys(&t, &["y"]);
    assert_eq!(exit_of(&t), 0, "a quit by the operator is not an error");
    restored(&t);
    let after = t.capture().expect("capture");
    assert!(
        after.contains("paused at a safe point (drain-queues waits for an answer)"),
        "{after}"
    );
    let entries = r.journal();
    assert_eq!(count(&entries, "step-confirmed", "stop-traffic"), 1);
    assert!(entries.iter().any(|e| e["event"] == "step-confirmed"
        && e["step"] == "stop-traffic"
        && e["text"] == "stop traffic"));
    assert_eq!(count(&entries, "step-finished", "agree-prerequisites"), 1);
    assert_eq!(count(&entries, "step-started", "drain-queues"), 0);

    // Start again: the resume prompt tells what happened and where it stopped.
    let t = r.wizard((120, 36), &[], &[]);
    let prompt = wait(&t, "Resume this migration?");
    assert!(prompt.contains("Ana (Customer)"), "{prompt}");
    assert!(prompt.contains("drain-queues waits"), "{prompt}");
    assert!(
        prompt.contains("next: step 10. Drain the job queues"),
        "{prompt}"
    );
    keys(&t, &["Enter"]);
    wait(&t, "Drain the job queues · step 10");
    // Nothing that was done runs again.
    let entries = r.journal();
    assert_eq!(count(&entries, "step-started", "check-redis"), 1);
    keys(&t, &["C-c"]);
    wait(&t, "Quit?");
    keys(&t, &["y"]);
    assert_eq!(exit_of(&t), 0);
    restored(&t);
}

#[test]
fn no_color_draws_no_colour_and_gives_the_terminal_back() {
    let r = Rehearsal::start("mono", "red-hat");
    let t = r.wizard((80, 24), &[], &[("NO_COLOR", "1")]);
    wait(&t, "READY");
    keys(&t, &["Enter"]);
    wait(&t, "Manual step: Confirm the agreed prerequisites");
    let screen = t.capture_with_escapes().expect("capture");
    let colours = colours(&screen);
    assert!(
        colours.is_empty(),
        "colours under NO_COLOR: {colours:?}\n{screen:?}"
    );
    assert!(screen.contains("\u{1b}[1m"), "bold is kept: {screen:?}");
    // A window made too small says so, and the screen comes back when it grows.
    t.resize(70, 24).expect("resize");
    wait(&t, "terminal too small: 70x24, need 80x24");
    t.resize(80, 24).expect("resize");
    wait(&t, "Manual step: Confirm the agreed prerequisites");
    keys(&t, &["Enter"]);
    // A hand-off on this path: the customer stops the traffic; who did it is recorded.
    wait(&t, "Hand-off: Stop API traffic to 3scale");
    t.send_text("Bo").expect("type");
    keys(&t, &["Enter"]);
    wait(&t, "Hand-off: Drain the job queues");
    keys(&t, &["Escape", "q", "y"]);
    assert_eq!(exit_of(&t), 0);
    restored(&t);
    let entries = r.journal();
    assert!(
        entries.iter().any(|e| e["event"] == "step-finished"
            && e["step"] == "stop-traffic"
            && e["summary"]
                .as_str()
                .is_some_and(|s| s.starts_with("done by Bo"))),
        "{entries:#?}"
    );
}

#[test]
fn sigterm_pauses_at_a_safe_point_and_kill_9_is_offered_a_resume() {
    let r = Rehearsal::start("signals", "customer");
    let t = r.wizard((100, 30), &[], &[]);
    wait(&t, "READY");
    keys(&t, &["Enter"]);
    wait(&t, "Manual step: Confirm the agreed prerequisites");
    let pid = t.pane_pid().expect("the wizard's pid");
    signal_pid(pid, rustix::process::Signal::TERM);
    assert_eq!(exit_of(&t), 3, "stopped by a signal: paused, exit 3");
    restored(&t);
    let entries = r.journal();
    let last = entries.last().expect("a journal");
    assert_eq!(last["event"], "session-ended", "{last}");

    // kill -9 while a step waits: nothing ends the session, the journal stays whole.
    let t = r.wizard((100, 30), &[], &[]);
    wait(&t, "Resume this migration?");
    keys(&t, &["Enter"]);
    wait(&t, "Manual step: Confirm the agreed prerequisites");
    let pid = t.pane_pid().expect("the wizard's pid");
    signal_pid(pid, rustix::process::Signal::KILL);
    assert_eq!(exit_of(&t), 128 + 9);
    let t = r.wizard((100, 30), &[], &[]);
    let prompt = wait(&t, "Resume this migration?");
    assert!(prompt.contains("stopped without ending"), "{prompt}");

    // SIGHUP (the SSH session dropped) pauses the same way as SIGTERM.
    keys(&t, &["Enter"]);
    wait(&t, "Manual step: Confirm the agreed prerequisites");
    let pid = t.pane_pid().expect("the wizard's pid");
    signal_pid(pid, rustix::process::Signal::HUP);
    assert_eq!(exit_of(&t), 3);
    restored(&t);
    let entries = r.journal();
    let ended = entries
        .iter()
        .filter(|e| e["event"] == "session-ended")
        .count();
    let sessions = entries
        .iter()
        .filter(|e| e["event"] == "session-started")
        .count();
    assert_eq!(
        (sessions, ended),
        (3, 2),
        "the killed session alone did not end"
    );
}

#[test]
fn a_read_only_watcher_follows_and_cannot_answer() {
    let r = Rehearsal::start("watch", "customer");
    let operator = r.wizard((120, 36), &[], &[]);
    wait(&operator, "READY");
    let watcher = r.wizard((120, 36), &["tui", "--read-only"], &[]);
    wait(&watcher, "READ-ONLY");
    // The operator's state, not a guess: the run has not started, the operator's screen says
    // READY, and so does the watcher's.
    let ready = wait(&watcher, "run by Ana (Customer) on ");
    assert!(ready.contains(" READY "), "{ready}");
    assert!(!ready.contains("RUNNING"), "{ready}");
    keys(&operator, &["Enter"]);
    wait(&operator, "Manual step: Confirm the agreed prerequisites");
    // The watcher sees the checks done and the step waiting, for whom, without a dialog.
    let seen = wait(&watcher, "waiting for Ana (Customer): manual");
    let seen = if seen.contains("WAITING FOR OPERATOR") {
        seen
    } else {
        wait(&watcher, "WAITING FOR OPERATOR")
    };
    assert!(
        seen.contains("Ana (Customer) at agree-prerequisites"),
        "{seen}"
    );
    for never in [
        "WAITING FOR YOU",
        "(you)",
        "your yes",
        "Enter done",
        "p pause",
    ] {
        assert!(
            !seen.contains(never),
            "{never:?} on the watcher's screen: {seen}"
        );
    }
    keys(&watcher, &["Enter"]);
    wait(&watcher, "read-only: this screen follows the migration");
    keys(&operator, &["Enter"]);
    wait(&watcher, " 8 ✓ done");
    keys(&watcher, &["q"]);
    assert_eq!(exit_of(&watcher), 0);
    restored(&watcher);
    keys(&operator, &["Escape", "q", "y"]);
    assert_eq!(exit_of(&operator), 0);
    restored(&operator);
}

#[test]
fn the_three_live_panels_are_on_screen_at_80x24_120x34_and_200x50() {
    let r = Rehearsal::start("panels", "customer");
    let t = r.wizard((80, 24), &[], &[]);
    wait(&t, "READY");
    for (w, h) in [(80, 24), (120, 34), (200, 50)] {
        t.resize(w, h).expect("tmux resizes the pane");
        // Each panel appears with its monitor's first reading; the queues' may come later than
        // the pods' on a loaded machine.
        wait(&t, "Pods · source / 3scale");
        let screen = wait(&t, "Queues ·");
        for title in ["Pods · source / 3scale", "Log ·", "Steps "] {
            assert!(screen.contains(title), "{w}x{h}: no {title}\n{screen}");
        }
    }
    // Tab reaches the pods panel, z gives it the screen with every workload of the source.
    t.resize(80, 24).expect("tmux resizes the pane");
    wait(&t, "Pods · source / 3scale");
    keys(&t, &["Tab", "Tab", "Tab", "z"]);
    let zoomed = wait(&t, "zync-database");
    assert!(zoomed.contains("system-memcache"), "{zoomed}");
    assert!(!zoomed.contains("Steps "), "{zoomed}");
    keys(&t, &["z", "q"]);
    assert_eq!(exit_of(&t), 0);
    restored(&t);
}

#[test]
fn a_queue_panel_whose_redis_stops_answering_says_since_when() {
    let r = Rehearsal::start("stale", "customer");
    let t = r.wizard((120, 34), &[], &[]);
    wait(&t, "READY");
    wait(&t, "Queues ·");
    assert!(!t.capture().unwrap_or_default().contains("NO ANSWER"));
    // The source's system Redis goes away; the backend queues Redis still answers.
    let url = r.sandbox.stores.source_system_redis.clone();
    let shut = r._runtime.block_on(async move {
        let client = redis::Client::open(url.as_str())?;
        let mut con = client.get_multiplexed_async_connection().await?;
        redis::cmd("SHUTDOWN")
            .arg("NOSAVE")
            .query_async::<()>(&mut con)
            .await
    });
    // SHUTDOWN closes the connection instead of answering.
    assert!(shut.is_err(), "the server answered SHUTDOWN: {shut:?}");
    let screen = wait(&t, "NO ANSWER since");
    assert!(screen.contains("Queues ·"), "{screen}");
    keys(&t, &["q"]);
    assert_eq!(exit_of(&t), 0);
}

/// The `HH:MM:SS` the countdown on `screen` runs until.
fn countdown_end(screen: &str) -> String {
    let at = screen
        .find(" left (until ")
        .unwrap_or_else(|| panic!("no countdown on the screen:\n{screen}"));
    screen[at + " left (until ".len()..]
        .chars()
        .take(8)
        .collect()
}

#[test]
fn the_drain_counts_down_keeps_its_clock_across_a_kill_and_quits_at_once() {
    let r = Rehearsal::start("countdown", "customer");
    let t = r.wizard((120, 36), &[], &[]);
    to_the_drain_gate(&t);
    keys(&t, &["Enter"]);
    // The sandbox's retry, schedule and dead sets never empty: the drain waits its agreed
    // two minutes, counting down, and names them.
    let screen = wait(&t, " of 2:00 agreed, ");
    let until = countdown_end(&screen);
    assert!(
        screen.contains(" left)"),
        "the header counts down too:\n{screen}"
    );
    wait(&t, "do not drain by themselves");

    // Killed: on resume the drain goes on with the same clock.
    let pid = t.pane_pid().expect("the wizard's pid");
    signal_pid(pid, rustix::process::Signal::KILL);
    assert_eq!(exit_of(&t), 128 + 9);
    let t = r.wizard((120, 36), &[], &[]);
    wait(&t, "Resume this migration?");
    keys(&t, &["Enter"]);
    // A confirmation counts for its session only: the gate asks again.
    wait(&t, "Go ahead with “Drain the job queues”?");
    keys(&t, &["Enter"]);
    let screen = wait(&t, " left (until ");
    assert_eq!(
        countdown_end(&screen),
        until,
        "the clock goes on:\n{screen}"
    );

    // q during the wait ends it at once, journaled, long before the agreed time is over.
    keys(&t, &["Escape", "q"]);
    wait(&t, "Quit?");
    let asked = std::time::Instant::now();
    keys(&t, &["y"]);
    assert_eq!(exit_of(&t), 0);
    eprintln!("the session ended {:?} after the quit", asked.elapsed());
    restored(&t);
    let entries = r.journal();
    let ended = entries
        .iter()
        .rfind(|e| e["event"] == "step-finished" && e["step"] == "drain-queues")
        .expect("the drain ended, journaled");
    assert_eq!(ended["outcome"], "stopped", "{ended}");
    let summary = ended["summary"].as_str().unwrap_or_default();
    assert!(
        summary.starts_with("paused during the drain with ")
            && summary.contains(" of the agreed time left"),
        "{summary}"
    );
    assert!(
        !entries
            .iter()
            .any(|e| e["event"] == "step-waiting" && e["question"].is_string()),
        "the drain's question never came"
    );
}

#[test]
fn a_procedure_is_written_to_a_file_and_sent_to_the_clipboard() {
    let r = Rehearsal::start("paste", "customer");
    let t = r.wizard((100, 30), &[], &[]);
    wait(&t, "READY");
    keys(&t, &["j", "P"]);
    let screen = wait(&t, "procedure written to ");
    let path = r
        .state
        .join(&r.name)
        .join("procedures")
        .join("02-check-cluster-access.sh");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}\n{screen}", path.display()));
    assert!(
        text.starts_with("# Step 2 · check-cluster-access"),
        "{text}"
    );
    // The config is filled in: the sandbox's kubeconfig, not a placeholder.
    assert!(
        text.contains("auth can-i") && !text.contains("{oc."),
        "{text}"
    );
    keys(&t, &["c"]);
    wait(&t, "sent to the terminal's clipboard (OSC 52)");
    keys(&t, &["q"]);
    assert_eq!(exit_of(&t), 0);
    restored(&t);
}

#[test]
fn the_pods_panel_names_the_destination_while_the_pause_runs() {
    let r = Rehearsal::start("seedpods", "red-hat");
    r.skip_to("pause-destination");
    let t = r.wizard((120, 34), &[], &[]);
    wait(&t, "Enter starts the run at pause-destination");
    // Before the pause, the panel watches the source, where nothing was scaled yet (it shows
    // once the pod monitor's first figures are in).
    wait(&t, "Pods · source / 3scale");
    keys(&t, &["Enter"]);
    wait(&t, "Type exactly: pause destination");
    t.send_text("pause destination").expect("type");
    keys(&t, &["Enter"]);
    // The pause scales the destination's workloads: the panel follows it there.
    let screen = wait(&t, "Pods · destination / redhat-rhoam-3scale");
    assert!(!screen.contains("Pods · source"), "{screen}");
    keys(&t, &["Escape", "q"]);
    if t.wait_for("Quit?", Duration::from_secs(2)).is_ok() {
        keys(&t, &["y"]);
    }
    let code = exit_of(&t);
    assert!(code == 0 || code == 1, "exit {code}");
    restored(&t);
}

#[test]
fn a_rehearsal_quit_part_way_is_offered_a_resume_by_cutover_rehearse() {
    let state = crate::rehearse::StateDir::new();
    let bin = cutover_bin();
    let dir = state.path().display().to_string();
    let command = [
        bin.to_str().expect("a UTF-8 path"),
        "rehearse",
        "--state-dir",
        &dir,
        "--party",
        "customer",
        // The screens below count a PostgreSQL source's steps.
        "--source-database",
        "postgresql",
    ];
    let t = TmuxSession::start("rehearse", 120, 36, &command, &[], state.path())
        .expect("tmux starts the rehearsal");
    to_the_drain_gate(&t);
    keys(&t, &["Escape", "q"]);
    let dialog = wait(&t, "waits for an answer. Quitting leaves it waiting");
    assert!(
        dialog.contains("Run `cutover rehearse --state-dir"),
        "the quit dialog says how to resume a rehearsal:\n{dialog}"
    );
    keys(&t, &["y"]);
    assert_eq!(exit_of(&t), 0);
    restored(&t);
    let after = t.capture().expect("capture");
    assert!(
        after.contains("sandbox stopped; its state stays"),
        "{after}"
    );
    let [(name, _)] = &crate::rehearse::rehearsals(state.path())[..] else {
        panic!("one rehearsal");
    };

    // The same command: the same rehearsal, its sandbox started again, the resume prompt.
    let t = TmuxSession::start("rehearse", 120, 36, &command, &[], state.path())
        .expect("tmux starts the rehearsal again");
    // Its last line, so the whole dialog is drawn when the screen is read.
    let prompt = wait(&t, "next: step 10. Drain the job queues");
    assert!(
        prompt.contains("Resume this migration?") && prompt.contains(name.as_str()),
        "{prompt}"
    );
    keys(&t, &["Enter"]);
    wait(&t, "Drain the job queues · step 10");
    let entries = crate::rehearse::journal(state.path(), name);
    assert_eq!(count(&entries, "step-started", "check-redis"), 1);
    assert_eq!(count(&entries, "step-started", "stop-traffic"), 1);
    keys(&t, &["C-c"]);
    wait(&t, "Quit?");
    keys(&t, &["y"]);
    assert_eq!(exit_of(&t), 0);
    restored(&t);
}
