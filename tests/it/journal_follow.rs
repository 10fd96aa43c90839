//! A read-only watcher follows a journal and step logs that a real `Journal` and a
//! real `StepSink` write in the same test: every entry arrives once, in order, as
//! the Event the wizard shows; nothing half-written is read early.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cutover::config::Config;
use cutover::error::{ExitCode, exit_code_of};
use cutover::event::Event;
use cutover::follow::{Follower, holder_text};
use cutover::journal::{Confirmation, Entry, Header, Identity, Journal, JournalEvent};
use cutover::plan::{PlannedStep, plan};
use cutover::runbook::{Need, Outcome, Party, StepId, StepKind};
use cutover::steps::{FactRecorder, StepSink};
use serde_json::{Map, json};

use crate::cli::{threescale_toml, wait_until};

struct Fixture {
    // Removed when the test ends.
    _dir: tempfile::TempDir,
    config: Config,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let toml = threescale_toml("watched", "customer", "limited", "")
            .replace("{dir}", &dir.path().display().to_string());
        let config =
            Config::parse(&toml, &dir.path().join("cutover.toml")).expect("the test config parses");
        Fixture { _dir: dir, config }
    }

    /// The journal opened for writing, as the engine of another process would.
    fn writer(&self) -> Journal {
        let header = Header {
            migration: self.config.name.clone(),
            runbook: self.config.runbook,
            access_path: self.config.access_path,
        };
        let identity = Identity {
            operator: "Ana".to_string(),
            host: "bastion-1".to_string(),
            pid: 4242,
        };
        Journal::open(&self.config.migration_dir(), &header, identity)
            .expect("the journal opens for writing")
            .0
    }

    fn follower(&self) -> Follower {
        Follower::open(&self.config).expect("the follower opens the journal")
    }

    fn plan(&self) -> Vec<PlannedStep> {
        plan(&self.config)
    }

    fn journal_path(&self) -> std::path::PathBuf {
        self.config.migration_dir().join("journal.jsonl")
    }

    /// A sink that writes `logs/<step>.log` as a running step does.
    fn sink(&self, step: StepId) -> StepSink {
        let (events, _) = tokio::sync::mpsc::unbounded_channel();
        let facts: FactRecorder = Arc::new(|_, _, _| Ok(()));
        StepSink::new(
            step,
            events,
            facts,
            Some(self.config.migration_dir().join("logs")),
        )
    }
}

/// One line per Event, enough to tell them apart in assertions.
fn describe(e: &Event) -> String {
    match e {
        Event::Notice { level, text } => format!("notice {level:?}: {text}"),
        Event::RunStarted {
            resumed,
            done,
            total,
        } => format!("run-started resumed={resumed} {done}/{total}"),
        Event::RunEnded(end) => format!("run-ended {end:?}"),
        Event::RunBy { operator } => format!(
            "run-by {}",
            operator
                .as_ref()
                .map_or("nobody".to_string(), |o| o.label())
        ),
        Event::Waiting(r) => format!("waiting {} {}", r.step, r.need.as_str()),
        Event::StepStarted {
            step,
            attempt,
            runs_as,
        } => format!("started {step} #{attempt} {runs_as}"),
        Event::StepLog { step, level, line } => format!("log {step} {level:?}: {line}"),
        Event::StepFinished {
            step,
            outcome,
            summary,
            ..
        } => format!("finished {step} {outcome:?}: {summary}"),
        Event::StepSkipped { step, reason } => format!("skipped {step}: {reason}"),
        Event::StepRechecked {
            step,
            holds,
            detail,
        } => format!("rechecked {step} holds={holds}: {detail}"),
        other => format!("{other:?}"),
    }
}

fn described(events: &[Event]) -> Vec<String> {
    events.iter().map(describe).collect()
}

fn session_started() -> JournalEvent {
    JournalEvent::SessionStarted {
        party: Party::Customer,
        mode: "tui".to_string(),
        resumed: false,
    }
}

fn append_raw(path: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new()
        .append(true)
        .open(path)
        .expect("the journal opens for appending");
    f.write_all(bytes).expect("append to the journal");
    f.sync_data().expect("sync the journal");
}

