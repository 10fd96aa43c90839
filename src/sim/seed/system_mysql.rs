//! A 3scale-like system database on MySQL/MariaDB, for the tests of the MySQL dump and of its
//! conversion to PostgreSQL: the tables of [`super::system_schema`] with the MySQL types porta's
//! MySQL schema uses (tinyint(1) booleans, datetime, medium and long text), plus one table of
//! binary columns (binary, varbinary, blob), so that every cast of the conversion has rows to
//! work on: booleans, bytes with NUL and 0xff, unicode and 70 KB texts, NULLs, and zero dates
//! (`0000-00-00 00:00:00`, which MySQL takes without NO_ZERO_DATE and PostgreSQL does not).
//!
//! The MySQL DDL is derived from the PostgreSQL one, so both stay the same tables and columns;
//! [`postgres_schema`] is what `convert.postgres_schema` loads into the target, standing in
//! for porta's `db:schema:load` of the same version.

use anyhow::{Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Params, Value};

use super::sizes::SeedSummary;
use super::system_schema::DDL;

/// Columns given a larger MySQL text type than `text`, as porta's MySQL schema has them.
const TEXT_TYPES: &[(&str, &str, &str)] = &[
    ("accounts", "extra_fields", "mediumtext"),
    ("users", "extra_fields", "mediumtext"),
    ("cinstances", "extra_fields", "mediumtext"),
    ("proxies", "policies_config", "mediumtext"),
    ("proxy_configs", "content", "longtext"),
    ("api_docs_services", "body", "longtext"),
];

/// The table of binary columns, in both dialects.
const BINARY_TABLE: &str = "binary_payloads";
const BINARY_MYSQL: &str = "CREATE TABLE binary_payloads (
    id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
    digest binary(16) NOT NULL,
    token varbinary(255),
    payload blob,
    document mediumblob,
    archive longblob,
    created_at datetime NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
";
const BINARY_POSTGRES: &str = "
CREATE TABLE binary_payloads (
    id bigserial PRIMARY KEY,
    digest bytea NOT NULL,
    token bytea,
    payload bytea,
    document bytea,
    archive bytea,
    created_at timestamp without time zone NOT NULL
);
";
/// Rails' bookkeeping tables: in both databases, left out of the conversion.
const RAILS_MYSQL: &str = "CREATE TABLE schema_migrations (version varchar(255) NOT NULL PRIMARY KEY)
    ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE ar_internal_metadata (`key` varchar(255) NOT NULL PRIMARY KEY, value varchar(255),
    created_at datetime NOT NULL, updated_at datetime NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO schema_migrations VALUES ('20230101000000'), ('20230201000000'), ('20230301000000');
INSERT INTO ar_internal_metadata VALUES ('environment', 'production', NOW(), NOW());
";
const RAILS_POSTGRES: &str = "
CREATE TABLE schema_migrations (version character varying NOT NULL PRIMARY KEY);
CREATE TABLE ar_internal_metadata (key character varying NOT NULL PRIMARY KEY,
    value character varying, created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL);
INSERT INTO schema_migrations VALUES ('20230301000000');
";

/// The SQL that creates the PostgreSQL schema matching [`seed_system_mysql`]'s tables.
pub fn postgres_schema() -> String {
    format!("{DDL}{BINARY_POSTGRES}{RAILS_POSTGRES}")
}

/// One column of the derived MySQL schema.
#[derive(Clone, Debug)]
struct Column {
    name: String,
    /// The MySQL type, lowercase: `bigint`, `varchar(255)`, `tinyint(1)`, `datetime`...
    kind: String,
    nullable: bool,
}

#[derive(Clone, Debug)]
struct Table {
    name: String,
    columns: Vec<Column>,
}

/// The tables of the PostgreSQL DDL with MySQL types, and the MySQL DDL (tables and indexes).
fn mysql_schema() -> (Vec<Table>, String) {
    let mut tables: Vec<Table> = Vec::new();
    let mut sql = String::new();
    for line in DDL.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("CREATE TABLE ") {
            let name = rest.trim_end_matches(" (").trim().to_string();
            sql.push_str(&format!("CREATE TABLE `{name}` (\n"));
            tables.push(Table {
                name,
                columns: Vec::new(),
            });
        } else if line == ");" {
            if sql.ends_with(",\n") {
                sql.truncate(sql.len() - 2);
                sql.push('\n');
            }
            sql.push_str(") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n");
        } else if line.starts_with("CREATE ") && line.contains(" INDEX ") {
            sql.push_str(&line.replace(" USING btree", ""));
            sql.push('\n');
        } else if let Some(table) = tables.last_mut()
            && !line.is_empty()
        {
            let (column, text) = column(&table.name, line);
            sql.push_str(&format!("    {text},\n"));
            table.columns.push(column);
        }
    }
    sql.push_str(BINARY_MYSQL);
    tables.push(Table {
        name: BINARY_TABLE.to_string(),
        columns: [
            ("id", "bigint", false),
            ("digest", "binary(16)", false),
            ("token", "varbinary(255)", true),
            ("payload", "blob", true),
            ("document", "mediumblob", true),
            ("archive", "longblob", true),
            ("created_at", "datetime", false),
        ]
        .iter()
        .map(|(n, k, null)| Column {
            name: n.to_string(),
            kind: k.to_string(),
            nullable: *null,
        })
        .collect(),
    });
    (tables, sql)
}

