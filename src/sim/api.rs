//! Routing of API paths and the verbs on objects: get, list, watch, create, update, patch,
//! delete, with the checks a real server makes first (RBAC denials, namespace, preconditions).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::catalog::{self, ResourceType};
use super::http::{Query, json_response};
use super::request::{PatchKind, Target, apply_patch, parse_body, patch_kind};
use super::selector::Selector;
use super::state::{Shared, ensure_namespace};
use super::status::ApiError;
use super::store::meta_str;
use super::{discovery, patch, scale, ssar, validate, watch};

/// Request bodies larger than this are refused (the real server's limit is 3 MiB per object).
const MAX_BODY: usize = 8 * 1024 * 1024;

pub async fn handle(State(sim): State<Arc<Shared>>, req: Request) -> Response {
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let response = match serve(&sim, req).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    // A kept cluster answers a write once what it changed is saved, as an API server answers
    // once etcd has committed.
    if writes && let Some(persist) = &sim.persist {
        let rv = sim.lock().store.current_rv();
        if let Err(e) = persist.wait_saved(rv).await {
            return ApiError::internal(e).into_response();
        }
    }
    response
}

async fn serve(sim: &Arc<Shared>, req: Request) -> Result<Response, ApiError> {
    if sim.lock().unauthorized {
        return Err(ApiError::unauthorized());
    }
    let path = req.uri().path().to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let without = sim.without();
    let headers = req.headers().clone();
    let aggregated = discovery::wants_aggregated(&headers);
    let addr = sim.addr.to_string();
    match segs.as_slice() {
        ["version"] => Ok(discovery::version(sim.spec.server_minor)),
        ["healthz" | "readyz" | "livez"] => Ok((StatusCode::OK, "ok").into_response()),
        ["api"] if aggregated => Ok(discovery::aggregated(without, true)),
        ["api"] => Ok(discovery::core_versions(&addr)),
        ["apis"] if aggregated => Ok(discovery::aggregated(without, false)),
        ["apis"] => Ok(discovery::group_list(without)),
        ["api", "v1"] => {
            discovery::resource_list(without, "", "v1").ok_or_else(ApiError::unknown_path)
        }
        ["apis", g] => discovery::group(without, g).ok_or_else(ApiError::unknown_path),
        ["apis", g, v] => {
            discovery::resource_list(without, g, v).ok_or_else(ApiError::unknown_path)
        }
        ["api", "v1", rest @ ..] => {
            let target = target(without, "", "v1", rest)?;
            resource(sim, target, req).await
        }
        ["apis", g, v, rest @ ..] => {
            let target = target(without, g, v, rest)?;
            resource(sim, target, req).await
        }
        _ => Err(ApiError::unknown_path()),
    }
}

fn target(
    without: &[String],
    group: &str,
    version: &str,
    rest: &[&str],
) -> Result<Target, ApiError> {
    let namespaced = match rest {
        ["namespaces", ns, plural, tail @ ..] => catalog::find(without, group, version, plural)
            .filter(|rt| rt.namespaced)
            .map(|rt| (rt, Some(ns.to_string()), tail)),
        _ => None,
    };
    let (rt, namespace, tail) = match namespaced {
        Some(found) => found,
        None => match rest {
            [plural, tail @ ..] => {
                let rt = catalog::find(without, group, version, plural)
                    .ok_or_else(ApiError::unknown_path)?;
                (rt, None, tail)
            }
            [] => return Err(ApiError::unknown_path()),
        },
    };
    let (name, sub) = match tail {
        [] => (None, None),
        [name] => (Some(name.to_string()), None),
        [name, sub] if rt.subresource(sub).is_some() => {
            (Some(name.to_string()), Some(sub.to_string()))
        }
        _ => return Err(ApiError::unknown_path()),
    };
    // A namespaced kind is reachable by name only inside its namespace.
    if rt.namespaced && namespace.is_none() && name.is_some() {
        return Err(ApiError::unknown_path());
    }
    Ok(Target {
        rt,
        namespace,
        name,
        sub,
    })
}

