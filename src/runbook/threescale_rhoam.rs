//! 3scale API Management 2.x -> RHOAM, through a migration cluster (seed 000).
//! Domain facts behind the procedures come from 3scale's own sources (3scale/porta,
//! 3scale/3scale-operator, 3scale/apisonator, 3scale/zync, integr8ly/integreatly-operator) and
//! the Red Hat 3scale and RHOAM documentation.

use super::ids;
use super::model::AccessPath::{FurtherLimited, Limited, NoAccess};
use super::model::Party::{Both, Customer, RedHat};
use super::model::*;

// Seed table rows that more than one step implements.
const SEED_PREREQ: &str =
    "Performing pre-requisite steps by both parties, Red Hat and the customer";
const SEED_DUMPS: &str = "Performing dumps";
const SEED_RESTORE_DB: &str = "Restoring system database on migration AWS account";
const SEED_ANALYTICS: &str = "Restoring backend worker Redis instance to restore analytics data";
const SEED_CONF: &str = "Configuring 3scale at destination cluster";

// Owners per access path.
const BOTH_ALL: &[(AccessPath, Party)] =
    &[(Limited, Both), (FurtherLimited, Both), (NoAccess, Both)];
const CUSTOMER_ALL: &[(AccessPath, Party)] = &[
    (Limited, Customer),
    (FurtherLimited, Customer),
    (NoAccess, Customer),
];
const REDHAT_ALL: &[(AccessPath, Party)] = &[
    (Limited, RedHat),
    (FurtherLimited, RedHat),
    (NoAccess, RedHat),
];
/// Red Hat, except on the no-access path, where the customer keeps the data and does the work.
const MIGRATION_WORK: &[(AccessPath, Party)] = &[
    (Limited, RedHat),
    (FurtherLimited, RedHat),
    (NoAccess, Customer),
];
/// The backend Redis restore: Red Hat only where it may reach the destination ElastiCache.
const ANALYTICS_WORK: &[(AccessPath, Party)] = &[
    (Limited, RedHat),
    (FurtherLimited, Customer),
    (NoAccess, Customer),
];
/// Only the paths on which the customer hands its dumps to Red Hat.
const HANDOVER: &[(AccessPath, Party)] = &[(Limited, Customer), (FurtherLimited, Customer)];

/// Which workload kind the commands use; shown wherever dc and deployment differ.
macro_rules! source_kind {
    () => {
        r#"# Workload kind: DeploymentConfigs up to 3scale 2.14, Deployments from 2.15
export KIND=dc POD_LABEL=deploymentConfig
# export KIND=deployment POD_LABEL=deployment    # 3scale 2.15 and later
"#
    };
}

/// Exact row counts of the main system tables, saved at each dump and compared at each restore.
macro_rules! counts_var {
    () => {
        r#"COUNTS="SELECT 'accounts', count(*) FROM accounts
  UNION ALL SELECT 'users', count(*) FROM users
  UNION ALL SELECT 'services', count(*) FROM services
  UNION ALL SELECT 'proxies', count(*) FROM proxies
  UNION ALL SELECT 'plans', count(*) FROM plans
  UNION ALL SELECT 'cinstances', count(*) FROM cinstances
  UNION ALL SELECT 'access_tokens', count(*) FROM access_tokens"
"#
    };
}