/// One PostgreSQL column line as a MySQL column definition.
fn column(table: &str, line: &str) -> (Column, String) {
    let line = line.trim_end_matches(',');
    let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
    let name = name.trim_matches('"').to_string();
    let not_null = rest.contains("NOT NULL") || rest.contains("PRIMARY KEY");
    let default = rest
        .split_once("DEFAULT ")
        .map(|(_, d)| d.split("::").next().unwrap_or(d))
        .map(|d| d.trim_end_matches(" NOT NULL").trim())
        .map(|d| match d {
            "true" => "1".to_string(),
            "false" => "0".to_string(),
            d => d.to_string(),
        });
    let kind = if rest.starts_with("bigserial") {
        "bigint".to_string()
    } else if let Some(size) = rest.strip_prefix("character varying(") {
        format!("varchar({}", size.split(')').next().unwrap_or("255")) + ")"
    } else if rest.starts_with("character varying") {
        "varchar(255)".to_string()
    } else if rest.starts_with("timestamp") {
        "datetime".to_string()
    } else if rest.starts_with("boolean") {
        "tinyint(1)".to_string()
    } else if rest.starts_with("integer") {
        "int".to_string()
    } else if let Some(size) = rest.strip_prefix("numeric(") {
        format!("decimal({}", size.split(')').next().unwrap_or("20,4")) + ")"
    } else if rest.starts_with("text") {
        TEXT_TYPES
            .iter()
            .find(|(t, c, _)| *t == table && *c == name)
            .map_or("text", |(_, _, k)| k)
            .to_string()
    } else {
        rest.split_whitespace().next().unwrap_or("text").to_string()
    };
    let mut text = format!("`{name}` {kind}");
    if rest.starts_with("bigserial") {
        text.push_str(" NOT NULL AUTO_INCREMENT PRIMARY KEY");
    } else {
        if not_null {
            text.push_str(" NOT NULL");
        }
        if let Some(d) = default {
            text.push_str(&format!(" DEFAULT {d}"));
        }
    }
    (
        Column {
            name,
            kind,
            nullable: !not_null,
        },
        text,
    )
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
    } else if kind == "bigint" || kind == "int" {
        Value::UInt(r)
    } else if kind.starts_with("decimal") {
        bytes(format!("{}.{:02}", r, (r * 25) % 100))
    } else if kind == "datetime" {
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

/// Creates the schema in the database of `url` (`mysql://...`) and fills every table; with
/// `base` rows per table (a few more in some). Zero dates need a session without
/// NO_ZERO_DATE and strict mode, as 3scale's MySQL servers ran.
pub async fn seed_system_mysql(url: &str, base: u64) -> Result<SeedSummary> {
    let opts = mysql_async::Opts::from_url(url)
        .map_err(|e| crate::infra::url::scrub_error(&e, url))
        .context("the seed URL is not a mysql:// URL")?;
    let mut conn = mysql_async::Conn::new(opts)
        .await
        .map_err(|e| crate::infra::url::scrub_error(&e, url))
        .context("cannot connect to the MySQL database to seed")?;
    conn.query_drop("SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'; SET NAMES utf8mb4")
        .await?;
    let (tables, ddl) = mysql_schema();
    conn.query_drop(format!("{ddl}{RAILS_MYSQL}"))
        .await
        .context("creating the MySQL schema")?;
    let mut summary = SeedSummary::default();
    for (index, table) in tables.iter().enumerate() {
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
                        .map(|c| value(&table.name, c, r))
                        .collect(),
                )
            })
            .collect();
        conn.exec_batch(sql, params)
            .await
            .with_context(|| format!("seeding {}", table.name))?;
        summary.add(&table.name, rows);
    }
    summary.add("schema_migrations", 3);
    summary.add("ar_internal_metadata", 1);
    conn.disconnect().await?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_postgres_table_has_its_mysql_twin() {
        let (tables, ddl) = mysql_schema();
        assert_eq!(tables.len(), super::super::system_schema::TABLES.len() + 1);
        assert!(ddl.contains("`extra_fields` mediumtext"), "{ddl}");
        assert!(ddl.contains("`content` longtext NOT NULL"), "{ddl}");
        assert!(ddl.contains("`master` tinyint(1),"), "{ddl}");
        assert!(
            ddl.contains("`org_name` varchar(255) DEFAULT '' NOT NULL")
                || ddl.contains("`org_name` varchar(255) NOT NULL DEFAULT ''"),
            "{ddl}"
        );
        assert!(!ddl.contains("::"), "{ddl}");
        assert!(!ddl.contains("REFERENCES"), "{ddl}");
    }
}
