//! `seed-destination-database` run by the real binary, `cutover run --headless`: the
//! migration cluster's database is dumped by `dump-migration-database` from a real PostgreSQL
//! database, and seeded into another that holds what a fresh RHOAM install wrote, while the
//! simulated destination cluster's operators and 3scale components are paused (by
//! `pause-destination`, which the seed requires).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use cutover::infra::kube::ORIGINAL_REPLICAS_ANNOTATION;
use cutover::infra::pg;
use cutover::sim::SimCluster;
use cutover::sim::installation::{DESTINATION_WORKLOADS, OPERATOR_REPLICAS};
use cutover::sim::seed::porta_schema::{self, Release};
use cutover::sim::seed::{SeedTokens, Sizes, seed_system_database_with};
use cutover::steps::destination::{
    DESTINATION_COMPONENTS, DESTINATION_OPERATORS, REINDEX_JOB, ROUTES_FILE,
};
use cutover::steps::seed::FALLBACK_FILE;
use serde_json::Value;

use crate::cli::{
    Migration, Run, events, skip_steps, step_after, threescale_toml, write_kubeconfigs,
};
use crate::dumps;
use crate::support::{PgDatabase, block_on};

const DUMP: &str = "dump-migration-database";
const PAUSE: &str = "pause-destination";
const SEED: &str = "seed-destination-database";
const CLEAR: &str = "clear-fresh-install";
const GATE: &str = "seed destination database";
const NS: &str = "redhat-rhoam-3scale";
const DEPLOYMENT: &str = "apps/v1";

fn seeded(domain: &str, sizes: Sizes) -> PgDatabase {
    seeded_release(domain, sizes, porta_schema::source_release())
}

/// A system database of 3scale `release`.
fn seeded_release(domain: &str, sizes: Sizes, release: &'static Release) -> PgDatabase {
    let db = PgDatabase::create();
    let url = db.url().to_string();
    let domain = domain.to_string();
    block_on(|| async move {
        seed_system_database_with(&url, &domain, &sizes, &SeedTokens::default(), release)
            .await
            .unwrap_or_else(|e| panic!("seed the database: {e:#}"))
    });
    db
}

/// Exact rows of every table of the public schema, `public.name` → rows, counted by the
/// same library function the steps use.
fn counts(db: &PgDatabase) -> BTreeMap<String, u64> {
    let url = db.url().to_string();
    block_on(|| async move {
        let client = pg::connect(&url, Duration::from_secs(30))
            .await
            .expect("connect to the test database");
        let tables: Vec<(String, String)> = client
            .query(
                "SELECT schemaname::text, tablename::text FROM pg_tables \
                 WHERE schemaname = 'public'",
                &[],
            )
            .await
            .expect("list the tables")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        pg::count_rows(&client, &tables)
            .await
            .expect("count the rows")
    })
}

/// A migration on the limited path (Red Hat dumps and seeds) whose migration cluster and
/// destination system databases are real, and whose clusters are simulated.
pub(crate) struct Env {
    pub(crate) m: Migration,
    pub(crate) migration_db: PgDatabase,
    pub(crate) destination_db: PgDatabase,
}

/// How the steps reach the two databases.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// By the URLs in the config.
    Url,
    /// Through the client pod: the config names no URL, the clusters' `system-database`
    /// secrets hold them (with [`POD_URL_PASSWORD`]).
    Pod,
}

/// The password the secrets' URLs carry in the pod route; the servers trust loopback, so it
/// is only there to be looked for in every output.
const POD_URL_PASSWORD: &str = "P0d-route-S3cret";

/// `url` with [`POD_URL_PASSWORD`] as its password.
fn with_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (user, host) = rest.split_once('@').expect("a user in the URL");
    let user = user.split(':').next().unwrap_or(user);
    format!("{scheme}://{user}:{POD_URL_PASSWORD}@{host}")
}

/// Makes secret `name` of `ns` hold `key` = `value` only.
pub(crate) fn set_secret(cluster: &SimCluster, ns: &str, name: &str, key: &str, value: &str) {
    use base64::Engine;
    cluster
        .apply_object(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": ns},
            "type": "Opaque",
            "data": {key: base64::engine::general_purpose::STANDARD.encode(value)},
        }))
        .unwrap_or_else(|e| panic!("apply secret {ns}/{name}: {e:#}"));
}

