//! The engine as the full-screen wizard drives it (`hold`): it waits for the
//! operator before the first step, holds at a pause and after a failure, and a
//! `Run` goes on or retries. In process, against real servers and simulated
//! clusters; the journal is read back to see what was recorded.

use std::sync::Arc;
use std::time::Duration;

use cutover::config::Config;
use cutover::engine::{Engine, EngineOptions};
use cutover::event::{Command, Event, Hold, RunEnd};
use cutover::runbook::StepId;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::cli::{Migration, events, threescale_toml, write_kubeconfigs};
use crate::support::{PgDatabase, RedisServer, RefusingPort};

/// Long enough for any step of these tests on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(60);

pub(crate) struct Driver {
    events: UnboundedReceiver<Event>,
    commands: UnboundedSender<Command>,
    run: tokio::task::JoinHandle<anyhow::Result<RunEnd>>,
    seen: Vec<Event>,
}

impl Driver {
    pub(crate) fn start(m: &Migration) -> Driver {
        let mut config = Config::load(&m.config).expect("the test config loads");
        config.set_state_dir(m.state_dir());
        let (event_tx, events) = unbounded_channel();
        let (commands, command_rx) = unbounded_channel();
        let engine = Engine::open(
            Arc::new(config),
            event_tx,
            command_rx,
            EngineOptions {
                mode: "tui",
                until: None,
                hold: true,
                stand_in: None,
            },
        )
        .expect("the engine opens");
        Driver {
            events,
            commands,
            run: tokio::spawn(engine.run()),
            seen: Vec::new(),
        }
    }

    pub(crate) fn send(&self, c: Command) {
        self.commands.send(c).expect("the engine takes commands");
    }

    /// The next event that `pick` accepts; every event on the way is kept.
    pub(crate) async fn until<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&Event) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let ev = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("no {what} in time; saw {:#?}", self.seen))
                .unwrap_or_else(|| panic!("events ended before {what}; saw {:#?}", self.seen));
            let found = pick(&ev);
            self.seen.push(ev);
            if let Some(t) = found {
                return t;
            }
        }
    }

    pub(crate) async fn hold(&mut self) -> Hold {
        self.until("hold", |e| match e {
            Event::Holding(h) => Some(h.clone()),
            _ => None,
        })
        .await
    }

    pub(crate) async fn end(self) -> (RunEnd, Vec<Event>) {
        let end = tokio::time::timeout(PATIENCE, self.run)
            .await
            .expect("the run ends in time")
            .expect("the engine task does not panic")
            .expect("the run ends without an error");
        (end, self.seen)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn started(events: &[Event], id: &str) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::StepStarted { step, .. } if step.0 == id))
        .count()
}

#[test]
fn nothing_runs_before_the_operator_starts_and_a_failed_step_is_retried_on_run() {
    let refusing = RefusingPort::new();
    let extra = format!(
        "backend_redis_storage_url = \"redis://127.0.0.1:{}/0\"",
        refusing.port()
    );
    let mut m = Migration::new("h", &threescale_toml("h", "customer", "limited", &extra));
    write_kubeconfigs(&mut m);
    runtime().block_on(async {
        let mut d = Driver::start(&m);
        let first = d.hold().await;
        assert_eq!(
            first,
            Hold::Start {
                resumed: false,
                next: Some(cutover::runbook::StepId("check-kubeconfigs"))
            }
        );
        // Holding: the journal shows the session and nothing started.
        let (entries, _) = m.journal();
        assert!(entries.iter().all(|e| e["event"] != "step-started"));

        d.send(Command::Run);
        let failed = d.hold().await;
        assert!(
            matches!(&failed, Hold::Failed { step } if step.0 == "check-redis"),
            "{failed:?}"
        );
        // A confirm while nothing waits is refused, not taken.
        d.send(Command::Confirm {
            step: StepId("check-redis"),
            text: None,
        });
        d.send(Command::Run);
        let again = d.hold().await;
        assert!(matches!(&again, Hold::Failed { step } if step.0 == "check-redis"));
        d.send(Command::Quit);
        let (end, seen) = d.end().await;
        assert!(matches!(&end, RunEnd::Failed { step } if step.0 == "check-redis"));
        assert_eq!(started(&seen, "check-redis"), 2, "retried once on Run");
        assert!(
            seen.iter()
                .any(|e| matches!(e, Event::ConfirmRefused { .. })),
            "{seen:#?}"
        );
        assert_eq!(
            started(&seen, "check-postgresql"),
            0,
            "nothing after the failed step"
        );
    });
    let (entries, _) = m.journal();
    let attempts: Vec<_> = events(&entries, "step-started", "check-redis")
        .iter()
        .map(|e| e["attempt"].as_u64())
        .collect();
    assert_eq!(attempts, [Some(1), Some(2)]);
    assert!(
        entries
            .iter()
            .any(|e| e["event"] == "session-ended" && e["reason"] == "step check-redis failed")
    );
}

