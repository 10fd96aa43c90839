//! Copying keys with their type's commands (`--per-type`, targets that cannot read the source's
//! payloads, and keys too large for one RESTORE): through a temporary key renamed onto the key
//! at the end, so a key is never seen half written.

use anyhow::{Result, anyhow, bail};
use futures::StreamExt;
use redis::Value;

use super::compare::{SAME_TTL_MS, pairs, parse_entries, same_key};
use super::endpoint::{Endpoint, now_ms, show_key};
use super::task::{BatchOutcome, Ctx, busy_error};
use crate::infra::resp::{array, bytes, check_ok, error_text, int, text};

/// Elements read and written per command by the per-type copy.
const CHUNK: usize = 1000;
/// Bytes of a string read and appended per command by the per-type copy.
const STRING_CHUNK: usize = 8 * 1024 * 1024;
/// Keys copied at once in per-type mode.
const PER_TYPE_CONCURRENCY: usize = 32;
const TMP_PREFIX: &[u8] = b"cutover:copy-tmp:";

pub(super) async fn per_type_batch(ctx: &Ctx, keys: Vec<Vec<u8>>) -> Result<BatchOutcome> {
    let results: Vec<(Vec<u8>, Result<KeyOutcome>)> = futures::stream::iter(keys)
        .map(|key| async move {
            let r = copy_key_per_type(ctx, &key).await;
            (key, r)
        })
        .buffer_unordered(PER_TYPE_CONCURRENCY)
        .collect()
        .await;
    let mut out = BatchOutcome::default();
    let mut busy = Vec::new();
    for (key, r) in results {
        match r? {
            KeyOutcome::Written(n) => {
                out.keys += 1;
                out.per_type_keys += 1;
                out.bytes += n;
            }
            KeyOutcome::Expired => out.expired += 1,
            KeyOutcome::Same => out.already_present += 1,
            KeyOutcome::Busy => busy.push(key),
        }
    }
    busy_error(&busy)?;
    Ok(out)
}

pub(super) enum KeyOutcome {
    /// Written, with this many value bytes.
    Written(u64),
    Expired,
    /// The target had it with the same content.
    Same,
    /// The target has it with other content.
    Busy,
}

fn tmp_key(key: &[u8]) -> Vec<u8> {
    let mut k = TMP_PREFIX.to_vec();
    k.extend_from_slice(key);
    k
}

/// Copies one key with its type's commands, in chunks, through a temporary key.
pub(super) async fn copy_key_per_type(ctx: &Ctx, key: &[u8]) -> Result<KeyOutcome> {
    let src = &ctx.source;
    let dst = &ctx.target;
    let mut head = redis::pipe();
    head.cmd("TYPE").arg(key).cmd("PTTL").arg(key);
    let read_at = now_ms();
    let replies = src.pipeline(&mut head, "TYPE and PTTL").await?;
    let kind = replies.first().and_then(text).unwrap_or_default();
    let pttl = replies.get(1).and_then(int).unwrap_or(-2);
    if kind == "none" || pttl == -2 {
        return Ok(KeyOutcome::Expired);
    }
    if !ctx.replace {
        let exists = dst
            .query(redis::cmd("EXISTS").arg(key), "EXISTS")
            .await
            .map(|v| int(&v) == Some(1))?;
        if exists {
            return Ok(if same_key(src, dst, key, SAME_TTL_MS).await? {
                KeyOutcome::Same
            } else {
                KeyOutcome::Busy
            });
        }
    }
    let tmp = tmp_key(key);
    dst.query(redis::cmd("DEL").arg(&tmp), "DEL").await?;
    let written = match kind.as_str() {
        "string" => copy_string(src, dst, key, &tmp).await?,
        "hash" => copy_scanned(src, dst, key, &tmp, "HSCAN", "HSET", false).await?,
        "set" => copy_scanned(src, dst, key, &tmp, "SSCAN", "SADD", false).await?,
        "zset" => copy_scanned(src, dst, key, &tmp, "ZSCAN", "ZADD", true).await?,
        "list" => copy_list(src, dst, key, &tmp).await?,
        "stream" => copy_stream(src, dst, key, &tmp).await?,
        other => bail!(
            "key {} is of type {other}, which cannot be copied with type commands",
            show_key(key)
        ),
    };
    let Some(written) = written else {
        dst.query(redis::cmd("DEL").arg(&tmp), "DEL").await?;
        return Ok(KeyOutcome::Expired);
    };
    if pttl >= 0 {
        dst.query(
            redis::cmd("PEXPIREAT").arg(&tmp).arg(read_at + pttl),
            "PEXPIREAT",
        )
        .await?;
    }
    let rename = if ctx.replace { "RENAME" } else { "RENAMENX" };
    let reply = dst
        .pipeline(redis::pipe().cmd(rename).arg(&tmp).arg(key), rename)
        .await?;
    match reply.first() {
        Some(v) if error_text(v).is_some_and(|e| e.contains("no such key")) => {
            Ok(KeyOutcome::Expired)
        }
        Some(v) if error_text(v).is_some() => {
            bail!(
                "target Redis: {rename} {}: {}",
                show_key(key),
                error_text(v).unwrap_or("")
            )
        }
        Some(Value::Int(0)) => {
            dst.query(redis::cmd("DEL").arg(&tmp), "DEL").await?;
            Ok(if same_key(src, dst, key, SAME_TTL_MS).await? {
                KeyOutcome::Same
            } else {
                KeyOutcome::Busy
            })
        }
        _ => Ok(KeyOutcome::Written(written)),
    }
}

