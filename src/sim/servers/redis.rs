//! A `redis-server` process of our own, on a free loopback port, in a folder of its own.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};

use super::ports::{PORT_ATTEMPTS, ensure_free, free_port, stable_port};
use super::process::{
    POLL_INTERVAL, START_POLLS, Watchdog, find_binary, guarded_kill, guarded_stop, kept_tempdir,
    log_tail, path_str, shq, signal,
};
use crate::infra::rdb::encode;

/// How long one setup command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a kept server gets to flush its append-only file and exit after SIGTERM.
const KEPT_STOP_WAIT: Duration = Duration::from_secs(10);
const LOG_FILE: &str = "redis.log";

/// How to start a [`RedisProcess`]. The default: the `redis-server` on PATH, no password, no
/// persistence at all, in a temporary folder on a free port.
#[derive(Clone, Debug, Default)]
pub struct RedisOptions {
    /// `requirepass`; [`RedisProcess::url`] then carries it.
    pub password: Option<String>,
    /// Keep an RDB file with this name (`dbfilename`) in the server's folder, where `SAVE`
    /// and `BGSAVE` write it, for whoever reads it as a backup ([`RedisProcess::rdb_path`]).
    /// The server runs with `--save ""`: no automatic snapshots.
    pub rdb_file: Option<String>,
    /// The `redis-server` binary to run, for a version other than the machine's (an older
    /// Redis as a migration target, say). None: `redis-server` from PATH, else `/usr/bin`.
    pub binary: Option<PathBuf>,
    /// Keep the data in this folder (created when missing): the server writes an append-only
    /// file there (`appendfsync everysec`), stops with SIGTERM so that it flushes it (when
    /// dropped, and by the watchdog when its owner dies), and the folder stays, so a server
    /// started on it again has the data back. None: a temporary folder, no append-only file,
    /// removed with the server.
    pub kept_dir: Option<PathBuf>,
    /// Listen on this port, or fail to start. None: a free port (outside the kernel's
    /// ephemeral range for a kept server, which must find it free again).
    pub port: Option<u16>,
}

impl RedisOptions {
    pub fn password(mut self, password: impl Into<String>) -> RedisOptions {
        self.password = Some(password.into());
        self
    }

    pub fn rdb_file(mut self, name: impl Into<String>) -> RedisOptions {
        self.rdb_file = Some(name.into());
        self
    }

    pub fn binary(mut self, path: impl Into<PathBuf>) -> RedisOptions {
        self.binary = Some(path.into());
        self
    }

    pub fn kept_dir(mut self, dir: impl Into<PathBuf>) -> RedisOptions {
        self.kept_dir = Some(dir.into());
        self
    }

    pub fn port(mut self, port: u16) -> RedisOptions {
        self.port = Some(port);
        self
    }
}

/// A running `redis-server`. Dropping it kills the process and removes its folder (a kept
/// server: stops it with SIGTERM and keeps the folder).
pub struct RedisProcess {
    child: Child,
    port: u16,
    options: RedisOptions,
    dir: PathBuf,
    watchdog: Option<Watchdog>,
}

impl RedisProcess {
    /// Starts `redis-server` on a free loopback port and returns once it answers and is known
    /// to be ours (its `process_id`).
    pub fn start(options: RedisOptions) -> anyhow::Result<RedisProcess> {
        if let Some(name) = &options.rdb_file
            && (name.is_empty() || name.contains('/') || name == "." || name == "..")
        {
            bail!("the RDB file name {name:?} must be a plain file name");
        }
        let binary = match &options.binary {
            Some(path) => path.clone(),
            None => {
                find_binary(&["redis-server"], &[PathBuf::from("/usr/bin")]).ok_or_else(|| {
                    anyhow!(
                        "redis-server not found on PATH nor in /usr/bin: install it \
                         (Debian/Ubuntu: apt-get install redis-server; scripts/test does it \
                         when run as root)"
                    )
                })?
            }
        };
        let attempts = if options.port.is_some() {
            1
        } else {
            PORT_ATTEMPTS
        };
        let mut last_error = anyhow!("no attempt made");
        for _ in 0..attempts {
            match Self::launch(&binary, &options)? {
                Ok(server) => return Ok(server),
                // Most likely another process took the port; the next try takes another.
                Err(e) => last_error = e,
            }
        }
        if let Some(port) = options.port {
            return Err(last_error.context(format!("redis-server did not come up on port {port}")));
        }
        Err(last_error.context(format!(
            "redis-server did not come up on a free loopback port after {PORT_ATTEMPTS} attempts"
        )))
    }

