//! `dump-secrets` and `push-secrets` run by the real binary, `cutover run --headless`, against
//! a simulated 3scale source and RHOAM destination whose secrets hold distinctive values. The
//! steps before the one under test are recorded as skipped first. Every output of the runs
//! (stdout, stderr, the journal, logs/, every file under the state and dump folders) is then
//! searched for those values, raw and base64-encoded.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use base64::Engine;
use serde_json::{Value, json};

use cutover::sim::seed::{SeedTokens, Sizes, seed_system_database_with};

use crate::cli::{Migration, Run, events, step_after, threescale_toml, write_kubeconfigs};
use crate::support::{PgDatabase, block_on};

const DUMP: &str = "dump-secrets";
const PUSH: &str = "push-secrets";
const SOURCE_NS: &str = "3scale";
const DEST_NS: &str = "redhat-rhoam-3scale";
const RHOAM_NS: &str = "redhat-rhoam-operator";

/// Values seeded in the source's secrets, each one distinctive enough to be found anywhere.
const SEEDED: &[(&str, &str, &str)] = &[
    ("system-seed", "MASTER_PASSWORD", "Seeded-Master-Pw-7f3a9q"),
    (
        "system-seed",
        "MASTER_ACCESS_TOKEN",
        "seededMasterToken5e2d8b1c",
    ),
    ("system-seed", "ADMIN_PASSWORD", "Seeded-Admin-Pw-4c1b8z"),
    (
        "system-seed",
        "ADMIN_ACCESS_TOKEN",
        "seededAdminToken9a7e3f20",
    ),
    (
        "system-app",
        "SECRET_KEY_BASE",
        "seededSecretKeyBase0e1d6c4a",
    ),
    (
        "system-master-apicast",
        "ACCESS_TOKEN",
        "seededMasterToken5e2d8b1c",
    ),
    (
        "system-recaptcha",
        "PRIVATE_KEY",
        "seeded-recaptcha-private-91a7",
    ),
    (
        "system-database",
        "DB_PASSWORD",
        "seeded-db-password-5c7x2k",
    ),
    (
        "zync",
        "ZYNC_AUTHENTICATION_TOKEN",
        "seeded-zync-token-3b9w",
    ),
];

/// What the destination's RHOAM copy of system-seed holds before the push.
const RHOAM_COPY_VALUE: &str = "rhoam-copy-old-admin-pw-8d2";

pub(crate) fn secret(ns: &str, name: &str, data: &[(&str, &str)]) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(b64.encode(v))))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"app": "3scale-api-management"},
            "annotations": {
                // What `kubectl apply` leaves: the data again, in clear.
                "kubectl.kubernetes.io/last-applied-configuration":
                    format!("{{\"stringData\":{}}}", serde_json::to_string(&data).unwrap_or_default()),
            },
        },
        "type": "Opaque",
        "data": data,
    })
}

/// The source's secrets with [`SEEDED`] values (and the tenant `tenant`), and RHOAM's copy of
/// system-seed in its operator namespace at the destination.
fn seed(m: &Migration, tenant: &str) {
    let clusters = m.clusters.as_ref().expect("clusters");
    let mut by_secret: std::collections::BTreeMap<&str, Vec<(&str, &str)>> = Default::default();
    for (s, k, v) in SEEDED {
        by_secret.entry(*s).or_default().push((*k, *v));
    }
    by_secret
        .entry("system-seed")
        .or_default()
        .extend([("TENANT_NAME", tenant), ("MASTER_DOMAIN", "master")]);
    by_secret
        .entry("system-recaptcha")
        .or_default()
        .push(("PUBLIC_KEY", "public"));
    for (name, data) in by_secret {
        clusters
            .source
            .apply_object(secret(SOURCE_NS, name, &data))
            .expect("seed a source secret");
    }
    clusters
        .destination
        .apply_object(secret(
            RHOAM_NS,
            "system-seed",
            &[
                ("ADMIN_PASSWORD", RHOAM_COPY_VALUE),
                ("TENANT_NAME", "3scale"),
                ("MASTER_DOMAIN", "master"),
            ],
        ))
        .expect("seed RHOAM's copy");
}

