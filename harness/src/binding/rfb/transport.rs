//! One byte stream over the two transports of the default binding: plain TCP
//! (`rfb://`) and WebSocket (`ws://`, or `wss://` over TLS).
//!
//! Over WebSocket, RFB bytes ride in binary messages whose boundaries mean
//! nothing: the reader keeps the unread tail of the current message and hands
//! out bytes exactly as a TCP read would, so everything above this module sees
//! a plain stream. A text message is a protocol violation; pings are answered
//! by tungstenite on the next read or write; messages and frames above
//! [`MAX_WS_MESSAGE`] are refused by tungstenite from their header, before any
//! of the payload is buffered.

use crate::config::declaration::input_file::io_reason;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use super::url::ScreenUrl;
use crate::binding::tls::MaybeTls;
use crate::binding::{OpenError, Stage};

/// The WebSocket subprotocol the harness offers (the websockify/noVNC name).
pub const SUBPROTOCOL: &str = "binary";

/// Largest WebSocket message or frame accepted (16 MiB). A terminal never
/// needs more per message, since RFB bytes may be split freely.
pub const MAX_WS_MESSAGE: usize = 16 * 1024 * 1024;

/// What a read produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// This many bytes were copied into the buffer (never 0).
    Data(usize),
    /// The terminal ended the stream: TCP EOF or a WebSocket close.
    Closed {
        /// How it was seen (close code and reason for WebSocket).
        detail: String,
    },
}

/// A read or write that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The terminal broke the transport's rules (a text frame, an oversized
    /// message, a malformed frame).
    Violation(String),
    /// The terminal reset or aborted the connection.
    Reset(String),
    /// Any other I/O failure.
    Io(String),
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportError::Violation(s) | TransportError::Reset(s) | TransportError::Io(s) => {
                f.write_str(s)
            }
        }
    }
}

/// The connection to a terminal's screen, as a byte stream.
pub enum Transport {
    /// RFB directly over TCP.
    Tcp(TcpStream),
    /// RFB in WebSocket binary messages.
    Ws(Box<WsStream>),
}

/// A WebSocket connection (over TCP or TLS) plus the unread rest of the
/// last binary message.
pub struct WsStream {
    ws: WebSocketStream<MaybeTls>,
    pending: Bytes,
}

/// Maps an I/O error: resets and aborts are the terminal's doing.
fn io_error(e: &std::io::Error) -> TransportError {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            TransportError::Reset(format!("connection reset by terminal ({})", io_reason(e)))
        }
        _ => TransportError::Io(io_reason(e)),
    }
}

/// Maps a tungstenite error met after the upgrade.
fn ws_error(e: WsError) -> TransportError {
    match e {
        WsError::Io(e) => io_error(&e),
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            TransportError::Reset("WebSocket connection already closed".into())
        }
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            TransportError::Reset("connection closed without a WebSocket close frame".into())
        }
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
            TransportError::Violation(format!(
                "WebSocket message or frame of {size} bytes exceeds the limit of {max_size}"
            ))
        }
        WsError::Utf8(e) => {
            TransportError::Violation(format!("text frame with invalid UTF-8: {e}"))
        }
        other => TransportError::Violation(format!("WebSocket: {other}")),
    }
}

/// Describes a received close frame.
fn close_detail(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(f) if f.reason.is_empty() => format!("WebSocket close {}", u16::from(f.code)),
        Some(f) => format!(
            "WebSocket close {} {:?}",
            u16::from(f.code),
            f.reason.as_str()
        ),
        None => "WebSocket close without a code".into(),
    }
}

/// The WebSocket limits the harness applies.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_WS_MESSAGE))
        .max_frame_size(Some(MAX_WS_MESSAGE))
}

/// Connects TCP to the URL's host and port before `deadline` (stage Connect).
pub async fn connect_tcp(
    url: &ScreenUrl,
    started: Instant,
    deadline: Instant,
) -> Result<TcpStream, OpenError> {
    let target = (url.host.as_str(), url.port);
    match tokio::time::timeout_at(deadline, TcpStream::connect(target)).await {
        Err(_) => Err(OpenError::Timeout {
            stage: Stage::Connect,
            after_ms: elapsed_ms(started),
        }),
        Ok(Err(e)) => Err(OpenError::Refused {
            stage: Stage::Connect,
            reason: format!("connect to {} failed: {}", url.host_port(), io_reason(&e)),
        }),
        Ok(Ok(s)) => {
            // Small RFB messages (pointer, key) must not wait for Nagle.
            let _ = s.set_nodelay(true);
            Ok(s)
        }
    }
}

