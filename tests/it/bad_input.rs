//! Every kind of bad input gets a message that says what to do, and exit code 2.

use crate::cli::{Migration, Run, threescale_toml, write_kubeconfigs};
use crate::support::{RedisServer, cutover_bin};

fn assert_bad_input(run: &Run, needles: &[&str]) {
    run.expect_code(2);
    for n in needles {
        assert!(
            run.stderr.contains(n),
            "stderr lacks {n:?}:\n{}",
            run.stderr
        );
    }
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

fn plan_of(toml: &str) -> Run {
    Migration::new("m", toml).run(&["plan"])
}

#[test]
fn malformed_config_names_file_line_and_column() {
    let toml = threescale_toml(
        "m",
        "red-hat",
        "limited",
        "system_redis_url = \"unterminated",
    );
    let m = Migration::new("m", &toml);
    let run = m.run(&["plan"]);
    let place = format!("{}:14:", m.config.display());
    assert_bad_input(&run, &[&place]);
}

#[test]
fn unknown_key_lists_the_allowed_keys() {
    let toml = threescale_toml("m", "red-hat", "limited", "wildcard_domian = \"x\"");
    assert_bad_input(
        &plan_of(&toml),
        &["unknown field `wildcard_domian`", "wildcard_domain"],
    );
}

#[test]
fn unknown_runbook_path_and_party_list_the_allowed_values() {
    let base = threescale_toml("m", "red-hat", "limited", "");
    let runbook = base.replace("runbook = \"threescale-rhoam\"", "runbook = \"3scale\"");
    assert_bad_input(
        &plan_of(&runbook),
        &[
            "unknown runbook `3scale`",
            "threescale-rhoam, velero-registry",
        ],
    );
    let path = base.replace("access_path = \"limited\"", "access_path = \"full\"");
    assert_bad_input(
        &plan_of(&path),
        &[
            "unknown access path `full`",
            "limited, further-limited, no-access",
        ],
    );
    let wrong_path = base.replace(
        "access_path = \"limited\"",
        "access_path = \"cluster-admin\"",
    );
    assert_bad_input(
        &plan_of(&wrong_path),
        &["not a path of runbook threescale-rhoam", "no-access"],
    );
    let party = base.replace("party = \"red-hat\"", "party = \"redhat\"");
    assert_bad_input(
        &plan_of(&party),
        &["unknown party `redhat`", "red-hat, customer, both"],
    );
}

#[test]
fn matrix_with_an_unknown_runbook_lists_the_runbooks() {
    let out = std::process::Command::new(cutover_bin())
        .args(["matrix", "--runbook", "nope"])
        .output()
        .expect("run");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    };
    assert_bad_input(&run, &["threescale-rhoam, velero-registry"]);
}

#[test]
fn missing_config_file_says_which() {
    let m = Migration::new("m", "");
    let run = m
        .command(&["plan"])
        .arg("--config")
        .arg("/nonexistent/cutover.toml")
        .output()
        .expect("run");
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("/nonexistent/cutover.toml"));
}

#[test]
fn missing_secret_variable_and_file_are_named() {
    let toml = threescale_toml(
        "m",
        "red-hat",
        "limited",
        "system_database_url = \"env:CUTOVER_TEST_NOT_SET_ANYWHERE\"\nsystem_redis_url = \"file:{dir}/no-such-secret\"",
    );
    let mut m = Migration::new("m", &toml);
    write_kubeconfigs(&mut m);
    let run = m.run(&["run", "--headless"]);
    assert_bad_input(
        &run,
        &[
            "CUTOVER_TEST_NOT_SET_ANYWHERE",
            "source.system_database_url",
        ],
    );
    assert!(
        !m.journal_path().exists(),
        "nothing may start before the secrets are read"
    );

    let mut m = m;
    m.set_env("CUTOVER_TEST_NOT_SET_ANYWHERE", "postgresql://127.0.0.1/x");
    let run = m.run(&["run", "--headless"]);
    assert_bad_input(&run, &["no-such-secret", "source.system_redis_url"]);
}

