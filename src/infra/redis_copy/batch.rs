//! One batch of keys: read on a source connection (MGET and PTTL, then DUMP for the keys that are
//! not strings), written on a target connection (MSETNX, SET ... NX PXAT, RESTORE), and the
//! keys that need more (busy, too large) followed up.

use anyhow::{Result, bail};

use super::compare::{SAME_TTL_MS, same_key};
use super::endpoint::{now_ms, show_key};
use super::per_type::{KeyOutcome, copy_key_per_type, per_type_batch};
use super::task::{BatchOutcome, Ctx, Wires, busy_error};
use super::version::payload_refusal;
use crate::infra::resp::{Reply, Wire};

/// A RESTORE pipeline is cut into parts of about this many payload bytes.
const PIPELINE_BYTES: usize = 64 * 1024 * 1024;

/// Copies one batch, with the shared connections or, in per-type mode, key by key.
pub(super) async fn run_batch(ctx: &Ctx, keys: Vec<Vec<u8>>) -> Result<BatchOutcome> {
    if keys.is_empty() {
        return Ok(BatchOutcome::default());
    }
    match &ctx.wires {
        Some(wires) if !ctx.per_type => restore_batch(ctx, wires, keys).await,
        _ => per_type_batch(ctx, keys).await,
    }
}

/// What to do with one key after its write answered.
enum Followup {
    Busy(Vec<u8>),
    PerType(Vec<u8>),
}

/// One key read for writing: a string's value, or another type's DUMP payload.
struct Item {
    key: Vec<u8>,
    data: Vec<u8>,
    /// Absolute expiry in ms, None without one.
    expire_at: Option<i64>,
}

/// One command of a write pipeline, with the items it writes (indexes into `Written::items`).
enum WriteOp {
    /// Strings without expiry, in one `MSET` (replace) or `MSETNX`.
    Group(Vec<usize>),
    /// One string, `SET key value [NX] [PXAT at | PX left]`.
    Set(usize),
    /// One other key, `RESTORE key ttl payload [REPLACE] [ABSTTL]`.
    Restore(usize),
}

impl WriteOp {
    fn bytes(&self, items: &[Item]) -> usize {
        match self {
            WriteOp::Group(group) => group.iter().map(|&i| items[i].data.len()).sum(),
            WriteOp::Set(i) | WriteOp::Restore(i) => items[*i].data.len(),
        }
    }
}

/// Copies one batch: reads it on a source connection, given back before the writes, and writes
/// it on a target connection, given back before the followups.
async fn restore_batch(ctx: &Ctx, wires: &Wires, keys: Vec<Vec<u8>>) -> Result<BatchOutcome> {
    let mut out = BatchOutcome::default();
    let mut src = wires.source.take().await?;
    let read = read_batch(&mut src, keys, &mut out).await;
    wires.source.give(read.is_ok().then_some(src));
    let (strings, others) = read?;

    let mut followups = Vec::new();
    let mut items: Vec<Item> = Vec::with_capacity(strings.len() + others.len());
    let mut writes = Vec::new();
    let mut plain = Vec::new();
    let mut plain_bytes = 0usize;
    for item in strings {
        if item.data.len() as u64 > ctx.max_payload {
            followups.push(Followup::PerType(item.key));
            continue;
        }
        let at = items.len();
        if item.expire_at.is_some() {
            writes.push(WriteOp::Set(at));
        } else {
            plain_bytes += item.data.len();
            plain.push(at);
            if plain_bytes >= PIPELINE_BYTES {
                writes.push(WriteOp::Group(std::mem::take(&mut plain)));
                plain_bytes = 0;
            }
        }
        items.push(item);
    }
    if !plain.is_empty() {
        writes.push(WriteOp::Group(plain));
    }
    for item in others {
        if item.data.len() as u64 > ctx.max_payload {
            followups.push(Followup::PerType(item.key));
            continue;
        }
        if let Some(t) = ctx.target.info.rdb_version
            && let Some(reason) = payload_refusal(&item.data, t)
        {
            bail!(
                "copy refused at key {}: {reason}; copy with --per-type instead",
                show_key(&item.key)
            );
        }
        writes.push(WriteOp::Restore(items.len()));
        items.push(item);
    }

    let mut dst = wires.target.take().await?;
    let written = write_batch(ctx, &mut dst, &items, writes, &mut out, &mut followups).await;
    wires.target.give(written.is_ok().then_some(dst));
    written?;
    drop(items);

    let mut busy = Vec::new();
    for f in followups {
        match f {
            Followup::PerType(key) => match copy_key_per_type(ctx, &key).await? {
                KeyOutcome::Written(n) => {
                    out.keys += 1;
                    out.per_type_keys += 1;
                    out.bytes += n;
                }
                KeyOutcome::Expired => out.expired += 1,
                KeyOutcome::Same => out.already_present += 1,
                KeyOutcome::Busy => busy.push(key),
            },
            Followup::Busy(key) => {
                if same_key(&ctx.source, &ctx.target, &key, SAME_TTL_MS).await? {
                    out.already_present += 1;
                } else {
                    busy.push(key);
                }
            }
        }
    }
    busy_error(&busy)?;
    Ok(out)
}

