//! What restore-registry.sh does on cluster B between Velero's restores, each a stage of its own
//! (journaled when done, so a resumed run does none twice):
//! - after the init restore, Kafka's claims grown by 40Gi (`KAFKA_DISK_SIZE_EXTENSION_SIZE`),
//!   from the size they had before the first growth, which is journaled;
//! - after each component's restore, its pods deleted ("Root cause: network issue") and their
//!   going awaited; the pods deleted are journaled first, so a resumed run waits for those and
//!   deletes no new one;
//! - after a Crunchy cluster's pods, its saved PostgresCluster applied again and its instance
//!   and pgBackRest ServiceAccount, Role and RoleBinding owned by it (their ownerReferences
//!   still name A's PostgresCluster);
//! - after the `-resources` restore, the registry's JenkinsAuthorizationRoleMappings replaced by
//!   the saved ones and those of the Platform's namespace naming the registry made again; the
//!   keycloak-operator in Keycloak's namespace restarted;
//! - before the secrets' restore, the secret `keycloak-client.<registry>-admin.secret` deleted
//!   (so A's comes back); after it, the registry's keycloak-operator and digital-signature-ops
//!   restarted.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams};
use serde_json::{Value, json};

use super::run::StageEnd;
use super::stages::Action;
use crate::infra::kube::{KubeCluster, quantity};
use crate::runbook::ClusterRole;
use crate::steps::StepContext;
use crate::steps::registry_backup::Params;
use crate::steps::registry_resources::load;
use crate::steps::registry_storage::client;

/// What restore-registry.sh adds to each Kafka claim (`KAFKA_DISK_SIZE_EXTENSION_SIZE=40`, Gi).
pub const KAFKA_GROWTH: &str = "40Gi";
pub const KAFKA_CLAIMS: &str = "strimzi.io/name=kafka-cluster-kafka";
/// The journal fact of the Kafka claims' sizes before their growth.
const KAFKA_BEFORE_FACT: &str = "kafka-claims-before";
const PODS_GONE_WAIT: Duration = Duration::from_secs(10 * 60);
const POLL: Duration = Duration::from_millis(500);
const PGO: &str = "postgres-operator.crunchydata.com/v1beta1";
/// The journal fact of the Platform's role mappings of the registry, as they were before they
/// were made again.
const EDP_MAPPINGS_FACT: &str = "role-mappings-edp";

pub async fn run(
    ctx: &StepContext,
    kube: &KubeCluster,
    p: &Params,
    backup: &str,
    action: Action,
) -> Result<StageEnd> {
    let ns = p.registry.as_str();
    let id = action.id();
    match action {
        Action::ExpandKafkaClaims => expand_kafka(ctx, kube, ns).await,
        Action::ReplacePods(c) => {
            let selector = format!("{}={}", c.label.0, c.label.1);
            replace_pods(ctx, kube, ns, &selector, &id).await
        }
        Action::CrunchyOwners(cluster) => crunchy_owners(ctx, kube, ns, backup, cluster).await,
        Action::RoleMappings => role_mappings(ctx, kube, p, backup).await,
        Action::RestartKeycloakOperator => {
            replace_pods(
                ctx,
                kube,
                &p.keycloak_namespace,
                "name=keycloak-operator",
                &id,
            )
            .await
        }
        Action::DeleteKeycloakClientSecret => {
            let name = format!("keycloak-client.{}-admin.secret", p.registry);
            kube.delete_object("v1", "Secret", ns, &name).await?;
            Ok(StageEnd::Done(format!(
                "stage {id}: the secret {name} deleted, for the secrets' restore to bring A's"
            )))
        }
        Action::RestartRegistryOperators => {
            let mut lines = Vec::new();
            for selector in ["name=keycloak-operator", "app=digital-signature-ops"] {
                let key = format!("{id}-{}", selector.split('=').nth(1).unwrap_or(selector));
                match replace_pods(ctx, kube, ns, selector, &key).await? {
                    StageEnd::Done(line) => lines.push(line),
                    other => return Ok(other),
                }
            }
            Ok(StageEnd::Done(lines.join("; ")))
        }
    }
}

