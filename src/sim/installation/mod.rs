//! The 3scale installations of the rehearsal sandbox, as the objects a cluster would
//! hold: a 3scale 2.14 source (DeploymentConfigs, data stores in the cluster), a 3scale
//! 2.15 source (the same with Deployments), and a RHOAM-like 3scale 2.16 destination
//! (Deployments, external data stores, and the RHOAM and 3scale operators in namespaces of
//! their own, which `pause-destination` pauses). Names, labels and secret keys
//! follow the 3scale operator (`pkg/3scale/amp/component`).

mod objects;
mod platform;

use anyhow::Context;
use serde_json::Value;

use super::SimCluster;
use crate::infra::kube::RHOAM_OPERATORS as DESTINATION_OPERATORS;

pub use platform::{
    PLATFORM_COMPONENTS, PLATFORM_VELERO_IMAGE, POSTGRES_CLUSTERS, Platform, crunchy_uid_on_a,
    platform_objects, postgres_password, registry_codebase, registry_namespace, version_update,
};

use objects::{
    Generator, apimanager, configmap, deployment, deployment_config, reindex_job, route, secret,
    zync_route,
};

/// The ids zync labels the master's and the default tenant's routes with (porta's db:seed
/// makes the master account 1 and the default tenant 2).
const MASTER_ID: u64 = 1;
const TENANT_ID: u64 = 2;

/// Where the destination's external data stores are (RHOAM keeps them outside the
/// cluster: RDS and ElastiCache in production, the sandbox's servers here).
#[derive(Clone, Debug)]
pub struct ExternalStores {
    pub system_database: String,
    pub backend_redis_storage: String,
    pub backend_redis_queues: String,
    pub system_redis: String,
    pub zync_database: String,
}

/// The workloads of a 3scale 2.14 installation with internal data stores, with the
/// replicas a small production install runs.
pub const SOURCE_WORKLOADS: &[(&str, i32)] = &[
    ("apicast-staging", 1),
    ("apicast-production", 2),
    ("backend-listener", 2),
    ("backend-worker", 2),
    ("backend-cron", 1),
    ("system-memcache", 1),
    ("system-app", 2),
    ("system-sidekiq", 1),
    ("system-searchd", 1),
    ("zync", 1),
    ("zync-que", 1),
    ("system-postgresql", 1),
    ("backend-redis", 1),
    ("system-redis", 1),
    ("zync-database", 1),
];

/// The workloads of RHOAM's 3scale 2.16: the data stores are external.
pub const DESTINATION_WORKLOADS: &[(&str, i32)] = &[
    ("apicast-staging", 1),
    ("apicast-production", 2),
    ("backend-listener", 2),
    ("backend-worker", 2),
    ("backend-cron", 1),
    ("system-memcache", 1),
    ("system-app", 2),
    ("system-sidekiq", 1),
    ("system-searchd", 1),
    ("zync", 1),
    ("zync-que", 1),
];

/// The replicas of each of RHOAM's operators ([`DESTINATION_OPERATORS`]: RHOAM's own and
/// the 3scale operator, each a Deployment in its own namespace).
pub const OPERATOR_REPLICAS: i32 = 1;

/// The database names behind the source's in-cluster database services.
#[derive(Clone, Debug)]
pub struct InternalDatabases {
    pub system: String,
    pub zync: String,
    /// The system database is MySQL (`system-mysql`, 3scale's default), not PostgreSQL.
    pub mysql: bool,
}

impl Default for InternalDatabases {
    fn default() -> Self {
        InternalDatabases {
            system: "system".into(),
            zync: "zync_production".into(),
            mysql: false,
        }
    }
}

/// The 3scale versions a simulated source can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceRelease {
    /// 3scale 2.14: the operator runs DeploymentConfigs.
    V2_14,
    /// 3scale 2.15: the operator runs Deployments; the data stores are still internal.
    V2_15,
}

impl SourceRelease {
    /// `2.14`, `2.15`: the APIManager's version annotation.
    pub fn version(self) -> &'static str {
        match self {
            SourceRelease::V2_14 => "2.14",
            SourceRelease::V2_15 => "2.15",
        }
    }
}

/// The source installation: 3scale 2.14 in `ns`, wildcard domain `wildcard`. The
/// secrets name the in-cluster services, as an operator-managed install has them.
pub fn source_objects(ns: &str, wildcard: &str, databases: &InternalDatabases) -> Vec<Value> {
    source_objects_of(SourceRelease::V2_14, ns, wildcard, databases)
}

