//! A `redis-server` process of the test's own, on a free loopback port.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::free_port;
use super::process::{
    POLL_INTERVAL, START_POLLS, Watchdog, find_binary, guarded_kill, log_tail, path_str, shq,
    signal,
};

const PORT_ATTEMPTS: u32 = 5;

pub struct RedisServer {
    child: Child,
    port: u16,
    password: Option<String>,
    dir: PathBuf,
    watchdog: Option<Watchdog>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        Self::launch(None)
    }

    /// A server with `requirepass`, for tests of authentication and redaction.
    pub fn start_with_password(password: &str) -> RedisServer {
        Self::launch(Some(password.to_string()))
    }

    /// `redis://` URL of database 0, with the password when there is one.
    pub fn url(&self) -> String {
        self.url_db(0)
    }

    pub fn url_db(&self, db: u32) -> String {
        match &self.password {
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

    /// SIGSTOP: the server keeps its socket but answers nothing, as a hung server would.
    pub fn freeze(&self) {
        signal(self.pid(), rustix::process::Signal::STOP);
    }

    pub fn thaw(&self) {
        signal(self.pid(), rustix::process::Signal::CONT);
    }

    /// Runs one command on database 0 and returns its reply as text (`+OK`, `:3`, the bulk
    /// string...). For test setup; the code under test uses its own client.
    pub fn command(&self, args: &[&str]) -> String {
        match send(self.port, self.password.as_deref(), args) {
            Ok(reply) => reply,
            Err(e) => panic!("Redis on port {} did not answer {args:?}: {e}", self.port),
        }
    }

    pub fn stop(self) {}

    fn launch(password: Option<String>) -> RedisServer {
        let binary =
            find_binary(&["redis-server"], &[PathBuf::from("/usr/bin")]).unwrap_or_else(|| {
                panic!(
                    "redis-server not found: run scripts/test as root, or apt-get install \
                     redis-server"
                )
            });
        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let dir = super::process::kept_tempdir("cutover-redis-", None);
            let dir_str = path_str(&dir).to_string();
            let port = free_port();
            let mut cmd = Command::new(&binary);
            cmd.arg("--port")
                .arg(port.to_string())
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&dir)
                .arg("--logfile")
                .arg(dir.join("redis.log"));
            if let Some(pw) = &password {
                cmd.arg("--requirepass").arg(pw);
            }
            let child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            // redis-server retitles itself to `redis-server 127.0.0.1:PORT`, dropping the
            // folder from its command line; older ones keep it.
            let title = format!("127.0.0.1:{port}");
            let cleanup = format!(
                "{}; rm -rf {}",
                guarded_kill(&child.id().to_string(), &[&title, &dir_str]),
                shq(&dir_str)
            );
            let mut server = RedisServer {
                child,
                port,
                password: password.clone(),
                dir,
                watchdog: Some(Watchdog::spawn(&cleanup)),
            };
            if server.wait_until_ours() {
                return server;
            }
            last_log = log_tail(&server.dir.join("redis.log"));
            // Dropping `server` kills it and removes its folder; the next try takes a new port.
        }
        panic!(
            "redis-server did not come up on a free port after {PORT_ATTEMPTS} attempts; last \
             log:\n{last_log}"
        );
    }

    /// True once our process answers on our port; false when it exited (port taken) or the
    /// port answers with another server's pid.
    fn wait_until_ours(&mut self) -> bool {
        let our_pid = self.child.id().to_string();
        for _ in 0..START_POLLS {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(info) = send(self.port, self.password.as_deref(), &["INFO", "server"]) {
                let pid = info
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("process_id:"))
                    .map(str::to_string);
                return pid.as_deref() == Some(our_pid.as_str());
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        panic!(
            "redis-server (pid {our_pid}) on port {} did not answer INFO after {START_POLLS} \
             polls; log:\n{}",
            self.port,
            log_tail(&self.dir.join("redis.log"))
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.disarm();
        }
        // SIGKILL also ends a frozen (SIGSTOPped) server.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("could not remove {}: {e}", self.dir.display());
        }
    }
}

/// One RESP round trip on a fresh connection, with AUTH first when there is a password.
fn send(port: u16, password: Option<&str>, args: &[&str]) -> std::io::Result<String> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    if let Some(pw) = password {
        writer.write_all(&encode(&["AUTH", pw]))?;
        let reply = read_reply(&mut reader)?;
        if reply.starts_with('-') {
            return Err(std::io::Error::other(format!("AUTH refused: {reply}")));
        }
    }
    writer.write_all(&encode(args))?;
    read_reply(&mut reader)
}

fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    out
}

/// Reads a simple, error, integer or bulk reply; enough for setup commands.
fn read_reply(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::other("connection closed"));
    }
    let line = line.trim_end().to_string();
    if let Some(len) = line.strip_prefix('$') {
        let len: i64 = len
            .parse()
            .map_err(|_| std::io::Error::other(format!("bad bulk length {line:?}")))?;
        if len < 0 {
            return Ok(String::new());
        }
        let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0) + 2];
        reader.read_exact(&mut buf)?;
        buf.truncate(buf.len() - 2);
        return Ok(String::from_utf8_lossy(&buf).into_owned());
    }
    Ok(line)
}
