//! The domain rewrite of a 3scale system database (PostgreSQL): the hosts that follow the
//! cluster's wildcard domain move from the old wildcard to the new one, in one transaction.
//!
//! - Rewritten, by anchored suffix (`.<old>` at the end of a host: a dot before it, no host
//!   character after it, never a substring): `accounts.domain`, `self_domain`;
//!   `proxies.endpoint`, `sandbox_endpoint`, `staging_domain`, `production_domain`;
//!   `proxy_configs.hosts`; and in `proxy_configs.content` only the JSON values at
//!   `proxy.endpoint`, `proxy.sandbox_endpoint`, `proxy.hosts`, `proxy.backend.endpoint` and
//!   `proxy.backend.host` (`jsonb_set`; a document that does not parse is left alone).
//! - Reported, never rewritten ([`REPORTED`]): hosts that belong to their owners (identity
//!   providers, OIDC issuers, policies, private backends, API docs, webhooks, e-mail), listed row
//!   by row for the operator to decide.
//! - Verified in the same transaction: every text, varchar and json column of the public schema
//!   is scanned (one pass per table) and must not hold `.<old>` outside the reported columns and
//!   the other paths of `proxy_configs.content`; otherwise the transaction raises, PostgreSQL
//!   rolls everything back, and the error names the columns.
//!
//! Every statement goes in one simple query, which PostgreSQL runs as one transaction, both over
//! a connection of cutover's own and through `psql -c` in the client pod.

use anyhow::{Result, bail};

use super::pgtarget::PgTarget;

/// Columns whose hosts follow the wildcard domain.
pub const REWRITTEN: &[(&str, &str)] = &[
    ("accounts", "domain"),
    ("accounts", "self_domain"),
    ("proxies", "endpoint"),
    ("proxies", "sandbox_endpoint"),
    ("proxies", "staging_domain"),
    ("proxies", "production_domain"),
    ("proxy_configs", "hosts"),
];

/// The JSON paths of `proxy_configs.content` that are rewritten.
pub const CONTENT_PATHS: &[&str] = &[
    "{proxy,endpoint}",
    "{proxy,sandbox_endpoint}",
    "{proxy,hosts}",
    "{proxy,backend,endpoint}",
    "{proxy,backend,host}",
];

/// Columns that may name the old domain and are reported, not rewritten.
pub const REPORTED: &[(&str, &str)] = &[
    ("authentication_providers", "site"),
    ("authentication_providers", "authorize_url"),
    ("authentication_providers", "token_url"),
    ("authentication_providers", "user_info_url"),
    ("proxies", "oidc_issuer_endpoint"),
    ("proxies", "policies_config"),
    ("backend_apis", "private_endpoint"),
    ("api_docs_services", "body"),
    ("web_hooks", "url"),
    ("users", "email"),
    // Beyond those, porta's schema has more that name hosts of their owners: the accounts'
    // support addresses, the applications' OAuth redirect URLs, the portal's link.
    ("accounts", "support_email"),
    ("accounts", "finance_support_email"),
    ("cinstances", "redirect_url"),
    ("settings", "link_url"),
];

/// What the verification's exception starts with, to tell it from other errors.
pub const VERIFY_FAILED: &str = "cutover-verify:";

/// A rewrite from `old` to `new` (wildcard domains, e.g. `apps.source.example.com`).
#[derive(Clone, Debug)]
pub struct Rewrite {
    old: String,
    new: String,
}

/// One row of the preview: the column, the row's id, its value before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub column: String,
    pub id: String,
    pub before: String,
    pub after: String,
}

/// What a rewrite would change and what it leaves for the operator.
#[derive(Clone, Debug, Default)]
pub struct Preview {
    /// Rows per rewritten column (`table.column`), in [`REWRITTEN`] order, then content.
    pub counts: Vec<(String, u64)>,
    /// Every row that changes.
    pub changes: Vec<Change>,
    /// Every reported row that names the old domain (before = after).
    pub reported: Vec<Change>,
}

