//! What Kubernetes access each action needs, and the prerequisite check that every
//! cluster answers, its namespace exists and the operator holds every permission
//! their own steps need (SelfSubjectAccessReview), before the window starts.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Result;
use serde_json::{Map, Value, json};

use super::{StepContext, StepResult};
use crate::config::Config;
use crate::infra::kube::{Access, KubeCluster};
use crate::runbook::{Action, ClusterRole};

/// Where a permission applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// The cluster's configured namespace.
    Namespace,
    /// The Velero namespace of the config.
    Velero,
    /// The Platform's own namespace (`[velero] edp_namespace`, control-plane).
    Edp,
    /// The namespace Keycloak runs in (`[velero] keycloak_namespace`, user-management).
    Keycloak,
    /// The registry's namespace (`[velero] registry`).
    Registry,
    /// A cluster-scoped resource.
    Cluster,
    /// A namespace of its own, such as RHOAM's operator namespaces.
    Fixed(&'static str),
}

impl Scope {
    /// The namespace a permission of this scope is asked in: the cluster's, one the `[velero]`
    /// table names, its own, or none for cluster-scoped resources.
    pub fn namespace(
        self,
        cluster_namespace: &str,
        velero: Option<&crate::config::Velero>,
    ) -> Option<String> {
        match self {
            Scope::Namespace => Some(cluster_namespace.to_string()),
            Scope::Velero => velero.map(|v| v.namespace.clone()),
            Scope::Edp => velero.map(|v| v.edp_namespace.clone()),
            Scope::Keycloak => velero.map(|v| v.keycloak_namespace.clone()),
            Scope::Registry => velero.map(|v| v.registry.clone()),
            Scope::Cluster => None,
            Scope::Fixed(ns) => Some(ns.to_string()),
        }
    }
}

/// One permission one action needs on one cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Needed {
    pub cluster: ClusterRole,
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    pub subresource: Option<&'static str>,
    pub scope: Scope,
}

impl Needed {
    /// The access review of this permission in `namespace` (None: cluster-scoped).
    pub fn access(&self, namespace: Option<String>) -> Access {
        Access {
            verb: self.verb.to_string(),
            group: self.group.to_string(),
            resource: self.resource.to_string(),
            subresource: self.subresource.map(str::to_string),
            namespace,
        }
    }
}

const fn needed(
    cluster: ClusterRole,
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
) -> Needed {
    Needed {
        cluster,
        verb,
        group,
        resource,
        subresource: None,
        scope: Scope::Namespace,
    }
}

const fn sub(mut n: Needed, subresource: &'static str) -> Needed {
    n.subresource = Some(subresource);
    n
}

const fn scoped(mut n: Needed, scope: Scope) -> Needed {
    n.scope = scope;
    n
}

/// Reading the 3scale workloads, whichever kind the installation uses.
fn read_workloads(c: ClusterRole) -> Vec<Needed> {
    vec![
        needed(c, "list", "apps", "deployments"),
        needed(c, "list", "apps.openshift.io", "deploymentconfigs"),
        needed(c, "list", "", "pods"),
        needed(c, "get", "apps.3scale.net", "apimanagers"),
    ]
}

/// Recording replicas on a workload and scaling it (DeploymentConfigs up to 3scale
/// 2.14, Deployments from 2.15: both are asked, since the inventory decides later).
fn scale_workloads(c: ClusterRole) -> Vec<Needed> {
    vec![
        needed(c, "patch", "apps", "deployments"),
        sub(needed(c, "update", "apps", "deployments"), "scale"),
        needed(c, "patch", "apps.openshift.io", "deploymentconfigs"),
        sub(
            needed(c, "update", "apps.openshift.io", "deploymentconfigs"),
            "scale",
        ),
        needed(c, "watch", "", "pods"),
        needed(c, "patch", "apps.3scale.net", "apimanagers"),
    ]
}

/// Pausing an operator's Deployment in its own namespace `ns`.
fn pause_operator(c: ClusterRole, ns: &'static str) -> Vec<Needed> {
    [
        needed(c, "get", "apps", "deployments"),
        needed(c, "patch", "apps", "deployments"),
        sub(needed(c, "update", "apps", "deployments"), "scale"),
        needed(c, "list", "", "pods"),
        needed(c, "watch", "", "pods"),
    ]
    .into_iter()
    .map(|n| scoped(n, Scope::Fixed(ns)))
    .collect()
}

