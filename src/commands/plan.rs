//! `cutover plan`: the configured path's steps, with the operator's own steps and
//! the hand-offs to the other party marked.

use crate::out;
use anyhow::Result;
use serde_json::{Value, json};

use super::{Format, print_json};
use crate::config::Config;
use crate::format::{markdown_table, text_table};
use crate::plan::{Applies, PlannedStep, plan};
use crate::runbook::{Gate, StepKind};

pub fn run(config: &Config, format: Format) -> Result<()> {
    let steps = plan(config);
    match format {
        Format::Json => print_json(&to_json(config, &steps)),
        Format::Text => {
            out!("{}", render(config, &steps, false));
            Ok(())
        }
        Format::Markdown => {
            out!("{}", render(config, &steps, true));
            Ok(())
        }
    }
}

fn to_json(config: &Config, steps: &[PlannedStep]) -> Value {
    let book = config.runbook();
    let steps: Vec<Value> = steps
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({
                "number": i + 1,
                "id": p.step.id,
                "title": p.step.title,
                "phase": p.step.phase,
                "kind": p.step.kind,
                "runs_as": p.runs_as,
                "automation_available": p.automation_available(),
                "destructive": p.step.destructive,
                "gate": p.step.gate.as_str(),
                "phrase": p.step.gate.phrase(),
                "owner": p.owner,
                "hand_off": p.hand_off,
                "applies": p.applies,
                "seed": p.step.seed,
            })
        })
        .collect();
    json!({
        "migration": config.name,
        "runbook": book.id,
        "access_path": config.access_path,
        "party": config.party,
        "operator": config.operator,
        "notes": book.notes,
        "checklist": book.checklist(config.access_path),
        "steps": steps,
    })
}

fn who(p: &PlannedStep) -> String {
    if p.hand_off {
        format!("hand-off: {} does it", p.owner.label())
    } else {
        "you".to_string()
    }
}

fn how(p: &PlannedStep) -> String {
    let mut s = match (p.step.kind, p.runs_as) {
        (StepKind::Manual, _) => "manual".to_string(),
        (kind, StepKind::Manual) if !p.hand_off => format!("{kind}, by hand for now"),
        (kind, _) => kind.to_string(),
    };
    match p.step.gate {
        Gate::Typed(phrase) => s.push_str(&format!("; type \"{phrase}\"")),
        Gate::Previewed(phrase) => s.push_str(&format!("; type \"{phrase}\" after its preview")),
        _ => {}
    }
    if p.step.destructive {
        s.push_str("; DESTRUCTIVE");
    }
    if let Applies::IfSourceDbIs(kinds) = p.applies {
        let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        s.push_str(&format!(
            "; only if the source database is {}",
            names.join(" or ")
        ));
    }
    s
}

fn render(config: &Config, steps: &[PlannedStep], markdown: bool) -> String {
    let book = config.runbook();
    let mut out = String::new();
    let h = if markdown { "## " } else { "" };
    out.push_str(&format!("{h}Migration {}: {}\n\n", config.name, book.title));
    out.push_str(&format!(
        "Runbook {}, access path {}; you are {} ({}).\n",
        book.id,
        config.access_path,
        config.operator,
        config.party.label()
    ));
    let mine = steps.iter().filter(|p| !p.hand_off).count();
    out.push_str(&format!(
        "{} steps: {mine} yours, {} hand-offs to the other party.\n\n",
        steps.len(),
        steps.len() - mine
    ));
    if !book.notes.is_empty() {
        out.push_str(&format!("{h}Before you start\n\n"));
        for n in book.notes {
            out.push_str(&format!("- {n}\n"));
        }
        out.push('\n');
    }
    let checklist = book.checklist(config.access_path);
    if !checklist.is_empty() {
        out.push_str(&format!(
            "{h}Prerequisites checklist ({})\n\n",
            config.access_path
        ));
        for c in checklist {
            out.push_str(&format!("- [ ] {c}\n"));
        }
        out.push('\n');
    }
    for phase in book.phases {
        let rows: Vec<Vec<String>> = steps
            .iter()
            .enumerate()
            .filter(|(_, p)| p.step.phase == phase.id)
            .map(|(i, p)| {
                vec![
                    (i + 1).to_string(),
                    p.step.id.to_string(),
                    p.step.title.to_string(),
                    who(p),
                    how(p),
                ]
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        out.push_str(&format!("{h}{}\n\n", phase.title));
        let headers = ["#", "step", "title", "who", "how"];
        if markdown {
            out.push_str(&markdown_table(&headers, &rows));
        } else {
            out.push_str(&text_table(&headers, &rows));
        }
        out.push('\n');
    }
    out
}
