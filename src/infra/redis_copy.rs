//! Copying the keys of one Redis into another, and comparing two of them (`cutover redis copy`,
//! `cutover redis compare`). Tools and formats: `reference/datamove.md` §1, §3.
//!
//! # Copy
//!
//! The source is walked with `SCAN cursor [MATCH glob] COUNT 1000`; the keys of one SCAN reply
//! are one batch. A batch is read with one pipeline of `MGET` (all its keys) and `PTTL` (each):
//! strings come back with their values, other types as nil, and those are read with a second
//! pipeline of `DUMP`. Strings are written by value: those without expiry with one
//! `MSETNX` (`MSET` with replace), the others with `SET key value NX PXAT at`; other types with
//! `RESTORE key ttl payload [REPLACE] [ABSTTL]`, all in one pipeline.
//!
//! Up to [`IN_FLIGHT`] batches are under way at once, and finish in any order. They share
//! [`WIRES`] connections to each server: a batch takes a source connection for its reads and
//! gives it back as soon as they are answered, then takes a target connection for its writes
//! (first come, first served). So a batch never holds a connection to one server while it
//! waits on the other, one slow batch (a busy key, a large one) holds up no other, and both
//! servers keep work queued: while the target is slower (it rehashes its key table as it
//! grows), the source goes on reading batches ahead, and the other way round. The walk runs
//! ahead on a connection of its own by at most [`IN_FLIGHT`] SCAN replies, so memory holds at
//! most twice that many batches of keys, and that many of values, whatever the key count.
//!
//! Why not DUMP for everything: for the source, a DUMP (RDB encoding and CRC64) costs more than
//! a key's share of an MGET; on the target one MSETNX of many keys costs less than as many
//! RESTOREs or SETs (one command dispatch). Strings are most keys of a 3scale backend. Measured
//! on the source's CPU for 1M keys shaped like one (`scripts/bench-redis-copy`), beyond the 1.2
//! s SCAN itself takes: 2.5 s with DUMP+PTTL for every key, 2.1 s with MGET+PTTL and DUMP for
//! the other types, and 3.8 s with a Lua script returning TYPE, PTTL and the value or DUMP of
//! each key in one call (each `redis.call` and the conversion of its reply cost more than a
//! pipelined command), so there is no script.
//!
//! The batches talk to the servers over connections of their own (`resp::Wire`, in a
//! `resp::WirePool` per server): commands are written straight into a buffer and replies read
//! in place, which takes the client's CPU per key to well under half of what it was through
//! `redis::Pipeline` and `redis::Value` (it shares the machine's cores with the two servers).
//!
//! MSETNX sets all its keys or, when one exists, none: then each of its keys is written again
//! on its own with `SET key value NX`, so that only the keys the target has are compared.
//!
//! Expiry: the absolute time is computed once, when the batch is read (the time the pipeline
//! was sent plus PTTL), and written with `PXAT` / `ABSTTL` on targets that have them (Redis 6.2
//! / 5 and later), so a slow copy does not lengthen TTLs. Older targets get the remaining TTL
//! (`PX`, or RESTORE's ttl) computed just before the write; a key whose expiry passed meanwhile
//! is not written.
//!
//! Versions: a DUMP payload ends with the RDB version of the server that wrote it and a CRC64,
//! and RESTORE refuses payloads newer than its own RDB version. Both servers' versions are read
//! first (`INFO server`); a source that writes newer payloads than the target reads is refused
//! with the reason, unless per-type copying is asked for, which reads each key with its type's
//! commands (GET, HSCAN, SSCAN, ZSCAN, LRANGE, XRANGE) and writes it with SET/APPEND, HSET,
//! SADD, ZADD, RPUSH, XADD, plus `PEXPIREAT`. Each payload is checked again before it is
//! written. Keys whose payload is larger than the target accepts in one argument
//! (`proto-max-bulk-len`, 512 MiB by default) are written the per-type way, in chunks.
//!
//! Per-type writes go to a temporary key (`cutover:copy-tmp:<key>`) which is renamed onto the
//! key at the end (`RENAMENX`, or `RENAME` with replace), so a key is never seen half written.
//! Streams keep their entries, last ID and consumer groups with their last-delivered IDs, not
//! their pending-entry lists.
//!
//! Existing keys: `RESTORE` without `REPLACE` fails with BUSYKEY on a key the target already
//! has, and `SET ... NX` answers nil. Such a key is compared with the source (type, value, TTL
//! within [`SAME_TTL_MS`]): the same content is counted as already present and left as it is
//! (SCAN may return a key twice, and a resumed copy redoes the batches its crashed run had in
//! flight); a different one is an error naming it, and nothing is overwritten unless `replace`
//! is set.
//!
//! # Checkpoint and resume
//!
//! A batch is confirmed when every write of it answered OK. The checkpoint file holds the SCAN
//! cursor that follows the last batch confirmed with every batch before it confirmed too
//! (written to a temporary file and renamed; fsynced at most once a second and always at the
//! end): batches confirmed out of order wait until those before them are, and the checkpoint
//! never runs past a batch that still runs or failed. At most [`WINDOW`] batches are started
//! past the checkpoint, so a crash loses at most those; `resume` scans again from the
//! checkpoint's cursor, so the keys of those batches are read and written again. With
//! `replace` they are overwritten with the same source content; without it, each one the
//! crashed run had written is found busy, compared, and counted as already present when
//! identical. Either way a key written again ends identical to the source.
//!
//! A SCAN cursor only means something to the server that gave it, with the same hash table
//! seed: a resume is refused when the source restarted since the checkpoint (its `run_id`
//! changed), and when the target did (keys confirmed before may not have survived it).
//!
//! # Compare
//!
//! Walks the source the same way and reads TYPE, PTTL and DUMP of each key from both servers:
//! missing keys, other types, TTLs apart by more than the tolerance, and values. Equal payloads
//! mean equal values; different payloads may still hold equal values (another server version
//! encodes differently), so then both values are read with their type's commands and compared.
//! A second walk over the target finds the keys the source does not have.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use redis::Value;
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};

use super::resp::{
    CONNECT_TIMEOUT, RESPONSE_TIMEOUT, Reply, Wire, WirePool, array, bytes, check_ok, error_text,
    int, text,
};
use super::url::{redact, scrub_error};
use crate::error::bad_input;

/// Keys asked for per SCAN call.
pub const SCAN_COUNT: usize = 1000;
/// Batches under way at once: being read, waiting for a connection to the target, or being
/// written.
pub const IN_FLIGHT: usize = 32;
/// Connections to each server the batches share (besides the walk's own).
pub const WIRES: usize = 8;
/// Batches started and not yet under the checkpoint (running, or finished after one that still
/// runs): what a crash may make a resume redo.
pub const WINDOW: usize = 2 * IN_FLIGHT;
/// Largest payload one RESTORE may carry when the target does not say (`proto-max-bulk-len`).
pub const DEFAULT_MAX_PAYLOAD: u64 = 512 * 1024 * 1024;
/// TTLs closer than this count as the same when a busy key is checked against the source.
pub const SAME_TTL_MS: i64 = 2_000;
/// Elements read and written per command by the per-type copy.
const CHUNK: usize = 1000;
/// Bytes of a string read and appended per command by the per-type copy.
const STRING_CHUNK: usize = 8 * 1024 * 1024;
/// A RESTORE pipeline is cut into parts of about this many payload bytes.
const PIPELINE_BYTES: usize = 64 * 1024 * 1024;
/// Keys copied at once in per-type mode.
const PER_TYPE_CONCURRENCY: usize = 32;
const CHECKPOINT_FSYNC_EVERY: Duration = Duration::from_secs(1);
const CHECKPOINT_FORMAT: u32 = 1;
const TMP_PREFIX: &[u8] = b"cutover:copy-tmp:";

// ---------------------------------------------------------------------------------------------
// Versions

/// The RDB version a Redis release writes in its DUMP payloads (and the newest its RESTORE
/// reads), from `INFO server`'s `redis_version` and, for Valkey, `valkey_version`. None when
/// the version cannot be read.
pub fn rdb_version_of_server(redis_version: &str, valkey_version: Option<&str>) -> Option<u16> {
    if let Some(v) = valkey_version
        && let Some((major, _)) = major_minor(v)
        && major >= 9
    {
        return Some(80);
    }
    let (major, minor) = major_minor(redis_version)?;
    Some(match (major, minor) {
        (0..=2, _) => 6,
        (3, 0..=1) => 6,
        (3, _) => 7,
        (4, _) => 8,
        (5..=6, _) => 9,
        (7, 0..=1) => 10,
        (7, 2..=3) => 11,
        _ => 12,
    })
}

fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    Some((major, minor))
}

/// The RDB version written in a DUMP payload: the two little-endian bytes before the 8-byte
/// CRC64 that ends it. None when the payload is too short to be one.
pub fn payload_rdb_version(payload: &[u8]) -> Option<u16> {
    let n = payload.len();
    if n < 11 {
        return None;
    }
    Some(u16::from_le_bytes([payload[n - 10], payload[n - 9]]))
}

