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
