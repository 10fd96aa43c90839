//! The registry's Keycloak realms moved from cluster A to cluster B: `kc.sh export` in A's
//! Keycloak pod (a simulated cluster, exec over WebSocket, the export an in-process program of
//! the simulated pod) into a 0600 artifact recorded in the manifest, then the import into B's
//! Keycloak over HTTP (the simulated admin API): realms created, users added, a second import
//! skipping everything; and the refusals: a wrong admin password, an unreachable URL, a user who
//! is no admin, a realm the export lacks, an export changed after it was written. No seeded
//! secret appears in any log line or error.

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cutover::infra::artifacts::{Manifest, Report};
use cutover::infra::keycloak::{KeycloakAdmin, Password};
use cutover::infra::kube::KubeCluster;
use cutover::runbook::ClusterRole;
use cutover::sim::keycloak::{
    KeycloakServer, KeycloakSpec, KeycloakStore, RegistryRealms, allow_export,
};
use cutover::steps::keycloak::{
    KEYCLOAK_NAMESPACE, KeycloakPod, export_dir, export_realms, import_realms, import_summary,
    registry_realms,
};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use serde_json::json;

use crate::sim_support::{Sandbox, eventually};

const REGISTRY: &str = "reg";
const ADMIN_PASSWORD: &str = "b-admin-Pa55word-never-shown";
const POD: &str = "keycloak-0";

/// Cluster A with its Keycloak pod and the registry's KeycloakRealm objects, A's Keycloak seeded
/// with the registry's realms, B's Keycloak serving its admin API.
struct World {
    a: Sandbox,
    kube: KubeCluster,
    store: KeycloakStore,
    b: KeycloakServer,
    folder: tempfile::TempDir,
    logs: Arc<Mutex<Vec<String>>>,
}

impl World {
    async fn start(citizens: usize, spec: KeycloakSpec) -> World {
        let a = Sandbox::start("cluster-a", REGISTRY).await;
        a.sim
            .apply_object(json!({"apiVersion": "v1", "kind": "Namespace",
                                 "metadata": {"name": KEYCLOAK_NAMESPACE}}))
            .unwrap();
        let pods: Api<Pod> = Api::namespaced(a.client().await, KEYCLOAK_NAMESPACE);
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": POD, "namespace": KEYCLOAK_NAMESPACE,
                         "labels": {"app": "keycloak"}},
            "spec": {"containers": [{"name": "keycloak",
                                     "image": "quay.io/keycloak/keycloak:20.0.5"}]}
        }))
        .unwrap();
        pods.create(&Default::default(), &pod).await.unwrap();
        eventually("the Keycloak pod runs", || async {
            pods.get(POD)
                .await
                .ok()
                .and_then(|p| p.status)
                .and_then(|s| s.phase)
                .as_deref()
                == Some("Running")
        })
        .await;
        let seed = RegistryRealms::new(REGISTRY).citizens(citizens);
        for realm in seed.realm_names() {
            add_keycloak_realm(&a, &realm);
        }
        let store = KeycloakStore::open(None).unwrap();
        store.seed_registry(&seed).unwrap();
        allow_export(&a.sim, KEYCLOAK_NAMESPACE, "keycloak-", &store);
        let kube = a.connect(ClusterRole::Source, REGISTRY).await;
        let b = KeycloakServer::start(spec).await.unwrap();
        World {
            a,
            kube,
            store,
            b,
            folder: tempfile::tempdir().unwrap(),
            logs: Default::default(),
        }
    }

    async fn default() -> World {
        World::start(3, KeycloakSpec::new("admin", ADMIN_PASSWORD)).await
    }

    fn pod(&self) -> KeycloakPod<'_> {
        KeycloakPod {
            kube: &self.kube,
            namespace: KEYCLOAK_NAMESPACE,
            pod: POD,
        }
    }

    fn admin(&self, password: &str) -> KeycloakAdmin {
        KeycloakAdmin::new(&self.b.url(), "admin", Password::new(password), None).unwrap()
    }

    async fn realms(&self) -> Vec<String> {
        registry_realms(&self.kube, REGISTRY).await.unwrap()
    }

    async fn export(&self, realms: &[String]) -> anyhow::Result<()> {
        let logs = self.logs.clone();
        let log = move |line: String| logs.lock().unwrap().push(line);
        let report = Report {
            progress: &|_, _, _| {},
            log: &log,
        };
        export_realms(
            &self.pod(),
            realms,
            self.folder.path(),
            REGISTRY,
            "export-keycloak",
            &report,
        )
        .await
        .map(|_| ())
    }

    async fn import(
        &self,
        admin: &KeycloakAdmin,
        realms: &[String],
    ) -> anyhow::Result<Vec<cutover::steps::keycloak::RealmImported>> {
        let logs = self.logs.clone();
        let log = move |line: String| logs.lock().unwrap().push(line);
        let report = Report {
            progress: &|_, _, _| {},
            log: &log,
        };
        import_realms(admin, self.folder.path(), REGISTRY, realms, &report).await
    }

    /// Fails when a seeded secret or B's admin password is in any log line or in `text`.
    fn assert_no_secret(&self, text: &str) {
        let mut secrets = self.store.secret_values();
        assert!(secrets.len() > 10, "the seed holds secrets");
        secrets.push(ADMIN_PASSWORD.to_string());
        let logs = self.logs.lock().unwrap().join("\n");
        for secret in &secrets {
            assert!(
                !logs.contains(secret.as_str()),
                "a secret in the logs: {logs}"
            );
            assert!(!text.contains(secret.as_str()), "a secret in: {text}");
        }
    }
}

