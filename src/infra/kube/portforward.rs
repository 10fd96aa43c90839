//! Port-forward from a local loopback port to a pod port, so the bastion reaches an in-cluster
//! Redis or PostgreSQL without kubectl. Each local connection gets its own WebSocket forward.

use std::net::SocketAddr;

use anyhow::Context;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use tokio::net::{TcpListener, TcpStream};

use super::cluster::{KubeCluster, REQUEST_TIMEOUT};

/// A running forward; dropping it stops accepting and ends the open connections.
pub struct PortForward {
    local: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
}

impl PortForward {
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn local_port(&self) -> u16 {
        self.local.port()
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn forward(api: Api<Pod>, pod: String, port: u16, mut local: TcpStream) {
    let opened = tokio::time::timeout(REQUEST_TIMEOUT, api.portforward(&pod, &[port])).await;
    let mut forwarder = match opened {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => {
            tracing::warn!("port-forward to pod {pod} port {port}: {e}");
            return;
        }
        Err(_) => {
            tracing::warn!(
                "port-forward to pod {pod} port {port}: no answer within {REQUEST_TIMEOUT:?}"
            );
            return;
        }
    };
    let (Some(mut upstream), Some(error)) =
        (forwarder.take_stream(port), forwarder.take_error(port))
    else {
        return;
    };
    tokio::select! {
        copied = tokio::io::copy_bidirectional(&mut local, &mut upstream) => {
            if let Err(e) = copied {
                tracing::debug!("port-forward to pod {pod} port {port} ended: {e}");
            }
        }
        Some(message) = error => tracing::warn!("port-forward to pod {pod} port {port}: {message}"),
    }
    drop(upstream);
    forwarder.abort();
}

impl KubeCluster {
    /// Listens on a free loopback port and forwards every connection to `port` of `pod` (in
    /// the cluster's namespace). Checks first that the pod exists.
    pub async fn port_forward(&self, pod: &str, port: u16) -> anyhow::Result<PortForward> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let what = format!("pod {pod} (for a port-forward to port {port})");
        let found = self
            .call(Some(&self.namespace), &what, api.get(pod))
            .await?;
        let phase = found.status.and_then(|s| s.phase).unwrap_or_default();
        if phase != "Running" {
            anyhow::bail!(
                "{} cluster (context {}), namespace {}: pod {pod} is {phase}, not Running; a port-forward \
                 needs a running pod (check `kubectl get pod {pod}`)",
                self.name,
                self.context,
                self.namespace
            );
        }
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("cannot bind a loopback port for the port-forward")?;
        let local = listener
            .local_addr()
            .context("cannot read the port-forward's local address")?;
        let pod = pod.to_string();
        let accept = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        connections.spawn(forward(api.clone(), pod.clone(), port, stream));
                    }
                    Err(e) => {
                        tracing::warn!(
                            "port-forward to pod {pod}: cannot accept a local connection: {e}"
                        );
                        return;
                    }
                }
                // Reap finished connections so the set does not grow.
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(PortForward { local, accept })
    }
}