fn claim_request(c: &PersistentVolumeClaim) -> Option<String> {
    c.spec
        .as_ref()?
        .resources
        .as_ref()?
        .requests
        .as_ref()?
        .get("storage")
        .map(|q| q.0.clone())
}

async fn expand_kafka(ctx: &StepContext, kube: &KubeCluster, ns: &str) -> Result<StageEnd> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(kube.client().clone(), ns);
    let claims = api
        .list(&ListParams::default().labels(KAFKA_CLAIMS))
        .await
        .map_err(|e| anyhow::anyhow!("listing the Kafka claims of {ns} on cluster B: {e}"))?
        .items;
    if claims.is_empty() {
        ctx.sink.warn(format!(
            "no claim labelled {KAFKA_CLAIMS} in {ns} on cluster B after the init restore: \
             nothing to grow; the kafka stage restores Kafka's volumes"
        ));
        return Ok(StageEnd::Done("stage kafka-claims: no Kafka claim".into()));
    }
    // The sizes before the first growth, journaled before anything grows.
    let mut before: BTreeMap<String, String> = ctx
        .fact(ctx.step.id, KAFKA_BEFORE_FACT)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let mut recorded = false;
    for c in &claims {
        let name = c.metadata.name.clone().unwrap_or_default();
        if let std::collections::btree_map::Entry::Vacant(entry) = before.entry(name) {
            let Some(size) = claim_request(c) else {
                return Ok(StageEnd::Failed(format!(
                    "the Kafka claim {} in {ns} on cluster B requests no storage; compare it \
                     with cluster A's",
                    entry.key()
                )));
            };
            entry.insert(size);
            recorded = true;
        }
    }
    if recorded {
        ctx.sink.record_fact(KAFKA_BEFORE_FACT, json!(before))?;
    }
    let growth = quantity::bytes(KAFKA_GROWTH).unwrap_or(40 << 30);
    let mut lines = Vec::new();
    for c in &claims {
        let name = c.metadata.name.clone().unwrap_or_default();
        let from = before.get(&name).cloned().unwrap_or_default();
        let Some(from_bytes) = quantity::bytes(&from) else {
            return Ok(StageEnd::Failed(format!(
                "the Kafka claim {name} requested `{from}`, which is no storage quantity; grow \
                 it by {KAFKA_GROWTH} by hand, then run the step again"
            )));
        };
        let target = quantity::format(from_bytes + growth);
        let now = claim_request(c)
            .as_deref()
            .and_then(quantity::bytes)
            .unwrap_or(0);
        if now >= from_bytes + growth {
            lines.push(format!("{name} {from} -> {target} (already)"));
            continue;
        }
        let patch = json!({"spec": {"resources": {"requests": {"storage": target}}}});
        match kube
            .merge_patch_object("v1", "PersistentVolumeClaim", ns, &name, &patch)
            .await
        {
            Ok(Some(_)) => {
                ctx.sink.info(format!(
                    "Kafka claim {name}: {from} -> {target} (restore-registry.sh grows it by \
                     {KAFKA_GROWTH})"
                ));
                lines.push(format!("{name} {from} -> {target}"));
            }
            Ok(None) => {
                return Ok(StageEnd::Failed(format!(
                    "the Kafka claim {name} disappeared from {ns} on cluster B"
                )));
            }
            Err(e) => {
                return Ok(StageEnd::Failed(format!(
                    "growing the Kafka claim {name} to {target}: {e:#}; its storage class must \
                     allow volume expansion (allowVolumeExpansion: true)"
                )));
            }
        }
    }
    Ok(StageEnd::Done(format!(
        "stage kafka-claims: {}",
        lines.join(", ")
    )))
}

