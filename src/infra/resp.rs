//! A plain RESP2 client for `cutover redis copy`'s batch pipelines (`Wire`), and helpers
//! for the `redis::Value` replies of the other connections.
//!
//! A `Wire` writes commands straight into one buffer and reads replies in place, without a
//! `redis::Value` (and its allocations) per reply: the client's share of the work per key is
//! most of what a copy costs beyond the two servers' own, and it shares the machine's cores
//! with them. It takes the copy's CPU per key to well under half of what it was through
//! `redis::Pipeline`.

use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use redis::Value;

use super::url::scrub_error;
use crate::error::bad_input;

/// Bytes read from a server at a time.
const WIRE_BUFFER: usize = 256 * 1024;
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(300);

/// A plain RESP2 connection for the copy's batch pipelines. Commands are written straight into
/// one buffer and replies are read in place, without a `redis::Value` (and its allocations)
/// per reply: the client's share of the work per key is most of what a copy costs beyond the
/// two servers' own. A batch has a connection to itself for as long as it uses one
/// ([`WirePool`]), so no multiplexing is needed.
pub(crate) struct Wire {
    role: &'static str,
    shown: String,
    stream: WireStream,
    out: Vec<u8>,
    buf: Vec<u8>,
    /// Unread bytes are `buf[at..end]`.
    at: usize,
    end: usize,
}

