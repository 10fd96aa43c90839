//! Custom resources without generated types (`DynamicObject`): the 3scale APIManager, Velero's
//! Backup, Restore and BackupStorageLocation, and OpenShift Routes.

use kube::Api;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::Value;

use super::cluster::KubeCluster;
use super::config_objects::FIELD_MANAGER;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum CustomKind {
    ApiManager,
    VeleroBackup,
    VeleroRestore,
    BackupStorageLocation,
    /// A request for a presigned URL of one of a Backup's or Restore's files (logs, results).
    DownloadRequest,
    Route,
    /// OLM's record of an installed operator (its version), e.g. the 3scale operator's.
    ClusterServiceVersion,
    /// OLM's subscription to an operator's channel in a catalog.
    Subscription,
    /// OLM's plan to install or upgrade an operator's CSV, approved by hand under Manual approval.
    InstallPlan,
    /// A user RHOAM's RH-SSO knows (the Keycloak operator's `KeycloakUser`).
    KeycloakUser,
    /// A realm of the Platform's Keycloak (EDP's keycloak operator, `spec.realmName`).
    KeycloakRealm,
    /// A `batch/v1` Job, such as the 3scale operator's search reindex.
    Job,
    /// RHOAM's installation (`rhmis.integreatly.org`, CR `rhoam` in `redhat-rhoam-operator`).
    Rhmi,
    /// An EDP codebase (`v2.edp.epam.com`): a registry's, in the Platform's namespace.
    Codebase,
    /// A repository of an EDP Gerrit (`status.branches`), such as the Platform's `cluster-mgmt`.
    GerritProject,
    /// A change the EDP Gerrit operator merges, such as a registry's version update.
    GerritMergeRequest,
    /// A member of a registry Gerrit's group, which the EDP Gerrit operator makes and keeps.
    GerritGroupMember,
    /// `apps/v1` Deployment and StatefulSet, read as they are (image, args, replicas).
    Deployment,
    StatefulSet,
    /// Core kinds a namespace's contents are counted by.
    Pod,
    PersistentVolumeClaim,
    Service,
}

impl CustomKind {
    /// (group, version, kind, plural)
    fn gvkp(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            CustomKind::ApiManager => ("apps.3scale.net", "v1alpha1", "APIManager", "apimanagers"),
            CustomKind::VeleroBackup => ("velero.io", "v1", "Backup", "backups"),
            CustomKind::VeleroRestore => ("velero.io", "v1", "Restore", "restores"),
            CustomKind::BackupStorageLocation => (
                "velero.io",
                "v1",
                "BackupStorageLocation",
                "backupstoragelocations",
            ),
            CustomKind::DownloadRequest => {
                ("velero.io", "v1", "DownloadRequest", "downloadrequests")
            }
            CustomKind::Route => ("route.openshift.io", "v1", "Route", "routes"),
            CustomKind::ClusterServiceVersion => (
                "operators.coreos.com",
                "v1alpha1",
                "ClusterServiceVersion",
                "clusterserviceversions",
            ),
            CustomKind::Subscription => (
                "operators.coreos.com",
                "v1alpha1",
                "Subscription",
                "subscriptions",
            ),
            CustomKind::InstallPlan => (
                "operators.coreos.com",
                "v1alpha1",
                "InstallPlan",
                "installplans",
            ),
            CustomKind::KeycloakUser => {
                ("keycloak.org", "v1alpha1", "KeycloakUser", "keycloakusers")
            }
            CustomKind::KeycloakRealm => {
                ("v1.edp.epam.com", "v1", "KeycloakRealm", "keycloakrealms")
            }
            CustomKind::Job => ("batch", "v1", "Job", "jobs"),
            CustomKind::Rhmi => ("integreatly.org", "v1alpha1", "RHMI", "rhmis"),
            CustomKind::Codebase => ("v2.edp.epam.com", "v1", "Codebase", "codebases"),
            CustomKind::GerritProject => {
                ("v2.edp.epam.com", "v1", "GerritProject", "gerritprojects")
            }
            CustomKind::GerritMergeRequest => (
                "v2.edp.epam.com",
                "v1",
                "GerritMergeRequest",
                "gerritmergerequests",
            ),
            CustomKind::GerritGroupMember => (
                "v2.edp.epam.com",
                "v1",
                "GerritGroupMember",
                "gerritgroupmembers",
            ),
            CustomKind::Deployment => ("apps", "v1", "Deployment", "deployments"),
            CustomKind::StatefulSet => ("apps", "v1", "StatefulSet", "statefulsets"),
            CustomKind::Pod => ("", "v1", "Pod", "pods"),
            CustomKind::PersistentVolumeClaim => {
                ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims")
            }
            CustomKind::Service => ("", "v1", "Service", "services"),
        }
    }

    pub fn api_resource(self) -> ApiResource {
        let (g, v, k, plural) = self.gvkp();
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(g, v, k), plural)
    }

    /// `apimanagers.apps.3scale.net`, as RBAC and kubectl name it.
    pub fn resource_name(self) -> String {
        let (g, _, _, plural) = self.gvkp();
        if g.is_empty() {
            plural.to_string()
        } else {
            format!("{plural}.{g}")
        }
    }
}

