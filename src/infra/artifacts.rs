//! The artifacts folder: the files the dump steps write, and `manifest.json`, which lists each
//! of them with its kind, where it came from, its size, SHA-256, counts and versions. Every
//! restore first checks the files it reads against the manifest ([`verify`]): a changed byte
//! stops it and names the artifact.
//!
//! Files are written the same way by every dump: into `<name>.partial`, created with mode 0600
//! in a folder of mode 0700, hashed on the way, synced, then renamed into place and the folder
//! synced ([`create_private`], [`copy_hashing`], [`publish`]), so a crash never leaves a file
//! under its final name that is not whole. The manifest is replaced the same way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::error::bad_input;
use crate::infra::kube::{ExecResult, KubeCluster};

/// The manifest's file name, in the dump folder.
pub const MANIFEST: &str = "manifest.json";
/// Progress is reported at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// Read and write buffer of the file copies.
pub const CHUNK: usize = 1 << 20;

/// Where progress and log lines go: a step's sink, or the terminal for `cutover pg`.
pub struct Report<'a> {
    pub progress: &'a (dyn Fn(u64, Option<u64>, &'static str) + Send + Sync),
    pub log: &'a (dyn Fn(String) + Send + Sync),
}

fn no_progress(_: u64, _: Option<u64>, _: &'static str) {}
fn no_log(_: String) {}

/// A report that shows nothing: for re-checks and checks whose progress nobody watches.
pub const QUIET: Report<'static> = Report {
    progress: &no_progress,
    log: &no_log,
};

/// Calls `report.progress` at most every [`PROGRESS_EVERY`], and always for the last value.
pub struct Throttle<'a, 'b> {
    report: &'a Report<'b>,
    total: Option<u64>,
    unit: &'static str,
    last: Option<Instant>,
}

impl<'a, 'b> Throttle<'a, 'b> {
    /// A new gauge starts at 0 at once: what an earlier stage of the step reached (a checksum
    /// at 100% before the restore) does not stay on screen as this one's.
    pub fn new(report: &'a Report<'b>, total: Option<u64>, unit: &'static str) -> Self {
        (report.progress)(0, total, unit);
        Throttle {
            report,
            total,
            unit,
            last: None,
        }
    }

    pub fn tick(&mut self, done: u64) {
        if self.last.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) {
            self.last = Some(Instant::now());
            // A source's size is a rough guess of its dump's; never show more done than the
            // total.
            let total = self.total.map(|t| t.max(done));
            (self.report.progress)(done, total, self.unit);
        }
    }

    pub fn done(&self, done: u64) {
        (self.report.progress)(done, Some(done), self.unit);
    }
}

pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `<file>.partial`, where an archive is written before it is known to be whole.
pub fn partial_path(to: &Path) -> PathBuf {
    let mut name = to.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    to.with_file_name(name)
}

/// A new (or emptied) file only this user may read.
pub async fn create_private(path: &Path) -> Result<tokio::fs::File> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        make_private_dir(dir)?;
    }
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .await
        .with_context(|| format!("cannot create {}", path.display()))?;
    // A file left by an earlier attempt keeps its old mode through `open`.
    tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .await
        .with_context(|| format!("cannot set mode 0600 on {}", path.display()))?;
    Ok(file)
}

/// Renames the synced `partial` to `to` and syncs the folder, so the name survives a crash.
pub fn publish(partial: &Path, to: &Path) -> Result<()> {
    std::fs::rename(partial, to)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), to.display()))?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync the folder {}", dir.display()))?;
    }
    Ok(())
}