pub(crate) enum WireStream {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

/// One reply as the copy needs it.
#[derive(Debug, PartialEq)]
pub(crate) enum Reply {
    /// A simple string (`+OK`).
    Simple,
    Int(i64),
    Nil,
    Bulk(Vec<u8>),
    /// The header of an array of this many elements, which follow as replies of their own.
    Array(usize),
    Error(String),
}

impl Wire {
    /// Connects to the server `url` names, authenticates and selects its database.
    pub(crate) async fn connect(role: &'static str, url: &str, shown: &str) -> Result<Wire> {
        let info = redis::IntoConnectionInfo::into_connection_info(url).map_err(|e| {
            anyhow!(
                "the {role} URL {shown} is not usable: {}",
                scrub_error(&e, url)
            )
        })?;
        let unreachable = |e: &dyn std::fmt::Display| {
            bad_input(format!(
                "the {role} Redis at {shown} did not answer: {e}; check the host and port, and \
                 that it is reachable from this host"
            ))
        };
        let stream = match info.addr() {
            redis::ConnectionAddr::Tcp(host, port) => {
                let tcp = tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    tokio::net::TcpStream::connect((host.as_str(), *port)),
                )
                .await
                .map_err(|_| unreachable(&format!("no answer within {CONNECT_TIMEOUT:?}")))?
                .map_err(|e| unreachable(&e))?;
                tcp.set_nodelay(true).map_err(|e| unreachable(&e))?;
                WireStream::Tcp(tcp)
            }
            redis::ConnectionAddr::Unix(path) => WireStream::Unix(
                tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|e| unreachable(&e))?,
            ),
            _ => {
                return Err(bad_input(format!(
                    "the {role} URL {shown}: copy connects over TCP or a Unix socket only"
                )));
            }
        };
        let mut wire = Wire {
            role,
            shown: shown.to_string(),
            stream,
            out: Vec::with_capacity(64 * 1024),
            buf: vec![0; WIRE_BUFFER],
            at: 0,
            end: 0,
        };
        let settings = info.redis_settings();
        if let Some(password) = settings.password() {
            match settings.username() {
                Some(user) => wire.cmd(&[b"AUTH", user.as_bytes(), password.as_bytes()]),
                None => wire.cmd(&[b"AUTH", password.as_bytes()]),
            }
            wire.flush().await?;
            if let Reply::Error(e) = wire.reply().await? {
                return Err(bad_input(format!(
                    "the {role} Redis at {shown} refused the password: {e}"
                )));
            }
        }
        if settings.db() != 0 {
            wire.begin(2);
            wire.arg(b"SELECT");
            wire.int(settings.db());
            wire.flush().await?;
            if let Reply::Error(e) = wire.reply().await? {
                bail!("the {role} Redis at {shown}: SELECT {}: {e}", settings.db());
            }
        }
        Ok(wire)
    }

    /// Starts a command of `argc` arguments (its name included).
    pub(crate) fn begin(&mut self, argc: usize) {
        self.out.push(b'*');
        self.number(argc as i64);
    }

    pub(crate) fn arg(&mut self, a: &[u8]) {
        self.out.push(b'$');
        self.number(a.len() as i64);
        self.out.extend_from_slice(a);
        self.out.extend_from_slice(b"\r\n");
    }

    pub(crate) fn int(&mut self, n: i64) {
        let mut b = [0u8; 20];
        let digits = decimal(n, &mut b);
        self.arg(digits);
    }

    fn number(&mut self, n: i64) {
        let mut b = [0u8; 20];
        let digits = decimal(n, &mut b);
        self.out.extend_from_slice(digits);
        self.out.extend_from_slice(b"\r\n");
    }

    pub(crate) fn cmd(&mut self, args: &[&[u8]]) {
        self.begin(args.len());
        for a in args {
            self.arg(a);
        }
    }

    pub(crate) fn error(&self, doing: &str, e: &dyn std::fmt::Display) -> anyhow::Error {
        anyhow!("{} Redis at {}: {doing}: {e}", self.role, self.shown)
    }

    /// Sends what the commands since the last flush wrote.
    pub(crate) async fn flush(&mut self) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        let sent = match &mut self.stream {
            WireStream::Tcp(s) => s.write_all(&self.out).await,
            WireStream::Unix(s) => s.write_all(&self.out).await,
        };
        sent.map_err(|e| self.error("sending", &e))?;
        self.out.clear();
        Ok(())
    }

    /// Reads more from the server: at least one more byte, and room for `need` unread bytes.
    async fn fill(&mut self, need: usize) -> Result<()> {
        use tokio::io::AsyncReadExt;
        if self.at == self.end {
            self.at = 0;
            self.end = 0;
        }
        if self.buf.len() - self.at < need {
            self.buf.copy_within(self.at..self.end, 0);
            self.end -= self.at;
            self.at = 0;
            if self.buf.len() < need {
                self.buf.resize(need, 0);
            }
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.at..self.end, 0);
            self.end -= self.at;
            self.at = 0;
        }
        let room = &mut self.buf[self.end..];
        let read = match &mut self.stream {
            WireStream::Tcp(s) => tokio::time::timeout(RESPONSE_TIMEOUT, s.read(room)).await,
            WireStream::Unix(s) => tokio::time::timeout(RESPONSE_TIMEOUT, s.read(room)).await,
        };
        let n = match read {
            Err(_) => {
                return Err(
                    self.error("reading", &format!("no answer within {RESPONSE_TIMEOUT:?}"))
                );
            }
            Ok(r) => r.map_err(|e| self.error("reading", &e))?,
        };
        if n == 0 {
            return Err(self.error("reading", &"the server closed the connection"));
        }
        self.end += n;
        Ok(())
    }

    /// The next line (without its CRLF) as a range of `buf`.
    async fn line(&mut self) -> Result<std::ops::Range<usize>> {
        let mut from = self.at;
        loop {
            if let Some(i) = self.buf[from..self.end].iter().position(|&b| b == b'\n') {
                let nl = from + i;
                if nl > self.at && self.buf[nl - 1] == b'\r' {
                    let line = self.at..nl - 1;
                    self.at = nl + 1;
                    return Ok(line);
                }
                return Err(self.error("reading", &"a reply line without CRLF"));
            }
            let seen = self.end - self.at;
            self.fill(seen + 1).await?;
            from = self.at + seen;
        }
    }

    fn parse_number(&self, range: std::ops::Range<usize>) -> Result<i64> {
        std::str::from_utf8(&self.buf[range])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| self.error("reading", &"a malformed number in a reply"))
    }

    /// Reads one reply; an array gives its header only.
    pub(crate) async fn reply(&mut self) -> Result<Reply> {
        let line = self.line().await?;
        if line.is_empty() {
            return Err(self.error("reading", &"an empty reply line"));
        }
        let kind = self.buf[line.start];
        let rest = line.start + 1..line.end;
        Ok(match kind {
            b'+' => Reply::Simple,
            b'-' => Reply::Error(String::from_utf8_lossy(&self.buf[rest]).into_owned()),
            b':' => Reply::Int(self.parse_number(rest)?),
            b'*' => match self.parse_number(rest)? {
                n if n < 0 => Reply::Nil,
                n => Reply::Array(usize::try_from(n).unwrap_or(0)),
            },
            b'$' => {
                let len = self.parse_number(rest)?;
                let Ok(len) = usize::try_from(len) else {
                    return Ok(Reply::Nil);
                };
                while self.end - self.at < len + 2 {
                    self.fill(len + 2).await?;
                }
                let data = self.buf[self.at..self.at + len].to_vec();
                self.at += len + 2;
                // A large value grew the buffer; it is not kept that large for the next ones.
                if self.buf.len() > WIRE_BUFFER * 16 && self.at == self.end {
                    self.buf = vec![0; WIRE_BUFFER];
                    self.at = 0;
                    self.end = 0;
                }
                Reply::Bulk(data)
            }
            other => {
                return Err(self.error(
                    "reading",
                    &format!("a reply of unknown kind {:?}", other as char),
                ));
            }
        })
    }

    /// Reads an array header, or fails saying what was asked.
    pub(crate) async fn array(&mut self, doing: &str) -> Result<usize> {
        match self.reply().await? {
            Reply::Array(n) => Ok(n),
            Reply::Error(e) => Err(self.error(doing, &e)),
            other => Err(self.error(doing, &format!("unexpected reply {other:?}"))),
        }
    }

    /// `SCAN cursor [MATCH pattern] COUNT count`: the next cursor and the keys.
    pub(crate) async fn scan(
        &mut self,
        cursor: u64,
        pattern: Option<&str>,
        count: usize,
    ) -> Result<(u64, Vec<Vec<u8>>)> {
        self.begin(if pattern.is_some() { 6 } else { 4 });
        self.arg(b"SCAN");
        self.arg(cursor.to_string().as_bytes());
        if let Some(p) = pattern {
            self.arg(b"MATCH");
            self.arg(p.as_bytes());
        }
        self.arg(b"COUNT");
        self.int(count as i64);
        self.flush().await?;
        if self.array("SCAN").await? != 2 {
            return Err(self.error("SCAN", &"a reply that is not cursor and keys"));
        }
        let next = match self.reply().await? {
            Reply::Bulk(c) => std::str::from_utf8(&c).ok().and_then(|s| s.parse().ok()),
            _ => None,
        }
        .ok_or_else(|| self.error("SCAN", &"no cursor"))?;
        let n = self.array("SCAN").await?;
        let mut keys = Vec::with_capacity(n);
        for _ in 0..n {
            if let Reply::Bulk(k) = self.reply().await? {
                keys.push(k);
            }
        }
        Ok((next, keys))
    }
}

