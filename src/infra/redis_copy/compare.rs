//! Comparing two servers (`cutover redis compare`), and one key of both (a busy key found by a
//! copy): type, TTL and value, read with the type's commands where payloads differ.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Result, bail};
use redis::Value;
use serde::Serialize;

use super::endpoint::{Endpoint, show_key};
use crate::infra::resp::{array, bytes, error_text, int, text};

/// TTLs closer than this count as the same when a busy key is checked against the source.
pub const SAME_TTL_MS: i64 = 2_000;

/// A key's value read with its type's commands, in a form where equal values compare equal
/// whatever their encoding.
#[derive(Debug, PartialEq)]
enum TypedValue {
    String(Vec<u8>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    /// Member to score; scores compared as numbers, since versions format them differently.
    ZSet(BTreeMap<Vec<u8>, f64>),
    List(Vec<Vec<u8>>),
    Stream(Vec<Entry>),
    /// Gone, or of a type that cannot be read this way (compared by payload only).
    Other,
}

async fn read_value(end: &Endpoint, key: &[u8], kind: &str) -> Result<TypedValue> {
    let flat = |v: Value| -> Vec<Vec<u8>> { array(v).into_iter().filter_map(bytes).collect() };
    let two = |items: Vec<Vec<u8>>| -> Vec<(Vec<u8>, Vec<u8>)> {
        items
            .chunks(2)
            .filter_map(|p| match p {
                [a, b] => Some((a.clone(), b.clone())),
                _ => None,
            })
            .collect()
    };
    Ok(match kind {
        "string" => TypedValue::String(
            bytes(end.query(redis::cmd("GET").arg(key), "GET").await?).unwrap_or_default(),
        ),
        "hash" => TypedValue::Hash(
            two(flat(
                end.query(redis::cmd("HGETALL").arg(key), "HGETALL").await?,
            ))
            .into_iter()
            .collect(),
        ),
        "set" => TypedValue::Set(
            flat(
                end.query(redis::cmd("SMEMBERS").arg(key), "SMEMBERS")
                    .await?,
            )
            .into_iter()
            .collect(),
        ),
        "zset" => {
            let reply = end
                .query(
                    redis::cmd("ZRANGE")
                        .arg(key)
                        .arg(0)
                        .arg(-1)
                        .arg("WITHSCORES"),
                    "ZRANGE",
                )
                .await?;
            TypedValue::ZSet(
                two(flat(reply))
                    .into_iter()
                    .map(|(m, s)| {
                        let score = String::from_utf8_lossy(&s)
                            .parse::<f64>()
                            .unwrap_or(f64::NAN);
                        (m, score)
                    })
                    .collect(),
            )
        }
        "list" => TypedValue::List(flat(
            end.query(redis::cmd("LRANGE").arg(key).arg(0).arg(-1), "LRANGE")
                .await?,
        )),
        "stream" => TypedValue::Stream(parse_entries(
            end.query(redis::cmd("XRANGE").arg(key).arg("-").arg("+"), "XRANGE")
                .await?,
        )),
        _ => TypedValue::Other,
    })
}

/// One key as read for comparison.
struct KeyState {
    kind: String,
    /// PTTL: -1 no expiry, -2 gone.
    pttl: i64,
    payload: Option<Vec<u8>>,
}

async fn read_states(end: &Endpoint, keys: &[Vec<u8>]) -> Result<Vec<KeyState>> {
    let mut pipe = redis::Pipeline::with_capacity(keys.len() * 3);
    for key in keys {
        pipe.cmd("TYPE")
            .arg(key)
            .cmd("PTTL")
            .arg(key)
            .cmd("DUMP")
            .arg(key);
    }
    let replies = end.pipeline(&mut pipe, "TYPE, PTTL and DUMP").await?;
    let mut it = replies.into_iter();
    let mut out = Vec::with_capacity(keys.len());
    while let (Some(t), Some(p), Some(d)) = (it.next(), it.next(), it.next()) {
        out.push(KeyState {
            kind: text(&t).unwrap_or_else(|| "none".into()),
            pttl: int(&p).unwrap_or(-2),
            payload: if error_text(&d).is_some() {
                None
            } else {
                bytes(d)
            },
        });
    }
    if out.len() != keys.len() {
        bail!(
            "{} Redis gave {} answers for {} keys",
            end.role,
            out.len(),
            keys.len()
        );
    }
    Ok(out)
}

/// How a key differs between source and target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiffKind {
    /// In the source, not in the target.
    Missing,
    /// In the target, not in the source.
    Extra,
    Type,
    Value,
    Ttl,
}

