//! Queue depths of backend's Resque queues and system's Sidekiq queues, each Redis in one
//! pipelined round trip. The drain step, the `cutover redis queues` subcommand, the live queue
//! panel and the sandbox all read the same figures from here (key names:
//! apisonator and porta).
//!
//! [`queue_depths`] connects, reads and disconnects: right for a one-off reading. A poller uses a
//! [`QueueProbe`], which keeps its connections open between readings and opens a new one only
//! after an error, so reading every second costs one round trip per Redis and no new TCP
//! connections.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use redis::aio::MultiplexedConnection;

use super::url::{redact, scrub_error};

/// Backend's Resque queues in the order its workers fetch them.
pub const RESQUE_QUEUES: [&str; 3] = ["priority", "main", "stats"];

/// The queues `rake sidekiq:worker` processes in porta 2.13–2.16.
pub const SIDEKIQ_QUEUES: [&str; 11] = [
    "backend_sync",
    "billing",
    "critical",
    "default",
    "deletion",
    "events",
    "low",
    "mailers",
    "priority",
    "web_hooks",
    "zync",
];

/// How long connecting, and then each reading, may take before it counts as no answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which 3scale Redis a URL points at, and so which queue keys it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueFamily {
    /// Backend's queues Redis: `resque:queue:<q>` and `resque:failed` (lists).
    Resque,
    /// System's Redis: `queue:<q>` (lists), `schedule`, `retry` and `dead` (sorted sets).
    Sidekiq,
}

impl QueueFamily {
    /// The Redis as the operator knows it, for messages.
    pub fn role(self) -> &'static str {
        match self {
            QueueFamily::Resque => "backend queues",
            QueueFamily::Sidekiq => "system",
        }
    }

    /// Every key this Redis holds a queue in, with the command that counts its jobs.
    pub fn keys(self) -> Vec<(String, &'static str)> {
        match self {
            QueueFamily::Resque => RESQUE_QUEUES
                .iter()
                .map(|q| (format!("resque:queue:{q}"), "LLEN"))
                .chain([("resque:failed".to_string(), "LLEN")])
                .collect(),
            QueueFamily::Sidekiq => SIDEKIQ_QUEUES
                .iter()
                .map(|q| (format!("queue:{q}"), "LLEN"))
                .chain(["schedule", "retry", "dead"].map(|k| (k.to_string(), "ZCARD")))
                .collect(),
        }
    }
}

/// Why the jobs of a set do not leave it by themselves while workers run, for the sets that
/// are not plain queues: draining the queues does not empty them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// Failed jobs (Sidekiq's `dead`, Resque's `resque:failed`): never run again unless retried
    /// by hand.
    Never,
    /// Jobs waiting for their time (Sidekiq's `retry` and `schedule`): run only when it comes,
    /// which may be long after the drain time.
    UntilDue,
}

impl Held {
    /// The set a queue key is, when it does not drain by itself; None for a plain queue.
    pub fn of(key: &str) -> Option<Held> {
        match key {
            "dead" | "resque:failed" => Some(Held::Never),
            "retry" | "schedule" => Some(Held::UntilDue),
            _ => None,
        }
    }

    /// A few words for the operator.
    pub fn text(self) -> &'static str {
        match self {
            Held::Never => "failed, never run again by themselves",
            Held::UntilDue => "run only when their time comes",
        }
    }
}

/// Depth of every queue, keyed by its Redis key: `resque:queue:<q>` and `resque:failed` from
/// `queues_url`; `queue:<q>`, `schedule`, `retry` and `dead` from `system_redis_url`.
/// Connects to both, reads each in one round trip and closes the connections.
pub async fn queue_depths(
    queues_url: &str,
    system_redis_url: &str,
) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut depths = BTreeMap::new();
    for (url, family) in [
        (queues_url, QueueFamily::Resque),
        (system_redis_url, QueueFamily::Sidekiq),
    ] {
        let mut conn = connect(url, family, DEFAULT_TIMEOUT).await?;
        depths.extend(read(&mut conn, url, family, "", DEFAULT_TIMEOUT).await?);
    }
    Ok(depths)
}

/// One Redis a [`QueueProbe`] reads, with its connection while it works.
struct Endpoint {
    url: String,
    family: QueueFamily,
    /// Before every key read (`<namespace>:` of a namespaced Sidekiq), or nothing; the
    /// depths are reported without it.
    prefix: String,
    conn: Option<MultiplexedConnection>,
}