#[test]
fn a_pause_at_a_gate_holds_and_run_asks_again() {
    let storage = RedisServer::start();
    let queues = RedisServer::start();
    let db = PgDatabase::create();
    let url_file = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(url_file.path(), db.url()).expect("write the database URL");
    let extra = format!(
        "system_database_url = \"file:{}\"\nbackend_redis_storage_url = \"{}\"\n\
         backend_redis_queues_url = \"{}\"",
        url_file.path().display(),
        storage.url(),
        queues.url_db(1)
    );
    let mut m = Migration::new("p", &threescale_toml("p", "red-hat", "limited", &extra));
    write_kubeconfigs(&mut m);
    runtime().block_on(async {
        let mut d = Driver::start(&m);
        d.hold().await;
        d.send(Command::Run);
        let waiting = d
            .until("a waiting step", |e| match e {
                Event::Waiting(r) => Some(r.step),
                _ => None,
            })
            .await;
        assert_eq!(waiting.0, "agree-prerequisites");
        d.send(Command::Pause);
        let paused = d.hold().await;
        assert_eq!(
            paused,
            Hold::Paused {
                next: Some(waiting)
            }
        );
        // Run asks the same step again; nothing was confirmed meanwhile.
        d.send(Command::Run);
        let again = d
            .until("the same step waiting again", |e| match e {
                Event::Waiting(r) => Some(r.step),
                _ => None,
            })
            .await;
        assert_eq!(again, waiting);
        d.send(Command::Confirm {
            step: waiting,
            text: None,
        });
        d.until("the confirmed step done", |e| match e {
            Event::StepFinished { step, .. } if *step == waiting => Some(()),
            _ => None,
        })
        .await;
        d.send(Command::Quit);
        let (end, seen) = d.end().await;
        assert!(matches!(end, RunEnd::Paused { .. }), "{end:?}");
        assert_eq!(started(&seen, "agree-prerequisites"), 1);
    });
    let (entries, _) = m.journal();
    assert_eq!(
        events(&entries, "step-waiting", "agree-prerequisites").len(),
        2
    );
    assert_eq!(
        events(&entries, "step-confirmed", "agree-prerequisites").len(),
        1
    );
}

#[test]
fn a_question_left_for_a_pause_asks_again_and_takes_only_its_exact_answer() {
    let queues = RedisServer::start();
    queues.command(&["RPUSH", "resque:queue:main", "a", "b", "c"]);
    let zync = PgDatabase::create();
    zync.execute(
        "CREATE TABLE que_jobs (id bigint, finished_at timestamptz, expired_at timestamptz)",
    );
    let zync_url = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(zync_url.path(), zync.url()).expect("write the zync URL");
    // Every store the drain watches named in the config: none is left to the
    // simulated source's secrets, whose servers do not exist.
    let extra = format!(
        "backend_redis_queues_url = \"{}\"\nsystem_redis_url = \"{}\"\n\
         zync_database_url = \"file:{}\"",
        queues.url_db(0),
        queues.url_db(1),
        zync_url.path().display()
    );
    let toml = threescale_toml("q", "customer", "limited", &extra)
        + "\n[drain]\nthreshold = 0\ntimeout = \"1s\"\n";
    let mut m = Migration::new("q", &toml);
    write_kubeconfigs(&mut m);
    runtime().block_on(async {
        let mut d = Driver::start(&m);
        d.hold().await;
        d.send(Command::Run);
        // Skip what comes before the drain; confirm its gate; wait for its question.
        let question = loop {
            let req = d
                .until("a waiting step", |e| match e {
                    Event::Waiting(r) => Some(r.clone()),
                    Event::Holding(h) => panic!("held for {h:?}"),
                    _ => None,
                })
                .await;
            match (req.step.0, &req.question) {
                ("drain-queues", Some(_)) => break req,
                ("drain-queues", None) => d.send(Command::Confirm {
                    step: StepId("drain-queues"),
                    text: None,
                }),
                (step, _) => d.send(Command::Skip {
                    step: StepId(step),
                    reason: "not part of this test".into(),
                }),
            }
        };
        assert_eq!(question.phrase.as_deref(), Some("3"));
        assert!(
            question
                .question
                .as_deref()
                .is_some_and(|q| q.contains("resque:queue:main")),
            "{question:?}"
        );
        // Paused at the question: the step stops, the run holds before it.
        d.send(Command::Pause);
        let held = d.hold().await;
        assert_eq!(
            held,
            Hold::Paused {
                next: Some(question.step)
            }
        );
        d.send(Command::Run);
        d.until("the drain's gate again", |e| match e {
            Event::Waiting(r) if r.question.is_none() => Some(()),
            _ => None,
        })
        .await;
        d.send(Command::Confirm {
            step: StepId("drain-queues"),
            text: None,
        });
        d.until("the question again", |e| match e {
            Event::Waiting(r) if r.question.is_some() => Some(()),
            _ => None,
        })
        .await;
        d.send(Command::Confirm {
            step: StepId("drain-queues"),
            text: Some("2".into()),
        });
        d.until("the wrong number refused", |e| match e {
            Event::ConfirmRefused { .. } => Some(()),
            _ => None,
        })
        .await;
        d.send(Command::Confirm {
            step: StepId("drain-queues"),
            text: Some("3".into()),
        });
        d.until("the drain passed", |e| match e {
            Event::StepFinished { step, outcome, .. } if step.0 == "drain-queues" => {
                assert_eq!(*outcome, cutover::runbook::Outcome::Passed);
                Some(())
            }
            _ => None,
        })
        .await;
        d.send(Command::Pause);
        d.hold().await;
        d.send(Command::Quit);
        d.end().await;
    });
    let (entries, _) = m.journal();
    let drain: Vec<_> = entries
        .iter()
        .filter(|e| e["step"] == "drain-queues")
        .map(|e| e["event"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        drain.iter().any(|e| e == "step-finished"),
        "the stopped attempt and the passed one end in the journal: {drain:?}"
    );
    let answers: Vec<_> = entries
        .iter()
        .filter(|e| e["event"] == "step-confirmed" && e["step"] == "drain-queues")
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert_eq!(answers, ["3"], "only the exact answer is journaled");
    let outcomes: Vec<_> = entries
        .iter()
        .filter(|e| e["event"] == "step-finished" && e["step"] == "drain-queues")
        .filter_map(|e| e["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, ["stopped", "passed"]);
}
