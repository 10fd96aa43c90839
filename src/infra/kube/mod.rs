//! The Kubernetes layer: one client per configured cluster (source, migration cluster,
//! destination), each from its own kubeconfig and context, and the operations the steps need.
//! Every call is bounded by a timeout, and every error names the cluster's role and context, the
//! namespace and the object, and says what to check.
//!
//! One file per family of objects, as kdash does: `workloads` (Deployments and
//! DeploymentConfigs), `pods`, `config_objects` (Secrets and ConfigMaps), `custom` (APIManager,
//! Velero, Route), `access` (SelfSubjectAccessReview), `threescale` (installed version), `exec`
//! (stdout to a file, or a file to stdin), `client_pod` (a pod of cutover's own that runs database
//! clients in the cluster) and `portforward` (a local port to a pod port).

mod access;
mod client_pod;
mod config_objects;
mod custom;
mod errors;
mod exec;
mod pods;
mod portforward;
mod threescale;
mod workloads;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::core::v1::Namespace;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};

pub use access::Access;
pub use client_pod::{CLIENT_POD_DEADLINE, ClientPodSpec, URL_ENV, with_url};
pub use custom::CustomKind;
pub use exec::{EXEC_IDLE_TIMEOUT, ExecResult};
pub use pods::PodInfo;
pub use portforward::PortForward;
pub use threescale::{ORIGINAL_REPLICAS_ANNOTATION, ThreescaleVersion, VERSION_ANNOTATION};
pub use workloads::{WorkloadInfo, WorkloadKind};

use crate::runbook::ClusterRole;

/// Connecting (TCP and TLS) to an API server; a host that does not answer fails after this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// One request and its whole answer. Watches are not bounded by this (they are long-lived by
/// design) but by the server's `timeoutSeconds` and kube-rs' idle timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// A connection to one configured cluster.
#[derive(Clone)]
pub struct KubeCluster {
    client: Client,
    role: ClusterRole,
    context: String,
    namespace: String,
    server: String,
    kubeconfig: PathBuf,
    openshift_apps: std::sync::Arc<tokio::sync::OnceCell<bool>>,
}

impl std::fmt::Debug for KubeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeCluster")
            .field("role", &self.role)
            .field("context", &self.context)
            .field("namespace", &self.namespace)
            .field("server", &self.server)
            .finish()
    }
}

impl KubeCluster {
    /// From `crate::config::Cluster` (kubeconfig path, optional context, namespace). Reads the
    /// kubeconfig and builds the client; does not contact the server (see `server_version`).
    pub async fn connect(cluster: &crate::config::Cluster) -> anyhow::Result<KubeCluster> {
        let role = cluster.role;
        let path = &cluster.kubeconfig;
        let kubeconfig = Kubeconfig::read_from(path).with_context(|| {
            format!(
                "cannot read the kubeconfig {} of the {role} cluster (check the path in the config \
                 and that the file is a kubeconfig, e.g. with `kubectl --kubeconfig {} config view`)",
                path.display(),
                path.display()
            )
        })?;
        let contexts: Vec<String> = kubeconfig.contexts.iter().map(|c| c.name.clone()).collect();
        let context = match &cluster.context {
            Some(c) => c.clone(),
            None => kubeconfig.current_context.clone().unwrap_or_default(),
        };
        if !contexts.contains(&context) {
            anyhow::bail!(
                "the {role} cluster's context {:?} is not in the kubeconfig {} (it has: {}); set \
                 `context` for this cluster in the config to one of those, or fix the kubeconfig",
                context,
                path.display(),
                if contexts.is_empty() {
                    "no contexts".to_string()
                } else {
                    contexts.join(", ")
                }
            );
        }
        let options = KubeConfigOptions {
            context: Some(context.clone()),
            ..Default::default()
        };
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .with_context(|| {
                format!(
                    "the kubeconfig {} has no usable entry for the {role} cluster's context {context} \
                     (check its cluster and user entries)",
                    path.display()
                )
            })?;
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = None;
        config.write_timeout = Some(REQUEST_TIMEOUT);
        let server = config.cluster_url.to_string();
        let client = Client::try_from(config).with_context(|| {
            format!(
                "cannot build a client for the {role} cluster (context {context}, server {server})"
            )
        })?;
        Ok(KubeCluster {
            client,
            role,
            context,
            namespace: cluster.namespace.clone(),
            server,
            kubeconfig: path.clone(),
            openshift_apps: Default::default(),
        })
    }

    pub fn role(&self) -> ClusterRole {
        self.role
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn context(&self) -> &str {
        &self.context
    }

    /// The API server URL from the kubeconfig.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The kube-rs client, for calls this layer does not wrap yet.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs one API call with the request timeout and turns its error into one that names the
    /// cluster, namespace and object (`what`) and says what to check.
    async fn call<T>(
        &self,
        namespace: Option<&str>,
        what: &str,
        fut: impl Future<Output = Result<T, kube::Error>>,
    ) -> anyhow::Result<T> {
        match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(errors::explain(self, namespace, what, e)),
            Err(_) => Err(errors::timed_out(self, namespace, what)),
        }
    }

    /// GET /version: `v1.33.1` or similar. This is the call that tells whether the cluster is
    /// reachable and the credentials work.
    pub async fn server_version(&self) -> anyhow::Result<String> {
        let info = self
            .call(
                None,
                "the server version (GET /version)",
                self.client.apiserver_version(),
            )
            .await?;
        Ok(info.git_version)
    }

    pub async fn namespace_exists(&self, ns: &str) -> anyhow::Result<bool> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let what = format!("namespace {ns}");
        Ok(self.call(None, &what, api.get_opt(ns)).await?.is_some())
    }

    /// Whether the server serves `apps.openshift.io` (DeploymentConfigs); asked once.
    pub async fn serves_deployment_configs(&self) -> anyhow::Result<bool> {
        let found = self
            .openshift_apps
            .get_or_try_init(|| async {
                let groups = self
                    .call(
                        None,
                        "the API groups (GET /apis)",
                        self.client.list_api_groups(),
                    )
                    .await?;
                anyhow::Ok(groups.groups.iter().any(|g| g.name == "apps.openshift.io"))
            })
            .await?;
        Ok(*found)
    }
}