#[test]
fn inline_password_is_refused_without_printing_it() {
    let toml = threescale_toml(
        "m",
        "red-hat",
        "limited",
        "backend_redis_storage_url = \"redis://:Sup3rSecretPw@127.0.0.1:6379/0\"",
    );
    let run = plan_of(&toml);
    assert_bad_input(&run, &["source.backend_redis_storage_url", "env:NAME"]);
    assert!(!run.stderr.contains("Sup3rSecretPw") && !run.stdout.contains("Sup3rSecretPw"));
}

#[test]
fn unknown_step_on_the_command_line_is_bad_input() {
    let mut m = Migration::new("m", &threescale_toml("m", "red-hat", "limited", ""));
    write_kubeconfigs(&mut m);
    assert_bad_input(
        &m.run(&["run", "--headless", "--confirm", "no-such-step"]),
        &["no-such-step", "cutover plan"],
    );
    assert_bad_input(&m.run(&["run", "--headless", "--until", "nope"]), &["nope"]);
    assert_bad_input(&m.run(&["run"]), &["--headless"]);
}

#[test]
fn corrupt_journal_names_the_line_and_is_left_as_it_was() {
    let mut m = Migration::new("m", &threescale_toml("m", "red-hat", "limited", ""));
    write_kubeconfigs(&mut m);
    m.run(&["run", "--headless"]).expect_code(3);
    let path = m.journal_path();
    let mut text = std::fs::read_to_string(&path).expect("journal");
    let lines: Vec<&str> = text.lines().collect();
    let broken = lines.len();
    text = format!(
        "{}\nnot json at all\n{}\n",
        lines[..broken - 1].join("\n"),
        lines[broken - 1]
    );
    std::fs::write(&path, &text).expect("write");
    let line = format!("line {broken}");
    assert_bad_input(&m.run(&["run", "--headless"]), &["corrupt", &line]);
    assert_bad_input(&m.run(&["status"]), &["corrupt", &line]);
    assert_eq!(
        std::fs::read_to_string(&path).expect("journal"),
        text,
        "the journal must not change"
    );
}

#[test]
fn journal_of_another_migration_is_refused() {
    let mut m = Migration::new("m", &threescale_toml("m", "red-hat", "limited", ""));
    write_kubeconfigs(&mut m);
    m.run(&["run", "--headless"]).expect_code(3);
    // Same state folder and name, but the config now says another path.
    let other = threescale_toml("m", "red-hat", "no-access", "");
    std::fs::write(
        &m.config,
        other.replace("{dir}", &m.dir.path().display().to_string()),
    )
    .expect("write");
    assert_bad_input(
        &m.run(&["run", "--headless"]),
        &["access path limited", "no-access"],
    );
    assert_bad_input(&m.run(&["status"]), &["access path limited"]);
}

#[test]
fn a_held_lock_names_its_holder() {
    let redis = RedisServer::start();
    let toml = threescale_toml(
        "m",
        "red-hat",
        "limited",
        &format!("backend_redis_storage_url = \"{}\"", redis.url()),
    );
    let mut m = Migration::new("m", &toml);
    write_kubeconfigs(&mut m);
    // A frozen Redis keeps the first run inside its check, holding the lock.
    redis.freeze();
    let mut first = m.spawn(&["run", "--headless"]);
    crate::cli::wait_until("the first run to start check-redis", || {
        let (entries, _) = m.journal();
        !crate::cli::events(&entries, "step-started", "check-redis").is_empty()
    });
    let second = m.run(&["run", "--headless"]);
    let status = m.status();
    let _ = first.kill();
    let _ = first.wait();
    redis.thaw();
    let pid = format!("pid {}", first.id());
    assert_bad_input(&second, &["in use by Test Operator", &pid, "--read-only"]);
    assert_eq!(
        status["lock"]["pid"].as_u64(),
        Some(first.id() as u64),
        "status names the holder"
    );
    assert_eq!(status["lock"]["operator"], "Test Operator");
}

