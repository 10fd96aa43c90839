//! The installation both the system database and backend Redis describe: the same ids, keys and
//! plans on both sides, as `rake backend:storage:rewrite` would leave them, so that a later
//! comparison between the stores finds them consistent.

use super::sizes::Sizes;

pub(super) const MASTER_ACCOUNT_ID: i64 = 1;
pub(super) const TENANT_ACCOUNT_ID: i64 = 2;
pub(super) const MASTER_USER_ID: i64 = 1;
pub(super) const TENANT_ADMIN_ID: i64 = 2;
pub(super) const IMPERSONATION_ADMIN_ID: i64 = 3;
/// Members of the default tenant's admin portal (id, username): people who log in to 3scale
/// by its own login, whom no identity provider of RHOAM's knows yet.
pub const TENANT_MEMBERS: &[(i64, &str)] = &[(4, "alice.ops"), (5, "bob.dev")];
/// The master account's own service: the tenant's provider key is an application on it.
pub(super) const MASTER_SERVICE_ID: i64 = 1;
pub(super) const TENANT_NAME: &str = "3scale";

pub(super) struct Model {
    /// The plan tenants hold on master's service: `PROVIDER_PLAN`, "enterprise" by default.
    pub master_plan_id: i64,
    /// porta's db:seed's "Master Plan" on master's service, which the master account holds
    /// (`application_plan.create_contract_with! master`).
    pub master_own_plan_id: i64,
    /// The master account's own application on its service, on "Master Plan".
    pub master_cinstance_id: i64,
    pub master_account_plan_id: i64,
    pub master_service_plan_id: i64,
    pub master_hits_metric_id: i64,
    pub tenant_account_plan_id: i64,
    /// The tenant's application on the master service; its user_key is the provider key.
    pub provider_cinstance_id: i64,
    pub provider_key: String,
    pub services: Vec<Service>,
    pub buyers: Vec<Buyer>,
}

pub(super) struct Service {
    pub id: i64,
    pub proxy_id: i64,
    pub backend_api_id: i64,
    pub system_name: String,
    pub name: String,
    /// `1` user_key, `2` app_id/app_key, `oidc`; as system stores it.
    pub backend_version: &'static str,
    pub service_token: String,
    pub service_plan_id: i64,
    pub metrics: Vec<Metric>,
    pub plans: Vec<Plan>,
    pub apps: Vec<App>,
}

pub(super) struct Metric {
    pub id: i64,
    pub system_name: &'static str,
    pub parent_id: Option<i64>,
}