/// Some(bytes written), or None when the key vanished from the source meanwhile.
async fn copy_string(
    src: &Endpoint,
    dst: &Endpoint,
    key: &[u8],
    tmp: &[u8],
) -> Result<Option<u64>> {
    let len = src
        .query(redis::cmd("STRLEN").arg(key), "STRLEN")
        .await
        .map(|v| int(&v).unwrap_or(0))?;
    let len = usize::try_from(len).unwrap_or(0);
    let mut at = 0usize;
    loop {
        let end = (at + STRING_CHUNK).min(len);
        let part = if len == 0 {
            Vec::new()
        } else {
            let reply = src
                .query(
                    redis::cmd("GETRANGE").arg(key).arg(at).arg(end - 1),
                    "GETRANGE",
                )
                .await?;
            bytes(reply).unwrap_or_default()
        };
        dst.query(redis::cmd("APPEND").arg(tmp).arg(&part), "APPEND")
            .await?;
        at = end;
        if at >= len {
            break;
        }
    }
    let exists = src
        .query(redis::cmd("EXISTS").arg(key), "EXISTS")
        .await
        .map(|v| int(&v) == Some(1))?;
    Ok(exists.then_some(len as u64))
}

/// Hashes, sets and sorted sets: HSCAN/SSCAN/ZSCAN in chunks, each written with one
/// HSET/SADD/ZADD. Scores are passed on as the source formats them, so no precision is lost.
async fn copy_scanned(
    src: &Endpoint,
    dst: &Endpoint,
    key: &[u8],
    tmp: &[u8],
    scan: &str,
    write: &str,
    score_first: bool,
) -> Result<Option<u64>> {
    let mut cursor = 0u64;
    let mut written = 0u64;
    let mut any = false;
    loop {
        let reply = src
            .query(
                redis::cmd(scan)
                    .arg(key)
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(CHUNK),
                scan,
            )
            .await?;
        let mut parts = array(reply).into_iter();
        cursor = parts
            .next()
            .and_then(|v| text(&v))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("source Redis: {scan} gave no cursor"))?;
        let items: Vec<Vec<u8>> = parts
            .next()
            .map(array)
            .unwrap_or_default()
            .into_iter()
            .filter_map(bytes)
            .collect();
        if !items.is_empty() {
            any = true;
            let mut cmd = redis::cmd(write);
            cmd.arg(tmp);
            if score_first {
                for pair in items.chunks(2) {
                    if let [member, score] = pair {
                        cmd.arg(score).arg(member);
                    }
                }
            } else {
                for item in &items {
                    cmd.arg(item);
                }
            }
            written += items.iter().map(|i| i.len() as u64).sum::<u64>();
            let reply = dst.query(&cmd, write).await?;
            check_ok(&reply, write)?;
        }
        if cursor == 0 {
            break;
        }
    }
    Ok(any.then_some(written))
}

