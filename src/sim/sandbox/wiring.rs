//! How the sandbox's parts are tied together: the objects applied to a cluster, the source's
//! pods mapped onto the sandbox's servers (exec and port-forward), and the simulated workers
//! switched on and off with the source's replicas.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::options::SOURCE_NAMESPACE;
use crate::sim::exec::ExecRule;
use crate::sim::server::SimCluster;
use crate::sim::servers::{PgDatabase, PgServer, RedisProcess};

pub(super) fn apply_all(cluster: &SimCluster, objects: Vec<Value>) -> Result<()> {
    for object in objects {
        cluster.apply_object(object)?;
    }
    Ok(())
}

/// The source's in-cluster data stores are the sandbox's servers: port-forwards to
/// their pods reach them, and the commands the dump steps run in those pods run here.
pub(super) fn wire_source_pods(
    source: &SimCluster,
    backend: &RedisProcess,
    system: &RedisProcess,
    system_db: &PgDatabase,
    zync_db: &PgDatabase,
    postgres: &PgServer,
) -> Result<()> {
    let pg_addr = server_addr(postgres.admin_url()).with_context(|| {
        format!(
            "cannot tell the address of PostgreSQL at {}",
            crate::infra::url::redact(postgres.admin_url())
        )
    })?;
    let local = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    source.forward_port("backend-redis", 6379, local(backend.port()));
    source.forward_port("system-redis", 6379, local(system.port()));
    source.forward_port("system-postgresql", 5432, pg_addr);
    source.forward_port("zync-database", 5432, pg_addr);
    let port = |r: &RedisProcess| r.port().to_string();
    source.allow_exec(
        ExecRule::new(
            "backend-redis",
            &["redis-cli"],
            &["redis-cli", "-p", &port(backend)],
        )
        .with_extra_args(),
    );
    source.allow_exec(
        ExecRule::new(
            "system-redis",
            &["redis-cli"],
            &["redis-cli", "-p", &port(system)],
        )
        .with_extra_args(),
    );
    // The dump step asks the server where it saves (CONFIG GET dir, which names the sandbox
    // server's folder) and reads that file; the images' default path maps there too.
    for (pod, server) in [("backend-redis", backend), ("system-redis", system)] {
        if let Some(rdb) = server.rdb_path() {
            let rdb = rdb.display().to_string();
            for asked in ["/var/lib/redis/data/dump.rdb", rdb.as_str()] {
                source.allow_exec(ExecRule::new(pod, &["cat", asked], &["cat", &rdb]));
            }
        }
    }
    source.allow_exec(
        ExecRule::new(
            "system-postgresql",
            &["pg_dump"],
            &["pg_dump", "-d", system_db.url()],
        )
        .with_extra_args(),
    );
    source.allow_exec(
        ExecRule::new(
            "system-postgresql",
            &["psql"],
            &["psql", "-d", system_db.url()],
        )
        .with_extra_args(),
    );
    source.allow_exec(
        ExecRule::new(
            "zync-database",
            &["pg_dump"],
            &["pg_dump", "-d", zync_db.url()],
        )
        .with_extra_args(),
    );
    source.allow_exec(
        ExecRule::new("zync-database", &["psql"], &["psql", "-d", zync_db.url()]).with_extra_args(),
    );
    Ok(())
}

/// A MySQL source: its `system-mysql` pod forwards to the MariaDB the sandbox seeded.
pub(super) fn wire_source_mysql(source: &SimCluster, admin_url: &str) -> Result<()> {
    let p = crate::infra::url::parts(admin_url).with_context(|| {
        format!(
            "cannot tell the address of MariaDB at {}",
            crate::infra::url::redact(admin_url)
        )
    })?;
    let addr: SocketAddr = format!(
        "{}:{}",
        if p.host == "localhost" {
            "127.0.0.1"
        } else {
            p.host
        },
        p.port.unwrap_or("3306")
    )
    .parse()
    .with_context(|| {
        format!(
            "cannot tell the address of MariaDB at {}",
            crate::infra::url::redact(admin_url)
        )
    })?;
    source.forward_port("system-mysql", 3306, addr);
    Ok(())
}

/// `host:port` of a PostgreSQL URL, for the port-forward target.
fn server_addr(url: &str) -> Option<SocketAddr> {
    let p = crate::infra::url::parts(url)?;
    let host = if p.host == "localhost" {
        "127.0.0.1"
    } else {
        p.host
    };
    format!("{host}:{}", p.port.unwrap_or("5432")).parse().ok()
}

/// Whether each simulated worker runs: the workloads that do its work have replicas.
pub(super) struct WorkerFlags {
    pub backend: watch::Receiver<bool>,
    pub sidekiq: watch::Receiver<bool>,
    pub apicast: watch::Receiver<bool>,
    pub que: watch::Receiver<bool>,
}

/// The source's workloads whose replicas turn the workers on and off: backend-worker drains
/// Resque, system-sidekiq drains Sidekiq, apicast-production makes traffic, zync-que works the
/// que.
const WORKER_WORKLOADS: [&str; 4] = [
    "backend-worker",
    "system-sidekiq",
    "apicast-production",
    "zync-que",
];

/// Whether `name` has replicas in the source now.
fn has_replicas(cluster: &SimCluster, name: &str) -> bool {
    cluster
        .get_object(
            "apps.openshift.io/v1",
            "DeploymentConfig",
            SOURCE_NAMESPACE,
            name,
        )
        .and_then(|o| o.pointer("/spec/replicas").and_then(Value::as_i64))
        .unwrap_or(0)
        > 0
}

/// Polls the source's workloads and turns the workers on and off with their replicas. The
/// flags start as the replicas are now, so a sandbox started again after a scale-down has its
/// workers stopped from the first moment. The task holds the cluster weakly: dropping the
/// sandbox stops the cluster at once.
pub(super) fn watch_source_replicas(source: &Arc<SimCluster>) -> (WorkerFlags, AbortOnDrop) {
    let (senders, receivers): (Vec<_>, Vec<_>) = WORKER_WORKLOADS
        .iter()
        .map(|name| watch::channel(has_replicas(source, name)))
        .unzip();
    let cluster = Arc::downgrade(source);
    let task = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let Some(cluster) = cluster.upgrade() else {
                return;
            };
            for (name, tx) in WORKER_WORKLOADS.iter().zip(&senders) {
                let now = has_replicas(&cluster, name);
                tx.send_if_modified(|on| std::mem::replace(on, now) != now);
            }
        }
    });
    let mut r = receivers.into_iter();
    let mut next = || r.next().unwrap_or_else(|| watch::channel(false).1);
    let flags = WorkerFlags {
        backend: next(),
        sidekiq: next(),
        apicast: next(),
        que: next(),
    };
    (flags, AbortOnDrop(task))
}

pub(super) struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_address_of_a_postgresql_url() {
        assert_eq!(
            server_addr("postgresql://postgres@127.0.0.1:5432/postgres"),
            "127.0.0.1:5432".parse().ok()
        );
        assert_eq!(
            server_addr("postgresql://u:p@localhost:6543/x?sslmode=disable"),
            "127.0.0.1:6543".parse().ok()
        );
    }
}