/// Reads a batch: the strings with their values, the other keys with their DUMP payloads.
async fn read_batch(
    src: &mut Wire,
    keys: Vec<Vec<u8>>,
    out: &mut BatchOutcome,
) -> Result<(Vec<Item>, Vec<Item>)> {
    let (strings, others) = read_strings(src, keys, out).await?;
    let dumps = read_dumps(src, others, out).await?;
    Ok((strings, dumps))
}

/// Writes a batch. An MSETNX that found one of its keys set none: each is written on its own
/// (SET NX), so that only the keys the target has are compared. Only MSETNX groups come back
/// for that, so the second round ends it.
async fn write_batch(
    ctx: &Ctx,
    dst: &mut Wire,
    items: &[Item],
    mut writes: Vec<WriteOp>,
    out: &mut BatchOutcome,
    followups: &mut Vec<Followup>,
) -> Result<()> {
    loop {
        let mut retry = Vec::new();
        send_writes(ctx, dst, items, writes, out, followups, &mut retry).await?;
        if retry.is_empty() {
            return Ok(());
        }
        writes = retry.into_iter().map(WriteOp::Set).collect();
    }
}

/// Reads a batch with one pipeline, `MGET` of every key and `PTTL` of each: the strings with
/// their values and expiries, and the keys of other types (MGET gives them as nil) with their
/// expiries.
async fn read_strings(
    src: &mut Wire,
    keys: Vec<Vec<u8>>,
    out: &mut BatchOutcome,
) -> Result<(Vec<Item>, Vec<(Vec<u8>, Option<i64>)>)> {
    src.begin(keys.len() + 1);
    src.arg(b"MGET");
    for key in &keys {
        src.arg(key);
    }
    for key in &keys {
        src.cmd(&[b"PTTL", key]);
    }
    let read_at = now_ms();
    src.flush().await?;
    let n = src.array("MGET").await?;
    if n != keys.len() {
        bail!("source Redis: MGET gave {n} values for {} keys", keys.len());
    }
    let mut values = Vec::with_capacity(n);
    for _ in 0..n {
        values.push(match src.reply().await? {
            Reply::Bulk(data) => Some(data),
            _ => None,
        });
    }
    let mut strings = Vec::with_capacity(keys.len());
    let mut others = Vec::new();
    for (key, value) in keys.into_iter().zip(values) {
        let pttl = match src.reply().await? {
            Reply::Int(n) => n,
            Reply::Error(e) => bail!("source Redis: PTTL {}: {e}", show_key(&key)),
            _ => -2,
        };
        if pttl == -2 {
            out.expired += 1;
            continue;
        }
        let expire_at = (pttl >= 0).then(|| read_at + pttl);
        match value {
            Some(data) => strings.push(Item {
                key,
                data,
                expire_at,
            }),
            None => others.push((key, expire_at)),
        }
    }
    Ok((strings, others))
}

/// Reads keys of other types than string with one pipeline of `DUMP`. Their expiries are those
/// the first read found: reading PTTL again would cost the source as much per key as the DUMP
/// (a TTL changed in the milliseconds between is a change made while copying, as any other).
async fn read_dumps(
    src: &mut Wire,
    keys: Vec<(Vec<u8>, Option<i64>)>,
    out: &mut BatchOutcome,
) -> Result<Vec<Item>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    for (key, _) in &keys {
        src.cmd(&[b"DUMP", key]);
    }
    src.flush().await?;
    let mut items = Vec::with_capacity(keys.len());
    for (key, expire_at) in keys {
        match src.reply().await? {
            Reply::Bulk(data) => items.push(Item {
                key,
                data,
                expire_at,
            }),
            Reply::Error(e) => bail!("source Redis: DUMP {}: {e}", show_key(&key)),
            _ => out.expired += 1,
        }
    }
    Ok(items)
}

/// The TTL argument for a key expiring at `at`: the time itself on targets that take absolute
/// expiries, else the time left, computed now; None when that has passed.
fn ttl_arg(at: i64, absolute: bool) -> Option<i64> {
    if absolute {
        return Some(at);
    }
    let left = at - now_ms();
    (left > 0).then_some(left)
}