/// Why a target whose RESTORE reads up to `target_rdb` cannot take `payload`; None when it can.
pub fn payload_refusal(payload: &[u8], target_rdb: u16) -> Option<String> {
    match payload_rdb_version(payload) {
        None => Some(format!(
            "the source returned a DUMP payload of {} bytes, too short to carry an RDB version",
            payload.len()
        )),
        Some(v) if v > target_rdb => Some(format!(
            "the source writes DUMP payloads in RDB version {v}; the target reads up to RDB \
             version {target_rdb}, so RESTORE would refuse them"
        )),
        Some(_) => None,
    }
}

/// What copy and compare need to know about one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerInfo {
    /// `redis_version` (or `valkey_version` when there is one).
    pub version: String,
    /// RDB version of its DUMP payloads, the newest its RESTORE reads; None when unknown.
    pub rdb_version: Option<u16>,
    /// Its RESTORE takes ABSTTL (Redis 5 and later).
    pub abs_ttl: bool,
    /// Its SET takes PXAT (Redis 6.2 and later).
    pub set_pxat: bool,
    /// Changes whenever the server restarts.
    pub run_id: String,
}

/// Reads [`ServerInfo`] from the text of `INFO server`.
pub fn parse_server_info(text: &str) -> Result<ServerInfo> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
            .map(str::to_string)
    };
    let redis_version = field("redis_version").context("INFO server has no redis_version")?;
    let valkey_version = field("valkey_version");
    let rdb_version = rdb_version_of_server(&redis_version, valkey_version.as_deref());
    let abs_ttl = major_minor(&redis_version).is_some_and(|(major, _)| major >= 5);
    let set_pxat = major_minor(&redis_version).is_some_and(|v| v >= (6, 2));
    Ok(ServerInfo {
        version: valkey_version
            .map(|v| format!("valkey {v}"))
            .unwrap_or_else(|| redis_version.clone()),
        rdb_version,
        abs_ttl,
        set_pxat,
        run_id: field("run_id").unwrap_or_default(),
    })
}

/// Why RESTORE cannot carry keys from `source` to `target`; None when it can (or when a version
/// is unknown, and the payloads themselves are checked as they come).
pub fn version_refusal(source: &ServerInfo, target: &ServerInfo) -> Option<String> {
    let (Some(s), Some(t)) = (source.rdb_version, target.rdb_version) else {
        return None;
    };
    (s > t).then(|| {
        format!(
            "the source (Redis {}) writes DUMP payloads in RDB version {s}, newer than the \
             target (Redis {}) reads (RDB version {t}), so RESTORE would refuse every key; copy \
             key by key with the type commands instead (--per-type: slower, and streams lose \
             their pending-entry lists), or use a target of the source's version or newer",
            source.version, target.version
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Connections

/// One side of a copy or compare, connected.
#[derive(Clone)]
pub struct Endpoint {
    /// `source` or `target`, for messages.
    pub role: &'static str,
    /// The URL with its password masked.
    pub shown: String,
    pub info: ServerInfo,
    conn: MultiplexedConnection,
    url: String,
}

impl Endpoint {
    /// Connects and reads `INFO server`. A malformed URL or a server that does not answer is
    /// bad input naming the side and what to check.
    pub async fn connect(role: &'static str, url: &str) -> Result<Endpoint> {
        let shown = redact(url);
        // Pipelines are written in several segments; without NODELAY the later ones wait for
        // the server's delayed ACK.
        let tcp = redis::io::tcp::TcpSettings::default().set_nodelay(true);
        let client = redis::IntoConnectionInfo::into_connection_info(url)
            .map(|info| info.set_tcp_settings(tcp))
            .and_then(redis::Client::open)
            .map_err(|e| {
                bad_input(format!(
                    "the {role} URL {shown} is not a Redis URL ({}); expected \
                 redis://[USER:PASSWORD@]HOST:PORT/DB, or rediss:// for TLS",
                    scrub_error(&e, url)
                ))
            })?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let unreachable = |e: &dyn std::fmt::Display| {
            bad_input(format!(
                "the {role} Redis at {shown} did not answer: {e}; check the host and port, that \
                 it is reachable from this host, and the password"
            ))
        };
        let mut conn = tokio::time::timeout(
            CONNECT_TIMEOUT,
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|_| unreachable(&format!("no answer within {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| unreachable(&scrub_error(&e, url)))?;
        let text: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .map_err(|e| unreachable(&scrub_error(&e, url)))?;
        let info = parse_server_info(&text)
            .with_context(|| format!("the {role} Redis at {shown} gave an unexpected INFO"))?;
        Ok(Endpoint {
            role,
            shown,
            info,
            conn,
            url: url.to_string(),
        })
    }

    fn conn(&self) -> MultiplexedConnection {
        self.conn.clone()
    }

    /// A client error with the password scrubbed, saying which side it came from.
    fn error(&self, e: &redis::RedisError, doing: &str) -> anyhow::Error {
        anyhow!(
            "{} Redis at {}: {doing}: {}",
            self.role,
            self.shown,
            scrub_error(e, &self.url)
        )
    }

    async fn query(&self, cmd: &redis::Cmd, doing: &str) -> Result<Value> {
        cmd.query_async(&mut self.conn())
            .await
            .map_err(|e| self.error(&e, doing))
    }

    /// A pipeline's replies, one per command, server errors included.
    async fn pipeline(&self, pipe: &mut redis::Pipeline, doing: &str) -> Result<Vec<Value>> {
        let replies: Vec<redis::RedisResult<Value>> = pipe
            .ignore_errors()
            .query_async(&mut self.conn())
            .await
            .map_err(|e| self.error(&e, doing))?;
        Ok(replies
            .into_iter()
            .map(|r| match r {
                Ok(v) => v,
                Err(e) => Value::SimpleString(format!("-{}", scrub_error(&e, &self.url))),
            })
            .collect())
    }

    async fn scan(&self, cursor: u64, pattern: Option<&str>) -> Result<(u64, Vec<Vec<u8>>)> {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor);
        if let Some(p) = pattern {
            cmd.arg("MATCH").arg(p);
        }
        cmd.arg("COUNT").arg(SCAN_COUNT);
        let reply = self.query(&cmd, "SCAN").await?;
        let mut parts = array(reply).into_iter();
        let next = parts
            .next()
            .and_then(|v| text(&v))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| anyhow!("{} Redis: SCAN gave no cursor", self.role))?;
        let keys = parts
            .next()
            .map(array)
            .unwrap_or_default()
            .into_iter()
            .filter_map(bytes)
            .collect();
        Ok((next, keys))
    }
}

/// A key name as an operator reads it.
pub fn show_key(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Copy

/// Figures for a progress gauge.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    /// Keys written (or found already there) so far.
    pub keys: u64,
    /// Payload bytes written so far.
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Progress {
    pub fn keys_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.keys as f64 / secs
        } else {
            0.0
        }
    }
}

pub type ProgressFn = Box<dyn FnMut(&Progress) + Send>;

pub struct CopyOptions {
    /// SCAN MATCH glob; every key when None.
    pub pattern: Option<String>,
    /// Overwrite keys the target already has (RESTORE ... REPLACE).
    pub replace: bool,
    /// Continue from the checkpoint file instead of starting over.
    pub resume: bool,
    /// Copy every key with its type's commands instead of DUMP/RESTORE.
    pub per_type: bool,
    pub checkpoint: PathBuf,
    /// Set to stop: the batches in flight finish, the checkpoint is written, and the report
    /// says `interrupted`.
    pub stop: Arc<AtomicBool>,
    /// Called after every confirmed batch.
    pub progress: Option<ProgressFn>,
}

impl CopyOptions {
    pub fn new(checkpoint: impl Into<PathBuf>) -> CopyOptions {
        CopyOptions {
            pattern: None,
            replace: false,
            resume: false,
            per_type: false,
            checkpoint: checkpoint.into(),
            stop: Arc::new(AtomicBool::new(false)),
            progress: None,
        }
    }
}

/// How keys were written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CopyMethod {
    /// DUMP/RESTORE, with the absolute expiry when `abs_ttl`.
    Restore { abs_ttl: bool },
    /// Type commands for every key.
    PerType,
}

#[derive(Clone, Debug, Serialize)]
pub struct CopyReport {
    pub source_version: String,
    pub target_version: String,
    pub method: CopyMethod,
    /// Keys written by this run.
    pub keys: u64,
    /// Of `keys`, the strings written by value (`MSET`/`MSETNX`, or `SET` with the expiry)
    /// rather than with RESTORE.
    pub by_value_keys: u64,
    /// Payload (or value) bytes written by this run.
    pub bytes: u64,
    /// Of `keys`, those written with type commands because they were too large for one
    /// RESTORE (or because of `per_type`).
    pub per_type_keys: u64,
    /// Keys the target already had with the same content, left as they were.
    pub already_present: u64,
    /// Keys that expired or were deleted between SCAN and their read or write.
    pub expired: u64,
    /// Keys copied before the checkpoint this run resumed from.
    pub resumed_from_keys: u64,
    pub elapsed_ms: u64,
    /// Stopped before the end; the checkpoint says where to continue.
    pub interrupted: bool,
    pub checkpoint: PathBuf,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Checkpoint {
    format: u32,
    source: String,
    target: String,
    pattern: Option<String>,
    source_run_id: String,
    target_run_id: String,
    /// The SCAN cursor to continue from; every key the walk returned before it is restored.
    cursor: u64,
    done: bool,
    keys: u64,
    bytes: u64,
    updated: String,
}

impl Checkpoint {
    fn read(path: &Path) -> Result<Option<Checkpoint>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(bad_input(format!(
                    "cannot read the checkpoint {}: {e}",
                    path.display()
                )));
            }
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            bad_input(format!(
                "the checkpoint {} is not readable ({e}); it may have been cut short by a machine \
                 crash: delete it and copy again with --replace",
                path.display()
            ))
        })
    }
}

