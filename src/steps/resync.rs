//! After a system database's domains change or 3scale starts on migrated data, 3scale's own
//! rake tasks bring the rest along, run in a system pod of the cluster (exec, the way the 3scale
//! operator's restore and RHOAM's route check run them):
//!
//! - `zync:resync:domains` publishes every active provider's and proxy's domains to zync, which
//!   creates or updates their routes (porta `lib/tasks/zync.rake`);
//! - `backend:storage:enqueue_rewrite` has Sidekiq rewrite backend's copy of the configuration
//!   from the database (porta `lib/tasks/backend.rake`).
//!
//! A step that starts 3scale on a database (`once_available`) first waits for the APIManager
//! to be `Available`. The tasks' output goes to the step log. Then the step waits, bounded,
//! until zync has a route for every host the database names (the admin and developer portals of every active provider, the
//! master portal, both gateways of every hosted product) and names the hosts still without one.

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use super::StepContext;
use super::pgdump::{self, system_database};
use crate::infra::artifacts::Report;
use crate::infra::kube::{CustomKind, KubeCluster};
use crate::infra::pgtarget::PgTarget;
use crate::runbook::ClusterRole;

/// The fact of a step that resynced: the pod, the tasks and how many hosts zync routes.
pub const RESYNC_FACT: &str = "resync";
/// The tasks, in the order they run.
pub const TASKS: [&str; 2] = ["zync:resync:domains", "backend:storage:enqueue_rewrite"];
/// The pods carrying system's image, in the order one is chosen: Sidekiq (as the operator's
/// restore does), else the app.
pub const SYSTEM_PODS: [&str; 2] = ["system-sidekiq", "system-app"];
/// How long the APIManager may take to be Available once its operator runs.
pub const AVAILABLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long zync may take to create the routes after the resync.
pub const ROUTES_TIMEOUT: Duration = Duration::from_secs(5 * 60);
const POLL: Duration = Duration::from_secs(1);

/// A host zync must route and the service the route goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    pub host: String,
    pub service: &'static str,
}

/// The accounts 3scale resyncs: providers and the master, neither suspended nor being deleted.
const ACTIVE: &str = "(a.provider OR a.master) AND a.state NOT IN ('suspended', \
                      'scheduled_for_deletion')";

fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', ':', '?'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Every host zync routes for the database in `target`.
pub async fn expected_hosts(target: &PgTarget) -> Result<Vec<Host>> {
    let mut hosts = Vec::new();
    let accounts = target
        .rows(
            &format!(
                "SELECT COALESCE(a.domain, ''), COALESCE(a.self_domain, ''), \
                 CASE WHEN COALESCE(a.master, false) THEN 't' ELSE 'f' END \
                 FROM accounts a WHERE {ACTIVE} ORDER BY a.id"
            ),
            "reading the providers' domains",
        )
        .await?;
    for row in &accounts {
        let [domain, admin, master] = &row[..] else {
            continue;
        };
        if master == "t" || admin == domain {
            hosts.push(Host {
                host: admin.to_ascii_lowercase(),
                service: "system-master",
            });
        } else {
            hosts.push(Host {
                host: domain.to_ascii_lowercase(),
                service: "system-developer",
            });
            hosts.push(Host {
                host: admin.to_ascii_lowercase(),
                service: "system-provider",
            });
        }
    }
    let proxies = target
        .rows(
            &format!(
                "SELECT COALESCE(p.endpoint, ''), COALESCE(p.sandbox_endpoint, '') \
                 FROM proxies p JOIN services s ON s.id = p.service_id \
                 JOIN accounts a ON a.id = s.account_id \
                 WHERE {ACTIVE} AND NOT COALESCE(a.master, false) \
                 AND s.deployment_option = 'hosted' ORDER BY p.id"
            ),
            "reading the hosted products' gateway hosts",
        )
        .await?;
    for row in &proxies {
        let [production, staging] = &row[..] else {
            continue;
        };
        for (url, service) in [
            (production, "apicast-production"),
            (staging, "apicast-staging"),
        ] {
            let host = url_host(url);
            if !host.is_empty() {
                hosts.push(Host { host, service });
            }
        }
    }
    hosts.retain(|h| !h.host.is_empty());
    hosts.dedup();
    Ok(hosts)
}

