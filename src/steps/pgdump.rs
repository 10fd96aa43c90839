//! The PostgreSQL dump and restore steps: `dump-system-database`, `dump-zync-database` and
//! `dump-migration-database` (pg_dump in the custom format, see `infra::pgdump`) and
//! `restore-system-database` (pg_restore).
//!
//! Where a dump is taken from:
//! - the URL the config names for the store (`source.system_database_url`,
//!   `source.zync_database_url`, `migration_cluster.system_database_url`), else
//! - for the source, where the `inventory` step found it: a store outside the namespace through
//!   the URL of its secret (`system-database`/`URL`, `zync`/`DATABASE_URL`), read at the moment
//!   of use; a store inside it (`system-postgresql`, `zync-database`) by running `pg_dump -Fc -d
//!   <database>` in its pod through exec, since the pod's own pg_dump matches its server and
//!   needs no password. Its output streams out of the pod.
//!
//! The fact `dump` ([`DumpRecord`]) records path, size, SHA-256, mode, server version, the
//! number of TABLE DATA entries and the rows of each of those tables; the same record is written
//! next to the file as `<name>.dump.json` (mode 0600), and the dump is listed in the manifest.
//!
//! A restore (`restore-system-database`) takes the dump `dump-system-database` recorded in this
//! journal, else the one in the dump folder with its `.json` record (taken by the other party).
//! With neither, and the source system database named in the config, it offers to dump it
//! first (the operator types `dump now`); otherwise it fails and says what to bring. It first
//! reads the whole archive again and compares its SHA-256 with the recorded one (a changed byte
//! stops it, naming the file); then looks at the target: if any table of the dump already exists
//! there, it asks the operator to type `replace <database>` before replacing them, and never
//! restores over them otherwise. Afterwards every table's rows are checked.
//!
//! Resume re-check: a dump holds when its file exists and its SHA-256 matches the fact; a
//! restore holds when the target's row counts match the recorded ones.
//!
//! The migration cluster's database (`dump-migration-database`, `restore-system-database`) is
//! reached by `migration_cluster.system_database_url`, else from inside that cluster through
//! cutover's client pod, which reads the URL from secret `system-database` (see
//! `infra::pgtarget`); there the archive streams into `pg_restore` over exec's stdin.
//!
//! A MySQL system database is found the same way and dumped by `mysqldump` (see
//! `infra::mysqldump`). Not automated here: an Oracle system database (the step fails and points
//! to the manual procedure, which has the Data Pump commands). `seed-destination-database` is in
//! `seed`.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use super::stores::{Reach, SourceStores, config_key, secret_of};
use super::{Question, Recheck, StepAction, StepContext, StepFuture, StepResult};
use crate::config::StoreKind;
use crate::infra::artifacts::{self, Report};
use crate::infra::dump_record::{
    DumpRecord, MYSQLDUMP_FORMAT, read_record, record_path, write_record,
};
use crate::infra::kube::{CLIENT_POD, CLIENT_POD_DEADLINE, KubeCluster};
use crate::infra::mysqldump;
use crate::infra::pg_pod::PodDb;
use crate::infra::pgdump::{dump_exec, dump_url, restore_jobs, verify_before_restore, verify_file};
use crate::infra::pgtarget::{PgTarget, SYSTEM_DATABASE_SECRET, Verified};
use crate::infra::porta::SchemaObjects;
use crate::runbook::{ClusterRole, DbKind, StepId, ids};

/// The fact of a dump step, and of a restore step.
pub const FACT: &str = "dump";
pub const RESTORE_FACT: &str = "restore";
/// The step whose dump `restore-system-database` restores.
pub const SYSTEM_DUMP_STEP: StepId = ids::DUMP_SYSTEM_DATABASE;

// ---------------------------------------------------------------------------- the steps

/// Which database a dump step dumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    System,
    Zync,
    Migration,
}

impl Target {
    fn file(self) -> &'static str {
        match self {
            Target::System => "system-database.dump",
            Target::Zync => "zync-database.dump",
            Target::Migration => "migration-system-database.dump",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Target::System => "the source's system database",
            Target::Zync => "the source's zync database",
            Target::Migration => "the migration cluster's system database",
        }
    }
}

