//! 3scale's rake tasks that a migration runs in a system pod, with their real effect on the
//! simulated cluster and the data stores its secrets name:
//!
//! - `zync:resync:domains` (porta `lib/tasks/zync.rake`): for every active provider and the
//!   master (`providers_with_master`, not suspended nor scheduled for deletion) and every proxy
//!   of theirs, an event that Sidekiq's ZyncWorker hands to zync, whose que worker makes the
//!   routes (zync `Integration::KubernetesService`). The program does what that chain ends in:
//!   each record's route found by zync's labels (`zync.3scale.net/record` and `route-to`) gets
//!   the database's host, or is created with `generateName`; a proxy gets its two routes only
//!   when its product is APIcast `hosted`. The chain needs system-sidekiq, zync and zync-que
//!   running: while one of them has no ready pod, the task prints what it publishes and no
//!   route changes, as the events would wait in their queues.
//! - `backend:storage:enqueue_rewrite` (porta `lib/tasks/backend.rake`): one
//!   `BackendStorageRewriteWorker` job per provider and the master, pushed on Sidekiq's `low`
//!   queue in system's Redis, as Sidekiq's client pushes it.
//!
//! Both read the system database from secret `system-database` (key `URL`) and system's Redis
//! from `system-redis` (key `URL`) in the pod's namespace, which is where the 3scale operator
//! points system's pods; a database that does not answer fails the task as Rails would, with
//! its exit code 1.

use std::sync::{Arc, Weak};

use base64::Engine;
use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::catalog;
use super::program::{Program, ProgramOutput};
use super::server::SimCluster;
use super::state::Shared;
use super::store::meta_str;

/// The command cutover and the operators' procedures run for a task: `bash -c "bundle exec rake
/// <task>"`.
pub fn rake_command(task: &str) -> Vec<String> {
    vec![
        "bash".to_string(),
        "-c".to_string(),
        format!("bundle exec rake {task}"),
    ]
}

/// The two tasks, for the pods system's image runs in.
pub const TASKS: &[&str] = &["zync:resync:domains", "backend:storage:enqueue_rewrite"];
/// The pods that carry system's image and so the rake tasks.
pub const SYSTEM_PODS: &[&str] = &["system-app", "system-sidekiq"];
/// What must run for zync's routes to follow a resync.
const ZYNC_CHAIN: &[&str] = &["system-sidekiq", "zync", "zync-que"];

struct Rake {
    task: &'static str,
    cluster: Weak<Shared>,
}

/// Lets the cluster's system pods run [`TASKS`] as `bash -c "bundle exec rake <task>"`.
pub fn allow_rake(cluster: &SimCluster) {
    for task in TASKS {
        let command = rake_command(task);
        let command: Vec<&str> = command.iter().map(String::as_str).collect();
        for pod in SYSTEM_PODS {
            cluster.allow_program(
                pod,
                &command,
                Arc::new(Rake {
                    task,
                    cluster: cluster.weak(),
                }),
            );
        }
    }
}

impl Program for Rake {
    fn run(&self, namespace: String, _stdin: Vec<u8>) -> BoxFuture<'static, ProgramOutput> {
        let task = self.task;
        let cluster = self.cluster.upgrade();
        Box::pin(async move {
            let Some(cluster) = cluster else {
                return ProgramOutput::failed("the cluster is gone\n".to_string(), 1);
            };
            let call = Call { cluster, namespace };
            let result = match task {
                "zync:resync:domains" => resync_domains(&call).await,
                _ => enqueue_rewrite(&call).await,
            };
            result.unwrap_or_else(|e| {
                ProgramOutput::failed(format!("rake aborted!\n{e}\nTasks: TOP => {task}\n"), 1)
            })
        })
    }
}

/// Where a task runs.
struct Call {
    cluster: Arc<Shared>,
    namespace: String,
}

/// A key of a secret in the pod's namespace, decoded.
fn secret_value(cluster: &Shared, ns: &str, secret: &str, key: &str) -> Result<String, String> {
    let rt = catalog::find_kind(&[], "v1", "Secret").ok_or("the catalog has no Secret")?;
    let inner = cluster.lock();
    let object = inner
        .store
        .get(rt, ns, secret)
        .ok_or_else(|| format!("secret {secret} not found in namespace {ns}"))?;
    let encoded = object["data"][key]
        .as_str()
        .ok_or_else(|| format!("secret {secret} has no key {key}"))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| format!("secret {secret} key {key} is not base64: {e}"))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Whether the workload has a ready pod (Deployment or DeploymentConfig).
fn has_ready_pod(cluster: &Shared, ns: &str, name: &str) -> bool {
    let inner = cluster.lock();
    [
        ("apps/v1", "Deployment"),
        ("apps.openshift.io/v1", "DeploymentConfig"),
    ]
    .iter()
    .filter_map(|(api, kind)| catalog::find_kind(cluster.without(), api, kind))
    .filter_map(|rt| inner.store.get(rt, ns, name))
    .any(|w| w["status"]["readyReplicas"].as_i64().unwrap_or(0) > 0)
}

