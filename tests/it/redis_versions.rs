//! `cutover redis copy` and `cutover redis compare` between two Redis versions, both real: the
//! machine's redis-server (Debian's 7.0, DUMP payloads in RDB version 10) and a Redis 6.2 (RDB
//! version 9) that `scripts/old-redis` builds and `scripts/test` names in
//! `CUTOVER_OLD_REDIS_SERVER`. RESTORE refuses payloads newer than its own RDB version, so a copy
//! to the older server is refused unless it goes key by key with the type commands
//! (`--per-type`), while a copy to the newer one goes by DUMP/RESTORE.
//!
//! Without the variable these tests say they are skipped and pass, except when `CI` is set:
//! then they fail, so that a CI run cannot pass without having run them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cutover::infra::redis_copy::{self, CompareOptions, ServerInfo, parse_server_info};
use cutover::sim::servers::{RedisOptions, RedisProcess};

use crate::redis_copy::{conn, run, seed_every_type};
use crate::support::{RedisServer, cutover_bin};

const OLD_REDIS_VAR: &str = "CUTOVER_OLD_REDIS_SERVER";
/// Keys `seed_every_type` writes.
const SEEDED_KEYS: u64 = 15;

/// The machine's Redis and a Redis 6.2, each with what its `INFO server` says.
struct Pair {
    new: RedisServer,
    new_info: ServerInfo,
    old: RedisProcess,
    old_info: ServerInfo,
}

/// Starts the pair, or returns None after saying why the test is skipped: no Redis 6.2
/// binary named and `CI` unset. With `CI` set a missing binary fails the test.
fn pair(test: &str) -> Option<Pair> {
    let Some(binary) = std::env::var_os(OLD_REDIS_VAR).filter(|v| !v.is_empty()) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "{OLD_REDIS_VAR} is unset, and CI is set, so {test} may not skip: scripts/old-redis \
             must build the Redis 6.2 redis-server and scripts/test export its path in \
             {OLD_REDIS_VAR} (see the messages of scripts/old-redis above)"
        );
        eprintln!(
            "{test}: skipped: {OLD_REDIS_VAR} is unset, so there is no Redis 6.2 to copy to or \
             from; run scripts/old-redis and set {OLD_REDIS_VAR} to the path it prints \
             (scripts/test does both)"
        );
        return None;
    };
    let binary = PathBuf::from(binary);
    let old = start_old(&binary);
    let old_info = info(&old.command(&["INFO", "server"]).unwrap());
    assert!(
        old_info.version.starts_with("6.2."),
        "{OLD_REDIS_VAR}={} is Redis {}, not 6.2",
        binary.display(),
        old_info.version
    );
    let new = RedisServer::start();
    let new_info = info(&new.command(&["INFO", "server"]));
    assert!(
        new_info.rdb_version > old_info.rdb_version,
        "the machine's redis-server ({new_info:?}) must write newer DUMP payloads than Redis 6.2 \
         ({old_info:?}) for these tests to mean anything"
    );
    Some(Pair {
        new,
        new_info,
        old,
        old_info,
    })
}

fn start_old(binary: &Path) -> RedisProcess {
    RedisProcess::start(RedisOptions::default().binary(binary))
        .unwrap_or_else(|e| panic!("{OLD_REDIS_VAR}={}: {e:#}", binary.display()))
}

fn info(text: &str) -> ServerInfo {
    parse_server_info(text).unwrap_or_else(|e| panic!("{e:#}: {text}"))
}

fn rdb(info: &ServerInfo) -> u16 {
    info.rdb_version
        .unwrap_or_else(|| panic!("no RDB version known for {info:?}"))
}

