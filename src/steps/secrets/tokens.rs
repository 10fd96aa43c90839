//! The access tokens RHOAM depends on. RHOAM's operator reads `MASTER_ACCESS_TOKEN` and
//! `ADMIN_ACCESS_TOKEN` from system-seed and calls the master and the tenant's Admin API with
//! them (integreatly-operator `pkg/products/threescale`, `GetAdminToken`); porta's `db:seed`
//! created them as rows of `access_tokens` (the master user's "Master Token", the tenant
//! admin's "Administration", both `rw`). After the push those secrets hold the source's values,
//! so the migrated database must hold the same tokens, owned by a user of the right account;
//! otherwise RHOAM's reconcile fails on its first API call, after the secrets are replaced.
//!
//! Compared by SHA-256 inside this process: the database sends the digests of its tokens
//! (`sha256(value)`, PostgreSQL 11 and later), so no token travels in a query, a command line or
//! a log.

use std::collections::BTreeMap;

use anyhow::Result;
use k8s_openapi::api::core::v1::Secret;
use sha2::{Digest, Sha256};

use crate::infra::pgtarget::PgTarget;

/// Who must own a token: the master account's user, or a user of a provider (tenant) account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Owner {
    Master,
    Tenant,
}

impl Owner {
    fn word(self) -> &'static str {
        match self {
            Owner::Master => "master",
            Owner::Tenant => "tenant",
        }
    }
}

/// The system-seed keys RHOAM calls 3scale with, the account that owns each, and what RHOAM
/// does with it.
pub(super) const TOKENS: &[(&str, Owner, &str)] = &[
    (
        "MASTER_ACCESS_TOKEN",
        Owner::Master,
        "RHOAM calls the master API with it (tenants, the master's plan)",
    ),
    (
        "ADMIN_ACCESS_TOKEN",
        Owner::Tenant,
        "RHOAM calls the 3scale tenant's Admin API with it (users, SSO providers)",
    ),
];

/// A token row as the database describes it: the digest of its value, the kind of account
/// that owns it, its permission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct TokenRow {
    pub digest: String,
    pub owner: String,
    pub permission: String,
}

/// The digests of the database's tokens, with their owner's kind of account (`master`,
/// `tenant`, `buyer`, or `none` for a token whose user is gone).
pub(super) async fn database_tokens(target: &PgTarget) -> Result<Vec<TokenRow>> {
    let rows = target
        .rows(
            "SELECT encode(sha256(t.value::bytea), 'hex'), \
             CASE WHEN a.id IS NULL THEN 'none' WHEN a.master THEN 'master' \
             WHEN a.provider THEN 'tenant' ELSE 'buyer' END, coalesce(t.permission, '') \
             FROM access_tokens t LEFT JOIN users u ON u.id = t.owner_id \
             LEFT JOIN accounts a ON a.id = u.account_id",
            "reading the digests of the access tokens",
        )
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| match r.as_slice() {
            [digest, owner, permission] => Some(TokenRow {
                digest: digest.clone(),
                owner: owner.clone(),
                permission: permission.clone(),
            }),
            _ => None,
        })
        .collect())
}

fn digest(value: &[u8]) -> String {
    Sha256::digest(value)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What is wrong with the source's system-seed tokens against the database's `rows`: one line
/// per token that is empty, absent, owned by another kind of account, or read-only. Names keys,
/// never values.
pub(super) fn token_problems(seed: &Secret, rows: &[TokenRow]) -> Vec<String> {
    let data = seed.data.clone().unwrap_or_default();
    let by_digest: BTreeMap<&str, &TokenRow> =
        rows.iter().map(|r| (r.digest.as_str(), r)).collect();
    let mut problems = Vec::new();
    for (key, owner, why) in TOKENS {
        let value = data.get(*key).map(|v| v.0.as_slice()).unwrap_or_default();
        if value.is_empty() {
            problems.push(format!(
                "the source's system-seed has no {key} ({why}); set it to the value of a `rw` \
                 access token of the {} admin user",
                owner.word()
            ));
            continue;
        }
        match by_digest.get(digest(value).as_str()) {
            None => problems.push(format!(
                "no access token of the migrated database equals the source's system-seed \
                 {key} ({why}): it was deleted or regenerated in the source's admin portal. On \
                 the source, give the {} admin user a `rw` token with exactly that value \
                 (access_tokens row, as porta's db:seed creates it) and dump again, or set \
                 {key} in the source's system-seed to an existing `rw` token of that user and \
                 export the secrets again",
                owner.word()
            )),
            Some(row) if row.owner != owner.word() => problems.push(format!(
                "the source's system-seed {key} ({why}) is a token of a {} account's user in \
                 the migrated database, not of the {} account's",
                row.owner,
                owner.word()
            )),
            Some(row) if row.permission != "rw" => problems.push(format!(
                "the source's system-seed {key} ({why}) is a `{}` token in the migrated \
                 database; RHOAM writes with it, so it must be `rw`",
                row.permission
            )),
            Some(_) => {}
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use k8s_openapi::ByteString;

    use super::*;

    fn seed(pairs: &[(&str, &str)]) -> Secret {
        Secret {
            data: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        }
    }

    fn row(value: &str, owner: &str, permission: &str) -> TokenRow {
        TokenRow {
            digest: digest(value.as_bytes()),
            owner: owner.into(),
            permission: permission.into(),
        }
    }

    #[test]
    fn tokens_are_found_by_digest_with_their_owner_and_permission() {
        let secret = seed(&[
            ("MASTER_ACCESS_TOKEN", "m-token"),
            ("ADMIN_ACCESS_TOKEN", "a-token"),
        ]);
        let good = [
            row("m-token", "master", "rw"),
            row("a-token", "tenant", "rw"),
        ];
        assert!(token_problems(&secret, &good).is_empty());

        let problems = token_problems(&secret, &good[..1]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("ADMIN_ACCESS_TOKEN"), "{problems:?}");
        assert!(
            !problems[0].contains("a-token"),
            "never a value: {problems:?}"
        );

        let swapped = [
            row("m-token", "tenant", "rw"),
            row("a-token", "tenant", "ro"),
        ];
        let problems = token_problems(&secret, &swapped);
        assert!(
            problems[0].contains("not of the master account"),
            "{problems:?}"
        );
        assert!(problems[1].contains("`ro` token"), "{problems:?}");

        let problems = token_problems(&seed(&[("ADMIN_ACCESS_TOKEN", "a-token")]), &good);
        assert!(
            problems[0].contains("has no MASTER_ACCESS_TOKEN"),
            "{problems:?}"
        );
    }
}
