//! The stages of a registry's restore on cluster B, in the order of the Platform's
//! `registry-scripts/restore-registry.sh` (epam/edp-ddm-backup-management): the saved YAML
//! first, then one Restore without the workloads (`-init`), one per stateful component by its
//! label, the rest (`-resources`), and the secrets last.
//!
//! Every Restore's name is `<backup>-<time>-<stage>`, the time chosen once when the step first
//! starts and journaled, so a resumed run finds the Restores it already created and never makes
//! a second one for a stage. Where the script differs, on purpose:
//! - `daemonsets` is excluded from the init restore as intended (the script spells it
//!   `deamonsets`, which Velero ignores, so its init restore also restores DaemonSets);
//! - the secrets' restore is named `<backup>-<time>-secrets` (the script lets the CLI name it
//!   `<backup>-<now>`, a name a resumed run could not find again);
//! - Kafka's claims grow by 40Gi from the size journaled before the first growth (the script
//!   adds 40 to the size it reads, so running it again grows them again, and it reads `20Gi`
//!   and `20480Mi` alike as a number of Gi);
//! - a Crunchy cluster's accounts get their ownerReferences replaced by one naming B's
//!   PostgresCluster (a JSON merge patch; the script's strategic merge would add it beside the
//!   reference to A's, and the API server refuses two controller references);
//! - the script's `oc adm policy add-role-to-user view` and `add-scc-to-user anyuid|privileged`
//!   for `system:serviceaccount:jenkins` are not made: that name is no service account's (a
//!   service account's user is `system:serviceaccount:<namespace>:<name>`), so the lines grant
//!   nothing to any pod, and granting the privileged SCC to the registry's Jenkins is no change
//!   the procedure ever made;
//! - the deployments' scale-down dance before their restore's pods (the script scales a
//!   deployment to 0 when the pod running is not the one Velero restored, to let the restored
//!   pod's restore finish) is replaced by waiting for every pod of the component to show its
//!   restore init container done; the pods are then replaced as the script replaces them, and
//!   Jenkins' URL (`change_url.groovy`, which the script copies into the Jenkins pod) is left
//!   to Jenkins' own `JENKINS_UI_URL` on B.

use crate::infra::velero::RestoreRequest;

/// What the init restore leaves out: the workloads and what their controllers or later
/// stages make (restore-registry.sh, "Start init restore from Velero").
pub const INIT_EXCLUDED: &[&str] = &[
    "pods",
    "replicasets",
    "deployments",
    "objectbucketclaims",
    "deploymentconfigs",
    "statefulsets",
    "horizontalpodautoscalers",
    "daemonsets",
    "redisfailovers",
    "kafkas",
    "kafkaconnects",
    "postgrescluster",
];

/// What the last restore of everything else leaves out (restore-registry.sh, "Start
/// restoring all others resources"): routes come back with the registry's new hosts.
pub const RESOURCES_EXCLUDED: &[&str] = &["pods", "routes", "objectbucketclaims"];

/// How a component runs, which decides how its restore is awaited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComponentKind {
    StatefulSet,
    Deployment,
}

/// One stateful component, restored alone by its label (restore-registry.sh, `animals`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Component {
    pub kind: ComponentKind,
    pub label: (&'static str, &'static str),
    /// The suffix of its Restore's name, as the script names it.
    pub name: &'static str,
}

const fn sts(key: &'static str, value: &'static str, name: &'static str) -> Component {
    Component {
        kind: ComponentKind::StatefulSet,
        label: (key, value),
        name,
    }
}

const fn deploy(key: &'static str, value: &'static str, name: &'static str) -> Component {
    Component {
        kind: ComponentKind::Deployment,
        label: (key, value),
        name,
    }
}

