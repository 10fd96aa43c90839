//! Keycloak's directory export (`kc.sh export --dir`) as cutover takes it out of a Keycloak pod:
//! the command run there, the names of the files Keycloak writes, and the reading of what the
//! command prints.
//!
//! Keycloak's directory provider writes one `<realm>-realm.json` per realm (a
//! `RealmRepresentation` without its users) and, with `--users different_files` (the default),
//! the users in `<realm>-users-<N>.json` (`{"realm": …, "users": […]}`, N from 0, at most
//! `--users-per-file` users each, 50 by default, no file for a realm without users). Keycloak's
//! images since 20 have no `tar` (so no `kubectl cp`), but they have bash and coreutils: the one
//! command exports into a fresh folder under /tmp, prints every file as a header line
//! `<bytes> <name>` followed by its bytes, and removes the folder whatever happens, so no
//! credential stays in the pod.

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// Where the export is written in the pod, and removed from.
pub const EXPORT_DIR: &str = "/tmp/cutover-keycloak-export";
/// Keycloak's launcher in its image (Quarkus distribution, 17 and later).
pub const KC_SH: &str = "/opt/keycloak/bin/kc.sh";
/// Users per file, Keycloak's default.
pub const USERS_PER_FILE: usize = 50;

/// The script run by `bash -c` in the Keycloak pod. kc.sh's log goes to stderr, so stdout holds
/// the files only.
pub fn export_script() -> String {
    format!(
        "set -eu; d={EXPORT_DIR}; rm -rf \"$d\"; trap 'rm -rf \"$d\"' EXIT; \
         {KC_SH} export --dir \"$d\" --users different_files --users-per-file {USERS_PER_FILE} >&2; \
         cd \"$d\"; for f in *.json; do printf '%s %s\\n' \"$(wc -c < \"$f\")\" \"$f\"; \
         cat \"$f\"; done"
    )
}

/// The command, as exec runs it.
pub fn export_command() -> Vec<String> {
    vec!["bash".into(), "-c".into(), export_script()]
}

/// `<realm>-realm.json`.
pub fn realm_file(realm: &str) -> String {
    format!("{realm}-realm.json")
}

/// `<realm>-users-<n>.json`.
pub fn users_file(realm: &str, n: usize) -> String {
    format!("{realm}-users-{n}.json")
}

/// Which realm a file of the export belongs to, and whether it holds users (with its number).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportFile {
    Realm(String),
    Users(String, usize),
    /// Anything else (`<realm>-federated-users-N.json`...), named.
    Other(String),
}

impl ExportFile {
    pub fn of(name: &str) -> ExportFile {
        if let Some(realm) = name.strip_suffix("-realm.json") {
            return ExportFile::Realm(realm.to_string());
        }
        if let Some(stem) = name.strip_suffix(".json")
            && let Some((realm, n)) = stem.rsplit_once("-users-")
            && !realm.ends_with("-federated")
            && let Ok(n) = n.parse()
        {
            return ExportFile::Users(realm.to_string(), n);
        }
        ExportFile::Other(name.to_string())
    }

    pub fn realm(&self) -> Option<&str> {
        match self {
            ExportFile::Realm(r) | ExportFile::Users(r, _) => Some(r),
            ExportFile::Other(_) => None,
        }
    }
}

/// The next file of the command's output: its name and bytes; None at the end. A header that
/// is not `<bytes> <name>`, or a file cut short, is an error saying so.
pub async fn next_file<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: u64,
) -> Result<Option<(String, Vec<u8>)>> {
    let mut header = String::new();
    let n = reader
        .read_line(&mut header)
        .await
        .context("reading the export")?;
    if n == 0 {
        return Ok(None);
    }
    let header = header.trim_end_matches('\n');
    let (size, name) = header
        .trim_start()
        .split_once(' ')
        .and_then(|(size, name)| Some((size.parse::<u64>().ok()?, name)))
        .with_context(|| {
            format!(
                "the export's output is not what the export command prints (a line `<bytes> \
                 <file>` was expected, got {:?}); did kc.sh print to stdout?",
                header.chars().take(80).collect::<String>()
            )
        })?;
    if name.is_empty() || name.contains('/') {
        bail!("the export names a file {name:?}, which is not a file of its folder");
    }
    if size > max {
        bail!("the export's file {name} has {size} bytes, more than {max}");
    }
    let mut bytes = Vec::with_capacity(size as usize);
    reader
        .take(size)
        .read_to_end(&mut bytes)
        .await
        .with_context(|| format!("reading {name} of the export"))?;
    if bytes.len() as u64 != size {
        bail!(
            "the export's file {name} is cut short ({} of {size} bytes); the exec broke off, \
             export again",
            bytes.len()
        );
    }
    Ok(Some((name.to_string(), bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_read_as_keycloak_writes_them() {
        assert_eq!(
            ExportFile::of("reg-officer-portal-realm.json"),
            ExportFile::Realm("reg-officer-portal".into())
        );
        assert_eq!(
            ExportFile::of("reg-users-portal-users-12.json"),
            ExportFile::Users("reg-users-portal".into(), 12)
        );
        assert!(matches!(
            ExportFile::of("reg-federated-users-0.json"),
            ExportFile::Other(_)
        ));
        assert_eq!(realm_file("a"), "a-realm.json");
        assert_eq!(users_file("a", 3), "a-users-3.json");
    }

    #[tokio::test]
    async fn frames_are_read_and_a_cut_is_found() {
        let stream = b"3 a-realm.json\n{}\n 2 b-realm.json\n{}".to_vec();
        let mut reader = tokio::io::BufReader::new(&stream[..]);
        let first = next_file(&mut reader, 100).await.unwrap().unwrap();
        assert_eq!(first, ("a-realm.json".into(), b"{}\n".to_vec()));
        let second = next_file(&mut reader, 100).await.unwrap().unwrap();
        assert_eq!(second.0, "b-realm.json");
        assert!(next_file(&mut reader, 100).await.unwrap().is_none());
        let cut = b"10 a-realm.json\n{}".to_vec();
        let mut reader = tokio::io::BufReader::new(&cut[..]);
        assert!(next_file(&mut reader, 100).await.is_err());
        let noise = b"INFO starting\n".to_vec();
        let mut reader = tokio::io::BufReader::new(&noise[..]);
        assert!(next_file(&mut reader, 100).await.is_err());
    }
}
