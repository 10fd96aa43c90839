//! The PostgreSQL database a restore writes into (or a dump reads from) on the migration cluster
//! or the destination, and how cutover reaches it:
//!
//! - by the URL the config names (`migration_cluster.system_database_url`,
//!   `destination.system_database_url`): the local `pg_restore --jobs N`, `pg_dump` and a
//!   connection of cutover's own;
//! - else through a client pod (`cutover-pg-client`, see
//!   [`crate::infra::kube::ClientPodSpec`]) that cutover creates in the cluster's 3scale namespace,
//!   with the URL of secret `system-database`/`URL` in its environment: the archive streams into
//!   `pg_restore` on the pod's stdin (one job, since a pipe cannot be read in parallel), a dump
//!   streams out of `pg_dump` on its stdout, and queries run through `psql`. This is how a managed
//!   database that only the cluster's network reaches (the migration AWS account's, RHOAM's) is
//!   restored from the bastion. The image is `dumps.pg_client_image`; its `pg_restore` must be at
//!   least the dump's server version, which is checked before anything is written. The pod is
//!   deleted when the step ends, whether it passed or failed.
//!
//! Both ways run the same SQL for the checks (the tables a restore would replace, the server's
//! counters after a load, exact counts).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use tokio::sync::OnceCell;

use super::artifacts::{Report, Throttle};
use super::dump_record::DumpRecord;
use super::kube::{CLIENT_POD, ClientPodSpec, KubeCluster};
use super::pg;
use super::pg_pod::{PodDb, counts_of, psql_rows};
use super::pgdump::{dump_exec, dump_url, pg_restore_into};
use super::url::{redact, scrub};

/// The secret and key that hold a 3scale system database's URL, in its namespace.
pub const SYSTEM_DATABASE_SECRET: (&str, &str) = ("system-database", "URL");

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The major version of `pg_restore --version` output (`pg_restore (PostgreSQL) 15.8`).
fn tool_major(version: &str) -> Option<u32> {
    version
        .split_whitespace()
        .find_map(|w| w.split('.').next()?.parse().ok())
}

enum Reach {
    Url {
        url: String,
        client: OnceCell<tokio_postgres::Client>,
    },
    Pod {
        kube: Box<KubeCluster>,
        db: PodDb,
    },
}

/// A PostgreSQL database on the migration cluster or the destination (see the module's doc).
pub struct PgTarget {
    reach: Reach,
    /// How messages name it: the URL without its password, or the pod and secret.
    shown: String,
}

impl PgTarget {
    /// The database at `url`, from `key` of the config.
    pub fn by_url(url: String, key: &str) -> PgTarget {
        let shown = format!("{} ({key})", redact(&url));
        PgTarget {
            reach: Reach::Url {
                url,
                client: OnceCell::new(),
            },
            shown,
        }
    }

    /// The database of `secret`/`key` in `kube`'s namespace, through a client pod started now
    /// from `image`. The pod's progress goes to `log`.
    pub async fn in_pod(
        kube: KubeCluster,
        (secret, key): (&str, &str),
        image: &str,
        log: &(dyn Fn(String) + Send + Sync),
    ) -> Result<PgTarget> {
        let spec = ClientPodSpec {
            name: CLIENT_POD.to_string(),
            image: image.to_string(),
            secret: secret.to_string(),
            key: key.to_string(),
        };
        kube.start_client_pod(&spec, log).await?;
        let shown = format!(
            "the database of secret {secret}/{key} in namespace {} ({} cluster), through pod \
             {CLIENT_POD}",
            kube.namespace(),
            kube.name()
        );
        Ok(PgTarget {
            reach: Reach::Pod {
                kube: Box::new(kube),
                db: PodDb::Secret {
                    secret: secret.to_string(),
                    key: key.to_string(),
                },
            },
            shown,
        })
    }

    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Whether it is reached through a client pod.
    pub fn through_pod(&self) -> bool {
        matches!(self.reach, Reach::Pod { .. })
    }

    /// Deletes the client pod, if there is one. Errors are the caller's to report: the pod
    /// ends by itself after its deadline anyway.
    pub async fn close(self) -> Result<()> {
        match self.reach {
            Reach::Url { .. } => Ok(()),
            Reach::Pod { kube, .. } => kube.delete_client_pod(CLIENT_POD).await,
        }
    }

    async fn client(&self) -> Result<Option<&tokio_postgres::Client>> {
        match &self.reach {
            Reach::Url { url, client } => Ok(Some(
                client
                    .get_or_try_init(|| pg::connect(url, CONNECT_TIMEOUT))
                    .await?,
            )),
            Reach::Pod { .. } => Ok(None),
        }
    }

