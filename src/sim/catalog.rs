//! The resource types the simulated cluster serves. Discovery, routing, validation and error
//! messages all read this one table, so a kind exists everywhere or nowhere.

/// A subresource with its own kind (scale) or the parent's (status).
#[derive(Debug)]
pub struct Subresource {
    pub name: &'static str,
    /// Group and version of the subresource's kind when it lives elsewhere (`Scale`).
    pub group_version: Option<(&'static str, &'static str)>,
    pub kind: &'static str,
    pub verbs: &'static [&'static str],
}

/// One resource type (a plural name in a group-version).
#[derive(Debug)]
pub struct ResourceType {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub verbs: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// Built-in kinds accept strategic merge patches; custom resources do not.
    pub builtin: bool,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, or `pods` for the core group, as error messages spell it.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `Deployment.apps`, as validation messages spell it.
    pub fn group_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    pub fn subresource(&self, name: &str) -> Option<&'static Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    /// Workloads whose replicas the pod controller follows.
    pub fn is_workload(&self) -> bool {
        matches!(
            (self.group, self.plural),
            ("apps", "deployments" | "statefulsets") | ("apps.openshift.io", "deploymentconfigs")
        )
    }
}

const RW: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const SUB_RW: &[&str] = &["get", "patch", "update"];
const SCALE: Subresource = Subresource {
    name: "scale",
    group_version: Some(("autoscaling", "v1")),
    kind: "Scale",
    verbs: SUB_RW,
};

macro_rules! status_sub {
    ($kind:expr) => {
        Subresource {
            name: "status",
            group_version: None,
            kind: $kind,
            verbs: SUB_RW,
        }
    };
}

