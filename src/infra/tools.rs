//! External tools (pg_dump, pg_restore, pgloader, mysqldump...): where they are and which
//! version, because pg_dump refuses servers newer than its own major version.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};

/// Generous: pgloader starts a Lisp image before it prints anything.
const VERSION_TIMEOUT: Duration = Duration::from_secs(30);

/// A tool found on PATH and the version it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolVersion {
    pub name: String,
    pub path: PathBuf,
    pub version: String,
    pub major: u32,
}

/// Finds `tool` on PATH and runs `tool --version`. `Ok(None)` when it is not installed.
pub async fn version(tool: &str) -> anyhow::Result<Option<ToolVersion>> {
    let Some(path) = find_on_path(tool) else {
        return Ok(None);
    };
    let shown = path.display();
    let run = tokio::process::Command::new(&path)
        .arg("--version")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(VERSION_TIMEOUT, run)
        .await
        .map_err(|_| anyhow!("`{shown} --version` did not finish within {VERSION_TIMEOUT:?}"))?
        .with_context(|| {
            format!("could not run `{shown} --version`; check that it is executable")
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!(
            "`{shown} --version` failed ({}): {}; check the installation of {tool}",
            output.status,
            first_line(&stderr).unwrap_or("it printed nothing on stderr")
        );
    }
    // Some tools print their version on stderr.
    let text = if stdout.trim().is_empty() {
        stderr
    } else {
        stdout
    };
    let (version, major) = parse_version(&text).with_context(|| {
        format!(
            "could not read a version from `{shown} --version`, which printed {:?}",
            first_line(&text).unwrap_or("")
        )
    })?;
    Ok(Some(ToolVersion {
        name: tool.to_string(),
        path,
        version,
        major,
    }))
}

/// [`version`], with a missing tool an error that says what to install.
pub async fn require(tool: &str) -> anyhow::Result<ToolVersion> {
    version(tool).await?.with_context(|| {
        format!(
            "{tool} is not installed on this host (not found on PATH); install the PostgreSQL \
             client tools (e.g. `apt-get install postgresql-client`) at least as new as the \
             servers involved"
        )
    })
}

/// The version and its major number from a tool's `--version` output.
///
/// MySQL-style client lines (`mysqldump  Ver 10.19 Distrib 10.11.19-MariaDB, for ...`) keep
/// their whole version text, and the major comes from the server distribution they belong to;
/// otherwise the first version-like word is the version (`pg_dump (PostgreSQL) 15.20 (Debian
/// ...)` gives `15.20`, `pgloader version "3.6.7~devel"` gives `3.6.7~devel`).
pub fn parse_version(output: &str) -> Option<(String, u32)> {
    output.lines().find_map(parse_line)
}

fn parse_line(line: &str) -> Option<(String, u32)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    if let Some(ver) = words.iter().position(|w| *w == "Ver")
        && let Some(distrib) = words.iter().position(|w| *w == "Distrib")
        && distrib > ver
    {
        let major = words.get(distrib + 1).and_then(|w| version_word(w))?.1;
        let start = line.find("Ver ")?;
        let text = line[start..].split(", for ").next().unwrap_or("").trim();
        return Some((text.to_string(), major));
    }
    // MariaDB 11 clients: `mariadb-dump from 11.4.2-MariaDB, client 10.19 for ...`.
    if let Some(from) = words.iter().position(|w| *w == "from")
        && let Some(found) = words.get(from + 1).and_then(|w| version_word(w))
    {
        return Some(found);
    }
    words.iter().find_map(|w| version_word(w))
}

/// `w` stripped of quotes, brackets and trailing commas, when it starts with a number.
fn version_word(w: &str) -> Option<(String, u32)> {
    let w = w.trim_matches(|c: char| matches!(c, '"' | '\'' | '(' | ')' | ',' | ';'));
    let digits: &str = &w[..w.find(|c: char| !c.is_ascii_digit()).unwrap_or(w.len())];
    if digits.is_empty() {
        return None;
    }
    let rest = &w[digits.len()..];
    // A bare number or a dotted version; not words like `64-bit`.
    if !(rest.is_empty() || rest.starts_with('.')) {
        return None;
    }
    Some((w.to_string(), digits.parse().ok()?))
}