/// Writes checkpoints: every write renamed into place, fsynced at most once per
/// [`CHECKPOINT_FSYNC_EVERY`] and always when `durable` is asked for.
struct CheckpointWriter {
    path: PathBuf,
    tmp: PathBuf,
    last_sync: Option<Instant>,
}

impl CheckpointWriter {
    fn new(path: &Path) -> CheckpointWriter {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        CheckpointWriter {
            path: path.to_path_buf(),
            tmp: PathBuf::from(tmp),
            last_sync: None,
        }
    }

    fn write(&mut self, cp: &Checkpoint, durable: bool) -> Result<()> {
        let sync = durable
            || self
                .last_sync
                .is_none_or(|t| t.elapsed() >= CHECKPOINT_FSYNC_EVERY);
        let body = serde_json::to_vec_pretty(cp)?;
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&self.tmp)?;
            f.write_all(&body)?;
            f.write_all(b"\n")?;
            if sync {
                f.sync_all()?;
            }
            std::fs::rename(&self.tmp, &self.path)?;
            if sync
                && let Some(dir) = self.path.parent()
                && let Ok(d) = std::fs::File::open(if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                })
            {
                d.sync_all()?;
            }
            Ok(())
        };
        write().with_context(|| {
            format!(
                "cannot write the checkpoint {} (check the folder exists and is writable)",
                self.path.display()
            )
        })?;
        if sync {
            self.last_sync = Some(Instant::now());
        }
        Ok(())
    }
}

/// What one batch did.
#[derive(Debug, Default)]
struct BatchOutcome {
    keys: u64,
    by_value_keys: u64,
    bytes: u64,
    per_type_keys: u64,
    already_present: u64,
    expired: u64,
}

impl BatchOutcome {
    fn add(&mut self, o: &BatchOutcome) {
        self.keys += o.keys;
        self.by_value_keys += o.by_value_keys;
        self.bytes += o.bytes;
        self.per_type_keys += o.per_type_keys;
        self.already_present += o.already_present;
        self.expired += o.expired;
    }
}

/// Everything a batch task needs.
struct Ctx {
    source: Endpoint,
    target: Endpoint,
    replace: bool,
    per_type: bool,
    max_payload: u64,
    /// The batches' connections, none in per-type mode.
    wires: Option<Wires>,
}

/// The connections the batches read and write with.
struct Wires {
    source: WirePool,
    target: WirePool,
}

/// Copies the keys of `from` (those matching `options.pattern`) into `to`. See the module doc.
pub async fn copy(from: &str, to: &str, mut options: CopyOptions) -> Result<CopyReport> {
    let started = Instant::now();
    let source = Endpoint::connect("source", from).await?;
    let target = Endpoint::connect("target", to).await?;
    if source.shown == target.shown {
        return Err(bad_input(format!(
            "--from and --to are the same Redis ({}): a copy needs two",
            source.shown
        )));
    }
    if !options.per_type
        && let Some(reason) = version_refusal(&source.info, &target.info)
    {
        // The operator's choice of target and method, and nothing written yet: bad input.
        return Err(bad_input(format!("copy refused: {reason}")));
    }

    let existing = Checkpoint::read(&options.checkpoint)?;
    let mut checkpoint = match (existing, options.resume) {
        (Some(_), false) => {
            return Err(bad_input(format!(
                "the checkpoint {} of an earlier copy exists: add --resume to continue it, or \
                 delete it to start over",
                options.checkpoint.display()
            )));
        }
        (None, true) => {
            return Err(bad_input(format!(
                "--resume: there is no checkpoint at {}; check --checkpoint, or copy without \
                 --resume",
                options.checkpoint.display()
            )));
        }
        (Some(cp), true) => {
            check_resumable(&cp, &source, &target, options.pattern.as_deref())
                .with_context(|| format!("cannot resume from {}", options.checkpoint.display()))?;
            cp
        }
        (None, false) => Checkpoint {
            format: CHECKPOINT_FORMAT,
            source: source.shown.clone(),
            target: target.shown.clone(),
            pattern: options.pattern.clone(),
            source_run_id: source.info.run_id.clone(),
            target_run_id: target.info.run_id.clone(),
            cursor: 0,
            done: false,
            keys: 0,
            bytes: 0,
            updated: chrono::Utc::now().to_rfc3339(),
        },
    };
    let resumed_from_keys = checkpoint.keys;
    let mut writer = CheckpointWriter::new(&options.checkpoint);
    let method = if options.per_type {
        CopyMethod::PerType
    } else {
        CopyMethod::Restore {
            abs_ttl: target.info.abs_ttl,
        }
    };
    let mut report = CopyReport {
        source_version: source.info.version.clone(),
        target_version: target.info.version.clone(),
        method,
        keys: 0,
        by_value_keys: 0,
        bytes: 0,
        per_type_keys: 0,
        already_present: 0,
        expired: 0,
        resumed_from_keys,
        elapsed_ms: 0,
        interrupted: false,
        checkpoint: options.checkpoint.clone(),
    };
    if checkpoint.done {
        report.elapsed_ms = elapsed_ms(started);
        return Ok(report);
    }
    if !options.resume {
        writer.write(&checkpoint, true)?;
    }

    let max_payload = max_payload(&target).await;
    let wires = if options.per_type {
        None
    } else {
        let (source, target) = tokio::try_join!(
            WirePool::connect("source", from, &source.shown, WIRES),
            WirePool::connect("target", to, &target.shown, WIRES),
        )?;
        Some(Wires { source, target })
    };
    let ctx = Arc::new(Ctx {
        source: source.clone(),
        target,
        replace: options.replace,
        per_type: options.per_type,
        max_payload,
        wires,
    });
    // The walk runs ahead on a connection of its own, at most IN_FLIGHT replies ahead, so that
    // a SCAN never waits behind the read pipelines.
    let mut scanner = Wire::connect("source", from, &source.shown).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<(u64, Vec<Vec<u8>>)>>(IN_FLIGHT);
    let walk_stop = Arc::clone(&options.stop);
    let pattern = options.pattern.clone();
    let mut cursor = checkpoint.cursor;
    let walker = tokio::spawn(async move {
        while !walk_stop.load(Ordering::SeqCst) {
            let reply = scanner.scan(cursor, pattern.as_deref(), SCAN_COUNT).await;
            let next = reply.as_ref().map(|(next, _)| *next).ok();
            if tx.send(reply).await.is_err() {
                break;
            }
            match next {
                Some(0) | None => break,
                Some(n) => cursor = n,
            }
        }
    });
    let mut totals = BatchOutcome::default();
    let mut window = Window::default();
    // The running batches, each giving back its number, as they finish (in any order). They
    // run within this task, not as tasks of their own: the client then takes at most one core
    // whatever the runtime's threads, and leaves the others to the servers when they share a
    // machine (a batch's own work is small next to what it waits for).
    let mut running: FuturesUnordered<BoxFuture<'static, (usize, Result<BatchOutcome>)>> =
        FuturesUnordered::new();
    let mut walked = false;
    // The first error; no batch starts after it.
    let mut failure: Option<anyhow::Error> = None;

    loop {
        let stopping = options.stop.load(Ordering::SeqCst) || failure.is_some();
        let start = !walked && !stopping && running.len() < IN_FLIGHT && window.len() < WINDOW;
        if !start && running.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            Some((n, outcome)) = running.next() => {
                let outcome = match outcome {
                    Ok(o) => Some(o),
                    Err(e) => {
                        failure.get_or_insert(e);
                        None
                    }
                };
                window.finish(n, outcome);
            }
            scanned = rx.recv(), if start => {
                match scanned {
                    Some(Ok((next, keys))) => {
                        let n = window.start(next);
                        let ctx = Arc::clone(&ctx);
                        running.push(Box::pin(async move { (n, run_batch(&ctx, keys).await) }));
                        walked = next == 0;
                    }
                    Some(Err(e)) => failure = Some(e),
                    // The walk stopped because `stop` was set.
                    None => walked = true,
                }
                continue;
            }
        }
        let mut moved = false;
        while let Some(finished) = window.pop_finished() {
            match finished {
                Finished::Confirmed(next, o) => {
                    totals.add(&o);
                    checkpoint.cursor = next;
                    checkpoint.done = next == 0;
                    checkpoint.keys += o.keys + o.already_present;
                    checkpoint.bytes += o.bytes;
                    moved = true;
                }
                Finished::AfterFailure(o) => totals.add(&o),
            }
        }
        if moved {
            checkpoint.updated = chrono::Utc::now().to_rfc3339();
            writer.write(&checkpoint, checkpoint.done)?;
            if let Some(progress) = options.progress.as_mut() {
                progress(&Progress {
                    keys: checkpoint.keys - resumed_from_keys,
                    bytes: totals.bytes,
                    elapsed: started.elapsed(),
                });
            }
        }
    }
    drop(rx);
    walker.abort();
    writer.write(&checkpoint, true)?;
    report.keys = totals.keys;
    report.by_value_keys = totals.by_value_keys;
    report.bytes = totals.bytes;
    report.per_type_keys = totals.per_type_keys;
    report.already_present = totals.already_present;
    report.expired = totals.expired;
    report.elapsed_ms = elapsed_ms(started);
    if let Some(e) = failure {
        return Err(e.context(format!(
            "copy stopped after {} keys; the checkpoint {} holds where it stands",
            report.keys + report.already_present,
            options.checkpoint.display()
        )));
    }
    report.interrupted = !checkpoint.done;
    Ok(report)
}

