//! The Nexus route's whitelist, the GerritGroupMembers and the Kafka volumes, and what stays by
//! hand.
//!
//! - Nexus: cluster B's egress (NAT) address, `velero.destination_egress_ip`, is added with /32
//!   to the route's `haproxy.router.openshift.io/ip_whitelist` when no entry admits it already.
//!   The address is a key rather than read from the cluster: it is the cloud NAT's, which no
//!   object of the Kubernetes API holds (OpenShift's EgressIP objects exist only where egress
//!   IPs are assigned per namespace, and the Platform does not).
//! - Gerrit: every GerritGroupMember of the registry is deleted once (fact `gerrit_members`);
//!   the operator makes them again for B's Gerrit, so a later run does not delete those.
//! - Kafka: the restored claims' capacities against cluster A's claims of the same names (A still
//!   runs the registry, and its claims say what the volumes are; the backup's copy says what
//!   they were requested as), which `storage.kafka.size` of values.gotmpl must match.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use anyhow::Result;
use serde_json::{Value, json};

use super::fix::Fix;
use crate::infra::kube::{CustomKind, KubeCluster};
use crate::steps::StepContext;

pub const WHITELIST: &str = "haproxy.router.openshift.io/ip_whitelist";
const MEMBERS_FACT: &str = "gerrit_members";
const KAFKA_SELECTOR: &str = "strimzi.io/name=kafka-cluster-kafka";
/// The claim of Kafka's first broker, whose capacity the procedure reads.
const KAFKA_FIRST_CLAIM: &str = "data-0-kafka-cluster-kafka-0";

/// Whether a whitelist entry (`a.b.c.d` or `a.b.c.d/n`) admits `ip`.
fn admits(entry: &str, ip: Ipv4Addr) -> bool {
    let (addr, bits) = entry.split_once('/').unwrap_or((entry, "32"));
    let (Ok(addr), Ok(bits)) = (addr.parse::<Ipv4Addr>(), bits.parse::<u32>()) else {
        return false;
    };
    if bits > 32 {
        return false;
    }
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    u32::from(addr) & mask == u32::from(ip) & mask
}

fn whitelist_of(route: &Value) -> Option<String> {
    route
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(WHITELIST))
        .and_then(Value::as_str)
        .map(str::to_string)
}

async fn nexus_route(kube: &KubeCluster, ns: &str) -> Result<Option<Value>> {
    Ok(kube
        .get_custom(CustomKind::Route, Some(ns), "nexus")
        .await?
        .map(|o| serde_json::to_value(o).unwrap_or(Value::Null)))
}

/// What the Nexus fix finds without changing anything: Ok(None) when in place.
pub async fn nexus_state(
    kube: &KubeCluster,
    ns: &str,
    ip: Option<Ipv4Addr>,
) -> Result<Result<Option<String>, String>> {
    let Some(route) = nexus_route(kube, ns).await? else {
        return Ok(Err(format!(
            "cluster B has no route nexus in {ns}: the restore's init stage brings it; check \
             restore-registry"
        )));
    };
    let Some(list) = whitelist_of(&route).filter(|l| !l.trim().is_empty()) else {
        return Ok(Ok(None));
    };
    let Some(ip) = ip else {
        return Ok(Ok(Some(list)));
    };
    Ok(Ok(if list.split_whitespace().any(|e| admits(e, ip)) {
        None
    } else {
        Some(list)
    }))
}

pub async fn nexus(kube: &KubeCluster, ns: &str, ip: Option<Ipv4Addr>) -> Result<Fix> {
    let list = match nexus_state(kube, ns, ip).await? {
        Err(why) => return Ok(Fix::Problem(why)),
        Ok(None) => {
            return Ok(Fix::Already(match ip {
                Some(ip) => {
                    format!("the Nexus route already admits cluster B's egress address {ip}")
                }
                None => "the Nexus route has no ip_whitelist: every address reaches it".into(),
            }));
        }
        Ok(Some(list)) => list,
    };
    let Some(ip) = ip else {
        return Ok(Fix::ByHand(format!(
            "add cluster B's egress (NAT) address with /32 to the Nexus route's {WHITELIST} (now \
             `{list}`), or set velero.destination_egress_ip and run this step again"
        )));
    };
    let value = format!("{} {ip}/32", list.trim());
    kube.patch_custom(
        CustomKind::Route,
        Some(ns),
        "nexus",
        &json!({"metadata": {"annotations": {WHITELIST: value}}}),
    )
    .await?;
    Ok(match nexus_state(kube, ns, Some(ip)).await? {
        Ok(None) => Fix::Done(format!("the Nexus route's {WHITELIST} now admits {ip}/32")),
        _ => Fix::Problem(format!(
            "the Nexus route's {WHITELIST} was patched with {ip}/32 but does not show it; see \
             oc get route nexus -n {ns} -o yaml"
        )),
    })
}

/// Whether the GerritGroupMembers were deleted by an earlier run.
pub fn members_deleted(ctx: &StepContext) -> bool {
    ctx.fact(ctx.step.id, MEMBERS_FACT).is_some()
}

