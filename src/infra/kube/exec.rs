//! Exec into a pod with stdout streamed to a file or any writer (bytes counted for progress,
//! SHA-256 computed on the way), or with a file streamed to its stdin; stderr captured, and the
//! exit status returned. This is how a dump is taken from an in-cluster database, or restored
//! into one, when the bastion cannot reach it directly.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures::FutureExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::Api;
use kube::api::{AttachParams, AttachedProcess};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::cluster::{KubeCluster, REQUEST_TIMEOUT};
use crate::infra::tools::read_kept_until;

/// A command that produces no output (or reads none of its input) for this long is taken as
/// hung.
pub const EXEC_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// The pipes between kube-rs' WebSocket task and the caller.
const PIPE_BUFFER: usize = 1 << 20;
/// How long a command's output is still read once its session has ended.
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ExecResult {
    /// Bytes of stdout written to the sink; for [`KubeCluster::exec_with_input`], bytes of
    /// the input sent.
    pub bytes: u64,
    /// Lowercase hex SHA-256 of those bytes.
    pub sha256: String,
    pub exit_code: i32,
    /// The first 64 KiB of stdout, lossily decoded, when it was not streamed to a writer.
    pub stdout: String,
    /// The first 64 KiB of stderr, lossily decoded.
    pub stderr: String,
}

impl ExecResult {
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }
}

