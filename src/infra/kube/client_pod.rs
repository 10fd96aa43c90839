//! A short-lived pod of cutover's own that runs a database's clients inside the cluster, for a
//! database the bastion cannot reach (a managed database in the cluster's private network).
//!
//! The pod gets the database's URL from a secret of its namespace as an environment variable
//! (`valueFrom.secretKeyRef`), so the credential never leaves the cluster: cutover does not read
//! it, it is not on any command line, and the pod's spec names only the secret. The clients run
//! through exec as `sh -c 'exec "$@" --dbname="$DATABASE_URL"' sh <client> <options>`.
//!
//! The pod is plain: no service account token, no privilege escalation, every capability
//! dropped, non-root, the runtime's seccomp profile (what OpenShift's `restricted-v2` and the
//! `restricted` pod security level ask for). It sleeps until it is deleted, and the cluster
//! removes it by itself after [`CLIENT_POD_DEADLINE`] should cutover die before it deletes it. A
//! pod of the same name left by an earlier attempt is deleted before the new one is created.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;

use super::cluster::KubeCluster;

/// The environment variable that holds the URL inside the pod.
pub const URL_ENV: &str = "DATABASE_URL";
/// The name of cutover's pod that runs PostgreSQL's clients in a cluster (`cutover-pg-client`).
pub const CLIENT_POD: &str = "cutover-pg-client";
/// Its image when the config names none (`dumps.pg_client_image`).
pub const DEFAULT_CLIENT_IMAGE: &str = "registry.redhat.io/rhel9/postgresql-15";
/// How long the pod may take to start (pulling its image included).
pub const CLIENT_POD_START: Duration = Duration::from_secs(300);
/// The pod's `activeDeadlineSeconds`: the cluster ends it after this, whatever happens here.
pub const CLIENT_POD_DEADLINE: Duration = Duration::from_secs(24 * 3600);

/// What a client pod is: its name, image, and the secret key its URL comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientPodSpec {
    pub name: String,
    pub image: String,
    pub secret: String,
    pub key: String,
}

impl ClientPodSpec {
    /// The pod object.
    pub fn manifest(&self, namespace: &str) -> serde_json::Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": self.name,
                "namespace": namespace,
                "labels": {
                    "app.kubernetes.io/name": self.name,
                    "app.kubernetes.io/managed-by": "cutover",
                },
                "annotations": {
                    "cutover.io/purpose": format!(
                        "database clients for the URL in secret {}/{}; deleted when the step ends",
                        self.secret, self.key
                    ),
                },
            },
            "spec": {
                "restartPolicy": "Never",
                "activeDeadlineSeconds": CLIENT_POD_DEADLINE.as_secs(),
                "automountServiceAccountToken": false,
                "terminationGracePeriodSeconds": 5,
                "securityContext": {
                    "runAsNonRoot": true,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [{
                    "name": "client",
                    "image": self.image,
                    "command": ["sleep", CLIENT_POD_DEADLINE.as_secs().to_string()],
                    "env": [{
                        "name": URL_ENV,
                        "valueFrom": {"secretKeyRef": {"name": self.secret, "key": self.key}},
                    }],
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "256Mi"},
                        "limits": {"memory": "1Gi"},
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": false,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }],
            },
        })
    }
}

/// The argv that runs `client` with `args` in a client pod, its URL from [`URL_ENV`].
pub fn with_url<'a>(client: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut argv = vec![
        "sh",
        "-c",
        "exec \"$@\" --dbname=\"$DATABASE_URL\"",
        "sh",
        client,
    ];
    argv.extend_from_slice(args);
    argv
}

/// Why a pod that is not running yet cannot start by itself: a reason the kubelet gives up on
/// (a missing secret or key, a bad image name) or the pod failed. None while it may still start.
fn hopeless(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    if matches!(status.phase.as_deref(), Some("Failed") | Some("Succeeded")) {
        return Some(format!(
            "it ended ({}){}",
            status.phase.as_deref().unwrap_or(""),
            status
                .message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ));
    }
    status
        .container_statuses
        .iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.waiting.as_ref())
        .find(|w| {
            matches!(
                w.reason.as_deref(),
                Some("CreateContainerConfigError") | Some("InvalidImageName")
            )
        })
        .map(|w| {
            format!(
                "{}: {}",
                w.reason.as_deref().unwrap_or(""),
                w.message.as_deref().unwrap_or("")
            )
        })
}

/// What a pod that has not started is waiting for, for the progress log and a timeout.
fn waiting_for(pod: &Pod) -> String {
    let status = pod.status.as_ref();
    let waiting: Vec<String> = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.waiting.as_ref())
        .map(|w| {
            let reason = w.reason.clone().unwrap_or_else(|| "waiting".to_string());
            match &w.message {
                Some(m) if !m.is_empty() => format!("{reason}: {m}"),
                _ => reason,
            }
        })
        .collect();
    let unscheduled = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        .map(|c| format!("not scheduled: {}", c.message.clone().unwrap_or_default()));
    let phase = status
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Pending".to_string());
    match (unscheduled, waiting.is_empty()) {
        (Some(u), _) => u,
        (None, false) => waiting.join("; "),
        (None, true) => phase,
    }
}

