//! The integration tests: one target, one module per area, sharing the harness in
//! `tests/support`.

#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod cli;
mod cluster_access;
mod convert;
mod crash;
mod drain;
mod dumps;
mod engine_hold;
mod examples;
mod headless_run;
mod infra_probes;
mod inventory;
mod journal_follow;
mod kube_access;
mod kube_exec;
mod kube_objects;
mod kube_pods;
mod kube_velero;
mod kube_workloads;
mod matrix;
mod monitor;
mod pgdump;
mod redis_copy;
mod redis_dump;
mod redis_versions;
mod rehearse;
mod sandbox;
mod scale;
mod secrets;
mod seed;
mod sim_discovery;
mod sim_kubectl;
mod sim_refusals;
mod sim_seed;
mod sim_servers;
mod sim_support;
mod sim_watch;
mod tmux_harness;
mod tui_e2e;
mod ui_contrast;
mod ui_end;
mod ui_snapshots;
