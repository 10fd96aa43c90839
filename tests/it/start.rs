//! `restore-destination-3scale` run by the real binary after a real seed: the simulated
//! destination's deployments come back from their annotations, and 3scale's rake tasks run in
//! a system pod with their real effect (zync's routes from the seeded database's domains,
//! backend's rewrite jobs in system's Redis); a kill -9 in the middle and a resume.

use cutover::infra::kube::ORIGINAL_REPLICAS_ANNOTATION;
use cutover::sim::servers::{RedisOptions, RedisProcess};
use serde_json::Value;

use crate::cli::{events, skip_steps, step_after};
use crate::dumps::last_finished;
use crate::seed::{Env, Reach, set_secret};
use crate::support::block_on;

const SEED: &str = "seed-destination-database";
const CLEAR: &str = "clear-fresh-install";
const START: &str = "restore-destination-3scale";
const NS: &str = "redhat-rhoam-3scale";

struct Scene {
    env: Env,
    system_redis: RedisProcess,
}

/// RHOAM paused, the migration dump seeded, the fresh install cleared, the steps between
/// skipped: the destination waits for its start. System's Redis is a real server, and the
/// system pods run 3scale's rake tasks.
fn scene(name: &str) -> Scene {
    let env = Env::reached(name, Reach::Pod);
    let system_redis = RedisProcess::start(RedisOptions::default()).expect("redis-server");
    let destination = env.destination();
    set_secret(
        destination,
        NS,
        "system-redis",
        "URL",
        &system_redis.url_db(1),
    );
    cutover::sim::rake::allow_rake(destination);
    env.dump();
    env.seed().expect_code(0);
    skip_steps(&env.m, Some(&step_after(&env.m, SEED)), CLEAR, None);
    env.m
        .run_confirmed(CLEAR, "clear fresh install")
        .expect_code(0);
    skip_steps(&env.m, Some(&step_after(&env.m, CLEAR)), START, None);
    Scene { env, system_redis }
}

fn start(env: &Env) -> crate::cli::Run {
    env.m
        .run(&["run", "--headless", "--until", START, "--confirm", START])
}

