//! The id of every step of the runbooks, as typed constants: code that names a step (a fact of an
//! earlier step, the step a rollback stops at) uses these, never a string, and the runbooks define
//! their steps with them. An id is the key of the journal and of `--confirm`: never rename one.

use super::model::StepId;

// threescale-rhoam
pub const CHECK_KUBECONFIGS: StepId = StepId("check-kubeconfigs");
pub const CHECK_CLUSTER_ACCESS: StepId = StepId("check-cluster-access");
pub const INVENTORY: StepId = StepId("inventory");
pub const CHECK_REDIS: StepId = StepId("check-redis");
pub const CHECK_POSTGRESQL: StepId = StepId("check-postgresql");
pub const CHECK_MYSQL: StepId = StepId("check-mysql");
pub const CHECK_DUMP_TOOLS: StepId = StepId("check-dump-tools");
pub const CHECK_DISK_SPACE: StepId = StepId("check-disk-space");
pub const AGREE_PREREQUISITES: StepId = StepId("agree-prerequisites");
pub const STOP_TRAFFIC: StepId = StepId("stop-traffic");
pub const DRAIN_QUEUES: StepId = StepId("drain-queues");
pub const SCALE_DOWN: StepId = StepId("scale-down");
pub const DUMP_SYSTEM_DATABASE: StepId = StepId("dump-system-database");
pub const DUMP_ZYNC_DATABASE: StepId = StepId("dump-zync-database");
pub const DUMP_REDIS: StepId = StepId("dump-redis");
pub const DUMP_SECRETS: StepId = StepId("dump-secrets");
pub const HAND_OVER_DUMPS: StepId = StepId("hand-over-dumps");
pub const CREATE_MIGRATION_CLUSTER: StepId = StepId("create-migration-cluster");
pub const CONNECT_MIGRATION_AWS: StepId = StepId("connect-migration-aws");
pub const INSTALL_SOURCE_3SCALE: StepId = StepId("install-source-3scale");
pub const CONVERT_SYSTEM_DATABASE: StepId = StepId("convert-system-database");
pub const RESTORE_SYSTEM_DATABASE: StepId = StepId("restore-system-database");
pub const REWRITE_ROUTES_MIGRATION: StepId = StepId("rewrite-routes-migration");
pub const CONNECT_MIGRATION_3SCALE: StepId = StepId("connect-migration-3scale");
pub const UPGRADE_3SCALE: StepId = StepId("upgrade-3scale");
pub const REWRITE_ROUTES_DESTINATION: StepId = StepId("rewrite-routes-destination");
pub const DUMP_MIGRATION_DATABASE: StepId = StepId("dump-migration-database");
pub const PAUSE_DESTINATION: StepId = StepId("pause-destination");
pub const SEED_DESTINATION_DATABASE: StepId = StepId("seed-destination-database");
pub const RESTORE_BACKEND_REDIS: StepId = StepId("restore-backend-redis");
pub const PUSH_SECRETS: StepId = StepId("push-secrets");
pub const CLEAR_FRESH_INSTALL: StepId = StepId("clear-fresh-install");
pub const CHECK_RHOAM_USERS: StepId = StepId("check-rhoam-users");
pub const RESTORE_DESTINATION_3SCALE: StepId = StepId("restore-destination-3scale");
pub const CONFIGURE_DESTINATION_3SCALE: StepId = StepId("configure-destination-3scale");
pub const CHECK_MASTER_PLAN: StepId = StepId("check-master-plan");
pub const CHECK_MASTER_ACCESS: StepId = StepId("check-master-access");
pub const CHECK_DEFAULT_TENANT: StepId = StepId("check-default-tenant");
pub const CHECK_SSO_INTEGRATIONS: StepId = StepId("check-sso-integrations");
pub const VERIFY_ANALYTICS: StepId = StepId("verify-analytics");
pub const PUBLISH_SSO: StepId = StepId("publish-sso");
pub const VERIFY_INSTALLATION: StepId = StepId("verify-installation");
pub const POINT_CUSTOMER_SYSTEMS: StepId = StepId("point-customer-systems");

// velero-registry
pub const CHECK_PLATFORM_INSTALLED: StepId = StepId("check-platform-installed");
pub const CHECK_VERSIONS_MATCH: StepId = StepId("check-versions-match");
pub const CHECK_KEYCLOAK: StepId = StepId("check-keycloak");
pub const CHECK_VELERO: StepId = StepId("check-velero");
pub const BACKUP_REGISTRY: StepId = StepId("backup-registry");
/// Not in `ALL` until the runbook has the step (the registry's procedure adds it).
pub const TRANSFER_BACKUP: StepId = StepId("transfer-backup");
pub const WAIT_BACKUP_SYNCED: StepId = StepId("wait-backup-synced");
pub const RESTORE_REGISTRY: StepId = StepId("restore-registry");
pub const VERIFY_REGISTRY: StepId = StepId("verify-registry");

/// Every constant above (`runbook`'s tests check that each names a step of a runbook).
pub const ALL: &[StepId] = &[
    CHECK_KUBECONFIGS,
    CHECK_CLUSTER_ACCESS,
    INVENTORY,
    CHECK_REDIS,
    CHECK_POSTGRESQL,
    CHECK_MYSQL,
    CHECK_DUMP_TOOLS,
    CHECK_DISK_SPACE,
    AGREE_PREREQUISITES,
    STOP_TRAFFIC,
    DRAIN_QUEUES,
    SCALE_DOWN,
    DUMP_SYSTEM_DATABASE,
    DUMP_ZYNC_DATABASE,
    DUMP_REDIS,
    DUMP_SECRETS,
    HAND_OVER_DUMPS,
    CREATE_MIGRATION_CLUSTER,
    CONNECT_MIGRATION_AWS,
    INSTALL_SOURCE_3SCALE,
    CONVERT_SYSTEM_DATABASE,
    RESTORE_SYSTEM_DATABASE,
    REWRITE_ROUTES_MIGRATION,
    CONNECT_MIGRATION_3SCALE,
    UPGRADE_3SCALE,
    REWRITE_ROUTES_DESTINATION,
    DUMP_MIGRATION_DATABASE,
    PAUSE_DESTINATION,
    SEED_DESTINATION_DATABASE,
    RESTORE_BACKEND_REDIS,
    PUSH_SECRETS,
    CLEAR_FRESH_INSTALL,
    CHECK_RHOAM_USERS,
    RESTORE_DESTINATION_3SCALE,
    CONFIGURE_DESTINATION_3SCALE,
    CHECK_MASTER_PLAN,
    CHECK_MASTER_ACCESS,
    CHECK_DEFAULT_TENANT,
    CHECK_SSO_INTEGRATIONS,
    VERIFY_ANALYTICS,
    PUBLISH_SSO,
    VERIFY_INSTALLATION,
    POINT_CUSTOMER_SYSTEMS,
    CHECK_PLATFORM_INSTALLED,
    CHECK_VERSIONS_MATCH,
    CHECK_KEYCLOAK,
    CHECK_VELERO,
    BACKUP_REGISTRY,
    WAIT_BACKUP_SYNCED,
    RESTORE_REGISTRY,
    VERIFY_REGISTRY,
];