fn verb(method: &Method, target: &Target, query: &Query) -> &'static str {
    if matches!(
        target.sub.as_deref(),
        Some("exec" | "portforward" | "attach")
    ) {
        return "create";
    }
    match (method.as_str(), target.name.is_some()) {
        ("GET", true) => "get",
        ("GET", false) if query.flag("watch") => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

async fn resource(sim: &Arc<Shared>, t: Target, req: Request) -> Result<Response, ApiError> {
    let query = Query::parse(req.uri().query());
    let method = req.method().clone();
    let verb = verb(&method, &t, &query);
    let ns = t.namespace.as_deref();
    if sim
        .lock()
        .denied(verb, t.rt.group, t.rt.plural, t.sub.as_deref(), ns)
    {
        return Err(ApiError::forbidden(
            t.rt,
            verb,
            t.name.as_deref(),
            t.sub.as_deref(),
            ns,
        ));
    }
    match t.sub.as_deref() {
        Some("exec" | "portforward") => return streaming(sim, &t, req, &query).await,
        Some(sub @ ("attach" | "log")) => {
            return Err(ApiError::bad_request(format!(
                "the simulated cluster does not serve pods/{sub}"
            )));
        }
        _ => {}
    }
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
    let response = match (method.as_str(), t.name.as_deref(), t.sub.as_deref()) {
        ("GET", None, _) if query.flag("watch") => {
            let selector = Selector::parse(query.get("labelSelector"), query.get("fieldSelector"))?;
            let as_table = super::table::wanted(&headers);
            return Ok(watch::stream(
                sim,
                t.rt,
                t.namespace.clone(),
                selector,
                &query,
                as_table,
            ));
        }
        ("GET", None, _) => list(sim, &t, &query, super::table::wanted(&headers)),
        ("GET", Some(name), Some("scale")) => scale::get(sim, &t, name),
        ("GET", Some(name), _) => get(sim, &t, name, super::table::wanted(&headers)),
        ("POST", None, _) if t.rt.kind == "SelfSubjectAccessReview" => {
            ssar::review(sim, &headers, &body)
        }
        ("POST", None, _) => create(sim, &t, &body),
        ("PUT", Some(name), Some("scale")) => scale::put(sim, &t, name, &body),
        ("PUT", Some(name), sub) => update(sim, &t, name, sub, &body),
        ("PATCH", Some(name), Some("scale")) => scale::patch(sim, &t, name, &headers, &body),
        ("PATCH", Some(name), sub) => patch_object(sim, &t, name, sub, &headers, &query, &body),
        ("DELETE", Some(name), None) => delete(sim, &t, name),
        _ => Err(ApiError::method_not_allowed()),
    };
    if method != Method::GET {
        sim.kick.notify_one();
    }
    response
}

fn get(sim: &Shared, t: &Target, name: &str, as_table: bool) -> Result<Response, ApiError> {
    let inner = sim.lock();
    let obj = inner
        .store
        .get(t.rt, t.namespace.as_deref().unwrap_or(""), name)
        .ok_or_else(|| ApiError::not_found(t.rt, name))?;
    if as_table {
        let rv = meta_str(obj, "resourceVersion").unwrap_or("").to_string();
        return Ok(json_response(
            StatusCode::OK,
            &super::table::table(t.rt, std::slice::from_ref(obj), &rv),
        ));
    }
    Ok(json_response(StatusCode::OK, obj))
}

fn list(sim: &Shared, t: &Target, query: &Query, as_table: bool) -> Result<Response, ApiError> {
    let selector = Selector::parse(query.get("labelSelector"), query.get("fieldSelector"))?;
    let inner = sim.lock();
    let items: Vec<Value> = inner
        .store
        .list(t.rt, t.namespace.as_deref())
        .into_iter()
        .filter(|o| selector.matches(o))
        .collect();
    if as_table {
        let rv = inner.store.current_rv().to_string();
        return Ok(json_response(
            StatusCode::OK,
            &super::table::table(t.rt, &items, &rv),
        ));
    }
    let body = json!({
        "kind": format!("{}List", t.rt.kind),
        "apiVersion": t.rt.api_version(),
        "metadata": {"resourceVersion": inner.store.current_rv().to_string()},
        "items": items,
    });
    Ok(json_response(StatusCode::OK, &body))
}

/// The body's kind/apiVersion, when given, must be the URL's.
fn check_type(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or(rt.kind);
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(str::to_string);
    if kind != rt.kind || api_version.is_some_and(|a| a != rt.api_version()) {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version ({})",
            obj.get("apiVersion").and_then(Value::as_str).unwrap_or(""),
            rt.api_version()
        )));
    }
    Ok(())
}

