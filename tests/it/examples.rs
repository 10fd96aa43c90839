//! The shipped example configs work as shipped.

use crate::support::cutover_bin;

fn plan(config: &str, format: &str) -> std::process::Output {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(config);
    std::process::Command::new(cutover_bin())
        .arg("plan")
        .arg("--config")
        .arg(path)
        .args(["--format", format])
        .env_remove("CUTOVER_STATE_DIR")
        .output()
        .expect("run cutover plan")
}

#[test]
fn config_example_plans_as_shipped() {
    for format in ["text", "json", "markdown"] {
        let out = plan("config.example.toml", format);
        assert!(
            out.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&plan("config.example.toml", "json").stdout).expect("json");
    assert_eq!(doc["runbook"], "threescale-rhoam");
    assert_eq!(doc["party"], "red-hat");
    let steps = doc["steps"].as_array().expect("steps");
    // A MySQL source: the conversion is part of the plan, the PostgreSQL restore is not.
    assert!(steps.iter().any(|s| s["id"] == "convert-system-database"));
    assert!(!steps.iter().any(|s| s["id"] == "restore-system-database"));
    assert!(steps.iter().any(|s| s["id"] == "check-mysql"));
    // Red Hat on the limited path: the customer's steps are hand-offs.
    let stop = steps
        .iter()
        .find(|s| s["id"] == "stop-traffic")
        .expect("stop-traffic");
    assert_eq!(stop["hand_off"], true);
    assert_eq!(stop["owner"], "customer");
    let restore = steps
        .iter()
        .find(|s| s["id"] == "restore-backend-redis")
        .expect("restore-backend-redis");
    assert_eq!(restore["hand_off"], false);
    assert!(!doc["checklist"].as_array().expect("checklist").is_empty());
}

#[test]
fn velero_example_plans_as_shipped() {
    let out = plan("examples/velero-registry.toml", "json");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["runbook"], "velero-registry");
    let ids: Vec<&str> = doc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "check-kubeconfigs",
            "check-cluster-access",
            "check-platform-installed",
            "check-versions-match",
            "check-keycloak",
            "check-velero",
            "check-target-clean",
            "block-user-access",
            "backup-registry",
            "disable-jenkins-pipelines",
            "transfer-backup",
            "wait-backup-synced",
            "export-keycloak",
            "import-keycloak",
            "create-registry-in-console",
            "copy-registry-values",
            "restore-registry",
            "registry-post-fixes",
            "switch-regulations-dns",
            "verify-registry"
        ]
    );
    let text =
        String::from_utf8_lossy(&plan("examples/velero-registry.toml", "text").stdout).into_owned();
    assert!(
        text.contains("Extract and transform are out of scope"),
        "{text}"
    );
}

#[test]
fn every_placeholder_of_every_procedure_is_filled_by_the_examples() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for example in ["config.example.toml", "examples/velero-registry.toml"] {
        let config = cutover::config::Config::load(&root.join(example)).expect("example loads");
        for step in config.runbook().steps {
            let texts = [Some(step.procedure), step.changes, Some(step.doc)];
            for text in texts.into_iter().flatten() {
                for name in cutover::runbook::placeholders(text) {
                    assert!(
                        config.placeholder(name).is_some(),
                        "{example}: {}: {{{name}}} is not filled from the config",
                        step.id
                    );
                }
            }
        }
    }
}

#[test]
fn readme_step_table_matches_the_runbooks() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    // The generated tables only: other tables of the README may name steps too.
    let readme = text
        .split_once("<!-- steps:start -->")
        .and_then(|(_, rest)| rest.split_once("<!-- steps:end -->"))
        .map(|(tables, _)| tables)
        .expect("README.md has the generated step tables between their markers");
    for runbook in ["threescale-rhoam", "velero-registry"] {
        let out = std::process::Command::new(cutover_bin())
            .args(["matrix", "--runbook", runbook, "--format", "json"])
            .output()
            .expect("matrix");
        let m: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        for s in m["steps"].as_array().expect("steps") {
            let id = s["id"].as_str().expect("id");
            let row = readme
                .lines()
                .find(|l| l.contains(&format!("| `{id}` |")))
                .unwrap_or_else(|| panic!("README has no row for {id}"));
            let automation = match s["automation"].as_str() {
                Some("available") => "automated now",
                Some("manual-for-now") => "manual until automated",
                _ => "manual by nature",
            };
            assert!(
                row.contains(automation),
                "README row of {id} should say {automation}: {row}"
            );
        }
    }
}
