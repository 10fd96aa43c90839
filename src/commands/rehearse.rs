//! `cutover rehearse`: the whole migration run on this machine against the sandbox,
//! before the maintenance window, or the sandbox alone to look around with kubectl.
//!
//! The sandbox is kept in the state folder (`rehearsals`): a rehearsal paused, quit or killed
//! part-way is resumed by the same command, its sandbox started again from its saved state and
//! its journal opened again, so the engine's resume (re-check of an interrupted step, no
//! finished step run again) does the rest. `--new` starts a new one instead; a finished
//! rehearsal's sandbox state is removed (its journal, config and artifacts stay).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tokio::signal::unix::{SignalKind, signal};

use super::rehearsals::{self, Rehearsal};
use super::rehearse_sandbox::{RehearsalSandbox, known_runbook};
use crate::config::Config;
use crate::error::{ExitCode, bad_input, exit_code_of};
use crate::headless::{self, HeadlessOptions};
use crate::journal::{Identity, Lock};
use crate::sim::sandbox::{self, SandboxOptions};
use crate::tui::TuiOptions;
use crate::{errln, outln};
use std::io::IsTerminal;

/// The operator a rehearsal journals its confirmations as.
pub const REHEARSAL_OPERATOR: &str = "rehearsal operator";

pub struct RehearseOptions {
    pub headless: bool,
    pub serve: bool,
    /// The wizard's theme, when neither `headless` nor `serve`.
    pub theme: Option<crate::ui::ThemeName>,
    pub until: Option<String>,
    /// The runbook of a new rehearsal (`threescale-rhoam`, `velero-registry`); a resumed one
    /// keeps its own.
    pub runbook: String,
    pub access_path: String,
    pub party: String,
    pub state_dir: PathBuf,
    /// For a new rehearsal; a resumed one keeps those it was started with.
    pub sandbox: SandboxOptions,
    /// Start a new rehearsal even when a paused one could be resumed (its sandbox is removed).
    pub new: bool,
    /// Remove the paused rehearsal's sandbox and start nothing.
    pub discard: bool,
}

