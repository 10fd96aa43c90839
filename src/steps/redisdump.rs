//! The Redis steps: `dump-redis` (RDB snapshots of the source's Redis servers),
//! `restore-backend-redis` (the analytics into the destination's backend Redis, by logical
//! copy) and `verify-analytics` (compare, and copy back what is missing).
//!
//! `dump-redis` dumps each source Redis server once: backend storage, backend queues when they
//! are another server, and the system Redis (storage database 0 and queues database 1 of one
//! backend-redis are one server, one file). Where each is:
//! - inside the source namespace, as the inventory found it (`backend-redis:6379`), with a
//!   running pod: pod access. BGSAVE through `redis-cli` in the pod, and the file the server
//!   wrote (`CONFIG GET dir`/`dbfilename`) streams out through exec (`infra::rdb::snapshot`).
//!   This comes first: the server's own file needs no replication rights. When exec is not
//!   allowed (or the pod has no redis-cli), a port-forward to the pod's port 6379 and the
//!   replication fetch through it.
//! - else the URL of the config (`source.backend_redis_storage_url`, `..._queues_url`,
//!   `source.system_redis_url`), else the one of its secret: the replication fetch
//!   (`infra::rdb::fetch`, what `redis-cli --rdb` does), which managed services refuse.
//!
//! Files: `<dumps>/backend-redis.rdb`, `backend-redis-queues.rdb`, `system-redis.rdb`, each in
//! the manifest (kind `redis-rdb`, keys per database, server and RDB versions), and the fact
//! `redis-dumps` ([`RedisDumps`]). Backend storage is required; a queues or system Redis that
//! cannot be dumped is a warning and listed as not dumped, since only storage is restored.
//!
//! `restore-backend-redis` and `verify-analytics` read the source's keys from the source
//! backend storage itself when the config names it and it answers, else from the dump: the
//! file is first checked against the manifest (a changed byte stops the step, naming it),
//! then served by a local scratch `redis-server` (`infra::rdb::Scratch`) for the copy. The
//! restore checks that the destination's RESTORE reads the source's payloads (RDB versions),
//! records the destination's key count (fact `destination-before`), flushes the
//! destination URL's database (backend storage, database 0) and copies every key with
//! `infra::redis_copy::copy` (strings by value, MGET+PTTL → MSETNX or SET NX PXAT; other types
//! DUMP → RESTORE; each with its absolute expiry), then compares. The
//! verification compares, copies back the keys the destination lacks without touching one it
//! has (`infra::redis::copy_missing`), and compares again; minute statistics
//! (`.../minute:...`, TTL 180 s) missing from the destination are expected, values and TTLs
//! the destination changed since (it counts traffic) are reported, not failed.
//!
//! A dump does not change, so after a restore from one every difference fails the step. The
//! source itself may (its traffic not stopped yet, as in a rehearsal where stop-traffic is the
//! other party's): then differences after the copy are a warning saying so, and
//! `verify-analytics` copies back what appeared meanwhile.
//!
//! Resume re-checks: the dumps' files match the manifest; the destination compares equal to
//! the source (restore; from a live source, it lacks none of its keys but minute statistics),
//! or lacks none of its keys but minute statistics (verify).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::inventory::Location;
use super::stores::{Reach, SourceStores, config_key, secret_of};
use super::{Recheck, StepAction, StepContext, StepFuture, StepResult};
use crate::config::StoreKind;
use crate::format::bytes as human_bytes;
use crate::infra::artifacts::{self, Report};
use crate::infra::kube::KubeCluster;
use crate::infra::rdb::{self, Commander, Scratch};
use crate::infra::redis_copy::{self, CompareOptions, CompareReport, CopyOptions, DiffKind};
use crate::infra::url::redact;
use crate::runbook::{ClusterRole, StepId, ids};

/// The facts of the three steps.
pub const FACT: &str = "redis-dumps";
pub const RESTORE_FACT: &str = "restore";
pub const BEFORE_FACT: &str = "destination-before";
pub const VERIFY_FACT: &str = "verify";
/// The step whose dumps the restore reads.
pub const DUMP_STEP: StepId = ids::DUMP_REDIS;
/// The backend storage dump, in the dump folder.
pub const STORAGE_FILE: &str = "backend-redis.rdb";
/// Compare differences listed, enough to tell minute statistics from the rest.
const LISTED: usize = 100_000;
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// The port the Redis pods listen on.
const REDIS_PORT: u16 = 6379;