/// Points `system-database`/`URL` of `ns` at `url`, and lets the client pod's psql, pg_dump
/// and pg_restore run here (with the pod's environment, so with that URL).
fn serve_through_pod(cluster: &SimCluster, ns: &str, url: &str) {
    set_secret(cluster, ns, "system-database", "URL", &with_password(url));
    for rule in cutover::sim::client_pod_rules() {
        cluster.allow_exec(rule);
    }
}

impl Env {
    fn new(name: &str) -> Env {
        Env::reached(name, Reach::Url)
    }

    pub(crate) fn reached(name: &str, reach: Reach) -> Env {
        Env::reached_with(name, reach, porta_schema::source_release())
    }

    /// With RHOAM's database at 3scale `release`.
    fn reached_with(name: &str, reach: Reach, release: &'static Release) -> Env {
        let migration_db = seeded(
            "apps.rhoam.test",
            Sizes {
                services: 3,
                applications_per_service: 4,
                ..Sizes::default()
            },
        );
        // What a fresh install wrote: the same tables, fewer rows.
        let destination_db = seeded_release(
            "apps.rhoam.test",
            Sizes {
                services: 1,
                applications_per_service: 1,
                ..Sizes::default()
            },
            release,
        );
        let toml = threescale_toml(name, "red-hat", "limited", "");
        let toml = if reach == Reach::Pod {
            toml
        } else {
            toml.replace(
                "wildcard_domain = \"apps.migration.test\"\n",
                "wildcard_domain = \"apps.migration.test\"\nsystem_database_kind = \
                 \"postgresql\"\nsystem_database_url = \"env:TEST_MIGRATION_DB\"\n",
            )
            .replace(
                "wildcard_domain = \"apps.rhoam.test\"\n",
                "wildcard_domain = \"apps.rhoam.test\"\nsystem_database_kind = \
                 \"postgresql\"\nsystem_database_url = \"env:TEST_DESTINATION_DB\"\n",
            )
        };
        let mut m = Migration::new(name, &toml);
        m.set_env("TEST_MIGRATION_DB", migration_db.url());
        m.set_env("TEST_DESTINATION_DB", destination_db.url());
        write_kubeconfigs(&mut m);
        if reach == Reach::Pod {
            let clusters = m.clusters.as_ref().expect("simulated clusters");
            serve_through_pod(&clusters.migration, "3scale", migration_db.url());
            serve_through_pod(&clusters.destination, NS, destination_db.url());
        }
        let env = Env {
            m,
            migration_db,
            destination_db,
        };
        crate::cli::wait_until("the destination's deployments running", || {
            env.all_deployments()
                .iter()
                .all(|(ns, name, replicas)| env.running_pods(ns, name) == *replicas as usize)
        });
        env
    }

    pub(crate) fn destination(&self) -> &SimCluster {
        &self
            .m
            .clusters
            .as_ref()
            .expect("simulated clusters")
            .destination
    }

    /// Every deployment the step pauses: (namespace, name, replicas at install).
    pub(crate) fn all_deployments(&self) -> Vec<(String, String, i32)> {
        let mut all: Vec<(String, String, i32)> = DESTINATION_OPERATORS
            .iter()
            .map(|(ns, name)| (ns.to_string(), name.to_string(), OPERATOR_REPLICAS))
            .collect();
        for name in DESTINATION_COMPONENTS {
            let (_, replicas) = DESTINATION_WORKLOADS
                .iter()
                .find(|(n, _)| n == name)
                .expect("a component of the simulated destination");
            all.push((NS.to_string(), name.to_string(), *replicas));
        }
        all
    }

    pub(crate) fn deployment(&self, ns: &str, name: &str) -> Value {
        self.destination()
            .get_object(DEPLOYMENT, "Deployment", ns, name)
            .unwrap_or_else(|| panic!("no Deployment {ns}/{name}"))
    }

    pub(crate) fn running_pods(&self, ns: &str, name: &str) -> usize {
        self.destination()
            .list_objects("v1", "Pod", Some(ns), Some(&format!("deployment={name}")))
            .iter()
            .filter(|p| p["status"]["phase"] == "Running")
            .count()
    }

    pub(crate) fn pods(&self, ns: &str, name: &str) -> usize {
        self.destination()
            .list_objects("v1", "Pod", Some(ns), Some(&format!("deployment={name}")))
            .len()
    }

    pub(crate) fn dumps(&self) -> PathBuf {
        self.m.dir.path().join("dumps")
    }

