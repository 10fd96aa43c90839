//! Printing that never panics: a closed stdout (`cutover status | head`) or
//! stderr must not bring the process down in the middle of a migration. What
//! cannot be printed is dropped; the journal and `logs/` keep the record.

use std::io::Write;

/// Writes to stdout; false when stdout is gone.
pub fn stdout(text: &str) -> bool {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .is_ok()
}

/// Writes to stderr; false when stderr is gone.
pub fn stderr(text: &str) -> bool {
    let mut err = std::io::stderr().lock();
    err.write_all(text.as_bytes())
        .and_then(|_| err.flush())
        .is_ok()
}

/// `print!` that never panics.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{ let _ = $crate::output::stdout(&format!($($arg)*)); }};
}

/// `println!` that never panics.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{ let _ = $crate::output::stdout(&format!("{}\n", format_args!($($arg)*))); }};
}

/// `eprintln!` that never panics.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{ let _ = $crate::output::stderr(&format!("{}\n", format_args!($($arg)*))); }};
}

/// `eprint!` that never panics.
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => {{ let _ = $crate::output::stderr(&format!($($arg)*)); }};
}
