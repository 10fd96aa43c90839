//! Manual procedures and change descriptions carry placeholders such as
//! `{source.namespace}` or `{oc.destination}`, filled from the config so that an
//! operator can paste the commands as shown. A placeholder the config cannot fill
//! stays as written, so the operator sees what to put there. Secrets are never
//! placeholders: procedures refer to them through shell variables.

/// Replaces every `{name}` in `text` for which `lookup(name)` answers.
pub fn render_procedure(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match placeholder_at(after).and_then(|name| Some((name, lookup(name)?))) {
            Some((name, value)) => {
                out.push_str(&value);
                rest = &after[name.len() + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every placeholder name in `text`, in order, by the grammar `render_procedure` uses.
pub fn placeholders(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        found.extend(placeholder_at(rest));
    }
    found
}

/// The name of the placeholder whose `{` comes just before `after`: lowercase
/// letters, digits, `_`, `.` and `-`, closed by `}`. Shell `${VAR}`, jq and awk
/// programs do not match, so they pass through untouched.
fn placeholder_at(after: &str) -> Option<&str> {
    let len = after
        .find(|c: char| !(c.is_ascii_lowercase() || c == '_' || c == '.' || c == '-'))
        .unwrap_or(after.len());
    (len > 0 && after[len..].starts_with('}')).then(|| &after[..len])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "source.namespace" => Some("3scale".into()),
            "oc.source" => Some("oc --context src -n 3scale".into()),
            _ => None,
        }
    }

    #[test]
    fn fills_known_placeholders_and_keeps_the_rest() {
        let text = "{oc.source} get dc\nnamespace {source.namespace}, {unknown.thing} ${SHELL_VAR} {a b} {";
        assert_eq!(
            render_procedure(text, lookup),
            "oc --context src -n 3scale get dc\nnamespace 3scale, {unknown.thing} ${SHELL_VAR} {a b} {"
        );
    }

    #[test]
    fn placeholders_are_listed_by_the_same_grammar() {
        let text = "{dumps} {.spec.replicas} ${X} {a b} {} {oc.source} {print $1}";
        assert_eq!(placeholders(text), ["dumps", ".spec.replicas", "oc.source"]);
    }

    #[test]
    fn shell_braces_are_left_alone() {
        let text = "for k in $(redis-cli keys '*'); do echo ${k}; done; awk '{print $1}'";
        assert_eq!(render_procedure(text, lookup), text);
    }
}
