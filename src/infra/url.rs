//! Connection strings carry passwords. Anything shown to an operator (errors, logs, the journal,
//! the report) goes through [`redact`] first, and errors from client libraries go through
//! [`scrub_error`], because some of them echo the string they were given.

use std::ops::Range;

const MASK: &str = "***";

/// `url` with every password replaced by `***`.
///
/// Handles URLs (`redis://user:pw@h:1/0`, `rediss://:pw@h`, `postgresql://u:pw@h/db`,
/// `mysql://u:pw@h/db`, also `?password=` in the query) and libpq key=value strings
/// (`host=x password=secret dbname=y`). A string with no password comes back unchanged.
pub fn redact(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut at = 0;
    for span in secret_spans(url) {
        out.push_str(&url[at..span.start]);
        out.push_str(MASK);
        at = span.end;
    }
    out.push_str(&url[at..]);
    out
}

/// `text` with `url` redacted and every password of `url` masked, raw or percent-decoded.
pub fn scrub(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &redact(url));
    for secret in secrets(url) {
        out = out.replace(&secret, MASK);
    }
    out
}

/// `text` with every word that may be a URL or a `key=value` connection string passed through
/// [`redact`]: the one redaction of free text (logs, summaries, notices, figures, journal lines
/// shown to a watcher), so a password in a URL never reaches a screen or a report even when a
/// line that should not have held one did. Whitespace is kept as it was so lines still align.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word_start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if let Some(start) = word_start.take() {
                out.push_str(&redact_word(&text[start..i]));
            }
            out.push(c);
        } else if word_start.is_none() {
            word_start = Some(i);
        }
    }
    if let Some(start) = word_start {
        out.push_str(&redact_word(&text[start..]));
    }
    out
}

fn redact_word(word: &str) -> String {
    // A shell assignment from a variable or a command (`PASSWORD=$(aws ...)`, as the
    // manual procedures write them) shows a reference, never the secret itself.
    let shell_reference = !word.contains("://")
        && word
            .split_once('=')
            .is_some_and(|(_, value)| value.trim_start_matches(['"', '\'']).starts_with('$'));
    // `redact` reads a whole string as one URL or conninfo; giving it one word at a
    // time keeps a second URL on the same line from escaping it.
    if !shell_reference && (word.contains("://") || word.contains('=') || word.contains('@')) {
        redact(word)
    } else {
        word.to_string()
    }
}

/// The parts of a `scheme://[userinfo@]host[:port][/path][?query][#fragment]` URL, borrowed
/// from it. This is the one place cutover splits a URL by hand; client libraries parse the
/// URLs they connect with themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parts<'a> {
    pub scheme: &'a str,
    /// `user[:password]`: up to the last `@`, even past a `/`, `?` or `#` it holds unencoded
    /// (the rule [`redact`] masks by).
    pub userinfo: Option<&'a str>,
    /// The host; an IPv6 address without its brackets.
    pub host: &'a str,
    pub port: Option<&'a str>,
    /// From the `/` after the authority up to `?` or `#`; empty when there is none.
    pub path: &'a str,
    /// After `?`, up to `#`.
    pub query: Option<&'a str>,
    /// Everything after the authority: path, query and fragment, as written.
    pub tail: &'a str,
}

impl Parts<'_> {
    /// The database a URL's path names (`/name`), if any.
    pub fn database(&self) -> Option<&str> {
        self.path.strip_prefix('/').filter(|d| !d.is_empty())
    }

    /// The user of `userinfo`, without its password.
    pub fn user(&self) -> Option<&str> {
        self.userinfo.map(|u| u.split(':').next().unwrap_or(""))
    }
}

