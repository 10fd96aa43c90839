//! Who writes a journal entry: the operator, this host and this process, recorded on every
//! line and in the lock.

/// Who writes the entries of this process: recorded on every line.
#[derive(Clone, Debug)]
pub struct Identity {
    pub operator: String,
    pub host: String,
    pub pid: u32,
}

impl Identity {
    pub fn of_this_process(operator: &str) -> Identity {
        Identity {
            operator: operator.to_string(),
            host: hostname(),
            pid: std::process::id(),
        }
    }
}

/// This machine's host name.
pub fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}