/// A 3scale 2.15 source: the workloads and secrets of [`source_objects`], run as
/// Deployments (pods labelled `deployment=<name>`).
pub fn source_objects_2_15(ns: &str, wildcard: &str, databases: &InternalDatabases) -> Vec<Value> {
    source_objects_of(SourceRelease::V2_15, ns, wildcard, databases)
}

/// A source installation of `release` with its data stores in the namespace.
pub fn source_objects_of(
    release: SourceRelease,
    ns: &str,
    wildcard: &str,
    databases: &InternalDatabases,
) -> Vec<Value> {
    let mut g = Generator::new("source");
    let db_password = g.token(16);
    let zync_password = g.token(16);
    let mut objects: Vec<Value> = SOURCE_WORKLOADS
        .iter()
        .map(|(name, replicas)| {
            // The operator's system database workload is system-mysql for a MySQL one.
            let name = if *name == "system-postgresql" && databases.mysql {
                &"system-mysql"
            } else {
                name
            };
            (name, replicas)
        })
        .map(|(name, replicas)| match release {
            SourceRelease::V2_14 => deployment_config(ns, name, *replicas),
            SourceRelease::V2_15 => deployment(ns, name, *replicas),
        })
        .collect();
    objects.extend([
        secret(
            ns,
            "system-database",
            &[
                (
                    "URL",
                    &if databases.mysql {
                        // As the operator's system-mysql template has it.
                        format!(
                            "mysql2://root:{db_password}@system-mysql/{}",
                            databases.system
                        )
                    } else {
                        format!(
                            "postgresql://system:{db_password}@system-postgresql:5432/{}",
                            databases.system
                        )
                    },
                ),
                ("DB_USER", if databases.mysql { "mysql" } else { "system" }),
                ("DB_PASSWORD", &db_password),
            ],
        ),
        secret(
            ns,
            "backend-redis",
            &[
                ("REDIS_STORAGE_URL", "redis://backend-redis:6379/0"),
                ("REDIS_QUEUES_URL", "redis://backend-redis:6379/1"),
            ],
        ),
        secret(
            ns,
            "system-redis",
            &[("URL", "redis://system-redis:6379/1"), ("NAMESPACE", "")],
        ),
        secret(
            ns,
            "zync",
            &[
                (
                    "DATABASE_URL",
                    &format!(
                        "postgresql://zync:{zync_password}@zync-database:5432/{}",
                        databases.zync
                    ),
                ),
                ("ZYNC_DATABASE_PASSWORD", &zync_password),
                ("SECRET_KEY_BASE", &g.token(64)),
                ("ZYNC_AUTHENTICATION_TOKEN", &g.token(24)),
            ],
        ),
        zync_route(
            ns,
            "zync-3scale-api",
            &g.token(5).to_lowercase(),
            &format!("api-3scale-apicast-staging.{wildcard}"),
            "apicast-staging",
            TENANT_ID,
        ),
        zync_route(
            ns,
            "zync-3scale-api",
            &g.token(5).to_lowercase(),
            &format!("api-3scale-apicast-production.{wildcard}"),
            "apicast-production",
            TENANT_ID,
        ),
        apimanager(ns, wildcard, release.version(), true),
    ]);
    if release == SourceRelease::V2_15 {
        objects.push(reindex_job(ns));
    }
    objects.extend(common_objects(ns, wildcard, &mut g));
    objects
}

/// The destination installation: RHOAM's 3scale 2.16 in `ns`, with external stores, and
/// the operators that manage it in their namespaces.
pub fn destination_objects(ns: &str, wildcard: &str, stores: &ExternalStores) -> Vec<Value> {
    let mut g = Generator::new("destination");
    let mut objects: Vec<Value> = DESTINATION_WORKLOADS
        .iter()
        .map(|(name, replicas)| deployment(ns, name, *replicas))
        .collect();
    objects.extend(
        DESTINATION_OPERATORS
            .iter()
            .map(|(operator_ns, name)| deployment(operator_ns, name, OPERATOR_REPLICAS)),
    );
    objects.extend(connection_secrets(ns, stores));
    objects.extend([
        secret(
            ns,
            "zync",
            &[
                ("DATABASE_URL", &stores.zync_database),
                ("SECRET_KEY_BASE", &g.token(64)),
                ("ZYNC_AUTHENTICATION_TOKEN", &g.token(24)),
            ],
        ),
        apimanager(ns, wildcard, "2.16", false),
        reindex_job(ns),
        rhmi(wildcard),
    ]);
    objects.extend(common_objects(ns, wildcard, &mut g));
    // The users RHOAM's RH-SSO knows: one of the source tenant's members, who has logged in
    // through RHOAM's identity provider, and one of RHOAM's own.
    objects.extend(
        [("alice.ops", None), ("customer-admin01", Some("71"))]
            .iter()
            .map(|(name, id)| keycloak_user(name, *id)),
    );
    objects
}

