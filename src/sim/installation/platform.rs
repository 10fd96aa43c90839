//! A cluster running the EPAM Digital Registries Platform, as the `velero-registry` runbook finds
//! it: the Platform's central components in `control-plane` with the `cluster-mgmt`
//! GerritProject whose branches are the Platform versions it can run registries of, Keycloak
//! in `user-management`, Velero 1.9.2 as the Platform's chart deploys it (image, args, the
//! `cloud-credentials` secret, `velero-restic-credentials`) with the registry's backup storage
//! location; and, on cluster A, the registry itself: its Codebase and GerritProject in
//! `control-plane`, and its namespace with the workloads `restore-registry.sh` restores by
//! label, their volumes opted into restic, PVCs, services, routes (Nexus's with its
//! `ip_whitelist`), secrets and the operators' resources.
//!
//! Where each name comes from: the velero chart and its values in
//! epam/edp-ddm-backup-management `deploy-templates/` (image `velero/velero:v1.9.2`, deployment
//! `velero`, args `server` plus `--backup-sync-period` only when configured, secret
//! `cloud-credentials` key `cloud`, prefix `openshift-backups`, config `region`,
//! `s3ForcePathStyle`, `s3Url`); the registry's location `<registry>` over bucket
//! `<registry>-backups` from `registry-scripts/backup-registry.sh` (its credential secret named
//! like the chart's `central-components` location: `<bucket>` key `cloud`, an inference); the
//! workloads' kinds and labels from the `animals` of `registry-scripts/restore-registry.sh`; the
//! Codebase's fields and the version rule from the Platform's admin console
//! (`branchToCopyInDefaultBranch`, merged GerritMergeRequests); the post-fix secrets and routes
//! from `migrate-registry.adoc`.

use serde_json::{Value, json};

/// The Velero image of the Platform's chart.
pub const PLATFORM_VELERO_IMAGE: &str = "velero/velero:v1.9.2";

/// The central components the Platform deploys in its namespace.
pub const PLATFORM_COMPONENTS: &[&str] = &[
    "control-plane-console",
    "gerrit",
    "jenkins",
    "nexus",
    "codebase-operator",
    "gerrit-operator",
    "jenkins-operator",
    "keycloak-operator",
];

/// What a simulated Platform cluster runs.
#[derive(Clone, Debug)]
pub struct Platform {
    /// The registry whose Velero location the cluster has (`<registry>`, bucket
    /// `<registry>-backups`).
    pub registry: String,
    /// The Platform versions B's central Gerrit has branches for (`cluster-mgmt`).
    pub versions: Vec<String>,
    /// The cluster's object storage, as the location's `s3Url`.
    pub storage_endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    /// `velero-restic-credentials`' `repository-password`.
    pub restic_password: String,
    pub velero_image: String,
    /// The chart's `configuration.backupSyncPeriod`: `--backup-sync-period` when set.
    pub backup_sync_period: Option<String>,
    /// Whether Keycloak runs in `user-management`.
    pub keycloak: bool,
    /// Whether the Platform's central components run (false: a bare OKD cluster).
    pub components: bool,
    pub edp_namespace: String,
    pub velero_namespace: String,
    pub keycloak_namespace: String,
}

impl Platform {
    /// A Platform able to run registries of `version`, with the chart's defaults.
    pub fn new(registry: &str, version: &str, storage_endpoint: &str) -> Platform {
        Platform {
            registry: registry.to_string(),
            versions: vec![version.to_string()],
            storage_endpoint: storage_endpoint.to_string(),
            region: "eu-central-1".into(),
            access_key: "minio-access".into(),
            secret_key: "minio-secret".into(),
            restic_password: "static-passw0rd".into(),
            velero_image: PLATFORM_VELERO_IMAGE.into(),
            backup_sync_period: None,
            keycloak: true,
            components: true,
            edp_namespace: "control-plane".into(),
            velero_namespace: "velero".into(),
            keycloak_namespace: "user-management".into(),
        }
    }

    /// The bucket of the registry's location.
    pub fn bucket(&self) -> String {
        format!("{}-backups", self.registry)
    }
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
           "status": {"phase": "Active"}})
}

fn secret(ns: &str, name: &str, data: &[(&str, &str)]) -> Value {
    use base64::Engine;
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                json!(base64::engine::general_purpose::STANDARD.encode(v)),
            )
        })
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
           "metadata": {"name": name, "namespace": ns}, "data": data})
}