/// One RDB file the dump step wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RedisDump {
    /// Relative to the dump folder, as the manifest names it.
    pub file: String,
    pub path: PathBuf,
    /// What it holds: `backend storage (db 0)`, `backend queues (db 1)`, `system (db 1)`.
    pub stores: Vec<String>,
    /// The database of backend storage, when it holds it.
    pub storage_db: Option<i64>,
    /// `bgsave-exec`, `replication` or `replication-port-forward`.
    pub method: String,
    /// The pod, or the URL with its password masked.
    pub source: String,
    pub bytes: u64,
    pub sha256: String,
    pub server_version: String,
    /// The RDB version of the file's header.
    pub rdb_version: u16,
    /// The RDB version a server of that version writes, when known.
    pub server_rdb_version: Option<u16>,
    /// Keys per database at dump time (`db0` → n).
    pub keyspace: BTreeMap<String, u64>,
    pub seconds: f64,
}

impl RedisDump {
    pub fn keys(&self) -> u64 {
        self.keyspace.values().sum()
    }

    pub fn summary(&self) -> String {
        format!(
            "{} ({}): {}, Redis {}, RDB {}, {} keys",
            self.file,
            self.stores.join(", "),
            human_bytes(self.bytes),
            self.server_version,
            self.rdb_version,
            self.keys()
        )
    }
}

/// The fact of `dump-redis`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RedisDumps {
    pub dumps: Vec<RedisDump>,
    /// Stores that could not be dumped, with the reason.
    pub not_dumped: Vec<String>,
}

// ------------------------------------------------------------------------------ where

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Storage,
    Queues,
    System,
}

impl Role {
    const ALL: [Role; 3] = [Role::Storage, Role::Queues, Role::System];

    fn kind(self) -> StoreKind {
        match self {
            Role::Storage => StoreKind::BackendRedisStorage,
            Role::Queues => StoreKind::BackendRedisQueues,
            Role::System => StoreKind::SystemRedis,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Role::Storage => "backend storage",
            Role::Queues => "backend queues",
            Role::System => "system",
        }
    }

    fn file(self) -> &'static str {
        match self {
            Role::Storage => STORAGE_FILE,
            Role::Queues => "backend-redis-queues.rdb",
            Role::System => "system-redis.rdb",
        }
    }
}

enum Access {
    Pod(String),
    Url { url: String, origin: String },
}

/// One server to dump, and the stores it holds.
struct Instance {
    access: Access,
    identity: String,
    roles: Vec<(Role, i64)>,
}

fn db_of(text: Option<&str>) -> i64 {
    text.and_then(|d| d.parse().ok()).unwrap_or(0)
}

/// Where `role` is: its pod, its config URL, or its secret's URL; with the server's identity
/// and the database of the store. A server inside the namespace is dumped in its pod, whose
/// own tools match it, even when the config names its URL.
async fn reach(stores: &mut SourceStores<'_>, role: Role) -> Result<(Access, String, i64)> {
    let kind = role.kind();
    if let Some(location) = stores.location(kind).cloned()
        && location.location == Location::Internal
        && let Some(pod) = stores.running_pod(&location).await?
    {
        let identity = format!("pod {pod}");
        return Ok((
            Access::Pod(pod),
            identity,
            db_of(location.database.as_deref()),
        ));
    }
    match stores
        .find(kind, &format!("{} Redis", role.label()))
        .await?
    {
        Some(Reach::Url { url, origin }) => {
            let identity = rdb::address(&url)?;
            let db = rdb::database(&url)?;
            Ok((Access::Url { url, origin }, identity, db))
        }
        Some(Reach::Pod { pod, location }) => {
            let identity = format!("pod {pod}");
            Ok((
                Access::Pod(pod),
                identity,
                db_of(location.database.as_deref()),
            ))
        }
        None => {
            let (secret, key) = secret_of(kind);
            bail!(
                "the {} Redis is not in the config and the inventory did not find {secret}/{key} \
                 (run the inventory step), or set {} in the config (as env:NAME or file:PATH)",
                role.label(),
                config_key(kind)
            )
        }
    }
}

// ------------------------------------------------------------------------------ dump

