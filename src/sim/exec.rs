//! `pods/exec` over WebSocket (`v5.channel.k8s.io`, else `v4.channel.k8s.io`): the command a
//! client asks for runs only when an allow-listed rule maps it onto a real local process (e.g.
//! `cat /var/lib/redis/data/dump.rdb` in a backend-redis pod reads the sandbox Redis's RDB file).
//! Framing as the kubelet's exec streams speak it to kube-rs (kube-client's
//! `src/api/remote_command.rs`): an empty first frame, output on channels 1/2, the status on
//! channel 3 after all output, then Close 1000.

use std::process::Stdio;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::http::Query;
use super::program::Program;
use super::status::ApiError;

/// Maps a command in a pod onto a local process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecRule {
    /// Pods whose name starts with this (a workload name matches all its pods).
    pub pod_prefix: String,
    /// The argv the client sends, exactly; with `extra_args`, a prefix of it.
    pub command: Vec<String>,
    /// The argv that runs on this machine.
    pub run: Vec<String>,
    /// Arguments after `command` are appended to `run` (e.g. `pg_dump` options).
    pub extra_args: bool,
}

impl ExecRule {
    pub fn new(pod_prefix: &str, command: &[&str], run: &[&str]) -> ExecRule {
        ExecRule {
            pod_prefix: pod_prefix.to_string(),
            command: command.iter().map(|s| s.to_string()).collect(),
            run: run.iter().map(|s| s.to_string()).collect(),
            extra_args: false,
        }
    }

    pub fn with_extra_args(mut self) -> ExecRule {
        self.extra_args = true;
        self
    }

    /// The local argv for `command` in `pod`, when this rule covers it.
    pub fn local_argv(&self, pod: &str, command: &[String]) -> Option<Vec<String>> {
        if !pod.starts_with(&self.pod_prefix) {
            return None;
        }
        if command == self.command.as_slice() {
            return Some(self.run.clone());
        }
        if self.extra_args
            && command.len() > self.command.len()
            && command.starts_with(&self.command)
        {
            let mut argv = self.run.clone();
            argv.extend_from_slice(&command[self.command.len()..]);
            return Some(argv);
        }
        None
    }
}

/// The rules that let cutover's client pod (`cutover-pg-client`) run psql, pg_dump and
/// pg_restore here, exactly as cutover invokes them there: through `sh -c`, with the URL
/// from the pod's environment, which the simulated kubelet fills from the pod's secret
/// reference. No other program runs in that pod.
pub fn client_pod_rules() -> Vec<ExecRule> {
    let pod = crate::infra::kube::CLIENT_POD;
    let mut rules: Vec<ExecRule> = ["psql", "pg_dump", "pg_restore"]
        .iter()
        .map(|client| {
            let argv = crate::infra::kube::with_url(client, &[]);
            ExecRule::new(pod, &argv, &argv).with_extra_args()
        })
        .collect();
    rules.push(ExecRule::new(
        pod,
        &["pg_restore", "--version"],
        &["pg_restore", "--version"],
    ));
    rules
}

pub struct ExecRequest {
    pub pod: String,
    pub argv: Option<Vec<String>>,
    /// A program run in this process instead, when no local process covers the command.
    pub(crate) program: Option<(Arc<dyn Program>, String)>,
    pub command: Vec<String>,
    /// The container's environment (its secret references resolved), given to the process.
    pub env: Vec<(String, String)>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// Reads the exec options the way the apiserver does; refuses what it refuses.
pub fn parse(query: &Query, pod: &str) -> Result<(Vec<String>, bool, bool, bool), ApiError> {
    let command = query.all("command");
    let (stdin, stdout, stderr, tty) = (
        query.flag("stdin"),
        query.flag("stdout"),
        query.flag("stderr"),
        query.flag("tty"),
    );
    if !stdin && !stdout && !stderr {
        return Err(ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr".into(),
        ));
    }
    if command.is_empty() {
        return Err(ApiError::bad_request(format!(
            "you must specify a command to run in pod {pod}"
        )));
    }
    // With a tty stderr is folded into stdout.
    Ok((command, stdin, stdout, stderr && !tty))
}

pub fn upgrade(ws: WebSocketUpgrade, request: ExecRequest) -> Response {
    ws.protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"])
        .max_message_size(64 << 20)
        .on_upgrade(move |socket| session(socket, request))
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut bytes = Vec::with_capacity(data.len() + 1);
    bytes.push(channel);
    bytes.extend_from_slice(data);
    Message::Binary(Bytes::from(bytes))
}

fn exit_status(code: Option<i32>) -> Value {
    match code {
        Some(0) => json!({"metadata": {}, "status": "Success"}),
        Some(n) => json!({
            "metadata": {}, "status": "Failure",
            "message": format!("command terminated with non-zero exit code: command terminated with exit code {n}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": n.to_string()}]},
        }),
        None => json!({
            "metadata": {}, "status": "Failure",
            "message": "error executing command in container: the process was killed by a signal",
            "reason": "InternalError", "code": 500,
        }),
    }
}

