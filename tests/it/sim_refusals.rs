//! The simulator refuses what a real API server refuses, with Status bodies, over real HTTP.

use serde_json::json;

use crate::sim_support::{Sandbox, assert_status, deployment, raw};

const CM: &str = "/api/v1/namespaces/3scale/configmaps";

#[tokio::test]
async fn stale_resource_version_on_update_is_409_conflict() {
    let sb = Sandbox::start("source", "3scale").await;
    let client = sb.client().await;
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "env"}, "data": {"A": "1"}});
    let (code, created) = raw(
        &client,
        "POST",
        CM,
        Some("application/json"),
        &body.to_string(),
    )
    .await;
    assert_eq!(code, 201, "{created}");
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();

    let mut fresh = created.clone();
    fresh["data"]["A"] = json!("2");
    let (code, updated) = raw(
        &client,
        "PUT",
        &format!("{CM}/env"),
        Some("application/json"),
        &fresh.to_string(),
    )
    .await;
    assert_eq!(code, 200, "{updated}");
    assert_ne!(updated["metadata"]["resourceVersion"], rv);

    // The same write again still carries the old resourceVersion.
    fresh["data"]["A"] = json!("3");
    let (code, refused) = raw(
        &client,
        "PUT",
        &format!("{CM}/env"),
        Some("application/json"),
        &fresh.to_string(),
    )
    .await;
    assert_status(&refused, 409, "Conflict");
    assert_eq!(code, 409);
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("the object has been modified"),
        "{refused}"
    );
    assert_eq!(refused["details"]["name"], "env");

    // A merge patch carrying a stale resourceVersion as precondition is refused too.
    let patch = json!({"metadata": {"resourceVersion": rv}, "data": {"A": "4"}});
    let (code, refused) = raw(
        &client,
        "PATCH",
        &format!("{CM}/env"),
        Some("application/merge-patch+json"),
        &patch.to_string(),
    )
    .await;
    assert_eq!(code, 409, "{refused}");
    let stored = sb
        .sim
        .get_object("v1", "ConfigMap", "3scale", "env")
        .unwrap();
    assert_eq!(stored["data"]["A"], "2");
}

#[tokio::test]
async fn malformed_patches_are_refused() {
    let sb = Sandbox::start("source", "3scale").await;
    sb.sim
        .apply_object(deployment("3scale", "apicast-production", 1))
        .unwrap();
    let client = sb.client().await;
    let path = "/apis/apps/v1/namespaces/3scale/deployments/apicast-production";
    let rv_before = sb.sim.resource_version();

    let (code, body) = raw(
        &client,
        "PATCH",
        path,
        Some("application/merge-patch+json"),
        "{\"spec\": {",
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert_status(&body, 400, "BadRequest");

    let unknown = json!({"spec": {"replicaz": 3}});
    let (code, body) = raw(
        &client,
        "PATCH",
        path,
        Some("application/merge-patch+json"),
        &unknown.to_string(),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_status(&body, 422, "Invalid");
    assert!(
        body["message"].as_str().unwrap().contains("spec.replicaz"),
        "{body}"
    );

    let wrong_type = json!({"spec": {"replicas": "three"}});
    let (code, body) = raw(
        &client,
        "PATCH",
        path,
        Some("application/merge-patch+json"),
        &wrong_type.to_string(),
    )
    .await;
    assert_eq!(code, 422, "{body}");

    let negative = json!({"spec": {"replicas": -1}});
    let (code, body) = raw(
        &client,
        "PATCH",
        path,
        Some("application/strategic-merge-patch+json"),
        &negative.to_string(),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("must be greater than or equal to 0"),
        "{body}"
    );

    let missing = json!([{"op": "remove", "path": "/spec/nothing"}]);
    let (code, body) = raw(
        &client,
        "PATCH",
        path,
        Some("application/json-patch+json"),
        &missing.to_string(),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_status(&body, 422, "Invalid");

    let (code, body) = raw(&client, "PATCH", path, Some("text/plain"), "{}").await;
    assert_eq!(code, 415, "{body}");
    assert_status(&body, 415, "UnsupportedMediaType");

    // Nothing of that was stored.
    let stored = sb
        .sim
        .get_object("apps/v1", "Deployment", "3scale", "apicast-production")
        .unwrap();
    assert_eq!(stored["spec"]["replicas"], 1);
    assert!(stored["spec"].get("replicaz").is_none());
    // The pod controller may have written status meanwhile; the spec is what matters.
    assert!(sb.sim.resource_version() >= rv_before);
}

#[tokio::test]
async fn unknown_paths_and_kinds_are_404_with_status() {
    let sb = Sandbox::start("source", "3scale").await;
    let client = sb.client().await;
    for path in [
        "/nope",
        "/apis/widgets.example.com/v1",
        "/apis/apps/v1/namespaces/3scale/widgets",
        "/api/v1/namespaces/3scale/pods/p/nosuchsub",
    ] {
        let (code, body) = raw(&client, "GET", path, None, "").await;
        assert_eq!(code, 404, "{path}: {body}");
        assert_status(&body, 404, "NotFound");
        assert_eq!(
            body["message"], "the server could not find the requested resource",
            "{path}"
        );
    }
    let (code, body) = raw(
        &client,
        "GET",
        "/apis/apps/v1/namespaces/3scale/deployments/ghost",
        None,
        "",
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(body["message"], "deployments.apps \"ghost\" not found");
    assert_eq!(body["details"]["kind"], "deployments");
}

#[tokio::test]
async fn a_denied_permission_is_403_and_a_denied_review() {
    let sb = Sandbox::start("source", "3scale").await;
    sb.sim
        .apply_object(deployment("3scale", "backend-worker", 1))
        .unwrap();
    sb.sim.deny(
        "patch",
        "apps",
        "deployments",
        Some("scale"),
        Some("3scale"),
    );
    let client = sb.client().await;

    let scale = "/apis/apps/v1/namespaces/3scale/deployments/backend-worker/scale";
    let (code, body) = raw(
        &client,
        "PATCH",
        scale,
        Some("application/merge-patch+json"),
        r#"{"spec":{"replicas":0}}"#,
    )
    .await;
    assert_eq!(code, 403, "{body}");
    assert_status(&body, 403, "Forbidden");
    assert!(
        body["message"].as_str().unwrap().contains("cannot patch resource \"deployments/scale\" in API group \"apps\" in the namespace \"3scale\""),
        "{body}"
    );
    // Reading the scale is still allowed.
    let (code, body) = raw(&client, "GET", scale, None, "").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["kind"], "Scale");
    assert_eq!(body["apiVersion"], "autoscaling/v1");

    let review = |verb: &str, sub: Option<&str>| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
               "spec": {"resourceAttributes": {"namespace": "3scale", "verb": verb, "group": "apps",
                        "resource": "deployments", "subresource": sub}}})
        .to_string()
    };
    let ssar = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    let (code, body) = raw(
        &client,
        "POST",
        ssar,
        Some("application/json"),
        &review("patch", Some("scale")),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["status"]["allowed"], false, "{body}");
    let (_, body) = raw(
        &client,
        "POST",
        ssar,
        Some("application/json"),
        &review("get", Some("scale")),
    )
    .await;
    assert_eq!(body["status"]["allowed"], true, "{body}");
}

