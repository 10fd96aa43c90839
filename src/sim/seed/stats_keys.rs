//! The usage counters backend keeps per service: `stats/{service:SID}/...` keys with the period
//! suffixes and timestamp formats apisonator writes (`docs/redis_keys.md`).

use chrono::{DateTime, Datelike, Duration, Utc};

use super::model::{Service, splitmix};

/// apisonator expires minute counters after 180 s; every other period is kept.
pub(super) const MINUTE_TTL_SECONDS: i64 = 180;

pub(super) struct StatKey {
    pub key: String,
    pub value: u64,
    /// Seconds left to live, for the keys backend sets a TTL on.
    pub ttl: Option<i64>,
}

/// The first `count` counters of `service`: whole-history periods first, then days, hours and
/// minutes going back from `now`, across the service's totals, response codes and applications.
pub(super) fn stats_keys(service: &Service, count: u32, now: DateTime<Utc>) -> Vec<StatKey> {
    let sid = service.id;
    let mut scopes: Vec<String> = Vec::new();
    for metric in &service.metrics {
        scopes.push(format!("stats/{{service:{sid}}}/metric:{}", metric.id));
    }
    for code in ["200", "2XX", "404", "4XX"] {
        scopes.push(format!("stats/{{service:{sid}}}/response_code:{code}"));
    }
    for app in &service.apps {
        for metric in &service.metrics {
            scopes.push(format!(
                "stats/{{service:{sid}}}/cinstance:{}/metric:{}",
                app.application_id, metric.id
            ));
        }
    }
    let wanted = count as usize;
    let mut keys = Vec::with_capacity(wanted);
    let mut rng = sid as u64;
    if scopes.is_empty() {
        return keys;
    }
    let mut round: i64 = 0;
    while keys.len() < wanted {
        for scope in &scopes {
            for (suffix, ttl, scale) in periods(round, now) {
                if keys.len() == wanted {
                    return keys;
                }
                keys.push(StatKey {
                    key: format!("{scope}/{suffix}"),
                    value: 1 + splitmix(&mut rng) % scale,
                    ttl,
                });
            }
        }
        round += 1;
    }
    keys
}

/// The period keys of one round back in time: (suffix, TTL, value scale).
fn periods(round: i64, now: DateTime<Utc>) -> Vec<(String, Option<i64>, u64)> {
    let mut out = Vec::new();
    if round == 0 {
        let monday = now - Duration::days(i64::from(now.weekday().num_days_from_monday()));
        out.push(("eternity".to_string(), None, 5_000_000));
        out.push((now.format("year:%Y0101").to_string(), None, 1_000_000));
        out.push((now.format("month:%Y%m01").to_string(), None, 200_000));
        out.push((monday.format("week:%Y%m%d").to_string(), None, 50_000));
    }
    out.push((
        (now - Duration::days(round))
            .format("day:%Y%m%d")
            .to_string(),
        None,
        10_000,
    ));
    out.push((
        (now - Duration::hours(round))
            .format("hour:%Y%m%d%H")
            .to_string(),
        None,
        1_000,
    ));
    // Older minute counters have expired already.
    if round < 3 {
        let ttl = MINUTE_TTL_SECONDS - 60 * round;
        let minute = now - Duration::minutes(round);
        out.push((
            minute.format("minute:%Y%m%d%H%M").to_string(),
            Some(ttl),
            50,
        ));
    }
    out
}
