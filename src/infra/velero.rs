//! Velero's own objects as the `velero` CLI of the cluster's version creates them, and how to
//! read their outcome. The Backup and Restore objects are built field for field as
//! `velero backup create` and `velero restore create` of Velero 1.9 build them
//! (`pkg/cmd/cli/backup/create.go`, `pkg/cmd/cli/restore/create.go`, `pkg/builder/` and the
//! JSON tags of `pkg/apis/velero/v1/` at v1.9.2): Go's encoder keeps struct fields marked
//! `omitempty` (`spec.metadata`, `spec.hooks`, the durations), so they are there, empty.
//!
//! A backup is good only when it ended `Completed` with no error and every item backed up:
//! `velero backup create --wait` exits 0 on any final phase, so its exit code proves nothing.

use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value, json};

/// Velero's API group and version, as its objects carry it.
pub const API_VERSION: &str = "velero.io/v1";

/// A Velero server's version, read from the image of its deployment (`velero/velero:v1.9.2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct VeleroVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl VeleroVersion {
    /// The version an image reference names by its tag (`…/velero:v1.9.2`, `velero:1.9.2`);
    /// None for a digest or a tag that is not a version.
    pub fn from_image(image: &str) -> Option<VeleroVersion> {
        let last = image.rsplit('/').next()?;
        let (_, tag) = last.split_once(':')?;
        let tag = tag.split('@').next()?;
        let tag = tag.strip_prefix('v').unwrap_or(tag);
        let core = tag.split(['-', '+']).next()?;
        let mut parts = core.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = parts.next().unwrap_or("0").parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(VeleroVersion {
            major,
            minor,
            patch,
        })
    }

    /// Whether cutover builds this version's objects: 1.9 (what the Platform runs). A later
    /// minor changed the Backup's fields (file-system backup renamed, new timeouts), an earlier
    /// one has no restore progress; both are refused rather than guessed.
    pub fn check_supported(&self) -> Result<(), String> {
        if self.major == 1 && self.minor == 9 {
            Ok(())
        } else {
            Err(format!(
                "Velero {self} is not a version cutover builds objects for (1.9.x, the \
                 Platform's); Backup and Restore fields differ between minor versions, and a \
                 field the server does not know is silently dropped"
            ))
        }
    }
}

impl fmt::Display for VeleroVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A duration as Go's `time.Duration.String()` writes it for whole seconds (`720h0m0s`,
/// `5m0s`, `0s`): how `metav1.Duration` appears in an object.
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// A Go duration as Velero's objects and flags carry it (`1m0s`, `30s`, `1h30m`, `500ms`, `0`);
/// None when it is not one.
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    if text.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..end].parse().ok()?;
        rest = &rest[end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += number * seconds;
        rest = &rest[unit_end..];
    }
    Some(Duration::from_secs_f64(total))
}

/// `velero backup create <name> --include-namespaces <ns,…> --storage-location <location>
/// --ttl <ttl>` as Velero 1.9's CLI creates it (no `--default-volumes-to-restic`: file-system
/// backup is what each pod opts into with `backup.velero.io/backup-volumes`).
pub fn backup_object(
    velero_namespace: &str,
    name: &str,
    namespaces: &[&str],
    storage_location: &str,
    ttl: Duration,
) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": "Backup",
        "metadata": {"name": name, "namespace": velero_namespace},
        "spec": {
            "metadata": {},
            "includedNamespaces": namespaces,
            "ttl": go_duration(ttl),
            "hooks": {},
            "storageLocation": storage_location,
            "csiSnapshotTimeout": go_duration(Duration::ZERO),
        }
    })
}

/// What one `velero restore create` asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreRequest {
    pub name: String,
    pub backup: String,
    /// `--include-resources`; empty: all.
    pub include_resources: Vec<String>,
    /// `--exclude-resources`.
    pub exclude_resources: Vec<String>,
    /// `--selector key=value`.
    pub selector: Option<(String, String)>,
}

/// `velero restore create <name> --from-backup <backup> [--include-resources …]
/// [--exclude-resources …] [--selector k=v]` as Velero 1.9's CLI creates it: every namespace
/// of the backup (`*`, the flag's default), the label selector as `matchLabels`.
pub fn restore_object(velero_namespace: &str, request: &RestoreRequest) -> Value {
    let mut spec = Map::new();
    spec.insert("backupName".into(), json!(request.backup));
    spec.insert("includedNamespaces".into(), json!(["*"]));
    if !request.include_resources.is_empty() {
        spec.insert("includedResources".into(), json!(request.include_resources));
    }
    if !request.exclude_resources.is_empty() {
        spec.insert("excludedResources".into(), json!(request.exclude_resources));
    }
    if let Some((key, value)) = &request.selector {
        spec.insert(
            "labelSelector".into(),
            json!({"matchLabels": {key.as_str(): value}}),
        );
    }
    spec.insert("hooks".into(), json!({}));
    json!({
        "apiVersion": API_VERSION,
        "kind": "Restore",
        "metadata": {"name": request.name, "namespace": velero_namespace},
        "spec": Value::Object(spec),
    })
}

