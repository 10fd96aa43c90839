//! `cutover redis copy` and `cutover redis compare` against real redis-server processes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cutover::infra::redis_copy::{
    self, CompareOptions, CopyOptions, DiffKind, parse_server_info, payload_rdb_version,
    payload_refusal, version_refusal,
};
use redis::aio::MultiplexedConnection;

use crate::support::{RedisServer, cutover_bin, signal_pid};

pub(crate) async fn conn(url: &str) -> MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

pub(crate) async fn run(c: &mut MultiplexedConnection, args: &[&str]) -> redis::Value {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query_async(c).await.unwrap()
}

/// Every type, each with and without a TTL, plus a binary key and value.
pub(crate) async fn seed_every_type(url: &str) {
    let mut c = conn(url).await;
    for suffix in ["", ":ttl"] {
        let k = |name: &str| format!("{name}{suffix}");
        run(&mut c, &["SET", &k("string"), "hello"]).await;
        run(&mut c, &["SET", &k("counter"), "12345"]).await;
        run(
            &mut c,
            &["HSET", &k("hash"), "plan_id", "7", "state", "live"],
        )
        .await;
        run(&mut c, &["SADD", &k("set"), "a", "b", "c", "4"]).await;
        run(
            &mut c,
            &["ZADD", &k("zset"), "1.5", "a", "0.1", "b", "-3e10", "c"],
        )
        .await;
        run(&mut c, &["RPUSH", &k("list"), "x", "y", "x"]).await;
        run(&mut c, &["XADD", &k("stream"), "1-1", "f", "v"]).await;
        run(&mut c, &["XADD", &k("stream"), "2-0", "g", "w", "h", "u"]).await;
        run(
            &mut c,
            &["XGROUP", "CREATE", &k("stream"), "workers", "1-1"],
        )
        .await;
        if !suffix.is_empty() {
            for name in ["string", "counter", "hash", "set", "zset", "list", "stream"] {
                run(&mut c, &["PEXPIRE", &k(name), "600000"]).await;
            }
        }
    }
    let _: () = redis::cmd("SET")
        .arg(&b"bin\x00\xffkey"[..])
        .arg(&b"\x00\x01\x02\xfe"[..])
        .query_async(&mut c)
        .await
        .unwrap();
}

/// `n` small string keys, a quarter with a TTL, in pipelines.
async fn seed_many(url: &str, n: usize) {
    let mut c = conn(url).await;
    for start in (0..n).step_by(10_000) {
        let mut pipe = redis::pipe();
        for i in start..(start + 10_000).min(n) {
            let key = format!("stats/{{service:{}}}/cinstance:{i}/metric:1/day", i % 10);
            if i % 4 == 0 {
                pipe.cmd("SET").arg(key).arg(i).arg("EX").arg(3600).ignore();
            } else {
                pipe.cmd("SET").arg(key).arg(i).ignore();
            }
        }
        let _: () = pipe.query_async(&mut c).await.unwrap();
    }
}

fn options(dir: &Path) -> CopyOptions {
    CopyOptions::new(dir.join("copy.checkpoint.json"))
}

async fn assert_equal(from: &str, to: &str) {
    let report = redis_copy::compare(from, to, &CompareOptions::default())
        .await
        .unwrap();
    assert!(report.equal(), "{report:#?}");
}

#[tokio::test]
async fn copies_every_type_with_ttls_and_compares_equal() {
    let source = RedisServer::start();
    let target = RedisServer::start();
    seed_every_type(&source.url()).await;
    let dir = tempfile::tempdir().unwrap();

    let report = redis_copy::copy(&source.url(), &target.url(), options(dir.path()))
        .await
        .unwrap();

    assert_eq!(report.keys, 15, "{report:?}");
    assert!(!report.interrupted);
    assert_equal(&source.url(), &target.url()).await;
    // TTLs are carried over, not reset or dropped.
    let ttl: i64 = target.command(&["PTTL", "zset:ttl"])[1..].parse().unwrap();
    assert!((590_000..=600_000).contains(&ttl), "{ttl}");
    assert_eq!(target.command(&["PTTL", "zset"]), ":-1");
    // Stream consumer groups come along with RESTORE.
    let mut c = conn(&target.url()).await;
    let groups = run(&mut c, &["XINFO", "GROUPS", "stream"]).await;
    assert!(format!("{groups:?}").contains("workers"), "{groups:?}");
}

