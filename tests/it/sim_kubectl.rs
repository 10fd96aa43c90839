//! kubectl (the one on PATH) against the simulator: get with -o yaml and jsonpath, scale, patch.
//! Skipped, with the reason printed, only when kubectl is not installed.

use std::path::PathBuf;
use std::time::Duration;

use crate::sim_support::{Sandbox, deployment, deployment_config, eventually};

fn kubectl() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
}

struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn run(sb: &Sandbox, bin: &PathBuf, args: &[&str]) -> Output {
    let cache = sb.dir.path().join("kube-cache");
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(bin)
            .arg("--kubeconfig")
            .arg(&sb.kubeconfig)
            .args(args)
            .env("KUBECACHEDIR", &cache)
            .env("HOME", sb.dir.path())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish within 60 s"))
    .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"));
    Output {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

macro_rules! kubectl_or_skip {
    () => {
        match kubectl() {
            Some(bin) => bin,
            None => {
                eprintln!("SKIPPED: kubectl is not installed (not on PATH)");
                return;
            }
        }
    };
}

async fn seeded() -> Sandbox {
    let sb = Sandbox::start("source", "3scale").await;
    sb.sim
        .apply_object(deployment_config("3scale", "system-app", 2))
        .unwrap();
    sb.sim
        .apply_object(deployment("3scale", "apicast-production", 1))
        .unwrap();
    let sim = &sb.sim;
    eventually("three running pods", || async {
        sim.list_objects("v1", "Pod", Some("3scale"), None)
            .iter()
            .filter(|p| p["status"]["phase"] == "Running")
            .count()
            == 3
    })
    .await;
    sb
}

#[tokio::test]
async fn kubectl_gets_workloads_as_yaml_and_pods_by_jsonpath() {
    let bin = kubectl_or_skip!();
    let sb = seeded().await;

    let out = run(&sb, &bin, &["get", "deploy,dc", "-o", "yaml"]).await;
    assert!(out.ok, "kubectl get -o yaml failed: {}", out.stderr);
    assert!(out.stdout.contains("kind: Deployment"), "{}", out.stdout);
    assert!(
        out.stdout.contains("kind: DeploymentConfig"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("name: apicast-production"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("name: system-app"), "{}", out.stdout);

    let out = run(
        &sb,
        &bin,
        &[
            "get",
            "pods",
            "-l",
            "deploymentConfig=system-app",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.status.phase}{\"\\n\"}{end}",
        ],
    )
    .await;
    assert!(
        out.ok,
        "kubectl get pods -o jsonpath failed: {}",
        out.stderr
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("system-app-1-") && l.ends_with(" Running")),
        "{}",
        out.stdout
    );

    // The human-readable tables, with the columns of a real cluster.
    let out = run(&sb, &bin, &["get", "pods"]).await;
    assert!(out.ok, "{}", out.stderr);
    let header: Vec<&str> = out
        .stdout
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("apicast-production-")
                && l.contains("1/1")
                && l.contains("Running")),
        "{}",
        out.stdout
    );
    let out = run(&sb, &bin, &["get", "deploy"]).await;
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("apicast-production") && l.contains("1/1")),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn kubectl_scales_and_patches() {
    let bin = kubectl_or_skip!();
    let sb = seeded().await;

    let out = run(&sb, &bin, &["scale", "dc/system-app", "--replicas=0"]).await;
    assert!(out.ok, "kubectl scale failed: {}", out.stderr);
    assert!(out.stdout.contains("system-app scaled"), "{}", out.stdout);
    let sim = &sb.sim;
    eventually("system-app pods gone", || async {
        sim.list_objects(
            "v1",
            "Pod",
            Some("3scale"),
            Some("deploymentConfig=system-app"),
        )
        .is_empty()
    })
    .await;

    let out = run(
        &sb,
        &bin,
        &["scale", "deployment/apicast-production", "--replicas=3"],
    )
    .await;
    assert!(out.ok, "kubectl scale failed: {}", out.stderr);
    let dep = sb
        .sim
        .get_object("apps/v1", "Deployment", "3scale", "apicast-production")
        .unwrap();
    assert_eq!(dep["spec"]["replicas"], 3);
    // The controller updates the status while the new pods start; a patch that reads the
    // object during that sees it change under it, so the no-op patch below waits for it.
    eventually("apicast-production's 3 pods ready", || async {
        sim.get_object("apps/v1", "Deployment", "3scale", "apicast-production")
            .is_some_and(|d| d["status"]["readyReplicas"] == 3)
    })
    .await;

    let patch = r#"{"metadata":{"annotations":{"cutover/original-replicas":"1"}}}"#;
    let out = run(
        &sb,
        &bin,
        &[
            "patch",
            "deployment",
            "apicast-production",
            "--type",
            "merge",
            "-p",
            patch,
        ],
    )
    .await;
    assert!(out.ok, "kubectl patch failed: {}", out.stderr);
    assert!(out.stdout.contains("patched"), "{}", out.stdout);
    let dep = sb
        .sim
        .get_object("apps/v1", "Deployment", "3scale", "apicast-production")
        .unwrap();
    assert_eq!(
        dep["metadata"]["annotations"]["cutover/original-replicas"],
        "1"
    );

    let out = run(
        &sb,
        &bin,
        &[
            "patch",
            "deployment",
            "apicast-production",
            "--type",
            "merge",
            "-p",
            patch,
        ],
    )
    .await;
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.contains("(no change)"),
        "a no-op patch must not change the object: {}",
        out.stdout
    );

    let out = run(
        &sb,
        &bin,
        &[
            "patch",
            "deployment",
            "apicast-production",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"replicaz":1}}"#,
        ],
    )
    .await;
    assert!(!out.ok, "an unknown field must be refused");
    assert!(out.stderr.contains("replicaz"), "{}", out.stderr);
}

