//! cutover: a terminal wizard that walks one operator through a platform
//! migration between Kubernetes/OpenShift clusters. See DESIGN.md for the layers:
//! config -> runbook -> engine -> (steps -> infra) -> events -> front end.

pub mod commands;
pub mod config;
pub mod engine;
pub mod error;
pub mod event;
pub mod follow;
pub mod format;
pub mod headless;
pub mod infra;
pub mod journal;
pub mod monitor;
pub mod output;
pub mod plan;
pub mod runbook;
pub mod sim;
pub mod steps;
pub mod tui;
pub mod ui;