fn running(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    status.and_then(|s| s.phase.as_deref()) == Some("Running")
        && status
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|cs| !cs.is_empty() && cs.iter().all(|c| c.ready))
}

impl KubeCluster {
    /// Creates the client pod `spec` in the cluster's namespace and waits until it runs,
    /// deleting a pod of the same name left by an earlier attempt first. `log` gets a line when
    /// the pod is created and whenever what it waits for changes. On a failure to start the
    /// pod is deleted again, and the error says what it waited for.
    pub async fn start_client_pod(
        &self,
        spec: &ClientPodSpec,
        log: &(dyn Fn(String) + Send + Sync),
    ) -> anyhow::Result<()> {
        let api = self.pods_api();
        let ns = self.namespace.clone();
        let what = format!("pod {}", spec.name);
        if self
            .call(Some(&ns), &what, api.get_opt(&spec.name))
            .await?
            .is_some()
        {
            log(format!(
                "pod {} is left from an earlier attempt; deleting it first",
                spec.name
            ));
            self.delete_client_pod(&spec.name).await?;
        }
        let pod: Pod = serde_json::from_value(spec.manifest(&ns))
            .context("building the client pod's manifest")?;
        self.call(
            Some(&ns),
            &format!("creating {what}"),
            api.create(&PostParams::default(), &pod),
        )
        .await?;
        log(format!(
            "created pod {} ({}) in namespace {ns}, with its URL from secret {}/{}",
            spec.name, spec.image, spec.secret, spec.key
        ));
        let started = Instant::now();
        let mut last = String::new();
        loop {
            let current = self.call(Some(&ns), &what, api.get_opt(&spec.name)).await?;
            let Some(current) = current else {
                bail!(
                    "{} cluster, namespace {ns}: pod {} vanished while starting; something \
                     deletes pods there (a quota or admission policy?)",
                    self.name,
                    spec.name
                );
            };
            if running(&current) {
                return Ok(());
            }
            let state = waiting_for(&current);
            if let Some(why) = hopeless(&current) {
                let _ = self.delete_client_pod(&spec.name).await;
                bail!(
                    "{} cluster, namespace {ns}: pod {} cannot start: {why}. Check that secret \
                     {} holds key {} and that image {} exists; the pod was deleted",
                    self.name,
                    spec.name,
                    spec.secret,
                    spec.key,
                    spec.image
                );
            }
            if started.elapsed() > CLIENT_POD_START {
                let _ = self.delete_client_pod(&spec.name).await;
                bail!(
                    "{} cluster, namespace {ns}: pod {} did not start within {} min ({state}); \
                     check that the cluster can pull image {} and has room for the pod; the \
                     pod was deleted",
                    self.name,
                    spec.name,
                    CLIENT_POD_START.as_secs() / 60,
                    spec.image
                );
            }
            if state != last {
                log(format!("pod {}: {state}", spec.name));
                last = state;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Deletes the client pod `name` and waits until it is gone (at most a minute). A pod
    /// that is already gone is fine.
    pub async fn delete_client_pod(&self, name: &str) -> anyhow::Result<()> {
        let api = self.pods_api();
        let ns = self.namespace.clone();
        let what = format!("deleting pod {name}");
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        };
        match api.delete(name, &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
            Err(e) => return Err(super::cluster::explain(self, Some(&ns), &what, e)),
        }
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if self
                .call(Some(&ns), &what, api.get_opt(name))
                .await?
                .is_none()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        bail!(
            "{} cluster, namespace {ns}: pod {name} is still there a minute after it was \
             deleted; delete it by hand (`oc delete pod {name} -n {ns}`)",
            self.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_names_the_secret_and_holds_no_value() {
        let spec = ClientPodSpec {
            name: "cutover-pg-client".into(),
            image: "registry.example/postgresql-15".into(),
            secret: "system-database".into(),
            key: "URL".into(),
        };
        let manifest = spec.manifest("3scale");
        let pod: Pod = serde_json::from_value(manifest.clone()).unwrap_or_else(|e| panic!("{e}"));
        let container = &pod
            .spec
            .as_ref()
            .map(|s| s.containers.clone())
            .unwrap_or_default()[0];
        let env = container.env.clone().unwrap_or_default();
        assert_eq!(env.len(), 1);
        assert_eq!(env[0].name, URL_ENV);
        assert_eq!(env[0].value, None);
        let reference = env[0]
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
            .map(|r| (r.name.clone(), r.key.clone()));
        assert_eq!(
            reference,
            Some(("system-database".to_string(), "URL".to_string()))
        );
        assert_eq!(
            manifest.pointer("/spec/automountServiceAccountToken"),
            Some(&json!(false))
        );
    }

    #[test]
    fn the_url_is_read_by_the_shell_in_the_pod() {
        assert_eq!(
            with_url("psql", &["-X", "-c", "SELECT 1"]),
            [
                "sh",
                "-c",
                "exec \"$@\" --dbname=\"$DATABASE_URL\"",
                "sh",
                "psql",
                "-X",
                "-c",
                "SELECT 1"
            ]
        );
    }
}