#[tokio::test]
async fn kubectl_auth_can_i_reports_an_injected_denial() {
    let bin = kubectl_or_skip!();
    let sb = seeded().await;
    sb.sim.deny(
        "patch",
        "apps.openshift.io",
        "deploymentconfigs",
        Some("scale"),
        Some("3scale"),
    );

    let out = run(&sb, &bin, &["auth", "can-i", "get", "deploymentconfigs"]).await;
    assert!(out.ok, "{} {}", out.stdout, out.stderr);
    assert_eq!(out.stdout.trim(), "yes");
    let out = run(
        &sb,
        &bin,
        &[
            "auth",
            "can-i",
            "patch",
            "deploymentconfigs",
            "--subresource=scale",
        ],
    )
    .await;
    assert!(!out.ok, "a denial exits 1");
    assert!(
        out.stdout.starts_with("no"),
        "{} {}",
        out.stdout,
        out.stderr
    );
}

#[tokio::test]
async fn kubectl_exec_runs_an_allowed_command() {
    let bin = kubectl_or_skip!();
    let sb = seeded().await;
    sb.sim.allow_exec(cutover::sim::ExecRule::new(
        "system-app",
        &["cat", "/etc/hostname"],
        &["echo", "system-app-host"],
    ));
    let pods = sb.sim.list_objects(
        "v1",
        "Pod",
        Some("3scale"),
        Some("deploymentConfig=system-app"),
    );
    let pod = pods[0]["metadata"]["name"].as_str().unwrap().to_string();

    let out = run(&sb, &bin, &["exec", &pod, "--", "cat", "/etc/hostname"]).await;
    assert!(out.ok, "kubectl exec failed: {}", out.stderr);
    assert_eq!(out.stdout, "system-app-host\n");

    let out = run(&sb, &bin, &["exec", &pod, "--", "rm", "-rf", "/"]).await;
    assert!(!out.ok);
    assert!(out.stderr.contains("allow list"), "{}", out.stderr);
}

#[tokio::test]
async fn kubectl_get_watch_prints_pods_as_they_change() {
    let bin = kubectl_or_skip!();
    let sb = seeded().await;
    // The watch ends by itself after --request-timeout; meanwhile a scale-up adds a pod.
    let watching = run(
        &sb,
        &bin,
        &[
            "get",
            "pods",
            "-l",
            "deploymentConfig=system-app",
            "-w",
            "--request-timeout=3s",
        ],
    );
    let scaling = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        sb.sim
            .apply_object({
                let mut dc = sb
                    .sim
                    .get_object(
                        "apps.openshift.io/v1",
                        "DeploymentConfig",
                        "3scale",
                        "system-app",
                    )
                    .unwrap();
                dc["spec"]["replicas"] = serde_json::json!(3);
                dc
            })
            .unwrap();
    };
    let (out, ()) = tokio::join!(watching, scaling);
    assert!(!out.stderr.contains("decod"), "{}", out.stderr);
    let header: Vec<&str> = out
        .stdout
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{}",
        out.stdout
    );
    let names: std::collections::BTreeSet<&str> = out
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        names.len(),
        3,
        "the third pod shows up in the watch: {}",
        out.stdout
    );
}
