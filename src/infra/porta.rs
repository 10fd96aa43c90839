//! The database objects porta (3scale's system application) needs beyond its tables, per 3scale
//! release: the `<table>_tenant_id` triggers `rake multitenant:triggers` creates and the
//! `sp_invoices_friendly_id` procedure of `rake db:procedures` (porta
//! `lib/system/database/definitions/postgres.rb`), and the schema version each release's
//! `db/postgres_schema.rb` ends at. `rails db:schema:load` creates neither the triggers nor the
//! procedure, and pgloader copies neither from MySQL: without them porta's new rows get a NULL
//! `tenant_id` and invoicing calls a missing procedure.
//!
//! The SQL is what porta's own code renders from those definitions, kept in
//! `fixtures/porta/<release>/` by `scripts/porta-schema` (porta is Apache-2.0; see
//! `fixtures/porta/SOURCE.md`).

use std::collections::BTreeSet;

use anyhow::Result;

use super::pgtarget::PgTarget;

/// One 3scale release's schema objects.
pub struct Release {
    /// `2.14`, `2.16`...
    pub name: &'static str,
    /// The version `db/postgres_schema.rb` ends at: `max(schema_migrations.version)` of a
    /// database of this release.
    pub schema_version: &'static str,
    triggers: &'static str,
    trigger_names: &'static str,
    procedures: &'static str,
}

macro_rules! release {
    ($name:literal) => {
        Release {
            name: $name,
            schema_version: include_str!(concat!("../../fixtures/porta/", $name, "/version.txt")),
            triggers: include_str!(concat!(
                "../../fixtures/porta/",
                $name,
                "/triggers.postgres.sql"
            )),
            trigger_names: include_str!(concat!("../../fixtures/porta/", $name, "/triggers.txt")),
            procedures: include_str!(concat!(
                "../../fixtures/porta/",
                $name,
                "/procedures.postgres.sql"
            )),
        }
    };
}

/// The releases cutover knows, oldest first; a minor upgrade goes through each in turn.
pub static RELEASES: [Release; 3] = [release!("2.14"), release!("2.15"), release!("2.16")];

/// The procedures porta needs.
pub const PROCEDURES: &[&str] = &["sp_invoices_friendly_id"];

/// What stands in the trigger SQL for porta's `set_master_id`.
const MASTER_ID: &str = "/*MASTER_ID*/";

/// porta's `set_master_id` when no master account exists when the triggers are created.
const MASTER_LOOKUP: &str = "BEGIN
  SELECT id INTO STRICT master_id FROM accounts WHERE master = TRUE;
EXCEPTION
  WHEN NO_DATA_FOUND THEN
    master_id := NULL;
END;
";

/// The statements of a fixture file: chunks between `--;;` lines, without comment-only ones.
pub fn statements(text: &str) -> Vec<&str> {
    text.split("\n--;;\n")
        .map(str::trim)
        .filter(|chunk| {
            chunk
                .lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--"))
        })
        .collect()
}

impl Release {
    /// The release whose schema ends at `schema_version` (`max(schema_migrations.version)`).
    pub fn by_schema_version(schema_version: &str) -> Option<&'static Release> {
        RELEASES
            .iter()
            .find(|r| r.schema_version.trim() == schema_version.trim())
    }

    /// The release called `name` (`2.14`); a patch (`2.14.1`) is its minor's.
    pub fn by_name(name: &str) -> Option<&'static Release> {
        let minor: String = name
            .trim()
            .trim_start_matches('v')
            .split('.')
            .take(2)
            .collect::<Vec<_>>()
            .join(".");
        RELEASES.iter().find(|r| r.name == minor)
    }

    /// The names of the triggers a database of this release has.
    pub fn trigger_names(&self) -> BTreeSet<&'static str> {
        self.trigger_names
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// porta's `rake multitenant:triggers` for this release (each trigger dropped and created),
    /// with the master account's id written in when it exists, as porta does, else porta's
    /// lookup.
    pub fn trigger_statements(&self, master_id: Option<i64>) -> Vec<String> {
        let set = match master_id {
            Some(id) => format!("master_id := {id};"),
            None => MASTER_LOOKUP.to_string(),
        };
        statements(self.triggers)
            .into_iter()
            .map(|s| s.replace(MASTER_ID, &set))
            .collect()
    }

    /// porta's `rake db:procedures` for this release.
    pub fn procedure_statements(&self) -> Vec<String> {
        statements(self.procedures)
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// The releases an upgrade from `self` to `to` goes through, `self` excluded:
    /// `2.14 → 2.16` is `[2.15, 2.16]`. Empty when `to` is not newer.
    pub fn hops_to(&self, to: &Release) -> Vec<&'static str> {
        let from = RELEASES.iter().position(|r| r.name == self.name);
        let upto = RELEASES.iter().position(|r| r.name == to.name);
        match (from, upto) {
            (Some(f), Some(t)) if t > f => RELEASES[f + 1..=t].iter().map(|r| r.name).collect(),
            _ => Vec::new(),
        }
    }
}