/// The destination's system database after the seed: a 3scale database whose access tokens
/// are the source's [`SEEDED`] ones, as the migrated data has them.
fn destination_database() -> PgDatabase {
    let db = PgDatabase::create();
    let url = db.url().to_string();
    let value = |key: &str| {
        SEEDED
            .iter()
            .find(|(s, k, _)| *s == "system-seed" && *k == key)
            .map(|(_, _, v)| v.to_string())
            .unwrap_or_default()
    };
    let tokens = SeedTokens {
        master: value("MASTER_ACCESS_TOKEN"),
        apicast: value("MASTER_ACCESS_TOKEN"),
        admin: value("ADMIN_ACCESS_TOKEN"),
    };
    let sizes = Sizes {
        services: 2,
        applications_per_service: 2,
        ..Sizes::default()
    };
    block_on(|| async move {
        let release = cutover::sim::seed::porta_schema::destination_release();
        seed_system_database_with(&url, "apps.rhoam.test", &sizes, &tokens, release)
            .await
            .unwrap_or_else(|e| panic!("seed the destination database: {e:#}"))
    });
    db
}

/// A customer's migration on the no-access path (the customer runs both steps), with an age
/// identity of its own as the recipient, and the destination's system database by URL.
fn migration(name: &str) -> (Migration, PgDatabase) {
    let db = destination_database();
    let (identity, public) = cutover::infra::age::generate_identity();
    let toml = format!(
        "{}age_recipients = [\"{public}\"]\nage_identity = \"{{dir}}/age-identity.txt\"\n",
        threescale_toml(name, "customer", "no-access", "")
    )
    .replace(
        "wildcard_domain = \"apps.rhoam.test\"\n",
        &format!(
            "wildcard_domain = \"apps.rhoam.test\"\nsystem_database_url = \"{}\"\n\
             system_database_kind = \"postgresql\"\n",
            db.url()
        ),
    );
    let mut m = Migration::new(name, &toml);
    let id = m.dir.path().join("age-identity.txt");
    std::fs::write(&id, identity).expect("write the identity");
    std::fs::set_permissions(&id, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    write_kubeconfigs(&mut m);
    (m, db)
}

fn dumps(m: &Migration) -> PathBuf {
    m.dir.path().join("dumps")
}

fn secret_data(cluster: &cutover::sim::SimCluster, ns: &str, name: &str) -> Value {
    cluster
        .get_object("v1", "Secret", ns, name)
        .map(|s| s["data"].clone())
        .unwrap_or(Value::Null)
}

fn fact(m: &Migration, step: &str, key: &str) -> Value {
    let (entries, _) = m.journal();
    events(&entries, "step-fact", step)
        .into_iter()
        .find(|e| e["key"] == key)
        .map(|e| e["value"].clone())
        .unwrap_or_else(|| panic!("{step} recorded no fact {key}"))
}

/// The seeded value (raw or base64) that appears in `text`, named by secret and key.
fn secret_in(text: &[u8]) -> Option<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let rhoam_copy = (
        "system-seed",
        "ADMIN_PASSWORD (RHOAM's copy)",
        RHOAM_COPY_VALUE,
    );
    for (s, k, v) in SEEDED.iter().copied().chain([rhoam_copy]) {
        for form in [v.to_string(), b64.encode(v)] {
            if text.windows(form.len()).any(|w| w == form.as_bytes()) {
                return Some(format!("{s}/{k}"));
            }
        }
    }
    None
}

fn assert_no_secret(place: &str, text: &[u8]) {
    if let Some(which) = secret_in(text) {
        panic!("{which} appears in clear in {place}");
    }
}

fn assert_nothing_in_clear(m: &Migration, runs: &[&Run]) {
    // The search finds what it looks for.
    let b64 = base64::engine::general_purpose::STANDARD;
    assert!(secret_in(format!("x {} y", SEEDED[0].2).as_bytes()).is_some());
    assert!(secret_in(format!("\"{}\"", b64.encode(SEEDED[4].2)).as_bytes()).is_some());
    for (i, run) in runs.iter().enumerate() {
        assert_no_secret(&format!("the stdout of run {i}"), run.stdout.as_bytes());
        assert_no_secret(&format!("the stderr of run {i}"), run.stderr.as_bytes());
    }
    let mut files = Vec::new();
    crate::dumps::files_under(m.dir.path(), &mut files);
    let journal = m.journal_path();
    assert!(files.contains(&journal), "the journal is searched");
    assert!(
        files
            .iter()
            .any(|f| f.starts_with(m.migration_dir().join("logs"))),
        "the logs are searched"
    );
    for f in &files {
        let body = std::fs::read(f).expect("read an output file");
        assert_no_secret(&f.display().to_string(), &body);
    }
}

