//! The pod controller: keeps each Deployment's, StatefulSet's and DeploymentConfig's pods at its
//! replicas (a StatefulSet's named `<name>-<ordinal>`, made in order once the one below is ready
//! and ended from the highest, its template's annotations kept). New
//! pods are Pending for the start delay, then Running and ready; surplus pods get a
//! deletionTimestamp and vanish after the stop delay. The workload's status follows. Velero
//! has a task of its own (`velero/`), since it talks to object storage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::catalog::{self, ResourceType};
use super::state::{ClusterSpec, Inner, Shared};
use super::status::ApiError;
use super::store::{meta_str, now};

/// The longest the controller sleeps with nothing due: a safety net, since every
/// write kicks it and every pod deadline is known.
const IDLE_TICK: Duration = Duration::from_secs(1);

pub async fn run(sim: Arc<Shared>) {
    loop {
        reconcile(&sim);
        super::olm::reconcile(&sim);
        super::threescale_operator::reconcile(&sim);
        super::crunchy::reconcile(&sim);
        super::volumes::reconcile(&sim);
        let wait = next_wait(&sim);
        tokio::select! {
            _ = sim.kick.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Sleeps until the earliest pod or operator deadline rather than polling: an idle
/// sandbox then costs next to nothing, however many objects it holds.
fn next_wait(sim: &Shared) -> Duration {
    let inner = sim.lock();
    let now = Instant::now();
    let due = inner
        .pod_deadlines
        .values()
        .chain(inner.olm_next.values())
        .min()
        .map(|t| t.saturating_duration_since(now));
    due.unwrap_or(IDLE_TICK).min(IDLE_TICK)
}

/// The pod label that ties a pod to its workload.
pub fn workload_label(rt: &ResourceType) -> &'static str {
    if rt.group == "apps.openshift.io" {
        "deploymentConfig"
    } else {
        "deployment"
    }
}

fn pod_type() -> Option<&'static ResourceType> {
    catalog::find_kind(&[], "v1", "Pod")
}

fn reconcile(sim: &Shared) {
    let Some(pods_rt) = pod_type() else { return };
    let mut inner = sim.lock();
    let workload_types: Vec<&'static ResourceType> = catalog::served(&sim.spec.without_groups)
        .filter(|rt| rt.is_workload())
        .collect();
    for rt in &workload_types {
        for workload in inner.store.list(rt, None) {
            let pods = pods_of(&inner, rt, pods_rt, &workload);
            follow_replicas(&mut inner, &sim.spec, rt, pods_rt, &workload, &pods);
        }
    }
    // Pods whose workload is gone are deleted, as the garbage collector does.
    let mut owned = std::collections::HashSet::new();
    for rt in &workload_types {
        for workload in inner.store.list(rt, None) {
            let ns = meta_str(&workload, "namespace").unwrap_or("").to_string();
            for p in pods_of(&inner, rt, pods_rt, &workload) {
                owned.insert((ns.clone(), meta_str(&p, "name").unwrap_or("").to_string()));
            }
        }
    }
    advance_pods(&mut inner, &sim.spec, pods_rt, &owned);
    for rt in workload_types {
        for workload in inner.store.list(rt, None) {
            update_status(&mut inner, rt, pods_rt, &workload);
        }
    }
}

/// A suffix in the controllers' alphabet derived from `seed` (FNV-1a), the same every time.
fn stable_suffix(seed: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (0..len)
        .map(|_| {
            let c = ALPHABET[(h % ALPHABET.len() as u64) as usize] as char;
            h /= ALPHABET.len() as u64;
            if h == 0 {
                h = 0x9e37_79b9_7f4a_7c15;
            }
            c
        })
        .collect()
}

fn pods_of(
    inner: &Inner,
    rt: &ResourceType,
    pods_rt: &'static ResourceType,
    workload: &Value,
) -> Vec<Value> {
    let ns = meta_str(workload, "namespace").unwrap_or("");
    let name = meta_str(workload, "name").unwrap_or("");
    let pods = inner.store.list(pods_rt, Some(ns)).into_iter();
    if rt.kind == "StatefulSet" {
        // A StatefulSet's pods carry no label of its name: they are its by their owner.
        return pods
            .filter(|p| {
                p.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|o| {
                        o.iter()
                            .any(|r| r["kind"] == "StatefulSet" && r["name"] == name)
                    })
            })
            .collect();
    }
    let pointer = format!("/metadata/labels/{}", workload_label(rt));
    pods.filter(|p| p.pointer(&pointer).and_then(Value::as_str) == Some(name))
        .collect()
}

