//! Prerequisite checks that need no Kubernetes: the configured data stores answer,
//! the dump tools are there and new enough, the kubeconfigs name their contexts,
//! and the dump folder has room. Each changes nothing, so its re-check on resume
//! is simply running it again.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use futures::future::join_all;
use serde_json::{Map, Value, json};

use super::{Recheck, StepAction, StepContext, StepFuture, StepResult};
use crate::config::{Store, StoreKind};
use crate::format::bytes;
use crate::infra;
use crate::runbook::{DbKind, Outcome};

/// How long one data store may take to answer a probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Free space wanted per byte of estimated data: each database is dumped twice
/// (from the source and again from the migration cluster) and Redis once.
const DISK_MARGIN: f64 = 2.0;

type CheckFn = for<'a> fn(&'a StepContext) -> StepFuture<'a, StepResult>;

/// A read-only check: running it again is its re-check.
pub(super) struct Check(pub(super) CheckFn);

impl StepAction for Check {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        (self.0)(ctx)
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            let r = (self.0)(ctx).await?;
            Ok(match r.outcome {
                Outcome::Failed => Recheck::DoesNotHold(r.summary),
                _ => Recheck::Holds(r.summary),
            })
        })
    }
}

pub(super) static CHECK_REDIS: &dyn StepAction = &Check(|ctx| Box::pin(check_redis(ctx)));
pub(super) static CHECK_POSTGRESQL: &dyn StepAction =
    &Check(|ctx| Box::pin(check_sql(ctx, DbKind::Postgresql)));
pub(super) static CHECK_MYSQL: &dyn StepAction =
    &Check(|ctx| Box::pin(check_sql(ctx, DbKind::Mysql)));
pub(super) static CHECK_DUMP_TOOLS: &dyn StepAction = &Check(|ctx| Box::pin(check_dump_tools(ctx)));
pub(super) static CHECK_DISK_SPACE: &dyn StepAction = &Check(|ctx| Box::pin(check_disk_space(ctx)));
pub(super) static CHECK_KUBECONFIGS: &dyn StepAction =
    &Check(|ctx| Box::pin(check_kubeconfigs(ctx)));
pub(super) static CHECK_CLUSTER_ACCESS: &dyn StepAction =
    &Check(|ctx| Box::pin(super::access::check_cluster_access(ctx)));

/// The outcome of probing every store of one kind.
struct Probed<T> {
    ok: Vec<(Store, T)>,
    failed: Vec<(Store, String)>,
}

async fn probe_all<T, F, Fut>(ctx: &StepContext, stores: Vec<Store>, probe: F) -> Probed<T>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let attempts = stores.into_iter().map(|store| {
        let fut = store.url_value().map(&probe);
        async move {
            let result = match fut {
                Ok(f) => f.await,
                Err(e) => Err(e),
            };
            (store, result)
        }
    });
    let mut out = Probed {
        ok: Vec::new(),
        failed: Vec::new(),
    };
    for (store, result) in join_all(attempts).await {
        match result {
            Ok(info) => out.ok.push((store, info)),
            Err(e) => {
                let msg = format!("{e:#}");
                ctx.sink.error(format!("{}: {msg}", store.key));
                out.failed.push((store, msg));
            }
        }
    }
    out
}

fn conclude<T>(
    what: &str,
    probed: &Probed<T>,
    describe: impl Fn(&T) -> String,
    figures: Map<String, Value>,
) -> StepResult {
    let answered: Vec<String> = probed
        .ok
        .iter()
        .map(|(s, info)| format!("{} {}", s.key, describe(info)))
        .collect();
    if probed.failed.is_empty() {
        StepResult::passed(
            format!(
                "{} {what} answered: {}",
                probed.ok.len(),
                answered.join("; ")
            ),
            figures,
        )
    } else {
        let failed: Vec<String> = probed
            .failed
            .iter()
            .map(|(s, e)| format!("{}: {e}", s.key))
            .collect();
        StepResult::failed(
            format!(
                "{} of {} {what} did not answer: {}",
                probed.failed.len(),
                probed.failed.len() + probed.ok.len(),
                failed.join("; ")
            ),
            figures,
        )
    }
}

