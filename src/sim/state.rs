//! The state of one simulated cluster, shared by its request handlers and its controllers: what it
//! looks like when it starts (`ClusterSpec`), its objects, the permissions it denies, and the
//! pods and Velero objects whose progress is due.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Notify;

use super::catalog;
use super::exec::ExecRule;
use super::persist::Persist;
use super::portforward::PortTarget;
use super::status::ApiError;
use super::store;

/// What a simulated cluster looks like when it starts.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// Used in the kubeconfig (cluster and user names) and in log lines.
    pub name: String,
    /// Namespaces that exist from the start; the first is the kubeconfig context's namespace.
    pub namespaces: Vec<String>,
    /// The minor version `/version` reports. 32 keeps Google's kubectl dispatcher on its
    /// built-in kubectl 1.32, which picks its version from `/version`.
    pub server_minor: u32,
    /// How long a new pod stays Pending before it runs and is ready.
    pub pod_start_delay: Duration,
    /// How long a deleted pod stays (with a deletionTimestamp) before it is gone.
    pub pod_stop_delay: Duration,
    /// API groups this cluster does not serve (e.g. `apps.openshift.io` on plain Kubernetes).
    pub without_groups: Vec<String>,
    /// How long each of the five progress steps of a Velero Backup or Restore takes (and a
    /// restored pod's volume restore, three of them).
    pub velero_step: Duration,
    /// How long each move of OLM and of the 3scale operator takes (`olm`, `threescale_operator`):
    /// an InstallPlan's or a CSV's next phase, the operator's next stage of an upgrade.
    pub olm_step: Duration,
    /// The simulated Velero's `--backup-sync-period` (Velero's default is a minute): how often
    /// each storage location's bucket is listed for backups to sync, unless the location's
    /// `spec.backupSyncPeriod` says otherwise (`0s`: never).
    pub velero_sync_period: Duration,
    /// The simulated Velero's `--store-validation-frequency` (Velero's default is a minute):
    /// how often a location is validated again, unless its `spec.validationFrequency` says
    /// otherwise. A new or changed location is validated at once.
    pub velero_validation_period: Duration,
    /// How many bytes each pod volume backed up by file-system backup holds (written to the
    /// restic repository in the bucket).
    pub velero_volume_bytes: usize,
    /// The loopback port to serve on (None: a free one).
    pub port: Option<u16>,
    /// Keep the objects in this file: loaded when it exists, saved after every change (see
    /// `persist`). None: they live in memory only.
    pub state_file: Option<PathBuf>,
}

impl ClusterSpec {
    pub fn new(name: &str) -> ClusterSpec {
        ClusterSpec {
            name: name.to_string(),
            namespaces: vec!["default".to_string()],
            server_minor: 32,
            pod_start_delay: Duration::from_millis(200),
            pod_stop_delay: Duration::from_millis(200),
            without_groups: Vec::new(),
            velero_step: Duration::from_millis(100),
            olm_step: Duration::from_millis(100),
            velero_sync_period: Duration::from_millis(200),
            velero_validation_period: Duration::from_secs(1),
            velero_volume_bytes: 64 * 1024,
            port: None,
            state_file: None,
        }
    }

    /// Adds a namespace; the first one added replaces `default` as the context namespace.
    pub fn namespace(mut self, ns: &str) -> ClusterSpec {
        if self.namespaces == ["default"] {
            self.namespaces = vec![ns.to_string(), "default".to_string()];
        } else if !self.namespaces.iter().any(|n| n == ns) {
            self.namespaces.push(ns.to_string());
        }
        self
    }

    pub fn pod_delays(mut self, start: Duration, stop: Duration) -> ClusterSpec {
        self.pod_start_delay = start;
        self.pod_stop_delay = stop;
        self
    }

    pub fn velero_step(mut self, step: Duration) -> ClusterSpec {
        self.velero_step = step;
        self
    }

