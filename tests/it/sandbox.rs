//! The rehearsal sandbox seen through the real kube-rs client: the source's in-cluster
//! data stores are the sandbox's real servers, behind exec and port-forward.

use std::time::Duration;

use cutover::config::Cluster;
use cutover::infra::kube::{KubeCluster, WorkloadKind};
use cutover::runbook::ClusterRole;
use cutover::sim::sandbox::{SOURCE_NAMESPACE, Sandbox, SandboxOptions};

fn source_config(sandbox: &Sandbox) -> Cluster {
    Cluster {
        role: ClusterRole::Source,
        kubeconfig: sandbox.kubeconfig.clone(),
        context: Some("source".into()),
        namespace: SOURCE_NAMESPACE.into(),
        wildcard_domain: None,
        system_database_kind: None,
        stores: Vec::new(),
    }
}

async fn first_pod(kube: &KubeCluster, workload: &str) -> String {
    for _ in 0..200 {
        let pods = kube
            .pods_of(WorkloadKind::DeploymentConfig, workload)
            .await
            .expect("pods");
        if let Some(p) = pods.iter().find(|p| p.ready) {
            return p.name.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no ready pod of {workload}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_stores_are_reached_through_exec_and_port_forward() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = SandboxOptions {
        pod_start_delay: Duration::from_millis(50),
        ..SandboxOptions::default()
    };
    let sandbox = Sandbox::start(dir.path(), options)
        .await
        .expect("the sandbox starts");
    let kube = KubeCluster::connect(&source_config(&sandbox).target())
        .await
        .expect("connect");
    assert!(
        kube.serves_deployment_configs().await.expect("discovery"),
        "a 2.14 source serves DeploymentConfigs"
    );
    assert_eq!(
        kube.threescale_version().await.expect("version").version,
        "2.14"
    );

    // pg_dump in the system-postgresql pod dumps the sandbox's system database.
    let pod = first_pod(&kube, "system-postgresql").await;
    let dump = dir.path().join("system.dump");
    let result = kube
        .exec_to_file(&pod, None, &["pg_dump", "-Fc"], &dump, |_| {})
        .await
        .expect("exec pg_dump");
    assert!(result.success(), "pg_dump failed: {}", result.stderr);
    assert!(result.bytes > 1000, "{} bytes", result.bytes);
    let listing = std::process::Command::new("pg_restore")
        .arg("-l")
        .arg(&dump)
        .output()
        .expect("pg_restore -l");
    let listing = String::from_utf8_lossy(&listing.stdout);
    for table in ["accounts", "proxies", "proxy_configs"] {
        assert!(
            listing.contains(&format!("TABLE public {table}")),
            "{table} in the dump:\n{listing}"
        );
    }

    // The RDB file of the backend-redis pod is the sandbox Redis's file.
    let pod = first_pod(&kube, "backend-redis").await;
    let rdb = dir.path().join("dump.rdb");
    let result = kube
        .exec_to_file(
            &pod,
            None,
            &["cat", "/var/lib/redis/data/dump.rdb"],
            &rdb,
            |_| {},
        )
        .await
        .expect("exec cat");
    assert!(result.success(), "{}", result.stderr);
    let head = std::fs::read(&rdb).expect("rdb");
    assert!(head.starts_with(b"REDIS"), "an RDB file starts with REDIS");

    // A port-forward to backend-redis reaches the seeded server.
    let forward = kube.port_forward(&pod, 6379).await.expect("port-forward");
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/1", forward.local_port()))
        .expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connection through the forward");
    let depth: u64 = redis::cmd("LLEN")
        .arg("resque:queue:priority")
        .query_async(&mut conn)
        .await
        .expect("LLEN");
    assert!(depth > 0, "the seeded Resque queue is there");
}