fn custom(api_version: &str, kind: &str, ns: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": api_version, "kind": kind,
           "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

/// One workload: its labels (the selector), its pods' restic volumes, its container's image.
struct Workload<'a> {
    kind: &'a str,
    name: &'a str,
    labels: Value,
    volumes: &'a [&'a str],
    image: &'a str,
}

impl Workload<'_> {
    /// The container's name: Crunchy's instance pods run PostgreSQL in `database`.
    fn container(&self) -> &str {
        if self
            .labels
            .get("postgres-operator.crunchydata.com/cluster")
            .is_some()
        {
            "database"
        } else {
            self.name
        }
    }

    /// The claim of volume `v`: a StatefulSet's pod `<set>-0` has `<volume>-<set>-0`, as its
    /// volume claim template makes it; a Deployment's is `<volume>-<name>`.
    fn claim_name(&self, v: &str) -> String {
        if self.kind == "StatefulSet" {
            format!("{v}-{}-0", self.name)
        } else {
            format!("{v}-{}", self.name)
        }
    }

    fn object(&self, ns: &str) -> Value {
        let mut annotations = json!({});
        if !self.volumes.is_empty() {
            annotations["backup.velero.io/backup-volumes"] = json!(self.volumes.join(","));
        }
        let volumes: Vec<Value> = self
            .volumes
            .iter()
            .map(|v| json!({"name": v, "persistentVolumeClaim": {"claimName": self.claim_name(v)}}))
            .collect();
        let mounts: Vec<Value> = self
            .volumes
            .iter()
            .map(|v| json!({"name": v, "mountPath": format!("/{v}")}))
            .collect();
        let mut spec = json!({
            "replicas": 1,
            "selector": {"matchLabels": self.labels},
            "template": {
                "metadata": {"labels": self.labels, "annotations": annotations},
                "spec": {
                    "containers": [{"name": self.container(), "image": self.image, "volumeMounts": mounts}],
                    "volumes": volumes,
                },
            },
        });
        if self.kind == "StatefulSet" {
            spec["serviceName"] = json!(self.name);
        }
        json!({"apiVersion": "apps/v1", "kind": self.kind,
               "metadata": {"name": self.name, "namespace": ns, "labels": self.labels},
               "spec": spec})
    }
}

/// EPAM's keycloak-operator, its pods labelled `name=keycloak-operator` (restore-registry.sh
/// deletes them by that label): in Keycloak's namespace, and in each registry's.
fn keycloak_operator(ns: &str) -> Value {
    Workload {
        kind: "Deployment",
        name: "keycloak-operator",
        labels: json!({"name": "keycloak-operator"}),
        volumes: &[],
        image: "epamedp/keycloak-operator:1.9",
    }
    .object(ns)
}

fn deployment(ns: &str, name: &str, image: &str) -> Value {
    Workload {
        kind: "Deployment",
        name,
        labels: json!({"app": name}),
        volumes: &[],
        image,
    }
    .object(ns)
}

/// The objects of a cluster running the Platform.
pub fn platform_objects(p: &Platform) -> Vec<Value> {
    let edp = p.edp_namespace.as_str();
    let mut out = vec![namespace(edp), namespace(&p.velero_namespace)];
    if p.components {
        out.extend(PLATFORM_COMPONENTS.iter().map(|c| {
            deployment(
                edp,
                c,
                &format!("nexus-docker-registry.apps/control-plane/{c}:1.9"),
            )
        }));
        out.push(custom(
            "v2.edp.epam.com/v1",
            "Gerrit",
            edp,
            "gerrit",
            json!({"keycloakSpec": {"enabled": true}, "sshPort": 31000}),
        ));
        out.push(custom(
            "v2.edp.epam.com/v1",
            "Jenkins",
            edp,
            "jenkins",
            json!({"keycloakSpec": {"enabled": true}}),
        ));
        let mut branches = vec!["refs/heads/master".to_string()];
        branches.extend(p.versions.iter().map(|v| format!("refs/heads/{v}")));
        let mut project = custom(
            "v2.edp.epam.com/v1",
            "GerritProject",
            edp,
            "cluster-mgmt",
            json!({"name": "cluster-mgmt", "ownerName": "gerrit"}),
        );
        project["status"] = json!({"status": "ok", "branches": branches});
        out.push(project);
        out.push(secret(
            edp,
            "backup-credentials",
            &[
                ("backup-s3-like-storage-url", &p.storage_endpoint),
                ("backup-s3-like-storage-access-key-id", &p.access_key),
                ("backup-s3-like-storage-secret-access-key", &p.secret_key),
            ],
        ));
    }
    if p.keycloak {
        let kc = p.keycloak_namespace.as_str();
        out.push(namespace(kc));
        out.push(
            Workload {
                kind: "StatefulSet",
                name: "keycloak",
                labels: json!({"app.kubernetes.io/name": "keycloak", "app.kubernetes.io/instance": "keycloak"}),
                volumes: &[],
                image: "quay.io/keycloak/keycloak:20.0.3",
            }
            .object(kc),
        );
        out.push(keycloak_operator(kc));
        out.push(secret(
            kc,
            "keycloak",
            &[("username", "admin"), ("password", "keycloak-admin")],
        ));
    }
    out.extend(velero_objects(p));
    out
}

