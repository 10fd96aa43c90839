//! The prerequisites' inventory against simulated 3scale installations: a 2.14
//! source with DeploymentConfigs and a 2.15 source with Deployments, read field by
//! field from the recorded fact; no secret in the journal, the step log or the output;
//! a missing secret warns, an empty namespace and an unreadable secret fail; the
//! re-check after an interruption inside the step.

use base64::Engine as _;
use serde_json::{Value, json};

use cutover::infra::kube::KubeCluster;
use cutover::runbook::ClusterRole;
use cutover::sim::SimCluster;
use cutover::sim::installation::{
    InternalDatabases, SOURCE_WORKLOADS, install, source_objects_2_15,
};
use cutover::steps::inventory::{Inventory, Location, store_url};

use crate::cli::{Migration, Run, events, step, threescale_toml, write_kubeconfigs};

const NS: &str = "3scale";

fn migration(name: &str, party: &str, path: &str) -> Migration {
    let mut m = Migration::new(name, &threescale_toml(name, party, path, ""));
    write_kubeconfigs(&mut m);
    m
}

fn source(m: &Migration) -> &SimCluster {
    &m.clusters.as_ref().expect("clusters").source
}

/// The inventory fact the last attempt recorded.
fn fact(m: &Migration) -> Value {
    let (entries, _) = m.journal();
    let facts: Vec<&Value> = events(&entries, "step-fact", "inventory")
        .into_iter()
        .filter(|e| e["key"] == "inventory")
        .collect();
    facts
        .last()
        .map(|e| e["value"].clone())
        .unwrap_or_else(|| panic!("no inventory fact in {entries:#?}"))
}

fn finished(m: &Migration) -> Value {
    let (entries, _) = m.journal();
    events(&entries, "step-finished", "inventory")
        .last()
        .map(|e| (*e).clone())
        .unwrap_or_else(|| panic!("inventory did not finish: {entries:#?}"))
}

fn store<'a>(inv: &'a Value, secret: &str, key: &str) -> &'a Value {
    inv["stores"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["secret"] == secret && s["key"] == key))
        .unwrap_or_else(|| panic!("no store {secret}/{key} in {inv:#}"))
}

/// Every credential held in the source namespace's secrets: password, token and key
/// values, and the password part of every URL.
fn seeded_secrets(cluster: &SimCluster) -> Vec<String> {
    let mut found = Vec::new();
    for secret in cluster.list_objects("v1", "Secret", Some(NS), None) {
        let Some(data) = secret["data"].as_object() else {
            continue;
        };
        for (key, value) in data {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value.as_str().unwrap_or(""))
                .expect("secret data is base64");
            let text = String::from_utf8(bytes).expect("UTF-8 secret");
            let upper = key.to_ascii_uppercase();
            if ["PASSWORD", "TOKEN", "SECRET", "KEY_BASE"]
                .iter()
                .any(|k| upper.contains(k))
                && !text.is_empty()
            {
                found.push(text.clone());
            }
            if let Some((_, rest)) = text.split_once("://")
                && let Some(at) = rest.rfind('@')
                && let Some((_, password)) = rest[..at].split_once(':')
                && !password.is_empty()
            {
                found.push(password.to_string());
            }
        }
    }
    assert!(
        found.len() >= 5,
        "the simulated secrets hold credentials: {found:?}"
    );
    found
}

