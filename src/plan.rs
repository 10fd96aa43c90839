//! The runbook as it applies to one configured migration: the steps of its path,
//! who does each, how each runs today and what it needs from the operator.

use serde::Serialize;

use crate::config::Config;
use crate::runbook::{DbKind, Need, Party, Step, StepKind, When};
use crate::steps;

/// Whether a step is part of this migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "applies", content = "source_db")]
pub enum Applies {
    Yes,
    /// The config does not say which database the source uses; the step applies
    /// only when it is one of these.
    IfSourceDbIs(&'static [DbKind]),
}

#[derive(Clone, Debug)]
pub struct PlannedStep {
    pub step: &'static Step,
    pub owner: Party,
    /// Owned by the other party: the operator records who did it.
    pub hand_off: bool,
    /// How the step runs today: an automated step without an implementation yet
    /// runs as manual.
    pub runs_as: StepKind,
    pub applies: Applies,
    /// What the operator must give before it runs, if anything.
    pub need: Option<Need>,
}

impl PlannedStep {
    /// What a front end shows to ask for this step's `need`, with the config's
    /// placeholders filled in.
    pub fn request(&self, config: &Config, need: Need) -> crate::event::Request {
        let step = self.step;
        let fill = |t: &str| crate::runbook::render_procedure(t, |name| config.placeholder(name));
        crate::event::Request {
            step: step.id,
            title: step.title,
            need,
            phrase: match need {
                Need::Typed | Need::Manual => step.gate.phrase().map(str::to_string),
                _ => None,
            },
            question: None,
            alternatives: Vec::new(),
            owner: self.owner,
            changes: step.changes.map(fill),
            procedure: fill(step.procedure),
            condition: self.condition(),
        }
    }

    /// When the step applies only under a condition the config leaves open, that
    /// condition in words.
    pub fn condition(&self) -> Option<String> {
        match self.applies {
            Applies::Yes => None,
            Applies::IfSourceDbIs(kinds) => {
                let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                Some(format!(
                    "only if the source system database is {} (the config does not say: set \
                     [source].system_database_kind)",
                    names.join(" or ")
                ))
            }
        }
    }

    /// Whether cutover has an implementation for this step's action.
    pub fn automation_available(&self) -> bool {
        self.step
            .action
            .and_then(|a| steps::implementation(a).automated())
            .is_some()
    }
}

/// The steps of the configured path, in order, without those that the config
/// rules out (e.g. the MySQL conversion for a PostgreSQL source).
pub fn plan(config: &Config) -> Vec<PlannedStep> {
    let book = config.runbook();
    let source_db = config.source_db_kind();
    book.steps_on(config.access_path)
        .filter_map(|step| {
            let owner = step.owner(config.access_path)?;
            let applies = match step.when {
                When::Always => Applies::Yes,
                When::SourceDbIs(kinds) => match source_db {
                    Some(k) if kinds.contains(&k) => Applies::Yes,
                    Some(_) => return None,
                    None => Applies::IfSourceDbIs(kinds),
                },
            };
            Some(planned(step, owner, config.party, applies))
        })
        .collect()
}

fn planned(step: &'static Step, owner: Party, me: Party, applies: Applies) -> PlannedStep {
    let hand_off = !owner.includes(me);
    let implemented = step
        .action
        .and_then(|a| steps::implementation(a).automated())
        .is_some();
    let runs_as = if hand_off || step.kind == StepKind::Manual || !implemented {
        StepKind::Manual
    } else {
        step.kind
    };
    let need = if hand_off {
        Some(Need::HandOff)
    } else if runs_as == StepKind::Manual {
        Some(Need::Manual)
    } else if applies != Applies::Yes {
        // Whether it applies is the operator's call: confirm to run it, or skip it.
        Some(Need::Confirm)
    } else {
        match step.gate {
            crate::runbook::Gate::None => None,
            crate::runbook::Gate::Confirm | crate::runbook::Gate::Previewed(_) => {
                Some(Need::Confirm)
            }
            crate::runbook::Gate::Typed(_) => Some(Need::Typed),
        }
    };
    PlannedStep {
        step,
        owner,
        hand_off,
        runs_as,
        applies,
        need,
    }
}
