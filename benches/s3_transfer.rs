//! S3 transfer figures: `infra::s3_transfer::transfer` (hash while reading the source, copy,
//! read back and hash again; big objects hashed first) against a plain copy of the same objects
//! with the same client (GET streamed into PUT or a multipart upload, nothing hashed or read
//! back), between two S3 servers (`sim::s3`) each in a process of its own, in the same
//! run. Then a second transfer (everything already there: the source read to hash, nothing
//! written) and a verification (the destination read back).
//!
//! Prints, for each: seconds, MiB/s of the objects' bytes, the peak RSS of this (client)
//! process during it, and the CPU seconds of the client and of each server.
//!
//! Run: `scripts/bench-s3-transfer [MiB]` or `cargo bench --bench s3_transfer -- [MiB]`
//! (default 300 MiB).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use bytes::Bytes;
use cutover::infra::s3::{S3Client, S3Endpoint, S3Error};
use cutover::infra::s3_transfer::{TransferOptions, transfer, verify};
use cutover::sim::s3::S3Server;
use futures::{StreamExt, stream};

const BUCKET: &str = "registry-backups";
const ACCESS: &str = "bench";
const SECRET: &str = "bench-secret-key-0123";
const IN_FLIGHT: usize = 4;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.first().map(String::as_str) == Some("serve") {
        serve(args.get(1).expect("serve <folder>"));
        return;
    }
    let mib: u64 = match args.first() {
        None => 300,
        Some(n) => match n.parse() {
            Ok(n) if n >= 10 => n,
            _ => {
                eprintln!("bench s3_transfer: give the size in MiB, at least 10, not `{n}`");
                std::process::exit(2);
            }
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(mib));
}

/// A server of its own: the port on stdout, until stdin closes (the bench ended or died).
fn serve(folder: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let server = S3Server::start(Path::new(folder), ACCESS, SECRET)
            .await
            .expect("the S3 server starts");
        println!("{}", server.port());
        std::io::stdout().flush().expect("stdout");
        let _ = tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin().read_line(&mut sink).unwrap_or(0) > 0 {}
        })
        .await;
        drop(server);
    });
}

struct Server {
    child: Child,
    endpoint: S3Endpoint,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(folder: &Path) -> Server {
    let mut child = Command::new(std::env::current_exe().expect("this program"))
        .arg("serve")
        .arg(folder)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("a server process");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("its stdout"))
        .read_line(&mut line)
        .expect("its port");
    let port: u16 = line.trim().parse().expect("a port");
    Server {
        child,
        endpoint: S3Endpoint {
            url: format!("http://127.0.0.1:{port}"),
            region: String::new(),
            access_key: ACCESS.into(),
            secret_key: SECRET.into(),
            ca_file: None,
        },
    }
}

/// The objects of a registry's backup, about `mib` MiB in all: a quarter in the Velero
/// tarball, most of the rest in restic packs of 4 to 16 MiB, and a few hundred small files
/// (restic's index and snapshots, the YAML dump, the bucket replication's documents).
fn layout(mib: u64) -> Vec<(String, usize)> {
    let total = (mib << 20) as usize;
    let backup = "openshift-backups/backups/registry-2026-12-07";
    let mut objects = vec![
        (format!("{backup}/velero-backup.json"), 3_000),
        (format!("{backup}/registry-2026-12-07.tar.gz"), total / 4),
        (format!("{backup}/registry-2026-12-07-logs.gz"), 200_000),
    ];
    let mut small_bytes = 0;
    for i in 0..400usize {
        let size = 1_024 + (i * 7_919) % 65_536;
        small_bytes += size;
        let key = match i % 4 {
            0 => format!("{backup}/openshift-resources/object-{i}.yaml"),
            1 => format!("openshift-backups/restic/registry/index/{i:064x}"),
            2 => format!("obc-backups/registry/document-{i}.pdf"),
            _ => format!("openshift-backups/restic/registry/snapshots/{i:064x}"),
        };
        objects.push((key, size));
    }
    let mut left = total.saturating_sub(total / 4 + small_bytes + 203_000);
    let mut i = 0usize;
    while left > 0 {
        let size = ((4 + (i * 5) % 13) << 20).min(left);
        objects.push((
            format!(
                "openshift-backups/restic/registry/data/{:02x}/{i:064x}",
                i % 256
            ),
            size,
        ));
        left -= size;
        i += 1;
    }
    objects
}

fn noise(len: usize, seed: u64) -> Bytes {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

/// This process's peak RSS since the last reset, in MiB, and a reset.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn reset_peak_rss() {
    // "5" resets the peak RSS (Linux 4.0+); where it cannot, the figure is the run's peak.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// CPU seconds (user + system) of a process.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15, the 12th and 13th after the command's name.
    // In USER_HZ, 100 on every Linux architecture cutover builds for.
    (ticks(11) + ticks(12)) / 100.0
}

