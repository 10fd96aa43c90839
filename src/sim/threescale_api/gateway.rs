//! APIcast in front of the sandbox's products, served by the same router as porta's APIs: a
//! request whose `Host` is a hosted product's staging (`proxies.sandbox_endpoint`) or production
//! (`proxies.endpoint`) host is authorized as APIcast does with its defaults (credentials in the
//! query, `user_key` for a product of authentication mode 1): a live application of that product
//! with that key gets the upstream's answer, here 3scale's echo API's (`echo-api.3scale.net`,
//! the default backend of a new product: the request echoed as JSON); a missing key is 401
//! `Authentication parameters missing`, a wrong one 403 `Authentication failed` (APIcast's
//! `error_auth_missing`, `error_auth_failed`). Usage is not reported.

use serde_json::{Value, json};

/// What the gateway answers: status and a plain text or a JSON body.
pub(super) enum Reply {
    Text(u16, &'static str),
    Json(u16, Value),
}

/// The product a host is a gateway of: (service id, staging?).
pub(super) async fn product_of(
    db: &tokio_postgres::Client,
    host: &str,
) -> anyhow::Result<Option<(i64, bool)>> {
    let rows = db
        .query(
            "SELECT s.id, lower(split_part(split_part(p.sandbox_endpoint, '://', 2), ':', 1)), \
                    lower(split_part(split_part(p.endpoint, '://', 2), ':', 1)) \
             FROM proxies p JOIN services s ON s.id = p.service_id \
             WHERE s.deployment_option = 'hosted'",
            &[],
        )
        .await?;
    Ok(rows.iter().find_map(|r| {
        let (id, staging, production): (i64, String, String) = (r.get(0), r.get(1), r.get(2));
        if staging == host {
            Some((id, true))
        } else if production == host {
            Some((id, false))
        } else {
            None
        }
    }))
}

/// APIcast's answer for a request to `path` of product `service` with `user_key`.
pub(super) async fn call(
    db: &tokio_postgres::Client,
    path: &str,
    user_key: Option<&str>,
    service: i64,
) -> anyhow::Result<Reply> {
    let Some(key) = user_key.filter(|k| !k.is_empty()) else {
        return Ok(Reply::Text(401, "Authentication parameters missing"));
    };
    let live = db
        .query_opt(
            "SELECT c.id FROM cinstances c JOIN plans p ON p.id = c.plan_id \
             WHERE p.issuer_id = $1 AND p.issuer_type = 'Service' AND c.user_key = $2 \
             AND c.state = 'live' AND c.type = 'Cinstance'",
            &[&service, &key],
        )
        .await?;
    if live.is_none() {
        return Ok(Reply::Text(403, "Authentication failed"));
    }
    Ok(Reply::Json(
        200,
        json!({
            "method": "GET",
            "path": path,
            "args": "",
            "body": "",
            "headers": {"HTTP_HOST": "echo-api.3scale.net"},
            "uuid": format!("{service:08x}-0000-4000-8000-000000000000"),
        }),
    ))
}
