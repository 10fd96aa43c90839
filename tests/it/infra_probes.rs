//! The infra probes against real servers started or found by the harness.

use std::time::Duration;

use cutover::infra::{disk, mysql, pg, redis as redis_probe, tools};

use crate::support::{MariaDb, PgDatabase, RedisServer, RefusingPort};

/// Generous: these servers are local, so only a hung or absent server takes this long.
const TIMEOUT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn redis_probe_reports_version_keys_and_memory() {
    let server = RedisServer::start();
    for key in ["a", "b", "c"] {
        assert_eq!(server.command(&["SET", key, "1"]), "+OK");
    }
    // Keys of every database count, not only the one in the URL.
    let client = redis::Client::open(server.url_db(2)).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("in-db-2")
        .arg("x")
        .query_async(&mut conn)
        .await
        .unwrap();

    let info = redis_probe::probe(&server.url(), TIMEOUT).await.unwrap();

    assert!(!info.version.is_empty());
    assert!(
        info.version.starts_with(|c: char| c.is_ascii_digit()),
        "{info:?}"
    );
    assert_eq!(info.keys, 4, "{info:?}");
    assert!(info.used_memory > 0, "{info:?}");
    assert_eq!(info.role, "master");
}

#[tokio::test]
async fn redis_probe_of_an_empty_server_counts_no_keys() {
    let server = RedisServer::start();
    let info = redis_probe::probe(&server.url(), TIMEOUT).await.unwrap();
    assert_eq!(info.keys, 0);
}

#[tokio::test]
async fn redis_probe_with_wrong_password_fails_without_showing_passwords() {
    let right = "right-Pa55word-xyz";
    let wrong = "wrong-Pa55word-abc";
    let server = RedisServer::start_with_password(right);
    let wrong_url = format!("redis://:{wrong}@127.0.0.1:{}/0", server.port());

    let err = redis_probe::probe(&wrong_url, TIMEOUT).await.unwrap_err();

    for text in [format!("{err}"), format!("{err:#}"), format!("{err:?}")] {
        assert!(!text.contains(right), "{text}");
        assert!(!text.contains(wrong), "{text}");
    }
    let shown = format!("redis://:***@127.0.0.1:{}/0", server.port());
    assert!(format!("{err}").contains(&shown), "{err}");
    assert!(format!("{err}").contains("password"), "{err}");

    let info = redis_probe::probe(&server.url(), TIMEOUT).await.unwrap();
    assert!(!info.version.is_empty());
}

#[tokio::test]
async fn redis_probe_of_a_hung_server_gives_up_and_recovers_after_thaw() {
    let server = RedisServer::start();
    server.freeze();
    let result = redis_probe::probe(&server.url(), Duration::from_millis(300)).await;
    server.thaw();

    let err = result.unwrap_err();
    assert!(format!("{err}").contains("did not answer"), "{err:#}");
    let info = redis_probe::probe(&server.url(), TIMEOUT).await.unwrap();
    assert_eq!(info.role, "master");
}

#[tokio::test]
async fn unreachable_redis_names_the_redacted_url() {
    let closed = RefusingPort::new();
    let port = closed.port();
    let url = format!("redis://user:never-shown-pw@127.0.0.1:{port}/0");

    let err = redis_probe::probe(&url, TIMEOUT).await.unwrap_err();

    let text = format!("{err:#}");
    assert!(
        text.contains(&format!("redis://user:***@127.0.0.1:{port}/0")),
        "{text}"
    );
    assert!(!format!("{err:?}").contains("never-shown-pw"), "{err:?}");
}

#[tokio::test]
async fn pg_probe_reports_version_database_and_size() {
    let db = PgDatabase::create();
    db.execute(
        "CREATE TABLE t (id int PRIMARY KEY, body text);
         INSERT INTO t SELECT g, repeat('x', 100) FROM generate_series(1, 1000) g;",
    );

    let info = pg::probe(db.url(), TIMEOUT).await.unwrap();

    assert!(info.major >= 12, "{info:?}");
    assert!(
        info.server_version.starts_with(&info.major.to_string()),
        "{info:?}"
    );
    assert_eq!(info.database, db.name());
    assert!(info.size_bytes > 0, "{info:?}");
}

#[tokio::test]
async fn pg_connect_gives_a_working_client() {
    let db = PgDatabase::create();
    let client = pg::connect(db.url(), TIMEOUT).await.unwrap();
    let row = client.query_one("SELECT 40 + 2", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);
}

#[tokio::test]
async fn unreachable_pg_names_the_redacted_url() {
    let closed = RefusingPort::new();
    let port = closed.port();
    let url = format!("postgresql://postgres:never-shown-pw@127.0.0.1:{port}/postgres");

    let err = pg::probe(&url, TIMEOUT).await.unwrap_err();

    let text = format!("{err:#}");
    assert!(
        text.contains(&format!(
            "postgresql://postgres:***@127.0.0.1:{port}/postgres"
        )),
        "{text}"
    );
    assert!(!format!("{err:?}").contains("never-shown-pw"), "{err:?}");
}

#[tokio::test]
async fn mysql_probe_reports_flavor_database_and_size() {
    let db = MariaDb::create();
    let empty = mysql::probe(db.url(), TIMEOUT).await.unwrap();
    assert_eq!(empty.size_bytes, 0, "{empty:?}");

    db.execute(
        "CREATE TABLE t (id INT PRIMARY KEY, body VARCHAR(200)) ENGINE=InnoDB;
         INSERT INTO t VALUES (1, REPEAT('x', 150)), (2, REPEAT('y', 150)), (3, 'z');",
    );
    let info = mysql::probe(db.url(), TIMEOUT).await.unwrap();

    // The harness runs MariaDB, which stands in for the MySQL sources.
    assert_eq!(info.flavor, "MariaDB", "{info:?}");
    assert!(info.server_version.contains("MariaDB"), "{info:?}");
    assert_eq!(info.database, db.name());
    assert!(info.size_bytes > 0, "{info:?}");
}

#[tokio::test]
async fn unreachable_mysql_names_the_redacted_url() {
    let closed = RefusingPort::new();
    let port = closed.port();
    let url = format!("mysql://root:never-shown-pw@127.0.0.1:{port}/db");

    let err = mysql::probe(&url, TIMEOUT).await.unwrap_err();

    let text = format!("{err:#}");
    assert!(
        text.contains(&format!("mysql://root:***@127.0.0.1:{port}/db")),
        "{text}"
    );
    assert!(!format!("{err:?}").contains("never-shown-pw"), "{err:?}");
}

#[tokio::test]
async fn pg_dump_is_found_with_its_major_version() {
    let found = tools::version("pg_dump").await.unwrap();
    let tool = found.expect("pg_dump should be on PATH (scripts/test installs postgresql)");
    assert_eq!(tool.name, "pg_dump");
    assert!(tool.path.is_absolute(), "{tool:?}");
    assert!(tool.major >= 12, "{tool:?}");
    assert!(
        tool.version.starts_with(&tool.major.to_string()),
        "{tool:?}"
    );
}

#[tokio::test]
async fn missing_tool_is_none() {
    assert_eq!(tools::version("no-such-tool-xyz").await.unwrap(), None);
}

#[test]
fn free_space_of_a_missing_folder_measures_its_existing_parent() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("not-yet").join("dumps");

    let (free, measured) = disk::free_space(&target).unwrap();

    assert_eq!(measured, dir.path());
    assert!(free > 0);
}
