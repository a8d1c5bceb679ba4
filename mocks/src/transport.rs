//! The byte stream an RFB session runs over: plain TCP (`rfb://`) or
//! WebSocket binary messages (`ws://`).
//!
//! Outgoing bytes are queued and sent on [`Transport::flush`]. Over WebSocket
//! the queue is cut into messages whose sizes follow a fixed, repeating
//! schedule that ignores RFB message boundaries: small messages split RFB
//! headers, large ones hold several RFB messages. A console therefore has to
//! reassemble the stream, as the binding requires.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Any duplex byte stream a session can own.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A boxed duplex stream.
pub type BoxIo = Box<dyn Io>;

/// Sizes of consecutive outgoing WebSocket messages, repeated forever.
const SPLITS: [usize; 13] = [3, 1, 17, 5000, 2, 65536, 9, 1024, 7, 32768, 1, 300, 16384];

/// Largest WebSocket message (and frame) accepted from a console. Console
/// messages are tiny; cut text (at most 1 MiB) may come in one message.
pub const MAX_WS_MESSAGE: usize = 2 * 1024 * 1024;

/// TCP read size.
const READ_CHUNK: usize = 64 * 1024;

/// The WebSocket settings for console connections.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_WS_MESSAGE))
        .max_frame_size(Some(MAX_WS_MESSAGE))
}

/// What arrived from the console.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    /// Stream bytes.
    Data(Vec<u8>),
    /// The console went away: `clean` for a WebSocket close frame or a TCP
    /// end-of-stream, not for a reset or a WebSocket without closing handshake.
    Closed {
        /// Whether it said goodbye properly.
        clean: bool,
    },
    /// The console broke the transport's rules (a text message, a bad frame).
    Violation(String),
}

enum Kind {
    Tcp { stream: BoxIo, buf: Box<[u8]> },
    Ws(Box<WebSocketStream<BoxIo>>),
}

/// One console connection's transport.
pub struct Transport {
    kind: Kind,
    out: Vec<u8>,
    split: usize,
}

impl Transport {
    /// RFB straight over a TCP (or any byte) stream.
    pub fn tcp(stream: BoxIo) -> Self {
        Transport {
            kind: Kind::Tcp {
                stream,
                buf: vec![0u8; READ_CHUNK].into_boxed_slice(),
            },
            out: Vec::new(),
            split: 0,
        }
    }

    /// RFB inside binary messages of an accepted WebSocket.
    pub fn ws(ws: WebSocketStream<BoxIo>) -> Self {
        Transport {
            kind: Kind::Ws(Box::new(ws)),
            out: Vec::new(),
            split: 0,
        }
    }

    /// `"tcp"` or `"ws"`, for logs.
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Tcp { .. } => "tcp",
            Kind::Ws(_) => "ws",
        }
    }

    /// The queue of bytes to send on the next flush.
    pub fn out(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Whether bytes wait to be sent.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Waits for the next bytes or the end of the connection. Cancel-safe:
    /// dropping the future loses nothing.
    pub async fn recv(&mut self) -> Inbound {
        match &mut self.kind {
            Kind::Tcp { stream, buf } => match stream.read(buf).await {
                Ok(0) => Inbound::Closed { clean: true },
                Ok(n) => Inbound::Data(buf.get(..n).unwrap_or_default().to_vec()),
                Err(e) => {
                    tracing::debug!(error = %e, "tcp read failed");
                    Inbound::Closed { clean: false }
                }
            },
            Kind::Ws(ws) => loop {
                match ws.next().await {
                    None => return Inbound::Closed { clean: false },
                    Some(Ok(Message::Binary(b))) => {
                        if !b.is_empty() {
                            return Inbound::Data(b.to_vec());
                        }
                    }
                    Some(Ok(Message::Text(_))) => {
                        return Inbound::Violation(
                            "text WebSocket message on the RFB channel".into(),
                        )
                    }
                    Some(Ok(Message::Close(_))) => return Inbound::Closed { clean: true },
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                    Some(Err(e)) => return ws_error(e),
                }
            },
        }
    }

    /// Sends everything queued. Not cancel-safe: after a cancelled flush the
    /// connection must be closed.
    pub async fn flush(&mut self) -> io::Result<()> {
        let data = std::mem::take(&mut self.out);
        if data.is_empty() {
            return Ok(());
        }
        match &mut self.kind {
            Kind::Tcp { stream, .. } => {
                stream.write_all(&data).await?;
                stream.flush().await
            }
            Kind::Ws(ws) => {
                let mut rest = data.as_slice();
                while !rest.is_empty() {
                    let want = SPLITS[self.split % SPLITS.len()];
                    self.split = self.split.wrapping_add(1);
                    let (now, later) = rest.split_at(want.min(rest.len()));
                    ws.feed(Message::Binary(Bytes::copy_from_slice(now)))
                        .await
                        .map_err(io::Error::other)?;
                    rest = later;
                }
                ws.flush().await.map_err(io::Error::other)
            }
        }
    }

    /// Closes the connection: a WebSocket close frame (with `reason`, code
    /// 1008 when there is one, else 1000) or a TCP shutdown. Best effort,
    /// bounded by `within`.
    pub async fn close(&mut self, reason: Option<&str>, within: Duration) {
        let fut = async {
            match &mut self.kind {
                Kind::Tcp { stream, .. } => {
                    let _ = stream.shutdown().await;
                }
                Kind::Ws(ws) => {
                    let frame = match reason {
                        Some(r) => CloseFrame {
                            code: CloseCode::Policy,
                            reason: r.into(),
                        },
                        None => CloseFrame {
                            code: CloseCode::Normal,
                            reason: "".into(),
                        },
                    };
                    let _ = WebSocketStream::close(&mut **ws, Some(frame)).await;
                }
            }
        };
        let _ = tokio::time::timeout(within, fut).await;
    }
}

