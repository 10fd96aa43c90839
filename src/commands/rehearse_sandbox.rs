//! The sandbox of a rehearsal, of either runbook: the 3scale sandbox (`threescale-rhoam`) or
//! the registry's (`velero-registry`). A resumed rehearsal's runbook is its sandbox's, as its
//! manifest says; what `--serve` prints and what stands in for the people at manual steps
//! depend on it.

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use futures::future::BoxFuture;

use crate::engine::StandIn;
use crate::error::bad_input;
use crate::outln;
use crate::runbook::{StepId, ids};
use crate::sim::SimCluster;
use crate::sim::sandbox::{
    self, REGISTRY_RUNBOOK, RegistrySandbox, Sandbox, SandboxOptions, THREESCALE_RUNBOOK,
};

/// The runbooks `cutover rehearse` has a sandbox for.
pub const RUNBOOKS: [&str; 2] = [THREESCALE_RUNBOOK, REGISTRY_RUNBOOK];

/// A running rehearsal sandbox.
pub enum RehearsalSandbox {
    Threescale(Box<Sandbox>),
    Registry(Box<RegistrySandbox>),
}

/// `runbook` when cutover has a sandbox for it; else bad input naming those it has.
pub fn known_runbook(runbook: &str) -> Result<&'static str> {
    RUNBOOKS
        .iter()
        .find(|r| **r == runbook)
        .copied()
        .ok_or_else(|| {
            bad_input(format!(
                "cutover rehearse has no sandbox for the runbook {runbook:?}; pass --runbook {}",
                RUNBOOKS.join(" or --runbook ")
            ))
        })
}

impl RehearsalSandbox {
    /// A new kept sandbox in `dir` for `runbook`.
    pub async fn create(runbook: &str, dir: &Path, options: SandboxOptions) -> Result<Self> {
        Ok(if runbook == REGISTRY_RUNBOOK {
            RehearsalSandbox::Registry(Box::new(
                RegistrySandbox::create_with(dir, options.registry_volume_bytes).await?,
            ))
        } else {
            RehearsalSandbox::Threescale(Box::new(Sandbox::create(dir, options).await?))
        })
    }

    /// The kept sandbox in `dir` started again, of the runbook its manifest names.
    pub async fn resume(dir: &Path) -> Result<Self> {
        Ok(match sandbox::runbook(dir).as_deref() {
            Some(REGISTRY_RUNBOOK) => {
                RehearsalSandbox::Registry(Box::new(RegistrySandbox::resume(dir).await?))
            }
            _ => RehearsalSandbox::Threescale(Box::new(Sandbox::resume(dir).await?)),
        })
    }

    pub fn runbook(&self) -> &'static str {
        match self {
            RehearsalSandbox::Threescale(_) => THREESCALE_RUNBOOK,
            RehearsalSandbox::Registry(_) => REGISTRY_RUNBOOK,
        }
    }

    pub fn remove(self, why: &str) -> Vec<String> {
        match self {
            RehearsalSandbox::Threescale(s) => (*s).remove(why),
            RehearsalSandbox::Registry(s) => (*s).remove(why),
        }
    }

    /// The rehearsal's config for this sandbox (the registry's runbook has one access path).
    pub fn config_toml(
        &self,
        name: &str,
        access_path: &str,
        party: &str,
        operator: &str,
        state_dir: &Path,
    ) -> String {
        match self {
            RehearsalSandbox::Threescale(s) => {
                s.config_toml(name, access_path, party, operator, state_dir)
            }
            RehearsalSandbox::Registry(s) => s.config_toml(name, party, operator, state_dir),
        }
    }

    /// What the people who do the manual steps would have done, where later steps check it.
    pub fn stand_in(&self) -> Arc<dyn StandIn> {
        match self {
            RehearsalSandbox::Threescale(s) => Arc::new(SandboxHands {
                destination_database: s.stores.destination.system_database.clone(),
            }),
            RehearsalSandbox::Registry(s) => Arc::new(RegistryHands {
                b: s.b.clone(),
                registry: s.registry.clone(),
            }),
        }
    }

    /// Prints how to reach the sandbox, for `--serve`.
    pub fn print_endpoints(&self, config: &Path) {
        match self {
            RehearsalSandbox::Threescale(s) => print_threescale(s, config),
            RehearsalSandbox::Registry(s) => print_registry(s, config),
        }
    }
}