pub async fn run(options: RehearseOptions) -> Result<ExitCode> {
    let wizard = !options.headless && !options.serve && !options.discard;
    if wizard && !(std::io::stdout().is_terminal() && std::io::stdin().is_terminal()) {
        return Err(bad_input(
            "the full-screen wizard needs a terminal: run `cutover rehearse --headless` to rehearse \
             without one, or `cutover rehearse --serve` to start the sandbox and look around",
        ));
    }
    let runbook = known_runbook(&options.runbook)?;
    let state_dir = absolute(&options.state_dir)?;
    let me = Identity::of_this_process(REHEARSAL_OPERATOR);
    let again = again_command(&options);
    if options.discard {
        if discard_all(&state_dir, &me, "removed by `cutover rehearse --discard`")? == 0 {
            outln!(
                "cutover rehearse: no paused rehearsal in {}",
                state_dir.display()
            );
        }
        return Ok(ExitCode::Success);
    }
    let paused = if options.new {
        discard_all(&state_dir, &me, "replaced by `cutover rehearse --new`")?;
        None
    } else {
        latest_paused(&state_dir, &me)?
    };
    let resumed = paused.is_some();
    let (rehearsal, sandbox, lock) = match paused {
        Some(rehearsal) => {
            if !rehearsal.sandbox.is_dir() {
                let gone = bad_input(format!(
                    "its sandbox folder {} is gone",
                    rehearsal.sandbox.display()
                ));
                return Err(unusable(&rehearsal, gone, &options));
            }
            let lock = take(&rehearsal, &me)?;
            outln!(
                "cutover rehearse: resuming {} (`--new` starts a new rehearsal instead); \
                 starting its sandbox again from {}",
                rehearsal.name,
                rehearsal.sandbox.display()
            );
            let sandbox = RehearsalSandbox::resume(&rehearsal.sandbox)
                .await
                .map_err(|e| unusable(&rehearsal, e, &options))?;
            if sandbox.runbook() != runbook {
                outln!(
                    "cutover rehearse: {} rehearses {}, and goes on with it",
                    rehearsal.name,
                    sandbox.runbook()
                );
            }
            (rehearsal, sandbox, lock)
        }
        None => {
            let rehearsal = Rehearsal::at(&state_dir, &rehearsals::new_name(&state_dir));
            let lock = take(&rehearsal, &me)?;
            outln!(
                "cutover rehearse: starting the sandbox in {}",
                rehearsal.sandbox.display()
            );
            let sandbox =
                RehearsalSandbox::create(runbook, &rehearsal.sandbox, options.sandbox.clone())
                    .await?;
            (rehearsal, sandbox, lock)
        }
    };
    let config = write_config(&rehearsal, &sandbox, &options, &state_dir, resumed)?;

    let code = if options.serve {
        serve(&sandbox, &config.path).await?
    } else if wizard {
        let tui = TuiOptions {
            theme: options.theme,
            read_only: false,
            rehearsal: Some(again.clone()),
            stand_in: Some(sandbox.stand_in()),
        };
        crate::tui::run(config, tui).await?
    } else {
        outln!("config: {}", config.path.display());
        let run = HeadlessOptions {
            until: options.until.clone(),
            confirms: Vec::new(),
            skips: Vec::new(),
            auto_confirm_as: Some(REHEARSAL_OPERATOR.to_string()),
            stand_in: Some(sandbox.stand_in()),
        };
        headless::run(config, run).await?
    };
    let journal = state_dir.join(&rehearsal.name);
    if rehearsal.finished() {
        let left = sandbox.remove("the rehearsal finished");
        outln!(
            "the rehearsal is finished: its sandbox stopped and its state was removed; the \
             journal stays in {}",
            journal.display()
        );
        warn_left(&left);
    } else {
        drop(sandbox);
        outln!(
            "sandbox stopped; its state stays in {}: run {again} again to resume the rehearsal \
             (with --new to start another); the journal is in {}",
            rehearsal.sandbox.display(),
            journal.display()
        );
    }
    drop(lock);
    Ok(code)
}

/// The latest rehearsal of `state_dir` to resume: not finished, its sandbox not removed. The
/// sandboxes of finished rehearsals that were not removed yet (the process ended first) are
/// removed on the way.
fn latest_paused(state_dir: &Path, me: &Identity) -> Result<Option<Rehearsal>> {
    let mut latest = None;
    for rehearsal in rehearsals::all(state_dir)? {
        if rehearsal.removed().is_some() {
            continue;
        }
        if rehearsal.finished() {
            if let Ok(_lock) = take(&rehearsal, me) {
                warn_left(&sandbox::discard(
                    &rehearsal.sandbox,
                    "the rehearsal finished",
                ));
            }
            continue;
        }
        latest = Some(rehearsal);
    }
    Ok(latest)
}

/// Removes the sandbox state of every rehearsal of `state_dir` that no process runs, saying
/// which; their journals and configs stay. Returns how many.
fn discard_all(state_dir: &Path, me: &Identity, why: &str) -> Result<usize> {
    let mut removed = 0;
    for rehearsal in rehearsals::all(state_dir)? {
        if rehearsal.removed().is_some() {
            continue;
        }
        let Ok(_lock) = take(&rehearsal, me) else {
            continue;
        };
        let left = sandbox::discard(&rehearsal.sandbox, why);
        outln!(
            "cutover rehearse: removed the sandbox of {} (its journal and config stay)",
            rehearsal.name
        );
        warn_left(&left);
        removed += 1;
    }
    Ok(removed)
}

/// Takes the rehearsal's sandbox lock, held while its sandbox runs or is removed (the folder is
/// created when missing).
fn take(rehearsal: &Rehearsal, me: &Identity) -> Result<Lock> {
    std::fs::create_dir_all(&rehearsal.sandbox).with_context(|| {
        format!(
            "cannot create the sandbox folder {}",
            rehearsal.sandbox.display()
        )
    })?;
    if let Some(holder) = rehearsal.running() {
        return Err(bad_input(format!(
            "{} runs in {holder}; follow it there, or start another rehearsal beside it with \
             `cutover rehearse --new`",
            rehearsal.name
        )));
    }
    Ok(Lock::acquire(&rehearsal.sandbox, me)?.0)
}

