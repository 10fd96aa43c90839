//! The step itself: reading the versions, the workloads, the stores and the permissions, the
//! summary and figures, and the re-check after a crash.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

use super::locate::{locate, sentinel_key};
use super::record::{
    FACT, Inventory, Location, Permissions, SCHEMA, STORE_KEYS, THREESCALE_WORKLOADS, VersionFound,
    Versions, Workload, recorded, value_of,
};
use crate::infra::kube::{CustomKind, WorkloadInfo, WorkloadKind};
use crate::runbook::{Action, ClusterRole, ids};
use crate::steps::access::{required, resource_name};
use crate::steps::{Recheck, StepAction, StepContext, StepFuture, StepResult};

struct InventoryStep;

pub(in crate::steps) static INVENTORY: &dyn StepAction = &InventoryStep;

impl StepAction for InventoryStep {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(run(ctx))
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(recheck(ctx))
    }
}

/// How a finding is reported: to the step log when the step runs, nowhere on a re-check.
struct Findings<'a> {
    ctx: &'a StepContext,
    quiet: bool,
    warnings: Vec<String>,
}

impl Findings<'_> {
    fn info(&self, line: String) {
        if !self.quiet {
            self.ctx.sink.info(line);
        }
    }

    fn warn(&mut self, line: String) {
        if !self.quiet {
            self.ctx.sink.warn(line.clone());
        }
        self.warnings.push(line);
    }
}

/// What taking the inventory gave: the inventory, or why the step fails.
enum Taken {
    Found(Box<Inventory>),
    Failed(String),
}