/// A running, ready pod of system's image, or why there is none.
async fn system_pod(kube: &KubeCluster) -> Result<std::result::Result<String, String>> {
    for name in SYSTEM_PODS {
        let Some(w) = kube.find_workload(name).await? else {
            continue;
        };
        let pods = kube.pods_of(w.kind, name).await?;
        if let Some(pod) = pods.iter().find(|p| p.ready && !p.deleting) {
            return Ok(Ok(pod.name.clone()));
        }
    }
    Ok(Err(format!(
        "neither {} has a ready pod in namespace {} of {}",
        SYSTEM_PODS.join(" nor "),
        kube.namespace(),
        kube.context()
    )))
}

/// Whether system's pods run on the cluster, so the tasks can.
pub async fn system_runs(kube: &KubeCluster) -> Result<bool> {
    Ok(system_pod(kube).await?.is_ok())
}

/// Runs one task in `pod`, its output in the log; a failure names the task and its exit code.
async fn run_task(ctx: &StepContext, kube: &KubeCluster, pod: &str, task: &str) -> Result<()> {
    let script = format!("bundle exec rake {task}");
    ctx.sink.info(format!("{pod}: {script}"));
    let output = kube
        .exec_output(pod, &["bash", "-c", &script], &format!("rake {task}"))
        .await?;
    for line in output.lines().filter(|l| !l.trim().is_empty()) {
        ctx.sink.info(format!("  {line}"));
    }
    Ok(())
}