/// Deletes the pods `selector` picks in `ns` and waits until they are gone (their workloads
/// make new ones). The uids are journaled (`<key>-uids`) before the first deletion.
async fn replace_pods(
    ctx: &StepContext,
    kube: &KubeCluster,
    ns: &str,
    selector: &str,
    key: &str,
) -> Result<StageEnd> {
    let api: Api<Pod> = Api::namespaced(kube.client().clone(), ns);
    let list = |api: Api<Pod>| async move {
        api.list(&ListParams::default().labels(selector))
            .await
            .map(|l| l.items)
            .map_err(|e| anyhow::anyhow!("listing the pods {selector} in {ns} on cluster B: {e}"))
    };
    let fact = format!("{key}-uids");
    let chosen: BTreeSet<String> = match ctx.fact(ctx.step.id, &fact).and_then(Value::as_array) {
        Some(uids) => uids
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        None => {
            let uids: BTreeSet<String> = list(api.clone())
                .await?
                .iter()
                .filter_map(|p| p.metadata.uid.clone())
                .collect();
            ctx.sink.record_fact(&fact, json!(uids))?;
            uids
        }
    };
    if chosen.is_empty() {
        return Ok(StageEnd::Done(format!(
            "stage {key}: no pod with {selector} in {ns}"
        )));
    }
    for pod in list(api.clone()).await? {
        let (Some(name), Some(uid)) = (pod.metadata.name.clone(), pod.metadata.uid.clone()) else {
            continue;
        };
        if chosen.contains(&uid) && pod.metadata.deletion_timestamp.is_none() {
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => {
                    return Ok(StageEnd::Failed(format!(
                        "deleting pod {name} in {ns} on cluster B: {e}"
                    )));
                }
            }
        }
    }
    let deadline = tokio::time::Instant::now() + PODS_GONE_WAIT;
    loop {
        let left: Vec<String> = list(api.clone())
            .await?
            .iter()
            .filter(|p| p.metadata.uid.as_ref().is_some_and(|u| chosen.contains(u)))
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        if left.is_empty() {
            break;
        }
        if ctx.stop_requested() {
            return Ok(StageEnd::Stopped(format!(
                "paused while pods {} were ending; the next run waits for them",
                left.join(", ")
            )));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(StageEnd::Failed(format!(
                "pods {} in {ns} did not end within {} min of their deletion; look at their \
                 finalizers (oc get pod -o yaml), then run the step again",
                left.join(", "),
                PODS_GONE_WAIT.as_secs() / 60
            )));
        }
        tokio::time::sleep(POLL).await;
    }
    ctx.sink.info(format!(
        "deleted {} pod(s) with {selector} in {ns}; their workloads make them again",
        chosen.len()
    ));
    Ok(StageEnd::Done(format!(
        "stage {key}: {} pod(s) with {selector} replaced",
        chosen.len()
    )))
}

async fn crunchy_owners(
    ctx: &StepContext,
    kube: &KubeCluster,
    ns: &str,
    backup: &str,
    cluster: &str,
) -> Result<StageEnd> {
    let bucket = client(ctx, ClusterRole::Destination)?;
    let saved = load(&bucket, backup, "postgrescluster").await?;
    let Some((key, mut object)) = saved
        .into_iter()
        .find(|(_, o)| o.pointer("/metadata/name").and_then(Value::as_str) == Some(cluster))
    else {
        return Ok(StageEnd::Failed(format!(
            "the backup's saved objects hold no PostgresCluster {cluster} \
             (openshift-resources/postgrescluster/{cluster}.yaml); backup-registry saves it"
        )));
    };
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("namespace".into(), json!(ns));
    }
    if let Err(e) = kube.apply_object(&object).await {
        return Ok(StageEnd::Failed(format!(
            "applying the saved PostgresCluster {cluster} ({key}) on cluster B: {e:#}"
        )));
    }
    let Some(uid) = kube
        .get_object(PGO, "PostgresCluster", ns, cluster)
        .await?
        .and_then(|o| o.pointer("/metadata/uid")?.as_str().map(str::to_string))
    else {
        return Ok(StageEnd::Failed(format!(
            "the PostgresCluster {cluster} is not on cluster B after it was applied"
        )));
    };
    let owner = json!({"metadata": {"ownerReferences": [{
        "apiVersion": PGO,
        "kind": "PostgresCluster",
        "name": cluster,
        "uid": uid,
        "controller": true,
        "blockOwnerDeletion": true,
    }]}});
    let mut owned = Vec::new();
    for (api_version, kind) in [
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("v1", "ServiceAccount"),
    ] {
        for postfix in ["instance", "pgbackrest"] {
            let name = format!("{cluster}-{postfix}");
            match kube
                .merge_patch_object(api_version, kind, ns, &name, &owner)
                .await?
            {
                Some(_) => owned.push(format!("{kind} {name}")),
                None => ctx.sink.warn(format!(
                    "no {kind} {name} in {ns} on cluster B to give to the PostgresCluster \
                     {cluster}; the Crunchy operator makes it"
                )),
            }
        }
    }
    Ok(StageEnd::Done(format!(
        "stage {cluster}-postgrescluster: the saved PostgresCluster applied; {} owned by it \
         ({})",
        owned.len(),
        owned.join(", ")
    )))
}

