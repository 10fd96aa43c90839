//! The sandbox of a `velero-registry` rehearsal: clusters A and B (kubeconfig contexts `a` and
//! `b`) running the EPAM Digital Registries Platform, A with the registry and B with the
//! branch of its version in `cluster-mgmt`; each cluster's own object storage (a real S3 server
//! over a folder, holding the bucket `<registry>-backups` that its Velero location's `s3Url`
//! names); A's Keycloak realms, which `kc.sh export` in A's Keycloak pod exports, and B's
//! Keycloak admin API.
//!
//! Like the 3scale sandbox it is thrown away ([`RegistrySandbox::start`]) or kept in its
//! folder ([`RegistrySandbox::create`]), started again on the same ports by
//! [`RegistrySandbox::resume`] (the journal's facts and the config name them) and removed by
//! `discard`. Every server here runs inside this process, so a kill -9 frees its ports at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use super::manifest::{self, Manifest, REGISTRY_RUNBOOK, SavedRegistry, State};
use super::world::{on_port, start_cluster};
use crate::error::bad_input;
use crate::infra::s3::S3Client;
use crate::sim::installation::{
    POSTGRES_CLUSTERS, Platform, install, platform_objects, postgres_password, registry_codebase,
    registry_namespace,
};
use crate::sim::keycloak::{
    KeycloakServer, KeycloakSpec, KeycloakStore, RegistryRealms, allow_export,
};
use crate::sim::kubeconfig::write_kubeconfig;
use crate::sim::postgres_pod::{PgRoles, allow_psql};
use crate::sim::s3::S3Server;
use crate::sim::server::SimCluster;
use crate::sim::state::ClusterSpec;

/// The registry a new registry sandbox moves, and its version on A (and B's Platform).
pub const SANDBOX_REGISTRY: &str = "abc-02";
pub const SANDBOX_REGISTRY_VERSION: &str = "1.9.7";
/// The Platform's namespace on both clusters.
pub const PLATFORM_NAMESPACE: &str = "control-plane";
/// The clusters' wildcard domains.
pub const A_DOMAIN: &str = "apps.a.sandbox.test";
pub const B_DOMAIN: &str = "apps.b.sandbox.test";
/// The kubeconfig contexts of the two clusters: the Platform's procedure calls them A and B.
pub const REGISTRY_CLUSTERS: [&str; 2] = ["a", "b"];

/// Keycloak's admin on B, as the Platform's secret `keycloak` in `user-management` has it
/// (`sim::installation::platform_objects`).
const KEYCLOAK_ADMIN: (&str, &str) = ("admin", "keycloak-admin");
/// The pods of A's Keycloak StatefulSet, where `kc.sh export` runs.
const KEYCLOAK_POD_PREFIX: &str = "keycloak-";

/// A running registry sandbox. Dropping it stops everything it started; a kept one leaves its
/// state in its folder.
pub struct RegistrySandbox {
    // The clusters go first, then the servers they name.
    pub a: SimCluster,
    pub b: Arc<SimCluster>,
    pub kubeconfig: PathBuf,
    pub registry: String,
    pub version: String,
    /// Each cluster's object storage.
    pub storage_a: S3Server,
    pub storage_b: S3Server,
    /// B's Keycloak admin API.
    pub keycloak: KeycloakServer,
    /// A's Keycloak realms (what `kc.sh export` exports).
    pub keycloak_a: KeycloakStore,
    dir: PathBuf,
    kept: bool,
}

/// How [`RegistrySandbox::build`] comes by its servers and objects.
enum Making<'a> {
    Throwaway,
    /// Kept, its volumes holding this many bytes each.
    Kept(usize),
    Again(&'a Manifest),
}

impl RegistrySandbox {
    /// Starts a registry sandbox in `dir`; everything goes when it is dropped (the folder is
    /// the caller's).
    pub async fn start(dir: &Path) -> Result<RegistrySandbox> {
        Self::build(dir, Making::Throwaway).await
    }

    /// As [`RegistrySandbox::start`], kept in `dir` for [`RegistrySandbox::resume`]; a start
    /// that fails removes what it made.
    pub async fn create(dir: &Path) -> Result<RegistrySandbox> {
        Self::create_with(dir, super::options::REGISTRY_VOLUME_BYTES).await
    }

    /// As [`RegistrySandbox::create`], each volume Velero backs up by file system on A holding
    /// `volume_bytes` (kept for a resume).
    pub async fn create_with(dir: &Path, volume_bytes: usize) -> Result<RegistrySandbox> {
        match Self::build(dir, Making::Kept(volume_bytes)).await {
            Ok(sandbox) => Ok(sandbox),
            Err(e) => {
                for left in super::world::discard(dir, "its start failed") {
                    tracing::warn!("{left}");
                }
                Err(e)
            }
        }
    }