/// The batches started and not yet under the checkpoint, in walk order: the cursor that
/// follows each, and once it has finished its outcome (None when it failed). Batches finish in
/// any order; the checkpoint moves over those finished without a gap before them, never past
/// one still running or failed.
#[derive(Default)]
struct Window {
    /// The number of the oldest batch.
    first: usize,
    batches: VecDeque<(u64, Option<Option<BatchOutcome>>)>,
    /// A failed batch left the window: the checkpoint stays before it for good.
    blocked: bool,
}

/// A batch leaving the [`Window`].
#[derive(Debug)]
enum Finished {
    /// Confirmed with every batch before it: the checkpoint moves to this cursor.
    Confirmed(u64, BatchOutcome),
    /// Finished after a batch that failed: its keys are counted, and written again by a
    /// resume.
    AfterFailure(BatchOutcome),
}

impl Window {
    fn len(&self) -> usize {
        self.batches.len()
    }

    /// A batch is started, whose SCAN reply gave the cursor `next`; gives its number.
    fn start(&mut self, next: u64) -> usize {
        self.batches.push_back((next, None));
        self.first + self.batches.len() - 1
    }

    /// Batch `n` finished, or failed (None).
    fn finish(&mut self, n: usize, outcome: Option<BatchOutcome>) {
        if let Some(slot) = n
            .checked_sub(self.first)
            .and_then(|i| self.batches.get_mut(i))
        {
            slot.1 = Some(outcome);
        }
    }

    /// The next batch to leave: the oldest, once finished.
    fn pop_finished(&mut self) -> Option<Finished> {
        loop {
            if !self.batches.front().is_some_and(|(_, done)| done.is_some()) {
                return None;
            }
            let (next, done) = self.batches.pop_front()?;
            self.first += 1;
            match done.flatten() {
                Some(o) if !self.blocked => return Some(Finished::Confirmed(next, o)),
                Some(o) => return Some(Finished::AfterFailure(o)),
                None => self.blocked = true,
            }
        }
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn check_resumable(
    cp: &Checkpoint,
    source: &Endpoint,
    target: &Endpoint,
    pattern: Option<&str>,
) -> Result<()> {
    if cp.format != CHECKPOINT_FORMAT {
        return Err(bad_input(format!(
            "it is of format {}, this cutover writes format {CHECKPOINT_FORMAT}",
            cp.format
        )));
    }
    if cp.source != source.shown || cp.target != target.shown || cp.pattern.as_deref() != pattern {
        return Err(bad_input(format!(
            "it records a copy from {} to {} (match {}), not from {} to {} (match {}); pass the \
             same --from, --to and --match, or another --checkpoint",
            cp.source,
            cp.target,
            cp.pattern.as_deref().unwrap_or("every key"),
            source.shown,
            target.shown,
            pattern.unwrap_or("every key"),
        )));
    }
    if cp.source_run_id != source.info.run_id {
        bail!(
            "the source restarted since the checkpoint was written, so its SCAN cursor no longer \
             means the same keys; delete the checkpoint and copy again with --replace"
        );
    }
    if cp.target_run_id != target.info.run_id {
        bail!(
            "the target restarted since the checkpoint was written, so keys confirmed before may \
             not have survived it; delete the checkpoint and copy again with --replace, then \
             check with `cutover redis compare`"
        );
    }
    Ok(())
}

/// The target's `proto-max-bulk-len`, or the default when CONFIG is not allowed.
async fn max_payload(target: &Endpoint) -> u64 {
    let mut cmd = redis::cmd("CONFIG");
    cmd.arg("GET").arg("proto-max-bulk-len");
    match target.query(&cmd, "CONFIG GET").await {
        Ok(v) => array(v)
            .get(1)
            .and_then(int)
            .and_then(|n| u64::try_from(n).ok())
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_MAX_PAYLOAD),
        Err(_) => DEFAULT_MAX_PAYLOAD,
    }
}

/// Copies one batch, with the shared connections or, in per-type mode, key by key.
async fn run_batch(ctx: &Ctx, keys: Vec<Vec<u8>>) -> Result<BatchOutcome> {
    if keys.is_empty() {
        return Ok(BatchOutcome::default());
    }
    match &ctx.wires {
        Some(wires) if !ctx.per_type => restore_batch(ctx, wires, keys).await,
        _ => per_type_batch(ctx, keys).await,
    }
}

/// What to do with one key after its write answered.
enum Followup {
    Busy(Vec<u8>),
    PerType(Vec<u8>),
}

/// One key read for writing: a string's value, or another type's DUMP payload.
struct Item {
    key: Vec<u8>,
    data: Vec<u8>,
    /// Absolute expiry in ms, None without one.
    expire_at: Option<i64>,
}

/// One command of a write pipeline, with the items it writes (indexes into `Written::items`).
enum WriteOp {
    /// Strings without expiry, in one `MSET` (replace) or `MSETNX`.
    Group(Vec<usize>),
    /// One string, `SET key value [NX] [PXAT at | PX left]`.
    Set(usize),
    /// One other key, `RESTORE key ttl payload [REPLACE] [ABSTTL]`.
    Restore(usize),
}

impl WriteOp {
    fn bytes(&self, items: &[Item]) -> usize {
        match self {
            WriteOp::Group(group) => group.iter().map(|&i| items[i].data.len()).sum(),
            WriteOp::Set(i) | WriteOp::Restore(i) => items[*i].data.len(),
        }
    }
}

/// Copies one batch: reads it on a source connection, given back before the writes, and writes
/// it on a target connection, given back before the followups.
async fn restore_batch(ctx: &Ctx, wires: &Wires, keys: Vec<Vec<u8>>) -> Result<BatchOutcome> {
    let mut out = BatchOutcome::default();
    let mut src = wires.source.take().await?;
    let read = read_batch(&mut src, keys, &mut out).await;
    wires.source.give(read.is_ok().then_some(src));
    let (strings, others) = read?;

    let mut followups = Vec::new();
    let mut items: Vec<Item> = Vec::with_capacity(strings.len() + others.len());
    let mut writes = Vec::new();
    let mut plain = Vec::new();
    let mut plain_bytes = 0usize;
    for item in strings {
        if item.data.len() as u64 > ctx.max_payload {
            followups.push(Followup::PerType(item.key));
            continue;
        }
        let at = items.len();
        if item.expire_at.is_some() {
            writes.push(WriteOp::Set(at));
        } else {
            plain_bytes += item.data.len();
            plain.push(at);
            if plain_bytes >= PIPELINE_BYTES {
                writes.push(WriteOp::Group(std::mem::take(&mut plain)));
                plain_bytes = 0;
            }
        }
        items.push(item);
    }
    if !plain.is_empty() {
        writes.push(WriteOp::Group(plain));
    }
    for item in others {
        if item.data.len() as u64 > ctx.max_payload {
            followups.push(Followup::PerType(item.key));
            continue;
        }
        if let Some(t) = ctx.target.info.rdb_version
            && let Some(reason) = payload_refusal(&item.data, t)
        {
            bail!(
                "copy refused at key {}: {reason}; copy with --per-type instead",
                show_key(&item.key)
            );
        }
        writes.push(WriteOp::Restore(items.len()));
        items.push(item);
    }

    let mut dst = wires.target.take().await?;
    let written = write_batch(ctx, &mut dst, &items, writes, &mut out, &mut followups).await;
    wires.target.give(written.is_ok().then_some(dst));
    written?;
    drop(items);

    let mut busy = Vec::new();
    for f in followups {
        match f {
            Followup::PerType(key) => match copy_key_per_type(ctx, &key).await? {
                KeyOutcome::Written(n) => {
                    out.keys += 1;
                    out.per_type_keys += 1;
                    out.bytes += n;
                }
                KeyOutcome::Expired => out.expired += 1,
                KeyOutcome::Same => out.already_present += 1,
                KeyOutcome::Busy => busy.push(key),
            },
            Followup::Busy(key) => {
                if same_key(&ctx.source, &ctx.target, &key, SAME_TTL_MS).await? {
                    out.already_present += 1;
                } else {
                    busy.push(key);
                }
            }
        }
    }
    busy_error(&busy)?;
    Ok(out)
}

/// Reads a batch: the strings with their values, the other keys with their DUMP payloads.
async fn read_batch(
    src: &mut Wire,
    keys: Vec<Vec<u8>>,
    out: &mut BatchOutcome,
) -> Result<(Vec<Item>, Vec<Item>)> {
    let (strings, others) = read_strings(src, keys, out).await?;
    let dumps = read_dumps(src, others, out).await?;
    Ok((strings, dumps))
}

/// Writes a batch. An MSETNX that found one of its keys set none: each is written on its own
/// (SET NX), so that only the keys the target has are compared. Only MSETNX groups come back
/// for that, so the second round ends it.
async fn write_batch(
    ctx: &Ctx,
    dst: &mut Wire,
    items: &[Item],
    mut writes: Vec<WriteOp>,
    out: &mut BatchOutcome,
    followups: &mut Vec<Followup>,
) -> Result<()> {
    loop {
        let mut retry = Vec::new();
        send_writes(ctx, dst, items, writes, out, followups, &mut retry).await?;
        if retry.is_empty() {
            return Ok(());
        }
        writes = retry.into_iter().map(WriteOp::Set).collect();
    }
}

/// Reads a batch with one pipeline, `MGET` of every key and `PTTL` of each: the strings with
/// their values and expiries, and the keys of other types (MGET gives them as nil) with their
/// expiries.
async fn read_strings(
    src: &mut Wire,
    keys: Vec<Vec<u8>>,
    out: &mut BatchOutcome,
) -> Result<(Vec<Item>, Vec<(Vec<u8>, Option<i64>)>)> {
    src.begin(keys.len() + 1);
    src.arg(b"MGET");
    for key in &keys {
        src.arg(key);
    }
    for key in &keys {
        src.cmd(&[b"PTTL", key]);
    }
    let read_at = now_ms();
    src.flush().await?;
    let n = src.array("MGET").await?;
    if n != keys.len() {
        bail!("source Redis: MGET gave {n} values for {} keys", keys.len());
    }
    let mut values = Vec::with_capacity(n);
    for _ in 0..n {
        values.push(match src.reply().await? {
            Reply::Bulk(data) => Some(data),
            _ => None,
        });
    }
    let mut strings = Vec::with_capacity(keys.len());
    let mut others = Vec::new();
    for (key, value) in keys.into_iter().zip(values) {
        let pttl = match src.reply().await? {
            Reply::Int(n) => n,
            Reply::Error(e) => bail!("source Redis: PTTL {}: {e}", show_key(&key)),
            _ => -2,
        };
        if pttl == -2 {
            out.expired += 1;
            continue;
        }
        let expire_at = (pttl >= 0).then(|| read_at + pttl);
        match value {
            Some(data) => strings.push(Item {
                key,
                data,
                expire_at,
            }),
            None => others.push((key, expire_at)),
        }
    }
    Ok((strings, others))
}

/// Reads keys of other types than string with one pipeline of `DUMP`. Their expiries are those
/// the first read found: reading PTTL again would cost the source as much per key as the DUMP
/// (a TTL changed in the milliseconds between is a change made while copying, as any other).
async fn read_dumps(
    src: &mut Wire,
    keys: Vec<(Vec<u8>, Option<i64>)>,
    out: &mut BatchOutcome,
) -> Result<Vec<Item>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    for (key, _) in &keys {
        src.cmd(&[b"DUMP", key]);
    }
    src.flush().await?;
    let mut items = Vec::with_capacity(keys.len());
    for (key, expire_at) in keys {
        match src.reply().await? {
            Reply::Bulk(data) => items.push(Item {
                key,
                data,
                expire_at,
            }),
            Reply::Error(e) => bail!("source Redis: DUMP {}: {e}", show_key(&key)),
            _ => out.expired += 1,
        }
    }
    Ok(items)
}

