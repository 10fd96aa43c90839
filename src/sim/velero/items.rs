//! What backups and restores share: resource names resolved as Velero's discovery helper
//! resolves them, include/exclude lists (`pkg/util/collections`), label selectors, and the
//! items of a cluster in discovery order.

use serde_json::Value;

use super::super::catalog::{self, ResourceType};
use super::super::selector::Selector;

/// `deployments.apps`, `secrets`: how Velero names a resource (`GroupResource.String()`).
pub fn group_resource(rt: &ResourceType) -> String {
    rt.group_resource()
}

/// The kind a name in an include/exclude list means (plural, singular, short name, or
/// `plural.group`), as the discovery helper's shortcut-expanding mapper resolves it.
pub fn resolve(without: &[String], name: &str) -> Option<&'static ResourceType> {
    let name = name.to_ascii_lowercase();
    let (resource, group) = match name.split_once('.') {
        Some((r, g)) => (r.to_string(), Some(g.to_string())),
        None => (name.clone(), None),
    };
    catalog::served(without).find(|rt| {
        (rt.plural == resource
            || rt.singular == resource
            || rt.short_names.contains(&resource.as_str()))
            && group.as_deref().is_none_or(|g| g == rt.group)
    })
}

/// An include/exclude list (`collections.IncludesExcludes`).
#[derive(Clone, Debug, Default)]
pub struct IncludesExcludes {
    includes: Vec<String>,
    excludes: Vec<String>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl IncludesExcludes {
    pub fn new(includes: &Value, excludes: &Value) -> IncludesExcludes {
        IncludesExcludes {
            includes: strings(includes),
            excludes: strings(excludes),
        }
    }

    /// Resource lists with each name resolved to its `resource.group` (unknown names stay).
    pub fn resources(without: &[String], includes: &Value, excludes: &Value) -> IncludesExcludes {
        let map = |list: Vec<String>| -> Vec<String> {
            list.into_iter()
                .map(|n| {
                    if n == "*" {
                        n
                    } else {
                        resolve(without, &n).map(group_resource).unwrap_or(n)
                    }
                })
                .collect()
        };
        IncludesExcludes {
            includes: map(strings(includes)),
            excludes: map(strings(excludes)),
        }
    }

    pub fn should_include(&self, item: &str) -> bool {
        if self.excludes.iter().any(|e| e == "*" || e == item) {
            return false;
        }
        self.includes.is_empty() || self.includes.iter().any(|i| i == "*" || i == item)
    }

    pub fn include_everything(&self) -> bool {
        self.excludes.is_empty()
            && (self.includes.is_empty() || self.includes.iter().any(|i| i == "*"))
    }

    pub fn includes(&self) -> &[String] {
        &self.includes
    }

    /// `collections.ValidateIncludesExcludes`.
    pub fn validate(includes: &Value, excludes: &Value) -> Vec<String> {
        let (inc, exc) = (strings(includes), strings(excludes));
        let mut errs = Vec::new();
        if inc.len() > 1 && inc.iter().any(|i| i == "*") {
            errs.push(
                "includes list must either contain '*' only, or a non-empty list of items".into(),
            );
        }
        if exc.iter().any(|e| e == "*") {
            errs.push("excludes list cannot contain '*'".into());
        }
        for e in &exc {
            if inc.contains(e) {
                errs.push(format!(
                    "excludes list must not contain an item in the includes list: {e}"
                ));
            }
        }
        errs
    }

    pub fn includes_string(&self) -> String {
        if self.includes.is_empty() {
            "*".into()
        } else {
            self.includes.join(", ")
        }
    }

    pub fn excludes_string(&self) -> String {
        if self.excludes.is_empty() {
            "<none>".into()
        } else {
            self.excludes.join(", ")
        }
    }
}

/// A `metav1.LabelSelector` (matchLabels, matchExpressions) as a selector; None when absent.
pub fn label_selector(v: &Value) -> Option<Selector> {
    if !v.is_object() {
        return None;
    }
    let mut terms = Vec::new();
    if let Some(m) = v.get("matchLabels").and_then(Value::as_object) {
        for (k, val) in m {
            terms.push(format!("{k}={}", val.as_str().unwrap_or("")));
        }
    }
    for e in v
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e["key"].as_str().unwrap_or("");
        let values = strings(&e["values"]).join(",");
        match e["operator"].as_str().unwrap_or("") {
            "In" => terms.push(format!("{key} in ({values})")),
            "NotIn" => terms.push(format!("{key} notin ({values})")),
            "Exists" => terms.push(key.to_string()),
            "DoesNotExist" => terms.push(format!("!{key}")),
            _ => {}
        }
    }
    Some(Selector::labels_only(&terms.join(",")))
}

/// The kinds a backup walks, in the order Velero's discovery gives them: the core group first
/// with pods, persistentvolumeclaims and persistentvolumes ahead of the rest (`sortCoreGroup`),
/// then the other groups; only listable kinds.
pub fn backup_order(without: &[String]) -> Vec<&'static ResourceType> {
    let listable: Vec<&'static ResourceType> = catalog::served(without)
        .filter(|rt| rt.verbs.contains(&"list"))
        .collect();
    let rank = |rt: &ResourceType| match (rt.group, rt.plural) {
        ("", "pods") => 0,
        ("", "persistentvolumeclaims") => 1,
        ("", "persistentvolumes") => 2,
        ("", _) => 3,
        _ => 4,
    };
    let mut groups: Vec<&str> = Vec::new();
    for rt in &listable {
        if !groups.contains(&rt.group) {
            groups.push(rt.group);
        }
    }
    let mut out = listable.clone();
    out.sort_by_key(|rt| {
        (
            groups
                .iter()
                .position(|g| *g == rt.group)
                .unwrap_or(usize::MAX),
            rank(rt),
        )
    });
    out
}