fn print_threescale(sandbox: &Sandbox, config: &Path) {
    let s = &sandbox.stores;
    outln!(
        "kubeconfig: {} (contexts source, migration, destination)",
        sandbox.kubeconfig.display()
    );
    outln!("config:     {}", config.display());
    outln!("source backend Redis:    {}", s.source_backend_redis);
    outln!("source system Redis:     {}", s.source_system_redis);
    outln!("source system database:  {}", s.source_system_database);
    outln!("source zync database:    {}", s.source_zync_database);
    outln!("migration database:      {}", s.migration_system_database);
    outln!("destination database:    {}", s.destination.system_database);
    outln!(
        "destination Redis:       {}",
        s.destination.backend_redis_storage
    );
    outln!(
        "destination 3scale API:  {} (Host master.{} or 3scale-admin.{})",
        sandbox.threescale_api.url(),
        sandbox::DESTINATION_DOMAIN,
        sandbox::DESTINATION_DOMAIN
    );
    outln!(
        "try: kubectl --kubeconfig {} --context source get dc,pods",
        sandbox.kubeconfig.display()
    );
}

fn print_registry(sandbox: &RegistrySandbox, config: &Path) {
    let bucket = sandbox.bucket();
    outln!(
        "kubeconfig: {} (contexts a, b)",
        sandbox.kubeconfig.display()
    );
    outln!("config:     {}", config.display());
    outln!(
        "object storage A: {} {bucket}",
        sandbox.storage_a.endpoint()
    );
    outln!(
        "object storage B: {} {bucket}",
        sandbox.storage_b.endpoint()
    );
    outln!(
        "Keycloak B: {} (its admin's user and password are the files the config names)",
        sandbox.keycloak.url()
    );
    outln!(
        "registry: {} at {} on cluster A",
        sandbox.registry,
        sandbox.version
    );
    outln!(
        "try: kubectl --kubeconfig {} --context a get codebases,pods -n {}",
        sandbox.kubeconfig.display(),
        sandbox::PLATFORM_NAMESPACE
    );
}

/// The 3scale sandbox's hands: at the configuration of RHOAM's 3scale, what RHOAM's
/// reconciler has done by then (its `rhsso` SSO integration, which check-sso-integrations
/// reads).
struct SandboxHands {
    destination_database: String,
}

impl StandIn for SandboxHands {
    fn done(&self, step: StepId) -> BoxFuture<'_, anyhow::Result<Option<String>>> {
        Box::pin(async move {
            if step == ids::CONFIGURE_DESTINATION_3SCALE {
                // By now RHOAM's operator runs again (restore-destination-3scale) and has
                // reconciled 3scale: it creates its Admin Portal SSO `rhsso` on the seeded
                // tenant when the migrated data has none, which check-sso-integrations reads.
                let created = crate::sim::seed::rhoam_sso::create_rhsso(
                    &self.destination_database,
                    sandbox::DESTINATION_DOMAIN,
                )
                .await?;
                return Ok(Some(if created {
                    "RHOAM's reconciler created its Admin Portal SSO `rhsso` on the migrated \
                     3scale tenant"
                        .to_string()
                } else {
                    "the migrated 3scale tenant already has an SSO integration `rhsso`; \
                     RHOAM's reconciler leaves it"
                        .to_string()
                }));
            }
            Ok(None)
        })
    }
}

/// The registry sandbox's hands. Of `velero-registry`'s manual steps, only creating the
/// registry in B's console leaves something a later step needs: restore-registry applies A's
/// saved objects into the registry's namespace on B, which the console's Codebase makes the
/// Platform's operators create. The others act on what no automated step reads (A's users and
/// Jenkins jobs, B's Gerrit values, the regulations' DNS), so nothing is done for them.
struct RegistryHands {
    b: Arc<SimCluster>,
    registry: String,
}

impl StandIn for RegistryHands {
    fn done(&self, step: StepId) -> BoxFuture<'_, anyhow::Result<Option<String>>> {
        Box::pin(async move {
            if step != ids::CREATE_REGISTRY_IN_CONSOLE {
                return Ok(None);
            }
            sandbox::create_in_console(&self.b, &self.registry)?;
            Ok(Some(format!(
                "the console's registry {}: the Platform's operators created its namespace on \
                 cluster B",
                self.registry
            )))
        })
    }
}
