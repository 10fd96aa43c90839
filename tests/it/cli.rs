//! Running the real `cutover` binary against a migration folder of the test's own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

use std::time::Duration;

use cutover::sim::installation::{
    ExternalStores, InternalDatabases, destination_objects, install, source_objects,
};
use cutover::sim::{ClusterSpec, SimCluster, write_kubeconfig};

use crate::support::cutover_bin;

/// A config file and a state folder in a temporary directory.
pub struct Migration {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub name: String,
    env: Vec<(String, String)>,
    /// The simulated clusters behind the kubeconfigs, once started.
    pub clusters: Option<Clusters>,
}

/// What a run of the binary printed and how it exited.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document: {e}\n{}", self.stdout))
    }

    /// Panics with everything printed when the exit code is not `code`.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "exit code {} (wanted {code})\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

impl Migration {
    /// A migration whose config is `toml`; `{dir}` in it is replaced by the temp dir.
    pub fn new(name: &str, toml: &str) -> Migration {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = dir.path().join("cutover.toml");
        let text = toml.replace("{dir}", &dir.path().display().to_string());
        std::fs::write(&config, text).expect("write the config");
        Migration {
            dir,
            config,
            name: name.to_string(),
            env: Vec::new(),
            clusters: None,
        }
    }

    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn migration_dir(&self) -> PathBuf {
        self.state_dir().join(&self.name)
    }

    pub fn journal_path(&self) -> PathBuf {
        self.migration_dir().join("journal.jsonl")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(cutover_bin());
        cmd.arg("--config")
            .arg(&self.config)
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(args)
            .env_remove("CUTOVER_CONFIG")
            .env_remove("CUTOVER_STATE_DIR")
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().expect("run cutover");
        Run::from(out)
    }

    /// `cutover run --headless --until step`, confirming the step's gate with `phrase`.
    pub fn run_confirmed(&self, step: &str, phrase: &str) -> Run {
        self.run(&[
            "run",
            "--headless",
            "--until",
            step,
            "--confirm",
            &format!("{step}={phrase}"),
        ])
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn cutover")
    }

    /// The journal's complete lines, parsed. A line that does not parse panics,
    /// except a last line without a newline (torn), which is returned separately.
    pub fn journal(&self) -> (Vec<Value>, Option<String>) {
        read_journal(&self.journal_path())
    }

    pub fn status(&self) -> Value {
        self.run(&["status", "--format", "json"])
            .expect_code(0)
            .json()
    }
}

pub fn read_journal(path: &Path) -> (Vec<Value>, Option<String>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut entries = Vec::new();
    let mut torn = None;
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str::<Value>(line) {
            Ok(v) => entries.push(v),
            Err(_) if i + 1 == lines.len() && !complete => torn = Some(line.to_string()),
            Err(_) => {
                // A torn line acknowledged by a later entry is part of the format.
                let acknowledged = lines.iter().any(|l| {
                    serde_json::from_str::<Value>(l).is_ok_and(|v| {
                        v["event"] == "torn-line-found" && v["line"] == (i as u64 + 1)
                    })
                });
                assert!(acknowledged, "journal line {} is not JSON: {line}", i + 1);
            }
        }
    }
    (entries, torn)
}

/// Entries of one kind about one step.
pub fn events<'a>(entries: &'a [Value], event: &str, step: &str) -> Vec<&'a Value> {
    entries
        .iter()
        .filter(|e| e["event"] == event && e["step"] == step)
        .collect()
}

/// The status entry of one step in `status --format json`.
pub fn step<'a>(status: &'a Value, id: &str) -> &'a Value {
    status["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == id))
        .unwrap_or_else(|| panic!("step {id} not in status: {status}"))
}

/// A 3scale migration config for tests. `source_extra` goes into [source].
pub fn threescale_toml(name: &str, party: &str, path: &str, source_extra: &str) -> String {
    format!(
        r#"[migration]
name = "{name}"
runbook = "threescale-rhoam"
access_path = "{path}"
party = "{party}"
operator = "Test Operator"

[source]
kubeconfig = "{{dir}}/kube-source"
context = "src"
namespace = "3scale"
wildcard_domain = "apps.source.test"
system_database_kind = "postgresql"
{source_extra}

[migration_cluster]
kubeconfig = "{{dir}}/kube-migration"
context = "mig"
namespace = "3scale"
wildcard_domain = "apps.migration.test"

[destination]
kubeconfig = "{{dir}}/kube-destination"
context = "dst"
namespace = "redhat-rhoam-3scale"
wildcard_domain = "apps.rhoam.test"

[stop_traffic]
backend_route = "keep"

[dumps]
folder = "{{dir}}/dumps"
"#
    )
}

/// Three simulated clusters behind the kubeconfigs `threescale_toml` refers to, with a
/// 3scale 2.14 source and a RHOAM destination installed; they serve as long as the
/// returned value lives.
pub struct Clusters {
    pub source: SimCluster,
    /// Serves the migration cluster's kubeconfig, empty until a test installs there.
    pub migration: SimCluster,
    pub destination: SimCluster,
    // Dropped last: the clusters' tasks run on it.
    _runtime: tokio::runtime::Runtime,
}

