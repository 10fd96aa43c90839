//! What the four checks share: the destination's system-seed and its tokens, the hosts, the
//! client, how porta's answers read, and a read-only check's verdict.

use anyhow::{Context, Result};
use serde_json::Value;

use crate::infra::threescale_api::{ApiClient, Response, Token};
use crate::runbook::ClusterRole;
use crate::steps::StepContext;

/// The secret of the destination that holds the tokens, and its keys.
pub const SEED_SECRET: &str = "system-seed";
pub const MASTER_TOKEN_KEY: &str = "MASTER_ACCESS_TOKEN";
pub const ADMIN_TOKEN_KEY: &str = "ADMIN_ACCESS_TOKEN";
/// RHOAM's default tenant.
pub const RHOAM_TENANT: &str = "3scale";
/// The fact each check records.
pub const FACT: &str = "found";

/// The destination's system-seed, read once.
pub(in crate::steps) struct Seed {
    namespace: String,
    data: std::collections::BTreeMap<String, Vec<u8>>,
}

impl Seed {
    pub async fn read(ctx: &StepContext) -> Result<Seed> {
        let kube = ctx.cluster(ClusterRole::Destination).await?;
        let namespace = ctx
            .config
            .cluster(ClusterRole::Destination)
            .map(|c| c.namespace.clone())
            .unwrap_or_default();
        let secret = kube.get_secret(None, SEED_SECRET).await?.with_context(|| {
            format!(
                "the destination has no secret {SEED_SECRET} in namespace {namespace} \
                 (RHOAM's 3scale creates it; push-secrets puts the source's into it)"
            )
        })?;
        let data = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        Ok(Seed { namespace, data })
    }

