//! `kc.sh export` in a simulated Keycloak pod, run in-process (`sim::program`): the command
//! cutover runs there (`bash -c` with the export script of `infra::keycloak_export`) prints what
//! the real script prints: for every file Keycloak's directory export writes, in the order
//! bash's glob lists them, a line `<bytes> <name>` and the file's bytes; Keycloak's log goes to
//! stderr. The files are those of Keycloak's `DirExportProvider` with `--users different_files`:
//! `<realm>-realm.json` for every realm (master too) without its users, and
//! `<realm>-users-<N>.json` (`{"realm": …, "users": […]}`) for every 50 users, none for a realm
//! without users. Only pods of the Keycloak's namespace have kc.sh.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::json;

use super::realms::KeycloakStore;
use crate::infra::keycloak_export::{USERS_PER_FILE, export_command, realm_file, users_file};
use crate::sim::program::{Program, ProgramOutput};
use crate::sim::server::SimCluster;

struct Export {
    store: KeycloakStore,
    namespace: String,
}

/// Lets the pods named `pod_prefix…` of `namespace` on `cluster` run the export of `store`.
pub fn allow_export(
    cluster: &SimCluster,
    namespace: &str,
    pod_prefix: &str,
    store: &KeycloakStore,
) {
    let command = export_command();
    let command: Vec<&str> = command.iter().map(String::as_str).collect();
    cluster.allow_program(
        pod_prefix,
        &command,
        Arc::new(Export {
            store: store.clone(),
            namespace: namespace.to_string(),
        }),
    );
}

/// The files of the export, by name.
pub(super) fn export_files(store: &KeycloakStore) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for realm in store.snapshot() {
        let name = realm.name().to_string();
        let rep = serde_json::to_vec_pretty(&realm.rep).unwrap_or_default();
        files.push((realm_file(&name), rep));
        for (n, page) in realm.users.chunks(USERS_PER_FILE).enumerate() {
            let body = json!({"realm": name, "users": page});
            files.push((
                users_file(&name, n),
                serde_json::to_vec_pretty(&body).unwrap_or_default(),
            ));
        }
    }
    // bash's glob sorts the names.
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

impl Program for Export {
    fn run(&self, namespace: String, _stdin: Vec<u8>) -> BoxFuture<'static, ProgramOutput> {
        let store = self.store.clone();
        let here = namespace == self.namespace;
        Box::pin(async move {
            if !here {
                return ProgramOutput::failed(
                    "bash: line 1: /opt/keycloak/bin/kc.sh: No such file or directory\n".into(),
                    127,
                );
            }
            let mut stdout = String::new();
            let mut stderr = String::new();
            for (name, bytes) in export_files(&store) {
                let text = String::from_utf8_lossy(&bytes);
                stdout.push_str(&format!("{} {name}\n", text.len()));
                stdout.push_str(&text);
            }
            for realm in store.realm_names() {
                stderr.push_str(&format!(
                    "INFO  [org.keycloak.exportimport.dir.DirExportProvider] (main) Realm \
                     '{realm}' - data exported\n"
                ));
            }
            stderr.push_str(
                "INFO  [org.keycloak.services] (main) KC-SERVICES0035: Export finished \
                 successfully\n",
            );
            ProgramOutput {
                stdout,
                stderr,
                code: 0,
            }
        })
    }
}