    /// The rows of `sql` as text; `what` names the query in errors.
    pub async fn rows(&self, sql: &str, what: &str) -> Result<Vec<Vec<String>>> {
        match &self.reach {
            Reach::Url { url, .. } => {
                let client = self
                    .client()
                    .await?
                    .context("no connection to the target")?;
                let messages = client
                    .simple_query(sql)
                    .await
                    .map_err(|e| anyhow!(scrub(&pg::error_text(&e), url)))
                    .with_context(|| format!("{what} on {}", self.shown))?;
                Ok(messages
                    .iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                            (0..row.len())
                                .map(|i| row.get(i).unwrap_or("").to_string())
                                .collect(),
                        ),
                        _ => None,
                    })
                    .collect())
            }
            Reach::Pod { kube, db } => psql_rows(kube, CLIENT_POD, db, sql)
                .await
                .with_context(|| format!("{what} on {}", self.shown)),
        }
    }

    /// The database's name, for a typed phrase.
    pub async fn database(&self) -> Result<String> {
        let rows = self
            .rows("SELECT current_database()", "asking its name")
            .await?;
        rows.first()
            .and_then(|r| r.first())
            .cloned()
            .context("the server did not name its database")
    }

    /// Which of `tables` exist, as `schema.name`.
    pub async fn existing_tables(&self, tables: &[(String, String)]) -> Result<Vec<String>> {
        let Some(sql) = pg::existing_tables_query(tables) else {
            return Ok(Vec::new());
        };
        let rows = self.rows(&sql, "listing the tables").await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| r.into_iter().next())
            .collect())
    }

    /// The exact rows of each of `tables`, by `schema.name`.
    pub async fn count_rows(&self, tables: &[(String, String)]) -> Result<BTreeMap<String, u64>> {
        let Some(sql) = pg::count_query(tables) else {
            return Ok(BTreeMap::new());
        };
        counts_of(self.rows(&sql, "counting the rows of the tables").await?)
    }

    /// The dump's tables that already exist here.
    pub async fn occupied(&self, record: &DumpRecord) -> Result<Vec<String>> {
        self.existing_tables(&record.tables()).await
    }

    /// The tables (`schema.name`) whose rows here differ from `expected`:
    /// `schema.name: N {landed}, M {origin}`, or `schema.name: missing, M {origin}`.
    pub async fn compare_rows(
        &self,
        expected: &BTreeMap<String, u64>,
        landed: &str,
        origin: &str,
    ) -> Result<Vec<String>> {
        let tables: Vec<(String, String)> = expected
            .keys()
            .filter_map(|t| {
                let (s, n) = t.split_once('.')?;
                Some((s.to_string(), n.to_string()))
            })
            .collect();
        let existing = self.existing_tables(&tables).await?;
        let present: Vec<(String, String)> = tables
            .into_iter()
            .filter(|(s, n)| existing.contains(&format!("{s}.{n}")))
            .collect();
        let counts = self.count_rows(&present).await?;
        let mut differ = Vec::new();
        for (table, want) in expected {
            match counts.get(table) {
                Some(n) if n == want => {}
                Some(n) => differ.push(format!("{table}: {n} {landed}, {want} {origin}")),
                None => differ.push(format!("{table}: missing, {want} {origin}")),
            }
        }
        Ok(differ)
    }

    /// The tables whose rows differ from the dump's record.
    pub async fn compare_counts(&self, record: &DumpRecord) -> Result<Vec<String>> {
        self.compare_rows(&record.rows, "restored", "dumped").await
    }

    /// The check right after a restore into tables it created: first the server's own
    /// counters (`pg_stat_user_tables`: rows inserted equal to live rows and to the recorded
    /// count, none deleted), which cost nothing; a backend's counters reach them when it ends,
    /// so they are read again for a moment. A table whose counters still do not match is
    /// counted exactly with count(*), and only an exact count decides that it differs.
    pub async fn verify_restored(&self, record: &DumpRecord) -> Result<Verified> {
        let mut pending: BTreeMap<String, u64> = record.rows.clone();
        let mut verified = Verified::default();
        for attempt in 0..10 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let rows = self
                .rows(
                    "SELECT schemaname::text || '.' || relname::text, n_live_tup, n_tup_ins, \
                     n_tup_del FROM pg_stat_user_tables",
                    "reading the table counters",
                )
                .await?;
            for row in rows {
                let [table, live, inserted, deleted] = row.as_slice() else {
                    continue;
                };
                let number = |s: &str| s.parse::<u64>().ok();
                if let Some(expected) = pending.get(table).copied()
                    && number(live) == Some(expected)
                    && number(inserted) == Some(expected)
                    && number(deleted) == Some(0)
                {
                    pending.remove(table);
                    verified.by_counters += 1;
                }
            }
            if pending.is_empty() {
                break;
            }
        }
        if !pending.is_empty() {
            verified.by_count = pending.len();
            verified.differences = self.compare_rows(&pending, "restored", "dumped").await?;
        }
        Ok(verified)
    }

    /// Restores the archive of `record` (`pg_restore --no-owner --no-acl --exit-on-error`; with
    /// `replace`, `--clean --if-exists` first drops the objects it holds). Through a pod the
    /// pod's pg_restore must be at least the dump's server version.
    pub async fn restore(
        &self,
        record: &DumpRecord,
        replace: bool,
        report: &Report<'_>,
    ) -> Result<()> {
        let (kube, db) = match &self.reach {
            Reach::Url { url, .. } => {
                return pg_restore_into(url, &record.path, replace, record.table_data, report)
                    .await;
            }
            Reach::Pod { kube, db } => (kube, db),
        };
        let version = kube
            .exec_output(CLIENT_POD, &["pg_restore", "--version"], "pg_restore")
            .await?;
        let major = tool_major(&version);
        if major.is_none_or(|m| m < record.server_major) {
            bail!(
                "pod {CLIENT_POD} has {} but the dump is of PostgreSQL {}: an older pg_restore \
                 cannot read it. Set dumps.pg_client_image to an image with PostgreSQL {} or \
                 newer; nothing was restored",
                version.trim(),
                record.server_version,
                record.server_major
            );
        }
        let mut args = vec!["--no-owner", "--no-acl", "--exit-on-error", "--no-password"];
        if replace {
            args.extend_from_slice(&["--clean", "--if-exists"]);
        }
        let argv = db.argv("pg_restore", &args);
        let file = tokio::fs::File::open(&record.path)
            .await
            .with_context(|| format!("cannot open {}", record.path.display()))?;
        let input = tokio::io::BufReader::with_capacity(1 << 20, file);
        let mut throttle = Throttle::new(report, Some(record.bytes), "bytes");
        throttle.tick(0);
        let result = kube
            .exec_with_input(CLIENT_POD, None, &argv, input, |sent| throttle.tick(sent))
            .await?;
        if !result.success() {
            bail!(
                "pg_restore in pod {CLIENT_POD} into {} failed (exit code {}) after {} of {}: {}",
                db.describe(),
                result.exit_code,
                crate::format::bytes(result.bytes),
                crate::format::bytes(record.bytes),
                result.stderr.trim()
            );
        }
        if result.sha256 != record.sha256 {
            bail!(
                "{} changed while it was sent to pod {CLIENT_POD}: SHA-256 {} sent, {} recorded; \
                 the target holds what was sent, restore again from the original dump",
                record.path.display(),
                result.sha256,
                record.sha256
            );
        }
        throttle.done(result.bytes);
        Ok(())
    }

    /// Dumps the database to `to` (see [`dump_url`] and [`dump_exec`]).
    pub async fn dump(&self, to: &Path, report: &Report<'_>) -> Result<DumpRecord> {
        match &self.reach {
            Reach::Url { url, .. } => dump_url(url, to, report).await,
            Reach::Pod { kube, db } => dump_exec(kube, CLIENT_POD, db, to, report).await,
        }
    }
}

