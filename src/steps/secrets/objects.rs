//! What the secrets steps export and push: the 3scale secrets, configmaps and APIManagers of
//! an installation, the record of an export, and an object stripped of what its server owns.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The fact of `dump-secrets`: an [`ExportRecord`].
pub const EXPORT_FACT: &str = "exported";
/// The fact of `push-secrets`.
pub const PUSH_FACT: &str = "pushed";
/// Where the export goes, under the dump folder.
pub const FOLDER: &str = "secrets";
/// Where the destination's secrets are saved before the push, under the dump folder.
pub const BEFORE_FOLDER: &str = "destination-secrets-before";

/// The 3scale secrets the operator creates (`pkg/3scale/amp/component`).
pub const SECRETS: &[&str] = &[
    "system-seed",
    "system-app",
    "system-master-apicast",
    "system-database",
    "system-redis",
    "backend-redis",
    "backend-internal-api",
    "backend-listener",
    "system-events-hook",
    "system-smtp",
    "system-recaptcha",
    "system-memcache",
    "zync",
];
/// The 3scale configmaps the operator creates.
pub const CONFIGMAPS: &[&str] = &[
    "system-environment",
    "apicast-environment",
    "system",
    "backend-environment",
    "redis-config",
];
/// What push-secrets replaces at a RHOAM destination.
pub const PUSHED: &[&str] = &[
    "system-seed",
    "system-app",
    "system-master-apicast",
    "system-recaptcha",
];
/// What the 3scale operator's restore never restores: they point at the destination's stores.
pub const NEVER_PUSHED: &[&str] = &[
    "system-database",
    "backend-redis",
    "system-redis",
    "system-memcache",
];
/// RHOAM's operator namespace, where it keeps copies of [`RHOAM_COPIES`].
pub const RHOAM_OPERATOR_NAMESPACE: &str = "redhat-rhoam-operator";
pub const RHOAM_COPIES: &[&str] = &["system-seed", "system-master-apicast"];
/// The keys of system-seed RHOAM fixes, with RHOAM's values.
pub(super) const RHOAM_SEED: &[(&str, &str)] =
    &[("TENANT_NAME", "3scale"), ("MASTER_DOMAIN", "master")];
pub(super) const SEED: &str = "system-seed";

/// The kinds of object the export holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ObjectKind {
    Secret,
    ConfigMap,
    ApiManager,
}

impl ObjectKind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Secret => "secret",
            ObjectKind::ConfigMap => "configmap",
            ObjectKind::ApiManager => "apimanager",
        }
    }

    /// `secrets/secret-<name>.json.age`, relative to the dump folder.
    pub(super) fn file(self, name: &str) -> String {
        format!("{FOLDER}/{}-{name}.json.age", self.as_str())
    }
}

/// One exported object: where it went and the names of its data keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exported {
    pub kind: String,
    pub name: String,
    pub file: String,
    pub keys: Vec<String>,
}

/// What `dump-secrets` exported, recorded as the fact `exported`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportRecord {
    pub cluster: String,
    pub namespace: String,
    pub objects: Vec<Exported>,
    /// `secret/<name>`, `configmap/<name>` of what the source does not have.
    pub absent: Vec<String>,
    pub recipients: usize,
}

/// The object without what the API server owns, so that it applies on another cluster.
pub(super) fn clean(mut object: Value) -> Value {
    if let Some(o) = object.as_object_mut() {
        o.remove("status");
        if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in [
                "uid",
                "resourceVersion",
                "creationTimestamp",
                "managedFields",
                "ownerReferences",
                "namespace",
                "selfLink",
                "generation",
            ] {
                meta.remove(field);
            }
            let empty = match meta.get_mut("annotations").and_then(Value::as_object_mut) {
                Some(a) => {
                    a.remove("kubectl.kubernetes.io/last-applied-configuration");
                    a.is_empty()
                }
                None => false,
            };
            if empty {
                meta.remove("annotations");
            }
        }
    }
    object
}

/// The names of an object's data keys.
pub(super) fn data_keys(object: &Value) -> Vec<String> {
    ["data", "stringData", "binaryData"]
        .iter()
        .filter_map(|f| object.get(*f).and_then(Value::as_object))
        .flat_map(|m| m.keys().cloned())
        .collect()
}

/// The S3 file-storage secret an APIManager names.
pub(super) fn s3_secret(apimanager: &Value) -> Option<String> {
    apimanager
        .pointer("/spec/system/fileStorage/simpleStorageService/configurationSecretRef/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_operator_restore_rule_is_kept() {
        for name in NEVER_PUSHED {
            assert!(!PUSHED.contains(name), "{name} must stay the destination's");
            assert!(SECRETS.contains(name), "{name} is exported as a record");
        }
        for name in PUSHED.iter().chain(RHOAM_COPIES) {
            assert!(SECRETS.contains(name), "{name} is exported");
        }
    }

    #[test]
    fn server_owned_fields_and_the_clear_copy_are_dropped() {
        let cleaned = clean(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {
                "name": "system-seed", "namespace": "3scale", "uid": "u",
                "resourceVersion": "7", "creationTimestamp": "t", "managedFields": [],
                "ownerReferences": [], "selfLink": "/x", "generation": 2,
                "labels": {"app": "3scale-api-management"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{..}"}
            },
            "data": {"A": "eA==", "B": "eQ=="},
            "status": {}
        }));
        assert_eq!(
            cleaned,
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "system-seed", "labels": {"app": "3scale-api-management"}},
                "data": {"A": "eA==", "B": "eQ=="}
            })
        );
        assert_eq!(data_keys(&cleaned), vec!["A", "B"]);
    }

    #[test]
    fn the_s3_secret_is_read_from_the_apimanager() {
        let m = json!({"spec": {"system": {"fileStorage": {"simpleStorageService": {
            "configurationSecretRef": {"name": "aws-auth"}}}}}});
        assert_eq!(s3_secret(&m).as_deref(), Some("aws-auth"));
        assert_eq!(s3_secret(&json!({"spec": {}})), None);
    }
}