/// The TTL argument for a key expiring at `at`: the time itself on targets that take absolute
/// expiries, else the time left, computed now; None when that has passed.
fn ttl_arg(at: i64, absolute: bool) -> Option<i64> {
    if absolute {
        return Some(at);
    }
    let left = at - now_ms();
    (left > 0).then_some(left)
}

/// Sends `writes` in pipelines of about [`PIPELINE_BYTES`] and sorts out the replies: written
/// keys are counted, busy and too large ones become followups, the items of an MSETNX that set
/// nothing go to `retry`.
async fn send_writes(
    ctx: &Ctx,
    target: &mut Wire,
    items: &[Item],
    writes: Vec<WriteOp>,
    out: &mut BatchOutcome,
    followups: &mut Vec<Followup>,
    retry: &mut Vec<usize>,
) -> Result<()> {
    let info = &ctx.target.info;
    let mut sent: Vec<WriteOp> = Vec::new();
    let mut part_bytes = 0usize;
    let total = writes.len();
    for (n, write) in writes.into_iter().enumerate() {
        let mut skip = false;
        match &write {
            WriteOp::Group(group) => {
                target.begin(1 + 2 * group.len());
                target.arg(if ctx.replace { b"MSET" } else { b"MSETNX" });
                for &i in group {
                    target.arg(&items[i].key);
                    target.arg(&items[i].data);
                }
            }
            WriteOp::Set(i) => {
                let item = &items[*i];
                let ttl = match item.expire_at {
                    None => Some(None),
                    Some(at) => ttl_arg(at, info.set_pxat).map(Some),
                };
                match ttl {
                    None => skip = true,
                    Some(ttl) => {
                        let nx = !ctx.replace;
                        target.begin(3 + usize::from(nx) + if ttl.is_some() { 2 } else { 0 });
                        target.arg(b"SET");
                        target.arg(&item.key);
                        target.arg(&item.data);
                        if nx {
                            target.arg(b"NX");
                        }
                        if let Some(t) = ttl {
                            target.arg(if info.set_pxat { b"PXAT" } else { b"PX" });
                            target.int(t);
                        }
                    }
                }
            }
            WriteOp::Restore(i) => {
                let item = &items[*i];
                let ttl = match item.expire_at {
                    None => Some(0),
                    Some(at) => ttl_arg(at, info.abs_ttl),
                };
                match ttl {
                    None => skip = true,
                    Some(ttl) => {
                        let abs = item.expire_at.is_some() && info.abs_ttl;
                        target.begin(4 + usize::from(ctx.replace) + usize::from(abs));
                        target.arg(b"RESTORE");
                        target.arg(&item.key);
                        target.int(ttl);
                        target.arg(&item.data);
                        if ctx.replace {
                            target.arg(b"REPLACE");
                        }
                        if abs {
                            target.arg(b"ABSTTL");
                        }
                    }
                }
            }
        }
        if skip {
            out.expired += 1;
        } else {
            part_bytes += write.bytes(items);
            sent.push(write);
        }
        if !sent.is_empty() && (part_bytes >= PIPELINE_BYTES || n + 1 == total) {
            target.flush().await?;
            part_bytes = 0;
            for write in std::mem::take(&mut sent) {
                let reply = target.reply().await?;
                if let Reply::Array(_) = reply {
                    bail!("target Redis: an array in reply to a write");
                }
                written(ctx, items, write, &reply, out, followups, retry)?;
            }
        }
    }
    Ok(())
}

/// Sorts out the reply to one write.
fn written(
    ctx: &Ctx,
    items: &[Item],
    write: WriteOp,
    reply: &Reply,
    out: &mut BatchOutcome,
    followups: &mut Vec<Followup>,
    retry: &mut Vec<usize>,
) -> Result<()> {
    let by_value = u64::from(!matches!(write, WriteOp::Restore(_)));
    let count = |i: usize, out: &mut BatchOutcome| {
        out.keys += 1;
        out.by_value_keys += by_value;
        out.bytes += items[i].data.len() as u64;
    };
    match (&write, reply) {
        (WriteOp::Group(group), Reply::Error(e)) => {
            let first = group.first().map(|&i| show_key(&items[i].key));
            bail!(
                "target Redis: {} of {} keys (from {}): {e}",
                if ctx.replace { "MSET" } else { "MSETNX" },
                group.len(),
                first.unwrap_or_default()
            )
        }
        (WriteOp::Group(group), reply) => {
            if ctx.replace || *reply == Reply::Int(1) {
                for &i in group {
                    count(i, out);
                }
            } else {
                retry.extend_from_slice(group);
            }
        }
        (WriteOp::Set(i), Reply::Nil) => followups.push(Followup::Busy(items[*i].key.clone())),
        (WriteOp::Set(i), Reply::Error(e)) => {
            if is_size_error(e) {
                followups.push(Followup::PerType(items[*i].key.clone()));
            } else {
                bail!("target Redis: SET {}: {e}", show_key(&items[*i].key))
            }
        }
        (WriteOp::Set(i), _) => count(*i, out),
        (WriteOp::Restore(i), Reply::Error(e)) => {
            let key = &items[*i].key;
            if e.contains("BUSYKEY") {
                followups.push(Followup::Busy(key.clone()));
            } else if is_size_error(e) {
                followups.push(Followup::PerType(key.clone()));
            } else if e.contains("payload version") {
                bail!(
                    "the target refused the payload of key {}: {e}; the source's RDB version \
                     is newer than the target reads: copy with --per-type",
                    show_key(key)
                )
            } else {
                bail!("target Redis: RESTORE {}: {e}", show_key(key))
            }
        }
        (WriteOp::Restore(i), _) => count(*i, out),
    }
    Ok(())
}

fn is_size_error(e: &str) -> bool {
    let e = e.to_ascii_lowercase();
    e.contains("bulk length") || e.contains("too big") || e.contains("too large")
}

fn busy_error(busy: &[Vec<u8>]) -> Result<()> {
    if busy.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = busy.iter().take(5).map(|k| show_key(k)).collect();
    bail!(
        "{} key(s) already exist in the target with other content than the source, e.g. {}: \
         nothing was overwritten; copy with --replace to overwrite them, or empty the target",
        busy.len(),
        shown.join(", ")
    )
}

