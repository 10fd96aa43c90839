//! PostgreSQL's clients run in a pod through exec: which database they work on (`PodDb`), and
//! psql's rows read back as text, with separators no table name or number holds.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};

use super::kube::{KubeCluster, with_url};

/// psql's field and record separators for rows read back: bytes no table name or number holds.
const FIELD_SEPARATOR: &str = "\u{1f}";
const RECORD_SEPARATOR: &str = "\u{1e}";

/// Which database the PostgreSQL clients in a pod work on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodDb {
    /// A database of the server that runs in the pod itself (`-d <name>`, no password).
    Named(String),
    /// The URL in the client pod's environment, from this secret and key.
    Secret { secret: String, key: String },
}

impl PodDb {
    /// The argv that runs `client` with `args` on this database.
    pub fn argv<'a>(&'a self, client: &'a str, args: &[&'a str]) -> Vec<&'a str> {
        match self {
            PodDb::Named(database) => {
                let mut argv = vec![client];
                argv.extend_from_slice(args);
                argv.extend_from_slice(&["-d", database.as_str()]);
                argv
            }
            PodDb::Secret { .. } => with_url(client, args),
        }
    }

    /// How a message names it.
    pub fn describe(&self) -> String {
        match self {
            PodDb::Named(database) => format!("database {database}"),
            PodDb::Secret { secret, key } => format!("the database of secret {secret}/{key}"),
        }
    }
}

/// Runs `sql` with psql in `pod` and returns its rows as text fields.
pub async fn psql_rows(
    kube: &KubeCluster,
    pod: &str,
    db: &PodDb,
    sql: &str,
) -> Result<Vec<Vec<String>>> {
    let argv = db.argv(
        "psql",
        &[
            "-X",
            "-A",
            "-t",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-F",
            FIELD_SEPARATOR,
            "-R",
            RECORD_SEPARATOR,
            "-c",
            sql,
        ],
    );
    let text = kube.exec_output(pod, &argv, "psql").await?;
    Ok(parse_psql(&text))
}

fn parse_psql(text: &str) -> Vec<Vec<String>> {
    text.trim_end_matches('\n')
        .split(RECORD_SEPARATOR)
        .map(|r| r.trim_start_matches('\n'))
        .filter(|r| !r.is_empty())
        .map(|r| r.split(FIELD_SEPARATOR).map(str::to_string).collect())
        .collect()
}

/// The rows of [`super::pg::count_query`] as counts by `schema.name`.
pub fn counts_of(rows: Vec<Vec<String>>) -> Result<BTreeMap<String, u64>> {
    let mut counts = BTreeMap::new();
    for row in rows {
        let [table, n] = row.as_slice() else {
            bail!("a row count came back as {row:?}, not table and count");
        };
        let n: u64 = n
            .parse()
            .with_context(|| format!("count(*) of {table} returned {n:?}"))?;
        counts.insert(table.clone(), n);
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psql_rows_are_split_on_their_separators() {
        let text = "public.accounts\u{1f}3\u{1e}public.we|ird\u{1f}0\n";
        assert_eq!(
            parse_psql(text),
            vec![
                vec!["public.accounts".to_string(), "3".to_string()],
                vec!["public.we|ird".to_string(), "0".to_string()],
            ]
        );
        assert!(parse_psql("\n").is_empty());
        assert!(parse_psql("").is_empty());
    }

    #[test]
    fn clients_name_their_database() {
        let named = PodDb::Named("system".into());
        assert_eq!(
            named.argv("pg_dump", &["-Fc"]),
            ["pg_dump", "-Fc", "-d", "system"]
        );
        let secret = PodDb::Secret {
            secret: "system-database".into(),
            key: "URL".into(),
        };
        assert_eq!(secret.argv("pg_dump", &["-Fc"])[4..], ["pg_dump", "-Fc"]);
    }
}
