//! Builders for the objects of a simulated 3scale installation.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};

use crate::infra::kube::VERSION_ANNOTATION;

fn meta(ns: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(ns.to_string()),
        labels: Some(BTreeMap::from([
            ("app".to_string(), "3scale-api-management".to_string()),
            (
                "threescale_component".to_string(),
                component(name).to_string(),
            ),
        ])),
        ..ObjectMeta::default()
    }
}

/// The 3scale component a workload or secret belongs to (`backend-worker` → `backend`).
fn component(name: &str) -> &str {
    name.split('-').next().unwrap_or(name)
}

pub fn secret(ns: &str, name: &str, data: &[(&str, &str)]) -> Value {
    let secret = Secret {
        metadata: meta(ns, name),
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        type_: Some("Opaque".to_string()),
        ..Secret::default()
    };
    serde_json::to_value(secret).unwrap_or(Value::Null)
}

pub fn configmap(ns: &str, name: &str, data: &[(&str, &str)]) -> Value {
    let cm = ConfigMap {
        metadata: meta(ns, name),
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..ConfigMap::default()
    };
    serde_json::to_value(cm).unwrap_or(Value::Null)
}

fn pod_template(name: &str, label: &str) -> Value {
    json!({
        "metadata": {"labels": {label: name, "app": "3scale-api-management",
                                "threescale_component": component(name)}},
        "spec": {"containers": [{"name": name, "image": format!("registry.redhat.io/3scale-amp2/{name}")}]},
    })
}

/// An `apps.openshift.io/v1` DeploymentConfig, as 3scale up to 2.14 runs its workloads;
/// its pods carry `deploymentConfig=<name>`.
pub fn deployment_config(ns: &str, name: &str, replicas: i32) -> Value {
    json!({
        "apiVersion": "apps.openshift.io/v1",
        "kind": "DeploymentConfig",
        "metadata": serde_json::to_value(meta(ns, name)).unwrap_or(Value::Null),
        "spec": {
            "replicas": replicas,
            "selector": {"deploymentConfig": name},
            "strategy": {"type": "Rolling"},
            "template": pod_template(name, "deploymentConfig"),
        },
    })
}

/// An `apps/v1` Deployment, as 3scale runs its workloads from 2.15; its pods carry
/// `deployment=<name>`.
pub fn deployment(ns: &str, name: &str, replicas: i32) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": serde_json::to_value(meta(ns, name)).unwrap_or(Value::Null),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"deployment": name}},
            "template": pod_template(name, "deployment"),
        },
    })
}

/// An OpenShift Route with edge TLS to a service.
pub fn route(ns: &str, name: &str, host: &str, service: &str) -> Value {
    json!({
        "apiVersion": "route.openshift.io/v1",
        "kind": "Route",
        "metadata": serde_json::to_value(meta(ns, name)).unwrap_or(Value::Null),
        "spec": {
            "host": host,
            "to": {"kind": "Service", "name": service, "weight": 100},
            "port": {"targetPort": "http"},
            "tls": {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"},
        },
    })
}

/// A route zync created for a tenant's host (zync `Integration::KubernetesService`): named
/// `<prefix>-<5 characters>`, labelled `3scale.net/created-by=zync` with the tenant and the
/// record it was made for, the host in annotation `zync.3scale.net/host`.
pub fn zync_route(
    ns: &str,
    prefix: &str,
    suffix: &str,
    host: &str,
    service: &str,
    tenant_id: u64,
) -> Value {
    let mut r = route(ns, &format!("{prefix}-{suffix}"), host, service);
    let labels = &mut r["metadata"]["labels"];
    labels["3scale.net/created-by"] = json!("zync");
    labels["3scale.net/tenant_id"] = json!(tenant_id.to_string());
    labels["zync.3scale.net/record"] = json!(format!("Z2lkOi8vem{suffix}"));
    labels["zync.3scale.net/route-to"] = json!(service);
    r["metadata"]["annotations"] = json!({"zync.3scale.net/host": host});
    r
}

/// The 3scale operator's search reindex Job (`component/system_searchd.go`, from 2.15),
/// completed as the operator's first reconcile leaves it.
pub fn reindex_job(ns: &str) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": serde_json::to_value(meta(ns, "system-searchd-manticore-reindex"))
            .unwrap_or(Value::Null),
        "spec": {
            "completions": 1,
            "backoffLimit": 6,
            "template": {
                "spec": {
                    "containers": [{
                        "name": "system-searchd-manticore-reindex",
                        "image": "registry.redhat.io/3scale-amp2/system-rhel8",
                        "args": ["bash", "-c", "bundle exec rake searchd:optimal_index"],
                    }],
                    "restartPolicy": "Never",
                    "serviceAccountName": "amp",
                },
            },
        },
        "status": {
            "succeeded": 1,
            "conditions": [{"type": "Complete", "status": "True"}],
        },
    })
}

/// The APIManager, with the version annotation the 3scale operator sets.
pub fn apimanager(ns: &str, wildcard: &str, version: &str, internal_stores: bool) -> Value {
    let mut spec = json!({
        "wildcardDomain": wildcard,
        "tenantName": "3scale",
        "resourceRequirementsEnabled": true,
        "apicast": {"productionSpec": {"replicas": 2}, "stagingSpec": {"replicas": 1}},
    });
    if !internal_stores {
        spec["externalComponents"] = json!({
            "backend": {"redis": true},
            "system": {"database": true, "redis": true},
            "zync": {"database": true},
        });
    }
    json!({
        "apiVersion": "apps.3scale.net/v1alpha1",
        "kind": "APIManager",
        "metadata": {
            "name": "3scale",
            "namespace": ns,
            "annotations": {VERSION_ANNOTATION: version},
        },
        "spec": spec,
        "status": {"conditions": [{"type": "Available", "status": "True"}]},
    })
}

/// Tokens and passwords for a sandbox: unpredictable across runs, so two sandboxes
/// never share credentials. Not for production secrets.
pub struct Generator {
    state: u64,
}

impl Generator {
    pub fn new(salt: &str) -> Generator {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write(salt.as_bytes());
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        Generator {
            state: h.finish() | 1,
        }
    }

    fn next(&mut self) -> u64 {
        // xorshift64*: enough spread for sandbox credentials.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        (0..len)
            .map(|_| ALPHABET[(self.next() % ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}