fn dump(m: &Migration) -> Run {
    crate::cli::skip_steps(m, None, DUMP, None);
    m.run(&["run", "--headless", "--until", DUMP])
}

fn push(m: &Migration, answers: &[&str]) -> Run {
    let mut args = vec!["run", "--headless", "--until", PUSH];
    let confirms: Vec<String> = answers.iter().map(|a| format!("{PUSH}={a}")).collect();
    for c in &confirms {
        args.push("--confirm");
        args.push(c);
    }
    m.run(&args)
}

#[test]
fn secrets_are_exported_encrypted_pushed_and_never_in_clear() {
    let (m, _db) = migration("secrets-clear");
    seed(&m, "3scale");
    let dumped = dump(&m);
    dumped.expect_code(0);

    let folder = dumps(&m);
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(folder.join("manifest.json")).expect("manifest"),
    )
    .expect("manifest JSON");
    let artifacts = manifest["artifacts"].as_array().expect("artifacts");
    let entry = |file: &str| {
        artifacts
            .iter()
            .find(|a| a["file"] == file)
            .unwrap_or_else(|| panic!("{file} in the manifest: {manifest}"))
    };
    let seed_entry = entry("secrets/secret-system-seed.json.age");
    assert_eq!(seed_entry["kind"], "secret");
    assert_eq!(seed_entry["encrypted"], true);
    assert_eq!(seed_entry["counts"]["keys"], 6);
    assert_eq!(
        seed_entry["source"],
        "cluster src namespace 3scale secret/system-seed"
    );
    assert_eq!(
        entry("secrets/configmap-system-environment.json.age")["kind"],
        "configmap"
    );
    assert_eq!(
        entry("secrets/apimanager-3scale.json.age")["kind"],
        "apimanager"
    );
    for a in artifacts {
        let path = folder.join(a["file"].as_str().expect("file"));
        let mode = std::fs::metadata(&path).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        let body = std::fs::read(&path).expect("read");
        assert!(
            body.starts_with(b"age-encryption.org/v1\n"),
            "{}",
            path.display()
        );
    }
    let exported = fact(&m, DUMP, "exported");
    let seed_keys = exported["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .find(|o| o["name"] == "system-seed")
        .expect("system-seed exported")["keys"]
        .clone();
    assert!(
        seed_keys
            .as_array()
            .expect("keys")
            .contains(&json!("MASTER_PASSWORD")),
        "{exported}"
    );
    // 2.14 has redis-config? The sim's source does not: it is noted, not an error.
    assert!(
        exported["absent"]
            .as_array()
            .expect("absent")
            .contains(&json!("configmap/redis-config")),
        "{exported}"
    );

    crate::cli::skip_steps(&m, Some(&step_after(&m, DUMP)), PUSH, None);
    let dest = &m.clusters.as_ref().expect("clusters").destination;
    let database_before = secret_data(dest, DEST_NS, "system-database");
    let zync_before = secret_data(dest, DEST_NS, "zync");
    let seed_before = secret_data(dest, DEST_NS, "system-seed");

    // The gate alone: the step shows the diff and waits for the typed count.
    let waiting = push(&m, &["push secrets"]);
    waiting.expect_code(3);
    assert!(
        waiting
            .stdout
            .contains("secret system-seed in redhat-rhoam-3scale: changes"),
        "{}",
        waiting.stdout
    );
    assert!(
        waiting.stdout.contains("ADMIN_PASSWORD"),
        "{}",
        waiting.stdout
    );
    assert!(
        waiting.stderr.contains("push 5 secrets"),
        "{}",
        waiting.stderr
    );
    assert_eq!(secret_data(dest, DEST_NS, "system-seed"), seed_before);

    let pushed = push(&m, &["push secrets", "push 5 secrets"]);
    pushed.expect_code(0);

    let source = &m.clusters.as_ref().expect("clusters").source;
    for name in [
        "system-seed",
        "system-app",
        "system-master-apicast",
        "system-recaptcha",
    ] {
        assert_eq!(
            secret_data(dest, DEST_NS, name),
            secret_data(source, SOURCE_NS, name),
            "{name} holds the source's data"
        );
    }
    assert_eq!(
        secret_data(dest, RHOAM_NS, "system-seed"),
        secret_data(source, SOURCE_NS, "system-seed"),
        "RHOAM's copy holds the source's data"
    );
    let kept = dest
        .get_object("v1", "Secret", DEST_NS, "system-seed")
        .expect("seed");
    assert!(kept["metadata"]["labels"].is_object(), "{kept}");
    assert_eq!(
        secret_data(dest, DEST_NS, "system-database"),
        database_before
    );
    assert_eq!(secret_data(dest, DEST_NS, "zync"), zync_before);

    let before = folder.join("destination-secrets-before/secret-system-seed.json.age");
    let body = std::fs::read(&before).expect("the destination's values are saved");
    assert!(body.starts_with(b"age-encryption.org/v1\n"));
    assert!(
        folder
            .join("destination-secrets-before/redhat-rhoam-operator/secret-system-seed.json.age")
            .exists()
    );
    let fact = fact(&m, PUSH, "pushed");
    assert_eq!(fact["differences"], json!([]), "{fact}");

    assert_nothing_in_clear(&m, &[&dumped, &waiting, &pushed]);
}

