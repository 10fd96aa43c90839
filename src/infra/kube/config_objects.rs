//! Secrets and ConfigMaps: read, create, server-side apply (field manager `cutover`). Errors
//! name the object, never its data.

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cluster::KubeCluster;

/// The field manager cutover's server-side applies are recorded under.
pub const FIELD_MANAGER: &str = "cutover";

trait Named {
    const NAME: &'static str;
}
impl Named for Secret {
    const NAME: &'static str = "secret";
}
impl Named for ConfigMap {
    const NAME: &'static str = "configmap";
}

impl KubeCluster {
    fn typed_api<K>(&self, ns: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), ns.unwrap_or(&self.namespace))
    }

    async fn get_named<K>(&self, ns: Option<&str>, name: &str) -> anyhow::Result<Option<K>>
    where
        K: Resource<Scope = NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug
            + Named,
        <K as Resource>::DynamicType: Default,
    {
        let ns = ns.unwrap_or(&self.namespace);
        let what = format!("{} {name}", K::NAME);
        self.call(Some(ns), &what, self.typed_api::<K>(Some(ns)).get_opt(name))
            .await
    }

    async fn create_named<K>(&self, ns: Option<&str>, object: &K) -> anyhow::Result<K>
    where
        K: Resource<Scope = NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Serialize
            + std::fmt::Debug
            + Named,
        <K as Resource>::DynamicType: Default,
    {
        let ns = ns.unwrap_or(&self.namespace);
        let name = object.meta().name.clone().unwrap_or_default();
        let what = format!("creating {} {name}", K::NAME);
        self.call(
            Some(ns),
            &what,
            self.typed_api::<K>(Some(ns))
                .create(&PostParams::default(), object),
        )
        .await
    }

    async fn apply_named<K>(&self, ns: Option<&str>, object: &K) -> anyhow::Result<K>
    where
        K: Resource<Scope = NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Serialize
            + std::fmt::Debug
            + Named,
        <K as Resource>::DynamicType: Default,
    {
        let ns = ns.unwrap_or(&self.namespace);
        let name = object.meta().name.clone().unwrap_or_default();
        let what = format!(
            "applying {} {name} (server-side, field manager {FIELD_MANAGER})",
            K::NAME
        );
        // Forced: the migration owns the fields it writes, whoever wrote them before.
        let params = PatchParams::apply(FIELD_MANAGER).force();
        self.call(
            Some(ns),
            &what,
            self.typed_api::<K>(Some(ns))
                .patch(&name, &params, &Patch::Apply(object)),
        )
        .await
    }

    /// The Secret `name` in `ns` (the cluster's namespace when `None`).
    pub async fn get_secret(&self, ns: Option<&str>, name: &str) -> anyhow::Result<Option<Secret>> {
        self.get_named(ns, name).await
    }

    pub async fn create_secret(&self, ns: Option<&str>, secret: &Secret) -> anyhow::Result<Secret> {
        self.create_named(ns, secret).await
    }

    /// Server-side apply; `apiVersion`/`kind` are filled in when the caller left them out.
    pub async fn apply_secret(&self, ns: Option<&str>, secret: &Secret) -> anyhow::Result<Secret> {
        self.apply_named(ns, secret).await
    }

    /// Replaces the Secret (PUT): its `data` becomes exactly the object's, so keys it no
    /// longer has are removed, which an apply would leave to their other field managers. The
    /// object carries the resourceVersion it was read at; a change in between is refused.
    pub async fn replace_secret(
        &self,
        ns: Option<&str>,
        secret: &Secret,
    ) -> anyhow::Result<Secret> {
        let ns = ns.unwrap_or(&self.namespace);
        let name = secret.metadata.name.clone().unwrap_or_default();
        let what = format!("replacing secret {name}");
        self.call(
            Some(ns),
            &what,
            self.typed_api::<Secret>(Some(ns))
                .replace(&name, &PostParams::default(), secret),
        )
        .await
    }

    pub async fn get_configmap(
        &self,
        ns: Option<&str>,
        name: &str,
    ) -> anyhow::Result<Option<ConfigMap>> {
        self.get_named(ns, name).await
    }

    pub async fn create_configmap(
        &self,
        ns: Option<&str>,
        cm: &ConfigMap,
    ) -> anyhow::Result<ConfigMap> {
        self.create_named(ns, cm).await
    }

    pub async fn apply_configmap(
        &self,
        ns: Option<&str>,
        cm: &ConfigMap,
    ) -> anyhow::Result<ConfigMap> {
        self.apply_named(ns, cm).await
    }
}
