//! Tests of the default binding against tiny RFB servers written here with
//! raw bytes, over TCP and over WebSocket (tokio-tungstenite's server side).
#![allow(clippy::unwrap_used, clippy::result_large_err)]

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use s301_rfb::auth::vnc_auth_check;
use s301_rfb::handshake::ServerInit;
use s301_rfb::messages::{write_bell, write_rect_header, write_update_header, ClientMessage};
use s301_rfb::{Limits, PixelFormat, Rect};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::*;
use crate::binding::{CloseHow, CloseReason, ConsoleEvent, Stage};
use crate::config::declaration::{Exclusivity, ScreenDecl};

/// Every wait in these tests ends within this.
const WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Tcp,
    Ws,
}

/// The server's end of a test connection.
enum Peer {
    Tcp(TcpStream),
    Ws(Box<WebSocketStream<TcpStream>>, Vec<u8>),
}

impl Peer {
    /// Sends `data` in one piece (one WebSocket message).
    async fn send(&mut self, data: &[u8]) {
        match self {
            Peer::Tcp(s) => s.write_all(data).await.unwrap(),
            Peer::Ws(ws, _) => ws
                .send(Message::Binary(Bytes::copy_from_slice(data)))
                .await
                .unwrap(),
        }
    }

    /// Sends `data` one byte per write (one byte per WebSocket message).
    async fn send_bytewise(&mut self, data: &[u8]) {
        for b in data {
            self.send(&[*b]).await;
        }
    }

    /// Receives exactly `n` bytes.
    async fn recv(&mut self, n: usize) -> Vec<u8> {
        tokio::time::timeout(WAIT, async {
            match self {
                Peer::Tcp(s) => {
                    let mut v = vec![0u8; n];
                    s.read_exact(&mut v).await.unwrap();
                    v
                }
                Peer::Ws(ws, pending) => {
                    while pending.len() < n {
                        match ws.next().await {
                            Some(Ok(Message::Binary(b))) => pending.extend_from_slice(&b),
                            Some(Ok(_)) => {}
                            other => panic!("server: stream ended: {other:?}"),
                        }
                    }
                    pending.drain(..n).collect()
                }
            }
        })
        .await
        .expect("server: nothing received in time")
    }

    /// Waits until the console leaves; returns how (`"eof"`, `"reset"`,
    /// `"close 1000"`), discarding data before it.
    async fn wait_gone(&mut self) -> String {
        tokio::time::timeout(WAIT, async {
            match self {
                Peer::Tcp(s) => {
                    let mut b = [0u8; 1024];
                    loop {
                        match s.read(&mut b).await {
                            Ok(0) => return "eof".to_string(),
                            Ok(_) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                                return "reset".to_string()
                            }
                            Err(e) => return format!("error {e}"),
                        }
                    }
                }
                Peer::Ws(ws, _) => loop {
                    match ws.next().await {
                        Some(Ok(Message::Close(Some(f)))) => {
                            return format!("close {}", u16::from(f.code))
                        }
                        Some(Ok(Message::Close(None))) => return "close".to_string(),
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            return if e.to_string().contains("reset") {
                                "reset".to_string()
                            } else {
                                format!("error {e}")
                            }
                        }
                        None => return "eof".to_string(),
                    }
                },
            }
        })
        .await
        .expect("server: console did not leave in time")
    }
}

/// Starts a one-connection server running `script`; returns the URL to open.
async fn serve<F, Fut>(via: Via, script: F) -> (String, JoinHandle<()>)
where
    F: FnOnce(Peer) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let url = match via {
        Via::Tcp => format!("rfb://{addr}"),
        Via::Ws => format!("ws://{addr}/s3-01/v1/screen"),
    };
    let task = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        s.set_nodelay(true).unwrap();
        let peer = match via {
            Via::Tcp => Peer::Tcp(s),
            Via::Ws => {
                let ws =
                    tokio_tungstenite::accept_hdr_async(s, |req: &Request, mut resp: Response| {
                        let offered = req
                            .headers()
                            .get("Sec-WebSocket-Protocol")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        if offered.split(',').any(|p| p.trim() == "binary") {
                            resp.headers_mut().insert(
                                "Sec-WebSocket-Protocol",
                                HeaderValue::from_static("binary"),
                            );
                        }
                        Ok(resp)
                    })
                    .await
                    .unwrap();
                Peer::Ws(Box::new(ws), Vec::new())
            }
        };
        script(peer).await;
    });
    (url, task)
}

fn server_init(w: u16, h: u16, name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    ServerInit {
        width: w,
        height: h,
        pixel_format: PixelFormat::RGB888,
        name: name.as_bytes().to_vec(),
    }
    .write(&mut out);
    out
}

/// The 3.8 handshake with security None, up to ServerInit; asserts what the
/// console sends on the way (3.8, type None, exclusive ClientInit).
async fn handshake_38_none(peer: &mut Peer, w: u16, h: u16) {
    peer.send(b"RFB 003.008\n").await;
    assert_eq!(peer.recv(12).await, b"RFB 003.008\n");
    peer.send(&[1, 1]).await;
    assert_eq!(peer.recv(1).await, [1]);
    peer.send(&0u32.to_be_bytes()).await;
    assert_eq!(peer.recv(1).await, [0], "ClientInit must be exclusive");
    peer.send(&server_init(w, h, "test")).await;
}

/// Reads and checks SetPixelFormat and SetEncodings.
async fn expect_format_and_encodings(peer: &mut Peer) {
    let mut want = Vec::new();
    ClientMessage::SetPixelFormat(PixelFormat::RGB888).write(&mut want);
    ClientMessage::SetEncodings(harness_encodings()).write(&mut want);
    assert_eq!(peer.recv(want.len()).await, want);
}

async fn open(url: &str, password: Option<&str>) -> Result<Console, OpenError> {
    RfbBinding::new(url, password)
        .unwrap()
        .open_console("A", WAIT)
        .await
}

async fn next(console: &mut Console) -> ConsoleEvent {
    console.next_event(WAIT).await
}

// ---------------------------------------------------------------- versions