fn is_terminating(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

fn has_finalizers(pod: &Value) -> bool {
    pod.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
}

fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

fn follow_replicas(
    inner: &mut Inner,
    spec: &ClusterSpec,
    rt: &'static ResourceType,
    pods_rt: &'static ResourceType,
    workload: &Value,
    pods: &[Value],
) {
    let want = workload
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0) as usize;
    let mut live: Vec<&Value> = pods.iter().filter(|p| !is_terminating(p)).collect();
    if rt.kind == "StatefulSet" {
        ordered_ready(inner, spec, rt, pods_rt, workload, pods, want);
        return;
    }
    if live.len() < want {
        for _ in live.len()..want {
            let pod = new_pod(inner, rt, pods_rt, workload);
            let ns = meta_str(&pod, "namespace").unwrap_or("").to_string();
            if let Ok(stored) = inner.store.create(pods_rt, &ns, pod) {
                let name = meta_str(&stored, "name").unwrap_or("").to_string();
                inner
                    .pod_deadlines
                    .insert((ns, name), Instant::now() + spec.pod_start_delay);
            }
        }
    } else if live.len() > want {
        // Not-ready pods go first, then the newest, like the ReplicaSet controller.
        live.sort_by_key(|p| {
            (
                is_ready(p),
                std::cmp::Reverse(meta_str(p, "creationTimestamp").unwrap_or("")),
            )
        });
        let surplus: Vec<Value> = live
            .iter()
            .take(live.len() - want)
            .map(|p| (*p).clone())
            .collect();
        for pod in surplus {
            let _ = mark_terminating(inner, spec, pods_rt, pod);
        }
    }
}

/// A StatefulSet's pods under its default `OrderedReady` policy: one pod at a time, the next
/// ordinal only once every pod below is Running and ready, and none while one is ending; the
/// surplus ended from the highest ordinal, one at a time.
fn ordered_ready(
    inner: &mut Inner,
    spec: &ClusterSpec,
    rt: &'static ResourceType,
    pods_rt: &'static ResourceType,
    workload: &Value,
    pods: &[Value],
    want: usize,
) {
    if pods.iter().any(is_terminating) {
        return;
    }
    let set = meta_str(workload, "name").unwrap_or("");
    let ordinal = |p: &Value| {
        meta_str(p, "name")
            .and_then(|n| n.strip_prefix(set))
            .and_then(|n| n.strip_prefix('-'))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(usize::MAX)
    };
    let mut live: Vec<&Value> = pods.iter().collect();
    live.sort_by_key(|p| ordinal(p));
    if live.len() < want {
        if live.iter().all(|p| is_ready(p)) {
            let pod = new_pod(inner, rt, pods_rt, workload);
            let ns = meta_str(&pod, "namespace").unwrap_or("").to_string();
            if let Ok(stored) = inner.store.create(pods_rt, &ns, pod) {
                let name = meta_str(&stored, "name").unwrap_or("").to_string();
                inner
                    .pod_deadlines
                    .insert((ns, name), Instant::now() + spec.pod_start_delay);
            }
        }
    } else if live.len() > want
        && let Some(highest) = live.last()
    {
        let _ = mark_terminating(inner, spec, pods_rt, (*highest).clone());
    }
}

