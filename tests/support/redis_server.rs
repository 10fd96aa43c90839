//! A `redis-server` process of the test's own, on a free loopback port: a
//! [`cutover::sim::servers::RedisProcess`] that panics where the library returns an error.

use cutover::sim::servers::{RedisOptions, RedisProcess};

pub struct RedisServer {
    process: RedisProcess,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        Self::launch(RedisOptions::default())
    }

    /// A server with `requirepass`, for tests of authentication and redaction.
    pub fn start_with_password(password: &str) -> RedisServer {
        Self::launch(RedisOptions::default().password(password))
    }

    /// `redis://` URL of database 0, with the password when there is one.
    pub fn url(&self) -> String {
        self.process.url()
    }

    pub fn url_db(&self, db: u32) -> String {
        self.process.url_db(db)
    }

    pub fn port(&self) -> u16 {
        self.process.port()
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// SIGSTOP: the server keeps its socket but answers nothing, as a hung server would.
    pub fn freeze(&self) {
        if let Err(e) = self.process.freeze() {
            panic!("{e:#}");
        }
    }

    pub fn thaw(&self) {
        if let Err(e) = self.process.thaw() {
            panic!("{e:#}");
        }
    }

    /// Runs one command on database 0 and returns its reply as text (`+OK`, `:3`, the bulk
    /// string...). For test setup; the code under test uses its own client.
    pub fn command(&self, args: &[&str]) -> String {
        self.process
            .command(args)
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Kills the server and removes its folder now (as dropping it does).
    pub fn stop(self) {}

    fn launch(options: RedisOptions) -> RedisServer {
        match RedisProcess::start(options) {
            Ok(process) => RedisServer { process },
            Err(e) => panic!("{e:#}"),
        }
    }
}