/// Runs `command` in `pod` through exec and writes its output into `to`'s `.partial` file (mode
/// 0600), hashed on the way and synced; the caller checks and publishes it. The partial is
/// removed when the command fails or the copy breaks off. `what` names the command in the
/// failure ("pg_dump", "cat /data/dump.rdb"), `interrupted` says what did not complete.
pub async fn exec_to_private_file(
    kube: &KubeCluster,
    pod: &str,
    command: &[&str],
    to: &Path,
    mut throttle: Throttle<'_, '_>,
    what: &str,
    interrupted: &str,
) -> Result<ExecResult> {
    let partial = partial_path(to);
    let file = create_private(&partial).await?;
    let mut writer = tokio::io::BufWriter::with_capacity(CHUNK, file);
    let result = kube
        .exec_to_writer(pod, None, command, &mut writer, |n| throttle.tick(n))
        .await;
    let result = match result {
        Ok(r) if r.success() => r,
        Ok(r) => {
            let _ = std::fs::remove_file(&partial);
            bail!(
                "{what} in pod {pod} failed (exit code {}): {}",
                r.exit_code,
                r.stderr.trim()
            );
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e.context(interrupted.to_string()));
        }
    };
    let synced = async {
        writer.flush().await?;
        writer.into_inner().sync_all().await
    };
    if let Err(e) = synced.await {
        let _ = std::fs::remove_file(&partial);
        return Err(anyhow!(e).context(format!("cannot sync {}", partial.display())));
    }
    throttle.done(result.bytes);
    Ok(result)
}

/// Copies `from` into `file`, hashing it and reporting progress; syncs the file at the end.
pub async fn copy_hashing(
    mut from: impl AsyncRead + Unpin,
    file: tokio::fs::File,
    throttle: &mut Throttle<'_, '_>,
) -> Result<(u64, String)> {
    let mut writer = tokio::io::BufWriter::with_capacity(CHUNK, file);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut bytes = 0u64;
    loop {
        let n = from
            .read(&mut buf)
            .await
            .context("reading the dump as it streams in")?;
        if n == 0 {
            break;
        }
        writer
            .write_all(&buf[..n])
            .await
            .context("writing the dump file (is the disk full?)")?;
        hasher.update(&buf[..n]);
        bytes += n as u64;
        throttle.tick(bytes);
    }
    writer
        .flush()
        .await
        .context("writing the dump file (is the disk full?)")?;
    writer
        .into_inner()
        .sync_all()
        .await
        .context("syncing the dump file to disk")?;
    Ok((bytes, hex(&hasher.finalize())))
}

/// The SHA-256 of a file, read in chunks, with progress in bytes.
pub async fn sha256_file(path: &Path, report: &Report<'_>) -> Result<(u64, String)> {
    let mut file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    let total = file.metadata().await.ok().map(|m| m.len());
    let mut throttle = Throttle::new(report, total, "bytes");
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut bytes = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .await
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
        throttle.tick(bytes);
    }
    throttle.done(bytes);
    Ok((bytes, hex(&hasher.finalize())))
}

/// What a dump wrote: one entry of the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// The file, relative to the dump folder (`system-database.dump`,
    /// `secrets/secret-system-seed.json.age`).
    pub file: String,
    /// What it is: `postgresql-dump`, `mysql-dump`, `redis-rdb`, `secret`, `configmap`,
    /// `apimanager`, `record`.
    pub kind: String,
    /// Where it came from: cluster, namespace and object, a pod, or a URL without its password.
    pub source: String,
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the file as written.
    pub sha256: String,
    /// Rows per table, or keys per type or per database.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, u64>,
    /// Server, format and tool versions (`server`, `rdb`, `pg_dump`...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, String>,
    /// Encrypted with age to the configured recipients.
    #[serde(default)]
    pub encrypted: bool,
    /// The step that wrote it.
    pub step: String,
    pub time: DateTime<Utc>,
}

/// `manifest.json`: every artifact of the migration, one entry per file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub artifacts: Vec<Artifact>,
}

