//! Journal figures: how fast fsynced appends are (every action pays one before it
//! starts), and how long reading and folding a long journal takes (what `status`
//! and a resumed run do on start). Run: `cargo bench --bench journal`.

use std::time::{Duration, Instant};

use cutover::journal::{self, Header, Identity, Journal, JournalEvent, JournalState};
use cutover::runbook::{AccessPath, Outcome, RunbookId};
use serde_json::{Map, json};

const APPENDS: usize = 2_000;
const FOLD_ENTRIES: usize = 100_000;

fn header() -> Header {
    Header {
        migration: "bench".into(),
        runbook: RunbookId::ThreescaleRhoam,
        access_path: AccessPath::Limited,
    }
}

fn event(i: usize) -> JournalEvent {
    let step = format!("step-{}", i % 40);
    match i % 3 {
        0 => JournalEvent::StepStarted {
            step,
            attempt: 1,
            runs_as: "check".into(),
        },
        1 => JournalEvent::StepFact {
            step,
            key: format!("replicas-{i}"),
            value: json!(i),
        },
        _ => {
            let mut figures = Map::new();
            figures.insert("keys".into(), json!(i));
            JournalEvent::StepFinished {
                step,
                outcome: Outcome::Passed,
                summary: "ok".into(),
                figures,
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let identity = Identity::of_this_process("bench");

    // Appends, each fsynced before it returns.
    let (mut j, _) = Journal::open(&dir.path().join("appends"), &header(), identity.clone())?;
    let mut each = Vec::with_capacity(APPENDS);
    let start = Instant::now();
    for i in 0..APPENDS {
        let t = Instant::now();
        j.append(event(i))?;
        each.push(t.elapsed());
    }
    let total = start.elapsed();
    each.sort();
    println!(
        "append+fsync: {APPENDS} entries in {:.2?} = {:.0} entries/s; p50 {:.2?}, p99 {:.2?}",
        total,
        APPENDS as f64 / total.as_secs_f64(),
        percentile(&each, 0.5),
        percentile(&each, 0.99)
    );
    drop(j);

    // A long journal: one real fact line, copied with new sequence numbers, steps
    // and keys (no fsync per line: this is setup), then read and folded.
    let long = dir.path().join("long");
    let (mut j, _) = Journal::open(&long, &header(), identity)?;
    j.append(event(1))?;
    drop(j);
    let path = long.join(journal::JOURNAL_FILE);
    let mut text = std::fs::read_to_string(&path)?;
    let fact: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or("{}"))?;
    for i in 3..=FOLD_ENTRIES as u64 {
        let mut e = fact.clone();
        e["seq"] = json!(i);
        e["step"] = json!(format!("step-{}", i % 40));
        e["key"] = json!(format!("k{}", i % 500));
        e["value"] = json!(i);
        text.push_str(&serde_json::to_string(&e)?);
        text.push('\n');
    }
    std::fs::write(&path, &text)?;
    let bytes = text.len();
    let start = Instant::now();
    let read = journal::read(&path)?;
    let parsed = start.elapsed();
    let state = JournalState::fold(&read.entries);
    let folded = start.elapsed();
    println!(
        "read+fold: {} entries ({:.1} MiB) parsed in {:.2?}, folded in {:.2?} more ({} steps)",
        read.entries.len(),
        bytes as f64 / (1024.0 * 1024.0),
        parsed,
        folded - parsed,
        state.steps.len()
    );
    Ok(())
}