fn first_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find(|l| !l.is_empty())
}

/// The executable `tool` as the shell would find it: a path when it has a `/`, else the first
/// match in PATH.
fn find_on_path(tool: &str) -> Option<PathBuf> {
    if tool.contains('/') {
        let path = PathBuf::from(tool);
        return is_executable(&path).then_some(path);
    }
    let path_var = std::env::var_os("PATH")?;
    std::env::split_paths(&path_var)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(tool))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Stderr of a tool kept for a message; the rest is read and dropped.
pub const STDERR_KEPT: usize = 64 * 1024;

/// Reads `from` to its end and returns its first [`STDERR_KEPT`] bytes, lossily decoded.
/// [`read_kept`], trimmed: a tool's stderr for a message.
pub async fn stderr_text(from: impl tokio::io::AsyncRead + Unpin) -> String {
    read_kept(from).await.trim().to_string()
}

pub async fn read_kept(from: impl tokio::io::AsyncRead + Unpin) -> String {
    read_kept_until(
        from,
        std::future::pending::<()>(),
        std::time::Duration::ZERO,
    )
    .await
}

/// [`read_kept`] of a stream whose writer may vanish without closing it: once `ended` has
/// resolved, a read that waits longer than `grace` ends the reading.
pub async fn read_kept_until(
    mut from: impl tokio::io::AsyncRead + Unpin,
    ended: impl std::future::Future,
    grace: std::time::Duration,
) -> String {
    use tokio::io::AsyncReadExt;
    let mut kept = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    tokio::pin!(ended);
    let mut over = false;
    loop {
        let read = if over {
            match tokio::time::timeout(grace, from.read(&mut buf)).await {
                Ok(read) => read,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                read = from.read(&mut buf) => read,
                _ = &mut ended => {
                    over = true;
                    continue;
                }
            }
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = STDERR_KEPT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> (String, u32) {
        parse_version(text).unwrap_or_else(|| panic!("no version in {text:?}"))
    }

    #[test]
    fn pg_dump_debian() {
        assert_eq!(
            parsed("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n"),
            ("15.20".to_string(), 15)
        );
    }

    #[test]
    fn pg_restore_plain() {
        assert_eq!(
            parsed("pg_restore (PostgreSQL) 16.4\n"),
            ("16.4".to_string(), 16)
        );
    }

    #[test]
    fn pgloader_takes_the_first_version() {
        let text = "pgloader version \"3.6.7~devel\"\ncompiled with SBCL 2.2.9.debian\n";
        assert_eq!(parsed(text), ("3.6.7~devel".to_string(), 3));
    }

    #[test]
    fn mysqldump_keeps_the_whole_version() {
        let text = "mysqldump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)\n";
        assert_eq!(
            parsed(text),
            ("Ver 10.19 Distrib 10.11.19-MariaDB".to_string(), 10)
        );
    }

    #[test]
    fn mysql8_and_mariadb11_clients() {
        assert_eq!(
            parsed("mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)"),
            ("8.0.36".to_string(), 8)
        );
        assert_eq!(
            parsed("mariadb-dump from 11.4.2-MariaDB, client 10.19 for debian-linux-gnu (x86_64)"),
            ("11.4.2-MariaDB".to_string(), 11)
        );
    }

    #[test]
    fn version_on_a_later_line_and_none_at_all() {
        assert_eq!(parsed("\nsome-tool\nv 2.1\n"), ("2.1".to_string(), 2));
        assert_eq!(parse_version("no digits here\n"), None);
        assert_eq!(parse_version(""), None);
        assert_eq!(parse_version("a 64-bit build"), None);
    }
}
