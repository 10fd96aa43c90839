//! `seed-destination-database`: RHOAM's freshly installed 3scale gets the migration cluster's
//! system database.
//!
//! The dump is the one `dump-migration-database` recorded in this journal, else the one in the
//! dump folder with its `.json` record (taken by the other party's cutover). It is checked
//! against the manifest (or its record's SHA-256) before anything else, so a changed byte
//! stops the step with nothing changed; so does a destination database that does not
//! answer.
//!
//! RHOAM must be paused by then (step `pause-destination`, Red Hat's on every path, since only
//! Red Hat may change RHOAM's namespaces on a managed cluster): its operator, the 3scale
//! operator and 3scale's components at 0 replicas ([`super::destination::require_paused`]).
//! Otherwise the step stops with nothing changed, naming what runs.
//!
//! The current destination database is dumped to
//! `<dumps>/destination-system-database-before-seed.dump` (with its record and manifest entry;
//! the fact `fallback`), the way to go back. An attempt that finds the fallback recorded by an
//! earlier one keeps it rather than dumping a database it may already have half replaced. Then
//! `pg_restore --clean --if-exists --no-owner --no-acl` replaces every object of the dump, and
//! every table's rows are checked against the dump's record (fact `seed`).
//!
//! The database is reached by the URL the config names (`destination.system_database_url`);
//! without one, from inside the cluster, through a client pod (`cutover-pg-client`) in the
//! destination namespace that reads the URL from secret `system-database`: the fallback dump
//! streams out of its pg_dump, the migration dump into its pg_restore over exec's stdin (see
//! `infra::pgtarget`). The pod is started, and the database must answer through it, before
//! anything changes; it is deleted when the step ends.
//!
//! Resume re-check: the destination database's row counts equal the dump's.

use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

use super::pgdump::{self, keep_record, recorded_dump, system_database};
use super::{Recheck, StepAction, StepContext, StepFuture, StepResult};
use crate::infra::artifacts;
use crate::infra::artifacts::Report;
use crate::infra::dump_record::{DumpRecord, read_record, record_path};
use crate::infra::pgdump::{verify_before_restore, verify_file};
use crate::infra::pgtarget::PgTarget;
use crate::infra::porta::{Release, SchemaObjects};
use crate::runbook::{ClusterRole, StepId, ids};

/// The step whose dump is seeded.
pub const MIGRATION_DUMP_STEP: StepId = ids::DUMP_MIGRATION_DATABASE;
/// Its file in the dump folder, where a dump the other party took arrives.
pub const MIGRATION_DUMP_FILE: &str = "migration-system-database.dump";
/// The destination database as it was before the seed.
pub const FALLBACK_FILE: &str = "destination-system-database-before-seed.dump";

/// The facts of this step.
pub const FALLBACK_FACT: &str = "fallback";
pub const SEED_FACT: &str = "seed";

struct Seed;

pub(super) static SEED: &dyn StepAction = &Seed;

/// The migration cluster's dump: recorded in this journal, else in the dump folder with its
/// record. Err says what to bring.
fn migration_dump(ctx: &StepContext) -> std::result::Result<DumpRecord, String> {
    let recorded = recorded_dump(ctx, MIGRATION_DUMP_STEP);
    let file = ctx.config.dumps.folder.join(MIGRATION_DUMP_FILE);
    recorded.or_else(|| read_record(&file)).ok_or_else(|| {
        format!(
            "no dump of the migration cluster's system database is recorded (step \
             {MIGRATION_DUMP_STEP}) and none is in {} with its record ({}); without its checksum \
             and row counts the seed cannot be verified. Run {MIGRATION_DUMP_STEP}, or bring \
             the dump and its .json record from whoever ran it. Nothing was changed",
            file.display(),
            record_path(&file).display()
        )
    })
}

