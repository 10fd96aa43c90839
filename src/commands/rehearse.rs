//! `cutover rehearse`: the whole migration run on this machine against the sandbox,
//! before the maintenance window, or the sandbox alone to look around with kubectl.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tokio::signal::unix::{SignalKind, signal};

use crate::config::Config;
use crate::error::{ExitCode, bad_input};
use crate::headless::{self, HeadlessOptions};
use crate::sim::sandbox::{Sandbox, SandboxOptions};
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
    pub access_path: String,
    pub party: String,
    pub state_dir: PathBuf,
    pub sandbox: SandboxOptions,
}

pub async fn run(options: RehearseOptions) -> Result<ExitCode> {
    let wizard = !options.headless && !options.serve;
    if wizard && !(std::io::stdout().is_terminal() && std::io::stdin().is_terminal()) {
        return Err(bad_input(
            "the full-screen wizard needs a terminal: run `cutover rehearse --headless` to rehearse \
             without one, or `cutover rehearse --serve` to start the sandbox and look around",
        ));
    }
    let name = format!("rehearsal-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S"));
    let state_dir = absolute(&options.state_dir)?;
    let dir = state_dir.join(format!("{name}-sandbox"));
    outln!(
        "cutover rehearse: starting the sandbox in {}",
        dir.display()
    );
    let sandbox = Sandbox::start(&dir, options.sandbox.clone()).await?;
    let config_path = state_dir.join(format!("{name}.toml"));
    let toml = sandbox.config_toml(
        &name,
        &options.access_path,
        &options.party,
        REHEARSAL_OPERATOR,
        &state_dir,
    );
    std::fs::write(&config_path, toml)
        .with_context(|| format!("cannot write the sandbox config {}", config_path.display()))?;

    let code = if options.serve {
        serve(&sandbox, &config_path).await?
    } else if wizard {
        let config = Config::load(&config_path)?;
        let tui = TuiOptions {
            theme: options.theme,
            read_only: false,
            rehearsal: true,
        };
        crate::tui::run(config, tui).await?
    } else {
        let config = Config::load(&config_path)?;
        outln!("config: {}", config_path.display());
        let run = HeadlessOptions {
            until: options.until.clone(),
            confirms: Vec::new(),
            skips: Vec::new(),
            auto_confirm_as: Some(REHEARSAL_OPERATOR.to_string()),
        };
        headless::run(config, run).await?
    };
    drop(sandbox);
    outln!(
        "sandbox stopped; the journal stays in {}",
        state_dir.join(&name).display()
    );
    Ok(code)
}

async fn serve(sandbox: &Sandbox, config: &Path) -> Result<ExitCode> {
    let s = &sandbox.stores;
    outln!(
        "kubeconfig: {} (contexts source, migration, destination)",
        sandbox.kubeconfig.display()
    );
    outln!("config:     {}", config.display());
    outln!("source backend Redis:    {}", s.source_backend_redis);
    outln!("source system Redis:     {}", s.source_system_redis);
    outln!("source system database:  {}", s.source_system_database);
    outln!("source zync database:    {}", s.source_zync_database);
    outln!("migration database:      {}", s.migration_system_database);
    outln!("destination database:    {}", s.destination.system_database);
    outln!(
        "destination Redis:       {}",
        s.destination.backend_redis_storage
    );
    outln!(
        "try: kubectl --kubeconfig {} --context source get dc,pods",
        sandbox.kubeconfig.display()
    );
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