async fn take(ctx: &StepContext, report: &mut Findings<'_>) -> Result<Taken> {
    let source = ctx.cluster(ClusterRole::Source).await?;
    let ns = source.namespace().to_string();

    // Versions. The source's may be unreadable only when its workloads tell the story.
    let managers = source
        .list_custom(CustomKind::ApiManager, None)
        .await
        .context("cannot list the APIManagers of the source namespace")?;
    let source_version = match source.threescale_version().await {
        Ok(v) => {
            report.info(format!("source: 3scale {} (from {})", v.version, v.source));
            Some(found(v))
        }
        Err(e) => {
            report.warn(format!("source: 3scale version unknown: {e:#}"));
            None
        }
    };
    let destination = ctx.cluster(ClusterRole::Destination).await?;
    let destination_version = match destination.threescale_version().await {
        Ok(v) => {
            report.info(format!(
                "destination: 3scale {} (from {})",
                v.version, v.source
            ));
            found(v)
        }
        Err(e) => {
            return Ok(Taken::Failed(format!(
                "cannot tell the 3scale version at the destination, which RHOAM must already \
                 run: {e:#}"
            )));
        }
    };
    let migration_version = match ctx.config.cluster(ClusterRole::MigrationCluster) {
        None => None,
        Some(_) => {
            let version = match ctx.cluster(ClusterRole::MigrationCluster).await {
                Ok(kube) => kube.threescale_version().await,
                Err(e) => Err(e),
            };
            match version {
                Ok(v) => {
                    report.info(format!(
                        "migration cluster: 3scale {} (from {})",
                        v.version, v.source
                    ));
                    Some(found(v))
                }
                Err(e) => {
                    // Installed later in the runbook (install-source-3scale).
                    report.info(format!(
                        "migration cluster: no 3scale yet ({})",
                        first_line(&format!("{e:#}"))
                    ));
                    None
                }
            }
        }
    };

    // Workloads.
    let listed = source
        .list_workloads()
        .await
        .context("cannot list the workloads of the source namespace")?;
    let workloads: Vec<Workload> = listed.iter().map(workload).collect();
    let known: Vec<&Workload> = workloads.iter().filter(|w| w.known).collect();
    if managers.is_empty() && known.is_empty() {
        return Ok(Taken::Failed(format!(
            "no 3scale in namespace {ns} of the source cluster (context {}): no APIManager and \
             none of the 3scale workloads ({}); check [source].namespace in the config",
            source.context(),
            THREESCALE_WORKLOADS.join(", ")
        )));
    }
    for w in &workloads {
        report.info(format!(
            "workload {} {}: {} replica(s){}",
            w.kind,
            w.name,
            w.replicas,
            if w.known {
                ""
            } else {
                " (not a 3scale workload)"
            }
        ));
    }
    let absent: Vec<&str> = THREESCALE_WORKLOADS
        .iter()
        .copied()
        .filter(|n| !workloads.iter().any(|w| w.known && w.name == *n))
        .collect();
    if !absent.is_empty() {
        report.info(format!("not in the namespace: {}", absent.join(", ")));
    }
    let workload_kind = kind_of(&known, report);
    if let (Some(kind), Some(v)) = (workload_kind, &source_version)
        && let Some(minor) = minor(&v.version)
    {
        let expected = if minor <= 14 {
            WorkloadKind::DeploymentConfig
        } else {
            WorkloadKind::Deployment
        };
        if kind != expected {
            report.warn(format!(
                "the source's 3scale {} should run {}s, but its workloads are {}s",
                v.version,
                kind_name(expected),
                kind_name(kind)
            ));
        }
    }

    // Stores.
    let mut stores = Vec::new();
    let mut secrets: BTreeMap<&str, Option<k8s_openapi::api::core::v1::Secret>> = BTreeMap::new();
    for (secret, key) in STORE_KEYS {
        if !secrets.contains_key(secret) {
            let read = match source.get_secret(None, secret).await {
                Ok(s) => s,
                Err(e) => {
                    return Ok(Taken::Failed(format!(
                        "cannot read secret {secret} in namespace {ns} of the source cluster; the \
                         inventory needs `get secrets` there (`kubectl --context {} auth can-i get \
                         secrets -n {ns}`): {e:#}",
                        source.context()
                    )));
                }
            };
            if read.is_none() {
                report.warn(format!(
                    "secret {secret} is not in namespace {ns}: where its store is must come from \
                     the config"
                ));
            }
            secrets.insert(secret, read);
        }
        let Some(Some(s)) = secrets.get(secret) else {
            continue;
        };
        match value_of(s, key) {
            Err(why) => report.warn(format!("secret {secret} {why}: its store is not known")),
            Ok(url) => {
                let mut store = locate(secret, key, &url, &ns, &workloads);
                // The hosts may carry a password: only whether they are set is used.
                if let Some(sentinels) = sentinel_key(secret, key)
                    && value_of(s, sentinels).is_ok()
                {
                    store.sentinel = true;
                    report.warn(format!(
                        "secret {secret} sets {sentinels}: the store of {key} is reached through \
                         Redis Sentinel, so its host is the master group's name; find the Redis \
                         servers behind it before the dumps"
                    ));
                }
                if store.location == Location::Unknown {
                    report.warn(format!(
                        "secret {secret} key {key} is not a URL the inventory can read (its value \
                         is not shown)"
                    ));
                } else {
                    report.info(format!("store {secret}/{key}: {}", store.describe()));
                }
                stores.push(store);
            }
        }
    }

    let permissions = permissions(ctx, report).await?;

    Ok(Taken::Found(Box::new(Inventory {
        schema: SCHEMA,
        namespace: ns,
        versions: Versions {
            source: source_version,
            destination: Some(destination_version),
            migration_cluster: migration_version,
        },
        workload_kind,
        workloads,
        stores,
        permissions,
        warnings: report.warnings.clone(),
    })))
}

fn found(v: crate::infra::kube::ThreescaleVersion) -> VersionFound {
    VersionFound {
        version: v.version,
        read_from: v.source,
    }
}

fn workload(w: &WorkloadInfo) -> Workload {
    Workload {
        name: w.name.clone(),
        kind: w.kind,
        replicas: w.replicas,
        known: THREESCALE_WORKLOADS.contains(&w.name.as_str()),
    }
}

