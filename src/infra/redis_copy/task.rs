//! What every batch of a copy shares (the two endpoints, the options, the connections) and what
//! one batch did.

use anyhow::{Result, bail};

use super::endpoint::{Endpoint, show_key};
use crate::infra::resp::WirePool;

/// What one batch did.
#[derive(Debug, Default)]
pub(super) struct BatchOutcome {
    pub(super) keys: u64,
    pub(super) by_value_keys: u64,
    pub(super) bytes: u64,
    pub(super) per_type_keys: u64,
    pub(super) already_present: u64,
    pub(super) expired: u64,
}

impl BatchOutcome {
    pub(super) fn add(&mut self, o: &BatchOutcome) {
        self.keys += o.keys;
        self.by_value_keys += o.by_value_keys;
        self.bytes += o.bytes;
        self.per_type_keys += o.per_type_keys;
        self.already_present += o.already_present;
        self.expired += o.expired;
    }
}

/// Everything a batch task needs.
pub(super) struct Ctx {
    pub(super) source: Endpoint,
    pub(super) target: Endpoint,
    pub(super) replace: bool,
    pub(super) per_type: bool,
    pub(super) max_payload: u64,
    /// The batches' connections, none in per-type mode.
    pub(super) wires: Option<Wires>,
}

/// The connections the batches read and write with.
pub(super) struct Wires {
    pub(super) source: WirePool,
    pub(super) target: WirePool,
}

pub(super) fn busy_error(busy: &[Vec<u8>]) -> Result<()> {
    if busy.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = busy.iter().take(5).map(|k| show_key(k)).collect();
    bail!(
        "{} key(s) already exist in the target with other content than the source, e.g. {}: \
         nothing was overwritten; copy with --replace to overwrite them, or empty the target",
        busy.len(),
        shown.join(", ")
    )
}