async fn per_type_batch(ctx: &Ctx, keys: Vec<Vec<u8>>) -> Result<BatchOutcome> {
    let results: Vec<(Vec<u8>, Result<KeyOutcome>)> = futures::stream::iter(keys)
        .map(|key| async move {
            let r = copy_key_per_type(ctx, &key).await;
            (key, r)
        })
        .buffer_unordered(PER_TYPE_CONCURRENCY)
        .collect()
        .await;
    let mut out = BatchOutcome::default();
    let mut busy = Vec::new();
    for (key, r) in results {
        match r? {
            KeyOutcome::Written(n) => {
                out.keys += 1;
                out.per_type_keys += 1;
                out.bytes += n;
            }
            KeyOutcome::Expired => out.expired += 1,
            KeyOutcome::Same => out.already_present += 1,
            KeyOutcome::Busy => busy.push(key),
        }
    }
    busy_error(&busy)?;
    Ok(out)
}

enum KeyOutcome {
    /// Written, with this many value bytes.
    Written(u64),
    Expired,
    /// The target had it with the same content.
    Same,
    /// The target has it with other content.
    Busy,
}

fn tmp_key(key: &[u8]) -> Vec<u8> {
    let mut k = TMP_PREFIX.to_vec();
    k.extend_from_slice(key);
    k
}

/// Copies one key with its type's commands, in chunks, through a temporary key.
async fn copy_key_per_type(ctx: &Ctx, key: &[u8]) -> Result<KeyOutcome> {
    let src = &ctx.source;
    let dst = &ctx.target;
    let mut head = redis::pipe();
    head.cmd("TYPE").arg(key).cmd("PTTL").arg(key);
    let read_at = now_ms();
    let replies = src.pipeline(&mut head, "TYPE and PTTL").await?;
    let kind = replies.first().and_then(text).unwrap_or_default();
    let pttl = replies.get(1).and_then(int).unwrap_or(-2);
    if kind == "none" || pttl == -2 {
        return Ok(KeyOutcome::Expired);
    }
    if !ctx.replace {
        let exists = dst
            .query(redis::cmd("EXISTS").arg(key), "EXISTS")
            .await
            .map(|v| int(&v) == Some(1))?;
        if exists {
            return Ok(if same_key(src, dst, key, SAME_TTL_MS).await? {
                KeyOutcome::Same
            } else {
                KeyOutcome::Busy
            });
        }
    }
    let tmp = tmp_key(key);
    dst.query(redis::cmd("DEL").arg(&tmp), "DEL").await?;
    let written = match kind.as_str() {
        "string" => copy_string(src, dst, key, &tmp).await?,
        "hash" => copy_scanned(src, dst, key, &tmp, "HSCAN", "HSET", false).await?,
        "set" => copy_scanned(src, dst, key, &tmp, "SSCAN", "SADD", false).await?,
        "zset" => copy_scanned(src, dst, key, &tmp, "ZSCAN", "ZADD", true).await?,
        "list" => copy_list(src, dst, key, &tmp).await?,
        "stream" => copy_stream(src, dst, key, &tmp).await?,
        other => bail!(
            "key {} is of type {other}, which cannot be copied with type commands",
            show_key(key)
        ),
    };
    let Some(written) = written else {
        dst.query(redis::cmd("DEL").arg(&tmp), "DEL").await?;
        return Ok(KeyOutcome::Expired);
    };
    if pttl >= 0 {
        dst.query(
            redis::cmd("PEXPIREAT").arg(&tmp).arg(read_at + pttl),
            "PEXPIREAT",
        )
        .await?;
    }
    let rename = if ctx.replace { "RENAME" } else { "RENAMENX" };
    let reply = dst
        .pipeline(redis::pipe().cmd(rename).arg(&tmp).arg(key), rename)
        .await?;
    match reply.first() {
        Some(v) if error_text(v).is_some_and(|e| e.contains("no such key")) => {
            Ok(KeyOutcome::Expired)
        }
        Some(v) if error_text(v).is_some() => {
            bail!(
                "target Redis: {rename} {}: {}",
                show_key(key),
                error_text(v).unwrap_or("")
            )
        }
        Some(Value::Int(0)) => {
            dst.query(redis::cmd("DEL").arg(&tmp), "DEL").await?;
            Ok(if same_key(src, dst, key, SAME_TTL_MS).await? {
                KeyOutcome::Same
            } else {
                KeyOutcome::Busy
            })
        }
        _ => Ok(KeyOutcome::Written(written)),
    }
}

/// Some(bytes written), or None when the key vanished from the source meanwhile.
async fn copy_string(
    src: &Endpoint,
    dst: &Endpoint,
    key: &[u8],
    tmp: &[u8],
) -> Result<Option<u64>> {
    let len = src
        .query(redis::cmd("STRLEN").arg(key), "STRLEN")
        .await
        .map(|v| int(&v).unwrap_or(0))?;
    let len = usize::try_from(len).unwrap_or(0);
    let mut at = 0usize;
    loop {
        let end = (at + STRING_CHUNK).min(len);
        let part = if len == 0 {
            Vec::new()
        } else {
            let reply = src
                .query(
                    redis::cmd("GETRANGE").arg(key).arg(at).arg(end - 1),
                    "GETRANGE",
                )
                .await?;
            bytes(reply).unwrap_or_default()
        };
        dst.query(redis::cmd("APPEND").arg(tmp).arg(&part), "APPEND")
            .await?;
        at = end;
        if at >= len {
            break;
        }
    }
    let exists = src
        .query(redis::cmd("EXISTS").arg(key), "EXISTS")
        .await
        .map(|v| int(&v) == Some(1))?;
    Ok(exists.then_some(len as u64))
}

/// Hashes, sets and sorted sets: HSCAN/SSCAN/ZSCAN in chunks, each written with one
/// HSET/SADD/ZADD. Scores are passed on as the source formats them, so no precision is lost.
async fn copy_scanned(
    src: &Endpoint,
    dst: &Endpoint,
    key: &[u8],
    tmp: &[u8],
    scan: &str,
    write: &str,
    score_first: bool,
) -> Result<Option<u64>> {
    let mut cursor = 0u64;
    let mut written = 0u64;
    let mut any = false;
    loop {
        let reply = src
            .query(
                redis::cmd(scan)
                    .arg(key)
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(CHUNK),
                scan,
            )
            .await?;
        let mut parts = array(reply).into_iter();
        cursor = parts
            .next()
            .and_then(|v| text(&v))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("source Redis: {scan} gave no cursor"))?;
        let items: Vec<Vec<u8>> = parts
            .next()
            .map(array)
            .unwrap_or_default()
            .into_iter()
            .filter_map(bytes)
            .collect();
        if !items.is_empty() {
            any = true;
            let mut cmd = redis::cmd(write);
            cmd.arg(tmp);
            if score_first {
                for pair in items.chunks(2) {
                    if let [member, score] = pair {
                        cmd.arg(score).arg(member);
                    }
                }
            } else {
                for item in &items {
                    cmd.arg(item);
                }
            }
            written += items.iter().map(|i| i.len() as u64).sum::<u64>();
            let reply = dst.query(&cmd, write).await?;
            check_ok(&reply, write)?;
        }
        if cursor == 0 {
            break;
        }
    }
    Ok(any.then_some(written))
}

async fn copy_list(src: &Endpoint, dst: &Endpoint, key: &[u8], tmp: &[u8]) -> Result<Option<u64>> {
    let mut at = 0usize;
    let mut written = 0u64;
    loop {
        let reply = src
            .query(
                redis::cmd("LRANGE").arg(key).arg(at).arg(at + CHUNK - 1),
                "LRANGE",
            )
            .await?;
        let items: Vec<Vec<u8>> = array(reply).into_iter().filter_map(bytes).collect();
        if items.is_empty() {
            break;
        }
        let mut cmd = redis::cmd("RPUSH");
        cmd.arg(tmp);
        for item in &items {
            cmd.arg(item);
            written += item.len() as u64;
        }
        dst.query(&cmd, "RPUSH").await?;
        at += items.len();
        if items.len() < CHUNK {
            break;
        }
    }
    Ok((at > 0).then_some(written))
}

