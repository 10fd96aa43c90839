//! `cutover matrix` against the seed's table of owners (seed 000).

use serde_json::Value;

use crate::support::cutover_bin;

/// The seed's table, row by row: step text, then the owner on the limited,
/// further-limited and no-access paths, as the seed writes them.
const SEED_TABLE: &[(&str, &str, &str, &str)] = &[
    (
        "Performing pre-requisite steps by both parties, Red Hat and the customer",
        "Red Hat / Customer",
        "Red Hat / Customer",
        "Red Hat / Customer",
    ),
    (
        "Disable services so that there's no more traffic going to 3scale",
        "Customer",
        "Customer",
        "Customer",
    ),
    (
        "Confirming that the job queue is empty or relatively low and acceptance on data loss of any job that has not been processed",
        "Customer",
        "Customer",
        "Customer",
    ),
    (
        "Scaling down 3scale instance",
        "Customer",
        "Customer",
        "Customer",
    ),
    ("Performing dumps", "Customer", "Customer", "Customer"),
    (
        "Creation of migration cluster",
        "Red Hat",
        "Red Hat",
        "Customer",
    ),
    (
        "Connecting migration cluster to AWS account",
        "Red Hat",
        "Red Hat",
        "Customer",
    ),
    (
        "Restoring system database on migration AWS account",
        "Red Hat",
        "Red Hat",
        "Customer",
    ),
    ("Data manipulation", "Red Hat", "Red Hat", "Customer"),
    (
        "Connecting the system database and empty redis instance to migration",
        "Red Hat",
        "Red Hat",
        "Customer",
    ),
    ("Going through 3scale", "Red Hat", "Red Hat", "Customer"),
    (
        "Data manipulation to ensure the routes will match the destination cluster",
        "Red Hat",
        "Red Hat",
        "Customer",
    ),
    (
        "System database dump from migration cluster",
        "Red Hat",
        "Red Hat",
        "Customer",
    ),
    (
        "Seeding the destination cluster system database",
        "Red Hat",
        "Red Hat",
        "Customer",
    ),
    (
        "Restoring backend worker Redis instance to restore analytics data",
        "Red Hat",
        "Customer",
        "Customer",
    ),
    (
        "Configuring 3scale at destination cluster",
        "Red Hat",
        "Red Hat",
        "Red Hat",
    ),
    (
        "Restoring backend worker Redis instance to restore analytics data",
        "Red Hat",
        "Customer",
        "Customer",
    ),
    (
        "Testing and publishing the SSO integrations",
        "Customer",
        "Customer",
        "Customer",
    ),
    (
        "Verification of the installation of 3scale and RHOAM",
        "Red Hat / Customer",
        "Red Hat / Customer",
        "Red Hat / Customer",
    ),
    (
        "Updates to customer systems to point to the new routes",
        "Customer",
        "Customer",
        "Customer",
    ),
];

fn party(seed_owner: &str) -> &'static str {
    match seed_owner {
        "Red Hat" => "red-hat",
        "Customer" => "customer",
        "Red Hat / Customer" => "both",
        other => panic!("unknown owner in the seed table: {other}"),
    }
}

fn matrix_json(runbook: &str) -> Value {
    let out = std::process::Command::new(cutover_bin())
        .args(["matrix", "--runbook", runbook, "--format", "json"])
        .output()
        .expect("run cutover matrix");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

#[test]
fn matrix_reproduces_every_row_of_the_seed_table_with_its_owners() {
    let m = matrix_json("threescale-rhoam");
    assert_eq!(m["runbook"], "threescale-rhoam");
    assert_eq!(
        m["paths"],
        serde_json::json!(["limited", "further-limited", "no-access"])
    );
    let steps = m["steps"].as_array().expect("steps");

    // The steps that implement a table row, grouped where consecutive steps share
    // one row (e.g. the four dumps), must give back the table in order.
    let mut rows_in_runbook: Vec<(&str, &Value)> = Vec::new();
    for s in steps {
        let Some(seed) = s["seed"].as_str() else {
            continue;
        };
        let owners = &s["owners"];
        match rows_in_runbook.last() {
            Some((last, last_owners)) if *last == seed => {
                assert_eq!(
                    *last_owners, owners,
                    "steps of one row differ in owners: {}",
                    s["id"]
                );
            }
            _ => rows_in_runbook.push((seed, owners)),
        }
    }
    let texts: Vec<&str> = rows_in_runbook.iter().map(|(t, _)| *t).collect();
    let expected: Vec<&str> = SEED_TABLE.iter().map(|r| r.0).collect();
    assert_eq!(
        texts, expected,
        "the runbook's seed rows, in order, must be the table's rows"
    );

    for ((text, owners), (_, limited, further, none)) in rows_in_runbook.iter().zip(SEED_TABLE) {
        assert_eq!(owners["limited"], party(limited), "limited owner of {text}");
        assert_eq!(
            owners["further-limited"],
            party(further),
            "further-limited owner of {text}"
        );
        assert_eq!(
            owners["no-access"],
            party(none),
            "no-access owner of {text}"
        );
    }
}

#[test]
fn matrix_json_has_the_documented_shape() {
    for runbook in ["threescale-rhoam", "velero-registry"] {
        let m = matrix_json(runbook);
        let paths: Vec<&str> = m["paths"]
            .as_array()
            .expect("paths")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for s in m["steps"].as_array().expect("steps") {
            for key in [
                "id",
                "title",
                "phase",
                "kind",
                "destructive",
                "seed",
                "owners",
            ] {
                assert!(s.get(key).is_some(), "{runbook}: step without {key}: {s}");
            }
            let id = s["id"].as_str().expect("id");
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{id} is not kebab-case"
            );
            assert!(["automated", "check", "manual"].contains(&s["kind"].as_str().unwrap_or("")));
            let owners = s["owners"].as_object().expect("owners");
            assert_eq!(owners.len(), paths.len(), "{id}: one owner entry per path");
            for owner in owners.values() {
                assert!(
                    owner.is_null()
                        || ["red-hat", "customer", "both"].contains(&owner.as_str().unwrap_or("")),
                    "{id}: owner {owner}"
                );
            }
            if s["destructive"] == true {
                assert!(
                    s["gate"] == "typed" || s["gate"] == "typed-after-preview",
                    "{id} is destructive without a typed gate: {}",
                    s["gate"]
                );
            }
        }
    }
}

#[test]
fn matrix_text_and_markdown_list_every_step() {
    let m = matrix_json("threescale-rhoam");
    for format in ["text", "markdown"] {
        let out = std::process::Command::new(cutover_bin())
            .args([
                "matrix",
                "--runbook",
                "threescale-rhoam",
                "--format",
                format,
            ])
            .output()
            .expect("run cutover matrix");
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        for s in m["steps"].as_array().expect("steps") {
            let id = s["id"].as_str().expect("id");
            assert!(text.contains(id), "{format} output lacks {id}");
        }
    }
}