pub async fn gerrit_members(ctx: &StepContext, kube: &KubeCluster, ns: &str) -> Result<Fix> {
    let members = kube
        .list_custom(CustomKind::GerritGroupMember, Some(ns))
        .await?;
    if members_deleted(ctx) {
        return Ok(Fix::Already(format!(
            "the GerritGroupMembers were deleted by an earlier run; the Gerrit operator has made \
             {} again",
            members.len()
        )));
    }
    let mut names = Vec::new();
    for m in &members {
        let name = m.metadata.name.clone().unwrap_or_default();
        match kube
            .delete_custom(CustomKind::GerritGroupMember, Some(ns), &name)
            .await
        {
            Ok(()) => names.push(name),
            Err(e)
                if format!("{e:#}").contains("404") || format!("{e:#}").contains("not found") => {}
            Err(e) => return Err(e),
        }
    }
    // Checked: none of the deleted objects is left (the operator's new ones have new uids).
    let old: Vec<String> = members
        .iter()
        .filter_map(|m| m.metadata.uid.clone())
        .collect();
    let left: Vec<String> = kube
        .list_custom(CustomKind::GerritGroupMember, Some(ns))
        .await?
        .into_iter()
        .filter(|m| m.metadata.deletion_timestamp.is_none())
        .filter(|m| m.metadata.uid.as_ref().is_some_and(|u| old.contains(u)))
        .filter_map(|m| m.metadata.name)
        .collect();
    if !left.is_empty() {
        return Ok(Fix::Problem(format!(
            "GerritGroupMember(s) {} are still in {ns} after their deletion; see oc get \
             gerritgroupmember -n {ns}",
            left.join(", ")
        )));
    }
    ctx.sink.record_fact(MEMBERS_FACT, json!(names))?;
    Ok(if names.is_empty() {
        Fix::Already(format!("{ns} has no GerritGroupMember to delete"))
    } else {
        Fix::Done(format!(
            "deleted {} GerritGroupMember(s) ({}); the Gerrit operator makes them again",
            names.len(),
            names.join(", ")
        ))
    })
}

/// The claims of Kafka's brokers by name: capacity (else the request).
async fn kafka_claims(kube: &KubeCluster, ns: &str) -> Result<BTreeMap<String, String>> {
    use k8s_openapi::api::core::v1::PersistentVolumeClaim;
    let api: kube::Api<PersistentVolumeClaim> = kube::Api::namespaced(kube.client().clone(), ns);
    let list = api
        .list(&kube::api::ListParams::default().labels(KAFKA_SELECTOR))
        .await
        .map_err(|e| anyhow::anyhow!("listing the Kafka claims of {ns} on {}: {e}", kube.name()))?;
    Ok(list
        .items
        .into_iter()
        .map(|c| {
            let size = c
                .status
                .as_ref()
                .and_then(|s| s.capacity.as_ref())
                .and_then(|m| m.get("storage"))
                .or_else(|| {
                    c.spec
                        .as_ref()
                        .and_then(|s| s.resources.as_ref())
                        .and_then(|r| r.requests.as_ref())
                        .and_then(|m| m.get("storage"))
                })
                .map_or_else(|| "?".to_string(), |q| q.0.clone());
            (c.metadata.name.unwrap_or_default(), size)
        })
        .collect())
}

/// The Kafka volumes on B against A's: lines to report, and by-hand items. restore-registry
/// grows B's claims beyond A's (by 40Gi), so B's are at least A's, and values.gotmpl's
/// `storage.kafka.size` takes B's capacity of `data-0-kafka-cluster-kafka-0`, as the
/// procedure says ("the current disk size"): a smaller size there would have the Strimzi
/// operator try to shrink the volume.
pub async fn kafka(
    a: &KubeCluster,
    b: &KubeCluster,
    ns: &str,
) -> Result<(Vec<String>, Vec<String>)> {
    use crate::infra::kube::quantity::bytes;
    let (on_a, on_b) = (kafka_claims(a, ns).await?, kafka_claims(b, ns).await?);
    let mut report = Vec::new();
    let mut by_hand = Vec::new();
    for (name, size_a) in &on_a {
        match on_b.get(name) {
            None => report.push(format!(
                "Kafka claim {name} ({size_a} on cluster A) is not on cluster B: the kafka stage \
                 of restore-registry restores it"
            )),
            Some(size_b) if bytes(size_b) < bytes(size_a) => report.push(format!(
                "Kafka claim {name} is smaller on cluster B ({size_b}) than on cluster A \
                 ({size_a}): A's data may not fit; grow it on B (restore-registry's kafka-claims \
                 stage grows it by 40Gi) before Kafka starts"
            )),
            Some(size_b) => report.push(format!(
                "Kafka claim {name}: {size_b} on cluster B, {size_a} on cluster A"
            )),
        }
    }
    if let Some(size) = on_b.get(KAFKA_FIRST_CLAIM).or(on_b.values().next()) {
        by_hand.push(format!(
            "values.gotmpl: storage.kafka.size: {size} (the capacity of {KAFKA_FIRST_CLAIM} on \
             cluster B)"
        ));
    }
    Ok((report, by_hand))
}

/// What the procedure leaves to people, with where the values are on B.
pub fn by_hand(ns: &str) -> Vec<String> {
    vec![
        format!(
            "values.gotmpl: vault.server.standalone.config with the seal \"transit\" block of \
             configmap hashicorp-vault-config in {ns} on cluster B"
        ),
        format!(
            "after MASTER-Build-{ns}: the registry Jenkins credential gerrit-ci-users-sshkey \
             takes id_rsa of secret gerrit-control-plane-sshkey in {ns}"
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_admits_the_addresses_of_its_block() {
        let ip = Ipv4Addr::new(10, 1, 2, 3);
        assert!(admits("10.0.0.0/8", ip));
        assert!(admits("10.1.2.3", ip));
        assert!(admits("10.1.2.3/32", ip));
        assert!(!admits("192.168.10.5/32", ip));
        assert!(!admits("garbage", ip));
        assert!(admits("0.0.0.0/0", ip));
    }
}