/// No credential in anything the migration wrote (journal, step logs) or printed.
fn assert_nothing_secret(m: &Migration, runs: &[&Run], secrets: &[String]) {
    let mut texts: Vec<(String, String)> = Vec::new();
    for entry in walk(&m.migration_dir()) {
        let text = String::from_utf8_lossy(&std::fs::read(&entry).expect("read")).into_owned();
        texts.push((entry.display().to_string(), text));
    }
    assert!(
        texts.iter().any(|(p, _)| p.ends_with("logs/inventory.log")),
        "the step has a log: {:?}",
        texts.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    for (i, run) in runs.iter().enumerate() {
        texts.push((format!("stdout of run {i}"), run.stdout.clone()));
        texts.push((format!("stderr of run {i}"), run.stderr.clone()));
    }
    let status = m.run(&["status", "--format", "json"]);
    texts.push(("status".into(), status.stdout));
    for secret in secrets {
        for (what, text) in &texts {
            assert!(
                !text.contains(secret.as_str()),
                "a secret ({} chars) appears in {what}",
                secret.len()
            );
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn log(m: &Migration) -> String {
    std::fs::read_to_string(m.migration_dir().join("logs/inventory.log")).expect("inventory log")
}

#[test]
fn a_2_14_source_runs_deployment_configs_with_internal_stores() {
    let m = migration("inv14", "red-hat", "limited");
    // A workload that is not 3scale's is listed too.
    source(&m)
        .apply_object(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "customer-exporter", "namespace": NS},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"deployment": "customer-exporter"}},
                "template": {
                    "metadata": {"labels": {"deployment": "customer-exporter"}},
                    "spec": {"containers": [{"name": "x", "image": "example/exporter"}]},
                },
            },
        }))
        .expect("apply");
    let secrets = seeded_secrets(source(&m));
    let run = m.run(&["run", "--headless", "--until", "inventory"]);
    run.expect_code(0);

    let done = finished(&m);
    assert_eq!(done["outcome"], "passed", "{done}");
    let inv = fact(&m);
    assert_eq!(inv["schema"], 1);
    assert_eq!(inv["namespace"], NS);
    assert_eq!(inv["versions"]["source"]["version"], "2.14");
    assert!(
        inv["versions"]["source"]["read_from"]
            .as_str()
            .is_some_and(|s| s.contains("APIManager 3scale")),
        "{inv:#}"
    );
    assert_eq!(inv["versions"]["destination"]["version"], "2.16");
    assert_eq!(inv["versions"]["migration_cluster"], Value::Null);
    assert_eq!(inv["workload_kind"], "DeploymentConfig");

    let workloads = inv["workloads"].as_array().expect("workloads");
    assert_eq!(workloads.len(), SOURCE_WORKLOADS.len() + 1, "{inv:#}");
    for (name, replicas) in SOURCE_WORKLOADS {
        let w = workloads
            .iter()
            .find(|w| w["name"] == *name)
            .unwrap_or_else(|| panic!("{name} not in the inventory"));
        assert_eq!(
            w,
            &json!({"name": name, "kind": "DeploymentConfig", "replicas": replicas, "known": true})
        );
    }
    let extra = workloads
        .iter()
        .find(|w| w["name"] == "customer-exporter")
        .expect("the extra workload");
    assert_eq!(
        extra,
        &json!({"name": "customer-exporter", "kind": "Deployment", "replicas": 3, "known": false})
    );

    assert_eq!(inv["stores"].as_array().map(Vec::len), Some(5));
    let sandbox_db = InternalDatabases::default();
    assert_eq!(
        store(&inv, "system-database", "URL"),
        &json!({"secret": "system-database", "key": "URL", "location": "internal",
                "scheme": "postgresql", "host": "system-postgresql", "port": 5432,
                "database": sandbox_db.system, "workload": "system-postgresql", "sentinel": false})
    );
    assert_eq!(
        store(&inv, "backend-redis", "REDIS_STORAGE_URL"),
        &json!({"secret": "backend-redis", "key": "REDIS_STORAGE_URL", "location": "internal",
                "scheme": "redis", "host": "backend-redis", "port": 6379, "database": "0",
                "workload": "backend-redis", "sentinel": false})
    );
    assert_eq!(
        store(&inv, "backend-redis", "REDIS_QUEUES_URL")["database"],
        "1"
    );
    assert_eq!(
        store(&inv, "system-redis", "URL"),
        &json!({"secret": "system-redis", "key": "URL", "location": "internal",
                "scheme": "redis", "host": "system-redis", "port": 6379, "database": "1",
                "workload": "system-redis", "sentinel": false})
    );
    assert_eq!(
        store(&inv, "zync", "DATABASE_URL"),
        &json!({"secret": "zync", "key": "DATABASE_URL", "location": "internal",
                "scheme": "postgresql", "host": "zync-database", "port": 5432,
                "database": sandbox_db.zync, "workload": "zync-database", "sentinel": false})
    );
    assert!(
        inv["permissions"]["checked"].as_u64().unwrap_or(0) > 0,
        "{inv:#}"
    );
    assert_eq!(inv["permissions"]["denied"], json!([]));
    assert_eq!(inv["warnings"], json!([]));

    // The public type reads the fact back.
    let typed: Inventory = serde_json::from_value(inv.clone()).expect("the fact's shape");
    let db = typed.store("system-database", "URL").expect("store");
    assert_eq!(db.location, Location::Internal);
    assert_eq!(typed.known_workloads().count(), SOURCE_WORKLOADS.len());

    // The step detail shows the figures; the log has one line per finding.
    let figures = &done["figures"];
    assert_eq!(figures["source"], "3scale 2.14");
    assert_eq!(figures["destination"], "3scale 2.16");
    assert_eq!(
        figures["system-database/URL"],
        format!(
            "internal postgresql system-postgresql:5432/{}",
            sandbox_db.system
        )
    );
    let summary = done["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("source 3scale 2.14 (15 DeploymentConfigs"),
        "{summary}"
    );
    let log = log(&m);
    assert!(log.contains("workload deploymentconfig backend-worker: 2 replica(s)"));
    assert!(log.contains("(not a 3scale workload)"), "{log}");
    assert!(log.contains("store zync/DATABASE_URL: internal postgresql zync-database:5432"));
    assert!(log.contains("migration cluster: no 3scale yet"), "{log}");

    assert_nothing_secret(&m, &[&run], &secrets);
    assert_eq!(step(&m.status(), "inventory")["status"], "done");
}

