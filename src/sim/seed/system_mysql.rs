//! The 3scale system database on MySQL/MariaDB, 3scale's default: porta's `db/schema.rb` of the
//! release with its triggers and procedure ([`super::porta_schema`]), filled two ways.
//!
//! - [`seed_system_mysql_with`]: the realistic rows of the PostgreSQL seed (master, the default
//!   tenant, products, proxies, applications, tokens, SSO providers), for a rehearsal whose
//!   source runs MySQL.
//! - [`seed_system_mysql`]: a few rows in every one of porta's tables, every column given a
//!   value of its MySQL type that a conversion must carry: booleans, bytes with NUL and 0xff in
//!   porta's blob columns, unicode and 70 KB texts in its medium and long text columns, NULLs,
//!   and zero dates (`0000-00-00 00:00:00`, which MySQL takes without NO_ZERO_DATE and
//!   PostgreSQL does not). For the tests of the MySQL dump and of its conversion.
//!
//! [`postgres_schema`] is what `convert.postgres_schema` loads into the target: porta's
//! PostgreSQL schema of the same release, as `db:schema:load` creates it.

use anyhow::{Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Params, Value};

use super::model::Model;
use super::porta_schema::{self, Release, load_mysql};
use super::sizes::{SeedSummary, Sizes};
use super::system_rows::{Hosts, SeedTokens, build};

/// The SQL that creates the PostgreSQL schema matching [`seed_system_mysql`]'s tables: porta's
/// for the sandbox's source release.
pub fn postgres_schema() -> String {
    porta_schema::postgres_schema(porta_schema::source_release()).unwrap_or_default()
}

/// One column of a table, as information_schema describes it.
#[derive(Clone, Debug)]
struct Column {
    name: String,
    /// The MySQL type, lowercase, display widths dropped except `tinyint(1)`: `bigint`,
    /// `varchar(255)`, `tinyint(1)`, `datetime`...
    kind: String,
    nullable: bool,
}

#[derive(Clone, Debug)]
struct Table {
    name: String,
    columns: Vec<Column>,
}

/// `bigint(20)` → `bigint`; `tinyint(1)` stays; `varchar(255)` stays.
fn normal_type(column_type: &str) -> String {
    let t = column_type.to_ascii_lowercase();
    let t = t.trim_end_matches(" unsigned").to_string();
    if t == "tinyint(1)" {
        return t;
    }
    for int in ["bigint", "int", "smallint", "mediumint", "tinyint"] {
        if t.starts_with(&format!("{int}(")) {
            return int.to_string();
        }
    }
    t
}

/// Every base table of the connection's database with its columns, in order.
async fn tables(conn: &mut mysql_async::Conn) -> Result<Vec<Table>> {
    let rows: Vec<(String, String, String, String)> = conn
        .query(
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION",
        )
        .await
        .context("reading the seeded schema's columns")?;
    let mut out: Vec<Table> = Vec::new();
    for (table, name, kind, nullable) in rows {
        if out.last().is_none_or(|t| t.name != table) {
            out.push(Table {
                name: table.clone(),
                columns: Vec::new(),
            });
        }
        if let Some(t) = out.last_mut() {
            t.columns.push(Column {
                name,
                kind: normal_type(&kind),
                nullable: nullable == "YES",
            });
        }
    }
    Ok(out)
}

/// A connection that takes zero dates, as 3scale's MySQL servers ran.
async fn connect(url: &str) -> Result<mysql_async::Conn> {
    let opts = mysql_async::Opts::from_url(url)
        .map_err(|e| crate::infra::url::scrub_error(&e, url))
        .context("the seed URL is not a mysql:// URL")?;
    let mut conn = mysql_async::Conn::new(opts)
        .await
        .map_err(|e| crate::infra::url::scrub_error(&e, url))
        .context("cannot connect to the MySQL database to seed")?;
    conn.query_drop("SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'; SET NAMES utf8mb4")
        .await?;
    Ok(conn)
}

