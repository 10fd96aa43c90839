//! Loopback ports for the servers started here.

use std::net::TcpListener;

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
