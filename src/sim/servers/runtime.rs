//! Running async database calls from blocking code, inside or outside a tokio runtime.

use std::future::Future;

use anyhow::Context;

/// Runs a future to completion on a fresh thread with its own runtime, so that blocking calls
/// and `Drop` work the same inside a tokio runtime (either flavour) and outside one.
///
/// A panic of the future is passed on to the caller.
pub fn block_on<F, T>(make: impl FnOnce() -> F + Send) -> anyhow::Result<T>
where
    F: Future<Output = T>,
    T: Send,
{
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot build a tokio runtime to talk to the database server")?;
            Ok(runtime.block_on(make()))
        });
        worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