fn new_pod(
    inner: &mut Inner,
    rt: &'static ResourceType,
    pods_rt: &'static ResourceType,
    workload: &Value,
) -> Value {
    let name = meta_str(workload, "name").unwrap_or("").to_string();
    let ns = meta_str(workload, "namespace").unwrap_or("").to_string();
    let template_labels = workload
        .pointer("/spec/template/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut labels = match template_labels {
        Value::Object(m) => m,
        _ => Default::default(),
    };
    let app = labels
        .get("app")
        .cloned()
        .or_else(|| workload.pointer("/metadata/labels/app").cloned())
        .unwrap_or_else(|| json!(name));
    labels.insert("app".into(), app);
    let template_annotations = workload
        .pointer("/spec/template/metadata/annotations")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let (pod_name, owner_kind, owner_name, mut annotations) = if rt.kind == "StatefulSet" {
        // Pods `<name>-0`, `<name>-1`...: the lowest ordinal not taken.
        let taken: Vec<String> = inner
            .store
            .list(pods_rt, Some(&ns))
            .iter()
            .filter_map(|p| meta_str(p, "name").map(str::to_string))
            .collect();
        let pod_name = (0..)
            .map(|i| format!("{name}-{i}"))
            .find(|n| !taken.contains(n))
            .unwrap_or_default();
        let template = workload
            .pointer("/spec/template")
            .map(Value::to_string)
            .unwrap_or_default();
        let seed = format!("{}{template}", meta_str(workload, "uid").unwrap_or(&name));
        labels.insert(
            "controller-revision-hash".into(),
            json!(format!("{name}-{}", stable_suffix(&seed, 10))),
        );
        labels.insert(
            "statefulset.kubernetes.io/pod-name".into(),
            json!(pod_name.clone()),
        );
        (pod_name, "StatefulSet", name.clone(), json!({}))
    } else if rt.kind == "DeploymentConfig" {
        labels.insert(workload_label(rt).into(), json!(name));
        let version = workload
            .pointer("/status/latestVersion")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(1);
        let rc = format!("{name}-{version}");
        labels.insert("deployment".into(), json!(rc));
        (
            format!("{rc}-{}", inner.suffix(5)),
            "ReplicationController",
            rc.clone(),
            json!({"openshift.io/deployment-config.name": name, "openshift.io/deployment.name": rc}),
        )
    } else {
        labels.insert(workload_label(rt).into(), json!(name));
        // One ReplicaSet per template: its hash is stable for the workload's pod template.
        let template = workload
            .pointer("/spec/template")
            .map(Value::to_string)
            .unwrap_or_default();
        let seed = format!("{}{template}", meta_str(workload, "uid").unwrap_or(&name));
        let rs = format!("{name}-{}", stable_suffix(&seed, 10));
        let hash = rs.rsplit('-').next().unwrap_or("").to_string();
        labels.insert("pod-template-hash".into(), json!(hash));
        (
            format!("{rs}-{}", inner.suffix(5)),
            "ReplicaSet",
            rs,
            json!({}),
        )
    };
    if let (Some(a), Some(t)) = (
        annotations.as_object_mut(),
        template_annotations.as_object(),
    ) {
        for (k, v) in t {
            a.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let pod_spec = workload
        .pointer("/spec/template/spec")
        .filter(|s| s.get("containers").and_then(Value::as_array).is_some_and(|c| !c.is_empty()))
        .cloned()
        .unwrap_or_else(|| json!({"containers": [{"name": name, "image": format!("registry.sim/{name}:latest")}]}));
    let status = pending_status(&pod_spec);
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name,
            "namespace": ns,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [{
                "apiVersion": if owner_kind == "ReplicationController" { "v1" } else { "apps/v1" },
                "kind": owner_kind, "name": owner_name,
                "uid": if owner_kind == "StatefulSet" {
                    meta_str(workload, "uid").map(str::to_string).unwrap_or_else(|| inner.store.uid())
                } else {
                    inner.store.uid()
                },
                "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": pod_spec,
        "status": status,
    })
}

/// The status of a new pod while its containers are created: Pending, scheduled, each
/// container waiting in `ContainerCreating`.
pub fn pending_status(pod_spec: &Value) -> Value {
    let containers: Vec<Value> = pod_spec["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    json!({
                        "name": c["name"], "image": c["image"], "imageID": "", "ready": false,
                        "restartCount": 0, "started": false,
                        "state": {"waiting": {"reason": "ContainerCreating"}},
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now()}],
        "containerStatuses": containers,
        "qosClass": "BestEffort",
    })
}

