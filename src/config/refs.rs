//! What config values point at: secrets by reference (`env:`/`file:`), paths relative to the
//! config file, names Kubernetes accepts, durations, and words for a shell.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use crate::error::bad_input;
use crate::infra::url::redact;

/// A value that may be a secret: where to read it, never the value itself.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// `env:NAME`
    Env(String),
    /// `file:PATH` (relative to the config file's folder)
    File(PathBuf),
    /// A value written in the config; only accepted when it holds no password.
    Inline(String),
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "env:{name}"),
            SecretRef::File(path) => write!(f, "file:{}", path.display()),
            SecretRef::Inline(value) => f.write_str(&redact(value)),
        }
    }
}

impl SecretRef {
    pub(super) fn parse(key: &str, raw: &str, base: &Path) -> Result<SecretRef> {
        if let Some(name) = raw.strip_prefix("env:") {
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                return Err(bad_input(format!(
                    "{key}: `env:{name}` is not a valid environment variable name"
                )));
            }
            return Ok(SecretRef::Env(name.to_string()));
        }
        if let Some(path) = raw.strip_prefix("file:") {
            if path.is_empty() {
                return Err(bad_input(format!("{key}: `file:` needs a path")));
            }
            return Ok(SecretRef::File(resolve_path(base, path)));
        }
        if redact(raw) != raw {
            return Err(bad_input(format!(
                "{key} holds a password inline; put the URL in an environment variable \
                 (`{key} = \"env:NAME\"`) or in a file readable only by you \
                 (`{key} = \"file:PATH\"`)"
            )));
        }
        Ok(SecretRef::Inline(raw.to_string()))
    }

    /// Reads the value. A missing variable or unreadable file is bad input that names it.
    /// See `Store::url_value` for a store's URL, which is also checked.
    pub fn resolve(&self, key: &str) -> Result<String> {
        match self {
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
                Ok(_) => Err(bad_input(format!(
                    "{key}: environment variable {name} is empty; export it before running cutover"
                ))),
                Err(_) => Err(bad_input(format!(
                    "{key}: environment variable {name} is not set; export it before running \
                     cutover"
                ))),
            },
            SecretRef::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    bad_input(format!(
                        "{key}: cannot read {}: {e}; check the path and that this user may read it",
                        path.display()
                    ))
                })?;
                let value = text.trim();
                if value.is_empty() {
                    return Err(bad_input(format!("{key}: {} is empty", path.display())));
                }
                Ok(value.to_string())
            }
            SecretRef::Inline(v) => Ok(v.clone()),
        }
    }
}

/// A value that is a secret whatever it looks like (a key, a password): `env:NAME` or
/// `file:PATH` only, so it is never written in the config.
pub(super) fn secret_reference(key: &str, raw: &str, base: &Path) -> Result<SecretRef> {
    if !(raw.starts_with("env:") || raw.starts_with("file:")) {
        return Err(bad_input(format!(
            "{key} must be a reference, never the value: `env:NAME` (an environment variable) \
             or `file:PATH` (a file readable only by you)"
        )));
    }
    SecretRef::parse(key, raw, base)
}

pub(super) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// `~/x` from $HOME; relative paths from the config file's folder.
pub(super) fn resolve_path(base: &Path, raw: &str) -> PathBuf {
    if let Some(rest) = raw.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    let p = PathBuf::from(raw);
    if p.is_absolute() { p } else { base.join(p) }
}

/// Quotes a word for a POSIX shell when it needs quoting.
pub(super) fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `90s`, `15m`, `1h30m`, `2h` or plain seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total = 0u64;
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().ok()?;
        number.clear();
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    if !number.is_empty() || s.is_empty() {
        return None;
    }
    Some(Duration::from_secs(total))
}

/// Formats a duration the way `parse_duration` reads it.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, 0) => format!("{h}h{m}m"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("15x"), None);
        assert_eq!(parse_duration("15"), Some(Duration::from_secs(15)));
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("5m3"), None);
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("/a/b.conf"), "/a/b.conf");
        assert_eq!(shell_word("my dir/it's"), r"'my dir/it'\''s'");
    }

    #[test]
    fn names() {
        assert!(is_dns_label("abc-02"));
        assert!(!is_dns_label("Abc") && !is_dns_label("-a") && !is_dns_label(""));
    }
}
