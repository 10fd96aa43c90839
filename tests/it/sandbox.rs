//! The rehearsal sandbox seen through the real kube-rs client: the source's in-cluster
//! data stores are the sandbox's real servers, behind exec and port-forward.

use std::time::Duration;

use cutover::config::Cluster;
use cutover::infra::kube::{KubeCluster, WorkloadKind};
use cutover::runbook::ClusterRole;
use cutover::sim::sandbox::{SOURCE_NAMESPACE, Sandbox, SandboxOptions, SourceDatabase};

use crate::sim_seed::{count, pg, redis_conn};

fn source_config(sandbox: &Sandbox) -> Cluster {
    Cluster {
        role: ClusterRole::Source,
        kubeconfig: sandbox.kubeconfig.clone(),
        context: Some("source".into()),
        namespace: SOURCE_NAMESPACE.into(),
        wildcard_domain: None,
        system_database_kind: None,
        stores: Vec::new(),
        threescale_api: Default::default(),
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
        source_database: SourceDatabase::Postgresql,
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

/// A temporary folder the user `postgres` can enter, for a sandbox that may start a
/// PostgreSQL of its own in it (as root, the server runs as that user).
pub fn reachable_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix("cutover-sandbox-test")
        .permissions(std::fs::Permissions::from_mode(0o755))
        .tempdir()
        .expect("a temporary folder")
}

fn backend_worker(sandbox: &Sandbox) -> serde_json::Value {
    sandbox
        .source
        .get_object(
            "apps.openshift.io/v1",
            "DeploymentConfig",
            SOURCE_NAMESPACE,
            "backend-worker",
        )
        .expect("backend-worker")
}

/// The depth of backend's priority queue once it no longer moves: the same in three reads in a
/// row.
async fn settled_depth(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let mut seen = Vec::new();
    for _ in 0..100 {
        let depth: u64 = redis::cmd("LLEN")
            .arg("resque:queue:priority")
            .query_async(conn)
            .await
            .expect("LLEN");
        seen.push(depth);
        if seen.len() >= 3 && seen[seen.len() - 3..].iter().all(|d| *d == depth) {
            return depth;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("the queue never stopped moving: {seen:?}");
}

fn refuses(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
}

fn port_of(url: &str) -> u16 {
    url.rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

/// The first number `sql` gives on the source's system database, MySQL or PostgreSQL.
async fn source_count(url: &str, sql: &str) -> i64 {
    if url.starts_with("mysql://") {
        let mut conn = mysql_async::Conn::from_url(url)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        let n: Option<i64> = mysql_async::prelude::Queryable::query_first(&mut conn, sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = conn.disconnect().await;
        n.unwrap_or_default()
    } else {
        let sql = sql.replace("CAST(sum(n) AS SIGNED)", "sum(n)::bigint");
        count(&pg(url).await, &sql).await
    }
}

async fn source_execute(url: &str, sql: &str) {
    if url.starts_with("mysql://") {
        let mut conn = mysql_async::Conn::from_url(url)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        mysql_async::prelude::Queryable::query_drop(&mut conn, sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = conn.disconnect().await;
    } else {
        pg(url)
            .await
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// Stops a kept sandbox, starts it again from its folder and checks that what was changed
/// through the real clients before is there after: a scaled workload with its resourceVersion,
/// a new secret, a Redis key, a database row; then removes it.
async fn kept_sandbox_round_trip(options: SandboxOptions) {
    let dir = reachable_tempdir();
    let folder = dir.path().join("sandbox");
    let sandbox = Sandbox::create(&folder, options)
        .await
        .expect("the kept sandbox starts");
    assert!(folder.join("sandbox.json").is_file());
    let kube = KubeCluster::connect(&source_config(&sandbox).target())
        .await
        .expect("connect");
    for workload in ["backend-worker", "apicast-production"] {
        kube.scale(WorkloadKind::DeploymentConfig, workload, 0)
            .await
            .expect("scale to 0");
    }
    let scaled = backend_worker(&sandbox);
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "kept-secret"},
        "stringData": {"KEY": "value"},
    }))
    .expect("a secret");
    kube.create_secret(None, &secret).await.expect("create");
    let mut redis = redis_conn(&sandbox.stores.source_backend_redis).await;
    let _: () = redis::cmd("SET")
        .arg("kept-key")
        .arg("kept-value")
        .query_async(&mut redis)
        .await
        .expect("SET");
    let db = sandbox.stores.source_system_database.clone();
    let accounts = source_count(&db, "SELECT count(*) FROM accounts").await;
    source_execute(&db, "CREATE TABLE kept_rows (n int)").await;
    source_execute(&db, "INSERT INTO kept_rows VALUES (7)").await;
    // The workers stop with their workloads: the queue stops moving.
    let mut queues = redis_conn(&sandbox.stores.source_backend_queues).await;
    let depth = settled_depth(&mut queues).await;
    let kubeconfig = std::fs::read_to_string(&sandbox.kubeconfig).expect("kubeconfig");
    let stores = format!("{:?}", sandbox.stores);
    let ports = [
        port_of(&sandbox.stores.source_backend_redis),
        port_of(&sandbox.stores.destination.system_redis),
        sandbox.source.addr().port(),
        sandbox.destination.addr().port(),
    ];
    drop((redis, queues, kube));
    drop(sandbox);
    for port in ports {
        // A cluster's server task lets its port go once the runtime runs it.
        let mut tries = 0;
        while !refuses(port) && tries < 100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            tries += 1;
        }
        assert!(refuses(port), "port {port} still answers after the stop");
    }

    let sandbox = Sandbox::resume(&folder)
        .await
        .expect("the sandbox starts again");
    assert_eq!(format!("{:?}", sandbox.stores), stores, "the same stores");
    assert_eq!(
        std::fs::read_to_string(&sandbox.kubeconfig).expect("kubeconfig"),
        kubeconfig,
        "the same clusters"
    );
    let again = backend_worker(&sandbox);
    assert_eq!(again["spec"]["replicas"], 0);
    assert_eq!(
        again["metadata"]["resourceVersion"],
        scaled["metadata"]["resourceVersion"]
    );
    assert_eq!(again["metadata"]["uid"], scaled["metadata"]["uid"]);
    let kube = KubeCluster::connect(&source_config(&sandbox).target())
        .await
        .expect("connect again");
    let kept = kube
        .get_secret(None, "kept-secret")
        .await
        .expect("get")
        .expect("the secret is still there");
    assert!(kept.data.is_some_and(|d| d.contains_key("KEY")));
    let mut redis = redis_conn(&sandbox.stores.source_backend_redis).await;
    let value: String = redis::cmd("GET")
        .arg("kept-key")
        .query_async(&mut redis)
        .await
        .expect("GET");
    assert_eq!(value, "kept-value");
    let mut queues = redis_conn(&sandbox.stores.source_backend_queues).await;
    assert_eq!(
        settled_depth(&mut queues).await,
        depth,
        "no worker ran: their workloads are at 0"
    );
    assert_eq!(
        source_count(&db, "SELECT count(*) FROM accounts").await,
        accounts
    );
    assert_eq!(
        source_count(&db, "SELECT CAST(sum(n) AS SIGNED) FROM kept_rows").await,
        7
    );
    drop((redis, queues, kube));

    let left = sandbox.remove("the test is over");
    assert!(left.is_empty(), "{left:?}");
    assert!(cutover::sim::sandbox::removal(&folder).is_some());
    assert!(!folder.join("redis").exists() && !folder.join("clusters").exists());
    let err = match Sandbox::resume(&folder).await {
        Ok(_) => panic!("a removed sandbox starts again"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("removed"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_sandbox_starts_again_from_its_folder_as_it_was_left() {
    kept_sandbox_round_trip(SandboxOptions {
        pod_start_delay: Duration::from_millis(50),
        pod_stop_delay: Duration::from_millis(50),
        source_database: SourceDatabase::Postgresql,
        ..SandboxOptions::default()
    })
    .await;
}

/// A MySQL source (the default) on a machine where no MariaDB answers: the sandbox runs one of
/// its own in its folder, and starts it again from there with the source's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_sandbox_with_a_mysql_source_on_a_mariadb_of_its_own_starts_it_again() {
    let nobody = crate::support::RefusingPort::new();
    kept_sandbox_round_trip(SandboxOptions {
        pod_start_delay: Duration::from_millis(50),
        pod_stop_delay: Duration::from_millis(50),
        mariadb_admin_url: format!("mysql://root@127.0.0.1:{}/", nobody.port()),
        ..SandboxOptions::default()
    })
    .await;
}

/// As on a machine where no PostgreSQL answers: the sandbox runs one of its own in its
/// folder, and starts it again from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_sandbox_with_a_postgresql_of_its_own_starts_it_again() {
    let nobody = crate::support::RefusingPort::new();
    kept_sandbox_round_trip(SandboxOptions {
        pod_start_delay: Duration::from_millis(50),
        pod_stop_delay: Duration::from_millis(50),
        postgres_admin_url: format!("postgresql://postgres@127.0.0.1:{}/postgres", nobody.port()),
        ..SandboxOptions::default()
    })
    .await;
}
