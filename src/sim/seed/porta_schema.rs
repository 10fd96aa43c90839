//! 3scale's own system database schema, per release and dialect, as the sandbox creates it: what
//! `rails db:schema:load` creates from porta's `db/postgres_schema.rb` or `db/schema.rb`, then
//! what `rake db:seed` runs first (its prerequisites `multitenant:triggers` and `db:procedures`),
//! before any account exists, so the triggers look the master account up rather than have its
//! id written in. The SQL is kept in `fixtures/porta/` by `scripts/porta-schema`, derived from
//! porta's files (Apache-2.0; see `fixtures/porta/SOURCE.md`).

use anyhow::{Context, Result, bail};
use mysql_async::prelude::Queryable;

pub use crate::infra::porta::Release;
use crate::infra::porta::statements;

/// The files of one release.
struct Files {
    postgres: &'static str,
    mysql: &'static str,
    mysql_triggers: &'static str,
    mysql_procedures: &'static str,
}

macro_rules! files {
    ($name:literal) => {
        Files {
            postgres: include_str!(concat!("../../../fixtures/porta/", $name, "/postgres.sql")),
            mysql: include_str!(concat!("../../../fixtures/porta/", $name, "/mysql.sql")),
            mysql_triggers: include_str!(concat!(
                "../../../fixtures/porta/",
                $name,
                "/triggers.mysql.sql"
            )),
            mysql_procedures: include_str!(concat!(
                "../../../fixtures/porta/",
                $name,
                "/procedures.mysql.sql"
            )),
        }
    };
}

fn files(release: &Release) -> Result<Files> {
    Ok(match release.name {
        "2.14" => files!("2.14"),
        "2.15" => files!("2.15"),
        "2.16" => files!("2.16"),
        other => bail!("no porta schema files for 3scale {other}"),
    })
}

/// The release the sandbox's source runs, and the one RHOAM runs at the destination.
pub fn source_release() -> &'static Release {
    &crate::infra::porta::RELEASES[0]
}

pub fn destination_release() -> &'static Release {
    &crate::infra::porta::RELEASES[2]
}

/// What `db:schema:load` creates on PostgreSQL for `release`, as one SQL text (for
/// `convert.postgres_schema` and psql).
pub fn postgres_schema(release: &Release) -> Result<String> {
    Ok(statements(files(release)?.postgres).join("\n"))
}

/// The table names of `release`'s schema.
pub fn tables(release: &Release) -> Result<Vec<String>> {
    let text = files(release)?.postgres;
    Ok(statements(text)
        .into_iter()
        .filter_map(|s| s.strip_prefix("CREATE TABLE \""))
        .filter_map(|s| s.split('"').next())
        .map(str::to_string)
        .collect())
}

/// Creates `release`'s schema, procedures and triggers in the empty PostgreSQL database of
/// `client`'s transaction, as a fresh installation's `db:schema:load` and `db:seed` do.
pub async fn load_postgres(tx: &tokio_postgres::Transaction<'_>, release: &Release) -> Result<()> {
    let f = files(release)?;
    let sql: Vec<String> = statements(f.postgres)
        .into_iter()
        .map(str::to_string)
        .chain(release.procedure_statements())
        .chain(release.trigger_statements(None))
        .collect();
    tx.batch_execute(&sql.join("\n"))
        .await
        .with_context(|| format!("creating the 3scale {} schema", release.name))
}

/// The same on MySQL/MariaDB: one statement per call, as porta sends its trigger and procedure
/// bodies (no DELIMITER).
pub async fn load_mysql(conn: &mut mysql_async::Conn, release: &Release) -> Result<()> {
    let f = files(release)?;
    for s in statements(f.mysql) {
        conn.query_drop(s)
            .await
            .with_context(|| format!("creating the 3scale {} schema: {}", release.name, head(s)))?;
    }
    for s in statements(f.mysql_procedures)
        .into_iter()
        .chain(statements(f.mysql_triggers))
    {
        let s = s.replace("/*MASTER_ID*/", "(SELECT id FROM accounts WHERE master)");
        conn.query_drop(s.as_str()).await.with_context(|| {
            format!(
                "creating the 3scale {} triggers and procedures: {}",
                release.name,
                head(&s)
            )
        })?;
    }
    Ok(())
}

