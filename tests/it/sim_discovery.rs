//! Discovery as kube-rs runs it: legacy (`Discovery::run`) and aggregated (`run_aggregated`)
//! must find the same groups, kinds and scale subresources.

use kube::discovery::{Discovery, Scope};

use crate::sim_support::{Sandbox, raw};

#[tokio::test]
async fn legacy_and_aggregated_discovery_agree() {
    let sb = Sandbox::start("source", "3scale").await;
    let client = sb.client().await;
    let legacy = Discovery::new(client.clone()).run().await.unwrap();
    let aggregated = Discovery::new(client.clone())
        .run_aggregated()
        .await
        .unwrap();
    for discovery in [&legacy, &aggregated] {
        let groups: Vec<&str> = discovery.groups().map(|g| g.name()).collect();
        for g in [
            "",
            "apps",
            "apps.openshift.io",
            "route.openshift.io",
            "apps.3scale.net",
            "velero.io",
            "authorization.k8s.io",
        ] {
            assert!(groups.contains(&g), "group {g:?} missing from {groups:?}");
        }
        let apps = discovery
            .groups()
            .find(|g| g.name() == "apps.openshift.io")
            .unwrap();
        let (dc, caps) = apps.recommended_kind("DeploymentConfig").unwrap();
        assert_eq!(dc.plural, "deploymentconfigs");
        assert_eq!(caps.scope, Scope::Namespaced);
        assert!(
            caps.subresources.iter().any(|(ar, _)| ar.plural == "scale"),
            "{:?}",
            caps.subresources
        );
    }

    // The scale entry kubectl scale needs, in the legacy list.
    let (code, list) = raw(&client, "GET", "/apis/apps/v1", None, "").await;
    assert_eq!(code, 200);
    let scale = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "deployments/scale")
        .unwrap();
    assert_eq!(
        (
            scale["group"].as_str(),
            scale["version"].as_str(),
            scale["kind"].as_str()
        ),
        (Some("autoscaling"), Some("v1"), Some("Scale"))
    );
    let (_, version) = raw(&client, "GET", "/version", None, "").await;
    assert_eq!(
        version["minor"], "32",
        "kubectl's dispatcher keeps its built-in 1.32 for this"
    );
}

#[tokio::test]
async fn a_cluster_without_openshift_does_not_serve_its_groups() {
    let spec = cutover::sim::ClusterSpec::new("plain")
        .without_group("apps.openshift.io")
        .without_group("route.openshift.io");
    let sb = Sandbox::with_spec("plain", spec).await;
    let client = sb.client().await;
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    assert!(discovery.groups().all(|g| g.name() != "apps.openshift.io"));
    let (code, _) = raw(
        &client,
        "GET",
        "/apis/apps.openshift.io/v1/namespaces/default/deploymentconfigs",
        None,
        "",
    )
    .await;
    assert_eq!(code, 404);
    assert!(
        sb.sim
            .apply_object(crate::sim_support::deployment_config("default", "x", 1))
            .is_err()
    );
}