impl std::fmt::Display for DiffKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DiffKind::Missing => "missing",
            DiffKind::Extra => "extra",
            DiffKind::Type => "type",
            DiffKind::Value => "value",
            DiffKind::Ttl => "ttl",
        })
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Difference {
    pub key: String,
    pub kind: DiffKind,
    pub detail: String,
}

pub struct CompareOptions {
    pub pattern: Option<String>,
    /// TTLs apart by at most this much are equal.
    pub ttl_tolerance: Duration,
    /// How many differences the report lists (all are counted).
    pub show: usize,
}

impl Default for CompareOptions {
    fn default() -> CompareOptions {
        CompareOptions {
            pattern: None,
            ttl_tolerance: Duration::from_secs(2),
            show: 20,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CompareReport {
    pub source_version: String,
    pub target_version: String,
    /// Keys of the source compared.
    pub source_keys: u64,
    /// Keys of the target looked up in the source.
    pub target_keys: u64,
    pub missing: u64,
    pub extra: u64,
    pub type_differs: u64,
    pub value_differs: u64,
    pub ttl_differs: u64,
    /// Of the equal keys, those whose DUMP payloads differed but values did not.
    pub equal_by_value: u64,
    /// The first differences found.
    pub differences: Vec<Difference>,
}

impl CompareReport {
    pub fn total_differences(&self) -> u64 {
        self.missing + self.extra + self.type_differs + self.value_differs + self.ttl_differs
    }

    pub fn equal(&self) -> bool {
        self.total_differences() == 0
    }

    fn record(&mut self, show: usize, key: &[u8], kind: DiffKind, detail: String) {
        match kind {
            DiffKind::Missing => self.missing += 1,
            DiffKind::Extra => self.extra += 1,
            DiffKind::Type => self.type_differs += 1,
            DiffKind::Value => self.value_differs += 1,
            DiffKind::Ttl => self.ttl_differs += 1,
        }
        if self.differences.len() < show {
            self.differences.push(Difference {
                key: show_key(key),
                kind,
                detail,
            });
        }
    }
}

/// The difference between one key's two states, if any (the value by payload, then by value).
async fn key_difference(
    source: &Endpoint,
    target: &Endpoint,
    key: &[u8],
    s: &KeyState,
    t: &KeyState,
    tolerance_ms: i64,
) -> Result<Option<(DiffKind, String)>> {
    if t.kind == "none" {
        return Ok(Some((DiffKind::Missing, "not in the target".into())));
    }
    if s.kind != t.kind {
        return Ok(Some((
            DiffKind::Type,
            format!("{} in the source, {} in the target", s.kind, t.kind),
        )));
    }
    let same_payload = s.payload.is_some() && s.payload == t.payload;
    if !same_payload {
        let a = read_value(source, key, &s.kind).await?;
        let b = read_value(target, key, &t.kind).await?;
        if a != b || a == TypedValue::Other {
            return Ok(Some((
                DiffKind::Value,
                format!("the {} values differ", s.kind),
            )));
        }
    }
    let ttl_apart = match (s.pttl, t.pttl) {
        (-1, -1) => None,
        (-1, b) => Some(format!(
            "no expiry in the source, {b} ms left in the target"
        )),
        (a, -1) => Some(format!(
            "{a} ms left in the source, no expiry in the target"
        )),
        (a, b) if (a - b).abs() > tolerance_ms => {
            Some(format!("{a} ms left in the source, {b} ms in the target"))
        }
        _ => None,
    };
    Ok(ttl_apart.map(|d| (DiffKind::Ttl, d)))
}

/// Whether the target holds `key` as the source does (type, value, TTL within tolerance).
pub(super) async fn same_key(
    source: &Endpoint,
    target: &Endpoint,
    key: &[u8],
    tolerance_ms: i64,
) -> Result<bool> {
    let keys = [key.to_vec()];
    let s = read_states(source, &keys).await?;
    let t = read_states(target, &keys).await?;
    let (Some(s), Some(t)) = (s.first(), t.first()) else {
        return Ok(false);
    };
    if s.kind == "none" {
        return Ok(false);
    }
    Ok(key_difference(source, target, key, s, t, tolerance_ms)
        .await?
        .is_none())
}

/// Compares the keys of `from` (those matching `options.pattern`) with those of `to`.
pub async fn compare(from: &str, to: &str, options: &CompareOptions) -> Result<CompareReport> {
    let source = Endpoint::connect("source", from).await?;
    let target = Endpoint::connect("target", to).await?;
    let tolerance_ms = i64::try_from(options.ttl_tolerance.as_millis()).unwrap_or(i64::MAX);
    let mut report = CompareReport {
        source_version: source.info.version.clone(),
        target_version: target.info.version.clone(),
        ..CompareReport::default()
    };
    let pattern = options.pattern.as_deref();

    let mut cursor = 0u64;
    loop {
        let (next, keys) = source.scan(cursor, pattern).await?;
        if !keys.is_empty() {
            let (s, t) =
                tokio::try_join!(read_states(&source, &keys), read_states(&target, &keys))?;
            for ((key, s), t) in keys.iter().zip(&s).zip(&t) {
                if s.kind == "none" {
                    continue;
                }
                // A key about to expire may be gone from the target by the time it is read.
                if t.kind == "none" && s.pttl >= 0 && s.pttl <= tolerance_ms {
                    continue;
                }
                report.source_keys += 1;
                match key_difference(&source, &target, key, s, t, tolerance_ms).await? {
                    Some((kind, detail)) => report.record(options.show, key, kind, detail),
                    None => {
                        if s.payload != t.payload {
                            report.equal_by_value += 1;
                        }
                    }
                }
            }
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }

    loop {
        let (next, keys) = target.scan(cursor, pattern).await?;
        if !keys.is_empty() {
            let mut pipe = redis::Pipeline::with_capacity(keys.len());
            for key in &keys {
                pipe.cmd("EXISTS").arg(key);
            }
            let found = source.pipeline(&mut pipe, "EXISTS").await?;
            for (key, found) in keys.iter().zip(found) {
                report.target_keys += 1;
                if int(&found) == Some(0) {
                    report.record(
                        options.show,
                        key,
                        DiffKind::Extra,
                        "not in the source".into(),
                    );
                }
            }
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    Ok(report)
}

type Entry = (String, Vec<(Vec<u8>, Vec<u8>)>);

pub(super) fn parse_entries(reply: Value) -> Vec<Entry> {
    array(reply)
        .into_iter()
        .filter_map(|entry| {
            let mut parts = array(entry).into_iter();
            let id = parts.next().and_then(|v| text(&v))?;
            let flat: Vec<Vec<u8>> = parts
                .next()
                .map(array)
                .unwrap_or_default()
                .into_iter()
                .filter_map(bytes)
                .collect();
            let fields = flat
                .chunks(2)
                .filter_map(|p| match p {
                    [f, v] => Some((f.clone(), v.clone())),
                    _ => None,
                })
                .collect();
            Some((id, fields))
        })
        .collect()
}

/// A flat `name value name value` reply as a map of the text values.
pub(super) fn pairs(v: Value) -> BTreeMap<String, String> {
    let items = array(v);
    items
        .chunks(2)
        .filter_map(|p| match p {
            [k, v] => Some((text(k)?, text(v).unwrap_or_default())),
            _ => None,
        })
        .collect()
}
