//! How often the monitors read, and how long one reading may take.

use std::time::Duration;

/// How often the monitors read, and how long one reading may take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorOptions {
    /// Between two readings of the queue depths (default 1 s).
    pub queue_interval: Duration,
    /// Between two readings of the workloads and their pods (default 2 s).
    pub pod_interval: Duration,
    /// Connecting to a store or cluster, and then each reading, before it counts as no answer
    /// (default 5 s).
    pub timeout: Duration,
}

impl Default for MonitorOptions {
    fn default() -> MonitorOptions {
        MonitorOptions {
            queue_interval: Duration::from_secs(1),
            pod_interval: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
        }
    }
}