fn count(status: &Value, key: &str) -> u64 {
    status.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn text(status: &Value, key: &str) -> String {
    status
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// What a Backup's or Restore's status says, read without trusting any field to be there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// `New` when the server has not taken it yet (no phase).
    pub phase: String,
    pub items_done: u64,
    pub total_items: u64,
    pub warnings: u64,
    pub errors: u64,
    pub failure_reason: String,
    pub validation_errors: Vec<String>,
}

impl Progress {
    /// A Backup's status (`progress.itemsBackedUp`).
    pub fn of_backup(object: &Value) -> Progress {
        Progress::read(object, "itemsBackedUp")
    }

    /// A Restore's status (`progress.itemsRestored`).
    pub fn of_restore(object: &Value) -> Progress {
        Progress::read(object, "itemsRestored")
    }

    fn read(object: &Value, done_key: &str) -> Progress {
        let status = object.get("status").cloned().unwrap_or(Value::Null);
        let progress = status.get("progress").cloned().unwrap_or(Value::Null);
        let phase = text(&status, "phase");
        Progress {
            phase: if phase.is_empty() {
                "New".into()
            } else {
                phase
            },
            items_done: count(&progress, done_key),
            total_items: count(&progress, "totalItems"),
            warnings: count(&status, "warnings"),
            errors: count(&status, "errors"),
            failure_reason: text(&status, "failureReason"),
            validation_errors: status
                .get("validationErrors")
                .and_then(Value::as_array)
                .map(|v| {
                    v.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Whether the server is done with it (any phase after which nothing moves).
    pub fn finished(&self) -> bool {
        matches!(
            self.phase.as_str(),
            "Completed" | "PartiallyFailed" | "Failed" | "FailedValidation"
        )
    }

    /// `12/40 items` as the panels and logs show it.
    pub fn items(&self) -> String {
        format!("{}/{} items", self.items_done, self.total_items)
    }

    /// Why a finished backup cannot be restored from, None when it can: `Completed`, no
    /// error, every item backed up.
    pub fn backup_refusal(&self) -> Option<String> {
        if self.phase != "Completed" {
            let mut why = format!("the backup ended {}", self.phase);
            if !self.failure_reason.is_empty() {
                why.push_str(&format!(": {}", self.failure_reason));
            }
            if !self.validation_errors.is_empty() {
                why.push_str(&format!(": {}", self.validation_errors.join("; ")));
            }
            return Some(why);
        }
        if self.errors > 0 {
            return Some(format!(
                "the backup is Completed but counts {} error(s)",
                self.errors
            ));
        }
        if self.items_done != self.total_items {
            return Some(format!(
                "the backup is Completed but backed up {} of {} items",
                self.items_done, self.total_items
            ));
        }
        None
    }
}

/// The messages of a `-results.gz` file (`{"errors": Result, "warnings": Result}` with
/// `Result = {velero: [], cluster: [], namespaces: {ns: []}}`), each prefixed with where
/// Velero put it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Results {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

impl Results {
    pub fn parse(json: &Value) -> Results {
        Results {
            errors: Self::lines(json.get("errors")),
            warnings: Self::lines(json.get("warnings")),
        }
    }

    /// The error and warning lines of a Velero log (logrus text: `level=error msg="…"`), each
    /// as its message.
    pub fn from_log(text: &str) -> Results {
        let mut out = Results::default();
        for line in text.lines() {
            let level = field(line, "level");
            let mut msg = field(line, "msg").unwrap_or_else(|| line.to_string());
            // What the line is about and why, as Velero's logger adds them as fields.
            let item = match (field(line, "namespace"), field(line, "name")) {
                (Some(ns), Some(name)) if !ns.is_empty() => Some(format!("{ns}/{name}")),
                (_, Some(name)) => Some(name),
                _ => None,
            };
            if let Some(item) = item {
                match field(line, "resource") {
                    Some(resource) => msg.push_str(&format!(" ({resource} {item})")),
                    None => msg.push_str(&format!(" ({item})")),
                }
            }
            if let Some(error) = field(line, "error") {
                msg.push_str(&format!(": {error}"));
            }
            match level.as_deref() {
                Some("error") | Some("fatal") => out.errors.push(msg),
                Some("warning") | Some("warn") => out.warnings.push(msg),
                _ => {}
            }
        }
        out
    }

    fn lines(result: Option<&Value>) -> Vec<String> {
        let Some(result) = result else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let strings = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        for line in strings(result.get("velero")) {
            out.push(format!("velero: {line}"));
        }
        for line in strings(result.get("cluster")) {
            out.push(format!("cluster: {line}"));
        }
        if let Some(namespaces) = result.get("namespaces").and_then(Value::as_object) {
            for (ns, lines) in namespaces {
                for line in strings(Some(lines)) {
                    out.push(format!("{ns}: {line}"));
                }
            }
        }
        out
    }
}

/// A field of a logrus text line: `key=value` or `key="quoted \"value\""`.
fn field(line: &str, key: &str) -> Option<String> {
    let start = line
        .match_indices(&format!("{key}="))
        .find(|(i, _)| *i == 0 || line.as_bytes()[i - 1] == b' ')?
        .0
        + key.len()
        + 1;
    let rest = &line[start..];
    if let Some(quoted) = rest.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.extend(chars.next()),
                '"' => return Some(value),
                c => value.push(c),
            }
        }
        Some(value)
    } else {
        Some(rest.split(' ').next().unwrap_or("").to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_come_from_the_image_tag() {
        let v = VeleroVersion::from_image("docker.io/velero/velero:v1.9.2").unwrap();
        assert_eq!(v.to_string(), "1.9.2");
        assert!(v.check_supported().is_ok());
        assert_eq!(
            VeleroVersion::from_image("registry:5000/velero/velero:1.9.0-rc.1")
                .unwrap()
                .to_string(),
            "1.9.0"
        );
        let newer = VeleroVersion::from_image("velero/velero:v1.14.0").unwrap();
        assert!(newer.check_supported().unwrap_err().contains("1.14.0"));
        assert!(VeleroVersion::from_image("velero/velero@sha256:abc").is_none());
        assert_eq!(
            VeleroVersion::from_image("registry.example:5000/velero/velero:v1.12.0@sha256:abc")
                .unwrap()
                .to_string(),
            "1.12.0"
        );
        assert!(VeleroVersion::from_image("registry.example:5000/velero/velero").is_none());
        assert!(VeleroVersion::from_image("velero/velero:latest").is_none());
        assert!(VeleroVersion::from_image("velero").is_none());
    }

    #[test]
    fn durations_read_as_go_writes_them() {
        assert_eq!(go_duration(Duration::from_secs(720 * 3600)), "720h0m0s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_secs(3601)), "1h0m1s");
        assert_eq!(go_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn go_durations_are_read_as_velero_writes_them() {
        assert_eq!(parse_go_duration("1m0s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_go_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        for bad in ["1x", "10", "", "soon"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_backup_is_good_only_when_completed_without_errors_and_whole() {
        let status = |s: Value| Progress::of_backup(&json!({ "status": s }));
        let good = status(
            json!({"phase": "Completed", "progress": {"totalItems": 9, "itemsBackedUp": 9}}),
        );
        assert_eq!(good.backup_refusal(), None);
        let partial = status(json!({"phase": "PartiallyFailed", "errors": 2}));
        assert!(
            partial
                .backup_refusal()
                .unwrap()
                .contains("PartiallyFailed")
        );
        let errors = status(
            json!({"phase": "Completed", "errors": 1, "progress": {"totalItems": 1, "itemsBackedUp": 1}}),
        );
        assert!(errors.backup_refusal().unwrap().contains("1 error"));
        let short = status(
            json!({"phase": "Completed", "progress": {"totalItems": 9, "itemsBackedUp": 8}}),
        );
        assert!(short.backup_refusal().unwrap().contains("8 of 9"));
        let invalid = status(
            json!({"phase": "FailedValidation", "validationErrors": ["a BackupStorageLocation named x does not exist"]}),
        );
        assert!(invalid.backup_refusal().unwrap().contains("named x"));
        assert_eq!(Progress::of_backup(&json!({})).phase, "New");
        assert!(!Progress::of_backup(&json!({})).finished());
    }

    #[test]
    fn a_logs_errors_and_warnings_are_read_with_their_messages() {
        let log = "time=\"2026-12-07T20:00:00Z\" level=info msg=\"Backing up item\" backup=velero/b\n\
                   time=\"2026-12-07T20:00:01Z\" level=error msg=\"Error backing up item: \\\"x\\\" failed\" backup=velero/b\n\
                   time=\"2026-12-07T20:00:02Z\" level=warning msg=skipped backup=velero/b\n";
        let r = Results::from_log(log);
        assert_eq!(r.errors, ["Error backing up item: \"x\" failed"]);
        assert_eq!(r.warnings, ["skipped"]);
        // The item and the error, from the fields Velero's logger adds.
        let log = "time=\"2026-12-07T20:00:01Z\" level=error msg=\"Error backing up item\" backup=velero/b \
                   error=\"timed out\" logSource=\"pkg/backup/backup.go:435\" name=settings \
                   namespace=reg resource=configmaps\n";
        assert_eq!(
            Results::from_log(log).errors,
            ["Error backing up item (configmaps reg/settings): timed out"]
        );
    }

    #[test]
    fn results_list_every_message_with_its_place() {
        let r = Results::parse(&json!({
            "errors": {"namespaces": {"reg": ["error restoring pods/x"]}},
            "warnings": {"velero": ["v"], "cluster": ["c"], "namespaces": {"reg": ["could not restore, services \"a\" already exists"]}}
        }));
        assert_eq!(r.errors, ["reg: error restoring pods/x"]);
        assert_eq!(r.warnings.len(), 3);
        assert!(r.warnings[2].starts_with("reg: could not restore"));
    }
}