/// `n` in decimal, written at the end of `buf`.
fn decimal(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    let mut v = n.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

/// Connections to one server shared by the copy's batches: a batch takes one for its pipeline
/// and gives it back as soon as the replies are read, so that the next batch waiting (first
/// come, first served) sends its own at once. A connection given back after a failure (its
/// replies may be half read) is closed, and the next batch to take its place connects anew.
pub(crate) struct WirePool {
    role: &'static str,
    url: String,
    shown: String,
    /// Idle connections; None where one was closed.
    idle: std::sync::Mutex<Vec<Option<Wire>>>,
    /// One permit per entry of `idle`.
    free: tokio::sync::Semaphore,
}

impl WirePool {
    /// Opens `size` connections to the server `url` names.
    pub(crate) async fn connect(
        role: &'static str,
        url: &str,
        shown: &str,
        size: usize,
    ) -> Result<WirePool> {
        let wires = (0..size).map(|_| Wire::connect(role, url, shown));
        let idle = futures::future::try_join_all(wires).await?;
        Ok(WirePool {
            role,
            url: url.to_string(),
            shown: shown.to_string(),
            free: tokio::sync::Semaphore::new(idle.len()),
            idle: std::sync::Mutex::new(idle.into_iter().map(Some).collect()),
        })
    }

    /// Waits for an idle connection, or for room to open one.
    pub(crate) async fn take(&self) -> Result<Wire> {
        let permit = self
            .free
            .acquire()
            .await
            .map_err(|e| anyhow!("{} Redis at {}: {e}", self.role, self.shown))?;
        permit.forget();
        let idle = self
            .idle
            .lock()
            .map_err(|_| anyhow!("{} Redis: the connection pool is unusable", self.role))?
            .pop()
            .flatten();
        match idle {
            Some(wire) => Ok(wire),
            None => {
                let wire = Wire::connect(self.role, &self.url, &self.shown).await;
                if wire.is_err() {
                    self.give(None);
                }
                wire
            }
        }
    }

    /// Gives a connection back; None closes it (after a failure).
    pub(crate) fn give(&self, wire: Option<Wire>) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(wire);
            self.free.add_permits(1);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// redis::Value helpers

pub(crate) fn bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        Value::Okay => Some(b"OK".to_vec()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        Value::Double(d) => Some(d.to_string().into_bytes()),
        _ => None,
    }
}

pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Okay => Some("OK".to_string()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

pub(crate) fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        other => text(other)?.parse().ok(),
    }
}

