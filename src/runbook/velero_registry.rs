//! Runbook `velero-registry`: a registry of the EPAM Digital Registries Platform moved between
//! two OKD clusters with Velero (facts from Velero's own sources and the Platform's "Migrating
//! registries" procedure, epam/edp-ddm-architecture and epam/edp-ddm-backup-management).
//! Cluster A is the config's `source`, cluster B its `destination`.

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
         (e.g. 1.9.5 on both). If they differ, first upgrade the Platform on B or the registry \
         on A; nothing else makes the migration possible (seed §3).",
        "Velero carries the Kubernetes objects of the registry's namespaces and, by file-system \
         backup, their volume data. The Platform's own migration procedure also moves Keycloak \
         realms and users, the registry's values in Gerrit, and fixes routes, DNS and secrets \
         afterwards; those steps are not automated here and stay with the platform team.",
    ],
    checklists: &[(
        AccessPath::ClusterAdmin,
        &[
            "You are cluster-admin (and Platform administrator in control-plane-console) on \
             cluster A and on cluster B, at the same time.",
            "Cluster B runs the Platform, deployed by the Platform deployment, which installed \
             Keycloak and Velero there; it is not a bare OKD cluster.",
            "One object storage bucket and prefix is reachable from both clusters, with \
             credentials for Velero on each (read-only on cluster B).",
            "A maintenance window is agreed with the registry's users: end-user access is \
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
        owners: &[(AccessPath::ClusterAdmin, Party::Both)],
        seed: None,
        doc: "Connects to cluster A and cluster B with their kubeconfigs and contexts, checks \
              that both API servers answer and that the Velero namespace exists, and asks each \
              API server (SelfSubjectAccessReview) for the permissions the backup, restore and \
              checks need: Velero backups and restores in the Velero namespace, listing \
              namespaces and deployments. A denied permission is listed with its verb, \
              resource and namespace. Read-only.",
        changes: None,
        procedure: r#"# Both API servers answer
{oc.source} version
{oc.destination} version
# The Velero namespace exists on both
{oc.source} get namespace {velero.namespace}
{oc.destination} get namespace {velero.namespace}
# Permissions: each answers yes or no
{oc.source} auth can-i create backups.velero.io -n {velero.namespace}
{oc.destination} auth can-i list backups.velero.io -n {velero.namespace}
{oc.destination} auth can-i create restores.velero.io -n {velero.namespace}
{oc.source} auth can-i list namespaces
{oc.destination} auth can-i list namespaces"#,
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
        doc: "Checks that the Platform and its central components run on cluster A and on \
              cluster B: the control-plane namespace (control-plane-console, Gerrit, Jenkins, \
              Nexus), user management and Velero. Installing them on both clusters is the \
              precondition of any migration (seed §3); the registry is then restored into a \
              Platform that already exists on B, never deployed from the backup.",
        changes: None,
        procedure: "\
# The Platform's central components run on both clusters
{oc.source} get pods -n control-plane
{oc.destination} get pods -n control-plane
{oc.source} get routes -n control-plane
{oc.destination} get routes -n control-plane
# Every pod Running or Completed; list the others on B
{oc.destination} get pods -n control-plane \\
  --field-selector=status.phase!=Running,status.phase!=Succeeded",
        action: Some(Action::CheckPlatformInstalled),
        when: When::Always,
    },
    Step {
        id: ids::CHECK_VERSIONS_MATCH,
        title: "Check that Platform and registry versions are identical on A and B",
        phase: "prerequisites",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: OWNERS,
        seed: None,
        doc: "Compares the Platform and registry versions on cluster A and cluster B. This is \
              the check that makes migration possible at all: the seed allows it only between \
              identical versions (§3). The Platform's migration guide is more precise: B's \
              control-plane-gerrit must match the registry's version, which shows as a branch \
              named for that version in the cluster-mgmt repository of B's central Gerrit; if \
              it is missing, upgrade the Platform on B or the registry on A first. Velero does \
              not restore into a lower Kubernetes version either, so B's Kubernetes must not \
              be older than A's.",
        changes: None,
        procedure: "\
# Set first: REGISTRY (the registry's name), REGISTRY_VERSION, CLUSTER_MGMT_REPO_URL
# The registry's Codebase on cluster A (its version and deployment template)
{oc.source} get codebase ${REGISTRY} -n control-plane -o yaml
# Platform component images, cluster A then cluster B: the versions must be the same
{oc.source} get deployments -n control-plane -o wide
{oc.destination} get deployments -n control-plane -o wide
# B's central Gerrit has a branch named for the registry version in cluster-mgmt
git ls-remote --heads ${CLUSTER_MGMT_REPO_URL} | grep ${REGISTRY_VERSION}
# Kubernetes on B is not older than on A
{oc.source} version
{oc.destination} version",
        action: Some(Action::CheckPlatformVersions),
        when: When::Always,
    },
    Step {
        id: ids::CHECK_KEYCLOAK,
        title: "Check that Keycloak runs on cluster B",
        phase: "prerequisites",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: OWNERS,
        seed: None,
        doc: "Checks that cluster B is not a bare OKD cluster: Keycloak, the Platform's user \
              management, is installed and answering. Portal and admin-tool logins rely on it, \
              which is why the seed rules out a bare target (§4); Keycloak is installed and \
              updated only by the Platform deployment. The registry's Keycloak objects are \
              custom resources, so the Keycloak CRDs must also exist on B as on A.",
        changes: None,
        procedure: "\
# Keycloak (user-management namespace) runs on cluster B
{oc.destination} get pods -n user-management
{oc.destination} get route keycloak -n user-management
# It answers
KC_HOST=$({oc.destination} get route keycloak -n user-management \\
  -o custom-columns=HOST:.spec.host --no-headers)
curl -sk -I \"https://${KC_HOST}\" | head -n 1
# The Keycloak CRDs are the same on A and B
diff <({oc.source} get crd -o name | grep -i keycloak) \\
  <({oc.destination} get crd -o name | grep -i keycloak)",
        action: Some(Action::CheckKeycloak),
        when: When::Always,
    },
    Step {
        id: ids::CHECK_VELERO,
        title: "Check Velero and the shared backup storage location",
        phase: "prerequisites",
        kind: StepKind::Check,
        destructive: false,
        gate: Gate::None,
        owners: OWNERS,
        seed: None,
        doc: "Checks that Velero runs on both clusters in the same namespace, with its \
              file-system backup daemon set, and that the configured backup storage location \
              exists on both, points at the same bucket and prefix, and is Available. Cluster \
              B only sees A's backup through that shared location, so on B it must also have \
              a backup sync period other than 0. The Platform installs \
              each cluster's default location on its own MinIO; when they differ, create on B \
              a read-only location over A's bucket (Velero's migration guide recommends \
              ReadOnly on the target so it cannot delete or overwrite A's backups).",
        changes: None,
        procedure: "\
# Velero runs on both clusters, in the same namespace; client and server versions
{velero.source} version
{velero.destination} version
{oc.source} get deployments,daemonsets -n {velero.namespace}
{oc.destination} get deployments,daemonsets -n {velero.namespace}
# The location exists on both, same BUCKET/PREFIX, PHASE Available
{velero.source} backup-location get {velero.storage_location}
{velero.destination} backup-location get {velero.storage_location}
# Sync must not be disabled on B (backupSyncPeriod: 0s)
{oc.destination} get backupstoragelocation {velero.storage_location} \\
  -n {velero.namespace} -o yaml
# Missing on B: create it read-only over A's bucket (credentials in a secret on B):
# {velero.destination} backup-location create {velero.storage_location} --provider aws \\
#   --bucket ${BUCKET} --prefix ${PREFIX} --access-mode ReadOnly --credential ${SECRET}=cloud \\
#   --config region=${REGION},s3ForcePathStyle=true,s3Url=${S3_URL}",
        action: Some(Action::CheckVelero),
        when: When::Always,
    },
    // ---------------------------------------------------------------- backup
    Step {
        id: ids::BACKUP_REGISTRY,
        title: "Back up the registry on cluster A",
        phase: "backup",
        kind: StepKind::Automated,
        destructive: false,
        gate: Gate::Confirm,
        owners: OWNERS,
        seed: None,
        doc: "Creates a Velero Backup of the registry's namespaces (named in the config) on \
              cluster A into the shared storage location, waits for phase Completed, and reports \
              the items backed up and the counts of errors and warnings (their text is only in \
              the backup log). A PartiallyFailed backup fails the step: Velero could restore it, \
              but the Platform's procedure proceeds only from a Completed backup. Block end-user \
              access first, so nothing changes after the backup. Volume data crosses clouds only \
              by file-system backup, so the registry's volumes must be opted in; `describe` and \
              `logs` fetch from object storage through a pre-signed URL this machine must reach.",
        changes: None,
        procedure: "\
# End-user access is blocked and the registry's Jenkins pipelines are disabled.
# Back up the registry's namespaces on cluster A and wait for the end
{velero.source} backup create {velero.backup} --include-namespaces {velero.namespaces} \\
  --storage-location {velero.storage_location} --wait
# Volume data is carried only by file-system backup: pods opt in with the annotation
# backup.velero.io/backup-volumes, or add --default-volumes-to-fs-backup (Velero >= 1.10;
# --default-volumes-to-restic on 1.9)
# Phase must be Completed; items backed up, errors, warnings, resource list
{velero.source} backup describe {velero.backup} --details
# The text of errors and warnings
{velero.source} backup logs {velero.backup} | grep -Ei 'level=(error|warning)'",
        action: Some(Action::VeleroBackup),
        when: When::Always,
    },
    Step {
        id: ids::WAIT_BACKUP_SYNCED,
        title: "Wait until cluster B sees the backup",
        phase: "backup",
        kind: StepKind::Automated,
        destructive: false,
        gate: Gate::None,
        owners: OWNERS,
        seed: None,
        doc: "Waits until the backup shows on cluster B with phase Completed. Cluster B's \
              Velero lists the shared bucket once per backup sync period (one \
              minute by default) and creates a Backup object for each backup it does not have; \
              it skips a location that is not Available or whose sync period is 0. If the \
              backup never appears, compare the locations' bucket and prefix and read the \
              location's lastSyncedTime and the Velero server log on B.",
        changes: None,
        procedure: "\
# Cluster B's Velero syncs the bucket every backup sync period (1 minute by default)
until {velero.destination} backup get {velero.backup} >/dev/null 2>&1; do sleep 30; done
# The synced backup: phase Completed
{velero.destination} backup get {velero.backup}
{velero.destination} backup describe {velero.backup}
# Still missing after a few minutes: location phase, last sync, server log on B
{oc.destination} get backupstoragelocation {velero.storage_location} \\
  -n {velero.namespace} -o yaml
{oc.destination} logs deployment/velero -n {velero.namespace} | grep -i sync | tail -n 20",
        action: Some(Action::VeleroWaitSynced),
        when: When::Always,
    },
    // ---------------------------------------------------------------- restore
    Step {
        id: ids::RESTORE_REGISTRY,
        title: "Restore the registry on cluster B",
        phase: "restore",
        kind: StepKind::Automated,
        destructive: true,
        gate: Gate::Typed("restore registry"),
        owners: OWNERS,
        seed: None,
        doc: "Creates a Velero Restore on cluster B from the backup made on cluster A and \
              waits for it to finish. The registry must not exist on B yet: objects already \
              there are skipped with an 'already exists' warning and keep their \
              in-cluster version, and a namespace still Terminating makes the restore hang. \
              PersistentVolumeClaims keep their storage class names, so B needs classes of the \
              same names (or a change-storage-class mapping in the Velero namespace). A running \
              restore cannot be cancelled; undoing it means deleting the restored namespaces.",
        changes: Some(
            "Create the namespaces {velero.namespaces} on cluster B ({destination.context}) and \
             every object of backup {velero.backup} in them, with the cluster-scoped objects the \
             backup holds for them (such as PersistentVolumes and CustomResourceDefinitions), \
             each labelled velero.io/restore-name={velero.restore}, and write the backed-up \
             volume data into new volumes. Existing objects are left as they are \
             (existingResourcePolicy none: skipped with a warning; service accounts are merged). \
             Nothing changes on cluster A ({source.context}).",
        ),
        procedure: "\
# The registry does not exist on cluster B yet: each namespace answers NotFound
for ns in $(echo {velero.namespaces} | tr ',' ' '); do
  {oc.destination} get namespace \"$ns\"
done
# Restore the whole backup on cluster B; existing objects are skipped, not updated
{velero.destination} restore create {velero.restore} --from-backup {velero.backup} \\
  --existing-resource-policy none --wait
# Phase, items restored, errors and warnings, then their text
{velero.destination} restore describe {velero.restore} --details
{velero.destination} restore logs {velero.restore} | grep -Ei 'level=(error|warning)'",
        action: Some(Action::VeleroRestore),
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
        doc: "Checks that the restore is Completed with no errors, that the pods of the \
              restored namespaces are running and ready, that the registry's components \
              answer, and compares object counts per namespace between A and B (pods, replica \
              sets and token secrets may differ; large gaps mean skipped or failed items). \
              Restored routes keep cluster A's host names until DNS moves to B, so test them \
              through B's router. Loading your own data is not part of this runbook: extract \
              and transform it from your current system first, with your own tools; the \
              Platform then handles only the Load stage of ETL (seed §6).",
        changes: None,
        procedure: "\
# The restore is Completed with 0 errors
{velero.destination} restore get {velero.restore}
{velero.destination} restore describe {velero.restore}
for ns in $(echo {velero.namespaces} | tr ',' ' '); do
  echo \"== $ns\"
  # Pods neither Running nor Completed, then the running ones become ready
  {oc.destination} get pods -n \"$ns\" \\
    --field-selector=status.phase!=Running,status.phase!=Succeeded
  {oc.destination} wait pod --all -n \"$ns\" --field-selector=status.phase=Running \\
    --for=condition=Ready --timeout=15m
  # Object counts: cluster A, cluster B, restored by this restore
  {oc.source} get all,configmaps,secrets,pvc -n \"$ns\" --no-headers | wc -l
  {oc.destination} get all,configmaps,secrets,pvc -n \"$ns\" --no-headers | wc -l
  {oc.destination} get all -n \"$ns\" -l velero.io/restore-name={velero.restore} \\
    --no-headers | wc -l
  # Components answer through B's router (route hosts keep A's names until DNS moves)
  for host in $({oc.destination} get routes -n \"$ns\" \\
      -o custom-columns=H:.spec.host --no-headers); do
    curl -sk -I --resolve \"$host:443:${B_ROUTER_IP}\" \"https://$host\" | head -n 1
  done
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
        use StepKind::{Automated, Check};
        let want: &[(&str, &str, StepKind, bool, Gate, Action)] = &[
            (
                "check-kubeconfigs",
                "prerequisites",
                Check,
                false,
                Gate::None,
                A::CheckKubeconfigs,
            ),
            (
                "check-cluster-access",
                "prerequisites",
                Check,
                false,
                Gate::None,
                A::CheckClusterAccess,
            ),
            (
                "check-platform-installed",
                "prerequisites",
                Check,
                false,
                Gate::None,
                A::CheckPlatformInstalled,
            ),
            (
                "check-versions-match",
                "prerequisites",
                Check,
                false,
                Gate::None,
                A::CheckPlatformVersions,
            ),
            (
                "check-keycloak",
                "prerequisites",
                Check,
                false,
                Gate::None,
                A::CheckKeycloak,
            ),
            (
                "check-velero",
                "prerequisites",
                Check,
                false,
                Gate::None,
                A::CheckVelero,
            ),
            (
                "backup-registry",
                "backup",
                Automated,
                false,
                Gate::Confirm,
                A::VeleroBackup,
            ),
            (
                "wait-backup-synced",
                "backup",
                Automated,
                false,
                Gate::None,
                A::VeleroWaitSynced,
            ),
            (
                "restore-registry",
                "restore",
                Automated,
                true,
                Gate::Typed("restore registry"),
                A::VeleroRestore,
            ),
            (
                "verify-registry",
                "verify",
                Check,
                false,
                Gate::None,
                A::VeleroVerify,
            ),
        ];
        assert_eq!(RUNBOOK.steps.len(), want.len());
        for (step, (id, phase, kind, destructive, gate, action)) in RUNBOOK.steps.iter().zip(want) {
            assert_eq!(step.id.0, *id);
            assert_eq!(step.phase, *phase, "{id}");
            assert_eq!(step.kind, *kind, "{id}");
            assert_eq!(step.destructive, *destructive, "{id}");
            assert_eq!(step.gate, *gate, "{id}");
            assert_eq!(step.action, Some(*action), "{id}");
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