impl Preview {
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }
}

/// A domain as a wildcard may be: lowercase letters, digits, dots and dashes, with a dot.
fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.contains('.')
        && !d.starts_with('.')
        && !d.ends_with('.')
        && d.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

impl Rewrite {
    pub fn new(old: &str, new: &str) -> Result<Rewrite> {
        for (what, d) in [("old", old), ("new", new)] {
            if !valid_domain(d) {
                bail!(
                    "the {what} wildcard domain `{d}` is not a domain (lowercase letters, digits, \
                     dots and dashes)"
                );
            }
        }
        if old == new {
            bail!("the old and the new wildcard domain are both `{old}`: nothing to rewrite");
        }
        Ok(Rewrite {
            old: old.to_string(),
            new: new.to_string(),
        })
    }

    pub fn old(&self) -> &str {
        &self.old
    }

    pub fn new_domain(&self) -> &str {
        &self.new
    }

    /// The regular expression of `.<old>` at the end of a host, as a SQL literal.
    fn re(&self) -> String {
        format!(
            "$re$\\.{}(?![A-Za-z0-9.-])$re$",
            self.old.replace('.', "\\.")
        )
    }

    /// A pattern that picks the host around the first `.<old>`, to show where it is.
    fn re_context(&self) -> String {
        format!(
            "$re$[A-Za-z0-9.:/-]*\\.{}(?![A-Za-z0-9.-])$re$",
            self.old.replace('.', "\\.")
        )
    }

    /// The functions the other statements use, in the session's temporary schema.
    fn functions(&self) -> String {
        let paths: Vec<String> = CONTENT_PATHS.iter().map(|p| format!("'{p}'")).collect();
        format!(
            "CREATE OR REPLACE FUNCTION pg_temp.cutover_host(v text) RETURNS text LANGUAGE sql \
             IMMUTABLE AS $f$ SELECT regexp_replace(v, {re}, $nw$.{new}$nw$, 'g') $f$;\n\
             CREATE OR REPLACE FUNCTION pg_temp.cutover_content(c text) RETURNS text \
             LANGUAGE plpgsql AS $f$\n\
             DECLARE j jsonb; v jsonb; p text; changed boolean := false; n jsonb;\n\
             BEGIN\n\
               BEGIN j := c::jsonb; EXCEPTION WHEN others THEN RETURN c; END;\n\
               FOREACH p IN ARRAY ARRAY[{paths}] LOOP\n\
                 v := j #> p::text[];\n\
                 IF v IS NULL THEN CONTINUE; END IF;\n\
                 IF jsonb_typeof(v) = 'string' THEN\n\
                   n := to_jsonb(pg_temp.cutover_host(v #>> '{{}}'));\n\
                 ELSIF jsonb_typeof(v) = 'array' THEN\n\
                   SELECT coalesce(jsonb_agg(CASE WHEN jsonb_typeof(e) = 'string' \
                     THEN to_jsonb(pg_temp.cutover_host(e #>> '{{}}')) ELSE e END \
                     ORDER BY i), '[]'::jsonb) INTO n \
                     FROM jsonb_array_elements(v) WITH ORDINALITY AS a(e, i);\n\
                 ELSE CONTINUE; END IF;\n\
                 IF n IS DISTINCT FROM v THEN j := jsonb_set(j, p::text[], n); \
                   changed := true; END IF;\n\
               END LOOP;\n\
               IF changed THEN RETURN j::text; END IF;\n\
               RETURN c;\n\
             END $f$;\n\
             CREATE OR REPLACE FUNCTION pg_temp.cutover_paths(c text) RETURNS text \
             LANGUAGE plpgsql AS $f$\n\
             DECLARE j jsonb;\n\
             BEGIN\n\
               BEGIN j := c::jsonb; EXCEPTION WHEN others THEN RETURN ''; END;\n\
               RETURN concat_ws(' ', j #>> '{{proxy,endpoint}}', j #>> '{{proxy,sandbox_endpoint}}', \
                 j #>> '{{proxy,hosts}}', j #>> '{{proxy,backend,endpoint}}', \
                 j #>> '{{proxy,backend,host}}');\n\
             END $f$;\n",
            re = self.re(),
            new = self.new,
            paths = paths.join(", "),
        )
    }