    fn text(&self, key: &str) -> Option<String> {
        self.data
            .get(key)
            .map(|v| String::from_utf8_lossy(v).trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// A token of the secret; Err names the secret and the key, never a value.
    pub fn token(&self, key: &str) -> Result<Token> {
        self.text(key).map(Token::new).with_context(|| {
            format!(
                "secret {SEED_SECRET} in namespace {} has no {key}",
                self.namespace
            )
        })
    }

    /// `TENANT_NAME` (the APIManager's `tenantName`), `3scale` when absent as the operator's
    /// default.
    pub fn tenant_name(&self) -> String {
        self.text("TENANT_NAME").unwrap_or_else(|| "3scale".into())
    }

    /// `MASTER_DOMAIN`, `master` when absent as the operator's default.
    pub fn master_name(&self) -> String {
        self.text("MASTER_DOMAIN")
            .unwrap_or_else(|| "master".into())
    }

    /// How a refused token is named: secret, key and namespace.
    pub fn named(&self, key: &str) -> String {
        format!(
            "{key} of secret {SEED_SECRET} (namespace {})",
            self.namespace
        )
    }
}

/// The client and the destination's hosts.
pub(in crate::steps) struct Api {
    pub client: ApiClient,
    pub wildcard: String,
    /// Where connections go, for messages: `https://<host>` or the configured address.
    pub through: String,
}

impl Api {
    /// Err(text) when the config gives no destination wildcard domain.
    pub fn new(ctx: &StepContext) -> Result<std::result::Result<Api, String>> {
        let Some(cluster) = ctx.config.cluster(ClusterRole::Destination) else {
            return Ok(Err("the config has no destination cluster".into()));
        };
        let Some(wildcard) = cluster
            .wildcard_domain
            .as_deref()
            .map(|w| w.trim().trim_matches('.').to_ascii_lowercase())
            .filter(|w| !w.is_empty())
        else {
            return Ok(Err(
                "the config gives no destination.wildcard_domain, so the hosts of RHOAM's \
                 3scale (master.<wildcard>, 3scale-admin.<wildcard>) are unknown: set it"
                    .into(),
            ));
        };
        let api = &cluster.threescale_api;
        let client = ApiClient::new(api.connect_to.clone(), api.ca_file.as_deref())?;
        let through = match &api.connect_to {
            Some(c) => format!(" (through {c}, destination.threescale_api)"),
            None => String::new(),
        };
        Ok(Ok(Api {
            client,
            wildcard,
            through,
        }))
    }

    pub fn master_host(&self, seed: &Seed) -> String {
        format!("{}.{}", seed.master_name(), self.wildcard)
    }

    /// RHOAM's default tenant's admin host: RHOAM leaves the APIManager's `tenantName` at the
    /// operator's default and calls `3scale-admin.<wildcard>` (integreatly-operator's 3scale
    /// reconciler), whatever system-seed's `TENANT_NAME` says after push-secrets.
    pub fn admin_host(&self) -> String {
        format!("{RHOAM_TENANT}-admin.{}", self.wildcard)
    }
}

/// What porta's answer means for a check.
pub(in crate::steps) enum Answer {
    Ok(Value),
    /// The failure, in words.
    Refused(String),
}

/// Reads porta's answer to a request made with `token_key`'s token: 200 with JSON, or why not.
/// porta answers a token it does not know with 401 `unauthorized` on the Master API and 403
/// `{"error":"Access denied"}` on the Admin API; the token of an account that is not approved
/// with 403 and no body (`ApiAuthentication::SuspendedAccount`).
pub(in crate::steps) fn answer(
    response: &Response,
    seed: &Seed,
    token_key: &str,
) -> Result<Answer> {
    let token = seed.named(token_key);
    Ok(match response.status {
        200..=299 => Answer::Ok(response.json()?),
        401 => Answer::Refused(format!(
            "{} answered 401 ({}): porta does not know {token}. The destination's database \
             and its secret disagree: push-secrets puts the source's tokens into \
             {SEED_SECRET}, which the seeded database holds",
            response.url,
            response.excerpt()
        )),
        403 if response.body.iter().all(u8::is_ascii_whitespace) => Answer::Refused(format!(
            "{} answered 403 with no body: porta knows {token}, but refuses the API to an \
             account that is not approved (suspended or pending)",
            response.url
        )),
        403 => Answer::Refused(format!(
            "{} answered 403 ({}): porta refused {token}. The destination's database and \
             its secret disagree (push-secrets puts the source's tokens into {SEED_SECRET}, \
             which the seeded database holds), or the token lacks scope account_management",
            response.url,
            response.excerpt()
        )),
        404 => Answer::Refused(format!(
            "{} answered 404 ({}): no such account on the destination",
            response.url,
            response.excerpt()
        )),
        status => Answer::Refused(format!(
            "{} answered {status}: {}",
            response.url,
            response.excerpt()
        )),
    })
}

/// `item[key]` as text, or empty.
pub(in crate::steps) fn text(item: &Value, key: &str) -> String {
    match &item[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// What a read-only check found: whether it holds, in words, and the fact it records.
pub(in crate::steps) struct Verdict {
    pub ok: bool,
    pub summary: String,
    pub fact: Value,
}

impl Verdict {
    pub fn passed(summary: String, fact: Value) -> Verdict {
        Verdict {
            ok: true,
            summary,
            fact,
        }
    }

    pub fn failed(summary: String, fact: Value) -> Verdict {
        Verdict {
            ok: false,
            summary,
            fact,
        }
    }

    /// The step's result: the fact recorded, the summary logged.
    pub fn result(self, ctx: &StepContext) -> Result<crate::steps::StepResult> {
        ctx.sink.record_fact(FACT, self.fact.clone())?;
        let figures = match &self.fact {
            Value::Object(m) => m.clone(),
            _ => serde_json::Map::new(),
        };
        Ok(if self.ok {
            ctx.sink.info(&self.summary);
            crate::steps::StepResult::passed(self.summary, figures)
        } else {
            ctx.sink.error(&self.summary);
            crate::steps::StepResult::failed(self.summary, figures)
        })
    }

    /// The resume re-check of a read-only check: it is run again.
    pub fn recheck(self) -> crate::steps::Recheck {
        if self.ok {
            crate::steps::Recheck::Holds(self.summary)
        } else {
            crate::steps::Recheck::DoesNotHold(self.summary)
        }
    }
}

/// A read-only check as a step: `find` runs, its verdict is the result (and its fact
/// recorded), and on resume it is simply run again.
pub(in crate::steps) struct ReadOnlyCheck(
    pub for<'a> fn(&'a StepContext) -> crate::steps::StepFuture<'a, Verdict>,
);

impl crate::steps::StepAction for ReadOnlyCheck {
    fn run<'a>(
        &'a self,
        ctx: &'a StepContext,
    ) -> crate::steps::StepFuture<'a, crate::steps::StepResult> {
        Box::pin(async move { (self.0)(ctx).await?.result(ctx) })
    }

    fn check<'a>(
        &'a self,
        ctx: &'a StepContext,
    ) -> crate::steps::StepFuture<'a, crate::steps::Recheck> {
        Box::pin(async move { Ok((self.0)(ctx).await?.recheck()) })
    }
}

/// The client, system-seed and the token of `key`: what each check starts with; Err(verdict)
/// when the config gives no destination wildcard domain.
pub(in crate::steps) async fn start(
    ctx: &StepContext,
    key: &str,
) -> Result<std::result::Result<(Api, Seed, Token), Verdict>> {
    let api = match Api::new(ctx)? {
        Ok(api) => api,
        Err(why) => return Ok(Err(Verdict::failed(why, serde_json::json!({})))),
    };
    let seed = Seed::read(ctx).await?;
    let token = seed.token(key)?;
    Ok(Ok((api, seed, token)))
}

/// The rows of `sql` in the destination's system database, reached by URL or through the
/// client pod as the seed reaches it; the pod goes when the query is done.
pub(in crate::steps) async fn destination_rows(
    ctx: &StepContext,
    sql: &str,
    what: &str,
) -> Result<Vec<Vec<String>>> {
    let reporter = ctx.sink.reporter();
    let target =
        crate::steps::pgdump::system_database(ctx, ClusterRole::Destination, &reporter.report())
            .await?;
    let rows = target.rows(sql, what).await;
    crate::steps::pgdump::close(ctx, target).await;
    rows
}
