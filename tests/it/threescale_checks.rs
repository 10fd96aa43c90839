//! The four destination checks that go through 3scale's APIs (`check-master-plan`,
//! `check-master-access`, `check-default-tenant`, `check-sso-integrations`), run by the real
//! binary (`cutover run --headless`) against a simulated RHOAM destination, its system database
//! on real PostgreSQL, and the simulator's porta API served from that database. Each passes
//! on a destination as RHOAM leaves it, and fails for its own reason; the client is also
//! checked against the simulated API's refusals. No token appears in any output.

use serde_json::{Value, json};

use cutover::infra::threescale_api::{ApiClient, ConnectTo, Token};
use cutover::sim::seed::{SeedTokens, Sizes, seed_system_database_with};
use cutover::sim::threescale_api::ThreescaleApiServer;

use crate::cli::{Migration, Run, events, skip_steps, threescale_toml, write_kubeconfigs};
use crate::support::{PgDatabase, block_on};

const DEST_NS: &str = "redhat-rhoam-3scale";
const WILDCARD: &str = "apps.rhoam.test";
const MASTER_TOKEN: &str = "checksMasterToken5e2d8b1c77";
const ADMIN_TOKEN: &str = "checksAdminToken9a7e3f2041";
const PLAN: &str = "check-master-plan";
const ACCESS: &str = "check-master-access";
const TENANT: &str = "check-default-tenant";
const SSO: &str = "check-sso-integrations";
const VERIFY: &str = "verify-installation";

/// A destination: its clusters, its seeded database and the API served from it.
struct World {
    m: Migration,
    db: PgDatabase,
    _api: ThreescaleApiServer,
    // Dropped after the server: its task runs on it.
    _runtime: tokio::runtime::Runtime,
}

/// The destination's system-seed, with `master` as its master token.
fn system_seed(master: &str) -> Value {
    crate::secrets::secret(
        DEST_NS,
        "system-seed",
        &[
            ("MASTER_DOMAIN", "master"),
            ("MASTER_ACCESS_TOKEN", master),
            ("ADMIN_ACCESS_TOKEN", ADMIN_TOKEN),
            ("ADMIN_USER", "admin"),
            ("TENANT_NAME", "3scale"),
        ],
    )
}

/// A 3scale 2.16 database on the destination's wildcard holding the secret's tokens, with
/// RHOAM's `rhsso` on its tenant, as RHOAM's 3scale has it after the seed and its reconciler.
fn destination_database() -> PgDatabase {
    let db = PgDatabase::create();
    let url = db.url().to_string();
    let tokens = SeedTokens {
        master: MASTER_TOKEN.into(),
        apicast: "checksApicastToken".into(),
        admin: ADMIN_TOKEN.into(),
    };
    let sizes = Sizes {
        services: 1,
        applications_per_service: 1,
        ..Sizes::default()
    };
    block_on(|| async move {
        let release = cutover::sim::seed::porta_schema::destination_release();
        seed_system_database_with(&url, WILDCARD, &sizes, &tokens, release)
            .await
            .unwrap_or_else(|e| panic!("seed the destination database: {e:#}"));
        cutover::sim::seed::rhoam_sso::create_rhsso(&url, WILDCARD)
            .await
            .unwrap_or_else(|e| panic!("create RHOAM's rhsso: {e:#}"));
    });
    db
}

fn world(name: &str) -> World {
    let db = destination_database();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime for the API");
    let api = runtime
        .block_on(ThreescaleApiServer::start(db.url(), None))
        .expect("the simulated 3scale API starts");
    let toml = threescale_toml(name, "red-hat", "limited", "").replace(
        &format!("wildcard_domain = \"{WILDCARD}\"\n"),
        &format!(
            "wildcard_domain = \"{WILDCARD}\"\nsystem_database_url = \"{}\"\n\
             system_database_kind = \"postgresql\"\nthreescale_api = \"{}\"\n",
            db.url(),
            api.url()
        ),
    );
    let mut m = Migration::new(name, &toml);
    write_kubeconfigs(&mut m);
    m.clusters
        .as_ref()
        .expect("clusters")
        .destination
        .apply_object(system_seed(MASTER_TOKEN))
        .expect("the destination's system-seed");
    skip_steps(&m, None, PLAN, None);
    World {
        m,
        db,
        _api: api,
        _runtime: runtime,
    }
}

