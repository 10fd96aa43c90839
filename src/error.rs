//! Exit codes of the CLI contract and the error marker that selects code 2.

use std::fmt;

/// The process exit codes (README, "Commands").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    Success = 0,
    /// A step or check failed.
    Failed = 1,
    /// Bad input: config, arguments, journal.
    BadInput = 2,
    /// Interrupted, or waiting for a gate in headless mode.
    Waiting = 3,
}

/// Marks an error as the input's fault (exit code 2). The message says what is
/// wrong and what to do; context added on top of it is kept.
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// `anyhow::Error` for bad input.
pub fn bad_input(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(BadInput(message.into()))
}

/// The exit code an error maps to: 2 when any error in its chain is bad input.
pub fn exit_code_of(err: &anyhow::Error) -> ExitCode {
    if err.chain().any(|e| e.is::<BadInput>()) {
        ExitCode::BadInput
    } else {
        ExitCode::Failed
    }
}

/// `?`-friendly conversion of any error into bad input, keeping its message.
pub trait OrBadInput<T> {
    fn or_bad_input(self) -> anyhow::Result<T>;
}

impl<T, E: fmt::Display> OrBadInput<T> for Result<T, E> {
    fn or_bad_input(self) -> anyhow::Result<T> {
        self.map_err(|e| bad_input(e.to_string()))
    }
}
