//! Runbooks are pure data: phases, steps, owners per access path and gates.
//! Nothing here performs I/O; `steps/` implements the actions a step names.

pub mod ids;
mod model;
mod procedure;
mod threescale_rhoam;
mod velero_registry;

pub use model::*;
pub use procedure::{placeholders, render_procedure};

/// Every runbook cutover ships, in the order `cutover matrix` lists them.
pub fn all() -> [&'static Runbook; 2] {
    [&threescale_rhoam::RUNBOOK, &velero_registry::RUNBOOK]
}

/// The runbook with this id.
pub fn get(id: RunbookId) -> &'static Runbook {
    match id {
        RunbookId::ThreescaleRhoam => &threescale_rhoam::RUNBOOK,
        RunbookId::VeleroRegistry => &velero_registry::RUNBOOK,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn is_kebab(id: &str) -> bool {
        !id.is_empty()
            && !id.starts_with('-')
            && !id.ends_with('-')
            && !id.contains("--")
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    }

    #[test]
    fn step_ids_are_unique_kebab_case_journal_keys() {
        for book in all() {
            let mut seen = HashSet::new();
            for step in book.steps {
                assert!(
                    is_kebab(step.id.0),
                    "{}: {} is not kebab-case",
                    book.id,
                    step.id
                );
                assert!(
                    seen.insert(step.id.0),
                    "{}: {} appears twice",
                    book.id,
                    step.id
                );
            }
        }
    }

    #[test]
    fn every_step_id_constant_names_a_step_of_a_runbook() {
        for id in ids::ALL {
            assert!(
                all().iter().any(|b| b.step(id.0).is_some()),
                "{id} is no step of any runbook"
            );
        }
    }

    #[test]
    fn steps_follow_their_phases_in_order() {
        for book in all() {
            let order: Vec<&str> = book.phases.iter().map(|p| p.id).collect();
            let mut last = 0;
            for step in book.steps {
                let at = order.iter().position(|p| *p == step.phase);
                let at = at.unwrap_or_else(|| panic!("{}: unknown phase {}", step.id, step.phase));
                assert!(
                    at >= last,
                    "{}: phase {} after a later phase",
                    step.id,
                    step.phase
                );
                last = at;
            }
            for phase in book.phases {
                assert!(is_kebab(phase.id), "phase {}", phase.id);
                assert!(
                    book.steps.iter().any(|s| s.phase == phase.id),
                    "empty phase {}",
                    phase.id
                );
            }
        }
    }

    #[test]
    fn destructive_steps_have_a_typed_gate_and_say_what_they_change() {
        for book in all() {
            for step in book.steps {
                if step.destructive {
                    let phrase = step.gate.phrase().unwrap_or("");
                    assert!(!phrase.trim().is_empty(), "{} needs a typed gate", step.id);
                    assert!(
                        step.changes.is_some_and(|c| !c.trim().is_empty()),
                        "{}",
                        step.id
                    );
                } else {
                    assert!(step.changes.is_none(), "{} is not destructive", step.id);
                }
            }
        }
    }

    #[test]
    fn every_step_has_a_title_doc_and_manual_procedure() {
        for book in all() {
            for step in book.steps {
                assert!(!step.title.trim().is_empty(), "{}", step.id);
                assert!(!step.doc.trim().is_empty(), "{}", step.id);
                assert!(!step.procedure.trim().is_empty(), "{}", step.id);
                for line in step.procedure.lines() {
                    assert!(line.chars().count() <= 110, "{}: long line {line}", step.id);
                }
            }
        }
    }

    #[test]
    fn every_step_is_on_some_path_of_its_runbook() {
        for book in all() {
            for step in book.steps {
                assert!(
                    book.paths.iter().any(|p| step.owner(*p).is_some()),
                    "{}",
                    step.id
                );
                for (path, _) in step.owners {
                    assert!(
                        book.paths.contains(path),
                        "{}: owner on foreign path {path}",
                        step.id
                    );
                }
            }
            for path in book.paths {
                assert!(
                    !book.checklist(*path).is_empty(),
                    "{}: no checklist for {path}",
                    book.id
                );
            }
        }
    }
}
