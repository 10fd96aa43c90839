//! One side of a copy or compare, connected: its URL (shown redacted), its `INFO server`, and
//! the connections the walk and the batches use.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use redis::Value;
use redis::aio::MultiplexedConnection;

use super::version::{ServerInfo, parse_server_info};
use crate::error::bad_input;
use crate::infra::resp::{CONNECT_TIMEOUT, RESPONSE_TIMEOUT, array, bytes, text};
use crate::infra::url::{redact, scrub_error};

/// Keys asked for per SCAN call.
pub const SCAN_COUNT: usize = 1000;

/// One side of a copy or compare, connected.
#[derive(Clone)]
pub struct Endpoint {
    /// `source` or `target`, for messages.
    pub role: &'static str,
    /// The URL with its password masked.
    pub shown: String,
    pub info: ServerInfo,
    conn: MultiplexedConnection,
    url: String,
}

impl Endpoint {
    /// Connects and reads `INFO server`. A malformed URL or a server that does not answer is
    /// bad input naming the side and what to check.
    pub async fn connect(role: &'static str, url: &str) -> Result<Endpoint> {
        let shown = redact(url);
        // Pipelines are written in several segments; without NODELAY the later ones wait for
        // the server's delayed ACK.
        let tcp = redis::io::tcp::TcpSettings::default().set_nodelay(true);
        let client = redis::IntoConnectionInfo::into_connection_info(url)
            .map(|info| info.set_tcp_settings(tcp))
            .and_then(redis::Client::open)
            .map_err(|e| {
                bad_input(format!(
                    "the {role} URL {shown} is not a Redis URL ({}); expected \
                 redis://[USER:PASSWORD@]HOST:PORT/DB, or rediss:// for TLS",
                    scrub_error(&e, url)
                ))
            })?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let unreachable = |e: &dyn std::fmt::Display| {
            bad_input(format!(
                "the {role} Redis at {shown} did not answer: {e}; check the host and port, that \
                 it is reachable from this host, and the password"
            ))
        };
        let mut conn = tokio::time::timeout(
            CONNECT_TIMEOUT,
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|_| unreachable(&format!("no answer within {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| unreachable(&scrub_error(&e, url)))?;
        let text: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .map_err(|e| unreachable(&scrub_error(&e, url)))?;
        let info = parse_server_info(&text)
            .with_context(|| format!("the {role} Redis at {shown} gave an unexpected INFO"))?;
        Ok(Endpoint {
            role,
            shown,
            info,
            conn,
            url: url.to_string(),
        })
    }

    fn conn(&self) -> MultiplexedConnection {
        self.conn.clone()
    }

    /// A client error with the password scrubbed, saying which side it came from.
    pub(super) fn error(&self, e: &redis::RedisError, doing: &str) -> anyhow::Error {
        anyhow!(
            "{} Redis at {}: {doing}: {}",
            self.role,
            self.shown,
            scrub_error(e, &self.url)
        )
    }

    pub(super) async fn query(&self, cmd: &redis::Cmd, doing: &str) -> Result<Value> {
        cmd.query_async(&mut self.conn())
            .await
            .map_err(|e| self.error(&e, doing))
    }

    /// A pipeline's replies, one per command, server errors included.
    pub(super) async fn pipeline(
        &self,
        pipe: &mut redis::Pipeline,
        doing: &str,
    ) -> Result<Vec<Value>> {
        let replies: Vec<redis::RedisResult<Value>> = pipe
            .ignore_errors()
            .query_async(&mut self.conn())
            .await
            .map_err(|e| self.error(&e, doing))?;
        Ok(replies
            .into_iter()
            .map(|r| match r {
                Ok(v) => v,
                Err(e) => Value::SimpleString(format!("-{}", scrub_error(&e, &self.url))),
            })
            .collect())
    }

    pub(super) async fn scan(
        &self,
        cursor: u64,
        pattern: Option<&str>,
    ) -> Result<(u64, Vec<Vec<u8>>)> {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor);
        if let Some(p) = pattern {
            cmd.arg("MATCH").arg(p);
        }
        cmd.arg("COUNT").arg(SCAN_COUNT);
        let reply = self.query(&cmd, "SCAN").await?;
        let mut parts = array(reply).into_iter();
        let next = parts
            .next()
            .and_then(|v| text(&v))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| anyhow!("{} Redis: SCAN gave no cursor", self.role))?;
        let keys = parts
            .next()
            .map(array)
            .unwrap_or_default()
            .into_iter()
            .filter_map(bytes)
            .collect();
        Ok((next, keys))
    }
}

/// A key name as an operator reads it.
pub fn show_key(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
