//! `check-rhoam-users`: who RHOAM's operator would delete from the migrated 3scale tenant once
//! it runs again. Its reconciler lists the users of the `3scale` tenant (the Admin API's
//! `/admin/api/users.json`) and the `KeycloakUser`s labelled `sso: integreatly` in
//! `redhat-rhoam-rhsso`, and deletes every tenant user whose username (lowercase) matches no
//! KeycloakUser and whose id is in no KeycloakUser's `3scale_user_id` attribute, except system-seed's
//! `ADMIN_USER` (integreatly-operator `pkg/products/threescale/reconciler.go`,
//! `reconcileOpenshiftUsers` and `getUserDiff`). The migrated tenant's users come from the
//! source, where no such KeycloakUsers exist: without this check, resuming RHOAM deletes them.
//!
//! The step reads the tenant's users from the destination's system database (by URL or through
//! the client pod), the KeycloakUsers from the cluster and `ADMIN_USER` from the destination's
//! system-seed; when RHOAM would delete anyone, the whole list goes to
//! `<dumps>/rhoam-users-to-delete.txt` and the operator types `accept deleting N users`, or stops
//! and creates the identity-provider users first (their KeycloakUsers then match). Fact `users`:
//! the counts and who would be deleted (ids and usernames; no email, no token).
//!
//! Resume re-check: the same computation gives no one, or exactly the list accepted.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::pgdump::{close, system_database};
use super::{Question, Recheck, StepAction, StepContext, StepFuture, StepResult};
use crate::infra::artifacts;
use crate::infra::kube::{CustomKind, KubeCluster};
use crate::runbook::ClusterRole;

/// RHOAM's RH-SSO namespace, where its KeycloakUsers are.
pub use crate::infra::kube::RHOAM_RHSSO_NAMESPACE as RHSSO_NAMESPACE;
/// The label RHOAM's reconciler selects them by.
const SSO_LABEL: (&str, &str) = ("sso", "integreatly");
/// The KeycloakUser attribute that names the 3scale user it was generated for.
const USER_ID_ATTRIBUTE: &str = "3scale_user_id";
/// The file the whole list goes to, in the dump folder.
pub const LIST_FILE: &str = "rhoam-users-to-delete.txt";
pub const FACT: &str = "users";

struct CheckRhoamUsers;

pub(super) static CHECK_RHOAM_USERS: &dyn StepAction = &CheckRhoamUsers;

/// A user of the migrated tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantUser {
    pub id: String,
    pub username: String,
}

/// What RHOAM's KeycloakUsers say: their usernames (lowercase) and the 3scale user ids they
/// were generated for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeycloakUsers {
    pub usernames: BTreeSet<String>,
    pub user_ids: BTreeSet<String>,
    pub count: usize,
}

impl KeycloakUsers {
    fn of(objects: &[kube::api::DynamicObject]) -> KeycloakUsers {
        let mut out = KeycloakUsers::default();
        for o in objects {
            let labelled = o
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SSO_LABEL.0))
                .is_some_and(|v| v == SSO_LABEL.1);
            if !labelled {
                continue;
            }
            out.count += 1;
            let user = &o.data["spec"]["user"];
            if let Some(name) = user["username"].as_str() {
                out.usernames.insert(name.to_lowercase());
            }
            if let Some(ids) = user["attributes"][USER_ID_ATTRIBUTE].as_array() {
                out.user_ids
                    .extend(ids.iter().filter_map(Value::as_str).map(str::to_string));
            }
        }
        out
    }
}

/// The users RHOAM's reconciler would delete (see the module's doc).
pub fn would_delete(
    users: &[TenantUser],
    keycloak: &KeycloakUsers,
    admin: &str,
) -> Vec<TenantUser> {
    users
        .iter()
        .filter(|u| u.username != admin)
        .filter(|u| !keycloak.usernames.contains(&u.username))
        .filter(|u| !keycloak.user_ids.contains(&u.id))
        .cloned()
        .collect()
}

/// What the check found.
struct Found {
    users: Vec<TenantUser>,
    keycloak: KeycloakUsers,
    admin: String,
    deleted: Vec<TenantUser>,
}

impl Found {
    fn fact(&self) -> Value {
        json!({
            "tenant_users": self.users.len(),
            "keycloak_users": self.keycloak.count,
            "admin_user": self.admin,
            "would_delete": self.deleted.iter().map(|u| json!({"id": u.id, "username": u.username})).collect::<Vec<_>>(),
        })
    }

    fn names(&self) -> Vec<String> {
        self.deleted.iter().map(|u| u.username.clone()).collect()
    }
}

async fn find(ctx: &StepContext) -> Result<Found> {
    let reporter = ctx.sink.reporter();
    let target = system_database(ctx, ClusterRole::Destination, &reporter.report()).await?;
    let rows = target
        .rows(
            // The users of the `3scale` tenant: the provider account whose admin portal is
            // 3scale-admin.<wildcard>, as RHOAM's Admin API calls reach it.
            "SELECT u.id::text, lower(coalesce(u.username, '')) FROM users u \
             JOIN accounts a ON a.id = u.account_id \
             WHERE a.provider AND NOT coalesce(a.master, false) \
             AND a.self_domain LIKE '3scale-admin.%' ORDER BY u.id",
            "listing the 3scale tenant's users",
        )
        .await;
    close(ctx, target).await;
    let users: Vec<TenantUser> = rows?
        .into_iter()
        .filter_map(|r| match r.as_slice() {
            [id, username] => Some(TenantUser {
                id: id.clone(),
                username: username.clone(),
            }),
            _ => None,
        })
        .collect();
    let kube = ctx.cluster(ClusterRole::Destination).await?;
    let keycloak = KeycloakUsers::of(
        &kube
            .list_custom(CustomKind::KeycloakUser, Some(RHSSO_NAMESPACE))
            .await
            .context("listing RHOAM's KeycloakUsers")?,
    );
    let admin = admin_user(&kube).await?;
    let deleted = would_delete(&users, &keycloak, &admin);
    Ok(Found {
        users,
        keycloak,
        admin,
        deleted,
    })
}

