//! The `postgres` role's password in a Crunchy PostgreSQL pod (the Platform's operational and
//! analytical instances), set and checked through exec with the password on stdin only: never
//! on a command line, where the API server's audit log and `ps` would show it.
//!
//! - Set: psql as the pod's local superuser (the `database` container's socket, peer
//!   authentication) reads `ALTER ROLE postgres WITH PASSWORD '…';` from stdin.
//! - Check: a login over TCP to `localhost` as `postgres` with that password (read into
//!   `PGPASSWORD` by the shell from stdin), `select 1`: what bpms does with the secret.

use anyhow::{Context, Result, bail};

use super::kube::KubeCluster;

/// The container of a Crunchy (PGO v5) instance pod that runs PostgreSQL.
pub const DATABASE_CONTAINER: &str = "database";

/// psql as the local superuser, reading SQL from stdin, stopping at the first error.
pub const ADMIN_PSQL: &[&str] = &[
    "psql",
    "-X",
    "-q",
    "-v",
    "ON_ERROR_STOP=1",
    "-d",
    "postgres",
];

/// A login as `postgres` over TCP with the password given on stdin.
pub const LOGIN_CHECK: &[&str] = &[
    "sh",
    "-c",
    "IFS= read -r PGPASSWORD && export PGPASSWORD && exec psql -X -w -A -t -h localhost \
     -U postgres -d postgres -c 'select 1'",
];

/// A password the two commands can carry: one line, no NUL.
pub fn usable(password: &str) -> std::result::Result<(), &'static str> {
    if password.is_empty() {
        Err("it is empty")
    } else if password.contains(['\n', '\r', '\0']) {
        Err("it holds a line break or a NUL byte")
    } else {
        Ok(())
    }
}

/// The statement that sets the role's password, its literal quoted as SQL quotes it.
pub fn alter_role_sql(password: &str) -> String {
    format!(
        "ALTER ROLE postgres WITH PASSWORD '{}';\n",
        password.replace('\'', "''")
    )
}

/// Sets the `postgres` role's password in `pod` (namespace of `kube`).
pub async fn set_password(kube: &KubeCluster, pod: &str, password: &str) -> Result<()> {
    if let Err(why) = usable(password) {
        bail!("the password cannot be set: {why}");
    }
    let sql = alter_role_sql(password);
    let result = kube
        .exec_with_input(
            pod,
            Some(DATABASE_CONTAINER),
            ADMIN_PSQL,
            sql.as_bytes(),
            |_| {},
        )
        .await
        .with_context(|| format!("running psql in pod {pod}"))?;
    if !result.success() {
        bail!(
            "psql in pod {pod} could not set the postgres role's password (exit code {}): {}",
            result.exit_code,
            scrub(&result.stderr, password)
        );
    }
    Ok(())
}

/// Whether `postgres` logs in to the server of `pod` with `password`.
pub async fn login_works(kube: &KubeCluster, pod: &str, password: &str) -> Result<bool> {
    if usable(password).is_err() {
        return Ok(false);
    }
    let input = format!("{password}\n");
    let result = kube
        .exec_with_input(
            pod,
            Some(DATABASE_CONTAINER),
            LOGIN_CHECK,
            input.as_bytes(),
            |_| {},
        )
        .await
        .with_context(|| format!("checking the postgres login in pod {pod}"))?;
    if result.success() && result.stdout.trim() == "1" {
        return Ok(true);
    }
    if result.stderr.contains("password authentication failed") {
        return Ok(false);
    }
    bail!(
        "the login check in pod {pod} did not run (exit code {}): {}",
        result.exit_code,
        scrub(&result.stderr, password)
    )
}

/// psql's error output without the password: its `LINE n:` echo of the statement dropped, any
/// other occurrence masked.
fn scrub(stderr: &str, password: &str) -> String {
    let lines: Vec<String> = stderr
        .lines()
        .filter(|l| !l.trim_start().starts_with("LINE "))
        .map(|l| {
            l.replace(&password.replace('\'', "''"), "***")
                .replace(password, "***")
        })
        .collect();
    super::url::redact_text(lines.join(" ").trim())
}