#[test]
fn each_appended_entry_arrives_as_its_event_in_order() {
    let fx = Fixture::new();
    let mut journal = fx.writer();
    journal.append(session_started()).expect("append");
    let mut follower = fx.follower();

    assert_eq!(follower.state().sessions, 1);
    assert_eq!(
        holder_text(follower.holder()),
        "run by Ana on bastion-1, pid 4242"
    );
    let start = described(&follower.initial_events());
    assert!(
        start[0].contains("watching migration watched read-only: run by Ana on bastion-1"),
        "{start:?}"
    );
    assert!(
        start.iter().any(|s| s.starts_with("run-started")),
        "{start:?}"
    );
    assert!(follower.poll_once().is_empty(), "nothing new yet");

    let plan = fx.plan();
    let auto = plan
        .iter()
        .find(|p| p.runs_as == StepKind::Check && p.need.is_none())
        .expect("a check that runs without asking");
    let hand_off = plan
        .iter()
        .find(|p| p.hand_off)
        .expect("a step owned by the other party");
    let other = plan
        .iter()
        .find(|p| p.step.id != auto.step.id && p.step.id != hand_off.step.id)
        .expect("a third step");
    let (a, h, o) = (auto.step.id.0, hand_off.step.id.0, other.step.id.0);

    let appended = [
        JournalEvent::StepStarted {
            step: a.to_string(),
            attempt: 1,
            runs_as: "check".to_string(),
        },
        JournalEvent::StepFact {
            step: a.to_string(),
            key: "replicas".to_string(),
            value: json!({"system-app": 2}),
        },
        JournalEvent::StepFinished {
            step: a.to_string(),
            outcome: Outcome::Passed,
            summary: "all three answer".to_string(),
            figures: Map::new(),
        },
        JournalEvent::StepWaiting {
            step: h.to_string(),
            need: Need::HandOff,
            question: None,
            phrase: None,
            alternatives: Vec::new(),
        },
        JournalEvent::StepConfirmed {
            step: h.to_string(),
            confirmation: Confirmation {
                need: Need::HandOff,
                text: Some("Bo from Red Hat".to_string()),
                party: Party::Customer,
            },
        },
        JournalEvent::StepSkipped {
            step: o.to_string(),
            reason: "not needed here".to_string(),
        },
        JournalEvent::StepRechecked {
            step: a.to_string(),
            holds: true,
            detail: "still reachable".to_string(),
        },
        JournalEvent::SessionEnded {
            reason: "paused".to_string(),
        },
    ];
    for event in appended {
        journal.append(event).expect("append");
    }
    let events = follower.poll_once();
    let got = described(&events);
    let want = [
        format!("started {a} #1 check"),
        format!("log {a} Info: recorded replicas: system-app 2"),
        format!("finished {a} Passed: all three answer"),
        format!("waiting {h} hand-off"),
        format!("log {h} Info: done by Bo from Red Hat, recorded by Ana (Customer) on bastion-1"),
        format!("skipped {o}: not needed here"),
        format!("rechecked {a} holds=true: still reachable"),
        "notice Info: the session of Ana on bastion-1, pid 4242 ended: paused".to_string(),
    ];
    assert_eq!(&got[..want.len()], &want[..], "{got:#?}");
    assert!(got[want.len()].starts_with("run-ended Paused"), "{got:#?}");

    // The request is the one the operator's screen shows.
    let request = events
        .iter()
        .find_map(|e| match e {
            Event::Waiting(r) => Some(r),
            _ => None,
        })
        .expect("a waiting request");
    assert_eq!(request.title, hand_off.step.title);
    assert_eq!(request.owner, hand_off.owner);
    assert!(!request.procedure.contains("{migration}"));
    assert_eq!(follower.state().entries, journal.entries().len() as u64);
    assert!(follower.poll_once().is_empty(), "nothing is sent twice");

    // A confirmation (not a hand-off) names who confirmed and where.
    journal
        .append(JournalEvent::StepConfirmed {
            step: o.to_string(),
            confirmation: Confirmation {
                need: Need::Confirm,
                text: None,
                party: Party::Customer,
            },
        })
        .expect("append");
    assert_eq!(
        described(&follower.poll_once()),
        [format!(
            "log {o} Info: confirmed by Ana (Customer) on bastion-1"
        )]
    );
}

