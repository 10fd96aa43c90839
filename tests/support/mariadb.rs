//! A MariaDB/MySQL database of the test's own: on the server at `CUTOVER_TEST_MYSQL_URL`
//! (default the local one), or on a throw-away `mariadbd` started once per test process when
//! none answers there. Over [`cutover::sim::servers::MariaServer`]; panics where the library
//! returns an error.

use std::sync::OnceLock;

use cutover::sim::servers::{MariaDatabase, MariaServer};

const ENV_URL: &str = "CUTOVER_TEST_MYSQL_URL";

pub struct MariaDb {
    /// Taken by `Drop`, to report a failed drop.
    db: Option<MariaDatabase>,
}

impl MariaDb {
    pub fn create() -> MariaDb {
        match server().create_database("cutover_test") {
            Ok(db) => MariaDb { db: Some(db) },
            Err(e) => panic!(
                "cannot create a test database on {}: {e:#}",
                server().admin_url()
            ),
        }
    }

    /// A `mysql://` URL for this database, as root.
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

    fn db(&self) -> &MariaDatabase {
        match &self.db {
            Some(db) => db,
            None => unreachable!("the database is only taken by Drop"),
        }
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        if let Some(db) = self.db.take()
            && let Err(e) = db.remove()
        {
            eprintln!("{e:#}");
        }
    }
}

/// The server of this test process. Kept in a static, it is never dropped: a throw-away
/// server lives until the process ends, and its watchdog stops it then.
fn server() -> &'static MariaServer {
    static SERVER: OnceLock<Result<MariaServer, String>> = OnceLock::new();
    let found = SERVER.get_or_init(|| {
        let candidate =
            std::env::var(ENV_URL).unwrap_or_else(|_| MariaServer::DEFAULT_ADMIN_URL.to_string());
        let server = MariaServer::at_or_throwaway(&candidate).map_err(|e| format!("{e:#}"))?;
        if server.is_throwaway() {
            eprintln!(
                "no MySQL/MariaDB at {candidate}; this test process uses a throw-away mariadbd \
                 at {}",
                server.admin_url()
            );
        }
        Ok(server)
    });
    match found {
        Ok(server) => server,
        Err(e) => panic!("no MySQL/MariaDB server for the tests: {e}"),
    }
}
