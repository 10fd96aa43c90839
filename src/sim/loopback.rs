//! An axum router served on a loopback port until dropped: the simulated HTTP APIs (porta's,
//! Keycloak's) are such servers.

use std::net::SocketAddr;

use anyhow::{Context, Result};

use crate::error::bad_input;

/// A running server; dropping it stops it.
pub struct Loopback {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Loopback {
    /// Serves `app` on `port` (or a free one); `what` names the server in errors ("the
    /// simulated Keycloak").
    pub async fn serve(app: axum::Router, port: Option<u16>, what: &str) -> Result<Loopback> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.unwrap_or(0)))
            .await
            .map_err(|e| match port {
                Some(port) => bad_input(format!(
                    "cannot serve {what} on port {port} ({e}): another process holds the port; \
                     stop it (`ss -ltnp 'sport = :{port}'` names it) and try again"
                )),
                None => anyhow::Error::new(e).context("cannot bind a loopback port"),
            })?;
        let addr = listener
            .local_addr()
            .with_context(|| format!("cannot read the address of {what}"))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let name = what.to_string();
        let task = tokio::spawn(async move {
            let serving = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = serving.await {
                tracing::warn!("{name} stopped: {e}");
            }
        });
        Ok(Loopback {
            addr,
            stop: Some(stop),
            task,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}