/// What a database holds of porta's schema objects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SchemaObjects {
    /// The highest `schema_migrations.version`, compared as a number; None without the table
    /// or its rows.
    pub schema_version: Option<String>,
    pub triggers: BTreeSet<String>,
    pub procedures: BTreeSet<String>,
}

impl SchemaObjects {
    /// Reads them from `target` (by URL or through the client pod).
    pub async fn read(target: &PgTarget) -> Result<SchemaObjects> {
        let version = target
            .rows(
                // Numerically: porta's oldest migrations are numbered 1, 2... and "9" sorts
                // after "20230927012615" as text.
                "SELECT CASE WHEN to_regclass('public.schema_migrations') IS NULL THEN '' \
                 ELSE (SELECT coalesce(max(version::numeric)::text, '') \
                 FROM public.schema_migrations) END",
                "reading the schema version",
            )
            .await?;
        let triggers = target
            .rows(
                "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE NOT t.tgisinternal AND n.nspname = 'public'",
                "listing the triggers",
            )
            .await?;
        let procedures = target
            .rows(
                "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
                 WHERE n.nspname = 'public'",
                "listing the functions",
            )
            .await?;
        let first = |rows: Vec<Vec<String>>| -> BTreeSet<String> {
            rows.into_iter()
                .filter_map(|r| r.into_iter().next())
                .collect()
        };
        Ok(SchemaObjects {
            schema_version: version
                .into_iter()
                .next()
                .and_then(|r| r.into_iter().next())
                .filter(|v| !v.is_empty()),
            triggers: first(triggers),
            procedures: first(procedures),
        })
    }

    /// The release this database's schema version belongs to.
    pub fn release(&self) -> Option<&'static Release> {
        self.schema_version
            .as_deref()
            .and_then(Release::by_schema_version)
    }

    /// What it lacks of what porta needs: one line per missing part; empty when whole. A
    /// schema version cutover does not know is a line too, since nothing can be compared.
    pub fn missing(&self) -> Vec<String> {
        let Some(version) = &self.schema_version else {
            return vec![
                "no schema_migrations: this is not a 3scale system database, or its schema was \
                 never loaded"
                    .to_string(),
            ];
        };
        let Some(release) = self.release() else {
            return vec![format!(
                "schema version {version} is none of the 3scale releases cutover knows ({})",
                known()
            )];
        };
        let mut out = Vec::new();
        let expected = release.trigger_names();
        let absent: Vec<String> = expected
            .iter()
            .filter(|t| !self.triggers.contains(**t))
            .map(|t| t.to_string())
            .collect();
        if !absent.is_empty() {
            out.push(format!(
                "{} of the {} tenant_id triggers of 3scale {} are missing ({})",
                absent.len(),
                expected.len(),
                release.name,
                crate::format::first_of(&absent, 6)
            ));
        }
        for p in PROCEDURES {
            if !self.procedures.contains(*p) {
                out.push(format!("procedure {p} is missing"));
            }
        }
        out
    }
}

/// The releases cutover knows, for messages: `2.14 (20230927012615), ...`.
pub fn known() -> String {
    RELEASES
        .iter()
        .map(|r| format!("{} ({})", r.name, r.schema_version.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_release_has_its_triggers_procedure_and_version() {
        for r in &RELEASES {
            assert_eq!(r.schema_version.trim().len(), 14, "{}", r.name);
            let names = r.trigger_names();
            assert!(names.len() >= 76, "{}: {}", r.name, names.len());
            let creates = r
                .trigger_statements(Some(1))
                .iter()
                .filter(|s| s.starts_with("CREATE TRIGGER"))
                .count();
            assert_eq!(creates, names.len(), "{}", r.name);
            assert!(
                r.trigger_statements(None)
                    .iter()
                    .all(|s| !s.contains(MASTER_ID))
            );
            assert!(
                r.trigger_statements(Some(7))
                    .iter()
                    .any(|s| s.contains("master_id := 7;"))
            );
            assert!(
                r.procedure_statements()
                    .iter()
                    .any(|s| s.contains("FUNCTION sp_invoices_friendly_id"))
            );
        }
        assert_eq!(Release::by_name("2.14.1").map(|r| r.name), Some("2.14"));
        let from = Release::by_name("2.14").expect("2.14");
        let to = Release::by_name("2.16").expect("2.16");
        assert_eq!(from.hops_to(to), ["2.15", "2.16"]);
        assert!(to.hops_to(from).is_empty());
        assert_eq!(
            Release::by_schema_version(to.schema_version).map(|r| r.name),
            Some("2.16")
        );
    }
}