/// The environment of `pod`'s first container as the kubelet gives it: plain values, and
/// values from secret keys (`valueFrom.secretKeyRef`). Err is the kubelet's
/// `CreateContainerConfigError` message for a secret or key that is not there.
pub fn pod_env(inner: &Inner, pod: &Value) -> Result<Vec<(String, String)>, String> {
    let ns = meta_str(pod, "namespace").unwrap_or("");
    let Some(secrets_rt) = catalog::find_kind(&[], "v1", "Secret") else {
        return Ok(Vec::new());
    };
    let env = pod
        .pointer("/spec/containers/0/env")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for var in env {
        let name = var["name"].as_str().unwrap_or("").to_string();
        if let Some(value) = var["value"].as_str() {
            out.push((name, value.to_string()));
            continue;
        }
        let Some(reference) = var.pointer("/valueFrom/secretKeyRef") else {
            continue;
        };
        let secret = reference["name"].as_str().unwrap_or("");
        let key = reference["key"].as_str().unwrap_or("");
        let Some(object) = inner.store.get(secrets_rt, ns, secret) else {
            return Err(format!("secret \"{secret}\" not found"));
        };
        let encoded = object
            .pointer(&format!(
                "/data/{}",
                key.replace('~', "~0").replace('/', "~1")
            ))
            .and_then(Value::as_str);
        let decoded = encoded.and_then(|e| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(e).ok()
        });
        match decoded {
            Some(bytes) => out.push((name, String::from_utf8_lossy(&bytes).into_owned())),
            None => return Err(format!("couldn't find key {key} in Secret {ns}/{secret}")),
        }
    }
    Ok(out)
}

/// A pending pod whose environment cannot be made stays Pending with the kubelet's reason.
fn config_error(mut pod: Value, message: &str) -> Value {
    if let Some(statuses) = pod
        .pointer_mut("/status/containerStatuses")
        .and_then(Value::as_array_mut)
    {
        for status in statuses {
            status["state"] = json!({"waiting": {
                "reason": "CreateContainerConfigError", "message": message,
            }});
        }
    }
    pod
}

/// Sets the deletionTimestamp; the pod vanishes after the stop delay.
pub fn mark_terminating(
    inner: &mut Inner,
    spec: &ClusterSpec,
    pods_rt: &'static ResourceType,
    pod: Value,
) -> Result<Value, ApiError> {
    let ns = meta_str(&pod, "namespace").unwrap_or("").to_string();
    let name = meta_str(&pod, "name").unwrap_or("").to_string();
    if is_terminating(&pod) {
        return Ok(pod);
    }
    let stored =
        inner
            .store
            .mark_deleting(pods_rt, &ns, &name, &now(), spec.pod_stop_delay.as_secs())?;
    inner
        .pod_deadlines
        .insert((ns, name), Instant::now() + spec.pod_stop_delay);
    Ok(stored)
}

fn advance_pods(
    inner: &mut Inner,
    spec: &ClusterSpec,
    pods_rt: &'static ResourceType,
    owned: &std::collections::HashSet<(String, String)>,
) {
    let now_instant = Instant::now();
    for pod in inner.store.list(pods_rt, None) {
        let ns = meta_str(&pod, "namespace").unwrap_or("").to_string();
        let name = meta_str(&pod, "name").unwrap_or("").to_string();
        let key = (ns.clone(), name.clone());
        let due = inner
            .pod_deadlines
            .get(&key)
            .is_none_or(|d| *d <= now_instant);
        if is_terminating(&pod) {
            // A finalizer keeps a deleted pod until someone removes it, as on a real server:
            // that is how a pod that never finishes terminating looks.
            if due && !has_finalizers(&pod) {
                inner.store.remove(pods_rt, &ns, &name);
                inner.pod_deadlines.remove(&key);
            }
            continue;
        }
        let controlled = pod
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|o| !o.is_empty());
        if controlled && !owned.contains(&key) {
            // Its workload is gone.
            let _ = mark_terminating(inner, spec, pods_rt, pod);
            continue;
        }
        let phase = pod.pointer("/status/phase").and_then(Value::as_str);
        let restarting =
            phase == Some("Running") && !is_ready(&pod) && inner.pod_deadlines.contains_key(&key);
        if (phase == Some("Pending") || restarting) && due {
            let next = match pod_env(inner, &pod) {
                Ok(_) => {
                    inner.pod_deadlines.remove(&key);
                    running(pod)
                }
                // The kubelet retries; so does this, on every pass.
                Err(message) => config_error(pod, &message),
            };
            let _ = inner.store.replace(pods_rt, &ns, &name, next, None);
        }
    }
}