    /// `redis://` URL of database 0, with the password when there is one.
    pub fn url(&self) -> String {
        self.url_db(0)
    }

    /// `redis://` URL of database `db`, with the password when there is one.
    pub fn url_db(&self, db: u32) -> String {
        match &self.options.password {
            Some(pw) => format!("redis://:{pw}@127.0.0.1:{}/{db}", self.port),
            None => format!("redis://127.0.0.1:{}/{db}", self.port),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's own folder (its working directory, log and RDB file).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `SAVE` writes the RDB file, when [`RedisOptions::rdb_file`] was set.
    pub fn rdb_path(&self) -> Option<PathBuf> {
        self.options
            .rdb_file
            .as_ref()
            .map(|name| self.dir.join(name))
    }

    /// SIGSTOP: the server keeps its socket but answers nothing, as a hung server would.
    pub fn freeze(&self) -> anyhow::Result<()> {
        signal(self.pid(), rustix::process::Signal::STOP)
            .with_context(|| format!("cannot freeze redis-server on port {}", self.port))
    }

    /// SIGCONT: undoes [`RedisProcess::freeze`].
    pub fn thaw(&self) -> anyhow::Result<()> {
        signal(self.pid(), rustix::process::Signal::CONT)
            .with_context(|| format!("cannot thaw redis-server on port {}", self.port))
    }

    /// Runs one command on database 0 and returns its reply as text (`+OK`, `:3`, `-ERR ...`,
    /// the bulk string...), for setup. Arrays are not decoded. The code under test and the
    /// seeding use a real client.
    pub fn command(&self, args: &[&str]) -> anyhow::Result<String> {
        send(self.port, self.options.password.as_deref(), args)
            .with_context(|| format!("redis-server on port {} did not answer {args:?}", self.port))
    }

    /// Stops the server now and removes its folder (as dropping it does; a kept server's
    /// folder stays).
    pub fn stop(self) {}

    /// Whether the server keeps its data in its folder ([`RedisOptions::kept_dir`]).
    pub fn is_kept(&self) -> bool {
        self.options.kept_dir.is_some()
    }

    /// One attempt on one port. The outer error is final (the binary cannot run, no folder);
    /// the inner one means "try another port".
    fn launch(
        binary: &Path,
        options: &RedisOptions,
    ) -> anyhow::Result<anyhow::Result<RedisProcess>> {
        let kept = options.kept_dir.is_some();
        let port = match (options.port, kept) {
            (Some(port), _) => ensure_free(port).map(|()| port)?,
            (None, true) => stable_port()?,
            (None, false) => free_port()?,
        };
        let dir = match &options.kept_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).with_context(|| {
                    format!("cannot create the Redis data folder {}", dir.display())
                })?;
                dir.clone()
            }
            None => kept_tempdir("cutover-redis", None)?,
        };
        // A temporary folder goes with a failed attempt; a kept one stays.
        let forget = |dir: &Path| {
            if !kept {
                let _ = std::fs::remove_dir_all(dir);
            }
        };
        let dir_str = match path_str(&dir) {
            Ok(s) => s.to_string(),
            Err(e) => {
                forget(&dir);
                return Err(e);
            }
        };
        let persistence: &[&str] = if kept {
            &["--appendonly", "yes", "--appendfsync", "everysec"]
        } else {
            &["--appendonly", "no"]
        };
        let mut cmd = Command::new(binary);
        cmd.arg("--port")
            .arg(port.to_string())
            .args(["--bind", "127.0.0.1", "--save", ""])
            .args(persistence)
            .arg("--dir")
            .arg(&dir)
            .arg("--logfile")
            .arg(dir.join(LOG_FILE));
        if let Some(name) = &options.rdb_file {
            cmd.arg("--dbfilename").arg(name);
        }
        if let Some(pw) = &options.password {
            cmd.arg("--requirepass").arg(pw);
        }
        let child = match cmd
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                forget(&dir);
                return Err(e).with_context(|| format!("cannot start {}", binary.display()));
            }
        };
        // redis-server retitles itself to `redis-server 127.0.0.1:PORT`, dropping the folder
        // from its command line; older ones keep it.
        let title = format!("127.0.0.1:{port}");
        let pid = child.id().to_string();
        let cleanup = if kept {
            // SIGTERM: the server flushes its append-only file before it exits.
            guarded_stop(&pid, &[&title, &dir_str], KEPT_STOP_WAIT)
        } else {
            format!(
                "{}; rm -rf {}",
                guarded_kill(&pid, &[&title, &dir_str]),
                shq(&dir_str)
            )
        };
        let watchdog = Watchdog::spawn(&cleanup);
        // From here on, dropping `server` kills the process and removes the folder.
        let mut server = RedisProcess {
            child,
            port,
            options: options.clone(),
            dir,
            watchdog: None,
        };
        server.watchdog = Some(watchdog?);
        Ok(server.wait_until_ours().map(|()| server))
    }

    /// Ok once our process answers on our port; Err when it exited (port taken, most likely)
    /// or the port answers with another server's pid.
    fn wait_until_ours(&mut self) -> anyhow::Result<()> {
        let our_pid = self.child.id().to_string();
        for _ in 0..START_POLLS {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "redis-server on port {} exited ({status}); log:\n{}",
                    self.port,
                    log_tail(&self.dir.join(LOG_FILE))
                );
            }
            let password = self.options.password.as_deref();
            if let Ok(info) = send(self.port, password, &["INFO", "server"]) {
                let pid = info
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("process_id:"))
                    .map(str::to_string);
                if pid.as_deref() == Some(our_pid.as_str()) {
                    return Ok(());
                }
                bail!(
                    "port {} answers as another server (process_id {pid:?}, ours is {our_pid})",
                    self.port
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        bail!(
            "redis-server (pid {our_pid}) on port {} did not answer INFO after {START_POLLS} \
             polls of {POLL_INTERVAL:?}; log:\n{}",
            self.port,
            log_tail(&self.dir.join(LOG_FILE))
        )
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.disarm();
        }
        if self.is_kept() {
            // SIGTERM: the server flushes its append-only file and exits; SIGKILL after the
            // wait ends one that cannot (a frozen one).
            let _ = signal(self.pid(), rustix::process::Signal::TERM);
            let polls = KEPT_STOP_WAIT.as_millis() / POLL_INTERVAL.as_millis();
            for _ in 0..polls {
                match self.child.try_wait() {
                    Ok(None) => std::thread::sleep(POLL_INTERVAL),
                    Ok(Some(_)) | Err(_) => break,
                }
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
            return;
        }
        // SIGKILL also ends a frozen (SIGSTOPped) server.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!("could not remove {}: {e}", self.dir.display());
        }
    }
}

