//! Programs a simulated pod runs in this process rather than as a local process: a command
//! whose real effect is on the cluster and its data stores (3scale's rake tasks, `sim::rake`),
//! which no local program could have. `pods/exec` reaches them like any allowed command; the
//! program gets the cluster, the pod and its environment, and answers with output and an exit
//! code as the real one prints them.

use std::sync::Arc;

use futures::future::BoxFuture;

/// What the program printed and how it ended.
#[derive(Default)]
pub struct ProgramOutput {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl ProgramOutput {
    pub fn failed(stderr: String, code: i32) -> ProgramOutput {
        ProgramOutput {
            stdout: String::new(),
            stderr,
            code,
        }
    }
}

/// A command run in-process by the simulated kubelet, in a pod of `namespace`, given what the
/// client sent on stdin (empty when the exec has none; read to its end before the program
/// runs). A program that acts on its cluster holds it weakly (the cluster holds its programs).
pub(crate) trait Program: Send + Sync {
    fn run(&self, namespace: String, stdin: Vec<u8>) -> BoxFuture<'static, ProgramOutput>;
}

/// A command in the pods whose name starts with `pod_prefix`, mapped onto a program.
#[derive(Clone)]
pub(crate) struct ProgramRule {
    pub pod_prefix: String,
    pub command: Vec<String>,
    pub program: Arc<dyn Program>,
}

impl ProgramRule {
    pub fn covers(&self, pod: &str, command: &[String]) -> bool {
        pod.starts_with(&self.pod_prefix) && command == self.command.as_slice()
    }
}