/// Milliseconds since `t`.
pub fn elapsed_ms(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Performs the WebSocket upgrade on `tcp` (plain, or TLS for `wss://`)
/// before `deadline`, offering the `binary` subprotocol. Returns the
/// transport and the subprotocol agreed.
pub async fn upgrade(
    url: &ScreenUrl,
    tcp: MaybeTls,
    started: Instant,
    deadline: Instant,
) -> Result<(Transport, Option<String>), OpenError> {
    let protocol = |reason: String| OpenError::Protocol {
        stage: Stage::Channel,
        reason,
    };
    let mut request = url
        .request_url()
        .into_client_request()
        .map_err(|e| OpenError::Harness(format!("cannot build a request for {}: {e}", url.raw)))?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    let handshake = tokio_tungstenite::client_async_with_config(request, tcp, Some(ws_config()));
    let (ws, response) = match tokio::time::timeout_at(deadline, handshake).await {
        Err(_) => {
            return Err(OpenError::Timeout {
                stage: Stage::Channel,
                after_ms: elapsed_ms(started),
            })
        }
        Ok(Ok(pair)) => pair,
        Ok(Err(WsError::Http(resp))) => {
            return Err(OpenError::Refused {
                stage: Stage::Channel,
                reason: format!("HTTP {}", resp.status()),
            })
        }
        Ok(Err(WsError::Protocol(ProtocolError::HandshakeIncomplete))) => {
            return Err(OpenError::Refused {
                stage: Stage::Channel,
                reason: "connection closed by terminal".into(),
            })
        }
        Ok(Err(WsError::Io(e))) => {
            return Err(match io_error(&e) {
                TransportError::Reset(r) => OpenError::Refused {
                    stage: Stage::Channel,
                    reason: r,
                },
                other => protocol(format!("upgrade failed: {other}")),
            })
        }
        Ok(Err(e)) => return Err(protocol(format!("upgrade failed: {e}"))),
    };
    let subprotocol = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok((
        Transport::Ws(Box::new(WsStream {
            ws,
            pending: Bytes::new(),
        })),
        subprotocol,
    ))
}

impl Transport {
    /// Reads some bytes into `buf` (non-empty). Cancel-safe: a read dropped
    /// before it completes loses nothing.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<Received, TransportError> {
        if buf.is_empty() {
            return Ok(Received::Data(0));
        }
        match self {
            Transport::Tcp(s) => match s.read(buf).await {
                Ok(0) => Ok(Received::Closed {
                    detail: "TCP connection closed (EOF)".into(),
                }),
                Ok(n) => Ok(Received::Data(n)),
                Err(e) => Err(io_error(&e)),
            },
            Transport::Ws(w) => loop {
                if !w.pending.is_empty() {
                    let n = buf.len().min(w.pending.len());
                    let chunk = w.pending.split_to(n);
                    buf[..n].copy_from_slice(&chunk);
                    return Ok(Received::Data(n));
                }
                match w.ws.next().await {
                    None => {
                        return Ok(Received::Closed {
                            detail: "connection closed without a WebSocket close frame".into(),
                        })
                    }
                    Some(Ok(Message::Binary(b))) => w.pending = b,
                    Some(Ok(Message::Text(_))) => {
                        return Err(TransportError::Violation("text frame".into()))
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return Ok(Received::Closed {
                            detail: close_detail(frame.as_ref()),
                        })
                    }
                    // Pings are answered by tungstenite itself; pongs and raw
                    // frames carry no RFB bytes.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                    Some(Err(e)) => return Err(ws_error(e)),
                }
            },
        }
    }

    /// Writes all of `data` (one WebSocket binary message).
    pub async fn write_all(&mut self, data: &[u8]) -> Result<(), TransportError> {
        match self {
            Transport::Tcp(s) => s.write_all(data).await.map_err(|e| io_error(&e)),
            Transport::Ws(w) => {
                w.ws.send(Message::Binary(Bytes::copy_from_slice(data)))
                    .await
                    .map_err(ws_error)
            }
        }
    }

    /// Leaves in order: a WebSocket close frame (code 1000), or a TCP FIN;
    /// then reads (and discards) what the terminal still sends until it
    /// closes too or `grace` passes, so the socket is not reset by unread data.
    pub async fn close_clean(self, grace: Duration) {
        let deadline = Instant::now() + grace;
        match self {
            Transport::Tcp(mut s) => {
                let _ = tokio::time::timeout_at(deadline, s.shutdown()).await;
                let mut sink = vec![0u8; 16 * 1024];
                while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, s.read(&mut sink)).await {
                    if n == 0 {
                        break;
                    }
                }
            }
            Transport::Ws(mut w) => {
                let frame = CloseFrame {
                    code: CloseCode::Normal,
                    reason: "".into(),
                };
                let _ = tokio::time::timeout_at(deadline, w.ws.close(Some(frame))).await;
                while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, w.ws.next()).await {}
            }
        }
    }

    /// Finishes after the terminal closed: for WebSocket, sends the close
    /// reply tungstenite queued (bounded by `grace`).
    pub async fn finish_after_peer_close(self, grace: Duration) {
        if let Transport::Ws(mut w) = self {
            let _ = tokio::time::timeout(grace, w.ws.flush()).await;
        }
    }

    /// Leaves without a goodbye: the socket is dropped with SO_LINGER 0, so
    /// the terminal sees a reset, as it would from a crashed console.
    pub fn drop_hard(self) {
        let tcp = match &self {
            Transport::Tcp(s) => s,
            Transport::Ws(w) => w.ws.get_ref().tcp(),
        };
        let _ = tcp.set_zero_linger();
        drop(self);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::result_large_err)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn tcp_pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (c, s) = tokio::join!(TcpStream::connect(addr), l.accept());
        (c.unwrap(), s.unwrap().0)
    }

    async fn ws_pair() -> (Transport, WebSocketStream<TcpStream>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let url = ScreenUrl::parse(&format!("ws://{addr}/screen")).unwrap();
        let server = async {
            let (s, _) = l.accept().await.unwrap();
            tokio_tungstenite::accept_hdr_async(
                s,
                |_req: &tokio_tungstenite::tungstenite::handshake::server::Request,
                 mut resp: tokio_tungstenite::tungstenite::handshake::server::Response| {
                    resp.headers_mut()
                        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("binary"));
                    Ok(resp)
                },
            )
            .await
            .unwrap()
        };
        let client = async {
            let t0 = Instant::now();
            let tcp = connect_tcp(&url, t0, t0 + Duration::from_secs(5))
                .await
                .unwrap();
            upgrade(&url, MaybeTls::Plain(tcp), t0, t0 + Duration::from_secs(5))
                .await
                .unwrap()
        };
        let ((t, sub), s) = tokio::join!(client, server);
        assert_eq!(sub.as_deref(), Some("binary"));
        (t, s)
    }

    async fn read_exact(t: &mut Transport, n: usize, chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; chunk];
        while out.len() < n {
            match t.read(&mut buf).await.unwrap() {
                Received::Data(k) => out.extend_from_slice(&buf[..k]),
                Received::Closed { detail } => panic!("closed early: {detail}"),
            }
        }
        out
    }

    #[tokio::test]
    async fn ws_bytes_ignore_message_boundaries() {
        let (mut t, mut s) = ws_pair().await;
        // One message split across reads, and many messages read as one stream.
        s.send(Message::Binary(Bytes::from_static(b"abcdefgh")))
            .await
            .unwrap();
        for b in b"ijk" {
            s.send(Message::Binary(Bytes::copy_from_slice(&[*b])))
                .await
                .unwrap();
        }
        s.send(Message::Binary(Bytes::new())).await.unwrap();
        s.send(Message::Ping(Bytes::from_static(b"p")))
            .await
            .unwrap();
        s.send(Message::Binary(Bytes::from_static(b"lm")))
            .await
            .unwrap();
        assert_eq!(read_exact(&mut t, 13, 3).await, b"abcdefghijklm");
        // The ping was answered.
        let pong = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let Some(Ok(Message::Pong(p))) = s.next().await {
                    return p;
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(&pong[..], b"p");
    }

    #[tokio::test]
    async fn ws_text_frame_is_a_violation() {
        let (mut t, mut s) = ws_pair().await;
        s.send(Message::Text("RFB 003.008\n".into())).await.unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(
            t.read(&mut buf).await,
            Err(TransportError::Violation("text frame".into()))
        );
    }

    #[tokio::test]
    async fn ws_oversized_frame_is_refused_from_its_header() {
        let (mut t, mut s) = ws_pair().await;
        // A binary frame header announcing 100 MiB, followed by a few bytes only.
        let mut raw = vec![0x82u8, 127];
        raw.extend_from_slice(&(100u64 * 1024 * 1024).to_be_bytes());
        raw.extend_from_slice(b"xxxx");
        s.get_mut().write_all(&raw).await.unwrap();
        let mut buf = [0u8; 64];
        let got = tokio::time::timeout(Duration::from_secs(5), t.read(&mut buf))
            .await
            .unwrap();
        match got {
            Err(TransportError::Violation(d)) => assert!(d.contains("exceeds"), "{d}"),
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn ws_close_frame_reports_code_and_reason() {
        let (mut t, mut s) = ws_pair().await;
        s.close(Some(CloseFrame {
            code: CloseCode::Policy,
            reason: "busy".into(),
        }))
        .await
        .unwrap();
        let mut buf = [0u8; 64];
        match t.read(&mut buf).await {
            Ok(Received::Closed { detail }) => {
                assert!(
                    detail.contains("1008") && detail.contains("busy"),
                    "{detail}"
                )
            }
            other => panic!("expected a close, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn ws_clean_close_sends_a_close_frame() {
        let (t, mut s) = ws_pair().await;
        let closer = tokio::spawn(t.close_clean(Duration::from_secs(2)));
        let got = tokio::time::timeout(Duration::from_secs(5), s.next())
            .await
            .unwrap();
        match got {
            Some(Ok(Message::Close(Some(f)))) => assert_eq!(f.code, CloseCode::Normal),
            other => panic!("expected a close frame, got {other:?}"),
        }
        // Let the close handshake complete.
        while let Some(Ok(_)) = s.next().await {}
        closer.await.unwrap();
    }

    #[tokio::test]
    async fn tcp_drop_hard_resets_the_peer() {
        let (c, mut s) = tcp_pair().await;
        Transport::Tcp(c).drop_hard();
        let mut buf = [0u8; 8];
        let got = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap();
        assert_eq!(
            got.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionReset)
        );
    }

    #[tokio::test]
    async fn tcp_clean_close_is_an_eof_for_the_peer() {
        let (c, mut s) = tcp_pair().await;
        let closer = tokio::spawn(Transport::Tcp(c).close_clean(Duration::from_secs(2)));
        let mut buf = [0u8; 8];
        let got = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap();
        assert_eq!(got.map_err(|e| e.kind()), Ok(0));
        drop(s);
        closer.await.unwrap();
    }

    #[tokio::test]
    async fn non_101_answer_is_refused_at_upgrade() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let url = ScreenUrl::parse(&format!("ws://{addr}/screen")).unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = s.read(&mut buf).await;
            s.write_all(b"HTTP/1.1 409 Conflict\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
        });
        let t0 = Instant::now();
        let tcp = connect_tcp(&url, t0, t0 + Duration::from_secs(5))
            .await
            .unwrap();
        match upgrade(&url, MaybeTls::Plain(tcp), t0, t0 + Duration::from_secs(5)).await {
            Err(OpenError::Refused { stage, reason }) => {
                assert_eq!(stage, Stage::Channel);
                assert!(reason.starts_with("HTTP 409"), "{reason}");
            }
            Err(e) => panic!("expected a refusal, got {e:?}"),
            Ok(_) => panic!("expected a refusal, got a connection"),
        }
    }
}