/// How a WebSocket read error ends the session.
fn ws_error(e: WsError) -> Inbound {
    match e {
        WsError::ConnectionClosed => Inbound::Closed { clean: true },
        WsError::AlreadyClosed
        | WsError::Io(_)
        | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            Inbound::Closed { clean: false }
        }
        other => Inbound::Violation(format!("WebSocket error: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::Role;

    async fn ws_pair() -> (Transport, WebSocketStream<tokio::io::DuplexStream>) {
        let (a, b) = tokio::io::duplex(1 << 20);
        let server =
            WebSocketStream::from_raw_socket(Box::new(a) as BoxIo, Role::Server, Some(ws_config()))
                .await;
        let client = WebSocketStream::from_raw_socket(b, Role::Client, None).await;
        (Transport::ws(server), client)
    }

    #[tokio::test]
    async fn ws_output_is_split_on_the_schedule_not_on_message_boundaries() {
        let (mut t, mut client) = ws_pair().await;
        let payload: Vec<u8> = (0..6000u32).map(|i| i as u8).collect();
        t.out().extend_from_slice(&payload);
        t.flush().await.expect("flush");
        let mut got = Vec::new();
        let mut sizes = Vec::new();
        while got.len() < payload.len() {
            match client.next().await {
                Some(Ok(Message::Binary(b))) => {
                    sizes.push(b.len());
                    got.extend_from_slice(&b);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(got, payload);
        assert_eq!(sizes, vec![3, 1, 17, 5000, 2, 977]);
    }

    #[tokio::test]
    async fn ws_text_message_is_a_violation_and_binary_is_data() {
        let (mut t, mut client) = ws_pair().await;
        client
            .send(Message::Binary(Bytes::from_static(b"RFB")))
            .await
            .expect("send");
        assert_eq!(t.recv().await, Inbound::Data(b"RFB".to_vec()));
        client.send(Message::text("hello")).await.expect("send");
        assert!(matches!(t.recv().await, Inbound::Violation(_)));
    }

    #[tokio::test]
    async fn ws_close_frame_is_clean_and_a_bare_drop_is_abrupt() {
        let (mut t, mut client) = ws_pair().await;
        client.close(None).await.expect("close");
        assert_eq!(t.recv().await, Inbound::Closed { clean: true });

        let (mut t, client) = ws_pair().await;
        drop(client);
        assert_eq!(t.recv().await, Inbound::Closed { clean: false });
    }

    #[tokio::test]
    async fn tcp_end_of_stream_is_clean() {
        let (a, b) = tokio::io::duplex(1024);
        let mut t = Transport::tcp(Box::new(a));
        let mut b = b;
        b.write_all(b"xyz").await.expect("write");
        assert_eq!(t.recv().await, Inbound::Data(b"xyz".to_vec()));
        t.out().extend_from_slice(b"out");
        t.flush().await.expect("flush");
        let mut got = [0u8; 3];
        b.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"out");
        drop(b);
        assert_eq!(t.recv().await, Inbound::Closed { clean: true });
    }
}
