//! The command line: argument parsing and dispatch, nothing else.

use std::path::PathBuf;
use std::process::ExitCode as ProcessExit;

use clap::{Parser, Subcommand};

use cutover::commands::{self, Format};
use cutover::config::Config;
use cutover::errln;
use cutover::error::{ExitCode, bad_input, exit_code_of};
use cutover::headless::{self, HeadlessOptions};
use cutover::runbook::{self, RunbookId};
use cutover::tui::{self, TuiOptions};
use cutover::ui::ThemeName;

#[derive(Parser)]
#[command(
    name = "cutover",
    version,
    about = "Walks one operator through a platform migration between clusters",
    long_about = "Walks one operator through a platform migration between clusters.\n\nWithout a \
                  command, opens the full-screen wizard on the migration the config names \
                  (as `cutover tui`)."
)]
struct Cli {
    /// The migration's config file.
    #[arg(
        long,
        global = true,
        env = "CUTOVER_CONFIG",
        default_value = "cutover.toml"
    )]
    config: PathBuf,
    /// Where migrations keep their journal, lock, artifacts and logs (overrides
    /// migration.state_dir).
    #[arg(long, global = true, env = "CUTOVER_STATE_DIR")]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

/// `cutover rehearse --source-database`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum SourceDatabaseArg {
    Mysql,
    Postgresql,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ThemeArg {
    Default,
    /// High contrast, bold, large glyphs: for sharing the screen on a call.
    Contrast,
    /// No colour: bold, reverse and glyphs only (also whenever NO_COLOR is set).
    Mono,
}

