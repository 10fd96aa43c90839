//! The integration tests: one target, one module per area, sharing the harness in
//! `tests/support`.

#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod cli;
mod crash;
mod examples;
mod headless_run;
mod infra_probes;
mod matrix;