async fn dump_instance(
    ctx: &StepContext,
    instance: &Instance,
    kube: Option<&KubeCluster>,
    report: &Report<'_>,
) -> Result<RedisDump> {
    let started = Instant::now();
    let first = instance.roles[0].0;
    let file = first.file().to_string();
    let to = ctx.config.dumps.folder.join(&file);
    let stores: Vec<String> = instance
        .roles
        .iter()
        .map(|(r, db)| format!("{} (db {db})", r.label()))
        .collect();
    let storage_db = instance
        .roles
        .iter()
        .find(|(r, _)| *r == Role::Storage)
        .map(|(_, db)| *db);
    let (method, source, facts, written) = match &instance.access {
        Access::Pod(pod) => {
            let kube = kube.context("the source cluster is not connected")?;
            let cmd = Commander::Exec { kube, pod };
            match cmd.text(&["PING"]).await {
                Ok(_) => {
                    (report.log)(format!(
                        "{}: BGSAVE in pod {pod}, then the file streams out through exec",
                        stores.join(", ")
                    ));
                    rdb::snapshot(&cmd, report).await?;
                    let facts = rdb::server_facts(&cmd).await?;
                    let path = rdb::rdb_path(&cmd, report).await;
                    let written = rdb::copy_out_of_pod(kube, pod, &path, &to, report).await?;
                    let source = format!("source cluster, pod {pod}, {path}");
                    ("bgsave-exec", source, facts, written)
                }
                Err(e) => {
                    (report.log)(format!(
                        "redis-cli in pod {pod} through exec does not answer ({e:#}); fetching \
                         the snapshot through a port-forward to its port {REDIS_PORT} instead"
                    ));
                    let forward = kube.port_forward(pod, REDIS_PORT).await?;
                    let url = format!("redis://127.0.0.1:{}/0", forward.local_port());
                    let facts = rdb::server_facts(&Commander::connect(&url).await?).await?;
                    let written = rdb::fetch(&url, &to, report).await?;
                    let source = format!("source cluster, pod {pod}, through a port-forward");
                    ("replication-port-forward", source, facts, written)
                }
            }
        }
        Access::Url { url, origin } => {
            (report.log)(format!(
                "{}: {} from {origin}, by the replication fetch",
                stores.join(", "),
                redact(url)
            ));
            let facts = rdb::server_facts(&Commander::connect(url).await?).await?;
            let written = rdb::fetch(url, &to, report).await?;
            ("replication", redact(url), facts, written)
        }
    };
    if let Some(expected) = facts.writes_rdb
        && expected != written.rdb_version
    {
        ctx.sink.warn(format!(
            "{file} has RDB version {}, where Redis {} writes {expected}",
            written.rdb_version, facts.version
        ));
    }
    Ok(RedisDump {
        file,
        path: to,
        stores,
        storage_db,
        method: method.to_string(),
        source,
        bytes: written.bytes,
        sha256: written.sha256,
        server_version: facts.version,
        rdb_version: written.rdb_version,
        server_rdb_version: facts.writes_rdb,
        keyspace: facts.keyspace,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn keep_in_manifest(ctx: &StepContext, dump: &RedisDump) -> Result<()> {
    let mut versions = BTreeMap::new();
    versions.insert("server".to_string(), dump.server_version.clone());
    versions.insert("rdb".to_string(), dump.rdb_version.to_string());
    versions.insert("method".to_string(), dump.method.clone());
    artifacts::Manifest::record(
        &ctx.config.dumps.folder,
        artifacts::Artifact {
            file: dump.file.clone(),
            kind: "redis-rdb".to_string(),
            source: dump.source.clone(),
            bytes: dump.bytes,
            sha256: dump.sha256.clone(),
            counts: dump.keyspace.clone(),
            versions,
            encrypted: false,
            step: ctx.step.id.0.to_string(),
            time: chrono::Utc::now(),
        },
    )
}

struct DumpStep;

impl StepAction for DumpStep {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            let reporter = ctx.sink.reporter();
            let report = reporter.report();
            let mut stores = SourceStores::new(ctx);
            let mut instances: Vec<Instance> = Vec::new();
            let mut fact = RedisDumps::default();
            for role in Role::ALL {
                match reach(&mut stores, role).await {
                    Ok((access, identity, db)) => {
                        match instances.iter_mut().find(|i| i.identity == identity) {
                            Some(same) => same.roles.push((role, db)),
                            None => instances.push(Instance {
                                access,
                                identity,
                                roles: vec![(role, db)],
                            }),
                        }
                    }
                    Err(e) if role == Role::Storage => {
                        return Ok(ctx.failed(format!("backend storage cannot be dumped: {e:#}")));
                    }
                    Err(e) => {
                        let text = format!("{} Redis not dumped: {e:#}", role.label());
                        ctx.sink.warn(&text);
                        fact.not_dumped.push(text);
                    }
                }
            }
            for instance in &instances {
                let holds_storage = instance.roles.iter().any(|(r, _)| *r == Role::Storage);
                match dump_instance(ctx, instance, stores.connected(), &report).await {
                    Ok(dump) => {
                        keep_in_manifest(ctx, &dump)?;
                        ctx.sink.info(dump.summary());
                        fact.dumps.push(dump);
                    }
                    Err(e) if holds_storage => {
                        return Ok(ctx.failed(format!("the dump of backend storage failed: {e:#}")));
                    }
                    Err(e) => {
                        let text = format!("{} not dumped: {e:#}", instance.identity);
                        ctx.sink.warn(&text);
                        fact.not_dumped.push(text);
                    }
                }
            }
            let value = serde_json::to_value(&fact)?;
            ctx.sink.record_fact(FACT, value.clone())?;
            let summary = fact
                .dumps
                .iter()
                .map(RedisDump::summary)
                .collect::<Vec<_>>()
                .join("; ");
            let summary = if fact.not_dumped.is_empty() {
                summary
            } else {
                format!("{summary}; not dumped: {}", fact.not_dumped.join("; "))
            };
            // The source's components must have stayed down the whole time.
            if let Some(why) = super::scale::dump_while_up(ctx).await? {
                ctx.sink.error(&why);
                return Ok(StepResult::failed(why, figures_of(&value)));
            }
            Ok(StepResult::passed(summary, figures_of(&value)))
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            let Some(dumps) = recorded_dumps(ctx) else {
                return Ok(Recheck::DoesNotHold(
                    "no Redis dump is recorded; the dump runs again".to_string(),
                ));
            };
            let files: Vec<String> = dumps.dumps.iter().map(|d| d.file.clone()).collect();
            let report = artifacts::QUIET;
            Ok(
                match artifacts::verify(&ctx.config.dumps.folder, &files, &report).await {
                    Ok(()) => Recheck::Holds(format!("{} match the manifest", files.join(", "))),
                    Err(e) => Recheck::DoesNotHold(format!("{e:#}")),
                },
            )
        })
    }
}