impl World {
    fn sql(&self, sql: &'static str) {
        let url = self.db.url().to_string();
        block_on(|| async move {
            let client = cutover::infra::pg::connect(&url, std::time::Duration::from_secs(10))
                .await
                .expect("connect");
            client.batch_execute(sql).await.expect(sql);
        });
    }

    fn text(&self, sql: &'static str) -> String {
        let url = self.db.url().to_string();
        block_on(|| async move {
            let client = cutover::infra::pg::connect(&url, std::time::Duration::from_secs(10))
                .await
                .expect("connect");
            client
                .query_one(sql, &[])
                .await
                .expect(sql)
                .get::<_, String>(0)
        })
    }

    /// Runs the four checks from `from` until `until`, answering `answers` (`step=phrase`).
    fn run(&self, from: &str, until: &str, answers: &[&str]) -> Run {
        if from != PLAN {
            skip_steps(&self.m, Some(PLAN), from, None);
        }
        let mut args = vec!["run", "--headless", "--until", until];
        for a in answers {
            args.push("--confirm");
            args.push(a);
        }
        self.m.run(&args)
    }

    /// The last `step-finished` of `step`: outcome and summary.
    fn finished(&self, step: &str) -> (String, String) {
        let (entries, _) = self.m.journal();
        let e = events(&entries, "step-finished", step)
            .into_iter()
            .next_back()
            .unwrap_or_else(|| panic!("{step} did not finish"));
        (
            e["outcome"].as_str().unwrap_or_default().to_string(),
            e["summary"].as_str().unwrap_or_default().to_string(),
        )
    }

    /// No token of the world appears in the run's output, the journal or a step log.
    fn assert_no_token(&self, runs: &[&Run], also: &[&str]) {
        let mut files = Vec::new();
        crate::dumps::files_under(self.m.dir.path(), &mut files);
        assert!(
            files.contains(&self.m.journal_path()),
            "the journal is searched"
        );
        let tokens: Vec<&str> = [MASTER_TOKEN, ADMIN_TOKEN]
            .into_iter()
            .chain(also.iter().copied())
            .collect();
        for token in tokens {
            for run in runs {
                assert!(!run.stdout.contains(token), "a token in stdout");
                assert!(!run.stderr.contains(token), "a token in stderr");
            }
            for f in &files {
                let body = std::fs::read(f).expect("read an output file");
                assert!(
                    !body.windows(token.len()).any(|w| w == token.as_bytes()),
                    "a token in {}",
                    f.display()
                );
            }
        }
    }
}

#[test]
fn the_four_checks_pass_on_rhoam_s_3scale_through_its_apis() {
    let w = world("checks-pass");
    // The customer's own Admin Portal SSO still points at the source's Keycloak: reported,
    // for its owner to repoint, without failing the check of RHOAM's.
    w.sql(
        "UPDATE authentication_providers \
         SET site = 'https://sso.apps.source.test/auth/realms/corp' \
         WHERE system_name = 'corporate_sso'",
    );
    let run = w.run(PLAN, SSO, &[]);
    run.expect_code(0);
    for step in [PLAN, ACCESS, TENANT, SSO] {
        let (outcome, summary) = w.finished(step);
        assert_eq!(outcome, "passed", "{step}: {summary}");
    }
    assert!(w.finished(PLAN).1.contains("\"Master Plan\""));
    assert!(
        w.finished(ACCESS)
            .1
            .contains("MASTER_ACCESS_TOKEN of secret system-seed")
    );
    assert!(w.finished(TENANT).1.contains("approved"));
    assert!(
        w.finished(SSO)
            .1
            .contains("keycloak-edge-redhat-rhoam-rhsso.apps.rhoam.test")
    );
    assert!(
        w.finished(SSO)
            .1
            .contains("1 other integration(s) still point at an old cluster"),
        "{}",
        w.finished(SSO).1
    );
    let log = std::fs::read_to_string(w.m.migration_dir().join("logs").join(format!("{SSO}.log")))
        .expect("the step's log");
    assert!(
        log.contains("portal SSO corporate_sso still points at sso.apps.source.test"),
        "{log}"
    );
    w.assert_no_token(&[&run], &[]);
}

