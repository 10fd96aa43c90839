//! `registry-post-fixes`: the Platform's post-restore fixes on cluster B that the Kubernetes API
//! reaches (migrate-registry.adoc, "Restoring the registry"), each checked after and skipped
//! when already in place: the `postgres` role's passwords (`postgres`), bpms restarted after a
//! change, the Nexus route's whitelist, the GerritGroupMembers and the Kafka volumes' sizes
//! (`others`); what stays by hand is listed in the summary.

mod fix;
mod others;
mod postgres;
mod step;

pub(super) use step::POST_FIXES;
