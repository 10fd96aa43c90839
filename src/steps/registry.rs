//! The one place that says how each action runs: every `Action` of the runbooks is matched here,
//! to its implementation or, explicitly, to `ManualForNow`. The match has no wildcard arm, so a
//! new `Action` does not compile until someone decides about it. The same for each runbook's
//! rollback.

use super::action::StepAction;
use super::rollback::{self, RollbackAction};
use super::{
    connect, convert, destination, drain, inventory, pgdump, platform, prereq, redisdump, rewrite,
    rhoam_users, scale, secrets, seed, start, threescale_checks, upgrade,
};
use crate::runbook::{Action, RunbookId};

/// How cutover runs an action today.
#[derive(Clone, Copy)]
pub enum Implementation {
    /// cutover does it: `run` and `check`.
    Automated(&'static dyn StepAction),
    /// Not automated yet: the step shows its manual procedure and the operator confirms it was
    /// done, as for a manual step.
    ManualForNow,
}

impl Implementation {
    /// The implementation, when cutover has one.
    pub fn automated(self) -> Option<&'static dyn StepAction> {
        match self {
            Implementation::Automated(a) => Some(a),
            Implementation::ManualForNow => None,
        }
    }
}

/// How the source of a `runbook` migration is rolled back, for a runbook that declares a
/// `Rollback`; None for one that does not (a test checks that the two agree).
pub fn rollback_of(runbook: RunbookId) -> Option<&'static dyn RollbackAction> {
    match runbook {
        RunbookId::ThreescaleRhoam => Some(rollback::THREESCALE_SOURCE),
        RunbookId::VeleroRegistry => None,
    }
}

/// How `action` runs today.
pub fn implementation(action: Action) -> Implementation {
    use Implementation::{Automated, ManualForNow};
    match action {
        Action::CheckRedis => Automated(prereq::CHECK_REDIS),
        Action::CheckPostgresql => Automated(prereq::CHECK_POSTGRESQL),
        Action::CheckMysql => Automated(prereq::CHECK_MYSQL),
        Action::CheckDumpTools => Automated(prereq::CHECK_DUMP_TOOLS),
        Action::CheckDiskSpace => Automated(prereq::CHECK_DISK_SPACE),
        Action::CheckKubeconfigs => Automated(prereq::CHECK_KUBECONFIGS),
        Action::CheckClusterAccess => Automated(prereq::CHECK_CLUSTER_ACCESS),
        Action::Inventory => Automated(inventory::INVENTORY),
        Action::StopTraffic => Automated(scale::STOP_TRAFFIC),
        Action::DrainQueues => Automated(drain::DRAIN),
        Action::ScaleDown => Automated(scale::SCALE_DOWN),
        Action::DumpSystemDatabase => Automated(pgdump::DUMP_SYSTEM),
        Action::DumpZyncDatabase => Automated(pgdump::DUMP_ZYNC),
        Action::DumpRedis => Automated(redisdump::DUMP),
        Action::DumpSecrets => Automated(secrets::DUMP_SECRETS),
        Action::ConvertSystemDatabase => Automated(convert::CONVERT),
        Action::RestoreSystemDatabase => Automated(pgdump::RESTORE_SYSTEM),
        Action::CheckSourceThreescale => Automated(upgrade::CHECK_SOURCE),
        Action::UpgradeThreescale => Automated(upgrade::UPGRADE),
        Action::RewriteRoutes => Automated(rewrite::REWRITE),
        Action::ConnectMigration3scale => Automated(connect::CONNECT_MIGRATION),
        Action::DumpMigrationDatabase => Automated(pgdump::DUMP_MIGRATION),
        Action::PauseDestination => Automated(destination::PAUSE),
        Action::SeedDestinationDatabase => Automated(seed::SEED),
        Action::RestoreBackendRedis => Automated(redisdump::RESTORE),
        Action::VerifyBackendRedis => Automated(redisdump::VERIFY),
        Action::PushSecrets => Automated(secrets::PUSH_SECRETS),
        Action::ClearFreshInstall => Automated(destination::CLEAR),
        Action::CheckRhoamUsers => Automated(rhoam_users::CHECK_RHOAM_USERS),
        Action::StartDestination => Automated(start::START_DESTINATION),
        Action::CheckMasterPlan => Automated(threescale_checks::CHECK_MASTER_PLAN),
        Action::CheckMasterAccess => Automated(threescale_checks::CHECK_MASTER_ACCESS),
        Action::CheckDefaultTenant => Automated(threescale_checks::CHECK_DEFAULT_TENANT),
        Action::CheckSsoIntegrations => Automated(threescale_checks::CHECK_SSO_INTEGRATIONS),
        Action::VerifyInstallation => Automated(threescale_checks::VERIFY_INSTALLATION),
        Action::CheckPlatformInstalled => Automated(platform::CHECK_PLATFORM_INSTALLED),
        Action::CheckPlatformVersions => Automated(platform::CHECK_VERSIONS_MATCH),
        Action::CheckKeycloak => Automated(platform::CHECK_KEYCLOAK),
        Action::CheckVelero => Automated(platform::CHECK_VELERO),
        Action::CheckTargetClean => Automated(platform::CHECK_TARGET_CLEAN),
        Action::VeleroBackup => Automated(super::registry_backup::BACKUP),
        Action::TransferBackup => Automated(super::registry_transfer::TRANSFER),
        Action::VeleroWaitSynced => Automated(super::registry_sync::WAIT_SYNCED),
        Action::KeycloakExport => Automated(super::registry_keycloak::EXPORT),
        Action::KeycloakImport => Automated(super::registry_keycloak::IMPORT),
        Action::VeleroRestore => Automated(super::registry_restore::RESTORE),
        Action::RegistryPostFixes => ManualForNow,
        Action::VeleroVerify => ManualForNow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runbook_declares_a_rollback_exactly_when_it_has_one() {
        for book in crate::runbook::all() {
            assert_eq!(
                book.rollback.is_some(),
                rollback_of(book.id).is_some(),
                "{}",
                book.id
            );
        }
    }
}
