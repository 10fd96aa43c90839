//! The prerequisite check of cluster access: every cluster answers, its namespace
//! exists, and the operator holds what their own steps need (SelfSubjectAccessReview).

use crate::cli::{Migration, events, threescale_toml, write_kubeconfigs};

fn migration(party: &str) -> Migration {
    let mut m = Migration::new("acc", &threescale_toml("acc", party, "limited", ""));
    write_kubeconfigs(&mut m);
    m
}

fn finished_access_check(m: &Migration) -> serde_json::Value {
    let (entries, _) = m.journal();
    let finished = events(&entries, "step-finished", "check-cluster-access");
    assert_eq!(finished.len(), 1, "{entries:?}");
    finished[0].clone()
}

#[test]
fn every_cluster_answers_and_every_permission_is_granted() {
    let m = migration("red-hat");
    m.run(&["run", "--headless", "--until", "check-cluster-access"])
        .expect_code(0);
    let done = finished_access_check(&m);
    assert_eq!(done["outcome"], "passed", "{done}");
    let table = done["figures"]["permissions"]
        .as_array()
        .expect("permission table");
    assert!(!table.is_empty());
    assert!(table.iter().all(|row| row["allowed"] == true));
    // Red Hat on the limited path restores the analytics at the destination itself.
    assert!(
        table
            .iter()
            .any(|row| row["cluster"] == "destination" && row["resource"] == "pods/portforward")
    );
    assert!(done["figures"]["source"]["version"].is_string(), "{done}");
}

#[test]
fn an_injected_denial_fails_the_check_and_is_named() {
    let m = migration("red-hat");
    let clusters = m.clusters.as_ref().expect("clusters");
    clusters.destination.deny(
        "create",
        "",
        "pods",
        Some("portforward"),
        Some("redhat-rhoam-3scale"),
    );
    let run = m.run(&["run", "--headless"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("check-cluster-access failed"),
        "{}",
        run.stderr
    );
    let done = finished_access_check(&m);
    assert_eq!(done["outcome"], "failed");
    let summary = done["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains(
            "destination: create pods/portforward denied in namespace redhat-rhoam-3scale"
        ),
        "{summary}"
    );
    let denied: Vec<&serde_json::Value> = done["figures"]["permissions"]
        .as_array()
        .expect("table")
        .iter()
        .filter(|r| r["allowed"] == false)
        .collect();
    assert_eq!(denied.len(), 1, "{denied:?}");
}

#[test]
fn a_denial_that_only_the_other_partys_steps_need_does_not_block() {
    // Scaling the source is the customer's on every path: not Red Hat's to check.
    let m = migration("red-hat");
    let clusters = m.clusters.as_ref().expect("clusters");
    clusters.source.deny(
        "update",
        "apps.openshift.io",
        "deploymentconfigs",
        Some("scale"),
        None,
    );
    m.run(&["run", "--headless", "--until", "check-cluster-access"])
        .expect_code(0);
    assert_eq!(finished_access_check(&m)["outcome"], "passed");

    let m = migration("customer");
    let clusters = m.clusters.as_ref().expect("clusters");
    clusters.source.deny(
        "update",
        "apps.openshift.io",
        "deploymentconfigs",
        Some("scale"),
        None,
    );
    m.run(&["run", "--headless", "--until", "check-cluster-access"])
        .expect_code(1);
    let summary = finished_access_check(&m)["summary"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        summary.contains("source: update deploymentconfigs.apps.openshift.io/scale denied"),
        "{summary}"
    );
}

#[test]
fn a_missing_namespace_is_named() {
    let toml = threescale_toml("acc", "red-hat", "limited", "").replace(
        "namespace = \"redhat-rhoam-3scale\"",
        "namespace = \"rhoam-typo\"",
    );
    let mut m = Migration::new("acc", &toml);
    write_kubeconfigs(&mut m);
    m.run(&["run", "--headless"]).expect_code(1);
    let summary = finished_access_check(&m)["summary"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        summary.contains("namespace rhoam-typo does not exist"),
        "{summary}"
    );
}

#[test]
fn an_unreachable_cluster_is_named_without_hanging() {
    let m = migration("red-hat");
    // The destination's kubeconfig now names a port that refuses connections.
    let refusing = crate::support::RefusingPort::new();
    let path = m.dir.path().join("kube-destination");
    let text = std::fs::read_to_string(&path).expect("kubeconfig");
    let url = m.clusters.as_ref().expect("clusters").destination.url();
    let dead = format!("http://127.0.0.1:{}", refusing.port());
    std::fs::write(&path, text.replace(&url, &dead)).expect("write");
    let run = m.run(&["run", "--headless"]);
    run.expect_code(1);
    let summary = finished_access_check(&m)["summary"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(summary.contains("destination"), "{summary}");
    assert!(
        summary.contains(&dead) || summary.contains("reach"),
        "says what is unreachable: {summary}"
    );
}
