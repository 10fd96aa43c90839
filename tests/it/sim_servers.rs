//! The server management of `cutover::sim::servers` that the rehearsal sandbox and the test
//! harness share: Redis processes, and PostgreSQL and MariaDB databases.

use std::net::TcpStream;
use std::time::Duration;

use cutover::sim::servers::{MariaServer, PgServer, RedisOptions, RedisProcess};

/// The same server the harness picks: the env override, else the library's default.
fn pg_admin_url() -> String {
    std::env::var("CUTOVER_TEST_PG_URL").unwrap_or_else(|_| PgServer::DEFAULT_ADMIN_URL.into())
}

fn maria_admin_url() -> String {
    std::env::var("CUTOVER_TEST_MYSQL_URL")
        .unwrap_or_else(|_| MariaServer::DEFAULT_ADMIN_URL.into())
}

fn refuses(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).is_err()
}

#[test]
fn a_redis_process_answers_and_is_gone_after_drop() {
    let redis = RedisProcess::start(RedisOptions::default()).unwrap();
    assert_eq!(redis.command(&["SET", "k", "v"]).unwrap(), "+OK");
    assert_eq!(redis.command(&["GET", "k"]).unwrap(), "v");
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{}/0", redis.port()));
    assert_eq!(
        redis.url_db(3),
        format!("redis://127.0.0.1:{}/3", redis.port())
    );
    assert_eq!(redis.rdb_path(), None);
    let info = redis.command(&["INFO", "server"]).unwrap();
    assert!(
        info.contains(&format!("process_id:{}", redis.pid())),
        "{info}"
    );
    let config = redis.command(&["CONFIG", "GET", "appendonly"]).unwrap();
    assert!(config.starts_with('*'), "{config}");

    let (port, dir) = (redis.port(), redis.dir().to_path_buf());
    assert!(dir.is_dir());
    drop(redis);
    assert!(refuses(port), "port {port} still answers after drop");
    assert!(!dir.exists(), "{} still exists after drop", dir.display());
}