#[test]
fn a_url_of_the_wrong_kind_is_refused_up_front() {
    let inline = threescale_toml(
        "m",
        "red-hat",
        "limited",
        "system_redis_url = \"postgresql://db/x\"",
    );
    assert_bad_input(&plan_of(&inline), &["source.system_redis_url", "redis://"]);
    let mut m = Migration::new(
        "m",
        &threescale_toml(
            "m",
            "red-hat",
            "limited",
            "system_database_url = \"env:CUTOVER_TEST_DB_URL\"",
        ),
    );
    write_kubeconfigs(&mut m);
    m.set_env("CUTOVER_TEST_DB_URL", "redis://:pw-not-shown@127.0.0.1/0");
    let run = m.run(&["run", "--headless"]);
    assert_bad_input(&run, &["source.system_database_url", "postgresql://"]);
    assert!(!run.stderr.contains("pw-not-shown"));
    assert!(!m.journal_path().exists(), "nothing may start");
}

#[test]
fn a_state_folder_that_cannot_be_created_is_bad_input() {
    let mut m = Migration::new("m", &threescale_toml("m", "red-hat", "limited", ""));
    write_kubeconfigs(&mut m);
    // A file where the state folder should be: refused even for root.
    std::fs::write(m.state_dir(), "").expect("write");
    assert_bad_input(
        &m.run(&["run", "--headless"]),
        &["cannot create state folder", "--state-dir"],
    );
}

#[test]
fn a_bad_threescale_api_setting_is_refused_naming_the_key() {
    let with = |extra: &str| {
        threescale_toml("m", "red-hat", "limited", "").replace(
            "wildcard_domain = \"apps.rhoam.test\"\n",
            &format!("wildcard_domain = \"apps.rhoam.test\"\n{extra}\n"),
        )
    };
    assert_bad_input(
        &plan_of(&with("threescale_api = \"127.0.0.1:3000\"")),
        &["destination.threescale_api", "http://"],
    );
    assert_bad_input(
        &plan_of(&with("threescale_api = \"http://127.0.0.1:3000/admin\"")),
        &["destination.threescale_api", "no path"],
    );
    assert_bad_input(
        &plan_of(&with("threescale_api_ca_file = \"no-such-ca.pem\"")),
        &["destination.threescale_api_ca_file", "no-such-ca.pem"],
    );
    let on_source = threescale_toml(
        "m",
        "red-hat",
        "limited",
        "threescale_api = \"http://127.0.0.1:3000\"",
    );
    assert_bad_input(
        &plan_of(&on_source),
        &["source.threescale_api", "only to [destination]"],
    );
    plan_of(&with("threescale_api = \"http://127.0.0.1:3000\"")).expect_code(0);
}

/// A `velero-registry` config with `velero_extra` in `[velero]` and `storage_extra` in
/// `[velero.storage.source]`; the kubeconfigs need not exist for `plan`.
fn velero_toml(velero_extra: &str, storage_extra: &str) -> String {
    format!(
        r#"[migration]
name = "m"
runbook = "velero-registry"
access_path = "cluster-admin"
party = "customer"
operator = "Op"
state_dir = "{{dir}}/state"

[source]
kubeconfig = "{{dir}}/kube-a"
namespace = "control-plane"

[destination]
kubeconfig = "{{dir}}/kube-b"
namespace = "control-plane"

[velero]
{velero_extra}

[velero.storage.source]
endpoint = "http://127.0.0.1:9000"
{storage_extra}

[velero.storage.destination]
endpoint = "http://127.0.0.1:9001"
access_key = "env:CUTOVER_TEST_B_KEY"
secret_key = "env:CUTOVER_TEST_B_SECRET"

[velero.keycloak]
url = "http://127.0.0.1:8080"
admin_user = "env:CUTOVER_TEST_KC_USER"
admin_password = "file:{{dir}}/kc-password"
"#
    )
}

const GOOD_KEYS: &str =
    "access_key = \"env:CUTOVER_TEST_A_KEY\"\nsecret_key = \"env:CUTOVER_TEST_A_SECRET\"";

