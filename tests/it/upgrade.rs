//! `install-source-3scale` and `upgrade-3scale` against the simulated migration cluster (OLM and
//! the 3scale operator of `sim::olm`, `sim::threescale_operator`) and a real PostgreSQL system
//! database on porta's 2.14 schema, which each hop's `system-app-pre` Job migrates.

use cutover::infra::kube::WorkloadKind;
use cutover::infra::porta::Release;
use cutover::sim::SimCluster;
use cutover::sim::installation::migration_objects;
use cutover::sim::seed::porta_schema;
use cutover::sim::seed::{SeedTokens, Sizes, seed_system_database_with};
use cutover::steps::inventory::{Inventory, VersionFound};
use serde_json::Value;

use crate::cli::{Migration, events, wait_until};
use crate::dumps::{last_fact, last_finished};
use crate::support::{PgDatabase, block_on};

const STEP: &str = "upgrade-3scale";
const CHECK: &str = "install-source-3scale";
const PHRASE: &str = "upgrade 3scale";
const NS: &str = "3scale";
const OLM: &str = "operators.coreos.com/v1alpha1";

/// The migration cluster's system database: porta's 2.14 schema, seeded.
fn database() -> PgDatabase {
    let db = PgDatabase::create();
    let url = db.url().to_string();
    block_on(|| async move {
        seed_system_database_with(
            &url,
            "apps.migration.test",
            &Sizes::default(),
            &SeedTokens::default(),
            porta_schema::source_release(),
        )
        .await
        .unwrap_or_else(|e| panic!("seed the database: {e:#}"))
    });
    db
}

fn release_of(db: &PgDatabase) -> &'static str {
    let version = db.query_one("SELECT max(version::numeric)::text FROM schema_migrations");
    Release::by_schema_version(&version)
        .map(|r| r.name)
        .unwrap_or_else(|| panic!("schema {version} is no known release"))
}

fn inventory(source: &str) -> Inventory {
    let mut inv = crate::dumps::inventory(WorkloadKind::DeploymentConfig, vec![], vec![]);
    let found = |v: &str| {
        Some(VersionFound {
            version: v.to_string(),
            read_from: "APIManager 3scale".to_string(),
        })
    };
    inv.versions.source = found(source);
    inv.versions.destination = found("2.16");
    inv
}

/// A migration whose migration cluster runs 3scale 2.14 through OLM, its hook Jobs migrating
/// `db`; every step before `until` skipped, the inventory saying the source runs `source`.
fn migration(name: &str, db: Option<&PgDatabase>, source: &str, until: &str) -> Migration {
    let mut m = Migration::new(
        name,
        &crate::cli::threescale_toml(name, "red-hat", "limited", ""),
    );
    crate::cli::write_kubeconfigs(&mut m);
    let cluster = cluster(&m);
    cutover::sim::installation::install(cluster, migration_objects(NS, "apps.migration.test"))
        .expect("3scale 2.14 on the migration cluster");
    if let Some(db) = db {
        cluster.on_system_app_pre(porta_schema::db_migrate_on_upgrade(db.url().to_string()));
    }
    crate::cli::skip_steps(&m, None, until, Some(&inventory(source)));
    m
}

fn cluster(m: &Migration) -> &SimCluster {
    &m.clusters.as_ref().expect("the clusters").migration
}

fn object(m: &Migration, api_version: &str, kind: &str, name: &str) -> Option<Value> {
    cluster(m).get_object(api_version, kind, NS, name)
}

fn subscription(m: &Migration) -> Value {
    object(m, OLM, "Subscription", "3scale-operator").expect("the Subscription")
}

fn apimanager(m: &Migration) -> Value {
    object(m, "apps.3scale.net/v1alpha1", "APIManager", "3scale").expect("the APIManager")
}

