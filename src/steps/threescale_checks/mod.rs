//! The four destination checks that go through 3scale's APIs on RHOAM's 3scale, after
//! `configure-destination-3scale`: `check-master-plan`, `check-master-access`,
//! `check-default-tenant` and `check-sso-integrations`. All read; only `check-master-plan`
//! offers a change (porta's `plan_upgrade`), behind a typed question. `verify` is the
//! automated part of `verify-installation` (routes, and a call through a product's gateway).
//!
//! What they share is in `api`: the tokens of secret `system-seed` in the destination namespace
//! (`MASTER_ACCESS_TOKEN`, `ADMIN_ACCESS_TOKEN`; after push-secrets, the source's, which the
//! seeded database holds), the hosts (`<MASTER_DOMAIN>.<wildcard>` and RHOAM's tenant's
//! `3scale-admin.<wildcard>`), the client ([`crate::infra::threescale_api`], connecting to
//! `destination.threescale_api` when the config names it) and how porta's refusals read. No
//! token is ever written anywhere: a refused token is named by its secret and key.

mod access;
mod api;
mod master_plan;
mod sso;
mod verify;

pub(super) use access::{CHECK_DEFAULT_TENANT, CHECK_MASTER_ACCESS};
pub use api::{ADMIN_TOKEN_KEY, FACT, MASTER_TOKEN_KEY, SEED_SECRET};
pub(super) use master_plan::CHECK_MASTER_PLAN;
pub(super) use sso::CHECK_SSO_INTEGRATIONS;
pub(super) use verify::VERIFY_INSTALLATION;
pub use verify::{PHRASE as VERIFIED_PHRASE, VERIFIED_FACT};
