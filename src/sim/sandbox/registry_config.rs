//! The config a registry sandbox gives cutover: the `velero-registry` runbook on clusters A
//! and B, each cluster's object storage and B's Keycloak, their keys and passwords as `file:`
//! references to the sandbox's `secrets/` (mode 0600), never in the config itself.

use std::path::Path;

use super::config::toml_str;
use super::registry::{A_DOMAIN, B_DOMAIN, PLATFORM_NAMESPACE, RegistrySandbox, secret_file};

impl RegistrySandbox {
    /// A config for this sandbox: the whole `velero-registry` runbook (its one access path,
    /// `cluster-admin`).
    pub fn config_toml(&self, name: &str, party: &str, operator: &str, state_dir: &Path) -> String {
        let k = toml_str(&self.kubeconfig.display().to_string());
        let secret =
            |file: &str| toml_str(&format!("file:{}", secret_file(self.dir(), file).display()));
        format!(
            r#"# Written by `cutover rehearse --runbook velero-registry` for its sandbox; the clusters,
# object storages and Keycloak answer only while `cutover rehearse` runs (a kept sandbox keeps
# their state in its folder).
[migration]
name = {name}
runbook = "velero-registry"
access_path = "cluster-admin"
party = {party}
operator = {operator}
state_dir = {state}

# Cluster A, where the registry runs.
[source]
kubeconfig = {k}
context = "a"
namespace = "{PLATFORM_NAMESPACE}"
wildcard_domain = "{A_DOMAIN}"

# Cluster B, running the Platform at the registry's version.
[destination]
kubeconfig = {k}
context = "b"
namespace = "{PLATFORM_NAMESPACE}"
wildcard_domain = "{B_DOMAIN}"

[velero]
registry = {registry}
# Cluster B's egress (NAT) address, which the registry's Nexus route must admit (an address
# for documentation: the sandbox's clusters have no network of their own).
destination_egress_ip = "203.0.113.10"

# Each cluster's object storage: a real S3 server, its data in the sandbox's folder.
[velero.storage.source]
endpoint = {a_endpoint}
access_key = {a_key}
secret_key = {a_secret}

[velero.storage.destination]
endpoint = {b_endpoint}
access_key = {b_key}
secret_key = {b_secret}

# Cluster B's Keycloak admin API.
[velero.keycloak]
url = {keycloak}
admin_user = {kc_user}
admin_password = {kc_password}
"#,
            name = toml_str(name),
            party = toml_str(party),
            operator = toml_str(operator),
            state = toml_str(&state_dir.display().to_string()),
            registry = toml_str(&self.registry),
            a_endpoint = toml_str(&self.storage_a.endpoint()),
            b_endpoint = toml_str(&self.storage_b.endpoint()),
            a_key = secret("a-access-key"),
            a_secret = secret("a-secret-key"),
            b_key = secret("b-access-key"),
            b_secret = secret("b-secret-key"),
            keycloak = toml_str(&self.keycloak.url()),
            kc_user = secret("keycloak-admin-user"),
            kc_password = secret("keycloak-admin-password"),
        )
    }
}