/// Stream entries in order, then the last ID and the consumer groups with their last-delivered
/// IDs. Pending-entry lists are not copied.
async fn copy_stream(
    src: &Endpoint,
    dst: &Endpoint,
    key: &[u8],
    tmp: &[u8],
) -> Result<Option<u64>> {
    let mut start = "-".to_string();
    let mut written = 0u64;
    loop {
        let reply = src
            .query(
                redis::cmd("XRANGE")
                    .arg(key)
                    .arg(&start)
                    .arg("+")
                    .arg("COUNT")
                    .arg(CHUNK),
                "XRANGE",
            )
            .await?;
        let entries = parse_entries(reply);
        if entries.is_empty() {
            break;
        }
        let mut pipe = redis::pipe();
        for (id, fields) in &entries {
            let cmd = pipe.cmd("XADD").arg(tmp).arg(id);
            for (f, v) in fields {
                cmd.arg(f).arg(v);
                written += (f.len() + v.len()) as u64;
            }
        }
        for reply in dst.pipeline(&mut pipe, "XADD").await? {
            check_ok(&reply, "XADD")?;
        }
        let n = entries.len();
        if let Some((last, _)) = entries.last() {
            start = format!("({last}");
        }
        if n < CHUNK {
            break;
        }
    }
    let info = match src
        .query(redis::cmd("XINFO").arg("STREAM").arg(key), "XINFO STREAM")
        .await
    {
        Ok(v) => v,
        Err(_) => return Ok(None),
    };
    let info = pairs(info);
    let last_id = info.get("last-generated-id").cloned().unwrap_or_default();
    if start == "-" {
        // An empty stream: create it with one entry at its last ID, then delete the entry.
        if last_id.is_empty() || last_id == "0-0" {
            return Ok(None);
        }
        dst.query(
            redis::cmd("XADD").arg(tmp).arg(&last_id).arg("_").arg("_"),
            "XADD",
        )
        .await?;
        dst.query(redis::cmd("XDEL").arg(tmp).arg(&last_id), "XDEL")
            .await?;
    } else if !last_id.is_empty() {
        let reply = dst
            .pipeline(redis::pipe().cmd("XSETID").arg(tmp).arg(&last_id), "XSETID")
            .await?;
        if let Some(r) = reply.first() {
            check_ok(r, "XSETID")?;
        }
    }
    let groups = src
        .query(redis::cmd("XINFO").arg("GROUPS").arg(key), "XINFO GROUPS")
        .await?;
    for group in array(groups) {
        let g = pairs(group);
        if let (Some(name), Some(id)) = (g.get("name"), g.get("last-delivered-id")) {
            let reply = dst
                .pipeline(
                    redis::pipe()
                        .cmd("XGROUP")
                        .arg("CREATE")
                        .arg(tmp)
                        .arg(name)
                        .arg(id),
                    "XGROUP CREATE",
                )
                .await?;
            if let Some(r) = reply.first() {
                check_ok(r, "XGROUP CREATE")?;
            }
        }
    }
    Ok(Some(written))
}

type Entry = (String, Vec<(Vec<u8>, Vec<u8>)>);

fn parse_entries(reply: Value) -> Vec<Entry> {
    array(reply)
        .into_iter()
        .filter_map(|entry| {
            let mut parts = array(entry).into_iter();
            let id = parts.next().and_then(|v| text(&v))?;
            let flat: Vec<Vec<u8>> = parts
                .next()
                .map(array)
                .unwrap_or_default()
                .into_iter()
                .filter_map(bytes)
                .collect();
            let fields = flat
                .chunks(2)
                .filter_map(|p| match p {
                    [f, v] => Some((f.clone(), v.clone())),
                    _ => None,
                })
                .collect();
            Some((id, fields))
        })
        .collect()
}