#[test]
fn an_interrupted_check_is_checked_again_on_resume() {
    use cutover::journal::JournalEvent;
    let w = world("checks-resume");
    w.run(PLAN, SSO, &[]).expect_code(0);
    // As if a kill -9 had come while each check ran: started again, never finished.
    let (_, mut journal) = crate::cli::open_journal(&w.m);
    for step in [PLAN, ACCESS, TENANT, SSO] {
        journal
            .append(JournalEvent::StepStarted {
                step: step.to_string(),
                attempt: 9,
                runs_as: "check".to_string(),
            })
            .expect("record a start");
    }
    drop(journal);
    let resumed = w.m.run(&["run", "--headless", "--until", SSO]);
    resumed.expect_code(0);
    let (entries, _) = w.m.journal();
    for step in [PLAN, ACCESS, TENANT, SSO] {
        let rechecks = events(&entries, "step-rechecked", step);
        assert_eq!(rechecks.len(), 1, "{step}: {rechecks:?}");
        assert_eq!(rechecks[0]["holds"], true, "{step}: {}", rechecks[0]);
    }
    // A check that no longer holds is run again, and fails for its reason.
    w.sql(
        "UPDATE accounts SET state = 'pending' WHERE self_domain = '3scale-admin.apps.rhoam.test'",
    );
    let (_, mut journal) = crate::cli::open_journal(&w.m);
    journal
        .append(JournalEvent::StepStarted {
            step: TENANT.to_string(),
            attempt: 10,
            runs_as: "check".to_string(),
        })
        .expect("record a start");
    drop(journal);
    let again = w.m.run(&["run", "--headless", "--until", SSO]);
    assert_ne!(again.code, 0);
    let (outcome, summary) = w.finished(TENANT);
    assert_eq!(outcome, "failed", "{summary}");
    assert!(summary.contains("not approved"), "{summary}");
    w.assert_no_token(&[&resumed, &again], &[]);
}

#[test]
fn a_tenant_on_another_plan_is_moved_by_plan_upgrade_only_after_the_typed_phrase() {
    let w = world("checks-plan");
    // The tenant's contract on master's service moves to "Master Plan".
    w.sql(
        "UPDATE cinstances SET plan_id = (SELECT id FROM plans WHERE name = 'Master Plan') \
         WHERE user_account_id = 2 AND service_id = 1",
    );
    let held = "SELECT p.name FROM cinstances c JOIN plans p ON p.id = c.plan_id \
                WHERE c.user_account_id = 2 AND c.service_id = 1";

    let declined = w.run(PLAN, PLAN, &["check-master-plan=leave the plans"]);
    assert_ne!(declined.code, 0);
    let (outcome, summary) = w.finished(PLAN);
    assert_eq!(outcome, "failed");
    assert!(
        summary.contains("holds \"Master Plan\", not PROVIDER_PLAN \"enterprise\""),
        "{summary}"
    );
    assert!(
        summary.contains("leave the plans as they are: nothing was changed"),
        "{summary}"
    );
    assert_eq!(w.text(held), "Master Plan", "declining changes nothing");

    let fixed = w.run(
        PLAN,
        PLAN,
        &["check-master-plan=upgrade 1 tenant to enterprise"],
    );
    fixed.expect_code(0);
    let (outcome, summary) = w.finished(PLAN);
    assert_eq!(outcome, "passed", "{summary}");
    assert!(summary.contains("plan_upgrade"), "{summary}");
    assert_eq!(w.text(held), "enterprise", "porta's plan_upgrade moved it");
    w.assert_no_token(&[&declined, &fixed], &[]);
}

