//! The realms of a simulated Keycloak, in memory and optionally in a JSON state file (rewritten
//! whole after every change, so a kept sandbox's Keycloak has them after a restart), with the
//! two writes of the admin API cutover uses, as Keycloak does them:
//!
//! - creating a realm (`RealmsAdminResource.importRealm`): refused with 409 and
//!   `{"errorMessage":"Conflict detected. See logs for details"}` when a realm of that name or
//!   id exists (`ModelDuplicateException`); the users a representation carries are created too;
//! - a partial import (`PartialImportManager`): per resource type, a resource that exists is
//!   skipped (`SKIP`), replaced (`OVERWRITE`) or refused with 409 (`FAIL`, the default), any other
//!   is added. Existence is Keycloak's: a user by username or, when it has one, by email
//!   (`UsersPartialImport.exists`, both compared lowercased as Keycloak stores them), a client by
//!   `clientId`, a group by name among the top-level groups, a realm role by name, a client role
//!   by name in its client, an identity provider by alias.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::infra::artifacts::{hex, write_whole};

/// One realm: its representation without users, and its users (with their credentials).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct Realm {
    pub rep: Value,
    pub users: Vec<Value>,
}

impl Realm {
    pub fn name(&self) -> &str {
        self.rep["realm"].as_str().unwrap_or_default()
    }
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Saved {
    realms: Vec<Realm>,
    #[serde(default)]
    counter: u64,
}

struct Inner {
    saved: Saved,
    state_file: Option<PathBuf>,
}

/// A Keycloak's realms, shared by its HTTP server and its pod's `kc.sh export`.
#[derive(Clone)]
pub struct KeycloakStore {
    inner: Arc<Mutex<Inner>>,
}

/// A refusal: status and Keycloak's JSON body.
pub(super) type Refusal = (u16, Value);

/// Keycloak's id shape (a UUID) from a seed.
pub(super) fn uuid_of(seed: &str) -> String {
    let h = hex(&Sha256::digest(seed.as_bytes()));
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl KeycloakStore {
    /// The realms of `state_file` when it exists; else a fresh Keycloak with its master realm
    /// (and the file written).
    pub fn open(state_file: Option<&Path>) -> Result<KeycloakStore> {
        let saved = match state_file {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                serde_json::from_str(&text).map_err(|e| {
                    crate::error::bad_input(format!(
                        "{} is not a simulated Keycloak's state ({e}); move it aside",
                        path.display()
                    ))
                })?
            }
            _ => Saved {
                realms: vec![Realm {
                    rep: json!({"id": uuid_of("master"), "realm": "master", "enabled": true,
                                "displayName": "Keycloak"}),
                    users: Vec::new(),
                }],
                counter: 0,
            },
        };
        let store = KeycloakStore {
            inner: Arc::new(Mutex::new(Inner {
                saved,
                state_file: state_file.map(Path::to_path_buf),
            })),
        };
        store.save(&store.lock())?;
        Ok(store)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, inner: &Inner) -> Result<()> {
        if let Some(path) = &inner.state_file {
            let text = serde_json::to_vec_pretty(&inner.saved)?;
            write_whole(path, &text)?;
        }
        Ok(())
    }

    /// The realms' names, in creation order.
    pub fn realm_names(&self) -> Vec<String> {
        self.lock()
            .saved
            .realms
            .iter()
            .map(|r| r.name().to_string())
            .collect()
    }

    /// The usernames of a realm; None when there is no such realm.
    pub fn usernames(&self, realm: &str) -> Option<Vec<String>> {
        self.lock()
            .saved
            .realms
            .iter()
            .find(|r| r.name() == realm)
            .map(|r| {
                r.users
                    .iter()
                    .filter_map(|u| u["username"].as_str().map(str::to_string))
                    .collect()
            })
    }

    /// A copy of a realm's representation (without users).
    pub fn realm(&self, realm: &str) -> Option<Value> {
        self.lock()
            .saved
            .realms
            .iter()
            .find(|r| r.name() == realm)
            .map(|r| r.rep.clone())
    }

    /// A copy of a realm's user.
    pub fn user(&self, realm: &str, username: &str) -> Option<Value> {
        let inner = self.lock();
        let realm = inner.saved.realms.iter().find(|r| r.name() == realm)?;
        realm
            .users
            .iter()
            .find(|u| u["username"].as_str() == Some(username))
            .cloned()
    }

    /// Removes a realm (as the admin console's delete does); whether it was there.
    pub fn remove_realm(&self, realm: &str) -> Result<bool> {
        let mut inner = self.lock();
        let before = inner.saved.realms.len();
        inner.saved.realms.retain(|r| r.name() != realm);
        let removed = inner.saved.realms.len() != before;
        self.save(&inner)?;
        Ok(removed)
    }

    /// Every realm, for the export.
    pub(super) fn snapshot(&self) -> Vec<Realm> {
        self.lock().saved.realms.clone()
    }

    /// `POST /admin/realms`.
    pub(super) fn create_realm(&self, mut rep: Value) -> Result<std::result::Result<(), Refusal>> {
        let name = rep["realm"].as_str().unwrap_or_default().to_string();
        if name.is_empty() || !rep.is_object() {
            return Ok(Err((
                400,
                json!({"errorMessage": "Realm name cannot be empty"}),
            )));
        }
        let mut inner = self.lock();
        let id = rep["id"].as_str().map(str::to_string);
        let clash =
            inner.saved.realms.iter().any(|r| {
                r.name() == name || (id.is_some() && r.rep["id"].as_str() == id.as_deref())
            });
        if clash {
            return Ok(Err((
                409,
                json!({"errorMessage": "Conflict detected. See logs for details"}),
            )));
        }
        if id.is_none() {
            inner.saved.counter += 1;
            rep["id"] = json!(uuid_of(&format!("{name}/{}", inner.saved.counter)));
        }
        let mut users = match rep.as_object_mut().and_then(|m| m.remove("users")) {
            Some(Value::Array(users)) => users,
            _ => Vec::new(),
        };
        // RealmManager.setupClientServiceAccountsAndAuthorizationOnImport: a client with
        // service accounts whose user the representation does not carry gets one.
        for client in rep["clients"].as_array().into_iter().flatten() {
            let Some(client_id) = client["clientId"].as_str() else {
                continue;
            };
            let carried = users
                .iter()
                .any(|u| u["serviceAccountClientId"].as_str() == Some(client_id));
            if client["serviceAccountsEnabled"] == true && !carried {
                users.push(json!({
                    "id": uuid_of(&format!("{name}/service-account/{client_id}")),
                    "username": format!("service-account-{client_id}"),
                    "enabled": true,
                    "serviceAccountClientId": client_id,
                    "credentials": [],
                }));
            }
        }
        inner.saved.realms.push(Realm { rep, users });
        self.save(&inner)?;
        Ok(Ok(()))
    }

    /// `POST /admin/realms/{realm}/partialImport`: Keycloak's `PartialImportResults`.
    pub(super) fn partial_import(
        &self,
        realm: &str,
        body: &Value,
    ) -> Result<std::result::Result<Value, Refusal>> {
        let policy = body["ifResourceExists"].as_str().unwrap_or("FAIL");
        if !matches!(policy, "FAIL" | "SKIP" | "OVERWRITE") {
            return Ok(Err((
                400,
                json!({"errorMessage": format!("Unknown policy {policy}")}),
            )));
        }
        let mut inner = self.lock();
        let Inner { saved, .. } = &mut *inner;
        let Some(target) = saved.realms.iter_mut().find(|r| r.name() == realm) else {
            return Ok(Err((404, json!({"error": "Realm not found."}))));
        };
        // The whole import is one transaction: it works on a copy, kept only when it passes.
        let mut work = target.clone();
        let mut results: Vec<Value> = Vec::new();
        let mut counter = saved.counter;
        let mut next_id = |kind: &str, name: &str| {
            counter += 1;
            uuid_of(&format!("{realm}/{kind}/{name}/{counter}"))
        };
        let kinds: [(&str, Vec<Value>); 4] = [
            ("IDP", list(&body["identityProviders"])),
            ("REALM_ROLE", list(&body["roles"]["realm"])),
            ("CLIENT", list(&body["clients"])),
            ("GROUP", list(&body["groups"])),
        ];
        for (kind, items) in kinds {
            for item in items {
                let (key, path) = match kind {
                    "IDP" => ("alias", vec!["identityProviders"]),
                    "REALM_ROLE" => ("name", vec!["roles", "realm"]),
                    "CLIENT" => ("clientId", vec!["clients"]),
                    _ => ("name", vec!["groups"]),
                };
                let name = item[key].as_str().unwrap_or_default().to_string();
                let existing = array_at(&mut work.rep, &path);
                let found = existing
                    .iter()
                    .position(|e| e[key].as_str() == Some(name.as_str()));
                let outcome = apply(policy, kind, &name, found, existing, item, &mut next_id);
                match outcome {
                    Ok(result) => results.push(result),
                    Err(refusal) => return Ok(Err(refusal)),
                }
            }
        }
        if let Some(Value::Object(by_client)) = body["roles"].get("client") {
            for (client, roles) in by_client {
                for role in list(roles) {
                    let name = role["name"].as_str().unwrap_or_default().to_string();
                    let existing = array_at(&mut work.rep, &["roles", "client", client.as_str()]);
                    let found = existing
                        .iter()
                        .position(|e| e["name"].as_str() == Some(name.as_str()));
                    match apply(
                        policy,
                        "CLIENT_ROLE",
                        &name,
                        found,
                        existing,
                        role,
                        &mut next_id,
                    ) {
                        Ok(result) => results.push(result),
                        Err(refusal) => return Ok(Err(refusal)),
                    }
                }
            }
        }
        for user in list(&body["users"]) {
            let username = lower(&user["username"]);
            let email = lower(&user["email"]);
            let name = user["username"]
                .as_str()
                .or(user["email"].as_str())
                .unwrap_or_default()
                .to_string();
            let found = work.users.iter().position(|u| {
                (!username.is_empty() && lower(&u["username"]) == username)
                    || (!email.is_empty() && lower(&u["email"]) == email)
            });
            match apply(
                policy,
                "USER",
                &name,
                found,
                &mut work.users,
                user,
                &mut next_id,
            ) {
                Ok(result) => results.push(result),
                Err(refusal) => return Ok(Err(refusal)),
            }
        }
        saved.counter = counter;
        *target = work;
        let count = |action: &str| results.iter().filter(|r| r["action"] == action).count();
        let answer = json!({
            "overwritten": count("OVERWRITTEN"),
            "added": count("ADDED"),
            "skipped": count("SKIPPED"),
            "results": results,
        });
        self.save(&inner)?;
        Ok(Ok(answer))
    }

    /// Adds a realm as the seed writes it (its users inside `users`).
    pub(super) fn put_realm(&self, rep: Value) -> Result<()> {
        match self.create_realm(rep)? {
            Ok(()) => Ok(()),
            Err((status, body)) => anyhow::bail!("cannot seed the realm: {status} {body}"),
        }
    }
}

/// One resource of a partial import against `existing` (its position when found).
fn apply(
    policy: &str,
    kind: &str,
    name: &str,
    found: Option<usize>,
    existing: &mut Vec<Value>,
    mut item: Value,
    next_id: &mut impl FnMut(&str, &str) -> String,
) -> std::result::Result<Value, Refusal> {
    let result = |action: &str, id: &Value| json!({"action": action, "resourceType": kind, "resourceName": name, "id": id});
    match (found, policy) {
        (Some(i), "SKIP") => Ok(result("SKIPPED", &existing[i]["id"])),
        (Some(i), "OVERWRITE") => {
            let id = existing[i]["id"].clone();
            item["id"] = id.clone();
            existing[i] = item;
            Ok(result("OVERWRITTEN", &id))
        }
        (Some(_), _) => Err((
            409,
            json!({"errorMessage": format!("{} '{name}' already exists.", title(kind))}),
        )),
        (None, _) => {
            if !item["id"].is_string() {
                item["id"] = json!(next_id(kind, name));
            }
            let id = item["id"].clone();
            existing.push(item);
            Ok(result("ADDED", &id))
        }
    }
}

fn title(kind: &str) -> &'static str {
    match kind {
        "USER" => "User",
        "CLIENT" => "Client",
        "GROUP" => "Group",
        "REALM_ROLE" => "Realm role",
        "CLIENT_ROLE" => "Client role",
        _ => "Identity provider",
    }
}

fn list(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

fn lower(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_lowercase()
}

/// The array at `path` in `rep`, created when missing.
fn array_at<'a>(rep: &'a mut Value, path: &[&str]) -> &'a mut Vec<Value> {
    let mut here = rep;
    for (i, key) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        if !here.is_object() {
            *here = Value::Object(Map::new());
        }
        let map = here.as_object_mut().expect("an object, made so above");
        here = map.entry(key.to_string()).or_insert_with(|| {
            if last {
                Value::Array(Vec::new())
            } else {
                Value::Object(Map::new())
            }
        });
    }
    if !here.is_array() {
        *here = Value::Array(Vec::new());
    }
    here.as_array_mut().expect("an array, made so above")
}
