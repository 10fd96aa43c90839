//! Runbook `velero-registry`: a registry of the EPAM Digital Registries Platform moved between
//! two OKD clusters with Velero, in the order of the Platform's "Migrating registries" procedure
//! (epam/edp-ddm-architecture, docs/en/modules/admin/pages/migration/migrate-registry.adoc) and
//! its scripts (epam/edp-ddm-backup-management, registry-scripts/backup-registry.sh and
//! restore-registry.sh). Cluster A is the config's `source`, cluster B its `destination`; each
//! has its own object storage (MinIO), and the backup reaches B by a copy between them.

use super::ids;
use super::model::*;

/// Every step is done by the one platform team that runs the wizard, on both clusters.
const OWNERS: &[(AccessPath, Party)] = &[(AccessPath::ClusterAdmin, Party::Both)];

pub static RUNBOOK: Runbook = Runbook {
    id: RunbookId::VeleroRegistry,
    title: "Registry migration between OKD clusters with Velero",
    seed_document: "004_380004f55caba337.txt",
    paths: &[AccessPath::ClusterAdmin],
    phases: &[
        Phase {
            id: "prerequisites",
            title: "Prerequisites",
        },
        Phase {
            id: "backup",
            title: "Back up on cluster A",
        },
        Phase {
            id: "transfer",
            title: "Move the backup and the users to cluster B",
        },
        Phase {
            id: "restore",
            title: "Restore on cluster B",
        },
        Phase {
            id: "verify",
            title: "Verify",
        },
    ],
    steps: STEPS,
    notes: &[
        "Extract and transform are out of scope. The Platform handles only the Load stage of \
         ETL: a customer moving data in from another system extracts it and converts it to the \
         registry's format beforehand, with its own tools (seed §6). This runbook moves a \
         registry that already runs on the Platform from cluster A to cluster B.",
        "Migration to a bare OKD cluster is not possible. Cluster B must already run the \
         Platform, installed by the Platform deployment: portal and admin-tool logins depend on \
         Keycloak, the base regulations come from the central Gerrit and the images from Nexus, \
         and all of them, Velero included, come with that deployment (seed §4, §5).",
        "The Platform and the registry must be at identical versions on cluster A and cluster B \
         (e.g. 1.9.5 on both): cluster B's central Gerrit must have a branch named for the \
         registry's version in its cluster-mgmt repository. If it has not, first upgrade the \
         Platform on B or the registry on A; nothing else makes the migration possible (seed §3).",
        "Each cluster keeps its backups in its own object storage (the Platform's MinIO), in the \
         bucket <registry>-backups behind the backup storage location named after the registry. \
         The backup reaches cluster B by copying its objects from A's storage to B's, where B's \
         Velero finds it. The restore follows the Platform's restore-registry.sh: in stages, \
         the stateful components one by one, then the rest.",
    ],
    checklists: &[(
        AccessPath::ClusterAdmin,
        &[
            "You are cluster-admin, and Platform administrator in control-plane-console, on \
             cluster A and on cluster B, at the same time.",
            "Cluster B runs the Platform, deployed by the Platform deployment, at the registry's \
             version, with Keycloak and Velero; it is not a bare OKD cluster.",
            "This machine reaches the object storage (MinIO) of both clusters and B's Keycloak: \
             its IP is in the CIDRs allowed for them in control-plane-console (a jumpbox near \
             the clusters makes the copy faster).",
            "The service providers were told when to finish their work: end-user access is \
             blocked and the registry's Jenkins pipelines are disabled before the backup.",
            "Where the registry's data comes from another system, it is already extracted and \
             transformed into the registry's format: the Platform only loads it.",
        ],
    )],
    rollback: None,
};

