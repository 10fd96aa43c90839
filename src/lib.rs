//! cutover: a terminal wizard that walks one operator through a platform migration between
//! Kubernetes/OpenShift clusters, recording every step, confirmation and hand-off in a journal
//! so that a paused or crashed migration resumes where it stopped.
//!
//! The modules are layers (ARCHITECTURE.md in the repository draws them): `error`, `format`,
//! `output` and `infra` at the bottom; then `runbook` (pure data), `config`, `journal` and
//! `event`, `steps`, `plan`, then `engine`, `follow` and `monitor`; the front ends `ui`, `tui`
//! and `headless`; `sim`, the test world, beside them; `commands` on top. Each imports only
//! from below.

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