pub static RESOURCES: &[ResourceType] = &[
    ResourceType {
        group: "",
        version: "v1",
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short_names: &["ns"],
        verbs: &[
            "create", "delete", "get", "list", "patch", "update", "watch",
        ],
        subresources: &[status_sub!("Namespace")],
        builtin: true,
    },
    ResourceType {
        group: "",
        version: "v1",
        plural: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        short_names: &["po"],
        verbs: RW,
        subresources: &[
            Subresource {
                name: "exec",
                group_version: None,
                kind: "PodExecOptions",
                verbs: &["create", "get"],
            },
            Subresource {
                name: "portforward",
                group_version: None,
                kind: "PodPortForwardOptions",
                verbs: &["create", "get"],
            },
            Subresource {
                name: "log",
                group_version: None,
                kind: "Pod",
                verbs: &["get"],
            },
            status_sub!("Pod"),
        ],
        builtin: true,
    },
    ResourceType {
        group: "",
        version: "v1",
        plural: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[],
        builtin: true,
    },
    ResourceType {
        group: "",
        version: "v1",
        plural: "serviceaccounts",
        singular: "serviceaccount",
        kind: "ServiceAccount",
        namespaced: true,
        short_names: &["sa"],
        verbs: RW,
        subresources: &[],
        builtin: true,
    },
    ResourceType {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "roles",
        singular: "role",
        kind: "Role",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[],
        builtin: true,
    },
    ResourceType {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "rolebindings",
        singular: "rolebinding",
        kind: "RoleBinding",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[],
        builtin: true,
    },
    ResourceType {
        group: "",
        version: "v1",
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short_names: &["cm"],
        verbs: RW,
        subresources: &[],
        builtin: true,
    },
    ResourceType {
        group: "",
        version: "v1",
        plural: "services",
        singular: "service",
        kind: "Service",
        namespaced: true,
        short_names: &["svc"],
        verbs: RW,
        subresources: &[status_sub!("Service")],
        builtin: true,
    },
    ResourceType {
        group: "",
        version: "v1",
        plural: "persistentvolumeclaims",
        singular: "persistentvolumeclaim",
        kind: "PersistentVolumeClaim",
        namespaced: true,
        short_names: &["pvc"],
        verbs: RW,
        subresources: &[status_sub!("PersistentVolumeClaim")],
        builtin: true,
    },
    ResourceType {
        group: "apps",
        version: "v1",
        plural: "deployments",
        singular: "deployment",
        kind: "Deployment",
        namespaced: true,
        short_names: &["deploy"],
        verbs: RW,
        subresources: &[SCALE, status_sub!("Deployment")],
        builtin: true,
    },
    ResourceType {
        group: "apps",
        version: "v1",
        plural: "statefulsets",
        singular: "statefulset",
        kind: "StatefulSet",
        namespaced: true,
        short_names: &["sts"],
        verbs: RW,
        subresources: &[SCALE, status_sub!("StatefulSet")],
        builtin: true,
    },
    ResourceType {
        group: "apps.openshift.io",
        version: "v1",
        plural: "deploymentconfigs",
        singular: "deploymentconfig",
        kind: "DeploymentConfig",
        namespaced: true,
        short_names: &["dc"],
        verbs: RW,
        subresources: &[SCALE, status_sub!("DeploymentConfig")],
        // OpenShift's aggregated API server accepts strategic merge for its own kinds.
        builtin: true,
    },
    ResourceType {
        group: "batch",
        version: "v1",
        plural: "jobs",
        singular: "job",
        kind: "Job",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[status_sub!("Job")],
        builtin: true,
    },
    ResourceType {
        group: "route.openshift.io",
        version: "v1",
        plural: "routes",
        singular: "route",
        kind: "Route",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[status_sub!("Route")],
        builtin: true,
    },
    ResourceType {
        group: "apps.3scale.net",
        version: "v1alpha1",
        plural: "apimanagers",
        singular: "apimanager",
        kind: "APIManager",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[status_sub!("APIManager")],
        builtin: false,
    },
    ResourceType {
        group: "apps.3scale.net",
        version: "v1alpha1",
        plural: "apimanagerbackups",
        singular: "apimanagerbackup",
        kind: "APIManagerBackup",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[status_sub!("APIManagerBackup")],
        builtin: false,
    },
    ResourceType {
        group: "apps.3scale.net",
        version: "v1alpha1",
        plural: "apimanagerrestores",
        singular: "apimanagerrestore",
        kind: "APIManagerRestore",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[status_sub!("APIManagerRestore")],
        builtin: false,
    },
    ResourceType {
        group: "keycloak.org",
        version: "v1alpha1",
        plural: "keycloakusers",
        singular: "keycloakuser",
        kind: "KeycloakUser",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[status_sub!("KeycloakUser")],
        builtin: false,
    },
    ResourceType {
        group: "v1.edp.epam.com",
        version: "v1",
        plural: "keycloakrealms",
        singular: "keycloakrealm",
        kind: "KeycloakRealm",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[status_sub!("KeycloakRealm")],
        builtin: false,
    },
    ResourceType {
        group: "integreatly.org",
        version: "v1alpha1",
        plural: "rhmis",
        singular: "rhmi",
        kind: "RHMI",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[status_sub!("RHMI")],
        builtin: false,
    },
    ResourceType {
        group: "operators.coreos.com",
        version: "v1alpha1",
        plural: "clusterserviceversions",
        singular: "clusterserviceversion",
        kind: "ClusterServiceVersion",
        namespaced: true,
        short_names: &["csv", "csvs"],
        verbs: RW,
        subresources: &[status_sub!("ClusterServiceVersion")],
        builtin: false,
    },
    ResourceType {
        group: "operators.coreos.com",
        version: "v1alpha1",
        plural: "subscriptions",
        singular: "subscription",
        kind: "Subscription",
        namespaced: true,
        short_names: &["sub", "subs"],
        verbs: RW,
        subresources: &[status_sub!("Subscription")],
        builtin: false,
    },
    ResourceType {
        group: "operators.coreos.com",
        version: "v1alpha1",
        plural: "installplans",
        singular: "installplan",
        kind: "InstallPlan",
        namespaced: true,
        short_names: &["ip"],
        verbs: RW,
        subresources: &[status_sub!("InstallPlan")],
        builtin: false,
    },
    ResourceType {
        group: "velero.io",
        version: "v1",
        plural: "backups",
        singular: "backup",
        kind: "Backup",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        // Velero 1.9's CRDs have no status subresource (`subresources: {}`).
        subresources: &[],
        builtin: false,
    },
    ResourceType {
        group: "velero.io",
        version: "v1",
        plural: "restores",
        singular: "restore",
        kind: "Restore",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        // Velero 1.9's CRDs have no status subresource (`subresources: {}`).
        subresources: &[],
        builtin: false,
    },
    ResourceType {
        group: "velero.io",
        version: "v1",
        plural: "backupstoragelocations",
        singular: "backupstoragelocation",
        kind: "BackupStorageLocation",
        namespaced: true,
        short_names: &["bsl"],
        verbs: RW,
        // Velero 1.9's CRDs have no status subresource (`subresources: {}`).
        subresources: &[],
        builtin: false,
    },
    ResourceType {
        group: "velero.io",
        version: "v1",
        plural: "schedules",
        singular: "schedule",
        kind: "Schedule",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        // Velero 1.9's CRDs have no status subresource (`subresources: {}`).
        subresources: &[],
        builtin: false,
    },
    ResourceType {
        group: "velero.io",
        version: "v1",
        plural: "downloadrequests",
        singular: "downloadrequest",
        kind: "DownloadRequest",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[],
        builtin: false,
    },
    ResourceType {
        group: "velero.io",
        version: "v1",
        plural: "podvolumebackups",
        singular: "podvolumebackup",
        kind: "PodVolumeBackup",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[],
        builtin: false,
    },
    ResourceType {
        group: "velero.io",
        version: "v1",
        plural: "podvolumerestores",
        singular: "podvolumerestore",
        kind: "PodVolumeRestore",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[],
        builtin: false,
    },
    // The EPAM Delivery Platform's kinds, as the Platform's operators define them (group,
    // version and plural from their CRDs: epam/edp-codebase-operator `api/v1` Codebase and
    // CodebaseBranch; epam/edp-gerrit-operator `api/v1` Gerrit, GerritProject,
    // GerritMergeRequest, GerritGroupMember; epam/edp-jenkins-operator `api/v1` Jenkins,
    // JenkinsAuthorizationRoleMapping; epam/edp-keycloak-operator `api/v1` KeycloakRealm in
    // v1.edp.epam.com), and the registry's data operators' (CrunchyData PGO v5
    // PostgresCluster, spotahome redis-operator RedisFailover, Strimzi Kafka), the kinds
    // restore-registry.sh and the Platform's procedure name.
    ResourceType {
        group: "v2.edp.epam.com",
        version: "v1",
        plural: "codebases",
        singular: "codebase",
        kind: "Codebase",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[status_sub!("Codebase")],
        builtin: false,
    },
    ResourceType {
        group: "v2.edp.epam.com",
        version: "v1",
        plural: "codebasebranches",
        singular: "codebasebranch",
        kind: "CodebaseBranch",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[status_sub!("CodebaseBranch")],
        builtin: false,
    },
    ResourceType {
        group: "v2.edp.epam.com",
        version: "v1",
        plural: "gerrits",
        singular: "gerrit",
        kind: "Gerrit",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[status_sub!("Gerrit")],
        builtin: false,
    },
    ResourceType {
        group: "v2.edp.epam.com",
        version: "v1",
        plural: "gerritprojects",
        singular: "gerritproject",
        kind: "GerritProject",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[status_sub!("GerritProject")],
        builtin: false,
    },
    ResourceType {
        group: "v2.edp.epam.com",
        version: "v1",
        plural: "gerritmergerequests",
        singular: "gerritmergerequest",
        kind: "GerritMergeRequest",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[status_sub!("GerritMergeRequest")],
        builtin: false,
    },
    ResourceType {
        group: "v2.edp.epam.com",
        version: "v1",
        plural: "gerritgroupmembers",
        singular: "gerritgroupmember",
        kind: "GerritGroupMember",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[status_sub!("GerritGroupMember")],
        builtin: false,
    },
    ResourceType {
        group: "v2.edp.epam.com",
        version: "v1",
        plural: "jenkins",
        singular: "jenkins",
        kind: "Jenkins",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[status_sub!("Jenkins")],
        builtin: false,
    },
    ResourceType {
        group: "v2.edp.epam.com",
        version: "v1",
        plural: "jenkinsauthorizationrolemappings",
        singular: "jenkinsauthorizationrolemapping",
        kind: "JenkinsAuthorizationRoleMapping",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[status_sub!("JenkinsAuthorizationRoleMapping")],
        builtin: false,
    },
    ResourceType {
        group: "v1.edp.epam.com",
        version: "v1",
        plural: "keycloakrealms",
        singular: "keycloakrealm",
        kind: "KeycloakRealm",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[status_sub!("KeycloakRealm")],
        builtin: false,
    },
    ResourceType {
        group: "postgres-operator.crunchydata.com",
        version: "v1beta1",
        plural: "postgresclusters",
        singular: "postgrescluster",
        kind: "PostgresCluster",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[status_sub!("PostgresCluster")],
        builtin: false,
    },
    ResourceType {
        group: "databases.spotahome.com",
        version: "v1",
        plural: "redisfailovers",
        singular: "redisfailover",
        kind: "RedisFailover",
        namespaced: true,
        short_names: &[],
        verbs: RW,
        subresources: &[status_sub!("RedisFailover")],
        builtin: false,
    },
    ResourceType {
        group: "kafka.strimzi.io",
        version: "v1beta2",
        plural: "kafkas",
        singular: "kafka",
        kind: "Kafka",
        namespaced: true,
        short_names: &["k"],
        verbs: RW,
        subresources: &[status_sub!("Kafka")],
        builtin: false,
    },
    ResourceType {
        group: "authorization.k8s.io",
        version: "v1",
        plural: "selfsubjectaccessreviews",
        singular: "selfsubjectaccessreview",
        kind: "SelfSubjectAccessReview",
        namespaced: false,
        short_names: &[],
        verbs: &["create"],
        subresources: &[],
        builtin: true,
    },
];