/// The dump's tables that already exist in the database at `url`.
pub async fn occupied(url: &str, record: &DumpRecord) -> Result<Vec<String>> {
    PgTarget::by_url(url.to_string(), "--to")
        .occupied(record)
        .await
}

/// How a restore's rows were checked.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Verified {
    /// Tables whose rows the server's counters vouch for.
    pub by_counters: usize,
    /// Tables counted with count(*).
    pub by_count: usize,
    /// `schema.name: N restored, M dumped`, for every table that differs.
    pub differences: Vec<String>,
}

/// [`PgTarget::verify_restored`] of the database at `url`.
pub async fn verify_restored(url: &str, record: &DumpRecord) -> Result<Verified> {
    PgTarget::by_url(url.to_string(), "--to")
        .verify_restored(record)
        .await
}

/// [`PgTarget::compare_rows`] of the database at `url`.
pub async fn compare_rows(
    url: &str,
    expected: &BTreeMap<String, u64>,
    landed: &str,
    origin: &str,
) -> Result<Vec<String>> {
    PgTarget::by_url(url.to_string(), "the config")
        .compare_rows(expected, landed, origin)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_major_version_of_a_client_is_read() {
        assert_eq!(tool_major("pg_restore (PostgreSQL) 15.8\n"), Some(15));
        assert_eq!(
            tool_major("pg_restore (PostgreSQL) 16.4 (Debian 16.4-1.pgdg120+1)"),
            Some(16)
        );
        assert_eq!(tool_major("sh: pg_restore: not found"), None);
    }
}