#[test]
fn a_wrong_master_token_is_refused_and_named_by_its_secret() {
    let w = world("checks-token");
    let wrong = "wrongMasterTokenNotInTheDatabase42";
    w.m.clusters
        .as_ref()
        .expect("clusters")
        .destination
        .apply_object(system_seed(wrong))
        .expect("replace system-seed");
    let run = w.run(ACCESS, ACCESS, &[]);
    assert_ne!(run.code, 0);
    let (outcome, summary) = w.finished(ACCESS);
    assert_eq!(outcome, "failed");
    assert!(summary.contains("answered 401"), "{summary}");
    assert!(
        summary
            .contains("MASTER_ACCESS_TOKEN of secret system-seed (namespace redhat-rhoam-3scale)"),
        "{summary}"
    );
    w.assert_no_token(&[&run], &[wrong]);
}

#[test]
fn a_tenant_that_is_not_approved_fails_the_default_tenant_check() {
    let w = world("checks-tenant");
    w.sql("UPDATE accounts SET state = 'suspended' WHERE self_domain = '3scale-admin.apps.rhoam.test'");
    let run = w.run(TENANT, TENANT, &[]);
    assert_ne!(run.code, 0);
    let (outcome, summary) = w.finished(TENANT);
    assert_eq!(outcome, "failed");
    assert!(summary.contains("403 with no body"), "{summary}");
    assert!(summary.contains("not approved"), "{summary}");
}

#[test]
fn a_stale_migrated_rhsso_is_named() {
    let w = world("checks-sso");
    w.sql(
        "UPDATE authentication_providers \
         SET site = 'https://keycloak-rhsso.apps.source.test/auth/realms/openshift' \
         WHERE name = 'rhsso'",
    );
    let run = w.run(SSO, SSO, &[]);
    assert_ne!(run.code, 0);
    let (outcome, summary) = w.finished(SSO);
    assert_eq!(outcome, "failed");
    assert!(summary.contains("`rhsso`"), "{summary}");
    assert!(summary.contains("stale"), "{summary}");
    assert!(
        summary.contains("keycloak-rhsso.apps.source.test"),
        "{summary}"
    );
}