fn add_keycloak_realm(a: &Sandbox, realm: &str) {
    a.sim
        .apply_object(json!({
            "apiVersion": "v1.edp.epam.com/v1",
            "kind": "KeycloakRealm",
            "metadata": {"name": realm, "namespace": REGISTRY},
            "spec": {"realmName": realm, "keycloakOwner": "main"}
        }))
        .unwrap();
}

#[tokio::test]
async fn keycloak_realms_move_from_a_to_b_and_a_second_import_changes_nothing() {
    // 120 citizens: the citizen portal's users come in three files (50, 50, 20).
    let w = World::start(120, KeycloakSpec::new("admin", ADMIN_PASSWORD)).await;
    let realms = w.realms().await;
    let mut expected = RegistryRealms::new(REGISTRY).realm_names();
    expected.sort();
    assert_eq!(realms, expected);
    w.export(&realms).await.unwrap();

    // The artifact: Keycloak's file names, 0600 in a 0700 folder, each in the manifest.
    let dir = w.folder.path().join(export_dir(REGISTRY));
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let citizen = format!("{REGISTRY}-citizen-portal");
    for n in 0..3 {
        assert!(
            names.contains(&format!("{citizen}-users-{n}.json")),
            "{names:?}"
        );
    }
    assert!(!names.contains(&format!("{citizen}-users-3.json")));
    assert!(!names.iter().any(|n| n.starts_with("master-")), "{names:?}");
    let manifest = Manifest::load(w.folder.path()).unwrap();
    for name in &names {
        let path = dir.join(name);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600,
            "{name}"
        );
        let entry = manifest
            .get(&format!("{}/{name}", export_dir(REGISTRY)))
            .unwrap_or_else(|| panic!("{name} is not in the manifest"));
        let bytes = std::fs::read(&path).unwrap();
        use sha2::Digest;
        let sha = sha2::Sha256::digest(&bytes);
        let sha: String = sha.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(entry.sha256, sha, "{name}");
    }
    // It holds the credentials (that is why it is private).
    let users0 = std::fs::read_to_string(dir.join(format!("{citizen}-users-0.json"))).unwrap();
    assert!(users0.contains("secretData"));

    // Import into B: every realm created, every user added, secrets carried.
    let admin = w.admin(ADMIN_PASSWORD);
    let first = w.import(&admin, &realms).await.unwrap();
    assert!(first.iter().all(|r| r.created), "{first:?}");
    for realm in &realms {
        let mut on_a = w.store.usernames(realm).unwrap();
        let mut on_b = w.b.store().usernames(realm).unwrap();
        on_a.sort();
        on_b.sort();
        assert_eq!(on_a, on_b, "{realm}");
        let imported = first.iter().find(|r| &r.realm == realm).unwrap();
        assert_eq!(imported.users_on_destination, on_a.len() as u64);
    }
    let citizens = first.iter().find(|r| r.realm == citizen).unwrap();
    assert_eq!(citizens.users_added, 120);
    let officer = format!("{REGISTRY}-officer-portal");
    assert_eq!(
        w.b.store().realm(&officer).unwrap()["clients"][0]["secret"],
        w.store.realm(&officer).unwrap()["clients"][0]["secret"]
    );
    assert_eq!(
        w.b.store().user(&officer, "officer-001").unwrap()["credentials"],
        w.store.user(&officer, "officer-001").unwrap()["credentials"]
    );
    // The service account B made with the realm was there already: skipped, not doubled.
    let external = first
        .iter()
        .find(|r| r.realm == format!("{REGISTRY}-external-system"))
        .unwrap();
    assert_eq!(external.users_skipped, 1, "{external:?}");

    // Again: nothing changes, and the summary says so.
    let before: Vec<_> = realms.iter().map(|r| w.b.store().usernames(r)).collect();
    let second = w.import(&admin, &realms).await.unwrap();
    assert!(second.iter().all(|r| r.unchanged()), "{second:?}");
    let summary = import_summary(&second);
    assert!(summary.starts_with("nothing changed"), "{summary}");
    let after: Vec<_> = realms.iter().map(|r| w.b.store().usernames(r)).collect();
    assert_eq!(before, after);
    let on_a: usize = realms
        .iter()
        .map(|r| w.store.usernames(r).unwrap().len())
        .sum();
    assert_eq!(
        second.iter().map(|r| r.users_skipped).sum::<u64>(),
        on_a as u64
    );
    w.assert_no_secret(&summary);
    w.assert_no_secret(&import_summary(&first));
}

