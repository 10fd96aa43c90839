//! Where a step finds one of the source's data stores: the URL the config names for it, else
//! where the `inventory` step found it. A store outside the source namespace is reached by the
//! URL in its secret, read at the moment of use (it holds credentials: never log it); one inside
//! it by the running pod of the workload that serves it, which each step uses its own way (exec,
//! or a port-forward). The drain, the database dumps and the Redis dump share this one resolver.

use anyhow::{Context, Result, bail};

use super::context::StepContext;
use super::inventory::{self, Inventory, Location, StoreLocation};
use crate::config::StoreKind;
use crate::infra::kube::KubeCluster;
use crate::runbook::ClusterRole;

/// The secret of the source namespace, and its key, that hold a store's URL in a 3scale
/// installation.
pub fn secret_of(kind: StoreKind) -> (&'static str, &'static str) {
    match kind {
        StoreKind::SystemDatabase(_) => ("system-database", "URL"),
        StoreKind::ZyncDatabase => ("zync", "DATABASE_URL"),
        StoreKind::BackendRedisStorage => ("backend-redis", "REDIS_STORAGE_URL"),
        StoreKind::BackendRedisQueues => ("backend-redis", "REDIS_QUEUES_URL"),
        StoreKind::SystemRedis => ("system-redis", "URL"),
    }
}

/// The config key that names a source store's URL, for messages: `source.system_redis_url`.
pub fn config_key(kind: StoreKind) -> String {
    format!("{}.{}", ClusterRole::Source, kind.field())
}

/// Where a source store is.
#[derive(Debug)]
pub enum Reach {
    /// By URL: the config's, or the one in the store's secret. `origin` says which, for logs.
    Url { url: String, origin: String },
    /// Inside the source namespace: `pod` runs the workload that serves it.
    Pod {
        pod: String,
        location: Box<StoreLocation>,
    },
}

/// The source's stores for one step: the inventory it recorded, and one connection to the
/// source cluster, made when first needed.
pub struct SourceStores<'a> {
    ctx: &'a StepContext,
    inventory: Option<Inventory>,
    kube: Option<KubeCluster>,
}

impl<'a> SourceStores<'a> {
    pub fn new(ctx: &'a StepContext) -> SourceStores<'a> {
        SourceStores {
            ctx,
            inventory: inventory::recorded(ctx),
            kube: None,
        }
    }

    /// The inventory the `inventory` step recorded, if any.
    pub fn inventory(&self) -> Option<&Inventory> {
        self.inventory.as_ref()
    }

    /// The connection to the source cluster.
    pub async fn kube(&mut self) -> Result<&KubeCluster> {
        if self.kube.is_none() {
            self.kube = Some(self.ctx.cluster(ClusterRole::Source).await?);
        }
        self.kube
            .as_ref()
            .context("the source cluster is not connected")
    }

    /// The connection to the source cluster, when one was needed so far.
    pub fn connected(&self) -> Option<&KubeCluster> {
        self.kube.as_ref()
    }

    /// The config's URL of the store, when the config names one.
    pub fn configured(&self, kind: StoreKind) -> Result<Option<Reach>> {
        let Some(store) = self.ctx.config.store(ClusterRole::Source, kind) else {
            return Ok(None);
        };
        Ok(Some(Reach::Url {
            url: store.url_value()?,
            origin: format!("config {}", store.key),
        }))
    }

    /// Where the inventory found the store, when it read its secret.
    pub fn location(&self, kind: StoreKind) -> Option<&StoreLocation> {
        let (secret, key) = secret_of(kind);
        self.inventory.as_ref()?.store(secret, key)
    }

    /// A running pod of the workload behind an internal store; None when the inventory knows
    /// no such workload or none of its pods runs.
    pub async fn running_pod(&mut self, location: &StoreLocation) -> Result<Option<String>> {
        let Some(workload) = location
            .workload
            .as_deref()
            .and_then(|name| self.inventory.as_ref()?.workload(name))
            .cloned()
        else {
            return Ok(None);
        };
        let pods = self
            .kube()
            .await?
            .workload_pods(workload.kind, &workload.name)
            .await?;
        Ok(pods
            .iter()
            .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .and_then(|p| p.metadata.name.clone()))
    }

    /// The URL in the store's secret, read now.
    pub async fn secret_url(&mut self, kind: StoreKind) -> Result<String> {
        let (secret, key) = secret_of(kind);
        inventory::store_url(self.kube().await?, secret, key).await
    }

    /// Where the store is: the config's URL, else where the inventory found it. None when
    /// neither names it (`why_missing` says so). An inventoried store cutover cannot reach
    /// (behind Redis Sentinel, a secret that holds no URL, a store inside the namespace that no
    /// pod serves) is an error that says to set its config key instead. `label` names the store
    /// in messages.
    pub async fn find(&mut self, kind: StoreKind, label: &str) -> Result<Option<Reach>> {
        if let Some(reach) = self.configured(kind)? {
            return Ok(Some(reach));
        }
        let Some(location) = self.location(kind).cloned() else {
            return Ok(None);
        };
        let (secret, key) = secret_of(kind);
        let config_key = config_key(kind);
        let fix = format!("or set {config_key} in the config (as env:NAME or file:PATH)");
        if location.sentinel {
            bail!(
                "the inventory found the {label} behind Redis Sentinel ({secret}/{key} names the \
                 master group, not a server); set {config_key} in the config to the URL of the \
                 current master (as env:NAME or file:PATH)"
            );
        }
        match location.location {
            Location::External => {
                let url = self
                    .secret_url(kind)
                    .await
                    .with_context(|| format!("the {label} is not reachable; {fix}"))?;
                Ok(Some(Reach::Url {
                    url,
                    origin: format!("secret {secret}/{key}, as the inventory found"),
                }))
            }
            Location::Internal => match self.running_pod(&location).await? {
                Some(pod) => Ok(Some(Reach::Pod {
                    pod,
                    location: Box::new(location),
                })),
                None => bail!(
                    "the {label} is inside the source namespace ({}) but no running pod of the \
                     workload serving it ({}) was found; start it, {fix}",
                    location.describe(),
                    location.workload.as_deref().unwrap_or("none known")
                ),
            },
            Location::Unknown => bail!(
                "the inventory could not read {secret}/{key} as a URL; check the secret, {fix}"
            ),
        }
    }

    /// Why a store that neither the config nor the inventory names is left out.
    pub fn why_missing(&self, kind: StoreKind) -> String {
        let (secret, key) = secret_of(kind);
        let config_key = config_key(kind);
        match &self.inventory {
            None => format!("{config_key} is not set and no inventory is recorded"),
            Some(_) => format!("{config_key} is not set and the inventory found no {secret}/{key}"),
        }
    }

    /// Sidekiq's namespace at the source, with how it was found. 3scale 2.13 and earlier
    /// prefix every key of system's Redis with `REDIS_NAMESPACE` (system-app's environment, from
    /// secret system-redis key NAMESPACE); from 2.14 the variable is no longer given to
    /// system-app, and a NAMESPACE left in the secret is not used. So system-app's environment
    /// decides; the secret only when system-app is not there to read. Without a source cluster
    /// in the config there is nothing to read, and the queues are read without a namespace.
    pub async fn sidekiq_namespace(&mut self) -> Result<(Option<String>, String)> {
        if self.ctx.config.cluster(ClusterRole::Source).is_none() {
            return Ok((
                None,
                "no source cluster in the config to read system-app's REDIS_NAMESPACE from".into(),
            ));
        }
        let kube = self.kube().await?;
        crate::infra::queues::sidekiq_namespace(kube).await
    }
}
