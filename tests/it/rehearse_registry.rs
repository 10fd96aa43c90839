//! `cutover rehearse --runbook velero-registry`: the registry sandbox (clusters A and B with the
//! Platform, each with its own real S3 object storage, the Keycloaks) passes the runbook's
//! prerequisite checks, takes the backup on A, copies it to B's bucket where B's Velero syncs it,
//! moves the Keycloak realms and stands in for the console's registry on B; a whole rehearsal
//! killed -9 in the middle of the staged restore is resumed by the same command to the end,
//! with no stage's Restore made twice; a kept sandbox stopped and started again on the same
//! ports keeps its buckets' objects and its Keycloaks' realms; `--serve` prints both object
//! storages; `--discard` removes it.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use bytes::Bytes;
use serde_json::Value;

use cutover::infra::s3::S3Client;
use cutover::sim::installation::crunchy_uid_on_a;
use cutover::sim::keycloak::RegistryRealms;
use cutover::sim::sandbox::{RegistrySandbox, SANDBOX_REGISTRY};

use crate::rehearse::{
    Running, StateDir, command, journal, lines_of, manifest, rehearsals, rehearse_expecting,
    wait_line,
};

/// The steps the journal shows finished with `outcome`.
fn finished(entries: &[Value], outcome: &str) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e["event"] == "step-finished" && e["outcome"] == outcome)
        .filter_map(|e| e["step"].as_str().map(str::to_string))
        .collect()
}

/// A new registry rehearsal run to the end of `copy-registry-values` (the restore is next):
/// its stdout.
fn up_to_the_restore(state: &StateDir) -> String {
    let (stdout, _) = rehearse_expecting(
        state.path(),
        &[
            "--runbook",
            "velero-registry",
            "--headless",
            "--until",
            "copy-registry-values",
        ],
        0,
    );
    assert!(
        stdout.contains("stopped after copy-registry-values"),
        "{stdout}"
    );
    stdout
}