/// The zync routes of the namespace by host: (host, service).
async fn zync_routes(kube: &KubeCluster) -> Result<Vec<(String, String)>> {
    Ok(super::destination::zync_routes(kube)
        .await?
        .iter()
        .map(|r| {
            (
                r["spec"]["host"]
                    .as_str()
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
                r["spec"]["to"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect())
}

/// The hosts of `want` that have no zync route to their service.
pub async fn unrouted(kube: &KubeCluster, want: &[Host]) -> Result<Vec<Host>> {
    let routes = zync_routes(kube).await?;
    Ok(want
        .iter()
        .filter(|h| {
            !routes
                .iter()
                .any(|(host, to)| *host == h.host && to == h.service)
        })
        .cloned()
        .collect())
}

/// What a resync did.
pub struct Resynced {
    pub pod: String,
    pub routed: usize,
}

impl Resynced {
    pub fn fact(&self) -> Value {
        serde_json::json!({"pod": self.pod, "tasks": TASKS, "routes": self.routed})
    }
}

/// Runs both tasks in a system pod of `kube`, then waits until zync routes every host of
/// `want`. Ok(Err(why)) when no system pod runs or the routes do not come; the tasks' failure is
/// an error.
pub async fn resync(
    ctx: &StepContext,
    kube: &KubeCluster,
    want: &[Host],
) -> Result<std::result::Result<Resynced, String>> {
    let pod = match system_pod(kube).await? {
        Ok(pod) => pod,
        Err(why) => return Ok(Err(why)),
    };
    for task in TASKS {
        run_task(ctx, kube, &pod, task)
            .await
            .with_context(|| format!("in namespace {} of {}", kube.namespace(), kube.context()))?;
    }
    ctx.sink.info(format!(
        "waiting for zync's routes of {} host(s) the database names",
        want.len()
    ));
    let deadline = tokio::time::Instant::now() + ROUTES_TIMEOUT;
    let mut shown = usize::MAX;
    loop {
        let missing = unrouted(kube, want).await?;
        if missing.is_empty() {
            return Ok(Ok(Resynced {
                pod,
                routed: want.len(),
            }));
        }
        if missing.len() != shown {
            shown = missing.len();
            ctx.sink.info(format!(
                "{} of {} host(s) routed; waiting for {}",
                want.len() - missing.len(),
                want.len(),
                describe(&missing)
            ));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Err(format!(
                "zync made no route for {} after {} min: check that system-sidekiq, zync and \
                 zync-que run and their logs (`kubectl --context {} -n {} logs deployment/zync-que`), \
                 then run the step again",
                describe(&missing),
                ROUTES_TIMEOUT.as_secs() / 60,
                kube.context(),
                kube.namespace()
            )));
        }
        tokio::select! {
            _ = ctx.stop_request() => return Ok(Err(
                "stopped while waiting for zync's routes; the tasks ran, the step runs them \
                 again when resumed".to_string())),
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// `host → service` for a few hosts.
pub fn describe(hosts: &[Host]) -> String {
    crate::format::first_of(
        &hosts
            .iter()
            .map(|h| format!("{} → {}", h.host, h.service))
            .collect::<Vec<_>>(),
        6,
    )
}

/// `Available=True` on every APIManager of the namespace, or the conditions that say why not.
pub async fn apimanager_available(kube: &KubeCluster) -> Result<std::result::Result<(), String>> {
    let managers = kube.list_custom(CustomKind::ApiManager, None).await?;
    if managers.is_empty() {
        return Ok(Err(format!(
            "no APIManager in namespace {}",
            kube.namespace()
        )));
    }
    for am in managers {
        let name = am.metadata.name.clone().unwrap_or_default();
        let conditions = am.data["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let available = conditions
            .iter()
            .any(|c| c["type"] == "Available" && c["status"] == "True");
        if !available {
            let said: Vec<String> = conditions
                .iter()
                .filter(|c| c["status"] != "True" || c["type"] == "Available")
                .map(|c| {
                    format!(
                        "{}={}{}",
                        c["type"].as_str().unwrap_or("?"),
                        c["status"].as_str().unwrap_or("?"),
                        c["message"]
                            .as_str()
                            .filter(|m| !m.is_empty())
                            .map(|m| format!(" ({m})"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            return Ok(Err(format!(
                "APIManager {name} is not Available{}",
                if said.is_empty() {
                    String::new()
                } else {
                    format!(": {}", said.join(", "))
                }
            )));
        }
    }
    Ok(Ok(()))
}

async fn wait_available(ctx: &StepContext, kube: &KubeCluster) -> Result<Option<String>> {
    let deadline = tokio::time::Instant::now() + AVAILABLE_TIMEOUT;
    let mut said = String::new();
    loop {
        match apimanager_available(kube).await? {
            Ok(()) => return Ok(None),
            Err(why) => {
                if why != said {
                    ctx.sink.info(format!("waiting: {why}"));
                    said = why.clone();
                }
                if tokio::time::Instant::now() >= deadline {
                    return Ok(Some(format!(
                        "{why} after {} min; see `kubectl --context {} -n {} describe \
                         apimanager` and the 3scale operator's log",
                        AVAILABLE_TIMEOUT.as_secs() / 60,
                        kube.context(),
                        kube.namespace()
                    )));
                }
            }
        }
        tokio::select! {
            _ = ctx.stop_request() => return Ok(Some(
                "stopped while waiting for the APIManager to be Available".to_string())),
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// The hosts zync must route for the system database of `role`'s cluster.
pub async fn database_hosts(
    ctx: &StepContext,
    role: ClusterRole,
    report: &Report<'_>,
) -> Result<Vec<Host>> {
    let target = system_database(ctx, role, report).await.with_context(|| {
        format!("cannot read the {role}'s system database for the hosts zync must route")
    })?;
    let hosts = expected_hosts(&target).await;
    pgdump::close(ctx, target).await;
    hosts
}

/// What starting 3scale on a database ends with: the APIManager Available, then the rake tasks
/// and zync's routes for every host of `role`'s database (recorded as the fact `resync`).
/// Ok(Err(why)) when the APIManager or the routes do not come.
pub async fn once_available(
    ctx: &StepContext,
    kube: &KubeCluster,
    role: ClusterRole,
) -> Result<std::result::Result<(Vec<Host>, Resynced), String>> {
    if let Some(why) = wait_available(ctx, kube).await? {
        return Ok(Err(why));
    }
    ctx.sink.info("the APIManager is Available");
    let reporter = ctx.sink.reporter();
    let want = database_hosts(ctx, role, &reporter.report()).await?;
    Ok(match resync(ctx, kube, &want).await? {
        Ok(done) => {
            ctx.sink.record_fact(RESYNC_FACT, done.fact())?;
            Ok((want, done))
        }
        Err(why) => Err(why),
    })
}
