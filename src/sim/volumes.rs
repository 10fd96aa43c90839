//! The persistent volume controller's part: a claim without a phase (made anew, or restored by
//! Velero, which drops an object's status) is bound to a volume the storage class provisions,
//! of the size it requests: `status.phase` Bound, `status.capacity` and `status.accessModes`
//! set. A bound claim's growth is carried out where its change is admitted
//! (`validate::transition`).

use std::sync::Arc;

use serde_json::{Value, json};

use super::catalog;
use super::state::Shared;
use super::store::meta_str;

pub(super) fn reconcile(sim: &Arc<Shared>) {
    let Some(rt) = catalog::find_kind(&[], "v1", "PersistentVolumeClaim") else {
        return;
    };
    let mut inner = sim.lock();
    let before = inner.store.current_rv();
    for claim in inner.store.list(rt, None) {
        if claim
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .is_some()
            || claim.pointer("/metadata/deletionTimestamp").is_some()
        {
            continue;
        }
        let (Some(ns), Some(name)) = (meta_str(&claim, "namespace"), meta_str(&claim, "name"))
        else {
            continue;
        };
        let (ns, name) = (ns.to_string(), name.to_string());
        let Some(size) = claim
            .pointer("/spec/resources/requests/storage")
            .and_then(Value::as_str)
        else {
            continue;
        };
        let mut bound = claim.clone();
        bound["status"] = json!({
            "phase": "Bound",
            "capacity": {"storage": size},
            "accessModes": claim.pointer("/spec/accessModes").cloned().unwrap_or(json!([])),
        });
        let _ = inner.store.replace(rt, &ns, &name, bound, None);
    }
    if inner.store.current_rv() != before {
        sim.kick.notify_one();
    }
}
