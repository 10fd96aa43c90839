//! Crunchy PGO v5's user secrets: for every PostgresCluster, each user of `spec.users` gets the
//! secret `<cluster>-pguser-<user>` (keys `user` and `password`, labelled
//! `postgres-operator.crunchydata.com/cluster` and `.../pguser`) when it has none, with a
//! generated password. A secret that exists is left as it is, as the operator leaves it.
//!
//! This is what a registry restored onto B meets: the saved PostgresClusters are applied before
//! the secrets stage, the operator makes the user secrets with passwords of its own, Velero then
//! leaves them ("already exists"), and the `postgres` role in the restored volume still has A's
//! password: the post-fix sets it to the secret's.

use std::sync::Arc;

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::catalog;
use super::state::Shared;
use super::store::meta_str;

const GROUP: &str = "postgres-operator.crunchydata.com";

/// A password PGO would generate, here derived from the cluster's uid so a run is repeatable.
fn generated_password(uid: &str, user: &str) -> String {
    let digest = Sha256::digest(format!("pgo:{uid}:{user}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..18])
}

pub(super) fn reconcile(sim: &Arc<Shared>) {
    if sim.without().iter().any(|g| g == GROUP) {
        return;
    }
    let (Some(pg_rt), Some(secret_rt)) = (
        catalog::find_kind(&[], &format!("{GROUP}/v1beta1"), "PostgresCluster"),
        catalog::find_kind(&[], "v1", "Secret"),
    ) else {
        return;
    };
    let mut inner = sim.lock();
    let before = inner.store.current_rv();
    for pg in inner.store.list(pg_rt, None) {
        if pg.pointer("/metadata/deletionTimestamp").is_some() {
            continue;
        }
        let (Some(ns), Some(cluster)) = (meta_str(&pg, "namespace"), meta_str(&pg, "name")) else {
            continue;
        };
        let uid = meta_str(&pg, "uid").unwrap_or("");
        let users: Vec<String> = pg
            .pointer("/spec/users")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|u| u.get("name").and_then(Value::as_str).map(str::to_string))
            .collect();
        for user in users {
            let name = format!("{cluster}-pguser-{user}");
            if inner.store.get(secret_rt, ns, &name).is_some() {
                continue;
            }
            let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
            let secret = json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "labels": {
                        format!("{GROUP}/cluster"): cluster,
                        format!("{GROUP}/pguser"): user,
                        format!("{GROUP}/role"): "pguser",
                    },
                    "ownerReferences": [{
                        "apiVersion": format!("{GROUP}/v1beta1"),
                        "kind": "PostgresCluster",
                        "name": cluster,
                        "uid": uid,
                        "controller": true,
                        "blockOwnerDeletion": true,
                    }],
                },
                "type": "Opaque",
                "data": {
                    "user": b64(&user),
                    "password": b64(&generated_password(uid, &user)),
                    "host": b64(&format!("{cluster}-primary.{ns}.svc")),
                    "port": b64("5432"),
                },
            });
            let _ = inner.store.create(secret_rt, ns, secret);
        }
    }
    if inner.store.current_rv() != before {
        sim.kick.notify_one();
    }
}