async fn check_redis(ctx: &StepContext) -> Result<StepResult> {
    let stores: Vec<Store> = ctx
        .config
        .stores()
        .filter(|s| s.kind.is_redis())
        .cloned()
        .collect();
    if stores.is_empty() {
        return Ok(StepResult::not_applicable(
            "no Redis URL in the config; the inventory finds them in the cluster's secrets",
        ));
    }
    let probed = probe_all(ctx, stores, |url| async move {
        infra::redis::probe(&url, PROBE_TIMEOUT).await
    })
    .await;
    let mut figures = Map::new();
    for (s, info) in &probed.ok {
        ctx.sink.info(format!(
            "{}: Redis {} ({}), {} used, {} keys",
            s.key,
            info.version,
            info.role,
            bytes(info.used_memory),
            info.keys
        ));
        figures.insert(
            s.key.clone(),
            json!({"version": info.version, "used_memory": info.used_memory, "keys": info.keys, "role": info.role}),
        );
    }
    Ok(conclude(
        "Redis",
        &probed,
        |i| format!("{} ({} used)", i.version, bytes(i.used_memory)),
        figures,
    ))
}

fn sql_stores(ctx: &StepContext, kind: DbKind) -> Vec<Store> {
    ctx.config
        .stores()
        .filter(|s| s.kind.db_kind() == Some(kind))
        .cloned()
        .collect()
}

async fn check_sql(ctx: &StepContext, kind: DbKind) -> Result<StepResult> {
    let stores = sql_stores(ctx, kind);
    if stores.is_empty() {
        return Ok(StepResult::not_applicable(format!(
            "no {kind} database URL in the config; the inventory finds them in the cluster's secrets"
        )));
    }
    let mut figures = Map::new();
    let result = match kind {
        DbKind::Postgresql => {
            let probed = probe_all(ctx, stores, |url| async move {
                infra::pg::probe(&url, PROBE_TIMEOUT).await
            })
            .await;
            for (s, i) in &probed.ok {
                ctx.sink.info(format!(
                    "{}: PostgreSQL {}, database {} is {}",
                    s.key,
                    i.server_version,
                    i.database,
                    bytes(i.size_bytes)
                ));
                figures.insert(
                    s.key.clone(),
                    json!({"server_version": i.server_version, "major": i.major, "database": i.database, "size_bytes": i.size_bytes}),
                );
            }
            conclude(
                "PostgreSQL",
                &probed,
                |i| format!("{} ({})", i.server_version, bytes(i.size_bytes)),
                figures,
            )
        }
        DbKind::Mysql => {
            let probed = probe_all(ctx, stores, |url| async move {
                infra::mysql::probe(&url, PROBE_TIMEOUT).await
            })
            .await;
            for (s, i) in &probed.ok {
                ctx.sink.info(format!(
                    "{}: {} {}, database {} is {}",
                    s.key,
                    i.flavor,
                    i.server_version,
                    i.database,
                    bytes(i.size_bytes)
                ));
                figures.insert(
                    s.key.clone(),
                    json!({"server_version": i.server_version, "flavor": i.flavor, "database": i.database, "size_bytes": i.size_bytes}),
                );
            }
            conclude(
                "MySQL",
                &probed,
                |i| {
                    format!(
                        "{} {} ({})",
                        i.flavor,
                        i.server_version,
                        bytes(i.size_bytes)
                    )
                },
                figures,
            )
        }
        DbKind::Oracle => {
            StepResult::not_applicable("Oracle is checked by hand (see the procedure)")
        }
    };
    Ok(result)
}