pub fn write_kubeconfigs(m: &mut Migration) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime for the simulated clusters");
    let start = |name: &str, ns: &str, file: &str| {
        let spec = ClusterSpec::new(name)
            .namespace(ns)
            .pod_delays(Duration::from_millis(50), Duration::from_millis(50));
        let sim = runtime
            .block_on(SimCluster::start(spec))
            .unwrap_or_else(|e| panic!("the simulated cluster {name} does not start: {e:#}"));
        write_kubeconfig(&m.dir.path().join(file), &[(name, &sim)]).expect("write kubeconfig");
        sim
    };
    let source = start("src", "3scale", "kube-source");
    let migration = start("mig", "3scale", "kube-migration");
    let destination = start("dst", "redhat-rhoam-3scale", "kube-destination");
    // A 3scale 2.14 source and a RHOAM destination, so that the inventory finds them.
    install(
        &source,
        source_objects("3scale", "apps.source.test", &InternalDatabases::default()),
    )
    .expect("install the source's 3scale");
    let stores = ExternalStores {
        system_database: "postgresql://rhoam@rds.rhoam.test:5432/system".into(),
        backend_redis_storage: "redis://backend.cache.rhoam.test:6379/0".into(),
        backend_redis_queues: "redis://backend.cache.rhoam.test:6379/1".into(),
        system_redis: "redis://system.cache.rhoam.test:6379/1".into(),
        zync_database: "postgresql://zync@rds.rhoam.test:5432/zync_production".into(),
    };
    install(
        &destination,
        destination_objects("redhat-rhoam-3scale", "apps.rhoam.test", &stores),
    )
    .expect("install the destination's 3scale");
    m.clusters = Some(Clusters {
        source,
        migration,
        destination,
        _runtime: runtime,
    });
}

/// Polls `probe` every 20 ms until it holds; panics naming `what` after 60 s.
/// A bound against hanging, never a timing assertion.
pub fn wait_until(what: &str, mut probe: impl FnMut() -> bool) {
    for _ in 0..3000 {
        if probe() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("gave up waiting for {what}");
}

/// A run of the binary going on in the background, its output collected as it comes.
pub struct Background {
    child: Child,
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn collect(
    from: impl std::io::Read + Send + 'static,
    into: std::sync::Arc<std::sync::Mutex<String>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(from).lines().map_while(Result::ok) {
            if let Ok(mut text) = into.lock() {
                text.push_str(&line);
                text.push('\n');
            }
        }
    })
}

impl Background {
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What the run has printed on stdout so far.
    pub fn stdout_so_far(&self) -> String {
        self.stdout.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn finish(mut self) -> Run {
        let status = self.child.wait().expect("wait for cutover");
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let take = |s: &std::sync::Arc<std::sync::Mutex<String>>| {
            s.lock().map(|s| s.clone()).unwrap_or_default()
        };
        Run {
            code: status.code().unwrap_or(-1),
            stdout: take(&self.stdout),
            stderr: take(&self.stderr),
        }
    }
}

pub trait SpawnCaptured {
    fn output_in_background(self) -> Background;
}

impl SpawnCaptured for Command {
    fn output_in_background(mut self) -> Background {
        let mut child = self
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cutover");
        let stdout = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(collect(out, stdout.clone()));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(collect(err, stderr.clone()));
        }
        Background {
            child,
            stdout,
            stderr,
            readers,
        }
    }
}

/// The step the plan runs right after `id`.
pub fn step_after(m: &Migration, id: &str) -> String {
    let mut config = cutover::config::Config::load(&m.config).expect("the test config loads");
    config.set_state_dir(m.state_dir());
    let steps = cutover::plan::plan(&config);
    let at = steps
        .iter()
        .position(|p| p.step.id.0 == id)
        .unwrap_or_else(|| panic!("{id} is a step of this path"));
    steps[at + 1].step.id.0.to_string()
}

/// The migration's config (with its state folder) and its journal, opened for appending as
/// the test's own operator.
pub fn open_journal(m: &Migration) -> (cutover::config::Config, cutover::journal::Journal) {
    use cutover::config::Config;
    use cutover::journal::{Header, Identity, Journal};
    let mut config = Config::load(&m.config).expect("the test config loads");
    config.set_state_dir(m.state_dir());
    let header = Header {
        migration: config.name.clone(),
        runbook: config.runbook,
        access_path: config.access_path,
    };
    let (journal, _) = Journal::open(
        &config.migration_dir(),
        &header,
        Identity::of_this_process("Test Operator"),
    )
    .expect("the journal opens");
    (config, journal)
}

/// Records the steps from `from` (inclusive; the first step when None) up to `to` (exclusive)
/// as skipped, with the inventory step's fact when given.
pub fn skip_steps(
    m: &Migration,
    from: Option<&str>,
    to: &str,
    inventory: Option<&cutover::steps::inventory::Inventory>,
) {
    use cutover::journal::JournalEvent;
    use cutover::plan::plan;
    let (config, mut journal) = open_journal(m);
    let steps = plan(&config);
    let position = |id: &str| {
        steps
            .iter()
            .position(|p| p.step.id.0 == id)
            .unwrap_or_else(|| panic!("{id} is a step of this path"))
    };
    let start = from.map_or(0, position);
    for p in &steps[start..position(to)] {
        if p.step.id.0 == "inventory"
            && let Some(inventory) = inventory
        {
            journal
                .append(JournalEvent::StepFact {
                    step: "inventory".to_string(),
                    key: "inventory".to_string(),
                    value: serde_json::to_value(inventory).expect("the inventory as JSON"),
                })
                .expect("record the inventory");
        }
        journal
            .append(JournalEvent::StepSkipped {
                step: p.step.id.0.to_string(),
                reason: "done before this test".to_string(),
            })
            .expect("record a skipped step");
    }
}