/// Velero as the Platform's chart deploys it, and the registry's location.
fn velero_objects(p: &Platform) -> Vec<Value> {
    let ns = p.velero_namespace.as_str();
    let mut args = vec![json!("server")];
    if let Some(period) = &p.backup_sync_period {
        args.push(json!(format!("--backup-sync-period={period}")));
    }
    let labels =
        json!({"app.kubernetes.io/name": "velero", "app.kubernetes.io/instance": "velero"});
    let velero = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "velero", "namespace": ns,
                     "labels": {"app.kubernetes.io/name": "velero", "component": "velero"}},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": {"name": "velero", "app.kubernetes.io/name": "velero",
                                        "app.kubernetes.io/instance": "velero"}},
                "spec": {
                    "serviceAccountName": "velero",
                    "containers": [{
                        "name": "velero",
                        "image": p.velero_image,
                        "command": ["/velero"],
                        "args": args,
                        "env": [
                            {"name": "VELERO_SCRATCH_DIR", "value": "/scratch"},
                            {"name": "AWS_SHARED_CREDENTIALS_FILE", "value": "/credentials/cloud"},
                        ],
                        "volumeMounts": [
                            {"name": "plugins", "mountPath": "/plugins"},
                            {"name": "cloud-credentials", "mountPath": "/credentials"},
                            {"name": "scratch", "mountPath": "/scratch"},
                        ],
                    }],
                    "volumes": [
                        {"name": "plugins", "emptyDir": {}},
                        {"name": "cloud-credentials", "secret": {"secretName": "cloud-credentials"}},
                        {"name": "scratch", "emptyDir": {}},
                    ],
                },
            },
        },
    });
    let cloud = format!(
        "[default]\naws_access_key_id={}\naws_secret_access_key={}\n",
        p.access_key, p.secret_key
    );
    let bsl = json!({
        "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
        "metadata": {"name": p.registry, "namespace": ns},
        "spec": {
            "provider": "aws",
            "default": false,
            "accessMode": "ReadWrite",
            "objectStorage": {"bucket": p.bucket(), "prefix": "openshift-backups"},
            "config": {"region": p.region, "s3ForcePathStyle": "true", "s3Url": p.storage_endpoint},
            "credential": {"name": p.bucket(), "key": "cloud"},
        },
    });
    vec![
        velero,
        secret(ns, "cloud-credentials", &[("cloud", &cloud)]),
        secret(ns, &p.bucket(), &[("cloud", &cloud)]),
        secret(
            ns,
            "velero-restic-credentials",
            &[("repository-password", &p.restic_password)],
        ),
        bsl,
    ]
}

/// The registry's objects in the Platform's namespace on cluster A: its Codebase at `version`
/// (created from the console with that branch, which the codebase operator moves into
/// `branchToCopyInDefaultBranch`) and its GerritProject.
pub fn registry_codebase(registry: &str, version: &str, edp_ns: &str) -> Vec<Value> {
    let mut codebase = custom(
        "v2.edp.epam.com/v1",
        "Codebase",
        edp_ns,
        registry,
        json!({
            "type": "library",
            "lang": "other",
            "strategy": "clone",
            "gitServer": "gerrit",
            "defaultBranch": "master",
            "branchToCopyInDefaultBranch": version,
            "jobProvisioning": "default",
            "versioning": {"type": "edp", "startFrom": "0.0.1"},
            "repository": {"url": "https://gerrit/mdtu-ddm/general/templates/registry-tenant-template-minimal"},
        }),
    );
    codebase["metadata"]["annotations"] =
        json!({"registry-parameters/template-name": "templates/registry-tenant-template-minimal"});
    let mut project = custom(
        "v2.edp.epam.com/v1",
        "GerritProject",
        edp_ns,
        registry,
        json!({"name": registry, "ownerName": "gerrit"}),
    );
    project["status"] = json!({"status": "ok",
        "branches": ["refs/heads/master", format!("refs/heads/{version}")]});
    vec![codebase, project]
}