#[test]
fn a_2_15_source_runs_deployments_and_an_external_database_is_located() {
    let m = migration("inv15", "customer", "no-access");
    let src = source(&m);
    // The 2.14 workloads give way to 2.15's Deployments.
    for (name, _) in SOURCE_WORKLOADS {
        assert!(src.delete_object("apps.openshift.io/v1", "DeploymentConfig", NS, name));
    }
    let databases = InternalDatabases {
        system: "system".into(),
        zync: "zync_production".into(),
        ..InternalDatabases::default()
    };
    install(src, source_objects_2_15(NS, "apps.source.test", &databases)).expect("install 2.15");
    // The system database is outside the cluster (a MySQL on RDS), with its own password.
    let external_password = "Ext3rnal-Pa55/w0rd";
    src.apply_object(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "system-database", "namespace": NS},
        "type": "Opaque",
        "data": {
            "URL": base64::engine::general_purpose::STANDARD.encode(format!(
                "mysql2://admin:{external_password}@mysql.db.example.com/system"
            )),
            "DB_PASSWORD": base64::engine::general_purpose::STANDARD.encode(external_password),
        },
    }))
    .expect("apply the external database secret");
    // The queues Redis is reached through Sentinel; its hosts carry a password too.
    let sentinel_password = "S3ntinel-pa55";
    src.apply_object(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "backend-redis", "namespace": NS},
        "type": "Opaque",
        "data": {
            "REDIS_STORAGE_URL": base64::engine::general_purpose::STANDARD
                .encode("redis://backend-redis:6379/0"),
            "REDIS_QUEUES_URL": base64::engine::general_purpose::STANDARD
                .encode("redis://queues-master/1"),
            "REDIS_QUEUES_SENTINEL_HOSTS": base64::engine::general_purpose::STANDARD.encode(
                format!("redis://:{sentinel_password}@sentinel-0.example.com:26379")
            ),
        },
    }))
    .expect("apply the sentinel secret");
    let secrets = seeded_secrets(src);
    assert!(secrets.iter().any(|s| s == external_password));
    assert!(secrets.iter().any(|s| s == sentinel_password));

    let run = m.run(&["run", "--headless", "--until", "inventory"]);
    run.expect_code(0);
    let inv = fact(&m);
    assert_eq!(inv["versions"]["source"]["version"], "2.15");
    assert_eq!(inv["versions"]["destination"]["version"], "2.16");
    assert_eq!(inv["workload_kind"], "Deployment");
    let workloads = inv["workloads"].as_array().expect("workloads");
    assert_eq!(workloads.len(), SOURCE_WORKLOADS.len());
    for (name, replicas) in SOURCE_WORKLOADS {
        let w = workloads
            .iter()
            .find(|w| w["name"] == *name)
            .unwrap_or_else(|| panic!("{name} not in the inventory"));
        assert_eq!(
            w,
            &json!({"name": name, "kind": "Deployment", "replicas": replicas, "known": true})
        );
    }
    assert_eq!(
        store(&inv, "system-database", "URL"),
        &json!({"secret": "system-database", "key": "URL", "location": "external",
                "scheme": "mysql2", "host": "mysql.db.example.com", "port": 3306,
                "database": "system", "workload": null, "sentinel": false})
    );
    assert_eq!(
        store(&inv, "zync", "DATABASE_URL"),
        &json!({"secret": "zync", "key": "DATABASE_URL", "location": "internal",
                "scheme": "postgresql", "host": "zync-database", "port": 5432,
                "database": "zync_production", "workload": "zync-database", "sentinel": false})
    );
    assert_eq!(
        store(&inv, "backend-redis", "REDIS_QUEUES_URL"),
        &json!({"secret": "backend-redis", "key": "REDIS_QUEUES_URL", "location": "internal",
                "scheme": "redis", "host": "queues-master", "port": 6379, "database": "1",
                "workload": null, "sentinel": true})
    );
    assert_eq!(
        store(&inv, "backend-redis", "REDIS_STORAGE_URL")["sentinel"],
        false
    );
    let warnings = inv["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0]
            .as_str()
            .is_some_and(|w| w.contains("REDIS_QUEUES_SENTINEL_HOSTS")),
        "{warnings:?}"
    );
    let done = finished(&m);
    assert_eq!(
        done["figures"]["system-database/URL"],
        "external mysql2 mysql.db.example.com:3306/system"
    );
    assert!(
        done["summary"]
            .as_str()
            .is_some_and(|s| s.contains("(15 Deployments")),
        "{done}"
    );
    assert!(log(&m).contains("workload deployment system-app: 2 replica(s)"));
    assert_nothing_secret(&m, &[&run], &secrets);

    // Later steps read a store's URL from its secret when they use it.
    let config = cutover::config::Config::load(&m.config).expect("config");
    let cluster = config.cluster(ClusterRole::Source).expect("source").clone();
    let (url, missing) = crate::support::block_on(move || async move {
        let kube = KubeCluster::connect(&cluster.target())
            .await
            .expect("connect");
        let url = store_url(&kube, "system-database", "URL").await;
        let missing = store_url(&kube, "no-such-secret", "URL").await;
        (url, missing)
    });
    assert_eq!(
        url.expect("the URL"),
        format!("mysql2://admin:{external_password}@mysql.db.example.com/system")
    );
    let missing = format!("{:#}", missing.expect_err("no such secret"));
    assert!(
        missing.contains("secret no-such-secret does not exist in namespace 3scale"),
        "{missing}"
    );
}

