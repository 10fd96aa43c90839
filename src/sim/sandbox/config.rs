//! The config a sandbox gives cutover: the whole 3scale runbook on its three clusters and
//! servers, with an age key of its own for the secrets dump.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::options::{
    DESTINATION_DOMAIN, DESTINATION_NAMESPACE, MIGRATION_DOMAIN, MIGRATION_NAMESPACE,
    SOURCE_DOMAIN, SOURCE_NAMESPACE, SourceDatabase,
};
use super::world::Sandbox;

impl Sandbox {
    /// The config's `[dumps]` section: the secrets dump is encrypted to an age identity the
    /// sandbox generates in its folder (mode 0600), which push-secrets decrypts it with. Without
    /// one (the folder cannot be written) the section says so, and dump-secrets asks for
    /// recipients.
    fn dumps_section(&self) -> String {
        match sandbox_age_identity(self.dir()) {
            Ok((path, public)) => format!(
                "\n[dumps]\n# The sandbox's own age key; in a migration, both parties' public keys.\n\
                 age_recipients = [{}]\nage_identity = {}\n",
                toml_str(&public),
                toml_str(&path.display().to_string())
            ),
            Err(e) => format!(
                "\n[dumps]\n# No age identity: {}\n",
                format!("{e:#}").replace('\n', " ")
            ),
        }
    }

    /// The config's `[convert]` section for a MySQL source: the target's schema is porta's
    /// PostgreSQL schema of the source's release, written into the sandbox's folder, which the
    /// conversion loads as `db:schema:load` would.
    fn convert_section(&self) -> String {
        if self.source_database != SourceDatabase::Mysql {
            return String::new();
        }
        let release = crate::sim::seed::porta_schema::source_release();
        let path = self.dir().join(super::manifest::PORTA_SCHEMA_FILE);
        let written = crate::sim::seed::porta_schema::postgres_schema(release)
            .and_then(|sql| std::fs::write(&path, sql).map_err(anyhow::Error::from));
        match written {
            Ok(()) => format!(
                "\n[convert]\n# porta's PostgreSQL schema of 3scale {}, as db:schema:load creates it.\n\
                 postgres_schema = {}\n",
                release.name,
                toml_str(&path.display().to_string())
            ),
            Err(e) => format!(
                "\n[convert]\n# No schema file: {}\n",
                format!("{e:#}").replace('\n', " ")
            ),
        }
    }

    /// A config for this sandbox: the whole 3scale runbook on `access_path`, the
    /// destination's external stores and the migration cluster's database by URL.
    pub fn config_toml(
        &self,
        name: &str,
        access_path: &str,
        party: &str,
        operator: &str,
        state_dir: &Path,
    ) -> String {
        let k = toml_str(&self.kubeconfig.display().to_string());
        let d = &self.stores.destination;
        format!(
            r#"# Written by `cutover rehearse` for its sandbox; the clusters and servers answer
# only while `cutover rehearse` runs (a kept sandbox keeps their state in its folder).
[migration]
name = {name}
runbook = "threescale-rhoam"
access_path = {path}
party = {party}
operator = {operator}
state_dir = {state}

[source]
kubeconfig = {k}
context = "source"
namespace = "{SOURCE_NAMESPACE}"
wildcard_domain = "{SOURCE_DOMAIN}"
system_database_kind = {src_kind}
# The source's Redis servers, as a port-forward to their pods would reach them: the
# queue panel watches the drain on them.
backend_redis_storage_url = {src_storage}
backend_redis_queues_url = {src_queues}
system_redis_url = {src_system}
system_database_url = {src_db}
zync_database_url = {src_zync}

[migration_cluster]
kubeconfig = {k}
context = "migration"
namespace = "{MIGRATION_NAMESPACE}"
wildcard_domain = "{MIGRATION_DOMAIN}"
system_database_kind = "postgresql"
system_database_url = {mig_db}

[destination]
kubeconfig = {k}
context = "destination"
namespace = "{DESTINATION_NAMESPACE}"
wildcard_domain = "{DESTINATION_DOMAIN}"
system_database_kind = "postgresql"
# No system_database_url: seed-destination-database reaches RHOAM's database from inside the
# cluster, through its client pod, which reads the URL from secret system-database.
zync_database_url = {dst_zync}
backend_redis_storage_url = {dst_storage}
backend_redis_queues_url = {dst_queues}
system_redis_url = {dst_system}
# porta's APIs of RHOAM's 3scale (the four destination checks): the sandbox serves them on
# loopback; requests keep their Host (master.<wildcard>, 3scale-admin.<wildcard>).
threescale_api = {dst_api}

[drain]
threshold = 0
timeout = "2m"

[stop_traffic]
# Gateways outside the namespace reach backend through route `backend`: point it at no service
# until the end or a rollback ("keep" leaves it; without the key stop-traffic asks).
backend_route = "disable"
{dumps}{convert}"#,
            dumps = self.dumps_section(),
            convert = self.convert_section(),
            src_kind = toml_str(self.source_database.kind()),
            name = toml_str(name),
            path = toml_str(access_path),
            party = toml_str(party),
            operator = toml_str(operator),
            state = toml_str(&state_dir.display().to_string()),
            src_storage = toml_str(&self.stores.source_backend_redis),
            src_queues = toml_str(&self.stores.source_backend_queues),
            src_system = toml_str(&self.stores.source_system_redis),
            src_db = toml_str(&self.stores.source_system_database),
            src_zync = toml_str(&self.stores.source_zync_database),
            mig_db = toml_str(&self.stores.migration_system_database),
            dst_zync = toml_str(&d.zync_database),
            dst_storage = toml_str(&d.backend_redis_storage),
            dst_queues = toml_str(&d.backend_redis_queues),
            dst_system = toml_str(&d.system_redis),
            dst_api = toml_str(&self.threescale_api.url()),
        )
    }
}

/// The sandbox's age identity in `dir` (created with mode 0600 on first use) and its public
/// key.
fn sandbox_age_identity(dir: &Path) -> Result<(PathBuf, String)> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    const PUBLIC: &str = "# public key: ";
    let path = dir.join("age-identity.txt");
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Some(public) = text.lines().find_map(|l| l.strip_prefix(PUBLIC))
    {
        return Ok((path, public.trim().to_string()));
    }
    let (text, public) = crate::infra::age::generate_identity();
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write the sandbox's age identity {}", path.display()))?;
    Ok((path, public))
}

pub(super) fn toml_str(s: &str) -> String {
    // A TOML basic string is a JSON string for everything these values hold.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}