impl Manifest {
    /// The manifest of `folder`; an empty one when there is none yet. A file that is not a
    /// manifest is bad input: it is never overwritten.
    pub fn load(folder: &Path) -> Result<Manifest> {
        let path = folder.join(MANIFEST);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Manifest::default()),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        serde_json::from_str(&text).map_err(|e| {
            bad_input(format!(
                "{} is not a manifest cutover can read ({e}); move it aside, or restore the \
                 original from the hand-over",
                path.display()
            ))
        })
    }

    pub fn get(&self, file: &str) -> Option<&Artifact> {
        self.artifacts.iter().find(|a| a.file == file)
    }

    /// Adds `artifact` to the manifest of `folder`, replacing the entry of the same file, and
    /// writes the manifest (0600, synced, renamed into place).
    pub fn record(folder: &Path, artifact: Artifact) -> Result<()> {
        let mut manifest = Manifest::load(folder)?;
        manifest.artifacts.retain(|a| a.file != artifact.file);
        manifest.artifacts.push(artifact);
        manifest.artifacts.sort_by(|a, b| a.file.cmp(&b.file));
        manifest.write(folder)
    }

    fn write(&self, folder: &Path) -> Result<()> {
        make_private_dir(folder)?;
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        write_whole(&folder.join(MANIFEST), text.as_bytes())
    }
}

/// Replaces `to` with `bytes` so that a crash at any moment leaves the old file or the new one
/// whole: written into `to`'s `.partial` file (mode 0600), synced, then [`publish`]ed. A missing
/// folder is created private (0700), as the dump folder is.
pub fn write_whole(to: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(folder) = to.parent() {
        make_private_dir(folder)?;
    }
    let partial = partial_path(to);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", partial.display()))?;
    publish(&partial, to)
}

/// The name of `path` relative to `folder`, as the manifest keeps it.
pub fn relative(folder: &Path, path: &Path) -> String {
    path.strip_prefix(folder)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// Checks each of `files` (relative to `folder`) against the manifest: it must be listed, be
/// there, and have the recorded size and SHA-256. The first that does not stops the check with
/// its name and what to do.
pub async fn verify(folder: &Path, files: &[String], report: &Report<'_>) -> Result<()> {
    let manifest = Manifest::load(folder)?;
    for file in files {
        let Some(artifact) = manifest.get(file) else {
            bail!(
                "{file} is not listed in {}; without its recorded checksum it cannot be \
                 verified. Use the dump folder the dump step wrote, with its manifest",
                folder.join(MANIFEST).display()
            );
        };
        verify_artifact(folder, artifact, report).await?;
    }
    Ok(())
}

/// Checks one artifact's file against its entry.
pub async fn verify_artifact(
    folder: &Path,
    artifact: &Artifact,
    report: &Report<'_>,
) -> Result<()> {
    let path = folder.join(&artifact.file);
    if !path.exists() {
        bail!(
            "the artifact {} ({}) is not in {}; put the file back, or dump again",
            artifact.file,
            artifact.kind,
            folder.display()
        );
    }
    let (bytes, sha) = sha256_file(&path, report).await?;
    if sha != artifact.sha256 || bytes != artifact.bytes {
        bail!(
            "the artifact {} ({}) has changed since it was written: {bytes} bytes with SHA-256 \
             {sha}, the manifest records {} bytes with {}. Nothing was restored; find the \
             original file (the hand-over copy) or dump again",
            artifact.file,
            path.display(),
            artifact.bytes,
            artifact.sha256
        );
    }
    Ok(())
}

/// Creates `dir` (and its parents) with mode 0700 when missing.
pub fn make_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the folder {}", dir.display()))
}