#[tokio::test]
async fn per_type_copy_of_every_type_compares_equal() {
    let source = RedisServer::start();
    let target = RedisServer::start();
    seed_every_type(&source.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.per_type = true;

    let report = redis_copy::copy(&source.url(), &target.url(), opts)
        .await
        .unwrap();

    assert_eq!(report.keys, 15, "{report:?}");
    assert_eq!(report.per_type_keys, 15, "{report:?}");
    assert_equal(&source.url(), &target.url()).await;
    // No temporary key is left behind, and stream groups keep their last-delivered ID.
    assert_eq!(target.command(&["DBSIZE"]), ":15");
    let mut c = conn(&target.url()).await;
    let groups = run(&mut c, &["XINFO", "GROUPS", "stream:ttl"]).await;
    let text = format!("{groups:?}");
    assert!(text.contains("workers") && text.contains("1-1"), "{text}");
}

#[tokio::test]
async fn match_copies_only_the_matching_keys() {
    let source = RedisServer::start();
    let target = RedisServer::start();
    seed_every_type(&source.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.pattern = Some("*:ttl".into());

    let report = redis_copy::copy(&source.url(), &target.url(), opts)
        .await
        .unwrap();

    assert_eq!(report.keys, 7, "{report:?}");
    assert_eq!(target.command(&["EXISTS", "string"]), ":0");
    let cmp = CompareOptions {
        pattern: Some("*:ttl".into()),
        ..CompareOptions::default()
    };
    let report = redis_copy::compare(&source.url(), &target.url(), &cmp)
        .await
        .unwrap();
    assert!(report.equal(), "{report:#?}");
}

#[tokio::test]
async fn compare_finds_missing_extra_different_and_ttl() {
    let source = RedisServer::start();
    let target = RedisServer::start();
    for server in [&source, &target] {
        server.command(&["SET", "same", "1"]);
        server.command(&["HSET", "h", "a", "1"]);
        server.command(&["SADD", "set", "x"]);
    }
    source.command(&["SET", "only-in-source", "1"]);
    target.command(&["SET", "only-in-target", "1"]);
    source.command(&["SET", "typed", "1"]);
    target.command(&["RPUSH", "typed", "1"]);
    target.command(&["HSET", "h", "a", "2"]);
    source.command(&["SET", "ttl", "1", "EX", "1000"]);
    target.command(&["SET", "ttl", "1", "EX", "100"]);
    source.command(&["SET", "ttl-gone", "1", "EX", "1000"]);
    target.command(&["SET", "ttl-gone", "1"]);

    let report = redis_copy::compare(&source.url(), &target.url(), &CompareOptions::default())
        .await
        .unwrap();

    assert!(!report.equal());
    assert_eq!(report.missing, 1, "{report:#?}");
    assert_eq!(report.extra, 1, "{report:#?}");
    assert_eq!(report.type_differs, 1, "{report:#?}");
    assert_eq!(report.value_differs, 1, "{report:#?}");
    assert_eq!(report.ttl_differs, 2, "{report:#?}");
    let find = |kind: DiffKind| {
        report
            .differences
            .iter()
            .filter(|d| d.kind == kind)
            .map(|d| d.key.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(find(DiffKind::Missing), ["only-in-source"]);
    assert_eq!(find(DiffKind::Extra), ["only-in-target"]);
    assert_eq!(find(DiffKind::Type), ["typed"]);
    assert_eq!(find(DiffKind::Value), ["h"]);

    // A TTL difference within the tolerance is no difference.
    let wide = CompareOptions {
        ttl_tolerance: Duration::from_secs(1000),
        ..CompareOptions::default()
    };
    let report = redis_copy::compare(&source.url(), &target.url(), &wide)
        .await
        .unwrap();
    assert_eq!(report.ttl_differs, 1, "{report:#?}");

    // The command line says so with exit code 1.
    let out = Command::new(cutover_bin())
        .args([
            "redis",
            "compare",
            "--from",
            &source.url(),
            "--to",
            &target.url(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("only-in-target"), "{stdout}");
}

#[tokio::test]
async fn busy_keys_are_refused_without_replace() {
    let source = RedisServer::start();
    let target = RedisServer::start();
    seed_every_type(&source.url()).await;
    target.command(&["SET", "string", "customer data"]);
    let dir = tempfile::tempdir().unwrap();

    let err = redis_copy::copy(&source.url(), &target.url(), options(dir.path()))
        .await
        .unwrap_err();

    let text = format!("{err:#}");
    assert!(
        text.contains("string") && text.contains("--replace"),
        "{text}"
    );
    assert_eq!(target.command(&["GET", "string"]), "customer data");

    // Per-type copying refuses the same way.
    let dir2 = tempfile::tempdir().unwrap();
    let mut opts = options(dir2.path());
    opts.per_type = true;
    let err = redis_copy::copy(&source.url(), &target.url(), opts)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("--replace"), "{err:#}");
    assert_eq!(target.command(&["GET", "string"]), "customer data");

    // With --replace the target ends as the source.
    let dir3 = tempfile::tempdir().unwrap();
    let mut opts = options(dir3.path());
    opts.replace = true;
    redis_copy::copy(&source.url(), &target.url(), opts)
        .await
        .unwrap();
    assert_equal(&source.url(), &target.url()).await;

    // A key already there with the same content is left as it is and counted.
    let again = RedisServer::start();
    again.command(&["SET", "string", "hello"]);
    let dir4 = tempfile::tempdir().unwrap();
    let report = redis_copy::copy(&source.url(), &again.url(), options(dir4.path()))
        .await
        .unwrap();
    assert_eq!(report.already_present, 1, "{report:?}");
    assert_equal(&source.url(), &again.url()).await;
}

#[tokio::test]
async fn an_existing_checkpoint_needs_resume_and_a_missing_one_refuses_it() {
    let source = RedisServer::start();
    let target = RedisServer::start();
    source.command(&["SET", "a", "1"]);
    let dir = tempfile::tempdir().unwrap();
    redis_copy::copy(&source.url(), &target.url(), options(dir.path()))
        .await
        .unwrap();

    let err = redis_copy::copy(&source.url(), &target.url(), options(dir.path()))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("--resume"), "{err:#}");

    let mut opts = options(dir.path());
    opts.resume = true;
    let report = redis_copy::copy(&source.url(), &target.url(), opts)
        .await
        .unwrap();
    assert_eq!(
        report.keys, 0,
        "a finished copy has nothing left: {report:?}"
    );

    let empty = tempfile::tempdir().unwrap();
    let mut opts = options(empty.path());
    opts.resume = true;
    let err = redis_copy::copy(&source.url(), &target.url(), opts)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("no checkpoint"), "{err:#}");
}

/// Reads the checkpoint's key count, if the file is there and whole.
fn checkpoint_keys(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value.get("keys")?.as_u64()
}

#[tokio::test]
async fn resume_after_kill_9_ends_identical_to_an_uninterrupted_copy() {
    let source = RedisServer::start();
    let resumed = RedisServer::start();
    let straight = RedisServer::start();
    seed_many(&source.url(), 100_000).await;
    seed_every_type(&source.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("cp.json");
    let checkpoint_arg = checkpoint.to_str().unwrap();
    let copy_args = |to: &str| {
        vec![
            "redis".to_string(),
            "copy".into(),
            "--from".into(),
            source.url(),
            "--to".into(),
            to.to_string(),
            "--checkpoint".into(),
            checkpoint_arg.to_string(),
        ]
    };

    let mut child = Command::new(cutover_bin())
        .args(copy_args(&resumed.url()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let at_kill = loop {
        if let Some(keys) = checkpoint_keys(&checkpoint).filter(|k| *k > 0) {
            break keys;
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint with keys appeared"
        );
        assert!(child.try_wait().unwrap().is_none(), "the copy ended early");
        std::thread::sleep(Duration::from_millis(2));
    };
    signal_pid(child.id(), rustix::process::Signal::KILL);
    child.wait().unwrap();
    assert!(at_kill < 100_015, "killed after the end: {at_kill}");
    let partial: u64 = resumed.command(&["DBSIZE"])[1..].parse().unwrap();
    assert!(partial < 100_015, "the copy had finished before the kill");

    let mut args = copy_args(&resumed.url());
    args.push("--resume".into());
    let out = Command::new(cutover_bin()).args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let dir2 = tempfile::tempdir().unwrap();
    redis_copy::copy(&source.url(), &straight.url(), options(dir2.path()))
        .await
        .unwrap();
    assert_equal(&source.url(), &resumed.url()).await;
    assert_equal(&straight.url(), &resumed.url()).await;
}

#[tokio::test]
async fn sigterm_finishes_the_batches_in_flight_and_exits_3_with_the_resume_command() {
    let source = RedisServer::start();
    let target = RedisServer::start();
    seed_many(&source.url(), 100_000).await;
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("cp.json");
    let child = Command::new(cutover_bin())
        .args([
            "redis",
            "copy",
            "--from",
            &source.url(),
            "--to",
            &target.url(),
        ])
        .arg("--checkpoint")
        .arg(&checkpoint)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpoint_keys(&checkpoint).is_none_or(|k| k == 0) {
        assert!(
            Instant::now() < deadline,
            "no checkpoint with keys appeared"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    signal_pid(child.id(), rustix::process::Signal::TERM);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(0) {
        // The copy finished before the signal arrived: nothing to resume.
        return;
    }
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    // Everything the checkpoint counts is in the target.
    let keys = checkpoint_keys(&checkpoint).unwrap();
    let in_target: u64 = target.command(&["DBSIZE"])[1..].parse().unwrap();
    assert!(in_target >= keys, "{in_target} < {keys}");

    let out = Command::new(cutover_bin())
        .args([
            "redis",
            "copy",
            "--from",
            &source.url(),
            "--to",
            &target.url(),
        ])
        .arg("--checkpoint")
        .arg(&checkpoint)
        .arg("--resume")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_equal(&source.url(), &target.url()).await;
}

#[tokio::test]
async fn newer_rdb_payloads_are_refused() {
    let server = RedisServer::start();
    server.command(&["SET", "k", "value"]);
    let mut c = conn(&server.url()).await;
    let payload: Vec<u8> = redis::cmd("DUMP")
        .arg("k")
        .query_async(&mut c)
        .await
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut c)
        .await
        .unwrap();
    let info = parse_server_info(&info).unwrap();
    let rdb = info.rdb_version.unwrap();

    // The real payload carries the server's own RDB version.
    assert_eq!(payload_rdb_version(&payload), Some(rdb));
    assert_eq!(payload_refusal(&payload, rdb), None);
    // The same payload from a newer server, as an older target would see it.
    let mut newer = payload.clone();
    let n = newer.len();
    newer[n - 10..n - 8].copy_from_slice(&(rdb + 1).to_le_bytes());
    let reason = payload_refusal(&newer, rdb).unwrap();
    assert!(
        reason.contains(&format!("RDB version {}", rdb + 1)),
        "{reason}"
    );
    // And the real server's RESTORE refuses it too, which is why the copy checks first.
    let refused: redis::RedisResult<()> = redis::cmd("RESTORE")
        .arg("k2")
        .arg(0)
        .arg(&newer)
        .query_async(&mut c)
        .await;
    assert!(refused.is_err());

    let newer_source = parse_server_info("redis_version:7.4.1\r\nrun_id:x\r\n").unwrap();
    let reason = version_refusal(&newer_source, &info).unwrap();
    assert!(reason.contains("--per-type"), "{reason}");
    assert_eq!(version_refusal(&info, &info), None);
}

#[tokio::test]
async fn passwords_never_show_and_bad_input_exits_2() {
    let pw_source = "src-S3cret-pw";
    let pw_target = "tgt-S3cret-pw";
    let source = RedisServer::start_with_password(pw_source);
    let target = RedisServer::start_with_password(pw_target);
    seed_every_type(&source.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("target.url");
    std::fs::write(&url_file, format!("{}\n", target.url())).unwrap();
    let checkpoint = dir.path().join("cp.json");

    let out = Command::new(cutover_bin())
        .env("SRC_REDIS_URL", source.url())
        .args(["redis", "copy", "--from", "env:SRC_REDIS_URL", "--to"])
        .arg(format!("file:{}", url_file.display()))
        .arg("--checkpoint")
        .arg(&checkpoint)
        .output()
        .unwrap();
    let all = format!(
        "{}{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&checkpoint).unwrap()
    );
    assert_eq!(out.status.code(), Some(0), "{all}");
    for pw in [pw_source, pw_target] {
        assert!(!all.contains(pw), "{all}");
    }
    assert!(all.contains("redis://:***@127.0.0.1"), "{all}");

    let out = Command::new(cutover_bin())
        .env("SRC_REDIS_URL", source.url())
        .args([
            "redis",
            "compare",
            "--from",
            "env:SRC_REDIS_URL",
            "--to",
            &target.url(),
        ])
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        !all.contains(pw_source) && !all.contains(pw_target),
        "{all}"
    );

    // A wrong password: exit 2, the side named, no password shown.
    let wrong = format!("redis://:wrong-Pa55@127.0.0.1:{}/0", target.port());
    let out = Command::new(cutover_bin())
        .args(["redis", "compare", "--from", &source.url(), "--to", &wrong])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("target"), "{stderr}");
    for pw in [pw_source, pw_target, "wrong-Pa55"] {
        assert!(!stderr.contains(pw), "{stderr}");
    }

    // Nobody listening, a malformed URL, an unset variable: exit 2 each.
    let port = crate::support::RefusingPort::new();
    let nobody = format!("redis://:{pw_target}@127.0.0.1:{}/0", port.port());
    for (from, to) in [
        (source.url(), nobody.clone()),
        (source.url(), "not a url".to_string()),
        (
            "env:CUTOVER_TEST_UNSET_VARIABLE".to_string(),
            nobody.clone(),
        ),
    ] {
        let out = Command::new(cutover_bin())
            .args(["redis", "copy", "--from", &from, "--to", &to])
            .arg("--checkpoint")
            .arg(dir.path().join("other.json"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{from} {to}: {stderr}");
        for pw in [pw_source, pw_target] {
            assert!(!stderr.contains(pw), "{stderr}");
        }
    }
}

#[tokio::test]
async fn strings_are_copied_by_value_with_their_absolute_expiries() {
    let source = RedisServer::start();
    let target = RedisServer::start();
    seed_every_type(&source.url()).await;
    let expire_at = (chrono::Utc::now().timestamp_millis() + 3_600_000).to_string();
    source.command(&["SET", "empty", ""]);
    source.command(&["SET", "at", "fixed", "PXAT", &expire_at]);
    let big = "x".repeat(300_000);
    source.command(&["SET", "big", &big, "EX", "500"]);
    let dir = tempfile::tempdir().unwrap();

    let report = redis_copy::copy(&source.url(), &target.url(), options(dir.path()))
        .await
        .unwrap();

    // string, counter, string:ttl, counter:ttl, the binary key, empty, at, big.
    assert_eq!(report.keys, 18, "{report:?}");
    assert_eq!(report.by_value_keys, 8, "{report:?}");
    assert_equal(&source.url(), &target.url()).await;
    // The absolute expiry is carried over, not the remaining time restarted at the write.
    let at: i64 = target.command(&["PEXPIRETIME", "at"])[1..].parse().unwrap();
    let wanted: i64 = expire_at.parse().unwrap();
    assert!((at - wanted).abs() < 1_000, "{at} vs {wanted}");
    let ttl: i64 = target.command(&["PTTL", "string:ttl"])[1..]
        .parse()
        .unwrap();
    assert!((590_000..=600_000).contains(&ttl), "{ttl}");
    assert_eq!(target.command(&["PTTL", "string"]), ":-1");
    assert_eq!(target.command(&["GET", "empty"]), "");
    assert_eq!(target.command(&["STRLEN", "big"]), ":300000");
    let mut c = conn(&target.url()).await;
    let value: Vec<u8> = redis::cmd("GET")
        .arg(&b"bin\x00\xffkey"[..])
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(value, b"\x00\x01\x02\xfe");
}

#[tokio::test]
async fn busy_strings_with_the_same_content_are_left_and_replace_overwrites_the_rest() {
    let source = RedisServer::start();
    let target = RedisServer::start();
    seed_every_type(&source.url()).await;
    // The same content as the source, TTL included: found busy, compared, left as it is.
    target.command(&["SET", "counter", "12345"]);
    target.command(&["SET", "string:ttl", "hello", "PX", "600000"]);
    let dir = tempfile::tempdir().unwrap();

    let report = redis_copy::copy(&source.url(), &target.url(), options(dir.path()))
        .await
        .unwrap();

    assert_eq!(report.already_present, 2, "{report:?}");
    assert_eq!(report.keys, 13, "{report:?}");
    assert_equal(&source.url(), &target.url()).await;

    // Other content, another type, a TTL the source has not: replace makes them the source's.
    target.command(&["SET", "string", "other", "EX", "100"]);
    target.command(&["DEL", "counter:ttl"]);
    target.command(&["HSET", "counter:ttl", "f", "v"]);
    target.command(&["SET", "hash", "not a hash"]);
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.replace = true;
    let report = redis_copy::copy(&source.url(), &target.url(), opts)
        .await
        .unwrap();
    assert_eq!(report.keys, 15, "{report:?}");
    assert_equal(&source.url(), &target.url()).await;
    assert_eq!(target.command(&["PTTL", "string"]), ":-1");
}

#[tokio::test]
async fn copies_between_databases_other_than_0() {
    let source = RedisServer::start_with_password("pw-db");
    let target = RedisServer::start_with_password("pw-db");
    seed_every_type(&source.url_db(2)).await;
    seed_many(&source.url_db(2), 5_000).await;
    let dir = tempfile::tempdir().unwrap();

    let report = redis_copy::copy(&source.url_db(2), &target.url_db(5), options(dir.path()))
        .await
        .unwrap();

    assert_eq!(report.keys, 5_015, "{report:?}");
    assert_equal(&source.url_db(2), &target.url_db(5)).await;
    let mut c = conn(&target.url()).await;
    let in_db0: i64 = redis::cmd("DBSIZE").query_async(&mut c).await.unwrap();
    assert_eq!(in_db0, 0);
}
