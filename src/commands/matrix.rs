//! `cutover matrix`: the owner of every step on every path of a runbook.

use crate::out;
use anyhow::Result;
use serde_json::{Map, Value, json};

use super::{Format, print_json};
use crate::format::{markdown_table, text_table};
use crate::runbook::{Runbook, Step, StepKind};
use crate::steps;

pub fn run(book: &Runbook, format: Format) -> Result<()> {
    match format {
        Format::Json => print_json(&to_json(book)),
        Format::Text => {
            out!("{}", render(book, false));
            Ok(())
        }
        Format::Markdown => {
            out!("{}", render(book, true));
            Ok(())
        }
    }
}

pub fn to_json(book: &Runbook) -> Value {
    let steps: Vec<Value> = book.steps.iter().map(|s| step_json(book, s)).collect();
    json!({
        "runbook": book.id,
        "title": book.title,
        "seed_document": book.seed_document,
        "paths": book.paths,
        "steps": steps,
    })
}

fn step_json(book: &Runbook, s: &Step) -> Value {
    let mut owners = Map::new();
    for path in book.paths {
        owners.insert(path.to_string(), json!(s.owner(*path)));
    }
    json!({
        "id": s.id,
        "title": s.title,
        "phase": s.phase,
        "kind": s.kind,
        "destructive": s.destructive,
        "gate": s.gate.as_str(),
        "automation": automation(s),
        "seed": s.seed,
        "owners": owners,
    })
}

/// Whether cutover runs a step's action today: `available`, `manual-for-now`
/// (an automated or check step whose implementation arrives later) or `manual`.
pub fn automation(s: &Step) -> &'static str {
    match (
        s.kind,
        s.action.and_then(|a| steps::implementation(a).automated()),
    ) {
        (StepKind::Manual, _) => "manual",
        (_, Some(_)) => "available",
        (_, None) => "manual-for-now",
    }
}

fn render(book: &Runbook, markdown: bool) -> String {
    let mut headers = vec!["#", "step", "title", "kind"];
    headers.extend(book.paths.iter().map(|p| p.as_str()));
    let rows: Vec<Vec<String>> = book
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut row = vec![
                (i + 1).to_string(),
                s.id.to_string(),
                s.title.to_string(),
                format!("{}{}", s.kind, if s.destructive { " !" } else { "" }),
            ];
            row.extend(book.paths.iter().map(|p| {
                s.owner(*p)
                    .map(|o| o.to_string())
                    .unwrap_or_else(|| "-".into())
            }));
            row
        })
        .collect();
    let (title, table) = if markdown {
        (
            format!("## {} ({})\n\n", book.title, book.id),
            markdown_table(&headers, &rows),
        )
    } else {
        (
            format!("{} ({})\n\n", book.title, book.id),
            text_table(&headers, &rows),
        )
    };
    format!(
        "{title}{table}\n`!` marks a destructive step (typed confirmation); `-`: not on that path.\n"
    )
}