#[test]
fn a_session_start_and_a_lock_takeover_say_who_where_and_how() {
    let fx = Fixture::new();
    drop(fx.writer());
    let mut follower = fx.follower();
    assert_eq!(holder_text(follower.holder()), "nobody runs it now");

    let mut journal = fx.writer();
    journal.append(session_started()).expect("append");
    journal
        .append(JournalEvent::LockTakenOver {
            previous_pid: 77,
            previous_host: "bastion-2".to_string(),
            previous_operator: "Bo".to_string(),
            previous_started: chrono::Utc::now(),
        })
        .expect("append");
    let got = described(&follower.poll_once());
    assert_eq!(
        got[0],
        "notice Info: Ana (Customer) started the migration on bastion-1, pid 4242, in tui mode"
    );
    assert_eq!(got[1], "run-by Ana (Customer)");
    assert!(
        got[2].starts_with("run-started resumed=false 0/"),
        "{got:?}"
    );
    assert_eq!(
        got[3],
        "notice Warn: Ana on bastion-1, pid 4242 took over the lock of Bo (pid 77 on \
         bastion-2), which no longer ran"
    );
    assert_eq!(
        holder_text(follower.holder()),
        "run by Ana on bastion-1, pid 4242"
    );

    // The writer goes away without a word in the journal: the header says so.
    drop(journal);
    let mut notices = Vec::new();
    wait_until("the follower to see the lock free", || {
        notices.extend(described(&follower.poll_once()));
        follower.holder().is_none()
    });
    assert!(
        notices
            .iter()
            .any(|n| n.contains("nobody runs this migration now")),
        "{notices:?}"
    );
}

#[test]
fn a_half_written_last_line_is_read_only_once_its_newline_is_there() {
    let fx = Fixture::new();
    let journal = fx.writer();
    let next = journal.entries().len() as u64 + 1;
    let step = fx.plan()[0].step.id.0;
    let entry = Entry {
        seq: next,
        time: chrono::Utc::now(),
        operator: "Ana".to_string(),
        host: "bastion-1".to_string(),
        pid: 4242,
        event: JournalEvent::StepSkipped {
            step: step.to_string(),
            reason: "done by hand last week".to_string(),
        },
    };
    let line = serde_json::to_vec(&entry).expect("encode");
    let (head, tail) = line.split_at(line.len() / 2);
    append_raw(&fx.journal_path(), head);

    // Opened with the half line there: it is not torn, it is not written yet.
    let mut follower = fx.follower();
    assert!(
        !described(&follower.initial_events())
            .iter()
            .any(|e| e.contains("torn") || e.contains("corrupt")),
    );
    assert!(follower.poll_once().is_empty());
    append_raw(&fx.journal_path(), tail);
    assert!(follower.poll_once().is_empty(), "no newline yet");
    append_raw(&fx.journal_path(), b"\n");
    assert_eq!(
        described(&follower.poll_once()),
        [format!("skipped {step}: done by hand last week")]
    );
    assert_eq!(follower.entries().len() as u64, next);
}