#[test]
fn velero_config_loads_with_its_defaults() {
    let m = Migration::new("m", &velero_toml("registry = \"abc-02\"", GOOD_KEYS));
    let config = cutover::config::Config::load(&m.config).expect("loads");
    let v = config.velero.as_ref().expect("[velero]");
    assert_eq!(v.registry, "abc-02");
    assert_eq!(v.namespace, "velero");
    assert_eq!(v.edp_namespace, "control-plane");
    assert_eq!(v.keycloak_namespace, "user-management");
    assert_eq!(v.ttl_text(), "720h");
    assert_eq!(v.source_storage.bucket, "abc-02-backups");
    assert_eq!(v.source_storage.region, "eu-central-1");
    assert_eq!(
        config.placeholder("velero.registry").as_deref(),
        Some("abc-02")
    );
    assert_eq!(
        config.placeholder("velero.destination_endpoint").as_deref(),
        Some("http://127.0.0.1:9001")
    );
}

#[test]
fn velero_config_refuses_each_bad_key_by_name() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("", GOOD_KEYS, &["velero.registry is missing"]),
        (
            "registry = \"ABC_02\"",
            GOOD_KEYS,
            &["velero.registry", "`ABC_02`"],
        ),
        (
            "registry = \"abc\"\nbackup_ttl = \"0s\"",
            GOOD_KEYS,
            &["velero.backup_ttl", "positive duration"],
        ),
        (
            "registry = \"abc\"\nedp_namespace = \"Control Plane\"",
            GOOD_KEYS,
            &["velero.edp_namespace"],
        ),
        (
            "registry = \"abc\"\nregistry_namespaces = [\"abc\"]",
            GOOD_KEYS,
            &["unknown field `registry_namespaces`", "registry"],
        ),
        (
            "registry = \"abc\"",
            "access_key = \"env:CUTOVER_TEST_A_KEY\"",
            &["velero.storage.source.secret_key is missing", "env:NAME"],
        ),
        (
            "registry = \"abc\"",
            &format!("{GOOD_KEYS}\nbuckets = \"x\""),
            &["unknown field `buckets`", "bucket"],
        ),
        (
            "registry = \"abc\"",
            &format!("{GOOD_KEYS}\nbucket = \"UPPER\""),
            &["velero.storage.source.bucket", "`UPPER`"],
        ),
        (
            "registry = \"abc\"",
            &format!("{GOOD_KEYS}\nca_file = \"no-such.pem\""),
            &["velero.storage.source.ca_file", "no-such.pem"],
        ),
    ];
    for (velero, storage, needles) in cases {
        assert_bad_input(&plan_of(&velero_toml(velero, storage)), needles);
    }
    let bad_endpoint = velero_toml("registry = \"abc\"", GOOD_KEYS)
        .replace("http://127.0.0.1:9000", "minio.example:9000");
    assert_bad_input(
        &plan_of(&bad_endpoint),
        &["velero.storage.source.endpoint", "http(s) URL"],
    );
    let no_keycloak = velero_toml("registry = \"abc\"", GOOD_KEYS)
        .split("[velero.keycloak]")
        .next()
        .unwrap_or_default()
        .to_string();
    assert_bad_input(&plan_of(&no_keycloak), &["[velero.keycloak] is missing"]);
}

#[test]
fn velero_secret_keys_are_references_never_values() {
    let inline = "access_key = \"AKIAEXAMPLEKEY\"\nsecret_key = \"env:CUTOVER_TEST_A_SECRET\"";
    let run = plan_of(&velero_toml("registry = \"abc\"", inline));
    assert_bad_input(&run, &["velero.storage.source.access_key", "env:NAME"]);
    assert!(!run.stderr.contains("AKIAEXAMPLEKEY"), "{}", run.stderr);
}

#[test]
fn a_missing_velero_secret_stops_the_run_before_anything_starts() {
    let mut m = Migration::new("m", &velero_toml("registry = \"abc\"", GOOD_KEYS));
    for key in [
        "CUTOVER_TEST_A_KEY",
        "CUTOVER_TEST_A_SECRET",
        "CUTOVER_TEST_B_KEY",
    ] {
        m.set_env(key, "value-of-a-test");
    }
    let run = m.run(&["run", "--headless"]);
    assert_bad_input(
        &run,
        &[
            "CUTOVER_TEST_B_SECRET",
            "velero.storage.destination.secret_key",
        ],
    );
    assert!(!run.stderr.contains("value-of-a-test"), "{}", run.stderr);
    assert!(!m.journal_path().exists());
}
