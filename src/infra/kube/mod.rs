//! The Kubernetes layer: one client per configured cluster (source, migration cluster,
//! destination), each from its own kubeconfig and context, and the operations the steps need.
//! Every call is bounded by a timeout, and every error names the cluster (`source`...) and its
//! context, the namespace and the object, and says what to check. The layer knows nothing of the
//! config or the runbook: a cluster is described to it by a `ClusterTarget`.
//!
//! `cluster` holds the connection and the call wrapper. One file per family of objects, as kdash
//! does: `workloads` (Deployments and
//! DeploymentConfigs), `pods`, `config_objects` (Secrets and ConfigMaps), `custom` (APIManager,
//! Velero, Route), `access` (SelfSubjectAccessReview), `threescale` (installed version), `exec`
//! (stdout to a file, or a file to stdin), `client_pod` (a pod of cutover's own that runs database
//! clients in the cluster) and `portforward` (a local port to a pod port).

mod access;
mod client_pod;
mod cluster;
mod config_objects;
mod custom;
mod dynamic;
mod exec;
mod pods;
mod portforward;
pub mod quantity;
mod threescale;
mod velero;
mod workloads;

pub use access::Access;
pub use client_pod::{
    CLIENT_POD, CLIENT_POD_DEADLINE, ClientPodSpec, DEFAULT_CLIENT_IMAGE, URL_ENV, with_url,
};
pub use cluster::{CONNECT_TIMEOUT, ClusterTarget, KubeCluster, REQUEST_TIMEOUT};
pub use custom::CustomKind;
pub use dynamic::applicable;
pub use exec::{EXEC_IDLE_TIMEOUT, ExecResult};
pub use pods::PodInfo;
pub use portforward::PortForward;
pub use threescale::{
    OPERATOR_VERSION_ANNOTATION, ORIGINAL_REPLICAS_ANNOTATION, RHOAM_OPERATORS,
    RHOAM_RHSSO_NAMESPACE, ThreescaleVersion, VERSION_ANNOTATION, release_of_operator,
};
pub use velero::{DownloadTarget, gunzip};
pub use workloads::{EnvSource, WorkloadInfo, WorkloadKind};
