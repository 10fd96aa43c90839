//! Shared helpers of the simulator and Kubernetes-layer tests: a simulated cluster with its
//! kubeconfig in a temporary folder, workload manifests, raw HTTP through kube-rs, bounded polls.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use axum::http;
use cutover::config::Cluster;
use cutover::infra::kube::KubeCluster;
use cutover::runbook::ClusterRole;
use cutover::sim::{ClusterSpec, SimCluster, write_kubeconfig};
use kube::client::Body;
use serde_json::{Value, json};

pub struct Sandbox {
    pub sim: SimCluster,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub context: String,
}

impl Sandbox {
    /// A cluster serving `ns`, fast pods, and a kubeconfig whose one context is `context`.
    pub async fn start(context: &str, ns: &str) -> Sandbox {
        let spec = ClusterSpec::new(context)
            .namespace(ns)
            .pod_delays(Duration::from_millis(100), Duration::from_millis(100));
        Sandbox::with_spec(context, spec).await
    }

    pub async fn with_spec(context: &str, spec: ClusterSpec) -> Sandbox {
        let sim = SimCluster::start(spec)
            .await
            .unwrap_or_else(|e| panic!("simulator does not start: {e:#}"));
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        write_kubeconfig(&kubeconfig, &[(context, &sim)]).unwrap();
        Sandbox {
            sim,
            dir,
            kubeconfig,
            context: context.to_string(),
        }
    }

    pub fn cluster_config(&self, role: ClusterRole, ns: &str) -> Cluster {
        Cluster {
            role,
            kubeconfig: self.kubeconfig.clone(),
            context: Some(self.context.clone()),
            namespace: ns.to_string(),
            wildcard_domain: None,
            system_database_kind: None,
            stores: Vec::new(),
            threescale_api: Default::default(),
        }
    }

    pub async fn connect(&self, role: ClusterRole, ns: &str) -> KubeCluster {
        KubeCluster::connect(&self.cluster_config(role, ns).target())
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the simulator: {e:#}"))
    }

    /// A plain kube-rs client for raw requests.
    pub async fn client(&self) -> kube::Client {
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig).unwrap();
        let options = kube::config::KubeConfigOptions {
            context: Some(self.context.clone()),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .unwrap();
        kube::Client::try_from(config).unwrap()
    }
}

pub fn deployment(ns: &str, name: &str, replicas: i32) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "3scale-api-management"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"deployment": name}},
            "template": {
                "metadata": {"labels": {"deployment": name, "app": "3scale-api-management"}},
                "spec": {"containers": [{"name": name, "image": format!("registry.sim/{name}:2.16")}]},
            },
        },
    })
}

pub fn deployment_config(ns: &str, name: &str, replicas: i32) -> Value {
    json!({
        "apiVersion": "apps.openshift.io/v1",
        "kind": "DeploymentConfig",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "3scale-api-management"}},
        "spec": {
            "replicas": replicas,
            "selector": {"deploymentConfig": name},
            "template": {
                "metadata": {"labels": {"deploymentConfig": name, "app": "3scale-api-management"}},
                "spec": {"containers": [{"name": name, "image": format!("registry.sim/{name}:2.14")}]},
            },
        },
    })
}

/// One raw request; the answer's status code and JSON body (Null when not JSON).
pub async fn raw(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut request = http::Request::builder().method(method).uri(path);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let request = request.body(Body::from(body.as_bytes().to_vec())).unwrap();
    let response = tokio::time::timeout(Duration::from_secs(20), client.send(request))
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer from the simulator"))
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let code = response.status().as_u16();
    let bytes = response.into_body().collect_bytes().await.unwrap();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Asserts a Status body as a real server sends it.
pub fn assert_status(body: &Value, code: u16, reason: &str) {
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["apiVersion"], "v1", "{body}");
    assert_eq!(body["status"], "Failure", "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["reason"], reason, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Polls `check` every 50 ms, at most 400 times; panics with `what` when it never holds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..400 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}
