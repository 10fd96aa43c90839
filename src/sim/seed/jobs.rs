//! Job payloads as backend's Resque and system's Sidekiq write them (apisonator and porta
//! §3–4): the seeders and the simulated traffic enqueue the same shapes.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::model::hex;

pub(super) const REPORT_JOB: &str = "ThreeScale::Backend::Transactor::ReportJob";
pub(super) const NOTIFY_JOB: &str = "ThreeScale::Backend::Transactor::NotifyJob";
/// Only 2.10-era backends enqueue on `stats`; a few such leftovers show that the drain and the
/// copy must not skip a queue because no current class uses it.
pub(super) const STATS_JOB: &str = "ThreeScale::Backend::Stats::PartitionGeneratorJob";

fn epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// `Resque.enqueue(ReportJob, service_id, transactions, enqueue_time, context_info)`.
pub(super) fn report_job(
    service_id: impl std::fmt::Display,
    app_id: &str,
    hits: u64,
    at: DateTime<Utc>,
) -> String {
    json!({
        "class": REPORT_JOB,
        "args": [
            service_id.to_string(),
            [{"app_id": app_id, "usage": {"hits": hits.to_string()}, "timestamp": null, "log": null}],
            epoch(at),
            {"request": {"extensions": {"no_body": "1"}}}
        ]
    })
    .to_string()
}

/// `Resque.enqueue(NotifyJob, provider_key, usage, timestamp, enqueue_time)`: backend reporting
/// its own authorize/report calls to the master service.
pub(super) fn notify_job(provider_key: &str, at: DateTime<Utc>) -> String {
    json!({
        "class": NOTIFY_JOB,
        "args": [
            provider_key,
            {"transactions/authorize": 1},
            at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            epoch(at)
        ]
    })
    .to_string()
}

pub(super) fn stats_job(service_id: i64, at: DateTime<Utc>) -> String {
    json!({
        "class": STATS_JOB,
        "args": [service_id.to_string(), "hits", epoch(at)]
    })
    .to_string()
}

/// An entry of `resque:failed`, as Resque's Redis failure backend writes it.
pub(super) fn failed_job(payload: &str, queue: &str, at: DateTime<Utc>) -> String {
    let payload: serde_json::Value =
        serde_json::from_str(payload).unwrap_or(serde_json::Value::Null);
    json!({
        "failed_at": at.format("%Y/%m/%d %H:%M:%S UTC").to_string(),
        "payload": payload,
        "exception": "Redis::TimeoutError",
        "error": "Connection timed out",
        "backtrace": ["/opt/app/lib/3scale/backend/storage.rb:42:in `get'"],
        "worker": format!("backend-worker-1-x7k2p:1:{queue}"),
        "queue": queue
    })
    .to_string()
}

/// A worker class porta runs on each Sidekiq queue, with arguments of the usual shape.
fn sidekiq_class(queue: &str, n: u64) -> (&'static str, serde_json::Value) {
    match queue {
        "backend_sync" => ("BackendMetricWorker", json!([2 + n % 5, 10 + n % 20])),
        "billing" => ("BillingWorker", json!([3 + n % 10, 2, "2026-11-01"])),
        "critical" => ("SuspendInactiveAccountsWorker", json!([])),
        "default" => (
            "ProxyConfigAffectingChangeWorker",
            json!([format!("{}", hex(0xe7, n, 32))]),
        ),
        "deletion" => (
            "DeleteObjectHierarchyWorker",
            json!([format!("gid://system/Cinstance/{}", 100 + n)]),
        ),
        "events" => (
            "ProcessDomainEventsWorker",
            json!([format!("{}", hex(0xe8, n, 32))]),
        ),
        "low" => ("SphinxIndexationWorker", json!(["Account", 3 + n % 10])),
        "mailers" => (
            "ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper",
            json!([{
                "job_class": "ActionMailer::MailDeliveryJob",
                "job_id": hex(0xe9, n, 32),
                "queue_name": "mailers",
                "arguments": ["AccountMailer", "confirmed", "deliver_now", {"args": [{"_aj_globalid": format!("gid://system/Account/{}", 3 + n % 10)}]}]
            }]),
        ),
        "priority" => (
            "PersistEventWorker",
            json!([format!("{}", hex(0xea, n, 32))]),
        ),
        "web_hooks" => (
            "WebHookWorker",
            json!([format!("{}", hex(0xeb, n, 32)), {"provider_id": 2}]),
        ),
        "zync" => (
            "ZyncWorker",
            json!([format!("{}", hex(0xec, n, 32)), {"type": "Proxy", "id": 1 + n % 5}]),
        ),
        _ => ("Sidekiq::Worker", json!([])),
    }
}

/// A Sidekiq 7 job hash as a client pushes it.
pub(super) fn sidekiq_job(queue: &str, n: u64, at: DateTime<Utc>) -> String {
    let (class, args) = sidekiq_class(queue, n);
    let mut job = json!({
        "retry": true,
        "queue": queue,
        "class": class,
        "args": args,
        "jid": hex(0x5d, n, 24),
        "created_at": epoch(at),
        "enqueued_at": epoch(at),
    });
    if queue == "mailers"
        && let Some(obj) = job.as_object_mut()
    {
        obj.insert("wrapped".into(), json!("ActionMailer::MailDeliveryJob"));
    }
    job.to_string()
}

/// A job that failed and waits in `retry` (or gave up, in `dead`).
pub(super) fn sidekiq_failed_job(queue: &str, n: u64, at: DateTime<Utc>, retries: u32) -> String {
    let mut job: serde_json::Value =
        serde_json::from_str(&sidekiq_job(queue, n, at)).unwrap_or(serde_json::Value::Null);
    if let Some(obj) = job.as_object_mut() {
        obj.insert(
            "error_message".into(),
            json!("Net::ReadTimeout with #<TCPSocket:(closed)>"),
        );
        obj.insert("error_class".into(), json!("Net::ReadTimeout"));
        obj.insert("failed_at".into(), json!(epoch(at)));
        obj.insert("retry_count".into(), json!(retries));
    }
    job.to_string()
}
