//! OLM as far as the 3scale operator's upgrades need it: the catalog operator resolves a
//! Subscription against the catalog's channels and makes an InstallPlan for the next CSV
//! (`RequiresApproval` under Manual approval); an approved InstallPlan goes `Installing`, creates
//! the CSV and is `Complete`; the CSV goes `Pending` → `InstallReady` → `Installing` →
//! `Succeeded`, the CSV it replaces goes `Replacing` and is deleted, and the Subscription's
//! status names what is installed. Each move waits one `ClusterSpec::olm_step`, so a client sees
//! every phase, as it would watch OLM's controllers.
//!
//! Object shapes: operator-framework/api `pkg/operators/v1alpha1` (`subscription_types.go`,
//! `installplan_types.go`, `clusterserviceversion_types.go`); phases, states, reasons and
//! messages as operator-lifecycle-manager's `catalog/operator.go` and `olm/operator.go` set
//! them. The catalog is the 3scale operator's bundles on `redhat-operators`, one channel per
//! 3scale minor (`threescale-2.14`...`threescale-2.16`), versions as the operator's stable
//! branches' `version/version.go` give them.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use super::catalog::{self, ResourceType};
use super::state::{Inner, Shared};
use super::store::{meta_str, now};

/// One bundle of the 3scale operator in the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// The CSV's name, `3scale-operator.v0.12.5`.
    pub csv: &'static str,
    /// The operator's version (`version.Version`), which the CSV's `spec.version` and the
    /// APIManager's `apps.3scale.net/threescale-operator-version` carry.
    pub operator_version: &'static str,
    /// The 3scale release the operator writes into `apps.3scale.net/apimanager-threescale-version`
    /// (`product.ThreescaleRelease` up to 2.14, `ThreescaleVersionMajorMinorPatch` from 2.15).
    pub release: &'static str,
    /// The channel it heads.
    pub channel: &'static str,
    /// The CSV it replaces (`spec.replaces`).
    pub replaces: Option<&'static str>,
    /// Older 3scale-operator CSVs it upgrades directly (`olm.skipRange`): the 2.16 bundle also
    /// installs over a 2.14 one, which its operator then refuses (a multi-minor hop).
    pub skips_older: bool,
}

impl Bundle {
    /// The 3scale minor (`2.15`).
    pub fn minor(&self) -> &'static str {
        self.channel.trim_start_matches("threescale-")
    }
}

/// The catalog source and namespace the bundles are in.
pub const SOURCE: &str = "redhat-operators";
pub const SOURCE_NAMESPACE: &str = "openshift-marketplace";
/// The package name (`spec.name` of a Subscription).
pub const PACKAGE: &str = "3scale-operator";
/// The operator's Deployment, which the CSV's install strategy names.
pub const OPERATOR_DEPLOYMENT: &str = "threescale-operator-controller-manager-v2";

/// The 3scale operator's bundles, oldest first.
pub static BUNDLES: [Bundle; 3] = [
    Bundle {
        csv: "3scale-operator.v0.11.3",
        operator_version: "0.11.3",
        release: "2.14",
        channel: "threescale-2.14",
        replaces: None,
        skips_older: false,
    },
    Bundle {
        csv: "3scale-operator.v0.12.5",
        operator_version: "0.12.5",
        release: "2.15.5",
        channel: "threescale-2.15",
        replaces: Some("3scale-operator.v0.11.3"),
        skips_older: false,
    },
    Bundle {
        csv: "3scale-operator.v0.13.4",
        operator_version: "0.13.4",
        release: "2.16.4",
        channel: "threescale-2.16",
        replaces: Some("3scale-operator.v0.12.5"),
        skips_older: true,
    },
];

/// The bundle whose CSV is `csv`.
pub fn bundle(csv: &str) -> Option<&'static Bundle> {
    BUNDLES.iter().find(|b| b.csv == csv)
}

/// The bundle of a 3scale minor (`2.14`).
pub fn bundle_of_minor(minor: &str) -> Option<&'static Bundle> {
    BUNDLES.iter().find(|b| b.minor() == minor)
}

