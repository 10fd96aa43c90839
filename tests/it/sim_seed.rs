//! The rehearsal sandbox's seeded stores and simulated workers, against real PostgreSQL and
//! redis-server processes from the harness.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cutover::sim::seed::{
    self, Sizes, queue_depths, seed_backend_redis, seed_system_database, seed_system_redis,
    seed_zync_database, seed_zync_database_with_domain, workers,
};
use redis::AsyncCommands;
use tokio::sync::watch;

use crate::support::{PgDatabase, RedisServer, RefusingPort};

const WILDCARD: &str = "apps.source.example.test";
const POLL: Duration = Duration::from_millis(50);
/// Bounded polls: generous for a loaded machine, never an assertion on elapsed time.
const POLLS: u32 = 600;

fn small() -> Sizes {
    Sizes {
        services: 3,
        applications_per_service: 4,
        stats_keys_per_service: 60,
        resque_jobs: 100,
        sidekiq_jobs: 77,
        que_jobs: 25,
    }
}

pub(crate) async fn pg(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

pub(crate) async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

pub(crate) async fn redis_conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn keys(conn: &mut redis::aio::MultiplexedConnection, pattern: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut iter: redis::AsyncIter<String> = conn.scan_match(pattern).await.unwrap();
    while let Some(key) = iter.next_item().await {
        found.push(key.unwrap());
    }
    found.sort();
    found
}

#[tokio::test]
async fn system_database_has_the_3scale_tables_rows_and_wildcard_domains() {
    let db = PgDatabase::create();
    let sizes = small();
    let summary = seed_system_database(db.url(), WILDCARD, &sizes)
        .await
        .unwrap();
    let client = pg(db.url()).await;

    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for wanted in [
        "accounts",
        "users",
        "services",
        "proxies",
        "proxy_configs",
        "authentication_providers",
        "plans",
        "cinstances",
        "access_tokens",
        "settings",
        "backend_apis",
        "api_docs_services",
        "web_hooks",
    ] {
        assert!(
            tables.iter().any(|t| t == wanted),
            "no table {wanted} in {tables:?}"
        );
    }
    // 3scale 2.14's own tables: those of porta's db/postgres_schema.rb, with Rails' two.
    let expected = crate::support::porta_tables(include_str!(
        "../../fixtures/porta/2.14/upstream/postgres_schema.rb"
    ));
    assert_eq!(tables, expected);
    assert_eq!(expected.len(), 89);
    // Its triggers and procedure, as db:seed creates them.
    let triggers: Vec<String> = client
        .query(
            "SELECT tgname::text FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let names: Vec<&str> = include_str!("../../fixtures/porta/2.14/triggers.txt")
        .lines()
        .collect();
    assert_eq!(triggers, names);
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM pg_proc WHERE proname = 'sp_invoices_friendly_id'"
        )
        .await,
        1
    );
    let version = client
        .query_one(
            "SELECT max(version::numeric)::text FROM schema_migrations",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(version.get::<_, String>(0), "20230927012615");
    // A buyer signing up after the seed gets its tenant from the trigger.
    let tenant_id: i64 = client
        .query_one(
            "SELECT id FROM accounts WHERE provider AND (master IS NULL OR NOT master)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let buyer = client
        .query_one(
            "INSERT INTO accounts (org_name, created_at, buyer, provider_account_id) \
             VALUES ('Signed up later', now(), true, $1) RETURNING tenant_id",
            &[&tenant_id],
        )
        .await
        .unwrap();
    assert_eq!(buyer.get::<_, Option<i64>>(0), Some(tenant_id));
    client
        .execute(
            "DELETE FROM accounts WHERE org_name = 'Signed up later'",
            &[],
        )
        .await
        .unwrap();
    // The summary says what is really there.
    for (table, rows) in &summary.rows_per_table {
        let in_db = count(&client, &format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(in_db as u64, *rows, "rows of {table}");
    }

    // Master account and the default tenant, with the domains 3scale derives.
    let master = client
        .query_one(
            "SELECT id, domain, self_domain, provider_account_id FROM accounts WHERE master = true",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(master.get::<_, String>(1), format!("master.{WILDCARD}"));
    assert_eq!(master.get::<_, String>(2), format!("master.{WILDCARD}"));
    assert_eq!(master.get::<_, i64>(3), master.get::<_, i64>(0));
    let tenant = client
        .query_one(
            "SELECT domain, self_domain, state FROM accounts \
             WHERE provider = true AND (master IS NULL OR master = false)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(tenant.get::<_, String>(0), format!("3scale.{WILDCARD}"));
    assert_eq!(
        tenant.get::<_, String>(1),
        format!("3scale-admin.{WILDCARD}")
    );
    assert_eq!(tenant.get::<_, String>(2), "approved");

    // Products, one proxy each, endpoints and denormalized domains from the wildcard.
    let services = i64::from(sizes.services);
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM services WHERE account_id = 2"
        )
        .await,
        services
    );
    assert_eq!(
        count(&client, "SELECT count(*) FROM proxies").await,
        services
    );
    let first = client
        .query_one(
            "SELECT p.endpoint, p.sandbox_endpoint, p.production_domain, p.staging_domain \
             FROM proxies p JOIN services s ON s.id = p.service_id WHERE s.system_name = 'api'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        first.get::<_, String>(0),
        format!("https://api-3scale-apicast-production.{WILDCARD}:443")
    );
    assert_eq!(
        first.get::<_, String>(1),
        format!("https://api-3scale-apicast-staging.{WILDCARD}:443")
    );
    assert_eq!(
        first.get::<_, String>(2),
        format!("api-3scale-apicast-production.{WILDCARD}")
    );
    assert_eq!(
        first.get::<_, String>(3),
        format!("api-3scale-apicast-staging.{WILDCARD}")
    );
    let not_derived = count(
        &client,
        &format!(
            "SELECT count(*) FROM proxies WHERE endpoint NOT LIKE '%.{WILDCARD}:443' \
             OR production_domain NOT LIKE '%.{WILDCARD}' OR staging_domain NOT LIKE '%.{WILDCARD}'"
        ),
    )
    .await;
    assert_eq!(not_derived, 0);

    // proxy_configs: the hosts column is what APIcast looks up by, and the content embeds them.
    let configs = client
        .query("SELECT hosts, content, environment FROM proxy_configs", &[])
        .await
        .unwrap();
    assert!(configs.len() as i64 >= 2 * services);
    for row in &configs {
        let hosts: String = row.get(0);
        let content: serde_json::Value = serde_json::from_str(row.get::<_, &str>(1)).unwrap();
        let host = hosts.trim_matches('|');
        assert!(hosts.starts_with('|') && hosts.ends_with('|'), "{hosts}");
        assert!(host.ends_with(WILDCARD), "{hosts}");
        assert_eq!(content["proxy"]["hosts"][0], host, "{content}");
        assert_eq!(
            content["proxy"]["backend"]["host"],
            format!("backend-3scale.{WILDCARD}")
        );
        let env = if row.get::<_, &str>(2) == "sandbox" {
            "staging"
        } else {
            "production"
        };
        assert!(host.contains(&format!("-apicast-{env}.")), "{host}");
    }

    // Plans, applications with credentials, users with addresses on the wildcard domain.
    let apps = services * i64::from(sizes.applications_per_service);
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM plans WHERE type = 'ApplicationPlan'"
        )
        .await,
        // Each product's two, and master's "enterprise" (PROVIDER_PLAN) and "Master Plan".
        2 * services + 2
    );
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM cinstances WHERE type = 'Cinstance' AND service_id <> 1"
        )
        .await,
        apps
    );
    assert_eq!(
        count(
            &client,
            "SELECT count(DISTINCT user_key) + count(DISTINCT application_id) FROM cinstances"
        )
        .await,
        // The tenant's and the master account's own applications on master's service too.
        2 * (apps + 2)
    );
    assert!(
        count(
            &client,
            &format!("SELECT count(*) FROM users WHERE email LIKE '%{WILDCARD}'")
        )
        .await
            >= 2
    );
    assert_eq!(
        count(
            &client,
            &format!("SELECT count(*) FROM users WHERE email = 'admin@3scale.{WILDCARD}'")
        )
        .await,
        1
    );

    // SSO providers: some on the installation's own SSO host, some external.
    let on_wildcard = count(
        &client,
        &format!("SELECT count(*) FROM authentication_providers WHERE site LIKE '%{WILDCARD}%'"),
    )
    .await;
    let external = count(
        &client,
        &format!(
            "SELECT count(*) FROM authentication_providers WHERE site NOT LIKE '%{WILDCARD}%'"
        ),
    )
    .await;
    assert!(
        on_wildcard >= 1 && external >= 1,
        "{on_wildcard} {external}"
    );
    assert_eq!(
        count(&client, "SELECT count(*) FROM authentication_providers WHERE account_type = 'provider' AND kind = 'keycloak'").await,
        1
    );
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM access_tokens WHERE name IN ('APIcast', 'Master Token')"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn id_sequences_are_past_the_seeded_ids() {
    let db = PgDatabase::create();
    let summary = seed_system_database(db.url(), WILDCARD, &small())
        .await
        .unwrap();
    let client = pg(db.url()).await;
    for table in summary.rows_per_table.keys() {
        let row = client
            .query_one(
                &format!("SELECT (SELECT max(id) FROM {table}), nextval('{table}_id_seq')"),
                &[],
            )
            .await
            .unwrap();
        let max: i64 = row.get(0);
        let next: i64 = row.get(1);
        assert!(next > max, "{table}_id_seq gives {next}, max id is {max}");
    }
    // And an insert without an id works, as the application's next insert would.
    client
        .execute(
            "INSERT INTO accounts (org_name, created_at) VALUES ('After seeding', now())",
            &[],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn seeding_a_database_twice_is_refused_and_leaves_it_as_it_was() {
    let db = PgDatabase::create();
    let first = seed_system_database(db.url(), WILDCARD, &small())
        .await
        .unwrap();

    let err = seed_system_database(db.url(), WILDCARD, &small())
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("not empty"), "{text}");
    assert!(text.contains("accounts"), "{text}");
    assert!(text.contains(db.name()), "{text}");
    let err = seed_zync_database(db.url(), &small()).await.unwrap_err();
    assert!(format!("{err:#}").contains("not empty"), "{err:#}");

    let client = pg(db.url()).await;
    for (table, rows) in &first.rows_per_table {
        let in_db = count(&client, &format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(in_db as u64, *rows, "rows of {table}");
    }
}

#[tokio::test]
async fn a_bad_wildcard_domain_is_refused_before_anything_is_written() {
    let db = PgDatabase::create();
    let err = seed_system_database(db.url(), "https://apps.x/", &small())
        .await
        .unwrap_err();
    assert!(format!("{err}").contains("wildcard domain"), "{err}");
    let client = pg(db.url()).await;
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn zync_database_has_the_pending_que_jobs() {
    let db = PgDatabase::create();
    let sizes = small();
    let summary = seed_zync_database(db.url(), &sizes).await.unwrap();
    let client = pg(db.url()).await;
    let pending = count(
        &client,
        "SELECT count(*) FROM que_jobs WHERE finished_at IS NULL AND expired_at IS NULL",
    )
    .await;
    assert_eq!(pending, i64::from(sizes.que_jobs));
    assert_eq!(
        summary.rows_per_table["que_jobs"] as i64,
        count(&client, "SELECT count(*) FROM que_jobs").await
    );
    let row = client
        .query_one("SELECT job_class, args::text, job_schema_version, queue FROM que_jobs ORDER BY id LIMIT 1", &[])
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, &str>(0),
        "ActiveJob::QueueAdapters::QueAdapter::JobWrapper"
    );
    let args: serde_json::Value = serde_json::from_str(row.get::<_, &str>(1)).unwrap();
    assert!(
        args[0]["job_class"].as_str().unwrap().ends_with("Job"),
        "{args}"
    );
    assert_eq!(row.get::<_, i32>(2), 2);
    assert_eq!(row.get::<_, &str>(3), "default");
    assert!(
        count(&client, "SELECT nextval('que_jobs_id_seq')").await
            > count(&client, "SELECT max(id) FROM que_jobs").await
    );
}

#[tokio::test]
async fn zync_database_with_domain_has_the_tenant_endpoint() {
    let db = PgDatabase::create();
    seed_zync_database_with_domain(db.url(), WILDCARD, &small())
        .await
        .unwrap();
    let client = pg(db.url()).await;
    let endpoint: String = client
        .query_one("SELECT endpoint FROM tenants", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(endpoint, format!("https://3scale-admin.{WILDCARD}/"));
    let proxies = count(
        &client,
        &format!("SELECT count(*) FROM entries WHERE data->>'endpoint' LIKE '%{WILDCARD}:443'"),
    )
    .await;
    assert_eq!(proxies, i64::from(small().services));
}

#[tokio::test]
async fn backend_redis_has_stats_keys_with_ttls_config_and_resque_queues() {
    let redis = RedisServer::start();
    let (storage, queues) = (redis.url_db(0), redis.url_db(1));
    let sizes = small();
    let summary = seed_backend_redis(&storage, &queues, &sizes).await.unwrap();
    let mut conn = redis_conn(&storage).await;

    let stats = keys(&mut conn, "stats/{service:*}/*").await;
    let counters: Vec<&String> = stats
        .iter()
        .filter(|k| !k.ends_with("/cinstances"))
        .collect();
    assert_eq!(
        counters.len() as u32,
        sizes.services * sizes.stats_keys_per_service
    );
    assert_eq!(summary.rows_per_table["stats"], counters.len() as u64);
    assert_eq!(
        stats.len() - counters.len(),
        sizes.services as usize,
        "one cinstances set per service"
    );
    let mut minute = 0;
    for key in &counters {
        let ttl: i64 = conn.ttl(key.as_str()).await.unwrap();
        if key.contains("/minute:") {
            minute += 1;
            assert!((1..=180).contains(&ttl), "{key} has TTL {ttl}");
        } else {
            assert_eq!(ttl, -1, "{key} should not expire");
        }
        let value: u64 = conn.get(key.as_str()).await.unwrap();
        assert!(value > 0, "{key}");
    }
    assert!(minute > 0, "no minute counters among {counters:?}");
    assert!(
        counters
            .iter()
            .any(|k| k.ends_with("/eternity") && k.contains("/cinstance:"))
    );
    assert!(counters.iter().any(|k| k.contains("/response_code:2XX/")));
    for key in keys(&mut conn, "daily_traffic/*").await {
        let ttl: i64 = conn.ttl(key.as_str()).await.unwrap();
        assert!(
            ttl > 24 * 3600 && ttl <= 2 * 24 * 3600,
            "{key} has TTL {ttl}"
        );
    }

    // Configuration keys system pushes, consistent with each other.
    let services: Vec<String> = conn.smembers("services_set").await.unwrap();
    assert_eq!(services.len() as u32, sizes.services);
    for sid in &services {
        let apps: Vec<String> = conn
            .smembers(format!("service_id:{sid}/applications"))
            .await
            .unwrap();
        assert_eq!(apps.len() as u32, sizes.applications_per_service);
        let plan: Option<String> = conn
            .get(format!(
                "application/service_id:{sid}/id:{}/plan_id",
                apps[0]
            ))
            .await
            .unwrap();
        assert!(
            plan.is_some(),
            "application {} of service {sid} has no plan_id",
            apps[0]
        );
    }
    let limits = keys(&mut conn, "usage_limit/service_id:*").await;
    assert_eq!(limits.len() as u32, 2 * sizes.services, "{limits:?}");

    // Resque queues on the queues database, nothing of them on storage.
    assert!(keys(&mut conn, "resque:*").await.is_empty());
    let depths = queue_depths(&queues, &redis.url_db(2)).await.unwrap();
    let resque: u64 = ["priority", "main", "stats"]
        .iter()
        .map(|q| depths[&format!("resque:queue:{q}")])
        .sum();
    assert_eq!(resque, u64::from(sizes.resque_jobs));
    assert!(depths["resque:queue:priority"] > depths["resque:queue:main"]);
    assert!(depths["resque:queue:stats"] > 0);
    assert_eq!(depths["resque:failed"], 3);

    let mut q = redis_conn(&queues).await;
    let registered: Vec<String> = q.smembers("resque:queues").await.unwrap();
    assert_eq!(registered.len(), 3, "{registered:?}");
    for queue in ["priority", "main", "stats"] {
        let jobs: Vec<String> = q
            .lrange(format!("resque:queue:{queue}"), 0, -1)
            .await
            .unwrap();
        for job in jobs {
            let job: serde_json::Value = serde_json::from_str(&job).unwrap();
            let class = job["class"].as_str().unwrap();
            assert!(class.starts_with("ThreeScale::Backend::"), "{job}");
            assert!(job["args"].is_array(), "{job}");
            if queue == "priority" {
                assert_eq!(class, "ThreeScale::Backend::Transactor::ReportJob");
                let sid = job["args"][0].as_str().unwrap();
                assert!(services.iter().any(|s| s == sid), "{job}");
            }
            if queue == "main" {
                assert_eq!(class, "ThreeScale::Backend::Transactor::NotifyJob");
            }
        }
    }
    let failed: Vec<String> = q.lrange("resque:failed", 0, -1).await.unwrap();
    for entry in failed {
        let entry: serde_json::Value = serde_json::from_str(&entry).unwrap();
        assert!(
            entry["payload"]["class"].is_string() && entry["queue"].is_string(),
            "{entry}"
        );
    }
}

#[tokio::test]
async fn system_redis_has_the_sidekiq_queues() {
    let redis = RedisServer::start();
    let sizes = small();
    seed_system_redis(&redis.url(), &sizes).await.unwrap();
    let mut conn = redis_conn(&redis.url()).await;
    let mut queues: Vec<String> = conn.smembers("queues").await.unwrap();
    queues.sort();
    assert_eq!(queues, seed::SIDEKIQ_QUEUES.to_vec());

    let depths = queue_depths(&redis.url_db(1), &redis.url()).await.unwrap();
    let enqueued: u64 = seed::SIDEKIQ_QUEUES
        .iter()
        .map(|q| depths[&format!("queue:{q}")])
        .sum();
    assert_eq!(enqueued, u64::from(sizes.sidekiq_jobs));
    for q in seed::SIDEKIQ_QUEUES {
        assert!(
            depths[&format!("queue:{q}")] > 0,
            "queue:{q} is empty: {depths:?}"
        );
        let jobs: Vec<String> = conn.lrange(format!("queue:{q}"), 0, -1).await.unwrap();
        for job in jobs {
            let job: serde_json::Value = serde_json::from_str(&job).unwrap();
            assert_eq!(job["queue"], q, "{job}");
            assert!(job["class"].is_string() && job["args"].is_array(), "{job}");
            assert_eq!(job["jid"].as_str().unwrap().len(), 24, "{job}");
            assert!(job["enqueued_at"].as_f64().unwrap() > 1.0e9, "{job}");
        }
    }
    for set in ["schedule", "retry", "dead"] {
        assert!(depths[set] > 0, "{set}: {depths:?}");
    }
}

#[tokio::test]
async fn seeding_a_redis_that_has_keys_is_refused_before_writing() {
    let redis = RedisServer::start();
    let (storage, queues) = (redis.url_db(0), redis.url_db(1));
    seed_backend_redis(&storage, &queues, &small())
        .await
        .unwrap();
    let mut conn = redis_conn(&storage).await;
    let before: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();

    // Fresh queues database, but storage has keys: nothing may be written anywhere.
    let fresh_queues = redis.url_db(3);
    let err = seed_backend_redis(&storage, &fresh_queues, &small())
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("backend storage") && text.contains("not empty"),
        "{text}"
    );
    let after: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
    assert_eq!(after, before);
    let mut q = redis_conn(&fresh_queues).await;
    let written: u64 = redis::cmd("DBSIZE").query_async(&mut q).await.unwrap();
    assert_eq!(written, 0);

    let err = seed_system_redis(&queues, &small()).await.unwrap_err();
    assert!(format!("{err:#}").contains("not empty"), "{err:#}");
}

/// Sum of the Resque queue depths, and the depths themselves.
async fn resque_depths(queues: &str, system: &str) -> (u64, BTreeMap<String, u64>) {
    let depths = queue_depths(queues, system).await.unwrap();
    let total = ["priority", "main", "stats"]
        .iter()
        .map(|q| depths[&format!("resque:queue:{q}")])
        .sum();
    (total, depths)
}

#[tokio::test]
async fn backend_worker_drains_priority_first_while_enabled_and_stops_when_disabled() {
    let redis = RedisServer::start();
    let (storage, queues, system) = (redis.url_db(0), redis.url_db(1), redis.url_db(2));
    let sizes = Sizes {
        resque_jobs: 400,
        ..small()
    };
    seed_backend_redis(&storage, &queues, &sizes).await.unwrap();
    let (initial, start) = resque_depths(&queues, &system).await;
    assert_eq!(initial, 400);

    let (enabled, rx) = watch::channel(false);
    let worker = workers::backend_worker(&queues, 100.0, rx);
    // Disabled from the start: a few ticks later nothing moved.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(resque_depths(&queues, &system).await.0, initial);

    enabled.send(true).unwrap();
    let mut polls = 0;
    while resque_depths(&queues, &system).await.0 > initial - 50 {
        polls += 1;
        assert!(polls < POLLS, "the enabled backend worker consumed nothing");
        tokio::time::sleep(POLL).await;
    }
    enabled.send(false).unwrap();
    // A round under way when the flag dropped may still land; after that nothing may move.
    let (mut paused, mut depths) = resque_depths(&queues, &system).await;
    let mut polls = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (now, now_depths) = resque_depths(&queues, &system).await;
        if now == paused {
            break;
        }
        (paused, depths) = (now, now_depths);
        polls += 1;
        assert!(polls < 50, "the disabled backend worker kept consuming");
    }
    assert!(paused < initial);
    assert!(depths["resque:queue:priority"] > 0, "{depths:?}");
    assert_eq!(
        depths["resque:queue:main"], start["resque:queue:main"],
        "main was touched while priority still had jobs"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        resque_depths(&queues, &system).await.0,
        paused,
        "the disabled worker kept consuming"
    );

    enabled.send(true).unwrap();
    let mut polls = 0;
    loop {
        let (left, depths) = resque_depths(&queues, &system).await;
        if left == 0 {
            assert_eq!(
                depths["resque:failed"], 3,
                "failed jobs are not the worker's"
            );
            break;
        }
        polls += 1;
        assert!(
            polls < POLLS,
            "the backend worker left {left} jobs: {depths:?}"
        );
        tokio::time::sleep(POLL).await;
    }
    assert!(!worker.is_finished());
    drop(enabled);
    let mut polls = 0;
    while !worker.is_finished() {
        polls += 1;
        assert!(
            polls < POLLS,
            "the worker did not stop when its sandbox went away"
        );
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn sidekiq_worker_drains_the_sidekiq_queues() {
    let redis = RedisServer::start();
    seed_system_redis(&redis.url(), &small()).await.unwrap();
    let (_enabled, rx) = watch::channel(true);
    let _worker = workers::sidekiq(&redis.url(), 200.0, rx);
    let mut polls = 0;
    loop {
        let depths = queue_depths(&redis.url_db(1), &redis.url()).await.unwrap();
        let left: u64 = seed::SIDEKIQ_QUEUES
            .iter()
            .map(|q| depths[&format!("queue:{q}")])
            .sum();
        if left == 0 {
            assert!(
                depths["retry"] > 0 && depths["dead"] > 0,
                "only enqueued jobs are taken"
            );
            break;
        }
        polls += 1;
        assert!(polls < POLLS, "Sidekiq queues still hold {left} jobs");
        tokio::time::sleep(POLL).await;
    }
    let mut conn = redis_conn(&redis.url()).await;
    let processed: u64 = conn.get("stat:processed").await.unwrap();
    assert!(processed >= 1_284_311 + u64::from(small().sidekiq_jobs));
}

#[tokio::test]
async fn apicast_traffic_grows_the_queues_and_the_usage_counters() {
    let redis = RedisServer::start();
    let (storage, queues, system) = (redis.url_db(0), redis.url_db(1), redis.url_db(2));
    seed_backend_redis(&storage, &queues, &small())
        .await
        .unwrap();
    let (initial, start) = resque_depths(&queues, &system).await;
    let mut conn = redis_conn(&storage).await;
    let eternity = keys(&mut conn, "stats/{service:*}/metric:*/eternity").await;
    let mut before = 0u64;
    for key in &eternity {
        before += conn.get::<_, u64>(key.as_str()).await.unwrap();
    }

    let (_enabled, rx) = watch::channel(true);
    let _traffic = workers::apicast_traffic(&storage, &queues, 200.0, rx);
    let mut polls = 0;
    while resque_depths(&queues, &system).await.0 < initial + 40 {
        polls += 1;
        assert!(polls < POLLS, "apicast traffic enqueued nothing");
        tokio::time::sleep(POLL).await;
    }
    let (_, depths) = resque_depths(&queues, &system).await;
    assert!(depths["resque:queue:priority"] > start["resque:queue:priority"]);
    assert!(depths["resque:queue:main"] > start["resque:queue:main"]);
    let mut after = 0u64;
    for key in keys(&mut conn, "stats/{service:*}/metric:*/eternity").await {
        after += conn.get::<_, u64>(key.as_str()).await.unwrap();
    }
    assert!(
        after >= before + 40,
        "service hit counters went from {before} to {after}"
    );
}

#[tokio::test]
async fn que_worker_finishes_the_pending_jobs() {
    let db = PgDatabase::create();
    seed_zync_database(db.url(), &small()).await.unwrap();
    let client = pg(db.url()).await;
    let (_enabled, rx) = watch::channel(true);
    let _worker = workers::que_worker(db.url(), 100.0, rx);
    let pending = "SELECT count(*) FROM que_jobs WHERE finished_at IS NULL AND expired_at IS NULL";
    let mut polls = 0;
    while count(&client, pending).await > 0 {
        polls += 1;
        assert!(polls < POLLS, "zync-que left jobs pending");
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM que_jobs WHERE finished_at IS NOT NULL"
        )
        .await,
        25
    );
}

#[tokio::test]
async fn a_worker_whose_server_is_gone_keeps_retrying_and_stops_with_its_sandbox() {
    let port = RefusingPort::new();
    let url = format!("redis://127.0.0.1:{}/1", port.port());
    let (enabled, rx) = watch::channel(true);
    let worker = workers::backend_worker(&url, 50.0, rx);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !worker.is_finished(),
        "the worker gave up on an unreachable server"
    );
    drop(enabled);
    let mut polls = 0;
    while !worker.is_finished() {
        polls += 1;
        assert!(
            polls < POLLS,
            "the worker did not stop when its sandbox went away"
        );
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn default_sizes_seed_every_store() {
    let system = PgDatabase::create();
    let zync = PgDatabase::create();
    let redis = RedisServer::start();
    let sizes = Sizes::default();
    let started = Instant::now();
    let db = seed_system_database(system.url(), WILDCARD, &sizes)
        .await
        .unwrap();
    let after_db = started.elapsed();
    let z = seed_zync_database_with_domain(zync.url(), WILDCARD, &sizes)
        .await
        .unwrap();
    let after_zync = started.elapsed();
    let backend = seed_backend_redis(&redis.url_db(0), &redis.url_db(1), &sizes)
        .await
        .unwrap();
    let after_backend = started.elapsed();
    let sidekiq = seed_system_redis(&redis.url_db(2), &sizes).await.unwrap();
    // Timings go to the log for the README, never into an assertion.
    eprintln!(
        "default sizes: system db {after_db:?} ({} rows), zync {:?} ({} rows), backend redis {:?} \
         ({} keys/jobs), system redis {:?} ({} entries)",
        db.total(),
        after_zync - after_db,
        z.total(),
        after_backend - after_zync,
        backend.total(),
        started.elapsed() - after_backend,
        sidekiq.total()
    );
    assert_eq!(
        backend.rows_per_table["stats"],
        u64::from(sizes.services * sizes.stats_keys_per_service)
    );
    assert_eq!(z.rows_per_table["que_jobs"], u64::from(sizes.que_jobs) + 2);
    assert!(
        db.rows_per_table["cinstances"]
            > u64::from(sizes.services * sizes.applications_per_service)
    );
}