struct DumpStep(Target);
struct RestoreStep;

pub(super) static DUMP_SYSTEM: &dyn StepAction = &DumpStep(Target::System);
pub(super) static DUMP_ZYNC: &dyn StepAction = &DumpStep(Target::Zync);
pub(super) static DUMP_MIGRATION: &dyn StepAction = &DumpStep(Target::Migration);
pub(super) static RESTORE_SYSTEM: &dyn StepAction = &RestoreStep;

/// How a step reaches the database it dumps.
enum Source {
    Url {
        url: String,
        origin: String,
    },
    Exec {
        kube: Box<KubeCluster>,
        pod: String,
        database: String,
        /// A MySQL database, dumped by `mysqldump` in its pod.
        mysql: bool,
    },
    /// The migration cluster's database, by URL or through a client pod.
    Database(PgTarget),
    /// Not automated: the reason, with what to do instead.
    Manual(String),
}

fn manual(kind: &str, step: &str) -> String {
    format!(
        "the system database is {kind}: this step dumps PostgreSQL and MySQL only; dump it with the {kind} \
         part of the step's procedure, then mark the step done (`--skip {step}=REASON` in \
         headless mode)"
    )
}

async fn source_of(ctx: &StepContext, target: Target, report: &Report<'_>) -> Result<Source> {
    let step = ctx.step.id.0;
    // The source's stores: their config key, else their secret as the inventory found it. The
    // migration cluster's database has its own way (a URL or a client pod).
    let kind = match target {
        Target::System => StoreKind::SystemDatabase(DbKind::Postgresql),
        Target::Zync => StoreKind::ZyncDatabase,
        Target::Migration => {
            let database = system_database(ctx, ClusterRole::MigrationCluster, report).await?;
            return Ok(Source::Database(database));
        }
    };
    if target == Target::System && ctx.config.source_db_kind() == Some(DbKind::Oracle) {
        return Ok(Source::Manual(manual("Oracle", step)));
    }
    let mut stores = SourceStores::new(ctx);
    let fix = format!(
        "or set {} in the config (as env:NAME or file:PATH)",
        config_key(kind)
    );
    let scheme = stores
        .location(kind)
        .and_then(|l| l.scheme.clone())
        .unwrap_or_default();
    if stores.configured(kind)?.is_none() && scheme.starts_with("oracle") {
        return Ok(Source::Manual(manual("Oracle", step)));
    }
    match stores.find(kind, target.label()).await? {
        Some(Reach::Url { url, origin }) => Ok(Source::Url { url, origin }),
        Some(Reach::Pod { pod, location }) => {
            let (secret, key) = secret_of(kind);
            let database = location
                .database
                .clone()
                .filter(|d| !d.is_empty())
                .with_context(|| {
                    format!("the inventory found no database name in {secret}/{key}; {fix}")
                })?;
            Ok(Source::Exec {
                kube: Box::new(stores.kube().await?.clone()),
                pod,
                database,
                mysql: scheme.starts_with("mysql"),
            })
        }
        None if stores.inventory().is_none() => {
            bail!("{}; run the inventory step {fix}", stores.why_missing(kind))
        }
        None => bail!("{}; {fix}", stores.why_missing(kind)),
    }
}

