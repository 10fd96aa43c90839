//! The `postgres` role of the operational and analytical instances takes the password of its
//! secret `<cluster>-pguser-postgres`, set by psql in the instance's master pod with the password
//! on stdin (`infra::pg_role`) and proved by a login with it; then bpms, which connects with that
//! secret, is restarted. Journaled so a resumed run finishes the restart: the fact
//! `bpms_restart` is `due` before a password changes, the pods being replaced while they are,
//! `done` after.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use serde_json::{Value, json};

use super::fix::Fix;
use crate::infra::kube::KubeCluster;
use crate::infra::pg_role;
use crate::steps::StepContext;

/// The Crunchy clusters of a registry whose role's password the procedure fixes.
pub const CLUSTERS: &[&str] = &["operational", "analytical"];
const BPMS_FACT: &str = "bpms_restart";
const BPMS_SELECTOR: &str = "app=bpms";
const BPMS_WAIT: Duration = Duration::from_secs(10 * 60);
const POLL: Duration = Duration::from_secs(2);

/// The secret's password, or what is wrong with it.
async fn secret_password(
    kube: &KubeCluster,
    ns: &str,
    cluster: &str,
) -> Result<Result<String, String>> {
    let name = format!("{cluster}-pguser-postgres");
    let Some(secret) = kube.get_secret(Some(ns), &name).await? else {
        return Ok(Err(format!(
            "cluster B has no secret {name} in {ns}: the restore's secrets stage brings it; run \
             restore-registry again, then this step"
        )));
    };
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get("password"))
        .map(|b| b.0.clone());
    let Some(password) = bytes.and_then(|b| String::from_utf8(b).ok()) else {
        return Ok(Err(format!(
            "the secret {name} in {ns} on cluster B has no text key `password`; compare it with \
             cluster A's and restore it from there"
        )));
    };
    if let Err(why) = pg_role::usable(&password) {
        return Ok(Err(format!(
            "the password of secret {name} in {ns} cannot be used: {why}; give the secret a \
             password on one line"
        )));
    }
    Ok(Ok(password))
}

/// The running master pod of `cluster`.
async fn master_pod(kube: &KubeCluster, ns: &str, cluster: &str) -> Result<Option<String>> {
    let pods: Api<Pod> = Api::namespaced(kube.client().clone(), ns);
    let selector = format!(
        "postgres-operator.crunchydata.com/cluster={cluster},postgres-operator.crunchydata.com/role=master"
    );
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .with_context(|| format!("listing the pods of {ns} on cluster B"))?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .and_then(|p| p.metadata.name))
}

/// Whether the role of every instance logs in with its secret's password; the problems when not.
pub async fn check(kube: &KubeCluster, ns: &str) -> Result<Vec<String>> {
    let mut differ = Vec::new();
    for cluster in CLUSTERS {
        let password = match secret_password(kube, ns, cluster).await? {
            Ok(p) => p,
            Err(why) => {
                differ.push(why);
                continue;
            }
        };
        match master_pod(kube, ns, cluster).await? {
            None => differ.push(format!("no running master pod of PostgreSQL {cluster}")),
            Some(pod) => {
                if !pg_role::login_works(kube, &pod, &password).await? {
                    differ.push(format!(
                        "postgres does not log in to {cluster} with the password of \
                         {cluster}-pguser-postgres"
                    ));
                }
            }
        }
    }
    Ok(differ)
}

