//! The realms a registry of the Platform has in its Keycloak, as Keycloak exports them: one realm
//! per portal and for the registry's administrators and external systems
//! (`<registry>-officer-portal`, `<registry>-citizen-portal`, `<registry>-admin`,
//! `<registry>-external-system`), each with its client, realm roles, a group and users.
//!
//! The shapes are Keycloak's representations (`RealmRepresentation`, `ClientRepresentation`,
//! `RoleRepresentation`, `GroupRepresentation`, `UserRepresentation` with its
//! `CredentialRepresentation`s: `secretData` holding the PBKDF2 hash and salt, `credentialData`
//! the algorithm and iterations, both JSON in a string as Keycloak stores them); the names of
//! the realms are the Platform's. Secrets (client secrets, hashes, salts) are derived from the
//! registry's name, so a test can look for every one of them ([`KeycloakStore::secret_values`]).

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::realms::{KeycloakStore, uuid_of};

/// What to seed for one registry.
#[derive(Clone, Debug)]
pub struct RegistryRealms {
    pub registry: String,
    /// Users of the citizen portal (more than 50 spread the export over several users files).
    pub citizens: usize,
}

impl RegistryRealms {
    pub fn new(registry: &str) -> RegistryRealms {
        RegistryRealms {
            registry: registry.to_string(),
            citizens: 3,
        }
    }

    pub fn citizens(mut self, n: usize) -> RegistryRealms {
        self.citizens = n;
        self
    }

    /// The realms' names, in the order they are seeded.
    pub fn realm_names(&self) -> Vec<String> {
        SUFFIXES
            .iter()
            .map(|(suffix, ..)| format!("{}-{suffix}", self.registry))
            .collect()
    }
}

/// Each realm: suffix, its client, its roles, its users (how many; the citizen portal's come
/// from [`RegistryRealms::citizens`]).
const SUFFIXES: &[(&str, &str, &[&str], usize)] = &[
    (
        "officer-portal",
        "officer-portal",
        &["officer", "head-officer"],
        3,
    ),
    ("citizen-portal", "citizen-portal", &["citizen"], 0),
    ("admin", "admin-portal", &["cp-registry-admin"], 2),
    (
        "external-system",
        "trembita-invoker",
        &["trembita-invoker"],
        1,
    ),
];

fn derived(what: &str, len: usize) -> String {
    let h = Sha256::digest(what.as_bytes());
    let mut out = crate::infra::artifacts::hex(&h);
    out.truncate(len);
    out
}

fn b64(what: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(what.as_bytes()))
}

/// A password credential as Keycloak exports it.
fn password_credential(realm: &str, user: &str, at: i64) -> Value {
    let secret = json!({
        "value": b64(&format!("hash/{realm}/{user}")),
        "salt": b64(&format!("salt/{realm}/{user}"))[..22].to_string(),
        "additionalParameters": {}
    });
    let data = json!({"hashIterations": 27500, "algorithm": "pbkdf2-sha256",
                      "additionalParameters": {}});
    json!({
        "id": uuid_of(&format!("credential/{realm}/{user}")),
        "type": "password",
        "createdDate": at,
        "secretData": secret.to_string(),
        "credentialData": data.to_string(),
    })
}

fn user(realm: &str, username: &str, role: &str, group: Option<&str>, password: bool) -> Value {
    let at = 1_700_000_000_000_i64;
    let mut user = json!({
        "id": uuid_of(&format!("user/{realm}/{username}")),
        "createdTimestamp": at,
        "username": username,
        "enabled": true,
        "totp": false,
        "emailVerified": true,
        "firstName": username,
        "lastName": "Test",
        "email": format!("{username}@{realm}.example.com"),
        "attributes": {"fullName": [format!("{username} Test")]},
        "credentials": [],
        "disableableCredentialTypes": [],
        "requiredActions": [],
        "realmRoles": [format!("default-roles-{realm}"), role],
        "notBefore": 0,
        "groups": group.map(|g| vec![format!("/{g}")]).unwrap_or_default(),
    });
    if password {
        user["credentials"] = json!([password_credential(realm, username, at)]);
    }
    user
}

