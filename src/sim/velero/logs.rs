//! The log and results files Velero 1.9.2 uploads: logrus's text lines (gzipped), counted by
//! level as its `LogCounterHook` counts them, and a restore's results
//! (`{"errors":…,"warnings":…}`, each `{velero, cluster, namespaces}` as `pkg/restore/result.go`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// One operation's log, as logrus writes it with Velero's fields.
pub struct Log {
    field: String,
    lines: Vec<String>,
    pub warnings: usize,
    pub errors: usize,
}

fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._/@^+".contains(c))
    {
        s.to_string()
    } else {
        format!("{s:?}")
    }
}

impl Log {
    /// `field` is `backup=velero/name` or `restore=velero/name`.
    pub fn new(field: &str) -> Log {
        Log {
            field: field.to_string(),
            lines: Vec::new(),
            warnings: 0,
            errors: 0,
        }
    }

    pub fn line(&mut self, level: &str, msg: &str, fields: &[(&str, &str)]) {
        match level {
            "warning" => self.warnings += 1,
            "error" => self.errors += 1,
            _ => {}
        }
        let mut line = format!(
            "time=\"{}\" level={level} msg={} {}",
            super::super::store::now(),
            quote(msg),
            self.field
        );
        for (k, v) in fields {
            line.push_str(&format!(" {k}={}", quote(v)));
        }
        self.lines.push(line);
    }

    pub fn info(&mut self, msg: &str) {
        self.line("info", msg, &[]);
    }

    pub fn text(&self) -> String {
        let mut s = self.lines.join("\n");
        s.push('\n');
        s
    }
}

/// Warnings or errors of a restore, by where they arose (`restore.Result`).
#[derive(Default, Debug, Clone)]
pub struct Outcome {
    pub velero: Vec<String>,
    pub cluster: Vec<String>,
    pub namespaces: BTreeMap<String, Vec<String>>,
}

impl Outcome {
    /// `Result.Add`: a namespace's message, or the cluster's when the namespace is empty.
    pub fn add(&mut self, namespace: &str, message: String) {
        if namespace.is_empty() {
            self.cluster.push(message);
        } else {
            self.namespaces
                .entry(namespace.to_string())
                .or_default()
                .push(message);
        }
    }

    pub fn count(&self) -> usize {
        self.velero.len()
            + self.cluster.len()
            + self.namespaces.values().map(Vec::len).sum::<usize>()
    }

    pub fn to_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        if !self.velero.is_empty() {
            out.insert("velero".into(), json!(self.velero));
        }
        if !self.cluster.is_empty() {
            out.insert("cluster".into(), json!(self.cluster));
        }
        if !self.namespaces.is_empty() {
            out.insert("namespaces".into(), json!(self.namespaces));
        }
        Value::Object(out)
    }
}
