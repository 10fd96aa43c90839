//! Permissions and bad input: SelfSubjectAccessReview, a forbidden request, an unreachable
//! cluster, a wrong context, an expired token and a missing namespace, each with a message that
//! names the cluster and what to check, and none hanging.

use cutover::infra::kube::{Access, KubeCluster, WorkloadKind};
use cutover::runbook::ClusterRole;

use crate::sim_support::{Sandbox, deployment_config};
use crate::support::RefusingPort;

#[tokio::test]
async fn access_reviews_report_an_injected_denial() {
    let sb = Sandbox::start("source", "3scale").await;
    sb.sim.deny(
        "patch",
        "apps.openshift.io",
        "deploymentconfigs",
        Some("scale"),
        Some("3scale"),
    );
    let kube = sb.connect(ClusterRole::Source, "3scale").await;

    let scale = Access::new("patch", "apps.openshift.io", "deploymentconfigs")
        .subresource("scale")
        .in_namespace("3scale");
    assert!(!kube.can_i(&scale).await.unwrap());
    assert!(
        kube.can_i(
            &Access::new("get", "apps.openshift.io", "deploymentconfigs").in_namespace("3scale")
        )
        .await
        .unwrap()
    );
    // The denial is for 3scale only.
    assert!(
        kube.can_i(&scale.clone().in_namespace("other"))
            .await
            .unwrap()
    );
    assert_eq!(
        scale.to_string(),
        "patch deploymentconfigs.apps.openshift.io/scale in 3scale"
    );
}

#[tokio::test]
async fn a_forbidden_request_names_cluster_namespace_and_object() {
    let sb = Sandbox::start("source", "3scale").await;
    sb.sim
        .apply_object(deployment_config("3scale", "backend-cron", 1))
        .unwrap();
    sb.sim.deny(
        "patch",
        "apps.openshift.io",
        "deploymentconfigs",
        Some("scale"),
        None,
    );
    let kube = sb.connect(ClusterRole::Source, "3scale").await;

    let e = kube
        .scale(WorkloadKind::DeploymentConfig, "backend-cron", 0)
        .await
        .unwrap_err();
    let text = format!("{e:#}");
    for needle in [
        "source cluster",
        "context source",
        "namespace 3scale",
        "backend-cron",
        "forbidden",
        "auth can-i",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from: {text}");
    }
}

#[tokio::test]
async fn an_unreachable_cluster_fails_fast_with_what_to_check() {
    let sb = Sandbox::start("migration", "3scale").await;
    let refusing = RefusingPort::new();
    let text = std::fs::read_to_string(&sb.kubeconfig).unwrap();
    let moved = text.replace(
        &sb.sim.url(),
        &format!("http://127.0.0.1:{}", refusing.port()),
    );
    std::fs::write(&sb.kubeconfig, moved).unwrap();

    let kube = sb.connect(ClusterRole::MigrationCluster, "3scale").await;
    let e = kube.server_version().await.unwrap_err();
    let text = format!("{e:#}");
    assert!(
        text.contains("migration_cluster cluster") && text.contains("cannot reach"),
        "{text}"
    );
    assert!(text.contains("network"), "{text}");
}

#[tokio::test]
async fn a_wrong_context_is_refused_before_any_request() {
    let sb = Sandbox::start("source", "3scale").await;
    let mut config = sb.cluster_config(ClusterRole::Source, "3scale");
    config.context = Some("sourse".into());
    let e = KubeCluster::connect(&config.target()).await.unwrap_err();
    let text = format!("{e:#}");
    assert!(
        text.contains("\"sourse\"") && text.contains("it has: source"),
        "{text}"
    );

    config.kubeconfig = sb.dir.path().join("missing-kubeconfig");
    let e = KubeCluster::connect(&config.target()).await.unwrap_err();
    assert!(
        format!("{e:#}").contains("cannot read the kubeconfig"),
        "{e:#}"
    );
}

#[tokio::test]
async fn an_expired_token_says_to_log_in_again() {
    let sb = Sandbox::start("destination", "3scale").await;
    let kube = sb.connect(ClusterRole::Destination, "3scale").await;
    sb.sim.set_unauthorized(true);
    let e = kube.server_version().await.unwrap_err();
    let text = format!("{e:#}");
    assert!(
        text.contains("401") && text.contains("log in again") && text.contains("destination"),
        "{text}"
    );
}

#[tokio::test]
async fn a_missing_namespace_is_reported_as_missing() {
    let sb = Sandbox::start("source", "3scale").await;
    let kube = sb.connect(ClusterRole::Source, "3scale").await;
    assert!(kube.namespace_exists("3scale").await.unwrap());
    assert!(!kube.namespace_exists("3scale-typo").await.unwrap());
}
