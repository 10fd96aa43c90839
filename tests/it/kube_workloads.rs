//! The Kubernetes layer on workloads, through the real kube-rs client against the simulator:
//! DeploymentConfigs and Deployments by name, scale through the subresource, annotate, pods
//! following the replicas.

use cutover::infra::kube::WorkloadKind;
use cutover::runbook::ClusterRole;

use crate::sim_support::{Sandbox, deployment, deployment_config, eventually};

#[tokio::test]
async fn a_deployment_config_is_read_scaled_and_annotated() {
    let sb = Sandbox::start("source", "3scale").await;
    sb.sim
        .apply_object(deployment_config("3scale", "backend-worker", 2))
        .unwrap();
    let kube = sb.connect(ClusterRole::Source, "3scale").await;

    assert!(kube.server_version().await.unwrap().starts_with("v1."));
    let info = kube.workload("backend-worker").await.unwrap();
    assert_eq!(info.kind, WorkloadKind::DeploymentConfig);
    assert_eq!(info.replicas, 2);
    eventually("both backend-worker pods ready", || async {
        let w = kube.workload("backend-worker").await.unwrap();
        w.ready_replicas == 2 && w.available_replicas == 2
    })
    .await;
    let pods = kube
        .pods_of(WorkloadKind::DeploymentConfig, "backend-worker")
        .await
        .unwrap();
    assert_eq!(pods.len(), 2);
    assert!(
        pods.iter()
            .all(|p| p.phase == "Running" && p.ready && !p.deleting && p.restarts == 0),
        "{pods:?}"
    );

    kube.annotate(
        WorkloadKind::DeploymentConfig,
        "backend-worker",
        "cutover.io/original-replicas",
        "2",
    )
    .await
    .unwrap();
    kube.scale(WorkloadKind::DeploymentConfig, "backend-worker", 0)
        .await
        .unwrap();
    let info = kube.workload("backend-worker").await.unwrap();
    assert_eq!(info.replicas, 0);
    assert_eq!(
        info.annotations
            .get("cutover.io/original-replicas")
            .map(String::as_str),
        Some("2")
    );

    eventually("backend-worker scaled to zero pods", || async {
        kube.pods_of(WorkloadKind::DeploymentConfig, "backend-worker")
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    let info = kube.workload("backend-worker").await.unwrap();
    assert_eq!((info.current_replicas, info.ready_replicas), (0, 0));

    kube.remove_annotation(
        WorkloadKind::DeploymentConfig,
        "backend-worker",
        "cutover.io/original-replicas",
    )
    .await
    .unwrap();
    assert!(
        kube.workload("backend-worker")
            .await
            .unwrap()
            .annotations
            .is_empty()
    );
}

#[tokio::test]
async fn a_deployment_is_found_and_scaled_up() {
    let sb = Sandbox::start("destination", "redhat-rhoam-3scale").await;
    sb.sim
        .apply_object(deployment("redhat-rhoam-3scale", "system-sidekiq", 0))
        .unwrap();
    sb.sim
        .apply_object(deployment_config("redhat-rhoam-3scale", "zync", 1))
        .unwrap();
    let kube = sb
        .connect(ClusterRole::Destination, "redhat-rhoam-3scale")
        .await;

    let info = kube.workload("system-sidekiq").await.unwrap();
    assert_eq!(info.kind, WorkloadKind::Deployment);
    assert_eq!(info.replicas, 0);

    let all = kube.list_workloads().await.unwrap();
    let names: Vec<(&str, WorkloadKind)> = all.iter().map(|w| (w.name.as_str(), w.kind)).collect();
    assert_eq!(
        names,
        [
            ("system-sidekiq", WorkloadKind::Deployment),
            ("zync", WorkloadKind::DeploymentConfig)
        ]
    );

    kube.scale(WorkloadKind::Deployment, "system-sidekiq", 3)
        .await
        .unwrap();
    let pods = kube
        .wait_for_pods(
            WorkloadKind::Deployment,
            "system-sidekiq",
            3,
            std::time::Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(pods.len(), 3);
    // A count that is never reached times out with what it saw.
    let e = kube
        .wait_for_pods(
            WorkloadKind::Deployment,
            "system-sidekiq",
            5,
            std::time::Duration::from_secs(1),
        )
        .await
        .unwrap_err();
    let text = format!("{e:#}");
    assert!(
        text.contains("did not reach 5 ready pods") && text.contains("system-sidekiq-"),
        "{text}"
    );
    eventually("three sidekiq pods ready", || async {
        kube.pods_of(WorkloadKind::Deployment, "system-sidekiq")
            .await
            .unwrap()
            .iter()
            .filter(|p| p.ready)
            .count()
            == 3
    })
    .await;
    eventually("status.readyReplicas = 3", || async {
        kube.workload("system-sidekiq")
            .await
            .unwrap()
            .ready_replicas
            == 3
    })
    .await;
}

#[tokio::test]
async fn deployments_are_used_where_the_cluster_has_no_deployment_configs() {
    let spec = cutover::sim::ClusterSpec::new("plain")
        .namespace("apps")
        .without_group("apps.openshift.io");
    let sb = Sandbox::with_spec("plain", spec).await;
    sb.sim.apply_object(deployment("apps", "web", 1)).unwrap();
    let kube = sb.connect(ClusterRole::Destination, "apps").await;
    assert!(!kube.serves_deployment_configs().await.unwrap());
    assert_eq!(
        kube.workload("web").await.unwrap().kind,
        WorkloadKind::Deployment
    );
    let missing = kube.workload("nope").await.unwrap_err();
    let text = format!("{missing:#}");
    assert!(
        text.contains("destination") && text.contains("nope") && text.contains("apps"),
        "{text}"
    );
}
