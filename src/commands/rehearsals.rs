//! The rehearsals in a state folder. Each is a config `<name>.toml`, a migration folder
//! `<name>/` (its journal) and a sandbox folder `<name>-sandbox/` (its kept sandbox), named
//! `rehearsal-<UTC time>` (with `-2`, `-3`... when two start in the same second).
//! `cutover rehearse` resumes the latest whose journal does not show it finished and whose
//! sandbox was not removed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::config::Config;
use crate::journal::{self, JOURNAL_FILE, JournalState, LockHolder, current_holder};
use crate::plan::plan;
use crate::sim::sandbox::{self, Removal};

pub const PREFIX: &str = "rehearsal-";
const SANDBOX_SUFFIX: &str = "-sandbox";

/// One rehearsal of a state folder, by its name.
#[derive(Clone, Debug)]
pub struct Rehearsal {
    pub name: String,
    /// `<state>/<name>.toml`
    pub config: PathBuf,
    /// `<state>/<name>-sandbox/`
    pub sandbox: PathBuf,
}

impl Rehearsal {
    pub fn at(state_dir: &Path, name: &str) -> Rehearsal {
        Rehearsal {
            name: name.to_string(),
            config: state_dir.join(format!("{name}.toml")),
            sandbox: state_dir.join(format!("{name}{SANDBOX_SUFFIX}")),
        }
    }

    /// Whether its journal shows every step of its plan done or skipped. False when its config
    /// or journal cannot be read: nothing shows it finished.
    pub fn finished(&self) -> bool {
        let Ok(config) = Config::load(&self.config) else {
            return false;
        };
        let Ok(read) = journal::read(&config.migration_dir().join(JOURNAL_FILE)) else {
            return false;
        };
        let state = JournalState::fold(&read.entries);
        super::status::overall(&state, &plan(&config)) == "finished"
    }

    /// How its sandbox was removed, when cutover removed it.
    pub fn removed(&self) -> Option<Removal> {
        sandbox::removal(&self.sandbox)
    }

    /// The live process that holds its sandbox, when one does.
    pub fn running(&self) -> Option<LockHolder> {
        current_holder(&self.sandbox)
    }
}

/// Every rehearsal in `state_dir`, oldest first.
pub fn all(state_dir: &Path) -> Result<Vec<Rehearsal>> {
    let entries = std::fs::read_dir(state_dir)
        .with_context(|| format!("cannot read the state folder {}", state_dir.display()))?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|f| {
            let name = f
                .strip_suffix(".toml")
                .or_else(|| f.strip_suffix(SANDBOX_SUFFIX))?;
            order(name).map(|_| name.to_string())
        })
        .collect();
    names.sort_by_key(|n| order(n));
    names.dedup();
    Ok(names.iter().map(|n| Rehearsal::at(state_dir, n)).collect())
}

/// A name for a new rehearsal, unused in `state_dir`.
pub fn new_name(state_dir: &Path) -> String {
    let stamp = format!("{PREFIX}{}", chrono::Utc::now().format("%Y%m%d-%H%M%S"));
    let taken = |name: &str| {
        let r = Rehearsal::at(state_dir, name);
        r.config.exists() || r.sandbox.exists() || state_dir.join(name).exists()
    };
    let mut name = stamp.clone();
    let mut n = 2;
    while taken(&name) {
        name = format!("{stamp}-{n}");
        n += 1;
    }
    name
}

/// The sort key of a rehearsal's name (its time, then its number within the second); None for
/// a name that is not a rehearsal's.
fn order(name: &str) -> Option<(String, u32)> {
    let rest = name.strip_prefix(PREFIX)?;
    let stamp = rest.get(..15)?;
    let valid = stamp
        .char_indices()
        .all(|(i, c)| if i == 8 { c == '-' } else { c.is_ascii_digit() });
    if !valid {
        return None;
    }
    let n = match rest.get(15..)? {
        "" => 1,
        more => more.strip_prefix('-')?.parse().ok()?,
    };
    Some((stamp.to_string(), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rehearse_finds_the_rehearsals_of_a_state_folder_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        for f in [
            "rehearsal-20260102-030405.toml",
            "rehearsal-20260102-030405-sandbox",
            "rehearsal-20260102-030405-10-sandbox",
            "rehearsal-20260102-030405-2.toml",
            "rehearsal-20251231-235959-sandbox",
            "rehearsal-x.toml",
            "cutover.toml",
        ] {
            std::fs::write(dir.path().join(f), "").expect("write");
        }
        let names: Vec<String> = all(dir.path())
            .expect("list")
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(
            names,
            [
                "rehearsal-20251231-235959",
                "rehearsal-20260102-030405",
                "rehearsal-20260102-030405-2",
                "rehearsal-20260102-030405-10",
            ]
        );
    }
}