/// What the catalog offers a Subscription on `channel` of `source` that has `installed`: the
/// channel's head when it upgrades `installed` (or installs fresh), else None.
fn resolve(
    source: &str,
    package: &str,
    channel: &str,
    installed: Option<&str>,
) -> Option<&'static Bundle> {
    if source != SOURCE || package != PACKAGE {
        return None;
    }
    let head = BUNDLES.iter().find(|b| b.channel == channel)?;
    let Some(installed) = installed else {
        return Some(head);
    };
    if head.csv == installed {
        return None;
    }
    let newer = |b: &Bundle| {
        BUNDLES.iter().position(|x| x.csv == b.csv)
            > BUNDLES.iter().position(|x| x.csv == installed)
    };
    let upgrades = head.replaces == Some(installed)
        || (head.skips_older && bundle(installed).is_some() && newer(head));
    upgrades.then_some(head)
}

fn olm(kind: &str) -> Option<&'static ResourceType> {
    catalog::find_kind(&[], "operators.coreos.com/v1alpha1", kind)
}

fn key(rt: &ResourceType, obj: &Value) -> (&'static str, String, String) {
    let plural: &'static str = catalog::RESOURCES
        .iter()
        .find(|r| r.kind == rt.kind)
        .map_or("", |r| r.plural);
    (
        plural,
        meta_str(obj, "namespace").unwrap_or("").to_string(),
        meta_str(obj, "name").unwrap_or("").to_string(),
    )
}

