//! Loopback ports for the servers started here.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use anyhow::Context;

/// How many times a starter tries another port when the one it picked was taken meanwhile.
pub(super) const PORT_ATTEMPTS: u32 = 5;

/// A loopback port nobody listened on a moment ago.
///
/// Another process may take it before the caller binds it; the starters here check that the
/// server which answers is their own and try another port when it is not.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .context("cannot bind a loopback port to find a free one (is 127.0.0.1 configured?)")?;
    Ok(listener
        .local_addr()
        .context("cannot read the address of a loopback listener")?
        .port())
}

/// A free loopback port outside the kernel's ephemeral range, for a server that is stopped and
/// started again on the same port (a kept sandbox): the kernel hands ports of that range to
/// outgoing connections, which could hold the port while the server is stopped; below it only
/// a server listening on purpose takes it.
pub fn stable_port() -> anyhow::Result<u16> {
    let (low, high) = ephemeral_range();
    // Above the well-known servers' ports (PostgreSQL 5432, Redis 6379, MariaDB 3306...).
    let (from, to) = if low > 12_000 {
        (10_000, low - 1)
    } else {
        (high.saturating_add(1).max(1024), 65_535)
    };
    let span = u32::from(to.saturating_sub(from)) + 1;
    let mut seed = seed();
    for _ in 0..200 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let port = from + u16::try_from(seed % u64::from(span)).unwrap_or(0);
        if is_free(port) {
            return Ok(port);
        }
    }
    anyhow::bail!("no free loopback port between {from} and {to} after 200 tries")
}

/// Ok when `port` is free on loopback; else an error (bad input: the machine's state) that says
/// how to find who holds it.
pub fn ensure_free(port: u16) -> anyhow::Result<()> {
    if is_free(port) {
        return Ok(());
    }
    Err(crate::error::bad_input(format!(
        "port {port} is taken by another process; stop it (`ss -ltnp 'sport = :{port}'` names \
         it) and try again"
    )))
}

/// Whether a listener can bind `port` on loopback now.
pub fn is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Waits (up to `patience`) until every port in `ports` is free; returns those still taken.
/// A server of an earlier run that is being stopped (by its watchdog, after its owner was
/// killed) lets its port go within seconds.
pub fn wait_until_free(ports: &[u16], patience: Duration) -> Vec<u16> {
    let start = Instant::now();
    loop {
        let taken: Vec<u16> = ports.iter().copied().filter(|p| !is_free(*p)).collect();
        if taken.is_empty() || start.elapsed() >= patience {
            return taken;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The kernel's range of ports for outgoing connections (Linux's default when unreadable).
fn ephemeral_range() -> (u16, u16) {
    let text =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut parts = text
        .split_whitespace()
        .filter_map(|p| p.parse::<u16>().ok());
    match (parts.next(), parts.next()) {
        (Some(low), Some(high)) if low <= high => (low, high),
        _ => (32_768, 60_999),
    }
}

/// A seed that differs between processes and calls.
fn seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9e37_79b9_7f4a_7c15);
    let calls = CALLS.fetch_add(1, Ordering::Relaxed);
    (nanos ^ (u64::from(std::process::id()) << 32) ^ calls.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stable_port_is_outside_the_ephemeral_range_and_free() {
        let (low, high) = ephemeral_range();
        for _ in 0..20 {
            let port = stable_port().expect("a port");
            assert!(port < low || port > high, "{port} in {low}-{high}");
            assert!(port >= 1024, "{port}");
        }
    }
}
