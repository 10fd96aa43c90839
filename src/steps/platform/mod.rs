//! The prerequisite checks of the `velero-registry` runbook, one file per concern: the Platform
//! runs on both clusters (`installed`), cluster B's Platform has the registry's version
//! (`versions`), Keycloak runs on B (`keycloak`), Velero and the object storage are ready on
//! both (`velero`, `storage`), and B holds nothing of the registry yet (`target`). Each reads
//! only; running it again is its re-check. A refusal says what to do.

mod findings;
mod installed;
mod keycloak;
mod storage;
mod target;
mod velero;
mod verify;
mod versions;

use super::StepAction;
use super::prereq::Check;

pub(super) static CHECK_PLATFORM_INSTALLED: &dyn StepAction =
    &Check(|ctx| Box::pin(installed::check(ctx)));
pub(super) static CHECK_VERSIONS_MATCH: &dyn StepAction =
    &Check(|ctx| Box::pin(versions::check(ctx)));
pub(super) static CHECK_KEYCLOAK: &dyn StepAction = &Check(|ctx| Box::pin(keycloak::check(ctx)));
pub(super) static CHECK_VELERO: &dyn StepAction = &Check(|ctx| Box::pin(velero::check(ctx)));
pub(super) static CHECK_TARGET_CLEAN: &dyn StepAction = &Check(|ctx| Box::pin(target::check(ctx)));
pub(super) static VERIFY_REGISTRY: &dyn StepAction = &Check(|ctx| Box::pin(verify::check(ctx)));
