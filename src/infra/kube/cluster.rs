//! The connection to one cluster: where it is (`ClusterTarget`), the client built from its
//! kubeconfig, the one wrapper every call goes through (a timeout, and an error that names the
//! cluster, context, server, namespace and object and says what to check), and the few calls
//! that are about the cluster itself.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::core::v1::Namespace;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};

/// Connecting (TCP and TLS) to an API server; a host that does not answer fails after this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// One request and its whole answer. Watches are not bounded by this (they are long-lived by
/// design) but by the server's `timeoutSeconds` and kube-rs' idle timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Where one cluster is and how messages name it: all `KubeCluster::connect` needs. The config
/// makes one for each of its clusters (`config::Cluster::target`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterTarget {
    /// How messages name the cluster: `source`, `destination`, `migration_cluster`.
    pub name: String,
    pub kubeconfig: PathBuf,
    /// The kubeconfig context; its current context when None.
    pub context: Option<String>,
    /// The namespace the calls go to unless they name another.
    pub namespace: String,
}

/// A connection to one configured cluster.
#[derive(Clone)]
pub struct KubeCluster {
    pub(super) client: Client,
    pub(super) name: String,
    pub(super) context: String,
    pub(super) namespace: String,
    pub(super) server: String,
    pub(super) kubeconfig: PathBuf,
    pub(super) openshift_apps: std::sync::Arc<tokio::sync::OnceCell<bool>>,
}

impl std::fmt::Debug for KubeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeCluster")
            .field("name", &self.name)
            .field("context", &self.context)
            .field("namespace", &self.namespace)
            .field("server", &self.server)
            .finish()
    }
}

impl KubeCluster {
    /// Reads the kubeconfig of `cluster` and builds the client; does not contact the server
    /// (see `server_version`).
    pub async fn connect(cluster: &ClusterTarget) -> anyhow::Result<KubeCluster> {
        let role = cluster.name.as_str();
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
            name: role.to_string(),
            context,
            namespace: cluster.namespace.clone(),
            server,
            kubeconfig: path.clone(),
            openshift_apps: Default::default(),
        })
    }

    /// How messages name the cluster (`source`, `destination`...).
    pub fn name(&self) -> &str {
        &self.name
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
    pub(super) async fn call<T>(
        &self,
        namespace: Option<&str>,
        what: &str,
        fut: impl Future<Output = Result<T, kube::Error>>,
    ) -> anyhow::Result<T> {
        match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(explain(self, namespace, what, e)),
            Err(_) => Err(timed_out(self, namespace, what)),
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

// ---------------------------------------------------------------- errors

fn place(cluster: &KubeCluster, namespace: Option<&str>) -> String {
    let ns = match namespace {
        Some(ns) => format!(", namespace {ns}"),
        None => String::new(),
    };
    format!(
        "{} cluster (context {}, {}{ns})",
        cluster.name, cluster.context, cluster.server
    )
}

pub(super) fn explain(
    cluster: &KubeCluster,
    namespace: Option<&str>,
    what: &str,
    e: kube::Error,
) -> anyhow::Error {
    let at = place(cluster, namespace);
    let kubeconfig = cluster.kubeconfig.display();
    match &e {
        kube::Error::Api(status) => {
            let message = &status.message;
            match status.code {
                401 => anyhow::anyhow!(
                    "{at}: {what}: the server refused the credentials (401 Unauthorized): the token \
                     or certificate for context {} in {kubeconfig} is expired or wrong; log in again \
                     (`oc login` or your cloud's get-credentials) and retry",
                    cluster.context
                ),
                403 => anyhow::anyhow!(
                    "{at}: {what}: forbidden (403): {message}. Check the RBAC of your user, e.g. \
                     `kubectl --context {} auth can-i <verb> <resource> -n {}`, and ask the cluster \
                     admin for the missing permission",
                    cluster.context,
                    namespace.unwrap_or(&cluster.namespace)
                ),
                404 => anyhow::anyhow!(
                    "{at}: {what}: not found (404): {message}. Check the name and the namespace in \
                     the config, and that the kind is installed on this cluster"
                ),
                409 => anyhow::anyhow!(
                    "{at}: {what}: conflict (409): {message}. Someone else changed it meanwhile; \
                     retry the step"
                ),
                422 | 400 => anyhow::anyhow!(
                    "{at}: {what}: the server refused the request ({}, {}): {message}",
                    status.code,
                    status.reason
                ),
                code => anyhow::anyhow!(
                    "{at}: {what}: the server answered {code} {}: {message}",
                    status.reason
                ),
            }
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) => anyhow::anyhow!(
            "{at}: {what}: cannot reach the API server: {}. Check the network (VPN, bastion, \
             proxy), that the server address in {kubeconfig} is right and that the cluster is up",
            chain(&e)
        ),
        kube::Error::Auth(_) => anyhow::anyhow!(
            "{at}: {what}: cannot get credentials for context {}: {}. Check the user entry in \
             {kubeconfig} (token, certificate or exec plugin)",
            cluster.context,
            chain(&e)
        ),
        _ => anyhow::anyhow!("{at}: {what}: {}", chain(&e)),
    }
}

pub(super) fn timed_out(
    cluster: &KubeCluster,
    namespace: Option<&str>,
    what: &str,
) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: {what}: no answer within {}s. Check the network to {} (VPN, bastion, proxy) and that \
         the API server is healthy",
        place(cluster, namespace),
        REQUEST_TIMEOUT.as_secs(),
        cluster.server
    )
}

/// The error and its sources on one line; kube-rs puts the useful part (connection refused,
/// timed out) at the bottom of the chain.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