#[test]
fn a_changed_byte_stops_the_push_with_the_artifact_name() {
    let (m, _db) = migration("secrets-tamper");
    seed(&m, "3scale");
    dump(&m).expect_code(0);
    let file = dumps(&m).join("secrets/configmap-system-environment.json.age");
    let mut body = std::fs::read(&file).expect("read");
    let last = body.len() - 1;
    body[last] ^= 0x01;
    std::fs::write(&file, &body).expect("write");

    crate::cli::skip_steps(&m, Some(&step_after(&m, DUMP)), PUSH, None);
    let dest = &m.clusters.as_ref().expect("clusters").destination;
    let seed_before = secret_data(dest, DEST_NS, "system-seed");
    let run = push(&m, &["push secrets", "push 5 secrets"]);
    run.expect_code(1);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("the artifact secrets/configmap-system-environment.json.age"),
        "{all}"
    );
    assert!(all.contains("has changed since it was written"), "{all}");
    assert_eq!(secret_data(dest, DEST_NS, "system-seed"), seed_before);
}

#[test]
fn a_foreign_identity_or_tenant_is_refused_and_nothing_pushed() {
    let (m, _db) = migration("secrets-refusals");
    seed(&m, "acme");
    let dumped = dump(&m);
    dumped.expect_code(0);
    assert!(
        dumped.stdout.contains("TENANT_NAME is not RHOAM's"),
        "{}",
        dumped.stdout
    );
    crate::cli::skip_steps(&m, Some(&step_after(&m, DUMP)), PUSH, None);
    let dest = &m.clusters.as_ref().expect("clusters").destination;
    let seed_before = secret_data(dest, DEST_NS, "system-seed");

    // The tenant differs from RHOAM's: refused before anything changes.
    let run = push(&m, &["push secrets"]);
    run.expect_code(1);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("TENANT_NAME differs"), "{all}");
    assert!(!all.contains("acme"), "{all}");
    assert_eq!(secret_data(dest, DEST_NS, "system-seed"), seed_before);

    // An identity that is not a recipient is named, and its key never shown.
    let (other, _) = cutover::infra::age::generate_identity();
    std::fs::write(m.dir.path().join("age-identity.txt"), &other).expect("write");
    let run = push(&m, &["push secrets"]);
    assert_ne!(run.code, 0);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("was not encrypted to any key"), "{all}");
    assert!(!all.contains("AGE-SECRET-KEY"), "{all}");
    assert_eq!(secret_data(dest, DEST_NS, "system-seed"), seed_before);
}

/// Runs `sql` on the test database.
fn execute(db: &PgDatabase, sql: &'static str) {
    let url = db.url().to_string();
    block_on(|| async move {
        let client = cutover::infra::pg::connect(&url, std::time::Duration::from_secs(30))
            .await
            .expect("connect to the destination database");
        client.batch_execute(sql).await.expect("change the tokens");
    });
}