fn check_namespace(t: &Target, obj: &Value) -> Result<(), ApiError> {
    if let (Some(url_ns), Some(body_ns)) = (t.namespace.as_deref(), meta_str(obj, "namespace"))
        && !body_ns.is_empty()
        && body_ns != url_ns
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
                .into(),
        ));
    }
    Ok(())
}

fn namespace_must_exist(sim: &Shared, t: &Target) -> Result<(), ApiError> {
    let Some(ns) = t.namespace.as_deref() else {
        return Ok(());
    };
    let ns_rt = catalog::find_kind(&[], "v1", "Namespace").ok_or_else(ApiError::unknown_path)?;
    if sim.lock().store.get(ns_rt, "", ns).is_none() {
        return Err(ApiError::namespace_not_found(ns));
    }
    Ok(())
}

fn create(sim: &Shared, t: &Target, body: &Bytes) -> Result<Response, ApiError> {
    let obj = parse_body(body)?;
    check_type(t.rt, &obj)?;
    check_namespace(t, &obj)?;
    namespace_must_exist(sim, t)?;
    let obj = validate::validate(t.rt, obj)?;
    let mut inner = sim.lock();
    if t.rt.kind == "Namespace" {
        let name = meta_str(&obj, "name").unwrap_or("").to_string();
        if inner.store.get(t.rt, "", &name).is_some() {
            return Err(ApiError::already_exists(t.rt, &name));
        }
        ensure_namespace(&mut inner, &name)?;
        let stored = inner
            .store
            .get(t.rt, "", &name)
            .cloned()
            .unwrap_or(Value::Null);
        return Ok(json_response(StatusCode::CREATED, &stored));
    }
    let stored = store_new(
        &mut inner,
        t.rt,
        t.namespace.as_deref().unwrap_or(""),
        obj,
        sim.spec.pod_start_delay,
    )?;
    Ok(json_response(StatusCode::CREATED, &stored))
}

/// Stores a validated new object as a create request does. A pod created directly (not by a
/// workload) starts as the kubelet reports it: Pending until its containers are created,
/// `start_delay` from now.
pub(crate) fn store_new(
    inner: &mut super::state::Inner,
    rt: &'static ResourceType,
    ns: &str,
    obj: Value,
    start_delay: std::time::Duration,
) -> Result<Value, ApiError> {
    let bare_pod = rt.kind == "Pod" && obj.pointer("/status/phase").is_none();
    let obj = if bare_pod {
        let mut obj = obj;
        obj["status"] = super::controller::pending_status(&obj["spec"]);
        obj
    } else {
        obj
    };
    let stored = inner.store.create(rt, ns, obj)?;
    if bare_pod {
        let key = (
            meta_str(&stored, "namespace").unwrap_or("").to_string(),
            meta_str(&stored, "name").unwrap_or("").to_string(),
        );
        inner
            .pod_deadlines
            .insert(key, std::time::Instant::now() + start_delay);
    }
    Ok(stored)
}