/// A version-update GerritMergeRequest of the registry, from branch `version`, in `status`
/// (`NEW`, `MERGED`), as the console creates one when an update is started.
pub fn version_update(registry: &str, version: &str, status: &str, edp_ns: &str) -> Value {
    let name = format!("{registry}-update-{}", version.replace('.', "-"));
    let mut mr = custom(
        "v2.edp.epam.com/v1",
        "GerritMergeRequest",
        edp_ns,
        &name,
        json!({"ownerName": "gerrit", "projectName": registry, "authorName": "admin",
               "authorEmail": "admin@example.com", "sourceBranch": version,
               "targetBranch": "master", "commitMessage": format!("Update registry to {version}")}),
    );
    mr["status"] = json!({"value": status});
    mr
}

/// The workloads `restore-registry.sh` restores one by one: kind, name, labels (its selector),
/// the volumes its pods opt into restic.
fn stateful_workloads() -> Vec<Workload<'static>> {
    let w = |kind, name, labels: Value, volumes, image| Workload {
        kind,
        name,
        labels,
        volumes,
        image,
    };
    vec![
        w(
            "StatefulSet",
            "hashicorp-vault",
            json!({"app.kubernetes.io/name": "vault", "app.kubernetes.io/instance": "hashicorp-vault"}),
            &["data"],
            "hashicorp/vault:1.13",
        ),
        w(
            "Deployment",
            "nexus",
            json!({"app": "nexus"}),
            &["data"],
            "sonatype/nexus3:3.41",
        ),
        w(
            "Deployment",
            "gerrit",
            json!({"app": "gerrit"}),
            &["data"],
            "epamedp/edp-gerrit:3.6",
        ),
        w(
            "Deployment",
            "jenkins",
            json!({"app": "jenkins"}),
            &["data"],
            "epamedp/edp-jenkins:2.3",
        ),
        w(
            "StatefulSet",
            "operational-instance1-7x5f",
            json!({"postgres-operator.crunchydata.com/cluster": "operational",
                   "postgres-operator.crunchydata.com/instance-set": "instance1",
                   "postgres-operator.crunchydata.com/role": "master"}),
            &["postgres-data"],
            "crunchydata/crunchy-postgres:ubi8-14.5",
        ),
        w(
            "StatefulSet",
            "analytical-instance1-9k2m",
            json!({"postgres-operator.crunchydata.com/cluster": "analytical",
                   "postgres-operator.crunchydata.com/instance-set": "instance1",
                   "postgres-operator.crunchydata.com/role": "master"}),
            &["postgres-data"],
            "crunchydata/crunchy-postgres:ubi8-14.5",
        ),
        w(
            "StatefulSet",
            "kafka-cluster-kafka",
            json!({"strimzi.io/name": "kafka-cluster-kafka", "strimzi.io/cluster": "kafka-cluster",
                   "strimzi.io/kind": "Kafka"}),
            &["data-0"],
            "quay.io/strimzi/kafka:0.32.0-kafka-3.3.1",
        ),
        w(
            "StatefulSet",
            "kafka-cluster-zookeeper",
            json!({"strimzi.io/name": "kafka-cluster-zookeeper", "strimzi.io/cluster": "kafka-cluster",
                   "strimzi.io/kind": "Kafka"}),
            &["data"],
            "quay.io/strimzi/kafka:0.32.0-kafka-3.3.1",
        ),
        w(
            "StatefulSet",
            "rfr-redis-sentinel",
            json!({"app.kubernetes.io/component": "redis", "app.kubernetes.io/name": "redis-sentinel",
                   "app.kubernetes.io/part-of": "redis-failover"}),
            &["redis-data"],
            "redis:6.2",
        ),
        w(
            "StatefulSet",
            "redis-admin",
            json!({"app": "redis-admin"}),
            &["data"],
            "redash/redash:10",
        ),
        w(
            "StatefulSet",
            "redis-viewer",
            json!({"app": "redis-viewer"}),
            &["data"],
            "redash/redash:10",
        ),
        w(
            "Deployment",
            "geo-server",
            json!({"app.kubernetes.io/instance": "geo-server", "app.kubernetes.io/name": "geo-server"}),
            &["data"],
            "kartoza/geoserver:2.21",
        ),
    ]
}

