//! What the Kubernetes layer knows of a 3scale installation: the names of RHOAM's operators, the
//! annotation cutover records replica counts in, and which 3scale version a namespace runs. The 3scale operator records it on the APIManager
//! (annotation `apps.3scale.net/apimanager-threescale-version`); without an APIManager or that
//! annotation, the installed operator's ClusterServiceVersion tells the operator version, which
//! maps onto the 3scale minor (operator 0.11 → 2.14, 0.12 → 2.15, 0.13 → 2.16, as the
//! operator's release branches pair them).

use serde_json::Value;

use super::cluster::KubeCluster;
use super::custom::CustomKind;

/// RHOAM's operator and the 3scale operator RHOAM installs, each in its own namespace, in the
/// order they are paused before RHOAM's database is replaced: (namespace, deployment).
/// RHOAM's RH-SSO namespace, where the KeycloakUsers of its identity providers' users are.
pub const RHOAM_RHSSO_NAMESPACE: &str = "redhat-rhoam-rhsso";

pub const RHOAM_OPERATORS: [(&str, &str); 2] = [
    ("redhat-rhoam-operator", "rhmi-operator"),
    (
        "redhat-rhoam-3scale-operator",
        "threescale-operator-controller-manager-v2",
    ),
];

pub const VERSION_ANNOTATION: &str = "apps.3scale.net/apimanager-threescale-version";
/// The operator version that last reconciled an APIManager, which the operator also records.
pub const OPERATOR_VERSION_ANNOTATION: &str = "apps.3scale.net/threescale-operator-version";

/// Where the scale-down steps (`stop-traffic`, `scale-down`) keep a workload's replica count
/// from before they scaled it to 0, next to the copy in the journal; a rollback, by cutover or by
/// hand with `oc scale`, scales back to it. The same name as the runbook's manual procedures use.
pub const ORIGINAL_REPLICAS_ANNOTATION: &str = "cutover.io/pre-migration-replicas";

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ThreescaleVersion {
    /// `2.14`, `2.16`...
    pub version: String,
    /// Where it was read, for the inventory: `APIManager apimanager annotation ...`.
    pub source: String,
}

/// The 3scale minor an operator version ships (`0.12.5` → `2.15`).
pub fn release_of_operator(operator_version: &str) -> Option<String> {
    let mut parts = operator_version.trim_start_matches('v').split('.');
    let (major, minor) = (parts.next()?, parts.next()?.parse::<u32>().ok()?);
    (major == "0" && minor >= 8).then(|| format!("2.{}", minor + 3))
}

impl KubeCluster {
    /// The 3scale version of the installation in the cluster's namespace.
    pub async fn threescale_version(&self) -> anyhow::Result<ThreescaleVersion> {
        let managers = self.list_custom(CustomKind::ApiManager, None).await?;
        for m in &managers {
            let name = m.metadata.name.clone().unwrap_or_default();
            if let Some(v) = m
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(VERSION_ANNOTATION))
            {
                return Ok(ThreescaleVersion {
                    version: v.clone(),
                    source: format!("APIManager {name}, annotation {VERSION_ANNOTATION}"),
                });
            }
            if let Some(v) = m
                .data
                .pointer("/status/productVersion")
                .and_then(Value::as_str)
            {
                return Ok(ThreescaleVersion {
                    version: v.to_string(),
                    source: format!("APIManager {name}, status.productVersion"),
                });
            }
        }
        let csvs = self
            .list_custom(CustomKind::ClusterServiceVersion, None)
            .await
            .unwrap_or_default();
        for csv in &csvs {
            let name = csv.metadata.name.clone().unwrap_or_default();
            if !name.starts_with("3scale-operator") {
                continue;
            }
            let operator = csv
                .data
                .pointer("/spec/version")
                .and_then(Value::as_str)
                .unwrap_or("");
            if let Some(v) = release_of_operator(operator) {
                return Ok(ThreescaleVersion {
                    version: v,
                    source: format!("ClusterServiceVersion {name} (operator {operator})"),
                });
            }
        }
        anyhow::bail!(
            "{} cluster (context {}, namespace {}): cannot tell the 3scale version: {} and no \
             3scale-operator ClusterServiceVersion; check the namespace in the config and \
             `kubectl --context {} get apimanager,csv -n {}`",
            self.name,
            self.context,
            self.namespace,
            if managers.is_empty() {
                "no APIManager".to_string()
            } else {
                format!("the APIManager has no {VERSION_ANNOTATION} annotation")
            },
            self.context,
            self.namespace
        )
    }
}

#[cfg(test)]
mod tests {
    use super::release_of_operator;

    #[test]
    fn operator_versions_map_to_3scale_minors() {
        assert_eq!(release_of_operator("0.11.8").as_deref(), Some("2.14"));
        assert_eq!(release_of_operator("v0.13.3").as_deref(), Some("2.16"));
        assert_eq!(release_of_operator("1.0.0"), None);
    }
}