#[test]
fn a_redis_process_with_a_password_refuses_without_it() {
    let redis = RedisProcess::start(RedisOptions::default().password("s3cret")).unwrap();
    assert_eq!(
        redis.url(),
        format!("redis://:s3cret@127.0.0.1:{}/0", redis.port())
    );
    assert_eq!(redis.command(&["PING"]).unwrap(), "+PONG");
    let mut stream = TcpStream::connect(("127.0.0.1", redis.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    std::io::Write::write_all(&mut stream, b"PING\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut stream, &mut buf).unwrap();
    let reply = String::from_utf8_lossy(&buf[..n]);
    assert!(reply.starts_with("-NOAUTH"), "{reply}");
}

#[test]
fn a_redis_process_keeps_its_rdb_file_after_save_when_asked() {
    let redis = RedisProcess::start(RedisOptions::default().rdb_file("backend.rdb")).unwrap();
    let rdb = redis.rdb_path().unwrap();
    assert_eq!(rdb, redis.dir().join("backend.rdb"));
    assert!(!rdb.exists());
    redis
        .command(&["SET", "stats/{service:1}/hits", "42"])
        .unwrap();
    assert_eq!(redis.command(&["SAVE"]).unwrap(), "+OK");
    let bytes = std::fs::read(&rdb).unwrap();
    assert!(
        bytes.starts_with(b"REDIS"),
        "not an RDB file: {:?}",
        &bytes[..9.min(bytes.len())]
    );
    assert!(
        bytes.windows(8).any(|w| w == b"{service"),
        "the saved key is not in the RDB file"
    );
}

#[test]
fn a_frozen_redis_process_answers_again_after_thaw_and_drop_ends_it_frozen() {
    let redis = RedisProcess::start(RedisOptions::default()).unwrap();
    redis.freeze().unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", redis.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    std::io::Write::write_all(&mut stream, b"PING\r\n").unwrap();
    let mut buf = [0u8; 16];
    assert!(
        std::io::Read::read(&mut stream, &mut buf).is_err(),
        "a frozen server answered"
    );
    redis.thaw().unwrap();
    assert_eq!(redis.command(&["PING"]).unwrap(), "+PONG");
    redis.freeze().unwrap();
    let port = redis.port();
    redis.stop();
    assert!(refuses(port));
}

#[test]
fn a_redis_rdb_file_name_must_be_plain() {
    let err = RedisProcess::start(RedisOptions::default().rdb_file("../x.rdb"))
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("plain file name"), "{err:#}");
}

#[test]
fn a_postgres_database_is_created_and_dropped() {
    let server = PgServer::at_or_throwaway(&pg_admin_url()).unwrap();
    let db = server.create_database("cutover_lib").unwrap();
    assert!(db.name().starts_with("cutover_lib_"), "{}", db.name());
    db.execute("CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)")
        .unwrap();
    let name = db.name().to_string();
    assert!(pg_database_exists(&server, &name));
    // A session left open must not keep the database from being dropped.
    let url = db.url().to_string();
    let open = open_pg_session(url);
    drop(db);
    assert!(
        !pg_database_exists(&server, &name),
        "{name} survived the drop"
    );
    drop(open);

    let db = server.create_database("cutover_lib").unwrap();
    let name = db.name().to_string();
    db.remove().unwrap();
    assert!(!pg_database_exists(&server, &name));
}

#[test]
fn a_postgres_error_says_what_failed() {
    let server = PgServer::at_or_throwaway(&pg_admin_url()).unwrap();
    let db = server.create_database("cutover_lib").unwrap();
    let err = db.execute("SELECT * FROM no_such_table").unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains(db.name()) && text.contains("no_such_table"),
        "{text}"
    );
    assert!(server.create_database("bad-prefix").is_err());
}

#[test]
fn a_throwaway_postgres_serves_a_database_and_is_gone_after_drop() {
    let server = PgServer::throwaway().unwrap();
    assert!(server.is_throwaway());
    let dir = server.dir().unwrap().to_path_buf();
    let db = server.create_database("cutover_lib").unwrap();
    db.execute("CREATE TABLE t (id int)").unwrap();
    let port = port_of(server.admin_url());
    drop(server);
    // The database holds the server: it is still up.
    db.execute("INSERT INTO t VALUES (1)").unwrap();
    drop(db);
    assert!(
        refuses(port),
        "the throw-away cluster still answers on {port}"
    );
    assert!(!dir.exists(), "{} still exists", dir.display());
}

#[test]
fn a_mariadb_database_is_created_and_dropped() {
    let server = MariaServer::at_or_throwaway(&maria_admin_url()).unwrap();
    let db = server.create_database("cutover_lib").unwrap();
    assert!(db.name().starts_with("cutover_lib_"), "{}", db.name());
    db.execute("CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)")
        .unwrap();
    let name = db.name().to_string();
    assert!(maria_database_exists(&server, &name));
    drop(db);
    assert!(
        !maria_database_exists(&server, &name),
        "{name} survived the drop"
    );

    let db = server.create_database("cutover_lib").unwrap();
    let name = db.name().to_string();
    db.remove().unwrap();
    assert!(!maria_database_exists(&server, &name));
}

#[test]
fn an_unreachable_admin_url_is_a_clear_error() {
    let refusing = crate::support::RefusingPort::new();
    let url = format!(
        "postgresql://postgres:hunter2@127.0.0.1:{}/postgres",
        refusing.port()
    );
    let err = PgServer::at(&url).err().unwrap();
    let text = format!("{err:#}");
    assert!(text.contains("cannot connect to PostgreSQL"), "{text}");
    assert!(!text.contains("hunter2"), "password leaked: {text}");

    let url = format!("mysql://root:hunter2@127.0.0.1:{}/", refusing.port());
    let err = MariaServer::at(&url).err().unwrap();
    let text = format!("{err:#}");
    assert!(text.contains("cannot connect to MySQL/MariaDB"), "{text}");
    assert!(!text.contains("hunter2"), "password leaked: {text}");
}

fn port_of(url: &str) -> u16 {
    let after_host = url.rsplit_once(':').unwrap().1;
    after_host.split('/').next().unwrap().parse().unwrap()
}

fn pg_database_exists(server: &PgServer, name: &str) -> bool {
    let url = server.admin_url().to_string();
    let name = name.to_string();
    crate::support::block_on(|| async move {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let row = client
            .query_one(
                "SELECT count(*) FROM pg_database WHERE datname = $1",
                &[&name],
            )
            .await
            .unwrap();
        row.get::<_, i64>(0) == 1
    })
}

/// A connection to `url` that stays open (idle) until the returned value drops.
fn open_pg_session(url: String) -> tokio::runtime::Runtime {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let client = runtime.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client.batch_execute("SELECT 1").await.unwrap();
        client
    });
    // Leaked on purpose into the runtime: the session lives until the runtime drops.
    runtime.spawn(async move {
        let _client = client;
        std::future::pending::<()>().await;
    });
    runtime
}

