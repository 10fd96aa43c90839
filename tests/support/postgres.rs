//! A PostgreSQL database of the test's own: on the server at `CUTOVER_TEST_PG_URL` (default
//! the local one), or on a throw-away cluster started once per test process when none answers
//! there. Over [`cutover::sim::servers::PgServer`]; panics where the library returns an error.

use std::sync::OnceLock;

use cutover::sim::servers::{self, PgServer};

const ENV_URL: &str = "CUTOVER_TEST_PG_URL";

pub struct PgDatabase {
    /// Taken by `Drop`, to report a failed drop.
    db: Option<servers::PgDatabase>,
}

impl PgDatabase {
    pub fn create() -> PgDatabase {
        match server().create_database("cutover_test") {
            Ok(db) => PgDatabase { db: Some(db) },
            Err(e) => panic!(
                "cannot create a test database on {}: {e:#}",
                server().admin_url()
            ),
        }
    }

    /// A URL for this database, as the server's superuser.
    pub fn url(&self) -> &str {
        self.db().url()
    }

    pub fn name(&self) -> &str {
        self.db().name()
    }

    /// Runs SQL (several statements allowed) in this database, for test setup.
    pub fn execute(&self, sql: &str) {
        if let Err(e) = self.db().execute(sql) {
            panic!("{e:#}\n{sql}");
        }
    }

    /// The first column of the first row of `sql`, as text ("" for NULL or no row).
    pub fn query_one(&self, sql: &str) -> String {
        let url = self.url().to_string();
        let sql = sql.to_string();
        super::block_on(|| async move {
            let client = cutover::infra::pg::connect(&url, std::time::Duration::from_secs(30))
                .await
                .unwrap_or_else(|e| panic!("{e:#}"));
            let rows = client
                .simple_query(&sql)
                .await
                .unwrap_or_else(|e| panic!("{e:#}\n{sql}"));
            rows.iter()
                .find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => {
                        Some(r.get(0).unwrap_or("").to_string())
                    }
                    _ => None,
                })
                .unwrap_or_default()
        })
    }

    fn db(&self) -> &servers::PgDatabase {
        match &self.db {
            Some(db) => db,
            None => unreachable!("the database is only taken by Drop"),
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Some(db) = self.db.take()
            && let Err(e) = db.remove()
        {
            eprintln!("{e:#}");
        }
    }
}

/// The server of this test process. Kept in a static, it is never dropped: a throw-away
/// cluster lives until the process ends, and its watchdog stops it then.
fn server() -> &'static PgServer {
    static SERVER: OnceLock<Result<PgServer, String>> = OnceLock::new();
    let found = SERVER.get_or_init(|| {
        let candidate =
            std::env::var(ENV_URL).unwrap_or_else(|_| PgServer::DEFAULT_ADMIN_URL.to_string());
        let server = PgServer::at_or_throwaway(&candidate).map_err(|e| format!("{e:#}"))?;
        if server.is_throwaway() {
            eprintln!(
                "no PostgreSQL at {candidate}; this test process uses a throw-away cluster at {}",
                server.admin_url()
            );
        }
        Ok(server)
    });
    match found {
        Ok(server) => server,
        Err(e) => panic!("no PostgreSQL server for the tests: {e}"),
    }
}