/// Why `rehearsal` cannot be resumed, and what to do: bad input (exit 2) when its sandbox's
/// state is gone or unusable.
fn unusable(rehearsal: &Rehearsal, e: anyhow::Error, options: &RehearseOptions) -> anyhow::Error {
    let new = format!(
        "cutover rehearse --new --state-dir {}",
        shell_word(&options.state_dir.display().to_string())
    );
    if exit_code_of(&e) == ExitCode::BadInput {
        return bad_input(format!(
            "{} cannot be resumed: {e:#}. Run `{new}` to start a new rehearsal (it removes what \
             is left of this one's sandbox; its journal stays)",
            rehearsal.name
        ));
    }
    e.context(format!(
        "cannot start the sandbox of {} again; fix the cause and run the same command again, \
         or `{new}` to start a new rehearsal",
        rehearsal.name
    ))
}

/// Writes the rehearsal's config for its sandbox: a resumed rehearsal keeps the access path
/// and party it was started with (its journal is of them). The ports never change (see
/// `Sandbox::resume`), but the paths follow the state folder.
fn write_config(
    rehearsal: &Rehearsal,
    sandbox: &RehearsalSandbox,
    options: &RehearseOptions,
    state_dir: &Path,
    resumed: bool,
) -> Result<Config> {
    let (access_path, party) = if resumed {
        let old = Config::load(&rehearsal.config).map_err(|e| {
            bad_input(format!(
                "{} cannot be resumed: its config cannot be read ({e:#}). Run `cutover rehearse \
                 --new --state-dir {}` to start a new rehearsal",
                rehearsal.name,
                shell_word(&options.state_dir.display().to_string())
            ))
        })?;
        (
            old.access_path.as_str().to_string(),
            old.party.as_str().to_string(),
        )
    } else {
        (options.access_path.clone(), options.party.clone())
    };
    let toml = sandbox.config_toml(
        &rehearsal.name,
        &access_path,
        &party,
        REHEARSAL_OPERATOR,
        state_dir,
    );
    crate::infra::artifacts::write_whole(&rehearsal.config, toml.as_bytes()).with_context(
        || {
            format!(
                "cannot write the sandbox config {}",
                rehearsal.config.display()
            )
        },
    )?;
    Config::load(&rehearsal.config)
}

/// The command that resumes this rehearsal, as the operator would type it.
fn again_command(options: &RehearseOptions) -> String {
    let mode = if options.headless {
        " --headless"
    } else if options.serve {
        " --serve"
    } else {
        ""
    };
    format!(
        "`cutover rehearse{mode} --state-dir {}`",
        shell_word(&options.state_dir.display().to_string())
    )
}

/// `s` as one shell word: quoted when it holds anything but plain path characters.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:@".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn warn_left(left: &[String]) {
    for l in left {
        errln!("warning: {l}");
    }
}

async fn serve(sandbox: &RehearsalSandbox, config: &Path) -> Result<ExitCode> {
    sandbox.print_endpoints(config);
    outln!("serving until Ctrl-C");
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot watch Ctrl-C")?,
        _ = term.recv() => {}
        _ = hup.recv() => {}
    }
    errln!("stopping the sandbox");
    Ok(ExitCode::Success)
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(p).map_err(|e| {
        bad_input(format!(
            "cannot create the state folder {}: {e}; pass --state-dir",
            p.display()
        ))
    })?;
    p.canonicalize()
        .with_context(|| format!("cannot resolve the state folder {}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_one_shell_word() {
        assert_eq!(shell_word("/tmp/x"), "/tmp/x");
        assert_eq!(shell_word("my rehearsal"), "'my rehearsal'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
