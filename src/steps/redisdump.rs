//! (being written)

use super::StepAction;
use crate::runbook::Action;

pub(super) fn implementation(_action: Action) -> Option<&'static dyn StepAction> {
    None
}
