//! The rows behind the simulated endpoints, read as porta's models read them, and the JSON
//! porta's representers make of them (`AccountRepresenter`, `AuthenticationProviderRepresenter`).

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};
use tokio_postgres::Client;

/// The plans porta's plan rules know (`config/examples/plan_rules.yml`: `base`, `plus`,
/// `enterprise`), the only ones `plan_upgrade` moves a provider to.
pub const STOCK_PLANS: &[&str] = &["base", "plus", "enterprise"];

/// An ISO-8601 UTC time of a `timestamp without time zone` column, as porta's JSON shows it.
const TIME: &str = "to_char({}, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

fn time(column: &str) -> String {
    TIME.replace("{}", column)
}

pub struct Master {
    pub id: i64,
    pub domain: String,
    pub self_domain: String,
    /// Master's own service, whose application plans are the provider plans.
    pub service_id: Option<i64>,
}

/// `Account.master`.
pub async fn master(db: &Client) -> Result<Option<Master>> {
    let row = db
        .query_opt(
            "SELECT id, lower(coalesce(domain, '')), lower(coalesce(self_domain, '')), \
             default_service_id FROM accounts WHERE master LIMIT 1",
            &[],
        )
        .await
        .context("reading the master account")?;
    Ok(row.map(|r| Master {
        id: r.get(0),
        domain: r.get(1),
        self_domain: r.get(2),
        service_id: r.get(3),
    }))
}

pub struct Account {
    pub id: i64,
    pub state: String,
}

/// The account whose admin portal `host` is (`Account.find_by(self_domain:)`), when it is a
/// provider or master: `force_provider_or_master_domain` refuses any other host.
pub async fn admin_domain_account(db: &Client, host: &str) -> Result<Option<Account>> {
    let row = db
        .query_opt(
            "SELECT id, coalesce(state, '') FROM accounts \
             WHERE lower(self_domain) = $1 AND (provider OR coalesce(master, false)) \
             ORDER BY id LIMIT 1",
            &[&host],
        )
        .await
        .context("finding the account of an admin domain")?;
    if let Some(r) = row {
        return Ok(Some(Account {
            id: r.get(0),
            state: r.get(1),
        }));
    }
    // Master is also found by its `domain` (`Account.is_master_domain?`).
    let row = db
        .query_opt(
            "SELECT id, coalesce(state, '') FROM accounts WHERE master AND lower(domain) = $1",
            &[&host],
        )
        .await
        .context("finding the master account by its domain")?;
    Ok(row.map(|r| Account {
        id: r.get(0),
        state: r.get(1),
    }))
}

pub struct Token {
    pub permission: String,
    pub scopes: Vec<String>,
}

