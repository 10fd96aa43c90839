//! Objects of any kind the cluster serves, found through discovery: the YAML `backup-registry`
//! saves beside the Velero backup and `restore-registry` applies again, as `oc get -o yaml` and
//! `oc apply -f` handle them.

use anyhow::{Context, Result, anyhow};
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use kube::discovery::{self, Scope};
use serde_json::Value;

use super::cluster::KubeCluster;
use super::config_objects::FIELD_MANAGER;

/// What the server owns in an object and `oc apply` of a saved copy must not send.
const SERVER_OWNED: &[&str] = &[
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// A saved object made fit to apply again: without what the server owns, without the
/// annotation of `kubectl apply` (which would hold the old cluster's copy).
pub fn applicable(mut object: Value) -> Value {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in SERVER_OWNED {
            meta.shift_remove(*key);
        }
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            a.shift_remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    object
}

impl KubeCluster {
    /// The resource behind `apiVersion` and `kind`, and whether it is namespaced.
    pub async fn resolve_kind(&self, api_version: &str, kind: &str) -> Result<(ApiResource, bool)> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (ar, caps) = discovery::pinned_kind(self.client(), &gvk)
            .await
            .map_err(|e| {
                anyhow!(
                    "cluster {} does not serve {kind} ({api_version}): {e}; install its \
                     operator (its CRD) first",
                    self.name()
                )
            })?;
        Ok((ar, caps.scope == Scope::Namespaced))
    }

    /// Server-side apply of a whole object (its `apiVersion`, `kind`, `metadata.name`, and
    /// `metadata.namespace` when namespaced), forced, as cutover's field manager.
    pub async fn apply_object(&self, object: &Value) -> Result<()> {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .context("the object has no apiVersion")?;
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .context("the object has no kind")?;
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .context("the object has no metadata.name")?;
        let (ar, namespaced) = self.resolve_kind(api_version, kind).await?;
        let api: Api<DynamicObject> = if namespaced {
            let ns = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or(self.namespace());
            Api::namespaced_with(self.client().clone(), ns, &ar)
        } else {
            Api::all_with(self.client().clone(), &ar)
        };
        let body = applicable(object.clone());
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let what = format!("applying {kind} {name}");
        self.call(None, &what, api.patch(name, &params, &Patch::Apply(&body)))
            .await?;
        // Where the kind keeps its status in a subresource, the apply above left it out; the
        // saved status goes there (what restore-registry.sh gets by switching the subresource
        // off for a moment).
        if let Some(status) = object.get("status").filter(|s| !s.is_null()) {
            let patch = serde_json::json!({ "status": status });
            let what = format!("setting the status of {kind} {name}");
            let _ = self
                .call(
                    None,
                    &what,
                    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)),
                )
                .await;
        }
        Ok(())
    }

    fn dynamic_api(&self, ar: &ApiResource, namespaced: bool, ns: &str) -> Api<DynamicObject> {
        if namespaced {
            Api::namespaced_with(self.client().clone(), ns, ar)
        } else {
            Api::all_with(self.client().clone(), ar)
        }
    }

    /// An object of any kind; None when there is none.
    pub async fn get_object(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
    ) -> Result<Option<Value>> {
        let (ar, namespaced) = self.resolve_kind(api_version, kind).await?;
        let api = self.dynamic_api(&ar, namespaced, ns);
        let what = format!("reading {kind} {name}");
        match self.call(Some(ns), &what, api.get_opt(name)).await? {
            Some(o) => Ok(Some(serde_json::to_value(o)?)),
            None => Ok(None),
        }
    }

    /// A JSON merge patch (RFC 7386) of an object of any kind: lists in the patch replace the
    /// object's. None when there is no such object.
    pub async fn merge_patch_object(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
        patch: &Value,
    ) -> Result<Option<Value>> {
        let (ar, namespaced) = self.resolve_kind(api_version, kind).await?;
        let api = self.dynamic_api(&ar, namespaced, ns);
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(o) => Ok(Some(serde_json::to_value(o)?)),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
            Err(kube::Error::Api(e)) => Err(anyhow!(
                "cluster {} refused the change to {kind} {name} in {ns}: {} ({})",
                self.name(),
                e.message,
                e.reason
            )),
            Err(e) => Err(anyhow!(
                "changing {kind} {name} in {ns} on cluster {}: {e}",
                self.name()
            )),
        }
    }

    /// Deletes an object of any kind; one that is not there is fine.
    pub async fn delete_object(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
    ) -> Result<()> {
        let (ar, namespaced) = self.resolve_kind(api_version, kind).await?;
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(self.client().clone(), ns, &ar)
        } else {
            Api::all_with(self.client().clone(), &ar)
        };
        match api.delete(name, &Default::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(anyhow!("deleting {kind} {name}: {e}")),
        }
    }

    /// The resources (plurals) a group-version serves; empty when the cluster does not serve it.
    pub async fn plurals_of(&self, group: &str, version: &str) -> Result<Vec<String>> {
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        Ok(match self.client().list_api_group_resources(&gv).await {
            Ok(list) => list
                .resources
                .into_iter()
                .map(|r| r.name)
                .filter(|n| !n.contains('/'))
                .collect(),
            Err(_) => Vec::new(),
        })
    }

    /// Every object of `plural` in a group-version in `namespace`; empty when the cluster does
    /// not serve that resource.
    pub async fn list_any(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        namespace: &str,
    ) -> Result<Vec<Value>> {
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        let served = match self.client().list_api_group_resources(&gv).await {
            Ok(list) => list.resources.into_iter().find(|r| r.name == plural),
            Err(_) => None,
        };
        let Some(resource) = served else {
            return Ok(Vec::new());
        };
        let gvk = GroupVersionKind::gvk(group, version, &resource.kind);
        let ar = ApiResource::from_gvk_with_plural(&gvk, plural);
        let api: Api<DynamicObject> = if resource.namespaced {
            Api::namespaced_with(self.client().clone(), namespace, &ar)
        } else {
            Api::all_with(self.client().clone(), &ar)
        };
        let what = format!("listing {plural}.{group}");
        let list = self
            .call(Some(namespace), &what, api.list(&ListParams::default()))
            .await?;
        list.items
            .into_iter()
            .map(|mut o| {
                o.types = Some(kube::api::TypeMeta {
                    api_version: gv.clone(),
                    kind: resource.kind.clone(),
                });
                serde_json::to_value(o).map_err(Into::into)
            })
            .collect()
    }
}