/// Creates porta's schema of `release` in the empty database of `url` and fills the tables the
/// migration touches with the rows of the PostgreSQL seed (see the module's doc).
pub async fn seed_system_mysql_with(
    url: &str,
    wildcard_domain: &str,
    sizes: &Sizes,
    tokens: &SeedTokens,
    release: &Release,
) -> Result<SeedSummary> {
    let wildcard = wildcard_domain
        .trim()
        .trim_matches('.')
        .to_ascii_lowercase();
    let mut conn = connect(url).await?;
    load_mysql(&mut conn, release).await?;
    let schema = tables(&mut conn).await?;
    let model = Model::build(sizes);
    let built = build(&model, &Hosts { wildcard }, tokens, chrono::Utc::now());
    let mut summary = SeedSummary::default();
    for rows in &built {
        let Some(table) = schema.iter().find(|t| t.name == rows.table) else {
            anyhow::bail!("porta {} has no table {}", release.name, rows.table);
        };
        let booleans: Vec<bool> = rows
            .columns
            .iter()
            .map(|c| {
                table
                    .columns
                    .iter()
                    .any(|col| col.name == *c && col.kind == "tinyint(1)")
            })
            .collect();
        let sql = format!(
            "INSERT INTO `{}` ({}) VALUES ({})",
            rows.table,
            rows.columns
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", "),
            vec!["?"; rows.columns.len()].join(", ")
        );
        let params: Vec<Params> = rows
            .rows
            .iter()
            .map(|row| {
                Params::Positional(
                    row.iter()
                        .zip(&booleans)
                        .map(|(v, boolean)| match (v.as_deref(), boolean) {
                            (None, _) => Value::NULL,
                            (Some("t"), true) => Value::Int(1),
                            (Some("f"), true) => Value::Int(0),
                            (Some(text), _) => Value::Bytes(text.as_bytes().to_vec()),
                        })
                        .collect(),
                )
            })
            .collect();
        conn.exec_batch(sql, params)
            .await
            .with_context(|| format!("seeding {}", rows.table))?;
        summary.add(rows.table, rows.rows.len() as u64);
    }
    conn.disconnect().await?;
    Ok(summary)
}

/// Rows of each table: `base` plus a little, so tables differ; the tables others refer to
/// (proxies, services) have the most.
fn rows_of(index: usize, table: &str, base: u64) -> u64 {
    match table {
        "proxies" | "services" => base + 3,
        _ => base + (index % 3) as u64,
    }
}

/// The value of `column` in row `r` of `table`.
fn value(table: &str, column: &Column, r: u64) -> Value {
    let name = column.name.as_str();
    let kind = column.kind.as_str();
    if name == "id" {
        return Value::UInt(r);
    }
    // The unique index on accounts.master allows one master and NULLs.
    if table == "accounts" && name == "master" {
        return if r == 1 { Value::Int(1) } else { Value::NULL };
    }
    if column.nullable && r.is_multiple_of(4) {
        return Value::NULL;
    }
    let bytes = |s: String| Value::Bytes(s.into_bytes());
    if kind == "tinyint(1)" {
        Value::Int((r % 2) as i64)
    } else if ["bigint", "int", "smallint", "mediumint", "tinyint"].contains(&kind) {
        Value::UInt(r)
    } else if kind.starts_with("decimal") {
        bytes(format!("{}.{:02}", r, (r * 25) % 100))
    } else if kind == "date" {
        if column.nullable && r % 4 == 1 {
            bytes("0000-00-00".to_string())
        } else {
            bytes(format!("2024-{:02}-{:02}", r % 12 + 1, r % 28 + 1))
        }
    } else if kind == "time" {
        bytes(format!("{:02}:{:02}:07", r % 24, r % 60))
    } else if kind.starts_with("datetime") {
        if column.nullable && r % 4 == 1 {
            bytes("0000-00-00 00:00:00".to_string())
        } else {
            bytes(format!(
                "2024-{:02}-{:02} {:02}:{:02}:07",
                r % 12 + 1,
                r % 28 + 1,
                r % 24,
                r % 60
            ))
        }
    } else if let Some(size) = kind.strip_prefix("varchar(") {
        let max: usize = size.trim_end_matches(')').parse().unwrap_or(255);
        let text = format!("{r}-{name} Ünïcødé ✓ 日本");
        bytes(text.chars().take(max).collect())
    } else if kind.ends_with("text") {
        let mut text = format!(
            "{table} {r}: línea 1\n\t'single' \"double\" back\\slash — 日本語 ✓ 🚀\n{{\"json\": [1, 2]}}"
        );
        // Longer than text's 64 KB: only medium and long text hold it.
        if kind != "text" && r == 1 {
            text.push_str(&"x".repeat(70_000));
        }
        bytes(text)
    } else if kind == "binary(16)" {
        let mut b = vec![0u8; 16];
        b[0] = (r % 256) as u8;
        b[15] = 0xff;
        Value::Bytes(b)
    } else if kind.contains("binary") || kind.contains("blob") {
        Value::Bytes(payload(r, kind))
    } else {
        bytes(format!("{name} {r}"))
    }
}