fn figures_of(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// The dump an earlier attempt or step recorded.
pub(crate) fn recorded_dump(ctx: &StepContext, step: StepId) -> Option<DumpRecord> {
    serde_json::from_value(ctx.fact(step, FACT)?.clone()).ok()
}

/// Writes the record next to the dump and adds the dump to the manifest of the dump folder,
/// where `source` says where it came from.
pub(crate) fn keep_record(ctx: &StepContext, record: &DumpRecord, source: &str) -> Result<()> {
    write_record(record)?;
    let folder = &ctx.config.dumps.folder;
    let mysql = record.format == MYSQLDUMP_FORMAT;
    let versions = [
        ("server", record.server_version.clone()),
        (
            if mysql { "mysqldump" } else { "pg_dump" },
            record.pg_dump.clone(),
        ),
        ("format", record.format.clone()),
    ];
    artifacts::Manifest::record(
        folder,
        artifacts::Artifact {
            file: artifacts::relative(folder, &record.path),
            kind: if mysql {
                "mysql-dump"
            } else {
                "postgresql-dump"
            }
            .to_string(),
            source: source.to_string(),
            bytes: record.bytes,
            sha256: record.sha256.clone(),
            counts: record.rows.clone(),
            versions: versions
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            encrypted: false,
            step: ctx.step.id.0.to_string(),
            time: chrono::Utc::now(),
        },
    )
}

/// The system database dump to restore: the one `dump-system-database` recorded in this
/// journal, the one this step took itself on an earlier attempt, or one that arrived in the
/// dump folder with its record (taken by the other party's cutover).
fn system_dump(ctx: &StepContext) -> Option<DumpRecord> {
    recorded_dump(ctx, SYSTEM_DUMP_STEP)
        .or_else(|| recorded_dump(ctx, ctx.step.id))
        .or_else(|| read_record(&ctx.config.dumps.folder.join(Target::System.file())))
}

impl StepAction for DumpStep {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            let target = self.0;
            let to = ctx.config.dumps.folder.join(target.file());
            let reporter = ctx.sink.reporter();
            let report = reporter.report();
            let record = match source_of(ctx, target, &report).await? {
                Source::Manual(why) => return Ok(StepResult::failed(why, Map::new())),
                Source::Database(database) => {
                    ctx.sink
                        .info(format!("{} from {}", target.label(), database.shown()));
                    let dumped = database.dump(&to, &report).await;
                    close(ctx, database).await;
                    dumped?
                }
                Source::Url { url, origin } if url.starts_with("mysql") => {
                    ctx.sink
                        .info(format!("{} (MySQL) from {origin}", target.label()));
                    let to = ctx.config.dumps.folder.join(mysqldump::FILE);
                    mysqldump::dump_url(&url, &to, &report).await?
                }
                Source::Exec {
                    kube,
                    pod,
                    database,
                    mysql: true,
                } => {
                    let to = ctx.config.dumps.folder.join(mysqldump::FILE);
                    mysqldump::dump_exec(&kube, &pod, &database, &to, &report).await?
                }
                Source::Url { url, origin } => {
                    ctx.sink.info(format!("{} from {origin}", target.label()));
                    dump_url(&url, &to, &report).await?
                }
                Source::Exec {
                    kube,
                    pod,
                    database,
                    mysql: false,
                } => dump_exec(&kube, &pod, &PodDb::Named(database), &to, &report).await?,
            };
            let value = serde_json::to_value(&record)?;
            ctx.sink.record_fact(FACT, value.clone())?;
            keep_record(ctx, &record, &record.source)?;
            // The source's dumps need its components down the whole time.
            if target != Target::Migration
                && let Some(why) = super::scale::dump_while_up(ctx).await?
            {
                ctx.sink.error(&why);
                return Ok(StepResult::failed(why, figures_of(&value)));
            }
            Ok(StepResult::passed(record.summary(), figures_of(&value)))
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            let Some(record) = recorded_dump(ctx, ctx.step.id) else {
                return Ok(Recheck::DoesNotHold(
                    "no dump is recorded; the dump runs again".to_string(),
                ));
            };
            let report = artifacts::QUIET;
            Ok(match verify_file(&record, &report).await {
                Ok(()) => Recheck::Holds(format!("{} is whole", record.summary())),
                Err(e) => Recheck::DoesNotHold(format!("{e:#}")),
            })
        })
    }
}

/// The system database of the migration cluster or the destination (`role`): by the URL the
/// config names for it, else through a client pod in the cluster's namespace that reads
/// secret `system-database`/`URL` (see `infra::pgtarget`). The pod's progress goes to
/// `report`.
pub(crate) async fn system_database(
    ctx: &StepContext,
    role: ClusterRole,
    report: &Report<'_>,
) -> Result<PgTarget> {
    let store = ctx.config.system_database(role);
    if let Some(store) = store {
        return Ok(PgTarget::by_url(store.url_value()?, &store.key));
    }
    let cluster = ctx.config.cluster(role).with_context(|| {
        format!("the config has no {role} cluster, and no URL of its system database")
    })?;
    let kube = KubeCluster::connect(&cluster.target()).await?;
    (report.log)(format!(
        "no system database URL of the {role} is in the config: reaching it from inside the \
         cluster, through pod {CLIENT_POD} in namespace {}",
        cluster.namespace
    ));
    PgTarget::in_pod(
        kube,
        SYSTEM_DATABASE_SECRET,
        &ctx.config.dumps.pg_client_image,
        report.log,
    )
    .await
}