/// Sets the role's password in one instance when its login fails.
pub async fn fix(ctx: &StepContext, kube: &KubeCluster, ns: &str, cluster: &str) -> Result<Fix> {
    let password = match secret_password(kube, ns, cluster).await? {
        Ok(p) => p,
        Err(why) => return Ok(Fix::Problem(why)),
    };
    let Some(pod) = master_pod(kube, ns, cluster).await? else {
        return Ok(Fix::Problem(format!(
            "no running master pod of PostgreSQL {cluster} in {ns} on cluster B (labels \
             postgres-operator.crunchydata.com/cluster={cluster}, role=master): wait until the \
             operator has started it (oc get pods -n {ns}) and run the step again"
        )));
    };
    if pg_role::login_works(kube, &pod, &password).await? {
        return Ok(Fix::Already(format!(
            "{cluster}: postgres already logs in with the password of {cluster}-pguser-postgres"
        )));
    }
    ctx.sink.record_fact(BPMS_FACT, json!("due"))?;
    pg_role::set_password(kube, &pod, &password).await?;
    if !pg_role::login_works(kube, &pod, &password).await? {
        return Ok(Fix::Problem(format!(
            "{cluster}: the postgres role's password was set in pod {pod}, yet a login with it \
             still fails; check pg_hba in the pod's PostgreSQL (oc exec -n {ns} {pod} -c \
             database -- psql -c 'table pg_hba_file_rules')"
        )));
    }
    Ok(Fix::Done(format!(
        "{cluster}: the postgres role's password is now that of {cluster}-pguser-postgres (set \
         in pod {pod}, login checked)"
    )))
}

fn uid(p: &Pod) -> String {
    p.metadata.uid.clone().unwrap_or_default()
}

fn ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Whether a bpms restart is owed (a password changed, the restart not seen through).
pub fn restart_owed(ctx: &StepContext) -> bool {
    ctx.fact(ctx.step.id, BPMS_FACT)
        .is_some_and(|v| v.as_str() != Some("done"))
}

/// Restarts bpms when a password changed: its pods deleted, the new ones awaited ready.
pub async fn restart_bpms(ctx: &StepContext, kube: &KubeCluster, ns: &str) -> Result<Fix> {
    let pods: Api<Pod> = Api::namespaced(kube.client().clone(), ns);
    let list = ListParams::default().labels(BPMS_SELECTOR);
    // The pods to replace: those journaled by an interrupted attempt, else those there now.
    let old: BTreeSet<String> = match ctx
        .fact(ctx.step.id, BPMS_FACT)
        .and_then(|v| v.get("replaced"))
    {
        Some(Value::Array(uids)) => uids
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => {
            let uids: BTreeSet<String> = pods.list(&list).await?.items.iter().map(uid).collect();
            ctx.sink
                .record_fact(BPMS_FACT, json!({ "replaced": uids }))?;
            uids
        }
    };
    for pod in pods.list(&list).await?.items {
        if old.contains(&uid(&pod)) && pod.metadata.deletion_timestamp.is_none() {
            let name = pod.metadata.name.clone().unwrap_or_default();
            match pods.delete(&name, &Default::default()).await {
                Ok(_) => ctx.sink.info(format!(
                    "deleted pod {name} so that bpms connects with the new password"
                )),
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e).with_context(|| format!("deleting pod {name} in {ns}")),
            }
        }
    }
    let deadline = tokio::time::Instant::now() + BPMS_WAIT;
    loop {
        let now = pods.list(&list).await?.items;
        let fresh = now
            .iter()
            .filter(|p| !old.contains(&uid(p)) && ready(p))
            .count();
        let stale = now.iter().filter(|p| old.contains(&uid(p))).count();
        if stale == 0 && fresh > 0 {
            ctx.sink.record_fact(BPMS_FACT, json!("done"))?;
            return Ok(Fix::Done(format!(
                "bpms restarted: {fresh} new pod(s) ready"
            )));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Fix::Problem(format!(
                "bpms did not come back ready within {} min after its restart ({fresh} new pod(s) \
                 ready, {stale} old one(s) left): see oc get pods -n {ns} -l {BPMS_SELECTOR} and \
                 their logs, then run the step again",
                BPMS_WAIT.as_secs() / 60
            )));
        }
        tokio::select! {
            _ = ctx.stop_request() => return Ok(Fix::Stopped("paused while bpms restarts; the next run waits for it again".into())),
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}
