//! Redis probe: is the server there, which version, how much data, which role.

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
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| scrub_error(&e, url))?;
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
    fn dbsize_like_names_are_not_keyspace_lines() {
        let text = "redis_version:7\nused_memory:1\nrole:master\ndbfilename:dump.rdb\n";
        assert_eq!(parse_info(text).unwrap().keys, 0);
    }
}