/// The psql script both route rewrites run, with -v old=... -v new=...
macro_rules! rewrite_script {
    () => {
        r#"# Write the rewrite script (the same script serves both rewrites)
umask 077
cat > {dumps}/rewrite-routes.sql <<'SQL'
\set ON_ERROR_STOP on
-- The old domain matches only as a whole suffix: a dot before it, no host character after it
SELECT '\.' || replace(:'old', '.', '\.') || '(?![A-Za-z0-9.-])' AS old_re,
       '.' || :'new' AS new_suffix \gset
BEGIN;
CREATE TEMP TABLE rewrite_args ON COMMIT DROP AS
  SELECT :'old_re'::text AS old_re, :'new_suffix'::text AS new_suffix;
DO $$
DECLARE
  c record; a record; n_before bigint; n_after bigint;
BEGIN
  SELECT * INTO a FROM rewrite_args;
  FOR c IN SELECT * FROM (VALUES ('accounts', 'domain'), ('accounts', 'self_domain'),
      ('proxies', 'endpoint'), ('proxies', 'sandbox_endpoint'),
      ('proxies', 'staging_domain'), ('proxies', 'production_domain'),
      ('proxy_configs', 'hosts')) AS v(t, col)
  LOOP
    EXECUTE format('SELECT count(*) FROM %I WHERE %I ~ $1', c.t, c.col)
      INTO n_before USING a.old_re;
    EXECUTE format('UPDATE %I SET %I = regexp_replace(%I, $1, $2, ''g'') WHERE %I ~ $1',
      c.t, c.col, c.col, c.col) USING a.old_re, a.new_suffix;
    EXECUTE format('SELECT count(*) FROM %I WHERE %I ~ $1', c.t, c.col)
      INTO n_after USING a.old_re;
    RAISE NOTICE '%.%: % rows had the old domain, % still have it',
      c.t, c.col, n_before, n_after;
  END LOOP;
  -- proxy_configs.content: only these JSON paths (strings, and the strings of proxy.hosts)
  FOR c IN SELECT unnest(ARRAY['{proxy,endpoint}', '{proxy,sandbox_endpoint}',
      '{proxy,backend,endpoint}', '{proxy,backend,host}']) AS p LOOP
    UPDATE proxy_configs SET content = jsonb_set(content::jsonb, c.p::text[],
        to_jsonb(regexp_replace(content::jsonb #>> c.p::text[], a.old_re, a.new_suffix, 'g')))::text
      WHERE jsonb_typeof(content::jsonb #> c.p::text[]) = 'string'
        AND content::jsonb #>> c.p::text[] ~ a.old_re;
    GET DIAGNOSTICS n_after = ROW_COUNT;
    RAISE NOTICE 'proxy_configs.content %: % rows rewritten', c.p, n_after;
  END LOOP;
  UPDATE proxy_configs SET content = jsonb_set(content::jsonb, '{proxy,hosts}',
      (SELECT jsonb_agg(regexp_replace(h, a.old_re, a.new_suffix, 'g'))
         FROM jsonb_array_elements_text(content::jsonb #> '{proxy,hosts}') h))::text
    WHERE jsonb_typeof(content::jsonb #> '{proxy,hosts}') = 'array'
      AND (content::jsonb #> '{proxy,hosts}')::text ~ a.old_re;
END $$;
\prompt 'Type COMMIT to keep the rewrite, anything else rolls it back: ' answer
SELECT upper(:'answer') = 'COMMIT' AS keep \gset
\if :keep
COMMIT;
\else
ROLLBACK;
\endif
-- Reported, not rewritten: user data whose hosts need not follow the wildcard domain
SELECT 'authentication_providers.site' AS column_name, count(*) FROM authentication_providers
  WHERE site ~ :'old_re'
UNION ALL SELECT 'authentication_providers.authorize_url', count(*)
  FROM authentication_providers WHERE authorize_url ~ :'old_re'
UNION ALL SELECT 'authentication_providers.token_url', count(*)
  FROM authentication_providers WHERE token_url ~ :'old_re'
UNION ALL SELECT 'authentication_providers.user_info_url', count(*)
  FROM authentication_providers WHERE user_info_url ~ :'old_re'
UNION ALL SELECT 'proxies.oidc_issuer_endpoint', count(*) FROM proxies
  WHERE oidc_issuer_endpoint ~ :'old_re'
UNION ALL SELECT 'proxies.policies_config', count(*) FROM proxies
  WHERE policies_config ~ :'old_re'
UNION ALL SELECT 'backend_apis.private_endpoint', count(*) FROM backend_apis
  WHERE private_endpoint ~ :'old_re'
UNION ALL SELECT 'api_docs_services.body', count(*) FROM api_docs_services
  WHERE body ~ :'old_re'
UNION ALL SELECT 'web_hooks.url', count(*) FROM web_hooks WHERE url ~ :'old_re'
UNION ALL SELECT 'cinstances.redirect_url', count(*) FROM cinstances
  WHERE redirect_url ~ :'old_re'
UNION ALL SELECT 'users.email', count(*) FROM users WHERE email ~ :'old_re';
SQL
"#
    };
}

static PHASES: &[Phase] = &[
    Phase {
        id: "prerequisites",
        title: "Prerequisites",
    },
    Phase {
        id: "source-shutdown",
        title: "Stop the source installation",
    },
    Phase {
        id: "dumps",
        title: "Dump the source data",
    },
    Phase {
        id: "migration-cluster",
        title: "Restore and upgrade on the migration cluster",
    },
    Phase {
        id: "destination",
        title: "Restore at the destination",
    },
    Phase {
        id: "handover",
        title: "Hand over",
    },
];

static STEPS: &[Step] = &[
    // ---------------------------------------------------------------- prerequisites
    Step {
        id: ids::CHECK_KUBECONFIGS,
        title: "Check the kubeconfigs",
        phase: "prerequisites",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: BOTH_ALL,
        seed: Some(SEED_PREREQ),
        doc: "Checks that the kubeconfig file of each cluster (source, migration, destination) \
              is readable and contains the context the config names. It does not contact any \
              cluster yet; access itself is proven by the first step that talks to each one. \
              A kubeconfig holds credentials, so it should be readable by the operator only.",
        changes: None,
        procedure: r#"# Each kubeconfig is readable and has the context in use (no cluster contact)
test -r {source.kubeconfig} && oc config get-contexts {source.context} \
  --kubeconfig {source.kubeconfig}
test -r {migration_cluster.kubeconfig} && oc config get-contexts {migration_cluster.context} \
  --kubeconfig {migration_cluster.kubeconfig}
test -r {destination.kubeconfig} && oc config get-contexts {destination.context} \
  --kubeconfig {destination.kubeconfig}
# They hold credentials: mode 0600, owned by the operator
ls -l {source.kubeconfig} {migration_cluster.kubeconfig} {destination.kubeconfig}"#,
        action: Some(Action::CheckKubeconfigs),
        when: When::Always,
    },
    Step {
        id: ids::CHECK_CLUSTER_ACCESS,
        title: "Check cluster access and permissions",
        phase: "prerequisites",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: BOTH_ALL,
        seed: Some(SEED_PREREQ),
        doc: "Connects to every cluster of the config with its kubeconfig and context, checks \
              that its API server answers and that the configured namespace exists, and asks \
              the API server (SelfSubjectAccessReview) for every permission the operator's own \
              automated steps need on this path: scaling workloads on the source, exec and \
              port-forward into the data store pods, reading and writing secrets at the \
              destination. A denied permission is listed with its verb, resource and \
              namespace, so it can be granted before the window instead of found missing in \
              the middle of it. Hand-offs are the other party's to check. Read-only.",
        changes: None,
        procedure: r#"# Each cluster answers, and its namespace exists
{oc.source} version
{oc.source} get namespace {source.namespace}
{oc.migration_cluster} get namespace {migration_cluster.namespace}
{oc.destination} get namespace {destination.namespace}
# The permissions your own steps need on this path (`cutover plan` lists your steps)
{oc.source} auth can-i patch deploymentconfigs.apps.openshift.io
{oc.source} auth can-i update deploymentconfigs.apps.openshift.io --subresource=scale
{oc.source} auth can-i patch deployments.apps
{oc.source} auth can-i update deployments.apps --subresource=scale
{oc.source} auth can-i get secrets
{oc.source} auth can-i create pods --subresource=exec
{oc.source} auth can-i create pods --subresource=portforward
{oc.migration_cluster} auth can-i create pods --subresource=exec
{oc.destination} auth can-i patch secrets
{oc.destination} auth can-i create pods --subresource=portforward"#,
        action: Some(Action::CheckClusterAccess),
        when: When::Always,
    },
    Step {
        id: ids::INVENTORY,
        title: "Take the inventory of the installations",
        phase: "prerequisites",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: BOTH_ALL,
        seed: Some(SEED_PREREQ),
        doc: "Reads from the clusters what the later steps act on, and records it in the \
              journal: the 3scale version at the source and at the destination (and on the \
              migration cluster once 3scale is installed there); the 3scale workloads of the \
              source namespace, whether they are DeploymentConfigs (3scale 2.14 and earlier) or \
              Deployments (2.15 and later), with their replicas, and any other workload found \
              there; and where each data store is, from the secrets system-database, \
              backend-redis, system-redis and zync: in the namespace (a service such as \
              system-postgresql or backend-redis) or outside it, with its kind, host, port and \
              database. Credentials are never recorded or shown; the steps that need a store \
              read its URL from the secret when they use it. It cites the permissions \
              check-cluster-access found missing. Fails when the source namespace holds no \
              3scale or a secret cannot be read; a missing store secret is a warning. Read-only.",
        changes: None,
        procedure: r#"# The 3scale version at each end (the migration cluster has none until it is installed)
V='VERSION:.metadata.annotations.apps\.3scale\.net/apimanager-threescale-version'
{oc.source} get apimanager -o custom-columns="NAME:.metadata.name,$V"
{oc.destination} get apimanager -o custom-columns="NAME:.metadata.name,$V"
{oc.migration_cluster} get apimanager -o custom-columns="NAME:.metadata.name,$V"
{oc.source} get csv | grep 3scale-operator
# The workloads: DeploymentConfigs up to 3scale 2.14, Deployments from 2.15, with replicas
{oc.source} get deploymentconfigs,deployments \
  -o custom-columns=KIND:.kind,NAME:.metadata.name,REPLICAS:.spec.replicas
# Where each data store is: the URL without its user and password (never print those)
for S in system-database/URL backend-redis/REDIS_STORAGE_URL backend-redis/REDIS_QUEUES_URL \
         system-redis/URL zync/DATABASE_URL; do
  printf '%s: ' "$S"
  {oc.source} extract secret/"${S%%/*}" --keys="${S#*/}" --to=- 2>/dev/null \
    | sed -E 's#^([A-Za-z0-9+.-]+://).*@#\1#'
  echo
done
# A host without a dot (system-postgresql, backend-redis:6379) is a service in the namespace
{oc.source} get services"#,
        action: Some(Action::Inventory),
        when: When::Always,
    },
    Step {
        id: ids::CHECK_REDIS,
        title: "Check the Redis servers",
        phase: "prerequisites",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: BOTH_ALL,
        seed: Some(SEED_PREREQ),
        doc: "Asks each configured Redis (source backend and system Redis, the migration \
              cluster's Redis, the destination's backend Redis) for its version and the memory \
              it uses. The version matters for the analytics copy: a DUMP payload from a newer \
              Redis is refused by an older one. Memory used sizes the dump and the free memory \
              BGSAVE needs for its fork. Read-only.",
        changes: None,
        procedure: concat!(
            source_kind!(),
            r#"# Internal Redis (3scale 2.15 and earlier): ask inside the pods
for R in backend-redis system-redis; do
  P=$({oc.source} get pods -l $POD_LABEL=$R -o name | head -n1)
  {oc.source} exec $P -- redis-cli INFO server | grep -E '^redis_version'
  {oc.source} exec $P -- redis-cli INFO memory | grep -E '^used_memory_human'
done
# External Redis: URLs exported by the operator (secrets backend-redis, system-redis)
for U in "$SOURCE_BACKEND_REDIS_URL" "$SOURCE_SYSTEM_REDIS_URL" "$MIGRATION_REDIS_URL"; do
  redis-cli -u "$U" INFO server | grep -E '^redis_version'
  redis-cli -u "$U" INFO memory | grep -E '^used_memory_human'
done
# Destination backend Redis (ElastiCache): reachable from inside the cluster only
DEST_REDIS_HOST=$({oc.destination} extract secret/backend-redis --keys=REDIS_STORAGE_URL \
  --to=- 2>/dev/null | sed 's#^redis://##; s#[:/].*##')
{oc.destination} run cutover-redis-check --rm -i --restart=Never \
  --image=registry.redhat.io/rhel9/redis-7 -- redis-cli -h "$DEST_REDIS_HOST" INFO server"#
        ),
        action: Some(Action::CheckRedis),
        when: When::Always,
    },
    Step {
        id: ids::CHECK_POSTGRESQL,
        title: "Check the PostgreSQL servers",
        phase: "prerequisites",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: BOTH_ALL,
        seed: Some(SEED_PREREQ),
        doc: "Asks each configured PostgreSQL (the source system database when it is \
              PostgreSQL, the zync database, the migration AWS account's database and RHOAM's \
              database) for its server version and the size of the database. The versions \
              decide which pg_dump/pg_restore are needed (at least the newest server's major) \
              and the sizes feed the disk-space estimate. Read-only.",
        changes: None,
        procedure: concat!(
            source_kind!(),
            r#"# Internal system-postgresql (2.15 and earlier): forward a port first; the URL
# is key URL of secret system-database with its host replaced by 127.0.0.1:15432
{oc.source} port-forward svc/system-postgresql 15432:5432 >/dev/null &
for U in "$SOURCE_SYSTEM_DATABASE_URL" "$MIGRATION_SYSTEM_DATABASE_URL"; do
  psql "$U" -Atc "SELECT current_setting('server_version'),
    pg_size_pretty(pg_database_size(current_database()))"
done
# Zync database (internal): inside its pod
ZDB=$({oc.source} get pods -l $POD_LABEL=zync-database -o name | head -n1)
{oc.source} exec $ZDB -- psql -d zync_production -Atc \
  "SELECT current_setting('server_version'), pg_size_pretty(pg_database_size('zync_production'))"
# RHOAM's database (RDS, reachable from the cluster): through 3scale's own connection
{oc.destination} exec deployment/system-sidekiq -- bundle exec rails runner \
  'puts ActiveRecord::Base.connection.select_value("SELECT version()")'"#
        ),
        action: Some(Action::CheckPostgresql),
        when: When::Always,
    },
    Step {
        id: ids::CHECK_MYSQL,
        title: "Check the source MySQL",
        phase: "prerequisites",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: BOTH_ALL,
        seed: Some(SEED_PREREQ),
        doc: "When the source system database is MySQL, checks that it answers and reports \
              its version and the size of the system schema. The size estimates the dump and \
              the conversion time; the version matters for pgloader, whose 3.x releases cannot \
              log in with MySQL 8's default caching_sha2_password. Read-only.",
        changes: None,
        procedure: concat!(
            source_kind!(),
            r#"# Internal system-mysql: the root password stays inside the pod
MY=$({oc.source} get pods -l $POD_LABEL=system-mysql -o name | head -n1)
{oc.source} exec $MY -- bash -c 'MYSQL_PWD=$MYSQL_ROOT_PASSWORD mysql -h127.0.0.1 -uroot -N -e "
  SELECT VERSION();
  SELECT ROUND(SUM(data_length + index_length) / 1048576) AS mb
    FROM information_schema.tables WHERE table_schema = \"system\""'
# External MySQL: a private option file instead of a password on the command line
umask 077
printf '[client]\nhost=%s\nuser=%s\npassword=%s\n' "$SOURCE_MYSQL_HOST" \
  "$SOURCE_MYSQL_USER" "$SOURCE_MYSQL_PASSWORD" > {dumps}/source-my.cnf
mysql --defaults-extra-file={dumps}/source-my.cnf -N -e 'SELECT VERSION()' system"#
        ),
        action: Some(Action::CheckMysql),
        when: When::SourceDbIs(&[DbKind::Mysql]),
    },
    Step {
        id: ids::CHECK_DUMP_TOOLS,
        title: "Check the dump tools",
        phase: "prerequisites",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: BOTH_ALL,
        seed: Some(SEED_PREREQ),
        doc: "Checks that the tools the dumps and restores need are installed: pg_dump and \
              pg_restore with a major version at least that of every PostgreSQL server seen \
              (pg_dump refuses a newer server), redis-cli, age, jq and oc, and pgloader plus \
              the MySQL client when the source is MySQL. Read-only; a missing tool found here \
              costs nothing, found during the window it extends the outage.",
        changes: None,
        procedure: r#"# Majors must be >= the newest server major from check-postgresql
pg_dump --version; pg_restore --version; psql --version
redis-cli --version; age --version; jq --version; oc version --client
sha256sum --version | head -n1
# MySQL source only
pgloader --version; mysql --version; mysqldump --version"#,
        action: Some(Action::CheckDumpTools),
        when: When::Always,
    },
    Step {
        id: ids::CHECK_DISK_SPACE,
        title: "Check free disk for the dumps",
        phase: "prerequisites",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: BOTH_ALL,
        seed: Some(SEED_PREREQ),
        doc: "Checks that the dump folder's file system has room for the estimated dumps with \
              a margin: the system and zync database sizes, the Redis memory of each instance \
              (an RDB file is usually smaller), and the encrypted copies made for the hand-over. \
              Running out of disk in the middle of a dump leaves a truncated file that looks \
              complete only until the restore. Read-only.",
        changes: None,
        procedure: r#"df -h {dumps}
du -sh {dumps}
# Needed: (system DB + zync DB + used_memory of every Redis) x 2 for the encrypted copies,
# plus 20% margin; sizes from check-postgresql, check-mysql and check-redis"#,
        action: Some(Action::CheckDiskSpace),
        when: When::Always,
    },
    Step {
        id: ids::AGREE_PREREQUISITES,
        title: "Confirm the agreed prerequisites",
        phase: "prerequisites",
        kind: StepKind::Manual,
        destructive: false,
        gate: Gate::Confirm,
        owners: BOTH_ALL,
        seed: Some(SEED_PREREQ),
        doc: "Both parties go through the checklist of the chosen access path together: \
              which accounts and clusters each may reach, who provides the dumps, who \
              restores what, and the agreements on SMTP, alerting email, custom domain and \
              how long the queues may drain. The operator confirms only when every item is \
              granted or agreed; nothing is changed anywhere. A missing grant found later \
              stops the migration in the middle of the window, with the source already down.",
        changes: None,
        procedure: r#"# Walk this path's checklist with the other party; note who granted what
# Cluster access: each should answer yes in the namespaces the migration uses
{oc.source} auth can-i '*' '*'
{oc.migration_cluster} auth can-i '*' '*'
{oc.destination} auth can-i '*' '*'
# AWS access granted on this path (run with the credentials each party was given)
aws sts get-caller-identity
aws s3 ls "s3://$SOURCE_BUCKET" && aws s3 ls "s3://$DESTINATION_BUCKET"
# Limited access only: Red Hat reaches the destination ElastiCache
aws elasticache describe-replication-groups --query 'ReplicationGroups[].ReplicationGroupId'
# Record the source version and layout before anything changes
umask 077; mkdir -p {dumps}
{oc.source} get csv,apimanager
{oc.source} get apimanager -o yaml > {dumps}/source-apimanager.yaml
{oc.destination} -n redhat-rhoam-3scale-operator get csv"#,
        action: None,
        when: When::Always,
    },
    // ---------------------------------------------------------------- source-shutdown
    Step {
        id: ids::STOP_TRAFFIC,
        title: "Stop API traffic to 3scale",
        phase: "source-shutdown",
        kind: StepKind::Automated,
        destructive: true,
        gate: Gate::Typed("stop traffic"),
        owners: CUSTOMER_ALL,
        seed: Some("Disable services so that there's no more traffic going to 3scale"),
        doc: "Stops API traffic where it enters 3scale: the APIcast gateways (production and \
              staging) go to zero replicas, so no call reaches backend and no new usage is \
              recorded. Every replica count is first written to a file in the dump folder and \
              to the cutover.io/pre-migration-replicas annotation, which a rollback scales back \
              to. The 3scale operator reconciles APIcast replicas from the APIManager, so the \
              APIManager's APIcast replicas go to 0 as well; an HPA on apicast-production \
              (productionSpec.hpa) would scale it up again and must be switched off. Gateways \
              outside the namespace (self-managed APIcasts) reach backend through route backend \
              and keep reporting: as [stop_traffic] backend_route says, or as the operator \
              answers at the step, that route is pointed at a service that does not exist \
              (disable; its service kept in cutover.io/pre-migration-service, a rollback points \
              it back) or left (keep: what they report after dump-redis is not migrated). From \
              here the customer's API consumers get errors until the destination takes traffic.",
        changes: Some(
            "On the source cluster, namespace {source.namespace}: annotates apicast-production \
             and apicast-staging (DeploymentConfigs up to 3scale 2.14, Deployments from 2.15) \
             with cutover.io/pre-migration-replicas=<current replicas> and scales both to 0 \
             replicas; on an operator-managed installation also sets \
             spec.apicast.productionSpec.replicas and spec.apicast.stagingSpec.replicas of the \
             APIManager to 0 so the operator keeps them there. When the backend route is to be \
             disabled: annotates each route to service backend-listener with \
             cutover.io/pre-migration-service=backend-listener and points it at service \
             cutover-stopped-backend (none exists: 503). Services, the admin portal, databases \
             and Redis are left alone.",
        ),
        procedure: concat!(
            source_kind!(),
            r#"# Record everything that is about to change
umask 077; mkdir -p {dumps}
{oc.source} get apimanager -o yaml > {dumps}/source-apimanager-before-stop-traffic.yaml
{oc.source} get $KIND -o custom-columns=KIND:.kind,NAME:.metadata.name,REPLICAS:.spec.replicas \
  --no-headers > {dumps}/source-replicas-before-stop-traffic.txt
{oc.source} get hpa
# Keep the operator from scaling the gateways back (add "hpa":false if productionSpec.hpa is on)
APIM=$({oc.source} get apimanager -o name | head -n1)
{oc.source} patch $APIM --type merge \
  -p '{"spec":{"apicast":{"productionSpec":{"replicas":0},"stagingSpec":{"replicas":0}}}}'
# Annotate with the current count, then scale to 0
for D in apicast-production apicast-staging; do
  R=$({oc.source} get $KIND/$D -o custom-columns=R:.spec.replicas --no-headers)
  {oc.source} annotate $KIND/$D cutover.io/pre-migration-replicas="$R" --overwrite
  {oc.source} scale $KIND/$D --replicas=0
done
# Wait until no gateway pod is left
for D in apicast-production apicast-staging; do
  until [ -z "$({oc.source} get pods -l $POD_LABEL=$D -o name)" ]; do sleep 5; done
done
# Gateways outside the namespace report through the route to backend-listener. To stop them
# too (rollback: point it back at backend-listener and remove the annotation):
{oc.source} get route -o custom-columns=NAME:.metadata.name,HOST:.spec.host,TO:.spec.to.name \
  | tee {dumps}/source-routes-before-stop-traffic.txt
{oc.source} annotate route/backend cutover.io/pre-migration-service=backend-listener --overwrite
{oc.source} patch route/backend --type merge -p '{"spec":{"to":{"name":"cutover-stopped-backend"}}}'"#
        ),
        action: Some(Action::StopTraffic),
        when: When::Always,
    },
    Step {
        id: ids::DRAIN_QUEUES,
        title: "Drain the job queues",
        phase: "source-shutdown",
        kind: StepKind::Automated,
        destructive: false,
        gate: Gate::Confirm,
        owners: CUSTOMER_ALL,
        seed: Some(
            "Confirming that the job queue is empty or relatively low and acceptance on data \
             loss of any job that has not been processed",
        ),
        doc: "Lets the work already accepted finish and watches it go: the Resque queues of \
              backend (resque:queue:priority, main and stats, plus resque:failed) in the \
              backend queues Redis, the Sidekiq queues of system (queue:<name>, and the \
              schedule, retry and dead sets; under <namespace>: when system-app has \
              REDIS_NAMESPACE, as 3scale 2.13 and earlier may) in the system Redis, and zync's \
              pending que_jobs \
              in the zync database. The depths are shown until every queue reaches the agreed \
              level ({drain.threshold} jobs or fewer in each) or the drain time agreed in the \
              prerequisites runs out. Jobs still queued then are lost: queues are not migrated and the \
              destination starts with an empty system Redis. The confirmation records the \
              number of jobs whose loss the customer accepts. Nothing is changed.",
        changes: None,
        procedure: concat!(
            source_kind!(),
            r#"# Redis clients: internal pods (2.15 and earlier); for external Redis use instead
#   bq() { redis-cli -u "$SOURCE_BACKEND_QUEUES_URL" "$@"; }  and the same for sq
BR=$({oc.source} get pods -l $POD_LABEL=backend-redis -o name | head -n1)
SR=$({oc.source} get pods -l $POD_LABEL=system-redis -o name | head -n1)
bq() { {oc.source} exec "$BR" -- redis-cli -n 1 "$@"; }
sq() { {oc.source} exec "$SR" -- redis-cli -n 1 "$@"; }
# Sidekiq keys carry the prefix <namespace>: up to 2.13, when system-app has REDIS_NAMESPACE
# (from secret system-redis NAMESPACE; 2.14 and later no longer pass it to system-app)
NS=$({oc.source} set env $KIND/system-app --list --resolve | sed -n 's/^REDIS_NAMESPACE=//p')
P=${NS:+$NS:}
ZDB=$({oc.source} get pods -l $POD_LABEL=zync-database -o name | head -n1)
depths() {
  echo "backend priority=$(bq LLEN resque:queue:priority) main=$(bq LLEN resque:queue:main)" \
    "stats=$(bq LLEN resque:queue:stats) failed=$(bq LLEN resque:failed)"
  for Q in $(sq SMEMBERS ${P}queues); do echo "sidekiq queue:$Q=$(sq LLEN ${P}queue:$Q)"; done
  echo "sidekiq schedule=$(sq ZCARD ${P}schedule) retry=$(sq ZCARD ${P}retry)" \
    "dead=$(sq ZCARD ${P}dead)"
  echo "zync pending=$(zq)"
}
# Que 0.x (older zync) has no finished_at/expired_at: count all rows there
zq() { {oc.source} exec $ZDB -- psql -d zync_production -Atc \
  'SELECT count(*) FROM que_jobs WHERE finished_at IS NULL AND expired_at IS NULL'; }
# Watch until every depth is at most {drain.threshold} or the agreed time is up
while sleep 10; do date -u; depths; done    # Ctrl-C to stop
# Record the number of jobs whose loss is accepted, and who accepted it
TOTAL=$(( $(bq LLEN resque:queue:priority) + $(bq LLEN resque:queue:main) \
  + $(bq LLEN resque:queue:stats) + $(bq LLEN resque:failed) + $(sq ZCARD ${P}schedule) \
  + $(sq ZCARD ${P}retry) + $(sq ZCARD ${P}dead) + $(zq) ))
for Q in $(sq SMEMBERS ${P}queues); do TOTAL=$(( TOTAL + $(sq LLEN ${P}queue:$Q) )); done
echo "$(date -u +%FT%TZ) jobs-accepted-as-lost=$TOTAL accepted-by=$USER" \
  >> {dumps}/drain-acceptance.txt"#
        ),
        action: Some(Action::DrainQueues),
        when: When::Always,
    },
    Step {
        id: ids::SCALE_DOWN,
        title: "Scale down 3scale",
        phase: "source-shutdown",
        kind: StepKind::Automated,
        destructive: true,
        gate: Gate::Typed("scale down 3scale"),
        owners: CUSTOMER_ALL,
        seed: Some("Scaling down 3scale instance"),
        doc: "Stops every 3scale component in an order that lets in-flight work finish: the \
              gateways first (already at 0 after stop-traffic), then system-app so nobody \
              changes configuration, system-sidekiq, backend-listener, backend-worker and \
              backend-cron, zync-que and zync, and last system-searchd and system-memcache. \
              The 3scale operator is stopped before them, or it would scale them back to the \
              APIManager's counts (one installed for all namespaces, found by its CSV, is left \
              running); the APIManager's replicas are set to 0 too, and a source dump fails \
              when a stopped component ran again meanwhile. Databases and Redis (system-mysql \
              or system-postgresql, \
              zync-database, backend-redis, system-redis) stay up for the dumps. Each workload \
              keeps its original count in cutover.io/pre-migration-replicas, so a rollback \
              restores exactly what ran.",
        changes: Some(
            "On the source cluster, namespace {source.namespace}: annotates the 3scale operator \
             (deployment threescale-operator-controller-manager-v2) and apicast-production, \
             apicast-staging, system-app, system-sidekiq, backend-listener, backend-worker, \
             backend-cron, zync-que, zync, system-searchd (system-sphinx up to 2.13) and \
             system-memcache with cutover.io/pre-migration-replicas=<current replicas> (a \
             workload already at 0 keeps its earlier annotation) and scales them to 0 replicas \
             in that order, waiting for each one's pods to end. DeploymentConfigs up to 3scale \
             2.14, Deployments from 2.15. Sets each APIManager's system, backend and zync \
             replicas to 0 (recorded). Databases and Redis are not touched.",
        ),
        procedure: concat!(
            source_kind!(),
            r#"# Record every replica count first
umask 077
{oc.source} get $KIND -o custom-columns=KIND:.kind,NAME:.metadata.name,REPLICAS:.spec.replicas \
  --no-headers > {dumps}/source-replicas-before-scale-down.txt
# Where the 3scale operator runs: a CSV copied by OLM names its namespace (all-namespaces
# install: leave it running, the APIManager below holds the components)
{oc.source} get csv -o custom-columns=NAME:.metadata.name,FROM:.metadata.labels.olm\.copiedFrom \
  | grep 3scale-operator
# Hold the components at 0 in every APIManager (record its spec first)
for AM in $({oc.source} get apimanager -o name); do
  {oc.source} get $AM -o json > {dumps}/source-$(basename $AM)-before-scale-down.json
  {oc.source} patch $AM --type merge -p '{"spec":{"system":{"appSpec":{"replicas":0},
    "sidekiqSpec":{"replicas":0}},"backend":{"listenerSpec":{"replicas":0},
    "workerSpec":{"replicas":0},"cronSpec":{"replicas":0}},"zync":{"appSpec":{"replicas":0},
    "queSpec":{"replicas":0}}}}'
done
# Stop the 3scale operator when it runs in this namespace
OP=deployment/threescale-operator-controller-manager-v2
R=$({oc.source} get $OP -o custom-columns=R:.spec.replicas --no-headers)
{oc.source} annotate $OP cutover.io/pre-migration-replicas="$R" --overwrite
{oc.source} scale $OP --replicas=0
# Front ends first, caches last; 2.13 and earlier: system-sphinx instead of system-searchd
for D in apicast-production apicast-staging system-app system-sidekiq backend-listener \
         backend-worker backend-cron zync-que zync system-searchd system-memcache; do
  R=$({oc.source} get $KIND/$D -o custom-columns=R:.spec.replicas --no-headers) || continue
  [ "$R" = 0 ] || {oc.source} annotate $KIND/$D cutover.io/pre-migration-replicas="$R" \
    --overwrite
  {oc.source} scale $KIND/$D --replicas=0
  until [ -z "$({oc.source} get pods -l $POD_LABEL=$D -o name)" ]; do sleep 5; done
done
# Only the data stores are left running
{oc.source} get pods"#
        ),
        action: Some(Action::ScaleDown),
        when: When::Always,
    },
    // ---------------------------------------------------------------- dumps
    Step {
        id: ids::DUMP_SYSTEM_DATABASE,
        title: "Dump the system database",
        phase: "dumps",
        kind: StepKind::Automated,
        destructive: false,
        gate: Gate::None,
        owners: CUSTOMER_ALL,
        seed: Some(SEED_DUMPS),
        doc: "Dumps the system database, the source of truth for accounts, APIs, plans and \
              applications. PostgreSQL is dumped with pg_dump in the custom format (-Fc); MySQL \
              with mysqldump --single-transaction, one consistent snapshot without locking the \
              InnoDB tables, as plain SQL (system-mysql.sql) that must end with mysqldump's \
              `-- Dump completed` line. An internal database is dumped by the client in its own \
              pod, which matches its server; an external one by the local client, the password \
              in an option file of mode 0600. Exact row counts of every table are saved next to \
              the dump and in the manifest with its SHA-256, so every later restore or \
              conversion can be checked against them. Oracle is not automated: a DBA exports it \
              with Oracle's own tools (Data Pump), and its conversion later is manual too. The \
              source is only read; pg_dump refuses a server newer than itself.",
        changes: None,
        procedure: concat!(
            source_kind!(),
            "umask 077; mkdir -p {dumps}\n",
            counts_var!(),
            r#"# --- PostgreSQL. Internal system-postgresql (2.15 and earlier): forward a port
# and point the URL of secret system-database at it; external: the URL as it is
{oc.source} port-forward svc/system-postgresql 15432:5432 >/dev/null &
export SOURCE_SYSTEM_DATABASE_URL=$({oc.source} extract secret/system-database --keys=URL \
  --to=- 2>/dev/null | sed 's#@system-postgresql[^/]*/#@127.0.0.1:15432/#')
pg_dump -Fc -f {dumps}/system-database.dump "$SOURCE_SYSTEM_DATABASE_URL"
pg_restore --list {dumps}/system-database.dump > /dev/null && echo archive ok
psql "$SOURCE_SYSTEM_DATABASE_URL" -At -F ' ' -c "$COUNTS" > {dumps}/system-database.counts
# --- MySQL, internal system-mysql: the root password stays inside the pod
MY=$({oc.source} get pods -l $POD_LABEL=system-mysql -o name | head -n1)
{oc.source} exec $MY -- bash -c 'MYSQL_PWD=$MYSQL_ROOT_PASSWORD mysqldump -h127.0.0.1 -uroot \
  --single-transaction --quick --routines --triggers --hex-blob --no-tablespaces \
  --default-character-set=utf8mb4 --set-gtid-purged=OFF system' > {dumps}/system-mysql.sql
{oc.source} exec -i $MY -- bash -c 'MYSQL_PWD=$MYSQL_ROOT_PASSWORD mysql -h127.0.0.1 -uroot \
  -N -B system' <<< "$COUNTS" | tr '\t' ' ' > {dumps}/system-database.counts
# --- MySQL, external: option file written by check-mysql
#   mysqldump --defaults-extra-file={dumps}/source-my.cnf --single-transaction --quick \
#     --routines --triggers --hex-blob --no-tablespaces --default-character-set=utf8mb4 \
#     --set-gtid-purged=OFF system > {dumps}/system-mysql.sql   # MariaDB's: no --set-gtid-purged
tail -n1 {dumps}/system-mysql.sql    # must print "-- Dump completed on ..."
# --- Oracle: manual, by a DBA with Oracle Data Pump (expdp prompts for the password)
#   expdp "$ORACLE_DUMP_USER@$ORACLE_CONNECT" SCHEMAS="$ORACLE_SCHEMA" \
#     DIRECTORY=DATA_PUMP_DIR DUMPFILE=system-oracle.dmp LOGFILE=system-oracle-exp.log
cd {dumps} && sha256sum system-database.dump system-mysql.sql 2>/dev/null > system-db.sha256"#
        ),
        action: Some(Action::DumpSystemDatabase),
        when: When::Always,
    },
    Step {
        id: ids::DUMP_ZYNC_DATABASE,
        title: "Dump the zync database",
        phase: "dumps",
        kind: StepKind::Automated,
        destructive: false,
        gate: Gate::None,
        owners: CUSTOMER_ALL,
        seed: Some(SEED_DUMPS),
        doc: "Dumps the zync database (zync_production): zync's job queue and its record of \
              tenants, providers and the routes it created. It is not restored at the \
              destination, where zync rebuilds its state from system with zync:resync:domains, \
              but it documents the source and serves a rollback. The internal zync-database is \
              dumped from inside its pod; an external one through its URL. Read-only.",
        changes: None,
        procedure: concat!(
            source_kind!(),
            r#"umask 077
# Internal zync-database: pg_dump runs in the pod, the archive streams out
ZDB=$({oc.source} get pods -l $POD_LABEL=zync-database -o name | head -n1)
{oc.source} exec $ZDB -- pg_dump -Fc zync_production > {dumps}/zync-database.dump
# External zync database: URL from secret zync, key DATABASE_URL
#   pg_dump -Fc -f {dumps}/zync-database.dump "$SOURCE_ZYNC_DATABASE_URL"
# The local pg_restore must be at least the pod's pg_dump version to read the archive
pg_restore --list {dumps}/zync-database.dump | head -n 15
sha256sum {dumps}/zync-database.dump > {dumps}/zync-database.dump.sha256"#
        ),
        action: Some(Action::DumpZyncDatabase),
        when: When::Always,
    },
    Step {
        id: ids::DUMP_REDIS,
        title: "Dump the Redis databases",
        phase: "dumps",
        kind: StepKind::Automated,
        destructive: false,
        gate: Gate::None,
        owners: CUSTOMER_ALL,
        seed: Some(SEED_DUMPS),
        doc: "Snapshots the source Redis instances: backend storage (usage statistics, the \
              analytics that exist nowhere else), backend queues and the system Redis \
              (Sidekiq), each server once (storage DB 0 and queues DB 1 of one backend-redis \
              are one file). With pod access (the inventory found the server inside the source \
              namespace, with a running pod) a fresh BGSAVE is started through redis-cli in the \
              pod, LASTSAVE is polled until it changes with rdb_last_bgsave_status ok, and the \
              file the server names (CONFIG GET dir and dbfilename) streams out through exec. \
              Otherwise the config's URL, else its secret's, is used to pull a snapshot over \
              the replication protocol as redis-cli --rdb does, which managed services such as \
              ElastiCache refuse: then dump through the pod or copy the keys logically. Each \
              file lands in the dump folder (mode 0600) and in manifest.json with its SHA-256, \
              the server and RDB versions and the keys of each database. Only backend storage \
              is restored later and must be dumped; a queue or system Redis that cannot be is \
              a warning, those dumps being a record. Redis keeps serving while it saves, but \
              the fork needs free memory.",
        changes: None,
        procedure: concat!(
            source_kind!(),
            r#"umask 077; mkdir -p {dumps}
# Internal Redis (2.15 and earlier): backend-redis holds storage (DB 0) and queues (DB 1),
# system-redis holds Sidekiq (DB 1). A fresh snapshot, then the file streams out of the pod
for R in backend-redis system-redis; do
  P=$({oc.source} get pods -l $POD_LABEL=$R -o name | head -n1)
  T=$({oc.source} exec $P -- redis-cli LASTSAVE)
  {oc.source} exec $P -- redis-cli BGSAVE
  until [ "$({oc.source} exec $P -- redis-cli LASTSAVE)" != "$T" ]; do sleep 2; done
  {oc.source} exec $P -- redis-cli INFO persistence | grep rdb_last_bgsave_status    # ok
  {oc.source} exec $P -- redis-cli INFO keyspace > {dumps}/$R.keyspace
  # Where the server saves (the images' default: /var/lib/redis/data/dump.rdb)
  D=$({oc.source} exec $P -- redis-cli CONFIG GET dir | tail -n1)
  F=$({oc.source} exec $P -- redis-cli CONFIG GET dbfilename | tail -n1)
  {oc.source} exec $P -- cat "$D/$F" > {dumps}/$R.rdb
done
# External Redis or no pod access: snapshot over the replication protocol
#   redis-cli -u "$SOURCE_BACKEND_REDIS_URL" --rdb {dumps}/backend-redis.rdb
#   redis-cli -u "$SOURCE_SYSTEM_REDIS_URL" --rdb {dumps}/system-redis.rdb
# (separate storage and queues instances: also --rdb {dumps}/backend-redis-queues.rdb)
redis-check-rdb {dumps}/backend-redis.rdb | tail -n 3
cd {dumps} && sha256sum backend-redis.rdb system-redis.rdb > redis.sha256"#
        ),
        action: Some(Action::DumpRedis),
        when: When::Always,
    },
    Step {
        id: ids::DUMP_SECRETS,
        title: "Export the 3scale secrets",
        phase: "dumps",
        kind: StepKind::Automated,
        destructive: false,
        gate: Gate::None,
        owners: CUSTOMER_ALL,
        seed: Some(SEED_DUMPS),
        doc: "Exports what 3scale needs to read its data again: the secrets system-seed (master \
              and admin tokens and passwords, which match rows in the database), system-app, \
              system-master-apicast, system-database, system-redis, backend-redis, \
              backend-internal-api, backend-listener, system-events-hook, system-smtp, \
              system-recaptcha, system-memcache and zync, the S3 file-storage secret the \
              APIManager names if any, the configmaps system-environment, apicast-environment, \
              system, backend-environment and redis-config, and the APIManager(s); absent ones \
              are noted, not errors. Server-owned fields (uid, resourceVersion, \
              creationTimestamp, managedFields, ownerReferences, namespace, selfLink, \
              generation, status and the last-applied annotation, which repeats the data in \
              clear) are dropped so the objects apply on another cluster. Each object is \
              encrypted in memory with age to dumps.age_recipients on its way to \
              secrets/<kind>-<name>.json.age, so no plaintext reaches the disk; every file is \
              mode 0600 and listed in manifest.json with its SHA-256 and number of keys, and \
              the journal lists the key names, never a value. Without recipients the step \
              stops and asks for them. A source tenant other than RHOAM's (TENANT_NAME 3scale, \
              MASTER_DOMAIN master) is warned about here, since push-secrets refuses it. Check \
              before the window that whoever restores holds an identity for one of the \
              recipients.",
        changes: None,
        procedure: r#"umask 077; mkdir -p {dumps}/secrets
# Fields the API server owns are dropped so the objects apply on another cluster
CLEAN='del(.metadata.uid, .metadata.resourceVersion, .metadata.creationTimestamp,
  .metadata.managedFields, .metadata.ownerReferences, .metadata.namespace,
  .metadata.selfLink, .metadata.generation, .status,
  .metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"])'
# The S3 file-storage secret, when the APIManager names one
S3=$({oc.source} get apimanager -o json | jq '.items[0].spec.system.fileStorage' \
  | jq -r '.simpleStorageService.configurationSecretRef.name // empty')
for S in system-seed system-app system-master-apicast system-database system-redis \
         backend-redis backend-internal-api backend-listener system-events-hook system-smtp \
         system-recaptcha system-memcache zync $S3; do
  {oc.source} get secret $S >/dev/null 2>&1 || { echo "absent: $S"; continue; }
  {oc.source} get secret $S -o json | jq "$CLEAN" \
    | age {age_recipients} -o {dumps}/secrets/secret-$S.json.age
done
for C in system-environment apicast-environment system backend-environment redis-config; do
  {oc.source} get configmap $C >/dev/null 2>&1 || { echo "absent: $C"; continue; }
  {oc.source} get configmap $C -o json | jq "$CLEAN" \
    | age {age_recipients} -o {dumps}/secrets/configmap-$C.json.age
done
for A in $({oc.source} get apimanager -o name); do
  {oc.source} get $A -o json | jq "$CLEAN" \
    | age {age_recipients} -o {dumps}/secrets/apimanager-${A##*/}.json.age
done
chmod 600 {dumps}/secrets/*.age; ls -l {dumps}/secrets
cd {dumps}/secrets && sha256sum *.age > SHA256SUMS
# RHOAM runs tenant 3scale, master domain master (push-secrets refuses others); key names only
age -d -i "$AGE_IDENTITY_FILE" {dumps}/secrets/secret-system-seed.json.age \
  | jq -r '[.data.TENANT_NAME, .data.MASTER_DOMAIN] | map(@base64d) | join(" ")'
# A holder of an identity can check one: age -d -i "$AGE_IDENTITY_FILE" FILE | jq .metadata.name"#,
        action: Some(Action::DumpSecrets),
        when: When::Always,
    },
    Step {
        id: ids::HAND_OVER_DUMPS,
        title: "Hand the dumps over to Red Hat",
        phase: "dumps",
        kind: StepKind::Manual,
        destructive: false,
        gate: Gate::Confirm,
        owners: HANDOVER,
        seed: None,
        doc: "The customer encrypts the dumps, records their checksums and transfers them to \
              the agreed location (typically the S3 bucket both parties reach); the receiver \
              verifies every checksum before using them. The table has no row for this; the \
              seed's lists for limited and further-limited access include \"Providing Red Hat \
              with system database, redis and 3scale secrets dump from source cluster\", so the \
              customer owns it on those paths. On no-access the customer keeps the dumps and \
              does the migration-cluster work itself, so the step is not part of that path. \
              The plain dumps stay on the customer's host.",
        changes: None,
        procedure: r#"cd {dumps}
# Encrypt what is not encrypted yet (the secrets already are) for the configured recipients
for F in system-database.dump system-mysql.sql system-oracle.dmp zync-database.dump \
         backend-redis.rdb backend-redis-queues.rdb system-redis.rdb system-database.counts; do
  [ -f "$F" ] && age {age_recipients} -o "$F.age" "$F" && chmod 600 "$F.age"
done
find . -name '*.age' -type f | sort | xargs sha256sum > SHA256SUMS
# Upload to the agreed location
aws s3 cp . "s3://$HANDOVER_BUCKET/{migration}/" --recursive --exclude '*' \
  --include '*.age' --include 'SHA256SUMS' --sse aws:kms
# Receiving side: download and verify before using anything
aws s3 cp "s3://$HANDOVER_BUCKET/{migration}/" {dumps}/ --recursive
cd {dumps} && sha256sum -c SHA256SUMS"#,
        action: None,
        when: When::Always,
    },
    // ---------------------------------------------------------------- migration-cluster
    Step {
        id: ids::CREATE_MIGRATION_CLUSTER,
        title: "Create the migration cluster",
        phase: "migration-cluster",
        kind: StepKind::Manual,
        destructive: false,
        gate: Gate::Confirm,
        owners: MIGRATION_WORK,
        seed: Some("Creation of migration cluster"),
        doc: "Creates the OpenShift cluster in the migration AWS account on which 3scale is \
              restored at the source version and upgraded; the seed has it done prior to the \
              migration window. Its OpenShift version must support the source 3scale version, \
              and every version on the upgrade path must be supported by the cluster at the \
              time it is installed, so an OpenShift upgrade may be needed in between. Its apps \
              domain is the migration wildcard domain of the config. Source and destination \
              are not touched.",
        changes: None,
        procedure: r#"# Before the window. ROSA shown; for OSD use OpenShift Cluster Manager.
# Pick an OpenShift version that supports the source 3scale version.
rosa create cluster --cluster-name "$MIGRATION_CLUSTER_NAME" --sts --mode auto \
  --region "$AWS_REGION" --version "$MIGRATION_OCP_VERSION"
rosa describe cluster -c "$MIGRATION_CLUSTER_NAME"
# Log in (interactive) into the kubeconfig and context the config names
oc login "$MIGRATION_API_URL" --kubeconfig {migration_cluster.kubeconfig}
oc --kubeconfig {migration_cluster.kubeconfig} config rename-context \
  "$(oc --kubeconfig {migration_cluster.kubeconfig} config current-context)" \
  {migration_cluster.context}
chmod 600 {migration_cluster.kubeconfig}
# The apps domain must equal the migration wildcard domain: {migration_cluster.wildcard_domain}
{oc.migration_cluster} get ingresses.config.openshift.io cluster \
  -o custom-columns=DOMAIN:.spec.domain
oc --kubeconfig {migration_cluster.kubeconfig} --context {migration_cluster.context} \
  new-project {migration_cluster.namespace}"#,
        action: None,
        when: When::Always,
    },
    Step {
        id: ids::CONNECT_MIGRATION_AWS,
        title: "Connect the migration cluster to AWS",
        phase: "migration-cluster",
        kind: StepKind::Manual,
        destructive: false,
        gate: Gate::Confirm,
        owners: MIGRATION_WORK,
        seed: Some("Connecting migration cluster to AWS account"),
        doc: "Provides the data stores 3scale uses on the migration cluster from the migration \
              AWS account: a PostgreSQL (RDS) instance for the system database and an empty \
              Redis (ElastiCache) for backend and system, with networking so the cluster's \
              nodes reach them. Their versions must suit every 3scale version on the upgrade \
              path (3scale 2.16 supports PostgreSQL 13 and Redis 7). AWS manages the database \
              password (--manage-master-user-password); it is read into a shell variable, never \
              typed into a command. Nothing outside the migration account changes.",
        changes: None,
        procedure: r#"# System database: RDS PostgreSQL, password kept by AWS Secrets Manager
aws rds create-db-instance --db-instance-identifier "$MIGRATION_DB_ID" --engine postgres \
  --engine-version "$MIGRATION_PG_VERSION" --db-instance-class db.m6g.large \
  --allocated-storage 100 --master-username threescale --manage-master-user-password \
  --db-name system --vpc-security-group-ids "$MIGRATION_SG" \
  --db-subnet-group-name "$MIGRATION_DB_SUBNETS" --no-publicly-accessible
aws rds wait db-instance-available --db-instance-identifier "$MIGRATION_DB_ID"
# Empty Redis for backend (DB 0 storage, DB 1 queues) and system (DB 1 of a second group)
for G in "$MIGRATION_REDIS_ID" "$MIGRATION_SYSTEM_REDIS_ID"; do
  aws elasticache create-replication-group --replication-group-id "$G" \
    --replication-group-description "3scale migration" --engine redis \
    --cache-node-type cache.m6g.large --num-cache-clusters 1 \
    --cache-subnet-group-name "$MIGRATION_REDIS_SUBNETS" --security-group-ids "$MIGRATION_SG"
done
# Network: same VPC or peering; the security group allows 5432 and 6379 from the workers.
# Check from inside the cluster
{oc.migration_cluster} run cutover-net-check --rm -i --restart=Never \
  --image=registry.redhat.io/rhel9/postgresql-15 -- pg_isready -h "$MIGRATION_DB_HOST" -p 5432
{oc.migration_cluster} run cutover-net-check --rm -i --restart=Never \
  --image=registry.redhat.io/rhel9/redis-7 -- redis-cli -h "$MIGRATION_REDIS_HOST" PING
# Read the database password into the shell (for the URL used by the next steps)
export MIGRATION_DB_PASSWORD=$(aws secretsmanager get-secret-value --secret-id \
  "$MIGRATION_DB_SECRET_ARN" --query SecretString --output text | jq -r .password)"#,
        action: None,
        when: When::Always,
    },
    Step {
        id: ids::INSTALL_SOURCE_3SCALE,
        title: "Install the source 3scale version on the migration cluster",
        phase: "migration-cluster",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: MIGRATION_WORK,
        seed: None,
        doc: "Installs the 3scale operator on the migration cluster at exactly the source's \
              version: its channel (threescale-2.N) and CSV, with manual install-plan approval \
              so OLM never upgrades it on its own. The APIManager is created later, once the \
              database is restored. The table is silent on this step (the common-steps list \
              names it); the owner follows whoever owns the migration cluster in the table \
              (\"Creation of migration cluster\"), and the seed's no-access list gives all \
              migration-cluster work to the customer. The installation is done by the \
              procedure; cutover checks it: the installed 3scale-operator CSV (the \
              Subscription's installedCSV, phase Succeeded) ships the source's 3scale minor as \
              the inventory recorded it, and an APIManager, when there is one already, carries \
              that version in apps.3scale.net/apimanager-threescale-version. A mismatch fails \
              naming both versions.",
        changes: None,
        procedure: r#"# The source's channel and CSV, e.g. threescale-2.14 / 3scale-operator.v0.11.x
{oc.source} get csv,subscription | grep -i 3scale
export SOURCE_CHANNEL=threescale-2.14 SOURCE_CSV=3scale-operator.v0.11.0
cat <<EOF | {oc.migration_cluster} apply -f -
apiVersion: operators.coreos.com/v1
kind: OperatorGroup
metadata:
  name: threescale
spec:
  targetNamespaces:
  - {migration_cluster.namespace}
---
apiVersion: operators.coreos.com/v1alpha1
kind: Subscription
metadata:
  name: 3scale-operator
spec:
  channel: $SOURCE_CHANNEL
  name: 3scale-operator
  source: redhat-operators
  sourceNamespace: openshift-marketplace
  installPlanApproval: Manual
  startingCSV: $SOURCE_CSV
EOF
# Approve the first install plan, then wait for the CSV to succeed
{oc.migration_cluster} get installplan
{oc.migration_cluster} patch installplan/"$INSTALL_PLAN" --type merge \
  -p '{"spec":{"approved":true}}'
{oc.migration_cluster} get csv -w"#,
        action: Some(Action::CheckSourceThreescale),
        when: When::Always,
    },
    Step {
        id: ids::CONVERT_SYSTEM_DATABASE,
        title: "Convert the system database to PostgreSQL",
        phase: "migration-cluster",
        kind: StepKind::Automated,
        destructive: true,
        gate: Gate::Typed("convert system database"),
        owners: MIGRATION_WORK,
        seed: Some(SEED_RESTORE_DB),
        doc: "Turns a MySQL system database into PostgreSQL in the migration AWS account. The \
              PostgreSQL schema of the same 3scale version must be loaded first (db:schema:load \
              with db/postgres_schema.rb, from the source's system image), so table and column \
              types are the ones 3scale expects: cutover loads the SQL file convert.postgres_schema \
              into a target without 3scale tables, and fails without it. Then pgloader copies \
              the data only, from a scratch MySQL (convert.scratch_mysql_url) loaded with the \
              dump after its SHA-256 is checked against the manifest, or else from the source \
              directly, casting tinyint(1) to boolean, binary and blobs to bytea, medium and \
              long text to text and zero dates to NULL; schema_migrations keeps the rows of the \
              schema load. pgloader's summary is read for rejected rows, every id sequence is \
              set past the highest id, and every table's row count is compared with the one \
              saved at dump time. A target whose 3scale tables hold rows is emptied only after \
              the operator types `empty <database>`. Oracle is not automated: a DBA converts it \
              with ora2pg (COPY of the data into the same pre-loaded schema), then runs the same \
              sequence reset and count comparison.",
        changes: Some(
            "In the migration AWS account's PostgreSQL system database: loads the 3scale \
             schema of the source version when none is there, empties its 3scale tables when \
             they hold rows (after the typed `empty <database>`), loads every row of the MySQL \
             database and resets the id sequences. The scratch MySQL, when configured, gets the \
             dump's tables; the dump folder gets the load file and pgloader's log. The manual \
             procedure also creates, on the migration cluster (namespace \
             {migration_cluster.namespace}), the secrets schema-load and mysql-scratch, the Job \
             system-schema-load and the pod mysql-scratch, all deleted at the end.",
        ),
        procedure: concat!(
            counts_var!(),
            r#"# Exported by the operator: MIGRATION_SYSTEM_DATABASE_URL (with ?sslmode=require),
# MIGRATION_DB_USER, MIGRATION_DB_HOST, PGPASSWORD (for pgloader), SCRATCH_MYSQL_PASSWORD
# and SYSTEM_IMAGE, the source's system-app image:
#   {oc.source} get $KIND/system-app -o custom-columns=I:.spec.template.spec.containers[0].image
umask 077
# 1. Refuse a target that already has 3scale tables (must print 0)
psql "$MIGRATION_SYSTEM_DATABASE_URL" -Atc "SELECT count(*) FROM information_schema.tables
  WHERE table_schema = 'public' AND table_name IN ('accounts', 'schema_migrations')"
# 2. The PostgreSQL schema of the same 3scale version
{oc.migration_cluster} create secret generic schema-load --from-env-file=<(printf \
  'DATABASE_URL=%s\nSECRET_KEY_BASE=%s\n' "$MIGRATION_SYSTEM_DATABASE_URL" \
  "$(openssl rand -hex 64)")
cat <<EOF | {oc.migration_cluster} apply -f -
apiVersion: batch/v1
kind: Job
metadata:
  name: system-schema-load
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: schema
        image: $SYSTEM_IMAGE
        command: ["bash", "-c", "bundle exec rake db:schema:load SCHEMA=db/postgres_schema.rb"]
        env:
        - name: RAILS_ENV
          value: production
        - name: THREESCALE_SUPERDOMAIN
          value: {migration_cluster.wildcard_domain}
        envFrom:
        - secretRef:
            name: schema-load
EOF
{oc.migration_cluster} wait --for=condition=complete job/system-schema-load --timeout=20m
{oc.migration_cluster} logs job/system-schema-load | tail -n 20
# 3. A scratch MySQL loaded with the dump
{oc.migration_cluster} create secret generic mysql-scratch --from-env-file=<(printf \
  'MYSQL_ROOT_PASSWORD=%s\n' "$SCRATCH_MYSQL_PASSWORD")
cat <<EOF | {oc.migration_cluster} apply -f -
apiVersion: v1
kind: Pod
metadata:
  name: mysql-scratch
spec:
  containers:
  - name: mysql
    image: registry.redhat.io/rhel9/mysql-80
    envFrom:
    - secretRef:
        name: mysql-scratch
EOF
{oc.migration_cluster} wait --for=condition=Ready pod/mysql-scratch --timeout=10m
# pgloader 3.x cannot log in with caching_sha2_password: switch root to native passwords
printf "ALTER USER 'root'@'%%' IDENTIFIED WITH mysql_native_password BY '%s';
CREATE DATABASE system;\n" "$SCRATCH_MYSQL_PASSWORD" | {oc.migration_cluster} exec -i \
  mysql-scratch -- bash -c 'MYSQL_PWD=$MYSQL_ROOT_PASSWORD mysql -h127.0.0.1 -uroot'
{oc.migration_cluster} exec -i mysql-scratch -- bash -c 'MYSQL_PWD=$MYSQL_ROOT_PASSWORD mysql \
  -h127.0.0.1 -uroot --default-character-set=utf8mb4 system' < {dumps}/system-mysql.sql
{oc.migration_cluster} port-forward pod/mysql-scratch 13306:3306 >/dev/null &
# 4. Data only, into the pre-loaded schema (MySQL database "system" -> schema public)
cat > {dumps}/system.load <<EOF
LOAD DATABASE
  FROM mysql://root@127.0.0.1:13306/system
  INTO pgsql://$MIGRATION_DB_USER@$MIGRATION_DB_HOST:5432/system?sslmode=require
WITH data only, truncate, reset sequences, workers = 4, concurrency = 1,
     batch rows = 10000, prefetch rows = 10000
SET PostgreSQL PARAMETERS session_replication_role to 'replica'
CAST type tinyint when (= precision 1) to boolean drop typemod using tinyint-to-boolean,
     type binary to bytea using byte-vector-to-bytea,
     type varbinary to bytea using byte-vector-to-bytea,
     type tinyblob to bytea using byte-vector-to-bytea,
     type blob to bytea using byte-vector-to-bytea,
     type mediumblob to bytea using byte-vector-to-bytea,
     type longblob to bytea using byte-vector-to-bytea,
     type mediumtext to text drop typemod using remove-null-characters,
     type longtext to text drop typemod using remove-null-characters,
     type datetime to timestamp drop default drop not null using zero-dates-to-null,
     type date drop not null drop default using zero-dates-to-null
EXCLUDING TABLE NAMES MATCHING 'schema_migrations', 'ar_internal_metadata'
ALTER SCHEMA 'system' RENAME TO 'public'
;
EOF
MYSQL_PWD="$SCRATCH_MYSQL_PASSWORD" pgloader {dumps}/system.load
# 5. Sequences to the highest id, then counts against the dump's
psql "$MIGRATION_SYSTEM_DATABASE_URL" -Atc "SELECT format('SELECT setval(%L, COALESCE(
  (SELECT max(id) FROM %I), 0) + 1, false);', s, t) FROM (SELECT table_name AS t,
  pg_get_serial_sequence(quote_ident(table_name), 'id') AS s FROM information_schema.columns
  WHERE table_schema = 'public' AND column_name = 'id') x WHERE s IS NOT NULL" \
  | psql "$MIGRATION_SYSTEM_DATABASE_URL" -q -o /dev/null
psql "$MIGRATION_SYSTEM_DATABASE_URL" -At -F ' ' -c "$COUNTS" \
  | diff - {dumps}/system-database.counts && echo counts match
# Oracle instead (manual, by a DBA): schema as in 2., then with ora2pg.conf (mode 0600) naming
# ORACLE_DSN/ORACLE_USER/ORACLE_PWD, SCHEMA, PG_DSN/PG_USER/PG_PWD:
#   ora2pg -c ora2pg.conf -t SHOW_REPORT --estimate_cost
#   ora2pg -c ora2pg.conf -t COPY -b {dumps}/ora2pg     # then load, and do 5.
{oc.migration_cluster} delete job/system-schema-load pod/mysql-scratch \
  secret/schema-load secret/mysql-scratch"#
        ),
        action: Some(Action::ConvertSystemDatabase),
        when: When::SourceDbIs(&[DbKind::Mysql, DbKind::Oracle]),
    },
    Step {
        id: ids::RESTORE_SYSTEM_DATABASE,
        title: "Restore the system database on the migration AWS account",
        phase: "migration-cluster",
        kind: StepKind::Automated,
        destructive: true,
        gate: Gate::Typed("restore system database"),
        owners: MIGRATION_WORK,
        seed: Some(SEED_RESTORE_DB),
        doc: "Restores the PostgreSQL system database dump into the migration AWS account's \
              database with pg_restore --no-owner --no-acl, so every object belongs to the \
              connecting user and no source role has to exist. It refuses a target that \
              already has 3scale tables (accounts, schema_migrations): restoring over an \
              existing schema would mix two data sets. Row counts of the main tables are \
              compared with those saved at dump time. pg_restore must be at least the major \
              version of the pg_dump that wrote the archive; with PostgreSQL 15 and later the \
              connecting user needs CREATE on schema public.",
        changes: Some(
            "In the migration AWS account's PostgreSQL system database (empty before): creates \
             every table, index and sequence of the source system database and loads its rows. \
             Nothing on the source or destination changes.",
        ),
        procedure: concat!(
            counts_var!(),
            r#"# MIGRATION_SYSTEM_DATABASE_URL exported by the operator; dumps received through the
# hand-over are decrypted first:
#   age -d -i "$AGE_IDENTITY_FILE" -o {dumps}/system-database.dump {dumps}/system-database.dump.age
# Refuse a target that already has 3scale tables (must print 0)
psql "$MIGRATION_SYSTEM_DATABASE_URL" -Atc "SELECT count(*) FROM information_schema.tables
  WHERE table_schema = 'public' AND table_name IN ('accounts', 'schema_migrations')"
pg_restore --no-owner --no-acl --exit-on-error -j 4 \
  -d "$MIGRATION_SYSTEM_DATABASE_URL" {dumps}/system-database.dump
psql "$MIGRATION_SYSTEM_DATABASE_URL" -c 'ANALYZE'
psql "$MIGRATION_SYSTEM_DATABASE_URL" -At -F ' ' -c "$COUNTS" \
  | diff - {dumps}/system-database.counts && echo counts match"#
        ),
        action: Some(Action::RestoreSystemDatabase),
        when: When::SourceDbIs(&[DbKind::Postgresql]),
    },
    Step {
        id: ids::REWRITE_ROUTES_MIGRATION,
        title: "Rewrite the domains for the migration cluster",
        phase: "migration-cluster",
        kind: StepKind::Automated,
        destructive: true,
        gate: Gate::Previewed("rewrite routes"),
        owners: MIGRATION_WORK,
        seed: Some("Data manipulation"),
        doc: "Rewrites the columns derived from the wildcard domain from \
              {source.wildcard_domain} to {migration_cluster.wildcard_domain}: the tenant and \
              master hosts (accounts.domain, self_domain), the APIcast endpoints and their \
              hosts (proxies.endpoint, sandbox_endpoint, staging_domain, production_domain) and \
              the proxy configurations APIcast looks up by host (proxy_configs.hosts, content). \
              In the JSON of proxy_configs.content only proxy.endpoint, sandbox_endpoint, \
              hosts, backend.endpoint and backend.host change. The domain matches only as a \
              whole suffix of a host, never a substring. A preview comes first (rows per column, \
              the first rows before and after, the whole list in {dumps}/<step>-preview.txt), \
              then the typed phrase, then one transaction that scans every text and JSON column \
              afterwards and rolls back, naming the columns, when the old domain is left \
              anywhere but in the reported ones. Hosts that belong to their owners \
              (authentication providers, OIDC issuers, policies, private backends, API docs, \
              webhooks, e-mail addresses, OAuth redirect URLs) are reported row by row, never \
              rewritten. Routes and backend follow when 3scale connects (zync:resync:domains).",
        changes: Some(
            "In the migration AWS account's system database, one transaction: replaces the \
             domain suffix {source.wildcard_domain} with {migration_cluster.wildcard_domain} in \
             accounts.domain, accounts.self_domain, proxies.endpoint, proxies.sandbox_endpoint, \
             proxies.staging_domain, proxies.production_domain, proxy_configs.hosts and \
             proxy_configs.content. Other columns are only counted.",
        ),
        procedure: concat!(
            rewrite_script!(),
            r#"# Rewrite source -> migration domain; the counts print before the COMMIT prompt
psql "$MIGRATION_SYSTEM_DATABASE_URL" -v old='{source.wildcard_domain}' \
  -v new='{migration_cluster.wildcard_domain}' -L {dumps}/rewrite-routes-migration.log \
  -f {dumps}/rewrite-routes.sql
psql "$MIGRATION_SYSTEM_DATABASE_URL" -Atc "SELECT domain, self_domain FROM accounts
  WHERE provider = true OR master = true ORDER BY id""#
        ),
        action: Some(Action::RewriteRoutes),
        when: When::Always,
    },
    Step {
        id: ids::CONNECT_MIGRATION_3SCALE,
        title: "Connect 3scale on the migration cluster to the data",
        phase: "migration-cluster",
        kind: StepKind::Automated,
        destructive: false,
        gate: Gate::Confirm,
        owners: MIGRATION_WORK,
        seed: Some("Connecting the system database and empty redis instance to migration"),
        doc: "Starts 3scale of the source version on the migration cluster against the \
              restored system database and the empty Redis. The connection secrets \
              system-database, backend-redis and system-redis (the migration AWS account's \
              stores, made when it was connected) must be there: a missing one stops the step \
              before anything changes, naming the command that makes it. The source secrets the \
              data depends on (system-seed, system-app, system-master-apicast, \
              backend-internal-api, system-events-hook, system-recaptcha, zync) and the \
              apicast-environment configmap are applied from the verified, decrypted secrets \
              dump, as the official restore procedure does; then the APIManager is created with \
              the migration wildcard domain, those components external, and the source's \
              tenant name and file storage. Once it is Available, zync:resync:domains recreates \
              the routes for the rewritten domains and backend:storage:enqueue_rewrite rebuilds \
              backend's copy of the configuration, and the step waits until zync routes every \
              host of the database. system-environment and backend-listener are not restored: \
              they carry the source's domain, and the operator creates them from the \
              APIManager; system-smtp is left out so the migration cluster cannot mail real \
              users.",
        changes: None,
        procedure: concat!(
            source_kind!(),
            r#"# Source secrets the data depends on (decrypted with this party's age identity)
# (not system-smtp: the migration cluster must not mail the customer's users)
for S in system-seed system-app system-master-apicast backend-internal-api \
         system-events-hook system-recaptcha zync; do
  F={dumps}/secrets/secret-$S.json.age; [ -f "$F" ] || continue
  age -d -i "$AGE_IDENTITY_FILE" "$F" | {oc.migration_cluster} apply -f -
done
age -d -i "$AGE_IDENTITY_FILE" {dumps}/secrets/configmap-apicast-environment.json.age \
  | {oc.migration_cluster} apply -f -
# Connection secrets for the migration AWS account (values from shell variables)
{oc.migration_cluster} create secret generic system-database --from-env-file=<(printf \
  'URL=%s\nDB_USER=%s\nDB_PASSWORD=%s\n' "$MIGRATION_SYSTEM_DATABASE_URL" \
  "$MIGRATION_DB_USER" "$MIGRATION_DB_PASSWORD")
{oc.migration_cluster} create secret generic backend-redis \
  --from-literal=REDIS_STORAGE_URL="redis://$MIGRATION_REDIS_HOST:6379/0" \
  --from-literal=REDIS_QUEUES_URL="redis://$MIGRATION_REDIS_HOST:6379/1"
{oc.migration_cluster} create secret generic system-redis \
  --from-literal=URL="redis://$MIGRATION_SYSTEM_REDIS_HOST:6379/1"
# APIManager: copy tenantName and system.fileStorage from the source's (apimanager-*.json.age);
# the default file storage is a ReadWriteMany volume: give a RWX storage class or S3
cat <<EOF | {oc.migration_cluster} apply -f -
apiVersion: apps.3scale.net/v1alpha1
kind: APIManager
metadata:
  name: 3scale
spec:
  wildcardDomain: {migration_cluster.wildcard_domain}
  externalComponents:
    system:
      database: true
      redis: true
    backend:
      redis: true
EOF
{oc.migration_cluster} wait --for=condition=Available apimanager/3scale --timeout=30m
# Routes for the rewritten domains, and backend's configuration from the database
SK=$({oc.migration_cluster} get pods -l $POD_LABEL=system-sidekiq -o name | head -n1)
{oc.migration_cluster} exec $SK -- bash -c 'bundle exec rake zync:resync:domains'
{oc.migration_cluster} exec $SK -- bash -c 'bundle exec rake backend:storage:enqueue_rewrite'
{oc.migration_cluster} get routes -o custom-columns=NAME:.metadata.name,HOST:.spec.host
curl -sS -o /dev/null -D - https://master.{migration_cluster.wildcard_domain}/p/login | head -n1"#
        ),
        action: Some(Action::ConnectMigration3scale),
        when: When::Always,
    },
    Step {
        id: ids::UPGRADE_3SCALE,
        title: "Upgrade 3scale to the RHOAM-matching version",
        phase: "migration-cluster",
        kind: StepKind::Automated,
        destructive: true,
        gate: Gate::Typed("upgrade 3scale"),
        owners: MIGRATION_WORK,
        seed: Some("Going through 3scale"),
        doc: "Upgrades 3scale on the migration cluster from the source version to the version \
              RHOAM runs, one minor version at a time through the operator channels \
              (threescale-2.N to 2.N+1), following the 3scale upgrade documentation of each \
              hop; the operator runs the database migrations. The seed's row text is cut short; \
              the common-steps list says \"Going through 3scale updates following 3scale docs \
              ... upgrading 3scale from source version to destination matching version\". \
              Hops have their own requirements: 2.15 replaces DeploymentConfigs by Deployments, \
              2.16 needs external system database and Redis (already so here) at supported \
              versions and refuses to skip a minor. cutover does each hop from what the \
              migration cluster shows (the source's version from the inventory, the target \
              from the destination's): it patches the 3scale Subscription's channel to \
              threescale-2.(N+1), approves the InstallPlan only when it installs the next \
              3scale-operator.v0.* (any other is refused and named), waits for that CSV to \
              succeed, for the APIManager's apps.3scale.net/threescale-operator-version and \
              apps.3scale.net/apimanager-threescale-version annotations to move, for Available \
              (and from 2.15 Preflights) to be True, for the system-app-pre and system-app-post \
              Jobs of the hop to complete, and after the 2.15 hop for no DeploymentConfig to be \
              left. A condition that turns False (Preflights refusing a hop, a failed hook Job) \
              stops the step with the operator's message; a hop already done is not done again, \
              a hop half done is continued. Each wait is bounded and named when it runs out. \
              The writers keep running until the destination's rewrite holds them at 0 (as the \
              procedure's last command does), so the rewrite and dump-migration-database see the \
              database as it stays.",
        changes: Some(
            "On the migration cluster, per hop: the 3scale Subscription's spec.channel and the \
             approval of its InstallPlan. The operator then migrates the system database to the \
             next release (system-app-pre's db:migrate), and at 2.15 replaces the \
             DeploymentConfigs by Deployments; there is no way back to the older release.",
        ),
        procedure: r#"# The target: the 3scale version RHOAM runs at the destination
{oc.destination} -n redhat-rhoam-3scale-operator get csv | grep -i 3scale
# One hop: move the subscription to the next minor channel, never skipping one
SUB=$({oc.migration_cluster} get subscription -o name | grep 3scale)
{oc.migration_cluster} patch $SUB --type merge -p '{"spec":{"channel":"threescale-2.15"}}'
{oc.migration_cluster} get installplan
{oc.migration_cluster} patch installplan/"$INSTALL_PLAN" --type merge \
  -p '{"spec":{"approved":true}}'
{oc.migration_cluster} get csv -w
{oc.migration_cluster} wait --for=condition=Available apimanager/3scale --timeout=60m
{oc.migration_cluster} get apimanager/3scale -o yaml | grep -i threescale-version
{oc.migration_cluster} get pods
# Repeat per minor version; upgrade RDS/ElastiCache engines or OpenShift first where a hop
# needs it, e.g. aws rds modify-db-instance --engine-version ... --allow-major-version-upgrade
# When the RHOAM-matching version runs and works: hold the writers for the rewrite and dump
{oc.migration_cluster} get apimanager/3scale -o yaml > {dumps}/migration-apimanager-upgraded.yaml
{oc.migration_cluster} patch apimanager/3scale --type merge -p '{"spec":{"system":{"appSpec":
  {"replicas":0},"sidekiqSpec":{"replicas":0}},"zync":{"queSpec":{"replicas":0}}}}'"#,
        action: Some(Action::UpgradeThreescale),
        when: When::Always,
    },
    Step {
        id: ids::REWRITE_ROUTES_DESTINATION,
        title: "Rewrite the domains for the destination cluster",
        phase: "migration-cluster",
        kind: StepKind::Automated,
        destructive: true,
        gate: Gate::Previewed("rewrite routes"),
        owners: MIGRATION_WORK,
        seed: Some("Data manipulation to ensure the routes will match the destination cluster"),
        doc: "Rewrites the same wildcard-derived columns again, now from \
              {migration_cluster.wildcard_domain} to {destination.wildcard_domain}, in the \
              upgraded database on the migration AWS account, so the data carries the \
              destination's hosts before it is dumped. Same matching, preview, phrase, single \
              verified transaction and report as the first rewrite; first, the destination's \
              APIManager's wildcardDomain and RHOAM's spec.routingSubdomain (RHMI rhoam) must \
              both be destination.wildcard_domain. After the typed phrase and before the \
              transaction, 3scale's writers on the migration cluster (system-app, \
              system-sidekiq, zync-que) are held at 0, or zync would create routes for \
              destination hosts there and the dump would not see the database as it stays; \
              restore-destination-3scale runs the rake tasks on the seeded database. RHOAM expects the default tenant under 3scale-admin.<domain> and \
              master under master.<domain>; other tenant or master names are not changed here.",
        changes: Some(
            "In the migration AWS account's system database, one transaction: replaces the \
             domain suffix {migration_cluster.wildcard_domain} with {destination.wildcard_domain} \
             in accounts.domain, accounts.self_domain, proxies.endpoint, \
             proxies.sandbox_endpoint, proxies.staging_domain, proxies.production_domain, \
             proxy_configs.hosts and proxy_configs.content. Other columns are only counted. \
             Before it, on the migration cluster: system-app, system-sidekiq and zync-que held \
             at 0 (the APIManager's appSpec, sidekiqSpec and queSpec, then the deployments, \
             counts annotated).",
        ),
        procedure: concat!(
            rewrite_script!(),
            r#"# Rewrite migration -> destination domain; the counts print before the COMMIT prompt
psql "$MIGRATION_SYSTEM_DATABASE_URL" -v old='{migration_cluster.wildcard_domain}' \
  -v new='{destination.wildcard_domain}' -L {dumps}/rewrite-routes-destination.log \
  -f {dumps}/rewrite-routes.sql
psql "$MIGRATION_SYSTEM_DATABASE_URL" -Atc "SELECT domain, self_domain FROM accounts
  WHERE provider = true OR master = true ORDER BY id""#
        ),
        action: Some(Action::RewriteRoutes),
        when: When::Always,
    },
    Step {
        id: ids::DUMP_MIGRATION_DATABASE,
        title: "Dump the system database from the migration cluster",
        phase: "migration-cluster",
        kind: StepKind::Automated,
        destructive: false,
        gate: Gate::None,
        owners: MIGRATION_WORK,
        seed: Some("System database dump from migration cluster"),
        doc: "Dumps the upgraded and rewritten system database from the migration AWS account \
              with pg_dump -Fc, with the row counts of the main tables for the seeding check. \
              3scale on the migration cluster should already be stopped so the dump matches the \
              rewrite. Use a pg_dump at least as new as both the migration and the destination \
              server. Read-only.",
        changes: None,
        procedure: concat!(
            "umask 077\n",
            counts_var!(),
            r#"pg_dump -Fc -f {dumps}/migration-system-database.dump \
  "$MIGRATION_SYSTEM_DATABASE_URL"
pg_restore --list {dumps}/migration-system-database.dump > /dev/null && echo archive ok
psql "$MIGRATION_SYSTEM_DATABASE_URL" -At -F ' ' -c "$COUNTS" \
  > {dumps}/migration-system-database.counts
sha256sum {dumps}/migration-system-database.dump > {dumps}/migration-system-database.sha256"#
        ),
        action: Some(Action::DumpMigrationDatabase),
        when: When::Always,
    },
    // ---------------------------------------------------------------- destination
    Step {
        id: ids::PAUSE_DESTINATION,
        title: "Pause RHOAM and 3scale at the destination",
        phase: "destination",
        kind: StepKind::Automated,
        destructive: true,
        gate: Gate::Typed("pause destination"),
        owners: REDHAT_ALL,
        seed: None,
        doc: "Before RHOAM's data changes, nothing may reconcile or write: RHOAM's operator is \
              paused first (it would bring the 3scale operator back), then the 3scale operator \
              (it would scale the components back), then 3scale's components. Each keeps its \
              count in cutover.io/pre-migration-replicas (one already at 0 keeps the count its \
              annotation holds; one that does not exist is noted) and stays at 0 until \
              restore-destination-3scale starts them again. Red Hat's on every path: on a \
              managed cluster only Red Hat may change RHOAM's namespaces, so where the customer \
              moves the data (seed-destination-database on no-access, restore-backend-redis on \
              further-limited and no-access) this is a hand-off, and those steps check that the \
              destination is paused before they change anything. system-memcache and the \
              external data stores are left alone.",
        changes: Some(
            "On the destination cluster: annotates with cutover.io/pre-migration-replicas and \
             scales to 0 the deployment rhmi-operator (namespace redhat-rhoam-operator), \
             threescale-operator-controller-manager-v2 (redhat-rhoam-3scale-operator) and the \
             3scale deployments apicast-production, apicast-staging, system-app, \
             system-sidekiq, backend-listener, backend-worker, backend-cron, zync-que, zync and \
             system-searchd in {destination.namespace}, and leaves them at 0.",
        ),
        procedure: r#"umask 077
# Record, then pause RHOAM and the 3scale operator, then stop 3scale's components
{oc.destination} get deployment -o custom-columns=NAME:.metadata.name,REPLICAS:.spec.replicas \
  --no-headers > {dumps}/destination-replicas-before-pause.txt
pause() {  # namespace deployment
  R=$({oc.destination} -n "$1" get deployment/"$2" -o custom-columns=R:.spec.replicas --no-headers)
  [ "$R" = 0 ] || {oc.destination} -n "$1" annotate deployment/"$2" \
    cutover.io/pre-migration-replicas="$R" --overwrite
  {oc.destination} -n "$1" scale deployment/"$2" --replicas=0
}
pause redhat-rhoam-operator rhmi-operator
pause redhat-rhoam-3scale-operator threescale-operator-controller-manager-v2
for D in apicast-production apicast-staging system-app system-sidekiq backend-listener \
         backend-worker backend-cron zync-que zync system-searchd; do
  pause {destination.namespace} $D
done
{oc.destination} get pods   # none of those deployments' pods is left"#,
        action: Some(Action::PauseDestination),
        when: When::Always,
    },
    Step {
        id: ids::SEED_DESTINATION_DATABASE,
        title: "Seed the destination system database",
        phase: "destination",
        kind: StepKind::Automated,
        destructive: true,
        gate: Gate::Typed("seed destination database"),
        owners: MIGRATION_WORK,
        seed: Some("Seeding the destination cluster system database"),
        doc: "Replaces the system database of RHOAM's freshly installed 3scale with the \
              migration cluster's dump (the one dump-migration-database recorded, else \
              migration-system-database.dump with its .json record in {dumps}), after checking \
              it against the manifest: a changed byte stops the step before anything changes. \
              The destination must be paused (pause-destination: RHOAM's operator, the 3scale \
              operator and 3scale's components at 0), or the step stops, naming what runs; so \
              must the dump be of RHOAM's 3scale release (schema_migrations), or the step names \
              the upgrade hops. The database RHOAM created (RDS \
              through the Cloud Resource Operator, URL in secret system-database) is dumped to \
              the dump folder as a fallback, then pg_restore --clean --if-exists --no-owner \
              --no-acl replaces every object from the dump and every table's rows are checked \
              against the dump's counts; the connection details stay RHOAM's. cutover reaches \
              the database by destination.system_database_url. The RDS instance is usually \
              reachable only from inside the cluster: without that URL (or a tunnel to it), \
              run the procedure, whose client runs in a pod that reads the URL from the secret \
              (Red Hat's to start where the customer cannot create pods in RHOAM's namespace); \
              the step then stops before changing anything and says so.",
        changes: Some(
            "On the destination's system database: saves a dump of it as it is now to \
             {dumps}/destination-system-database-before-seed.dump; then drops and recreates \
             every object of the migration cluster's dump in that database. The procedure \
             also creates pod cutover-pg-client in {destination.namespace}. No workload is \
             scaled; the RDS instance, its users and the secrets are not changed.",
        ),
        procedure: concat!(
            "umask 077\n",
            counts_var!(),
            r#"# The destination must be paused (pause-destination): every one of these at 0
{oc.destination} -n redhat-rhoam-operator get deployment rhmi-operator
{oc.destination} -n redhat-rhoam-3scale-operator get deployment \
  threescale-operator-controller-manager-v2
{oc.destination} get deployment apicast-production apicast-staging system-app system-sidekiq \
  backend-listener backend-worker backend-cron zync-que zync system-searchd
# A client pod that reads the database URL from RHOAM's secret (image major >= the server's)
cat <<EOF | {oc.destination} apply -f -
apiVersion: v1
kind: Pod
metadata:
  name: cutover-pg-client
spec:
  restartPolicy: Never
  containers:
  - name: psql
    image: registry.redhat.io/rhel9/postgresql-16
    command: ["sleep", "infinity"]
    env:
    - name: DATABASE_URL
      valueFrom:
        secretKeyRef:
          name: system-database
          key: URL
EOF
{oc.destination} wait --for=condition=Ready pod/cutover-pg-client --timeout=5m
# Fallback: RHOAM's database as it is now
{oc.destination} exec cutover-pg-client -- bash -c 'pg_dump -Fc "$DATABASE_URL"' \
  > {dumps}/destination-system-database-before-seed.dump
# Replace every object with the migration dump
{oc.destination} exec -i cutover-pg-client -- bash -c 'cat > /tmp/seed.dump' \
  < {dumps}/migration-system-database.dump
{oc.destination} exec cutover-pg-client -- bash -c 'pg_restore --clean --if-exists \
  --no-owner --no-acl --exit-on-error -d "$DATABASE_URL" /tmp/seed.dump'
{oc.destination} exec -i cutover-pg-client -- bash -c 'psql "$DATABASE_URL" -At -F " "' \
  <<< "$COUNTS" | diff - {dumps}/migration-system-database.counts && echo counts match"#
        ),
        action: Some(Action::SeedDestinationDatabase),
        when: When::Always,
    },
    Step {
        id: ids::RESTORE_BACKEND_REDIS,
        title: "Restore the analytics into the destination backend Redis",
        phase: "destination",
        kind: StepKind::Automated,
        destructive: true,
        gate: Gate::Typed("restore analytics"),
        owners: ANALYTICS_WORK,
        seed: Some(SEED_ANALYTICS),
        doc: "Brings the source's backend storage (usage statistics and analytics, which exist \
              only there) into the destination's backend Redis. On RHOAM that is ElastiCache, \
              which cannot load an RDB file, so the copy is logical (cutover redis copy): \
              every key of the storage database, strings by value and other types with DUMP \
              and RESTORE, each with its absolute expiry. The keys \
              are read from the source backend storage itself when the config names it and it \
              answers; otherwise from backend-redis.rdb, first checked against manifest.json \
              (a changed byte stops the step, naming the file), then served by a scratch \
              redis-server on this host (it must be installed, at least as new as the dumped \
              Redis); no pod is started in RHOAM's namespace, which the customer may not \
              change. The destination must be paused (pause-destination), or backend would \
              write while the copy runs. Database 0 of the destination is flushed first, after \
              its key count is \
              recorded, since it only holds what the fresh RHOAM install wrote; database 1 \
              (backend queues) and the system Redis are left alone. The destination is then \
              compared with the source: after a copy from the dump any difference fails the \
              step; a live source that changed meanwhile (traffic not stopped) is a warning. A \
              DUMP payload from a newer Redis than the destination's is refused; check-redis \
              shows both.",
        changes: Some(
            "In the destination's backend Redis (REDIS_STORAGE_URL of secret backend-redis in \
             {destination.namespace}), logical database 0 only: records its key count, flushes \
             it, and writes every key of the source backend storage dump with its TTL. \
             Database 1 and the system Redis are not touched.",
        ),
        procedure: r#"umask 077
# The destination must be paused (pause-destination): backend-listener and backend-worker at 0
{oc.destination} get deployment backend-listener backend-worker
# From a host that reaches the destination's ElastiCache (no pod in RHOAM's namespace): a
# scratch Redis on this host serves the source dump
mkdir -p /tmp/cutover-scratch && cp {dumps}/backend-redis.rdb /tmp/cutover-scratch/dump.rdb
redis-server --port 16379 --bind 127.0.0.1 --dir /tmp/cutover-scratch --dbfilename dump.rdb \
  --save '' --appendonly no --daemonize yes
redis-cli -p 16379 -n 0 DBSIZE
# Record, then flush database 0 of the destination backend Redis (REDIS_STORAGE_URL)
redis-cli -u "$DESTINATION_BACKEND_STORAGE_URL" DBSIZE \
  | tee {dumps}/destination-backend-redis-before-restore.dbsize
redis-cli -u "$DESTINATION_BACKEND_STORAGE_URL" FLUSHDB
cutover redis copy --from redis://127.0.0.1:16379/0 --to "$DESTINATION_BACKEND_STORAGE_URL"
redis-cli -u "$DESTINATION_BACKEND_STORAGE_URL" DBSIZE
redis-cli -p 16379 SHUTDOWN NOSAVE
# Only where ElastiCache answers from the cluster alone (Red Hat, limited path): a scratch pod
# in {destination.namespace} serves the dump and MIGRATEs its keys, 500 a call
#   {oc.destination} run cutover-redis-scratch --image=registry.redhat.io/rhel9/redis-7 \
#     --restart=Never --command -- sleep infinity
#   {oc.destination} exec -i cutover-redis-scratch -- bash -c 'cat > /tmp/dump.rdb' \
#     < {dumps}/backend-redis.rdb
#   {oc.destination} exec cutover-redis-scratch -- redis-server --port 16379 --dir /tmp \
#     --dbfilename dump.rdb --save '' --appendonly no --daemonize yes
#   {oc.destination} exec cutover-redis-scratch -- bash -c "redis-cli -p 16379 -n 0 --scan \
#     | xargs -n 500 redis-cli -p 16379 -n 0 MIGRATE $DEST_REDIS_HOST 6379 '' 0 60000 COPY KEYS""#,
        action: Some(Action::RestoreBackendRedis),
        when: When::Always,
    },
    Step {
        id: ids::PUSH_SECRETS,
        title: "Push the 3scale secrets to the destination",
        phase: "destination",
        kind: StepKind::Automated,
        destructive: true,
        gate: Gate::Typed("push secrets"),
        owners: MIGRATION_WORK,
        seed: None,
        doc: "Replaces the destination secrets whose values must match the migrated data: \
              system-seed (master and admin tokens and passwords stored in the database), \
              system-app (SECRET_KEY_BASE), system-master-apicast (the token APIcast uses, a \
              row of the database) and system-recaptcha. RHOAM keeps its own copies of \
              system-seed and system-master-apicast in its operator namespace and restores \
              them from there, so those copies are replaced too where they exist. As in the \
              3scale operator's restore, system-database, backend-redis, system-redis and \
              system-memcache stay the destination's (they point at its own stores); on RHOAM so \
              do zync, backend-listener, backend-internal-api, system-events-hook, system-smtp, \
              the S3 secret, the configmaps and the APIManager, which RHOAM reconciles. When no \
              secrets dump is in the dump folder and the config names the source cluster, the \
              step offers to export it first (the operator types `export now`). Every file of \
              the secrets dump is checked against manifest.json (a changed byte stops the \
              step, naming the file) and decrypted in memory with dumps.age_identity. \
              TENANT_NAME and MASTER_DOMAIN must be the destination's (3scale and master for \
              RHOAM): a source with others is refused, nothing pushed. So is a source whose \
              MASTER_ACCESS_TOKEN or ADMIN_ACCESS_TOKEN is not a `rw` token of the master or \
              the tenant admin user in the migrated database (the destination's, after the \
              seed; compared by SHA-256): RHOAM calls 3scale with them. The diff (per secret, \
              the key names added, changed and removed, never a value) is shown and the \
              operator types `push N secrets`; the current values are saved encrypted first, \
              then each secret's data is replaced with exactly the source's, keeping its \
              labels, annotations and owner references, and read back to compare. The table \
              is silent on this step. On the limited and further-limited paths Red Hat holds \
              the secrets dump (the customer hands it over) and has full access to the \
              destination cluster. On the no-access path the dumps stay with the customer, and \
              the seed's no-access list gives the customer the restores at the destination, so \
              the customer pushes the secrets there.",
        changes: Some(
            "On the destination cluster: saves the current secrets system-seed, system-app, \
             system-master-apicast and system-recaptcha of {destination.namespace} and RHOAM's \
             copies of system-seed and system-master-apicast in namespace \
             redhat-rhoam-operator, encrypted with age, to {dumps}/destination-secrets-before; \
             replaces the data of each with the source's (keys the source lacks are removed; \
             a secret absent from {destination.namespace} is created; an absent copy in \
             redhat-rhoam-operator is left to RHOAM). Other secrets are not touched.",
        ),
        procedure: r#"umask 077; mkdir -p {dumps}/destination-secrets-before/redhat-rhoam-operator
# The dump must be the one the manifest lists (sha256 of every secrets/ file)
jq -r '.artifacts[] | select(.file | startswith("secrets/")) | "\(.sha256)  \(.file)"' \
  {dumps}/manifest.json | (cd {dumps} && sha256sum -c -)
CLEAN='del(.metadata.uid, .metadata.resourceVersion, .metadata.creationTimestamp,
  .metadata.managedFields, .metadata.ownerReferences, .metadata.namespace,
  .metadata.selfLink, .metadata.generation, .status,
  .metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"])'
# TENANT_NAME and MASTER_DOMAIN of the source must be the destination's (stop otherwise)
for K in TENANT_NAME MASTER_DOMAIN; do
  [ "$(age -d -i "$AGE_IDENTITY_FILE" {dumps}/secrets/secret-system-seed.json.age \
       | jq -r --arg k $K '.data[$k]')" = \
    "$({oc.destination} get secret system-seed -o json | jq -r --arg k $K '.data[$k]')" ] \
    || echo "STOP: $K differs"
done
# The migrated database must hold the source's MASTER_ACCESS_TOKEN and ADMIN_ACCESS_TOKEN as
# rw tokens (RHOAM calls 3scale with them); by SHA-256, through the seed's cutover-pg-client
TOKENS=$(echo "SELECT encode(sha256(value::bytea), 'hex') || ' ' || permission FROM access_tokens;" \
  | {oc.destination} exec -i cutover-pg-client -- bash -c 'psql "$DATABASE_URL" -At')
for K in MASTER_ACCESS_TOKEN ADMIN_ACCESS_TOKEN; do
  H=$(age -d -i "$AGE_IDENTITY_FILE" {dumps}/secrets/secret-system-seed.json.age \
    | jq -j --arg k $K '.data[$k] | @base64d' | sha256sum | cut -d' ' -f1)
  grep -qx "$H rw" <<< "$TOKENS" || echo "STOP: $K is no rw token of the migrated database"
done
# The diff, key names only: + added, ~ changed, - removed
for S in system-seed system-app system-master-apicast system-recaptcha; do
  F={dumps}/secrets/secret-$S.json.age; [ -f "$F" ] || continue
  echo "== $S"; jq -rn --slurpfile a <(age -d -i "$AGE_IDENTITY_FILE" "$F") \
    --slurpfile b <({oc.destination} get secret $S -o json 2>/dev/null || echo '{}') \
    '($a[0].data // {}) as $s | ($b[0].data // {}) as $d
     | ($s | keys[] | select($d[.] == null) | "+ " + .),
       ($s | keys[] | select($d[.] != null and $d[.] != $s[.]) | "~ " + .),
       ($d | keys[] | select($s[.] == null) | "- " + .)'
done
# Save what is there now (3scale namespace, then RHOAM's copies)
for S in system-seed system-app system-master-apicast system-recaptcha; do
  {oc.destination} get secret $S -o json 2>/dev/null | jq "$CLEAN" \
    | age {age_recipients} -o {dumps}/destination-secrets-before/secret-$S.json.age
done
for S in system-seed system-master-apicast; do
  {oc.destination} -n redhat-rhoam-operator get secret $S -o json 2>/dev/null | jq "$CLEAN" \
    | age {age_recipients} \
      -o {dumps}/destination-secrets-before/redhat-rhoam-operator/secret-$S.json.age
done
# Replace the data with the source's, keeping labels, annotations and owner references
for S in system-seed system-app system-master-apicast system-recaptcha; do
  F={dumps}/secrets/secret-$S.json.age; [ -f "$F" ] || continue
  if {oc.destination} get secret $S >/dev/null 2>&1; then
    jq -s '.[0].data = (.[1].data // {}) | .[0] | del(.stringData)' \
      <({oc.destination} get secret $S -o json) <(age -d -i "$AGE_IDENTITY_FILE" "$F") \
      | {oc.destination} replace -f -
  else
    age -d -i "$AGE_IDENTITY_FILE" "$F" | {oc.destination} create -f -
  fi
done
# RHOAM's copies in its operator namespace (same names), where they exist
for S in system-seed system-master-apicast; do
  {oc.destination} -n redhat-rhoam-operator get secret $S >/dev/null 2>&1 || continue
  jq -s '.[0].data = (.[1].data // {}) | .[0] | del(.stringData)' \
    <({oc.destination} -n redhat-rhoam-operator get secret $S -o json) \
    <(age -d -i "$AGE_IDENTITY_FILE" {dumps}/secrets/secret-$S.json.age) \
    | {oc.destination} -n redhat-rhoam-operator replace -f -
done"#,
        action: Some(Action::PushSecrets),
        when: When::Always,
    },
    Step {
        id: ids::CLEAR_FRESH_INSTALL,
        title: "Clear what RHOAM's fresh install left",
        phase: "destination",
        kind: StepKind::Automated,
        destructive: true,
        gate: Gate::Typed("clear fresh install"),
        owners: REDHAT_ALL,
        seed: None,
        doc: "The seeded database replaced the fresh install's tenant, but three things of it \
              remain and would contradict the migrated data once 3scale starts: the routes zync \
              created for the fresh tenant's hosts (label 3scale.net/created-by=zync; zync only \
              adds routes for the migrated domains, it does not remove these), the search \
              index, built once by the 3scale operator's Job system-searchd-manticore-reindex \
              over the fresh database (the operator creates that Job only when it is missing), \
              and system-memcache's cache of the fresh install's objects. With the destination \
              still paused, the zync routes are saved to {dumps}/ and deleted, the completed \
              reindex Job is deleted so the operator runs it again over the migrated database \
              when it runs, and memcache's pods are restarted with an empty cache. zync creates \
              the migrated domains' routes when restore-destination-3scale runs \
              zync:resync:domains. Red Hat's on every path: these are RHOAM's namespaces.",
        changes: Some(
            "In {destination.namespace} on the destination cluster: deletes every route \
             labelled 3scale.net/created-by=zync (saved first to \
             {dumps}/destination-zync-routes-before-clear.json), the completed Job \
             system-searchd-manticore-reindex, and the pods of system-memcache (its deployment \
             starts new ones with an empty cache). The route backend, the database and Redis \
             are not touched.",
        ),
        procedure: r#"umask 077
# The fresh tenant's routes: keep them, then delete them
{oc.destination} get route -l 3scale.net/created-by=zync -o json \
  > {dumps}/destination-zync-routes-before-clear.json
{oc.destination} delete route -l 3scale.net/created-by=zync
# The search index: the operator re-creates its reindex Job, over the migrated database
{oc.destination} get job system-searchd-manticore-reindex \
  -o custom-columns=NAME:.metadata.name,SUCCEEDED:.status.succeeded \
  && {oc.destination} delete job system-searchd-manticore-reindex
# The cache: a restarted memcached starts empty
{oc.destination} delete pod -l deployment=system-memcache
{oc.destination} rollout status deployment/system-memcache --timeout=5m"#,
        action: Some(Action::ClearFreshInstall),
        when: When::Always,
    },
    Step {
        id: ids::CHECK_RHOAM_USERS,
        title: "Check which users RHOAM would delete",
        phase: "destination",
        kind: StepKind::Automated,
        destructive: false,
        gate: Gate::Confirm,
        owners: REDHAT_ALL,
        seed: None,
        doc: "Before RHOAM's operator runs again: its reconciler deletes every user of the 3scale \
              tenant whose username matches no KeycloakUser (label sso=integreatly) in \
              redhat-rhoam-rhsso and whose id is in no KeycloakUser's 3scale_user_id \
              attribute, except system-seed's ADMIN_USER (integreatly-operator, \
              reconcileOpenshiftUsers). The migrated tenant's users come from the source, where \
              no such KeycloakUsers exist. The step lists the tenant's users from the seeded \
              database and the KeycloakUsers, and names exactly who would be deleted; when \
              anyone would be, the whole list goes to {dumps}/rhoam-users-to-delete.txt and the \
              operator types `accept deleting N users`, or stops and has those users log in \
              through RHOAM's identity provider (or their KeycloakUsers created) first. Nothing \
              is changed.",
        changes: None,
        procedure: r#"# The 3scale tenant's users (the client pod of the seed reads the database URL)
echo "SELECT u.id, lower(u.username) FROM users u JOIN accounts a ON a.id = u.account_id
  WHERE a.provider AND NOT coalesce(a.master, false) AND a.self_domain LIKE '3scale-admin.%'
  ORDER BY u.id;" | {oc.destination} exec -i cutover-pg-client -- \
  bash -c 'psql "$DATABASE_URL" -At -F " "' > /tmp/tenant-users.txt
# RHOAM's KeycloakUsers: usernames and the 3scale user ids they were made for
{oc.destination} -n redhat-rhoam-rhsso get keycloakusers -l sso=integreatly -o json \
  | jq -r '.items[].spec.user | (.username | ascii_downcase), (.attributes["3scale_user_id"][]?)' \
  | sort -u > /tmp/keycloak-users.txt
ADMIN=$({oc.destination} get secret system-seed -o jsonpath='{.data.ADMIN_USER}' | base64 -d)
# Who RHOAM would delete: neither the username nor the id is known to RH-SSO, not the admin
while read -r ID NAME; do
  [ "$NAME" = "$ADMIN" ] && continue
  grep -qxF -e "$NAME" -e "$ID" /tmp/keycloak-users.txt || echo "$ID $NAME"
done < /tmp/tenant-users.txt | tee {dumps}/rhoam-users-to-delete.txt"#,
        action: Some(Action::CheckRhoamUsers),
        when: When::Always,
    },
    Step {
        id: ids::RESTORE_DESTINATION_3SCALE,
        title: "Start 3scale at the destination",
        phase: "destination",
        kind: StepKind::Automated,
        destructive: false,
        gate: Gate::Confirm,
        owners: REDHAT_ALL,
        seed: None,
        doc: "Gives control back to the operators, once check-rhoam-users is done or skipped (RHOAM's \
              reconciler deletes the users its RH-SSO does not know when it runs again): the \
              3scale components (the data side first, the gateways last), the 3scale operator \
              and RHOAM's operator go back to the counts their cutover.io/pre-migration-replicas \
              annotations hold, each waited for until its pods are ready, and the annotation is \
              removed. A deployment at 0 without the annotation is named and left. When the \
              APIManager is Available, zync:resync:domains and backend:storage:enqueue_rewrite \
              run in a system-sidekiq pod (their output in the step log), and the step waits \
              until zync routes every host of the seeded database: each active tenant's admin \
              and developer portal, the master portal and both gateways of every hosted \
              product. The table is silent on this step; every path's list grants Red Hat full \
              access to the destination cluster, and the table gives \"Configuring 3scale at \
              destination cluster\" to Red Hat on every path.",
        changes: None,
        procedure: r#"# Back to the recorded counts: components, 3scale operator, RHOAM
resume() {  # namespace deployment
  R=$({oc.destination} -n "$1" get deployment/"$2" \
    -o jsonpath='{.metadata.annotations.cutover\.io/pre-migration-replicas}')
  [ -n "$R" ] && {oc.destination} -n "$1" scale deployment/"$2" --replicas="$R"
}
for D in system-searchd zync zync-que backend-cron backend-worker backend-listener \
         system-sidekiq system-app apicast-staging apicast-production; do
  resume {destination.namespace} $D
done
resume redhat-rhoam-3scale-operator threescale-operator-controller-manager-v2
resume redhat-rhoam-operator rhmi-operator
{oc.destination} wait --for=condition=Available apimanager/3scale --timeout=30m
# Routes for the destination hosts, and backend's configuration from the database
{oc.destination} exec deployment/system-sidekiq -- bash -c 'bundle exec rake zync:resync:domains'
{oc.destination} exec deployment/system-sidekiq -- \
  bash -c 'bundle exec rake backend:storage:enqueue_rewrite'
{oc.destination} get routes -o custom-columns=NAME:.metadata.name,HOST:.spec.host
{oc.destination} get pods"#,
        action: Some(Action::StartDestination),
        when: When::Always,
    },
    Step {
        id: ids::CONFIGURE_DESTINATION_3SCALE,
        title: "Configure 3scale at the destination",
        phase: "destination",
        kind: StepKind::Manual,
        destructive: false,
        gate: Gate::Confirm,
        owners: REDHAT_ALL,
        seed: Some(SEED_CONF),
        doc: "Red Hat configures RHOAM's 3scale as agreed in the prerequisites: SMTP, the \
              alerting email address and the custom domain, and checks that the settings RHOAM \
              manages (SMTP secret, superdomain) are the destination's rather than the source's \
              restored ones. The seed lists four outcomes of this configuration; each is also \
              checked by a step of its own right after: the master account on the correct \
              application plan, the master account accessible, RHOAM's default tenant created \
              and the SSO integrations on customer tenants created.",
        changes: None,
        procedure: r#"# RHOAM's settings against the agreement (SMTP, alerting email, custom domain)
{oc.destination} -n redhat-rhoam-operator get rhmi -o yaml \
  | grep -i -e alertingEmail -e routingSubdomain -e smtp -e customDomain
# 3scale's view: superdomain and SMTP must be the destination's
{oc.destination} get configmap system-environment \
  -o jsonpath='{.data.THREESCALE_SUPERDOMAIN}'; echo
{oc.destination} extract secret/system-smtp --keys=address,domain,from_address --to=-
# Then run the four checks that follow (master plan, master access, default tenant, SSO)"#,
        action: None,
        when: When::Always,
    },
    Step {
        id: ids::CHECK_MASTER_PLAN,
        title: "Check the master account's application plan",
        phase: "destination",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: REDHAT_ALL,
        seed: Some(SEED_CONF),
        doc: "Checks that \"master account is using correct application plan\": the master \
              account holds porta's \"Master Plan\" on master's service, and every tenant the \
              plan RHOAM's 3scale gives tenants, PROVIDER_PLAN of configmap system-environment \
              (\"enterprise\" by default). Who holds which plan is read from the destination's \
              system database (by URL or through the client pod; the Master API shows no \
              plan). A wrong plan limits what tenants may do. Read-only, except when a tenant \
              holds another plan: then the operator may type `upgrade N tenant(s) to <plan>` \
              and cutover moves each with porta's Master API (PUT \
              /master/api/providers/<id>/plan_upgrade.json with MASTER_ACCESS_TOKEN), or \
              `leave the plans`, which leaves the step failed. Master's own contract has no API \
              and is fixed from a console.",
        changes: None,
        procedure: r#"# The plan RHOAM gives tenants, then the plan master and each tenant hold on master's service
{oc.destination} get configmap system-environment -o jsonpath='{.data.PROVIDER_PLAN}'; echo
{oc.destination} exec deployment/system-sidekiq -- bundle exec rails runner '
m = Account.master
([m] + Account.where(provider_account_id: m.id, provider: true).to_a).uniq.each { |a|
  c = a.bought_cinstances.find_by(service_id: m.service_ids)
  puts [a.id, a.org_name, a.master?, c&.plan&.id, c&.plan&.name].join(" ") }'
# Expected: master on "Master Plan", every tenant on PROVIDER_PLAN. To move tenant ID to plan
# PLAN_ID (a plan of master's service), with the master token kept in a 0600 curl config file:
umask 077
printf 'data-urlencode = "access_token=%s"\n' "$({oc.destination} extract secret/system-seed \
  --keys=MASTER_ACCESS_TOKEN --to=- 2>/dev/null)" > {dumps}/master-token.curl
curl -sS -X PUT -K {dumps}/master-token.curl -d plan_id=PLAN_ID \
  https://master.{destination.wildcard_domain}/master/api/providers/ID/plan_upgrade.json
rm -f {dumps}/master-token.curl"#,
        action: Some(Action::CheckMasterPlan),
        when: When::Always,
    },
    Step {
        id: ids::CHECK_MASTER_ACCESS,
        title: "Check the master account is reachable",
        phase: "destination",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: REDHAT_ALL,
        seed: Some(SEED_CONF),
        doc: "Checks that \"master account is accessible\": porta's Master API on \
              master.{destination.wildcard_domain} answers GET \
              /master/api/providers/<id>.json for RHOAM's default tenant with \
              MASTER_ACCESS_TOKEN of secret system-seed, which proves the pushed secrets and \
              the seeded database agree (porta answers 401 to a token it does not know). The \
              tenant's id comes from the destination's system database. The token never \
              appears on a command line, in a log or in a message. Read-only.",
        changes: None,
        procedure: r#"# The default tenant's id (the provider whose admin domain is 3scale-admin.<wildcard>)
{oc.destination} exec deployment/system-sidekiq -- bundle exec rails runner \
  'puts Account.find_by!(self_domain: "3scale-admin.{destination.wildcard_domain}").id'
# The master API accepts the master token (kept in a 0600 curl config file); expect 200
umask 077
printf 'data-urlencode = "access_token=%s"\n' "$({oc.destination} extract secret/system-seed \
  --keys=MASTER_ACCESS_TOKEN --to=- 2>/dev/null)" > {dumps}/master-token.curl
curl -sS -G -K {dumps}/master-token.curl -i \
  https://master.{destination.wildcard_domain}/master/api/providers/ID.json | head -c 800; echo
rm -f {dumps}/master-token.curl"#,
        action: Some(Action::CheckMasterAccess),
        when: When::Always,
    },
    Step {
        id: ids::CHECK_DEFAULT_TENANT,
        title: "Check RHOAM's default tenant",
        phase: "destination",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: REDHAT_ALL,
        seed: Some(SEED_CONF),
        doc: "Checks that \"RHOAM's default tenant is created\": porta's Admin API on \
              3scale-admin.{destination.wildcard_domain} (RHOAM's tenant, whatever \
              TENANT_NAME says) answers GET /admin/api/provider.json with \
              ADMIN_ACCESS_TOKEN of secret system-seed, for an account whose admin domain is \
              that host and which is approved (porta answers 403 with no body to the token of \
              an account that is not). RHOAM drives the tenant through 3scale-admin.<domain>, \
              so a tenant with another name is a problem to solve before the hand-over. \
              Read-only.",
        changes: None,
        procedure: r#"# The tenant behind 3scale-admin.<wildcard>, with the admin token kept in a 0600 file
umask 077
printf 'data-urlencode = "access_token=%s"\n' "$({oc.destination} extract secret/system-seed \
  --keys=ADMIN_ACCESS_TOKEN --to=- 2>/dev/null)" > {dumps}/admin-token.curl
# Expect 200 with "admin_domain":"3scale-admin.{destination.wildcard_domain}" and "state":"approved"
curl -sS -G -K {dumps}/admin-token.curl -i \
  https://3scale-admin.{destination.wildcard_domain}/admin/api/provider.json | head -c 1200; echo
rm -f {dumps}/admin-token.curl"#,
        action: Some(Action::CheckDefaultTenant),
        when: When::Always,
    },
    Step {
        id: ids::CHECK_SSO_INTEGRATIONS,
        title: "Check the SSO integrations of the tenants",
        phase: "destination",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: REDHAT_ALL,
        seed: Some(SEED_CONF),
        doc: "Checks that \"SSO integrations on customer tenants are created\": porta's Admin \
              API on 3scale-admin.{destination.wildcard_domain} lists the default tenant's \
              Admin Portal integrations (GET /admin/api/account/authentication_providers.json \
              with ADMIN_ACCESS_TOKEN), which must hold RHOAM's own: `rhsso`, kind keycloak, \
              client 3scale, published, its site RHOAM's Keycloak (realm openshift) on the \
              destination's wildcard domain. RHOAM only creates `rhsso` when the tenant has \
              none, so a stale one migrated from the source fails the step, named with its \
              site. The other tenants' and the Developer Portals' integrations are read from \
              the database; those still pointing at a source or migration host are listed as \
              warnings. Read-only; repointing and publishing them is the customer's next \
              step.",
        changes: None,
        procedure: r#"# RHOAM's own: rhsso, keycloak, client 3scale, published, site on RHOAM's Keycloak
umask 077
printf 'data-urlencode = "access_token=%s"\n' "$({oc.destination} extract secret/system-seed \
  --keys=ADMIN_ACCESS_TOKEN --to=- 2>/dev/null)" > {dumps}/admin-token.curl
curl -sS -G -K {dumps}/admin-token.curl \
  https://3scale-admin.{destination.wildcard_domain}/admin/api/account/authentication_providers.json \
  | tr '{' '\n' | grep -e '"system_name"' | cut -c1-400
rm -f {dumps}/admin-token.curl
# Every integration with its tenant (no client secret)
{oc.destination} exec deployment/system-sidekiq -- bundle exec rails runner '
ActiveRecord::Base.connection.select_rows("SELECT a.org_name, ap.kind, ap.system_name,
  ap.account_type, ap.site, ap.published FROM authentication_providers ap
  JOIN accounts a ON a.id = ap.account_id ORDER BY a.id").each { |r| puts r.join(" ") }' \
  | tee {dumps}/destination-sso-integrations.txt
# Nothing may point at the old clusters (no output expected)
grep -e '{source.wildcard_domain}' -e '{migration_cluster.wildcard_domain}' \
  {dumps}/destination-sso-integrations.txt"#,
        action: Some(Action::CheckSsoIntegrations),
        when: When::Always,
    },
    Step {
        id: ids::VERIFY_ANALYTICS,
        title: "Verify the analytics survived reconciliation",
        phase: "destination",
        kind: StepKind::Automated,
        destructive: false,
        gate: Gate::Confirm,
        owners: ANALYTICS_WORK,
        seed: Some(SEED_ANALYTICS),
        doc: "The seed's table lists this row twice, the second time after configuring 3scale \
              at the destination; cutover reads the second as confirming that the analytics \
              survived the operator's reconciliation. It compares the destination's backend \
              Redis with the source (the source backend storage when the config names it and \
              it answers, else the checked dump served by a scratch redis-server, as for \
              restore-backend-redis), copies back the keys that are missing, never overwriting \
              one that exists, and compares again. Minute-level statistics expire after three \
              minutes, so missing keys of that period are expected and do not fail the step; \
              values and TTLs the destination changed since (it counts traffic) are reported, \
              not overwritten. Other keys still missing, or a key of another type, fail it.",
        changes: None,
        procedure: r#"# The source dump is served by the scratch pod of restore-backend-redis (make
# it again as shown there if gone); this host needs a route to the destination ElastiCache
{oc.destination} port-forward pod/cutover-redis-scratch 16379:16379 >/dev/null &
cutover redis compare --from redis://127.0.0.1:16379/0 --to "$DESTINATION_BACKEND_STORAGE_URL" \
  | tee {dumps}/verify-analytics.txt
# Copy back what is missing; without --replace an existing key is never overwritten
cutover redis copy --from redis://127.0.0.1:16379/0 --to "$DESTINATION_BACKEND_STORAGE_URL" \
  --match 'stats/*'
# Then remove the helper pods
{oc.destination} delete pod cutover-redis-scratch cutover-pg-client --ignore-not-found"#,
        action: Some(Action::VerifyBackendRedis),
        when: When::Always,
    },
    // ---------------------------------------------------------------- handover
    Step {
        id: ids::PUBLISH_SSO,
        title: "Test and publish the SSO integrations",
        phase: "handover",
        kind: StepKind::Manual,
        destructive: false,
        gate: Gate::Confirm,
        owners: CUSTOMER_ALL,
        seed: Some("Testing and publishing the SSO integrations"),
        doc: "The customer tests each SSO integration of its tenants against the destination \
              and publishes it: the identity provider's client must first allow the \
              destination's redirect URIs (the admin and developer portal hosts under the \
              destination domain), then a test login is made from the portal's SSO \
              integration page and the integration is published. An unpublished integration \
              keeps its users on password login; a wrong redirect URI locks them out.",
        changes: None,
        procedure: r#"# In the identity provider, allow as redirect URIs of the 3scale client:
#   https://<tenant>-admin.{destination.wildcard_domain}/*
#   https://<tenant>.{destination.wildcard_domain}/*
curl -sS "$IDP_ISSUER_URL/.well-known/openid-configuration" | jq -r .issuer
# In each tenant's admin portal: Account Settings > Users > SSO Integrations > test the flow.
# Or publish through the API (token in a 0600 curl config file, integration id in AP_ID):
umask 077
printf 'data-urlencode = "access_token=%s"\n' "$TENANT_ADMIN_TOKEN" > {dumps}/tenant-token.curl
API="https://$TENANT-admin.{destination.wildcard_domain}/admin/api"
curl -sS -X PUT -K {dumps}/tenant-token.curl --data-urlencode published=true \
  "$API/account/authentication_providers/$AP_ID.json"
rm -f {dumps}/tenant-token.curl"#,
        action: None,
        when: When::Always,
    },
    Step {
        id: ids::VERIFY_INSTALLATION,
        title: "Verify 3scale and RHOAM together",
        phase: "handover",
        kind: StepKind::Automated,
        destructive: false,
        gate: Gate::Confirm,
        owners: BOTH_ALL,
        seed: Some("Verification of the installation of 3scale and RHOAM"),
        doc: "Both parties verify the destination before the customer's systems move. cutover \
              checks what it can, read-only: every host the seeded database names (each \
              tenant's admin and developer portal, the master portal, both gateways of every \
              hosted product) has its route, no route carries the source's or the migration \
              cluster's domain, and one call through a hosted product's staging gateway, as one \
              of its live applications (user_key from the database, never shown), answers. Then \
              both parties check what only people can: the admin and developer portals, and the \
              source's historic analytics in the admin portal; the operator types `verified by \
              both`. The source still exists, scaled down, so a failure found here can still \
              lead to rollback.",
        changes: None,
        procedure: r#"{oc.destination} get apimanager,pods
{oc.destination} get routes -o custom-columns=NAME:.metadata.name,HOST:.spec.host \
  | tee {dumps}/destination-routes.txt
# No route may carry an old domain (no output expected)
grep -e '{source.wildcard_domain}' -e '{migration_cluster.wildcard_domain}' \
  {dumps}/destination-routes.txt
# A test call through the staging gateway (credentials in a 0600 curl config file)
umask 077
printf 'data-urlencode = "user_key=%s"\n' "$TEST_USER_KEY" > {dumps}/test-app.curl
curl -sS -G -o /dev/null -D - -K {dumps}/test-app.curl \
  "https://$PRODUCT-3scale-apicast-staging.{destination.wildcard_domain}$TEST_PATH" | head -n1
rm -f {dumps}/test-app.curl
# Analytics: in the admin portal, a product's traffic before the migration date is visible"#,
        action: Some(Action::VerifyInstallation),
        when: When::Always,
    },
    Step {
        id: ids::POINT_CUSTOMER_SYSTEMS,
        title: "Point customer systems at the new routes",
        phase: "handover",
        kind: StepKind::Manual,
        destructive: false,
        // Not destructive in itself, but the point of no return: a rollback is refused after
        // it, so it takes a typed phrase, not one Enter.
        gate: Gate::Typed("point at the destination"),
        owners: CUSTOMER_ALL,
        seed: Some("Updates to customer systems to point to the new routes"),
        doc: "The customer moves its systems to the destination: DNS records and custom \
              domains, API consumers' base URLs, CI/CD pipelines and 3scale toolbox remotes, \
              identity-provider redirect URIs and firewall allow-lists. From this point the \
              destination takes traffic and a rollback to the source would lose what happens \
              here. Lowering DNS TTLs before the window shortens the switch.",
        changes: None,
        procedure: r#"# The hosts to point at
{oc.destination} get routes -o custom-columns=HOST:.spec.host,TO:.spec.to.name --no-headers
# For each customer-facing name: update the CNAME to the destination host, then check it
dig +short "$CUSTOMER_API_HOST" CNAME
curl -sS -o /dev/null -D - "https://$CUSTOMER_API_HOST/" | head -n1
# 3scale toolbox remotes and pipelines: replace {source.wildcard_domain} hosts by
# {destination.wildcard_domain} hosts, e.g. 3scale remote add, and update stored tokens"#,
        action: None,
        when: When::Always,
    },
];

pub static RUNBOOK: Runbook = Runbook {
    id: RunbookId::ThreescaleRhoam,
    title: "3scale API Management to RHOAM",
    seed_document: "000_ba3ee7e8dd4f6804.txt",
    paths: &[Limited, FurtherLimited, NoAccess],
    phases: PHASES,
    steps: STEPS,
    notes: &[
        "The source stops serving API traffic at stop-traffic and stays down until the \
         customer's systems point at the destination; plan one window for the whole run.",
        "Rollback is possible until the customer's systems point at the destination: the \
         source data stores are never changed, and every scaled workload carries \
         cutover.io/pre-migration-replicas with its original replica count. Afterwards, \
         changes made at the destination are not carried back.",
        "An Oracle system database is not automated: its export and its conversion to \
         PostgreSQL (ora2pg) are manual work for a DBA. MySQL is converted with pgloader.",
        "Not covered by the seed: system file storage (developer-portal uploads on the \
         system-storage volume) and the zync database are not restored at the destination; \
         copy system-storage by hand if the portal uses uploaded files.",
    ],
    checklists: &[
        (
            Limited,
            &[
                "The customer has given Red Hat full access to the source and destination S3 \
                 buckets.",
                "The customer has given Red Hat full access to the destination ElastiCache.",
                "Red Hat has full access to the destination OSD cluster.",
                "Red Hat and the customer have agreed on the prerequisites.",
                "Red Hat and the customer have agreed on the SMTP settings, the alerting email \
                 address and the custom domain.",
                "Red Hat and the customer have agreed how long the 3scale queues may drain; jobs \
                 still queued after that are lost.",
                "The customer will provide Red Hat with the system database, Redis and 3scale \
                 secrets dumps from the source cluster.",
                "The customer will test, publish and verify the SSO integration flow.",
                "The customer will verify the destination 3scale instance, with Red Hat.",
                "The customer will configure its systems before and after the migration.",
                "Migration cluster access: Red Hat creates and operates the migration cluster.",
                "Migration AWS account: Red Hat may create and use the data stores the \
                 migration cluster needs.",
                "Production cluster access: Red Hat and the customer both have the access they \
                 need to the source and destination clusters.",
                "Production AWS account: Red Hat reaches only the S3 buckets and the destination \
                 ElastiCache granted above.",
            ],
        ),
        (
            FurtherLimited,
            &[
                "The customer has given Red Hat full access to the source and destination S3 \
                 buckets.",
                "Red Hat has no access to the destination ElastiCache; the customer performs \
                 the Redis backup and restore that brings the analytics over.",
                "Red Hat has full access to the destination OSD cluster.",
                "Red Hat and the customer have agreed on the prerequisites.",
                "Red Hat and the customer have agreed on the SMTP settings, the alerting email \
                 address and the custom domain.",
                "Red Hat and the customer have agreed how long the 3scale queues may drain; jobs \
                 still queued after that are lost.",
                "The customer will provide Red Hat with the system database, Redis and 3scale \
                 secrets dumps from the source cluster.",
                "The customer will test, publish and verify the SSO integration flow.",
                "The customer will verify the destination 3scale instance, with Red Hat.",
                "The customer will configure its systems before and after the migration.",
                "Migration cluster access: Red Hat creates and operates the migration cluster.",
                "Migration AWS account: Red Hat may create and use the data stores the \
                 migration cluster needs.",
                "Production cluster access: Red Hat and the customer both have the access they \
                 need to the source and destination clusters.",
                "Production AWS account: Red Hat reaches only the S3 buckets granted above.",
            ],
        ),
        (
            NoAccess,
            &[
                "Red Hat has full access to the destination OSD/OCP cluster.",
                "Red Hat has no access to any of the customer's AWS accounts.",
                "Red Hat and the customer have agreed on the prerequisites.",
                "Red Hat and the customer have agreed on the SMTP settings, the alerting email \
                 address and the custom domain.",
                "Red Hat and the customer have agreed how long the 3scale queues may drain; jobs \
                 still queued after that are lost.",
                "The customer takes the initial system database, Redis and 3scale secrets dumps \
                 and keeps them.",
                "The customer restores the 3scale databases in the AWS account connected to the \
                 migration cluster, converting a MySQL or Oracle system database to PostgreSQL.",
                "The customer performs the database updates while upgrading 3scale from the \
                 source version to the RHOAM-matching version, and dumps the system database \
                 from the migration cluster.",
                "The customer restores RHOAM's 3scale system database from that dump and \
                 restores RHOAM's 3scale Redis to migrate the analytics.",
                "The customer will test, publish and verify the SSO integration flow.",
                "The customer will verify the destination 3scale instance, with Red Hat.",
                "The customer will configure its systems before and after the migration.",
                "Migration cluster access: the customer creates and operates the migration \
                 cluster; Red Hat needs none.",
                "Migration AWS account: the customer's own, operated by the customer.",
                "Production cluster access: Red Hat and the customer both have the access they \
                 need to the source and destination clusters.",
                "Production AWS account: operated by the customer only.",
            ],
        ),
    ],
    rollback: Some(Rollback {
        phrase: "roll back",
        doc: "Roll the source back: every workload stopped by this migration goes back to the \
              replicas recorded before, the gateways last, and traffic returns to the source. The \
              steps from stopping the traffic on are then to be done again. Refused once the \
              customer's systems point at the destination.",
        takeover_step: ids::POINT_CUSTOMER_SYSTEMS,
        taken_over: "the customer's systems point at the destination",
        by_hand: "if it never took traffic, scale the source back by hand to the counts in the \
                  cutover.io/pre-migration-replicas annotations (`oc scale`) and record why",
        first_undone: ids::STOP_TRAFFIC,
    }),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_every_step_of_the_seed() {
        assert_eq!(RUNBOOK.steps.len(), 43);
    }

    #[test]
    fn steps_have_an_owner_on_every_path_except_the_hand_over() {
        for step in RUNBOOK.steps {
            for &path in RUNBOOK.paths {
                let expected = !(step.id.0 == "hand-over-dumps" && path == NoAccess);
                assert_eq!(
                    step.owner(path).is_some(),
                    expected,
                    "{} on {}",
                    step.id,
                    path
                );
            }
        }
        for &path in RUNBOOK.paths {
            assert!(!RUNBOOK.checklist(path).is_empty(), "checklist for {path}");
        }
    }
}