    /// The simulated Velero's backup sync period (see `velero_sync_period`).
    pub fn velero_sync_period(mut self, period: Duration) -> ClusterSpec {
        self.velero_sync_period = period;
        self
    }

    pub fn port(mut self, port: u16) -> ClusterSpec {
        self.port = Some(port);
        self
    }

    pub fn state_file(mut self, path: impl Into<PathBuf>) -> ClusterSpec {
        self.state_file = Some(path.into());
        self
    }

    pub fn without_group(mut self, group: &str) -> ClusterSpec {
        self.without_groups.push(group.to_string());
        self
    }

    pub fn context_namespace(&self) -> &str {
        self.namespaces
            .first()
            .map(String::as_str)
            .unwrap_or("default")
    }
}

/// A permission the simulated operator does not have. `None` namespace: in every namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
}

impl Denial {
    pub(super) fn covers(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        sub: Option<&str>,
        ns: Option<&str>,
    ) -> bool {
        (self.verb == verb || self.verb == "*")
            && self.group == group
            && self.resource == resource
            && self.subresource.as_deref() == sub
            && (self.namespace.is_none() || self.namespace.as_deref() == ns)
    }
}

pub(crate) struct Inner {
    pub store: store::ObjectStore,
    pub denials: Vec<Denial>,
    pub unauthorized: bool,
    /// Pod (namespace, name) → when it becomes ready, or when it is gone if deleting.
    pub pod_deadlines: HashMap<(String, String), Instant>,
    pub rng: u64,
    pub exec_rules: Vec<ExecRule>,
    pub programs: Vec<super::program::ProgramRule>,
    pub port_targets: Vec<PortTarget>,
    /// OLM or 3scale operator object (plural, namespace, name) → when it moves next.
    pub olm_next: HashMap<(&'static str, String, String), Instant>,
    /// What the 3scale operator's `system-app-pre` Job does to the system database at an
    /// upgrade, when whoever started the cluster wired it (see `SimCluster::on_system_app_pre`).
    pub system_app_pre: Option<SystemAppPre>,
    /// The `system-app-pre` Jobs (namespace, uid) whose effect runs now.
    pub hooks_running: std::collections::HashSet<(String, String)>,
}

/// The effect of one upgrade's `system-app-pre` Job (`rake boot openshift:deploy`, whose
/// `db:migrate` moves the system database to the release): given the release (`2.15`), done
/// when the future ends; an error fails the Job with that message.
pub type SystemAppPre = std::sync::Arc<
    dyn Fn(&'static str) -> futures::future::BoxFuture<'static, Result<(), String>> + Send + Sync,
>;

impl Inner {
    pub fn denied(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        sub: Option<&str>,
        ns: Option<&str>,
    ) -> bool {
        self.denials
            .iter()
            .any(|d| d.covers(verb, group, resource, sub, ns))
    }

    /// A pod-name suffix the way the real controllers draw them (no vowels).
    pub fn suffix(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut out = String::with_capacity(len);
        for _ in 0..len {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            out.push(ALPHABET[(self.rng % ALPHABET.len() as u64) as usize] as char);
        }
        out
    }
}

pub(crate) struct Shared {
    pub spec: ClusterSpec,
    pub addr: SocketAddr,
    pub(super) inner: Mutex<Inner>,
    /// Wakes the pod controller after a write.
    pub kick: Notify,
    /// Flips to true when the cluster is dropped; long-lived streams end on it.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Where a kept cluster saves its objects.
    pub persist: Option<Arc<Persist>>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn without(&self) -> &[String] {
        &self.spec.without_groups
    }
}

pub(crate) fn ensure_namespace(inner: &mut Inner, ns: &str) -> Result<(), ApiError> {
    let Some(rt) = catalog::find_kind(&[], "v1", "Namespace") else {
        return Err(ApiError::internal("the catalog has no Namespace".into()));
    };
    if inner.store.get(rt, "", ns).is_none() {
        inner.store.create(
            rt,
            "",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns},
                   "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
        )?;
    }
    Ok(())
}
