//! `pods/portforward` over WebSocket as the kubelet serves it to kube-rs (kube-client's
//! `src/api/portforward.rs`):
//! protocol `v4.channel.k8s.io`, the i-th requested port on data channel 2i and error channel
//! 2i+1, each first announced by a 3-byte frame [channel, port lo, port hi]. A port reaches the
//! local TCP address registered for that pod (the sandbox's real Redis or PostgreSQL).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::status::ApiError;

/// A pod port backed by a local server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortTarget {
    /// Pods whose name starts with this.
    pub pod_prefix: String,
    pub port: u16,
    pub target: SocketAddr,
}

pub struct ForwardRequest {
    pub pod: String,
    pub uid: String,
    /// Requested ports with the local address behind each, when one is registered.
    pub ports: Vec<(u16, Option<SocketAddr>)>,
}

pub fn parse_ports(raw: &[String]) -> Result<Vec<u16>, ApiError> {
    let mut ports = Vec::new();
    for p in raw.iter().flat_map(|r| r.split(',')) {
        let port: u16 = p
            .trim()
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| ApiError::bad_request(format!("invalid port {p:?}")))?;
        ports.push(port);
    }
    if ports.is_empty() {
        // kubectl's SPDY-tunnelled port-forward sends no ports; it is not served here.
        return Err(ApiError::bad_request(
            "the simulated cluster serves port-forward only with a ports parameter over the \
             v4.channel.k8s.io WebSocket protocol (kube-rs); kubectl's SPDY port-forward is not supported"
                .into(),
        ));
    }
    Ok(ports)
}

pub fn upgrade(ws: WebSocketUpgrade, request: ForwardRequest) -> Response {
    ws.protocols(["v4.channel.k8s.io", "v5.channel.k8s.io"])
        .max_message_size(64 << 20)
        .on_upgrade(move |socket| session(socket, request))
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut bytes = Vec::with_capacity(data.len() + 1);
    bytes.push(channel);
    bytes.extend_from_slice(data);
    Message::Binary(Bytes::from(bytes))
}

async fn session(socket: WebSocket, request: ForwardRequest) {
    let (mut sink, mut incoming) = socket.split();
    let (out, mut out_rx) = mpsc::channel::<Message>(16);
    let writer = tokio::spawn(async move {
        while let Some(message) = out_rx.recv().await {
            let closing = matches!(message, Message::Close(_));
            if sink.send(message).await.is_err() || closing {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut writers: Vec<Option<mpsc::Sender<Bytes>>> = Vec::new();
    let mut readers = Vec::new();
    for (i, (port, target)) in request.ports.iter().enumerate() {
        let data = (2 * i) as u8;
        let [lo, hi] = port.to_le_bytes();
        let _ = out.send(frame(data, &[lo, hi])).await;
        let _ = out.send(frame(data + 1, &[lo, hi])).await;
        let connected = match target {
            Some(addr) => TcpStream::connect(addr).await.map_err(|e| e.to_string()),
            None => Err(
                "connection refused: nothing listens on that port in the simulated pod".to_string(),
            ),
        };
        match connected {
            Ok(stream) => {
                let (mut read, mut write) = stream.into_split();
                let (tx, mut rx) = mpsc::channel::<Bytes>(16);
                tokio::spawn(async move {
                    while let Some(bytes) = rx.recv().await {
                        if write.write_all(&bytes).await.is_err() {
                            return;
                        }
                    }
                    let _ = write.shutdown().await;
                });
                writers.push(Some(tx));
                let out = out.clone();
                readers.push(tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        match read.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if out.send(frame(data, &buf[..n])).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                }));
            }
            Err(cause) => {
                let text = format!(
                    "error forwarding port {port} to pod {}, uid {}: {cause}",
                    request.pod, request.uid
                );
                let _ = out.send(frame(data + 1, text.as_bytes())).await;
                writers.push(None);
            }
        }
    }
    let all_read = futures::future::join_all(readers);
    tokio::pin!(all_read);
    loop {
        tokio::select! {
            // Every target closed its side: the forward is over, as the kubelet ends it.
            _ = &mut all_read => break,
            message = incoming.next() => match message {
                Some(Ok(Message::Binary(data))) if data.len() > 1 => {
                    let channel = data[0] as usize;
                    if channel.is_multiple_of(2)
                        && let Some(Some(tx)) = writers.get(channel / 2)
                        && tx.send(data.slice(1..)).await.is_err()
                    {
                        writers[channel / 2] = None;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    drop(writers);
    let _ = out
        .send(Message::Close(Some(CloseFrame {
            code: close_code::NORMAL,
            reason: "".into(),
        })))
        .await;
    drop(out);
    let _ = writer.await;
}
