//! Adapters to the outside world. Each module is a plain async API that works on its own, so
//! the `cutover redis ...` style subcommands and the steps can share them. Nothing here knows
//! the config, the runbook or the journal: callers pass what a call needs (a URL, a
//! `kube::ClusterTarget`, a path).

pub mod age;
pub mod artifacts;
pub mod backoff;
pub mod disk;
pub mod dump_record;
pub mod https;
pub mod keycloak;
pub mod keycloak_export;
pub mod kube;
pub mod mysql;
pub mod mysqldump;
pub mod pg;
pub mod pg_pod;
pub mod pg_role;
pub mod pgdump;
pub mod pgloader;
pub mod pgtarget;
pub mod porta;
pub mod queues;
pub mod rdb;
pub mod redis;
pub mod redis_copy;
pub mod resp;
pub mod rewrite;
pub mod s3;
pub mod s3_transfer;
pub mod threescale_api;
pub mod tools;
pub mod url;
pub mod velero;