/// system-seed's `ADMIN_USER` at the destination (after push-secrets, the source's), lowercase:
/// the one user RHOAM never deletes.
async fn admin_user(kube: &KubeCluster) -> Result<String> {
    let secret = kube
        .get_secret(None, "system-seed")
        .await?
        .context("the destination has no secret system-seed (push-secrets puts it there)")?;
    let value = secret
        .data
        .and_then(|d| d.get("ADMIN_USER").map(|v| v.0.clone()))
        .context("the destination's system-seed has no ADMIN_USER")?;
    Ok(String::from_utf8_lossy(&value).trim().to_lowercase())
}

impl StepAction for CheckRhoamUsers {
    fn run<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, StepResult> {
        Box::pin(async move {
            let found = find(ctx).await?;
            let fact = found.fact();
            let mut figures = fact.as_object().cloned().unwrap_or_default();
            ctx.sink.info(format!(
                "the 3scale tenant has {} users; RHOAM's RH-SSO has {} KeycloakUsers; {} is \
                 system-seed's ADMIN_USER, never deleted",
                found.users.len(),
                found.keycloak.count,
                found.admin
            ));
            if found.deleted.is_empty() {
                ctx.sink.record_fact(FACT, fact)?;
                return Ok(StepResult::passed(
                    format!(
                        "RHOAM would delete none of the 3scale tenant's {} users: each has a \
                         KeycloakUser, or is the admin",
                        found.users.len()
                    ),
                    figures,
                ));
            }
            let names = found.names();
            let list = ctx.config.dumps.folder.join(LIST_FILE);
            let text: String = found
                .deleted
                .iter()
                .map(|u| format!("{}\t{}\n", u.id, u.username))
                .collect();
            artifacts::write_whole(&list, text.as_bytes())
                .with_context(|| format!("cannot write {}", list.display()))?;
            let n = names.len();
            ctx.sink.warn(format!(
                "RHOAM would delete {n} of the tenant's users when it runs again: {}",
                crate::format::first_of(&names, 20)
            ));
            let phrase = format!("accept deleting {n} user{}", if n == 1 { "" } else { "s" });
            let question = Question {
                text: format!(
                    "When RHOAM's operator runs again it deletes every user of the 3scale tenant \
                     that no KeycloakUser in {RHSSO_NAMESPACE} matches: {n} migrated user(s) \
                     ({}; the whole list, id and username, in {}). To keep them, stop and have \
                     them log in through RHOAM's identity provider first, or create their \
                     KeycloakUsers. Type `{phrase}` to accept the loss, or stop: ",
                    crate::format::first_of(&names, 20),
                    list.display()
                ),
                phrase,
                ..Question::default()
            };
            if let Some(result) = ctx
                .confirm(
                    question,
                    "accepting that RHOAM deletes these users",
                    "checked",
                )
                .await?
            {
                ctx.sink.record_fact(FACT, fact)?;
                return Ok(result);
            }
            let mut fact = fact;
            fact["accepted"] = json!(true);
            ctx.sink.record_fact(FACT, fact)?;
            figures.insert("accepted".into(), json!(true));
            Ok(StepResult::passed(
                format!(
                    "accepted: RHOAM will delete {n} migrated user(s) of the 3scale tenant when \
                     it runs again (list in {})",
                    list.display()
                ),
                figures,
            ))
        })
    }

    fn check<'a>(&'a self, ctx: &'a StepContext) -> StepFuture<'a, Recheck> {
        Box::pin(async move {
            let found = find(ctx).await?;
            let accepted: Vec<String> = ctx
                .fact(ctx.step.id.0, FACT)
                .filter(|f| f["accepted"] == json!(true))
                .and_then(|f| f["would_delete"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|u| u["username"].as_str().map(str::to_string))
                .collect();
            let now = found.names();
            Ok(if now.is_empty() || now == accepted {
                Recheck::Holds(format!(
                    "RHOAM would delete {} user(s), as accepted",
                    now.len()
                ))
            } else {
                Recheck::DoesNotHold(format!(
                    "RHOAM would now delete {}, not what was accepted",
                    crate::format::first_of(&now, 10)
                ))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, name: &str) -> TenantUser {
        TenantUser {
            id: id.into(),
            username: name.into(),
        }
    }

    #[test]
    fn rhoam_deletes_who_no_keycloak_user_names_but_never_the_admin() {
        let users = [
            user("1", "admin"),
            user("2", "alice"),
            user("3", "bob"),
            user("4", "carol"),
        ];
        let keycloak = KeycloakUsers {
            usernames: ["alice".to_string()].into(),
            user_ids: ["4".to_string()].into(),
            count: 2,
        };
        assert_eq!(
            would_delete(&users, &keycloak, "admin"),
            vec![user("3", "bob")]
        );
    }
}
