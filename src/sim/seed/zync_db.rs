//! Creates and fills zync's database: the Que job table the migration drains, and the tenant,
//! model, entry and integration rows that carry the installation's domains
//! (zync's `db/schema.rb`).

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::copy::{Rows, copy_rows, n, s};
use super::model::{Model, TENANT_ACCOUNT_ID, hex};
use super::sizes::{SeedSummary, Sizes};
use super::system_db::{CONNECT_TIMEOUT, refuse_if_not_empty};
use super::system_rows::{Hosts, oidc_issuer};
use crate::infra::pg;
use crate::infra::url::redact;

/// Que 2 (zync 2.14–2.16 locks 2.2.1): the layout with `job_schema_version` and `kwargs`.
const DDL: &str = r#"
CREATE TABLE que_jobs (
    priority smallint DEFAULT 100 NOT NULL,
    run_at timestamp with time zone DEFAULT now() NOT NULL,
    id bigserial PRIMARY KEY,
    job_class text NOT NULL,
    error_count integer DEFAULT 0 NOT NULL,
    last_error_message text,
    queue text DEFAULT 'default'::text NOT NULL,
    last_error_backtrace text,
    finished_at timestamp with time zone,
    expired_at timestamp with time zone,
    args jsonb DEFAULT '[]'::jsonb NOT NULL,
    data jsonb DEFAULT '{}'::jsonb NOT NULL,
    job_schema_version integer NOT NULL,
    kwargs jsonb DEFAULT '{}'::jsonb NOT NULL
);
CREATE INDEX que_poll_idx ON que_jobs USING btree (queue, priority, run_at, id)
    WHERE (finished_at IS NULL) AND (expired_at IS NULL);
CREATE TABLE que_values (key text PRIMARY KEY, value jsonb DEFAULT '{}'::jsonb NOT NULL);

CREATE TABLE tenants (
    id bigserial PRIMARY KEY,
    endpoint character varying NOT NULL,
    access_token character varying NOT NULL,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL,
    lock_version bigint DEFAULT 0 NOT NULL
);
CREATE TABLE models (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL,
    record_type character varying NOT NULL,
    record_id bigint NOT NULL,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL
);
CREATE TABLE entries (
    id bigserial PRIMARY KEY,
    data jsonb,
    tenant_id bigint NOT NULL,
    model_id bigint NOT NULL,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL
);
CREATE TABLE integrations (
    id bigserial PRIMARY KEY,
    configuration jsonb,
    type character varying NOT NULL,
    tenant_id bigint,
    model_id bigint,
    state character varying DEFAULT 'active'::character varying NOT NULL,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL
);
"#;

const SEQUENCED: &[&str] = &["que_jobs", "tenants", "models", "entries", "integrations"];

/// Creates zync's tables in the empty database at `url` with `sizes.que_jobs` pending jobs
/// (plus two expired ones, which are not pending) and no tenant rows.
pub async fn seed_zync_database(url: &str, sizes: &Sizes) -> anyhow::Result<SeedSummary> {
    seed(url, None, sizes).await
}

/// As [`seed_zync_database`], and also the tenant, models, entries and integrations zync keeps
/// for the default tenant, whose endpoints derive from `wildcard_domain`.
pub async fn seed_zync_database_with_domain(
    url: &str,
    wildcard_domain: &str,
    sizes: &Sizes,
) -> anyhow::Result<SeedSummary> {
    seed(url, Some(wildcard_domain), sizes).await
}

async fn seed(url: &str, wildcard: Option<&str>, sizes: &Sizes) -> anyhow::Result<SeedSummary> {
    let shown = redact(url);
    let mut client = pg::connect(url, CONNECT_TIMEOUT).await?;
    refuse_if_not_empty(&client, &shown).await?;
    let now = Utc::now();
    let model = Model::build(sizes);
    let mut tables = vec![que_jobs(&model, sizes.que_jobs, now)];
    if let Some(wildcard) = wildcard {
        let hosts = Hosts {
            wildcard: wildcard.trim().trim_matches('.').to_ascii_lowercase(),
        };
        tables.extend(tenant_rows(&model, &hosts, now));
    }

    let tx = client
        .transaction()
        .await
        .with_context(|| format!("cannot start a transaction on {shown}"))?;
    tx.batch_execute(DDL).await.with_context(|| {
        format!("creating zync's tables on {shown} failed (check that the user may create tables in schema public)")
    })?;
    let mut summary = SeedSummary::default();
    for rows in &tables {
        let count = copy_rows(&tx, rows)
            .await
            .with_context(|| format!("seeding zync's database on {shown}"))?;
        summary.add(rows.table, count);
    }
    let setval: String = SEQUENCED
        .iter()
        .map(|t| {
            format!(
                "SELECT setval('{t}_id_seq', GREATEST((SELECT max(id) FROM {t}), 1), \
                 (SELECT max(id) FROM {t}) IS NOT NULL);"
            )
        })
        .collect();
    tx.batch_execute(&setval).await.with_context(|| {
        format!("cannot move zync's id sequences past the seeded ids on {shown}")
    })?;
    tx.commit()
        .await
        .with_context(|| format!("committing zync's seeded database on {shown} failed"))?;
    Ok(summary)
}