fn head(statement: &str) -> String {
    statement
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(80)
        .collect()
}

/// What upgrading 3scale one minor version does to its PostgreSQL system database (porta's
/// `rake db:migrate`, then its procedures and triggers), from `fixtures/porta/upgrade-*.sql`.
fn upgrade_file(from: &str, to: &str) -> Option<&'static str> {
    match (from, to) {
        ("2.14", "2.15") => Some(include_str!(
            "../../../fixtures/porta/upgrade-2.14-2.15.postgres.sql"
        )),
        ("2.15", "2.16") => Some(include_str!(
            "../../../fixtures/porta/upgrade-2.15-2.16.postgres.sql"
        )),
        _ => None,
    }
}

/// Upgrades the 3scale system database at `url` to `to`, one minor version at a time, as the
/// 3scale operator's upgrade does (each hop's `db:migrate`, with the master account's id
/// written into the triggers it recreates), each hop in a transaction. Returns the releases it
/// went through, the one it started from first; only that one when the database is already
/// there. A database of a release cutover does
/// not know, or newer than `to`, is refused.
pub async fn upgrade_postgres(url: &str, to: &Release) -> Result<Vec<&'static str>> {
    let shown = crate::infra::url::redact(url);
    let mut client = crate::infra::pg::connect(url, std::time::Duration::from_secs(30)).await?;
    let version: Option<String> = client
        .query_one(
            "SELECT max(version::numeric)::text FROM schema_migrations",
            &[],
        )
        .await
        .with_context(|| format!("reading the schema version of {shown}"))?
        .try_get(0)?;
    let Some(from) = version.as_deref().and_then(Release::by_schema_version) else {
        bail!(
            "{shown} is at schema {}, none of the releases this sandbox knows",
            version.as_deref().unwrap_or("none")
        );
    };
    let hops = from.hops_to(to);
    if hops.is_empty() && from.name != to.name {
        bail!(
            "{shown} runs 3scale {}, newer than {}: a downgrade is not an upgrade",
            from.name,
            to.name
        );
    }
    let master: Option<i64> = client
        .query_opt("SELECT id FROM accounts WHERE master = TRUE LIMIT 1", &[])
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    let set = match master {
        Some(id) => format!("master_id := {id};"),
        None => "SELECT id INTO master_id FROM accounts WHERE master = TRUE;".to_string(),
    };
    let mut at = from.name;
    for hop in &hops {
        let file = upgrade_file(at, hop)
            .with_context(|| format!("no upgrade from 3scale {at} to {hop} in the fixtures"))?;
        let sql: Vec<String> = statements(file)
            .into_iter()
            .map(|s| s.replace("/*MASTER_ID*/", &set))
            .collect();
        let tx = client.transaction().await?;
        tx.batch_execute(&sql.join("\n"))
            .await
            .with_context(|| format!("upgrading {shown} from 3scale {at} to {hop}"))?;
        tx.commit().await?;
        at = hop;
    }
    Ok(std::iter::once(from.name).chain(hops).collect())
}

/// What the 3scale operator's `system-app-pre` Job does to the system database at `url` when it
/// upgrades to a release (`rake boot openshift:deploy`, whose `db:migrate` takes the database
/// one minor forward), for `SimCluster::on_system_app_pre`.
pub fn db_migrate_on_upgrade(url: String) -> crate::sim::SystemAppPre {
    std::sync::Arc::new(move |release: &'static str| {
        let url = url.clone();
        Box::pin(async move {
            let to = Release::by_name(release)
                .ok_or_else(|| format!("no porta schema for 3scale {release}"))?;
            upgrade_postgres(&url, to)
                .await
                .map(|_| ())
                .map_err(|e| format!("{e:#}"))
        })
    })
}
