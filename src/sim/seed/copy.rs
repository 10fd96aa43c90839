//! Rows loaded with COPY in text format: one round trip per table whatever the size, and
//! PostgreSQL parses each value into its column type, as it does for a pg_restore.

use std::io::Cursor;

use anyhow::Context;
use futures::SinkExt;
use tokio_postgres::Transaction;

/// One table's rows, each value as PostgreSQL's text input (`t`/`f`, `2026-01-02 03:04:05`,
/// JSON text) or `None` for NULL.
pub(super) struct Rows {
    pub table: &'static str,
    pub columns: &'static [&'static str],
    pub rows: Vec<Vec<Option<String>>>,
}

impl Rows {
    pub fn new(table: &'static str, columns: &'static [&'static str]) -> Rows {
        Rows {
            table,
            columns,
            rows: Vec::new(),
        }
    }

    /// Adds a row; the values line up with `columns`.
    pub fn push(&mut self, values: Vec<Option<String>>) {
        debug_assert_eq!(values.len(), self.columns.len(), "row of {}", self.table);
        self.rows.push(values);
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = String::new();
        for row in &self.rows {
            for (i, value) in row.iter().enumerate() {
                if i > 0 {
                    out.push('\t');
                }
                match value {
                    None => out.push_str("\\N"),
                    Some(text) => escape_into(&mut out, text),
                }
            }
            out.push('\n');
        }
        out.into_bytes()
    }
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// Loads `rows` into its table; returns the number of rows the server reports.
pub(super) async fn copy_rows(client: &Transaction<'_>, rows: &Rows) -> anyhow::Result<u64> {
    let sql = format!(
        "COPY {} ({}) FROM STDIN",
        rows.table,
        rows.columns
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let sink = client
        .copy_in::<_, Cursor<Vec<u8>>>(sql.as_str())
        .await
        .with_context(|| format!("COPY into {} was refused", rows.table))?;
    futures::pin_mut!(sink);
    sink.send(Cursor::new(rows.encode()))
        .await
        .with_context(|| format!("sending the rows of {} failed", rows.table))?;
    let count = sink
        .as_mut()
        .finish()
        .await
        .with_context(|| format!("PostgreSQL rejected the rows of {}", rows.table))?;
    Ok(count)
}

/// `Some(text)` shorthand for row building.
pub(super) fn s(text: impl Into<String>) -> Option<String> {
    Some(text.into())
}

pub(super) fn b(value: bool) -> Option<String> {
    Some(if value { "t" } else { "f" }.to_string())
}

pub(super) fn n(value: i64) -> Option<String> {
    Some(value.to_string())
}
