//! One hop of the upgrade (`2.14 → 2.15`), from wherever the cluster is in it: the Subscription
//! moved to the next channel, the InstallPlan for the next `3scale-operator.v0.*` approved (and
//! nothing else), its CSV `Succeeded`, then the operator's work settled (see [`settled`]). Every
//! wait is bounded, says what it waits for as it changes, and ends at a pause or quit.

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, Result};
use kube::api::DynamicObject;
use serde_json::{Value, json};

use super::seen::{self, Installed};
use crate::infra::kube::{CustomKind, KubeCluster, WorkloadKind};
use crate::steps::StepContext;

/// How often the cluster is read while waiting.
const POLL: Duration = Duration::from_millis(500);
/// How long OLM may take to plan the next CSV after the channel moved.
const PLAN_WAIT: Duration = Duration::from_secs(10 * 60);
/// How long the approved CSV may take to succeed.
const CSV_WAIT: Duration = Duration::from_secs(20 * 60);
/// How long the operator may take to upgrade the installation (the procedure's `oc wait
/// --timeout=60m`).
const OPERATOR_WAIT: Duration = Duration::from_secs(60 * 60);

pub const PRE_JOB: &str = "system-app-pre";
pub const POST_JOB: &str = "system-app-post";

/// One minor version forward.
#[derive(Clone, Debug)]
pub struct Hop {
    /// 1-based, of `of`.
    pub n: usize,
    pub of: usize,
    pub from: String,
    pub to: String,
}

impl Hop {
    pub fn label(&self) -> String {
        format!("hop {} of {}: {} → {}", self.n, self.of, self.from, self.to)
    }

    pub fn channel(&self) -> String {
        format!("threescale-{}", self.to)
    }

    /// Whether `csv` is a CSV of the 3scale operator that ships this hop's release.
    fn installs_release(&self, csv: &str) -> bool {
        seen::csv_release(csv).as_deref() == Some(self.to.as_str())
    }

    /// `3scale-operator.v0.12.*`, as messages name the CSV this hop expects.
    fn expected(&self) -> String {
        let operator_minor = seen::minor_number(&self.to).map_or(0, |m| m.saturating_sub(3));
        format!("{}.v0.{operator_minor}.*", seen::PACKAGE)
    }
}

/// How a hop, or one of its waits, ended.
pub enum Ended<T> {
    Done(T),
    /// The hop cannot go on: the operator's or OLM's words, or a refusal.
    Failed(String),
    /// Paused or quit at a safe point; the text says where.
    Stopped(String),
}

/// What one look at the cluster says.
pub enum Probe<T> {
    Ready(T),
    Waiting(String),
    Fail(String),
}