/// The kind most 3scale workloads use; a mix is worth a warning.
fn kind_of(known: &[&Workload], report: &mut Findings<'_>) -> Option<WorkloadKind> {
    let dcs = known
        .iter()
        .filter(|w| w.kind == WorkloadKind::DeploymentConfig)
        .count();
    let deployments = known.len() - dcs;
    if dcs > 0 && deployments > 0 {
        report.warn(format!(
            "the 3scale workloads mix {dcs} DeploymentConfig(s) and {deployments} Deployment(s); \
             an upgrade to 2.15 may be half done"
        ));
    }
    match (dcs, deployments) {
        (0, 0) => None,
        (d, n) if d >= n => Some(WorkloadKind::DeploymentConfig),
        _ => Some(WorkloadKind::Deployment),
    }
}

/// The Kubernetes kind: `Deployment`, `DeploymentConfig`.
fn kind_name(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::Deployment => "Deployment",
        WorkloadKind::DeploymentConfig => "DeploymentConfig",
        WorkloadKind::StatefulSet => "StatefulSet",
    }
}

/// `2.14` → 14.
fn minor(version: &str) -> Option<u32> {
    let mut parts = version.trim_start_matches('v').split('.');
    let _major = parts.next()?;
    parts.next()?.parse().ok()
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// The permission table `check-cluster-access` recorded for this migration; when that
/// step did not record one (skipped), the inventory's own needs are asked again.
async fn permissions(ctx: &StepContext, report: &mut Findings<'_>) -> Result<Permissions> {
    let table = ctx
        .history
        .step(ids::CHECK_CLUSTER_ACCESS)
        .and_then(|r| r.figures.get("permissions"))
        .and_then(Value::as_array);
    if let Some(table) = table {
        let denied: Vec<String> = table
            .iter()
            .filter(|row| row["allowed"] == false)
            .map(|row| {
                format!(
                    "{}: {} {}{}",
                    row["cluster"].as_str().unwrap_or("?"),
                    row["verb"].as_str().unwrap_or("?"),
                    row["resource"].as_str().unwrap_or("?"),
                    row["namespace"]
                        .as_str()
                        .map(|n| format!(" in namespace {n}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        let p = Permissions {
            checked: table.len(),
            denied,
        };
        log_permissions(&p, "check-cluster-access checked", report);
        return Ok(p);
    }
    let mut p = Permissions::default();
    for need in required(Action::Inventory) {
        let Some(cluster) = ctx.config.cluster(need.cluster) else {
            continue;
        };
        let namespace = need.scope.namespace(&cluster.namespace, None);
        let kube = ctx.cluster(need.cluster).await?;
        let access = need.access(namespace.clone());
        p.checked += 1;
        if !kube.can_i(&access).await? {
            p.denied.push(format!(
                "{}: {} {}{}",
                need.cluster,
                need.verb,
                resource_name(&need),
                namespace
                    .map(|n| format!(" in namespace {n}"))
                    .unwrap_or_default()
            ));
        }
    }
    log_permissions(
        &p,
        "asked again (check-cluster-access recorded none) for the inventory's",
        report,
    );
    Ok(p)
}

fn log_permissions(p: &Permissions, how: &str, report: &mut Findings<'_>) {
    if p.denied.is_empty() {
        report.info(format!(
            "permissions: {how} {} permission(s), none denied",
            p.checked
        ));
    } else {
        report.warn(format!(
            "permissions: {how} {} permission(s), {} denied: {}",
            p.checked,
            p.denied.len(),
            p.denied.join("; ")
        ));
    }
}

async fn run(ctx: &StepContext) -> Result<StepResult> {
    let mut report = Findings {
        ctx,
        quiet: false,
        warnings: Vec::new(),
    };
    let inventory = match take(ctx, &mut report).await? {
        Taken::Failed(why) => {
            ctx.sink.error(why.clone());
            return Ok(StepResult::failed(why, Map::new()));
        }
        Taken::Found(inventory) => inventory,
    };
    let value = serde_json::to_value(&*inventory).context("cannot encode the inventory")?;
    ctx.sink.record_fact(FACT, value)?;
    Ok(StepResult::passed(summary(&inventory), figures(&inventory)))
}

fn version_text(v: &Option<VersionFound>, absent: &str) -> String {
    v.as_ref()
        .map(|v| format!("3scale {}", v.version))
        .unwrap_or_else(|| absent.to_string())
}

fn workloads_text(inv: &Inventory) -> String {
    let known: Vec<&Workload> = inv.known_workloads().collect();
    let replicas: i32 = known.iter().map(|w| w.replicas).sum();
    let kind = inv
        .workload_kind
        .map(|k| format!(" {}s", kind_name(k)))
        .unwrap_or_default();
    let mut s = format!("{}{kind}, {replicas} replicas", known.len());
    let others = inv.workloads.iter().filter(|w| !w.known).count();
    if others > 0 {
        s.push_str(&format!(", {others} other workload(s)"));
    }
    s
}

fn summary(inv: &Inventory) -> String {
    let internal = inv
        .stores
        .iter()
        .filter(|s| s.location == Location::Internal)
        .count();
    let external = inv
        .stores
        .iter()
        .filter(|s| s.location == Location::External)
        .count();
    let mut s = format!(
        "source {} ({}), destination {}, migration cluster {}; {} store(s): {internal} internal, \
         {external} external",
        version_text(&inv.versions.source, "version unknown"),
        workloads_text(inv),
        version_text(&inv.versions.destination, "version unknown"),
        version_text(&inv.versions.migration_cluster, "without 3scale yet"),
        inv.stores.len()
    );
    if !inv.warnings.is_empty() {
        s.push_str(&format!("; {} warning(s), see the log", inv.warnings.len()));
    }
    s
}

fn figures(inv: &Inventory) -> Map<String, Value> {
    let mut f = Map::new();
    f.insert(
        "source".into(),
        json!(version_text(&inv.versions.source, "version unknown")),
    );
    f.insert(
        "destination".into(),
        json!(version_text(&inv.versions.destination, "version unknown")),
    );
    f.insert(
        "migration_cluster".into(),
        json!(version_text(
            &inv.versions.migration_cluster,
            "no 3scale yet"
        )),
    );
    f.insert("workloads".into(), json!(workloads_text(inv)));
    for s in &inv.stores {
        f.insert(format!("{}/{}", s.secret, s.key), json!(s.describe()));
    }
    f.insert(
        "permissions".into(),
        json!(if inv.permissions.denied.is_empty() {
            format!("{} checked, none denied", inv.permissions.checked)
        } else {
            format!(
                "{} checked, denied: {}",
                inv.permissions.checked,
                inv.permissions.denied.join("; ")
            )
        }),
    );
    if !inv.warnings.is_empty() {
        f.insert("warnings".into(), json!(inv.warnings.len()));
    }
    f
}

async fn recheck(ctx: &StepContext) -> Result<Recheck> {
    let Some(before) = recorded(ctx) else {
        return Ok(Recheck::DoesNotHold(
            "no inventory was recorded before the interruption".to_string(),
        ));
    };
    let mut report = Findings {
        ctx,
        quiet: true,
        warnings: Vec::new(),
    };
    let now = match take(ctx, &mut report).await? {
        Taken::Failed(why) => return Ok(Recheck::DoesNotHold(why)),
        Taken::Found(now) => now,
    };
    let (v_before, k_before) = before.shape();
    let (v_now, k_now) = now.shape();
    Ok(if v_before != v_now {
        Recheck::DoesNotHold(format!(
            "the 3scale versions changed since the inventory: {} -> {}",
            versions_text(&before),
            versions_text(&now)
        ))
    } else if k_before != k_now {
        Recheck::DoesNotHold(
            "the source's workloads changed since the inventory (names or kinds)".to_string(),
        )
    } else {
        Recheck::Holds(format!(
            "the recorded inventory still matches: {}",
            summary(&before)
        ))
    })
}

fn versions_text(inv: &Inventory) -> String {
    format!(
        "source {}, destination {}, migration cluster {}",
        version_text(&inv.versions.source, "unknown"),
        version_text(&inv.versions.destination, "unknown"),
        version_text(&inv.versions.migration_cluster, "none")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minors() {
        assert_eq!(minor("2.14"), Some(14));
        assert_eq!(minor("2.15.1"), Some(15));
        assert_eq!(minor("x"), None);
    }
}
