//! Names of databases and folders that no other caller, process or earlier run uses.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A name no other caller, process or earlier run uses: pid and counter separate the names of
/// this process, the clock separates runs whose leftovers a killed process could not remove.
/// Made of `prefix`, digits, hex digits and underscores; the clock part has a fixed width, so
/// that no name is a prefix of another (the watchdogs find processes by their folder's name).
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{n}_{nanos:08x}", std::process::id())
}

/// `name` made of `prefix` (letters, digits, underscores, starting with a letter) and a unique
/// suffix, short enough for a database name (`max` bytes).
pub(super) fn database_name(prefix: &str, max: usize) -> anyhow::Result<String> {
    let valid = prefix.starts_with(|c: char| c.is_ascii_alphabetic())
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        anyhow::bail!(
            "database name prefix {prefix:?} must start with a letter and hold only letters, \
             digits and underscores"
        );
    }
    let name = unique_name(prefix);
    if name.len() > max {
        anyhow::bail!(
            "database name prefix {prefix:?} is too long: with its unique suffix ({name}) it \
             exceeds the server's {max} bytes"
        );
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_checked() {
        assert!(database_name("cutover_test", 63).is_ok());
        assert!(database_name("x\"; DROP", 63).is_err());
        assert!(database_name("1abc", 63).is_err());
        assert!(database_name(&"a".repeat(60), 63).is_err());
    }
}