#[test]
fn a_token_rhoam_needs_missing_from_the_migrated_database_stops_the_push_before_it_writes() {
    let (m, db) = migration("secrets-tokens");
    seed(&m, "3scale");
    dump(&m).expect_code(0);
    crate::cli::skip_steps(&m, Some(&step_after(&m, DUMP)), PUSH, None);
    let dest = &m.clusters.as_ref().expect("clusters").destination;
    let before: Vec<Value> = ["system-seed", "system-app", "system-master-apicast"]
        .iter()
        .map(|n| secret_data(dest, DEST_NS, n))
        .collect();

    // The tenant admin's token was deleted at the source: RHOAM could not call its Admin API.
    execute(
        &db,
        "DELETE FROM access_tokens WHERE name = 'Administration'",
    );
    let run = push(&m, &["push secrets", "push 5 secrets"]);
    run.expect_code(1);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("no access token of the migrated database equals the source's system-seed ADMIN_ACCESS_TOKEN"),
        "{all}"
    );
    assert!(
        !all.contains("MASTER_ACCESS_TOKEN ("),
        "the master token is there: {all}"
    );
    assert!(all.contains("Nothing was pushed"), "{all}");
    assert!(
        !all.contains("push 5 secrets"),
        "refused before the gate: {all}"
    );
    let after: Vec<Value> = ["system-seed", "system-app", "system-master-apicast"]
        .iter()
        .map(|n| secret_data(dest, DEST_NS, n))
        .collect();
    assert_eq!(after, before, "nothing was written");
    assert!(!dumps(&m).join("destination-secrets-before").exists());

    // The master token made read-only: named too.
    execute(
        &db,
        "UPDATE access_tokens SET permission = 'ro' WHERE name = 'Master Token'",
    );
    let run = push(&m, &["push secrets", "push 5 secrets"]);
    run.expect_code(1);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("MASTER_ACCESS_TOKEN (RHOAM calls the master API"),
        "{all}"
    );
    assert!(all.contains("is a `ro` token"), "{all}");
    assert_nothing_in_clear(&m, &[&run]);
}

#[test]
fn without_recipients_the_dump_asks_for_them() {
    let mut m = Migration::new(
        "secrets-norecipients",
        &threescale_toml("secrets-norecipients", "customer", "no-access", ""),
    );
    write_kubeconfigs(&mut m);
    let run = dump(&m);
    assert_ne!(run.code, 0);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("dumps.age_recipients is empty"), "{all}");
    assert!(!dumps(&m).join("secrets").exists());
}

#[test]
fn without_a_dump_the_push_offers_to_export_the_source_first() {
    let (m, _db) = migration("secrets-offer");
    seed(&m, "3scale");
    crate::cli::skip_steps(&m, None, PUSH, None);
    let asked = push(&m, &["push secrets"]);
    asked.expect_code(3);
    assert!(asked.stderr.contains("export now"), "{}", asked.stderr);
    assert!(!dumps(&m).join("secrets").exists());

    let pushed = push(&m, &["push secrets", "export now", "push 5 secrets"]);
    pushed.expect_code(0);
    assert!(
        dumps(&m)
            .join("secrets/secret-system-seed.json.age")
            .exists()
    );
    let dest = &m.clusters.as_ref().expect("clusters").destination;
    let source = &m.clusters.as_ref().expect("clusters").source;
    assert_eq!(
        secret_data(dest, DEST_NS, "system-seed"),
        secret_data(source, SOURCE_NS, "system-seed")
    );
    assert_nothing_in_clear(&m, &[&asked, &pushed]);
}

/// Appends a start of `step` to the journal, as a process that died inside it leaves it.
fn started_again(m: &Migration, step: &str) {
    use cutover::journal::JournalEvent;
    let (_, mut journal) = crate::cli::open_journal(m);
    journal
        .append(JournalEvent::StepStarted {
            step: step.to_string(),
            attempt: 9,
            runs_as: "automated".to_string(),
        })
        .expect("record a start");
}

#[test]
fn a_resumed_run_rechecks_both_steps_without_redoing_them() {
    let (m, _db) = migration("secrets-resume");
    seed(&m, "3scale");
    dump(&m).expect_code(0);
    started_again(&m, DUMP);
    m.run(&["run", "--headless", "--until", DUMP])
        .expect_code(0);
    crate::cli::skip_steps(&m, Some(&step_after(&m, DUMP)), PUSH, None);
    push(&m, &["push secrets", "push 5 secrets"]).expect_code(0);
    started_again(&m, PUSH);
    // No answers: a push that ran again would ask the gate and stop with 3.
    m.run(&["run", "--headless", "--until", PUSH])
        .expect_code(0);
    let (entries, _) = m.journal();
    for step in [DUMP, PUSH] {
        let rechecks = events(&entries, "step-rechecked", step);
        assert_eq!(rechecks.len(), 1, "{step}: {rechecks:?}");
        assert_eq!(rechecks[0]["holds"], true, "{step}: {}", rechecks[0]);
    }
}