#[test]
fn a_torn_line_recorded_by_the_next_writer_is_a_notice_not_corruption() {
    let fx = Fixture::new();
    let journal = fx.writer();
    let torn_line = journal.entries().len() as u64 + 1;
    drop(journal);
    append_raw(&fx.journal_path(), br#"{"seq":99,"time":"2026-11-"#);
    let mut follower = fx.follower();
    assert!(follower.poll_once().is_empty());

    // The next writer terminates the torn line and records it.
    let mut journal = fx.writer();
    journal.append(session_started()).expect("append");
    let got = described(&follower.poll_once());
    assert!(
        got[0].starts_with(&format!(
            "notice Warn: line {torn_line} of the journal was cut short"
        )) && got[0].contains("Ana on bastion-1, pid 4242 recorded it as torn"),
        "{got:?}"
    );
    assert!(got[1].contains("started the migration"), "{got:?}");
    assert!(!got.iter().any(|g| g.contains("corrupt")), "{got:?}");
    assert_eq!(follower.state().torn_lines, vec![torn_line]);
}

#[test]
fn step_log_lines_arrive_as_step_log_between_start_and_end() {
    let fx = Fixture::new();
    let mut journal = fx.writer();
    let step = fx.plan()[0].step.id;
    // Written before the follower starts, by a finished step: not shown again.
    fx.sink(step).info("an old line");
    let mut follower = fx.follower();
    assert!(
        !described(&follower.initial_events())
            .iter()
            .any(|e| e.contains("an old line"))
    );

    journal
        .append(JournalEvent::StepStarted {
            step: step.0.to_string(),
            attempt: 1,
            runs_as: "check".to_string(),
        })
        .expect("append");
    let sink = fx.sink(step);
    sink.info("connecting to redis://:s3cret@127.0.0.1:6379/0");
    sink.warn("slow answer");
    journal
        .append(JournalEvent::StepFinished {
            step: step.0.to_string(),
            outcome: Outcome::Passed,
            summary: "ok".to_string(),
            figures: Map::new(),
        })
        .expect("append");
    let got = described(&follower.poll_once());
    assert_eq!(
        got,
        [
            format!("started {step} #1 check"),
            format!("log {step} Info: connecting to redis://:***@127.0.0.1:6379/0"),
            format!("log {step} Warn: slow answer"),
            format!("finished {step} Passed: ok"),
        ]
    );

    // A line being written is read whole once it ends.
    let log = fx
        .config
        .migration_dir()
        .join("logs")
        .join(format!("{step}.log"));
    append_raw(&log, b"2026-11-23T09:00:00.000Z Error half");
    assert!(follower.poll_once().is_empty());
    append_raw(&log, b" a line\n");
    assert_eq!(
        described(&follower.poll_once()),
        [format!("log {step} Error: half a line")]
    );
}

/// A session started and the plan's first step started in it (running as `runs_as`), by a
/// writer that keeps the lock while it lives.
fn first_step_started(fx: &Fixture, runs_as: &str) -> (Journal, StepId) {
    let mut journal = fx.writer();
    journal.append(session_started()).expect("append");
    let step = fx.plan()[0].step.id;
    journal
        .append(JournalEvent::StepStarted {
            step: step.0.to_string(),
            attempt: 1,
            runs_as: runs_as.to_string(),
        })
        .expect("append");
    (journal, step)
}

#[test]
fn a_watcher_that_starts_mid_step_gets_its_last_log_lines() {
    let fx = Fixture::new();
    let (_journal, step) = first_step_started(&fx, "check");
    let sink = fx.sink(step);
    for i in 0..8 {
        sink.info(format!("line {i}"));
    }
    let follower = fx.follower();
    let logs: Vec<String> = described(&follower.initial_events())
        .into_iter()
        .filter(|e| e.starts_with("log "))
        .collect();
    let want: Vec<String> = (3..8)
        .map(|i| format!("log {step} Info: line {i}"))
        .collect();
    assert_eq!(logs, want);
}

#[test]
fn a_watcher_draws_the_gauge_of_the_running_step_from_its_log() {
    let fx = Fixture::new();
    let (_journal, step) = first_step_started(&fx, "automated");
    let sink = fx.sink(step);
    sink.info("copying");
    sink.progress(10, Some(100), "keys");
    // Spaced out: a progress line right after another is not written.
    sink.progress(20, Some(100), "keys");
    for i in 0..8 {
        sink.info(format!("line {i}"));
    }
    // A watcher that starts now: the last lines of text, and the gauge as it was last written.
    let mut follower = fx.follower();
    let start = described(&follower.initial_events());
    let gauges: Vec<&String> = start
        .iter()
        .filter(|e| e.contains("StepProgress"))
        .collect();
    assert_eq!(gauges.len(), 1, "{start:?}");
    // 10, or 20 on a machine so slow that the two calls were half a second apart.
    assert!(
        gauges[0].contains("total: Some(100), unit: \"keys\""),
        "{start:?}"
    );
    assert_eq!(
        start.iter().filter(|e| e.starts_with("log ")).count(),
        5,
        "the progress lines take no place among the lines of text: {start:?}"
    );
    // Then as the step goes: the end of a transfer is always written.
    sink.progress(100, Some(100), "keys");
    let got = described(&follower.poll_once());
    assert!(
        got.iter()
            .any(|e| e.contains("StepProgress") && e.contains("done: 100, total: Some(100)")),
        "{got:?}"
    );
    assert!(!got.iter().any(|e| e.starts_with("log ")), "{got:?}");
}

#[test]
fn five_hundred_appends_while_following_arrive_once_each_in_order() {
    let fx = Fixture::new();
    let mut journal = fx.writer();
    let mut follower = fx.follower();
    let step = fx.plan()[0].step.id.0;
    let writer = std::thread::spawn(move || {
        for i in 0..500 {
            journal
                .append(JournalEvent::StepFact {
                    step: step.to_string(),
                    key: "n".to_string(),
                    value: json!(i),
                })
                .expect("append");
        }
        journal
    });
    let mut seen: Vec<u64> = Vec::new();
    wait_until("500 facts to arrive", || {
        for e in follower.poll_once() {
            match e {
                Event::StepLog { line, .. } => seen.push(
                    line.strip_prefix("recorded n: ")
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| panic!("a fact line: {line}")),
                ),
                other => panic!("only facts were appended: {other:?}"),
            }
        }
        seen.len() >= 500
    });
    let journal = writer.join().expect("the writer thread ends");
    assert!(follower.poll_once().is_empty());
    assert_eq!(seen, (0..500).collect::<Vec<u64>>());
    assert_eq!(follower.entries().len(), journal.entries().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_sends_what_is_appended_until_the_receiver_goes() {
    let fx = Fixture::new();
    let mut journal = fx.writer();
    journal.append(session_started()).expect("append");
    let follower = fx.follower();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(follower.run(tx, Duration::from_millis(5)));
    let step = fx.plan()[0].step.id.0;
    for i in 0..100 {
        journal
            .append(JournalEvent::StepFact {
                step: step.to_string(),
                key: "n".to_string(),
                value: json!(i),
            })
            .expect("append");
    }
    let mut lines = Vec::new();
    let deadline = Duration::from_secs(60);
    while lines.len() < 100 {
        let event = tokio::time::timeout(deadline, rx.recv())
            .await
            .expect("events keep coming")
            .expect("the follower runs");
        if let Event::StepLog { line, .. } = event {
            lines.push(line);
        }
    }
    let want: Vec<String> = (0..100).map(|i| format!("recorded n: {i}")).collect();
    assert_eq!(lines, want);
    drop(rx);
    tokio::time::timeout(deadline, task)
        .await
        .expect("run ends when nobody listens")
        .expect("run does not panic");
}

#[test]
fn a_replaced_or_truncated_journal_is_reported_and_read_again() {
    let fx = Fixture::new();
    let mut journal = fx.writer();
    journal.append(session_started()).expect("append");
    let mut follower = fx.follower();
    drop(journal);
    let _ = follower.poll_once();

    // Replaced by a copy (another inode): a notice, nothing shown twice.
    let path = fx.journal_path();
    let copy = path.with_extension("copy");
    std::fs::copy(&path, &copy).expect("copy the journal");
    std::fs::rename(&copy, &path).expect("replace the journal");
    let got = described(&follower.poll_once());
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("was replaced") && got[0].contains("from the start"));

    // The new file goes on: only what is new is shown.
    let mut journal = fx.writer();
    journal.append(session_started()).expect("append");
    let got = described(&follower.poll_once());
    assert!(got[0].contains("started the migration"), "{got:?}");
    drop(journal);

    // Truncated to nothing, then a new journal: reported, read again, no panic.
    OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_len(0))
        .expect("truncate the journal");
    let got = described(&follower.poll_once());
    assert!(got[0].contains("shorter than before"), "{got:?}");
    let mut journal = fx.writer();
    journal.append(session_started()).expect("append");
    let got = described(&follower.poll_once());
    assert!(
        got.iter()
            .any(|g| g.contains("differs from what this screen showed")),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|g| g.contains("migration watched opened by Ana")),
        "{got:?}"
    );
    assert_eq!(follower.state().sessions, 1);

    // Gone, then back.
    std::fs::remove_file(&path).expect("remove the journal");
    let got = described(&follower.poll_once());
    assert!(got[0].contains("is gone"), "{got:?}");
    assert!(follower.poll_once().is_empty(), "said once");
}