impl KubeCluster {
    /// A dynamic API for `kind` in `ns` (the cluster's namespace when `None`).
    pub fn custom_api(&self, kind: CustomKind, ns: Option<&str>) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            ns.unwrap_or(&self.namespace),
            &kind.api_resource(),
        )
    }

    pub async fn get_custom(
        &self,
        kind: CustomKind,
        ns: Option<&str>,
        name: &str,
    ) -> anyhow::Result<Option<DynamicObject>> {
        let ns = ns.unwrap_or(&self.namespace);
        let what = format!("{} {name}", kind.resource_name());
        self.call(
            Some(ns),
            &what,
            self.custom_api(kind, Some(ns)).get_opt(name),
        )
        .await
    }

    pub async fn list_custom(
        &self,
        kind: CustomKind,
        ns: Option<&str>,
    ) -> anyhow::Result<Vec<DynamicObject>> {
        let ns = ns.unwrap_or(&self.namespace);
        let what = format!("the {}", kind.resource_name());
        Ok(self
            .call(
                Some(ns),
                &what,
                self.custom_api(kind, Some(ns)).list(&Default::default()),
            )
            .await?
            .items)
    }

    /// Creates an object from its JSON (`metadata.name` and `spec` at least).
    pub async fn create_custom(
        &self,
        kind: CustomKind,
        ns: Option<&str>,
        object: &Value,
    ) -> anyhow::Result<DynamicObject> {
        let ns = ns.unwrap_or(&self.namespace);
        let mut obj: DynamicObject = serde_json::from_value(object.clone()).map_err(|e| {
            anyhow::anyhow!(
                "the {} to create is not an object: {e}",
                kind.resource_name()
            )
        })?;
        let ar = kind.api_resource();
        obj.types = Some(kube::api::TypeMeta {
            api_version: ar.api_version.clone(),
            kind: ar.kind.clone(),
        });
        let name = obj.metadata.name.clone().unwrap_or_default();
        let what = format!("creating {} {name}", kind.resource_name());
        self.call(
            Some(ns),
            &what,
            self.custom_api(kind, Some(ns))
                .create(&PostParams::default(), &obj),
        )
        .await
    }

    /// Server-side apply of `object` (field manager `cutover`, forced).
    pub async fn apply_custom(
        &self,
        kind: CustomKind,
        ns: Option<&str>,
        name: &str,
        object: &Value,
    ) -> anyhow::Result<DynamicObject> {
        let ns = ns.unwrap_or(&self.namespace);
        let ar = kind.api_resource();
        let mut body = object.clone();
        if let Some(o) = body.as_object_mut() {
            o.insert("apiVersion".into(), Value::String(ar.api_version.clone()));
            o.insert("kind".into(), Value::String(ar.kind.clone()));
        }
        let what = format!("applying {} {name}", kind.resource_name());
        let params = PatchParams::apply(FIELD_MANAGER).force();
        self.call(
            Some(ns),
            &what,
            self.custom_api(kind, Some(ns))
                .patch(name, &params, &Patch::Apply(&body)),
        )
        .await
    }

    /// Merge patch, e.g. a Route's `spec.host`.
    pub async fn patch_custom(
        &self,
        kind: CustomKind,
        ns: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> anyhow::Result<DynamicObject> {
        let ns = ns.unwrap_or(&self.namespace);
        let what = format!("patching {} {name}", kind.resource_name());
        self.call(
            Some(ns),
            &what,
            self.custom_api(kind, Some(ns)).patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(patch),
            ),
        )
        .await
    }

    pub async fn delete_custom(
        &self,
        kind: CustomKind,
        ns: Option<&str>,
        name: &str,
    ) -> anyhow::Result<()> {
        let ns = ns.unwrap_or(&self.namespace);
        let what = format!("deleting {} {name}", kind.resource_name());
        self.call(
            Some(ns),
            &what,
            self.custom_api(kind, Some(ns))
                .delete(name, &DeleteParams::default()),
        )
        .await?;
        Ok(())
    }
}
