//! RDB snapshots of a Redis server, taken two ways, and a scratch server that serves one.
//!
//! - With access to the server's pod: a fresh `BGSAVE`, then the file the server wrote streams
//!   out of the pod through exec ([`snapshot`], [`copy_out_of_pod`]). LASTSAVE is recorded
//!   first and the save counts as done only when the server reports a later save time and
//!   `rdb_last_bgsave_status:ok`; a save already running is waited for, then ours starts,
//!   so the file is never older than the call. LASTSAVE has a resolution of one second, so
//!   ours starts only once the server's clock has passed the previous save's second.
//! - With only a URL: the replication first sync, as `redis-cli --rdb` takes it ([`fetch`]):
//!   `REPLCONF rdb-only 1` (Redis 7 and later; older servers refuse it and send the RDB
//!   anyway), `SYNC`, newline keep-alives while the server saves, then `$<len>` and exactly
//!   that many bytes. The diskless form (`$EOF:<mark>`) only comes to replicas that announce
//!   `capa eof`, which this one does not; it is refused clearly should a server send it.
//!   Managed services (ElastiCache and the like) refuse SYNC: the error says to use pod access
//!   or the logical copy.
//!
//! Either way the file is written as every artifact is (`artifacts::create_private`, hashed on
//! the way, synced, renamed into place), with live progress, and must begin with `REDIS` and
//! four version digits (Valkey 9: `VALKEY`), the RDB version. The server's version and the RDB
//! version it writes ([`redis_copy::rdb_version_of_server`], from Redis's `rdb.h`) are recorded
//! with it, with the keys of each database (INFO keyspace) at dump time.
//!
//! [`Scratch`] starts a local `redis-server` on a free loopback port that loads an RDB file and
//! persists nothing (`--save '' --appendonly no`), so a dump can be read key by key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use redis::aio::MultiplexedConnection;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::artifacts::{self, CHUNK, Report, Throttle, copy_hashing, create_private, publish};
use super::kube::KubeCluster;
use super::redis::{connect, info_field, info_section, keyspace};
use super::redis_copy;
use super::url::{redact, scrub, scrub_error};

/// Connecting and each command's reply, outside the transfers.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How often the save's progress is polled.
const POLL: Duration = Duration::from_millis(200);
/// A server that neither saves nor reports a new save for this long has failed the save.
const SAVE_STALL: Duration = Duration::from_secs(600);
/// No byte (not even a keep-alive) for this long during a replication fetch: the server hung.
const FETCH_IDLE: Duration = Duration::from_secs(300);
/// Where the 3scale Redis images keep their RDB file, when the server will not say.
pub const DEFAULT_POD_RDB: &str = "/var/lib/redis/data/dump.rdb";

/// The first words of the server errors redis-cli prints as text.
const SERVER_ERRORS: &[&str] = &[
    "ERR",
    "NOAUTH",
    "NOPERM",
    "WRONGPASS",
    "LOADING",
    "BUSY",
    "MISCONF",
    "READONLY",
    "MASTERDOWN",
    "OOM",
    "WRONGTYPE",
    "EXECABORT",
    "NOREPLICAS",
];

/// How commands reach a server: a connection of ours, or `redis-cli` in its pod.
pub enum Commander<'a> {
    Conn {
        conn: MultiplexedConnection,
        url: &'a str,
    },
    Exec {
        kube: &'a KubeCluster,
        pod: &'a str,
    },
}

