//! The 3scale secrets: `dump-secrets` exports them from the source, encrypted with age, and
//! `push-secrets` puts the ones that must match the migrated data onto the destination.
//!
//! Export (the objects of 3scale-operator's `pkg/3scale/amp/component`): the secrets system-seed, system-app, system-master-apicast,
//! system-database, system-redis, backend-redis, backend-internal-api, backend-listener,
//! system-events-hook, system-smtp, system-recaptcha, system-memcache and zync, the S3
//! file-storage secret the APIManager names, the configmaps system-environment,
//! apicast-environment, system, backend-environment and redis-config, and every APIManager.
//! An absent object is noted, not an error (2.16 has no redis-config, RHOAM-like installs no
//! S3 secret). The server-owned fields (uid, resourceVersion, creationTimestamp, managedFields,
//! ownerReferences, namespace, selfLink, generation, status, the last-applied annotation, which
//! repeats the data in clear) are dropped so the objects apply on another cluster. Each object
//! is serialized in memory and encrypted on its way to `<dumps>/secrets/<kind>-<name>.json.age`
//! (the `.partial` holds ciphertext too, mode 0600), listed in `manifest.json` with its number of
//! data keys; the fact `exported` lists the objects with their key NAMES, never a value.
//!
//! Push (a RHOAM destination): only the secrets whose values the migrated data depends on are
//! replaced: system-seed (master and admin tokens and passwords, rows of the database),
//! system-app (SECRET_KEY_BASE, which signs the sessions and encrypted columns), system-master-
//! apicast (the master token APIcast reads its configuration with, a row of the database) and
//! system-recaptcha (the customer's keys). The 3scale operator's own restore never restores
//! system-database, backend-redis, system-redis or system-memcache, which point at the
//! destination's stores; on RHOAM the same holds for zync (its own database), backend-listener
//! (its routes), backend-internal-api and system-events-hook (shared only between RHOAM's own
//! components, in no data), system-smtp (RHOAM's mail relay), the S3 secret (RHOAM's bucket),
//! the configmaps and the APIManager, which the RHOAM operator reconciles: pushing those would
//! break RHOAM, so they stay in the dump as a record. RHOAM keeps copies of system-seed and
//! system-master-apicast in `redhat-rhoam-operator` and restores the 3scale namespace's from
//! them, so those copies are replaced too (when absent there, RHOAM copies the new values
//! itself).
//!
//! Without a secrets dump in the dump folder (dump-secrets was the other party's and its dump
//! has not arrived), the push offers to export the source first when the config names the
//! source cluster (the operator types `export now`), as the database restore offers a dump.
//! Before anything: every artifact under `secrets/` is checked against the manifest (a changed
//! byte stops the push, naming the file); the dump is decrypted in memory with the operator's
//! identity (`dumps.age_identity`). RHOAM runs tenant `3scale` with master domain `master`; a
//! source whose system-seed TENANT_NAME or MASTER_DOMAIN differs from the destination's is
//! refused (the database's provider and master accounts carry those names; renaming a tenant is
//! not part of this migration). The diff (per secret, the key names added, changed and
//! removed; never a value) is shown and the operator types `push N secrets`; the destination's
//! current secrets are saved encrypted to `<dumps>/destination-secrets-before/` first (once: a
//! retry keeps the first copy), then each is replaced (PUT), keeping its labels, annotations and
//! owner references, with exactly the source's data. Afterwards each is read back and compared
//! in memory. Resume re-check: the export holds when every recorded file matches the manifest;
//! the push when every target holds the source's data.
//!
//! Before the diff, the push checks that the migrated database (the destination's, after the
//! seed) holds the source's `MASTER_ACCESS_TOKEN` and `ADMIN_ACCESS_TOKEN` as `rw` tokens of the
//! master and tenant admin users (by SHA-256 digest; see `tokens`): RHOAM calls 3scale with them.
//!
//! `objects` says what is exported, `dump` exports it, `push` pushes it, `tokens` checks the
//! tokens.

mod dump;
mod objects;
mod push;
mod restore;
mod tokens;

pub(super) use dump::DUMP_SECRETS;
pub use objects::{
    BEFORE_FOLDER, CONFIGMAPS, EXPORT_FACT, ExportRecord, Exported, FOLDER, NEVER_PUSHED,
    PUSH_FACT, PUSHED, RHOAM_COPIES, RHOAM_OPERATOR_NAMESPACE, SECRETS,
};
pub(super) use push::PUSH_SECRETS;
pub use restore::{Dumped, RESTORED_CONFIGMAPS, RESTORED_SECRETS, dumped};