/// The registry's stateless components that the checks and the verification look at.
const STATELESS: &[&str] = &[
    "bpms",
    "registry-rest-api",
    "officer-portal",
    "citizen-portal",
    "digital-signature-ops",
];

fn pvc(ns: &str, name: &str, size: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": name, "namespace": ns, "labels": labels},
           "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "ocs-storagecluster-ceph-rbd",
                    "resources": {"requests": {"storage": size}}},
           "status": {"phase": "Bound", "capacity": {"storage": size}}})
}

fn service(ns: &str, name: &str, selector: &Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
           "spec": {"selector": selector, "ports": [{"name": "http", "port": 8080, "targetPort": 8080}]}})
}

fn route(ns: &str, name: &str, host: &str, annotations: Value) -> Value {
    json!({"apiVersion": "route.openshift.io/v1", "kind": "Route",
           "metadata": {"name": name, "namespace": ns, "labels": {"app": name}, "annotations": annotations},
           "spec": {"host": host, "to": {"kind": "Service", "name": name, "weight": 100},
                    "tls": {"termination": "edge"}}})
}

/// The registry's namespace on cluster A: every workload of `restore-registry.sh` (pods with
/// `backup.velero.io/backup-volumes`), the stateless components, PVCs, services, routes on
/// `wildcard`, the secrets the post-fixes read, and the operators' resources.
pub fn registry_namespace(registry: &str, wildcard: &str) -> Vec<Value> {
    let ns = registry;
    let mut out = vec![namespace(ns)];
    for w in stateful_workloads() {
        out.push(w.object(ns));
        out.push(service(ns, w.name, &w.labels));
        for v in w.volumes {
            let size = if w.name == "kafka-cluster-kafka" {
                "20Gi"
            } else {
                "5Gi"
            };
            let labels = if w.name.starts_with("kafka-cluster") {
                w.labels.clone()
            } else {
                json!({"app": w.name})
            };
            out.push(pvc(ns, &w.claim_name(v), size, labels));
        }
    }
    for name in STATELESS {
        out.push(deployment(
            ns,
            name,
            &format!("nexus-docker-registry.apps/{name}:1.9"),
        ));
        out.push(service(ns, name, &json!({"app": name})));
    }
    out.push(route(
        ns,
        "nexus",
        &format!("nexus-{ns}.{wildcard}"),
        json!({"haproxy.router.openshift.io/ip_whitelist": "10.0.0.0/8 192.168.10.5/32"}),
    ));
    for name in ["jenkins", "gerrit", "officer-portal", "citizen-portal"] {
        out.push(route(
            ns,
            name,
            &format!("{name}-{ns}.{wildcard}"),
            json!({}),
        ));
    }
    for c in POSTGRES_CLUSTERS {
        out.push(secret(
            ns,
            &format!("{c}-pguser-postgres"),
            &[("password", &postgres_password(c)), ("user", "postgres")],
        ));
        out.push(custom(
            "postgres-operator.crunchydata.com/v1beta1",
            "PostgresCluster",
            ns,
            c,
            json!({"postgresVersion": 14,
                   "users": [{"name": "postgres"}],
                   "instances": [{"name": "instance1", "replicas": 1,
                                  "dataVolumeClaimSpec": {"accessModes": ["ReadWriteOnce"],
                                      "resources": {"requests": {"storage": "5Gi"}}}}],
                   "backups": {"pgbackrest": {"repos": [{"name": "repo1"}]}}}),
        ));
        // PGO's accounts of the instance and of pgBackRest, owned by the PostgresCluster (on
        // A, A's; restored onto B they still name A's uid until restore-registry re-points them).
        for postfix in ["instance", "pgbackrest"] {
            out.extend(crunchy_account(ns, c, postfix));
        }
    }
    out.push(secret(
        ns,
        "gerrit-control-plane-sshkey",
        &[(
            "id_rsa",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nsim\n-----END OPENSSH PRIVATE KEY-----\n",
        )],
    ));
    out.push(keycloak_operator(ns));
    out.push(secret(
        ns,
        &format!("keycloak-client.{registry}-admin.secret"),
        &[("clientSecret", "sim-client-secret")],
    ));
    out.push(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "hashicorp-vault-config", "namespace": ns},
        "data": {"extraconfig-from-values.hcl":
            "ui = true\nseal \"transit\" {\n  key_name = \"autounseal\"\n  mount_path = \"transit/\"\n}\n"}}));
    out.push(custom(
        "databases.spotahome.com/v1",
        "RedisFailover",
        ns,
        "redis-sentinel",
        json!({"redis": {"replicas": 1}, "sentinel": {"replicas": 1}}),
    ));
    out.push(custom(
        "kafka.strimzi.io/v1beta2",
        "Kafka",
        ns,
        "kafka-cluster",
        json!({"kafka": {"replicas": 1, "listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": false}],
                         "storage": {"type": "jbod", "volumes": [{"id": 0, "type": "persistent-claim", "size": "20Gi"}]}},
               "zookeeper": {"replicas": 1, "storage": {"type": "persistent-claim", "size": "5Gi"}}}),
    ));
    for member in ["administrators", "developers"] {
        out.push(custom(
            "v2.edp.epam.com/v1",
            "GerritGroupMember",
            ns,
            &format!("{member}-admin"),
            json!({"groupId": format!("{registry}-{member}"), "accountId": "admin"}),
        ));
    }
    for realm in ["officer-portal", "citizen-portal", "admin"] {
        out.push(custom(
            "v1.edp.epam.com/v1",
            "KeycloakRealm",
            ns,
            &format!("{realm}-realm"),
            json!({"realmName": format!("{registry}-{realm}"), "keycloakOwner": "main"}),
        ));
    }
    out.push(custom(
        "v2.edp.epam.com/v1",
        "Gerrit",
        ns,
        "gerrit",
        json!({"keycloakSpec": {"enabled": true}, "sshPort": 31001}),
    ));
    out.push(custom(
        "v2.edp.epam.com/v1",
        "Jenkins",
        ns,
        "jenkins",
        json!({"keycloakSpec": {"enabled": true}}),
    ));
    out.push(custom(
        "v2.edp.epam.com/v1",
        "JenkinsAuthorizationRoleMapping",
        ns,
        "administrators",
        json!({"group": format!("{registry}-administrators"), "roles": ["administrator"], "roleType": "globalRole"}),
    ));
    out.push(custom(
        "v2.edp.epam.com/v1",
        "Codebase",
        ns,
        "registry-regulations",
        json!({"type": "library", "lang": "other", "strategy": "create", "gitServer": "gerrit",
               "defaultBranch": "master", "versioning": {"type": "edp", "startFrom": "0.0.1"}}),
    ));
    out.push(custom(
        "v2.edp.epam.com/v1",
        "CodebaseBranch",
        ns,
        "registry-regulations-master",
        json!({"codebaseName": "registry-regulations", "branchName": "master"}),
    ));
    out
}