/// Looks at the cluster until `probe` is ready or fails, for at most `limit`; each new
/// `Waiting` text is logged under the hop's label.
async fn wait<T, F, Fut>(
    ctx: &StepContext,
    hop: &Hop,
    limit: Duration,
    mut probe: F,
) -> Result<Ended<T>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Probe<T>>>,
{
    let start = tokio::time::Instant::now();
    let mut said = String::new();
    loop {
        match probe().await? {
            Probe::Ready(t) => return Ok(Ended::Done(t)),
            Probe::Fail(why) => return Ok(Ended::Failed(why)),
            Probe::Waiting(what) => {
                if what != said {
                    ctx.sink.info(format!("{}: {what}", hop.label()));
                    said = what;
                }
                if start.elapsed() >= limit {
                    return Ok(Ended::Failed(format!(
                        "{}: gave up after {} min {said}",
                        hop.label(),
                        limit.as_secs() / 60,
                    )));
                }
            }
        }
        tokio::select! {
            _ = ctx.stop_request() => {
                return Ok(Ended::Stopped(format!("{}, {said}", hop.label())));
            }
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

fn string_list(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// The InstallPlan the Subscription names (`status.installPlanRef`), if it exists.
async fn referenced_plan(kube: &KubeCluster, sub: &DynamicObject) -> Result<Option<DynamicObject>> {
    let Some(name) = sub
        .data
        .pointer("/status/installPlanRef/name")
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    kube.get_custom(CustomKind::InstallPlan, None, name)
        .await
        .with_context(|| format!("reading the InstallPlan {name}"))
}

fn plan_csvs(plan: &DynamicObject) -> Vec<String> {
    string_list(&plan.data["spec"]["clusterServiceVersionNames"])
}

fn refusal(hop: &Hop, plan: &DynamicObject, csvs: &[String], sub: &DynamicObject) -> String {
    format!(
        "{}: InstallPlan {} would install {}, not {} (3scale {}): not approved. The \
         Subscription {} is on channel {} of catalog {}; delete that InstallPlan, set the \
         channel to {} and run this step again",
        hop.label(),
        seen::name(plan),
        csvs.join(", "),
        hop.expected(),
        hop.to,
        seen::name(sub),
        seen::channel(sub),
        sub.data["spec"]["source"].as_str().unwrap_or("?"),
        hop.channel(),
    )
}

/// Does one hop, continuing from where the cluster is. Returns the CSV installed.
pub async fn run(ctx: &StepContext, kube: &KubeCluster, hop: &Hop) -> Result<Ended<Installed>> {
    let sub = seen::subscription(kube).await?;
    let installed = seen::installed(kube, &sub).await?;
    let csv = match installed.filter(|i| i.release.as_deref() == Some(hop.to.as_str())) {
        Some(done) => {
            ctx.sink
                .info(format!("{}: {} already installed", hop.label(), done.csv));
            done.csv
        }
        None => match install(ctx, kube, hop, &sub).await? {
            Ended::Done(csv) => csv,
            Ended::Failed(why) => return Ok(Ended::Failed(why)),
            Ended::Stopped(at) => return Ok(Ended::Stopped(at)),
        },
    };
    let probe_csv = csv.clone();
    let installed = match wait(ctx, hop, CSV_WAIT, || csv_succeeded(kube, hop, &probe_csv)).await? {
        Ended::Done(i) => i,
        Ended::Failed(why) => return Ok(Ended::Failed(why)),
        Ended::Stopped(at) => return Ok(Ended::Stopped(at)),
    };
    match wait(ctx, hop, OPERATOR_WAIT, || settled(kube, hop, &installed)).await? {
        Ended::Done(()) => Ok(Ended::Done(installed)),
        Ended::Failed(why) => Ok(Ended::Failed(why)),
        Ended::Stopped(at) => Ok(Ended::Stopped(at)),
    }
}

/// The channel moved and this hop's InstallPlan approved; returns the CSV it installs.
async fn install(
    ctx: &StepContext,
    kube: &KubeCluster,
    hop: &Hop,
    sub: &DynamicObject,
) -> Result<Ended<String>> {
    let sub_name = seen::name(sub);
    let installed_csv = sub.data["status"]["installedCSV"]
        .as_str()
        .unwrap_or("")
        .to_string();
    // A plan waiting for approval already (someone moved the channel, or an earlier attempt
    // did): this hop's is approved below, any other is refused before anything changes.
    if let Some(plan) = referenced_plan(kube, sub).await? {
        let csvs = plan_csvs(&plan);
        let waiting = plan.data["status"]["phase"] == "RequiresApproval"
            && plan.data["spec"]["approved"] != json!(true);
        if waiting && !csvs.iter().any(|c| hop.installs_release(c)) {
            return Ok(Ended::Failed(refusal(hop, &plan, &csvs, sub)));
        }
    }
    if seen::channel(sub) != hop.channel() {
        kube.patch_custom(
            CustomKind::Subscription,
            None,
            &sub_name,
            &json!({"spec": {"channel": hop.channel()}}),
        )
        .await
        .with_context(|| {
            format!(
                "moving the Subscription {sub_name} to channel {}",
                hop.channel()
            )
        })?;
        ctx.sink.info(format!(
            "{}: Subscription {sub_name} moved from channel {} to {}",
            hop.label(),
            seen::channel(sub),
            hop.channel()
        ));
    }
    let installed_csv = &installed_csv;
    let planned = wait(ctx, hop, PLAN_WAIT, move || async move {
        let sub = seen::subscription(kube).await?;
        if let Some(i) = seen::installed(kube, &sub).await?
            && hop.installs_release(&i.csv)
        {
            return Ok(Probe::Ready(None));
        }
        if let Some(plan) = referenced_plan(kube, &sub).await? {
            let csvs = plan_csvs(&plan);
            let new: Vec<&String> = csvs.iter().filter(|c| *c != installed_csv).collect();
            if let Some(csv) = new.iter().find(|c| hop.installs_release(c)) {
                return Ok(Probe::Ready(Some((plan.clone(), (*csv).clone()))));
            }
            if !new.is_empty() {
                return Ok(Probe::Fail(refusal(hop, &plan, &csvs, &sub)));
            }
        }
        Ok(Probe::Waiting(format!(
            "waiting for OLM's InstallPlan for {} (Subscription {} on channel {}, state {})",
            hop.expected(),
            seen::name(&sub),
            seen::channel(&sub),
            sub.data["status"]["state"].as_str().unwrap_or("none"),
        )))
    })
    .await?;
    let (plan, csv) = match planned {
        Ended::Done(Some(found)) => found,
        Ended::Done(None) => {
            let sub = seen::subscription(kube).await?;
            let i = seen::installed(kube, &sub).await?;
            return Ok(Ended::Done(i.map(|i| i.csv).unwrap_or_default()));
        }
        Ended::Failed(why) => return Ok(Ended::Failed(why)),
        Ended::Stopped(at) => return Ok(Ended::Stopped(at)),
    };
    let plan_name = seen::name(&plan);
    if plan.data["spec"]["approved"] != json!(true) {
        kube.patch_custom(
            CustomKind::InstallPlan,
            None,
            &plan_name,
            &json!({"spec": {"approved": true}}),
        )
        .await
        .with_context(|| format!("approving the InstallPlan {plan_name}"))?;
        ctx.sink.info(format!(
            "{}: approved InstallPlan {plan_name}, which installs {csv}",
            hop.label()
        ));
    }
    Ok(Ended::Done(csv))
}

/// The CSV `Succeeded` and named installed by the Subscription; its failure ends the hop.
async fn csv_succeeded(kube: &KubeCluster, hop: &Hop, name: &str) -> Result<Probe<Installed>> {
    let sub = seen::subscription(kube).await?;
    if let Some(plan) = referenced_plan(kube, &sub).await?
        && plan.data["status"]["phase"] == "Failed"
    {
        return Ok(Probe::Fail(format!(
            "{}: InstallPlan {} failed: {}",
            hop.label(),
            seen::name(&plan),
            conditions_text(&plan.data)
        )));
    }
    let Some(csv) = seen::csv(kube, name).await? else {
        return Ok(Probe::Waiting(format!(
            "waiting for CSV {name} to be created"
        )));
    };
    if csv.phase == "Failed" {
        return Ok(Probe::Fail(format!(
            "{}: CSV {name} failed ({}): {}",
            hop.label(),
            csv.reason,
            csv.message
        )));
    }
    let installed = sub.data["status"]["installedCSV"].as_str() == Some(name);
    if csv.succeeded() && installed {
        return Ok(Probe::Ready(csv));
    }
    Ok(Probe::Waiting(format!(
        "waiting for CSV {name} Succeeded (now {}{})",
        if csv.phase.is_empty() {
            "without a phase"
        } else {
            &csv.phase
        },
        if csv.message.is_empty() {
            String::new()
        } else {
            format!(": {}", csv.message)
        }
    )))
}

fn conditions_text(data: &Value) -> String {
    let texts: Vec<String> = data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{}={} {}",
                c["type"].as_str().unwrap_or("?"),
                c["status"].as_str().unwrap_or("?"),
                c["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    if texts.is_empty() {
        "no conditions".to_string()
    } else {
        texts.join("; ")
    }
}

/// Whether a Job is complete, failed (with its condition's message) or neither.
fn job_state(job: &DynamicObject) -> (bool, Option<String>) {
    let conditions = job
        .data
        .pointer("/status/conditions")
        .and_then(Value::as_array);
    let is = |t: &str| {
        conditions
            .into_iter()
            .flatten()
            .find(|c| c["type"] == t && c["status"] == "True")
    };
    let failed = is("Failed").map(|c| {
        let message = c["message"].as_str().unwrap_or("");
        let reason = c["reason"].as_str().unwrap_or("");
        format!("{reason}: {message}")
            .trim_matches([' ', ':'])
            .to_string()
    });
    (is("Complete").is_some(), failed)
}

/// The operator's part of the hop: the APIManager's annotations at the CSV's versions, its
/// hook Jobs of this hop completed (created no earlier than the CSV), from 2.15 no
/// DeploymentConfig left and `Preflights=True`, and `Available=True`. A `Preflights=False` or a
/// failed hook Job ends the hop with the operator's words.
pub async fn settled(kube: &KubeCluster, hop: &Hop, csv: &Installed) -> Result<Probe<()>> {
    let Some(am) = seen::apimanager(kube).await? else {
        return Ok(Probe::Fail(format!(
            "{}: no APIManager in namespace {} of the migration cluster: create it first \
             (connect-migration-3scale)",
            hop.label(),
            kube.namespace()
        )));
    };
    let am_name = seen::name(&am);
    if let Some(("False", message)) = seen::condition(&am, "Preflights") {
        return Ok(Probe::Fail(format!(
            "{}: the 3scale operator ({}) refuses APIManager {am_name}: Preflights=False: {message}",
            hop.label(),
            csv.csv
        )));
    }
    let jobs = kube
        .list_custom(CustomKind::Job, None)
        .await
        .context("listing the Jobs of the migration cluster's namespace")?;
    for job in &jobs {
        let name = seen::name(job);
        if (name == PRE_JOB || name == POST_JOB)
            && let (_, Some(why)) = job_state(job)
        {
            return Ok(Probe::Fail(format!(
                "{}: the operator's Job {name} failed: {why}; its pod's log says why (`oc logs \
                 job/{name}`)",
                hop.label()
            )));
        }
    }
    let (version, operator) = seen::apimanager_versions(&am);
    if seen::minor_of(version).as_deref() != Some(hop.to.as_str())
        || operator != csv.operator_version
    {
        return Ok(Probe::Waiting(format!(
            "waiting for APIManager {am_name}'s annotations: 3scale {} → {}, operator {} → {}",
            if version.is_empty() { "none" } else { version },
            hop.to,
            if operator.is_empty() {
                "none"
            } else {
                operator
            },
            csv.operator_version
        )));
    }
    let of_hop = |name: &str| {
        jobs.iter()
            .find(|j| seen::name(j) == name)
            .is_some_and(|j| job_state(j).0 && seen::created(j) >= csv.created)
    };
    if !of_hop(PRE_JOB) {
        return Ok(Probe::Waiting(format!(
            "waiting for Job {PRE_JOB} (the database migration) to complete"
        )));
    }
    let from_2_15 = seen::minor_number(&hop.to).unwrap_or(0) >= 15;
    if from_2_15 {
        let left: Vec<String> = kube
            .list_workloads()
            .await
            .context("listing the workloads of the migration cluster's namespace")?
            .into_iter()
            .filter(|w| w.kind == WorkloadKind::DeploymentConfig)
            .map(|w| w.name)
            .collect();
        if !left.is_empty() {
            return Ok(Probe::Waiting(format!(
                "waiting for the operator to replace {} DeploymentConfig(s) by Deployments ({})",
                left.len(),
                left.join(", ")
            )));
        }
    }
    if !of_hop(POST_JOB) {
        return Ok(Probe::Waiting(format!(
            "waiting for Job {POST_JOB} to complete"
        )));
    }
    match seen::condition(&am, "Available") {
        Some(("True", _)) => {}
        other => {
            return Ok(Probe::Waiting(format!(
                "waiting for APIManager {am_name} Available=True (now {})",
                other.map_or("unset".to_string(), |(s, m)| format!("{s} {m}")
                    .trim()
                    .to_string())
            )));
        }
    }
    if from_2_15 && seen::condition(&am, "Preflights").map(|c| c.0) != Some("True") {
        return Ok(Probe::Waiting(format!(
            "waiting for APIManager {am_name} Preflights=True"
        )));
    }
    Ok(Probe::Ready(()))
}