/// Scaling 3scale's components at the destination and the operators in their namespaces.
fn rhoam_deployments() -> Vec<Needed> {
    let c = ClusterRole::Destination;
    [
        read_workloads(c),
        scale_workloads(c),
        crate::infra::kube::RHOAM_OPERATORS
            .iter()
            .flat_map(|(ns, _)| pause_operator(c, ns))
            .collect(),
    ]
    .concat()
}

/// Reaching the data stores of a cluster: their secrets, and exec or a tunnel into
/// the pods that run them.
fn reach_data(c: ClusterRole) -> Vec<Needed> {
    vec![
        needed(c, "get", "", "secrets"),
        needed(c, "list", "", "pods"),
        sub(needed(c, "create", "", "pods"), "exec"),
        sub(needed(c, "create", "", "pods"), "portforward"),
    ]
}

/// Reading how OLM installed the 3scale operator and what the APIManager says.
fn read_threescale_install(c: ClusterRole) -> Vec<Needed> {
    vec![
        needed(c, "list", "operators.coreos.com", "subscriptions"),
        needed(c, "get", "operators.coreos.com", "clusterserviceversions"),
        needed(c, "list", "apps.3scale.net", "apimanagers"),
    ]
}

/// The group of the EDP operators' kinds (codebase, Gerrit and Jenkins operators).
const EDP: &str = "v2.edp.epam.com";