struct Phase<'a> {
    name: &'a str,
    started: Instant,
    cpu: [f64; 3],
    pids: [u32; 3],
}

impl<'a> Phase<'a> {
    fn start(name: &'a str, a: &Server, b: &Server) -> Phase<'a> {
        reset_peak_rss();
        let pids = [std::process::id(), a.child.id(), b.child.id()];
        Phase {
            name,
            started: Instant::now(),
            cpu: pids.map(cpu_seconds),
            pids,
        }
    }

    fn end(self, bytes: u64, note: &str) -> f64 {
        let secs = self.started.elapsed().as_secs_f64();
        let cpu: Vec<f64> = self
            .pids
            .iter()
            .zip(self.cpu)
            .map(|(pid, before)| cpu_seconds(*pid) - before)
            .collect();
        println!(
            "{:<34} {:>7.2} s {:>8.1} MiB/s  peak RSS {:>6.1} MiB  CPU s client {:>5.2} / A {:>5.2} / B {:>5.2}  {note}",
            self.name,
            secs,
            bytes as f64 / (1 << 20) as f64 / secs,
            peak_rss_mib(),
            cpu[0],
            cpu[1],
            cpu[2],
        );
        secs
    }
}

async fn run(mib: u64) {
    let work = tempfile::tempdir().expect("a temporary folder");
    let a = start_server(&work.path().join("a"));
    let b = start_server(&work.path().join("b"));
    let source = S3Client::new(&a.endpoint, BUCKET).expect("A's client");
    let destination = S3Client::new(&b.endpoint, BUCKET).expect("B's client");
    let plain = S3Client::new(&b.endpoint, "plain-copy").expect("B's other bucket");
    for client in [&source, &destination, &plain] {
        client.create_bucket().await.expect("a bucket");
    }

    let objects = layout(mib);
    let bytes: u64 = objects.iter().map(|(_, s)| *s as u64).sum();
    stream::iter(objects.iter().enumerate())
        .map(|(i, (key, size))| {
            let source = source.clone();
            async move {
                let body = noise(*size, i as u64 + 1);
                source
                    .put_stream(
                        key,
                        stream::iter([Ok::<_, S3Error>(body)]),
                        Some(*size as u64),
                        &[],
                    )
                    .await
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .for_each(|r| async move {
            r.expect("the source is filled");
        })
        .await;
    println!(
        "{} objects, {:.1} MiB ({} of them under 64 KiB, the biggest {:.1} MiB); parts of {} MiB, {IN_FLIGHT} objects in flight",
        objects.len(),
        bytes as f64 / (1 << 20) as f64,
        objects.iter().filter(|(_, s)| *s <= 65_536 + 1_024).count(),
        objects.iter().map(|(_, s)| *s).max().unwrap_or(0) as f64 / (1 << 20) as f64,
        destination.part_size() >> 20,
    );

    let prefixes = [
        "openshift-backups/backups/registry-2026-12-07/",
        "openshift-backups/restic/registry/",
        "obc-backups/registry/",
    ];

    let phase = Phase::start("plain copy (GET -> PUT)", &a, &b);
    let listed = {
        let mut all = Vec::new();
        for prefix in prefixes {
            all.extend(source.list(prefix).await.expect("a listing"));
        }
        all
    };
    stream::iter(listed.iter())
        .map(|object| {
            let (source, plain) = (source.clone(), plain.clone());
            async move {
                let reader = source.get_stream(&object.key).await?;
                let size = reader.size();
                plain
                    .put_stream(&object.key, reader.into_stream(), Some(size), &[])
                    .await
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .for_each(|r| async move {
            r.expect("the plain copy");
        })
        .await;
    let plain_secs = phase.end(bytes, "");

    let phase = Phase::start("transfer (hash, copy, read back)", &a, &b);
    let report = transfer(
        &source,
        &destination,
        &prefixes,
        &TransferOptions::default(),
        &|_| {},
    )
    .await
    .expect("the transfer");
    let transfer_secs = phase.end(bytes, &format!("{} copied", report.copied));
    println!(
        "{:<34} {:>7.2}x",
        "transfer / plain copy",
        transfer_secs / plain_secs
    );

    let phase = Phase::start("transfer again (all identical)", &a, &b);
    let again = transfer(
        &source,
        &destination,
        &prefixes,
        &TransferOptions::default(),
        &|_| {},
    )
    .await
    .expect("the second transfer");
    phase.end(
        bytes,
        &format!("{} skipped, {} copied", again.skipped, again.copied),
    );

    let phase = Phase::start("verify (read B back)", &a, &b);
    let mismatches = verify(&destination, &report.records)
        .await
        .expect("the verification");
    phase.end(bytes, &format!("{} mismatches", mismatches.len()));
    assert!(mismatches.is_empty());
}