async fn database(cluster: &Shared, ns: &str) -> Result<tokio_postgres::Client, String> {
    let url = secret_value(cluster, ns, "system-database", "URL")?;
    if !url.starts_with("postgres") {
        return Err(format!(
            "ActiveRecord::AdapterNotSpecified: the simulated system pod reads PostgreSQL \
             system databases only (secret system-database names a {} one)",
            url.split(':').next().unwrap_or("?")
        ));
    }
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .map_err(|e| {
            format!(
                "ActiveRecord::ConnectionNotEstablished: {}",
                crate::infra::pg::error_text(&e)
            )
        })?;
    tokio::spawn(connection);
    Ok(client)
}

/// The accounts `zync:resync` and `enqueue_rewrite` cover: providers and the master, active.
const ACTIVE_PROVIDERS: &str = "(a.provider OR a.master) \
     AND a.state NOT IN ('suspended', 'scheduled_for_deletion')";

/// `ActiveRecord::Base#to_gid_param` of a zync record: `gid://zync/<Model>/<id>` in URL-safe
/// base64 without padding (the label zync finds its routes by).
fn gid_param(model: &str, id: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("gid://zync/{model}/{id}"))
}

/// One route zync keeps for a record.
struct Wanted {
    prefix: &'static str,
    labels: Value,
    gid: String,
    host: String,
    service: &'static str,
    port: &'static str,
}

fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.split(['/', ':', '?'])
        .next()
        .unwrap_or_default()
        .to_string()
}

async fn resync_domains(call: &Call) -> Result<ProgramOutput, String> {
    let db = database(&call.cluster, &call.namespace).await?;
    let providers = db
        .query(
            &format!(
                "SELECT a.id, a.domain, a.self_domain, COALESCE(a.master, false) \
                 FROM accounts a WHERE {ACTIVE_PROVIDERS} ORDER BY a.id"
            ),
            &[],
        )
        .await
        .map_err(|e| crate::infra::pg::error_text(&e))?;
    let proxies = db
        .query(
            &format!(
                "SELECT p.id, s.id, a.id, COALESCE(p.endpoint, ''), \
                        COALESCE(p.sandbox_endpoint, ''), COALESCE(s.deployment_option, '') \
                 FROM proxies p JOIN services s ON s.id = p.service_id \
                 JOIN accounts a ON a.id = s.account_id \
                 WHERE {ACTIVE_PROVIDERS} AND NOT COALESCE(a.master, false) ORDER BY p.id"
            ),
            &[],
        )
        .await
        .map_err(|e| crate::infra::pg::error_text(&e))?;

    let mut stdout = format!(
        "== Resyncing providers ==\n100.0% completed\n== Resyncing proxies ==\n{}\n",
        if proxies.is_empty() {
            "0.0% completed"
        } else {
            "100.0% completed"
        }
    );
    let mut wanted = Vec::new();
    for row in &providers {
        let (id, domain, admin, master): (i64, Option<String>, Option<String>, bool) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let labels = json!({
            "3scale.net/created-by": "zync",
            "3scale.net/tenant_id": id.to_string(),
            "zync.3scale.net/record": gid_param("Provider", id),
            "zync.3scale.net/ingress": "provider",
            "3scale.net/provider_id": id.to_string(),
        });
        let gid = format!("gid://zync/Provider/{id}");
        let domain = domain.unwrap_or_default();
        let admin = admin.unwrap_or_default();
        if master || admin == domain {
            wanted.push(Wanted {
                prefix: "zync-3scale-master-",
                labels,
                gid,
                host: admin,
                service: "system-master",
                port: "http",
            });
        } else {
            for (host, service) in [(domain, "system-developer"), (admin, "system-provider")] {
                wanted.push(Wanted {
                    prefix: "zync-3scale-provider-",
                    labels: labels.clone(),
                    gid: gid.clone(),
                    host,
                    service,
                    port: "http",
                });
            }
        }
    }
    for row in &proxies {
        let (id, service_id, tenant, endpoint, sandbox, option): (
            i64,
            i64,
            i64,
            String,
            String,
            String,
        ) = (
            row.get(0),
            row.get(1),
            row.get(2),
            row.get(3),
            row.get(4),
            row.get(5),
        );
        if option != "hosted" {
            continue;
        }
        let labels = json!({
            "3scale.net/created-by": "zync",
            "3scale.net/tenant_id": tenant.to_string(),
            "zync.3scale.net/record": gid_param("Proxy", id),
            "zync.3scale.net/ingress": "proxy",
            "3scale.net/service_id": service_id.to_string(),
        });
        for (url, service) in [
            (endpoint, "apicast-production"),
            (sandbox, "apicast-staging"),
        ] {
            wanted.push(Wanted {
                prefix: "zync-3scale-api-",
                labels: labels.clone(),
                gid: format!("gid://zync/Proxy/{id}"),
                host: host_of(&url),
                service,
                port: "gateway",
            });
        }
    }

    let waiting: Vec<&str> = ZYNC_CHAIN
        .iter()
        .copied()
        .filter(|w| !has_ready_pod(&call.cluster, &call.namespace, w))
        .collect();
    if !waiting.is_empty() {
        // The events are published; nothing takes them until these run.
        return Ok(ProgramOutput {
            stdout,
            stderr: String::new(),
            code: 0,
        });
    }
    let (created, updated) = apply_routes(&call.cluster, &call.namespace, &wanted)?;
    stdout.push_str(&format!(
        "# zync: {created} route(s) created, {updated} updated\n"
    ));
    Ok(ProgramOutput {
        stdout,
        stderr: String::new(),
        code: 0,
    })
}

