//! Queue depths of the seeded installation: the same reading the product makes (see
//! `crate::infra::queues`), so the sandbox's figures are the drain step's and the live panel's.

pub use crate::infra::queues::{RESQUE_QUEUES, SIDEKIQ_QUEUES, queue_depths};