fn maria_database_exists(server: &MariaServer, name: &str) -> bool {
    use mysql_async::prelude::Queryable;
    let url = server.admin_url().to_string();
    let name = name.to_string();
    crate::support::block_on(|| async move {
        let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap())
            .await
            .unwrap();
        let found: Option<String> = conn
            .exec_first(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?",
                (name,),
            )
            .await
            .unwrap();
        let _ = conn.disconnect().await;
        found.is_some()
    })
}

#[test]
fn a_throwaway_mariadb_serves_a_database_and_is_gone_after_drop() {
    let server = MariaServer::throwaway().unwrap();
    assert!(server.is_throwaway());
    let dir = server.dir().unwrap().to_path_buf();
    let db = server.create_database("cutover_lib").unwrap();
    db.execute("CREATE TABLE t (id int)").unwrap();
    let port = port_of(server.admin_url());
    drop(server);
    // The database holds the server: it is still up.
    db.execute("INSERT INTO t VALUES (1)").unwrap();
    drop(db);
    assert!(
        refuses(port),
        "the throw-away mariadbd still answers on {port}"
    );
    assert!(!dir.exists(), "{} still exists", dir.display());
}

/// Set in the child process that [`held_until_killed`] starts: it names what to hold.
const HOLD_ENV: &str = "CUTOVER_TEST_HOLD_SERVER";

/// Not a test of its own: the body of the child process that the watchdog tests SIGKILL. It
/// starts what `HOLD_ENV` names, prints `HELD <port> <dir>`, and waits to be killed.
#[test]
#[ignore = "run by the watchdog tests in a child process"]
fn hold_a_server_until_killed() {
    let Ok(what) = std::env::var(HOLD_ENV) else {
        return;
    };
    let (port, dir, _held): (u16, std::path::PathBuf, Box<dyn std::any::Any>) = match &*what {
        "redis" => {
            let redis = RedisProcess::start(RedisOptions::default()).unwrap();
            (redis.port(), redis.dir().to_path_buf(), Box::new(redis))
        }
        "postgres" => {
            let server = PgServer::throwaway().unwrap();
            let db = server.create_database("cutover_lib").unwrap();
            let dir = server.dir().unwrap().to_path_buf();
            (port_of(server.admin_url()), dir, Box::new((server, db)))
        }
        "mariadb" => {
            let server = MariaServer::throwaway().unwrap();
            let db = server.create_database("cutover_lib").unwrap();
            let dir = server.dir().unwrap().to_path_buf();
            (port_of(server.admin_url()), dir, Box::new((server, db)))
        }
        other => panic!("{HOLD_ENV}={other}?"),
    };
    println!("HELD {port} {}", dir.display());
    // Bounded, in case the parent dies before it kills this process.
    std::thread::sleep(Duration::from_secs(300));
}

/// Starts `what` in a child process, SIGKILLs the child once the server answers, and checks
/// that the watchdog stopped the server and removed its folder.
fn held_until_killed(what: &str) {
    use std::io::BufRead;
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = KillOnDrop(
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sim_servers::hold_a_server_until_killed",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HOLD_ENV, what)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
    let held = stdout
        .lines()
        .map(Result::unwrap)
        .find_map(|line| line.split_once("HELD ").map(|(_, held)| held.to_string()))
        .unwrap_or_else(|| panic!("the child holding {what} ended without starting it"));
    let (port, dir) = held.split_once(' ').unwrap();
    let (port, dir): (u16, std::path::PathBuf) = (port.parse().unwrap(), dir.into());
    assert!(!refuses(port), "{what} on {port} does not answer");
    assert!(dir.is_dir());

    crate::support::signal_pid(child.0.id(), rustix::process::Signal::KILL);
    let _ = child.0.wait();
    for _ in 0..1200 {
        if refuses(port) && !dir.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "after SIGKILL of its owner, {what} on {port} still answers ({}) or {} still exists ({})",
        !refuses(port),
        dir.display(),
        dir.exists()
    );
}

#[test]
fn a_watchdog_stops_a_redis_process_after_sigkill_of_its_owner() {
    held_until_killed("redis");
}

#[test]
fn a_watchdog_stops_a_throwaway_postgres_after_sigkill_of_its_owner() {
    held_until_killed("postgres");
}

#[test]
fn a_watchdog_stops_a_throwaway_mariadb_after_sigkill_of_its_owner() {
    held_until_killed("mariadb");
}
