//! The record of a database dump: where the file is, its size and SHA-256, where it came from,
//! the server and tool versions, and the exact rows of every table it holds. A step records it
//! as its fact `dump`, and it is written next to the file as `<dump>.json` so that it travels
//! with the dump when the other party restores it with its own cutover.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::format::bytes;

/// The `format` of a PostgreSQL dump (`pg_dump -Fc`).
pub const CUSTOM_FORMAT: &str = "custom";
/// The `format` of a MySQL dump (plain SQL from `mysqldump`).
pub const MYSQLDUMP_FORMAT: &str = "mysqldump";

/// What a dump produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DumpRecord {
    pub path: PathBuf,
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
    /// The file's mode, `0600`.
    pub mode: String,
    /// `custom` (pg_dump -Fc).
    pub format: String,
    /// Where it was dumped from: a URL with its password masked, or the pod and database.
    pub source: String,
    pub server_version: String,
    pub server_major: u32,
    /// The pg_dump that wrote it: the local one's version, or `in pod <name>`.
    pub pg_dump: String,
    /// The number of TABLE DATA entries of the archive.
    pub table_data: usize,
    /// Exact rows of each table the archive holds data of, by `schema.name`.
    pub rows: BTreeMap<String, u64>,
    /// How the rows were counted.
    pub rows_counted: String,
    pub seconds: f64,
}

impl DumpRecord {
    pub fn total_rows(&self) -> u64 {
        self.rows.values().sum()
    }

    /// The tables of the archive as (`schema`, `name`).
    pub fn tables(&self) -> Vec<(String, String)> {
        self.rows.keys().filter_map(|t| split_table(t)).collect()
    }

    /// One line for the operator.
    pub fn summary(&self) -> String {
        format!(
            "{}: {}, sha256 {}, {} {}, {} tables with data, {} rows",
            self.path.display(),
            bytes(self.bytes),
            &self.sha256[..self.sha256.len().min(12)],
            if self.format == MYSQLDUMP_FORMAT {
                "MySQL"
            } else {
                "PostgreSQL"
            },
            self.server_version,
            self.table_data,
            self.total_rows()
        )
    }
}

fn split_table(t: &str) -> Option<(String, String)> {
    let (schema, name) = t.split_once('.')?;
    Some((schema.to_string(), name.to_string()))
}

/// `<dump>.json`, the record kept next to a dump so that it travels with the file (a dump the
/// other party took reaches this host with its record).
pub fn record_path(dump: &Path) -> PathBuf {
    let mut name = dump
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".json");
    dump.with_file_name(name)
}

/// Writes `record` to [`record_path`] (mode 0600, synced).
pub fn write_record(record: &DumpRecord) -> Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = record_path(&record.path);
    let text = serde_json::to_string_pretty(record)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The record next to `dump`, with its path set to where the dump is now.
pub fn read_record(dump: &Path) -> Option<DumpRecord> {
    let text = std::fs::read_to_string(record_path(dump)).ok()?;
    let mut record: DumpRecord = serde_json::from_str(&text).ok()?;
    record.path = dump.to_path_buf();
    Some(record)
}
