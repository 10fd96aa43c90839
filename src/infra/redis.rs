//! Redis probe: is the server there, which version, how much data, which role. Also the small
//! helpers the dump and restore steps share: a connection bounded in time, one INFO section,
//! the key counts of each database, and copying back only the keys a target lacks.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, anyhow};

use super::url::{redact, scrub_error};

/// What a Redis server says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisInfo {
    pub version: String,
    pub used_memory: u64,
    /// Sum of `keys=` over every `dbN` line of the keyspace section.
    pub keys: u64,
    /// `master` or `slave`, as the server words it.
    pub role: String,
}

/// Connects to `url`, sends PING and reads INFO server, memory, keyspace and replication.
/// Everything, connecting included, is bounded by `timeout`.
pub async fn probe(url: &str, timeout: Duration) -> anyhow::Result<RedisInfo> {
    let client = redis::Client::open(url)
        .map_err(|e| scrub_error(&e, url))
        .with_context(|| {
            format!(
                "{} is not a Redis URL (expected redis://[USER:PASSWORD@]HOST:PORT/DB, or \
                 rediss:// for TLS)",
                redact(url)
            )
        })?;
    let outcome = tokio::time::timeout(timeout, ask(&client, url, timeout)).await;
    let result = match outcome {
        Ok(result) => result,
        Err(_) => Err(anyhow!("no answer within {timeout:?}")),
    };
    result.with_context(|| {
        format!(
            "Redis at {} did not answer (check the URL, that the server is reachable from this \
             host, and the password)",
            redact(url)
        )
    })
}

async fn ask(client: &redis::Client, url: &str, timeout: Duration) -> anyhow::Result<RedisInfo> {
    let mut conn = open(client, url, timeout).await?;
    // One INFO per section: older servers accept only one section name per call.
    let (_pong, server, memory, keyspace, replication): (String, String, String, String, String) =
        redis::pipe()
            .cmd("PING")
            .cmd("INFO")
            .arg("server")
            .cmd("INFO")
            .arg("memory")
            .cmd("INFO")
            .arg("keyspace")
            .cmd("INFO")
            .arg("replication")
            .query_async(&mut conn)
            .await
            .map_err(|e| scrub_error(&e, url))?;
    parse_info(&[server, memory, keyspace, replication].join("\r\n"))
}

/// Reads the fields of [`RedisInfo`] from INFO text. Unknown lines are ignored; a missing field
/// is an error naming it. No `dbN` line means an empty server, not a missing field.
pub fn parse_info(text: &str) -> anyhow::Result<RedisInfo> {
    let mut version = None;
    let mut used_memory = None;
    let mut role = None;
    let mut keys: u64 = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        match name {
            "redis_version" => version = Some(value.to_string()),
            "used_memory" => {
                let bytes = value.parse::<u64>().with_context(|| {
                    format!("INFO field used_memory is not a number: {value:?}")
                })?;
                used_memory = Some(bytes);
            }
            "role" => role = Some(value.to_string()),
            db if is_db_name(db) => {
                let count = db_keys(value)
                    .with_context(|| format!("INFO keyspace line {line:?} has no keys= count"))?;
                keys = keys.saturating_add(count);
            }
            _ => {}
        }
    }
    Ok(RedisInfo {
        version: version.context("INFO has no redis_version field")?,
        used_memory: used_memory.context("INFO has no used_memory field")?,
        keys,
        role: role.context("INFO has no role field")?,
    })
}

fn is_db_name(name: &str) -> bool {
    name.strip_prefix("db")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn db_keys(value: &str) -> Option<u64> {
    value
        .split(',')
        .find_map(|kv| kv.strip_prefix("keys="))
        .and_then(|n| n.parse().ok())
}

/// A multiplexed connection to `url`, connecting and every reply bounded by `timeout`.
async fn open(
    client: &redis::Client,
    url: &str,
    timeout: Duration,
) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let connecting = client.get_multiplexed_async_connection_with_config(&config);
    tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| anyhow!("no answer within {timeout:?}"))?
        .map_err(|e| scrub_error(&e, url))
}