/// The uid of A's PostgresCluster `cluster`, which its accounts' ownerReferences name.
pub fn crunchy_uid_on_a(cluster: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("a:{cluster}").as_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("a0a0a0a0-0000-4000-8000-{hex}")
}

/// The ServiceAccount, Role and RoleBinding `<cluster>-<postfix>` PGO makes for a cluster.
fn crunchy_account(ns: &str, cluster: &str, postfix: &str) -> Vec<Value> {
    let name = format!("{cluster}-{postfix}");
    let meta = json!({
        "name": name,
        "namespace": ns,
        "labels": {"postgres-operator.crunchydata.com/cluster": cluster},
        "ownerReferences": [{
            "apiVersion": "postgres-operator.crunchydata.com/v1beta1",
            "kind": "PostgresCluster",
            "name": cluster,
            "uid": crunchy_uid_on_a(cluster),
            "controller": true,
            "blockOwnerDeletion": true,
        }],
    });
    vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
               "rules": [{"apiGroups": [""], "resources": ["endpoints", "configmaps"],
                          "verbs": ["get", "list", "watch", "create", "patch"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
               "subjects": [{"kind": "ServiceAccount", "name": name}]}),
    ]
}

/// The registry's Crunchy PostgresClusters.
pub const POSTGRES_CLUSTERS: [&str; 2] = ["operational", "analytical"];

/// The `postgres` role's password of the registry's PostgresCluster `cluster` on A: its
/// `<cluster>-pguser-postgres` secret's, which A's volumes carry to B.
pub fn postgres_password(cluster: &str) -> String {
    format!("{cluster}-pg-passw0rd")
}