    /// Runs `dump-migration-database` with the steps before it skipped, then
    /// `pause-destination`.
    pub(crate) fn dump(&self) -> PathBuf {
        let dump = self.dump_only();
        self.m
            .run_confirmed(PAUSE, "pause destination")
            .expect_code(0);
        dump
    }

    /// Runs `dump-migration-database` with the steps before it skipped, and skips the steps
    /// between it and the pause.
    fn dump_only(&self) -> PathBuf {
        skip_steps(&self.m, None, DUMP, None);
        self.m
            .run(&["run", "--headless", "--until", DUMP])
            .expect_code(0);
        let next = step_after(&self.m, DUMP);
        if next != PAUSE {
            skip_steps(&self.m, Some(&next), PAUSE, None);
        }
        self.dumps().join("migration-system-database.dump")
    }

    pub(crate) fn seed(&self) -> Run {
        self.m.run_confirmed(SEED, GATE)
    }

    fn finished(&self) -> Vec<Value> {
        let (entries, _) = self.m.journal();
        events(&entries, "step-finished", SEED)
            .into_iter()
            .cloned()
            .collect()
    }

    pub(crate) fn fact_of(&self, step: &str, key: &str) -> Option<Value> {
        let (entries, _) = self.m.journal();
        events(&entries, "step-fact", step)
            .into_iter()
            .rfind(|e| e["key"] == key)
            .map(|e| e["value"].clone())
    }
}

fn manifest(env: &Env) -> Value {
    let text = std::fs::read_to_string(env.dumps().join("manifest.json")).expect("the manifest");
    serde_json::from_str(&text).expect("the manifest is JSON")
}

/// Runs the seed, which must pass holding the migration database's rows (`migrated`); returns
/// its result and the run.
fn seed_passes(env: &Env, migrated: &BTreeMap<String, u64>) -> (Value, Run) {
    let run = env.seed();
    run.expect_code(0);
    let done = env.finished();
    let result = done.last().expect("the seed finished").clone();
    assert_eq!(result["outcome"], "passed", "{result}");
    assert_eq!(&counts(&env.destination_db), migrated, "the dump's rows");
    (result, run)
}

/// Runs the seed, which must fail (exit 1); returns its summary.
fn seed_fails(env: &Env) -> String {
    env.seed().expect_code(1);
    let done = env.finished();
    let result = done.last().expect("the seed finished");
    assert_eq!(result["outcome"], "failed", "{result}");
    result["summary"].as_str().unwrap_or("").to_string()
}

/// The fallback's manifest entry, checked against the file: the rows it holds.
fn fallback_rows(env: &Env) -> BTreeMap<String, u64> {
    let fallback = env.dumps().join(FALLBACK_FILE);
    let manifest = manifest(env);
    let entry = manifest["artifacts"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["file"] == FALLBACK_FILE))
        .unwrap_or_else(|| panic!("the fallback in the manifest: {manifest}"));
    assert_eq!(entry["sha256"], dumps::sha256_of(&fallback));
    assert_eq!(entry["step"], SEED);
    serde_json::from_value(entry["counts"].clone()).expect("counts")
}

#[test]
fn the_pause_stops_rhoam_and_the_seed_replaces_a_fresh_install_with_the_migration_dump() {
    let env = Env::new("seed");
    let fresh = counts(&env.destination_db);
    let migrated = counts(&env.migration_db);
    assert_ne!(fresh, migrated, "the two databases differ before the seed");
    // One component already at 0 with the count an earlier stop annotated, one not there.
    let mut zync = env.deployment(NS, "zync");
    zync["spec"]["replicas"] = 0.into();
    zync["metadata"]["annotations"][ORIGINAL_REPLICAS_ANNOTATION] = "3".into();
    env.destination().apply_object(zync).expect("zync at 0");
    assert!(
        env.destination()
            .delete_object(DEPLOYMENT, "Deployment", NS, "system-searchd")
    );

    env.dump();
    let (result, _) = seed_passes(&env, &migrated);
    assert_eq!(result["figures"]["differences"], serde_json::json!([]));
    let summary = result["summary"].as_str().unwrap_or("");
    assert!(summary.contains("restore-destination-3scale"), "{summary}");
    let paused = dumps::last_finished(&env.m, PAUSE);
    let said = paused["summary"].as_str().unwrap_or("");
    assert!(
        said.contains("restore-destination-3scale") && said.contains("system-searchd"),
        "{said}"
    );

    // The fallback holds the fresh install, and the manifest lists it.
    let fallback = env.dumps().join(FALLBACK_FILE);
    let mode = std::fs::metadata(&fallback)
        .expect("the fallback dump")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        fallback_rows(&env),
        fresh,
        "the fallback is the fresh install"
    );

    // Everything paused, with its count; the one at 0 kept its annotation.
    let paused = env.fact_of(PAUSE, "paused").expect("the fact paused");
    for (ns, name, replicas) in env.all_deployments() {
        if name == "system-searchd" {
            continue;
        }
        let d = env.deployment(&ns, &name);
        assert_eq!(d["spec"]["replicas"], 0, "{ns}/{name}");
        let expected = if name == "zync" { 3 } else { replicas };
        assert_eq!(
            d["metadata"]["annotations"][ORIGINAL_REPLICAS_ANNOTATION],
            expected.to_string(),
            "{ns}/{name}"
        );
        assert_eq!(paused["replicas"][&ns][&name], expected, "{paused}");
        assert_eq!(env.pods(&ns, &name), 0, "{ns}/{name} has no pods left");
    }
    assert_eq!(
        paused["absent"],
        serde_json::json!([format!("{NS}/system-searchd")])
    );
}