/// A flat `name value name value` reply as a map of the text values.
fn pairs(v: Value) -> BTreeMap<String, String> {
    let items = array(v);
    items
        .chunks(2)
        .filter_map(|p| match p {
            [k, v] => Some((text(k)?, text(v).unwrap_or_default())),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Values and comparison

/// A key's value read with its type's commands, in a form where equal values compare equal
/// whatever their encoding.
#[derive(Debug, PartialEq)]
enum TypedValue {
    String(Vec<u8>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    /// Member to score; scores compared as numbers, since versions format them differently.
    ZSet(BTreeMap<Vec<u8>, f64>),
    List(Vec<Vec<u8>>),
    Stream(Vec<Entry>),
    /// Gone, or of a type that cannot be read this way (compared by payload only).
    Other,
}

async fn read_value(end: &Endpoint, key: &[u8], kind: &str) -> Result<TypedValue> {
    let flat = |v: Value| -> Vec<Vec<u8>> { array(v).into_iter().filter_map(bytes).collect() };
    let two = |items: Vec<Vec<u8>>| -> Vec<(Vec<u8>, Vec<u8>)> {
        items
            .chunks(2)
            .filter_map(|p| match p {
                [a, b] => Some((a.clone(), b.clone())),
                _ => None,
            })
            .collect()
    };
    Ok(match kind {
        "string" => TypedValue::String(
            bytes(end.query(redis::cmd("GET").arg(key), "GET").await?).unwrap_or_default(),
        ),
        "hash" => TypedValue::Hash(
            two(flat(
                end.query(redis::cmd("HGETALL").arg(key), "HGETALL").await?,
            ))
            .into_iter()
            .collect(),
        ),
        "set" => TypedValue::Set(
            flat(
                end.query(redis::cmd("SMEMBERS").arg(key), "SMEMBERS")
                    .await?,
            )
            .into_iter()
            .collect(),
        ),
        "zset" => {
            let reply = end
                .query(
                    redis::cmd("ZRANGE")
                        .arg(key)
                        .arg(0)
                        .arg(-1)
                        .arg("WITHSCORES"),
                    "ZRANGE",
                )
                .await?;
            TypedValue::ZSet(
                two(flat(reply))
                    .into_iter()
                    .map(|(m, s)| {
                        let score = String::from_utf8_lossy(&s)
                            .parse::<f64>()
                            .unwrap_or(f64::NAN);
                        (m, score)
                    })
                    .collect(),
            )
        }
        "list" => TypedValue::List(flat(
            end.query(redis::cmd("LRANGE").arg(key).arg(0).arg(-1), "LRANGE")
                .await?,
        )),
        "stream" => TypedValue::Stream(parse_entries(
            end.query(redis::cmd("XRANGE").arg(key).arg("-").arg("+"), "XRANGE")
                .await?,
        )),
        _ => TypedValue::Other,
    })
}

/// One key as read for comparison.
struct KeyState {
    kind: String,
    /// PTTL: -1 no expiry, -2 gone.
    pttl: i64,
    payload: Option<Vec<u8>>,
}

async fn read_states(end: &Endpoint, keys: &[Vec<u8>]) -> Result<Vec<KeyState>> {
    let mut pipe = redis::Pipeline::with_capacity(keys.len() * 3);
    for key in keys {
        pipe.cmd("TYPE")
            .arg(key)
            .cmd("PTTL")
            .arg(key)
            .cmd("DUMP")
            .arg(key);
    }
    let replies = end.pipeline(&mut pipe, "TYPE, PTTL and DUMP").await?;
    let mut it = replies.into_iter();
    let mut out = Vec::with_capacity(keys.len());
    while let (Some(t), Some(p), Some(d)) = (it.next(), it.next(), it.next()) {
        out.push(KeyState {
            kind: text(&t).unwrap_or_else(|| "none".into()),
            pttl: int(&p).unwrap_or(-2),
            payload: if error_text(&d).is_some() {
                None
            } else {
                bytes(d)
            },
        });
    }
    if out.len() != keys.len() {
        bail!(
            "{} Redis gave {} answers for {} keys",
            end.role,
            out.len(),
            keys.len()
        );
    }
    Ok(out)
}

/// How a key differs between source and target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiffKind {
    /// In the source, not in the target.
    Missing,
    /// In the target, not in the source.
    Extra,
    Type,
    Value,
    Ttl,
}

impl std::fmt::Display for DiffKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DiffKind::Missing => "missing",
            DiffKind::Extra => "extra",
            DiffKind::Type => "type",
            DiffKind::Value => "value",
            DiffKind::Ttl => "ttl",
        })
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Difference {
    pub key: String,
    pub kind: DiffKind,
    pub detail: String,
}

pub struct CompareOptions {
    pub pattern: Option<String>,
    /// TTLs apart by at most this much are equal.
    pub ttl_tolerance: Duration,
    /// How many differences the report lists (all are counted).
    pub show: usize,
}

impl Default for CompareOptions {
    fn default() -> CompareOptions {
        CompareOptions {
            pattern: None,
            ttl_tolerance: Duration::from_secs(2),
            show: 20,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CompareReport {
    pub source_version: String,
    pub target_version: String,
    /// Keys of the source compared.
    pub source_keys: u64,
    /// Keys of the target looked up in the source.
    pub target_keys: u64,
    pub missing: u64,
    pub extra: u64,
    pub type_differs: u64,
    pub value_differs: u64,
    pub ttl_differs: u64,
    /// Of the equal keys, those whose DUMP payloads differed but values did not.
    pub equal_by_value: u64,
    /// The first differences found.
    pub differences: Vec<Difference>,
}

impl CompareReport {
    pub fn total_differences(&self) -> u64 {
        self.missing + self.extra + self.type_differs + self.value_differs + self.ttl_differs
    }

    pub fn equal(&self) -> bool {
        self.total_differences() == 0
    }

    fn record(&mut self, show: usize, key: &[u8], kind: DiffKind, detail: String) {
        match kind {
            DiffKind::Missing => self.missing += 1,
            DiffKind::Extra => self.extra += 1,
            DiffKind::Type => self.type_differs += 1,
            DiffKind::Value => self.value_differs += 1,
            DiffKind::Ttl => self.ttl_differs += 1,
        }
        if self.differences.len() < show {
            self.differences.push(Difference {
                key: show_key(key),
                kind,
                detail,
            });
        }
    }
}

/// The difference between one key's two states, if any (the value by payload, then by value).
async fn key_difference(
    source: &Endpoint,
    target: &Endpoint,
    key: &[u8],
    s: &KeyState,
    t: &KeyState,
    tolerance_ms: i64,
) -> Result<Option<(DiffKind, String)>> {
    if t.kind == "none" {
        return Ok(Some((DiffKind::Missing, "not in the target".into())));
    }
    if s.kind != t.kind {
        return Ok(Some((
            DiffKind::Type,
            format!("{} in the source, {} in the target", s.kind, t.kind),
        )));
    }
    let same_payload = s.payload.is_some() && s.payload == t.payload;
    if !same_payload {
        let a = read_value(source, key, &s.kind).await?;
        let b = read_value(target, key, &t.kind).await?;
        if a != b || a == TypedValue::Other {
            return Ok(Some((
                DiffKind::Value,
                format!("the {} values differ", s.kind),
            )));
        }
    }
    let ttl_apart = match (s.pttl, t.pttl) {
        (-1, -1) => None,
        (-1, b) => Some(format!(
            "no expiry in the source, {b} ms left in the target"
        )),
        (a, -1) => Some(format!(
            "{a} ms left in the source, no expiry in the target"
        )),
        (a, b) if (a - b).abs() > tolerance_ms => {
            Some(format!("{a} ms left in the source, {b} ms in the target"))
        }
        _ => None,
    };
    Ok(ttl_apart.map(|d| (DiffKind::Ttl, d)))
}

/// Whether the target holds `key` as the source does (type, value, TTL within tolerance).
async fn same_key(
    source: &Endpoint,
    target: &Endpoint,
    key: &[u8],
    tolerance_ms: i64,
) -> Result<bool> {
    let keys = [key.to_vec()];
    let s = read_states(source, &keys).await?;
    let t = read_states(target, &keys).await?;
    let (Some(s), Some(t)) = (s.first(), t.first()) else {
        return Ok(false);
    };
    if s.kind == "none" {
        return Ok(false);
    }
    Ok(key_difference(source, target, key, s, t, tolerance_ms)
        .await?
        .is_none())
}

/// Compares the keys of `from` (those matching `options.pattern`) with those of `to`.
pub async fn compare(from: &str, to: &str, options: &CompareOptions) -> Result<CompareReport> {
    let source = Endpoint::connect("source", from).await?;
    let target = Endpoint::connect("target", to).await?;
    let tolerance_ms = i64::try_from(options.ttl_tolerance.as_millis()).unwrap_or(i64::MAX);
    let mut report = CompareReport {
        source_version: source.info.version.clone(),
        target_version: target.info.version.clone(),
        ..CompareReport::default()
    };
    let pattern = options.pattern.as_deref();

    let mut cursor = 0u64;
    loop {
        let (next, keys) = source.scan(cursor, pattern).await?;
        if !keys.is_empty() {
            let (s, t) =
                tokio::try_join!(read_states(&source, &keys), read_states(&target, &keys))?;
            for ((key, s), t) in keys.iter().zip(&s).zip(&t) {
                if s.kind == "none" {
                    continue;
                }
                // A key about to expire may be gone from the target by the time it is read.
                if t.kind == "none" && s.pttl >= 0 && s.pttl <= tolerance_ms {
                    continue;
                }
                report.source_keys += 1;
                match key_difference(&source, &target, key, s, t, tolerance_ms).await? {
                    Some((kind, detail)) => report.record(options.show, key, kind, detail),
                    None => {
                        if s.payload != t.payload {
                            report.equal_by_value += 1;
                        }
                    }
                }
            }
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }

    loop {
        let (next, keys) = target.scan(cursor, pattern).await?;
        if !keys.is_empty() {
            let mut pipe = redis::Pipeline::with_capacity(keys.len());
            for key in &keys {
                pipe.cmd("EXISTS").arg(key);
            }
            let found = source.pipeline(&mut pipe, "EXISTS").await?;
            for (key, found) in keys.iter().zip(found) {
                report.target_keys += 1;
                if int(&found) == Some(0) {
                    report.record(
                        options.show,
                        key,
                        DiffKind::Extra,
                        "not in the source".into(),
                    );
                }
            }
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(rdb: u16) -> Vec<u8> {
        // Type 0 (string), RDB length-prefixed "hi", then version and a CRC.
        let mut p = vec![0u8, 2, b'h', b'i'];
        p.extend_from_slice(&rdb.to_le_bytes());
        p.extend_from_slice(&[0xAB; 8]);
        p
    }

    #[test]
    fn reads_the_rdb_version_from_the_footer() {
        assert_eq!(payload_rdb_version(&payload(10)), Some(10));
        assert_eq!(payload_rdb_version(&payload(12)), Some(12));
        assert_eq!(payload_rdb_version(&payload(80)), Some(80));
        assert_eq!(payload_rdb_version(&[0u8; 10]), None);
        assert_eq!(payload_rdb_version(&[]), None);
    }

    #[test]
    fn refuses_payloads_newer_than_the_target() {
        assert_eq!(payload_refusal(&payload(10), 10), None);
        assert_eq!(payload_refusal(&payload(9), 10), None);
        let reason = payload_refusal(&payload(11), 10).unwrap_or_default();
        assert!(reason.contains("RDB version 11"), "{reason}");
        assert!(reason.contains("up to RDB version 10"), "{reason}");
        assert!(payload_refusal(&[1, 2, 3], 10).is_some());
    }

    #[test]
    fn maps_server_versions_to_rdb_versions() {
        for (v, rdb) in [
            ("2.8.24", 6),
            ("3.0.7", 6),
            ("3.2.12", 7),
            ("4.0.14", 8),
            ("5.0.14", 9),
            ("6.2.14", 9),
            ("7.0.15", 10),
            ("7.2.4", 11),
            ("7.4.1", 12),
            ("8.0.2", 12),
        ] {
            assert_eq!(rdb_version_of_server(v, None), Some(rdb), "{v}");
        }
        assert_eq!(rdb_version_of_server("7.2.4", Some("9.0.0")), Some(80));
        assert_eq!(rdb_version_of_server("7.2.4", Some("8.0.1")), Some(11));
        assert_eq!(rdb_version_of_server("unknown", None), None);
    }

    fn info(version: &str) -> ServerInfo {
        parse_server_info(&format!(
            "# Server\r\nredis_version:{version}\r\nrun_id:abc\r\n"
        ))
        .unwrap_or_else(|e| panic!("{e:#}"))
    }

    fn keys(n: u64) -> BatchOutcome {
        BatchOutcome {
            keys: n,
            ..BatchOutcome::default()
        }
    }

    fn confirmed(w: &mut Window) -> Vec<(u64, u64)> {
        std::iter::from_fn(|| w.pop_finished())
            .map(|f| match f {
                Finished::Confirmed(next, o) => (next, o.keys),
                Finished::AfterFailure(o) => panic!("after a failure: {o:?}"),
            })
            .collect()
    }

    #[test]
    fn the_checkpoint_moves_only_over_batches_finished_without_a_gap() {
        let mut w = Window::default();
        let (a, b, c, d) = (w.start(10), w.start(20), w.start(30), w.start(0));
        w.finish(c, Some(keys(3)));
        w.finish(b, Some(keys(2)));
        assert!(confirmed(&mut w).is_empty(), "the first batch still runs");
        assert_eq!(w.len(), 4);
        w.finish(a, Some(keys(1)));
        assert_eq!(confirmed(&mut w), [(10, 1), (20, 2), (30, 3)]);
        let e = w.start(40);
        w.finish(e, Some(keys(5)));
        assert!(confirmed(&mut w).is_empty());
        w.finish(d, Some(keys(4)));
        assert_eq!(confirmed(&mut w), [(0, 4), (40, 5)]);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn the_checkpoint_stays_before_a_failed_batch_for_good() {
        let mut w = Window::default();
        let (a, b, c) = (w.start(10), w.start(20), w.start(30));
        w.finish(c, Some(keys(3)));
        w.finish(b, None);
        assert!(confirmed(&mut w).is_empty());
        w.finish(a, Some(keys(1)));
        assert!(matches!(
            w.pop_finished(),
            Some(Finished::Confirmed(10, BatchOutcome { keys: 1, .. }))
        ));
        // The failed batch leaves without a word; the one after it is counted, not confirmed.
        assert!(matches!(
            w.pop_finished(),
            Some(Finished::AfterFailure(BatchOutcome { keys: 3, .. }))
        ));
        let d = w.start(0);
        w.finish(d, Some(keys(4)));
        assert!(matches!(w.pop_finished(), Some(Finished::AfterFailure(_))));
        assert!(w.pop_finished().is_none());
    }

    #[test]
    fn refuses_a_source_newer_than_the_target() {
        let reason = version_refusal(&info("7.2.4"), &info("7.0.15")).unwrap_or_default();
        assert!(reason.contains("RDB version 11"), "{reason}");
        assert!(reason.contains("--per-type"), "{reason}");
        assert_eq!(version_refusal(&info("7.0.15"), &info("7.2.4")), None);
        assert_eq!(version_refusal(&info("7.0.15"), &info("7.0.11")), None);
        assert!(!info("4.0.14").abs_ttl);
        assert!(info("5.0.0").abs_ttl);
        assert!(!info("6.0.16").set_pxat);
        assert!(info("6.2.0").set_pxat);
        assert!(info("7.0.15").set_pxat);
        assert_eq!(info("6.2.0").run_id, "abc");
    }
}
