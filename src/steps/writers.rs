//! The migration cluster's writers at the destination's rewrite. 3scale runs there after its
//! upgrade; before the rewrite nothing may write to the database any more (old hosts written
//! back, zync making routes for the destination's hosts there), and `dump-migration-database`
//! must see it as it stays.
//! `system-app`, `system-sidekiq` and `zync-que` are held at 0: the APIManager's specs first
//! (the 3scale operator would scale them back), then the deployments through the quiesce
//! routine of `scale-down` (counts recorded, pods awaited). The migration cluster is thrown
//! away afterwards, so nothing brings them back.

use anyhow::{Context, Result};
use serde_json::json;

use super::StepContext;
use super::scale::{POD_STOP_TIMEOUT, quiesce};
use crate::infra::kube::{CustomKind, KubeCluster};
use crate::journal::JournalState;
use crate::runbook::Outcome;

/// What writes to the system database, in the order it is stopped.
pub const WRITERS: &[&str] = &["system-app", "system-sidekiq", "zync-que"];

/// The APIManager specs of [`WRITERS`]: (section, spec).
const SPECS: &[(&str, &str)] = &[
    ("system", "appSpec"),
    ("system", "sidekiqSpec"),
    ("zync", "queSpec"),
];

/// The writers that still have replicas: `name N replicas` each.
pub async fn running(kube: &KubeCluster) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for name in WRITERS {
        if let Some(w) = kube.find_workload(name).await?
            && w.replicas != 0
        {
            out.push(format!("{name} {} replicas", w.replicas));
        }
    }
    Ok(out)
}

/// Holds the writers at 0; Ok(Err(why)) when one cannot be stopped.
pub async fn hold(
    ctx: &StepContext,
    kube: &KubeCluster,
) -> Result<std::result::Result<String, String>> {
    let mut patch = json!({});
    for (section, spec) in SPECS {
        patch[section][spec] = json!({"replicas": 0});
    }
    for am in kube.list_custom(CustomKind::ApiManager, None).await? {
        let Some(name) = am.metadata.name.clone() else {
            continue;
        };
        kube.patch_custom(
            CustomKind::ApiManager,
            None,
            &name,
            &json!({ "spec": patch }),
        )
        .await
        .with_context(|| format!("APIManager {name}: cannot hold the writers at 0"))?;
        ctx.sink.info(format!(
            "APIManager {name} on the migration cluster: system.appSpec, system.sidekiqSpec and \
             zync.queSpec at 0 replicas, so the 3scale operator keeps the writers down"
        ));
    }
    // The source's counts are in the journal under the same names: not these.
    let result = quiesce(
        kube,
        &ctx.sink,
        &JournalState::default(),
        WRITERS,
        POD_STOP_TIMEOUT,
    )
    .await?;
    Ok(match result.outcome {
        Outcome::Passed | Outcome::NotApplicable => Ok(format!(
            "the migration cluster's writers ({}) held at 0, so dump-migration-database sees the \
             database as it stays",
            WRITERS.join(", ")
        )),
        _ => Err(format!(
            "the migration cluster's writers could not all be stopped: {}",
            result.summary
        )),
    })
}
