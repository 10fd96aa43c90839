//! How one post-restore fix ended.

/// How one fix ended.
pub enum Fix {
    /// Changed now, and checked.
    Done(String),
    /// Nothing to change.
    Already(String),
    /// Cannot be done here: the step fails with this.
    Problem(String),
    /// Left to the operator.
    ByHand(String),
    /// The operator paused.
    Stopped(String),
}
