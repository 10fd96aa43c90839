//! The rehearsal sandbox: a simulated Kubernetes API server on loopback (plain HTTP) that
//! kube-rs and kubectl talk to like to any cluster, plus the seeded data stores (`seed`).
//!
//! One `SimCluster` (`server`) is one cluster, its state in `state`: its own port, object
//! store, resourceVersion counter, pod controller and injected RBAC denials. The wire details it
//! follows are those of kube-rs (kube-client) and kubectl 1.32/1.33 against a real API server;
//! each file names the part of the protocol it serves.

mod api;
pub mod catalog;
mod controller;
mod crunchy;
mod discovery;
mod exec;
mod http;
pub mod installation;
pub mod keycloak;
mod kubeconfig;
mod loopback;
pub mod olm;
mod patch;
mod persist;
mod portforward;
pub mod postgres_pod;
mod program;
mod protobuf;
pub mod rake;
mod request;
pub mod s3;
pub mod sandbox;
mod scale;
mod schema;
pub mod seed;
mod selector;
mod server;
pub mod servers;
mod ssar;
mod state;
mod status;
mod store;
mod table;
pub mod threescale_api;
pub mod threescale_operator;
mod validate;
pub mod velero;
mod volumes;
mod watch;

pub use exec::{ExecRule, client_pod_rules};
pub use kubeconfig::write_kubeconfig;
pub use portforward::PortTarget;
pub use server::SimCluster;
pub use state::{ClusterSpec, Denial, SystemAppPre};
pub use status::ApiError;