/// One RESP round trip on a fresh connection, with AUTH first when there is a password.
fn send(port: u16, password: Option<&str>, args: &[&str]) -> anyhow::Result<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stream = TcpStream::connect_timeout(&addr, COMMAND_TIMEOUT)?;
    stream.set_read_timeout(Some(COMMAND_TIMEOUT))?;
    stream.set_write_timeout(Some(COMMAND_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    if let Some(pw) = password {
        writer.write_all(&encode(&["AUTH", pw]))?;
        let reply = read_reply(&mut reader)?;
        if reply.starts_with('-') {
            bail!("AUTH refused: {reply}");
        }
    }
    writer.write_all(&encode(args))?;
    read_reply(&mut reader)
}

/// Reads a simple, error, integer or bulk reply; enough for setup commands.
fn read_reply(reader: &mut impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        bail!("connection closed");
    }
    let line = line.trim_end().to_string();
    if let Some(len) = line.strip_prefix('$') {
        let len: i64 = len
            .parse()
            .map_err(|_| anyhow!("bad bulk length {line:?}"))?;
        let Ok(len) = usize::try_from(len) else {
            // $-1: nil.
            return Ok(String::new());
        };
        let mut buf = vec![0u8; len + 2];
        reader.read_exact(&mut buf)?;
        buf.truncate(len);
        return Ok(String::from_utf8_lossy(&buf).into_owned());
    }
    Ok(line)
}