pub(crate) fn array(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) | Value::Set(items) => items,
        Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        _ => Vec::new(),
    }
}

/// The message of a server error reply as [`super::redis_copy::Endpoint`]'s pipelines keep it.
pub(crate) fn error_text(v: &Value) -> Option<&str> {
    match v {
        Value::SimpleString(s) => s.strip_prefix('-'),
        Value::ServerError(_) => Some("server error"),
        _ => None,
    }
}

pub(crate) fn check_ok(v: &Value, what: &str) -> Result<()> {
    match error_text(v) {
        Some(e) => bail!("{what}: {e}"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(stream: tokio::net::UnixStream, buf: usize) -> Wire {
        Wire {
            role: "source",
            shown: "redis://test".into(),
            stream: WireStream::Unix(stream),
            out: Vec::new(),
            buf: vec![0; buf],
            at: 0,
            end: 0,
        }
    }

    #[tokio::test]
    async fn writes_redis_commands_in_resp() {
        let (a, _b) = tokio::net::UnixStream::pair().unwrap_or_else(|e| panic!("{e}"));
        {
            let mut w = wire(a, 16);
            w.cmd(&[b"GET", b"k"]);
            w.begin(3);
            w.arg(b"PEXPIREAT");
            w.arg(b"");
            w.int(-1_700_000_000_123);
            assert_eq!(
                w.out,
                b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$9\r\nPEXPIREAT\r\n$0\r\n\r\n$14\r\n-1700000000123\r\n"
            );
        }
        let mut b = [0u8; 20];
        assert_eq!(decimal(0, &mut b), b"0");
        assert_eq!(decimal(i64::MAX, &mut b), b"9223372036854775807");
        assert_eq!(decimal(i64::MIN, &mut b), b"-9223372036854775808");
    }

    #[tokio::test]
    async fn reads_redis_replies_split_anywhere_and_larger_than_the_buffer() {
        use tokio::io::AsyncWriteExt;
        let (a, mut b) = tokio::net::UnixStream::pair().unwrap_or_else(|e| panic!("{e}"));
        let mut w = wire(a, 16);
        let big = vec![b'z'; 100];
        let mut bytes =
            b"+OK\r\n:-42\r\n$-1\r\n*3\r\n$3\r\na\r\n\r\n$0\r\n\r\n*-1\r\n-ERR wrong\r\n".to_vec();
        bytes.extend_from_slice(b"$100\r\n");
        bytes.extend_from_slice(&big);
        bytes.extend_from_slice(b"\r\n*2\r\n$2\r\n17\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n");
        let writer = tokio::spawn(async move {
            for chunk in bytes.chunks(3) {
                b.write_all(chunk).await.unwrap_or_else(|e| panic!("{e}"));
                tokio::task::yield_now().await;
            }
            b
        });
        assert_eq!(w_reply(&mut w).await, Reply::Simple);
        assert_eq!(w_reply(&mut w).await, Reply::Int(-42));
        assert_eq!(w_reply(&mut w).await, Reply::Nil);
        assert_eq!(w_reply(&mut w).await, Reply::Array(3));
        assert_eq!(w_reply(&mut w).await, Reply::Bulk(b"a\r\n".to_vec()));
        assert_eq!(w_reply(&mut w).await, Reply::Bulk(Vec::new()));
        assert_eq!(w_reply(&mut w).await, Reply::Nil);
        assert_eq!(w_reply(&mut w).await, Reply::Error("ERR wrong".into()));
        assert_eq!(w_reply(&mut w).await, Reply::Bulk(big));
        // A SCAN reply, read the way the walk reads it.
        let _b = writer.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(w.array("SCAN").await.unwrap_or_else(|e| panic!("{e:#}")), 2);
        assert_eq!(
            w.reply().await.unwrap_or_else(|e| panic!("{e:#}")),
            Reply::Bulk(b"17".to_vec())
        );
        assert_eq!(w.array("SCAN").await.unwrap_or_else(|e| panic!("{e:#}")), 2);
    }

    async fn w_reply(w: &mut Wire) -> Reply {
        w.reply().await.unwrap_or_else(|e| panic!("{e:#}"))
    }
}
