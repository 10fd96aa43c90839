//! A config and a fresh view for the ui's unit tests.

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};

use super::view::ViewState;
use crate::config::Config;
use crate::journal::JournalState;
use crate::plan::plan;

/// A red-hat operator's 3scale migration on the limited path.
pub const TOML: &str = r#"
[migration]
name = "acme"
runbook = "threescale-rhoam"
access_path = "limited"
party = "red-hat"
operator = "Ana"

[source]
kubeconfig = "/k/src"
namespace = "3scale"
system_database_kind = "postgresql"

[migration_cluster]
kubeconfig = "/k/mig"
namespace = "3scale"

[destination]
kubeconfig = "/k/dst"
namespace = "redhat-rhoam-3scale"
"#;

/// `s` seconds after a fixed moment.
pub fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + s, 0)
        .single()
        .expect("a valid time")
}

pub fn config() -> Config {
    Config::parse(TOML, Path::new("/c/cutover.toml")).expect("the fixture config parses")
}

/// A view of the fixture migration before anything ran.
pub fn view() -> ViewState {
    let config = config();
    ViewState::from_config(&config, &plan(&config), &JournalState::default(), t(0))
}