#[tokio::test]
async fn keycloak_import_into_a_realm_b_has_adds_only_what_is_missing() {
    let w = World::default().await;
    let realms = w.realms().await;
    w.export(&realms).await.unwrap();
    let admin = w.admin(ADMIN_PASSWORD);
    let officer = format!("{REGISTRY}-officer-portal");
    // B has the officer realm already, with one of its users and none of its clients.
    let mut rep = w.store.realm(&officer).unwrap();
    rep["clients"] = json!([]);
    rep["roles"]["client"] = json!({});
    rep["users"] = json!([w.store.user(&officer, "officer-001").unwrap()]);
    admin.login().await.unwrap();
    assert_eq!(
        admin.create_realm(&rep).await.unwrap(),
        cutover::infra::keycloak::RealmCreated::Created
    );
    // A second create is Keycloak's 409, read as "existed".
    assert_eq!(
        admin.create_realm(&rep).await.unwrap(),
        cutover::infra::keycloak::RealmCreated::Existed
    );
    let done = w
        .import(&admin, std::slice::from_ref(&officer))
        .await
        .unwrap();
    let r = &done[0];
    assert!(!r.created);
    assert_eq!((r.users_added, r.users_skipped), (2, 1), "{r:?}");
    assert!(r.others_added >= 1, "the client was added: {r:?}");
    assert_eq!(
        w.b.store().realm(&officer).unwrap()["clients"][0]["clientId"],
        "officer-portal"
    );
}

#[tokio::test]
async fn keycloak_wrong_admin_password_is_refused_without_showing_it() {
    let w = World::default().await;
    let realms = w.realms().await;
    w.export(&realms).await.unwrap();
    let wrong = "wrong-Pa55word-never-shown";
    let e = w.import(&w.admin(wrong), &realms).await.unwrap_err();
    let text = format!("{e:#}");
    assert!(text.contains("`admin`"), "{text}");
    assert!(text.contains("invalid_grant"), "{text}");
    assert!(!text.contains(wrong), "{text}");
    w.assert_no_secret(&text);
    assert_eq!(w.b.store().realm_names(), vec!["master".to_string()]);
}

#[tokio::test]
async fn keycloak_user_who_is_no_admin_is_told_what_role_it_needs() {
    let w = World::start(
        3,
        KeycloakSpec::new("admin", ADMIN_PASSWORD).user("viewer", "viewer-Pa55"),
    )
    .await;
    let realms = w.realms().await;
    w.export(&realms).await.unwrap();
    let viewer =
        KeycloakAdmin::new(&w.b.url(), "viewer", Password::new("viewer-Pa55"), None).unwrap();
    let e = w.import(&viewer, &realms).await.unwrap_err();
    let text = format!("{e:#}");
    assert!(text.contains("403"), "{text}");
    assert!(text.contains("viewer"), "{text}");
    assert!(!text.contains("viewer-Pa55"), "{text}");
}

#[tokio::test]
async fn keycloak_unreachable_url_is_named() {
    let w = World::default().await;
    let realms = w.realms().await;
    w.export(&realms).await.unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}");
    let admin = KeycloakAdmin::new(&url, "admin", Password::new(ADMIN_PASSWORD), None).unwrap();
    let e = w.import(&admin, &realms).await.unwrap_err();
    let text = format!("{e:#}");
    assert!(text.contains("cannot reach Keycloak"), "{text}");
    assert!(text.contains(&url), "{text}");
    w.assert_no_secret(&text);
    // A URL with credentials in it is refused before anything is sent, without echoing them.
    let e = KeycloakAdmin::new(
        "https://admin:hunter2@kc.example.com",
        "admin",
        Password::new("x"),
        None,
    )
    .unwrap_err();
    assert!(!format!("{e:#}").contains("hunter2"));
}

#[tokio::test]
async fn keycloak_realm_named_by_a_keycloakrealm_but_not_exported_is_an_error_naming_it() {
    let w = World::default().await;
    add_keycloak_realm(&w.a, "reg-gone");
    let realms = w.realms().await;
    assert!(realms.contains(&"reg-gone".to_string()));
    let e = w.export(&realms).await.unwrap_err();
    let text = format!("{e:#}");
    assert!(text.contains("no realm reg-gone"), "{text}");
    w.assert_no_secret(&text);
    // The import of it is refused as well, naming it.
    let e = w
        .import(&w.admin(ADMIN_PASSWORD), &["reg-gone".to_string()])
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("reg-gone-realm.json"), "{e:#}");
}