/// The components in the script's order.
pub const COMPONENTS: &[Component] = &[
    sts("app.kubernetes.io/name", "vault", "vault"),
    deploy("app", "nexus", "nexus"),
    deploy("app", "gerrit", "gerrit"),
    deploy("app", "jenkins", "jenkins"),
    sts(
        "postgres-operator.crunchydata.com/cluster",
        "operational",
        "crunchy-operational",
    ),
    sts(
        "postgres-operator.crunchydata.com/cluster",
        "analytical",
        "crunchy-analitycal",
    ),
    sts(
        "strimzi.io/name",
        "kafka-cluster-kafka",
        "kafka-cluster-kafka",
    ),
    sts(
        "strimzi.io/name",
        "kafka-cluster-zookeeper",
        "kafka-cluster-kafka-zookeeper",
    ),
    sts("app.kubernetes.io/component", "redis", "redis"),
    sts("app", "redis-admin", "redash-redis-viewer"),
    sts("app", "redis-viewer", "redis-viewer"),
    deploy("app.kubernetes.io/instance", "geo-server", "geo-server"),
];

/// Kubernetes work between the restores (carried out by `actions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    ExpandKafkaClaims,
    ReplacePods(Component),
    CrunchyOwners(&'static str),
    RoleMappings,
    /// keycloak-operator's pods in Keycloak's namespace.
    RestartKeycloakOperator,
    DeleteKeycloakClientSecret,
    /// keycloak-operator's and digital-signature-ops' pods in the registry's namespace.
    RestartRegistryOperators,
}

impl Action {
    /// The stage's name in the journal and on screen.
    pub fn id(&self) -> String {
        match self {
            Action::ExpandKafkaClaims => "kafka-claims".into(),
            Action::ReplacePods(c) => format!("{}-pods", c.name),
            Action::CrunchyOwners(cluster) => format!("{cluster}-postgrescluster"),
            Action::RoleMappings => "role-mappings".into(),
            Action::RestartKeycloakOperator => "keycloak-operator".into(),
            Action::DeleteKeycloakClientSecret => "keycloak-client-secret".into(),
            Action::RestartRegistryOperators => "registry-operators".into(),
        }
    }
}

/// One stage of the restore.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The objects `backup-registry` saved as YAML beside the backup, applied again.
    SavedResources,
    /// Kubernetes work between Velero's restores (`actions`).
    Action(Action),
    /// A Velero restore, awaited; `pods_of` names the label whose pods must then show their
    /// restore init container done (`Initialized`).
    Restore {
        request: RestoreRequest,
        pods_of: Option<Component>,
    },
}

impl Stage {
    /// The stage's name in the journal and on screen: `saved-resources`, or the Restore's
    /// suffix (`init`, `vault`, …).
    pub fn id(&self, backup: &str, time: &str) -> String {
        match self {
            Stage::SavedResources => "saved-resources".into(),
            Stage::Action(action) => action.id(),
            Stage::Restore { request, .. } => request
                .name
                .strip_prefix(&format!("{backup}-{time}-"))
                .unwrap_or(&request.name)
                .to_string(),
        }
    }
}