/// Lets go of `database`: deletes its client pod, if any; a failure to is a warning, since the
/// pod ends by itself after its deadline.
pub(crate) async fn close(ctx: &StepContext, database: PgTarget) {
    let through_pod = database.through_pod();
    match database.close().await {
        Ok(()) if through_pod => ctx.sink.info(format!("deleted pod {CLIENT_POD}")),
        Ok(()) => {}
        Err(e) => ctx.sink.warn(format!(
            "{e:#}; the pod ends by itself within {} h",
            CLIENT_POD_DEADLINE.as_secs() / 3600
        )),
    }
}

impl StepAction for RestoreStep {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            let started = Instant::now();
            let reporter = ctx.sink.reporter();
            let report = reporter.report();
            let record = match system_dump(ctx) {
                Some(record) => record,
                None => match dump_missing(ctx, &report).await? {
                    Ok(record) => record,
                    Err(result) => return Ok(result),
                },
            };
            ctx.sink.info(format!(
                "checking {} against its recorded SHA-256",
                record.path.display()
            ));
            if let Err(e) = verify_before_restore(&ctx.config.dumps.folder, &record, &report).await
            {
                let text = format!("{e:#}");
                ctx.sink.error(&text);
                return Ok(StepResult::failed(text, Map::new()));
            }
            let target = system_database(ctx, ClusterRole::MigrationCluster, &report).await?;
            let result = restore(ctx, &target, &record, &report, started).await;
            close(ctx, target).await;
            result
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            let Some(record) = system_dump(ctx) else {
                return Ok(Recheck::DoesNotHold(
                    "no dump of the system database is recorded".to_string(),
                ));
            };
            let target =
                system_database(ctx, ClusterRole::MigrationCluster, &artifacts::QUIET).await?;
            let differ = target.compare_counts(&record).await;
            close(ctx, target).await;
            let differ = differ?;
            let shown = target_shown(ctx);
            Ok(Recheck::unless_differ(&differ, || {
                format!(
                    "{shown} holds every row of the dump ({} tables)",
                    record.rows.len()
                )
            }))
        })
    }
}

/// How a re-check names the migration cluster's system database.
fn target_shown(ctx: &StepContext) -> String {
    ctx.config
        .system_database(ClusterRole::MigrationCluster)
        .map(|s| s.key.clone())
        .unwrap_or_else(|| "the migration cluster's system database".to_string())
}

/// What a restore of `record` into `target` records: where, from which file, how long, and how
/// every table's rows were checked.
pub(crate) fn restored_fact(
    target: &PgTarget,
    record: &DumpRecord,
    started: Instant,
    verified: &Verified,
) -> Map<String, Value> {
    let value = json!({
        "target": target.shown(),
        "file": record.path,
        "sha256": record.sha256,
        "tables": record.rows.len(),
        "rows": record.total_rows(),
        "jobs": if target.through_pod() { 1 } else { restore_jobs() },
        "seconds": started.elapsed().as_secs_f64(),
        "differences": verified.differences,
        "verified_by_counters": verified.by_counters,
        "verified_by_count": verified.by_count,
    });
    figures_of(&value)
}