#[test]
fn a_missing_store_secret_is_a_warning() {
    let m = migration("invmiss", "red-hat", "further-limited");
    assert!(source(&m).delete_object("v1", "Secret", NS, "zync"));
    let secrets = seeded_secrets(source(&m));
    let run = m.run(&["run", "--headless", "--until", "inventory"]);
    run.expect_code(0);
    let done = finished(&m);
    assert_eq!(done["outcome"], "passed", "{done}");
    assert!(
        done["summary"]
            .as_str()
            .is_some_and(|s| s.contains("1 warning(s)")),
        "{done}"
    );
    let inv = fact(&m);
    assert_eq!(inv["stores"].as_array().map(Vec::len), Some(4));
    assert!(
        inv["stores"]
            .as_array()
            .is_some_and(|s| s.iter().all(|s| s["secret"] != "zync"))
    );
    let warnings = inv["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0]
            .as_str()
            .is_some_and(|w| w.contains("secret zync is not in namespace 3scale")),
        "{warnings:?}"
    );
    assert!(log(&m).contains("Warn secret zync is not in namespace 3scale"));
    assert_nothing_secret(&m, &[&run], &secrets);
}

#[test]
fn a_namespace_without_3scale_fails_clearly() {
    let m = migration("invnone", "red-hat", "limited");
    let src = source(&m);
    for (name, _) in SOURCE_WORKLOADS {
        assert!(src.delete_object("apps.openshift.io/v1", "DeploymentConfig", NS, name));
    }
    assert!(src.delete_object("apps.3scale.net/v1alpha1", "APIManager", NS, "3scale"));
    let run = m.run(&["run", "--headless"]);
    run.expect_code(1);
    assert!(run.stderr.contains("inventory failed"), "{}", run.stderr);
    let done = finished(&m);
    assert_eq!(done["outcome"], "failed");
    let summary = done["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("no 3scale in namespace 3scale of the source cluster"),
        "{summary}"
    );
    assert!(summary.contains("no APIManager"), "{summary}");
    assert!(summary.contains("[source].namespace"), "{summary}");
    let (entries, _) = m.journal();
    assert!(
        events(&entries, "step-fact", "inventory").is_empty(),
        "a failed inventory records nothing"
    );
    assert!(events(&entries, "step-started", "check-redis").is_empty());
}