/// (host, service) of every route zync made at the destination.
fn zync_routes(env: &Env) -> Vec<(String, String)> {
    let mut routes: Vec<(String, String)> = env
        .destination()
        .list_objects(
            "route.openshift.io/v1",
            "Route",
            Some(NS),
            Some("3scale.net/created-by=zync"),
        )
        .iter()
        .map(|r| {
            (
                r["spec"]["host"].as_str().unwrap_or("").to_string(),
                r["spec"]["to"]["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    routes.sort();
    routes
}

/// The hosts the seeded database names, read here with psql's own SQL: every active
/// provider's portals (the master's one), every hosted product's two gateways.
pub(crate) fn database_hosts(url: &str) -> Vec<(String, String)> {
    let url = url.to_string();
    let mut hosts: Vec<(String, String)> = block_on(|| async move {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        let mut out = Vec::new();
        for row in client
            .query(
                "SELECT domain, self_domain, master FROM accounts \
                 WHERE (provider OR master) AND state = 'approved'",
                &[],
            )
            .await
            .expect("accounts")
        {
            let (domain, admin, master): (String, String, Option<bool>) =
                (row.get(0), row.get(1), row.get(2));
            if master == Some(true) {
                out.push((admin, "system-master".to_string()));
            } else {
                out.push((domain, "system-developer".to_string()));
                out.push((admin, "system-provider".to_string()));
            }
        }
        for row in client
            .query(
                "SELECT split_part(split_part(p.endpoint, '://', 2), ':', 1), \
                        split_part(split_part(p.sandbox_endpoint, '://', 2), ':', 1) \
                 FROM proxies p JOIN services s ON s.id = p.service_id \
                 JOIN accounts a ON a.id = s.account_id \
                 WHERE a.provider AND s.deployment_option = 'hosted'",
                &[],
            )
            .await
            .expect("proxies")
        {
            out.push((row.get(0), "apicast-production".to_string()));
            out.push((row.get(1), "apicast-staging".to_string()));
        }
        out
    });
    hosts.sort();
    hosts.dedup();
    hosts
}

fn rewrite_jobs(redis: &RedisProcess) -> Vec<Value> {
    let url = redis.url_db(1);
    let raw: Vec<String> = block_on(|| async move {
        let client = redis::Client::open(url.as_str()).expect("url");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        redis::cmd("LRANGE")
            .arg("queue:low")
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .expect("LRANGE")
    });
    raw.iter()
        .filter_map(|j| serde_json::from_str::<Value>(j).ok())
        .collect()
}

fn assert_started(env: &Env) {
    for (ns, name, replicas) in env.all_deployments() {
        let d = env.deployment(&ns, &name);
        assert_eq!(d["spec"]["replicas"], replicas, "{ns}/{name}");
        assert!(
            d["metadata"]["annotations"][ORIGINAL_REPLICAS_ANNOTATION].is_null(),
            "{ns}/{name} keeps no annotation: {}",
            d["metadata"]
        );
        assert_eq!(
            env.running_pods(&ns, &name),
            replicas as usize,
            "{ns}/{name}"
        );
    }
}

#[test]
fn the_start_brings_rhoam_back_from_its_annotations_and_zync_routes_every_seeded_host() {
    let s = scene("start");
    let env = &s.env;
    assert!(
        zync_routes(env).is_empty(),
        "the fresh install's routes were cleared"
    );
    start(env).expect_code(0);
    let done = last_finished(&env.m, START);
    assert_eq!(done["outcome"], "passed", "{done}");
    assert_started(env);

    let want = database_hosts(env.destination_db.url());
    assert!(
        want.len() >= 5,
        "master, tenant portals, gateways: {want:?}"
    );
    assert_eq!(zync_routes(env), want, "one zync route per host, no other");
    for route in env.destination().list_objects(
        "route.openshift.io/v1",
        "Route",
        Some(NS),
        Some("3scale.net/created-by=zync"),
    ) {
        let labels = &route["metadata"]["labels"];
        assert!(
            labels["zync.3scale.net/record"]
                .as_str()
                .is_some_and(|r| r.starts_with("Z2lkOi8venluYy9")),
            "zync's record label: {labels}"
        );
        assert_eq!(
            labels["zync.3scale.net/route-to"], route["spec"]["to"]["name"],
            "{route}"
        );
    }

    // One backend rewrite job per active provider and the master, on Sidekiq's low queue.
    let jobs = rewrite_jobs(&s.system_redis);
    let providers = want
        .iter()
        .filter(|(_, to)| to == "system-master" || to == "system-provider")
        .count();
    assert_eq!(jobs.len(), providers, "{jobs:?}");
    assert!(
        jobs.iter()
            .all(|j| j["class"] == "BackendStorageRewriteWorker" && j["queue"] == "low")
    );

    // The tasks' output is in the step log.
    let log = std::fs::read_to_string(
        env.m
            .migration_dir()
            .join("logs")
            .join(format!("{START}.log")),
    )
    .expect("the step log");
    assert!(log.contains("== Resyncing providers =="), "{log}");
    assert!(log.contains("Enqueued"), "{log}");
    let (entries, _) = env.m.journal();
    assert!(
        events(&entries, "step-fact", START)
            .iter()
            .any(|e| e["key"] == "started"),
        "the starts are recorded as they go"
    );

    // Run again, it finds its end state and changes nothing.
    env.m
        .run(&["run", "--headless", "--until", START])
        .expect_code(0);
    assert_eq!(zync_routes(env), want);
}

#[test]
fn a_start_killed_in_the_middle_resumes_from_the_cluster_and_finishes() {
    let s = scene("startkill");
    let env = &s.env;
    let mut child = env
        .m
        .spawn(&["run", "--headless", "--until", START, "--confirm", START]);
    crate::cli::wait_until("the first deployment started", || {
        let (entries, _) = env.m.journal();
        events(&entries, "step-fact", START)
            .iter()
            .any(|e| e["key"] == "started")
    });
    child.kill().expect("kill -9");
    let _ = child.wait();
    let (entries, _) = env.m.journal();
    assert!(
        events(&entries, "step-finished", START).is_empty(),
        "killed inside the step"
    );

    start(env).expect_code(0);
    let done = last_finished(&env.m, START);
    assert_eq!(done["outcome"], "passed", "{done}");
    assert_started(env);
    assert_eq!(zync_routes(env), database_hosts(env.destination_db.url()));
}