/// 3scale on the migration cluster as the people leave it before the upgrade: the source's
/// release (2.14) installed through OLM (Subscription on `threescale-2.14`, Manual approval, the
/// CSV `Succeeded`), the APIManager annotated by that operator with its data stores external
/// (the migration account's database and Redis), its workloads DeploymentConfigs on the
/// release's system image, and the hook Jobs of its last reconcile completed. The upgrade
/// (`sim::olm`, `sim::threescale_operator`) starts from here.
pub fn migration_objects(ns: &str, wildcard: &str) -> Vec<Value> {
    use crate::sim::{olm, threescale_operator as operator};
    let bundle = &olm::BUNDLES[0];
    let image = operator::system_image(bundle.minor());
    let mut objects: Vec<Value> = DESTINATION_WORKLOADS
        .iter()
        .map(|(name, replicas)| {
            let mut dc = deployment_config(ns, name, *replicas);
            if name.starts_with("system-app") {
                dc["spec"]["template"]["spec"]["containers"][0]["image"] = image.clone().into();
            }
            dc
        })
        .collect();
    objects.extend(olm::installed(ns, bundle));
    let mut manager = apimanager(ns, wildcard, bundle.release, false);
    manager["metadata"]["annotations"][operator::OPERATOR_VERSION_ANNOTATION] =
        bundle.operator_version.into();
    objects.push(manager);
    objects.extend(operator::settled_jobs(ns, bundle));
    objects
}

/// The migration cluster as `install-source-3scale` and the connection of the migration
/// account leave it: the source's release (2.14) installed through OLM (Subscription on
/// `threescale-2.14`, Manual approval, the CSV `Succeeded`), no APIManager yet, and the
/// connection secrets `system-database`, `backend-redis` and `system-redis` naming the
/// account's stores. `connect-migration-3scale` starts 3scale from here.
pub fn migration_operator_objects(ns: &str, stores: &ExternalStores) -> Vec<Value> {
    let mut objects = crate::sim::olm::installed(ns, &crate::sim::olm::BUNDLES[0]);
    objects.extend(connection_secrets(ns, stores));
    objects
}

/// The secrets that point 3scale at external stores: `system-database`, `backend-redis` and
/// `system-redis` (with the `NAMESPACE` key 2.14 on no longer reads, left empty).
fn connection_secrets(ns: &str, stores: &ExternalStores) -> [Value; 3] {
    [
        secret(ns, "system-database", &[("URL", &stores.system_database)]),
        secret(
            ns,
            "backend-redis",
            &[
                ("REDIS_STORAGE_URL", &stores.backend_redis_storage),
                ("REDIS_QUEUES_URL", &stores.backend_redis_queues),
            ],
        ),
        secret(
            ns,
            "system-redis",
            &[("URL", &stores.system_redis), ("NAMESPACE", "")],
        ),
    ]
}

/// RHOAM's installation CR (integreatly-operator `api/v1alpha1/rhmi_types.go`): `rhoam` in
/// RHOAM's operator namespace; the APIManager's wildcard domain comes from its routing subdomain.
fn rhmi(wildcard: &str) -> Value {
    serde_json::json!({
        "apiVersion": "integreatly.org/v1alpha1",
        "kind": "RHMI",
        "metadata": {"name": "rhoam", "namespace": DESTINATION_OPERATORS[0].0},
        "spec": {
            "type": "managed-api",
            "namespacePrefix": "redhat-rhoam-",
            "routingSubdomain": wildcard,
            "selfSignedCerts": false,
        },
        "status": {"stage": "complete"},
    })
}

/// A `KeycloakUser` of RHOAM's RH-SSO (namespace `redhat-rhoam-rhsso`, label `sso:
/// integreatly`), as its operator generates one per identity-provider user; `user_id`: the
/// 3scale user it was generated for, when there is one.
fn keycloak_user(username: &str, user_id: Option<&str>) -> Value {
    let mut attributes = serde_json::Map::new();
    if let Some(id) = user_id {
        attributes.insert("3scale_user_id".into(), serde_json::json!([id]));
    }
    serde_json::json!({
        "apiVersion": "keycloak.org/v1alpha1",
        "kind": "KeycloakUser",
        "metadata": {
            "name": format!("generated-{}", username.replace('.', "-")),
            "namespace": crate::infra::kube::RHOAM_RHSSO_NAMESPACE,
            "labels": {"sso": "integreatly"},
        },
        "spec": {
            "realmSelector": {"matchLabels": {"sso": "integreatly"}},
            "user": {
                "username": username,
                "email": format!("{username}@example.com"),
                "enabled": true,
                "attributes": attributes,
            },
        },
    })
}

