//! A running simulated cluster (`SimCluster`): its HTTP server on a loopback port, its pod and
//! Velero controller, and what tests and the sandbox do to it directly (seed objects, deny
//! permissions, map exec and port-forwards onto local processes and ports).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, anyhow};
use serde_json::Value;
use tokio::sync::Notify;

use super::exec::ExecRule;
use super::persist::{self, Persist};
use super::portforward::PortTarget;
use super::state::{ClusterSpec, Denial, Inner, Shared, SystemAppPre, ensure_namespace};
use super::{api, catalog, controller, selector, store, validate, velero};
use crate::error::bad_input;

/// A running simulated cluster. Dropping it stops the server, its watches and its controller.
pub struct SimCluster {
    shared: Arc<Shared>,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl SimCluster {
    /// Binds a free loopback port (or the spec's), creates the spec's namespaces and starts
    /// serving. With a state file, the objects saved there come back first (with their
    /// resourceVersions and uids), and every change is saved there from now on.
    pub async fn start(spec: ClusterSpec) -> anyhow::Result<SimCluster> {
        let listener = match spec.port {
            Some(port) => tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .map_err(|e| {
                    bad_input(format!(
                        "cannot serve the simulated cluster {} on port {port} ({e}): another \
                         process holds the port; stop it (`ss -ltnp 'sport = :{port}'` names it) \
                         and try again",
                        spec.name
                    ))
                })?,
            None => tokio::net::TcpListener::bind(("127.0.0.1", 0))
                .await
                .context("cannot bind a loopback port for the simulated cluster")?,
        };
        let addr = listener
            .local_addr()
            .context("cannot read the simulated cluster's address")?;
        let salt = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9)
            ^ u64::from(addr.port());
        let saved = match &spec.state_file {
            // An unreadable file is bad input: the cluster cannot start again from it.
            Some(path) if path.exists() => {
                Some(persist::load(path).map_err(|e| bad_input(format!("{e:#}")))?)
            }
            _ => None,
        };
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let shared = Arc::new(Shared {
            spec: spec.clone(),
            addr,
            inner: Mutex::new(Inner {
                store: store::ObjectStore::new(salt),
                denials: Vec::new(),
                unauthorized: false,
                pod_deadlines: HashMap::new(),
                rng: salt | 1,
                exec_rules: Vec::new(),
                programs: Vec::new(),
                port_targets: Vec::new(),
                olm_next: HashMap::new(),
                system_app_pre: None,
                hooks_running: Default::default(),
            }),
            kick: Notify::new(),
            shutdown: shutdown_rx.clone(),
            persist: spec
                .state_file
                .as_deref()
                .map(|path| Arc::new(Persist::new(path))),
        });
        // Subscribed before anything changes, so the saver misses nothing.
        let changes = shared.lock().store.changes.subscribe();
        {
            let mut inner = shared.lock();
            if let Some(snapshot) = saved {
                let without = spec.without_groups.clone();
                inner
                    .store
                    .restore(snapshot, |o| {
                        catalog::find_kind(
                            &without,
                            o["apiVersion"].as_str().unwrap_or(""),
                            o["kind"].as_str().unwrap_or(""),
                        )
                    })
                    .map_err(|e| {
                        bad_input(format!(
                            "cannot restore the simulated cluster {} from {}: {e}",
                            spec.name,
                            spec.state_file
                                .as_deref()
                                .map(|p| p.display().to_string())
                                .unwrap_or_default()
                        ))
                    })?;
            }
            for ns in &spec.namespaces {
                ensure_namespace(&mut inner, ns).map_err(|e| anyhow!(e.message))?;
            }
        }
        let app = axum::Router::new()
            .fallback(api::handle)
            .with_state(shared.clone());
        let mut stop = shutdown_rx.clone();
        let server = tokio::spawn(async move {
            let serving = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop.changed().await;
            });
            if let Err(e) = serving.await {
                tracing::warn!("simulated cluster server stopped: {e}");
            }
        });
        let controller = tokio::spawn(controller::run(shared.clone()));
        let velero_changes = shared.lock().store.changes.subscribe();
        let velero = tokio::spawn(velero::run(shared.clone(), velero_changes));
        let mut tasks = vec![server, controller, velero];
        if let Some(persist) = &shared.persist {
            save_now(&shared, persist);
            tasks.push(tokio::spawn(keep_saving(
                shared.clone(),
                persist.clone(),
                changes,
            )));
        }
        Ok(SimCluster {
            shared,
            shutdown,
            tasks,
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    pub fn spec(&self) -> &ClusterSpec {
        &self.shared.spec
    }

    /// Creates or replaces an object as given (status included), the way a seed or a test
    /// sets the scene. Built-in kinds are validated like API writes; the namespace is created
    /// when missing. Returns the stored object.
    pub fn apply_object(&self, object: Value) -> anyhow::Result<Value> {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
        let rt = catalog::find_kind(self.shared.without(), api_version, kind)
            .ok_or_else(|| anyhow!("the simulated cluster does not serve {api_version} {kind}"))?;
        let name = store::meta_str(&object, "name").unwrap_or("").to_string();
        let ns = store::meta_str(&object, "namespace")
            .map(str::to_string)
            .unwrap_or_else(|| self.shared.spec.context_namespace().to_string());
        let object = validate::validate(rt, object)
            .map_err(|e| anyhow!("{} {name} is not valid: {}", rt.kind, e.message))?;
        let mut inner = self.shared.lock();
        if rt.namespaced {
            ensure_namespace(&mut inner, &ns).map_err(|e| anyhow!(e.message))?;
        }
        let stored = if inner.store.get(rt, &ns, &name).is_some() {
            inner.store.replace(rt, &ns, &name, object, None)
        } else {
            inner.store.create(rt, &ns, object)
        }
        .map_err(|e| anyhow!("cannot store {} {ns}/{name}: {}", rt.kind, e.message))?;
        drop(inner);
        self.shared.kick.notify_one();
        Ok(stored)
    }

    /// The stored object, with everything the server filled in.
    pub fn get_object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let rt = catalog::find_kind(self.shared.without(), api_version, kind)?;
        self.shared.lock().store.get(rt, namespace, name).cloned()
    }

    /// Objects of one kind in one namespace (`None`: all namespaces), optionally by labels.
    pub fn list_objects(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        labels: Option<&str>,
    ) -> Vec<Value> {
        let Some(rt) = catalog::find_kind(self.shared.without(), api_version, kind) else {
            return Vec::new();
        };
        let selector = selector::Selector::labels_only(labels.unwrap_or(""));
        let objects = self.shared.lock().store.list(rt, namespace);
        objects
            .into_iter()
            .filter(|o| selector.matches(o))
            .collect()
    }

    /// Removes an object at once (no grace period). Returns whether it existed.
    pub fn delete_object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> bool {
        let Some(rt) = catalog::find_kind(self.shared.without(), api_version, kind) else {
            return false;
        };
        let removed = self
            .shared
            .lock()
            .store
            .remove(rt, namespace, name)
            .is_some();
        self.shared.kick.notify_one();
        removed
    }

    /// Takes a permission away: SelfSubjectAccessReview answers denied, and the real request
    /// answers 403 Forbidden. `namespace: None` denies it in every namespace.
    pub fn deny(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        subresource: Option<&str>,
        namespace: Option<&str>,
    ) {
        self.shared.lock().denials.push(Denial {
            verb: verb.to_string(),
            group: group.to_string(),
            resource: resource.to_string(),
            subresource: subresource.map(str::to_string),
            namespace: namespace.map(str::to_string),
        });
    }

    /// Lets `pods/exec` run a command, mapped onto a local process.
    pub fn allow_exec(&self, rule: ExecRule) {
        self.shared.lock().exec_rules.push(rule);
    }

    /// The cluster's state, held weakly by what the cluster itself keeps (its programs).
    pub(crate) fn weak(&self) -> std::sync::Weak<Shared> {
        Arc::downgrade(&self.shared)
    }

    /// Lets `pods/exec` run `command` in the pods named `pod_prefix...` as a program of this
    /// process (`sim::program`).
    pub(crate) fn allow_program(
        &self,
        pod_prefix: &str,
        command: &[&str],
        program: Arc<dyn super::program::Program>,
    ) {
        self.shared
            .lock()
            .programs
            .push(super::program::ProgramRule {
                pod_prefix: pod_prefix.to_string(),
                command: command.iter().map(|s| s.to_string()).collect(),
                program,
            });
    }

    /// Makes `pods/portforward` to `port` of the pods named `pod_prefix...` reach `target`.
    pub fn forward_port(&self, pod_prefix: &str, port: u16, target: SocketAddr) {
        self.shared.lock().port_targets.push(PortTarget {
            pod_prefix: pod_prefix.to_string(),
            port,
            target,
        });
    }

    /// Wires what the 3scale operator's `system-app-pre` Job does at an upgrade (see
    /// [`SystemAppPre`]); without it the Job completes with no effect. Not kept with the objects:
    /// whoever starts the cluster wires it again.
    pub fn on_system_app_pre(&self, effect: SystemAppPre) {
        self.shared.lock().system_app_pre = Some(effect);
    }

    pub fn clear_denials(&self) {
        self.shared.lock().denials.clear();
    }

    /// Crashes a pod's containers once: its restart count goes up and it is not ready for the
    /// start delay, as a live pods panel would show a crash.
    pub fn restart_pod(&self, namespace: &str, name: &str) -> anyhow::Result<()> {
        let pods_rt = catalog::find_kind(&[], "v1", "Pod")
            .ok_or_else(|| anyhow!("the catalog has no Pod"))?;
        let mut inner = self.shared.lock();
        controller::restart(&mut inner, &self.shared.spec, pods_rt, namespace, name)
            .map_err(|e| anyhow!("cannot restart pod {namespace}/{name}: {}", e.message))
    }

    /// Every request answers 401 while on, as with an expired token.
    pub fn set_unauthorized(&self, on: bool) {
        self.shared.lock().unauthorized = on;
    }

    /// The token the kubeconfig gives this cluster's user.
    pub fn token(&self) -> String {
        format!("sim-token-{}", self.shared.spec.name)
    }

    /// The current resourceVersion counter.
    pub fn resource_version(&self) -> u64 {
        self.shared.lock().store.current_rv()
    }
}

impl Drop for SimCluster {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        // The server (first task) ends by itself through graceful shutdown, closing idle
        // keep-alive connections; the controller and the saver loop forever and are aborted.
        for task in self.tasks.iter().skip(1) {
            task.abort();
        }
        // The last changes (a controller's) may not be saved yet.
        if let Some(persist) = &self.shared.persist {
            save_now(&self.shared, persist);
        }
    }
}

/// Saves the objects as they are now.
fn save_now(shared: &Shared, persist: &Persist) {
    let snapshot = shared.lock().store.snapshot();
    persist.save(&snapshot);
}

/// Saves the objects after every change; changes that come while a save runs are saved
/// together by the next one.
async fn keep_saving(
    shared: Arc<Shared>,
    persist: Arc<Persist>,
    mut changes: tokio::sync::broadcast::Receiver<Arc<store::Change>>,
) {
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    loop {
        match changes.recv().await {
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
        while !matches!(
            changes.try_recv(),
            Err(TryRecvError::Empty | TryRecvError::Closed)
        ) {}
        let snapshot = shared.lock().store.snapshot();
        let persist = persist.clone();
        let saved = tokio::task::spawn_blocking(move || persist.save(&snapshot)).await;
        if saved.is_err() {
            return;
        }
    }
}
