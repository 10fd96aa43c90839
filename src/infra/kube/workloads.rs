//! Workloads by name: `apps/v1` Deployments and `apps.openshift.io/v1` DeploymentConfigs (3scale
//! up to 2.14 uses DeploymentConfigs, 2.15 and later Deployments), and `apps/v1` StatefulSets
//! (the Platform's registries run their databases and Gerrit, Nexus, Vault... in them). Replicas
//! are read from the object and written through the `scale` subresource, as `kubectl scale`
//! does.

use std::collections::BTreeMap;

use anyhow::anyhow;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};

use super::cluster::KubeCluster;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum WorkloadKind {
    Deployment,
    DeploymentConfig,
    StatefulSet,
}

impl WorkloadKind {
    pub fn api_resource(self) -> ApiResource {
        match self {
            WorkloadKind::Deployment => ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("apps", "v1", "Deployment"),
                "deployments",
            ),
            WorkloadKind::DeploymentConfig => ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("apps.openshift.io", "v1", "DeploymentConfig"),
                "deploymentconfigs",
            ),
            WorkloadKind::StatefulSet => ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("apps", "v1", "StatefulSet"),
                "statefulsets",
            ),
        }
    }

    /// The pod label that names the workload (set by the 3scale operator's templates). A
    /// StatefulSet's pods carry none: the StatefulSet controller names them `<set>-<ordinal>`
    /// and makes the set their controlling owner, which [`WorkloadKind::owns`] reads.
    pub fn pod_label(self) -> Option<&'static str> {
        match self {
            WorkloadKind::Deployment => Some("deployment"),
            WorkloadKind::DeploymentConfig => Some("deploymentConfig"),
            WorkloadKind::StatefulSet => None,
        }
    }

    /// The name of the workload of this kind `pod` belongs to: the label that names it, or for
    /// a StatefulSet its controlling owner reference.
    pub fn owner_of(self, pod: &k8s_openapi::api::core::v1::Pod) -> Option<&str> {
        match self.pod_label() {
            Some(label) => pod.metadata.labels.as_ref()?.get(label).map(String::as_str),
            None => pod
                .metadata
                .owner_references
                .as_ref()?
                .iter()
                .find(|r| r.controller == Some(true) && r.kind == "StatefulSet")
                .map(|r| r.name.as_str()),
        }
    }

    /// Whether `pod` is one of the pods of the workload `name` of this kind.
    pub fn owns(self, name: &str, pod: &k8s_openapi::api::core::v1::Pod) -> bool {
        self.owner_of(pod) == Some(name)
    }

    /// How a `kubectl get pods` command line picks the pods of workload `name` (after the
    /// namespace), for messages: `-l deployment=<name>`, or the StatefulSet's pods by name.
    pub fn kubectl_pods(self, name: &str) -> String {
        match self.pod_label() {
            Some(label) => format!("-l {label}={name}"),
            None => format!("| grep '^{name}-[0-9]'"),
        }
    }

    /// `deployment` / `deploymentconfig` / `statefulset`, as kubectl names them.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployment",
            WorkloadKind::DeploymentConfig => "deploymentconfig",
            WorkloadKind::StatefulSet => "statefulset",
        }
    }
}

impl std::fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the steps need to know about a workload.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct WorkloadInfo {
    pub kind: WorkloadKind,
    pub name: String,
    /// Desired replicas (`spec.replicas`).
    pub replicas: i32,
    /// Pods that exist and are not terminating (`status.replicas`).
    pub current_replicas: i32,
    pub ready_replicas: i32,
    pub available_replicas: i32,
    pub annotations: BTreeMap<String, String>,
}

/// Where a container's environment variable gets its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvSource {
    /// `value`, as written.
    Value(String),
    /// `valueFrom.secretKeyRef`.
    SecretKey { secret: String, key: String },
    /// Any other `valueFrom` (a configmap, a field of the pod), described.
    Other(String),
}

impl EnvSource {
    /// The variable `var` in a workload's `spec.template.spec.containers[*].env`, first
    /// container first.
    fn of_template(workload: &Value, var: &str) -> Option<EnvSource> {
        let containers = workload
            .pointer("/spec/template/spec/containers")?
            .as_array()?;
        let entry = containers
            .iter()
            .filter_map(|c| c["env"].as_array())
            .flatten()
            .find(|e| e["name"].as_str() == Some(var))?;
        if let Some(secret) = entry.pointer("/valueFrom/secretKeyRef") {
            return Some(EnvSource::SecretKey {
                secret: secret["name"].as_str().unwrap_or_default().to_string(),
                key: secret["key"].as_str().unwrap_or_default().to_string(),
            });
        }
        if let Some(from) = entry.get("valueFrom") {
            return Some(EnvSource::Other(from.to_string()));
        }
        Some(EnvSource::Value(
            entry["value"].as_str().unwrap_or_default().to_string(),
        ))
    }
}

fn int(obj: &DynamicObject, pointer: &str) -> i32 {
    obj.data
        .pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or(0) as i32
}

impl WorkloadInfo {
    fn from_object(kind: WorkloadKind, obj: &DynamicObject) -> WorkloadInfo {
        WorkloadInfo {
            kind,
            name: obj.metadata.name.clone().unwrap_or_default(),
            // Kubernetes defaults a missing spec.replicas to 1.
            replicas: obj
                .data
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1) as i32,
            current_replicas: int(obj, "/status/replicas"),
            ready_replicas: int(obj, "/status/readyReplicas"),
            available_replicas: int(obj, "/status/availableReplicas"),
            annotations: obj.metadata.annotations.clone().unwrap_or_default(),
        }
    }
}

