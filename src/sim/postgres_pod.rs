//! psql in a simulated Crunchy PostgreSQL instance pod, run in-process (`sim::program`): the two
//! commands `infra::pg_role` sends, with what they read on stdin. The role passwords live in a
//! [`PgRoles`] a test reads back.
//!
//! - `psql -X -q -v ON_ERROR_STOP=1 -d postgres` runs the statements on stdin as PostgreSQL
//!   would for the only one this server knows, `ALTER ROLE <role> WITH PASSWORD '<literal>';`
//!   (the literal's `''` is one quote); anything else is PostgreSQL's syntax error, a role other
//!   than `postgres` does not exist, an unterminated literal is refused, and psql, stopping at
//!   the first error, exits 3 as it does under `ON_ERROR_STOP`.
//! - The login check (`sh -c 'IFS= read -r PGPASSWORD && … psql … -h localhost -U postgres …'`)
//!   reads the first line of stdin as the password and answers `1` when it is the role's,
//!   else libpq's `password authentication failed` with exit code 2.
//!
//! Only pods of the namespace it was allowed in run it; elsewhere psql is not there.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;

use crate::infra::pg_role::{ADMIN_PSQL, LOGIN_CHECK};
use crate::sim::program::{Program, ProgramOutput};
use crate::sim::server::SimCluster;

/// The `postgres` role's password of each simulated instance, by its cluster's name; kept in a
/// file when opened on one (a kept sandbox's instances keep their passwords across a restart).
#[derive(Clone, Default)]
pub struct PgRoles(Arc<Mutex<Roles>>);

#[derive(Default)]
struct Roles {
    passwords: BTreeMap<String, String>,
    file: Option<std::path::PathBuf>,
}

impl PgRoles {
    /// Roles kept in `file`: what it holds, or none when it does not exist yet.
    pub fn open(file: &std::path::Path) -> anyhow::Result<PgRoles> {
        use anyhow::Context;
        let passwords = match std::fs::read(file) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!("{} is not the sandbox's PostgreSQL roles", file.display())
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
        };
        Ok(PgRoles(Arc::new(Mutex::new(Roles {
            passwords,
            file: Some(file.to_path_buf()),
        }))))
    }

    /// The password the role has now in instance `cluster`.
    pub fn password(&self, cluster: &str) -> Option<String> {
        self.0.lock().ok()?.passwords.get(cluster).cloned()
    }

    /// Sets it (the scene's starting password, as restored from A), in the file too.
    pub fn set(&self, cluster: &str, password: &str) {
        if let Ok(mut roles) = self.0.lock() {
            roles
                .passwords
                .insert(cluster.to_string(), password.to_string());
            if let Some(file) = &roles.file
                && let Ok(text) = serde_json::to_vec(&roles.passwords)
            {
                let _ = write_private(file, &text);
            }
        }
    }
}

/// Writes `file` readable by its owner only (it holds passwords).
fn write_private(file: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(file)?
        .write_all(bytes)
}

struct Admin {
    roles: PgRoles,
    instance: String,
    namespace: String,
}

struct Login {
    roles: PgRoles,
    instance: String,
    namespace: String,
}

/// Lets the pods `pod_prefix…` of `namespace` run psql on the instance `instance` of `roles`.
pub fn allow_psql(
    cluster: &SimCluster,
    namespace: &str,
    pod_prefix: &str,
    instance: &str,
    roles: &PgRoles,
) {
    cluster.allow_program(
        pod_prefix,
        ADMIN_PSQL,
        Arc::new(Admin {
            roles: roles.clone(),
            instance: instance.to_string(),
            namespace: namespace.to_string(),
        }),
    );
    cluster.allow_program(
        pod_prefix,
        LOGIN_CHECK,
        Arc::new(Login {
            roles: roles.clone(),
            instance: instance.to_string(),
            namespace: namespace.to_string(),
        }),
    );
}

fn not_here(program: &str) -> ProgramOutput {
    ProgramOutput::failed(
        format!("exec: \"{program}\": executable file not found in $PATH\n"),
        127,
    )
}

/// A statement understood: the role and its new password.
enum Parsed {
    AlterPassword { role: String, password: String },
}

/// PostgreSQL's error for a statement, as psql prints it (without the `LINE` echo).
fn syntax_error(near: &str) -> String {
    if near.is_empty() {
        "ERROR:  syntax error at end of input".into()
    } else {
        format!("ERROR:  syntax error at or near \"{near}\"")
    }
}

fn word(rest: &str) -> (&str, &str) {
    let rest = rest.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (&rest[..end], &rest[end..])
}