/// `url` split into its parts; None for a string that is not `scheme://host...`.
pub fn parts(url: &str) -> Option<Parts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme_ok = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return None;
    }
    // The user info ends at the last '@': one past the first '/', '?' or '#' means those
    // characters stand unencoded in the user info (the rule `redact` masks by).
    let (userinfo, rest) = match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let before_fragment = tail.split('#').next().unwrap_or("");
    let (path, query) = match before_fragment.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (before_fragment, None),
    };
    Some(Parts {
        scheme,
        userinfo,
        host,
        port: port.filter(|p| !p.is_empty()),
        path,
        query,
        tail,
    })
}

/// `url` with its host and port replaced by `host:port`; user, password, path and query kept.
/// None for a string that is not a URL.
pub fn with_host_port(url: &str, host: &str, port: u16) -> Option<String> {
    let p = parts(url)?;
    let userinfo = p.userinfo.map(|u| format!("{u}@")).unwrap_or_default();
    Some(format!("{}://{userinfo}{host}:{port}{}", p.scheme, p.tail))
}

/// `url` pointing at database `name`: the path replaced, the query kept. A libpq `key=value`
/// string gets a `dbname` (libpq takes the last value of a repeated key).
pub fn with_database(url: &str, name: &str) -> String {
    let Some(p) = parts(url) else {
        return format!("{url} dbname={name}");
    };
    let userinfo = p.userinfo.map(|u| format!("{u}@")).unwrap_or_default();
    let port = p.port.map(|port| format!(":{port}")).unwrap_or_default();
    let host = if p.host.contains(':') {
        format!("[{}]", p.host)
    } else {
        p.host.to_string()
    };
    let query = p.query.map(|q| format!("?{q}")).unwrap_or_default();
    format!("{}://{userinfo}{host}{port}/{name}{query}", p.scheme)
}

/// `url` without its password: the user kept, `password=` dropped from the query; a libpq
/// `key=value` string without its `password` setting.
pub fn without_password(url: &str) -> String {
    let Some(p) = parts(url) else {
        return conninfo_without_password(url);
    };
    let user = p.user().map(|u| format!("{u}@")).unwrap_or_default();
    let port = p.port.map(|port| format!(":{port}")).unwrap_or_default();
    let host = if p.host.contains(':') {
        format!("[{}]", p.host)
    } else {
        p.host.to_string()
    };
    let query = p
        .query
        .map(|q| {
            q.split('&')
                .filter(|kv| !kv.starts_with("password="))
                .collect::<Vec<_>>()
                .join("&")
        })
        .filter(|q| !q.is_empty())
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    format!("{}://{user}{host}{port}{}{query}", p.scheme, p.path)
}

/// A libpq `key=value` string without its `password` setting (values may be single-quoted,
/// with backslash escapes).
fn conninfo_without_password(conninfo: &str) -> String {
    let mut kept = Vec::new();
    let mut chars = conninfo.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        let mut end = start + c.len_utf8();
        let mut quoted = c == '\'';
        let mut escaped = false;
        while let Some(&(i, c)) = chars.peek() {
            if !quoted && !escaped && c.is_whitespace() {
                break;
            }
            chars.next();
            end = i + c.len_utf8();
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '\'' {
                quoted = !quoted;
            }
        }
        let token = &conninfo[start..end];
        let key = token.split('=').next().unwrap_or("").trim();
        if key != "password" {
            kept.push(token);
        }
    }
    kept.join(" ")
}