impl KubeCluster {
    fn workloads_api(&self, kind: WorkloadKind) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace, &kind.api_resource())
    }

    /// The kinds to look in, DeploymentConfigs first when the cluster serves them.
    async fn workload_kinds(&self) -> anyhow::Result<Vec<WorkloadKind>> {
        Ok(if self.serves_deployment_configs().await? {
            vec![WorkloadKind::DeploymentConfig, WorkloadKind::Deployment]
        } else {
            vec![WorkloadKind::Deployment]
        })
    }

    /// The workload called `name` in the cluster's namespace, DeploymentConfig or Deployment;
    /// `None` when there is neither.
    pub async fn find_workload(&self, name: &str) -> anyhow::Result<Option<WorkloadInfo>> {
        for kind in self.workload_kinds().await? {
            let what = format!("{kind} {name}");
            let found = self
                .call(
                    Some(&self.namespace),
                    &what,
                    self.workloads_api(kind).get_opt(name),
                )
                .await?;
            if let Some(obj) = found {
                return Ok(Some(WorkloadInfo::from_object(kind, &obj)));
            }
        }
        Ok(None)
    }

    /// Where the environment variable `var` of workload `name`'s pod template comes from (the
    /// first container that sets it); `Ok(None)` when no container sets it, `Err` when the
    /// workload is not there.
    pub async fn workload_env(&self, name: &str, var: &str) -> anyhow::Result<Option<EnvSource>> {
        for kind in self.workload_kinds().await? {
            let what = format!("{kind} {name}");
            let found = self
                .call(
                    Some(&self.namespace),
                    &what,
                    self.workloads_api(kind).get_opt(name),
                )
                .await?;
            if let Some(obj) = found {
                return Ok(EnvSource::of_template(&obj.data, var));
            }
        }
        Err(anyhow!(
            "{} cluster (context {}): no Deployment or DeploymentConfig named {name} in namespace {}",
            self.name,
            self.context,
            self.namespace
        ))
    }

    /// The workload called `name`; an error naming the cluster and namespace when missing.
    pub async fn workload(&self, name: &str) -> anyhow::Result<WorkloadInfo> {
        self.find_workload(name).await?.ok_or_else(|| {
            anyhow!(
                "{} cluster (context {}): no Deployment or DeploymentConfig named {name} in namespace \
                 {}; check the namespace in the config and `kubectl --context {} get deploy,dc -n {}`",
                self.name,
                self.context,
                self.namespace,
                self.context,
                self.namespace
            )
        })
    }

    /// Every Deployment and DeploymentConfig of the namespace, sorted by name.
    pub async fn list_workloads(&self) -> anyhow::Result<Vec<WorkloadInfo>> {
        self.list_workloads_with(&[]).await
    }

    /// Every Deployment and DeploymentConfig of the namespace and every workload of the `more`
    /// kinds (StatefulSets, which 3scale's steps never list), sorted by name.
    pub async fn list_workloads_with(
        &self,
        more: &[WorkloadKind],
    ) -> anyhow::Result<Vec<WorkloadInfo>> {
        let mut out = Vec::new();
        let mut kinds = self.workload_kinds().await?;
        for kind in more {
            if !kinds.contains(kind) {
                kinds.push(*kind);
            }
        }
        for kind in kinds {
            let what = format!("the {kind}s");
            let list = self
                .call(
                    Some(&self.namespace),
                    &what,
                    self.workloads_api(kind).list(&Default::default()),
                )
                .await?;
            out.extend(
                list.items
                    .iter()
                    .map(|o| WorkloadInfo::from_object(kind, o)),
            );
        }
        out.sort_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then(a.kind.as_str().cmp(b.kind.as_str()))
        });
        Ok(out)
    }

    /// Sets the desired replicas through the scale subresource.
    pub async fn scale(&self, kind: WorkloadKind, name: &str, replicas: i32) -> anyhow::Result<()> {
        let what = format!("scaling {kind} {name} to {replicas}");
        let patch = Patch::Merge(json!({"spec": {"replicas": replicas}}));
        self.call(
            Some(&self.namespace),
            &what,
            self.workloads_api(kind)
                .patch_scale(name, &PatchParams::default(), &patch),
        )
        .await?;
        Ok(())
    }

    /// Sets one annotation (merge patch; other annotations stay).
    pub async fn annotate(
        &self,
        kind: WorkloadKind,
        name: &str,
        key: &str,
        value: &str,
    ) -> anyhow::Result<()> {
        self.patch_annotation(kind, name, key, json!(value)).await
    }

    /// Removes one annotation; nothing happens when it is not there.
    pub async fn remove_annotation(
        &self,
        kind: WorkloadKind,
        name: &str,
        key: &str,
    ) -> anyhow::Result<()> {
        self.patch_annotation(kind, name, key, Value::Null).await
    }

    async fn patch_annotation(
        &self,
        kind: WorkloadKind,
        name: &str,
        key: &str,
        value: Value,
    ) -> anyhow::Result<()> {
        let what = format!("annotating {kind} {name} with {key}");
        let patch = Patch::Merge(json!({"metadata": {"annotations": {key: value}}}));
        self.call(
            Some(&self.namespace),
            &what,
            self.workloads_api(kind)
                .patch(name, &PatchParams::default(), &patch),
        )
        .await?;
        Ok(())
    }
}

impl KubeCluster {
    /// The same cluster and credentials, working in namespace `namespace`: for the operators
    /// that run beside an installation in namespaces of their own (RHOAM's, the 3scale
    /// operator's on RHOAM).
    pub fn in_namespace(&self, namespace: &str) -> KubeCluster {
        KubeCluster {
            namespace: namespace.to_string(),
            ..self.clone()
        }
    }
}