async fn copy_list(src: &Endpoint, dst: &Endpoint, key: &[u8], tmp: &[u8]) -> Result<Option<u64>> {
    let mut at = 0usize;
    let mut written = 0u64;
    loop {
        let reply = src
            .query(
                redis::cmd("LRANGE").arg(key).arg(at).arg(at + CHUNK - 1),
                "LRANGE",
            )
            .await?;
        let items: Vec<Vec<u8>> = array(reply).into_iter().filter_map(bytes).collect();
        if items.is_empty() {
            break;
        }
        let mut cmd = redis::cmd("RPUSH");
        cmd.arg(tmp);
        for item in &items {
            cmd.arg(item);
            written += item.len() as u64;
        }
        dst.query(&cmd, "RPUSH").await?;
        at += items.len();
        if items.len() < CHUNK {
            break;
        }
    }
    Ok((at > 0).then_some(written))
}

/// Stream entries in order, then the last ID and the consumer groups with their last-delivered
/// IDs. Pending-entry lists are not copied.
async fn copy_stream(
    src: &Endpoint,
    dst: &Endpoint,
    key: &[u8],
    tmp: &[u8],
) -> Result<Option<u64>> {
    let mut start = "-".to_string();
    let mut written = 0u64;
    loop {
        let reply = src
            .query(
                redis::cmd("XRANGE")
                    .arg(key)
                    .arg(&start)
                    .arg("+")
                    .arg("COUNT")
                    .arg(CHUNK),
                "XRANGE",
            )
            .await?;
        let entries = parse_entries(reply);
        if entries.is_empty() {
            break;
        }
        let mut pipe = redis::pipe();
        for (id, fields) in &entries {
            let cmd = pipe.cmd("XADD").arg(tmp).arg(id);
            for (f, v) in fields {
                cmd.arg(f).arg(v);
                written += (f.len() + v.len()) as u64;
            }
        }
        for reply in dst.pipeline(&mut pipe, "XADD").await? {
            check_ok(&reply, "XADD")?;
        }
        let n = entries.len();
        if let Some((last, _)) = entries.last() {
            start = format!("({last}");
        }
        if n < CHUNK {
            break;
        }
    }
    let info = match src
        .query(redis::cmd("XINFO").arg("STREAM").arg(key), "XINFO STREAM")
        .await
    {
        Ok(v) => v,
        Err(_) => return Ok(None),
    };
    let info = pairs(info);
    let last_id = info.get("last-generated-id").cloned().unwrap_or_default();
    if start == "-" {
        // An empty stream: create it with one entry at its last ID, then delete the entry.
        if last_id.is_empty() || last_id == "0-0" {
            return Ok(None);
        }
        dst.query(
            redis::cmd("XADD").arg(tmp).arg(&last_id).arg("_").arg("_"),
            "XADD",
        )
        .await?;
        dst.query(redis::cmd("XDEL").arg(tmp).arg(&last_id), "XDEL")
            .await?;
    } else if !last_id.is_empty() {
        let reply = dst
            .pipeline(redis::pipe().cmd("XSETID").arg(tmp).arg(&last_id), "XSETID")
            .await?;
        if let Some(r) = reply.first() {
            check_ok(r, "XSETID")?;
        }
    }
    let groups = src
        .query(redis::cmd("XINFO").arg("GROUPS").arg(key), "XINFO GROUPS")
        .await?;
    for group in array(groups) {
        let g = pairs(group);
        if let (Some(name), Some(id)) = (g.get("name"), g.get("last-delivered-id")) {
            let reply = dst
                .pipeline(
                    redis::pipe()
                        .cmd("XGROUP")
                        .arg("CREATE")
                        .arg(tmp)
                        .arg(name)
                        .arg(id),
                    "XGROUP CREATE",
                )
                .await?;
            if let Some(r) = reply.first() {
                check_ok(r, "XGROUP CREATE")?;
            }
        }
    }
    Ok(Some(written))
}
