//! StatefulSets in the simulator, as the StatefulSet controller runs them under its default
//! `OrderedReady` policy: pods `<set>-<ordinal>` made one at a time, each once the one before is
//! Running and ready, owned by the set and carrying its revision and their own name as labels;
//! scaled down from the highest ordinal, one at a time. Read through the Kubernetes layer, the
//! way the pods panel and the steps read them. Beside them, the Crunchy operator's user secrets.

use std::collections::BTreeSet;
use std::time::Duration;

use cutover::infra::kube::{KubeCluster, WorkloadKind};
use cutover::runbook::ClusterRole;
use cutover::sim::ClusterSpec;
use serde_json::{Value, json};

use crate::sim_support::{Sandbox, deployment, eventually};

/// A StatefulSet as a registry's chart declares one: a governing service, a selector and the
/// template's labels.
pub(crate) fn stateful_set(ns: &str, name: &str, replicas: i32) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": format!("registry.sim/{name}:1.0")}]},
            },
        },
    })
}

/// (ordinal, ready, ending) of every pod of the set now.
async fn ordinals(kube: &KubeCluster, set: &str) -> Vec<(usize, bool, bool)> {
    let mut out: Vec<(usize, bool, bool)> = kube
        .pods_of(WorkloadKind::StatefulSet, set)
        .await
        .expect("list the pods")
        .iter()
        .map(|p| {
            let ordinal = p
                .name
                .strip_prefix(&format!("{set}-"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{} is not named <set>-<ordinal>", p.name));
            (ordinal, p.ready, p.deleting)
        })
        .collect();
    out.sort_unstable();
    out
}

#[tokio::test]
async fn a_stateful_set_makes_its_pods_in_order_and_ends_them_from_the_highest() {
    let spec = ClusterSpec::new("cluster-a")
        .namespace("registry")
        .pod_delays(Duration::from_millis(150), Duration::from_millis(150));
    let sb = Sandbox::with_spec("cluster-a", spec).await;
    sb.sim
        .apply_object(stateful_set("registry", "gerrit", 3))
        .expect("create the StatefulSet");
    // A Deployment beside it: its pods are not the set's.
    sb.sim
        .apply_object(deployment("registry", "registry-app", 1))
        .expect("create the Deployment");
    let kube = sb.connect(ClusterRole::Source, "registry").await;

    // Every reading on the way up: the ordinals are 0..n, and all but the newest are ready.
    let mut seen = BTreeSet::new();
    let mut up = false;
    for _ in 0..400 {
        let pods = ordinals(&kube, "gerrit").await;
        for (i, (ordinal, ready, _)) in pods.iter().enumerate() {
            assert_eq!(*ordinal, i, "a gap in the ordinals: {pods:?}");
            if i + 1 < pods.len() {
                assert!(ready, "a pod made before the one below was ready: {pods:?}");
            }
        }
        seen.insert(pods.len());
        if pods.len() == 3 && pods.iter().all(|(_, ready, _)| *ready) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(up, "never three ready pods");
    assert!(
        seen.contains(&1) || seen.contains(&2),
        "the pods came one at a time, not all at once: {seen:?}"
    );

    let pod = kube
        .workload_pods(WorkloadKind::StatefulSet, "gerrit")
        .await
        .expect("the pods");
    let first = pod
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("gerrit-0"))
        .expect("gerrit-0");
    let labels = first.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels["statefulset.kubernetes.io/pod-name"], "gerrit-0");
    assert!(labels["controller-revision-hash"].starts_with("gerrit-"));
    assert!(!labels.contains_key("deployment"), "{labels:?}");
    let owner = &first.metadata.owner_references.as_ref().expect("an owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("StatefulSet", "gerrit", Some(true))
    );
    let set = kube.find_workload("gerrit").await.expect("read");
    assert!(
        set.is_none(),
        "find_workload looks at Deployments and DeploymentConfigs only"
    );
    let listed = kube
        .list_workloads_with(&[WorkloadKind::StatefulSet])
        .await
        .expect("list");
    let gerrit = listed
        .iter()
        .find(|w| w.kind == WorkloadKind::StatefulSet)
        .expect("the StatefulSet is listed");
    assert_eq!((gerrit.name.as_str(), gerrit.replicas), ("gerrit", 3));
    assert!(
        kube.list_workloads()
            .await
            .expect("list")
            .iter()
            .all(|w| w.kind != WorkloadKind::StatefulSet),
        "3scale's steps list no StatefulSets"
    );

    // Down to one through the scale subresource: the highest ends first, one at a time.
    kube.scale(WorkloadKind::StatefulSet, "gerrit", 1)
        .await
        .expect("scale");
    eventually("one pod left", || async {
        let pods = ordinals(&kube, "gerrit").await;
        let ending: Vec<usize> = pods.iter().filter(|p| p.2).map(|p| p.0).collect();
        assert!(
            ending.len() <= 1,
            "more than one pod ending at once: {pods:?}"
        );
        if let Some(e) = ending.first() {
            assert_eq!(Some(*e), pods.iter().map(|p| p.0).max(), "{pods:?}");
        }
        pods == [(0, true, false)]
    })
    .await;
    eventually("the set's status follows", || async {
        let listed = kube
            .list_workloads_with(&[WorkloadKind::StatefulSet])
            .await
            .expect("list");
        listed.iter().any(|w| {
            w.kind == WorkloadKind::StatefulSet && w.current_replicas == 1 && w.ready_replicas == 1
        })
    })
    .await;
}

#[tokio::test]
async fn a_stateful_set_with_a_field_the_kind_does_not_have_is_refused() {
    let sb = Sandbox::start("cluster-a", "registry").await;
    let mut bad = stateful_set("registry", "nexus", 1);
    bad["spec"]["defaultVolumesToFsBackup"] = json!(true);
    let refused = sb.sim.apply_object(bad);
    assert!(refused.is_err(), "an unknown field was accepted");
}

/// Crunchy PGO's part: a PostgresCluster's users get their `<cluster>-pguser-<user>` secrets
/// when they have none, with a password of the operator's; a secret that exists is left alone.
#[tokio::test]
async fn a_postgres_cluster_gets_the_user_secrets_it_lacks_and_keeps_those_it_has() {
    let sb = Sandbox::start("cluster-b", "abc-02").await;
    sb.sim
        .apply_object(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "analytical-pguser-postgres", "namespace": "abc-02"},
            "data": {"user": "cG9zdGdyZXM=", "password": "YS1zLXBhc3N3b3Jk"},
        }))
        .expect("the restored secret");
    for cluster in ["operational", "analytical"] {
        sb.sim
            .apply_object(json!({
                "apiVersion": "postgres-operator.crunchydata.com/v1beta1",
                "kind": "PostgresCluster",
                "metadata": {"name": cluster, "namespace": "abc-02"},
                "spec": {"postgresVersion": 14, "users": [{"name": "postgres"}],
                         "instances": [{"name": "instance1", "replicas": 1}]},
            }))
            .expect("the PostgresCluster");
    }
    let kube = sb.connect(ClusterRole::Destination, "abc-02").await;
    eventually("the operator makes the missing secret", || async {
        kube.get_secret(Some("abc-02"), "operational-pguser-postgres")
            .await
            .is_ok_and(|s| s.is_some())
    })
    .await;
    let made = kube
        .get_secret(Some("abc-02"), "operational-pguser-postgres")
        .await
        .unwrap()
        .unwrap();
    let data = made.data.expect("data");
    assert_eq!(data["user"].0, b"postgres");
    let password = String::from_utf8(data["password"].0.clone()).unwrap();
    assert!(password.len() >= 20, "{password}");
    assert_eq!(
        made.metadata.labels.unwrap()["postgres-operator.crunchydata.com/cluster"],
        "operational"
    );
    let kept = kube
        .get_secret(Some("abc-02"), "analytical-pguser-postgres")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.data.unwrap()["password"].0, b"a-s-password");
}