async fn role_mappings(
    ctx: &StepContext,
    kube: &KubeCluster,
    p: &Params,
    backup: &str,
) -> Result<StageEnd> {
    const JARM: (&str, &str, &str) = ("v2.edp.epam.com", "v1", "jenkinsauthorizationrolemappings");
    let api_version = format!("{}/{}", JARM.0, JARM.1);
    let kind = "JenkinsAuthorizationRoleMapping";
    let ns = p.registry.as_str();
    let bucket = client(ctx, ClusterRole::Destination)?;
    let saved = load(&bucket, backup, "jenkinsauthorizationrolemapping").await?;
    // The registry's: all deleted, the saved ones applied.
    let current = kube.list_any(JARM.0, JARM.1, JARM.2, ns).await?;
    for object in &current {
        if let Some(name) = object.pointer("/metadata/name").and_then(Value::as_str) {
            kube.delete_object(&api_version, kind, ns, name).await?;
        }
    }
    for (key, mut object) in saved {
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("namespace".into(), json!(ns));
        }
        if let Err(e) = kube.apply_object(&object).await {
            return Ok(StageEnd::Failed(format!(
                "applying the saved {kind} ({key}) on cluster B: {e:#}"
            )));
        }
    }
    let applied = kube.list_any(JARM.0, JARM.1, JARM.2, ns).await?.len();
    // The Platform's naming the registry: made again, for the operator to act on them anew.
    // Journaled before the first is deleted, so a run cut short makes them again from the
    // journal.
    let edp = p.edp_namespace.as_str();
    let remake: Vec<Value> = match ctx.fact(ctx.step.id, EDP_MAPPINGS_FACT) {
        Some(Value::Array(objects)) => objects.clone(),
        _ => {
            let objects: Vec<Value> = kube
                .list_any(JARM.0, JARM.1, JARM.2, edp)
                .await?
                .into_iter()
                .filter(|o| {
                    o.pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.contains(&p.registry))
                })
                .map(crate::infra::kube::applicable)
                .collect();
            ctx.sink.record_fact(EDP_MAPPINGS_FACT, json!(objects))?;
            objects
        }
    };
    for object in &remake {
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        kube.delete_object(&api_version, kind, edp, name).await?;
        if let Err(e) = kube.apply_object(object).await {
            return Ok(StageEnd::Failed(format!(
                "making the {kind} {name} in {edp} again on cluster B: {e:#}; the journal \
                 holds it (fact {EDP_MAPPINGS_FACT}) and the next run applies it"
            )));
        }
    }
    let remade = remake.len();
    Ok(StageEnd::Done(format!(
        "stage role-mappings: {} in {ns} replaced by the {applied} saved; {remade} in {edp} \
         made again",
        current.len()
    )))
}