    /// Starts the kept registry sandbox in `dir` again: the clusters' objects, the buckets'
    /// objects and the Keycloaks' realms as they were left, every server on the port it had.
    /// What cannot start again is bad input naming it.
    pub async fn resume(dir: &Path) -> Result<RegistrySandbox> {
        let manifest =
            super::world::ready_manifest(dir, "its start was cut short before it was ready")?;
        let Some(saved) = &manifest.registry else {
            return Err(bad_input(
                "its manifest names no registry (not a registry sandbox)".to_string(),
            ));
        };
        for name in REGISTRY_CLUSTERS {
            if !manifest.clusters.contains_key(name) || !saved.object_storage.contains_key(name) {
                return Err(bad_input(format!(
                    "its manifest names no port for cluster {name} or its object storage"
                )));
            }
            for (what, path) in [
                ("objects", manifest::cluster_file(dir, name)),
                ("object storage", storage_dir(dir, name)),
            ] {
                if !path.exists() {
                    return Err(bad_input(format!(
                        "the {what} of its cluster {name} ({}) are gone",
                        path.display()
                    )));
                }
            }
        }
        if saved.keycloak.is_none() {
            return Err(bad_input(
                "its manifest names no port for cluster B's Keycloak".to_string(),
            ));
        }
        Self::build(dir, Making::Again(&manifest)).await
    }

    /// Stops the sandbox and removes its state (`discard`); returns what could not be
    /// removed. A thrown-away sandbox just stops.
    pub fn remove(self, why: &str) -> Vec<String> {
        let (dir, kept) = (self.dir.clone(), self.kept);
        drop(self);
        if kept {
            super::world::discard(&dir, why)
        } else {
            Vec::new()
        }
    }

    /// Stops the sandbox and waits until its object storages' ports are free again (a drop
    /// frees them a moment later, when their tasks are cancelled): for a restart in the same
    /// process.
    pub async fn stop(self) {
        let RegistrySandbox {
            a,
            b,
            storage_a,
            storage_b,
            keycloak,
            ..
        } = self;
        drop((a, b, keycloak));
        storage_a.stop().await;
        storage_b.stop().await;
    }

    /// The sandbox's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The bucket of the registry's Velero location, on both object storages.
    pub fn bucket(&self) -> String {
        format!("{}-backups", self.registry)
    }

    async fn build(dir: &Path, making: Making<'_>) -> Result<RegistrySandbox> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the sandbox folder {}", dir.display()))?;
        let kept = !matches!(making, Making::Throwaway);
        let fresh = !matches!(making, Making::Again(_));
        let mut manifest = match &making {
            Making::Again(m) => (*m).clone(),
            _ => Manifest {
                format: manifest::FORMAT,
                state: State::Starting,
                created: manifest::now(),
                runbook: Some(REGISTRY_RUNBOOK.to_string()),
                registry: Some(SavedRegistry {
                    name: SANDBOX_REGISTRY.to_string(),
                    version: SANDBOX_REGISTRY_VERSION.to_string(),
                    volume_bytes: match making {
                        Making::Kept(bytes) => Some(bytes),
                        _ => None,
                    },
                    ..SavedRegistry::default()
                }),
                ..Manifest::default()
            },
        };
        let saved = manifest.registry.clone().unwrap_or_default();
        let (registry, version) = (saved.name.clone(), saved.version.clone());
        // Both clusters' Platforms: the same chart defaults (keys, restic password), each
        // location's s3Url at its own cluster's object storage.
        let template = Platform::new(&registry, &version, "");
        let (access_key, secret_key) = (template.access_key.clone(), template.secret_key.clone());

        let storage = |name: &'static str| {
            let root = storage_dir(dir, name);
            let port = saved.object_storage.get(name).copied();
            let (access_key, secret_key) = (access_key.clone(), secret_key.clone());
            on_port(kept, port, move |port| {
                let (root, access_key, secret_key) =
                    (root.clone(), access_key.clone(), secret_key.clone());
                async move { S3Server::start_on(&root, &access_key, &secret_key, port).await }
            })
        };
        let storage_a = storage("a").await?;
        let storage_b = storage("b").await?;
        let keycloak_dir = dir.join("keycloak");
        std::fs::create_dir_all(&keycloak_dir)
            .with_context(|| format!("cannot create {}", keycloak_dir.display()))?;
        let keycloak_file = keycloak_dir.join("b.json");
        let keycloak = on_port(kept, saved.keycloak, |port| {
            let mut spec = KeycloakSpec::new(KEYCLOAK_ADMIN.0, KEYCLOAK_ADMIN.1)
                .state_file(keycloak_file.clone());
            if port != 0 {
                spec = spec.port(port);
            }
            KeycloakServer::start(spec)
        })
        .await?;
        if kept && fresh {
            manifest.registry = Some(SavedRegistry {
                object_storage: BTreeMap::from([
                    ("a".to_string(), storage_a.port()),
                    ("b".to_string(), storage_b.port()),
                ]),
                keycloak: Some(keycloak.port()),
                ..saved.clone()
            });
            // From here on a cut-short start leaves a manifest naming the ports to wait for.
            manifest::write(dir, &manifest)?;
        }
        let keycloak_a = KeycloakStore::open(Some(&keycloak_dir.join("a.json")))?;
        if fresh {
            for server in [&storage_a, &storage_b] {
                S3Client::new(&server.client_endpoint(), &format!("{registry}-backups"))?
                    .create_bucket()
                    .await
                    .with_context(|| {
                        format!("cannot create the bucket in {}", server.endpoint())
                    })?;
            }
            keycloak_a.seed_registry(&RegistryRealms::new(&registry))?;
        }

