//! Signals to processes the tests started; the rest of process handling (binaries, watchdogs,
//! bounded waits) lives in `cutover::sim::servers`.

/// Sends `signal` to the process `pid`, which the test started; panics when it cannot.
pub fn signal(pid: u32, signal: rustix::process::Signal) {
    if let Err(e) = cutover::sim::servers::signal(pid, signal) {
        panic!("{e:#}");
    }
}
