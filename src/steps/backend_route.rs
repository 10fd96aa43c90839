//! `stop-traffic` and the source's route to backend (`backend`, host
//! `backend-<tenant>.<wildcard>`, to service `backend-listener`): every APIcast outside the
//! namespace (self-managed gateways on other clusters or hosts) authorizes and reports through
//! it, so stopping the namespace's own gateways does not stop them. The operator chooses,
//! through `[stop_traffic] backend_route` in the config or by answering at the step:
//!
//! - `disable`: each route to `backend-listener` is pointed at a service that does not exist
//!   ([`DISABLED_SERVICE`]; the router answers 503), its service kept in annotation
//!   `cutover.io/pre-migration-service` and the journal first; the 3scale operator creates its
//!   route only when it is missing, so it leaves the change alone. External gateways then fail
//!   their calls too. A rollback points the route back, after the gateways run again.
//! - `keep`: nothing changes; the step warns that what external gateways report after
//!   `dump-redis` is not migrated.
//!
//! The choice and the routes are the step's fact `backend-route`; a resumed attempt keeps the
//! choice and does not ask again.

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::{Question, StepContext, StepResult};
use crate::config::BackendRoute;
use crate::infra::kube::{CustomKind, KubeCluster};
use crate::journal::JournalState;
use crate::runbook::ids;

/// The fact of `stop-traffic` that records the choice and the routes.
pub const ROUTE_FACT: &str = "backend-route";
/// The service backend's route points at.
pub const BACKEND_SERVICE: &str = "backend-listener";
/// Where a disabled route points: no service of that name exists.
pub const DISABLED_SERVICE: &str = "cutover-stopped-backend";
/// The annotation that keeps a disabled route's service.
pub const SERVICE_ANNOTATION: &str = "cutover.io/pre-migration-service";
/// The answers at the step.
pub const DISABLE: &str = "disable backend route";
pub const KEEP: &str = "keep backend route";

/// A route to backend: its name, host and the service it points at when enabled.
struct RouteToBackend {
    name: String,
    host: String,
    service: String,
    disabled: bool,
}

/// The routes of the namespace that lead to backend, or did before this step disabled them.
async fn routes_to_backend(kube: &KubeCluster) -> Result<Vec<RouteToBackend>> {
    let mut found = Vec::new();
    for route in kube.list_custom(CustomKind::Route, None).await? {
        let data = serde_json::to_value(&route)?;
        let to = data["spec"]["to"]["name"].as_str().unwrap_or_default();
        let kept = data["metadata"]["annotations"][SERVICE_ANNOTATION].as_str();
        let (service, disabled) = match (to, kept) {
            (BACKEND_SERVICE, _) => (BACKEND_SERVICE, false),
            (DISABLED_SERVICE, Some(service)) => (service, true),
            _ => continue,
        };
        found.push(RouteToBackend {
            name: route.metadata.name.clone().unwrap_or_default(),
            host: data["spec"]["host"]
                .as_str()
                .unwrap_or("no host")
                .to_string(),
            service: service.to_string(),
            disabled,
        });
    }
    Ok(found)
}

fn choice_word(choice: BackendRoute) -> &'static str {
    match choice {
        BackendRoute::Disable => "disable",
        BackendRoute::Keep => "keep",
    }
}