impl Endpoint {
    async fn read(&mut self, timeout: Duration) -> anyhow::Result<Vec<(String, u64)>> {
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => connect(&self.url, self.family, timeout).await?,
        };
        let depths = read(&mut conn, &self.url, self.family, &self.prefix, timeout).await?;
        // Kept only after a reading that worked: after an error the connection may be broken
        // (server restarted, half-open TCP), and the next reading connects again.
        self.conn = Some(conn);
        Ok(depths)
    }
}

/// What one [`QueueProbe::read`] found: the depths of every Redis that answered, and why each
/// other one did not.
#[derive(Debug, Default)]
pub struct QueueReading {
    /// Queue key → jobs, over the Redis servers that answered.
    pub depths: BTreeMap<String, u64>,
    /// One error per Redis that did not answer; passwords already masked.
    pub problems: Vec<anyhow::Error>,
}

/// Reads the queue depths of backend's queues Redis and system's Redis again and again over
/// the same connections, reconnecting after an error.
pub struct QueueProbe {
    endpoints: Vec<Endpoint>,
    timeout: Duration,
}

impl std::fmt::Debug for QueueProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueProbe")
            .field("source", &self.source())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl QueueProbe {
    /// A probe of backend's queues Redis (Resque) and system's Redis (Sidekiq); either may be
    /// missing. Connects on the first [`read`](QueueProbe::read), not here.
    pub fn new(queues_url: Option<String>, system_redis_url: Option<String>) -> QueueProbe {
        let endpoints = [
            (queues_url, QueueFamily::Resque),
            (system_redis_url, QueueFamily::Sidekiq),
        ]
        .into_iter()
        .filter_map(|(url, family)| {
            url.map(|url| Endpoint {
                url,
                family,
                prefix: String::new(),
                conn: None,
            })
        })
        .collect();
        QueueProbe {
            endpoints,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Bounds connecting and each reading (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> QueueProbe {
        self.timeout = timeout;
        self
    }

    /// Reads system's Sidekiq keys under `namespace` (`<namespace>:queue:default`...), as
    /// 3scale 2.13 and earlier write them when `REDIS_NAMESPACE` is set; the depths keep the
    /// plain names.
    pub fn with_sidekiq_namespace(mut self, namespace: Option<&str>) -> QueueProbe {
        let prefix = namespace.map(|n| format!("{n}:")).unwrap_or_default();
        for e in &mut self.endpoints {
            if e.family == QueueFamily::Sidekiq {
                e.prefix = prefix.clone();
            }
        }
        self
    }

    /// Whether it reads system's Redis (Sidekiq's queues).
    pub fn reads_system_redis(&self) -> bool {
        self.endpoints
            .iter()
            .any(|e| e.family == QueueFamily::Sidekiq)
    }

    /// Whether it has no Redis to read.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// The Redis servers it reads, passwords masked: `redis://h:6379/1, redis://h:6379/0`.
    pub fn source(&self) -> String {
        self.endpoints
            .iter()
            .map(|e| redact(&e.url))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The URLs it reads, unmasked: for scrubbing text that may quote them.
    pub fn urls(&self) -> impl Iterator<Item = &str> {
        self.endpoints.iter().map(|e| e.url.as_str())
    }

    /// Reads every Redis at once, each in one round trip. A Redis that does not answer adds
    /// a problem and leaves the others' depths intact.
    pub async fn read(&mut self) -> QueueReading {
        let timeout = self.timeout;
        let readings =
            futures::future::join_all(self.endpoints.iter_mut().map(|e| e.read(timeout))).await;
        let mut out = QueueReading::default();
        for reading in readings {
            match reading {
                Ok(depths) => out.depths.extend(depths),
                Err(e) => out.problems.push(e),
            }
        }
        out
    }
}

async fn connect(
    url: &str,
    family: QueueFamily,
    timeout: Duration,
) -> anyhow::Result<MultiplexedConnection> {
    let role = family.role();
    let shown = redact(url);
    let client = redis::Client::open(url)
        .map_err(|e| scrub_error(&e, url))
        .with_context(|| format!("{shown} is not a Redis URL (for the {role} Redis)"))?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    // The outer timeout also bounds the handshake (AUTH, SELECT) of a server that accepts
    // connections but does not answer.
    let connected = tokio::time::timeout(
        timeout,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await;
    let result = match connected {
        Ok(result) => result.map_err(|e| scrub_error(&e, url)),
        Err(_) => Err(anyhow::anyhow!("no answer within {timeout:?}")),
    };
    result.with_context(|| {
        format!(
            "the {role} Redis at {shown} did not answer (check that the server runs, that it is \
             reachable from this host, and the password in the URL)"
        )
    })
}

async fn read(
    conn: &mut MultiplexedConnection,
    url: &str,
    family: QueueFamily,
    prefix: &str,
    timeout: Duration,
) -> anyhow::Result<Vec<(String, u64)>> {
    let keys = family.keys();
    let role = family.role();
    let shown = redact(url);
    let mut pipe = redis::pipe();
    for (key, command) in &keys {
        pipe.cmd(command).arg(format!("{prefix}{key}"));
    }
    let counts: Vec<u64> = match pipe.query_async(conn).await {
        Ok(counts) => counts,
        Err(e) if e.is_timeout() || e.is_io_error() || e.is_connection_dropped() => {
            return Err(scrub_error(&e, url)).with_context(|| {
                format!(
                    "the {role} Redis at {shown} stopped answering (no reply within {timeout:?} \
                     or the connection broke); check that the server runs and is reachable"
                )
            });
        }
        Err(e) => {
            return Err(scrub_error(&e, url)).with_context(|| {
                format!(
                    "reading the queue depths of the {role} Redis at {shown} failed (a key of \
                     the wrong type answers WRONGTYPE: check that the URL points at the {role} \
                     Redis)"
                )
            });
        }
    };
    Ok(keys.into_iter().map(|(k, _)| k).zip(counts).collect())
}

/// Sidekiq's namespace at the source `kube` (its namespace is the installation's), with how it
/// was found. 3scale 2.13 and earlier prefix every key of system's Redis with `REDIS_NAMESPACE`
/// (system-app's environment, from secret system-redis key NAMESPACE); from 2.14 the variable is
/// no longer given to system-app, and a NAMESPACE left in the secret is not used. So
/// system-app's environment decides; the secret only when system-app is not there to read.
pub async fn sidekiq_namespace(
    kube: &crate::infra::kube::KubeCluster,
) -> anyhow::Result<(Option<String>, String)> {
    use crate::infra::kube::EnvSource;
    let secret_value = |secret: Option<k8s_openapi::api::core::v1::Secret>, key: &str| {
        secret
            .and_then(|s| s.data)
            .and_then(|d| d.get(key).map(|v| v.0.clone()))
            .map(|v| String::from_utf8_lossy(&v).trim().to_string())
            .filter(|v| !v.is_empty())
    };
    match kube.workload_env("system-app", "REDIS_NAMESPACE").await {
        Ok(Some(EnvSource::Value(v))) if !v.trim().is_empty() => Ok((
            Some(v.trim().to_string()),
            "system-app's REDIS_NAMESPACE".into(),
        )),
        Ok(Some(EnvSource::SecretKey { secret, key })) => {
            let value = secret_value(kube.get_secret(None, &secret).await?, &key);
            let how = format!("system-app's REDIS_NAMESPACE, from secret {secret}/{key}");
            Ok((value, how))
        }
        Ok(Some(EnvSource::Other(from))) => anyhow::bail!(
            "system-app reads REDIS_NAMESPACE from {from}, which cutover does not resolve; \
             the queue keys depend on it"
        ),
        Ok(_) => {
            let unused = secret_value(kube.get_secret(None, "system-redis").await?, "NAMESPACE");
            let how = match unused {
                Some(_) => "system-app has no REDIS_NAMESPACE (3scale 2.14 and later): \
                            secret system-redis names a NAMESPACE that system-app does not use"
                    .to_string(),
                None => "system-app has no REDIS_NAMESPACE".to_string(),
            };
            Ok((None, how))
        }
        Err(_) => {
            let value = secret_value(kube.get_secret(None, "system-redis").await?, "NAMESPACE");
            Ok((
                value,
                "secret system-redis/NAMESPACE (no system-app to read)".into(),
            ))
        }
    }
}
