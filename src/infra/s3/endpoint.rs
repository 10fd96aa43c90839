//! Where an object storage answers and who we are there.

use std::fmt;
use std::path::PathBuf;

use super::error::S3Error;

/// The region a storage that has none (MinIO's default) signs with.
pub const DEFAULT_REGION: &str = "us-east-1";

/// An S3 endpoint and its credentials. `Debug` never shows the secret key.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Endpoint {
    /// `http(s)://host:port`, the storage's address (path-style requests: the bucket is the
    /// first segment of the path, as MinIO serves them).
    pub url: String,
    /// The region requests are signed for; empty means `us-east-1`.
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    /// A CA (PEM) to trust besides the system's, for a storage with a private certificate.
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for S3Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Endpoint")
            .field("url", &self.url)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("secret_key", &"***")
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl S3Endpoint {
    /// The region to sign for.
    pub fn region(&self) -> &str {
        if self.region.trim().is_empty() {
            DEFAULT_REGION
        } else {
            self.region.trim()
        }
    }

    /// The URL, checked: http or https, a host, no credentials, query or fragment.
    pub(super) fn parsed(&self) -> Result<url::Url, S3Error> {
        let bad = |why: &str| {
            S3Error::Config(format!(
                "the object storage endpoint `{}` {why}; give it as http(s)://host:port",
                crate::infra::url::redact(&self.url)
            ))
        };
        let url =
            url::Url::parse(self.url.trim()).map_err(|e| bad(&format!("is not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("is neither http nor https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("holds credentials (give the keys apart)"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("has a query or a fragment"));
        }
        if self.access_key.trim().is_empty() {
            return Err(S3Error::Config(format!(
                "no access key given for the object storage at {}",
                authority(&url)
            )));
        }
        if self.secret_key.is_empty() {
            return Err(S3Error::Config(format!(
                "no secret key given for access key `{}` at {}",
                self.access_key,
                authority(&url)
            )));
        }
        Ok(url)
    }
}

/// `host:port` of a URL, the port the scheme's default when none is written.
pub(super) fn authority(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// S3's bucket naming rules (the ones every implementation shares): 3 to 63 characters of
/// lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit.
pub(super) fn check_bucket_name(name: &str) -> Result<(), S3Error> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if (3..=63).contains(&name.len())
        && name.chars().all(ok_char)
        && edge(name.chars().next())
        && edge(name.chars().last())
        && !name.contains("..")
    {
        Ok(())
    } else {
        Err(S3Error::Config(format!(
            "`{name}` is not a bucket name: 3 to 63 lowercase letters, digits, dots and \
             hyphens, starting and ending with a letter or a digit"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(url: &str) -> S3Endpoint {
        S3Endpoint {
            url: url.into(),
            region: String::new(),
            access_key: "minio".into(),
            secret_key: "s3cr3t-value".into(),
            ca_file: None,
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let shown = format!("{:?}", endpoint("http://127.0.0.1:9000"));
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.contains("minio"), "{shown}");
    }

    #[test]
    fn endpoints_are_checked() {
        assert!(endpoint("http://127.0.0.1:9000").parsed().is_ok());
        assert_eq!(
            authority(&endpoint("https://minio.example.com").parsed().unwrap()),
            "minio.example.com:443"
        );
        for bad in [
            "ftp://h",
            "127.0.0.1:9000",
            "http://u:p@h:1",
            "http://h:1/?x=1",
        ] {
            let e = endpoint(bad).parsed().expect_err(bad).to_string();
            assert!(!e.contains(":p@"), "{e}");
        }
        assert_eq!(endpoint("http://h").region(), "us-east-1");
    }

    #[test]
    fn bucket_names_follow_s3s_rules() {
        for good in ["registry-backups", "abc", "a.b-c1"] {
            assert!(check_bucket_name(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "Registry",
            "-abc",
            "abc-",
            "a..b",
            "a_b",
            &"a".repeat(64),
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }
}
