//! Exec and port-forward over WebSocket, through the Kubernetes layer and the simulator: a dump
//! streamed from a pod to a file (byte count and checksum), a file streamed into a command's
//! stdin, exit codes and stderr, and a real Redis connection through a port-forward.

use std::io::Write;
use std::sync::{Arc, Mutex};

use cutover::infra::kube::WorkloadKind;
use cutover::runbook::ClusterRole;
use cutover::sim::ExecRule;
use sha2::{Digest, Sha256};

use crate::sim_support::{Sandbox, deployment_config, eventually};
use crate::support::RedisServer;

const RDB: &str = "/var/lib/redis/data/dump.rdb";

/// A source cluster with one running backend-redis pod; returns its name.
async fn with_redis_pod() -> (Sandbox, cutover::infra::kube::KubeCluster, String) {
    let sb = Sandbox::start("source", "3scale").await;
    sb.sim
        .apply_object(deployment_config("3scale", "backend-redis", 1))
        .unwrap();
    let kube = sb.connect(ClusterRole::Source, "3scale").await;
    eventually("backend-redis pod running", || async {
        kube.pods_of(WorkloadKind::DeploymentConfig, "backend-redis")
            .await
            .unwrap()
            .iter()
            .any(|p| p.ready)
    })
    .await;
    let pod = kube
        .pods_of(WorkloadKind::DeploymentConfig, "backend-redis")
        .await
        .unwrap()[0]
        .name
        .clone();
    (sb, kube, pod)
}

#[tokio::test]
async fn exec_streams_more_than_50_mb_to_a_file_with_the_right_size_and_checksum() {
    let (sb, kube, pod) = with_redis_pod().await;
    // 60 MiB of varied bytes (xorshift), so a dropped or reordered chunk changes the checksum.
    let source = sb.dir.path().join("dump.rdb");
    let mut expected = Sha256::new();
    let mut total = 0u64;
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&source).unwrap());
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut chunk = vec![0u8; 1 << 20];
        for _ in 0..60 {
            for b in chunk.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
            }
            file.write_all(&chunk).unwrap();
            expected.update(&chunk);
            total += chunk.len() as u64;
        }
    }
    let expected: String = expected
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    sb.sim.allow_exec(ExecRule::new(
        "backend-redis",
        &["cat", RDB],
        &["cat", source.to_str().unwrap()],
    ));

    let target = sb.dir.path().join("copied.rdb");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let progress = {
        let seen = seen.clone();
        move |n: u64| seen.lock().unwrap().push(n)
    };
    let result = kube
        .exec_to_file(
            &pod,
            Some("backend-redis"),
            &["cat", RDB],
            &target,
            progress,
        )
        .await
        .unwrap();

    assert_eq!(result.exit_code, 0, "{result:?}");
    assert_eq!(result.bytes, total);
    assert_eq!(result.sha256, expected);
    assert_eq!(std::fs::metadata(&target).unwrap().len(), total);
    let seen = seen.lock().unwrap();
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "progress must grow");
    assert_eq!(seen.last().copied(), Some(total));
}