/// Creates (or replaces) `objects` in `cluster`, as an installed operator would have
/// left them; stops at the first one the cluster refuses.
pub fn install(cluster: &SimCluster, objects: Vec<Value>) -> anyhow::Result<()> {
    for object in objects {
        let name = format!(
            "{} {}",
            object["kind"].as_str().unwrap_or("object"),
            object["metadata"]["name"].as_str().unwrap_or("")
        );
        cluster
            .apply_object(object)
            .with_context(|| format!("cannot install {name} in the simulated cluster"))?;
    }
    Ok(())
}

/// What every installation has whatever its version: the seed, app and hook secrets,
/// the environment configmaps, and the routes of the master and the default tenant.
fn common_objects(ns: &str, wildcard: &str, g: &mut Generator) -> Vec<Value> {
    let master_token = g.token(32);
    let apicast_token = g.token(32);
    vec![
        secret(
            ns,
            "system-seed",
            &[
                ("MASTER_DOMAIN", "master"),
                ("MASTER_ACCESS_TOKEN", &master_token),
                ("MASTER_USER", "master"),
                ("MASTER_PASSWORD", &g.token(12)),
                ("ADMIN_ACCESS_TOKEN", &g.token(32)),
                ("ADMIN_USER", "admin"),
                ("ADMIN_PASSWORD", &g.token(12)),
                ("ADMIN_EMAIL", &format!("admin@{wildcard}")),
                ("TENANT_NAME", "3scale"),
            ],
        ),
        secret(
            ns,
            "system-app",
            &[("SECRET_KEY_BASE", &g.token(64)), ("USER_SESSION_TTL", "")],
        ),
        secret(
            ns,
            "system-events-hook",
            &[
                ("URL", "http://system-master:3000/master/events/import"),
                ("PASSWORD", &g.token(24)),
            ],
        ),
        secret(
            ns,
            "system-master-apicast",
            // Its own token (the operator's ApicastAccessToken), not the master's.
            &[
                ("ACCESS_TOKEN", &apicast_token),
                (
                    "PROXY_CONFIGS_ENDPOINT",
                    &format!("http://{apicast_token}@system-master:3000/master/api/proxy/configs"),
                ),
            ],
        ),
        secret(
            ns,
            "system-smtp",
            &[("address", ""), ("port", ""), ("from_address", "")],
        ),
        secret(
            ns,
            "system-recaptcha",
            &[("PUBLIC_KEY", ""), ("PRIVATE_KEY", "")],
        ),
        secret(
            ns,
            "system-memcache",
            &[("SERVERS", "system-memcache:11211")],
        ),
        secret(
            ns,
            "backend-internal-api",
            &[("username", "3scale_api_user"), ("password", &g.token(16))],
        ),
        secret(
            ns,
            "backend-listener",
            &[
                ("service_endpoint", "http://backend-listener:3000"),
                (
                    "route_endpoint",
                    &format!("https://backend-3scale.{wildcard}"),
                ),
            ],
        ),
        configmap(
            ns,
            "system-environment",
            &[
                ("RAILS_ENV", "production"),
                ("FORCE_SSL", "true"),
                ("THREESCALE_SUPERDOMAIN", wildcard),
                ("PROVIDER_PLAN", "enterprise"),
                (
                    "APICAST_REGISTRY_URL",
                    "http://apicast-staging:8090/policies",
                ),
                ("THINKING_SPHINX_PORT", "9306"),
            ],
        ),
        configmap(
            ns,
            "apicast-environment",
            &[("APICAST_MANAGEMENT_API", "status")],
        ),
        configmap(ns, "backend-environment", &[("RACK_ENV", "production")]),
        route(
            ns,
            "backend",
            &format!("backend-3scale.{wildcard}"),
            "backend-listener",
        ),
        zync_route(
            ns,
            "zync-3scale-master",
            &g.token(5).to_lowercase(),
            &format!("master.{wildcard}"),
            "system-master",
            MASTER_ID,
        ),
        zync_route(
            ns,
            "zync-3scale-provider",
            &g.token(5).to_lowercase(),
            &format!("3scale-admin.{wildcard}"),
            "system-provider",
            TENANT_ID,
        ),
        zync_route(
            ns,
            "zync-3scale-provider",
            &g.token(5).to_lowercase(),
            &format!("3scale.{wildcard}"),
            "system-developer",
            TENANT_ID,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(objects: &[Value], kind: &str) -> Vec<String> {
        objects
            .iter()
            .filter(|o| o["kind"] == kind)
            .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
            .collect()
    }

    #[test]
    fn the_source_is_a_2_14_install_with_internal_stores() {
        let objects = source_objects("3scale", "apps.source.test", &InternalDatabases::default());
        let dcs = names(&objects, "DeploymentConfig");
        assert_eq!(dcs.len(), SOURCE_WORKLOADS.len());
        assert!(
            dcs.contains(&"system-postgresql".to_string())
                && dcs.contains(&"backend-redis".to_string())
        );
        assert!(names(&objects, "Deployment").is_empty());
        for needed in [
            "system-database",
            "backend-redis",
            "system-redis",
            "zync",
            "system-seed",
        ] {
            assert!(
                names(&objects, "Secret").contains(&needed.to_string()),
                "{needed}"
            );
        }
        let manager = objects
            .iter()
            .find(|o| o["kind"] == "APIManager")
            .expect("APIManager");
        assert_eq!(
            manager["metadata"]["annotations"]["apps.3scale.net/apimanager-threescale-version"],
            "2.14"
        );
        assert_eq!(manager["spec"]["wildcardDomain"], "apps.source.test");
        let dc = objects
            .iter()
            .find(|o| o["metadata"]["name"] == "backend-worker")
            .expect("dc");
        assert_eq!(dc["spec"]["selector"]["deploymentConfig"], "backend-worker");
        assert_eq!(
            dc["spec"]["template"]["metadata"]["labels"]["deploymentConfig"],
            "backend-worker"
        );
    }

    #[test]
    fn the_2_15_source_runs_deployments() {
        let objects =
            source_objects_2_15("3scale", "apps.source.test", &InternalDatabases::default());
        assert!(names(&objects, "DeploymentConfig").is_empty());
        let deployments = names(&objects, "Deployment");
        assert_eq!(deployments.len(), SOURCE_WORKLOADS.len());
        assert!(deployments.contains(&"system-postgresql".to_string()));
        let manager = objects
            .iter()
            .find(|o| o["kind"] == "APIManager")
            .expect("APIManager");
        assert_eq!(
            manager["metadata"]["annotations"]["apps.3scale.net/apimanager-threescale-version"],
            "2.15"
        );
        let worker = objects
            .iter()
            .find(|o| o["metadata"]["name"] == "backend-worker")
            .expect("deployment");
        assert_eq!(
            worker["spec"]["selector"]["matchLabels"]["deployment"],
            "backend-worker"
        );
    }

    #[test]
    fn the_destination_is_rhoam_with_external_stores() {
        let stores = ExternalStores {
            system_database: "postgresql://127.0.0.1/system".into(),
            backend_redis_storage: "redis://127.0.0.1:1/0".into(),
            backend_redis_queues: "redis://127.0.0.1:1/1".into(),
            system_redis: "redis://127.0.0.1:2/1".into(),
            zync_database: "postgresql://127.0.0.1/zync".into(),
        };
        let objects = destination_objects("redhat-rhoam-3scale", "apps.rhoam.test", &stores);
        let deployments = names(&objects, "Deployment");
        assert_eq!(
            deployments.len(),
            DESTINATION_WORKLOADS.len() + DESTINATION_OPERATORS.len()
        );
        assert!(!deployments.contains(&"backend-redis".to_string()));
        for (operator_ns, name) in DESTINATION_OPERATORS {
            let operator = objects
                .iter()
                .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == name)
                .expect("the operator's deployment");
            assert_eq!(operator["metadata"]["namespace"], operator_ns);
            assert_eq!(operator["spec"]["replicas"], OPERATOR_REPLICAS);
        }
        assert!(names(&objects, "DeploymentConfig").is_empty());
        let redis = objects
            .iter()
            .find(|o| o["metadata"]["name"] == "backend-redis")
            .expect("secret");
        assert!(redis["data"]["REDIS_STORAGE_URL"].is_string());
    }

    #[test]
    fn secrets_are_not_the_same_in_both_installations() {
        let a = source_objects("3scale", "w", &InternalDatabases::default());
        let b = source_objects("3scale", "w", &InternalDatabases::default());
        let token = |o: &[Value]| {
            o.iter()
                .find(|x| x["metadata"]["name"] == "system-seed")
                .map(|x| x["data"]["MASTER_ACCESS_TOKEN"].clone())
        };
        assert_ne!(token(&a), token(&b), "every sandbox gets its own tokens");
    }
}