#[test]
fn a_changed_byte_in_the_migration_dump_stops_the_seed_before_anything_changes() {
    let env = Env::new("seedflip");
    let fresh = counts(&env.destination_db);
    let path = env.dump();
    dumps::flip_middle_byte(&path);

    let summary = seed_fails(&env);
    assert!(
        summary.contains("migration-system-database.dump") && summary.contains("has changed"),
        "{summary}"
    );
    assert_eq!(
        counts(&env.destination_db),
        fresh,
        "the database is untouched"
    );
    assert!(
        !env.dumps().join(FALLBACK_FILE).exists(),
        "no fallback taken"
    );
}

#[test]
fn the_seed_refuses_while_rhoam_runs_and_names_what_runs() {
    let env = Env::new("seedrunning");
    let fresh = counts(&env.destination_db);
    env.dump_only();
    skip_steps(&env.m, Some(PAUSE), SEED, None);
    // One of them paused by hand, the rest running.
    let mut app = env.deployment(NS, "system-app");
    app["spec"]["replicas"] = 0.into();
    env.destination()
        .apply_object(app)
        .expect("system-app at 0");

    let summary = seed_fails(&env);
    assert!(
        summary.contains("the destination is not paused")
            && summary.contains("redhat-rhoam-operator/rhmi-operator 1 replicas")
            && summary.contains(&format!("{NS}/backend-worker 2 replicas"))
            && !summary.contains("system-app")
            && summary.contains("pause-destination")
            && summary.contains("Nothing was changed"),
        "{summary}"
    );
    assert_eq!(counts(&env.destination_db), fresh, "untouched");
    assert!(
        !env.dumps().join(FALLBACK_FILE).exists(),
        "no fallback taken"
    );
    for (ns, name, replicas) in env.all_deployments() {
        let expected = if name == "system-app" { 0 } else { replicas };
        assert_eq!(
            env.deployment(&ns, &name)["spec"]["replicas"],
            expected,
            "{ns}/{name}"
        );
    }
}

#[test]
fn the_seed_refuses_a_dump_of_another_3scale_release_and_names_the_upgrade_hops() {
    // RHOAM runs 2.16; the migration cluster's database is still 2.14's.
    let env = Env::reached_with(
        "seedrelease",
        Reach::Url,
        porta_schema::destination_release(),
    );
    let fresh = counts(&env.destination_db);
    env.dump();

    let summary = seed_fails(&env);
    assert!(
        summary.contains(
            "the migration cluster's dump is 3scale 2.14 (schema 20230927012615), RHOAM's \
             database is 3scale 2.16 (schema 20241107134140)"
        ),
        "{summary}"
    );
    assert!(summary.contains("2.14 → 2.15 → 2.16"), "{summary}");
    assert!(summary.contains("Nothing was changed"), "{summary}");
    assert_eq!(
        counts(&env.destination_db),
        fresh,
        "the database is untouched"
    );
    assert!(
        !env.dumps().join(FALLBACK_FILE).exists(),
        "no fallback taken"
    );
}

