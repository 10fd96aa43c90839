//! The access tokens of the seeded database, which an installation's secrets name.

use super::super::model::hex;

/// The values of the access tokens porta's `db:seed` creates from the installation's
/// system-seed and system-master-apicast secrets: the master user's "Master Token"
/// (`MASTER_ACCESS_TOKEN`), its read-only "APIcast" token (`APICAST_ACCESS_TOKEN`, the
/// `ACCESS_TOKEN` of system-master-apicast) and the tenant admin's "Administration" token
/// (`ADMIN_ACCESS_TOKEN`). A sandbox seeds its database with its secrets' values, as an
/// installation's database and secrets agree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedTokens {
    pub master: String,
    pub apicast: String,
    pub admin: String,
}

impl Default for SeedTokens {
    fn default() -> SeedTokens {
        SeedTokens {
            apicast: token_value(1),
            master: token_value(2),
            admin: token_value(3),
        }
    }
}

impl SeedTokens {
    /// The tokens of an installation's objects: `MASTER_ACCESS_TOKEN` and `ADMIN_ACCESS_TOKEN`
    /// of secret system-seed, `ACCESS_TOKEN` of system-master-apicast; None when one is
    /// missing.
    pub fn of_objects(objects: &[serde_json::Value]) -> Option<SeedTokens> {
        let value = |secret: &str, key: &str| -> Option<String> {
            use base64::Engine;
            let object = objects.iter().find(|o| {
                o["kind"] == "Secret" && o["metadata"]["name"].as_str() == Some(secret)
            })?;
            let text = object["data"][key].as_str()?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .ok()?;
            String::from_utf8(bytes).ok()
        };
        Some(SeedTokens {
            master: value("system-seed", "MASTER_ACCESS_TOKEN")?,
            admin: value("system-seed", "ADMIN_ACCESS_TOKEN")?,
            apicast: value("system-master-apicast", "ACCESS_TOKEN")?,
        })
    }
}

/// The value of the seeded token `id` that no secret names.
pub(super) fn token_value(id: u64) -> String {
    hex(0x70, id, 64)
}