pub(super) struct Plan {
    pub id: i64,
    pub system_name: &'static str,
    pub name: &'static str,
    /// (metric id, period, value)
    pub limits: Vec<(i64, &'static str, i64)>,
}

pub(super) struct App {
    pub id: i64,
    pub application_id: String,
    pub user_key: String,
    pub app_key: String,
    pub plan_id: i64,
    pub plan_name: &'static str,
    pub buyer_account_id: i64,
    pub state: &'static str,
}

pub(super) struct Buyer {
    pub account_id: i64,
    pub user_id: i64,
    pub org_name: String,
}

impl Model {
    pub fn build(sizes: &Sizes) -> Model {
        // Account, user and service ids up to the constants above are fixed; the rest follow.
        let mut ids = Counters {
            accounts: TENANT_ACCOUNT_ID,
            users: IMPERSONATION_ADMIN_ID + TENANT_MEMBERS.len() as i64,
            services: MASTER_SERVICE_ID,
            ..Counters::default()
        };
        let master_hits_metric_id = ids.next_metric();
        let master_plan_id = ids.next_plan();
        let master_account_plan_id = ids.next_plan();
        let master_service_plan_id = ids.next_plan();
        let tenant_account_plan_id = ids.next_plan();
        let provider_cinstance_id = ids.next_cinstance();
        let provider_key = hex(0x70_72_6f_76, 0, 32);

        let buyers: Vec<Buyer> = (0..sizes.applications_per_service)
            .map(|n| Buyer {
                account_id: ids.next_account(),
                user_id: ids.next_user(),
                org_name: format!("Developer {:03}", n + 1),
            })
            .collect();

        let mut services = Vec::new();
        for s in 0..sizes.services {
            let id = ids.next_service();
            let hits = ids.next_metric();
            let metrics = vec![
                Metric {
                    id: hits,
                    system_name: "hits",
                    parent_id: None,
                },
                Metric {
                    id: ids.next_metric(),
                    system_name: "get_orders",
                    parent_id: Some(hits),
                },
                Metric {
                    id: ids.next_metric(),
                    system_name: "create_order",
                    parent_id: Some(hits),
                },
            ];
            let service_plan_id = ids.next_plan();
            let plans = vec![
                Plan {
                    id: ids.next_plan(),
                    system_name: "basic",
                    name: "Basic",
                    limits: vec![(hits, "day", 10_000), (hits, "minute", 100)],
                },
                Plan {
                    id: ids.next_plan(),
                    system_name: "unlimited",
                    name: "Unlimited",
                    limits: Vec::new(),
                },
            ];
            let apps = buyers
                .iter()
                .enumerate()
                .map(|(b, buyer)| {
                    let app_id = ids.next_cinstance();
                    let plan = &plans[b % plans.len()];
                    App {
                        id: app_id,
                        application_id: hex(0xa9, app_id as u64, 8),
                        user_key: hex(0x0e, app_id as u64, 32),
                        app_key: hex(0x4e, app_id as u64, 32),
                        plan_id: plan.id,
                        plan_name: plan.name,
                        buyer_account_id: buyer.account_id,
                        // A few suspended applications, as any long-lived installation has.
                        state: if b % 7 == 6 { "suspended" } else { "live" },
                    }
                })
                .collect();
            let (system_name, name) = product_names(s);
            services.push(Service {
                id,
                proxy_id: id,
                backend_api_id: i64::from(s) + 1,
                system_name,
                name,
                backend_version: ["1", "2", "1", "oidc"][s as usize % 4],
                service_token: hex(0x70_6b, id as u64, 64),
                service_plan_id,
                metrics,
                plans,
                apps,
            });
        }
        // Allocated after everything else, so that the ids of every other row stay as they were
        // before these two rows were seeded.
        let master_own_plan_id = ids.next_plan();
        let master_cinstance_id = ids.next_cinstance();
        Model {
            master_plan_id,
            master_own_plan_id,
            master_cinstance_id,
            master_account_plan_id,
            master_service_plan_id,
            master_hits_metric_id,
            tenant_account_plan_id,
            provider_cinstance_id,
            provider_key,
            services,
            buyers,
        }
    }
}

/// (system_name, name). The first is the product 3scale's seeds create, `API` / `api`; system
/// names carry no `_` because they become host names of the APIcast routes.
const PRODUCT_NAMES: [(&str, &str); 6] = [
    ("api", "API"),
    ("orders", "Orders API"),
    ("payments", "Payments API"),
    ("inventory", "Inventory API"),
    ("shipping", "Shipping API"),
    ("customers", "Customers API"),
];

/// Distinguishes products once the names repeat, as a second `orders` product would be named.
fn product_names(s: u32) -> (String, String) {
    let (system_name, name) = PRODUCT_NAMES[s as usize % PRODUCT_NAMES.len()];
    let round = s as usize / PRODUCT_NAMES.len();
    if round == 0 {
        (system_name.to_string(), name.to_string())
    } else {
        (
            format!("{system_name}-{}", round + 1),
            format!("{name} {}", round + 1),
        )
    }
}

#[derive(Default)]
struct Counters {
    accounts: i64,
    users: i64,
    services: i64,
    metrics: i64,
    plans: i64,
    cinstances: i64,
}

impl Counters {
    fn next_account(&mut self) -> i64 {
        self.accounts += 1;
        self.accounts
    }
    fn next_user(&mut self) -> i64 {
        self.users += 1;
        self.users
    }
    fn next_service(&mut self) -> i64 {
        self.services += 1;
        self.services
    }
    fn next_metric(&mut self) -> i64 {
        self.metrics += 1;
        self.metrics
    }
    fn next_plan(&mut self) -> i64 {
        self.plans += 1;
        self.plans
    }
    fn next_cinstance(&mut self) -> i64 {
        self.cinstances += 1;
        self.cinstances
    }
}

/// `len` lowercase hex digits, the same for the same (kind, n): keys and tokens look random
/// but a rehearsal is reproducible and tests can predict them.
pub(super) fn hex(kind: u64, n: u64, len: usize) -> String {
    let mut state =
        kind.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n.wrapping_add(0x632B_E59B_D9B4_E019);
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        out.push_str(&format!("{:016x}", splitmix(&mut state)));
    }
    out.truncate(len);
    out
}

/// splitmix64: a tiny, well-mixed generator; enough for fake keys and counter values.
pub(super) fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