/// Writes through the main resource keep the stored status, writes through `/status` keep
/// everything but the status, as the real registries do.
fn keep_other_half(
    rt: &ResourceType,
    current: &Value,
    mut next: Value,
    sub: Option<&str>,
) -> Value {
    // A kind without a status subresource (Velero 1.9's CRDs) writes its status through the
    // main resource, as its controllers do.
    if sub.is_none() && rt.subresource("status").is_none() {
        return next;
    }
    if sub == Some("status") {
        let status = next.get("status").cloned();
        let mut out = current.clone();
        if let Some(o) = out.as_object_mut() {
            match status {
                Some(s) => o.insert("status".into(), s),
                None => o.shift_remove("status"),
            };
        }
        if let Some(rv) = next.pointer("/metadata/resourceVersion").cloned() {
            super::store::meta_mut(&mut out).insert("resourceVersion".into(), rv);
        }
        return out;
    }
    if let Some(o) = next.as_object_mut() {
        match current.get("status") {
            Some(s) => o.insert("status".into(), s.clone()),
            None => o.shift_remove("status"),
        };
    }
    next
}

fn update(
    sim: &Shared,
    t: &Target,
    name: &str,
    sub: Option<&str>,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let obj = parse_body(body)?;
    check_type(t.rt, &obj)?;
    check_namespace(t, &obj)?;
    if meta_str(&obj, "name").is_some_and(|n| n != name) {
        return Err(ApiError::bad_request(
            "the name of the object does not match the name on the URL".into(),
        ));
    }
    let ns = t.namespace.as_deref().unwrap_or("");
    let mut inner = sim.lock();
    let current = inner
        .store
        .get(t.rt, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(t.rt, name))?;
    let expect_rv = meta_str(&obj, "resourceVersion").map(str::to_string);
    let next = keep_other_half(t.rt, &current, obj, sub);
    let next = validate::validate(t.rt, next)?;
    let next = validate::transition(t.rt, &current, next)?;
    let stored = inner
        .store
        .replace(t.rt, ns, name, next, expect_rv.as_deref())?;
    Ok(json_response(StatusCode::OK, &stored))
}

fn patch_object(
    sim: &Shared,
    t: &Target,
    name: &str,
    sub: Option<&str>,
    headers: &HeaderMap,
    query: &Query,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let kind = patch_kind(headers, t.rt)?;
    let patch_body = parse_body(body)?;
    let force = query.flag("force");
    if force && !matches!(kind, PatchKind::Apply) {
        return Err(ApiError::unprocessable(
            "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch"
                .into(),
        ));
    }
    let ns = t.namespace.as_deref().unwrap_or("");
    let current = sim.lock().store.get(t.rt, ns, name).cloned();
    if let PatchKind::Apply = kind {
        let Some(manager) = query.get("fieldManager").filter(|m| !m.is_empty()) else {
            return Err(ApiError::unprocessable(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
                    .into(),
            ));
        };
        check_type(t.rt, &patch_body)?;
        check_namespace(t, &patch_body)?;
        let created = current.is_none();
        if created {
            namespace_must_exist(sim, t)?;
        }
        let mut next = patch::apply(current.clone(), &patch_body, manager, &t.rt.api_version());
        if let Some(cur) = &current {
            next = keep_other_half(t.rt, cur, next, sub);
        }
        let m = super::store::meta_mut(&mut next);
        m.insert("name".into(), json!(name));
        let mut next = validate::validate(t.rt, next)?;
        if let Some(cur) = &current {
            next = validate::transition(t.rt, cur, next)?;
        }
        let mut inner = sim.lock();
        let (code, stored) = match current {
            None => (StatusCode::CREATED, inner.store.create(t.rt, ns, next)?),
            Some(_) => {
                let expect = patch_body
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str);
                (
                    StatusCode::OK,
                    inner.store.replace(t.rt, ns, name, next, expect)?,
                )
            }
        };
        return Ok(json_response(code, &stored));
    }
    let current = current.ok_or_else(|| ApiError::not_found(t.rt, name))?;
    let next = apply_patch(&kind, &current, &patch_body)?;
    let expect_rv = meta_str(&next, "resourceVersion").map(str::to_string);
    if meta_str(&next, "name").is_some_and(|n| n != name) {
        return Err(ApiError::invalid(
            t.rt,
            t.rt.kind,
            name,
            "metadata.name",
            "Invalid value: field is immutable",
        ));
    }
    let next = keep_other_half(t.rt, &current, next, sub);
    let next = validate::validate(t.rt, next)?;
    let next = validate::transition(t.rt, &current, next)?;
    let stored = sim
        .lock()
        .store
        .replace(t.rt, ns, name, next, expect_rv.as_deref())?;
    Ok(json_response(StatusCode::OK, &stored))
}