static STEPS: &[Step] = &[
    // ---------------------------------------------------------------- prerequisites
    Step {
        id: ids::CHECK_KUBECONFIGS,
        title: "Check the kubeconfigs of cluster A and cluster B",
        phase: "prerequisites",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: OWNERS,
        seed: None,
        doc: "Checks that both kubeconfig files are readable, that they hold the configured \
              contexts, and that each context reaches its own cluster as cluster-admin. Every \
              step of this runbook has one owner, both parties, on the single cluster-admin \
              path: the seed gives the whole migration to one platform team working on both \
              clusters, so there is no hand-off. Two contexts pointing at the same API server \
              would make the restore land on cluster A, so compare the two servers shown.",
        changes: None,
        procedure: "\
# Both kubeconfig files are readable and hold the configured contexts
test -r {source.kubeconfig} && echo 'readable: {source.kubeconfig}'
test -r {destination.kubeconfig} && echo 'readable: {destination.kubeconfig}'
oc config get-contexts {source.context} --kubeconfig {source.kubeconfig}
oc config get-contexts {destination.context} --kubeconfig {destination.kubeconfig}
# Each context reaches its own cluster (two different API servers)
{oc.source} whoami --show-server
{oc.destination} whoami --show-server
# Cluster-admin on both: each answers yes
{oc.source} auth can-i '*' '*' --all-namespaces
{oc.destination} auth can-i '*' '*' --all-namespaces",
        action: Some(Action::CheckKubeconfigs),
        when: When::Always,
    },
    Step {
        id: ids::CHECK_CLUSTER_ACCESS,
        title: "Check access to both clusters",
        phase: "prerequisites",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: OWNERS,
        seed: None,
        doc: "Connects to cluster A and cluster B with their kubeconfigs and contexts, checks \
              that both API servers answer and that the Platform's and Velero's namespaces \
              exist, and asks each API server (SelfSubjectAccessReview) for every permission \
              the later steps need: Velero's backups and restores, the Platform's custom \
              resources, the registry's namespace, exec into Keycloak's pod. A denied \
              permission is listed with its verb, resource and namespace. Read-only.",
        changes: None,
        procedure: r#"# Both API servers answer
{oc.source} version
{oc.destination} version
# The Platform's and Velero's namespaces exist on both
{oc.source} get namespace {velero.edp_namespace} {velero.namespace}
{oc.destination} get namespace {velero.edp_namespace} {velero.namespace}
# Permissions: each answers yes or no
{oc.source} auth can-i create backups.velero.io -n {velero.namespace}
{oc.destination} auth can-i create restores.velero.io -n {velero.namespace}
{oc.source} auth can-i get codebases.v2.edp.epam.com -n {velero.edp_namespace}
{oc.destination} auth can-i get gerritprojects.v2.edp.epam.com -n {velero.edp_namespace}
{oc.source} auth can-i create pods/exec -n {velero.keycloak_namespace}
{oc.destination} auth can-i create namespaces"#,
        action: Some(Action::CheckClusterAccess),
        when: When::Always,
    },
    Step {
        id: ids::CHECK_PLATFORM_INSTALLED,
        title: "Check that the Platform is installed on both clusters",
        phase: "prerequisites",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: OWNERS,
        seed: None,
        doc: "Checks that the Platform runs on cluster A and on cluster B: the \
              {velero.edp_namespace} namespace exists and its central components \
              (control-plane-console, the central Gerrit, Jenkins, Nexus and the codebase, \
              Gerrit and Jenkins operators) have every replica ready. Installing the Platform \
              on both clusters is the precondition of any migration (seed §3): the registry is \
              restored into a Platform that already exists on B, never deployed from the \
              backup. A missing or not-ready component is named.",
        changes: None,
        procedure: "\
# The Platform's central components run on both clusters (READY n/n)
{oc.source} get deployments -n {velero.edp_namespace}
{oc.destination} get deployments -n {velero.edp_namespace}
# Pods neither Running nor Completed on B
{oc.destination} get pods -n {velero.edp_namespace} \\
  --field-selector=status.phase!=Running,status.phase!=Succeeded",
        action: Some(Action::CheckPlatformInstalled),
        when: When::Always,
    },
    Step {
        id: ids::CHECK_VERSIONS_MATCH,
        title: "Check that cluster B's Platform has the registry's version",
        phase: "prerequisites",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: OWNERS,
        seed: None,
        doc: "Reads the registry's version on cluster A from its Codebase \
              `{velero.registry}` (v2.edp.epam.com, namespace {velero.edp_namespace}): \
              `spec.branchToCopyInDefaultBranch`, else `spec.defaultBranch`, raised by the \
              registry's version-update GerritMergeRequests that were merged (as \
              control-plane-console reads it). Then checks that cluster B's central Gerrit has \
              the branch `refs/heads/<version>` in its `cluster-mgmt` repository (the \
              GerritProject's `status.branches`): B's control-plane-gerrit must be at the \
              registry's version. Missing, the branch is named; upgrade the Platform on B to \
              that version, or the registry on A to a version B has, then run this again.",
        changes: None,
        procedure: "\
# The registry's version on cluster A: its Codebase's branch, raised by merged update requests
{oc.source} get codebase {velero.registry} -n {velero.edp_namespace} \\
  -o jsonpath='{.spec.branchToCopyInDefaultBranch} {.spec.defaultBranch}{\"\\n\"}'
{oc.source} get gerritmergerequests -n {velero.edp_namespace} \\
  -o custom-columns=PROJECT:.spec.projectName,BRANCH:.spec.sourceBranch,STATUS:.status.value
# Cluster B's central Gerrit has a branch for that version in cluster-mgmt
{oc.destination} get gerritproject cluster-mgmt -n {velero.edp_namespace} \\
  -o jsonpath='{.status.branches[*]}' | tr ' ' '\\n' | grep -x \"refs/heads/${VERSION}\"",
        action: Some(Action::CheckPlatformVersions),
        when: When::Always,
    },
    Step {
        id: ids::CHECK_KEYCLOAK,
        title: "Check that Keycloak runs on cluster B and answers",
        phase: "prerequisites",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: OWNERS,
        seed: None,
        doc: "Checks that cluster B is not a bare OKD cluster: Keycloak, the Platform's user \
              management, runs in {velero.keycloak_namespace} (its statefulset ready), and its \
              admin API at {velero.keycloak_url} gives a token to the configured admin \
              credentials and lists the realms. Portal and admin-tool logins rely on it, which \
              is why the seed rules out a bare target (§4); the realms and users of the \
              registry are imported there later. The credentials are never shown.",
        changes: None,
        procedure: "\
# Keycloak runs on cluster B
{oc.destination} get statefulsets,pods -n {velero.keycloak_namespace}
# Its admin API answers the admin credentials (KC_USER and KC_PASSWORD set from the config's
# references; the secret `keycloak` in {velero.keycloak_namespace} holds them)
TOKEN=$(curl -sf {velero.keycloak_url}/auth/realms/master/protocol/openid-connect/token \\
  -d grant_type=password -d client_id=admin-cli \\
  --data-urlencode \"username=${KC_USER}\" --data-urlencode \"password=${KC_PASSWORD}\" \\
  | jq -r .access_token)
curl -sf -H \"Authorization: Bearer ${TOKEN}\" {velero.keycloak_url}/auth/admin/realms \\
  | jq -r '.[].realm'",
        action: Some(Action::CheckKeycloak),
        when: When::Always,
    },
    Step {
        id: ids::CHECK_VELERO,
        title: "Check Velero and the object storage of both clusters",
        phase: "prerequisites",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: OWNERS,
        seed: None,
        doc: "On both clusters: reads Velero's version from the image tag of its deployment in \
              {velero.namespace} (the Platform runs 1.9.2; older than 1.9 or unknown is \
              refused, since the Backup and Restore objects are built for the version found), \
              checks that the backup storage location `{velero.registry}` is Available, that \
              cluster B syncs backups (`backupSyncPeriod` not 0, from the location or else the \
              server's `--backup-sync-period`), and that the restic repository password \
              (`velero-restic-credentials`) is the same on A and B, compared by hash, never \
              shown: B cannot open A's restic repository with another. Then each cluster's \
              object storage answers the configured credentials and holds its bucket.",
        changes: None,
        procedure: "\
# Velero's version on both (the image tag; the Platform runs v1.9.2)
{oc.source} get deployment velero -n {velero.namespace} \\
  -o jsonpath='{.spec.template.spec.containers[0].image}{\"\\n\"}'
{oc.destination} get deployment velero -n {velero.namespace} \\
  -o jsonpath='{.spec.template.spec.containers[0].image}{\"\\n\"}'
# The registry's location on both: PHASE Available
{velero.source} backup-location get {velero.registry}
{velero.destination} backup-location get {velero.registry}
# B syncs backups: backupSyncPeriod not 0s (location spec, else the server's flag)
{oc.destination} get backupstoragelocation {velero.registry} -n {velero.namespace} \\
  -o jsonpath='{.spec.backupSyncPeriod}{\"\\n\"}'
{oc.destination} get deployment velero -n {velero.namespace} \\
  -o jsonpath='{.spec.template.spec.containers[0].args}{\"\\n\"}'
# The restic repository passwords are equal (compare hashes only)
{oc.source} extract secret/velero-restic-credentials -n {velero.namespace} \\
  --keys=repository-password --to=- | sha256sum
{oc.destination} extract secret/velero-restic-credentials -n {velero.namespace} \\
  --keys=repository-password --to=- | sha256sum
# Each object storage answers and holds its bucket (credentials from the config's references)
AWS_ACCESS_KEY_ID=${A_ACCESS_KEY} AWS_SECRET_ACCESS_KEY=${A_SECRET_KEY} \\
  aws --endpoint-url {velero.source_endpoint} s3 ls s3://{velero.source_bucket}/
AWS_ACCESS_KEY_ID=${B_ACCESS_KEY} AWS_SECRET_ACCESS_KEY=${B_SECRET_KEY} \\
  aws --endpoint-url {velero.destination_endpoint} s3 ls s3://{velero.destination_bucket}/",
        action: Some(Action::CheckVelero),
        when: When::Always,
    },
    Step {
        id: ids::CHECK_TARGET_CLEAN,
        title: "Check that cluster B holds nothing of the registry",
        phase: "prerequisites",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: OWNERS,
        seed: None,
        doc: "Checks that the registry's namespace {velero.registry} is absent or empty on \
              cluster B, and that B's bucket {velero.destination_bucket} holds nothing under \
              `openshift-backups/backups/{velero.registry}*`, \
              `openshift-backups/restic/{velero.registry}/` and `obc-backups/{velero.registry}/`. \
              A registry deployed on B before must be removed first, as the Platform's \
              procedure says: delete it in control-plane-console, then its GerritProject and \
              its Gerrit repository, then those directories in B's MinIO. Leftovers are named \
              with that procedure; nothing is deleted by this check.",
        changes: None,
        procedure: "\
# The registry's namespace is absent (NotFound) or empty on cluster B
{oc.destination} get namespace {velero.registry}
{oc.destination} get all,pvc,secrets,configmaps -n {velero.registry}
# Nothing of the registry in B's bucket under the three prefixes
export AWS_ACCESS_KEY_ID=${B_ACCESS_KEY} AWS_SECRET_ACCESS_KEY=${B_SECRET_KEY}
for prefix in openshift-backups/backups/{velero.registry} openshift-backups/restic/{velero.registry}/ \\
    obc-backups/{velero.registry}/; do
  aws --endpoint-url {velero.destination_endpoint} s3 ls \"s3://{velero.destination_bucket}/$prefix\"
done
# Leftovers: delete the registry in control-plane-console on B, wait until it is gone, then
{oc.destination} delete gerritproject {velero.registry} -n {velero.edp_namespace}
# (and the repository in the central Gerrit if it is still listed: Commands > Delete project)
aws --endpoint-url {velero.destination_endpoint} s3 rm --recursive \\
  \"s3://{velero.destination_bucket}/openshift-backups/restic/{velero.registry}/\"",
        action: Some(Action::CheckTargetClean),
        when: When::Always,
    },
    // ---------------------------------------------------------------- backup
    Step {
        id: ids::BLOCK_USER_ACCESS,
        title: "Block end-user access to the registry",
        phase: "backup",
        kind: StepKind::Manual,
        destructive: false,
        gate: Gate::Confirm,
        owners: OWNERS,
        seed: None,
        doc: "Before the backup, restrict end-user access to the registry completely, so that \
              nothing changes on cluster A after it: the service providers were told when to \
              finish their work, through channels outside the Platform. In \
              control-plane-console on A, open the registry and restrict its access endpoints \
              (the allowed CIDRs of the officer and citizen portals) to the administrators' \
              addresses, then check that the portals refuse other addresses. Confirm when done.",
        changes: None,
        procedure: "\
# control-plane-console on cluster A > Registries > {velero.registry} > Edit >
#   Access restrictions: leave only the administrators' CIDRs; Confirm, wait for MASTER-Build
# The portals' routes and their allowed addresses now
COLS='NAME:.metadata.name,HOST:.spec.host'
COLS=\"$COLS,ALLOWED:.metadata.annotations.haproxy\\.router\\.openshift\\.io/ip_whitelist\"
{oc.source} get routes -n {velero.registry} -o custom-columns=\"$COLS\"
# From an address outside them, a portal must not answer
curl -s -I \"https://$({oc.source} get route -n {velero.registry} \\
  -l app=officer-portal -o jsonpath='{.items[0].spec.host}')\"",
        action: None,
        when: When::Always,
    },
    Step {
        id: ids::BACKUP_REGISTRY,
        title: "Back up the registry on cluster A",
        phase: "backup",
        kind: StepKind::Automated,
        destructive: false,
        gate: Gate::Confirm,
        owners: OWNERS,
        seed: None,
        doc: "Does what the Platform's Create-registry-backup-{velero.registry} job does \
              (backup-registry.sh): names the backup `{velero.registry}-<UTC time>` once and \
              records the name, creates a Velero Backup of the namespace {velero.registry} \
              into the location `{velero.registry}` with TTL {velero.backup_ttl}, built for \
              the Velero version found on A (on 1.9 volumes are carried by restic only for \
              pods annotated `backup.velero.io/backup-volumes`), waits for it, and accepts it \
              only when its phase is Completed with no errors and every item backed up \
              (`velero backup create --wait` exits 0 on any final phase). Then writes the \
              YAML of the objects the restore re-applies (the Keycloak custom resources, \
              services, gerrits, jenkins, codebases, codebasebranches, \
              jenkinsauthorizationrolemappings, postgresclusters and the codebase operator's \
              webhook) under `openshift-backups/backups/<backup>/openshift-resources/`.",
        changes: None,
        procedure: "\
# Or run the Jenkins job Create-registry-backup-{velero.registry} on cluster A and take the name
# from its log: [INFO] Velero backup - <name> done with Completed status
BACKUP_NAME={velero.registry}-$(date -u +%Y-%m-%d-%H-%M-%S)
{velero.source} backup create \"${BACKUP_NAME}\" --include-namespaces {velero.registry} \\
  --storage-location {velero.registry} --ttl {velero.backup_ttl} --wait
# Good only when Phase is Completed, Errors 0 and Items backed up = total
{velero.source} backup describe \"${BACKUP_NAME}\" --details
{oc.source} get backup \"${BACKUP_NAME}\" -n {velero.namespace} -o custom-columns=\\
PHASE:.status.phase,ERRORS:.status.errors,DONE:.status.progress.itemsBackedUp,ALL:.status.progress.totalItems
# The objects the restore re-applies, dumped as YAML next to the backup in A's bucket
mkdir -p openshift-resources && cd openshift-resources
for kind in service gerrits jenkins codebases codebasebranches jenkinsauthorizationrolemapping \\
    postgrescluster $({oc.source} get crd -o name | grep keycloak | sed 's|.*/||;s|\\..*||'); do
  mkdir -p \"$kind\"
  for name in $({oc.source} get \"$kind\" -n {velero.registry} -o name); do
    {oc.source} get \"$name\" -n {velero.registry} -o yaml > \"$kind/${name##*/}.yaml\"
  done
done
{oc.source} get validatingwebhookconfiguration \\
  edp-codebase-operator-validating-webhook-configuration-{velero.registry} -o yaml \\
  > validatingwebhookconfiguration/codebase_operator_webhook.yaml
rclone copy . \"a:{velero.source_bucket}/openshift-backups/backups/${BACKUP_NAME}/openshift-resources\"",
        action: Some(Action::VeleroBackup),
        when: When::Always,
    },
    Step {
        id: ids::DISABLE_JENKINS_PIPELINES,
        title: "Disable the registry's Jenkins pipelines on cluster A",
        phase: "backup",
        kind: StepKind::Manual,
        destructive: false,
        gate: Gate::Confirm,
        owners: OWNERS,
        seed: None,
        doc: "Prevents the registry from being changed by its Jenkins pipelines after the \
              backup: in the registry's Jenkins on cluster A, every pipeline of the registry \
              is disabled (Configure > Build Triggers > Disable this project > Save). Confirm \
              when every pipeline shows as disabled.",
        changes: None,
        procedure: "\
# The registry's Jenkins on cluster A
{oc.source} get route jenkins -n {velero.registry} -o custom-columns=HOST:.spec.host --no-headers
# For each pipeline of the registry (the folders of {velero.registry} and registry-regulations):
#   <pipeline> > Configure > Build Triggers > Disable this project > Save
# Or, with an API token of yours (JENKINS_USER, JENKINS_TOKEN), job by job:
curl -sf -X POST -u \"${JENKINS_USER}:${JENKINS_TOKEN}\" \"https://${JENKINS_HOST}/job/${JOB}/disable\"",
        action: None,
        when: When::Always,
    },
    // ---------------------------------------------------------------- transfer
    Step {
        id: ids::TRANSFER_BACKUP,
        title: "Copy the backup from cluster A's object storage to cluster B's",
        phase: "transfer",
        kind: StepKind::Automated,
        destructive: false,
        gate: Gate::None,
        owners: OWNERS,
        seed: None,
        doc: "Copies every object of the backup from A's bucket {velero.source_bucket} to B's \
              bucket {velero.destination_bucket}, under the three prefixes the restore needs: \
              `openshift-backups/backups/<backup>/` (Velero's files and the \
              openshift-resources dump), `openshift-backups/restic/{velero.registry}/` (the \
              restic repository) and `obc-backups/{velero.registry}/` (the replicated object \
              buckets). Streams with bounded memory and shows objects, bytes and rate; \
              compares each object's SHA-256 on both sides and records it in the manifest; \
              copies `velero-backup.json` last, since B's Velero takes the backup as soon as \
              that file is there. Interrupted, it copies again only what is missing or differs.",
        changes: None,
        procedure: "\
# rclone remotes for the two object storages (keys set from the config's references)
export RCLONE_CONFIG_A_TYPE=s3 RCLONE_CONFIG_A_PROVIDER=Minio \\
  RCLONE_CONFIG_A_ENDPOINT={velero.source_endpoint} RCLONE_CONFIG_A_REGION={velero.source_region} \\
  RCLONE_CONFIG_A_ACCESS_KEY_ID=${A_ACCESS_KEY} RCLONE_CONFIG_A_SECRET_ACCESS_KEY=${A_SECRET_KEY}
export RCLONE_CONFIG_B_TYPE=s3 RCLONE_CONFIG_B_PROVIDER=Minio \\
  RCLONE_CONFIG_B_ENDPOINT={velero.destination_endpoint} \\
  RCLONE_CONFIG_B_REGION={velero.destination_region} \\
  RCLONE_CONFIG_B_ACCESS_KEY_ID=${B_ACCESS_KEY} RCLONE_CONFIG_B_SECRET_ACCESS_KEY=${B_SECRET_KEY}
# The restic repository and the object buckets first, the backup's files without
# velero-backup.json, then velero-backup.json last (B's Velero syncs once it is there)
A={velero.source_bucket} B={velero.destination_bucket}
rclone copy --checksum \"a:$A/openshift-backups/restic/{velero.registry}\" \\
  \"b:$B/openshift-backups/restic/{velero.registry}\" --progress
rclone copy --checksum \"a:$A/obc-backups/{velero.registry}\" \"b:$B/obc-backups/{velero.registry}\" --progress
rclone copy --checksum --exclude velero-backup.json \"a:$A/openshift-backups/backups/${BACKUP_NAME}\" \\
  \"b:$B/openshift-backups/backups/${BACKUP_NAME}\" --progress
rclone copy --checksum \"a:$A/openshift-backups/backups/${BACKUP_NAME}/velero-backup.json\" \\
  \"b:$B/openshift-backups/backups/${BACKUP_NAME}/\"
rclone check \"a:$A/openshift-backups/backups/${BACKUP_NAME}\" \\
  \"b:$B/openshift-backups/backups/${BACKUP_NAME}\"",
        action: Some(Action::TransferBackup),
        when: When::Always,
    },
    Step {
        id: ids::WAIT_BACKUP_SYNCED,
        title: "Wait until cluster B's Velero sees the backup",
        phase: "transfer",
        kind: StepKind::Automated,
        destructive: false,
        gate: Gate::None,
        owners: OWNERS,
        seed: None,
        doc: "Waits until the backup shows on cluster B with phase Completed. B's Velero lists \
              its own bucket through the location `{velero.registry}` once per backup sync \
              period (one minute by default) and creates a Backup object for each backup \
              whose `velero-backup.json` it finds; it skips a location that is not Available \
              or whose sync period is 0. If the backup never appears, read the location's \
              lastSyncedTime and the Velero server log on B.",
        changes: None,
        procedure: "\
# B's Velero syncs its bucket every backup sync period (1 minute by default)
until {velero.destination} backup get \"${BACKUP_NAME}\" >/dev/null 2>&1; do sleep 30; done
{velero.destination} backup describe \"${BACKUP_NAME}\"
# Still missing after a few minutes: the location's last sync and the server log on B
{oc.destination} get backupstoragelocation {velero.registry} -n {velero.namespace} \\
  -o custom-columns=PHASE:.status.phase,LAST_SYNC:.status.lastSyncedTime
{oc.destination} logs deployment/velero -n {velero.namespace} | grep -i sync | tail -n 20",
        action: Some(Action::VeleroWaitSynced),
        when: When::Always,
    },
    Step {
        id: ids::EXPORT_KEYCLOAK,
        title: "Export the registry's Keycloak realms and users on cluster A",
        phase: "transfer",
        kind: StepKind::Automated,
        destructive: false,
        gate: Gate::None,
        owners: OWNERS,
        seed: None,
        doc: "Exports, in the Keycloak pod of {velero.keycloak_namespace} on cluster A, every \
              realm the registry's KeycloakRealm resources name (`kc.sh export --dir`: \
              `<realm>-realm.json` and `<realm>-users-N.json`), and keeps the files with the \
              migration's artifacts, each listed with its SHA-256 in the manifest. What \
              migration.sh leaves as `keycloak-export-{velero.registry}-<realm>` directories. \
              The files hold users' credentials: they are written readable only by you.",
        changes: None,
        procedure: "\
# The realms of the registry: spec.realmName of its KeycloakRealm resources on A
{oc.source} get keycloakrealms.v1.edp.epam.com -n {velero.registry} \\
  -o custom-columns=NAME:.metadata.name,REALM:.spec.realmName
KC_POD=$({oc.source} get pods -n {velero.keycloak_namespace} -l app.kubernetes.io/name=keycloak \\
  -o jsonpath='{.items[0].metadata.name}')
umask 077
for realm in $({oc.source} get keycloakrealms.v1.edp.epam.com -n {velero.registry} \\
    -o jsonpath='{.items[*].spec.realmName}'); do
  {oc.source} exec -n {velero.keycloak_namespace} \"$KC_POD\" -- \\
    /opt/keycloak/bin/kc.sh export --dir \"/tmp/export-$realm\" --realm \"$realm\" --users different_files
  mkdir -p \"keycloak-export-{velero.registry}-$realm\"
  {oc.source} cp \"{velero.keycloak_namespace}/$KC_POD:/tmp/export-$realm\" \\
    \"keycloak-export-{velero.registry}-$realm\"
done",
        action: Some(Action::KeycloakExport),
        when: When::Always,
    },
    Step {
        id: ids::IMPORT_KEYCLOAK,
        title: "Import the realms and users into cluster B's Keycloak",
        phase: "transfer",
        kind: StepKind::Automated,
        destructive: false,
        gate: Gate::Confirm,
        owners: OWNERS,
        seed: None,
        doc: "Imports the exported realms into Keycloak on cluster B ({velero.keycloak_url}) \
              through its admin REST API: each realm created from `<realm>-realm.json` \
              (`POST /admin/realms`) when B has no realm of that name, then its users from \
              every `<realm>-users-N.json` (`partialImport` with `ifResourceExists: SKIP`, the \
              SKIP strategy of the Platform's procedure): what B already has is kept as it \
              is. Reports per realm how many users were added and skipped. The admin \
              credentials come from the config's references and are never shown.",
        changes: None,
        procedure: "\
# With the admin console of B's Keycloak ({velero.keycloak_url}; secret `keycloak` in
# {velero.keycloak_namespace} on B holds the admin credentials), for each directory
# keycloak-export-{velero.registry}-<realm>:
#   Select realm > Add realm > Import: <realm>-realm.json; on conflict choose SKIP
#   in that realm: Import > Select file: each <realm>-users-N.json; If a resource exists: Skip
# Or through the admin API (TOKEN as in check-keycloak):
for dir in keycloak-export-{velero.registry}-*; do
  realm=${dir#keycloak-export-{velero.registry}-}
  curl -sf -X POST -H \"Authorization: Bearer ${TOKEN}\" -H 'Content-Type: application/json' \\
    --data @\"$dir/$realm-realm.json\" {velero.keycloak_url}/auth/admin/realms || true
  for users in \"$dir\"/\"$realm\"-users-*.json; do
    jq '. + {ifResourceExists: \"SKIP\"}' \"$users\" | curl -sf -X POST \\
      -H \"Authorization: Bearer ${TOKEN}\" -H 'Content-Type: application/json' --data @- \\
      \"{velero.keycloak_url}/auth/admin/realms/$realm/partialImport\"
  done
done",
        action: Some(Action::KeycloakImport),
        when: When::Always,
    },
    // ---------------------------------------------------------------- restore
    Step {
        id: ids::CREATE_REGISTRY_IN_CONSOLE,
        title: "Create the registry in control-plane-console on cluster B",
        phase: "restore",
        kind: StepKind::Manual,
        destructive: false,
        gate: Gate::Confirm,
        owners: OWNERS,
        seed: None,
        doc: "Creates the registry on cluster B with the same name ({velero.registry}), the \
              same version and the same deployment template as on cluster A, with the same \
              administrators and current key information (test keys may be used and replaced \
              later). Skip the Keycloak and portal DNS settings: traffic still goes to A. \
              Right after creating it, abort its first MASTER-Build-{velero.registry} in the \
              central Jenkins as soon as it starts, and disable that job (Configure > Build \
              Triggers > Disable this project), so that it does not deploy a fresh registry \
              over the one being restored.",
        changes: None,
        procedure: "\
# On cluster A: the registry's version and its deployment template
{oc.source} get codebase {velero.registry} -n {velero.edp_namespace} \\
  -o jsonpath='{.spec.branchToCopyInDefaultBranch} {.spec.defaultBranch}{\"\\n\"}'
{oc.source} get codebase {velero.registry} -n {velero.edp_namespace} \\
  -o jsonpath='{.metadata.annotations.registry-parameters/template-name}{\"\\n\"}'
# control-plane-console on cluster B > Registries > Create: name {velero.registry}, that version
# and template, the same administrators, key information; no DNS for Keycloak and portals
# The central Jenkins on B: abort the first MASTER-Build-{velero.registry}, then disable it
{oc.destination} get route jenkins -n {velero.edp_namespace} -o custom-columns=HOST:.spec.host --no-headers
#   {velero.registry} > MASTER-Build-{velero.registry} > the running build > Abort
#   MASTER-Build-{velero.registry} > Configure > Build Triggers > Disable this project > Save",
        action: None,
        when: When::Always,
    },
    Step {
        id: ids::COPY_REGISTRY_VALUES,
        title: "Copy the registry's values.yaml and values.gotmpl to cluster B's Gerrit",
        phase: "restore",
        kind: StepKind::Manual,
        destructive: false,
        gate: Gate::Confirm,
        owners: OWNERS,
        seed: None,
        doc: "Moves the registry's configuration: `deploy-templates/values.yaml` and \
              `deploy-templates/values.gotmpl` of the `{velero.registry}` repository in cluster \
              A's central Gerrit (branch master) replace those of the same repository on \
              cluster B, through a Gerrit change on master described `Update registry before \
              migration`; when its Code Review pipeline gives Verified +1, review +2 and \
              submit it. Also applies the Platform's CRDs the registry needs if B never had a \
              registry (`ingressclassparameterses.configuration.konghq.com` missing).",
        changes: None,
        procedure: "\
# The central Gerrit on A and on B (sign in with openshift-sso)
{oc.source} get route gerrit -n {velero.edp_namespace} -o custom-columns=HOST:.spec.host --no-headers
{oc.destination} get route gerrit -n {velero.edp_namespace} -o custom-columns=HOST:.spec.host --no-headers
# A: Browse > Repositories > {velero.registry} > Branches > master > deploy-templates:
#    copy the raw values.yaml and values.gotmpl
# B: {velero.registry} > Commands > Create change: branch master,
#    description 'Update registry before migration'; Edit > ADD/OPEN/UPLOAD each file,
#    paste A's content, Save; after Verified +1: Code-Review +2, Submit
# CRDs: if this answers NotFound, apply the Platform's CRDs (crds/ of registry-migration.zip)
{oc.destination} get customresourcedefinition ingressclassparameterses.configuration.konghq.com",
        action: None,
        when: When::Always,
    },
    Step {
        id: ids::RESTORE_REGISTRY,
        title: "Restore the registry on cluster B",
        phase: "restore",
        kind: StepKind::Automated,
        destructive: true,
        gate: Gate::Typed("restore registry"),
        owners: OWNERS,
        seed: None,
        doc: "Does what the Platform's Restore-registry-{velero.registry} job does \
              (restore-registry.sh), in its order, each Restore built for B's Velero version \
              and waited for: re-applies the saved YAML (the codebase operator's webhook, \
              services, gerrits, jenkins); restores `<backup>-<time>-init` without pods, \
              replica sets, deployments, statefulsets, object bucket claims, deployment \
              configs, autoscalers, daemon sets, redisfailovers, kafkas, kafkaconnects and \
              postgresclusters; grows Kafka's claims by 40Gi (once, from their size before); \
              then one restore per stateful component by its label (vault, nexus, gerrit, \
              jenkins, the operational and analytical PostgreSQL clusters, kafka, zookeeper, \
              redis with its redisfailovers, redis-admin, redis-viewer, geo-server), seeing \
              each pod's restic restore initialised, then replacing its pods; after each \
              PostgreSQL cluster, applies its saved PostgresCluster again and gives it its \
              instance and pgBackRest accounts; then `<backup>-<time>-resources` without pods, \
              routes and object bucket claims; replaces the registry's Jenkins role mappings \
              by the saved ones and makes the Platform's again; restarts the keycloak-operator; \
              deletes the registry's Keycloak client secret and restores the secrets; restarts \
              the registry's keycloak-operator and digital-signature-ops. A PartiallyFailed \
              restore shows its warnings and errors and asks; run again, the step goes on with \
              the stage that did not finish.",
        changes: Some(
            "Create the namespace {velero.registry} on cluster B ({destination.context}) and \
             every object of the backup in it, in stages (init, one per stateful component, \
             resources, secrets), each Restore named <backup>-<time>-<stage> in \
             {velero.namespace}, with the volume data written back by restic; re-apply the \
             saved services, gerrits, jenkins, PostgresClusters and Jenkins role mappings and \
             the codebase operator's webhook; grow Kafka's volume claims by 40Gi; delete the \
             pods of the restored components, of the keycloak-operators and of \
             digital-signature-ops (their workloads make them again), and the secret \
             keycloak-client.{velero.registry}-admin.secret before the secrets' restore brings \
             A's. Existing objects are left as they are. Nothing changes on cluster A \
             ({source.context}).",
        ),
        procedure: "\
# Or run the Jenkins job Restore-registry-{velero.registry} in the central Jenkins on cluster B
# (choose the backup at the cleanup-registry-before-restore stage); more than 1-2 hours: L2-L3
T=$(date -u +%H%M%S)
# 1. Everything but the workloads and the operators' resources
{velero.destination} restore create \"${BACKUP_NAME}-$T-init\" --from-backup \"${BACKUP_NAME}\" \\
  --exclude-resources pods,replicasets,deployments,objectbucketclaims,deploymentconfigs,\\
statefulsets,horizontalpodautoscalers,daemonsets,redisfailovers,kafkas,kafkaconnects,postgrescluster \\
  --wait
# Kafka's claims: 40Gi more than they have now (once)
{oc.destination} get pvc -n {velero.registry} -l strimzi.io/name=kafka-cluster-kafka \\
  -o custom-columns=NAME:.metadata.name,SIZE:.spec.resources.requests.storage
{oc.destination} patch pvc <claim> -n {velero.registry} --type=merge \\
  -p '{\"spec\":{\"resources\":{\"requests\":{\"storage\":\"<size + 40>Gi\"}}}}'
# 2. Each stateful component by its label, in this order, its pods' restic init seen
#    Initialized, then its pods deleted (their workloads make them again)
for sel in app.kubernetes.io/name=vault app=nexus app=gerrit app=jenkins \\
    postgres-operator.crunchydata.com/cluster=operational \\
    postgres-operator.crunchydata.com/cluster=analytical strimzi.io/name=kafka-cluster-kafka \\
    strimzi.io/name=kafka-cluster-zookeeper app.kubernetes.io/component=redis app=redis-admin \\
    app=redis-viewer app.kubernetes.io/instance=geo-server; do
  name=$(echo \"$sel\" | sed 's|.*[=/]||')
  {velero.destination} restore create \"${BACKUP_NAME}-$T-$name\" --from-backup \"${BACKUP_NAME}\" \\
    --selector \"$sel\" --wait
  {oc.destination} wait pod -l \"$sel\" -n {velero.registry} --for=condition=Initialized --timeout=30m
  {oc.destination} delete pod -l \"$sel\" -n {velero.registry} --wait=true
done
{velero.destination} restore create \"${BACKUP_NAME}-$T-redisfailovers\" \\
  --from-backup \"${BACKUP_NAME}\" --include-resources redisfailovers --wait
# After each PostgreSQL cluster: its saved PostgresCluster (openshift-resources/postgrescluster/)
# applied again, and <cluster>-instance, <cluster>-pgbackrest (role, rolebinding,
# serviceaccount) given ownerReferences to it (its uid on B)
# 3. The rest, the role mappings, the Keycloak operator, then the secrets
{velero.destination} restore create \"${BACKUP_NAME}-$T-resources\" --from-backup \"${BACKUP_NAME}\" \\
  --exclude-resources pods,routes,objectbucketclaims --wait
{oc.destination} delete jenkinsauthorizationrolemapping -n {velero.registry} --all
#   then oc apply -f each saved openshift-resources/jenkinsauthorizationrolemapping/*.yaml
{oc.destination} delete pods -n {velero.keycloak_namespace} -l name=keycloak-operator
{oc.destination} delete secret -n {velero.registry} keycloak-client.{velero.registry}-admin.secret
{velero.destination} restore create \"${BACKUP_NAME}-$T-secrets\" --from-backup \"${BACKUP_NAME}\" \\
  --include-resources secrets --wait
{oc.destination} delete pods -n {velero.registry} -l name=keycloak-operator
{oc.destination} delete pods -n {velero.registry} -l app=digital-signature-ops
# Each: Phase Completed; otherwise its warnings and errors
{velero.destination} restore describe \"${BACKUP_NAME}-$T-init\" --details",
        action: Some(Action::VeleroRestore),
        when: When::Always,
    },
    Step {
        id: ids::REGISTRY_POST_FIXES,
        title: "Fix the restored registry: database passwords, Nexus whitelist, Gerrit, Kafka",
        phase: "restore",
        kind: StepKind::Automated,
        destructive: false,
        gate: Gate::Confirm,
        owners: OWNERS,
        seed: None,
        doc: "The Platform's post-restore fixes that the Kubernetes API reaches, each checked \
              after: sets the `postgres` role's password in the operational and analytical \
              PostgreSQL instances to the one of their secrets `operational-pguser-postgres` \
              and `analytical-pguser-postgres` (then restarts bpms); adds cluster B's egress \
              address with /32 to the Nexus route's `haproxy.router.openshift.io/ip_whitelist` \
              when it is missing; deletes every GerritGroupMember of {velero.registry}; and \
              reports the Kafka volumes' restored sizes, which values.gotmpl's \
              `storage.kafka.size` must match. The Vault `seal \"transit\"` block and the \
              Jenkins SSH key are shown as what is left to do by hand.",
        changes: None,
        procedure: "\
# PostgreSQL: the postgres role takes the password of its secret, in each instance
for c in operational analytical; do
  POD=$({oc.destination} get pods -n {velero.registry} -l postgres-operator.crunchydata.com/cluster=$c \\
    -l postgres-operator.crunchydata.com/role=master -o jsonpath='{.items[0].metadata.name}')
  PW=$({oc.destination} extract secret/$c-pguser-postgres -n {velero.registry} \\
    --keys=password --to=-)
  printf \"ALTER ROLE postgres WITH PASSWORD '%s';\\n\" \"$PW\" | \\
    {oc.destination} exec -i -n {velero.registry} \"$POD\" -c database -- psql -q
done
{oc.destination} delete pod -n {velero.registry} -l app=bpms
# Nexus: cluster B's egress IP (/32) in the route's whitelist
{oc.destination} get route nexus -n {velero.registry} \\
  -o jsonpath='{.metadata.annotations.haproxy\\.router\\.openshift\\.io/ip_whitelist}{\"\\n\"}'
{oc.destination} annotate route nexus -n {velero.registry} --overwrite \\
  \"haproxy.router.openshift.io/ip_whitelist=${CURRENT_WHITELIST} {velero.destination_egress_ip}/32\"
# Gerrit group members are made again by the operator
{oc.destination} -n {velero.registry} delete gerritgroupmember --all
# Kafka: values.gotmpl storage.kafka.size must equal the capacity of data-0-kafka-cluster-kafka-0
{oc.destination} get pvc -n {velero.registry} -l strimzi.io/name=kafka-cluster-kafka \\
  -o custom-columns=NAME:.metadata.name,CAPACITY:.status.capacity.storage
# By hand: values.gotmpl vault.server.standalone.config with the seal \"transit\" block of the
# configmap hashicorp-vault-config, then after MASTER-Build the Jenkins credential
# gerrit-ci-users-sshkey from secret gerrit-control-plane-sshkey (id_rsa)",
        action: Some(Action::RegistryPostFixes),
        when: When::Always,
    },
    Step {
        id: ids::SWITCH_REGULATIONS_DNS,
        title: "Point the regulations at cluster B and bump their version",
        phase: "restore",
        kind: StepKind::Manual,
        destructive: false,
        gate: Gate::Confirm,
        owners: OWNERS,
        seed: None,
        doc: "In the registry's own Gerrit on cluster B, the `registry-regulations` repository \
              is cloned, every mention of cluster A's DNS wildcard under `data-model/` is \
              replaced by cluster B's ({source.wildcard_domain} to \
              {destination.wildcard_domain}), the minor version in `settings.yaml` \
              (`settings.general.version`) is raised by one, and the change is pushed for \
              review, given Code-Review +2 and submitted. Confirm when the pipelines of the \
              registry-regulations folder in the registry's Jenkins end with Success.",
        changes: None,
        procedure: "\
# The registry's Gerrit on B: Settings > HTTP Credentials > Generate New Password; then clone
{oc.destination} get route gerrit -n {velero.registry} -o custom-columns=HOST:.spec.host --no-headers
git clone \"https://${GERRIT_HOST}/registry-regulations\" && cd registry-regulations
# settings.yaml: settings.general.version +1 in the minor place (2.21.0 -> 2.21.1)
sed -n '/version:/p' settings.yaml
# Cluster A's DNS wildcard becomes cluster B's in data-model/
cd data-model
find . \\( -type d -name .git -prune \\) -o -type f -print0 | \\
  xargs -0 sed -i -e 's/{source.wildcard_domain}/{destination.wildcard_domain}/g'
cd .. && git add --all && git commit -m 'Update nexus URL'
git push origin refs/heads/master:refs/for/master
# In the registry's Gerrit: Code-Review +2, Submit; then the registry-regulations pipelines
# in the registry's Jenkins end with Success",
        action: None,
        when: When::Always,
    },
    // ---------------------------------------------------------------- verify
    Step {
        id: ids::VERIFY_REGISTRY,
        title: "Verify the restored registry",
        phase: "verify",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: OWNERS,
        seed: None,
        doc: "Checks that every restore is Completed with no errors, that the pods of \
              {velero.registry} on cluster B are running and ready (none in error: bpms and \
              registry-rest-api in particular), and compares object counts per kind between A \
              and B (pods, replica sets and token secrets may differ; large gaps mean skipped \
              or failed items). Then the user portals and the business processes answer, and \
              every Jenkins pipeline of the registry ends with Success. Loading your own data \
              is not part of this runbook: extract and transform it from your current system \
              first, with your own tools; the Platform then handles only the Load stage of \
              ETL (seed §6).",
        changes: None,
        procedure: "\
# Every restore of this backup is Completed with 0 errors
{velero.destination} restore get | grep \"${BACKUP_NAME}\"
# Pods neither Running nor Completed, then the running ones become ready
{oc.destination} get pods -n {velero.registry} \\
  --field-selector=status.phase!=Running,status.phase!=Succeeded
{oc.destination} wait pod --all -n {velero.registry} --field-selector=status.phase=Running \\
  --for=condition=Ready --timeout=15m
# Object counts on A and on B
{oc.source} get all,configmaps,secrets,pvc -n {velero.registry} --no-headers | wc -l
{oc.destination} get all,configmaps,secrets,pvc -n {velero.registry} --no-headers | wc -l
# The portals answer through B's router (hosts keep A's names until DNS moves)
for host in $({oc.destination} get routes -n {velero.registry} -o jsonpath='{.items[*].spec.host}'); do
  echo \"$host: $(curl -sk -I --resolve \"$host:443:${B_ROUTER_IP}\" \"https://$host\" | head -n 1)\"
done",
        action: Some(Action::VeleroVerify),
        when: When::Always,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_exactly_the_specified_ones() {
        use Action as A;
        use StepKind::{Automated, Check, Manual};
        type Row = (
            &'static str,
            &'static str,
            StepKind,
            bool,
            Gate,
            Option<Action>,
        );
        let want: &[Row] = &[
            (
                "check-kubeconfigs",
                "prerequisites",
                Check,
                false,
                Gate::None,
                Some(A::CheckKubeconfigs),
            ),
            (
                "check-cluster-access",
                "prerequisites",
                Check,
                false,
                Gate::None,
                Some(A::CheckClusterAccess),
            ),
            (
                "check-platform-installed",
                "prerequisites",
                Check,
                false,
                Gate::None,
                Some(A::CheckPlatformInstalled),
            ),
            (
                "check-versions-match",
                "prerequisites",
                Check,
                false,
                Gate::None,
                Some(A::CheckPlatformVersions),
            ),
            (
                "check-keycloak",
                "prerequisites",
                Check,
                false,
                Gate::None,
                Some(A::CheckKeycloak),
            ),
            (
                "check-velero",
                "prerequisites",
                Check,
                false,
                Gate::None,
                Some(A::CheckVelero),
            ),
            (
                "check-target-clean",
                "prerequisites",
                Check,
                false,
                Gate::None,
                Some(A::CheckTargetClean),
            ),
            (
                "block-user-access",
                "backup",
                Manual,
                false,
                Gate::Confirm,
                None,
            ),
            (
                "backup-registry",
                "backup",
                Automated,
                false,
                Gate::Confirm,
                Some(A::VeleroBackup),
            ),
            (
                "disable-jenkins-pipelines",
                "backup",
                Manual,
                false,
                Gate::Confirm,
                None,
            ),
            (
                "transfer-backup",
                "transfer",
                Automated,
                false,
                Gate::None,
                Some(A::TransferBackup),
            ),
            (
                "wait-backup-synced",
                "transfer",
                Automated,
                false,
                Gate::None,
                Some(A::VeleroWaitSynced),
            ),
            (
                "export-keycloak",
                "transfer",
                Automated,
                false,
                Gate::None,
                Some(A::KeycloakExport),
            ),
            (
                "import-keycloak",
                "transfer",
                Automated,
                false,
                Gate::Confirm,
                Some(A::KeycloakImport),
            ),
            (
                "create-registry-in-console",
                "restore",
                Manual,
                false,
                Gate::Confirm,
                None,
            ),
            (
                "copy-registry-values",
                "restore",
                Manual,
                false,
                Gate::Confirm,
                None,
            ),
            (
                "restore-registry",
                "restore",
                Automated,
                true,
                Gate::Typed("restore registry"),
                Some(A::VeleroRestore),
            ),
            (
                "registry-post-fixes",
                "restore",
                Automated,
                false,
                Gate::Confirm,
                Some(A::RegistryPostFixes),
            ),
            (
                "switch-regulations-dns",
                "restore",
                Manual,
                false,
                Gate::Confirm,
                None,
            ),
            (
                "verify-registry",
                "verify",
                Check,
                false,
                Gate::None,
                Some(A::VeleroVerify),
            ),
        ];
        assert_eq!(RUNBOOK.steps.len(), want.len());
        for (step, (id, phase, kind, destructive, gate, action)) in RUNBOOK.steps.iter().zip(want) {
            assert_eq!(step.id.0, *id);
            assert_eq!(step.phase, *phase, "{id}");
            assert_eq!(step.kind, *kind, "{id}");
            assert_eq!(step.destructive, *destructive, "{id}");
            assert_eq!(step.gate, *gate, "{id}");
            assert_eq!(step.action, *action, "{id}");
            assert_eq!(
                step.owners,
                &[(AccessPath::ClusterAdmin, Party::Both)],
                "{id}"
            );
            assert_eq!(step.owner(AccessPath::ClusterAdmin), Some(Party::Both));
            assert!(step.seed.is_none(), "{id}");
            assert_eq!(step.when, When::Always, "{id}");
        }
        let phases: Vec<(&str, &str)> = RUNBOOK.phases.iter().map(|p| (p.id, p.title)).collect();
        assert_eq!(
            phases,
            [
                ("prerequisites", "Prerequisites"),
                ("backup", "Back up on cluster A"),
                ("transfer", "Move the backup and the users to cluster B"),
                ("restore", "Restore on cluster B"),
                ("verify", "Verify"),
            ]
        );
        assert_eq!(RUNBOOK.paths, &[AccessPath::ClusterAdmin]);
        assert_eq!(
            RUNBOOK.steps_on(AccessPath::ClusterAdmin).count(),
            want.len()
        );
        assert_eq!(RUNBOOK.steps_on(AccessPath::Limited).count(), 0);
    }

    #[test]
    fn notes_and_checklist_cover_the_seed() {
        let notes = RUNBOOK.notes.join("\n");
        for word in ["Load", "bare OKD", "identical"] {
            assert!(notes.contains(word), "{word}");
        }
        let verify = RUNBOOK.step("verify-registry").unwrap();
        assert!(
            verify.doc.trim_end().ends_with("(seed §6)."),
            "ETL note ends the verify doc"
        );
        assert!(verify.doc.contains("Load stage"));
        assert_eq!(RUNBOOK.checklist(AccessPath::ClusterAdmin).len(), 5);
        assert!(RUNBOOK.checklist(AccessPath::NoAccess).is_empty());
    }
}