async fn check_dump_tools(ctx: &StepContext) -> Result<StepResult> {
    let mut figures = Map::new();
    let mut problems = Vec::new();
    let mut found = Vec::new();

    // The servers' majors decide how new pg_dump and pg_restore must be.
    let pg = probe_all(ctx, sql_stores(ctx, DbKind::Postgresql), |url| async move {
        infra::pg::probe(&url, PROBE_TIMEOUT).await
    })
    .await;
    for (s, e) in &pg.failed {
        problems.push(format!("cannot read the server version of {}: {e}", s.key));
    }
    let newest = pg.ok.iter().map(|(s, i)| (i.major, s.key.clone())).max();

    let source_mysql = ctx.config.source_db_kind() == Some(DbKind::Mysql);
    let mut tools = vec!["pg_dump", "pg_restore"];
    if source_mysql {
        tools.extend(["pgloader", "mysqldump"]);
    }
    for tool in tools {
        match infra::tools::version(tool).await? {
            None => problems.push(format!("{tool} is not installed (or not on PATH)")),
            Some(v) => {
                ctx.sink
                    .info(format!("{tool} {} at {}", v.version, v.path.display()));
                figures.insert(
                    tool.to_string(),
                    json!({"version": v.version, "major": v.major, "path": v.path.display().to_string()}),
                );
                if let Some((major, key)) = &newest
                    && (tool == "pg_dump" || tool == "pg_restore")
                    && v.major < *major
                {
                    problems.push(format!(
                        "{tool} {} is older than PostgreSQL {major} at {key}; install the \
                         postgresql-client-{major} package (or newer)",
                        v.version
                    ));
                }
                found.push(format!("{tool} {}", v.version));
            }
        }
    }
    if let Some((major, _)) = &newest {
        figures.insert("newest_server_major".into(), json!(major));
    }
    Ok(if problems.is_empty() {
        let against = newest
            .map(|(m, _)| format!(", new enough for PostgreSQL {m}"))
            .unwrap_or_default();
        StepResult::passed(format!("{}{against}", found.join(", ")), figures)
    } else {
        StepResult::failed(problems.join("; "), figures)
    })
}

async fn check_disk_space(ctx: &StepContext) -> Result<StepResult> {
    let config = &ctx.config;
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    let mut unknown = Vec::new();
    let stores: Vec<Store> = config.stores().cloned().collect();
    let futures = stores.into_iter().map(|store| async move {
        let size = async {
            let url = store.url_value()?;
            Ok::<u64, anyhow::Error>(match store.kind {
                k if k.is_redis() => infra::redis::probe(&url, PROBE_TIMEOUT).await?.used_memory,
                StoreKind::SystemDatabase(DbKind::Mysql) => {
                    infra::mysql::probe(&url, PROBE_TIMEOUT).await?.size_bytes
                }
                StoreKind::SystemDatabase(DbKind::Oracle) => {
                    anyhow::bail!("Oracle sizes are not measured")
                }
                _ => infra::pg::probe(&url, PROBE_TIMEOUT).await?.size_bytes,
            })
        }
        .await;
        (store, size)
    });
    for (store, size) in join_all(futures).await {
        match size {
            Ok(n) => {
                sizes.insert(store.key.clone(), n);
            }
            Err(e) => {
                ctx.sink.warn(format!("{}: size unknown: {e:#}", store.key));
                unknown.push(store.key.clone());
            }
        }
    }
    let (free, measured_at) = infra::disk::free_space(&config.dumps.folder)?;
    let data: u64 = sizes.values().sum();
    let needed = (data as f64 * DISK_MARGIN) as u64;
    let mut figures = Map::new();
    figures.insert(
        "folder".into(),
        json!(config.dumps.folder.display().to_string()),
    );
    figures.insert(
        "measured_at".into(),
        json!(measured_at.display().to_string()),
    );
    figures.insert("free_bytes".into(), json!(free));
    figures.insert("data_bytes".into(), json!(data));
    figures.insert("needed_bytes".into(), json!(needed));
    figures.insert("sizes".into(), json!(sizes));
    ctx.sink.info(format!(
        "{} free at {}; data {} x {DISK_MARGIN} margin = {} needed",
        bytes(free),
        measured_at.display(),
        bytes(data),
        bytes(needed)
    ));
    if sizes.is_empty() {
        let mut r = StepResult::not_applicable(format!(
            "{} free in {}; no data store size is known yet, so nothing to compare",
            bytes(free),
            config.dumps.folder.display()
        ));
        r.figures = figures;
        return Ok(r);
    }
    if !unknown.is_empty() {
        return Ok(StepResult::failed(
            format!(
                "cannot estimate the dumps: the size of {} is unknown (see the log); {} free",
                unknown.join(", "),
                bytes(free)
            ),
            figures,
        ));
    }
    Ok(if free >= needed {
        StepResult::passed(
            format!(
                "{} free in {}, {} needed ({} of data x {DISK_MARGIN})",
                bytes(free),
                config.dumps.folder.display(),
                bytes(needed),
                bytes(data)
            ),
            figures,
        )
    } else {
        StepResult::failed(
            format!(
                "only {} free in {}, {} needed ({} of data x {DISK_MARGIN}); free space or point \
                 dumps.folder at a larger disk",
                bytes(free),
                config.dumps.folder.display(),
                bytes(needed),
                bytes(data)
            ),
            figures,
        )
    })
}

