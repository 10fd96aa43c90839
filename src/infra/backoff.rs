//! The wait between readings of something that polls (the live panels' monitors, the drain):
//! its interval while readings work, doubling after each failure up to [`MAX_BACKOFF`].

use std::time::Duration;

use tokio::time::{Interval, MissedTickBehavior};

/// The longest wait between two attempts of a poller that keeps failing.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Ticks at the poller's interval; after a failure, waits its backoff first.
pub struct Pacer {
    ticker: Interval,
    interval: Duration,
    failures: u32,
}

impl Pacer {
    pub fn new(interval: Duration) -> Pacer {
        // A zero period would make `interval` panic and a monitor spin.
        let interval = interval.max(Duration::from_millis(10));
        let mut ticker = tokio::time::interval(interval);
        // A reading that took longer than the interval (or a suspended laptop) shifts the
        // next ones instead of firing a burst to catch up.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Pacer {
            ticker,
            interval,
            failures: 0,
        }
    }

    /// Waits until the next reading is due (the first one is due at once).
    pub async fn tick(&mut self) {
        self.ticker.tick().await;
    }

    /// A reading worked: back to the interval.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// A reading failed: waits the backoff, then the next tick is due at once.
    pub async fn failed(&mut self) {
        self.failures = self.failures.saturating_add(1);
        tokio::time::sleep(backoff(self.interval, self.failures)).await;
        self.ticker.reset_immediately();
    }
}

/// The wait after the `failures`-th failure in a row: the interval (at least one second),
/// doubled each time, at most `MAX_BACKOFF`.
pub fn backoff(interval: Duration, failures: u32) -> Duration {
    let base = interval.max(Duration::from_secs(1));
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    base.saturating_mul(factor).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let s = Duration::from_secs;
        let waits: Vec<Duration> = (1..=6).map(|n| backoff(s(1), n)).collect();
        assert_eq!(waits, [s(1), s(2), s(4), s(8), s(10), s(10)]);
        assert_eq!(backoff(s(2), 1), s(2));
        assert_eq!(backoff(Duration::from_millis(100), 1), s(1));
        assert_eq!(backoff(s(1), u32::MAX), s(10));
    }
}