/// Connects to `url` (see [`open`]), with an error that names the server without its password.
pub async fn connect(
    url: &str,
    timeout: Duration,
) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(url)
        .map_err(|e| scrub_error(&e, url))
        .with_context(|| {
            format!(
                "{} is not a Redis URL (expected redis://[USER:PASSWORD@]HOST:PORT/DB)",
                redact(url)
            )
        })?;
    open(&client, url, timeout).await.with_context(|| {
        format!(
            "Redis at {} did not answer (check the URL, that the server is reachable from this \
             host, and the password)",
            redact(url)
        )
    })
}

/// The text of `INFO <section>`.
pub async fn info_section(
    conn: &mut redis::aio::MultiplexedConnection,
    url: &str,
    section: &str,
) -> anyhow::Result<String> {
    redis::cmd("INFO")
        .arg(section)
        .query_async(conn)
        .await
        .map_err(|e| scrub_error(&e, url))
        .with_context(|| format!("Redis at {} did not answer INFO {section}", redact(url)))
}

/// Keys per database from INFO keyspace text: `db0` → 1200. Databases without keys are absent.
pub fn keyspace(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (name, value) = line.trim().split_once(':')?;
            (is_db_name(name)).then_some(())?;
            Some((name.to_string(), db_keys(value)?))
        })
        .collect()
}

/// One field of INFO text (`rdb_last_bgsave_status`), trimmed.
pub fn info_field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// What [`copy_missing`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MissingCopy {
    /// Keys of the source looked at.
    pub scanned: u64,
    /// Keys the target lacked and now has.
    pub copied: u64,
    /// Keys the target lacked that expired (or were deleted) before they could be copied.
    pub expired: u64,
    /// Keys that appeared in the target meanwhile; left as they are.
    pub appeared: u64,
}

/// Copies the keys of `from` (matching `pattern`) that `to` does not have, with their TTLs
/// (DUMP, PTTL, then RESTORE without REPLACE), and never touches a key `to` has. This is
/// not a migration copy (see `redis_copy`): it fills gaps in a target that is in use.
pub async fn copy_missing(
    from: &str,
    to: &str,
    pattern: Option<&str>,
    mut progress: impl FnMut(&MissingCopy),
) -> anyhow::Result<MissingCopy> {
    const TIMEOUT: Duration = Duration::from_secs(60);
    let mut source = connect(from, TIMEOUT).await?;
    let mut target = connect(to, TIMEOUT).await?;
    let mut done = MissingCopy::default();
    let mut cursor: u64 = 0;
    loop {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor);
        if let Some(p) = pattern {
            scan.arg("MATCH").arg(p);
        }
        let (next, keys): (u64, Vec<Vec<u8>>) = scan
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut source)
            .await
            .map_err(|e| scrub_error(&e, from))
            .with_context(|| format!("SCAN of {} failed", redact(from)))?;
        done.scanned += keys.len() as u64;
        if !keys.is_empty() {
            let mut exists = redis::pipe();
            for key in &keys {
                exists.cmd("EXISTS").arg(key);
            }
            let present: Vec<u64> = exists
                .query_async(&mut target)
                .await
                .map_err(|e| scrub_error(&e, to))
                .with_context(|| format!("EXISTS on {} failed", redact(to)))?;
            let missing: Vec<&Vec<u8>> = keys
                .iter()
                .zip(&present)
                .filter(|(_, n)| **n == 0)
                .map(|(k, _)| k)
                .collect();
            if !missing.is_empty() {
                copy_these(&mut source, &mut target, from, to, &missing, &mut done).await?;
            }
        }
        progress(&done);
        cursor = next;
        if cursor == 0 {
            return Ok(done);
        }
    }
}