/// Runs the real binary; the output is stdout then stderr.
fn cutover(args: &[&str]) -> (Option<i32>, String) {
    let out: Output = Command::new(cutover_bin()).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// `cutover redis copy` with a checkpoint in `dir` (never in the test's working folder).
fn copy(from: &str, to: &str, dir: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let checkpoint = dir.join("copy.checkpoint.json");
    let checkpoint = checkpoint.to_str().unwrap();
    let mut args = vec![
        "redis",
        "copy",
        "--from",
        from,
        "--to",
        to,
        "--checkpoint",
        checkpoint,
    ];
    args.extend_from_slice(extra);
    cutover(&args)
}

/// The RDB version a server writes, read from the end of a real DUMP payload.
async fn payload_rdb(url: &str, key: &str) -> u16 {
    let mut c = conn(url).await;
    let payload: Vec<u8> = redis::cmd("DUMP")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap();
    redis_copy::payload_rdb_version(&payload).unwrap()
}

/// `cutover redis compare` says equal (exit 0), and the library's report agrees: every seeded
/// key compared, and, the two servers encoding them in different RDB versions, every one found
/// equal by reading the values rather than by equal DUMP payloads.
async fn assert_compare_equal(from: &str, to: &str) {
    let (code, text) = cutover(&["redis", "compare", "--from", from, "--to", to]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("equal:"), "{text}");
    assert!(
        text.contains(&format!(
            "({SEEDED_KEYS} keys are encoded differently but hold the same values)"
        )),
        "{text}"
    );

    let report = redis_copy::compare(from, to, &CompareOptions::default())
        .await
        .unwrap();
    assert!(report.equal(), "{report:#?}");
    assert_eq!(report.source_keys, SEEDED_KEYS, "{report:#?}");
    assert_eq!(report.target_keys, SEEDED_KEYS, "{report:#?}");
    assert_eq!(report.equal_by_value, SEEDED_KEYS, "{report:#?}");
}

/// The TTLs came along (600 s at seeding, compare's 2 s tolerance aside), and keys without one
/// got none.
fn assert_ttls(target_pttl: impl Fn(&str) -> String) {
    for key in ["string:ttl", "hash:ttl", "zset:ttl", "stream:ttl"] {
        let pttl: i64 = target_pttl(key)[1..].parse().unwrap();
        assert!((590_000..=600_000).contains(&pttl), "{key}: {pttl}");
    }
    for key in ["string", "hash", "zset", "stream"] {
        assert_eq!(target_pttl(key), ":-1", "{key}");
    }
}

/// The stream's consumer group, with its last-delivered ID, is in the target.
async fn assert_stream_group(target_url: &str) {
    let mut c = conn(target_url).await;
    let groups = format!(
        "{:?}",
        run(&mut c, &["XINFO", "GROUPS", "stream:ttl"]).await
    );
    assert!(
        groups.contains("workers") && groups.contains("1-1"),
        "{groups}"
    );
}

#[tokio::test]
async fn copy_to_an_older_redis_is_refused_and_writes_nothing() {
    let Some(p) = pair("copy_to_an_older_redis_is_refused_and_writes_nothing") else {
        return;
    };
    seed_every_type(&p.new.url()).await;
    p.old.command(&["SET", "probe", "x"]).unwrap();
    // The servers' payloads really carry the RDB versions their releases are known by.
    assert_eq!(payload_rdb(&p.new.url(), "hash").await, rdb(&p.new_info));
    assert_eq!(payload_rdb(&p.old.url(), "probe").await, rdb(&p.old_info));
    assert_eq!(p.old.command(&["DEL", "probe"]).unwrap(), ":1");
    let dir = tempfile::tempdir().unwrap();

    let (code, text) = copy(&p.new.url(), &p.old.url(), dir.path(), &[]);

    // Refused as bad input (2): the target and the method are the operator's to change.
    assert_eq!(code, Some(2), "{text}");
    for wanted in [
        "copy refused".to_string(),
        format!("Redis {}", p.new_info.version),
        format!("Redis {}", p.old_info.version),
        format!("RDB version {}", rdb(&p.new_info)),
        format!("RDB version {}", rdb(&p.old_info)),
        "--per-type".to_string(),
    ] {
        assert!(text.contains(&wanted), "{wanted:?} not in: {text}");
    }
    assert_eq!(p.old.command(&["DBSIZE"]).unwrap(), ":0");
    // Refused before anything started: no checkpoint, so no --resume offered.
    assert!(!dir.path().join("copy.checkpoint.json").exists());
    assert!(!text.contains("--resume"), "{text}");
}

#[tokio::test]
async fn per_type_copy_to_an_older_redis_compares_equal_with_ttls() {
    let Some(p) = pair("per_type_copy_to_an_older_redis_compares_equal_with_ttls") else {
        return;
    };
    seed_every_type(&p.new.url()).await;
    let dir = tempfile::tempdir().unwrap();

    let (code, text) = copy(&p.new.url(), &p.old.url(), dir.path(), &["--per-type"]);

    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "source Redis {} -> target Redis {} (type commands)",
            p.new_info.version, p.old_info.version
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("copied {SEEDED_KEYS} keys")),
        "{text}"
    );
    // No temporary key of the per-type copy is left behind.
    assert_eq!(
        p.old.command(&["DBSIZE"]).unwrap(),
        format!(":{SEEDED_KEYS}")
    );
    assert_compare_equal(&p.new.url(), &p.old.url()).await;
    assert_ttls(|key| p.old.command(&["PTTL", key]).unwrap());
    // compare reads stream entries only; the groups are checked here.
    assert_stream_group(&p.old.url()).await;
}

#[tokio::test]
async fn copy_from_an_older_redis_goes_by_dump_and_restore() {
    let Some(p) = pair("copy_from_an_older_redis_goes_by_dump_and_restore") else {
        return;
    };
    seed_every_type(&p.old.url()).await;
    let dir = tempfile::tempdir().unwrap();

    let (code, text) = copy(&p.old.url(), &p.new.url(), dir.path(), &[]);

    assert_eq!(code, Some(0), "{text}");
    // Redis 6.2 targets and sources both have ABSTTL: absolute expiries.
    assert!(
        text.contains(&format!(
            "source Redis {} -> target Redis {} (strings by value, other types with \
             DUMP/RESTORE, absolute expiry)",
            p.old_info.version, p.new_info.version
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("copied {SEEDED_KEYS} keys")),
        "{text}"
    );
    // None went the per-type way.
    assert!(!text.contains("written in parts"), "{text}");
    assert_eq!(p.new.command(&["DBSIZE"]), format!(":{SEEDED_KEYS}"));
    assert_compare_equal(&p.old.url(), &p.new.url()).await;
    assert_ttls(|key| p.new.command(&["PTTL", key]));
    assert_stream_group(&p.new.url()).await;
}