/// Whether `obj`'s next move is due: the first call arms the wait and says no.
pub(super) fn due(
    inner: &mut Inner,
    step: std::time::Duration,
    k: (&'static str, String, String),
) -> bool {
    let now = Instant::now();
    match inner.olm_next.get(&k) {
        Some(at) if *at <= now => {
            inner.olm_next.remove(&k);
            true
        }
        Some(_) => false,
        None => {
            inner.olm_next.insert(k, now + step);
            false
        }
    }
}

pub(super) fn write_status(
    inner: &mut Inner,
    rt: &'static ResourceType,
    obj: &Value,
    status: Value,
) {
    let ns = meta_str(obj, "namespace").unwrap_or("").to_string();
    let name = meta_str(obj, "name").unwrap_or("").to_string();
    let mut next = obj.clone();
    next["status"] = status;
    let _ = inner.store.replace(rt, &ns, &name, next, None);
}

pub(super) fn reconcile(sim: &Arc<Shared>) {
    if sim.without().iter().any(|g| g == "operators.coreos.com") {
        return;
    }
    let (Some(sub_rt), Some(ip_rt), Some(csv_rt)) = (
        olm("Subscription"),
        olm("InstallPlan"),
        olm("ClusterServiceVersion"),
    ) else {
        return;
    };
    let step = sim.spec.olm_step;
    let mut inner = sim.lock();
    let before = inner.store.current_rv();
    for sub in inner.store.list(sub_rt, None) {
        subscription(&mut inner, step, sub_rt, ip_rt, csv_rt, &sub);
    }
    for ip in inner.store.list(ip_rt, None) {
        install_plan(&mut inner, step, ip_rt, csv_rt, &ip);
    }
    for csv in inner.store.list(csv_rt, None) {
        cluster_service_version(&mut inner, step, sub_rt, csv_rt, &csv);
    }
    moved_on(sim, &inner, before);
}

/// Something moved: look again at once, so the next move's wait starts now rather than at the
/// controller's idle tick.
pub(super) fn moved_on(sim: &Shared, inner: &Inner, before: u64) {
    if inner.store.current_rv() != before {
        sim.kick.notify_one();
    }
}

/// The catalog operator's part: a Subscription whose channel offers an upgrade of what it has
/// installed gets an InstallPlan for it, and says so in its status.
fn subscription(
    inner: &mut Inner,
    step: std::time::Duration,
    sub_rt: &'static ResourceType,
    ip_rt: &'static ResourceType,
    csv_rt: &'static ResourceType,
    sub: &Value,
) {
    let s = |p: &str| {
        sub.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let ns = meta_str(sub, "namespace").unwrap_or("").to_string();
    let installed = sub
        .pointer("/status/installedCSV")
        .and_then(Value::as_str)
        .filter(|c| inner.store.get(csv_rt, &ns, c).is_some())
        .map(str::to_string);
    let offered = resolve(
        &s("/spec/source"),
        &s("/spec/name"),
        &s("/spec/channel"),
        installed.as_deref(),
    );
    let Some(bundle) = offered else {
        // Nothing newer on the channel: at the latest known, once what it named is installed.
        let pending =
            sub.pointer("/status/currentCSV").and_then(Value::as_str) != installed.as_deref();
        if !pending && installed.is_some() && s("/status/state") != "AtLatestKnown" {
            let mut status = sub.get("status").cloned().unwrap_or_else(|| json!({}));
            status["state"] = json!("AtLatestKnown");
            status["lastUpdated"] = json!(now());
            write_status(inner, sub_rt, sub, status);
        }
        return;
    };
    // Already planned: the InstallPlan it names installs this bundle.
    let planned = sub
        .pointer("/status/installPlanRef/name")
        .and_then(Value::as_str)
        .and_then(|name| inner.store.get(ip_rt, &ns, name))
        .is_some_and(|ip| names_csv(ip, bundle.csv));
    if planned || !due(inner, step, key(sub_rt, sub)) {
        return;
    }
    let manual = s("/spec/installPlanApproval") == "Manual";
    let generation = sub
        .pointer("/status/installPlanGeneration")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        + 1;
    let name = format!("install-{}", inner.suffix(5));
    let plan = json!({
        "apiVersion": "operators.coreos.com/v1alpha1",
        "kind": "InstallPlan",
        "metadata": {
            "name": name,
            "namespace": ns,
            "ownerReferences": [{
                "apiVersion": "operators.coreos.com/v1alpha1",
                "kind": "Subscription",
                "name": meta_str(sub, "name").unwrap_or(""),
                "uid": meta_str(sub, "uid").unwrap_or(""),
                "blockOwnerDeletion": false,
                "controller": false,
            }],
        },
        "spec": {
            "approval": if manual { "Manual" } else { "Automatic" },
            "approved": !manual,
            "clusterServiceVersionNames": [bundle.csv],
            "generation": generation,
        },
        "status": {
            "phase": if manual { "RequiresApproval" } else { "Installing" },
            "catalogSources": [SOURCE],
        },
    });
    let Ok(stored) = inner.store.create(ip_rt, &ns, plan) else {
        return;
    };
    let mut status = sub.get("status").cloned().unwrap_or_else(|| json!({}));
    status["currentCSV"] = json!(bundle.csv);
    status["state"] = json!("UpgradePending");
    status["installPlanGeneration"] = json!(generation);
    status["installplan"] = json!({
        "apiVersion": "operators.coreos.com/v1alpha1",
        "kind": "InstallPlan",
        "name": name,
        "uuid": meta_str(&stored, "uid").unwrap_or(""),
    });
    status["installPlanRef"] = json!({
        "apiVersion": "operators.coreos.com/v1alpha1",
        "kind": "InstallPlan",
        "name": name,
        "namespace": ns,
        "resourceVersion": meta_str(&stored, "resourceVersion").unwrap_or(""),
        "uid": meta_str(&stored, "uid").unwrap_or(""),
    });
    status["lastUpdated"] = json!(now());
    write_status(inner, sub_rt, sub, status);
}

fn phase(obj: &Value) -> &str {
    obj.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn names_csv(ip: &Value, csv: &str) -> bool {
    ip.pointer("/spec/clusterServiceVersionNames")
        .and_then(Value::as_array)
        .is_some_and(|names| names.iter().any(|n| n == csv))
}

/// An approved InstallPlan installs: `Installing`, then its CSVs exist and it is `Complete`.
fn install_plan(
    inner: &mut Inner,
    step: std::time::Duration,
    ip_rt: &'static ResourceType,
    csv_rt: &'static ResourceType,
    ip: &Value,
) {
    let phase = phase(ip);
    let approved = ip.pointer("/spec/approved").and_then(Value::as_bool) == Some(true);
    let next = match phase {
        "RequiresApproval" if approved => "Installing",
        "Installing" => "Complete",
        _ => return,
    };
    if !due(inner, step, key(ip_rt, ip)) {
        return;
    }
    let mut status = ip.get("status").cloned().unwrap_or_else(|| json!({}));
    status["phase"] = json!(next);
    if next == "Complete" {
        let ns = meta_str(ip, "namespace").unwrap_or("").to_string();
        for name in ip
            .pointer("/spec/clusterServiceVersionNames")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if let Some(b) = bundle(name)
                && inner.store.get(csv_rt, &ns, name).is_none()
            {
                let _ = inner.store.create(csv_rt, &ns, csv_object(&ns, b));
            }
        }
        status["conditions"] = json!([{
            "type": "Installed", "status": "True",
            "lastTransitionTime": now(), "lastUpdateTime": now(),
        }]);
    }
    write_status(inner, ip_rt, ip, status);
}

/// A bundle's CSV as OLM creates it from the InstallPlan: `Pending`, requirements unknown.
pub fn csv_object(ns: &str, b: &Bundle) -> Value {
    let mut csv = json!({
        "apiVersion": "operators.coreos.com/v1alpha1",
        "kind": "ClusterServiceVersion",
        "metadata": {
            "name": b.csv,
            "namespace": ns,
            "annotations": {"olm.operatorGroup": "threescale", "olm.operatorNamespace": ns},
            "labels": {format!("operators.coreos.com/{PACKAGE}.{ns}"): ""},
        },
        "spec": {
            "displayName": "Red Hat Integration - 3scale",
            "version": b.operator_version,
            "install": {"strategy": "deployment", "spec": {"deployments": [{
                "name": OPERATOR_DEPLOYMENT,
                "spec": {"replicas": 1, "selector": {"matchLabels": {"control-plane": "controller-manager"}}},
            }]}},
        },
        "status": {
            "phase": "Pending",
            "reason": "RequirementsUnknown",
            "message": "requirements not yet checked",
            "lastTransitionTime": now(),
        },
    });
    if let Some(replaces) = b.replaces {
        csv["spec"]["replaces"] = json!(replaces);
    }
    csv
}

/// The OLM operator's part: a CSV's phases up to `Succeeded`; the one it replaces goes
/// `Replacing`, then is deleted; the Subscription then names it installed.
fn cluster_service_version(
    inner: &mut Inner,
    step: std::time::Duration,
    sub_rt: &'static ResourceType,
    csv_rt: &'static ResourceType,
    csv: &Value,
) {
    let phase = phase(csv);
    let ns = meta_str(csv, "namespace").unwrap_or("").to_string();
    let name = meta_str(csv, "name").unwrap_or("").to_string();
    let (next, reason, message) = match phase {
        "Pending" => (
            "InstallReady",
            "AllRequirementsMet",
            "all requirements found, attempting install".to_string(),
        ),
        "InstallReady" => (
            "Installing",
            "InstallWaiting",
            format!(
                "installing: waiting for deployment {OPERATOR_DEPLOYMENT} to become ready: deployment \
             \"{OPERATOR_DEPLOYMENT}\" not available: Deployment does not have minimum availability."
            ),
        ),
        "Installing" => (
            "Succeeded",
            "InstallSucceeded",
            "install strategy completed with no errors".to_string(),
        ),
        "Replacing" => {
            if due(inner, step, key(csv_rt, csv)) {
                inner.store.remove(csv_rt, &ns, &name);
            }
            return;
        }
        _ => return,
    };
    if !due(inner, step, key(csv_rt, csv)) {
        return;
    }
    let mut status = csv.get("status").cloned().unwrap_or_else(|| json!({}));
    status["phase"] = json!(next);
    status["reason"] = json!(reason);
    status["message"] = json!(message);
    status["lastTransitionTime"] = json!(now());
    write_status(inner, csv_rt, csv, status);
    if next != "Succeeded" {
        return;
    }
    if let Some(old) = csv.pointer("/spec/replaces").and_then(Value::as_str)
        && let Some(old_csv) = inner.store.get(csv_rt, &ns, old).cloned()
    {
        let mut status = old_csv.get("status").cloned().unwrap_or_else(|| json!({}));
        status["phase"] = json!("Replacing");
        status["reason"] = json!("BeingReplaced");
        status["message"] = json!(format!("being replaced by csv: {name}"));
        write_status(inner, csv_rt, &old_csv, status);
    }
    for sub in inner.store.list(sub_rt, Some(&ns)) {
        if sub.pointer("/status/currentCSV").and_then(Value::as_str) == Some(name.as_str()) {
            let mut status = sub.get("status").cloned().unwrap_or_else(|| json!({}));
            status["installedCSV"] = json!(name);
            status["state"] = json!("AtLatestKnown");
            status["lastUpdated"] = json!(now());
            write_status(inner, sub_rt, &sub, status);
        }
    }
}

/// The OLM objects of an installed 3scale operator of `b` in `ns`, as OLM leaves them once the
/// first InstallPlan was approved and completed: the Subscription (Manual approval, on the
/// bundle's channel), that InstallPlan, and the CSV `Succeeded`.
pub fn installed(ns: &str, b: &Bundle) -> Vec<Value> {
    let plan = "install-7bz4d";
    let mut csv = csv_object(ns, b);
    csv["status"] = json!({
        "phase": "Succeeded",
        "reason": "InstallSucceeded",
        "message": "install strategy completed with no errors",
        "lastTransitionTime": now(),
    });
    vec![
        json!({
            "apiVersion": "operators.coreos.com/v1alpha1",
            "kind": "Subscription",
            "metadata": {"name": PACKAGE, "namespace": ns},
            "spec": {
                "channel": b.channel,
                "name": PACKAGE,
                "source": SOURCE,
                "sourceNamespace": SOURCE_NAMESPACE,
                "installPlanApproval": "Manual",
                "startingCSV": b.csv,
            },
            "status": {
                "currentCSV": b.csv,
                "installedCSV": b.csv,
                "state": "AtLatestKnown",
                "installPlanGeneration": 1,
                "installPlanRef": {
                    "apiVersion": "operators.coreos.com/v1alpha1",
                    "kind": "InstallPlan",
                    "name": plan,
                    "namespace": ns,
                },
                "lastUpdated": now(),
            },
        }),
        json!({
            "apiVersion": "operators.coreos.com/v1alpha1",
            "kind": "InstallPlan",
            "metadata": {"name": plan, "namespace": ns},
            "spec": {
                "approval": "Manual",
                "approved": true,
                "clusterServiceVersionNames": [b.csv],
                "generation": 1,
            },
            "status": {"phase": "Complete", "catalogSources": [SOURCE]},
        }),
        csv,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_channel_upgrades_the_one_before_and_2_16_also_skips() {
        let offered = |source: &str, channel: &str, installed: &str| {
            resolve(source, PACKAGE, channel, Some(installed)).map(|b| b.csv)
        };
        let v11 = "3scale-operator.v0.11.3";
        let v12 = "3scale-operator.v0.12.5";
        let v13 = Some("3scale-operator.v0.13.4");
        assert_eq!(offered(SOURCE, "threescale-2.15", v11), Some(v12));
        assert_eq!(offered(SOURCE, "threescale-2.16", v12), v13);
        assert_eq!(offered(SOURCE, "threescale-2.16", v11), v13);
        assert_eq!(offered(SOURCE, "threescale-2.14", v11), None);
        assert_eq!(offered(SOURCE, "threescale-2.14", v12), None);
        assert_eq!(offered("community-operators", "threescale-2.15", v11), None);
        assert_eq!(bundle_of_minor("2.15").map(|b| b.release), Some("2.15.5"));
    }
}