fn annotation(am: &Value, key: &str) -> String {
    am["metadata"]["annotations"][key]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn names(m: &Migration, api_version: &str, kind: &str) -> Vec<String> {
    cluster(m)
        .list_objects(api_version, kind, Some(NS), None)
        .iter()
        .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
        .collect()
}

fn upgrade(m: &Migration) -> crate::cli::Run {
    m.run_confirmed(STEP, PHRASE)
}

#[test]
fn the_upgrade_goes_hop_by_hop_through_olm_and_the_operator_migrates_the_database() {
    let db = database();
    let m = migration("upgradehops", Some(&db), "2.14", STEP);
    let replicas_before: Vec<(String, Value)> = cluster(&m)
        .list_objects("apps.openshift.io/v1", "DeploymentConfig", Some(NS), None)
        .iter()
        .map(|dc| {
            (
                dc["metadata"]["name"].as_str().unwrap_or("").to_string(),
                dc["spec"]["replicas"].clone(),
            )
        })
        .collect();
    assert!(!replicas_before.is_empty());

    let run = upgrade(&m);
    run.expect_code(0);
    for line in [
        "hop 1 of 2: 2.14 → 2.15: Subscription 3scale-operator moved from channel threescale-2.14 to threescale-2.15",
        "hop 1 of 2: 2.14 → 2.15: approved InstallPlan",
        "waiting for CSV 3scale-operator.v0.12.5 Succeeded",
        "hop 2 of 2: 2.15 → 2.16: approved InstallPlan",
        "hop 2 of 2: 2.15 → 2.16: done, 3scale-operator.v0.13.4 runs",
    ] {
        assert!(run.stdout.contains(line), "{line}:\n{}", run.stdout);
    }
    let done = last_finished(&m, STEP);
    assert_eq!(done["outcome"], "passed", "{done}");
    assert_eq!(done["figures"]["hops_done"], 2, "{done}");
    assert_eq!(
        last_fact(&m, STEP, "hop-2.15")["csv"],
        "3scale-operator.v0.12.5"
    );
    assert_eq!(
        last_fact(&m, STEP, "hop-2.16")["csv"],
        "3scale-operator.v0.13.4"
    );

    // The database went through both releases' migrations.
    assert_eq!(release_of(&db), "2.16");
    // OLM: on the last channel, the last CSV installed, the ones it replaced gone.
    let sub = subscription(&m);
    assert_eq!(sub["spec"]["channel"], "threescale-2.16");
    assert_eq!(sub["status"]["installedCSV"], "3scale-operator.v0.13.4");
    wait_until("the replaced CSVs to be deleted", || {
        names(&m, OLM, "ClusterServiceVersion") == ["3scale-operator.v0.13.4"]
    });
    // The operator: annotations, conditions, no DeploymentConfig, Deployments as many.
    let am = apimanager(&m);
    assert_eq!(
        annotation(&am, "apps.3scale.net/apimanager-threescale-version"),
        "2.16.4"
    );
    assert_eq!(
        annotation(&am, "apps.3scale.net/threescale-operator-version"),
        "0.13.4"
    );
    assert!(names(&m, "apps.openshift.io/v1", "DeploymentConfig").is_empty());
    for (name, replicas) in &replicas_before {
        let d = object(&m, "apps/v1", "Deployment", name)
            .unwrap_or_else(|| panic!("Deployment {name}"));
        assert_eq!(&d["spec"]["replicas"], replicas, "{name}");
    }
    // The re-check agrees: a second run finds the step done.
    m.run_confirmed(STEP, PHRASE).expect_code(0);
}

#[test]
fn a_hop_the_operator_refuses_stops_the_step_with_its_preflights_message() {
    let db = database();
    let m = migration("upgraderefused", Some(&db), "2.14", STEP);
    // 2.16 needs external backend Redis: this APIManager says it is internal.
    let mut am = apimanager(&m);
    am["spec"]["externalComponents"]["backend"]["redis"] = false.into();
    cluster(&m)
        .apply_object(am)
        .expect("the APIManager with internal backend Redis");

    let run = upgrade(&m);
    run.expect_code(1);
    let done = last_finished(&m, STEP);
    assert_eq!(done["outcome"], "failed", "{done}");
    let summary = done["summary"].as_str().unwrap_or("");
    assert!(
        summary.contains("hop 2 of 2: 2.15 → 2.16")
            && summary.contains("Preflights=False")
            && summary.contains(
                "External databases are required to be set in the APIManager for system Redis, \
                 backend Redis and system database"
            ),
        "{summary}"
    );
    assert_eq!(done["figures"]["hops_done"], 1, "{done}");
    // The first hop is done, the second stopped where the operator refused it.
    assert_eq!(release_of(&db), "2.15");
    let am = apimanager(&m);
    assert_eq!(
        annotation(&am, "apps.3scale.net/apimanager-threescale-version"),
        "2.15.5"
    );
    assert!(
        last_fact(&m, STEP, "hop-2.15").is_object() && {
            let (entries, _) = m.journal();
            !events(&entries, "step-fact", STEP)
                .iter()
                .any(|e| e["key"] == "hop-2.16")
        }
    );
}

#[test]
fn an_install_plan_for_another_csv_is_refused_and_nothing_is_approved_or_patched() {
    let m = migration("upgradeforeign", None, "2.14", STEP);
    // Someone moved the channel two minors on: OLM plans 2.16's CSV right over 2.14's.
    let mut sub = subscription(&m);
    sub["spec"]["channel"] = "threescale-2.16".into();
    cluster(&m)
        .apply_object(sub)
        .expect("the Subscription on threescale-2.16");
    let plan_of = |m: &Migration| -> Option<Value> {
        let name = subscription(m)["status"]["installPlanRef"]["name"]
            .as_str()?
            .to_string();
        object(m, OLM, "InstallPlan", &name).filter(|p| p["status"]["phase"] == "RequiresApproval")
    };
    wait_until("OLM's InstallPlan for 2.16", || plan_of(&m).is_some());

    upgrade(&m).expect_code(1);
    let summary = last_finished(&m, STEP)["summary"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        summary.contains("would install 3scale-operator.v0.13.4, not 3scale-operator.v0.12.*")
            && summary.contains("not approved"),
        "{summary}"
    );
    let plan = plan_of(&m).expect("the plan still waits");
    assert_eq!(plan["spec"]["approved"], false);
    assert_eq!(
        subscription(&m)["spec"]["channel"],
        "threescale-2.16",
        "not patched"
    );
}

#[test]
fn an_upgrade_killed_in_the_middle_of_a_hop_is_finished_by_the_resume() {
    let db = database();
    let m = migration("upgradekill", Some(&db), "2.14", STEP);
    let typed = format!("{STEP}={PHRASE}");
    let mut child = m.spawn(&["run", "--headless", "--until", STEP, "--confirm", &typed]);
    // The first hop's InstallPlan approved: OLM installs its CSV, the step waits on it.
    wait_until("the first hop's CSV", || {
        object(&m, OLM, "ClusterServiceVersion", "3scale-operator.v0.12.5").is_some()
    });
    child.kill().expect("kill -9");
    let _ = child.wait();
    assert_ne!(release_of(&db), "2.16", "killed before the end");

    let run = upgrade(&m);
    run.expect_code(0);
    assert_eq!(release_of(&db), "2.16");
    let (entries, _) = m.journal();
    assert_eq!(
        events(&entries, "step-rechecked", STEP).len(),
        1,
        "the interrupted attempt is re-checked"
    );
    assert_eq!(last_finished(&m, STEP)["outcome"], "passed");
    assert_eq!(
        subscription(&m)["status"]["installedCSV"],
        "3scale-operator.v0.13.4"
    );
    assert_eq!(
        annotation(
            &apimanager(&m),
            "apps.3scale.net/apimanager-threescale-version"
        ),
        "2.16.4"
    );
}

#[test]
fn install_source_3scale_passes_on_the_source_s_version_and_fails_naming_both_otherwise() {
    let m = migration("sourcecheck", None, "2.14", CHECK);
    m.run(&["run", "--headless", "--until", CHECK])
        .expect_code(0);
    let done = last_finished(&m, CHECK);
    assert_eq!(done["outcome"], "passed", "{done}");
    assert!(
        done["summary"]
            .as_str()
            .is_some_and(|s| s.contains("runs 3scale 2.14 (3scale-operator.v0.11.3)")),
        "{done}"
    );

    let other = migration("sourcecheckother", None, "2.15", CHECK);
    other
        .run(&["run", "--headless", "--until", CHECK])
        .expect_code(1);
    let done = last_finished(&other, CHECK);
    let summary = done["summary"].as_str().unwrap_or("");
    assert!(
        summary.contains("3scale-operator.v0.11.3 ships 3scale 2.14, the source runs 2.15"),
        "{summary}"
    );
}

#[test]
fn olm_objects_are_refused_as_their_crd_schemas_refuse_them() {
    let m = migration("olmschema", None, "2.14", CHECK);
    let mut sub = subscription(&m);
    sub["spec"]["installPlanApproval"] = "manual".into();
    let err = cluster(&m)
        .apply_object(sub)
        .expect_err("a lowercase approval is refused");
    assert!(
        format!("{err:#}").contains(
            "spec.installPlanApproval: Unsupported value: \"manual\": supported values: \
             \"Automatic\", \"Manual\""
        ),
        "{err:#}"
    );
    let mut plan = object(&m, OLM, "InstallPlan", "install-7bz4d").expect("the first plan");
    if let Some(spec) = plan["spec"].as_object_mut() {
        spec.remove("clusterServiceVersionNames");
    }
    let err = cluster(&m)
        .apply_object(plan)
        .expect_err("a plan without CSVs is refused");
    assert!(
        format!("{err:#}").contains("spec.clusterServiceVersionNames: Required value"),
        "{err:#}"
    );
}

#[test]
fn a_pause_stops_the_upgrade_at_a_safe_point_and_the_next_run_continues_the_hop() {
    use cutover::event::{Command, Event};
    use cutover::runbook::{Outcome, StepId};
    let db = database();
    let m = migration("upgradepause", Some(&db), "2.14", STEP);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let summary = runtime.block_on(async {
        let mut d = crate::engine_hold::Driver::start(&m);
        d.hold().await;
        d.send(Command::Run);
        d.until("the upgrade's gate", |e| match e {
            Event::Waiting(r) if r.step.0 == STEP => Some(()),
            _ => None,
        })
        .await;
        d.send(Command::Confirm {
            step: StepId(STEP),
            text: Some(PHRASE.into()),
        });
        d.until("the first hop's InstallPlan approved", |e| match e {
            Event::StepLog { line, .. } if line.contains("approved InstallPlan") => Some(()),
            _ => None,
        })
        .await;
        d.send(Command::Pause);
        let summary = d
            .until("the step stopped", |e| match e {
                Event::StepFinished {
                    step,
                    outcome,
                    summary,
                    ..
                } if step.0 == STEP => {
                    assert_eq!(*outcome, Outcome::Stopped, "{summary}");
                    Some(summary.clone())
                }
                _ => None,
            })
            .await;
        d.hold().await;
        d.send(Command::Quit);
        d.end().await;
        summary
    });
    assert!(
        summary.contains("stopped at hop 1 of 2: 2.14 → 2.15")
            && summary.contains("run the step again"),
        "{summary}"
    );
    // OLM and the operator went on without cutover; the next run finishes from there.
    upgrade(&m).expect_code(0);
    assert_eq!(release_of(&db), "2.16");
    let (entries, _) = m.journal();
    let outcomes: Vec<&str> = events(&entries, "step-finished", STEP)
        .iter()
        .filter_map(|e| e["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, ["stopped", "passed"]);
}
