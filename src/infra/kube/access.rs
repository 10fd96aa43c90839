//! SelfSubjectAccessReview: may the operator's user do (verb, group, resource, subresource) in
//! a namespace? The prerequisites check asks this for every permission its steps need.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::Api;
use kube::api::PostParams;

use super::cluster::KubeCluster;

/// One permission, as RBAC words it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Access {
    pub verb: String,
    /// `""` for the core group.
    pub group: String,
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
}

impl Access {
    pub fn new(verb: &str, group: &str, resource: &str) -> Access {
        Access {
            verb: verb.to_string(),
            group: group.to_string(),
            resource: resource.to_string(),
            subresource: None,
            namespace: None,
        }
    }

    pub fn subresource(mut self, sub: &str) -> Access {
        self.subresource = Some(sub.to_string());
        self
    }

    pub fn in_namespace(mut self, ns: &str) -> Access {
        self.namespace = Some(ns.to_string());
        self
    }
}

impl std::fmt::Display for Access {
    /// `patch deployments.apps/scale in 3scale`, the way `kubectl auth can-i` reads.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        if let Some(sub) = &self.subresource {
            write!(f, "/{sub}")?;
        }
        match &self.namespace {
            Some(ns) => write!(f, " in {ns}"),
            None => write!(f, " cluster-wide"),
        }
    }
}

impl KubeCluster {
    /// SelfSubjectAccessReview; `Ok(false)` is a denial, `Err` means the question could not be
    /// asked (cluster unreachable, credentials refused).
    pub async fn can_i(&self, access: &Access) -> anyhow::Result<bool> {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(access.verb.clone()),
                    group: Some(access.group.clone()),
                    resource: Some(access.resource.clone()),
                    subresource: access.subresource.clone(),
                    namespace: access.namespace.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api: Api<SelfSubjectAccessReview> = Api::all(self.client.clone());
        let what = format!("the access review for `{access}`");
        let answer = self
            .call(
                access.namespace.as_deref(),
                &what,
                api.create(&PostParams::default(), &review),
            )
            .await?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }
}