#[test]
fn a_journal_that_does_not_exist_is_bad_input() {
    let fx = Fixture::new();
    let err = match Follower::open(&fx.config) {
        Ok(_) => panic!("there is no journal to follow"),
        Err(e) => e,
    };
    assert_eq!(exit_code_of(&err), ExitCode::BadInput);
    let text = format!("{err:#}");
    assert!(text.contains("no migration to watch yet"), "{text}");
    assert!(
        text.contains(&fx.config.migration_dir().display().to_string()),
        "{text}"
    );
    assert!(text.contains("`cutover`"), "{text}");
}

#[test]
fn a_journal_of_another_migration_is_bad_input() {
    let fx = Fixture::new();
    drop(fx.writer());
    let mut other = fx.config.clone();
    other.access_path = cutover::runbook::AccessPath::NoAccess;
    let err = match Follower::open(&other) {
        Ok(_) => panic!("the journal was started on another path"),
        Err(e) => e,
    };
    assert_eq!(exit_code_of(&err), ExitCode::BadInput);
}

#[test]
fn a_line_that_is_not_an_entry_stops_the_following_with_a_notice() {
    let fx = Fixture::new();
    let journal = fx.writer();
    let next = journal.entries().len() as u64 + 1;
    drop(journal);
    let mut follower = fx.follower();
    append_raw(&fx.journal_path(), b"garbage\n");
    assert!(
        follower.poll_once().is_empty(),
        "maybe a torn line, until the next entry"
    );
    let entry = Entry {
        seq: next,
        time: chrono::Utc::now(),
        operator: "Ana".to_string(),
        host: "bastion-1".to_string(),
        pid: 4242,
        event: session_started(),
    };
    let mut line = serde_json::to_vec(&entry).expect("encode");
    line.push(b'\n');
    append_raw(&fx.journal_path(), &line);
    let got = described(&follower.poll_once());
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("notice Error") && got[0].contains(&format!("corrupt at line {next}")),
        "{got:?}"
    );
    append_raw(&fx.journal_path(), &line);
    assert!(follower.poll_once().is_empty(), "said once");
}