/// The fallback dump of the destination database: the one an earlier attempt recorded (kept,
/// never taken again over a database that attempt may have half replaced), else a new one.
async fn fallback(ctx: &StepContext, target: &PgTarget, report: &Report<'_>) -> Result<DumpRecord> {
    let earlier: Option<DumpRecord> = ctx
        .fact(ctx.step.id.0, FALLBACK_FACT)
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    if let Some(record) = earlier {
        verify_file(&record, report).await.with_context(|| {
            format!(
                "the fallback dump an earlier attempt of this step took ({}) is not whole; it \
                 is not taken again, since that attempt may already have partly seeded the \
                 destination database. Put the file back (its SHA-256 is in this step's fact \
                 `{FALLBACK_FACT}` and in the manifest) and run the step again",
                record.path.display()
            )
        })?;
        ctx.sink.info(format!(
            "keeping the fallback dump of an earlier attempt: {}",
            record.summary()
        ));
        return Ok(record);
    }
    let to = ctx.config.dumps.folder.join(FALLBACK_FILE);
    ctx.sink.info(format!(
        "saving the destination database as it is now to {}",
        to.display()
    ));
    let record = target
        .dump(&to, report)
        .await
        .context("the fallback dump of the destination database failed; nothing was seeded")?;
    keep_record(
        ctx,
        &record,
        &format!(
            "destination system database before the seed: {}",
            record.source
        ),
    )?;
    ctx.sink
        .record_fact(FALLBACK_FACT, serde_json::to_value(&record)?)?;
    ctx.sink.info(format!("fallback: {}", record.summary()));
    Ok(record)
}

/// A failure once the data may have changed: the step's result, the destination still paused.
fn failed_paused(ctx: &StepContext, why: String) -> StepResult {
    ctx.sink.error(&why);
    StepResult::failed(
        format!("{why}. The destination stays paused (step pause-destination)"),
        Map::new(),
    )
}

impl StepAction for Seed {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            let started = Instant::now();
            let reporter = ctx.sink.reporter();
            let report = reporter.report();

            let record = match migration_dump(ctx) {
                Ok(record) => record,
                Err(why) => return Ok(StepResult::failed(why, Map::new())),
            };
            ctx.sink.info(format!(
                "checking {} against the manifest before anything changes",
                record.path.display()
            ));
            if let Err(e) = verify_before_restore(&ctx.config.dumps.folder, &record, &report).await
            {
                let text = format!("{e:#}. Nothing was changed");
                ctx.sink.error(&text);
                return Ok(StepResult::failed(text, Map::new()));
            }
            let target = system_database(ctx, ClusterRole::Destination, &report)
                .await
                .context("nothing was changed")?;
            let result = seed(ctx, &target, &record, &report, started).await;
            pgdump::close(ctx, target).await;
            result
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            let record = match migration_dump(ctx) {
                Ok(record) => record,
                Err(why) => return Ok(Recheck::DoesNotHold(why)),
            };
            let target = system_database(ctx, ClusterRole::Destination, &artifacts::QUIET).await?;
            let differ = target.compare_counts(&record).await;
            let shown = target.shown().to_string();
            pgdump::close(ctx, target).await;
            let differ = differ?;
            Ok(Recheck::unless_differ(&differ, || {
                format!(
                    "{shown} holds every row of {} ({} tables)",
                    record.path.display(),
                    record.rows.len()
                )
            }))
        })
    }
}

/// Why the migration cluster's dump (at schema version `migration`) must not replace the
/// destination's database: not the same 3scale release. None when they agree.
fn release_mismatch(
    migration: Option<&str>,
    destination: &SchemaObjects,
    shown: &str,
) -> Option<String> {
    let nothing = "Nothing was changed";
    let Some(theirs) = destination.schema_version.as_deref() else {
        return Some(format!(
            "{shown} has no schema_migrations, so its 3scale release cannot be compared with \
             the dump's: check that the config points at RHOAM's system database. {nothing}"
        ));
    };
    let Some(ours) = migration else {
        return Some(format!(
            "the migration cluster's dump holds no schema_migrations rows, so its 3scale \
             release cannot be compared with RHOAM's ({theirs}): dump the migration cluster's \
             system database again (dump-migration-database). {nothing}"
        ));
    };
    if ours == theirs {
        return None;
    }
    let name = |v: &str| {
        Release::by_schema_version(v).map_or_else(
            || format!("schema {v}, a release cutover does not know"),
            |r| format!("3scale {} (schema {v})", r.name),
        )
    };
    let (from, to) = (
        Release::by_schema_version(ours),
        Release::by_schema_version(theirs),
    );
    let fix = match (from, to) {
        (Some(from), Some(to)) if !from.hops_to(to).is_empty() => format!(
            "upgrade 3scale on the migration cluster {} → {} (step upgrade-3scale; one minor \
             version at a time, each running porta's migrations), then dump it again \
             (dump-migration-database) and run this step",
            from.name,
            from.hops_to(to).join(" → ")
        ),
        (Some(_), Some(to)) => format!(
            "the migration cluster runs a newer 3scale than RHOAM's {}: RHOAM must be upgraded \
             first, or the migration cluster must run RHOAM's version",
            to.name
        ),
        _ => format!(
            "bring both to the same release (known: {})",
            crate::infra::porta::known()
        ),
    };
    Some(format!(
        "the migration cluster's dump is {}, RHOAM's database is {}: seeding would give RHOAM a \
         database its code does not match. To go on, {fix}. {nothing}",
        name(ours),
        name(theirs)
    ))
}