/// Asks (or reads from the config, or from an earlier attempt) what to do with the routes to
/// backend and does it. Some(result) ends the step: the operator paused instead of answering.
pub async fn stop(ctx: &StepContext, kube: &KubeCluster) -> Result<Option<StepResult>> {
    let routes = routes_to_backend(kube).await?;
    if routes.is_empty() {
        ctx.sink.info(format!(
            "no route to {BACKEND_SERVICE} in namespace {}: no gateway outside it reports \
             through one",
            kube.namespace()
        ));
        return Ok(None);
    }
    let hosts: Vec<String> = routes
        .iter()
        .map(|r| format!("{} ({})", r.name, r.host))
        .collect();
    let earlier = ctx
        .fact(ctx.step.id, ROUTE_FACT)
        .and_then(|f| f["choice"].as_str())
        .map(|c| {
            if c == "disable" {
                BackendRoute::Disable
            } else {
                BackendRoute::Keep
            }
        });
    let choice = match (earlier, ctx.config.stop_traffic.backend_route) {
        (Some(choice), _) => {
            ctx.sink.info(format!(
                "route to backend: `{}`, as an earlier attempt recorded",
                choice_word(choice)
            ));
            choice
        }
        (None, Some(choice)) => {
            ctx.sink.info(format!(
                "route to backend: `{}`, as the config says ([stop_traffic] backend_route)",
                choice_word(choice)
            ));
            choice
        }
        (None, None) => {
            let question = Question {
                text: format!(
                    "Gateways outside namespace {} (self-managed APIcasts) reach backend through \
                     {}: stopping this namespace's gateways does not stop them. Type `{DISABLE}` \
                     to point it at no service until the end or a rollback (their API calls \
                     then fail too), or `{KEEP}` to leave it (they keep serving, and what they \
                     report after dump-redis is not migrated). Set [stop_traffic] \
                     backend_route in the config to decide in advance: ",
                    kube.namespace(),
                    hosts.join(", ")
                ),
                phrase: DISABLE.to_string(),
                alternatives: vec![KEEP.to_string()],
            };
            match ctx.sink.ask(question).await? {
                Some(answer) if answer == DISABLE => BackendRoute::Disable,
                Some(_) => BackendRoute::Keep,
                None => {
                    return Ok(Some(StepResult::stopped(
                        "stopped before the route to backend was decided; nothing was changed",
                    )));
                }
            }
        }
    };
    let listed: Vec<Value> = routes
        .iter()
        .map(|r| json!({"name": r.name, "host": r.host, "service": r.service}))
        .collect();
    ctx.sink.record_fact(
        ROUTE_FACT,
        json!({"choice": choice_word(choice), "routes": listed}),
    )?;
    if choice == BackendRoute::Keep {
        ctx.sink.warn(format!(
            "kept {}: gateways outside the namespace keep serving and reporting through it; \
             what they report after dump-redis is not migrated",
            hosts.join(", ")
        ));
        return Ok(None);
    }
    for route in routes.iter().filter(|r| !r.disabled) {
        let patch = json!({
            "metadata": {"annotations": {SERVICE_ANNOTATION: route.service}},
            "spec": {"to": {"name": DISABLED_SERVICE}},
        });
        kube.patch_custom(CustomKind::Route, None, &route.name, &patch)
            .await
            .with_context(|| format!("cannot disable route {}", route.name))?;
        ctx.sink.info(format!(
            "route {} ({}) now points at service {DISABLED_SERVICE}, which does not exist: \
             gateways outside the namespace get 503 from backend (service {} kept in {})",
            route.name, route.host, route.service, SERVICE_ANNOTATION
        ));
    }
    Ok(None)
}

/// Why the routes stop-traffic disabled do not hold: one leads to backend again. None when
/// they hold, or nothing was disabled.
pub async fn not_disabled(ctx: &StepContext, kube: &KubeCluster) -> Result<Option<String>> {
    let disabled = ctx
        .fact(ctx.step.id, ROUTE_FACT)
        .is_some_and(|f| f["choice"] == "disable");
    if !disabled {
        return Ok(None);
    }
    let open: Vec<String> = routes_to_backend(kube)
        .await?
        .into_iter()
        .filter(|r| !r.disabled)
        .map(|r| format!("{} ({})", r.name, r.host))
        .collect();
    Ok((!open.is_empty()).then(|| format!("route(s) to backend open again: {}", open.join(", "))))
}

/// The rollback: each route stop-traffic disabled points at its service again (only when it
/// still points at [`DISABLED_SERVICE`]), its annotation removed.
pub async fn restore(
    kube: &KubeCluster,
    state: &JournalState,
    log: &(dyn Fn(&str) + Send + Sync),
) -> Result<()> {
    let Some(fact) = state
        .step(ids::STOP_TRAFFIC)
        .and_then(|r| r.facts.get(ROUTE_FACT))
        .filter(|f| f["choice"] == "disable")
    else {
        return Ok(());
    };
    let current = routes_to_backend(kube).await?;
    for recorded in fact["routes"].as_array().into_iter().flatten() {
        let name = recorded["name"].as_str().unwrap_or_default();
        let Some(route) = current.iter().find(|r| r.name == name) else {
            log(&format!(
                "route {name}: not pointing at {DISABLED_SERVICE} nor at backend; left as it is"
            ));
            continue;
        };
        if !route.disabled {
            log(&format!("route {name}: leads to {} already", route.service));
            continue;
        }
        let patch = json!({
            "metadata": {"annotations": {SERVICE_ANNOTATION: null}},
            "spec": {"to": {"name": route.service}},
        });
        kube.patch_custom(CustomKind::Route, None, name, &patch)
            .await
            .with_context(|| format!("cannot point route {name} at {} again", route.service))?;
        log(&format!(
            "route {name} ({}): points at {} again",
            route.host, route.service
        ));
    }
    Ok(())
}