#[test]
fn an_unreadable_secret_fails_and_names_the_permission() {
    let m = migration("invdeny", "red-hat", "limited");
    m.run(&["run", "--headless", "--until", "check-cluster-access"])
        .expect_code(0);
    source(&m).deny("get", "", "secrets", None, Some(NS));
    let run = m.run(&["run", "--headless"]);
    run.expect_code(1);
    let summary = finished(&m)["summary"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        summary.contains("cannot read secret system-database in namespace 3scale"),
        "{summary}"
    );
    assert!(summary.contains("`get secrets`"), "{summary}");
    assert!(summary.contains("403"), "{summary}");
}

/// Cuts the journal right after the inventory fact, as if the process had died inside
/// the step after recording it.
fn interrupt_after_the_fact(m: &Migration) {
    let path = m.journal_path();
    let text = std::fs::read_to_string(&path).expect("journal");
    let mut kept = String::new();
    for line in text.lines() {
        kept.push_str(line);
        kept.push('\n');
        let v: Value = serde_json::from_str(line).expect("journal line");
        if v["event"] == "step-fact" && v["step"] == "inventory" {
            break;
        }
    }
    assert!(
        kept.len() < text.len(),
        "the journal goes on after the fact"
    );
    std::fs::write(&path, kept).expect("write journal");
    assert_eq!(step(&m.status(), "inventory")["status"], "interrupted");
}

#[test]
fn a_resumed_run_rechecks_the_recorded_inventory() {
    let m = migration("invre", "red-hat", "limited");
    m.run(&["run", "--headless", "--until", "inventory"])
        .expect_code(0);

    // Nothing changed: the re-check holds and the step is not run again.
    interrupt_after_the_fact(&m);
    m.run(&["run", "--headless", "--until", "inventory"])
        .expect_code(0);
    let (entries, _) = m.journal();
    let rechecked = events(&entries, "step-rechecked", "inventory");
    assert_eq!(rechecked.len(), 1, "{entries:#?}");
    assert_eq!(rechecked[0]["holds"], true, "{}", rechecked[0]);
    assert!(
        rechecked[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("still matches")),
        "{}",
        rechecked[0]
    );
    assert_eq!(events(&entries, "step-started", "inventory").len(), 1);
    assert_eq!(step(&m.status(), "inventory")["status"], "done");

    // The source moved to Deployments meanwhile: the re-check does not hold and the
    // inventory is taken again.
    interrupt_after_the_fact(&m);
    let src = source(&m);
    for (name, _) in SOURCE_WORKLOADS {
        assert!(src.delete_object("apps.openshift.io/v1", "DeploymentConfig", NS, name));
    }
    install(
        src,
        source_objects_2_15(NS, "apps.source.test", &InternalDatabases::default()),
    )
    .expect("install 2.15");
    m.run(&["run", "--headless", "--until", "inventory"])
        .expect_code(0);
    let (entries, _) = m.journal();
    let rechecked = events(&entries, "step-rechecked", "inventory");
    let last = rechecked.last().expect("a re-check");
    assert_eq!(last["holds"], false, "{last}");
    assert!(
        last["detail"]
            .as_str()
            .is_some_and(|d| d.contains("2.14") && d.contains("2.15")),
        "{last}"
    );
    assert_eq!(events(&entries, "step-started", "inventory").len(), 2);
    let inv = fact(&m);
    assert_eq!(inv["versions"]["source"]["version"], "2.15");
    assert_eq!(inv["workload_kind"], "Deployment");
}