/// A job as Que stores an ActiveJob one: the wrapper class, the serialized job as the only arg.
fn active_job(job_class: &str, record: &str, id: i64, enqueued: DateTime<Utc>) -> String {
    json!([{
        "job_class": job_class,
        "job_id": uuid(id as u64),
        "provider_job_id": null,
        "queue_name": "default",
        "priority": null,
        "arguments": [{"_aj_globalid": format!("gid://zync/{record}/{id}")}],
        "executions": 0,
        "exception_executions": {},
        "locale": "en",
        "timezone": "UTC",
        "enqueued_at": enqueued.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }])
    .to_string()
}

fn uuid(n: u64) -> String {
    let h = hex(0x00_1d, n, 32);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn que_jobs(model: &Model, pending: u32, now: DateTime<Utc>) -> Rows {
    let mut rows = Rows::new(
        "que_jobs",
        &[
            "id",
            "priority",
            "run_at",
            "job_class",
            "error_count",
            "last_error_message",
            "queue",
            "expired_at",
            "args",
            "data",
            "job_schema_version",
            "kwargs",
        ],
    );
    let services = model.services.len().max(1);
    let total = i64::from(pending) + 2;
    for id in 1..=total {
        let enqueued = now - Duration::seconds(total - id);
        let (class, record) = match id % 3 {
            0 => ("ProcessIntegrationEntryJob", "Integration"),
            1 => ("ProcessEntryJob", "Entry"),
            _ => ("UpdateJob", "Model"),
        };
        let record_id = (id as usize % services) as i64 + 1;
        let expired = id > i64::from(pending);
        // A few jobs fail and wait for their retry, as when an OpenShift route call times out.
        let failing = expired || id % 17 == 0;
        rows.push(vec![
            n(id),
            n(100),
            s(enqueued.to_rfc3339()),
            s("ActiveJob::QueueAdapters::QueAdapter::JobWrapper"),
            n(if expired {
                16
            } else if failing {
                2
            } else {
                0
            }),
            failing.then(|| "Errno::ECONNREFUSED: Failed to open TCP connection".to_string()),
            s("default"),
            expired.then(|| now.to_rfc3339()),
            s(active_job(class, record, record_id, enqueued)),
            s("{}"),
            n(2),
            s("{}"),
        ]);
    }
    rows
}

fn tenant_rows(model: &Model, hosts: &Hosts, now: DateTime<Utc>) -> Vec<Rows> {
    let at = s(now.format("%Y-%m-%d %H:%M:%S").to_string());
    let mut tenants = Rows::new(
        "tenants",
        &["id", "endpoint", "access_token", "created_at", "updated_at"],
    );
    tenants.push(vec![
        n(TENANT_ACCOUNT_ID),
        s(format!("https://{}/", hosts.tenant_admin())),
        s(hex(0x2c, 1, 64)),
        at.clone(),
        at.clone(),
    ]);
    let mut models = Rows::new(
        "models",
        &[
            "id",
            "tenant_id",
            "record_type",
            "record_id",
            "created_at",
            "updated_at",
        ],
    );
    let mut entries = Rows::new(
        "entries",
        &[
            "id",
            "data",
            "tenant_id",
            "model_id",
            "created_at",
            "updated_at",
        ],
    );
    let mut integrations = Rows::new(
        "integrations",
        &[
            "id",
            "configuration",
            "type",
            "tenant_id",
            "model_id",
            "created_at",
            "updated_at",
        ],
    );
    let mut next = 0;
    let mut add = |kind: &str, record_id: i64, data: serde_json::Value| {
        next += 1;
        models.push(vec![
            n(next),
            n(TENANT_ACCOUNT_ID),
            s(kind),
            n(record_id),
            at.clone(),
            at.clone(),
        ]);
        entries.push(vec![
            n(next),
            s(data.to_string()),
            n(TENANT_ACCOUNT_ID),
            n(next),
            at.clone(),
            at.clone(),
        ]);
        next
    };
    let provider_model = add(
        "Provider",
        TENANT_ACCOUNT_ID,
        json!({"id": TENANT_ACCOUNT_ID, "domain": hosts.tenant(), "admin_domain": hosts.tenant_admin()}),
    );
    integrations.push(vec![
        n(1),
        s("{}"),
        s("Integration::Kubernetes"),
        n(TENANT_ACCOUNT_ID),
        n(provider_model),
        at.clone(),
        at.clone(),
    ]);
    for svc in &model.services {
        let proxy_model = add(
            "Proxy",
            svc.proxy_id,
            json!({
                "id": svc.proxy_id,
                "service_id": svc.id,
                "endpoint": format!("https://{}:443", hosts.apicast(svc, "production")),
                "sandbox_endpoint": format!("https://{}:443", hosts.apicast(svc, "staging")),
            }),
        );
        if svc.backend_version == "oidc" {
            let id = i64::try_from(integrations.rows.len()).unwrap_or(0) + 1;
            integrations.push(vec![
                n(id),
                s(json!({"endpoint": oidc_issuer(hosts, svc)}).to_string()),
                s("Integration::Keycloak"),
                n(TENANT_ACCOUNT_ID),
                n(proxy_model),
                at.clone(),
                at.clone(),
            ]);
        }
    }
    vec![tenants, models, entries, integrations]
}
