//! What a cluster shows of its 3scale operator's OLM install and of its APIManager: the
//! Subscription to the `3scale-operator` package, the CSV OLM says it installed, the APIManager's
//! version annotations and conditions, and the versions these stand for (`2.15`).

use anyhow::{Context, Result};
use kube::api::DynamicObject;
use serde_json::Value;

use crate::infra::kube::{
    CustomKind, KubeCluster, OPERATOR_VERSION_ANNOTATION, VERSION_ANNOTATION, release_of_operator,
};

/// The OLM package of the 3scale operator (a Subscription's `spec.name`).
pub const PACKAGE: &str = "3scale-operator";

/// The 3scale minor of a version (`2.15.5` → `2.15`); None for anything else.
pub fn minor_of(version: &str) -> Option<String> {
    let mut parts = version.trim().trim_start_matches('v').split('.');
    let (major, minor) = (parts.next()?, parts.next()?);
    (major.parse::<u32>().is_ok() && minor.parse::<u32>().is_ok())
        .then(|| format!("{major}.{minor}"))
}

/// The minor's number (`2.15` → 15).
pub fn minor_number(version: &str) -> Option<u32> {
    version.trim().split('.').nth(1)?.parse().ok()
}

/// The 3scale minor a CSV of the 3scale operator ships (`3scale-operator.v0.12.5` → `2.15`);
/// None for a CSV of another package.
pub fn csv_release(csv: &str) -> Option<String> {
    let version = csv.strip_prefix(PACKAGE)?.strip_prefix(".v")?;
    release_of_operator(version)
}

fn text<'a>(o: &'a DynamicObject, pointer: &str) -> Option<&'a str> {
    o.data.pointer(pointer).and_then(Value::as_str)
}

/// When an object was created, as the server wrote it (RFC 3339, UTC: compares as text).
pub fn created(o: &DynamicObject) -> String {
    serde_json::to_value(&o.metadata.creation_timestamp)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

pub fn name(o: &DynamicObject) -> String {
    o.metadata.name.clone().unwrap_or_default()
}

/// The Subscription to the 3scale operator in the cluster's namespace.
pub async fn subscription(kube: &KubeCluster) -> Result<DynamicObject> {
    let subs = kube
        .list_custom(CustomKind::Subscription, None)
        .await
        .context("listing the OLM Subscriptions of the migration cluster's namespace")?;
    subs.into_iter()
        .find(|s| text(s, "/spec/name") == Some(PACKAGE))
        .with_context(|| {
            format!(
                "no Subscription to the {PACKAGE} package in namespace {} of the {} cluster \
                 (context {}): install the 3scale operator through OLM first \
                 (install-source-3scale's procedure)",
                kube.namespace(),
                kube.name(),
                kube.context()
            )
        })
}

/// The Subscription's channel.
pub fn channel(sub: &DynamicObject) -> &str {
    text(sub, "/spec/channel").unwrap_or("")
}

/// The CSV OLM installed for a Subscription (`status.installedCSV`) and what it is.
#[derive(Clone, Debug)]
pub struct Installed {
    pub csv: String,
    /// `Succeeded`, `Installing`...
    pub phase: String,
    pub reason: String,
    pub message: String,
    /// `spec.version`, `0.12.5`.
    pub operator_version: String,
    /// The 3scale minor it ships, `2.15`.
    pub release: Option<String>,
    pub created: String,
}

impl Installed {
    pub fn succeeded(&self) -> bool {
        self.phase == "Succeeded"
    }
}

/// A CSV by name, as [`Installed`]; None when it does not exist.
pub async fn csv(kube: &KubeCluster, name: &str) -> Result<Option<Installed>> {
    let Some(csv) = kube
        .get_custom(CustomKind::ClusterServiceVersion, None, name)
        .await
        .with_context(|| format!("reading the ClusterServiceVersion {name}"))?
    else {
        return Ok(None);
    };
    let operator_version = text(&csv, "/spec/version").unwrap_or("").to_string();
    Ok(Some(Installed {
        csv: name.to_string(),
        phase: text(&csv, "/status/phase").unwrap_or("").to_string(),
        reason: text(&csv, "/status/reason").unwrap_or("").to_string(),
        message: text(&csv, "/status/message").unwrap_or("").to_string(),
        release: release_of_operator(&operator_version).or_else(|| csv_release(name)),
        operator_version,
        created: created(&csv),
    }))
}

/// The CSV the Subscription says OLM installed, when it still exists.
pub async fn installed(kube: &KubeCluster, sub: &DynamicObject) -> Result<Option<Installed>> {
    match text(sub, "/status/installedCSV") {
        Some(name) if !name.is_empty() => csv(kube, name).await,
        _ => Ok(None),
    }
}

/// The APIManager of the cluster's namespace, if any (3scale runs one a namespace).
pub async fn apimanager(kube: &KubeCluster) -> Result<Option<DynamicObject>> {
    Ok(kube
        .list_custom(CustomKind::ApiManager, None)
        .await
        .context("listing the APIManagers of the migration cluster's namespace")?
        .into_iter()
        .next())
}

pub fn annotation<'a>(o: &'a DynamicObject, key: &str) -> &'a str {
    o.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map_or("", String::as_str)
}

/// The APIManager's 3scale version annotation and operator version annotation.
pub fn apimanager_versions(am: &DynamicObject) -> (&str, &str) {
    (
        annotation(am, VERSION_ANNOTATION),
        annotation(am, OPERATOR_VERSION_ANNOTATION),
    )
}

/// One of the APIManager's conditions: (status, message).
pub fn condition<'a>(am: &'a DynamicObject, type_: &str) -> Option<(&'a str, &'a str)> {
    am.data
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or(""),
                c["message"].as_str().unwrap_or(""),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_read_as_minors() {
        assert_eq!(minor_of("2.15.5").as_deref(), Some("2.15"));
        assert_eq!(minor_of("2.14").as_deref(), Some("2.14"));
        assert_eq!(minor_of("latest"), None);
        assert_eq!(minor_number("2.16"), Some(16));
        assert_eq!(
            csv_release("3scale-operator.v0.12.5").as_deref(),
            Some("2.15")
        );
        assert_eq!(csv_release("3scale-community-operator.v0.12.0"), None);
    }
}