impl From<ThemeArg> for ThemeName {
    fn from(t: ThemeArg) -> ThemeName {
        match t {
            ThemeArg::Default => ThemeName::Default,
            ThemeArg::Contrast => ThemeName::Contrast,
            ThemeArg::Mono => ThemeName::Mono,
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// The full-screen wizard (the default): the steps, live panels, gates and
    /// resume, on a terminal.
    Tui {
        #[arg(long, value_enum)]
        theme: Option<ThemeArg>,
        /// Watch a migration someone else runs: follow its journal and live panels,
        /// send nothing.
        #[arg(long)]
        read_only: bool,
    },
    /// The runbook for the configured path: your steps and the hand-offs.
    Plan {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// The owner of every step on every path of a runbook.
    Matrix {
        #[arg(long)]
        runbook: String,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Runs the migration from where its journal stands.
    Run {
        /// Run without a screen: print progress as lines, stop at the first gate
        /// that is not confirmed on the command line (exit code 3).
        #[arg(long)]
        headless: bool,
        /// Stop after this step is done.
        #[arg(long, value_name = "STEP")]
        until: Option<String>,
        /// Confirm a step's gate, manual step or hand-off; TEXT is the typed phrase,
        /// or for a hand-off who did it. Repeatable, also for one step: a step that asks a
        /// question while it runs (`replace <database>`) takes the next answer given for it.
        #[arg(long = "confirm", value_name = "STEP[=TEXT]")]
        confirms: Vec<String>,
        /// Skip a step that waits for you, with the reason (recorded). Repeatable.
        #[arg(long = "skip", value_name = "STEP=REASON")]
        skips: Vec<String>,
    },
    /// Rehearses the whole migration on this machine: simulated clusters, real Redis
    /// and PostgreSQL servers, seeded 3scale data. The sandbox keeps its state in the state
    /// folder: a rehearsal paused, quit or killed part-way is resumed by the same command.
    Rehearse {
        /// Colours of the wizard (without --headless or --serve).
        #[arg(long, value_enum)]
        theme: Option<ThemeArg>,
        /// Run the runbook without a screen, confirming every gate as the rehearsal
        /// operator (journaled as such); exit 0 when done.
        #[arg(long)]
        headless: bool,
        /// Start the sandbox (the paused rehearsal's, else a new one) and print how to reach it,
        /// until Ctrl-C; its state stays, for `cutover --config` on the config it prints and for
        /// the next `cutover rehearse`.
        #[arg(long, conflicts_with = "headless")]
        serve: bool,
        /// Start a new rehearsal even when a paused one could be resumed; the paused one's
        /// sandbox is removed (its journal stays).
        #[arg(long)]
        new: bool,
        /// Remove the sandbox of the paused rehearsals in the state folder (their servers' data
        /// and databases; their journals stay) and start nothing.
        #[arg(long, conflicts_with_all = ["new", "headless", "serve"])]
        discard: bool,
        /// Stop after this step is done.
        #[arg(long, value_name = "STEP")]
        until: Option<String>,
        /// The runbook of a new rehearsal: threescale-rhoam (3scale to RHOAM) or
        /// velero-registry (a registry of the Platform from cluster A to B); a resumed one
        /// keeps its own.
        #[arg(long, default_value = "threescale-rhoam")]
        runbook: String,
        /// The access path of a new rehearsal (a resumed one keeps its own).
        #[arg(long, default_value = "limited")]
        access_path: String,
        /// The party the rehearsal operator acts for (a new rehearsal's; a resumed one keeps
        /// its own).
        #[arg(long, default_value = "red-hat")]
        party: String,
        /// Services (products) in the seeded source (of a new rehearsal; a resumed one keeps
        /// its data, as do the two sizes below).
        #[arg(long, default_value_t = 5)]
        services: u32,
        /// Applications per service.
        #[arg(long, default_value_t = 10)]
        applications: u32,
        /// Usage statistics keys per service in the backend Redis.
        #[arg(long, default_value_t = 200)]
        stats_keys: u32,
        /// The registry sandbox (of a new rehearsal): KiB of data in each of the registry's
        /// volumes on cluster A that Velero backs up by file system, which the backup, the
        /// transfer and the restore carry.
        #[arg(long, default_value_t = 64)]
        volume_kib: usize,
        /// The source's system database (of a new rehearsal): MySQL, 3scale's default (on
        /// MariaDB, converted to PostgreSQL by the rehearsal), or PostgreSQL.
        #[arg(long, value_enum, default_value = "mysql")]
        source_database: SourceDatabaseArg,
    },
    /// Scales the source's 3scale back to the replica counts recorded before stop-traffic and
    /// scale-down (refused once the customer's systems point at the destination).
    Rollback {
        /// The typed confirmation: --confirm "roll back". Without it, says what would be done
        /// and exits 3.
        #[arg(long, value_name = "TEXT")]
        confirm: Option<String>,
    },
    /// Redis data: copy keys between servers, compare two servers.
    Redis {
        #[command(subcommand)]
        command: commands::redis::RedisCommand,
    },
    /// Where the migration stands, from its journal.
    Status {
        #[arg(long, value_enum, default_value = "text")]
        format: StatusFormat,
    },
    /// PostgreSQL dumps and restores, checked as the migration steps check them.
    #[command(subcommand)]
    Pg(PgCmd),
}

#[derive(Subcommand)]
enum PgCmd {
    /// Dumps a database with pg_dump -Fc to FILE (mode 0600), with its checksum and exact row
    /// counts in FILE.json.
    Dump {
        /// The database: env:NAME, file:PATH, or a URL without a password.
        #[arg(long)]
        url: String,
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Restores FILE with pg_restore --no-owner --no-acl after checking it against FILE.json,
    /// then compares the row counts.
    Restore {
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// The target database: env:NAME, file:PATH, or a URL without a password.
        #[arg(long)]
        url: String,
        /// Drop and replace the dump's tables when the target already holds them.
        #[arg(long)]
        replace: bool,
        /// Restore without FILE.json: no checksum or row count check.
        #[arg(long)]
        unverified: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StatusFormat {
    Text,
    Json,
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let mut config = Config::load(&cli.config)?;
    if let Some(dir) = &cli.state_dir {
        config.set_state_dir(dir.clone());
    }
    Ok(config)
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let Some(command) = &cli.command else {
        if !cli.config.exists() {
            return Err(bad_input(format!(
                "no config at {}: pass --config FILE (or set CUTOVER_CONFIG) to open the wizard \
                 on a migration, or `cutover rehearse` to try it on a sandbox; `cutover --help` \
                 lists the commands",
                cli.config.display()
            )));
        }
        let options = TuiOptions {
            theme: None,
            read_only: false,
            rehearsal: None,
            stand_in: None,
        };
        return tui::run(load_config(&cli)?, options).await;
    };
    match command {
        Cmd::Pg(PgCmd::Dump { url, to }) => {
            let options = commands::pg::DumpOptions {
                url: url.clone(),
                to: to.clone(),
            };
            return commands::pg::dump(options).await;
        }
        Cmd::Pg(PgCmd::Restore {
            from,
            url,
            replace,
            unverified,
        }) => {
            let options = commands::pg::RestoreOptions {
                url: url.clone(),
                from: from.clone(),
                replace: *replace,
                unverified: *unverified,
            };
            return commands::pg::restore(options).await;
        }
        Cmd::Tui { theme, read_only } => {
            let options = TuiOptions {
                theme: theme.map(ThemeName::from),
                read_only: *read_only,
                rehearsal: None,
                stand_in: None,
            };
            return tui::run(load_config(&cli)?, options).await;
        }
        Cmd::Matrix {
            runbook: id,
            format,
        } => {
            let id: RunbookId = id
                .parse()
                .map_err(|e| bad_input(format!("--runbook: {e}")))?;
            commands::matrix::run(runbook::get(id), *format)?;
        }
        Cmd::Plan { format } => commands::plan::run(&load_config(&cli)?, *format)?,
        Cmd::Status { format } => {
            let format = match format {
                StatusFormat::Text => Format::Text,
                StatusFormat::Json => Format::Json,
            };
            commands::status::run(&load_config(&cli)?, format)?
        }
        Cmd::Rollback { confirm } => {
            let options = commands::rollback::RollbackOptions {
                confirm: confirm.clone(),
            };
            return commands::rollback::run(&load_config(&cli)?, options).await;
        }
        Cmd::Redis { command } => {
            return commands::redis::run(command, cli.state_dir.as_deref()).await;
        }
        Cmd::Run {
            headless: false, ..
        } => {
            return Err(bad_input(
                "`cutover run` drives the migration without a screen: add --headless",
            ));
        }
        Cmd::Run {
            headless: true,
            until,
            confirms,
            skips,
        } => {
            let options = HeadlessOptions {
                until: until.clone(),
                confirms: confirms.clone(),
                skips: skips.clone(),
                auto_confirm_as: None,
                stand_in: None,
            };
            return headless::run(load_config(&cli)?, options).await;
        }
        Cmd::Rehearse {
            theme,
            headless,
            serve,
            new,
            discard,
            until,
            runbook,
            access_path,
            party,
            services,
            applications,
            stats_keys,
            volume_kib,
            source_database,
        } => {
            let mut sandbox = cutover::sim::sandbox::SandboxOptions::default();
            sandbox.source_database = match source_database {
                SourceDatabaseArg::Mysql => cutover::sim::sandbox::SourceDatabase::Mysql,
                SourceDatabaseArg::Postgresql => cutover::sim::sandbox::SourceDatabase::Postgresql,
            };
            sandbox.sizes.services = *services;
            sandbox.sizes.applications_per_service = *applications;
            sandbox.sizes.stats_keys_per_service = *stats_keys;
            sandbox.registry_volume_bytes = volume_kib.saturating_mul(1024);
            let options = cutover::commands::rehearse::RehearseOptions {
                headless: *headless,
                serve: *serve,
                theme: theme.map(ThemeName::from),
                until: until.clone(),
                runbook: runbook.clone(),
                access_path: access_path.clone(),
                party: party.clone(),
                state_dir: cli
                    .state_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("cutover-rehearsal")),
                sandbox,
                new: *new,
                discard: *discard,
            };
            return cutover::commands::rehearse::run(options).await;
        }
    }
    Ok(ExitCode::Success)
}

/// Whether the command draws the full-screen wizard: then nothing else may write
/// to the terminal.
fn full_screen(cli: &Cli) -> bool {
    match &cli.command {
        None | Some(Cmd::Tui { .. }) => true,
        Some(Cmd::Rehearse {
            headless,
            serve,
            discard,
            ..
        }) => !headless && !serve && !discard,
        Some(_) => false,
    }
}

fn main() -> ProcessExit {
    let cli = Cli::parse();
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("CUTOVER_LOG")
            // The simulated object storage (s3s) logs every error answer it gives (a HEAD of a
            // missing object, a refused key) at ERROR: its clients report what matters.
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,s3s=off"))
    };
    // Diagnostics go to stderr, except under the wizard, where they would draw over
    // the screen: there they go to CUTOVER_LOG_FILE when it is set, else nowhere.
    if !full_screen(&cli) {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(filter())
            .init();
    } else if let Some(path) = std::env::var_os("CUTOVER_LOG_FILE") {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            Ok(file) => tracing_subscriber::fmt()
                .with_writer(std::sync::Mutex::new(file))
                .with_ansi(false)
                .with_env_filter(filter())
                .init(),
            Err(e) => {
                errln!(
                    "error: cannot open CUTOVER_LOG_FILE {}: {e}",
                    std::path::Path::new(&path).display()
                );
                return ProcessExit::from(ExitCode::BadInput as u8);
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return ProcessExit::from(ExitCode::Failed as u8);
        }
    };
    let code = match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(err) => {
            errln!("error: {err:#}");
            exit_code_of(&err)
        }
    };
    ProcessExit::from(code as u8)
}
