//! The prerequisites' inventory: what the later steps act on, read from the clusters
//! (not from the operator) and recorded once in the journal.
//!
//! - the 3scale version at the source and the destination, and on the migration
//!   cluster once 3scale is installed there;
//! - the workloads of the source namespace: which of the 3scale workloads exist, as
//!   DeploymentConfigs (3scale 2.14 and earlier) or Deployments (2.15 and later), with
//!   their replicas, and any other workload found there;
//! - where each data store is, from the source's secrets (3scale-operator's secrets): in the
//!   namespace (a service such as `system-postgresql`) or outside it, with its scheme,
//!   host, port and database. Never the user or the password: the URL is redacted
//!   before it is parsed, and the steps that need a store read it from its secret at
//!   the moment of use ([`store_url`]).
//!
//! The fact `inventory` of step `inventory` ([`Inventory`], schema 1):
//!
//! ```json
//! {
//!   "schema": 1,
//!   "namespace": "3scale",
//!   "versions": {
//!     "source": {"version": "2.14", "read_from": "APIManager 3scale, annotation ..."},
//!     "destination": {"version": "2.16", "read_from": "..."},
//!     "migration_cluster": null
//!   },
//!   "workload_kind": "DeploymentConfig",
//!   "workloads": [
//!     {"name": "apicast-production", "kind": "DeploymentConfig", "replicas": 2, "known": true}
//!   ],
//!   "stores": [
//!     {"secret": "system-database", "key": "URL", "location": "internal",
//!      "scheme": "postgresql", "host": "system-postgresql", "port": 5432,
//!      "database": "system", "workload": "system-postgresql", "sentinel": false}
//!   ],
//!   "permissions": {"checked": 47, "denied": []},
//!   "warnings": ["secret zync is not in namespace 3scale ..."]
//! }
//! ```
//!
//! `kind` is `Deployment` or `DeploymentConfig`; `known` is false for a workload that is
//! not one of 3scale's. `location` is `internal`, `external` or `unknown` (a value that
//! is not a URL); `port` is the one written or the scheme's default; `database` is the
//! path of the URL (the Redis database number, `0` when not written); `workload` names
//! the workload of the namespace that serves an internal store, when there is one;
//! `sentinel` says that the secret also lists Redis Sentinel hosts (then `host` is the
//! master group's name). A store whose secret or key is absent is left out of `stores`
//! and named in `warnings`.
//!
//! `record` is the fact and how later steps read it, `locate` finds where a store is, `take` is
//! the step.

mod locate;
mod record;
mod take;

pub use record::{
    FACT, Inventory, Location, Permissions, SCHEMA, STEP, STORE_KEYS, StoreLocation,
    THREESCALE_WORKLOADS, VersionFound, Versions, Workload, recorded, store_url,
};
pub(super) use take::INVENTORY;