impl<'a> Commander<'a> {
    pub async fn connect(url: &'a str) -> Result<Commander<'a>> {
        Ok(Commander::Conn {
            conn: connect(url, TIMEOUT).await?,
            url,
        })
    }

    /// The server, for messages.
    pub fn describe(&self) -> String {
        match self {
            Commander::Conn { url, .. } => redact(url),
            Commander::Exec { pod, .. } => format!("pod {pod}"),
        }
    }

    /// Runs one command and returns its reply as redis-cli prints it (arrays one element a
    /// line). A server error is an Err with the server's words.
    pub async fn text(&self, args: &[&str]) -> Result<String> {
        match self {
            Commander::Conn { conn, url } => {
                let mut cmd = redis::cmd(args.first().copied().unwrap_or("PING"));
                for a in args.iter().skip(1) {
                    cmd.arg(*a);
                }
                let value: redis::Value = cmd
                    .query_async(&mut conn.clone())
                    .await
                    .map_err(|e| scrub_error(&e, url))
                    .with_context(|| format!("{} answered {}", redact(url), args.join(" ")))?;
                Ok(value_text(&value))
            }
            Commander::Exec { kube, pod } => {
                let mut argv = vec!["redis-cli"];
                argv.extend_from_slice(args);
                let mut out: Vec<u8> = Vec::new();
                let result = kube
                    .exec_to_writer(pod, None, &argv, &mut out, |_| {})
                    .await?;
                let text = String::from_utf8_lossy(&out).trim().to_string();
                if !result.success() {
                    bail!(
                        "redis-cli {} in pod {pod} failed (exit code {}): {} {}",
                        args.join(" "),
                        result.exit_code,
                        text,
                        result.stderr.trim()
                    );
                }
                // redis-cli prints a server error as its text (`ERR ...`, `NOAUTH ...`).
                let first = text.split_whitespace().next().unwrap_or("");
                if SERVER_ERRORS.contains(&first) {
                    bail!("redis-cli {} in pod {pod}: {text}", args.join(" "));
                }
                Ok(text)
            }
        }
    }

    async fn number(&self, args: &[&str]) -> Result<i64> {
        let text = self.text(args).await?;
        text.lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .with_context(|| format!("{} answered {:?} to {}", self.describe(), text, args[0]))
    }
}

fn value_text(value: &redis::Value) -> String {
    match value {
        redis::Value::Nil => String::new(),
        redis::Value::Int(n) => n.to_string(),
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::Okay => "OK".to_string(),
        redis::Value::Array(items) | redis::Value::Set(items) => {
            items.iter().map(value_text).collect::<Vec<_>>().join("\n")
        }
        redis::Value::VerbatimString { text, .. } => text.clone(),
        other => format!("{other:?}"),
    }
}

/// What a server was when it was dumped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerFacts {
    pub version: String,
    /// The RDB version a server of this version writes; None when unknown.
    pub writes_rdb: Option<u16>,
    /// Keys per database (`db0` → n).
    pub keyspace: BTreeMap<String, u64>,
}

/// Reads the version and the key counts.
pub async fn server_facts(cmd: &Commander<'_>) -> Result<ServerFacts> {
    let server = cmd.text(&["INFO", "server"]).await?;
    let keys = cmd.text(&["INFO", "keyspace"]).await?;
    let info = redis_copy::parse_server_info(&server)
        .with_context(|| format!("{} gave an unexpected INFO server", cmd.describe()))?;
    Ok(ServerFacts {
        version: info.version,
        writes_rdb: info.rdb_version,
        keyspace: keyspace(&keys),
    })
}

/// Starts a BGSAVE and returns once it has finished well (see the module's doc); the save time
/// (LASTSAVE) it produced.
pub async fn snapshot(cmd: &Commander<'_>, report: &Report<'_>) -> Result<i64> {
    let who = cmd.describe();
    let mut before = cmd.number(&["LASTSAVE"]).await?;
    for _ in 0..100 {
        wait_clock_past(cmd, before).await?;
        match cmd.text(&["BGSAVE"]).await {
            Ok(reply) if reply.starts_with("Background saving") => {
                (report.log)(format!("{who}: {reply} (LASTSAVE was {before})"));
                return wait_saved(cmd, before, report).await;
            }
            Ok(reply) => bail!("{who} answered {reply:?} to BGSAVE"),
            Err(e) => {
                let text = format!("{e:#}");
                let busy =
                    text.contains("already in progress") || text.contains("rewriting in progress");
                if !busy {
                    return Err(e.context(format!(
                        "{who} refused BGSAVE; the server cannot snapshot (see its log), or \
                         BGSAVE is disabled: use the logical copy (`cutover redis copy`)"
                    )));
                }
                (report.log)(format!(
                    "{who}: a save (or an AOF rewrite) is already running; waiting for it to \
                     end, then starting ours"
                ));
                wait_idle(cmd).await?;
                before = cmd.number(&["LASTSAVE"]).await?;
            }
        }
    }
    bail!("{who} kept refusing BGSAVE because another save was running; try again later")
}