/// Sends `writes` in pipelines of about [`PIPELINE_BYTES`] and sorts out the replies: written
/// keys are counted, busy and too large ones become followups, the items of an MSETNX that set
/// nothing go to `retry`.
async fn send_writes(
    ctx: &Ctx,
    target: &mut Wire,
    items: &[Item],
    writes: Vec<WriteOp>,
    out: &mut BatchOutcome,
    followups: &mut Vec<Followup>,
    retry: &mut Vec<usize>,
) -> Result<()> {
    let info = &ctx.target.info;
    let mut sent: Vec<WriteOp> = Vec::new();
    let mut part_bytes = 0usize;
    let total = writes.len();
    for (n, write) in writes.into_iter().enumerate() {
        let mut skip = false;
        match &write {
            WriteOp::Group(group) => {
                target.begin(1 + 2 * group.len());
                target.arg(if ctx.replace { b"MSET" } else { b"MSETNX" });
                for &i in group {
                    target.arg(&items[i].key);
                    target.arg(&items[i].data);
                }
            }
            WriteOp::Set(i) => {
                let item = &items[*i];
                let ttl = match item.expire_at {
                    None => Some(None),
                    Some(at) => ttl_arg(at, info.set_pxat).map(Some),
                };
                match ttl {
                    None => skip = true,
                    Some(ttl) => {
                        let nx = !ctx.replace;
                        target.begin(3 + usize::from(nx) + if ttl.is_some() { 2 } else { 0 });
                        target.arg(b"SET");
                        target.arg(&item.key);
                        target.arg(&item.data);
                        if nx {
                            target.arg(b"NX");
                        }
                        if let Some(t) = ttl {
                            target.arg(if info.set_pxat { b"PXAT" } else { b"PX" });
                            target.int(t);
                        }
                    }
                }
            }
            WriteOp::Restore(i) => {
                let item = &items[*i];
                let ttl = match item.expire_at {
                    None => Some(0),
                    Some(at) => ttl_arg(at, info.abs_ttl),
                };
                match ttl {
                    None => skip = true,
                    Some(ttl) => {
                        let abs = item.expire_at.is_some() && info.abs_ttl;
                        target.begin(4 + usize::from(ctx.replace) + usize::from(abs));
                        target.arg(b"RESTORE");
                        target.arg(&item.key);
                        target.int(ttl);
                        target.arg(&item.data);
                        if ctx.replace {
                            target.arg(b"REPLACE");
                        }
                        if abs {
                            target.arg(b"ABSTTL");
                        }
                    }
                }
            }
        }
        if skip {
            out.expired += 1;
        } else {
            part_bytes += write.bytes(items);
            sent.push(write);
        }
        if !sent.is_empty() && (part_bytes >= PIPELINE_BYTES || n + 1 == total) {
            target.flush().await?;
            part_bytes = 0;
            for write in std::mem::take(&mut sent) {
                let reply = target.reply().await?;
                if let Reply::Array(_) = reply {
                    bail!("target Redis: an array in reply to a write");
                }
                written(ctx, items, write, &reply, out, followups, retry)?;
            }
        }
    }
    Ok(())
}

/// Sorts out the reply to one write.
fn written(
    ctx: &Ctx,
    items: &[Item],
    write: WriteOp,
    reply: &Reply,
    out: &mut BatchOutcome,
    followups: &mut Vec<Followup>,
    retry: &mut Vec<usize>,
) -> Result<()> {
    let by_value = u64::from(!matches!(write, WriteOp::Restore(_)));
    let count = |i: usize, out: &mut BatchOutcome| {
        out.keys += 1;
        out.by_value_keys += by_value;
        out.bytes += items[i].data.len() as u64;
    };
    match (&write, reply) {
        (WriteOp::Group(group), Reply::Error(e)) => {
            let first = group.first().map(|&i| show_key(&items[i].key));
            bail!(
                "target Redis: {} of {} keys (from {}): {e}",
                if ctx.replace { "MSET" } else { "MSETNX" },
                group.len(),
                first.unwrap_or_default()
            )
        }
        (WriteOp::Group(group), reply) => {
            if ctx.replace || *reply == Reply::Int(1) {
                for &i in group {
                    count(i, out);
                }
            } else {
                retry.extend_from_slice(group);
            }
        }
        (WriteOp::Set(i), Reply::Nil) => followups.push(Followup::Busy(items[*i].key.clone())),
        (WriteOp::Set(i), Reply::Error(e)) => {
            if is_size_error(e) {
                followups.push(Followup::PerType(items[*i].key.clone()));
            } else {
                bail!("target Redis: SET {}: {e}", show_key(&items[*i].key))
            }
        }
        (WriteOp::Set(i), _) => count(*i, out),
        (WriteOp::Restore(i), Reply::Error(e)) => {
            let key = &items[*i].key;
            if e.contains("BUSYKEY") {
                followups.push(Followup::Busy(key.clone()));
            } else if is_size_error(e) {
                followups.push(Followup::PerType(key.clone()));
            } else if e.contains("payload version") {
                bail!(
                    "the target refused the payload of key {}: {e}; the source's RDB version \
                     is newer than the target reads: copy with --per-type",
                    show_key(key)
                )
            } else {
                bail!("target Redis: RESTORE {}: {e}", show_key(key))
            }
        }
        (WriteOp::Restore(i), _) => count(*i, out),
    }
    Ok(())
}

fn is_size_error(e: &str) -> bool {
    let e = e.to_ascii_lowercase();
    e.contains("bulk length") || e.contains("too big") || e.contains("too large")
}