fn velero(c: ClusterRole, verbs: &[&'static str], resource: &'static str) -> Vec<Needed> {
    verbs
        .iter()
        .map(|v| scoped(needed(c, v, "velero.io", resource), Scope::Velero))
        .collect()
}

/// The access an action needs; empty for actions that touch no cluster.
pub fn required(action: Action) -> Vec<Needed> {
    use ClusterRole::{Destination, MigrationCluster, Source};
    match action {
        Action::CheckRedis
        | Action::CheckPostgresql
        | Action::CheckMysql
        | Action::CheckDumpTools
        | Action::CheckDiskSpace
        | Action::CheckKubeconfigs
        | Action::CheckClusterAccess => vec![],
        Action::Inventory => [
            read_workloads(Source),
            vec![needed(Source, "get", "", "secrets")],
            vec![needed(Destination, "get", "apps.3scale.net", "apimanagers")],
        ]
        .concat(),
        Action::StopTraffic => [
            read_workloads(Source),
            scale_workloads(Source),
            vec![
                needed(Source, "list", "route.openshift.io", "routes"),
                needed(Source, "patch", "route.openshift.io", "routes"),
            ],
        ]
        .concat(),
        Action::ScaleDown => [
            read_workloads(Source),
            scale_workloads(Source),
            vec![needed(
                Source,
                "list",
                "operators.coreos.com",
                "clusterserviceversions",
            )],
        ]
        .concat(),
        Action::DrainQueues
        | Action::DumpSystemDatabase
        | Action::DumpZyncDatabase
        | Action::DumpRedis => reach_data(Source),
        Action::DumpSecrets => vec![
            needed(Source, "list", "", "secrets"),
            needed(Source, "get", "", "secrets"),
            needed(Source, "list", "", "configmaps"),
            needed(Source, "get", "", "configmaps"),
        ],
        Action::ConvertSystemDatabase
        | Action::RestoreSystemDatabase
        | Action::DumpMigrationDatabase => reach_data(MigrationCluster),
        Action::CheckSourceThreescale => read_threescale_install(MigrationCluster),
        Action::UpgradeThreescale => [
            read_threescale_install(MigrationCluster),
            vec![
                needed(
                    MigrationCluster,
                    "patch",
                    "operators.coreos.com",
                    "subscriptions",
                ),
                needed(
                    MigrationCluster,
                    "get",
                    "operators.coreos.com",
                    "installplans",
                ),
                needed(
                    MigrationCluster,
                    "list",
                    "operators.coreos.com",
                    "installplans",
                ),
                needed(
                    MigrationCluster,
                    "patch",
                    "operators.coreos.com",
                    "installplans",
                ),
                needed(MigrationCluster, "list", "batch", "jobs"),
                needed(MigrationCluster, "list", "apps", "deployments"),
                needed(
                    MigrationCluster,
                    "list",
                    "apps.openshift.io",
                    "deploymentconfigs",
                ),
                needed(Destination, "list", "apps.3scale.net", "apimanagers"),
            ],
        ]
        .concat(),
        // Both route rewrites change the database on the migration cluster; the destination's
        // first reads the wildcard RHOAM's APIManager serves.
        // The destination's rewrite then holds the migration cluster's writers at 0.
        Action::RewriteRoutes => [
            reach_data(MigrationCluster),
            read_workloads(MigrationCluster),
            scale_workloads(MigrationCluster),
            vec![
                needed(MigrationCluster, "list", "route.openshift.io", "routes"),
                needed(Destination, "list", "apps.3scale.net", "apimanagers"),
                scoped(
                    needed(Destination, "list", "integreatly.org", "rhmis"),
                    Scope::Fixed(crate::infra::kube::RHOAM_OPERATORS[0].0),
                ),
            ],
        ]
        .concat(),
        // Applies the source's secrets and configmap, creates the APIManager, runs the rake
        // tasks in a system pod and reads the database for the hosts zync must route.
        Action::ConnectMigration3scale => [
            reach_data(MigrationCluster),
            read_workloads(MigrationCluster),
            vec![
                needed(MigrationCluster, "patch", "", "secrets"),
                needed(MigrationCluster, "create", "", "secrets"),
                needed(MigrationCluster, "get", "", "configmaps"),
                needed(MigrationCluster, "patch", "", "configmaps"),
                needed(MigrationCluster, "create", "", "configmaps"),
                needed(MigrationCluster, "list", "apps.3scale.net", "apimanagers"),
                needed(MigrationCluster, "create", "apps.3scale.net", "apimanagers"),
                needed(MigrationCluster, "list", "route.openshift.io", "routes"),
            ],
        ]
        .concat(),
        Action::PauseDestination => rhoam_deployments(),
        // Both check that the destination is paused before they change its data.
        Action::SeedDestinationDatabase | Action::RestoreBackendRedis => {
            [reach_data(Destination), read_workloads(Destination)].concat()
        }
        Action::VerifyBackendRedis => reach_data(Destination),
        Action::ClearFreshInstall => [
            read_workloads(Destination),
            vec![
                needed(Destination, "list", "route.openshift.io", "routes"),
                needed(Destination, "delete", "route.openshift.io", "routes"),
                needed(Destination, "get", "batch", "jobs"),
                needed(Destination, "delete", "batch", "jobs"),
                needed(Destination, "delete", "", "pods"),
            ],
        ]
        .concat(),
        Action::PushSecrets => [
            reach_data(Destination),
            vec![
                needed(Destination, "create", "", "secrets"),
                needed(Destination, "patch", "", "secrets"),
            ],
        ]
        .concat(),
        Action::CheckRhoamUsers => [
            reach_data(Destination),
            vec![scoped(
                needed(Destination, "list", "keycloak.org", "keycloakusers"),
                Scope::Fixed(crate::infra::kube::RHOAM_RHSSO_NAMESPACE),
            )],
        ]
        .concat(),
        // Starts what the pause stopped, runs the rake tasks in a system pod (exec) and reads the
        // seeded database for the hosts zync must route.
        Action::StartDestination => [
            rhoam_deployments(),
            reach_data(Destination),
            vec![needed(Destination, "list", "route.openshift.io", "routes")],
        ]
        .concat(),
        // system-seed's tokens; the database by URL or through the client pod (below).
        Action::CheckMasterAccess | Action::CheckSsoIntegrations => reach_data(Destination),
        Action::CheckDefaultTenant => vec![needed(Destination, "get", "", "secrets")],
        // The database (by URL or the client pod) and the destination's routes.
        Action::VerifyInstallation => [
            reach_data(Destination),
            vec![needed(Destination, "list", "route.openshift.io", "routes")],
        ]
        .concat(),
        // And PROVIDER_PLAN of configmap system-environment.
        Action::CheckMasterPlan => [
            reach_data(Destination),
            vec![needed(Destination, "get", "", "configmaps")],
        ]
        .concat(),
        Action::CheckPlatformInstalled => [Source, Destination]
            .into_iter()
            .flat_map(|c| {
                [
                    scoped(needed(c, "get", "", "namespaces"), Scope::Cluster),
                    scoped(needed(c, "list", "apps", "deployments"), Scope::Edp),
                ]
            })
            .collect(),
        Action::CheckPlatformVersions => vec![
            scoped(needed(Source, "get", EDP, "codebases"), Scope::Edp),
            scoped(
                needed(Source, "list", EDP, "gerritmergerequests"),
                Scope::Edp,
            ),
            scoped(
                needed(Destination, "get", EDP, "gerritprojects"),
                Scope::Edp,
            ),
        ],
        Action::CheckKeycloak => vec![
            scoped(
                needed(Destination, "list", "apps", "statefulsets"),
                Scope::Keycloak,
            ),
            scoped(needed(Destination, "list", "", "pods"), Scope::Keycloak),
        ],
        Action::CheckVelero => [Source, Destination]
            .into_iter()
            .flat_map(|c| {
                let mut v = velero(c, &["get"], "backupstoragelocations");
                v.push(scoped(
                    needed(c, "get", "apps", "deployments"),
                    Scope::Velero,
                ));
                v.push(scoped(needed(c, "get", "", "secrets"), Scope::Velero));
                v
            })
            .collect(),
        Action::CheckTargetClean => [
            vec![scoped(
                needed(Destination, "get", "", "namespaces"),
                Scope::Cluster,
            )],
            [
                "pods",
                "persistentvolumeclaims",
                "secrets",
                "services",
                "configmaps",
            ]
            .into_iter()
            .map(|r| scoped(needed(Destination, "list", "", r), Scope::Registry))
            .collect(),
        ]
        .concat(),
        Action::VeleroBackup => [
            velero(Source, &["create", "get"], "backups"),
            velero(Source, &["get"], "backupstoragelocations"),
            velero(Source, &["create", "get", "delete"], "downloadrequests"),
            vec![scoped(
                needed(Source, "get", "apps", "deployments"),
                Scope::Velero,
            )],
            ["services", "secrets", "pods"]
                .into_iter()
                .map(|r| scoped(needed(Source, "list", "", r), Scope::Registry))
                .collect(),
            ["gerrits", "jenkins", "codebases", "codebasebranches"]
                .into_iter()
                .map(|r| scoped(needed(Source, "list", EDP, r), Scope::Registry))
                .collect(),
        ]
        .concat(),
        // Object storage only.
        Action::TransferBackup => vec![],
        Action::VeleroWaitSynced => [
            velero(Destination, &["get", "list"], "backups"),
            velero(Destination, &["get"], "backupstoragelocations"),
        ]
        .concat(),
        Action::KeycloakExport => vec![
            scoped(
                needed(Source, "list", "v1.edp.epam.com", "keycloakrealms"),
                Scope::Registry,
            ),
            scoped(needed(Source, "list", "", "pods"), Scope::Keycloak),
            scoped(
                sub(needed(Source, "create", "", "pods"), "exec"),
                Scope::Keycloak,
            ),
        ],
        // B's Keycloak admin API only.
        Action::KeycloakImport => vec![],
        Action::VeleroRestore => [
            velero(Destination, &["create", "get", "list"], "restores"),
            velero(Destination, &["create"], "downloadrequests"),
            vec![scoped(
                needed(Destination, "create", "", "namespaces"),
                Scope::Cluster,
            )],
        ]
        .concat(),
        Action::RegistryPostFixes => vec![
            scoped(needed(Destination, "get", "", "secrets"), Scope::Registry),
            scoped(needed(Destination, "list", "", "pods"), Scope::Registry),
            scoped(
                sub(needed(Destination, "create", "", "pods"), "exec"),
                Scope::Registry,
            ),
            scoped(needed(Destination, "delete", "", "pods"), Scope::Registry),
            scoped(
                needed(Destination, "patch", "route.openshift.io", "routes"),
                Scope::Registry,
            ),
            scoped(
                needed(Destination, "list", EDP, "gerritgroupmembers"),
                Scope::Registry,
            ),
            scoped(
                needed(Destination, "delete", EDP, "gerritgroupmembers"),
                Scope::Registry,
            ),
            scoped(
                needed(Destination, "list", "", "persistentvolumeclaims"),
                Scope::Registry,
            ),
            scoped(
                needed(Source, "list", "", "persistentvolumeclaims"),
                Scope::Registry,
            ),
        ],
        Action::VeleroVerify => [
            velero(Destination, &["list"], "restores"),
            [Source, Destination]
                .into_iter()
                .flat_map(|c| {
                    [
                        ("", "pods"),
                        ("", "services"),
                        ("", "configmaps"),
                        ("", "secrets"),
                        ("", "persistentvolumeclaims"),
                        ("", "serviceaccounts"),
                        ("apps", "deployments"),
                        ("apps", "statefulsets"),
                    ]
                    .into_iter()
                    .map(move |(g, r)| scoped(needed(c, "list", g, r), Scope::Registry))
                })
                .collect(),
            vec![scoped(
                needed(Source, "list", "v1.edp.epam.com", "keycloakrealms"),
                Scope::Registry,
            )],
        ]
        .concat(),
    }
}

/// The cluster whose workloads `action` scales, or whose operator it has roll them (an
/// upgrade: it moves the 3scale Subscription; a start: it creates the APIManager), if any: where the live pods panel looks while the
/// action runs. Read from `required`, so the two cannot disagree.
pub fn scaled_cluster(action: Action) -> Option<ClusterRole> {
    required(action)
        .into_iter()
        .find(|n| {
            (n.resource == "deployments" && n.subresource == Some("scale"))
                || (n.resource == "subscriptions" && n.verb == "patch")
                || (n.resource == "apimanagers" && n.verb == "create")
        })
        .map(|n| n.cluster)
}

/// The permissions the operator's own steps need on this migration (`own_actions`: the actions
/// of the plan's steps that are not hand-offs, which are the other party's business).
pub fn needed_by_me(config: &Config, own_actions: &[Action]) -> BTreeSet<Needed> {
    own_actions
        .iter()
        .copied()
        .flat_map(|action| {
            let mut needs = required(action);
            if let Some(role) = client_pod_cluster(config, action) {
                needs.extend(client_pod(role));
            }
            needs
        })
        .collect()
}

/// The cluster where `action` runs PostgreSQL's clients in a pod of its own: the one whose
/// system database it works on, when the config gives no URL of it.
fn client_pod_cluster(config: &Config, action: Action) -> Option<ClusterRole> {
    let role = match action {
        Action::RestoreSystemDatabase
        | Action::DumpMigrationDatabase
        | Action::RewriteRoutes
        | Action::ConnectMigration3scale => ClusterRole::MigrationCluster,
        Action::SeedDestinationDatabase
        | Action::PushSecrets
        | Action::CheckRhoamUsers
        | Action::StartDestination
        | Action::VerifyInstallation
        | Action::CheckMasterPlan
        | Action::CheckMasterAccess
        | Action::CheckSsoIntegrations => ClusterRole::Destination,
        _ => return None,
    };
    let has_url = config.system_database(role).is_some();
    (!has_url).then_some(role)
}

/// Running the client pod (`cutover-pg-client`): creating it, watching it start, exec into it,
/// deleting it.
fn client_pod(c: ClusterRole) -> Vec<Needed> {
    vec![
        needed(c, "create", "", "pods"),
        needed(c, "get", "", "pods"),
        needed(c, "delete", "", "pods"),
        sub(needed(c, "create", "", "pods"), "exec"),
    ]
}

/// How long one cluster may take to answer the whole check.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) async fn check_cluster_access(ctx: &StepContext) -> Result<StepResult> {
    let config = &ctx.config;
    let needs = needed_by_me(config, &ctx.own_actions);
    let mut figures = Map::new();
    let mut table: Vec<Value> = Vec::new();
    let mut problems = Vec::new();
    let mut answered = Vec::new();
    for cluster in &config.clusters {
        let role = cluster.role;
        let mine: Vec<&Needed> = needs.iter().filter(|n| n.cluster == role).collect();
        let probe = tokio::time::timeout(CLUSTER_TIMEOUT, probe_cluster(ctx, cluster, &mine)).await;
        let result = match probe {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!(
                "{role} did not answer within {CLUSTER_TIMEOUT:?}; check the network path to \
                 its API server"
            )),
        };
        match result {
            Ok(found) => {
                answered.push(format!("{role} ({})", found.version));
                figures.insert(
                    role.to_string(),
                    json!({"version": found.version, "namespace": cluster.namespace}),
                );
                for (need, namespace, allowed) in found.rows {
                    if !allowed {
                        problems.push(format!(
                            "{role}: {} {} denied{}",
                            need.verb,
                            resource_name(&need),
                            namespace
                                .as_deref()
                                .map(|n| format!(" in namespace {n}"))
                                .unwrap_or_default()
                        ));
                    }
                    table.push(json!({
                        "cluster": role,
                        "verb": need.verb,
                        "group": need.group,
                        "resource": resource_name(&need),
                        "namespace": namespace,
                        "allowed": allowed,
                    }));
                }
                problems.extend(found.problems);
            }
            Err(e) if mine.is_empty() => {
                // No step of yours touches this cluster: worth knowing, not blocking.
                ctx.sink
                    .warn(format!("{role}: {e:#} (none of your steps needs it)"));
            }
            Err(e) => problems.push(format!("{role}: {e:#}")),
        }
    }
    figures.insert("permissions".into(), Value::Array(table.clone()));
    let denied = table.iter().filter(|r| r["allowed"] == false).count();
    Ok(if problems.is_empty() {
        StepResult::passed(
            format!(
                "clusters answer: {}; all {} permissions your steps need are granted",
                answered.join(", "),
                table.len()
            ),
            figures,
        )
    } else {
        StepResult::failed(
            format!(
                "{} problem(s), {denied} of {} permissions denied: {}",
                problems.len(),
                table.len(),
                problems.join("; ")
            ),
            figures,
        )
    })
}

