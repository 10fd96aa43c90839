//! Watch as kube-rs consumes it: JSON lines, replay from a resourceVersion, label selectors,
//! BOOKMARKs with kind and apiVersion, and an expired resourceVersion as an in-stream ERROR 410.

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ListParams, WatchEvent, WatchParams};
use serde_json::json;

use crate::sim_support::Sandbox;

fn cm(name: &str, tier: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": "3scale", "labels": {"tier": tier}}, "data": {"k": "v"}})
}

#[tokio::test]
async fn a_watch_replays_from_a_resource_version_filters_by_label_and_bookmarks() {
    let sb = Sandbox::start("source", "3scale").await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client().await, "3scale");
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    sb.sim
        .apply_object(cm("backend-environment", "backend"))
        .unwrap();
    sb.sim
        .apply_object(cm("system-environment", "system"))
        .unwrap();

    let params = WatchParams::default().labels("tier=system").timeout(2);
    let mut events = Box::pin(api.watch(&params, &rv).await.unwrap());
    let mut added = Vec::new();
    let mut bookmark = None;
    // Bounded: the server ends the watch after timeoutSeconds=2.
    while let Some(event) = tokio::time::timeout(std::time::Duration::from_secs(20), events.next())
        .await
        .unwrap()
    {
        match event.unwrap() {
            WatchEvent::Added(c) => added.push(c.metadata.name.unwrap()),
            WatchEvent::Bookmark(b) => bookmark = Some(b),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(added, ["system-environment"]);
    let bookmark = bookmark.expect("a quiet watch gets a BOOKMARK");
    assert_eq!(bookmark.types.kind, "ConfigMap");
    assert!(
        bookmark.metadata.resource_version.parse::<u64>().unwrap() >= rv.parse::<u64>().unwrap()
    );
}

#[tokio::test]
async fn an_expired_resource_version_is_an_in_stream_410() {
    let sb = Sandbox::start("source", "3scale").await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client().await, "3scale");
    let mut events = Box::pin(
        api.watch(&WatchParams::default().timeout(5), "5")
            .await
            .unwrap(),
    );
    let first = tokio::time::timeout(std::time::Duration::from_secs(20), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match first {
        WatchEvent::Error(status) => {
            assert_eq!(status.code, 410);
            assert_eq!(status.reason, "Expired");
        }
        other => panic!("expected an ERROR event, got {other:?}"),
    }
    assert!(
        tokio::time::timeout(std::time::Duration::from_secs(20), events.next())
            .await
            .unwrap()
            .is_none()
    );
}
