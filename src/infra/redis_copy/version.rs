//! Which RDB versions each side writes and reads: a DUMP payload carries the version of the
//! server that wrote it, and RESTORE refuses newer ones. Also what `INFO server` says a server
//! can do (`PXAT`, `ABSTTL`) and its run id.

use anyhow::{Context, Result};

/// The RDB version a Redis release writes in its DUMP payloads (and the newest its RESTORE
/// reads), from `INFO server`'s `redis_version` and, for Valkey, `valkey_version`. None when
/// the version cannot be read.
pub fn rdb_version_of_server(redis_version: &str, valkey_version: Option<&str>) -> Option<u16> {
    if let Some(v) = valkey_version
        && let Some((major, _)) = major_minor(v)
        && major >= 9
    {
        return Some(80);
    }
    let (major, minor) = major_minor(redis_version)?;
    Some(match (major, minor) {
        (0..=2, _) => 6,
        (3, 0..=1) => 6,
        (3, _) => 7,
        (4, _) => 8,
        (5..=6, _) => 9,
        (7, 0..=1) => 10,
        (7, 2..=3) => 11,
        _ => 12,
    })
}

fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    Some((major, minor))
}

/// The RDB version written in a DUMP payload: the two little-endian bytes before the 8-byte
/// CRC64 that ends it. None when the payload is too short to be one.
pub fn payload_rdb_version(payload: &[u8]) -> Option<u16> {
    let n = payload.len();
    if n < 11 {
        return None;
    }
    Some(u16::from_le_bytes([payload[n - 10], payload[n - 9]]))
}

/// Why a target whose RESTORE reads up to `target_rdb` cannot take `payload`; None when it can.
pub fn payload_refusal(payload: &[u8], target_rdb: u16) -> Option<String> {
    match payload_rdb_version(payload) {
        None => Some(format!(
            "the source returned a DUMP payload of {} bytes, too short to carry an RDB version",
            payload.len()
        )),
        Some(v) if v > target_rdb => Some(format!(
            "the source writes DUMP payloads in RDB version {v}; the target reads up to RDB \
             version {target_rdb}, so RESTORE would refuse them"
        )),
        Some(_) => None,
    }
}

/// What copy and compare need to know about one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerInfo {
    /// `redis_version` (or `valkey_version` when there is one).
    pub version: String,
    /// RDB version of its DUMP payloads, the newest its RESTORE reads; None when unknown.
    pub rdb_version: Option<u16>,
    /// Its RESTORE takes ABSTTL (Redis 5 and later).
    pub abs_ttl: bool,
    /// Its SET takes PXAT (Redis 6.2 and later).
    pub set_pxat: bool,
    /// Changes whenever the server restarts.
    pub run_id: String,
}

/// Reads [`ServerInfo`] from the text of `INFO server`.
pub fn parse_server_info(text: &str) -> Result<ServerInfo> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
            .map(str::to_string)
    };
    let redis_version = field("redis_version").context("INFO server has no redis_version")?;
    let valkey_version = field("valkey_version");
    let rdb_version = rdb_version_of_server(&redis_version, valkey_version.as_deref());
    let abs_ttl = major_minor(&redis_version).is_some_and(|(major, _)| major >= 5);
    let set_pxat = major_minor(&redis_version).is_some_and(|v| v >= (6, 2));
    Ok(ServerInfo {
        version: valkey_version
            .map(|v| format!("valkey {v}"))
            .unwrap_or_else(|| redis_version.clone()),
        rdb_version,
        abs_ttl,
        set_pxat,
        run_id: field("run_id").unwrap_or_default(),
    })
}

/// Why RESTORE cannot carry keys from `source` to `target`; None when it can (or when a version
/// is unknown, and the payloads themselves are checked as they come).
pub fn version_refusal(source: &ServerInfo, target: &ServerInfo) -> Option<String> {
    let (Some(s), Some(t)) = (source.rdb_version, target.rdb_version) else {
        return None;
    };
    (s > t).then(|| {
        format!(
            "the source (Redis {}) writes DUMP payloads in RDB version {s}, newer than the \
             target (Redis {}) reads (RDB version {t}), so RESTORE would refuse every key; copy \
             key by key with the type commands instead (--per-type: slower, and streams lose \
             their pending-entry lists), or use a target of the source's version or newer",
            source.version, target.version
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(rdb: u16) -> Vec<u8> {
        // Type 0 (string), RDB length-prefixed "hi", then version and a CRC.
        let mut p = vec![0u8, 2, b'h', b'i'];
        p.extend_from_slice(&rdb.to_le_bytes());
        p.extend_from_slice(&[0xAB; 8]);
        p
    }

    #[test]
    fn reads_the_rdb_version_from_the_footer() {
        assert_eq!(payload_rdb_version(&payload(10)), Some(10));
        assert_eq!(payload_rdb_version(&payload(12)), Some(12));
        assert_eq!(payload_rdb_version(&payload(80)), Some(80));
        assert_eq!(payload_rdb_version(&[0u8; 10]), None);
        assert_eq!(payload_rdb_version(&[]), None);
    }

    #[test]
    fn refuses_payloads_newer_than_the_target() {
        assert_eq!(payload_refusal(&payload(10), 10), None);
        assert_eq!(payload_refusal(&payload(9), 10), None);
        let reason = payload_refusal(&payload(11), 10).unwrap_or_default();
        assert!(reason.contains("RDB version 11"), "{reason}");
        assert!(reason.contains("up to RDB version 10"), "{reason}");
        assert!(payload_refusal(&[1, 2, 3], 10).is_some());
    }

    #[test]
    fn maps_server_versions_to_rdb_versions() {
        for (v, rdb) in [
            ("2.8.24", 6),
            ("3.0.7", 6),
            ("3.2.12", 7),
            ("4.0.14", 8),
            ("5.0.14", 9),
            ("6.2.14", 9),
            ("7.0.15", 10),
            ("7.2.4", 11),
            ("7.4.1", 12),
            ("8.0.2", 12),
        ] {
            assert_eq!(rdb_version_of_server(v, None), Some(rdb), "{v}");
        }
        assert_eq!(rdb_version_of_server("7.2.4", Some("9.0.0")), Some(80));
        assert_eq!(rdb_version_of_server("7.2.4", Some("8.0.1")), Some(11));
        assert_eq!(rdb_version_of_server("unknown", None), None);
    }

    fn info(version: &str) -> ServerInfo {
        parse_server_info(&format!(
            "# Server\r\nredis_version:{version}\r\nrun_id:abc\r\n"
        ))
        .unwrap_or_else(|e| panic!("{e:#}"))
    }

    #[test]
    fn refuses_a_source_newer_than_the_target() {
        let reason = version_refusal(&info("7.2.4"), &info("7.0.15")).unwrap_or_default();
        assert!(reason.contains("RDB version 11"), "{reason}");
        assert!(reason.contains("--per-type"), "{reason}");
        assert_eq!(version_refusal(&info("7.0.15"), &info("7.2.4")), None);
        assert_eq!(version_refusal(&info("7.0.15"), &info("7.0.11")), None);
        assert!(!info("4.0.14").abs_ttl);
        assert!(info("5.0.0").abs_ttl);
        assert!(!info("6.0.16").set_pxat);
        assert!(info("6.2.0").set_pxat);
        assert!(info("7.0.15").set_pxat);
        assert_eq!(info("6.2.0").run_id, "abc");
    }
}