async fn version_case(
    via: Via,
    server: &'static [u8; 12],
    answer: &'static [u8; 12],
) -> (Console, JoinHandle<()>) {
    let (url, task) = serve(via, move |mut p| async move {
        p.send(server).await;
        assert_eq!(&p.recv(12).await[..], &answer[..]);
        if answer == b"RFB 003.003\n" {
            p.send(&1u32.to_be_bytes()).await;
        } else {
            p.send(&[2, 16, 1]).await;
            assert_eq!(p.recv(1).await, [1]);
            if answer == b"RFB 003.008\n" {
                p.send(&0u32.to_be_bytes()).await;
            }
        }
        assert_eq!(p.recv(1).await, [0]);
        p.send(&server_init(640, 400, "desk")).await;
        expect_format_and_encodings(&mut p).await;
        p.wait_gone().await;
    })
    .await;
    (open(&url, None).await.unwrap(), task)
}

/// Closes the console and checks the server script's assertions.
async fn finish(c: Console, task: JoinHandle<()>) {
    c.close(CloseHow::Clean).await;
    task.await.unwrap();
}

#[tokio::test]
async fn negotiates_3_3_with_the_type_the_server_chose() {
    let (c, task) = version_case(Via::Tcp, b"RFB 003.003\n", b"RFB 003.003\n").await;
    let i = c.info();
    assert_eq!(
        (i.version.as_str(), i.server_version.as_str()),
        ("3.3", "RFB 003.003")
    );
    assert_eq!(i.security, "None");
    assert_eq!(
        i.binding["security_offered"],
        serde_json::json!(["None (1)"])
    );
    assert_eq!((i.width, i.height, i.name.as_str()), (640, 400, "desk"));
    assert_eq!(i.transport, "tcp");
    finish(c, task).await;
}

#[tokio::test]
async fn negotiates_3_7_without_security_result_for_none() {
    let (c, task) = version_case(Via::Tcp, b"RFB 003.007\n", b"RFB 003.007\n").await;
    assert_eq!(c.info().version, "3.7");
    assert_eq!(
        c.info().binding["security_offered"],
        serde_json::json!(["Tight (16)", "None (1)"])
    );
    finish(c, task).await;
}

#[tokio::test]
async fn negotiates_3_8_over_websocket_with_binary_subprotocol() {
    let (c, task) = version_case(Via::Ws, b"RFB 003.008\n", b"RFB 003.008\n").await;
    let i = c.info();
    assert_eq!(i.version, "3.8");
    assert_eq!(i.transport, "ws");
    assert_eq!(i.subprotocol.as_deref(), Some("binary"));
    assert_eq!(
        i.binding["encodings"],
        serde_json::json!(harness_encodings())
    );
    assert!(i.handshake_ms >= i.connect_ms);
    finish(c, task).await;
}

#[tokio::test]
async fn answers_3_8_to_a_newer_3_x_server() {
    let (c, task) = version_case(Via::Tcp, b"RFB 003.889\n", b"RFB 003.008\n").await;
    assert_eq!(c.info().version, "3.8");
    assert_eq!(c.info().server_version, "RFB 003.889");
    finish(c, task).await;
}

#[tokio::test]
async fn answers_3_8_to_an_rfb_4_server() {
    let (c, task) = version_case(Via::Tcp, b"RFB 004.001\n", b"RFB 003.008\n").await;
    assert_eq!(c.info().version, "3.8");
    assert_eq!(c.info().server_version, "RFB 004.001");
    finish(c, task).await;
}