#[test]
fn the_simulated_api_refuses_as_porta_does() {
    let db = destination_database();
    let url = db.url().to_string();
    block_on(|| async move {
        let server = ThreescaleApiServer::start(&url, None).await.expect("start");
        let connect = ConnectTo::parse(&server.url()).expect("its address");
        let client = ApiClient::new(Some(connect), None).expect("a client");
        let master = format!("master.{WILDCARD}");
        let admin = format!("3scale-admin.{WILDCARD}");
        let good_admin = Token::new(ADMIN_TOKEN);
        let good_master = Token::new(MASTER_TOKEN);
        let wrong = Token::new("not-a-token");

        let nobody = format!("nobody-admin.{WILDCARD}");
        // (host, path, token, status, body): what porta answers.
        let cases: [(&str, &str, &Token, u16, Value); 7] = [
            (
                &admin,
                "/admin/api/provider.json",
                &good_admin,
                200,
                Value::Null,
            ),
            // The Admin API: an unknown token, a host no account has.
            (
                &admin,
                "/admin/api/provider.json",
                &wrong,
                403,
                json!({"error": "Access denied"}),
            ),
            (
                &nobody,
                "/admin/api/provider.json",
                &good_admin,
                403,
                json!({"error": "Access denied"}),
            ),
            // The tenant's token is not master's.
            (
                &master,
                "/master/api/providers/2.json",
                &good_admin,
                401,
                json!("unauthorized"),
            ),
            // The Master API on another host: 403 and no body.
            (
                &admin,
                "/master/api/providers/2.json",
                &good_master,
                403,
                json!(""),
            ),
            // An unknown provider.
            (
                &master,
                "/master/api/providers/999.json",
                &good_master,
                404,
                json!({"status": "Not found"}),
            ),
            (
                &master,
                "/master/api/providers/2.json",
                &good_master,
                200,
                Value::Null,
            ),
        ];
        for (host, path, token, status, body) in cases {
            let r = client.get(host, path, token).await.expect("get");
            assert_eq!(r.status, status, "{host}{path}: {}", r.excerpt());
            let text = String::from_utf8_lossy(&r.body).to_string();
            match &body {
                Value::Null => {}
                Value::String(plain) => assert_eq!(&text, plain, "{host}{path}"),
                json => assert_eq!(&r.json().expect("json"), json, "{host}{path}"),
            }
        }
        let provider = client
            .get(&admin, "/admin/api/provider.json", &good_admin)
            .await
            .expect("get")
            .json()
            .expect("json");
        assert_eq!(provider["account"]["admin_domain"], admin.as_str());
        assert_eq!(provider["account"]["state"], "approved");
        let tenant = client
            .get(&master, "/master/api/providers/2.json", &good_master)
            .await
            .expect("get")
            .json()
            .expect("json");
        assert_eq!(tenant["signup"]["account"]["id"], 2);

        // plan_upgrade: a plan that is not master's, then a read-only token of master's.
        let r = client
            .put_form(
                &master,
                "/master/api/providers/2/plan_upgrade.json",
                &[("plan_id", "99999")],
                &good_master,
            )
            .await
            .expect("put");
        assert_eq!(r.status, 404);
        assert_eq!(
            r.json().expect("json")["error"],
            "Plan with ID 99999 not found"
        );
        let apicast = Token::new("checksApicastToken");
        let r = client
            .put_form(
                &master,
                "/master/api/providers/2/plan_upgrade.json",
                &[("plan_id", "1")],
                &apicast,
            )
            .await
            .expect("put");
        assert_eq!(r.status, 403, "{}", r.excerpt());

        // A missing server is an error naming the URL, never the token.
        drop(server);
        let gone =
            ApiClient::new(ConnectTo::parse("http://127.0.0.1:1").ok(), None).expect("client");
        let e = gone
            .get(&master, "/master/api/providers/2.json", &good_master)
            .await
            .expect_err("no server");
        let text = format!("{e:#}");
        assert!(
            text.contains("https://master.apps.rhoam.test/master/api/providers/2.json"),
            "{text}"
        );
        assert!(!text.contains(MASTER_TOKEN), "{text}");
    });
}

/// A private CA and a router certificate it signed for 127.0.0.1, made by `openssl`, in `dir`:
/// (the CA's PEM, the certificate's PEM, its key's PEM).
pub(crate) fn private_ca(dir: &std::path::Path) -> [std::path::PathBuf; 3] {
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=private router CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "router.key",
        "-out",
        "router.csr",
        "-subj",
        "/CN=router",
    ]);
    std::fs::write(
        dir.join("router.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write the extensions");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "router.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "router.pem",
        "-days",
        "2",
        "-extfile",
        "router.ext",
    ]);
    [
        dir.join("ca.pem"),
        dir.join("router.pem"),
        dir.join("router.key"),
    ]
}

#[test]
fn the_client_trusts_a_private_router_ca_from_the_ca_file() {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().expect("a temporary directory");
    let [ca, cert, key] = private_ca(dir.path());
    block_on(|| async move {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
            .expect("the certificate")
            .collect::<Result<_, _>>()
            .expect("PEM");
        let key = PrivateKeyDer::from_pem_file(&key).expect("the key");
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("a server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        // A router that answers each TLS request with the Host it was sent.
        let server = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    continue;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
                let host = text
                    .lines()
                    .find_map(|l| l.strip_prefix("host: "))
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                let body = json!({ "host": host }).to_string();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            }
        });
        let router = ConnectTo::parse(&format!("https://127.0.0.1:{port}")).expect("address");
        let host = format!("master.{WILDCARD}");
        let token = Token::new(MASTER_TOKEN);

        // Trusting the private CA: the request goes through, keeping its Host.
        let client = ApiClient::new(Some(router.clone()), Some(&ca)).expect("a client");
        let r = client
            .get(&host, "/master/api/providers/2.json", &token)
            .await
            .expect("through TLS");
        assert_eq!(r.status, 200);
        assert_eq!(r.json().expect("json")["host"], host.as_str());

        // Without it, the certificate is refused, and the error names the URL only.
        let client = ApiClient::new(Some(router), None).expect("a client");
        let e = client
            .get(&host, "/master/api/providers/2.json", &token)
            .await
            .expect_err("an unknown CA");
        let text = format!("{e:#}");
        assert!(
            text.contains("https://master.apps.rhoam.test/master/api/providers/2.json"),
            "{text}"
        );
        assert!(text.to_lowercase().contains("certificate"), "{text}");
        assert!(!text.contains(MASTER_TOKEN), "{text}");
        server.abort();
    });
}