#[tokio::test]
async fn exec_reports_the_exit_code_and_stderr() {
    let (sb, kube, pod) = with_redis_pod().await;
    sb.sim.allow_exec(ExecRule::new(
        "backend-redis",
        &["redis-cli", "BGSAVE"],
        &["sh", "-c", "echo partial; echo disk full >&2; exit 3"],
    ));
    let mut out = Vec::new();
    let result = kube
        .exec_to_writer(&pod, None, &["redis-cli", "BGSAVE"], &mut out, |_| {})
        .await
        .unwrap();
    assert_eq!(result.exit_code, 3);
    assert_eq!(result.stderr, "disk full\n");
    assert_eq!(out, b"partial\n");
    assert!(!result.success());

    // A command outside the allow list does not run.
    let result = kube
        .exec_to_writer(&pod, None, &["rm", "-rf", "/"], &mut Vec::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(result.exit_code, 126);
    assert!(result.stderr.contains("allow list"), "{}", result.stderr);

    // A missing pod is an error that names it; the partial file is not left behind.
    let target = sb.dir.path().join("none.rdb");
    let e = kube
        .exec_to_file(
            "backend-redis-9-zzzzz",
            None,
            &["cat", RDB],
            &target,
            |_| {},
        )
        .await
        .unwrap_err();
    let text = format!("{e:#}");
    assert!(
        text.contains("backend-redis-9-zzzzz") && text.contains("namespace 3scale"),
        "{text}"
    );
    assert!(!target.exists());
}

/// `mib` MiB of varied bytes (xorshift), so a dropped or reordered chunk changes the checksum.
fn varied_bytes(mib: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = vec![0u8; mib << 20];
    for b in out.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
    }
    out
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn exec_feeds_a_file_to_stdin_and_the_command_reads_all_of_it() {
    let (sb, kube, pod) = with_redis_pod().await;
    sb.sim.allow_exec(ExecRule::new(
        "backend-redis",
        &["sha256sum"],
        &["sha256sum"],
    ));
    let input = varied_bytes(24);
    let expected = hex_sha256(&input);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let progress = {
        let seen = seen.clone();
        move |n: u64| seen.lock().unwrap().push(n)
    };
    let result = kube
        .exec_with_input(
            &pod,
            None,
            &["sha256sum"],
            std::io::Cursor::new(input.clone()),
            progress,
        )
        .await
        .unwrap();
    assert!(result.success(), "{result:?}");
    assert_eq!(result.bytes, input.len() as u64);
    assert_eq!(result.sha256, expected, "what was sent");
    // The command saw every byte, in order, and then the end of its input.
    assert_eq!(
        result.stdout.split_whitespace().next(),
        Some(expected.as_str())
    );
    let seen = seen.lock().unwrap();
    assert!(seen.windows(2).all(|w| w[0] < w[1]) && seen.len() > 10);
    assert_eq!(seen.last().copied(), Some(input.len() as u64));
}

#[tokio::test]
async fn a_command_that_stops_reading_its_input_is_not_taken_as_done() {
    let (sb, kube, pod) = with_redis_pod().await;
    sb.sim.allow_exec(ExecRule::new(
        "backend-redis",
        &["pg_restore"],
        &[
            "sh",
            "-c",
            "head -c 1000 >/dev/null; echo 'input ended early?' >&2; exit 0",
        ],
    ));
    sb.sim.allow_exec(ExecRule::new(
        "backend-redis",
        &["psql"],
        &[
            "sh",
            "-c",
            "head -c 10 >/dev/null; echo 'ERROR: bad input' >&2; exit 3",
        ],
    ));
    let input = varied_bytes(16);

    // Exit 0 without reading the whole input is an error.
    let e = kube
        .exec_with_input(
            &pod,
            None,
            &["pg_restore"],
            std::io::Cursor::new(input.clone()),
            |_| {},
        )
        .await
        .unwrap_err();
    let text = format!("{e:#}");
    assert!(
        text.contains("ended after reading") && text.contains("namespace 3scale"),
        "{text}"
    );

    // A failure is the command's exit code and stderr, whatever was left unsent (here the
    // input fits in the pipes, so the session stays whole to the end).
    let small = input[..64 * 1024].to_vec();
    let result = kube
        .exec_with_input(&pod, None, &["psql"], std::io::Cursor::new(small), |_| {})
        .await
        .unwrap();
    assert_eq!(result.exit_code, 3);
    assert_eq!(result.stderr, "ERROR: bad input\n");
}

#[tokio::test]
async fn a_port_forward_carries_a_real_redis_connection() {
    let (sb, kube, pod) = with_redis_pod().await;
    let redis = RedisServer::start();
    sb.sim.forward_port(
        "backend-redis",
        6379,
        format!("127.0.0.1:{}", redis.port()).parse().unwrap(),
    );

    let forward = kube.port_forward(&pod, 6379).await.unwrap();
    let client =
        redis::Client::open(format!("redis://127.0.0.1:{}/0", forward.local_port())).unwrap();
    // The default response timeout is shorter than a 3 MiB write takes in a debug build.
    let generous = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(std::time::Duration::from_secs(20)))
        .set_response_timeout(Some(std::time::Duration::from_secs(20)));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&generous)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("through-the-tunnel")
        .arg("yes")
        .query_async(&mut conn)
        .await
        .unwrap();
    let back: String = redis::cmd("GET")
        .arg("through-the-tunnel")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(back, "yes");
    // It is the real server behind the pod.
    assert_eq!(redis.command(&["GET", "through-the-tunnel"]), "yes");
    // A bigger value crosses the forward intact.
    let big = "x".repeat(3 << 20);
    let _: () = redis::cmd("SET")
        .arg("big")
        .arg(&big)
        .query_async(&mut conn)
        .await
        .unwrap();
    let len: usize = redis::cmd("STRLEN")
        .arg("big")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(len, big.len());

    // A port with nothing behind it fails the connection rather than hanging.
    let unbacked = kube.port_forward(&pod, 5432).await.unwrap();
    let client =
        redis::Client::open(format!("redis://127.0.0.1:{}/0", unbacked.local_port())).unwrap();
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(std::time::Duration::from_secs(10)))
        .set_response_timeout(Some(std::time::Duration::from_secs(10)));
    let attempt = async {
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    assert!(attempt.await.is_err());
}