fn recorded_dumps(ctx: &StepContext) -> Option<RedisDumps> {
    serde_json::from_value(ctx.fact(DUMP_STEP, FACT)?.clone()).ok()
}

fn figures_of(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

// ------------------------------------------------------------------------------ the keys

/// Where the source's backend storage keys are read: the server itself, or its dump served by
/// a scratch Redis (kept alive as long as this is).
struct KeySource {
    url: String,
    shown: String,
    /// The server itself, which may still change (traffic not stopped), not a dump.
    live: bool,
    _scratch: Option<Scratch>,
}

/// The source backend storage when the config names it and it answers; else the dump, checked
/// against the manifest first. Err(text) is the step's failure.
async fn key_source(
    ctx: &StepContext,
    report: &Report<'_>,
) -> Result<std::result::Result<KeySource, String>> {
    let store = ctx
        .config
        .store(ClusterRole::Source, StoreKind::BackendRedisStorage);
    if let Some(store) = store {
        let url = store.url_value()?;
        match crate::infra::redis::probe(&url, PROBE_TIMEOUT).await {
            Ok(info) => {
                let shown = redact(&url);
                (report.log)(format!(
                    "reading the keys from the source backend storage {shown} (Redis {}, \
                     {} keys in all its databases)",
                    info.version, info.keys
                ));
                return Ok(Ok(KeySource {
                    url,
                    shown,
                    live: true,
                    _scratch: None,
                }));
            }
            Err(e) => (report.log)(format!(
                "{} does not answer ({e:#}); reading the keys from the dump instead",
                store.key
            )),
        }
    }
    let folder = &ctx.config.dumps.folder;
    let recorded =
        recorded_dumps(ctx).and_then(|d| d.dumps.into_iter().find(|d| d.storage_db.is_some()));
    let (file, db) = match &recorded {
        Some(d) => (d.file.clone(), d.storage_db.unwrap_or(0)),
        None => (STORAGE_FILE.to_string(), 0),
    };
    if recorded.is_none() && artifacts::Manifest::load(folder)?.get(&file).is_none() {
        return Ok(Err(format!(
            "no dump of backend storage is recorded (step {DUMP_STEP}) and the manifest of {} \
             does not list {file}; bring the dump folder with its manifest, or set \
             source.backend_redis_storage_url to copy from the source itself",
            folder.display()
        )));
    }
    (report.log)(format!("checking {file} against the manifest"));
    if let Err(e) = artifacts::verify(folder, std::slice::from_ref(&file), report).await {
        return Ok(Err(format!("{e:#}")));
    }
    let scratch = Scratch::start(&folder.join(&file), report).await?;
    let url = scratch.url_db(db);
    Ok(Ok(KeySource {
        shown: format!("{file} (database {db}, served by a scratch redis-server)"),
        url,
        live: false,
        _scratch: Some(scratch),
    }))
}

/// The destination backend storage URL and the source's keys; Err(text) when there are no
/// keys to read (see [`key_source`]).
async fn endpoints(
    ctx: &StepContext,
    report: &Report<'_>,
) -> Result<std::result::Result<(String, KeySource), String>> {
    let target = destination(ctx)?;
    Ok(key_source(ctx, report)
        .await?
        .map(|source| (target, source)))
}

/// A re-check's compare of the destination with the source's keys; Err(text) when there are
/// none to compare with.
async fn recompare(
    ctx: &StepContext,
) -> Result<std::result::Result<(KeySource, String, CompareReport), String>> {
    let (target, source) = match endpoints(ctx, &artifacts::QUIET).await? {
        Ok(found) => found,
        Err(text) => return Ok(Err(text)),
    };
    let compared = redis_copy::compare(&source.url, &target, &listed()).await?;
    Ok(Ok((source, target, compared)))
}

/// The destination backend storage URL, from the config.
fn destination(ctx: &StepContext) -> Result<String> {
    ctx.config
        .store(ClusterRole::Destination, StoreKind::BackendRedisStorage)
        .context(
            "destination.backend_redis_storage_url is not set; name the destination's backend \
             Redis there (REDIS_STORAGE_URL of secret backend-redis, as env:NAME or file:PATH)",
        )?
        .url_value()
}

fn is_minute_stat(key: &str) -> bool {
    key.starts_with("stats/") && key.contains("/minute:")
}

/// Missing keys that are not minute statistics, of a compare that listed its differences.
fn missing_that_matter(report: &CompareReport) -> u64 {
    let minute = report
        .differences
        .iter()
        .filter(|d| d.kind == DiffKind::Missing && is_minute_stat(&d.key))
        .count() as u64;
    report.missing.saturating_sub(minute)
}

fn listed() -> CompareOptions {
    CompareOptions {
        show: LISTED,
        ..CompareOptions::default()
    }
}

fn compare_figures(report: &CompareReport) -> Value {
    json!({
        "source_keys": report.source_keys,
        "target_keys": report.target_keys,
        "missing": report.missing,
        "missing_not_minute_stats": missing_that_matter(report),
        "extra": report.extra,
        "type_differs": report.type_differs,
        "value_differs": report.value_differs,
        "ttl_differs": report.ttl_differs,
        "first_differences": report.differences.iter().take(20).collect::<Vec<_>>(),
    })
}

/// A live source that changed during the copy: what it means, as a warning.
fn moved_warning(ctx: &StepContext, compared: &CompareReport) {
    let moved = compared.missing + compared.value_differs + compared.type_differs;
    if moved > 0 {
        ctx.sink.warn(format!(
            "{moved} keys of the source changed or appeared during the copy ({} missing, {} \
             other values): the source still takes traffic (were stop-traffic and scale-down \
             done?). verify-analytics copies back what is missing; counts made since are not \
             carried over",
            compared.missing, compared.value_differs
        ));
    }
}

async fn dbsize(url: &str) -> Result<u64> {
    let mut conn = crate::infra::redis::connect(url, PROBE_TIMEOUT).await?;
    redis::cmd("DBSIZE")
        .query_async(&mut conn)
        .await
        .map_err(|e| crate::infra::url::scrub_error(&e, url))
        .with_context(|| format!("DBSIZE on {} failed", redact(url)))
}

// ------------------------------------------------------------------------------ restore

struct RestoreStep;

impl StepAction for RestoreStep {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            let started = Instant::now();
            let reporter = ctx.sink.reporter();
            let report = reporter.report();
            let (target, source) = match endpoints(ctx, &report).await? {
                Ok(found) => found,
                Err(text) => return Ok(ctx.failed(text)),
            };
            let shown = redact(&target);
            // RESTORE refuses payloads newer than its own: say so before anything is flushed.
            let (from, to) = tokio::try_join!(
                redis_copy::Endpoint::connect("source", &source.url),
                redis_copy::Endpoint::connect("target", &target)
            )?;
            if let Some(why) = redis_copy::version_refusal(&from.info, &to.info) {
                return Ok(ctx.failed(format!("{why}; nothing was flushed or copied")));
            }
            // backend-listener and backend-worker write here while they run.
            match super::destination::require_paused(ctx).await? {
                Ok(seen) => ctx.sink.info(seen),
                Err(why) => return Ok(ctx.failed(why)),
            }
            let before = dbsize(&target).await?;
            if ctx.fact(ctx.step.id, BEFORE_FACT).is_none() {
                ctx.sink
                    .record_fact(BEFORE_FACT, json!({ "target": shown, "keys": before }))?;
            }
            ctx.sink.info(format!(
                "{shown} holds {before} keys (what the fresh install wrote); flushing that \
                 database"
            ));
            let mut conn = crate::infra::redis::connect(&target, PROBE_TIMEOUT).await?;
            let _: () = redis::cmd("FLUSHDB")
                .query_async(&mut conn)
                .await
                .map_err(|e| crate::infra::url::scrub_error(&e, &target))
                .with_context(|| format!("FLUSHDB on {shown} failed"))?;
            let total = dbsize(&source.url).await?;
            let sink = ctx.sink.clone();
            // The copy starts over into the flushed database: an earlier attempt's checkpoint
            // would make it refuse to start without resuming.
            let checkpoint = ctx
                .config
                .migration_dir()
                .join("restore-backend-redis.checkpoint.json");
            match std::fs::remove_file(&checkpoint) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(anyhow::Error::new(e).context(format!(
                        "cannot remove the earlier copy checkpoint {}",
                        checkpoint.display()
                    )));
                }
                _ => {}
            }
            let mut options = CopyOptions::new(checkpoint);
            options.progress = Some(Box::new(move |p: &redis_copy::CopyProgress| {
                sink.progress(p.keys, Some(total.max(p.keys)), "keys");
            }));
            ctx.sink.info(format!(
                "copying {total} keys from {} into {shown}",
                source.shown
            ));
            let copied = redis_copy::copy(&source.url, &target, options).await?;
            let compared = redis_copy::compare(&source.url, &target, &listed()).await?;
            let value = json!({
                "source": source.shown,
                "target": shown,
                "keys_before": before,
                "keys": copied.keys,
                "bytes": copied.bytes,
                "expired": copied.expired,
                "seconds": started.elapsed().as_secs_f64(),
                "copy_seconds": copied.elapsed_ms as f64 / 1000.0,
                "source_version": copied.source_version,
                "target_version": copied.target_version,
                "compare": compare_figures(&compared),
            });
            ctx.sink.record_fact(RESTORE_FACT, value.clone())?;
            let bad = if source.live {
                moved_warning(ctx, &compared);
                0
            } else {
                missing_that_matter(&compared) + compared.type_differs + compared.value_differs
            };
            if compared.ttl_differs + compared.extra > 0 {
                ctx.sink.warn(format!(
                    "{} TTLs differ and the destination has {} keys the source has not",
                    compared.ttl_differs, compared.extra
                ));
            }
            let summary = format!(
                "copied {} keys ({}) from {} into {shown} in {:.1} s; compare: {} missing, {} \
                 other values, {} other types",
                copied.keys,
                human_bytes(copied.bytes),
                source.shown,
                copied.elapsed_ms as f64 / 1000.0,
                compared.missing,
                compared.value_differs,
                compared.type_differs
            );
            if bad == 0 {
                Ok(StepResult::passed(summary, figures_of(&value)))
            } else {
                for d in compared.differences.iter().take(10) {
                    ctx.sink
                        .error(format!("{}: {} ({})", d.key, d.kind, d.detail));
                }
                Ok(StepResult::failed(summary, figures_of(&value)))
            }
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            let (source, target, compared) = match recompare(ctx).await? {
                Ok(found) => found,
                Err(text) => return Ok(Recheck::DoesNotHold(text)),
            };
            let moved =
                source.live && missing_that_matter(&compared) == 0 && compared.type_differs == 0;
            Ok(if compared.equal() || moved {
                Recheck::Holds(format!(
                    "{} holds every key of {} ({} keys)",
                    redact(&target),
                    source.shown,
                    compared.source_keys
                ))
            } else {
                Recheck::DoesNotHold(format!(
                    "{} differs from {}: {} differences",
                    redact(&target),
                    source.shown,
                    compared.total_differences()
                ))
            })
        })
    }
}