async fn session(socket: WebSocket, mut request: ExecRequest) {
    let (mut sink, mut incoming) = socket.split();
    let (out, mut out_rx) = mpsc::channel::<Message>(8);
    let writer = tokio::spawn(async move {
        while let Some(message) = out_rx.recv().await {
            let closing = matches!(message, Message::Close(_));
            if sink.send(message).await.is_err() || closing {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let first = if request.stdout {
        1
    } else if request.stderr {
        2
    } else {
        3
    };
    let _ = out.send(frame(first, &[])).await;
    let program = request.program.take();
    let status = match (request.argv.clone(), program) {
        (None, Some((program, namespace))) => {
            let stdin = if request.stdin {
                read_stdin(&mut incoming).await
            } else {
                Vec::new()
            };
            let output = program.run(namespace, stdin).await;
            if request.stdout && !output.stdout.is_empty() {
                let _ = out.send(frame(1, output.stdout.as_bytes())).await;
            }
            if request.stderr && !output.stderr.is_empty() {
                let _ = out.send(frame(2, output.stderr.as_bytes())).await;
            }
            exit_status(Some(output.code))
        }
        (None, None) => {
            let text = format!(
                "the simulated cluster runs no {:?} in pod {}: the command is not in its allow list\n",
                request.command, request.pod
            );
            if request.stderr {
                let _ = out.send(frame(2, text.as_bytes())).await;
            }
            exit_status(Some(126))
        }
        (Some(argv), _) => run(&argv, &request, &out, &mut incoming).await,
    };
    let _ = out
        .send(frame(3, &serde_json::to_vec(&status).unwrap_or_default()))
        .await;
    let _ = out
        .send(Message::Close(Some(CloseFrame {
            code: close_code::NORMAL,
            reason: "".into(),
        })))
        .await;
    drop(out);
    let _ = writer.await;
}

/// What the client sends on stdin, up to its end (v5's close of stream 0) or the session's.
async fn read_stdin(incoming: &mut futures::stream::SplitStream<WebSocket>) -> Vec<u8> {
    let mut stdin = Vec::new();
    while let Some(Ok(message)) = incoming.next().await {
        match message {
            Message::Binary(data) if data.len() == 2 && data[0] == 255 && data[1] == 0 => break,
            Message::Binary(data) if data.first() == Some(&0) => {
                stdin.extend_from_slice(&data[1..])
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    stdin
}

async fn pump(
    mut from: impl tokio::io::AsyncRead + Unpin,
    channel: u8,
    out: mpsc::Sender<Message>,
    forward: bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if forward && out.send(frame(channel, &buf[..n])).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn run(
    argv: &[String],
    request: &ExecRequest,
    out: &mpsc::Sender<Message>,
    incoming: &mut futures::stream::SplitStream<WebSocket>,
) -> Value {
    let Some((program, args)) = argv.split_first() else {
        return exit_status(Some(126));
    };
    let spawned = tokio::process::Command::new(program)
        .args(args)
        .envs(request.env.iter().map(|(k, v)| (k, v)))
        .stdin(if request.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            if request.stderr {
                let _ = out
                    .send(frame(2, format!("exec: {program}: {e}\n").as_bytes()))
                    .await;
            }
            return exit_status(Some(127));
        }
    };
    let mut stdin = child.stdin.take();
    let stdout = child
        .stdout
        .take()
        .map(|s| tokio::spawn(pump(s, 1, out.clone(), request.stdout)));
    let stderr = child
        .stderr
        .take()
        .map(|s| tokio::spawn(pump(s, 2, out.clone(), request.stderr)));
    let outputs = async {
        if let Some(t) = stdout {
            let _ = t.await;
        }
        if let Some(t) = stderr {
            let _ = t.await;
        }
    };
    tokio::pin!(outputs);
    // Feed stdin and watch for the client going away until the output is complete.
    loop {
        tokio::select! {
            _ = &mut outputs => break,
            message = incoming.next() => match message {
                Some(Ok(Message::Binary(data))) if !data.is_empty() => match data[0] {
                    0 => {
                        if let Some(s) = stdin.as_mut()
                            && s.write_all(&data[1..]).await.is_err()
                        {
                            stdin = None;
                        }
                    }
                    // v5 close of a stream: [255, channel]; only stdin can be closed.
                    255 if data.len() == 2 && data[1] == 0 => stdin = None,
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    let _ = child.start_kill();
                    break;
                }
                Some(Ok(_)) => {}
            },
        }
    }
    drop(stdin);
    match child.wait().await {
        Ok(status) => exit_status(status.code()),
        Err(_) => exit_status(None),
    }
}