/// One realm's representation with its users.
fn realm(registry: &str, suffix: &str, client: &str, roles: &[&str], users: usize) -> Value {
    let name = format!("{registry}-{suffix}");
    let realm_id = uuid_of(&format!("realm/{name}"));
    let client_id = uuid_of(&format!("client/{name}/{client}"));
    let service_account = suffix == "external-system";
    let mut realm_roles: Vec<Value> = roles
        .iter()
        .map(|r| {
            json!({"id": uuid_of(&format!("role/{name}/{r}")), "name": r, "composite": false,
                   "clientRole": false, "containerId": realm_id, "attributes": {}})
        })
        .collect();
    realm_roles.push(json!({
        "id": uuid_of(&format!("role/{name}/default")),
        "name": format!("default-roles-{name}"),
        "description": "${role_default-roles}",
        "composite": true,
        "composites": {"realm": ["offline_access", "uma_authorization"]},
        "clientRole": false, "containerId": realm_id, "attributes": {}
    }));
    let group = format!("{suffix}-users");
    let role = roles.first().copied().unwrap_or("user");
    let mut people: Vec<Value> = (0..users)
        .map(|i| {
            let username = format!("{}-{:03}", role, i + 1);
            // Every other user has a password; the rest log in through the IdP (no credential).
            user(&name, &username, role, Some(&group), i % 2 == 0)
        })
        .collect();
    if service_account {
        let mut account = user(
            &name,
            &format!("service-account-{client}"),
            role,
            None,
            false,
        );
        account["serviceAccountClientId"] = json!(client);
        account
            .as_object_mut()
            .map(|m| m.remove("email"))
            .unwrap_or_default();
        people.push(account);
    }
    json!({
        "id": realm_id,
        "realm": name,
        "displayName": format!("{registry} {suffix}"),
        "enabled": true,
        "sslRequired": "external",
        "registrationAllowed": false,
        "loginWithEmailAllowed": true,
        "duplicateEmailsAllowed": false,
        "accessTokenLifespan": 300,
        "roles": {
            "realm": realm_roles,
            "client": {client: [{
                "id": uuid_of(&format!("client-role/{name}/{client}")),
                "name": "uma_protection", "composite": false, "clientRole": true,
                "containerId": client_id, "attributes": {}
            }]}
        },
        "groups": [{
            "id": uuid_of(&format!("group/{name}/{group}")),
            "name": group, "path": format!("/{group}"), "attributes": {},
            "realmRoles": [role], "clientRoles": {}, "subGroups": []
        }],
        "defaultRole": {"id": uuid_of(&format!("role/{name}/default")),
                        "name": format!("default-roles-{name}"), "composite": true,
                        "clientRole": false, "containerId": realm_id},
        "clients": [{
            "id": client_id,
            "clientId": client,
            "name": client,
            "enabled": true,
            "clientAuthenticatorType": "client-secret",
            "secret": derived(&format!("client-secret/{name}/{client}"), 32),
            "redirectUris": [format!("https://{client}-{registry}.apps.example.com/*")],
            "webOrigins": ["+"],
            "standardFlowEnabled": !service_account,
            "directAccessGrantsEnabled": false,
            "serviceAccountsEnabled": service_account,
            "publicClient": false,
            "protocol": "openid-connect",
            "attributes": {}
        }],
        "identityProviders": [],
        "attributes": {"frontendUrl": ""},
        "keycloakVersion": "20.0.5",
        "users": people,
    })
}

impl KeycloakStore {
    /// Adds the registry's realms with their users.
    pub fn seed_registry(&self, seed: &RegistryRealms) -> anyhow::Result<()> {
        for (suffix, client, roles, users) in SUFFIXES {
            let users = if *suffix == "citizen-portal" {
                seed.citizens
            } else {
                *users
            };
            self.put_realm(realm(&seed.registry, suffix, client, roles, users))?;
        }
        Ok(())
    }

    /// Every secret value the realms hold: client secrets and the credentials' `secretData`
    /// with the hash and salt inside it, for a test that looks for them where none may be.
    pub fn secret_values(&self) -> Vec<String> {
        let mut out = Vec::new();
        for realm in self.snapshot() {
            for client in realm.rep["clients"].as_array().into_iter().flatten() {
                if let Some(s) = client["secret"].as_str() {
                    out.push(s.to_string());
                }
            }
            for user in &realm.users {
                for c in user["credentials"].as_array().into_iter().flatten() {
                    let Some(data) = c["secretData"].as_str() else {
                        continue;
                    };
                    if let Ok(inner) = serde_json::from_str::<Value>(data) {
                        for key in ["value", "salt"] {
                            if let Some(v) = inner[key].as_str() {
                                out.push(v.to_string());
                            }
                        }
                    }
                }
            }
        }
        out
    }
}
