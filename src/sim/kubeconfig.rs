//! A kubeconfig for simulated clusters, one context each, readable by kube-rs and kubectl.

use std::path::Path;

use anyhow::Context;
use serde_json::json;

use super::server::SimCluster;

/// Writes `path` with one context per `(context name, cluster)`; the first is the current
/// context. Each context has its own cluster entry (plain http), token user and namespace.
pub fn write_kubeconfig(path: &Path, clusters: &[(&str, &SimCluster)]) -> anyhow::Result<()> {
    let entries = |f: &dyn Fn(&str, &SimCluster) -> serde_json::Value| {
        clusters
            .iter()
            .map(|(name, sim)| f(name, sim))
            .collect::<Vec<_>>()
    };
    // JSON is YAML, and both clients read the kubeconfig as YAML.
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": clusters.first().map(|(n, _)| *n).unwrap_or(""),
        "clusters": entries(&|name, sim| json!({"name": name, "cluster": {"server": sim.url()}})),
        "users": entries(&|name, sim| json!({"name": name, "user": {"token": sim.token()}})),
        "contexts": entries(&|name, sim| json!({
            "name": name,
            "context": {"cluster": name, "user": name, "namespace": sim.spec().context_namespace()},
        })),
        "preferences": {},
    });
    let text = serde_json::to_string_pretty(&config).context("cannot encode the kubeconfig")?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, text)
        .with_context(|| format!("cannot write the kubeconfig {}", path.display()))
}