async fn copy_these(
    source: &mut redis::aio::MultiplexedConnection,
    target: &mut redis::aio::MultiplexedConnection,
    from: &str,
    to: &str,
    keys: &[&Vec<u8>],
    done: &mut MissingCopy,
) -> anyhow::Result<()> {
    let mut read = redis::pipe();
    for key in keys {
        read.cmd("DUMP").arg(*key).cmd("PTTL").arg(*key);
    }
    let values: Vec<redis::Value> = read
        .query_async(source)
        .await
        .map_err(|e| scrub_error(&e, from))
        .with_context(|| format!("DUMP from {} failed", redact(from)))?;
    let mut write = redis::pipe();
    let mut written = 0;
    for (key, pair) in keys.iter().zip(values.chunks(2)) {
        let (redis::Value::BulkString(payload), Some(redis::Value::Int(pttl))) =
            (&pair[0], pair.get(1))
        else {
            done.expired += 1;
            continue;
        };
        let ttl = match *pttl {
            -1 => 0,
            n if n > 0 => n,
            _ => {
                done.expired += 1;
                continue;
            }
        };
        write
            .cmd("RESTORE")
            .arg(*key)
            .arg(ttl)
            .arg(payload.as_slice());
        written += 1;
    }
    if written == 0 {
        return Ok(());
    }
    let replies: Vec<redis::RedisResult<redis::Value>> = write
        .ignore_errors()
        .query_async(target)
        .await
        .map_err(|e| scrub_error(&e, to))
        .with_context(|| format!("RESTORE into {} failed", redact(to)))?;
    for reply in replies {
        match reply {
            Ok(_) => done.copied += 1,
            Err(e) if e.to_string().contains("BUSYKEY") => done.appeared += 1,
            Err(e) => {
                return Err(scrub_error(&e, to))
                    .with_context(|| format!("RESTORE into {} failed", redact(to)));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n\
        os:Linux\r\n\r\n# Memory\r\nused_memory:1031232\r\nused_memory_human:1007.06K\r\n\r\n\
        # Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\ndb5:keys=10,expires=0,avg_ttl=0\r\n\r\n\
        # Replication\r\nrole:master\r\nconnected_slaves:0\r\nsome_future_field:x:y\r\n";

    #[test]
    fn parses_fields_and_sums_keyspace() {
        let info = parse_info(SAMPLE).unwrap();
        assert_eq!(
            info,
            RedisInfo {
                version: "7.0.15".into(),
                used_memory: 1_031_232,
                keys: 13,
                role: "master".into(),
            }
        );
    }

    #[test]
    fn empty_keyspace_means_zero_keys() {
        let text = "redis_version:6.2.0\nused_memory:10\n# Keyspace\nrole:slave\n";
        let info = parse_info(text).unwrap();
        assert_eq!(info.keys, 0);
        assert_eq!(info.role, "slave");
    }

    #[test]
    fn missing_field_is_named() {
        let err = parse_info("redis_version:7.0.0\nrole:master\n").unwrap_err();
        assert!(err.to_string().contains("used_memory"), "{err}");
        let err = parse_info("used_memory:1\nrole:master\n").unwrap_err();
        assert!(err.to_string().contains("redis_version"), "{err}");
        let err = parse_info("redis_version:7\nused_memory:1\n").unwrap_err();
        assert!(err.to_string().contains("role"), "{err}");
    }

    #[test]
    fn bad_numbers_are_errors() {
        assert!(parse_info("redis_version:7\nused_memory:lots\nrole:master\n").is_err());
        assert!(
            parse_info("redis_version:7\nused_memory:1\nrole:master\ndb0:expires=1\n").is_err()
        );
    }

    #[test]
    fn keyspace_counts_each_database() {
        let counts = keyspace(SAMPLE);
        assert_eq!(counts.get("db0"), Some(&3));
        assert_eq!(counts.get("db5"), Some(&10));
        assert_eq!(counts.len(), 2);
        assert_eq!(info_field(SAMPLE, "role"), Some("master"));
        assert_eq!(info_field(SAMPLE, "used_memory_human"), Some("1007.06K"));
    }

    #[test]
    fn dbsize_like_names_are_not_keyspace_lines() {
        let text = "redis_version:7\nused_memory:1\nrole:master\ndbfilename:dump.rdb\n";
        assert_eq!(parse_info(text).unwrap().keys, 0);
    }
}