#[tokio::test]
async fn rejects_an_rfb_2_server_naming_the_version_sent() {
    let (url, _task) = serve(Via::Tcp, |mut p| async move {
        p.send(b"RFB 002.000\n").await;
        p.wait_gone().await;
    })
    .await;
    match open(&url, None).await {
        Err(OpenError::Protocol { stage, reason }) => {
            assert_eq!(stage, Stage::Negotiation);
            assert!(reason.contains("RFB 002.000"), "{reason}");
        }
        other => panic!("expected a protocol error, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn rejects_a_malformed_version() {
    let (url, _task) = serve(Via::Tcp, |mut p| async move {
        p.send(b"HTTP/1.1 400").await;
        p.wait_gone().await;
    })
    .await;
    let e = open(&url, None).await.err().unwrap();
    assert!(
        matches!(&e, OpenError::Protocol { stage: Stage::Negotiation, reason } if reason.contains("HTTP")),
        "{e:?}"
    );
}

// ---------------------------------------------------------------- security

/// A 3.8 server offering `types` and, if VNC Auth is chosen, checking the
/// response against `server_password`.
async fn auth_server(
    types: &'static [u8],
    server_password: &'static str,
) -> (String, JoinHandle<()>) {
    serve(Via::Tcp, move |mut p| async move {
        p.send(b"RFB 003.008\n").await;
        p.recv(12).await;
        let mut offer = vec![types.len() as u8];
        offer.extend_from_slice(types);
        p.send(&offer).await;
        let chosen = p.recv(1).await[0];
        assert_eq!(chosen, 2, "the console must pick VNC Authentication");
        let challenge: [u8; 16] = *b"0123456789abcdef";
        p.send(&challenge).await;
        let resp: [u8; 16] = p.recv(16).await.try_into().unwrap();
        if vnc_auth_check(server_password.as_bytes(), &challenge, &resp) {
            p.send(&0u32.to_be_bytes()).await;
            assert_eq!(p.recv(1).await, [0]);
            p.send(&server_init(32, 16, "auth")).await;
        } else {
            let reason = b"Authentication failed";
            p.send(&1u32.to_be_bytes()).await;
            p.send(&(reason.len() as u32).to_be_bytes()).await;
            p.send(reason).await;
        }
        p.wait_gone().await;
    })
    .await
}

#[tokio::test]
async fn vnc_auth_with_the_right_password_is_admitted() {
    let (url, _task) = auth_server(&[2], "s3cret").await;
    let c = open(&url, Some("s3cret")).await.unwrap();
    assert_eq!(c.info().security, "VNC Authentication");
    assert_eq!((c.info().width, c.info().height), (32, 16));
}

#[tokio::test]
async fn vnc_auth_with_a_wrong_password_is_refused_with_the_reason() {
    let (url, _task) = auth_server(&[2], "s3cret").await;
    match open(&url, Some("wrong")).await {
        Err(OpenError::Refused { stage, reason }) => {
            assert_eq!(stage, Stage::AuthenticationResult);
            assert_eq!(reason, "Authentication failed");
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn vnc_auth_under_3_3_sends_a_result_without_reason() {
    let (url, _task) = serve(Via::Tcp, |mut p| async move {
        p.send(b"RFB 003.003\n").await;
        assert_eq!(p.recv(12).await, b"RFB 003.003\n");
        p.send(&2u32.to_be_bytes()).await;
        p.send(&[7u8; 16]).await;
        p.recv(16).await;
        p.send(&1u32.to_be_bytes()).await;
        p.wait_gone().await;
    })
    .await;
    let e = open(&url, Some("pw")).await.err().unwrap();
    assert_eq!(
        e,
        OpenError::Refused {
            stage: Stage::AuthenticationResult,
            reason: "security failed".into()
        }
    );
}

#[tokio::test]
async fn only_unsupported_types_is_a_protocol_error_naming_them() {
    let (url, _task) = serve(Via::Tcp, |mut p| async move {
        p.send(b"RFB 003.008\n").await;
        p.recv(12).await;
        p.send(&[1, 16]).await;
        p.wait_gone().await;
    })
    .await;
    match open(&url, None).await {
        Err(OpenError::Protocol { stage, reason }) => {
            assert_eq!(stage, Stage::Authentication);
            assert!(
                reason.contains("Tight") && reason.contains("16"),
                "{reason}"
            );
            assert!(reason.starts_with("no supported security type"), "{reason}");
        }
        other => panic!("expected a protocol error, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn vnc_auth_without_a_password_is_not_chosen() {
    let (url, _task) = serve(Via::Tcp, |mut p| async move {
        p.send(b"RFB 003.008\n").await;
        p.recv(12).await;
        p.send(&[1, 2]).await;
        p.wait_gone().await;
    })
    .await;
    match open(&url, None).await {
        Err(OpenError::Protocol { stage, reason }) => {
            assert_eq!(stage, Stage::Authentication);
            assert!(reason.contains("VNC Authentication (2)"), "{reason}");
            assert!(reason.contains("no password") || reason.contains("none is configured"));
        }
        other => panic!("expected a protocol error, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn security_failure_offer_is_refused_with_its_reason() {
    let (url, _task) = serve(Via::Tcp, |mut p| async move {
        p.send(b"RFB 003.008\n").await;
        p.recv(12).await;
        let reason = b"another console holds the terminal";
        p.send(&[0]).await;
        p.send(&(reason.len() as u32).to_be_bytes()).await;
        p.send(reason).await;
        p.wait_gone().await;
    })
    .await;
    assert_eq!(
        open(&url, None).await.err(),
        Some(OpenError::Refused {
            stage: Stage::Authentication,
            reason: "another console holds the terminal".into()
        })
    );
}

#[tokio::test]
async fn security_result_failure_under_3_8_is_refused_with_its_reason() {
    let (url, _task) = serve(Via::Ws, |mut p| async move {
        p.send(b"RFB 003.008\n").await;
        p.recv(12).await;
        p.send(&[1, 1]).await;
        p.recv(1).await;
        let reason = b"busy";
        let mut msg = 1u32.to_be_bytes().to_vec();
        msg.extend_from_slice(&(reason.len() as u32).to_be_bytes());
        msg.extend_from_slice(reason);
        p.send(&msg).await;
        p.wait_gone().await;
    })
    .await;
    assert_eq!(
        open(&url, None).await.err(),
        Some(OpenError::Refused {
            stage: Stage::AuthenticationResult,
            reason: "busy".into()
        })
    );
}

// ---------------------------------------------------------------- refusals, limits, timeouts

#[tokio::test]
async fn eof_before_server_init_is_refused_at_that_stage() {
    // The server leaves after `cut` steps; the console sees it at `want`.
    let cases = [
        (Via::Tcp, 0usize, Stage::Negotiation),
        (Via::Ws, 0, Stage::Negotiation),
        (Via::Tcp, 1, Stage::Authentication),
        (Via::Ws, 2, Stage::AuthenticationResult),
        (Via::Tcp, 3, Stage::Admission),
        (Via::Ws, 4, Stage::Admission),
    ];
    for (via, cut, want) in cases {
        let (url, _task) = serve(via, move |mut p| async move {
            let steps: [&[u8]; 4] = [b"RFB 003.008\n", &[1, 1], &[0, 0, 0, 0], &[]];
            let expect = [12usize, 1, 1];
            for (k, step) in steps.iter().enumerate().take(cut.min(3)) {
                p.send(step).await;
                p.recv(expect[k]).await;
            }
            if cut == 4 {
                // Half a ServerInit.
                p.send(&server_init(10, 10, "x")[..10]).await;
            }
            if let Peer::Ws(ws, _) = &mut p {
                WebSocketStream::close(&mut **ws, None).await.unwrap();
                let _ = p.wait_gone().await;
            }
        })
        .await;
        match open(&url, None).await {
            Err(OpenError::Refused { stage, reason }) => {
                assert_eq!(stage, want, "{via:?} case {cut}");
                assert!(
                    reason.starts_with("connection closed by terminal"),
                    "{reason}"
                );
            }
            other => panic!(
                "case {cut}: expected a refusal, got {:?}",
                other.map(|_| ())
            ),
        }
    }
}

#[tokio::test]
async fn close_right_after_server_init_is_an_admitted_console_then_closed() {
    for via in [Via::Tcp, Via::Ws] {
        let (url, task) = serve(via, |mut p| async move {
            handshake_38_none(&mut p, 64, 48).await;
            if let Peer::Ws(ws, _) = &mut p {
                WebSocketStream::close(
                    &mut **ws,
                    Some(CloseFrame {
                        code: CloseCode::Policy,
                        reason: "taken".into(),
                    }),
                )
                .await
                .unwrap();
                let _ = p.wait_gone().await;
            }
        })
        .await;
        let mut c = open(&url, None).await.unwrap();
        match next(&mut c).await {
            ConsoleEvent::Closed {
                reason: CloseReason::ByTerminal { detail },
                ..
            } => {
                if via == Via::Ws {
                    assert!(
                        detail.contains("1008") && detail.contains("taken"),
                        "{detail}"
                    );
                }
            }
            other => panic!("{via:?}: expected Closed by terminal first, got {other:?}"),
        }
        assert!(c.is_closed());
        assert_eq!(next(&mut c).await, ConsoleEvent::Timeout);
        task.await.unwrap();
    }
}

/// A session that ends while its event queue is full (the check has not
/// read yet) must not leave a command unanswered: a check waiting for that
/// answer would never read the queue the session waits on (a deadlock).
#[tokio::test]
async fn a_command_to_a_session_ended_with_a_full_queue_is_refused_not_stuck() {
    let (url, task) = serve(Via::Tcp, |mut p| async move {
        handshake_38_none(&mut p, 64, 48).await;
        expect_format_and_encodings(&mut p).await;
        // Exactly a queue's worth of empty updates, then a message type no
        // RFB server sends: the session decodes all of it in one go, fills
        // the queue and ends on the violation.
        let mut flood = Vec::new();
        for _ in 0..crate::binding::EVENT_QUEUE {
            write_update_header(0, &mut flood);
        }
        flood.push(0xee);
        p.send(&flood).await;
        let _ = p.wait_gone().await;
    })
    .await;
    let c = open(&url, None).await.unwrap();
    // Wait (bounded) until the session has filled the queue.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while c.ev_rx.len() < crate::binding::EVENT_QUEUE {
        assert!(
            tokio::time::Instant::now() < deadline,
            "queue never filled: {}",
            c.ev_rx.len()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let answered = tokio::time::timeout(Duration::from_secs(10), c.request(false, None)).await;
    assert!(
        matches!(answered, Ok(Err(crate::binding::ConsoleGone))),
        "a request to the ended session: {answered:?}"
    );
    drop(c);
    task.await.unwrap();
}

#[tokio::test]
async fn huge_server_init_is_a_protocol_error() {
    let (url, _task) = serve(Via::Tcp, |mut p| async move {
        p.send(b"RFB 003.008\n").await;
        p.recv(12).await;
        p.send(&[1, 1]).await;
        p.recv(1).await;
        p.send(&0u32.to_be_bytes()).await;
        p.recv(1).await;
        // 65535 x 65535 and a name length of 4 GiB - 1: both refused unread.
        let mut msg = Vec::new();
        msg.extend_from_slice(&65535u16.to_be_bytes());
        msg.extend_from_slice(&65535u16.to_be_bytes());
        PixelFormat::RGB888.write(&mut msg);
        msg.extend_from_slice(&u32::MAX.to_be_bytes());
        p.send(&msg).await;
        p.wait_gone().await;
    })
    .await;
    match open(&url, None).await {
        Err(OpenError::Protocol { stage, reason }) => {
            assert_eq!(stage, Stage::Admission);
            assert!(reason.contains("width"), "{reason}");
        }
        other => panic!("expected a protocol error, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn oversized_name_is_a_protocol_error() {
    let (url, _task) = serve(Via::Tcp, |mut p| async move {
        handshake_38_none_prefix(&mut p).await;
        let mut msg = Vec::new();
        msg.extend_from_slice(&100u16.to_be_bytes());
        msg.extend_from_slice(&100u16.to_be_bytes());
        PixelFormat::RGB888.write(&mut msg);
        msg.extend_from_slice(&(Limits::DEFAULT.max_name_len + 1).to_be_bytes());
        p.send(&msg).await;
        p.wait_gone().await;
    })
    .await;
    let e = open(&url, None).await.err().unwrap();
    assert!(
        matches!(&e, OpenError::Protocol { stage: Stage::Admission, reason } if reason.contains("name")),
        "{e:?}"
    );
}

/// The 3.8 None handshake up to (not including) ServerInit.
async fn handshake_38_none_prefix(p: &mut Peer) {
    p.send(b"RFB 003.008\n").await;
    p.recv(12).await;
    p.send(&[1, 1]).await;
    p.recv(1).await;
    p.send(&0u32.to_be_bytes()).await;
    p.recv(1).await;
}

#[tokio::test]
async fn a_silent_server_times_out_at_version() {
    let (url, _task) = serve(Via::Tcp, |mut p| async move {
        p.wait_gone().await;
    })
    .await;
    let b = RfbBinding::new(&url, None).unwrap();
    let t0 = std::time::Instant::now();
    let e = b
        .open_console("A", Duration::from_millis(300))
        .await
        .err()
        .unwrap();
    let waited = t0.elapsed();
    match e {
        OpenError::Timeout { stage, after_ms } => {
            assert_eq!(stage, Stage::Negotiation);
            assert!((300..2000).contains(&after_ms), "{after_ms}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(waited < Duration::from_secs(2), "{waited:?}");
}

#[tokio::test]
async fn a_server_stalling_before_server_init_times_out_at_init() {
    let (url, _task) = serve(Via::Ws, |mut p| async move {
        handshake_38_none_prefix(&mut p).await;
        p.send(&server_init(10, 10, "x")[..5]).await;
        p.wait_gone().await;
    })
    .await;
    let e = RfbBinding::new(&url, None)
        .unwrap()
        .open_console("A", Duration::from_millis(400))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            e,
            OpenError::Timeout {
                stage: Stage::Admission,
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_the_upgrade_times_out_at_upgrade() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/screen", l.local_addr().unwrap());
    let _hold = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        tokio::time::sleep(WAIT).await;
        drop(s);
    });
    let e = RfbBinding::new(&url, None)
        .unwrap()
        .open_console("A", Duration::from_millis(300))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            e,
            OpenError::Timeout {
                stage: Stage::Channel,
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn non_101_upgrade_answer_is_refused_at_upgrade() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/s3-01/v1/screen", l.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let _ = s.read(&mut buf).await;
        s.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
    });
    match open(&url, None).await {
        Err(OpenError::Refused { stage, reason }) => {
            assert_eq!(stage, Stage::Channel);
            assert_eq!(reason, "HTTP 503 Service Unavailable");
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn a_closed_port_is_refused_at_connect() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let e = open(&format!("rfb://{addr}"), None).await.err().unwrap();
    assert!(
        matches!(
            e,
            OpenError::Refused {
                stage: Stage::Connect,
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn wss_without_tls_settings_is_a_clean_harness_error() {
    let e = open("wss://127.0.0.1:1/screen", None).await.err().unwrap();
    assert!(
        matches!(&e, OpenError::Harness(m) if m.contains("[tls] section with a ca")),
        "{e:?}"
    );
}

// ---------------------------------------------------------------- construction

fn decl(url: &str, password_env: Option<&str>) -> ScreenDecl {
    ScreenDecl {
        url: url.into(),
        exclusivity: Exclusivity::Refuse,
        password_env: password_env.map(str::to_string),
        ignore: Vec::new(),
        pixel_format: Default::default(),
    }
}

#[tokio::test]
async fn from_decl_reads_the_password_variable() {
    let d = decl("rfb://127.0.0.1:5900", Some("S301_PW"));
    let b = RfbBinding::from_decl_with(&d, |name| {
        assert_eq!(name, "S301_PW");
        Ok("pw".into())
    })
    .unwrap();
    assert!(b.describe().contains("$S301_PW"));
    assert!(!format!("{b:?}").contains("pw\""));
    assert_eq!(b.target(), "rfb://127.0.0.1:5900");
}

#[tokio::test]
async fn from_decl_with_an_unset_password_variable_is_an_error_naming_it() {
    let d = decl("ws://127.0.0.1:1/", Some("S301_NO_SUCH_VAR_FOR_TEST"));
    let e = RfbBinding::from_decl(&d).err().unwrap();
    assert_eq!(
        e,
        BindingError::PasswordUnset {
            var: "S301_NO_SUCH_VAR_FOR_TEST".into()
        }
    );
    assert!(e.to_string().contains("S301_NO_SUCH_VAR_FOR_TEST"));
}

#[tokio::test]
async fn a_bad_url_is_an_error_naming_it() {
    let e = RfbBinding::from_decl(&decl("http://x/", None))
        .err()
        .unwrap();
    assert!(e.to_string().contains("\"http://x/\""), "{e}");
}

#[tokio::test]
async fn describe_names_transport_encodings_and_limits() {
    let d = RfbBinding::new("ws://h:1/s", None).unwrap().describe();
    for want in [
        "ws://h:1/s",
        "\"binary\"",
        "ZRLE(16)",
        "DesktopSize(-223), Cursor(-239)",
        "16384x16384",
        "pointer shapes up to 65536 pixels",
    ] {
        assert!(d.contains(want), "{want} missing from {d}");
    }
}

// ---------------------------------------------------------------- the session

#[tokio::test]
async fn ws_text_frame_after_open_is_a_violation() {
    let (url, task) = serve(Via::Ws, |mut p| async move {
        handshake_38_none(&mut p, 16, 16).await;
        expect_format_and_encodings(&mut p).await;
        if let Peer::Ws(ws, _) = &mut p {
            ws.send(Message::Text("hello".into())).await.unwrap();
        }
        // The console leaves after the violation.
        let gone = p.wait_gone().await;
        assert!(gone.starts_with("close") || gone == "eof", "{gone}");
    })
    .await;
    let mut c = open(&url, None).await.unwrap();
    assert_eq!(
        match next(&mut c).await {
            ConsoleEvent::Closed { reason, .. } => reason,
            other => panic!("expected Closed, got {other:?}"),
        },
        CloseReason::Violation {
            detail: "text frame".into()
        }
    );
    task.await.unwrap();
}

#[tokio::test]
async fn ws_text_frame_during_handshake_is_a_protocol_error() {
    let (url, _task) = serve(Via::Ws, |mut p| async move {
        if let Peer::Ws(ws, _) = &mut p {
            ws.send(Message::Text("RFB 003.008\n".into()))
                .await
                .unwrap();
        }
        p.wait_gone().await;
    })
    .await;
    assert_eq!(
        open(&url, None).await.err(),
        Some(OpenError::Protocol {
            stage: Stage::Negotiation,
            reason: "text frame".into()
        })
    );
}

#[tokio::test]
async fn commands_are_written_with_increasing_seqs() {
    let (url, task) = serve(Via::Tcp, |mut p| async move {
        handshake_38_none(&mut p, 300, 200).await;
        expect_format_and_encodings(&mut p).await;
        let mut want = Vec::new();
        ClientMessage::FramebufferUpdateRequest {
            incremental: false,
            rect: Rect::new(0, 0, 300, 200),
        }
        .write(&mut want);
        ClientMessage::PointerEvent {
            buttons: 1,
            x: 10,
            y: 20,
        }
        .write(&mut want);
        ClientMessage::KeyEvent {
            down: true,
            key: 0x61,
        }
        .write(&mut want);
        ClientMessage::SetEncodings(vec![0]).write(&mut want);
        ClientMessage::FramebufferUpdateRequest {
            incremental: true,
            rect: Rect::new(1, 2, 3, 4),
        }
        .write(&mut want);
        assert_eq!(p.recv(want.len()).await, want);
        assert_eq!(p.wait_gone().await, "eof");
    })
    .await;
    let c = open(&url, None).await.unwrap();
    let a = c.request(false, None).await.unwrap();
    let b = c.pointer(10, 20, 1).await.unwrap();
    let k = c.key(0x61, true).await.unwrap();
    let raw = crate::binding::EncodingSet {
        name: "Raw".into(),
        ids: vec![0],
    };
    let e = c.set_encodings(&raw).await.unwrap();
    let r = c.request(true, Some(Rect::new(1, 2, 3, 4))).await.unwrap();
    assert!(a < b && b < k && k < e && e < r);
    c.close(CloseHow::Clean).await;
    task.await.unwrap();
}

#[tokio::test]
async fn harness_close_is_reported_once_as_by_harness() {
    for (via, how, seen) in [
        (Via::Ws, CloseHow::Clean, "close 1000"),
        (Via::Tcp, CloseHow::Clean, "eof"),
        (Via::Tcp, CloseHow::Drop, "reset"),
    ] {
        let (url, task) = serve(via, move |mut p| async move {
            handshake_38_none(&mut p, 8, 8).await;
            expect_format_and_encodings(&mut p).await;
            assert_eq!(p.wait_gone().await, seen, "{via:?} {how:?}");
        })
        .await;
        let mut c = open(&url, None).await.unwrap();
        // Close through the command path and watch the events directly.
        c.send(crate::binding::Command::Close(how)).await.unwrap();
        match next(&mut c).await {
            ConsoleEvent::Closed {
                reason: CloseReason::ByHarness,
                ..
            } => {}
            other => panic!("expected Closed by harness, got {other:?}"),
        }
        assert_eq!(next(&mut c).await, ConsoleEvent::Timeout);
        task.await.unwrap();
    }
}

/// An update of one 2x2 Raw rectangle at (1, 1) plus a Bell, as the server
/// sends it; and what the console's framebuffer should then hold there.
fn raw_update() -> (Vec<u8>, [u32; 4]) {
    let px = [0x00ff_0000u32, 0x0000_ff00, 0x0000_00ff, 0x0012_3456];
    let mut out = Vec::new();
    write_update_header(1, &mut out);
    write_rect_header(Rect::new(1, 1, 2, 2), 0, &mut out);
    for p in px {
        PixelFormat::RGB888.write_value(p, &mut out);
    }
    write_bell(&mut out);
    (out, px)
}

/// Opens over `via`, asks for a full update and returns (update, pixels).
async fn split_case(via: Via, bytewise: bool) -> (crate::binding::UpdateInfo, Vec<u32>) {
    let (url, task) = serve(via, move |mut p| async move {
        // The handshake itself, from the server, split as asked.
        let mut hello = b"RFB 003.008\n".to_vec();
        hello.extend_from_slice(&[1, 1]);
        if bytewise {
            p.send_bytewise(&hello[..12]).await;
        } else {
            p.send(&hello[..12]).await;
        }
        p.recv(12).await;
        if bytewise {
            p.send_bytewise(&hello[12..]).await;
        } else {
            p.send(&hello[12..]).await;
        }
        p.recv(1).await;
        let mut rest = 0u32.to_be_bytes().to_vec();
        if bytewise {
            p.send_bytewise(&rest).await;
        } else {
            p.send(&rest).await;
        }
        p.recv(1).await;
        rest = server_init(4, 4, "split");
        let (update, _) = raw_update();
        if bytewise {
            p.send_bytewise(&rest).await;
        } else {
            // ServerInit and an unsolicited Bell in one message.
            let mut both = rest.clone();
            write_bell(&mut both);
            p.send(&both).await;
        }
        expect_format_and_encodings(&mut p).await;
        p.recv(10).await; // the request
        if bytewise {
            p.send_bytewise(&[2]).await; // the same Bell, alone
            p.send_bytewise(&update).await;
        } else {
            p.send(&update).await;
        }
        p.wait_gone().await;
    })
    .await;
    let mut c = open(&url, None).await.unwrap();
    let req = c.request(false, None).await.unwrap();
    let mut bells = 0;
    let update = loop {
        match next(&mut c).await {
            ConsoleEvent::Bell(_) => bells += 1,
            ConsoleEvent::Update(u) => break u,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(update.answers, Some(req));
    assert_eq!(update.incremental, Some(false));
    assert!(update.seq > req);
    assert!(update.latency_ms.is_some());
    match next(&mut c).await {
        ConsoleEvent::Bell(s) => assert!(s > update.seq),
        other => panic!("expected the trailing Bell, got {other:?}"),
    }
    assert_eq!(bells, 1, "the Bell sent with or after ServerInit");
    let pixels = c.with_framebuffer(|fb| fb.pixels().to_vec());
    c.close(CloseHow::Clean).await;
    task.await.unwrap();
    (update, pixels)
}

#[tokio::test]
async fn ws_message_boundaries_do_not_change_the_result() {
    let (_, px) = raw_update();
    let mut results = Vec::new();
    for (via, bytewise) in [
        (Via::Ws, true),
        (Via::Ws, false),
        (Via::Tcp, true),
        (Via::Tcp, false),
    ] {
        let (u, pixels) = split_case(via, bytewise).await;
        assert_eq!(u.rect_count, 1);
        assert_eq!(u.damage[0].rect, Rect::new(1, 1, 2, 2));
        assert!(u.damage[0].in_bounds);
        assert_eq!(pixels[4 + 1], px[0]);
        assert_eq!(pixels[4 + 2], px[1]);
        assert_eq!(pixels[8 + 1], px[2]);
        assert_eq!(pixels[8 + 2], px[3]);
        results.push((u.damage.clone(), u.bytes, pixels));
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test]
async fn updates_answer_requests_in_order_and_unsolicited_ones_answer_none() {
    let (url, task) = serve(Via::Tcp, |mut p| async move {
        handshake_38_none(&mut p, 4, 4).await;
        expect_format_and_encodings(&mut p).await;
        p.recv(20).await; // two requests
        let (update, _) = raw_update();
        // Three updates for two requests: the third is unsolicited.
        let mut all = Vec::new();
        for _ in 0..3 {
            all.extend_from_slice(&update);
        }
        p.send(&all).await;
        p.wait_gone().await;
    })
    .await;
    let mut c = open(&url, None).await.unwrap();
    let r1 = c.request(false, None).await.unwrap();
    let r2 = c.request(true, None).await.unwrap();
    let mut answers = Vec::new();
    while answers.len() < 3 {
        match next(&mut c).await {
            ConsoleEvent::Update(u) => answers.push((u.answers, u.incremental)),
            ConsoleEvent::Bell(_) => {}
            other => panic!("expected updates, got {other:?}"),
        }
    }
    assert_eq!(
        answers,
        [
            (Some(r1), Some(false)),
            (Some(r2), Some(true)),
            (None, None)
        ]
    );
    c.close(CloseHow::Clean).await;
    task.await.unwrap();
}

#[tokio::test]
async fn a_malformed_stream_is_a_violation_then_closed() {
    let (url, task) = serve(Via::Tcp, |mut p| async move {
        handshake_38_none(&mut p, 4, 4).await;
        expect_format_and_encodings(&mut p).await;
        // Message type 200 is not a server-to-client message.
        p.send(&[200]).await;
        p.wait_gone().await;
    })
    .await;
    let mut c = open(&url, None).await.unwrap();
    match next(&mut c).await {
        ConsoleEvent::Closed {
            reason: CloseReason::Violation { detail },
            ..
        } => assert!(detail.contains("200"), "{detail}"),
        other => panic!("expected a violation, got {other:?}"),
    }
    task.await.unwrap();
}

#[tokio::test]
async fn a_full_event_queue_makes_the_session_wait_not_drop_and_still_take_commands() {
    const BELLS: usize = crate::binding::EVENT_QUEUE + 500;
    let (url, task) = serve(Via::Tcp, |mut p| async move {
        handshake_38_none(&mut p, 4, 4).await;
        expect_format_and_encodings(&mut p).await;
        p.send(&vec![2u8; BELLS]).await;
        // A request written while the console's queue is full still arrives.
        let mut want = Vec::new();
        ClientMessage::FramebufferUpdateRequest {
            incremental: true,
            rect: Rect::new(0, 0, 4, 4),
        }
        .write(&mut want);
        assert_eq!(p.recv(want.len()).await, want);
        p.wait_gone().await;
    })
    .await;
    let mut c = open(&url, None).await.unwrap();
    // Wait (bounded) until the task has filled the queue: it must then block
    // rather than buffer or drop the rest.
    let t0 = std::time::Instant::now();
    while c.ev_rx.len() < crate::binding::EVENT_QUEUE {
        assert!(t0.elapsed() < WAIT, "queue never filled: {}", c.ev_rx.len());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(c.ev_rx.len(), crate::binding::EVENT_QUEUE);
    // The blocked task still takes commands.
    tokio::time::timeout(WAIT, c.request(true, None))
        .await
        .expect("a command while the queue is full must not wait for the check")
        .unwrap();
    let mut last = None;
    for i in 0..BELLS {
        match next(&mut c).await {
            ConsoleEvent::Bell(s) => {
                assert!(last.is_none_or(|l| s > l), "bell {i} out of order");
                last = Some(s);
            }
            other => panic!("bell {i}: got {other:?}"),
        }
    }
    c.close(CloseHow::Clean).await;
    task.await.unwrap();
}

// ---------------------------------------------------------------- against the mock terminal

/// Waits for the update answering `req`, failing on anything else final.
async fn update_answering(c: &mut Console, req: crate::binding::Seq) -> crate::binding::UpdateInfo {
    let t0 = std::time::Instant::now();
    loop {
        assert!(t0.elapsed() < WAIT, "no update answered {req:?} in time");
        match next(c).await {
            ConsoleEvent::Update(u) if u.answers == Some(req) => return u,
            ConsoleEvent::Update(_) | ConsoleEvent::Bell(_) | ConsoleEvent::CutText { .. } => {}
            other => panic!("waiting for the answer to {req:?}: {other:?}"),
        }
    }
}

/// Whether `rects` together cover every pixel of a `w` x `h` screen.
fn covers(rects: &[crate::binding::Damage], w: u16, h: u16) -> bool {
    let mut seen = vec![false; usize::from(w) * usize::from(h)];
    for r in rects {
        if let Some(c) = r.rect.intersect(&Rect::new(0, 0, w, h)) {
            for y in c.y..c.y + c.h {
                for x in c.x..c.x + c.w {
                    seen[usize::from(y) * usize::from(w) + usize::from(x)] = true;
                }
            }
        }
    }
    seen.iter().all(|s| *s)
}

#[tokio::test]
async fn mock_terminal_full_update_then_click_gives_an_incremental_update() {
    use s301_mocks::{MockConfig, MockTerminal};
    for via in [Via::Ws, Via::Tcp] {
        let mock = MockTerminal::start(MockConfig {
            rfb_listen: Some("127.0.0.1:0".parse().unwrap()),
            ..MockConfig::default()
        })
        .await
        .unwrap();
        let url = match via {
            Via::Ws => mock.screen_url(),
            Via::Tcp => mock.rfb_url().unwrap(),
        };
        let mut c = open(&url, None).await.unwrap();
        assert_eq!((c.info().width, c.info().height), (1024, 768));
        assert_eq!(
            c.info().transport,
            if via == Via::Ws { "ws" } else { "tcp" }
        );

        // A full update covers the screen and equals what the mock shows.
        let full = c.request(false, None).await.unwrap();
        let u = update_answering(&mut c, full).await;
        assert_eq!(u.incremental, Some(false));
        assert!(
            covers(&u.damage, 1024, 768),
            "{via:?}: full update leaves gaps"
        );
        assert!(u.damage.iter().all(|r| r.in_bounds));
        assert!(
            c.snapshot() == mock.screen(),
            "{via:?}: image differs from the mock's"
        );

        // An incremental request is answered once a click changes the pad.
        let inc = c.request(true, None).await.unwrap();
        let (x, y) = mock.layout().click_point();
        let down = c.pointer(x, y, 1).await.unwrap();
        c.pointer(x, y, 0).await.unwrap();
        assert!(down > inc);
        let u = update_answering(&mut c, inc).await;
        assert_eq!(u.incremental, Some(true));
        assert!(u.seq > down && u.rect_count > 0);
        let pad = mock.layout().pad;
        assert!(
            u.damage.iter().any(|r| r.rect.intersect(&pad).is_some()),
            "{via:?}: incremental update missed the pad: {:?}",
            u.damage
        );
        c.close(CloseHow::Clean).await;
        mock.shutdown().await;
    }
}

#[tokio::test]
async fn mock_terminal_with_a_password_admits_vnc_auth() {
    use s301_mocks::{MockConfig, MockTerminal};
    let mock = MockTerminal::start(MockConfig {
        password: Some("pw-301".into()),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let c = open(&mock.screen_url(), Some("pw-301")).await.unwrap();
    assert_eq!(c.info().security, "VNC Authentication");
    let mut lock = mock.lock_view();
    c.close(CloseHow::Clean).await;
    // The mock must have let go of the first console before the second try.
    tokio::time::timeout(WAIT, lock.wait_for(|v| v.holder.is_none()))
        .await
        .unwrap()
        .unwrap();
    let e = open(&mock.screen_url(), Some("nope")).await.err().unwrap();
    assert!(
        matches!(
            e,
            OpenError::Refused {
                stage: Stage::AuthenticationResult,
                ..
            }
        ),
        "{e:?}"
    );
    mock.shutdown().await;
}

// ---------------------------------------------------------------- pointer shapes

/// One update holding a Cursor rectangle for `shape` (32-bit true colour).
fn cursor_update(shape: &s301_rfb::encoding::CursorImage) -> Vec<u8> {
    let mut out = Vec::new();
    write_update_header(1, &mut out);
    s301_rfb::encoding::write_cursor(
        shape,
        &PixelFormat::RGB888,
        &s301_rfb::ColourMap::new(),
        &mut out,
    )
    .unwrap();
    out
}

#[tokio::test]
async fn a_pointer_shape_from_the_terminal_is_kept_apart_from_the_image_and_logged() {
    let cells: Vec<Option<u32>> = (0..5 * 4u32)
        .map(|i| (i % 4 != 0).then_some(0x0011_2233 + i))
        .collect();
    let shape = s301_rfb::encoding::CursorImage::from_cells(5, 4, 2, 3, &cells).unwrap();
    let wire = cursor_update(&shape);
    let (url, task) = serve(Via::Ws, move |mut p| async move {
        handshake_38_none(&mut p, 8, 8).await;
        expect_format_and_encodings(&mut p).await;
        p.recv(10).await; // the request
        p.send(&wire).await;
        p.wait_gone().await;
    })
    .await;
    let dir = crate::model::files::tests::scratch_dir("cursor-transcript");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("transcript.jsonl");
    let (transcript, writer) =
        crate::binding::transcript::Transcript::start(&path, |_| {}).unwrap();
    let binding = RfbBinding::new(&url, None)
        .unwrap()
        .with_transcript(Some(transcript));
    let mut c = binding.open_console("A", WAIT).await.unwrap();
    assert_eq!(
        c.info().binding["cursor_requested"],
        serde_json::json!(true)
    );
    assert!(c.info().binding["encodings"]
        .as_array()
        .is_some_and(|e| e.contains(&serde_json::json!(-239))));
    assert_eq!(c.cursor(), None);
    let req = c.request(false, None).await.unwrap();
    let u = update_answering(&mut c, req).await;
    assert_eq!(u.rect_count, 1);
    assert_eq!(u.damage[0].kind, crate::binding::DamageKind::Pointer);
    assert_eq!(u.damage[0].encoding.as_deref(), Some("Cursor"));
    assert_eq!(u.damage[0].rect, Rect::new(2, 3, 5, 4));
    assert!(u.damage[0].in_bounds);
    assert_eq!(
        c.cursor(),
        Some(crate::binding::CursorShape {
            width: 5,
            height: 4,
            hot_x: 2,
            hot_y: 3,
            pixels: cells,
        })
    );
    // The shape went nowhere near the screen.
    assert!(c.snapshot().pixels().iter().all(|p| *p == 0));
    c.close(CloseHow::Clean).await;
    task.await.unwrap();
    drop(binding);
    writer.finish().await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let logged: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["type"] == "Cursor")
        .collect();
    assert_eq!(logged.len(), 1, "{text}");
    assert_eq!(
        logged[0]["fields"],
        serde_json::json!({"width": 5, "height": 4, "hot_x": 2, "hot_y": 3})
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Opens a console to a server that sends `rect` as a Cursor rectangle
/// header (and nothing more), and returns the violation it closed with.
async fn cursor_violation(rect: Rect) -> String {
    let (url, task) = serve(Via::Tcp, move |mut p| async move {
        handshake_38_none(&mut p, 8, 8).await;
        expect_format_and_encodings(&mut p).await;
        let mut out = Vec::new();
        write_update_header(1, &mut out);
        write_rect_header(rect, -239, &mut out);
        p.send(&out).await;
        p.wait_gone().await;
    })
    .await;
    let mut c = open(&url, None).await.unwrap();
    let detail = match next(&mut c).await {
        ConsoleEvent::Closed {
            reason: CloseReason::Violation { detail },
            ..
        } => detail,
        other => panic!("expected a violation, got {other:?}"),
    };
    assert_eq!(c.cursor(), None);
    task.await.unwrap();
    detail
}

#[tokio::test]
async fn a_malformed_or_huge_pointer_shape_is_a_violation_naming_it() {
    let d = cursor_violation(Rect::new(9, 0, 4, 4)).await;
    assert!(d.contains("Cursor") && d.contains("hotspot (9, 0)"), "{d}");
    let d = cursor_violation(Rect::new(0, 0, 65535, 65535)).await;
    assert!(d.contains("Cursor width*height"), "{d}");
}

#[tokio::test]
async fn mock_terminal_sends_its_pointer_shape_instead_of_drawing_it() {
    use s301_mocks::{MockConfig, MockTerminal, PointerSprite};
    let mock = MockTerminal::start(MockConfig {
        pointer_sprite: PointerSprite::UnlessCursorEncoding,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let mut c = open(&mock.screen_url(), None).await.unwrap();
    let full = c.request(false, None).await.unwrap();
    let u = update_answering(&mut c, full).await;
    assert!(covers(&u.damage, 1024, 768));
    let shape = c.cursor().expect("the mock sent its pointer shape");
    assert_eq!(
        (shape.width, shape.height, shape.hot_x, shape.hot_y),
        (12, 19, 0, 0)
    );
    assert_eq!(shape.pixels.len(), 12 * 19);
    assert_eq!(shape.pixels[0], Some(0));
    // The image is the terminal's own, without the pointer.
    assert!(c.snapshot() == mock.screen());
    c.close(CloseHow::Clean).await;
    mock.shutdown().await;
}