impl Token {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// `domain_account.access_tokens.find_from_value(value)`, unexpired: a token of one of the
/// account's users with exactly this value.
pub async fn token(db: &Client, account: i64, value: &str) -> Result<Option<Token>> {
    let row = db
        .query_opt(
            "SELECT t.permission, coalesce(t.scopes, '') FROM access_tokens t \
             JOIN users u ON u.id = t.owner_id \
             WHERE u.account_id = $1 AND t.value = $2 \
             AND (t.expires_at IS NULL OR t.expires_at >= now() AT TIME ZONE 'UTC') LIMIT 1",
            &[&account, &value],
        )
        .await
        .context("looking up an access token")?;
    Ok(row.map(|r| Token {
        permission: r.get(0),
        scopes: yaml_list(&r.get::<_, String>(1)),
    }))
}

/// The items of a serialized YAML array (`---\n- account_management\n- stats\n`), as porta
/// stores `access_tokens.scopes`.
fn yaml_list(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .map(|s| s.trim().trim_matches(['\'', '"']).to_string())
        .collect()
}

/// `current_account.providers.find(id)` for master: a provider account master provides, not
/// master itself. None when there is none.
pub async fn provider_of(db: &Client, master: i64, id: i64) -> Result<Option<Value>> {
    let known = db
        .query_opt(
            "SELECT 1 FROM accounts WHERE id = $1 AND provider_account_id = $2 AND provider \
             AND NOT coalesce(master, false)",
            &[&id, &master],
        )
        .await
        .context("finding a provider account")?;
    match known {
        Some(_) => Ok(Some(account_json(db, id).await?)),
        None => Ok(None),
    }
}

/// `AccountRepresenter` of a provider account: the fields porta shows for a provider.
pub async fn account_json(db: &Client, id: i64) -> Result<Value> {
    let sql = format!(
        "SELECT id, {}, {}, coalesce(self_domain, ''), coalesce(domain, ''), from_email, \
         support_email, finance_support_email, site_access_code, coalesce(state, '') \
         FROM accounts WHERE id = $1",
        time("created_at"),
        time("updated_at")
    );
    let r = db
        .query_one(&sql, &[&id])
        .await
        .context("reading an account")?;
    let admin_domain: String = r.get(3);
    let domain: String = r.get(4);
    Ok(json!({
        "id": r.get::<_, i64>(0),
        "created_at": r.get::<_, Option<String>>(1),
        "updated_at": r.get::<_, Option<String>>(2),
        "admin_domain": admin_domain,
        "domain": domain,
        "admin_base_url": format!("https://{admin_domain}"),
        "base_url": format!("https://{domain}"),
        "from_email": r.get::<_, Option<String>>(5),
        "support_email": r.get::<_, Option<String>>(6),
        "finance_support_email": r.get::<_, Option<String>>(7),
        "site_access_code": r.get::<_, Option<String>>(8),
        "state": r.get::<_, String>(9),
        "annotations": {},
    }))
}

pub struct Plan {
    pub id: i64,
    pub name: String,
    pub system_name: String,
}

/// `Account.master.application_plans.stock.find(id)`: an application plan of one of master's
/// services that is not a customized copy (`original_id` 0 or NULL).
pub async fn master_stock_plan(db: &Client, master: i64, id: i64) -> Result<Option<Plan>> {
    let row = db
        .query_opt(
            "SELECT p.id, coalesce(p.name, ''), p.system_name FROM plans p \
             JOIN services s ON s.id = p.issuer_id \
             WHERE p.id = $1 AND p.type = 'ApplicationPlan' AND p.issuer_type = 'Service' \
             AND s.account_id = $2 AND coalesce(p.original_id, 0) = 0",
            &[&id, &master],
        )
        .await
        .context("finding a plan of master's")?;
    Ok(row.map(|r| Plan {
        id: r.get(0),
        name: r.get(1),
        system_name: r.get(2),
    }))
}

/// `bought_cinstance.change_plan!(plan)`: the provider's application on master's service moves
/// to `plan`, and both plans' contract counts follow.
pub async fn change_provider_plan(
    db: &Client,
    master: &Master,
    provider: i64,
    plan: i64,
) -> Result<()> {
    let service = master.service_id.unwrap_or_default();
    let old: Option<i64> = db
        .query_opt(
            "SELECT plan_id FROM cinstances WHERE user_account_id = $1 AND service_id = $2 \
             AND type = 'Cinstance' ORDER BY id LIMIT 1",
            &[&provider, &service],
        )
        .await
        .context("reading the provider's contract")?
        .map(|r| r.get(0));
    let Some(old) = old else {
        anyhow::bail!("provider {provider} has no application on master's service");
    };
    db.execute(
        "UPDATE cinstances SET plan_id = $1, updated_at = now() AT TIME ZONE 'UTC' \
         WHERE user_account_id = $2 AND service_id = $3 AND type = 'Cinstance'",
        &[&plan, &provider, &service],
    )
    .await
    .context("changing the provider's plan")?;
    if old != plan {
        db.execute(
            "UPDATE plans SET contracts_count = greatest(coalesce(contracts_count, 0) + \
             CASE WHEN id = $1 THEN 1 ELSE -1 END, 0) WHERE id IN ($1, $2)",
            &[&plan, &old],
        )
        .await
        .context("counting the plans' contracts")?;
    }
    Ok(())
}

/// The account's Admin Portal SSO integrations (`account_type = 'provider'`), as
/// `AuthenticationProviderRepresenter` shows each.
pub async fn admin_portal_sso(db: &Client, account: i64) -> Result<Vec<Value>> {
    let sql = format!(
        "SELECT id, kind, account_type, name, system_name, client_id, client_secret, site, \
         token_url, user_info_url, authorize_url, skip_ssl_certificate_verification, \
         automatically_approve_accounts, branding_state, account_id, username_key, \
         identifier_key, trust_email, published, {}, {} \
         FROM authentication_providers WHERE account_id = $1 AND account_type = 'provider' \
         ORDER BY id",
        time("created_at"),
        time("updated_at")
    );
    let rows = db
        .query(&sql, &[&account])
        .await
        .context("listing the account's authentication providers")?;
    let names = [
        "id",
        "kind",
        "account_type",
        "name",
        "system_name",
        "client_id",
        "client_secret",
        "site",
        "token_url",
        "user_info_url",
        "authorize_url",
        "skip_ssl_certificate_verification",
        "automatically_approve_accounts",
        "branding_state",
        "account_id",
        "username_key",
        "identifier_key",
        "trust_email",
        "published",
        "created_at",
        "updated_at",
    ];
    Ok(rows
        .iter()
        .map(|r| {
            let mut item = Map::new();
            for (i, name) in names.iter().enumerate() {
                let value = match *name {
                    "id" | "account_id" => {
                        r.get::<_, Option<i64>>(i).map_or(Value::Null, Value::from)
                    }
                    "skip_ssl_certificate_verification"
                    | "automatically_approve_accounts"
                    | "trust_email"
                    | "published" => r.get::<_, Option<bool>>(i).map_or(Value::Null, Value::from),
                    _ => r
                        .get::<_, Option<String>>(i)
                        .map_or(Value::Null, Value::from),
                };
                // representable leaves nil properties out.
                if !value.is_null() {
                    item.insert((*name).to_string(), value);
                }
            }
            Value::Object(item)
        })
        .collect())
}