    /// What the rewrite would change, and the reported rows; changes nothing.
    pub async fn preview(&self, target: &PgTarget) -> Result<Preview> {
        let re = self.re();
        let mut selects: Vec<String> = REWRITTEN
            .iter()
            .map(|(t, c)| {
                format!(
                    "SELECT 'change', '{t}.{c}', id::text, {c}::text, pg_temp.cutover_host({c}) \
                     FROM public.{t} WHERE {c} ~ {re}"
                )
            })
            .collect();
        selects.push(
            "SELECT 'change', 'proxy_configs.content', id::text, \
             pg_temp.cutover_paths(content), \
             pg_temp.cutover_paths(pg_temp.cutover_content(content)) FROM public.proxy_configs \
             WHERE pg_temp.cutover_content(content) <> content"
                .to_string(),
        );
        // Other values of the promoted configs (policies, OIDC issuer) that name the old domain.
        selects.push(format!(
            "SELECT 'report', 'proxy_configs.content (other paths)', id::text, \
             substring(pg_temp.cutover_content(content) from {re_sub}), '' \
             FROM public.proxy_configs WHERE pg_temp.cutover_content(content) ~ {re}",
            re_sub = self.re_context(),
        ));
        for (t, c) in REPORTED {
            selects.push(format!(
                "SELECT 'report', '{t}.{c}', id::text, {c}::text, {c}::text \
                 FROM public.{t} WHERE {c} ~ {re}"
            ));
        }
        let sql = format!(
            "{}SELECT * FROM ({}) AS preview(kind, col, id, before, after) \
             ORDER BY kind, col, id::bigint;",
            self.functions(),
            selects.join(" UNION ALL ")
        );
        let rows = target.rows(&sql, "previewing the domain rewrite").await?;
        let mut preview = Preview {
            counts: REWRITTEN
                .iter()
                .map(|(t, c)| (format!("{t}.{c}"), 0))
                .chain([("proxy_configs.content".to_string(), 0)])
                .collect(),
            ..Preview::default()
        };
        for row in rows {
            let [kind, column, id, before, after] = <[String; 5]>::try_from(row)
                .map_err(|r| anyhow::anyhow!("a preview row of {} fields", r.len()))?;
            let change = Change {
                column,
                id,
                before,
                after,
            };
            if kind == "change" {
                if let Some((_, n)) = preview.counts.iter_mut().find(|(c, _)| *c == change.column) {
                    *n += 1;
                }
                preview.changes.push(change);
            } else {
                preview.reported.push(change);
            }
        }
        preview.changes.sort_by(|a, b| {
            let order = |c: &str| preview_order(c);
            (order(&a.column), id_number(&a.id)).cmp(&(order(&b.column), id_number(&b.id)))
        });
        Ok(preview)
    }