/// Groups an OpenShift-less or operator-less cluster can leave out (see `ClusterSpec`).
pub const OPTIONAL_GROUPS: &[&str] = &[
    "apps.openshift.io",
    "route.openshift.io",
    "apps.3scale.net",
    "operators.coreos.com",
    "velero.io",
    "keycloak.org",
    "v2.edp.epam.com",
    "v1.edp.epam.com",
    "postgres-operator.crunchydata.com",
    "databases.spotahome.com",
    "kafka.strimzi.io",
];

/// The resource types a cluster serves, given the groups it leaves out.
pub fn served<'a>(without: &'a [String]) -> impl Iterator<Item = &'static ResourceType> + 'a {
    RESOURCES
        .iter()
        .filter(move |rt| !without.iter().any(|g| g == rt.group))
}

/// Group names in the order `/apis` lists them (core excluded).
pub fn groups(without: &[String]) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for rt in served(without) {
        if !rt.group.is_empty() && !out.iter().any(|(g, _)| *g == rt.group) {
            out.push((rt.group, rt.version));
        }
    }
    out
}

pub fn find(
    without: &[String],
    group: &str,
    version: &str,
    plural: &str,
) -> Option<&'static ResourceType> {
    served(without).find(|rt| rt.group == group && rt.version == version && rt.plural == plural)
}

pub fn find_kind(
    without: &[String],
    api_version: &str,
    kind: &str,
) -> Option<&'static ResourceType> {
    served(without).find(|rt| rt.api_version() == api_version && rt.kind == kind)
}