// ------------------------------------------------------------------------------ verify

struct VerifyStep;

impl StepAction for VerifyStep {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            let reporter = ctx.sink.reporter();
            let report = reporter.report();
            let (target, source) = match endpoints(ctx, &report).await? {
                Ok(found) => found,
                Err(text) => return Ok(ctx.failed(text)),
            };
            let shown = redact(&target);
            let first = redis_copy::compare(&source.url, &target, &listed()).await?;
            ctx.sink.info(format!(
                "{} compared with {shown}: {} keys, {} missing ({} of them minute statistics, \
                 which expire after three minutes)",
                source.shown,
                first.source_keys,
                first.missing,
                first.missing - missing_that_matter(&first)
            ));
            let sink = ctx.sink.clone();
            let copied = crate::infra::redis::copy_missing(&source.url, &target, None, |m| {
                sink.progress(m.scanned, Some(first.source_keys.max(m.scanned)), "keys")
            })
            .await?;
            let after = redis_copy::compare(&source.url, &target, &listed()).await?;
            let value = json!({
                "source": source.shown,
                "target": shown,
                "before": compare_figures(&first),
                "copied_back": copied,
                "after": compare_figures(&after),
            });
            ctx.sink.record_fact(VERIFY_FACT, value.clone())?;
            let changed = after.value_differs + after.ttl_differs;
            if changed > 0 {
                ctx.sink.warn(format!(
                    "{changed} keys have other values or TTLs in the destination than in the \
                     source (traffic counted on either side since the restore); they are left \
                     as they are"
                ));
            }
            let lacking = missing_that_matter(&after);
            let summary = format!(
                "{} source keys: {} were missing ({} minute statistics), {} copied back, {} \
                 expired meanwhile; now {} missing besides minute statistics, {} of another \
                 type, {} changed values or TTLs",
                first.source_keys,
                first.missing,
                first.missing - missing_that_matter(&first),
                copied.copied,
                copied.expired,
                lacking,
                after.type_differs,
                changed
            );
            if lacking == 0 && after.type_differs == 0 {
                Ok(StepResult::passed(summary, figures_of(&value)))
            } else {
                Ok(StepResult::failed(summary, figures_of(&value)))
            }
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            let (_, target, compared) = match recompare(ctx).await? {
                Ok(found) => found,
                Err(text) => return Ok(Recheck::DoesNotHold(text)),
            };
            let lacking = missing_that_matter(&compared);
            Ok(if lacking == 0 && compared.type_differs == 0 {
                Recheck::Holds(format!(
                    "{} lacks none of the {} source keys but minute statistics",
                    redact(&target),
                    compared.source_keys
                ))
            } else {
                Recheck::DoesNotHold(format!("{} lacks {lacking} source keys", redact(&target)))
            })
        })
    }
}

pub(super) static DUMP: &dyn StepAction = &DumpStep;
pub(super) static RESTORE: &dyn StepAction = &RestoreStep;
pub(super) static VERIFY: &dyn StepAction = &VerifyStep;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_minute_statistics_are_expected_to_be_missing() {
        assert!(is_minute_stat(
            "stats/{service:2}/cinstance:a1/metric:7/minute:202504231205"
        ));
        assert!(!is_minute_stat(
            "stats/{service:2}/cinstance:a1/metric:7/day:20250423"
        ));
        assert!(!is_minute_stat("application/minute:1"));
    }
}
