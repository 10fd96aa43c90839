//! Copying the keys of one Redis into another, and comparing two of them (`cutover redis copy`,
//! `cutover redis compare`). Tools and formats: Redis's DUMP/RESTORE and
//! replication, RedisShake's readers, `redis-cli --pipe`.
//!
//! # Copy
//!
//! The source is walked with `SCAN cursor [MATCH glob] COUNT 1000`; the keys of one SCAN reply
//! are one batch. A batch is read with one pipeline of `MGET` (all its keys) and `PTTL` (each):
//! strings come back with their values, other types as nil, and those are read with a second
//! pipeline of `DUMP`. Strings are written by value: those without expiry with one
//! `MSETNX` (`MSET` with replace), the others with `SET key value NX PXAT at`; other types with
//! `RESTORE key ttl payload [REPLACE] [ABSTTL]`, all in one pipeline.
//!
//! Up to [`IN_FLIGHT`] batches are under way at once, and finish in any order. They share
//! [`WIRES`] connections to each server: a batch takes a source connection for its reads and
//! gives it back as soon as they are answered, then takes a target connection for its writes
//! (first come, first served). So a batch never holds a connection to one server while it
//! waits on the other, one slow batch (a busy key, a large one) holds up no other, and both
//! servers keep work queued: while the target is slower (it rehashes its key table as it
//! grows), the source goes on reading batches ahead, and the other way round. The walk runs
//! ahead on a connection of its own by at most [`IN_FLIGHT`] SCAN replies, so memory holds at
//! most twice that many batches of keys, and that many of values, whatever the key count.
//!
//! Why not DUMP for everything: for the source, a DUMP (RDB encoding and CRC64) costs more than
//! a key's share of an MGET; on the target one MSETNX of many keys costs less than as many
//! RESTOREs or SETs (one command dispatch). Strings are most keys of a 3scale backend. Measured
//! on the source's CPU for 1M keys shaped like one (`scripts/bench-redis-copy`), beyond the 1.2
//! s SCAN itself takes: 2.5 s with DUMP+PTTL for every key, 2.1 s with MGET+PTTL and DUMP for
//! the other types, and 3.8 s with a Lua script returning TYPE, PTTL and the value or DUMP of
//! each key in one call (each `redis.call` and the conversion of its reply cost more than a
//! pipelined command), so there is no script.
//!
//! The batches talk to the servers over connections of their own (`resp::Wire`, in a
//! `resp::WirePool` per server): commands are written straight into a buffer and replies read
//! in place, which takes the client's CPU per key to well under half of what it was through
//! `redis::Pipeline` and `redis::Value` (it shares the machine's cores with the two servers).
//!
//! MSETNX sets all its keys or, when one exists, none: then each of its keys is written again
//! on its own with `SET key value NX`, so that only the keys the target has are compared.
//!
//! Expiry: the absolute time is computed once, when the batch is read (the time the pipeline
//! was sent plus PTTL), and written with `PXAT` / `ABSTTL` on targets that have them (Redis 6.2
//! / 5 and later), so a slow copy does not lengthen TTLs. Older targets get the remaining TTL
//! (`PX`, or RESTORE's ttl) computed just before the write; a key whose expiry passed meanwhile
//! is not written.
//!
//! Versions: a DUMP payload ends with the RDB version of the server that wrote it and a CRC64,
//! and RESTORE refuses payloads newer than its own RDB version. Both servers' versions are read
//! first (`INFO server`); a source that writes newer payloads than the target reads is refused
//! with the reason, unless per-type copying is asked for, which reads each key with its type's
//! commands (GET, HSCAN, SSCAN, ZSCAN, LRANGE, XRANGE) and writes it with SET/APPEND, HSET,
//! SADD, ZADD, RPUSH, XADD, plus `PEXPIREAT`. Each payload is checked again before it is
//! written. Keys whose payload is larger than the target accepts in one argument
//! (`proto-max-bulk-len`, 512 MiB by default) are written the per-type way, in chunks.
//!
//! Per-type writes go to a temporary key (`cutover:copy-tmp:<key>`) which is renamed onto the
//! key at the end (`RENAMENX`, or `RENAME` with replace), so a key is never seen half written.
//! Streams keep their entries, last ID and consumer groups with their last-delivered IDs, not
//! their pending-entry lists.
//!
//! Existing keys: `RESTORE` without `REPLACE` fails with BUSYKEY on a key the target already
//! has, and `SET ... NX` answers nil. Such a key is compared with the source (type, value, TTL
//! within [`SAME_TTL_MS`]): the same content is counted as already present and left as it is
//! (SCAN may return a key twice, and a resumed copy redoes the batches its crashed run had in
//! flight); a different one is an error naming it, and nothing is overwritten unless `replace`
//! is set.
//!
//! # Checkpoint and resume
//!
//! A batch is confirmed when every write of it answered OK. The checkpoint file holds the SCAN
//! cursor that follows the last batch confirmed with every batch before it confirmed too
//! (written to a temporary file and renamed; fsynced at most once a second and always at the
//! end): batches confirmed out of order wait until those before them are, and the checkpoint
//! never runs past a batch that still runs or failed. At most [`WINDOW`] batches are started
//! past the checkpoint, so a crash loses at most those; `resume` scans again from the
//! checkpoint's cursor, so the keys of those batches are read and written again. With
//! `replace` they are overwritten with the same source content; without it, each one the
//! crashed run had written is found busy, compared, and counted as already present when
//! identical. Either way a key written again ends identical to the source.
//!
//! A SCAN cursor only means something to the server that gave it, with the same hash table
//! seed: a resume is refused when the source restarted since the checkpoint (its `run_id`
//! changed), and when the target did (keys confirmed before may not have survived it).
//!
//! # Compare
//!
//! Walks the source the same way and reads TYPE, PTTL and DUMP of each key from both servers:
//! missing keys, other types, TTLs apart by more than the tolerance, and values. Equal payloads
//! mean equal values; different payloads may still hold equal values (another server version
//! encodes differently), so then both values are read with their type's commands and compared.
//! A second walk over the target finds the keys the source does not have.
//!
//! # Files
//!
//! `version` (RDB versions, `INFO server`), `endpoint` (one connected side), `copy` (the walk and
//! the report), `task` (what the batches share), `batch` (one batch by value and RESTORE),
//! `per_type` (type commands through a temporary key), `checkpoint` (the file and the window of
//! batches under way), `compare` (both servers, or one key of both).

mod batch;
mod checkpoint;
mod compare;
mod copy;
mod endpoint;
mod per_type;
mod task;
mod version;

pub use compare::{CompareOptions, CompareReport, DiffKind, Difference, SAME_TTL_MS, compare};
pub use copy::{
    CopyMethod, CopyOptions, CopyProgress, CopyReport, DEFAULT_MAX_PAYLOAD, IN_FLIGHT, ProgressFn,
    WINDOW, WIRES, copy,
};
pub use endpoint::{Endpoint, SCAN_COUNT, show_key};
pub use version::{
    ServerInfo, parse_server_info, payload_rdb_version, payload_refusal, rdb_version_of_server,
    version_refusal,
};