/// One statement (without its `;`).
fn parse(statement: &str) -> Result<Parsed, String> {
    let expect = |rest: &str, want: &str| -> Result<String, String> {
        let (w, after) = word(rest);
        if w.eq_ignore_ascii_case(want) {
            Ok(after.to_string())
        } else {
            Err(syntax_error(w))
        }
    };
    let rest = expect(statement, "ALTER")?;
    let rest = expect(&rest, "ROLE")?;
    let (role, rest) = word(&rest);
    if role.is_empty() {
        return Err(syntax_error(rest.trim_start().get(..1).unwrap_or("")));
    }
    let role = role.to_ascii_lowercase();
    let rest = expect(rest, "WITH")?;
    let rest = expect(&rest, "PASSWORD")?;
    let rest = rest.trim_start();
    let Some(body) = rest.strip_prefix('\'') else {
        return Err(syntax_error(word(rest).0));
    };
    let mut password = String::new();
    let mut chars = body.char_indices().peekable();
    let mut end = None;
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().map(|(_, n)| *n) == Some('\'') {
                chars.next();
                password.push('\'');
            } else {
                end = Some(i + 1);
                break;
            }
        } else {
            password.push(c);
        }
    }
    let Some(end) = end else {
        return Err("ERROR:  unterminated quoted string at or near \"'\"".into());
    };
    let trailing = body[end..].trim();
    if !trailing.is_empty() {
        return Err(syntax_error(word(trailing).0));
    }
    Ok(Parsed::AlterPassword { role, password })
}

/// The statements of a script: split at `;` outside quotes; the last one may be unterminated.
fn statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in script.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                current.push(c);
            }
            ';' if !quoted => {
                out.push(std::mem::take(&mut current));
            }
            _ => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

impl Program for Admin {
    fn run(&self, namespace: String, stdin: Vec<u8>) -> BoxFuture<'static, ProgramOutput> {
        let roles = self.roles.clone();
        let instance = self.instance.clone();
        let here = namespace == self.namespace;
        Box::pin(async move {
            if !here {
                return not_here("psql");
            }
            let Ok(script) = String::from_utf8(stdin) else {
                return ProgramOutput::failed(
                    "ERROR:  invalid byte sequence for encoding \"UTF8\"\n".into(),
                    3,
                );
            };
            for statement in statements(&script) {
                match parse(&statement) {
                    Ok(Parsed::AlterPassword { role, password }) => {
                        if role != "postgres" {
                            return ProgramOutput::failed(
                                format!("ERROR:  role \"{role}\" does not exist\n"),
                                3,
                            );
                        }
                        roles.set(&instance, &password);
                    }
                    Err(error) => {
                        return ProgramOutput::failed(format!("psql:<stdin>:1: {error}\n"), 3);
                    }
                }
            }
            ProgramOutput::default()
        })
    }
}

impl Program for Login {
    fn run(&self, namespace: String, stdin: Vec<u8>) -> BoxFuture<'static, ProgramOutput> {
        let roles = self.roles.clone();
        let instance = self.instance.clone();
        let here = namespace == self.namespace;
        Box::pin(async move {
            if !here {
                return not_here("sh");
            }
            let text = String::from_utf8_lossy(&stdin);
            let Some(line) = text
                .split_inclusive('\n')
                .next()
                .filter(|l| l.ends_with('\n'))
            else {
                // `read` fails at an end of input without a line: psql never runs.
                return ProgramOutput::failed(String::new(), 1);
            };
            let given = line.trim_end_matches('\n');
            if roles.password(&instance).as_deref() == Some(given) {
                ProgramOutput {
                    stdout: "1\n".into(),
                    stderr: String::new(),
                    code: 0,
                }
            } else {
                ProgramOutput::failed(
                    "psql: error: connection to server at \"localhost\" (::1), port 5432 \
                     failed: FATAL:  password authentication failed for user \"postgres\"\n"
                        .into(),
                    2,
                )
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_alter_role_password_is_understood() {
        let Ok(Parsed::AlterPassword { role, password }) =
            parse("ALTER ROLE postgres WITH PASSWORD 'it''s'")
        else {
            panic!("refused");
        };
        assert_eq!((role.as_str(), password.as_str()), ("postgres", "it's"));
        assert!(parse("ALTER ROLE postgres PASSWORD 'x'").is_err());
        assert!(parse("DROP ROLE postgres").is_err());
        assert!(parse("ALTER ROLE postgres WITH PASSWORD 'x").is_err());
        assert!(parse("ALTER ROLE postgres WITH PASSWORD 'x' junk").is_err());
        assert_eq!(statements("A 'x;y'; B;\n").len(), 2);
    }
}
