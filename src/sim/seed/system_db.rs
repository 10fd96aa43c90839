//! Creates and fills the 3scale system database of the sandbox.

use std::time::Duration;

use anyhow::{Context, bail};

use super::copy::copy_rows;
use super::model::Model;
use super::porta_schema::{self, Release, load_postgres};
use super::sizes::{SeedSummary, Sizes};
use super::system_rows::{Hosts, SeedTokens, build};
use crate::infra::pg;
use crate::infra::url::redact;

pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Creates 3scale 2.14's system schema (porta's tables, triggers and procedure) in the empty
/// database at `url` and fills the tables the migration touches: the master
/// account, the default tenant `3scale`, `sizes.services` products with proxies and promoted
/// configurations, plans, developers, applications, tokens and SSO providers, every host name
/// derived from `wildcard_domain`. All in one transaction, so a failure leaves the database
/// empty. A database that already has tables is refused: seeding is not idempotent.
pub async fn seed_system_database(
    url: &str,
    wildcard_domain: &str,
    sizes: &Sizes,
) -> anyhow::Result<SeedSummary> {
    let release = porta_schema::source_release();
    seed_system_database_with(url, wildcard_domain, sizes, &SeedTokens::default(), release).await
}

/// [`seed_system_database`] with the access tokens of the installation's secrets, on the
/// schema of 3scale `release`.
pub async fn seed_system_database_with(
    url: &str,
    wildcard_domain: &str,
    sizes: &Sizes,
    tokens: &SeedTokens,
    release: &Release,
) -> anyhow::Result<SeedSummary> {
    let wildcard = wildcard_domain
        .trim()
        .trim_matches('.')
        .to_ascii_lowercase();
    if wildcard.is_empty() || wildcard.contains(['/', ':', ' ']) {
        bail!(
            "{wildcard_domain:?} is not a wildcard domain (expected a DNS name like apps.example.com)"
        );
    }
    let shown = redact(url);
    let mut client = pg::connect(url, CONNECT_TIMEOUT).await?;
    refuse_if_not_empty(&client, &shown).await?;

    let model = Model::build(sizes);
    let tables = build(&model, &Hosts { wildcard }, tokens, chrono::Utc::now());
    let tx = client
        .transaction()
        .await
        .with_context(|| format!("cannot start a transaction on {shown}"))?;
    load_postgres(&tx, release).await.with_context(|| {
        format!("creating the 3scale system tables on {shown} failed (check that the user may create tables in schema public)")
    })?;
    let mut summary = SeedSummary::default();
    for rows in &tables {
        let count = copy_rows(&tx, rows)
            .await
            .with_context(|| format!("seeding the system database on {shown}"))?;
        summary.add(rows.table, count);
    }
    let seeded: Vec<&str> = tables.iter().map(|r| r.table).collect();
    reset_sequences(&tx, &seeded, &shown).await?;
    tx.commit()
        .await
        .with_context(|| format!("committing the seeded system database on {shown} failed"))?;
    Ok(summary)
}

/// Refuses a database with any table in `public`: seeding twice would collide on ids and the
/// unique domain indexes, and seeding over a real installation must never happen.
pub(super) async fn refuse_if_not_empty(
    client: &tokio_postgres::Client,
    shown: &str,
) -> anyhow::Result<()> {
    let rows = client
        .query(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY table_name LIMIT 5",
            &[],
        )
        .await
        .with_context(|| format!("cannot list the tables of {shown}"))?;
    if rows.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = rows.iter().filter_map(|r| r.try_get(0).ok()).collect();
    bail!(
        "the database at {shown} is not empty (it has tables: {}{}); the sandbox seeds only an \
         empty database: drop and recreate it, or point the rehearsal at a new one",
        names.join(", "),
        if rows.len() == 5 { ", ..." } else { "" }
    )
}

/// Ids were given explicitly; each `<table>_id_seq` must move past them, as a restore does,
/// or the next row the application inserts collides.
async fn reset_sequences(
    tx: &tokio_postgres::Transaction<'_>,
    tables: &[&str],
    shown: &str,
) -> anyhow::Result<()> {
    let sql: String = tables
        .iter()
        .map(|t| {
            format!(
                "SELECT setval('{t}_id_seq', GREATEST((SELECT max(id) FROM {t}), 1), \
                 (SELECT max(id) FROM {t}) IS NOT NULL);"
            )
        })
        .collect();
    tx.batch_execute(&sql)
        .await
        .with_context(|| format!("cannot move the id sequences past the seeded ids on {shown}"))
}