        let volume_bytes = saved
            .volume_bytes
            .unwrap_or(super::options::REGISTRY_VOLUME_BYTES);
        let cluster = |name: &'static str| {
            let mut spec = ClusterSpec::new(name)
                .namespace(PLATFORM_NAMESPACE)
                .pod_delays(Duration::from_millis(200), Duration::from_millis(200));
            spec.velero_volume_bytes = volume_bytes;
            let port = manifest.clusters.get(name).copied();
            start_cluster(spec, kept.then_some((dir, port)))
        };
        let a = cluster("a").await?;
        let b = Arc::new(cluster("b").await?);
        if fresh {
            let mut a_objects =
                platform_objects(&Platform::new(&registry, &version, &storage_a.endpoint()));
            a_objects.extend(registry_codebase(&registry, &version, PLATFORM_NAMESPACE));
            a_objects.extend(registry_namespace(&registry, A_DOMAIN));
            install(&a, a_objects).context("cannot install the Platform on cluster A")?;
            let b_objects =
                platform_objects(&Platform::new(&registry, &version, &storage_b.endpoint()));
            install(&b, b_objects).context("cannot install the Platform on cluster B")?;
        }
        // B's PostgreSQL instances, restored from A's volumes, start with A's role passwords.
        let roles = PgRoles::open(&dir.join(manifest::POSTGRES_ROLES_FILE))?;
        for cluster in POSTGRES_CLUSTERS {
            if roles.password(cluster).is_none() {
                roles.set(cluster, &postgres_password(cluster));
            }
            allow_psql(
                &b,
                &registry,
                &format!("{cluster}-instance1"),
                cluster,
                &roles,
            );
        }
        allow_export(
            &a,
            &template.keycloak_namespace,
            KEYCLOAK_POD_PREFIX,
            &keycloak_a,
        );
        let kubeconfig = dir.join("kubeconfig");
        write_kubeconfig(&kubeconfig, &[("a", &a), ("b", &*b)])?;
        write_secrets(dir, &access_key, &secret_key)?;
        if kept {
            manifest.clusters = [("a", &a), ("b", &*b)]
                .iter()
                .map(|(name, c)| (name.to_string(), c.addr().port()))
                .collect();
            manifest.state = State::Ready;
            manifest::write(dir, &manifest)?;
        }
        Ok(RegistrySandbox {
            a,
            b,
            kubeconfig,
            registry,
            version,
            storage_a,
            storage_b,
            keycloak,
            keycloak_a,
            dir: dir.to_path_buf(),
            kept,
        })
    }
}

/// What creating the registry in B's control-plane-console leaves that restore-registry needs:
/// the registry's namespace on B, which the Platform's operators create for the console's new
/// Codebase (the restore applies A's saved Codebase, Gerrit and Jenkins objects into it).
/// Confirmed again, it changes nothing.
pub fn create_in_console(b: &SimCluster, registry: &str) -> Result<()> {
    let namespace = registry_namespace(registry, B_DOMAIN)
        .into_iter()
        .filter(|o| o["kind"] == "Namespace")
        .collect();
    install(b, namespace).context("cannot create the registry's namespace on cluster B")
}

/// The folder of cluster `name`'s object storage.
pub fn storage_dir(dir: &Path, name: &str) -> PathBuf {
    dir.join("s3").join(name)
}

/// A secret the config names (`file:`), in the sandbox's `secrets/`.
pub fn secret_file(dir: &Path, name: &str) -> PathBuf {
    dir.join("secrets").join(name)
}

/// The files the config's `file:` references name, mode 0600.
pub(super) const SECRETS: [&str; 6] = [
    "a-access-key",
    "a-secret-key",
    "b-access-key",
    "b-secret-key",
    "keycloak-admin-user",
    "keycloak-admin-password",
];

fn write_secrets(dir: &Path, access_key: &str, secret_key: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let values = [
        access_key,
        secret_key,
        access_key,
        secret_key,
        KEYCLOAK_ADMIN.0,
        KEYCLOAK_ADMIN.1,
    ];
    std::fs::create_dir_all(dir.join("secrets"))
        .with_context(|| format!("cannot create {}", dir.join("secrets").display()))?;
    for (name, value) in SECRETS.iter().zip(values) {
        let path = secret_file(dir, name);
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(value.as_bytes()))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