/// Returns once the server's clock (TIME) is past `second`.
async fn wait_clock_past(cmd: &Commander<'_>, second: i64) -> Result<()> {
    for _ in 0..50 {
        if cmd.number(&["TIME"]).await? > second {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
    bail!(
        "the clock of {} does not pass its last save time {second}; check the server's clock",
        cmd.describe()
    )
}

/// Returns once no save and no AOF rewrite runs.
async fn wait_idle(cmd: &Commander<'_>) -> Result<()> {
    let started = Instant::now();
    loop {
        let text = cmd.text(&["INFO", "persistence"]).await?;
        let busy = info_field(&text, "rdb_bgsave_in_progress") == Some("1")
            || info_field(&text, "aof_rewrite_in_progress") == Some("1");
        if !busy {
            return Ok(());
        }
        if started.elapsed() > SAVE_STALL * 6 {
            bail!(
                "{} has been saving for over an hour; try again when it is done",
                cmd.describe()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn wait_saved(cmd: &Commander<'_>, before: i64, report: &Report<'_>) -> Result<i64> {
    let who = cmd.describe();
    let started = Instant::now();
    let mut last_change = Instant::now();
    let mut last_log = Instant::now();
    loop {
        tokio::time::sleep(POLL).await;
        let text = cmd.text(&["INFO", "persistence"]).await?;
        let saving = info_field(&text, "rdb_bgsave_in_progress") == Some("1");
        let status = info_field(&text, "rdb_last_bgsave_status").unwrap_or("");
        let saved: i64 = info_field(&text, "rdb_last_save_time")
            .and_then(|t| t.parse().ok())
            .unwrap_or(before);
        if !saving && saved > before {
            if status != "ok" {
                bail!(
                    "the BGSAVE of {who} failed (rdb_last_bgsave_status:{status}); see the \
                     server's log (disk full? not enough memory to fork?)"
                );
            }
            let lastsave = cmd.number(&["LASTSAVE"]).await?;
            (report.log)(format!(
                "{who}: saved in {:.1} s (LASTSAVE {lastsave})",
                started.elapsed().as_secs_f64()
            ));
            return Ok(lastsave);
        }
        if !saving && status == "err" {
            bail!(
                "the BGSAVE of {who} failed (rdb_last_bgsave_status:err); see the server's log \
                 (disk full? not enough memory to fork?)"
            );
        }
        if saving {
            last_change = Instant::now();
        } else if last_change.elapsed() > SAVE_STALL {
            bail!(
                "{who} accepted BGSAVE but neither saves nor reports a new save after {}s; see \
                 the server's log",
                SAVE_STALL.as_secs()
            );
        }
        if last_log.elapsed() > Duration::from_secs(10) {
            last_log = Instant::now();
            (report.log)(format!(
                "{who}: still saving after {:.0} s",
                started.elapsed().as_secs_f64()
            ));
        }
    }
}

/// Where the server writes its RDB file (`CONFIG GET dir` and `dbfilename`); the 3scale
/// images' default when the server will not say (CONFIG renamed or forbidden).
pub async fn rdb_path(cmd: &Commander<'_>, report: &Report<'_>) -> String {
    let get = |name: &'static str| async move {
        let text = cmd.text(&["CONFIG", "GET", name]).await?;
        let value = text.lines().nth(1).map(str::trim).unwrap_or("");
        if value.is_empty() {
            bail!("CONFIG GET {name} gave no value");
        }
        anyhow::Ok(value.to_string())
    };
    match (get("dir").await, get("dbfilename").await) {
        (Ok(dir), Ok(file)) => format!("{}/{file}", dir.trim_end_matches('/')),
        (Err(e), _) | (_, Err(e)) => {
            (report.log)(format!(
                "{} does not say where it saves ({e:#}); reading {DEFAULT_POD_RDB}",
                cmd.describe()
            ));
            DEFAULT_POD_RDB.to_string()
        }
    }
}

/// What was written: size, checksum and the RDB version of the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub bytes: u64,
    pub sha256: String,
    pub rdb_version: u16,
}

/// Streams `file` out of `pod` (`cat` through exec) into `to` (see the module's doc).
pub async fn copy_out_of_pod(
    kube: &KubeCluster,
    pod: &str,
    file: &str,
    to: &Path,
    report: &Report<'_>,
) -> Result<Written> {
    let partial = artifacts::partial_path(to);
    let result = artifacts::exec_to_private_file(
        kube,
        pod,
        &["cat", file],
        to,
        Throttle::new(report, None, "bytes"),
        &format!("cat {file}"),
        &format!("copying {file} out of pod {pod} did not complete"),
    )
    .await?;
    let rdb_version = finish(&partial, to, &format!("{file} in pod {pod}"))?;
    Ok(Written {
        bytes: result.bytes,
        sha256: result.sha256,
        rdb_version,
    })
}

/// Checks the header of `partial` and publishes it as `to`; its RDB version.
fn finish(partial: &Path, to: &Path, what: &str) -> Result<u16> {
    let checked = std::fs::File::open(partial)
        .and_then(|mut f| {
            let mut head = [0u8; 16];
            let n = std::io::Read::read(&mut f, &mut head)?;
            Ok(head[..n].to_vec())
        })
        .with_context(|| format!("cannot read back {}", partial.display()))
        .and_then(|head| header_version(&head).with_context(|| what.to_string()));
    match checked {
        Ok(version) => {
            publish(partial, to)?;
            Ok(version)
        }
        Err(e) => {
            let _ = std::fs::remove_file(partial);
            Err(e)
        }
    }
}

/// The RDB version of a file from its first bytes: `REDIS0011` → 11, `VALKEY080` → 80.
pub fn header_version(head: &[u8]) -> Result<u16> {
    let digits = head
        .strip_prefix(b"REDIS")
        .map(|rest| &rest[..rest.len().min(4)])
        .or_else(|| {
            head.strip_prefix(b"VALKEY").map(|rest| {
                let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                &rest[..n.min(4)]
            })
        });
    match digits {
        Some(d) if !d.is_empty() && d.len() >= 3 && d.iter().all(u8::is_ascii_digit) => {
            let text = String::from_utf8_lossy(d);
            text.parse()
                .with_context(|| format!("the RDB header's version {text:?} is not a number"))
        }
        _ => bail!(
            "is not an RDB file: it begins with {:?}, not REDIS and a version; the copy is \
             damaged or the path is not the server's dump file",
            String::from_utf8_lossy(&head[..head.len().min(9)])
        ),
    }
}

// ------------------------------------------------------------------------ replication fetch

/// What a URL says about how to log in.
struct Login {
    host: String,
    port: u16,
    user: Option<String>,
    password: Option<String>,
    db: i64,
}

fn login_of(url: &str) -> Result<Login> {
    if url.starts_with("rediss://") {
        bail!(
            "{} uses TLS, which the replication fetch does not speak; dump it with pod access, \
             or use the logical copy (`cutover redis copy`)",
            redact(url)
        );
    }
    let info = redis::IntoConnectionInfo::into_connection_info(url)
        .map_err(|e| scrub_error(&e, url))
        .with_context(|| format!("{} is not a Redis URL", redact(url)))?;
    let redis::ConnectionAddr::Tcp(host, port) = info.addr().clone() else {
        bail!(
            "{} is not a TCP address; the replication fetch needs host and port",
            redact(url)
        );
    };
    let settings = info.redis_settings();
    Ok(Login {
        host,
        port,
        user: settings.username().map(str::to_string),
        password: settings.password().map(str::to_string),
        db: settings.db(),
    })
}

/// `host:port` of a Redis URL: two URLs with the same one are the same server.
pub fn address(url: &str) -> Result<String> {
    let login = login_of(url)?;
    Ok(format!("{}:{}", login.host, login.port))
}

/// The database a Redis URL selects (0 when it names none).
pub fn database(url: &str) -> Result<i64> {
    Ok(login_of(url)?.db)
}

/// A command in RESP, the way a client sends it.
pub fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// One reply line, newline keep-alives skipped.
async fn read_line(reader: &mut (impl AsyncBufReadExt + Unpin)) -> Result<String> {
    loop {
        let mut line = Vec::new();
        let n = tokio::time::timeout(FETCH_IDLE, reader.read_until(b'\n', &mut line))
            .await
            .map_err(|_| anyhow!("no byte for {}s", FETCH_IDLE.as_secs()))?
            .context("reading the server's reply")?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        let text = String::from_utf8_lossy(&line).trim().to_string();
        if !text.is_empty() {
            return Ok(text);
        }
    }
}

/// Fetches an RDB snapshot of the server at `url` over the replication protocol into `to`
/// (see the module's doc).
pub async fn fetch(url: &str, to: &Path, report: &Report<'_>) -> Result<Written> {
    let shown = redact(url);
    let login = login_of(url)?;
    let stream = tokio::time::timeout(
        TIMEOUT,
        tokio::net::TcpStream::connect((login.host.as_str(), login.port)),
    )
    .await
    .map_err(|_| anyhow!("{shown} did not answer within {TIMEOUT:?}"))?
    .with_context(|| format!("cannot connect to {shown}"))?;
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::with_capacity(CHUNK, read);
    let send = |args: Vec<&str>| encode(&args);
    if let Some(pw) = &login.password {
        let auth = match &login.user {
            Some(user) => send(vec!["AUTH", user, pw]),
            None => send(vec!["AUTH", pw]),
        };
        write.write_all(&auth).await.context("sending AUTH")?;
        let reply = read_line(&mut reader).await?;
        if reply.starts_with('-') {
            bail!(
                "{shown} refused the login: {}; check the user and password",
                scrub(&reply, url)
            );
        }
    }
    (report.log)(format!(
        "fetching a snapshot of {shown} over the replication protocol (the RDB holds every \
         database; the URL's is {})",
        login.db
    ));
    write
        .write_all(&send(vec!["REPLCONF", "rdb-only", "1"]))
        .await
        .context("sending REPLCONF")?;
    // Older servers do not know rdb-only; they send the RDB and then the live stream, which
    // is not read.
    let _ = read_line(&mut reader).await?;
    write
        .write_all(&send(vec!["SYNC"]))
        .await
        .context("sending SYNC")?;
    let header = loop {
        let line = read_line(&mut reader)
            .await
            .with_context(|| format!("waiting for the snapshot of {shown}"))?;
        if line.starts_with("+FULLRESYNC") || line.starts_with("+CONTINUE") {
            continue;
        }
        break line;
    };
    if let Some(error) = header.strip_prefix('-') {
        bail!(
            "{shown} refused SYNC ({}): it does not hand out snapshots over the replication \
             protocol (managed services such as ElastiCache never do; an ACL may forbid it, or \
             a replica may not be in sync). Dump it through its pod (pod access), or copy its \
             keys with the logical copy (`cutover redis copy`)",
            scrub(error, url)
        );
    }
    if header.starts_with("$EOF:") {
        bail!(
            "{shown} sent a diskless snapshot stream ($EOF:), which this fetch does not read; \
             set repl-diskless-sync no on the server for the dump, or dump it through its pod"
        );
    }
    let len: u64 = header
        .strip_prefix('$')
        .and_then(|n| n.parse().ok())
        .with_context(|| {
            format!(
                "{shown} answered SYNC with {:?}, not a snapshot",
                scrub(&header, url)
            )
        })?;
    (report.log)(format!(
        "{shown} is sending a snapshot of {}",
        crate::format::bytes(len)
    ));
    let partial = artifacts::partial_path(to);
    let file = create_private(&partial).await?;
    let mut throttle = Throttle::new(report, Some(len), "bytes");
    let copied = copy_hashing(AsyncReadExt::take(reader, len), file, &mut throttle).await;
    let (bytes, sha256) = match copied {
        Ok(done) if done.0 == len => done,
        Ok((bytes, _)) => {
            let _ = std::fs::remove_file(&partial);
            bail!("{shown} closed the connection after {bytes} of the snapshot's {len} bytes");
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e.context(format!("the snapshot of {shown} did not arrive whole")));
        }
    };
    throttle.done(bytes);
    let rdb_version = finish(&partial, to, &format!("the snapshot of {shown}"))?;
    Ok(Written {
        bytes,
        sha256,
        rdb_version,
    })
}

// ------------------------------------------------------------------------ scratch server

/// A local `redis-server` serving an RDB file, on a free loopback port, persisting nothing.
/// Dropping it stops the server and removes its folder.
pub struct Scratch {
    child: tokio::process::Child,
    port: u16,
    dir: PathBuf,
}

impl Scratch {
    /// Starts it on `rdb` and returns once the file is loaded.
    pub async fn start(rdb: &Path, report: &Report<'_>) -> Result<Scratch> {
        let binary = find_redis_server().context(
            "redis-server is not installed on this host (not found on PATH); the dump is read \
             by a local scratch Redis: install it (Debian/Ubuntu: apt-get install \
             redis-server), at least as new as the Redis that wrote the dump",
        )?;
        let rdb = std::fs::canonicalize(rdb)
            .with_context(|| format!("cannot find the dump {}", rdb.display()))?;
        let dir = std::env::temp_dir().join(format!(
            "cutover-scratch-redis-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        artifacts::make_private_dir(&dir)?;
        std::os::unix::fs::symlink(&rdb, dir.join("dump.rdb"))
            .with_context(|| format!("cannot link the dump into {}", dir.display()))?;
        let port = free_port()?;
        let log = dir.join("redis.log");
        let child = tokio::process::Command::new(&binary)
            .arg("--port")
            .arg(port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(["--dbfilename", "dump.rdb"])
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut scratch = Scratch { child, port, dir };
        (report.log)(format!(
            "serving {} with a scratch redis-server on 127.0.0.1:{port}",
            rdb.display()
        ));
        scratch.wait_loaded(&rdb).await?;
        Ok(scratch)
    }

    pub fn url_db(&self, db: i64) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    async fn wait_loaded(&mut self, rdb: &Path) -> Result<()> {
        let url = self.url_db(0);
        let started = Instant::now();
        loop {
            if started.elapsed() > SAVE_STALL * 6 {
                bail!(
                    "the scratch redis-server on port {} has not loaded {} after an hour; see \
                     {}",
                    self.port,
                    rdb.display(),
                    self.dir.join("redis.log").display()
                );
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                bail!(
                    "the scratch redis-server could not load {} ({status}): {}; a dump from a \
                     newer Redis needs a local redis-server at least as new",
                    rdb.display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                );
            }
            if let Ok(mut conn) = connect(&url, TIMEOUT).await
                && let Ok(text) = info_section(&mut conn, &url, "persistence").await
                && info_field(&text, "loading") == Some("0")
            {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn free_port() -> Result<u16> {
    let socket = std::net::TcpListener::bind(("127.0.0.1", 0))
        .context("cannot find a free loopback port for the scratch Redis")?;
    Ok(socket.local_addr()?.port())
}

fn find_redis_server() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_versions_are_read_and_foreign_files_refused() {
        assert_eq!(header_version(b"REDIS0011\xfa\x09").unwrap(), 11);
        assert_eq!(header_version(b"REDIS0009").unwrap(), 9);
        assert_eq!(header_version(b"VALKEY080\xfa").unwrap(), 80);
        let err = header_version(b"PGDMP\x01\x0e").unwrap_err().to_string();
        assert!(err.contains("not an RDB file"), "{err}");
        assert!(header_version(b"REDIS").is_err());
        assert!(header_version(b"REDISabcd").is_err());
    }

    #[test]
    fn logins_come_from_the_url_and_tls_is_refused() {
        let login = login_of("redis://u:pw@127.0.0.1:7000/3").unwrap();
        assert_eq!(
            (login.host.as_str(), login.port, login.db),
            ("127.0.0.1", 7000, 3)
        );
        assert_eq!(login.user.as_deref(), Some("u"));
        assert_eq!(login.password.as_deref(), Some("pw"));
        let err = login_of("rediss://:secret@cache:6379/0").err().unwrap();
        let text = format!("{err:#}");
        assert!(text.contains("TLS") && !text.contains("secret"), "{text}");
    }
}