/// The restore of `record` into `target`, once the dump is verified: asks before replacing
/// tables the target already holds, restores, and checks every table's rows.
async fn restore(
    ctx: &StepContext,
    target: &PgTarget,
    record: &DumpRecord,
    report: &Report<'_>,
    started: Instant,
) -> Result<StepResult> {
    let shown = target.shown();
    let occupied = target.occupied(record).await?;
    let replace = !occupied.is_empty();
    if replace {
        let database = target.database().await?;
        let phrase = format!("replace {database}");
        let question = Question {
            text: format!(
                "The target {shown} already holds {} of the dump's tables ({}). Restoring drops \
                 and replaces them with the dump's data. Type `{phrase}` to replace them, or \
                 stop and empty the database yourself: ",
                occupied.len(),
                crate::format::first_of(&occupied, 8),
            ),
            phrase: phrase.clone(),
            ..Question::default()
        };
        ctx.sink.warn(format!(
            "{shown} already holds {} of the dump's tables; asking before replacing them",
            occupied.len()
        ));
        if let Some(result) = ctx
            .confirm(question, "replacing the existing tables", "restored")
            .await?
        {
            return Ok(result);
        }
    }
    ctx.sink.info(format!(
        "restoring {} into {shown} with pg_restore --no-owner --no-acl{}",
        record.path.display(),
        if replace { " --clean --if-exists" } else { "" }
    ));
    target.restore(record, replace, report).await?;
    let verified = target.verify_restored(record).await?;
    let mut differ = verified.differences.clone();
    differ.extend(porta_objects_missing(target).await?);
    let mut fact = restored_fact(target, record, started, &verified);
    fact.insert("replaced".into(), json!(replace));
    let value = Value::Object(fact);
    ctx.sink.record_fact(RESTORE_FACT, value.clone())?;
    if differ.is_empty() {
        Ok(StepResult::passed(
            format!(
                "restored into {shown}: {} tables, {} rows, every count equal to the dump's",
                record.rows.len(),
                record.total_rows()
            ),
            figures_of(&value),
        ))
    } else {
        for d in &differ {
            ctx.sink.error(d);
        }
        Ok(StepResult::failed(
            format!(
                "the restore into {shown} is not what the dump holds: {}",
                differ.join("; ")
            ),
            figures_of(&value),
        ))
    }
}

/// porta's triggers and procedures a restored system database lacks: a dump of a database
/// without them (a conversion that did not create them) carries none (see [`SchemaObjects::missing`]).
pub(super) async fn porta_objects_missing(target: &PgTarget) -> Result<Vec<String>> {
    let objects = SchemaObjects::read(target).await?;
    Ok(objects
        .missing()
        .into_iter()
        .map(|m| {
            format!(
                "{m} (run `bundle exec rake multitenant:triggers db:procedures` in system-app \
                 once it runs on this database)"
            )
        })
        .collect())
}

/// What a restore does when no dump of the system database is recorded or in the dump folder
/// (it was the other party's to take, and has not arrived): when the config names the source
/// system database, it offers to dump it here first, after the operator types `dump now`;
/// otherwise it fails and says what to bring. Err is the step's result without a dump.
async fn dump_missing(
    ctx: &StepContext,
    report: &Report<'_>,
) -> Result<std::result::Result<DumpRecord, StepResult>> {
    let to = ctx.config.dumps.folder.join(Target::System.file());
    let missing = format!(
        "no dump of the system database is recorded (step {SYSTEM_DUMP_STEP}) and none is in \
         {} with its record ({}); without its checksum and row counts the restore cannot be \
         verified",
        to.display(),
        record_path(&to).display()
    );
    let store = ctx
        .config
        .system_database(ClusterRole::Source)
        .filter(|s| s.kind == StoreKind::SystemDatabase(DbKind::Postgresql));
    let Some(store) = store else {
        return Ok(Err(StepResult::failed(
            format!(
                "{missing}. Bring the dump and its .json record from whoever ran \
                 {SYSTEM_DUMP_STEP}, or set source.system_database_url to let this step dump it"
            ),
            Map::new(),
        )));
    };
    let phrase = "dump now";
    let question = Question {
        text: format!(
            "{missing}. The config names the source system database ({}): type `{phrase}` to \
             dump it to {} first, or stop and bring the dump: ",
            store.key,
            to.display()
        ),
        phrase: phrase.to_string(),
        ..Question::default()
    };
    if let Some(result) = ctx
        .confirm(question, "dumping the source", "dumped or restored")
        .await?
    {
        return Ok(Err(result));
    }
    let record = dump_url(&store.url_value()?, &to, report).await?;
    ctx.sink.record_fact(FACT, serde_json::to_value(&record)?)?;
    keep_record(ctx, &record, &record.source)?;
    ctx.sink.info(record.summary());
    Ok(Ok(record))
}