/// An error rebuilt from the text of `err` and its sources, scrubbed of the secrets of `url`.
///
/// The original error is not kept as a source: its `Display` could still print the password
/// to whoever formats the chain later.
pub fn scrub_error(err: &(dyn std::error::Error + 'static), url: &str) -> anyhow::Error {
    anyhow::anyhow!(scrub(&chain_text(err), url))
}

/// The passwords found in `url`, as written and percent-decoded, longest first so that a
/// password containing another one is masked whole.
fn secrets(url: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for span in secret_spans(url) {
        let raw = &url[span];
        for candidate in [raw.to_string(), percent_decode(raw)] {
            if !candidate.is_empty() && !found.contains(&candidate) {
                found.push(candidate);
            }
        }
    }
    found.sort_by_key(|s| std::cmp::Reverse(s.len()));
    found
}

fn chain_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        // Many errors already include their cause in their own message.
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

/// Byte ranges of `s` that hold secrets, sorted and not overlapping.
fn secret_spans(s: &str) -> Vec<Range<usize>> {
    match s.find("://") {
        Some(i) => url_spans(s, i + 3),
        None => {
            let spans = if looks_like_keywords(s) {
                keyword_spans(s)
            } else {
                Vec::new()
            };
            if spans.is_empty() {
                bare_userinfo_span(s).into_iter().collect()
            } else {
                spans
            }
        }
    }
}

fn url_spans(s: &str, start: usize) -> Vec<Range<usize>> {
    let rest = &s[start..];
    let authority_end = rest.find(['/', '?', '#']).map_or(s.len(), |i| start + i);
    let after_authority = &s[authority_end..];
    if let Some(last_at) = rest.rfind('@')
        && after_authority.contains('@')
    {
        // An '@' past the first '/', '?' or '#' means the user info holds one of those
        // characters unencoded, so its boundaries cannot be trusted: hide all of it.
        let at = start + last_at;
        let mut spans = Vec::with_capacity(1);
        spans.push(start..at);
        spans.extend(query_spans(s, at));
        return spans;
    }
    let mut spans = Vec::new();
    if let Some(at) = s[start..authority_end].rfind('@').map(|i| start + i)
        && let Some(colon) = s[start..at].find(':').map(|i| start + i)
    {
        spans.push(colon + 1..at);
    }
    spans.extend(query_spans(s, authority_end));
    spans
}

/// Values of `password=`-like parameters in the query part that starts at or after `from`.
fn query_spans(s: &str, from: usize) -> Vec<Range<usize>> {
    let Some(q) = s[from..].find('?').map(|i| from + i + 1) else {
        return Vec::new();
    };
    let end = s[q..].find('#').map_or(s.len(), |i| q + i);
    let mut spans = Vec::new();
    let mut pos = q;
    for pair in s[q..end].split('&') {
        if let Some(eq) = pair.find('=')
            && is_secret_key(&percent_decode(&pair[..eq]))
            && eq + 1 < pair.len()
        {
            spans.push(pos + eq + 1..pos + pair.len());
        }
        pos += pair.len() + 1;
    }
    spans
}

/// libpq's `key=value` form: at least one `=` and no URL scheme.
fn looks_like_keywords(s: &str) -> bool {
    s.contains('=')
}

/// Values of password keys in a libpq conninfo string; values may be single-quoted with
/// backslash escapes (`password='it''s'` is not valid libpq, `password='it\'s'` is).
fn keyword_spans(s: &str) -> Vec<Range<usize>> {
    let b = s.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let key_start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' {
            i += 1;
        }
        let key = &s[key_start..i];
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            continue;
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let value_start = i;
        if i < b.len() && b[i] == b'\'' {
            i += 1;
            while i < b.len() {
                match b[i] {
                    b'\\' => i += 2,
                    b'\'' => {
                        i += 1;
                        break;
                    }
                    _ => i += 1,
                }
            }
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
        }
        // A trailing backslash may step past the end; every other stop is on an ASCII byte,
        // so the span always ends on a character boundary.
        i = i.min(b.len());
        if is_secret_key(key) && i > value_start {
            spans.push(value_start..i);
        }
    }
    spans
}