/// The size and checksum of the dump `tool` streamed into `partial`. When the tool failed or
/// the copy broke off, the partial is removed and the error says which, with the tool's
/// stderr (`errors`).
pub fn dumped(
    copied: Result<(u64, String)>,
    status: std::process::ExitStatus,
    partial: &Path,
    tool: &str,
    shown: &str,
    errors: &str,
) -> Result<(u64, String)> {
    match copied {
        Ok(done) if status.success() => Ok(done),
        Ok(_) => {
            let _ = std::fs::remove_file(partial);
            bail!("{tool} of {shown} failed ({status}): {errors}");
        }
        Err(e) => {
            let _ = std::fs::remove_file(partial);
            Err(e.context(format!("the dump of {shown} did not complete: {errors}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(folder: &Path, file: &str, body: &[u8]) -> Artifact {
        std::fs::write(folder.join(file), body).expect("write");
        Artifact {
            file: file.to_string(),
            kind: "redis-rdb".to_string(),
            source: "test".to_string(),
            bytes: body.len() as u64,
            sha256: hex(&Sha256::digest(body)),
            counts: BTreeMap::new(),
            versions: BTreeMap::new(),
            encrypted: false,
            step: "dump-redis".to_string(),
            time: Utc::now(),
        }
    }

    #[tokio::test]
    async fn each_stage_starts_its_gauge_at_zero_and_ends_it_full() {
        let seen = std::sync::Mutex::new(Vec::new());
        let progress = |done: u64, total: Option<u64>, _: &'static str| {
            if let Ok(mut s) = seen.lock() {
                s.push((done, total));
            }
        };
        let report = Report {
            progress: &progress,
            log: &|_| {},
        };
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("dump");
        std::fs::write(&path, vec![7u8; 3 * CHUNK + 5]).expect("write");
        let size = (3 * CHUNK + 5) as u64;
        sha256_file(&path, &report).await.expect("hashed");
        sha256_file(&path, &report).await.expect("hashed again");
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        // Two stages: each opens at 0 of its total and closes at all of it.
        let starts: Vec<usize> = (0..seen.len()).filter(|i| seen[*i].0 == 0).collect();
        assert_eq!(starts.len(), 2, "{seen:?}");
        assert_eq!(seen[starts[0]], (0, Some(size)));
        assert_eq!(seen[starts[1] - 1], (size, Some(size)), "{seen:?}");
        assert_eq!(seen.last(), Some(&(size, Some(size))));
    }

    #[tokio::test]
    async fn a_flipped_bit_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = dir.path();
        Manifest::record(folder, entry(folder, "a.rdb", b"REDIS0011 hello")).expect("record");
        Manifest::record(folder, entry(folder, "b.rdb", b"REDIS0011 world")).expect("record");
        let report = QUIET;
        let files = vec!["a.rdb".to_string(), "b.rdb".to_string()];
        verify(folder, &files, &report).await.expect("whole");

        let mut body = std::fs::read(folder.join("b.rdb")).expect("read");
        body[3] ^= 0x01;
        std::fs::write(folder.join("b.rdb"), &body).expect("write");
        let err = format!(
            "{:#}",
            verify(folder, &files, &report).await.expect_err("changed")
        );
        assert!(
            err.contains("the artifact b.rdb (") && err.contains("has changed"),
            "{err}"
        );

        let err = format!(
            "{:#}",
            verify(folder, &["c.rdb".to_string()], &report)
                .await
                .expect_err("unlisted")
        );
        assert!(err.contains("c.rdb is not listed"), "{err}");
    }

    #[test]
    fn recording_again_replaces_the_entry_and_a_foreign_manifest_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = dir.path();
        Manifest::record(folder, entry(folder, "a.rdb", b"one")).expect("record");
        Manifest::record(folder, entry(folder, "a.rdb", b"two!")).expect("record");
        let manifest = Manifest::load(folder).expect("load");
        assert_eq!(manifest.artifacts.len(), 1);
        assert_eq!(manifest.artifacts[0].bytes, 4);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(folder.join(MANIFEST))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        std::fs::write(folder.join(MANIFEST), "not json").expect("write");
        let err = format!("{:#}", Manifest::load(folder).expect_err("foreign"));
        assert!(err.contains("is not a manifest"), "{err}");
        assert!(Manifest::record(folder, entry(folder, "a.rdb", b"x")).is_err());
        assert_eq!(
            std::fs::read_to_string(folder.join(MANIFEST)).expect("read"),
            "not json"
        );
    }
}
