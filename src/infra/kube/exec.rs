//! Exec into a pod with stdout streamed to a file or any writer (bytes counted for progress,
//! SHA-256 computed on the way), stderr captured, and the exit status returned. This is how a
//! dump is taken from an in-cluster database when the bastion cannot reach it directly.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::AttachParams;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{KubeCluster, REQUEST_TIMEOUT};

/// A command that produces no output for this long is taken as hung.
pub const EXEC_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ExecResult {
    /// Bytes written from stdout.
    pub bytes: u64,
    /// Lowercase hex SHA-256 of those bytes.
    pub sha256: String,
    pub exit_code: i32,
    /// The first 64 KiB of stderr, lossily decoded.
    pub stderr: String,
}

impl ExecResult {
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }
}

/// The exit code from the exec's Status (kube-wire.md §1.4): Success, or a NonZeroExitCode
/// Status whose `ExitCode` cause holds the number.
fn exit_code(
    status: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Status,
) -> anyhow::Result<i32> {
    if status.status.as_deref() == Some("Success") {
        return Ok(0);
    }
    let code = status
        .details
        .as_ref()
        .and_then(|d| d.causes.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
        .and_then(|c| c.message.as_deref())
        .and_then(|m| m.trim().parse().ok());
    code.ok_or_else(|| {
        anyhow!(
            "{}",
            status
                .message
                .clone()
                .unwrap_or_else(|| "the exec failed".into())
        )
    })
}

impl KubeCluster {
    /// Runs `command` in `pod` (in the cluster's namespace) and writes its stdout to `sink`.
    /// `progress` gets the running byte count after every chunk.
    pub async fn exec_to_writer<W: AsyncWrite + Unpin + Send>(
        &self,
        pod: &str,
        container: Option<&str>,
        command: &[&str],
        sink: &mut W,
        mut progress: impl FnMut(u64) + Send,
    ) -> anyhow::Result<ExecResult> {
        let ns = self.namespace.clone();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let mut params = AttachParams::default()
            .stdin(false)
            .stdout(true)
            .stderr(true);
        if let Some(c) = container {
            params = params.container(c);
        }
        let program = command.first().copied().unwrap_or("");
        let what = format!("exec of {program} in pod {pod}");
        let argv: Vec<String> = command.iter().map(|s| s.to_string()).collect();
        let mut attached = self
            .call(Some(&ns), &what, api.exec(pod, argv, &params))
            .await?;
        let (Some(mut stdout), Some(stderr), Some(status)) =
            (attached.stdout(), attached.stderr(), attached.take_status())
        else {
            return Err(anyhow!(
                "{} cluster, namespace {ns}: {what}: the exec session has no stdout/stderr",
                self.role
            ));
        };

        let copy = async {
            let mut hasher = Sha256::new();
            let mut bytes = 0u64;
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = match tokio::time::timeout(EXEC_IDLE_TIMEOUT, stdout.read(&mut buf)).await {
                    Err(_) => anyhow::bail!(
                        "no output for {}s; the command looks hung",
                        EXEC_IDLE_TIMEOUT.as_secs()
                    ),
                    Ok(Err(e)) => return Err(e).context("reading the command's output"),
                    Ok(Ok(0)) => break,
                    Ok(Ok(n)) => n,
                };
                sink.write_all(&buf[..n])
                    .await
                    .context("writing the command's output")?;
                hasher.update(&buf[..n]);
                bytes += n as u64;
                progress(bytes);
            }
            sink.flush().await.context("writing the command's output")?;
            anyhow::Ok((bytes, hasher.finalize()))
        };
        let (copied, stderr) = tokio::join!(copy, crate::infra::tools::read_kept(stderr));
        let (bytes, digest) = copied.with_context(|| {
            format!(
                "{} cluster (context {}), namespace {ns}: {what}",
                self.role, self.context
            )
        })?;
        let status = tokio::time::timeout(REQUEST_TIMEOUT, status)
            .await
            .ok()
            .flatten();
        let exit_code = match status {
            Some(s) => exit_code(&s).with_context(|| {
                format!(
                    "{} cluster (context {}), namespace {ns}: {what}",
                    self.role, self.context
                )
            })?,
            None => {
                return Err(anyhow!(
                    "{} cluster (context {}), namespace {ns}: {what}: the session ended without an exit \
                     status (network cut or API server restarted?); the output may be incomplete",
                    self.role,
                    self.context
                ));
            }
        };
        let _ = tokio::time::timeout(REQUEST_TIMEOUT, attached.join()).await;
        let sha256 = digest.iter().map(|b| format!("{b:02x}")).collect();
        Ok(ExecResult {
            bytes,
            sha256,
            exit_code,
            stderr,
        })
    }

    /// The output of `command` in `pod`, lossily decoded. A non-zero exit is an error naming
    /// `what` (the program) with its exit code and stderr.
    pub async fn exec_output(
        &self,
        pod: &str,
        command: &[&str],
        what: &str,
    ) -> anyhow::Result<String> {
        let mut out: Vec<u8> = Vec::new();
        let result = self
            .exec_to_writer(pod, None, command, &mut out, |_| {})
            .await?;
        if !result.success() {
            anyhow::bail!(
                "{what} in pod {pod} failed (exit code {}): {}",
                result.exit_code,
                result.stderr.trim()
            );
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// [`exec_to_writer`](Self::exec_to_writer) into a new file at `path`, synced to disk. On
    /// an error the partial file is removed, so no half dump is mistaken for a whole one.
    pub async fn exec_to_file(
        &self,
        pod: &str,
        container: Option<&str>,
        command: &[&str],
        path: &Path,
        progress: impl FnMut(u64) + Send,
    ) -> anyhow::Result<ExecResult> {
        let file = tokio::fs::File::create(path).await.with_context(|| {
            format!(
                "cannot create {} for the output of the exec in pod {pod}",
                path.display()
            )
        })?;
        let mut writer = tokio::io::BufWriter::with_capacity(1 << 20, file);
        let result = self
            .exec_to_writer(pod, container, command, &mut writer, progress)
            .await;
        let synced = match &result {
            Ok(_) => writer
                .into_inner()
                .sync_all()
                .await
                .with_context(|| format!("cannot sync {}", path.display())),
            Err(_) => Ok(()),
        };
        if result.is_err() || synced.is_err() {
            let _ = tokio::fs::remove_file(path).await;
        }
        synced?;
        result
    }
}
