//! No secret on screen: every text that comes from outside the runbook (logs,
//! summaries, notices, figures, panel labels) goes through `safe_text` when the
//! view takes it in, so a password in a URL never reaches a frame.

use crate::infra::url::redact;

/// `text` with every word that may be a URL or a `key=value` connection string
/// passed through `redact`. Whitespace is kept as it was so lines still align.
pub fn safe_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word_start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if let Some(start) = word_start.take() {
                out.push_str(&safe_word(&text[start..i]));
            }
            out.push(c);
        } else if word_start.is_none() {
            word_start = Some(i);
        }
    }
    if let Some(start) = word_start {
        out.push_str(&safe_word(&text[start..]));
    }
    out
}

fn safe_word(word: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_passwords_in_every_url_of_a_line() {
        let line = "copy redis://u:s3cret@h:6379/0 to  rediss://:hunter2@t:1 (password=pw1)";
        let safe = safe_text(line);
        assert!(!safe.contains("s3cret"), "{safe}");
        assert!(!safe.contains("hunter2"), "{safe}");
        assert!(!safe.contains("pw1"), "{safe}");
        assert!(safe.contains("to  rediss://"), "spacing kept: {safe}");
    }

    #[test]
    fn shell_references_are_not_secrets_but_literals_are() {
        assert_eq!(
            safe_text("PGPASSWORD=$(cat f) psql"),
            "PGPASSWORD=$(cat f) psql"
        );
        assert!(!safe_text("PGPASSWORD=hunter2 psql").contains("hunter2"));
    }

    #[test]
    fn plain_text_is_unchanged() {
        let line = "scaled 11 workloads to 0 in namespace 3scale";
        assert_eq!(safe_text(line), line);
    }
}
