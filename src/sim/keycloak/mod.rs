//! A simulated Keycloak of the Platform (namespace `user-management`): the admin REST API a
//! realm move calls, served over HTTP on loopback (`server`), its realms in memory and
//! optionally in a state file (`realms`), `kc.sh export` in its pod as an in-process program
//! (`export`), and a registry's realms to seed it with (`seed`).

mod export;
mod realms;
mod seed;
mod server;

pub use export::allow_export;
pub use realms::KeycloakStore;
pub use seed::RegistryRealms;
pub use server::{Grants, KeycloakServer, KeycloakSpec};
