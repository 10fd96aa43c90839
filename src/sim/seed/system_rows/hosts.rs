//! The host names 3scale builds from the wildcard domain, and how a row builder is given its
//! time stamps.

use super::super::model::{Service, TENANT_NAME};

/// The host names 3scale builds from the wildcard domain (`THREESCALE_SUPERDOMAIN`).
pub(crate) struct Hosts {
    pub wildcard: String,
}

impl Hosts {
    pub fn master(&self) -> String {
        format!("master.{}", self.wildcard)
    }
    pub fn tenant(&self) -> String {
        format!("{TENANT_NAME}.{}", self.wildcard)
    }
    pub fn tenant_admin(&self) -> String {
        format!("{TENANT_NAME}-admin.{}", self.wildcard)
    }
    pub fn backend(&self) -> String {
        format!("backend-{TENANT_NAME}.{}", self.wildcard)
    }
    /// The RH-SSO (Keycloak) route of the installation, which lives under the same wildcard.
    pub fn sso(&self) -> String {
        format!("keycloak-rhsso.{}", self.wildcard)
    }
    pub fn apicast(&self, service: &Service, environment: &str) -> String {
        format!(
            "{}-{TENANT_NAME}-apicast-{environment}.{}",
            service.system_name, self.wildcard
        )
    }
}

/// A time stamp `days_ago` days before the seed's now, as a row value.
pub(super) type At<'a> = &'a dyn Fn(i64) -> Option<String>;