/// Cuts the journal right after the seed's last fact, as if the process had stopped there.
fn interrupt_after_the_seed(m: &Migration) {
    let path = m.journal_path();
    let text = std::fs::read_to_string(&path).expect("journal");
    let lines: Vec<&str> = text.lines().collect();
    let last = lines
        .iter()
        .rposition(|l| {
            let v: Value = serde_json::from_str(l).expect("journal line");
            v["event"] == "step-fact" && v["step"] == SEED && v["key"] == "seed"
        })
        .expect("the seed's fact");
    assert!(last + 1 < lines.len(), "the journal goes on after the fact");
    let kept: String = lines[..=last].iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, kept).expect("write journal");
}

#[test]
fn a_resumed_run_rechecks_the_seeded_counts() {
    let env = Env::new("seedre");
    let migrated = counts(&env.migration_db);
    env.dump();
    env.seed().expect_code(0);
    let fallback = env.dumps().join(FALLBACK_FILE);
    let fallback_sha = dumps::sha256_of(&fallback);

    // Stopped after the seed: the counts hold and the step is not run again.
    interrupt_after_the_seed(&env.m);
    env.seed().expect_code(0);
    let (entries, _) = env.m.journal();
    let rechecked = events(&entries, "step-rechecked", SEED);
    assert_eq!(rechecked.len(), 1, "{entries:#?}");
    assert_eq!(rechecked[0]["holds"], true, "{}", rechecked[0]);
    assert_eq!(events(&entries, "step-started", SEED).len(), 1);

    // A row went missing meanwhile: the re-check does not hold, the step runs again and keeps
    // the fallback of the first attempt rather than dumping the seeded database over it.
    interrupt_after_the_seed(&env.m);
    env.destination_db
        .execute("DELETE FROM services WHERE id = (SELECT min(id) FROM services)");
    env.seed().expect_code(0);
    dumps::assert_recheck_failed_then_ran_again(&env.m, SEED, "public.services");
    assert_eq!(counts(&env.destination_db), migrated);
    assert_eq!(
        dumps::sha256_of(&fallback),
        fallback_sha,
        "the first fallback is kept"
    );
}

/// The client pods left in `cluster`'s namespace `ns`.
fn client_pods(cluster: &SimCluster, ns: &str) -> usize {
    cluster
        .list_objects("v1", "Pod", Some(ns), None)
        .iter()
        .filter(|p| p["metadata"]["name"] == cutover::infra::kube::CLIENT_POD)
        .count()
}

#[test]
fn without_urls_the_dump_and_the_seed_go_through_a_client_pod_that_reads_the_secret() {
    let env = Env::reached("seedpod", Reach::Pod);
    let migrated = counts(&env.migration_db);
    let fresh = counts(&env.destination_db);
    let clusters = env.m.clusters.as_ref().expect("simulated clusters");

    // The dump of the migration cluster's database streams out of pg_dump in the pod.
    env.dump();
    let dumped = dumps::last_finished(&env.m, DUMP);
    assert_eq!(dumped["outcome"], "passed", "{dumped}");
    let source = dumped["figures"]["source"].as_str().unwrap_or("");
    assert!(
        source.contains("cutover-pg-client") && source.contains("system-database/URL"),
        "{source}"
    );
    assert_eq!(client_pods(&clusters.migration, "3scale"), 0, "deleted");

    // The seed: the fallback streams out, the dump streams in over exec's stdin.
    let (_, run) = seed_passes(&env, &migrated);
    assert_eq!(client_pods(&clusters.destination, NS), 0, "deleted");
    assert_eq!(
        fallback_rows(&env),
        fresh,
        "the fallback is the fresh install"
    );

    // The step's log says where the pod ran and that it is gone; the URL's password is
    // nowhere.
    let mut logs = Vec::new();
    dumps::files_under(&env.m.migration_dir().join("logs"), &mut logs);
    let logged: String = logs
        .iter()
        .filter(|f| f.display().to_string().contains(SEED))
        .map(|f| std::fs::read_to_string(f).expect("read the step's log"))
        .collect();
    assert!(
        logged.contains("created pod cutover-pg-client")
            && logged.contains("deleted pod cutover-pg-client"),
        "{logged}"
    );
    dumps::assert_absent_everywhere(&env.m, &[&run], POD_URL_PASSWORD);
}

