//! Where a data store is, from the URL in its secret: inside the source namespace (a service of
//! it) or outside, with its scheme, host, port and database. The URL is redacted before it is
//! parsed, so no part of a password reaches the result.

use super::record::{Location, StoreLocation, Workload};
use crate::infra::url::{self, redact};

/// The parts of a store URL that say where it is; no credentials.
#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    scheme: String,
    host: String,
    port: Option<u16>,
    database: Option<String>,
}

/// Parses `url` after redacting it, dropping the user info, so that no part of a
/// password can reach the result even when the URL is malformed.
fn parse_url(url: &str) -> Option<Parsed> {
    let redacted = redact(url.trim());
    let p = url::parts(&redacted)?;
    let scheme = p.scheme.to_ascii_lowercase();
    if p.host.is_empty() {
        return None;
    }
    let port = match p.port {
        Some(port) => Some(port.parse::<u16>().ok()?),
        None => default_port(&scheme),
    };
    let is_redis = scheme == "redis" || scheme == "rediss";
    Some(Parsed {
        port,
        database: p
            .database()
            .map(str::to_string)
            .or_else(|| is_redis.then(|| "0".to_string())),
        scheme,
        host: p.host.to_ascii_lowercase(),
    })
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "redis" | "rediss" => Some(6379),
        "postgresql" | "postgres" => Some(5432),
        "mysql" | "mysql2" => Some(3306),
        "oracle-enhanced" | "oracle" => Some(1521),
        _ => None,
    }
}

/// The service a host names in namespace `ns`: a name without a dot (resolved in the
/// pod's own namespace), or `<svc>.<ns>[.svc[.cluster.local]]`.
fn service_in_namespace<'a>(host: &'a str, ns: &str) -> Option<&'a str> {
    let host = host.trim_end_matches('.');
    if host.is_empty() || host == "localhost" || host.contains(':') {
        return None;
    }
    match host.split_once('.') {
        None => Some(host),
        Some((name, domain)) => {
            let local = [
                ns.to_string(),
                format!("{ns}.svc"),
                format!("{ns}.svc.cluster.local"),
            ];
            local.iter().any(|d| d == domain).then_some(name)
        }
    }
}

pub(super) fn locate(
    secret: &str,
    key: &str,
    url: &str,
    ns: &str,
    workloads: &[Workload],
) -> StoreLocation {
    let Some(p) = parse_url(url) else {
        return StoreLocation {
            secret: secret.to_string(),
            key: key.to_string(),
            location: Location::Unknown,
            scheme: None,
            host: None,
            port: None,
            database: None,
            workload: None,
            sentinel: false,
        };
    };
    let service = service_in_namespace(&p.host, ns);
    StoreLocation {
        secret: secret.to_string(),
        key: key.to_string(),
        location: if service.is_some() {
            Location::Internal
        } else {
            Location::External
        },
        workload: service
            .filter(|s| workloads.iter().any(|w| w.name == *s))
            .map(str::to_string),
        scheme: Some(p.scheme),
        host: Some(p.host),
        port: p.port,
        database: p.database,
        sentinel: false,
    }
}

/// The key that lists the Sentinel hosts of a Redis store (the operator's `*_SENTINEL_HOSTS` keys).
pub(super) fn sentinel_key(secret: &str, key: &str) -> Option<&'static str> {
    match (secret, key) {
        ("backend-redis", "REDIS_STORAGE_URL") => Some("REDIS_STORAGE_SENTINEL_HOSTS"),
        ("backend-redis", "REDIS_QUEUES_URL") => Some("REDIS_QUEUES_SENTINEL_HOSTS"),
        ("system-redis", "URL") => Some("SENTINEL_HOSTS"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> Option<Parsed> {
        parse_url(url)
    }

    #[test]
    fn internal_postgresql_url_without_credentials() {
        let p = parsed("postgresql://system:s3cr3t@system-postgresql:5432/system").expect("url");
        assert_eq!(
            p,
            Parsed {
                scheme: "postgresql".into(),
                host: "system-postgresql".into(),
                port: Some(5432),
                database: Some("system".into()),
            }
        );
    }

    #[test]
    fn redis_defaults_and_password_only_user_info() {
        let p = parsed("redis://:pw@backend-redis/1").expect("url");
        assert_eq!(p.host, "backend-redis");
        assert_eq!(p.port, Some(6379));
        assert_eq!(p.database.as_deref(), Some("1"));
        let p = parsed("rediss://cache.example.com:6380").expect("url");
        assert_eq!(p.database.as_deref(), Some("0"));
        assert_eq!(p.port, Some(6380));
    }

    #[test]
    fn passwords_with_url_characters_never_reach_the_parts() {
        for url in [
            "mysql2://root:p@ss/w?rd#x@system-mysql:3306/system",
            "postgresql://u:se/cr?et@db.example.com/zync_production?sslmode=require",
            "redis://user:p@ss:word@host:6379/0",
        ] {
            let p = parsed(url).expect("url");
            let all = format!("{} {} {:?} {:?}", p.scheme, p.host, p.port, p.database);
            for secret in ["p@ss", "w?rd", "se/cr", "ss:word", "root", "user"] {
                assert!(!all.contains(secret), "{url}: {all}");
            }
        }
        let p = parsed("mysql2://root:p@ss/w?rd#x@system-mysql:3306/system").expect("url");
        assert_eq!(
            (p.host.as_str(), p.database.as_deref()),
            ("system-mysql", Some("system"))
        );
    }

    #[test]
    fn ipv6_and_bad_ports() {
        let p = parsed("redis://[::1]:7000/2").expect("url");
        assert_eq!((p.host.as_str(), p.port), ("::1", Some(7000)));
        assert!(parsed("redis://host:port/0").is_none());
        assert!(parsed("host=x dbname=y password=z").is_none());
        assert!(parsed("not a url").is_none());
    }

    #[test]
    fn hosts_of_the_namespace_are_internal() {
        assert_eq!(
            service_in_namespace("system-postgresql", "3scale"),
            Some("system-postgresql")
        );
        assert_eq!(
            service_in_namespace("backend-redis.3scale.svc.cluster.local", "3scale"),
            Some("backend-redis")
        );
        assert_eq!(
            service_in_namespace("backend-redis.3scale.svc", "3scale"),
            Some("backend-redis")
        );
        assert_eq!(
            service_in_namespace("backend-redis.other.svc", "3scale"),
            None
        );
        assert_eq!(service_in_namespace("db.example.com", "3scale"), None);
        assert_eq!(service_in_namespace("localhost", "3scale"), None);
        assert_eq!(service_in_namespace("10.0.0.7", "3scale"), None);
        assert_eq!(service_in_namespace("::1", "3scale"), None);
    }
}