/// zync's routes for every host of the world's database, `extra` (name, host) besides.
fn route_every_host(w: &World, skip: Option<&str>, extra: &[(&str, &str)]) {
    let destination = &w.m.clusters.as_ref().expect("clusters").destination;
    for r in destination.list_objects("route.openshift.io/v1", "Route", Some(DEST_NS), None) {
        let name = r["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        destination.delete_object("route.openshift.io/v1", "Route", DEST_NS, &name);
    }
    let hosts = crate::start::database_hosts(w.db.url());
    let routes = hosts
        .iter()
        .filter(|(host, _)| Some(host.as_str()) != skip)
        .map(|(host, to)| (host.clone(), to.clone()))
        .chain(
            extra
                .iter()
                .map(|(_, h)| (h.to_string(), "system-developer".to_string())),
        );
    for (i, (host, to)) in routes.enumerate() {
        destination
            .apply_object(json!({
                "apiVersion": "route.openshift.io/v1",
                "kind": "Route",
                "metadata": {"name": format!("zync-3scale-test-{i}"), "namespace": DEST_NS,
                             "labels": {"3scale.net/created-by": "zync"}},
                "spec": {"host": host, "to": {"kind": "Service", "name": to}},
            }))
            .expect("a route");
    }
}

#[test]
fn the_verification_checks_routes_and_a_gateway_call_then_takes_both_parties_word() {
    let w = world("verify");
    let key = w.text(
        "SELECT c.user_key FROM cinstances c JOIN plans p ON p.id = c.plan_id \
         JOIN services s ON s.id = p.issuer_id WHERE c.state = 'live' \
         AND s.deployment_option = 'hosted' AND s.account_id <> 1 ORDER BY s.id, c.id LIMIT 1",
    );
    // A host without its route, and a route left on the source's domain: both named.
    route_every_host(
        &w,
        Some("3scale.apps.rhoam.test"),
        &[("stale", "old-portal.apps.source.test")],
    );
    skip_steps(&w.m, Some(PLAN), VERIFY, None);
    let run =
        w.m.run(&["run", "--headless", "--until", VERIFY, "--confirm", VERIFY]);
    run.expect_code(1);
    let (outcome, summary) = w.finished(VERIFY);
    assert_eq!(outcome, "failed");
    assert!(
        summary.contains("no route for 1 of the")
            && summary.contains("3scale.apps.rhoam.test → system-developer")
            && summary.contains("old-portal.apps.source.test"),
        "{summary}"
    );

    // Every host routed: the call through the staging gateway answers, then both parties' word.
    route_every_host(&w, None, &[]);
    let asked =
        w.m.run(&["run", "--headless", "--until", VERIFY, "--confirm", VERIFY]);
    let said = format!("{}{}", asked.stdout, asked.stderr);
    assert!(
        said.contains("--confirm verify-installation=\"verified by both\""),
        "the step asks for both parties' word: {said}"
    );
    let run = w.m.run(&[
        "run",
        "--headless",
        "--until",
        VERIFY,
        "--confirm",
        VERIFY,
        "--confirm",
        &format!("{VERIFY}=verified by both"),
    ]);
    run.expect_code(0);
    let (outcome, summary) = w.finished(VERIFY);
    assert_eq!(outcome, "passed", "{summary}");
    assert!(
        summary.contains("staging gateway") && summary.contains("answered 200"),
        "{summary}"
    );
    w.assert_no_token(&[&run, &asked], &[&key]);
}