#[test]
fn a_client_pod_that_cannot_start_stops_the_seed_before_anything_changes() {
    let env = Env::reached("seedpodbad", Reach::Pod);
    let fresh = counts(&env.destination_db);
    env.dump();
    // The destination's secret lost its key: the kubelet cannot build the pod's environment.
    let clusters = env.m.clusters.as_ref().expect("simulated clusters");
    let mut secret = clusters
        .destination
        .get_object("v1", "Secret", NS, "system-database")
        .expect("the secret");
    secret["data"] = serde_json::json!({"DATABASE_URL": "eA=="});
    clusters.destination.apply_object(secret).expect("apply");

    let summary = seed_fails(&env);
    assert!(
        summary.contains("CreateContainerConfigError")
            && summary.contains("system-database")
            && summary.contains("nothing was changed"),
        "{summary}"
    );
    assert_eq!(client_pods(&clusters.destination, NS), 0, "deleted");
    assert_eq!(counts(&env.destination_db), fresh, "untouched");
    assert!(
        !env.dumps().join(FALLBACK_FILE).exists(),
        "no fallback taken"
    );
}

/// The routes zync created in the destination namespace.
fn zync_routes(cluster: &SimCluster) -> Vec<Value> {
    cluster.list_objects(
        "route.openshift.io/v1",
        "Route",
        Some(NS),
        Some("3scale.net/created-by=zync"),
    )
}

fn memcache_pods(cluster: &SimCluster) -> Vec<String> {
    let mut names: Vec<String> = cluster
        .list_objects("v1", "Pod", Some(NS), Some("deployment=system-memcache"))
        .iter()
        .filter(|p| {
            p["status"]["phase"] == "Running" && p["metadata"]["deletionTimestamp"].is_null()
        })
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

#[test]
fn after_the_data_the_fresh_install_s_routes_reindex_job_and_cache_are_cleared() {
    let env = Env::new("clearfresh");
    let cluster = env.destination();
    let before = zync_routes(cluster);
    let hosts: Vec<String> = before
        .iter()
        .filter_map(|r| r["spec"]["host"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        hosts.len(),
        3,
        "the fresh tenant's master, admin and portal: {hosts:?}"
    );
    let cached = memcache_pods(cluster);
    assert_eq!(cached.len(), 1);
    env.dump();
    env.seed().expect_code(0);
    skip_steps(&env.m, Some(&step_after(&env.m, SEED)), CLEAR, None);

    // Refused while the destination runs: RHOAM's operator came back meanwhile.
    let mut operator = env.deployment("redhat-rhoam-operator", "rhmi-operator");
    operator["spec"]["replicas"] = 1.into();
    cluster.apply_object(operator.clone()).expect("RHOAM back");
    env.m
        .run_confirmed(CLEAR, "clear fresh install")
        .expect_code(1);
    let refused = dumps::last_finished(&env.m, CLEAR);
    assert!(
        refused["summary"]
            .as_str()
            .is_some_and(|s| s.contains("redhat-rhoam-operator/rhmi-operator")),
        "{refused}"
    );
    assert_eq!(zync_routes(cluster).len(), 3, "nothing deleted");
    operator["spec"]["replicas"] = 0.into();
    cluster.apply_object(operator).expect("paused again");

    env.m
        .run_confirmed(CLEAR, "clear fresh install")
        .expect_code(0);
    let done = dumps::last_finished(&env.m, CLEAR);
    assert_eq!(done["outcome"], "passed", "{done}");
    assert!(zync_routes(cluster).is_empty(), "the zync routes are gone");
    assert!(
        cluster
            .get_object("route.openshift.io/v1", "Route", NS, "backend")
            .is_some(),
        "the operator's backend route stays"
    );
    assert!(
        cluster
            .get_object("batch/v1", "Job", NS, REINDEX_JOB)
            .is_none(),
        "the reindex Job is deleted, for the operator to run it again"
    );
    crate::cli::wait_until("memcache's new pod running", || {
        let now = memcache_pods(cluster);
        now.len() == 1 && now != cached
    });
    // The routes are kept in the dump folder, private.
    let saved = env.dumps().join(ROUTES_FILE);
    let mode = std::fs::metadata(&saved)
        .expect("saved")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&saved).expect("read");
    for host in &hosts {
        assert!(text.contains(host.as_str()), "{host} in {text}");
    }
    let fact = env.fact_of(CLEAR, "cleared").expect("the fact cleared");
    assert_eq!(fact["routes"].as_array().map(Vec::len), Some(3), "{fact}");
    assert_eq!(fact["reindex_job"], REINDEX_JOB);
}