fn running(mut pod: Value) -> Value {
    let t = now();
    let n = meta_str(&pod, "uid").map(|u| {
        u.bytes()
            .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(b.into()))
    });
    let ip = n
        .map(|n| format!("10.128.{}.{}", (n >> 8) % 250 + 1, n % 250 + 2))
        .unwrap_or_else(|| "10.128.0.2".into());
    let containers: Vec<Value> = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    json!({
                        "name": c["name"], "image": c["image"], "imageID": c["image"], "ready": true,
                        "restartCount": c["restartCount"].as_i64().unwrap_or(0), "started": true,
                        "state": {"running": {"startedAt": t}},
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(status) = pod.get_mut("status").and_then(Value::as_object_mut) {
        status.insert("phase".into(), json!("Running"));
        status.insert("startTime".into(), json!(t));
        status.insert("podIP".into(), json!(ip));
        status.insert("hostIP".into(), json!("192.168.0.10"));
        status.insert(
            "conditions".into(),
            json!([
                {"type": "Initialized", "status": "True", "lastTransitionTime": t},
                {"type": "Ready", "status": "True", "lastTransitionTime": t},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": t},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": t},
            ]),
        );
        status.insert("containerStatuses".into(), Value::Array(containers));
        // Init containers (such as Velero's restic-wait) have run to completion.
        if let Some(inits) = status
            .get_mut("initContainerStatuses")
            .and_then(Value::as_array_mut)
        {
            for c in inits {
                c["ready"] = json!(true);
                c["state"] =
                    json!({"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": t}});
            }
        }
    }
    pod
}

fn update_status(
    inner: &mut Inner,
    rt: &'static ResourceType,
    pods_rt: &'static ResourceType,
    workload: &Value,
) {
    let ns = meta_str(workload, "namespace").unwrap_or("").to_string();
    let name = meta_str(workload, "name").unwrap_or("").to_string();
    let pods: Vec<Value> = pods_of(inner, rt, pods_rt, workload)
        .into_iter()
        .filter(|p| !is_terminating(p))
        .collect();
    let replicas = pods.len() as i64;
    let ready = pods.iter().filter(|p| is_ready(p)).count() as i64;
    let want = workload
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let generation = workload
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1));
    let mut status = workload
        .get("status")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let before = status.clone();
    if let Some(s) = status.as_object_mut() {
        s.insert("observedGeneration".into(), generation);
        s.insert("replicas".into(), json!(replicas));
        s.insert("readyReplicas".into(), json!(ready));
        s.insert("availableReplicas".into(), json!(ready));
        s.insert("updatedReplicas".into(), json!(replicas));
        if rt.kind == "StatefulSet" {
            s.insert("currentReplicas".into(), json!(replicas));
        } else {
            s.insert("unavailableReplicas".into(), json!((want - ready).max(0)));
        }
        if rt.kind == "DeploymentConfig" && s.get("latestVersion").is_none() {
            s.insert("latestVersion".into(), json!(1));
        }
    }
    if status == before {
        return;
    }
    let mut next = workload.clone();
    if let Some(o) = next.as_object_mut() {
        o.insert("status".into(), status);
    }
    let _ = inner.store.replace(rt, &ns, &name, next, None);
}

/// A container crash: restartCount goes up and the pod is not ready for the start delay.
pub fn restart(
    inner: &mut Inner,
    spec: &ClusterSpec,
    pods_rt: &'static ResourceType,
    ns: &str,
    name: &str,
) -> Result<(), ApiError> {
    let mut pod = inner
        .store
        .get(pods_rt, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(pods_rt, name))?;
    let t = now();
    if let Some(statuses) = pod
        .pointer_mut("/status/containerStatuses")
        .and_then(Value::as_array_mut)
    {
        for c in statuses {
            let restarts = c["restartCount"].as_i64().unwrap_or(0) + 1;
            c["restartCount"] = json!(restarts);
            c["ready"] = json!(false);
            c["lastState"] =
                json!({"terminated": {"exitCode": 137, "reason": "Error", "finishedAt": t}});
            c["state"] = json!({"waiting": {"reason": "CrashLoopBackOff"}});
        }
    }
    if let Some(conditions) = pod
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        for c in conditions
            .iter_mut()
            .filter(|c| c["type"] == "Ready" || c["type"] == "ContainersReady")
        {
            c["status"] = json!("False");
            c["lastTransitionTime"] = json!(t);
        }
    }
    inner.store.replace(pods_rt, ns, name, pod, None)?;
    inner.pod_deadlines.insert(
        (ns.to_string(), name.to_string()),
        Instant::now() + spec.pod_start_delay,
    );
    Ok(())
}