/// `user:secret@host` written without a scheme.
fn bare_userinfo_span(s: &str) -> Option<Range<usize>> {
    let at = s.rfind('@')?;
    let userinfo = &s[..at];
    if userinfo.contains(char::is_whitespace) {
        return None;
    }
    let colon = userinfo.find(':')?;
    Some(colon + 1..at)
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.ends_with("password") || key == "pass" || key == "pwd"
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_url_with_user_and_password() {
        assert_eq!(redact("redis://user:pw@h:1/0"), "redis://user:***@h:1/0");
    }

    #[test]
    fn rediss_url_with_password_only() {
        assert_eq!(redact("rediss://:pw@h"), "rediss://:***@h");
    }

    #[test]
    fn postgres_and_mysql_urls() {
        assert_eq!(redact("postgresql://u:pw@h/db"), "postgresql://u:***@h/db");
        assert_eq!(redact("mysql://u:pw@h/db"), "mysql://u:***@h/db");
    }

    #[test]
    fn percent_encoded_at_and_colon_in_password() {
        let url = "postgresql://u:p%40ss%3Aw0rd@h:5432/db";
        assert_eq!(redact(url), "postgresql://u:***@h:5432/db");
        assert_eq!(
            scrub("auth failed for p@ss:w0rd and p%40ss%3Aw0rd", url),
            "auth failed for *** and ***"
        );
    }

    #[test]
    fn unencoded_at_in_password_is_masked_up_to_the_last_at() {
        let redacted = redact("redis://user:p@ss:word@host:6379/0");
        assert_eq!(redacted, "redis://user:***@host:6379/0");
        assert!(!redacted.contains("ss:word"));
    }

    #[test]
    fn unparsable_url_masks_everything_before_the_last_at() {
        let redacted = redact("postgresql://u:se/cr?et@h/db");
        assert_eq!(redacted, "postgresql://***@h/db");
        assert!(!redacted.contains("se/cr"));
        assert!(!redacted.contains("et@"));
    }

    #[test]
    fn password_in_query() {
        assert_eq!(
            redact("postgresql://h/db?user=u&password=pw&sslmode=disable"),
            "postgresql://h/db?user=u&password=***&sslmode=disable"
        );
    }

    #[test]
    fn libpq_keyword_form() {
        assert_eq!(
            redact("host=x password=secret dbname=y"),
            "host=x password=*** dbname=y"
        );
        assert_eq!(
            redact("host=x password = 'sec ret\\' x' dbname=y"),
            "host=x password = *** dbname=y"
        );
    }

    #[test]
    fn strings_without_password_are_unchanged() {
        for s in [
            "redis://h:6379/0",
            "redis://user@h:6379",
            "postgresql://postgres@127.0.0.1:5432/postgres",
            "host=x dbname=y user=z",
            "127.0.0.1:6379",
            "",
            "not a url at all",
        ] {
            assert_eq!(redact(s), s);
        }
    }

    #[test]
    fn bare_userinfo_without_scheme() {
        assert_eq!(redact("u:secret@h:1"), "u:***@h:1");
    }

    #[test]
    fn scrub_masks_url_and_password_in_error_text() {
        let url = "redis://:hunter2@h:1/0";
        let text = format!("cannot reach {url}; auth with hunter2 failed");
        let scrubbed = scrub(&text, url);
        assert!(!scrubbed.contains("hunter2"), "{scrubbed}");
        assert!(scrubbed.contains("redis://:***@h:1/0"), "{scrubbed}");
    }

    #[test]
    fn non_ascii_passwords_do_not_panic() {
        assert_eq!(redact("redis://:pässwörd@h"), "redis://:***@h");
        assert_eq!(redact("password=pä\\ss host=h"), "password=*** host=h");
        assert_eq!(redact("password='x\\"), "password=***");
    }

    #[test]
    fn masks_passwords_in_every_url_of_a_line() {
        let line = "copy redis://u:s3cret@h:6379/0 to  rediss://:hunter2@t:1 (password=pw1)";
        let safe = redact_text(line);
        assert!(!safe.contains("s3cret"), "{safe}");
        assert!(!safe.contains("hunter2"), "{safe}");
        assert!(!safe.contains("pw1"), "{safe}");
        assert!(safe.contains("to  rediss://"), "spacing kept: {safe}");
    }

    #[test]
    fn shell_references_are_not_secrets_but_literals_are() {
        assert_eq!(
            redact_text("PGPASSWORD=$(cat f) psql"),
            "PGPASSWORD=$(cat f) psql"
        );
        assert!(!redact_text("PGPASSWORD=hunter2 psql").contains("hunter2"));
    }

    #[test]
    fn plain_text_is_unchanged() {
        let line = "scaled 11 workloads to 0 in namespace 3scale";
        assert_eq!(redact_text(line), line);
    }

    #[test]
    fn parts_of_urls() {
        let p = parts("redis://u:p@ss@h.example:6380/2?x=1#f").expect("a URL");
        assert_eq!(
            (p.scheme, p.userinfo, p.host, p.port, p.path, p.query),
            (
                "redis",
                Some("u:p@ss"),
                "h.example",
                Some("6380"),
                "/2",
                Some("x=1")
            )
        );
        assert_eq!(p.database(), Some("2"));
        assert_eq!(p.user(), Some("u"));
        let p = parts("postgresql://[::1]:5432/db").expect("a URL");
        assert_eq!(
            (p.host, p.port, p.database()),
            ("::1", Some("5432"), Some("db"))
        );
        let p = parts("postgres://h/db?email=a@b").expect("a URL");
        assert_eq!(p.userinfo, Some("h/db?email=a"), "as redact reads it");
        let p = parts("mysql://root@127.0.0.1:3306").expect("a URL");
        assert_eq!((p.path, p.query, p.database()), ("", None, None));
        assert!(parts("host=x dbname=y").is_none());
        assert!(parts("://h").is_none());
        // A password holding '/' unencoded still ends at the last '@'.
        let p = parts("redis://:a/b@h:1/0").expect("a URL");
        assert_eq!((p.userinfo, p.host, p.path), (Some(":a/b"), "h", "/0"));
    }

    #[test]
    fn a_forwarded_url_keeps_its_credentials_and_database() {
        assert_eq!(
            with_host_port("redis://:pw@system-redis:6379/1", "127.0.0.1", 40000).as_deref(),
            Some("redis://:pw@127.0.0.1:40000/1")
        );
        assert_eq!(
            with_host_port(
                "postgresql://u:p@ss@zync-database/zync_production?sslmode=disable",
                "127.0.0.1",
                5
            )
            .as_deref(),
            Some("postgresql://u:p@ss@127.0.0.1:5/zync_production?sslmode=disable")
        );
        assert_eq!(
            with_host_port("redis://backend-redis:6379", "127.0.0.1", 7).as_deref(),
            Some("redis://127.0.0.1:7")
        );
        assert_eq!(
            with_host_port("host=zync-database dbname=zync", "127.0.0.1", 7),
            None
        );
    }

    #[test]
    fn urls_rebuilt_from_their_parts() {
        assert_eq!(
            with_host_port("redis://:pw@10.0.0.5:6379/3?x=1", "127.0.0.1", 4000).as_deref(),
            Some("redis://:pw@127.0.0.1:4000/3?x=1")
        );
        assert_eq!(
            with_database("postgresql://postgres@127.0.0.1:5432/postgres", "x"),
            "postgresql://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306/?ssl-mode=disabled", "x"),
            "mysql://root@127.0.0.1:3306/x?ssl-mode=disabled"
        );
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306", "x"),
            "mysql://root@127.0.0.1:3306/x"
        );
        assert_eq!(
            with_database("host=/tmp user=postgres", "x"),
            "host=/tmp user=postgres dbname=x"
        );
        assert_eq!(
            without_password("postgresql://u:s3cret@h:5/db?sslmode=require&password=x"),
            "postgresql://u@h:5/db?sslmode=require"
        );
        assert_eq!(
            without_password("postgresql://h/db?password=x"),
            "postgresql://h/db"
        );
    }
}