/// The Restores restore-registry created, from its log (every session's), in order.
fn restores_created(state: &StateDir, name: &str) -> Vec<String> {
    let log = std::fs::read_to_string(
        state
            .path()
            .join(name)
            .join("logs")
            .join("restore-registry.log"),
    )
    .expect("the restore's log");
    log.lines()
        .filter_map(|l| l.split("created the Restore ").nth(1))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_registry_rehearsal_runs_from_the_platform_checks_to_the_console_s_registry_on_b() {
    let state = StateDir::new();
    up_to_the_restore(&state);
    let all = rehearsals(state.path());
    let [(name, sandbox)] = &all[..] else {
        panic!("one rehearsal expected: {all:?}");
    };
    let entries = journal(state.path(), name);
    let passed = finished(&entries, "passed");
    let console = entries
        .iter()
        .find(|e| e["event"] == "step-finished" && e["step"] == "create-registry-in-console")
        .expect("create-registry-in-console finished");
    assert!(
        console
            .to_string()
            .contains("created its namespace on cluster B"),
        "{console}"
    );
    for step in [
        "check-kubeconfigs",
        "check-cluster-access",
        "check-platform-installed",
        "check-versions-match",
        "check-keycloak",
        "check-velero",
        "check-target-clean",
        "backup-registry",
        "transfer-backup",
        "wait-backup-synced",
        "export-keycloak",
        "import-keycloak",
        "create-registry-in-console",
    ] {
        assert!(
            passed.iter().any(|s| s == step),
            "{step} did not pass: {passed:?}"
        );
    }
    // The config is of the registry's runbook and names its keys by reference, in files only
    // their owner reads.
    let config = std::fs::read_to_string(state.path().join(format!("{name}.toml"))).unwrap();
    assert!(config.contains("runbook = \"velero-registry\""), "{config}");
    assert!(
        config.contains("access_path = \"cluster-admin\""),
        "{config}"
    );
    assert!(!config.contains("minio-secret"), "a key in the config");
    assert!(
        !config.contains("keycloak-admin\""),
        "a password in the config"
    );
    for file in ["a-secret-key", "b-secret-key", "keycloak-admin-password"] {
        let mode = std::fs::metadata(sandbox.join("secrets").join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    // The backup reached A's bucket through its location: the manifest names A's storage.
    let m = manifest(sandbox);
    assert_eq!(m["runbook"], "velero-registry");
    assert_eq!(m["state"], "ready");
    assert!(
        m["registry"]["object_storage"]["a"].as_u64().is_some(),
        "{m}"
    );
    assert!(m["registry"]["keycloak"].as_u64().is_some(), "{m}");
    let objects = walk(
        &sandbox
            .join("s3")
            .join("a")
            .join(format!("{SANDBOX_REGISTRY}-backups")),
    );
    assert!(
        objects.iter().any(|o| o.contains("openshift-backups/")),
        "nothing saved in A's bucket: {objects:?}"
    );
}

const PGO: &str = "postgres-operator.crunchydata.com/v1beta1";

/// The stages the journal shows done (`stage-<id>` facts of restore-registry), in order.
fn stages_done(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e["event"] == "step-fact" && e["step"] == "restore-registry")
        .filter_map(|e| {
            e["key"]
                .as_str()?
                .strip_prefix("stage-")
                .map(str::to_string)
        })
        .filter(|k| !k.ends_with("-attempt"))
        .collect()
}

/// What restore-registry.sh's work between the restores leaves on B: Kafka's claim grown by
/// 40Gi once, the Crunchy accounts owned by B's PostgresCluster, A's Keycloak client secret.
async fn restored_on_b(sandbox: &std::path::Path) {
    let sb = RegistrySandbox::resume(sandbox)
        .await
        .expect("the sandbox starts");
    let ns = SANDBOX_REGISTRY;
    let claim =
        sb.b.get_object(
            "v1",
            "PersistentVolumeClaim",
            ns,
            "data-0-kafka-cluster-kafka-0",
        )
        .expect("Kafka's claim");
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "60Gi");
    assert_eq!(claim["status"]["capacity"]["storage"], "60Gi");
    for cluster in ["operational", "analytical"] {
        let pg =
            sb.b.get_object(PGO, "PostgresCluster", ns, cluster)
                .expect("the PostgresCluster");
        let uid = pg["metadata"]["uid"].as_str().unwrap().to_string();
        assert_ne!(uid, crunchy_uid_on_a(cluster));
        for (api_version, kind) in [
            ("rbac.authorization.k8s.io/v1", "Role"),
            ("rbac.authorization.k8s.io/v1", "RoleBinding"),
            ("v1", "ServiceAccount"),
        ] {
            for postfix in ["instance", "pgbackrest"] {
                let name = format!("{cluster}-{postfix}");
                let object =
                    sb.b.get_object(api_version, kind, ns, &name)
                        .unwrap_or_else(|| panic!("{kind} {name}"));
                let owners = object["metadata"]["ownerReferences"].as_array().unwrap();
                assert_eq!(owners.len(), 1, "{kind} {name}: {owners:?}");
                assert_eq!(owners[0]["uid"], uid.as_str(), "{kind} {name}");
            }
        }
    }
    let secret =
        sb.b.get_object(
            "v1",
            "Secret",
            ns,
            &format!("keycloak-client.{ns}-admin.secret"),
        )
        .expect("A's Keycloak client secret, restored");
    assert!(secret["data"]["clientSecret"].is_string(), "{secret}");
    sb.stop().await;
}

#[test]
fn a_registry_rehearsal_killed_in_the_staged_restore_is_resumed_to_the_end() {
    let state = StateDir::new();
    let mut run = Running(
        command(
            state.path(),
            &["--runbook", "velero-registry", "--headless"],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rehearse --headless"),
    );
    // Killed once the restore has done three stages (while it follows the fourth's Restore,
    // or its pods).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let name = loop {
        let found = rehearsals(state.path()).into_iter().find_map(|(name, _)| {
            (stages_done(&journal(state.path(), &name)).len() >= 3).then_some(name)
        });
        if let Some(name) = found {
            break name;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the restore never got three stages done"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    run.0.kill().expect("kill -9");
    run.0.wait().expect("wait");
    let before = journal(state.path(), &name);
    let done_before = stages_done(&before);
    let finished_before: Vec<String> = before
        .iter()
        .filter(|e| e["event"] == "step-finished")
        .filter_map(|e| e["step"].as_str().map(str::to_string))
        .collect();
    assert!(
        !finished_before.iter().any(|s| s == "restore-registry"),
        "{finished_before:?}"
    );

    // Resumed up to the end of the restore: B as the restore left it.
    let (stdout, stderr) = rehearse_expecting(
        state.path(),
        &["--headless", "--until", "restore-registry"],
        0,
    );
    assert!(stdout.contains(&format!("resuming {name}")), "{stdout}");
    assert!(stderr.contains("took over the lock"), "{stderr}");
    assert!(
        stdout.contains("stopped after restore-registry"),
        "{stdout}"
    );
    let sandbox = rehearsals(state.path())
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, dir)| dir)
        .expect("the rehearsal's sandbox");
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(restored_on_b(&sandbox));

    let (stdout, _) = rehearse_expecting(state.path(), &["--headless"], 0);
    assert!(
        stdout.contains("done: every step of this migration is done"),
        "{stdout}"
    );
    let entries = journal(state.path(), &name);
    for step in [
        "restore-registry",
        "registry-post-fixes",
        "switch-regulations-dns",
        "verify-registry",
    ] {
        assert!(
            finished(&entries, "passed").iter().any(|s| s == step),
            "{step} did not pass: {stdout}"
        );
    }
    // Every step done before the kill ran once; only the restore ran again.
    let mut started = std::collections::BTreeMap::<String, usize>::new();
    for e in entries.iter().filter(|e| e["event"] == "step-started") {
        *started
            .entry(e["step"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    for step in &finished_before {
        assert_eq!(started[step], 1, "{step}: {started:?}");
    }
    assert_eq!(started["restore-registry"], 2, "{started:?}");
    // The stages done before the kill were not done again, and each stage is done once.
    let done = stages_done(&entries);
    assert_eq!(&done[..done_before.len()], &done_before[..]);
    let unique: std::collections::BTreeSet<&String> = done.iter().collect();
    assert_eq!(unique.len(), done.len(), "a stage done twice: {done:?}");
    // No stage's Restore was created twice: the resumed run followed the one it found.
    let created = restores_created(&state, &name);
    let unique: std::collections::BTreeSet<&String> = created.iter().collect();
    assert_eq!(unique.len(), created.len(), "{created:?}");
    assert_eq!(created.len(), 16, "{created:?}");
}

/// Every file under `dir`, as paths relative to it.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(rel.display().to_string());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_registry_sandbox_resumes_on_its_ports_with_its_objects_and_realms() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("sandbox");
    let sandbox = RegistrySandbox::create(&folder).await.expect("it starts");
    let ports = (
        sandbox.a.addr().port(),
        sandbox.b.addr().port(),
        sandbox.storage_a.port(),
        sandbox.storage_b.port(),
        sandbox.keycloak.port(),
    );
    let bucket = sandbox.bucket();
    let b_storage = S3Client::new(&sandbox.storage_b.client_endpoint(), &bucket).unwrap();
    b_storage
        .put(
            "openshift-backups/backups/x/velero-backup.json",
            Bytes::from_static(b"{}"),
            &[],
        )
        .await
        .expect("B's bucket takes an object");
    sandbox
        .keycloak
        .store()
        .seed_registry(&RegistryRealms::new(SANDBOX_REGISTRY))
        .unwrap();
    let realms_a = sandbox.keycloak_a.realm_names();
    assert!(realms_a.len() > 1, "A's Keycloak has the registry's realms");
    sandbox.stop().await;

    let again = RegistrySandbox::resume(&folder).await.expect("it resumes");
    assert_eq!(
        (
            again.a.addr().port(),
            again.b.addr().port(),
            again.storage_a.port(),
            again.storage_b.port(),
            again.keycloak.port(),
        ),
        ports
    );
    let b_storage = S3Client::new(&again.storage_b.client_endpoint(), &bucket).unwrap();
    assert_eq!(
        b_storage
            .get("openshift-backups/backups/x/velero-backup.json")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"{}"[..])
    );
    let realms_b = again.keycloak.store().realm_names();
    assert!(
        realms_b.contains(&format!("{SANDBOX_REGISTRY}-officer-portal")),
        "{realms_b:?}"
    );
    assert_eq!(again.keycloak_a.realm_names(), realms_a);
    let left = again.remove("the test ended");
    assert!(left.is_empty(), "{left:?}");
    assert!(!folder.join("s3").exists());
    assert!(!folder.join("keycloak").exists());
    assert!(RegistrySandbox::resume(&folder).await.is_err());
}

#[test]
fn serve_prints_both_object_storages_and_discard_removes_the_registry_sandbox() {
    let state = StateDir::new();
    let mut child = command(state.path(), &["--runbook", "velero-registry", "--serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cutover rehearse --serve");
    let lines = lines_of(&mut child);
    let child = Running(child);
    let seen = wait_line(&lines, "serving until Ctrl-C");
    let bucket = format!("{SANDBOX_REGISTRY}-backups");
    for side in ["A", "B"] {
        let prefix = format!("object storage {side}: http://127.0.0.1:");
        let line = seen
            .iter()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line: {seen:?}"));
        let rest = &line[prefix.len()..];
        let (port, b) = rest.split_once(' ').expect("endpoint and bucket");
        assert!(port.parse::<u16>().is_ok(), "{line}");
        assert_eq!(b, bucket, "{line}");
    }
    assert!(
        seen.iter()
            .any(|l| l.starts_with("Keycloak B: http://127.0.0.1:")),
        "{seen:?}"
    );
    drop(child);

    let all = rehearsals(state.path());
    let [(_, sandbox)] = &all[..] else {
        panic!("one rehearsal expected: {all:?}");
    };
    let (stdout, _) = rehearse_expecting(state.path(), &["--discard"], 0);
    assert!(stdout.contains("removed the sandbox"), "{stdout}");
    let m = manifest(sandbox);
    assert_eq!(m["state"], "removed");
    assert!(!sandbox.join("s3").exists());
    assert!(!sandbox.join("clusters").exists());
}

/// A restore that fails half-way: B's copy of the backup's tarball goes missing after the
/// transfer, so the init Restore ends Failed and the step fails naming it; with the tarball
/// back, the next run goes on with that stage as `…-init-2`, and no Restore is made twice.
#[test]
fn a_restore_failed_half_way_is_continued_by_the_next_run_without_a_second_restore() {
    let state = StateDir::new();
    up_to_the_restore(&state);
    let [(name, sandbox)] = &rehearsals(state.path())[..] else {
        panic!("one rehearsal expected");
    };
    let backup = journal(state.path(), name)
        .iter()
        .find(|e| e["event"] == "step-fact" && e["key"] == "backup_name")
        .and_then(|e| e["value"].as_str().map(str::to_string))
        .expect("the backup's name");
    let tarball = sandbox
        .join("s3")
        .join("b")
        .join(format!("{SANDBOX_REGISTRY}-backups"))
        .join("openshift-backups")
        .join("backups")
        .join(&backup)
        .join(format!("{backup}.tar.gz"));
    let aside = tarball.with_extension("aside");
    std::fs::rename(&tarball, &aside).expect("the tarball is in B's bucket");

    let (stdout, _) = rehearse_expecting(
        state.path(),
        &["--headless", "--until", "restore-registry"],
        1,
    );
    assert!(stdout.contains("restore-registry FAILED"), "{stdout}");
    assert!(stdout.contains("init"), "{stdout}");
    let done = stages_done(&journal(state.path(), name));
    assert_eq!(done, ["saved-resources"], "{stdout}");

    std::fs::rename(&aside, &tarball).unwrap();
    let (stdout, _) = rehearse_expecting(state.path(), &["--headless"], 0);
    assert!(
        stdout.contains("done: every step of this migration is done"),
        "{stdout}"
    );
    assert!(stdout.contains("trying again as"), "{stdout}");
    let done = stages_done(&journal(state.path(), name));
    let unique: std::collections::BTreeSet<&String> = done.iter().collect();
    assert_eq!(unique.len(), done.len(), "a stage done twice: {done:?}");
    let created = restores_created(&state, name);
    let unique: std::collections::BTreeSet<&String> = created.iter().collect();
    assert_eq!(unique.len(), created.len(), "{created:?}");
    assert_eq!(
        created.len(),
        17,
        "16 stages and init's second attempt: {created:?}"
    );
    assert!(
        created.iter().any(|c| c.ends_with("-init-2")),
        "{created:?}"
    );
}

/// Every whole object in B's bucket folder (the storage renames an object into place whole).
fn objects_on_b(sandbox: &std::path::Path) -> Vec<String> {
    walk(
        &sandbox
            .join("s3")
            .join("b")
            .join(format!("{SANDBOX_REGISTRY}-backups")),
    )
}

/// A rehearsal killed -9 while the backup is being copied to B's storage: the resumed transfer
/// copies only what is not on B whole, and B's Velero finds the backup.
#[test]
fn a_registry_rehearsal_killed_in_the_transfer_copies_only_the_rest() {
    let state = StateDir::new();
    let mut run = Running(
        command(
            state.path(),
            &[
                "--runbook",
                "velero-registry",
                "--headless",
                "--volume-kib",
                "4096",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rehearse --headless"),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let (name, sandbox) = loop {
        let found = rehearsals(state.path())
            .into_iter()
            .find(|(name, sandbox)| {
                journal(state.path(), name)
                    .iter()
                    .any(|e| e["event"] == "step-started" && e["step"] == "transfer-backup")
                    && objects_on_b(sandbox)
                        .iter()
                        .any(|o| o.starts_with("openshift-backups/restic/"))
            });
        if let Some(found) = found {
            break found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the transfer never started copying"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    run.0.kill().expect("kill -9");
    run.0.wait().expect("wait");
    let before = objects_on_b(&sandbox);
    let entries = journal(state.path(), &name);
    assert!(
        !entries
            .iter()
            .any(|e| e["event"] == "step-finished" && e["step"] == "transfer-backup"),
        "killed after the transfer ended; make the volumes bigger"
    );
    assert!(
        !before.iter().any(|o| o.ends_with("velero-backup.json")),
        "velero-backup.json goes last: {before:?}"
    );

    let (stdout, stderr) = rehearse_expecting(
        state.path(),
        &["--headless", "--until", "wait-backup-synced"],
        0,
    );
    assert!(stdout.contains(&format!("resuming {name}")), "{stdout}");
    assert!(stderr.contains("took over the lock"), "{stderr}");
    let entries = journal(state.path(), &name);
    let transfer = entries
        .iter()
        .find(|e| e["event"] == "step-finished" && e["step"] == "transfer-backup")
        .expect("the transfer finished");
    assert_eq!(transfer["outcome"], "passed", "{transfer}");
    let figures = &transfer["figures"];
    let (objects, copied, skipped) = (
        figures["objects"].as_u64().unwrap(),
        figures["copied"].as_u64().unwrap(),
        figures["skipped"].as_u64().unwrap(),
    );
    // What the killed run left whole on B is not copied again.
    assert!(skipped >= before.len() as u64, "{transfer}");
    assert!(skipped > 0 && copied > 0, "{transfer}");
    assert_eq!(copied + skipped, objects, "{transfer}");
    assert!(
        finished(&entries, "passed")
            .iter()
            .any(|s| s == "wait-backup-synced"),
        "B's Velero finds the backup: {stdout}"
    );
}