/// The seed of `record` into the destination's database `target`, once the dump is verified:
/// checks the destination is paused, keeps a fallback dump, restores, and checks every table's
/// rows.
async fn seed(
    ctx: &StepContext,
    target: &PgTarget,
    record: &DumpRecord,
    report: &Report<'_>,
    started: Instant,
) -> Result<StepResult> {
    let shown = target.shown();
    // Reachable before anything changes; and what it holds, for the log.
    let occupied = target
        .occupied(record)
        .await
        .with_context(|| format!("{shown} does not answer; nothing was changed"))?;
    ctx.sink.info(format!(
        "{shown} holds {} of the dump's {} tables; they are replaced",
        occupied.len(),
        record.rows.len()
    ));

    // The same 3scale release on both sides, before anything changes.
    let destination = SchemaObjects::read(target)
        .await
        .with_context(|| format!("{shown} does not answer; nothing was changed"))?;
    let migration = crate::infra::pgdump::schema_version(&record.path).await?;
    if let Some(why) = release_mismatch(migration.as_deref(), &destination, shown) {
        ctx.sink.error(&why);
        return Ok(StepResult::failed(why, Map::new()));
    }
    ctx.sink.info(format!(
        "schema versions agree: the dump and {shown} are both at {} (3scale {})",
        destination.schema_version.as_deref().unwrap_or("?"),
        destination.release().map_or("?", |r| r.name)
    ));

    match super::destination::require_paused(ctx).await? {
        Ok(seen) => ctx.sink.info(seen),
        Err(why) => {
            ctx.sink.error(&why);
            return Ok(StepResult::failed(why, Map::new()));
        }
    }

    let fallback = match fallback(ctx, target, report).await {
        Ok(f) => f,
        Err(e) => return Ok(failed_paused(ctx, format!("{e:#}"))),
    };
    ctx.sink.info(format!(
        "restoring {} into {shown} with pg_restore --clean --if-exists --no-owner --no-acl",
        record.path.display()
    ));
    if let Err(e) = target.restore(record, true, report).await {
        let why = format!(
            "{e:#}; the database may be partly seeded: the fallback {} holds it as it was",
            fallback.path.display()
        );
        return Ok(failed_paused(ctx, why));
    }
    let verified = target.verify_restored(record).await?;
    let mut differ = verified.differences.clone();
    differ.extend(pgdump::porta_objects_missing(target).await?);
    let mut fact = pgdump::restored_fact(target, record, started, &verified);
    fact.insert("fallback".into(), json!(fallback.path));
    ctx.sink
        .record_fact(SEED_FACT, Value::Object(fact.clone()))?;
    let figures = fact;
    if !differ.is_empty() {
        let why = format!(
            "{shown} is not what the dump holds after the seed: {}",
            differ.join("; ")
        );
        let mut result = failed_paused(ctx, why);
        result.figures = figures;
        return Ok(result);
    }
    let summary = format!(
        "seeded {shown} from {}: {} tables, {} rows, every count equal to the dump's; fallback \
         in {}. The destination stays paused until restore-destination-3scale",
        record.path.display(),
        record.rows.len(),
        record.total_rows(),
        fallback.path.display(),
    );
    Ok(StepResult::passed(summary, figures))
}
