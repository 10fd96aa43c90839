//! Pods of a workload: list and watch (kube-rs watcher, list then watch with bookmarks).

use std::time::Duration;

use cutover::infra::kube::WorkloadKind;
use cutover::runbook::ClusterRole;
use futures::StreamExt;

use crate::sim_support::{Sandbox, deployment_config};

#[tokio::test]
async fn watching_pods_follows_a_scale_down_and_up() {
    let sb = Sandbox::start("source", "3scale").await;
    sb.sim
        .apply_object(deployment_config("3scale", "system-sidekiq", 2))
        .unwrap();
    let kube = sb.connect(ClusterRole::Source, "3scale").await;
    let mut watch = Box::pin(kube.watch_pods(WorkloadKind::DeploymentConfig, "system-sidekiq"));

    // Bounded: each step waits for at most 200 snapshots, each within 20 s.
    async fn until(
        watch: &mut (
                 impl futures::Stream<Item = anyhow::Result<Vec<cutover::infra::kube::PodInfo>>> + Unpin
             ),
        what: &str,
        done: impl Fn(&[cutover::infra::kube::PodInfo]) -> bool,
    ) -> Vec<cutover::infra::kube::PodInfo> {
        for _ in 0..200 {
            let next = tokio::time::timeout(Duration::from_secs(20), watch.next())
                .await
                .unwrap_or_else(|_| panic!("no pod event while waiting for {what}"))
                .unwrap_or_else(|| panic!("the watch ended while waiting for {what}"))
                .unwrap_or_else(|e| panic!("watch error while waiting for {what}: {e:#}"));
            if done(&next) {
                return next;
            }
        }
        panic!("never saw {what}");
    }

    until(&mut watch, "two ready pods", |p| {
        p.len() == 2 && p.iter().all(|p| p.ready)
    })
    .await;
    kube.scale(WorkloadKind::DeploymentConfig, "system-sidekiq", 0)
        .await
        .unwrap();
    let terminating = until(&mut watch, "a terminating pod", |p| {
        p.iter().any(|p| p.deleting)
    })
    .await;
    assert!(!terminating.is_empty());
    until(&mut watch, "no pods", |p| p.is_empty()).await;
    kube.scale(WorkloadKind::DeploymentConfig, "system-sidekiq", 1)
        .await
        .unwrap();
    let pending = until(&mut watch, "a new pod", |p| p.len() == 1).await;
    assert_eq!(
        pending[0].name.split('-').take(3).collect::<Vec<_>>(),
        ["system", "sidekiq", "1"]
    );
    until(&mut watch, "the new pod ready", |p| {
        p.len() == 1 && p[0].ready && p[0].phase == "Running"
    })
    .await;
}

#[tokio::test]
async fn a_deleted_pod_terminates_and_is_replaced() {
    let sb = Sandbox::start("source", "3scale").await;
    sb.sim
        .apply_object(deployment_config("3scale", "backend-listener", 1))
        .unwrap();
    let kube = sb.connect(ClusterRole::Source, "3scale").await;
    crate::sim_support::eventually("one ready pod", || async {
        kube.pods_of(WorkloadKind::DeploymentConfig, "backend-listener")
            .await
            .unwrap()
            .iter()
            .any(|p| p.ready)
    })
    .await;
    let first = kube
        .pods_of(WorkloadKind::DeploymentConfig, "backend-listener")
        .await
        .unwrap()[0]
        .name
        .clone();
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(kube.client().clone(), "3scale");
    pods.delete(&first, &Default::default()).await.unwrap();
    crate::sim_support::eventually("a replacement pod ready and the old one gone", || async {
        let now = kube
            .pods_of(WorkloadKind::DeploymentConfig, "backend-listener")
            .await
            .unwrap();
        now.len() == 1 && now[0].name != first && now[0].ready
    })
    .await;
}

#[tokio::test]
async fn pods_of_one_deployment_share_their_replica_set_hash() {
    let sb = Sandbox::start("destination", "rhoam").await;
    sb.sim
        .apply_object(crate::sim_support::deployment(
            "rhoam",
            "apicast-production",
            3,
        ))
        .unwrap();
    let kube = sb.connect(ClusterRole::Destination, "rhoam").await;
    let pods = kube
        .wait_for_pods(
            WorkloadKind::Deployment,
            "apicast-production",
            3,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let replica_sets: std::collections::BTreeSet<String> = pods
        .iter()
        .map(|p| {
            p.name
                .rsplit_once('-')
                .map(|x| x.0)
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(replica_sets.len(), 1, "{pods:?}");
}

#[tokio::test]
async fn a_crashed_pod_counts_a_restart_and_comes_back_ready() {
    let sb = Sandbox::start("source", "3scale").await;
    sb.sim
        .apply_object(deployment_config("3scale", "zync-que", 1))
        .unwrap();
    let kube = sb.connect(ClusterRole::Source, "3scale").await;
    let pods = kube
        .wait_for_pods(
            WorkloadKind::DeploymentConfig,
            "zync-que",
            1,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    sb.sim.restart_pod("3scale", &pods[0].name).unwrap();
    // Read at once from the simulator: the pod stays unready for the start delay.
    let crashed = sb
        .sim
        .get_object("v1", "Pod", "3scale", &pods[0].name)
        .unwrap();
    assert_eq!(crashed["status"]["containerStatuses"][0]["restartCount"], 1);
    assert_eq!(crashed["status"]["containerStatuses"][0]["ready"], false);
    let back = kube
        .wait_for_pods(
            WorkloadKind::DeploymentConfig,
            "zync-que",
            1,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(
        (back[0].name.as_str(), back[0].restarts),
        (pods[0].name.as_str(), 1)
    );
}
