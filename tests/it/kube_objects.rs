//! Secrets, ConfigMaps and custom resources through the Kubernetes layer.

use std::collections::BTreeMap;

use cutover::infra::kube::CustomKind;
use cutover::runbook::ClusterRole;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::ObjectMeta;
use serde_json::json;

use crate::sim_support::Sandbox;

fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Default::default()
    }
}

#[tokio::test]
async fn secrets_are_created_read_and_applied() {
    let sb = Sandbox::start("destination", "redhat-rhoam-3scale").await;
    let kube = sb
        .connect(ClusterRole::Destination, "redhat-rhoam-3scale")
        .await;

    assert!(
        kube.get_secret(None, "system-seed")
            .await
            .unwrap()
            .is_none()
    );
    let created = kube
        .create_secret(
            None,
            &secret(
                "system-seed",
                &[("MASTER_USER", "master"), ("ADMIN_USER", "admin")],
            ),
        )
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    let again = kube
        .create_secret(None, &secret("system-seed", &[]))
        .await
        .unwrap_err();
    let text = format!("{again:#}");
    assert!(
        text.contains("system-seed")
            && text.contains("redhat-rhoam-3scale")
            && text.contains("409"),
        "{text}"
    );
    assert!(
        !text.contains("master"),
        "a secret value leaked into an error: {text}"
    );

    let read = kube.get_secret(None, "system-seed").await.unwrap().unwrap();
    assert_eq!(read.data.unwrap()["MASTER_USER"].0, b"master");

    // Server-side apply: creates when absent, merges keys, drops the keys it applied before
    // and no longer applies.
    kube.apply_secret(
        None,
        &secret(
            "backend-redis",
            &[
                ("REDIS_STORAGE_URL", "redis://a"),
                ("REDIS_QUEUES_URL", "redis://b"),
            ],
        ),
    )
    .await
    .unwrap();
    let applied = kube
        .apply_secret(
            None,
            &secret("backend-redis", &[("REDIS_STORAGE_URL", "redis://c")]),
        )
        .await
        .unwrap();
    let data = applied.data.unwrap();
    assert_eq!(data["REDIS_STORAGE_URL"].0, b"redis://c");
    assert!(!data.contains_key("REDIS_QUEUES_URL"), "{:?}", data.keys());
    let managers: Vec<String> = applied
        .metadata
        .managed_fields
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert_eq!(managers, ["cutover"]);
    let stored = sb
        .sim
        .get_object("v1", "Secret", "redhat-rhoam-3scale", "backend-redis")
        .unwrap();
    assert_eq!(stored["data"]["REDIS_STORAGE_URL"], "cmVkaXM6Ly9j");
}

#[tokio::test]
async fn configmaps_are_applied_and_read() {
    let sb = Sandbox::start("destination", "redhat-rhoam-3scale").await;
    let kube = sb
        .connect(ClusterRole::Destination, "redhat-rhoam-3scale")
        .await;
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("system-environment".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "RAILS_ENV".to_string(),
            "production".to_string(),
        )])),
        ..Default::default()
    };
    kube.apply_configmap(None, &cm).await.unwrap();
    let read = kube
        .get_configmap(None, "system-environment")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.data.unwrap()["RAILS_ENV"], "production");
    let created = kube
        .create_configmap(
            Some("default"),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some("x".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(created.metadata.namespace.as_deref(), Some("default"));
}

#[tokio::test]
async fn custom_resources_and_the_threescale_version() {
    let sb = Sandbox::start("source", "3scale").await;
    let kube = sb.connect(ClusterRole::Source, "3scale").await;
    assert!(kube.threescale_version().await.is_err());

    sb.sim
        .apply_object(json!({
            "apiVersion": "apps.3scale.net/v1alpha1", "kind": "APIManager",
            "metadata": {"name": "apimanager", "namespace": "3scale",
                         "annotations": {"apps.3scale.net/apimanager-threescale-version": "2.14"}},
            "spec": {"wildcardDomain": "apps.source.example.com"},
        }))
        .unwrap();
    let version = kube.threescale_version().await.unwrap();
    assert_eq!(version.version, "2.14");
    assert!(
        version.source.contains("APIManager apimanager"),
        "{version:?}"
    );

    kube.create_custom(
        CustomKind::Route,
        None,
        &json!({"metadata": {"name": "backend"}, "spec": {"host": "backend-3scale.apps.source.example.com", "to": {"kind": "Service", "name": "backend-listener"}}}),
    )
    .await
    .unwrap();
    kube.patch_custom(
        CustomKind::Route,
        None,
        "backend",
        &json!({"spec": {"host": "backend-3scale.apps.dest.example.com"}}),
    )
    .await
    .unwrap();
    let route = kube
        .get_custom(CustomKind::Route, None, "backend")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        route.data["spec"]["host"],
        "backend-3scale.apps.dest.example.com"
    );
    assert_eq!(route.data["spec"]["to"]["name"], "backend-listener");

    let backup = json!({"metadata": {"name": "registry-1"}, "spec": {"includedNamespaces": ["registry"], "storageLocation": "default"}});
    // Apply creates the object but not its namespace.
    let missing = kube
        .apply_custom(
            CustomKind::VeleroBackup,
            Some("velero"),
            "registry-1",
            &backup,
        )
        .await
        .unwrap_err();
    let text = format!("{missing:#}");
    assert!(
        text.contains("namespace velero") && text.contains("404"),
        "{text}"
    );

    sb.sim
        .apply_object(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "velero"}}),
        )
        .unwrap();
    kube.apply_custom(
        CustomKind::VeleroBackup,
        Some("velero"),
        "registry-1",
        &backup,
    )
    .await
    .unwrap();
    let backups = kube
        .list_custom(CustomKind::VeleroBackup, Some("velero"))
        .await
        .unwrap();
    assert_eq!(backups.len(), 1);
    assert_eq!(backups[0].data["spec"]["includedNamespaces"][0], "registry");
    kube.delete_custom(CustomKind::VeleroBackup, Some("velero"), "registry-1")
        .await
        .unwrap();
    assert!(
        kube.get_custom(CustomKind::VeleroBackup, Some("velero"), "registry-1")
            .await
            .unwrap()
            .is_none()
    );
}