#[test]
fn a_watcher_that_starts_between_a_torn_line_and_its_record_waits_for_the_record() {
    let fx = Fixture::new();
    let journal = fx.writer();
    let next = journal.entries().len() as u64 + 1;
    drop(journal);
    // A writer terminated a torn line and has not recorded it yet.
    append_raw(&fx.journal_path(), b"{\"seq\":7,\"ti\n");
    let mut follower = fx.follower();
    let entry = Entry {
        seq: next,
        time: chrono::Utc::now(),
        operator: "Ana".to_string(),
        host: "bastion-1".to_string(),
        pid: 4242,
        event: JournalEvent::TornLineFound {
            line: next,
            bytes: 12,
        },
    };
    let mut line = serde_json::to_vec(&entry).expect("encode");
    line.push(b'\n');
    append_raw(&fx.journal_path(), &line);
    let got = described(&follower.poll_once());
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with(&format!(
            "notice Warn: line {next} of the journal was cut short"
        )),
        "{got:?}"
    );
}

#[test]
fn a_watcher_that_starts_while_a_step_waits_shows_what_it_waits_for() {
    let fx = Fixture::new();
    let mut journal = fx.writer();
    journal.append(session_started()).expect("append");
    let plan = fx.plan();
    let hand_off = plan.iter().find(|p| p.hand_off).expect("a hand-off");
    journal
        .append(JournalEvent::StepWaiting {
            step: hand_off.step.id.0.to_string(),
            need: Need::HandOff,
            question: None,
            phrase: None,
            alternatives: Vec::new(),
        })
        .expect("append");
    let got = described(&fx.follower().initial_events());
    assert_eq!(got[1], "run-by Ana (Customer)");
    assert!(got[2].starts_with("run-started resumed=false"), "{got:?}");
    assert_eq!(got[3], format!("waiting {} hand-off", hand_off.step.id));

    // Once the session has ended, nothing is shown as waiting.
    journal
        .append(JournalEvent::SessionEnded {
            reason: "paused".to_string(),
        })
        .expect("append");
    let got = described(&fx.follower().initial_events());
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1], "run-by nobody");
}