async fn check_kubeconfigs(ctx: &StepContext) -> Result<StepResult> {
    let mut figures = Map::new();
    let mut problems = Vec::new();
    let mut found = Vec::new();
    for cluster in &ctx.config.clusters {
        let role = cluster.role;
        let path = &cluster.kubeconfig;
        let kubeconfig = match kube::config::Kubeconfig::read_from(path) {
            Ok(k) => k,
            Err(e) => {
                // The innermost cause says what is wrong (missing file, bad YAML)
                // without repeating the path.
                let mut cause: &dyn std::error::Error = &e;
                while let Some(next) = cause.source() {
                    cause = next;
                }
                problems.push(format!(
                    "{role}: cannot read kubeconfig {}: {cause}; check [{role}].kubeconfig",
                    path.display()
                ));
                continue;
            }
        };
        let wanted = cluster
            .context
            .clone()
            .or(kubeconfig.current_context.clone());
        let Some(wanted) = wanted else {
            problems.push(format!(
                "{role}: kubeconfig {} has no current context; set [{role}].context",
                path.display()
            ));
            continue;
        };
        let Some(ctx_entry) = kubeconfig.contexts.iter().find(|c| c.name == wanted) else {
            let names: Vec<&str> = kubeconfig
                .contexts
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            problems.push(format!(
                "{role}: context `{wanted}` is not in {}; it has: {}",
                path.display(),
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ));
            continue;
        };
        let cluster_name = ctx_entry
            .context
            .as_ref()
            .map(|c| c.cluster.clone())
            .unwrap_or_default();
        let server = kubeconfig
            .clusters
            .iter()
            .find(|c| c.name == cluster_name)
            .and_then(|c| c.cluster.as_ref())
            .and_then(|c| c.server.clone());
        let Some(server) = server else {
            problems.push(format!(
                "{role}: context `{wanted}` names cluster `{cluster_name}`, which has no server in {}",
                path.display()
            ));
            continue;
        };
        ctx.sink.info(format!(
            "{role}: context {wanted} -> {server}, namespace {}",
            cluster.namespace
        ));
        figures.insert(
            role.to_string(),
            json!({"context": wanted, "server": server, "namespace": cluster.namespace}),
        );
        found.push(format!("{role} ({wanted})"));
    }
    Ok(if problems.is_empty() {
        StepResult::passed(
            format!("kubeconfigs name their contexts: {}", found.join(", ")),
            figures,
        )
    } else {
        StepResult::failed(problems.join("; "), figures)
    })
}