#[tokio::test]
async fn keycloak_export_changed_after_it_was_written_is_not_imported() {
    let w = World::default().await;
    let realms = w.realms().await;
    w.export(&realms).await.unwrap();
    let file = w
        .folder
        .path()
        .join(export_dir(REGISTRY))
        .join(format!("{REGISTRY}-admin-users-0.json"));
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push(' ');
    std::fs::write(&file, text).unwrap();
    let e = w
        .import(&w.admin(ADMIN_PASSWORD), &realms)
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("has changed"), "{e:#}");
    assert_eq!(w.b.store().realm_names(), vec!["master".to_string()]);
}

#[tokio::test]
async fn keycloak_tokens_are_refreshed_and_b_keeps_its_realms_across_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let file = state.path().join("keycloak-b.json");
    // Tokens of one second: every call finds the token about to expire and refreshes it.
    let spec = KeycloakSpec::new("admin", ADMIN_PASSWORD)
        .state_file(&file)
        .token_lifespan(Duration::from_secs(1));
    let w = World::start(3, spec.clone()).await;
    let realms = w.realms().await;
    w.export(&realms).await.unwrap();
    w.import(&w.admin(ADMIN_PASSWORD), &realms).await.unwrap();
    let grants = w.b.grants();
    assert!(grants.password >= 1, "{grants:?}");
    assert!(grants.refresh >= 1, "{grants:?}");
    let names = w.b.store().realm_names();
    assert_eq!(names.len(), 5, "{names:?}");
    let World { b, .. } = w;
    drop(b);
    let again = KeycloakServer::start(spec).await.unwrap();
    assert_eq!(again.store().realm_names(), names);
    assert!(!std::fs::read_to_string(&file).unwrap().is_empty());
}

/// B's Keycloak behind a TLS router whose certificate a private CA signed: refused with the
/// advice to give the CA file, then moved through it with the CA file.
#[tokio::test]
async fn keycloak_behind_a_private_ca_needs_the_ca_file() {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    let w = World::default().await;
    let realms = w.realms().await;
    w.export(&realms).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let [ca, cert, key] = crate::threescale_checks::private_ca(dir.path());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let backend = w.b.port();
    // The router: TLS on its port, plain HTTP to Keycloak.
    let router = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut upstream) = tokio::net::TcpStream::connect(("127.0.0.1", backend)).await
                else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    });
    let url = format!("https://127.0.0.1:{port}");
    let untrusted = KeycloakAdmin::new(&url, "admin", Password::new(ADMIN_PASSWORD), None).unwrap();
    let e = w.import(&untrusted, &realms).await.unwrap_err();
    let text = format!("{e:#}");
    assert!(text.contains("not trusted"), "{text}");
    assert!(text.contains("CA file"), "{text}");
    w.assert_no_secret(&text);
    let trusted =
        KeycloakAdmin::new(&url, "admin", Password::new(ADMIN_PASSWORD), Some(&ca)).unwrap();
    let done = w.import(&trusted, &realms).await.unwrap();
    assert!(done.iter().all(|r| r.created), "{done:?}");
    router.abort();
}

/// An import that stopped after some realms is finished by running it again: what B got is
/// skipped, the rest is added; an export run again leaves no file of the earlier one behind.
#[tokio::test]
async fn keycloak_steps_run_again_finish_what_an_interrupted_run_left() {
    let w = World::default().await;
    let realms = w.realms().await;
    w.export(&realms).await.unwrap();
    let dir = w.folder.path().join(export_dir(REGISTRY));
    let stale = dir.join(format!("{REGISTRY}-admin-users-7.json"));
    std::fs::write(&stale, "{}").unwrap();
    w.export(&realms).await.unwrap();
    assert!(!stale.exists(), "a file of an earlier export stayed");

    let admin = w.admin(ADMIN_PASSWORD);
    let half = w.import(&admin, &realms[..2]).await.unwrap();
    assert!(half.iter().all(|r| r.created));
    let all = w.import(&admin, &realms).await.unwrap();
    for r in &all {
        let before = realms[..2].contains(&r.realm);
        assert_eq!(r.created, !before, "{r:?}");
        if before {
            assert_eq!(r.users_added, 0, "{r:?}");
        }
        let on_a = w.store.usernames(&r.realm).unwrap().len() as u64;
        assert_eq!(r.users_on_destination, on_a, "{r:?}");
    }
    assert!(!import_summary(&all).starts_with("nothing changed"));
}