/// The exit code from the exec's Status (the kubelet's v5 channel protocol): Success, or a NonZeroExitCode
/// Status whose `ExitCode` cause holds the number.
fn exit_code(status: &Status) -> anyhow::Result<i32> {
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
    /// Opens an exec session of `command` in `pod`, with stdin when `stdin` is set. Returns the
    /// session and the words that name it in errors.
    async fn attach(
        &self,
        pod: &str,
        container: Option<&str>,
        command: &[&str],
        stdin: bool,
    ) -> anyhow::Result<(AttachedProcess, String)> {
        let ns = self.namespace.clone();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        // kube-rs' pipes hold 1 KiB by default, which makes a dump a million small reads.
        let mut params = AttachParams::default()
            .stdin(stdin)
            .stdout(true)
            .stderr(true)
            .max_stdin_buf_size(PIPE_BUFFER)
            .max_stdout_buf_size(PIPE_BUFFER)
            .max_stderr_buf_size(PIPE_BUFFER);
        if let Some(c) = container {
            params = params.container(c);
        }
        let program = command.first().copied().unwrap_or("");
        let what = format!("exec of {program} in pod {pod}");
        let argv: Vec<String> = command.iter().map(|s| s.to_string()).collect();
        let attached = self
            .call(Some(&ns), &what, api.exec(pod, argv, &params))
            .await?;
        Ok((attached, what))
    }

    /// Where an exec error happened: cluster, context, namespace and the exec.
    fn exec_place(&self, what: &str) -> String {
        format!(
            "{} cluster (context {}), namespace {}: {what}",
            self.name, self.context, self.namespace
        )
    }

    /// The exit code the session's status carries; an error when the session ended without
    /// one.
    async fn exit_of(
        &self,
        status: impl Future<Output = Option<Status>>,
        what: &str,
    ) -> anyhow::Result<i32> {
        match tokio::time::timeout(REQUEST_TIMEOUT, status)
            .await
            .ok()
            .flatten()
        {
            Some(s) => exit_code(&s).with_context(|| self.exec_place(what)),
            None => Err(anyhow!(
                "{}: the session ended without an exit status (network cut or API server \
                 restarted?); the output may be incomplete",
                self.exec_place(what)
            )),
        }
    }

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
        let (mut attached, what) = self.attach(pod, container, command, false).await?;
        let (Some(mut stdout), Some(stderr), Some(status)) =
            (attached.stdout(), attached.stderr(), attached.take_status())
        else {
            bail!(
                "{}: the exec session has no stdout/stderr",
                self.exec_place(&what)
            );
        };

        let copy = async {
            let mut hasher = Sha256::new();
            let mut bytes = 0u64;
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = match tokio::time::timeout(EXEC_IDLE_TIMEOUT, stdout.read(&mut buf)).await {
                    Err(_) => bail!(
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
        let (bytes, digest) = copied.with_context(|| self.exec_place(&what))?;
        let exit_code = self.exit_of(status, &what).await?;
        let _ = tokio::time::timeout(REQUEST_TIMEOUT, attached.join()).await;
        Ok(ExecResult {
            bytes,
            sha256: hex(&digest),
            exit_code,
            stdout: String::new(),
            stderr,
        })
    }

    /// Runs `command` in `pod` with `input` streamed to its stdin, which is closed at the
    /// input's end; stdout and stderr are kept (their first 64 KiB). `progress` gets the bytes
    /// sent so far. The result's `bytes` and `sha256` describe what was sent. A command that
    /// ends before it has read the whole input is an error even when it exits 0, and the same
    /// for an input the command stops reading for [`EXEC_IDLE_TIMEOUT`].
    pub async fn exec_with_input<R: AsyncRead + Unpin + Send>(
        &self,
        pod: &str,
        container: Option<&str>,
        command: &[&str],
        mut input: R,
        mut progress: impl FnMut(u64) + Send,
    ) -> anyhow::Result<ExecResult> {
        let (mut attached, what) = self.attach(pod, container, command, true).await?;
        let (Some(mut stdin), Some(stdout), Some(stderr), Some(status)) = (
            attached.stdin(),
            attached.stdout(),
            attached.stderr(),
            attached.take_status(),
        ) else {
            bail!(
                "{}: the exec session has no stdin/stdout/stderr",
                self.exec_place(&what)
            );
        };
        // The status comes when the command has ended; a write into the pipe after that would
        // wait forever (kube-rs stops reading it), so every write also waits for the status.
        let status = status.shared();
        let ended = status.clone();
        let send = async {
            tokio::pin!(ended);
            let mut hasher = Sha256::new();
            let mut sent = 0u64;
            let mut buf = vec![0u8; 256 * 1024];
            // Whether the command took the whole input: a write fails once it has ended.
            let mut whole = true;
            loop {
                let n = input
                    .read(&mut buf)
                    .await
                    .context("reading the input for the command")?;
                if n == 0 {
                    break;
                }
                let write = tokio::time::timeout(EXEC_IDLE_TIMEOUT, stdin.write_all(&buf[..n]));
                tokio::select! {
                    written = write => match written {
                        Err(_) => bail!(
                            "the command read none of its input for {}s; it looks hung",
                            EXEC_IDLE_TIMEOUT.as_secs()
                        ),
                        Ok(Err(_)) => {
                            whole = false;
                            break;
                        }
                        Ok(Ok(())) => {}
                    },
                    _ = &mut ended => {
                        whole = false;
                        break;
                    }
                }
                hasher.update(&buf[..n]);
                sent += n as u64;
                progress(sent);
            }
            // Dropping the writer sends the end of stdin (v5) to the command.
            let _ = stdin.shutdown().await;
            drop(stdin);
            anyhow::Ok((sent, hasher.finalize(), whole))
        };
        // When kube-rs' session breaks (it may, when the command ends while input is still
        // being sent), the outputs are never closed: after the status, or its absence, they
        // are read for a moment longer only.
        let (sent, out, err) = tokio::join!(
            send,
            read_kept_until(stdout, status.clone(), OUTPUT_GRACE),
            read_kept_until(stderr, status.clone(), OUTPUT_GRACE)
        );
        let (bytes, digest, whole) = sent.with_context(|| self.exec_place(&what))?;
        let ended = tokio::time::timeout(REQUEST_TIMEOUT, status.clone())
            .await
            .ok()
            .flatten();
        if ended.is_none() && !whole {
            bail!(
                "{}: the command ended after reading {} of its input, and the session closed \
                 before its exit status came: {}",
                self.exec_place(&what),
                crate::format::bytes(bytes),
                err.trim()
            );
        }
        let exit_code = self.exit_of(status, &what).await?;
        let _ = tokio::time::timeout(REQUEST_TIMEOUT, attached.join()).await;
        if !whole && exit_code == 0 {
            bail!(
                "{}: the command ended after reading {} of its input, without an error",
                self.exec_place(&what),
                crate::format::bytes(bytes)
            );
        }
        Ok(ExecResult {
            bytes,
            sha256: hex(&digest),
            exit_code,
            stdout: out,
            stderr: err,
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