fn restore(backup: &str, time: &str, suffix: &str) -> RestoreRequest {
    RestoreRequest {
        name: format!("{backup}-{time}-{suffix}"),
        backup: backup.to_string(),
        ..RestoreRequest::default()
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Every stage, in order, for a backup and the time the restore first started
/// (`%Y%m%d%H%M%S`, as the Restores' names carry it).
pub fn stages(backup: &str, time: &str) -> Vec<Stage> {
    let mut out = vec![Stage::SavedResources];
    out.push(Stage::Restore {
        request: RestoreRequest {
            exclude_resources: strings(INIT_EXCLUDED),
            ..restore(backup, time, "init")
        },
        pods_of: None,
    });
    out.push(Stage::Action(Action::ExpandKafkaClaims));
    for component in COMPONENTS {
        out.push(Stage::Restore {
            request: RestoreRequest {
                selector: Some((component.label.0.into(), component.label.1.into())),
                ..restore(backup, time, component.name)
            },
            pods_of: Some(*component),
        });
        out.push(Stage::Action(Action::ReplacePods(*component)));
        if component.label.0 == "postgres-operator.crunchydata.com/cluster" {
            out.push(Stage::Action(Action::CrunchyOwners(component.label.1)));
        }
        if component.name == "redis" {
            out.push(Stage::Restore {
                request: RestoreRequest {
                    include_resources: strings(&["redisfailovers"]),
                    ..restore(backup, time, "redisfailovers")
                },
                pods_of: None,
            });
        }
    }
    out.push(Stage::Restore {
        request: RestoreRequest {
            exclude_resources: strings(RESOURCES_EXCLUDED),
            ..restore(backup, time, "resources")
        },
        pods_of: None,
    });
    out.push(Stage::Action(Action::RoleMappings));
    out.push(Stage::Action(Action::RestartKeycloakOperator));
    out.push(Stage::Action(Action::DeleteKeycloakClientSecret));
    out.push(Stage::Restore {
        request: RestoreRequest {
            include_resources: strings(&["secrets"]),
            ..restore(backup, time, "secrets")
        },
        pods_of: None,
    });
    out.push(Stage::Action(Action::RestartRegistryOperators));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_follow_the_script_and_have_unique_names() {
        let all = stages("reg-20261207", "20261207200000");
        let ids: Vec<String> = all
            .iter()
            .map(|s| s.id("reg-20261207", "20261207200000"))
            .collect();
        assert_eq!(ids.first().map(String::as_str), Some("saved-resources"));
        assert_eq!(ids[1], "init");
        assert_eq!(ids[2], "kafka-claims");
        assert_eq!(&ids[3..5], ["vault", "vault-pods"]);
        let redis = ids.iter().position(|i| i == "redis").unwrap();
        assert_eq!(&ids[redis + 1..redis + 3], ["redis-pods", "redisfailovers"]);
        let crunchy = ids.iter().position(|i| i == "crunchy-operational").unwrap();
        assert_eq!(
            &ids[crunchy + 1..crunchy + 3],
            ["crunchy-operational-pods", "operational-postgrescluster"]
        );
        assert_eq!(
            &ids[ids.len() - 6..],
            [
                "resources",
                "role-mappings",
                "keycloak-operator",
                "keycloak-client-secret",
                "secrets",
                "registry-operators"
            ]
        );
        // Each component's restore, then its pods replaced; two Crunchy clusters re-owned.
        assert_eq!(all.len(), 1 + 1 + 1 + 2 * COMPONENTS.len() + 2 + 1 + 6);
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
    }

    /// Field by field against the objects the Platform's scripts create through Velero
    /// 1.9.2's CLI (`fixtures/velero/platform-objects.json` says where each came from).
    #[test]
    fn objects_are_the_platforms_field_by_field() {
        use crate::infra::velero::{backup_object, restore_object};
        use serde_json::Value;
        let fixture: Value = serde_json::from_str(include_str!(
            "../../../fixtures/velero/platform-objects.json"
        ))
        .unwrap();
        let backup = fixture["backup"].as_str().unwrap();
        let time = fixture["time"].as_str().unwrap();
        let mut ours: Vec<Value> = vec![backup_object(
            "velero",
            backup,
            &["reg"],
            "reg",
            std::time::Duration::from_secs(720 * 3600),
        )];
        for stage in stages(backup, time) {
            if let Stage::Restore { request, .. } = stage {
                ours.push(restore_object("velero", &request));
            }
        }
        let theirs = fixture["objects"].as_array().unwrap();
        assert_eq!(
            ours.len(),
            theirs.len(),
            "one object per command of the scripts"
        );
        for (ours, entry) in ours.iter().zip(theirs) {
            let mut want = entry["object"].clone();
            // The departures the fixture names, and only those.
            if entry.get("departure").is_some()
                && let Some(list) = want
                    .pointer_mut("/spec/excludedResources")
                    .and_then(Value::as_array_mut)
            {
                for item in list.iter_mut() {
                    if item == "deamonsets" {
                        *item = "daemonsets".into();
                    }
                }
            }
            assert_eq!(ours, &want, "{}", entry["command"]);
        }
    }
}