fn delete(sim: &Shared, t: &Target, name: &str) -> Result<Response, ApiError> {
    let ns = t.namespace.as_deref().unwrap_or("");
    let mut inner = sim.lock();
    if t.rt.kind == "Pod" {
        // Pods terminate for the stop delay, as kubelet's graceful termination does.
        let current = inner
            .store
            .get(t.rt, ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(t.rt, name))?;
        let stored = super::controller::mark_terminating(&mut inner, &sim.spec, t.rt, current)?;
        return Ok(json_response(StatusCode::OK, &stored));
    }
    let removed = inner
        .store
        .remove(t.rt, ns, name)
        .ok_or_else(|| ApiError::not_found(t.rt, name))?;
    Ok(json_response(StatusCode::OK, &removed))
}

/// Exec and port-forward: checks the pod, then upgrades to a WebSocket.
async fn streaming(
    sim: &Arc<Shared>,
    t: &Target,
    req: Request,
    query: &Query,
) -> Result<Response, ApiError> {
    use axum::extract::FromRequestParts;
    use axum::extract::ws::WebSocketUpgrade;
    let name = t.name.as_deref().unwrap_or("");
    let ns = t.namespace.as_deref().unwrap_or("");
    let (pod, argv, programs, targets, env) = {
        let inner = sim.lock();
        let pod = inner
            .store
            .get(t.rt, ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(t.rt, name))?;
        let env = super::controller::pod_env(&inner, &pod).unwrap_or_default();
        (
            pod,
            inner.exec_rules.clone(),
            inner.programs.clone(),
            inner.port_targets.clone(),
            env,
        )
    };
    if pod.pointer("/status/phase").and_then(Value::as_str) != Some("Running") {
        return Err(ApiError::bad_request(format!(
            "pod {name} is not running (phase {}); wait for it to be ready",
            pod.pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("Unknown")
        )));
    }
    let (mut parts, _body) = req.into_parts();
    let ws = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|_| ApiError::bad_request("Upgrade request required".into()))?;
    if t.sub.as_deref() == Some("exec") {
        let (command, stdin, stdout, stderr) = super::exec::parse(query, name)?;
        if let Some(container) = query.get("container").filter(|c| !c.is_empty()) {
            let known = pod
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .is_some_and(|cs| cs.iter().any(|c| c["name"] == container));
            if !known {
                return Err(ApiError::bad_request(format!(
                    "container {container} is not valid for pod {name}"
                )));
            }
        }
        let local = argv.iter().find_map(|rule| rule.local_argv(name, &command));
        let program = programs
            .iter()
            .find(|rule| rule.covers(name, &command))
            .map(|rule| (rule.program.clone(), ns.to_string()));
        let request = super::exec::ExecRequest {
            pod: name.to_string(),
            argv: local,
            program,
            command,
            env,
            stdin,
            stdout,
            stderr,
        };
        return Ok(super::exec::upgrade(ws, request));
    }
    let ports = super::portforward::parse_ports(&query.all("ports"))?;
    let ports = ports
        .into_iter()
        .map(|p| {
            (
                p,
                targets
                    .iter()
                    .find(|t| name.starts_with(&t.pod_prefix) && t.port == p)
                    .map(|t| t.target),
            )
        })
        .collect();
    let uid = meta_str(&pod, "uid").unwrap_or("").to_string();
    Ok(super::portforward::upgrade(
        ws,
        super::portforward::ForwardRequest {
            pod: name.to_string(),
            uid,
            ports,
        },
    ))
}
