//! Turning kube-rs errors into messages an operator can act on: which cluster (role, context,
//! server), which namespace and object, what the server said, and what to check.

use super::{KubeCluster, REQUEST_TIMEOUT};

fn place(cluster: &KubeCluster, namespace: Option<&str>) -> String {
    let ns = match namespace {
        Some(ns) => format!(", namespace {ns}"),
        None => String::new(),
    };
    format!(
        "{} cluster (context {}, {}{ns})",
        cluster.role, cluster.context, cluster.server
    )
}

pub fn explain(
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

pub fn timed_out(cluster: &KubeCluster, namespace: Option<&str>, what: &str) -> anyhow::Error {
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
