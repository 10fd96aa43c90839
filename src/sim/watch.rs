//! `?watch=true`: one JSON event per line, flushed as it happens. Resuming from a
//! resourceVersion replays the history after it; one too old for the history gets an in-stream
//! ERROR 410 (not an HTTP 410, which would make kube-rs' watcher retry forever).

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::catalog::ResourceType;
use super::http::Query;
use super::selector::Selector;
use super::state::Shared;
use super::status::ApiError;
use super::store::Change;

/// Quiet watches get a BOOKMARK this often (or twice per watch when it is shorter), so clients
/// see the connection is alive and know the resourceVersion to resume from.
const BOOKMARK_EVERY: Duration = Duration::from_secs(10);

fn line(event: &str, object: &Value) -> Bytes {
    let mut bytes =
        serde_json::to_vec(&json!({"type": event, "object": object})).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

struct Filter {
    rt: &'static ResourceType,
    namespace: Option<String>,
    selector: Selector,
    /// `kubectl get -w` asks for Tables: each event then carries a one-row Table.
    as_table: bool,
}

impl Filter {
    fn wants(&self, c: &Change) -> bool {
        c.group == self.rt.group
            && c.plural == self.rt.plural
            && self.namespace.as_ref().is_none_or(|ns| *ns == c.namespace)
            && self.selector.matches(&c.object)
    }

    fn event(&self, event: &str, object: &Value) -> Bytes {
        if !self.as_table {
            return line(event, object);
        }
        let rv = super::store::meta_str(object, "resourceVersion").unwrap_or("");
        line(
            event,
            &super::table::table(self.rt, std::slice::from_ref(object), rv),
        )
    }
}

pub fn stream(
    sim: &Arc<Shared>,
    rt: &'static ResourceType,
    namespace: Option<String>,
    selector: Selector,
    query: &Query,
    as_table: bool,
) -> Response {
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(1800)
        .clamp(1, 3600);
    let bookmarks = query.flag("allowWatchBookmarks");
    let from: Option<u64> = query
        .get("resourceVersion")
        .filter(|s| !s.is_empty() && *s != "0")
        .and_then(|s| s.parse().ok());
    let filter = Filter {
        rt,
        namespace,
        selector,
        as_table,
    };

    let (tx, rx) = mpsc::channel::<Bytes>(1024);
    let (changes, first, last_rv) = {
        let inner = sim.lock();
        let changes = inner.store.changes.subscribe();
        let current = inner.store.current_rv();
        let first: Result<Vec<Bytes>, ApiError> = match from {
            Some(rv) if rv < inner.store.oldest_replayable() => Err(ApiError::expired(format!(
                "too old resource version: {rv} ({})",
                inner.store.oldest_replayable() + 1
            ))),
            Some(rv) => Ok(inner
                .store
                .history_after(rv)
                .iter()
                .filter(|c| filter.wants(c))
                .map(|c| filter.event(c.event, &c.object))
                .collect()),
            // No resourceVersion: the current state as ADDED events, then changes.
            None => Ok(inner
                .store
                .list(rt, filter.namespace.as_deref())
                .iter()
                .filter(|o| filter.selector.matches(o))
                .map(|o| filter.event("ADDED", o))
                .collect()),
        };
        (changes, first, current)
    };
    let shutdown = sim.shutdown.clone();
    tokio::spawn(pump(
        tx,
        changes,
        first,
        last_rv,
        filter,
        bookmarks,
        Duration::from_secs(timeout),
        shutdown,
    ));

    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<Bytes, std::io::Error>(b), rx))
    }));
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[allow(clippy::too_many_arguments)]
async fn pump(
    tx: mpsc::Sender<Bytes>,
    mut changes: broadcast::Receiver<Arc<Change>>,
    first: Result<Vec<Bytes>, ApiError>,
    mut last_rv: u64,
    filter: Filter,
    bookmarks: bool,
    timeout: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let replay = match first {
        Ok(lines) => lines,
        Err(e) => {
            let _ = tx.send(line("ERROR", &e.to_status())).await;
            return;
        }
    };
    for l in replay {
        if tx.send(l).await.is_err() {
            return;
        }
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut ticker = tokio::time::interval(BOOKMARK_EVERY.min(timeout / 2));
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return,
            _ = shutdown.changed() => return,
            _ = tx.closed() => return,
            _ = ticker.tick() => {
                if bookmarks && !filter.as_table {
                    let bookmark = json!({
                        "kind": filter.rt.kind,
                        "apiVersion": filter.rt.api_version(),
                        "metadata": {"resourceVersion": last_rv.to_string(), "creationTimestamp": null},
                    });
                    if tx.send(line("BOOKMARK", &bookmark)).await.is_err() {
                        return;
                    }
                }
            }
            change = changes.recv() => match change {
                Ok(c) => {
                    // Changes replayed from the history may also arrive live; skip those.
                    if c.rv <= last_rv && c.rv != 0 {
                        continue;
                    }
                    last_rv = c.rv;
                    if filter.wants(&c) && tx.send(filter.event(c.event, &c.object)).await.is_err() {
                        return;
                    }
                }
                // Lagging behind or the cluster gone: end the stream; the client re-watches
                // from the last resourceVersion it saw.
                Err(_) => return,
            },
        }
    }
}