    /// Rewrites and verifies in one transaction; returns the rows changed per column. An
    /// old host left where it should not be rolls everything back: the error starts with
    /// [`VERIFY_FAILED`] and names the columns.
    pub async fn apply(&self, target: &PgTarget) -> Result<Vec<(String, u64)>> {
        let re = self.re();
        let mut statements = vec![
            self.functions(),
            "CREATE TEMP TABLE cutover_rewritten (col text, n bigint) ON COMMIT DROP;".to_string(),
        ];
        for (t, c) in REWRITTEN {
            statements.push(format!(
                "WITH u AS (UPDATE public.{t} SET {c} = pg_temp.cutover_host({c}) \
                 WHERE {c} ~ {re} RETURNING 1) \
                 INSERT INTO cutover_rewritten SELECT '{t}.{c}', count(*) FROM u;"
            ));
        }
        statements.push(
            "WITH u AS (UPDATE public.proxy_configs SET content = \
             pg_temp.cutover_content(content) WHERE pg_temp.cutover_content(content) <> content \
             RETURNING 1) INSERT INTO cutover_rewritten SELECT 'proxy_configs.content', \
             count(*) FROM u;"
                .to_string(),
        );
        let skipped: Vec<String> = REPORTED
            .iter()
            .chain([&("proxy_configs", "content")])
            .map(|(t, c)| format!("('{t}', '{c}')"))
            .collect();
        statements.push(format!(
            "DO $v$\n\
             DECLARE r record; found text[]; bad text[] := '{{}}'; n bigint; re text := {re};\n\
             BEGIN\n\
               FOR r IN SELECT c.table_name AS t, string_agg(format('CASE WHEN count(*) \
                 FILTER (WHERE %1$I::text ~ $1) > 0 THEN %2$L || '' ('' || count(*) FILTER \
                 (WHERE %1$I::text ~ $1) || '' rows)'' END', c.column_name, c.table_name || '.' \
                 || c.column_name), ', ' ORDER BY c.column_name) AS q\n\
                 FROM information_schema.columns c JOIN information_schema.tables x \
                   ON x.table_schema = c.table_schema AND x.table_name = c.table_name \
                   AND x.table_type = 'BASE TABLE'\n\
                 WHERE c.table_schema = 'public' AND c.data_type IN ('text', \
                   'character varying', 'json', 'jsonb')\n\
                   AND (c.table_name::text, c.column_name::text) NOT IN ({skipped})\n\
                 GROUP BY c.table_name ORDER BY c.table_name LOOP\n\
                 EXECUTE format('SELECT array_remove(ARRAY[%s]::text[], NULL) FROM public.%I', \
                   r.q, r.t) INTO found USING re;\n\
                 bad := bad || found;\n\
               END LOOP;\n\
               SELECT count(*) INTO n FROM public.proxy_configs \
                 WHERE pg_temp.cutover_content(content) <> content;\n\
               IF n > 0 THEN bad := bad || ('proxy_configs.content (' || n || ' rows)'); END IF;\n\
               IF coalesce(array_length(bad, 1), 0) > 0 THEN\n\
                 RAISE EXCEPTION '{VERIFY_FAILED} the old domain is still in %', \
                   array_to_string(bad, ', ');\n\
               END IF;\n\
             END $v$;",
            skipped = skipped.join(", ")
        ));
        statements.push("SELECT col, n FROM cutover_rewritten;".to_string());
        let rows = target
            .rows(&statements.join("\n"), "rewriting the domains")
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| Some((r.first()?.clone(), r.get(1)?.parse().ok()?)))
            .collect())
    }
}

fn preview_order(column: &str) -> usize {
    REWRITTEN
        .iter()
        .position(|(t, c)| format!("{t}.{c}") == column)
        .unwrap_or(REWRITTEN.len())
}

fn id_number(id: &str) -> u64 {
    id.parse().unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_domains_are_taken() {
        assert!(Rewrite::new("apps.a.example", "apps.b.example").is_ok());
        for bad in [
            "",
            "apps",
            ".apps.a",
            "apps.a.",
            "Apps.A",
            "apps.a$re$",
            "a b.c",
        ] {
            assert!(Rewrite::new(bad, "apps.b.example").is_err(), "{bad}");
        }
        assert!(Rewrite::new("apps.a.example", "apps.a.example").is_err());
    }

    #[test]
    fn the_pattern_is_an_anchored_suffix() {
        let r = Rewrite::new("apps.a.example", "apps.b.example").expect("domains");
        assert_eq!(r.re(), "$re$\\.apps\\.a\\.example(?![A-Za-z0-9.-])$re$");
    }
}