/// Bytes with every value 0..=255 in them (NUL and 0xff included), longer for larger types.
pub fn payload(r: u64, kind: &str) -> Vec<u8> {
    let len = match kind {
        "longblob" => 300_000,
        "mediumblob" => 70_000,
        "blob" => 1_000,
        _ => 200,
    };
    (0..len)
        .map(|i: u64| ((i.wrapping_mul(31) + r * 7) % 256) as u8)
        .collect()
}

/// Creates porta's schema of the sandbox's source release in the database of `url`
/// (`mysql://...`) and fills every table with `base` rows (a few more in some), every column
/// given an edge-case value of its type (see the module's doc).
pub async fn seed_system_mysql(url: &str, base: u64) -> Result<SeedSummary> {
    let mut conn = connect(url).await?;
    load_mysql(&mut conn, porta_schema::source_release()).await?;
    let schema = tables(&mut conn).await?;
    // porta's foreign keys: each such column points at an id every table has (1..=base), and
    // the tables are filled in name order with the checks off, as a restore loads them.
    let references: Vec<(String, String)> = conn
        .query(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL",
        )
        .await
        .context("reading the seeded schema's foreign keys")?;
    conn.query_drop("SET FOREIGN_KEY_CHECKS = 0").await?;
    let mut summary = SeedSummary::default();
    for (index, table) in schema.iter().enumerate() {
        if RAILS_TABLES.contains(&table.name.as_str()) {
            let n: u64 = conn
                .query_first(format!("SELECT count(*) FROM `{}`", table.name))
                .await?
                .unwrap_or(0);
            summary.add(&table.name, n);
            continue;
        }
        let names: Vec<String> = table
            .columns
            .iter()
            .map(|c| format!("`{}`", c.name))
            .collect();
        let marks = vec!["?"; names.len()].join(", ");
        let sql = format!(
            "INSERT INTO `{}` ({}) VALUES ({marks})",
            table.name,
            names.join(", ")
        );
        let rows = rows_of(index, &table.name, base);
        let params: Vec<Params> = (1..=rows)
            .map(|r| {
                Params::Positional(
                    table
                        .columns
                        .iter()
                        .map(|c| {
                            if references
                                .iter()
                                .any(|(t, col)| *t == table.name && *col == c.name)
                            {
                                Value::UInt((r - 1) % base.max(1) + 1)
                            } else {
                                value(&table.name, c, r)
                            }
                        })
                        .collect(),
                )
            })
            .collect();
        conn.exec_batch(sql, params)
            .await
            .with_context(|| format!("seeding {}", table.name))?;
        summary.add(&table.name, rows);
    }
    conn.query_drop("SET FOREIGN_KEY_CHECKS = 1").await?;
    conn.disconnect().await?;
    Ok(summary)
}

/// Rails' bookkeeping, which the schema load fills.
const RAILS_TABLES: &[&str] = &["schema_migrations", "ar_internal_metadata"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_widths_are_dropped_but_booleans_stay() {
        assert_eq!(normal_type("bigint(20)"), "bigint");
        assert_eq!(normal_type("int(11) unsigned"), "int");
        assert_eq!(normal_type("tinyint(1)"), "tinyint(1)");
        assert_eq!(normal_type("varchar(255)"), "varchar(255)");
        assert_eq!(normal_type("decimal(20,2)"), "decimal(20,2)");
    }
}