#[tokio::test]
async fn lists_and_objects_carry_kind_and_api_version() {
    let sb = Sandbox::start("source", "3scale").await;
    sb.sim
        .apply_object(deployment("3scale", "zync", 1))
        .unwrap();
    let client = sb.client().await;
    let (code, list) = raw(
        &client,
        "GET",
        "/apis/apps/v1/namespaces/3scale/deployments",
        None,
        "",
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(list["kind"], "DeploymentList");
    assert_eq!(list["apiVersion"], "apps/v1");
    assert!(
        list["metadata"]["resourceVersion"]
            .as_str()
            .is_some_and(|rv| !rv.is_empty())
    );
    assert_eq!(list["items"][0]["kind"], "Deployment");
    let obj = &list["items"][0]["metadata"];
    for field in ["uid", "resourceVersion", "creationTimestamp", "generation"] {
        assert!(!obj[field].is_null(), "{field} missing: {obj}");
    }
}

/// A claim is bound at the size it requests; its spec is immutable but for that request, which
/// may only grow, and a bound claim's growth shows in its capacity.
#[tokio::test]
async fn a_claim_grows_but_never_shrinks_and_keeps_its_spec() {
    const PVC: &str = "/api/v1/namespaces/3scale/persistentvolumeclaims";
    let sb = Sandbox::start("source", "3scale").await;
    let client = sb.client().await;
    let body = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data-0-kafka-cluster-kafka-0"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "ocs-storagecluster-ceph-rbd",
                 "resources": {"requests": {"storage": "20Gi"}}}});
    let (code, created) = raw(
        &client,
        "POST",
        PVC,
        Some("application/json"),
        &body.to_string(),
    )
    .await;
    assert_eq!(code, 201, "{created}");
    let url = format!("{PVC}/data-0-kafka-cluster-kafka-0");
    let mut bound = json!(null);
    for _ in 0..100 {
        let (_, now) = raw(&client, "GET", &url, None, "").await;
        if now["status"]["phase"] == "Bound" {
            bound = now;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(bound["status"]["capacity"]["storage"], "20Gi", "{bound}");

    let merge = Some("application/merge-patch+json");
    let grow = json!({"spec": {"resources": {"requests": {"storage": "60Gi"}}}});
    let (code, grown) = raw(&client, "PATCH", &url, merge, &grow.to_string()).await;
    assert_eq!(code, 200, "{grown}");
    assert_eq!(grown["status"]["capacity"]["storage"], "60Gi", "{grown}");

    let shrink = json!({"spec": {"resources": {"requests": {"storage": "61439Mi"}}}});
    let (code, refused) = raw(&client, "PATCH", &url, merge, &shrink.to_string()).await;
    assert_status(&refused, 422, "Invalid");
    assert_eq!(code, 422);
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("can not be less than"),
        "{refused}"
    );
    let class = json!({"spec": {"storageClassName": "gp3"}});
    let (code, refused) = raw(&client, "PATCH", &url, merge, &class.to_string()).await;
    assert_eq!(code, 422, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("spec is immutable"),
        "{refused}"
    );
    let (_, now) = raw(&client, "GET", &url, None, "").await;
    assert_eq!(now["spec"]["resources"]["requests"]["storage"], "60Gi");
}