/// Creates or updates each wanted route the way zync does; returns (created, updated).
fn apply_routes(cluster: &Shared, ns: &str, wanted: &[Wanted]) -> Result<(usize, usize), String> {
    let rt = catalog::find_kind(cluster.without(), "route.openshift.io/v1", "Route")
        .ok_or("the cluster serves no Route")?;
    let (mut created, mut updated) = (0, 0);
    {
        let mut inner = cluster.lock();
        for w in wanted {
            let mut labels = w.labels.clone();
            labels["zync.3scale.net/route-to"] = json!(w.service);
            let spec = json!({
                "host": w.host,
                "port": {"targetPort": w.port},
                "tls": {"insecureEdgeTerminationPolicy": "Redirect", "termination": "edge"},
                "to": {"kind": "Service", "name": w.service},
            });
            let annotations = json!({
                "3scale.net/gid": w.gid,
                "zync.3scale.net/gid": w.gid,
                "zync.3scale.net/host": w.host,
            });
            let existing = inner.store.list(rt, Some(ns)).into_iter().find(|r| {
                let l = &r["metadata"]["labels"];
                l["zync.3scale.net/record"] == labels["zync.3scale.net/record"]
                    && l["zync.3scale.net/route-to"] == labels["zync.3scale.net/route-to"]
            });
            match existing {
                Some(mut route) => {
                    if route["spec"]["host"] == json!(w.host) {
                        continue;
                    }
                    let name = meta_str(&route, "name").unwrap_or_default().to_string();
                    route["spec"] = spec;
                    route["metadata"]["annotations"] = annotations;
                    inner
                        .store
                        .replace(rt, ns, &name, route, None)
                        .map_err(|e| e.message)?;
                    updated += 1;
                }
                None => {
                    let route = json!({
                        "apiVersion": "route.openshift.io/v1",
                        "kind": "Route",
                        "metadata": {
                            "generateName": w.prefix,
                            "namespace": ns,
                            "labels": labels,
                            "annotations": annotations,
                        },
                        "spec": spec,
                    });
                    inner.store.create(rt, ns, route).map_err(|e| e.message)?;
                    created += 1;
                }
            }
        }
    }
    cluster.kick.notify_one();
    Ok((created, updated))
}

async fn enqueue_rewrite(call: &Call) -> Result<ProgramOutput, String> {
    let db = database(&call.cluster, &call.namespace).await?;
    let ids: Vec<i64> = db
        .query(
            &format!("SELECT a.id FROM accounts a WHERE {ACTIVE_PROVIDERS} ORDER BY a.id"),
            &[],
        )
        .await
        .map_err(|e| crate::infra::pg::error_text(&e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let url = secret_value(&call.cluster, &call.namespace, "system-redis", "URL")?;
    let client =
        redis::Client::open(url.as_str()).map_err(|e| format!("Redis::CannotConnectError: {e}"))?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("Redis::CannotConnectError: {e}"))?;
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    let bid = gid_param("Batch", now as i64);
    let mut pipe = redis::pipe();
    pipe.sadd("queues", "low");
    for id in &ids {
        let job = json!({
            "class": "BackendStorageRewriteWorker",
            "args": [id],
            "retry": true,
            "queue": "low",
            "bid": bid,
            "jid": format!("{:012x}{:012x}", id, (now * 1000.0) as u64),
            "created_at": now,
            "enqueued_at": now,
        });
        pipe.lpush("queue:low", job.to_string());
    }
    pipe.query_async::<()>(&mut conn)
        .await
        .map_err(|e| format!("Redis::CommandError: {e}"))?;
    Ok(ProgramOutput {
        stdout: format!("Enqueued {} accounts for rewrite\n", ids.len()),
        stderr: String::new(),
        code: 0,
    })
}