/// `get secrets` style: `resource.group/sub`.
pub(crate) fn resource_name(n: &Needed) -> String {
    let mut s = n.resource.to_string();
    if !n.group.is_empty() {
        s = format!("{s}.{}", n.group);
    }
    if let Some(sub) = n.subresource {
        s = format!("{s}/{sub}");
    }
    s
}

struct ClusterFindings {
    version: String,
    rows: Vec<(Needed, Option<String>, bool)>,
    problems: Vec<String>,
}

async fn probe_cluster(
    ctx: &StepContext,
    cluster: &crate::config::Cluster,
    needs: &[&Needed],
) -> Result<ClusterFindings> {
    let role = cluster.role;
    let kube = KubeCluster::connect(&cluster.target()).await?;
    let version = kube.server_version().await?;
    ctx.sink.info(format!("{role}: API server {version}"));
    let mut problems = Vec::new();
    let velero = ctx.config.velero.as_ref();
    let mut namespaces = vec![cluster.namespace.clone()];
    // The registry's namespace is not asked for: on cluster B it must not exist yet.
    for scope in [Scope::Velero, Scope::Edp, Scope::Keycloak] {
        if needs.iter().any(|n| n.scope == scope)
            && let Some(ns) = scope.namespace(&cluster.namespace, velero)
            && !namespaces.contains(&ns)
        {
            namespaces.push(ns);
        }
    }
    for (i, ns) in namespaces.iter().enumerate() {
        if !kube.namespace_exists(ns).await? {
            let key = if i == 0 {
                format!("[{role}].namespace")
            } else {
                "the namespaces of [velero] (namespace, edp_namespace, keycloak_namespace)"
                    .to_string()
            };
            problems.push(format!(
                "{role}: namespace {ns} does not exist; check {key}"
            ));
        }
    }
    let mut rows = Vec::new();
    for need in needs {
        let namespace = need.scope.namespace(&cluster.namespace, velero);
        let access = need.access(namespace.clone());
        let allowed = kube.can_i(&access).await?;
        ctx.sink.info(format!(
            "{role}: {} {}{}: {}",
            need.verb,
            resource_name(need),
            namespace
                .as_deref()
                .map(|n| format!(" in {n}"))
                .unwrap_or_default(),
            if allowed { "allowed" } else { "DENIED" }
        ));
        rows.push((**need, namespace, allowed));
    }
    Ok(ClusterFindings {
        version,
        rows,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scaled_cluster_is_the_one_whose_workloads_an_action_scales() {
        assert_eq!(
            scaled_cluster(Action::StopTraffic),
            Some(ClusterRole::Source)
        );
        assert_eq!(scaled_cluster(Action::ScaleDown), Some(ClusterRole::Source));
        assert_eq!(
            scaled_cluster(Action::PauseDestination),
            Some(ClusterRole::Destination)
        );
        assert_eq!(
            scaled_cluster(Action::UpgradeThreescale),
            Some(ClusterRole::MigrationCluster)
        );
        assert_eq!(
            scaled_cluster(Action::ConnectMigration3scale),
            Some(ClusterRole::MigrationCluster)
        );
        assert_eq!(
            scaled_cluster(Action::StartDestination),
            Some(ClusterRole::Destination)
        );
        assert_eq!(scaled_cluster(Action::SeedDestinationDatabase), None);
        assert_eq!(scaled_cluster(Action::DumpRedis), None);
        assert_eq!(scaled_cluster(Action::VeleroRestore), None);
    }
}
