//! The small RFB console the mock's end-to-end suites drive it with, over
//! plain TCP and over WebSocket, and the helpers they share.
#![allow(dead_code)] // each suite uses its own part of this

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use s301_mocks::{LockView, MockConfig, MockHandle, MockTerminal};
use s301_rfb::auth::vnc_auth_response;
use s301_rfb::encoding::CursorImage;
use s301_rfb::error::ReadError;
use s301_rfb::handshake::{read_version, ServerInit, Version};
use s301_rfb::messages::ClientMessage;
use s301_rfb::reader::{try_decode, Reader};
use s301_rfb::stream::{RectInfo, ServerEvent, ServerMessageDecoder};
use s301_rfb::{Framebuffer, Limits, PixelFormat, Rect};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Bound on every wait in these tests.
pub const T: Duration = Duration::from_secs(15);

pub async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(T, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

pub enum Wire {
    Tcp(TcpStream),
    Ws(Box<WebSocketStream<TcpStream>>),
}

/// What a handshake came to.
#[derive(Debug)]
pub enum Outcome {
    Admitted,
    /// SecurityResult failed (with the 3.8 reason).
    Refused(Option<String>),
    /// The connection was closed before ServerInit.
    Closed,
}

pub struct Console {
    pub wire: Wire,
    pub buf: Vec<u8>,
    pub ws_protocol: Option<String>,
    pub ws_sizes: Vec<usize>,
    pub init: Option<ServerInit>,
    pub dec: ServerMessageDecoder,
    pub fb: Framebuffer,
    pub colour_maps: Vec<(u16, u16)>,
    /// Pointer shapes received (Cursor pseudo-rectangles), oldest first.
    pub cursors: Vec<CursorImage>,
}

impl Console {
    pub fn with(wire: Wire, ws_protocol: Option<String>) -> Console {
        Console {
            wire,
            buf: Vec::new(),
            ws_protocol,
            ws_sizes: Vec::new(),
            init: None,
            dec: ServerMessageDecoder::new(PixelFormat::RGB888, Limits::DEFAULT),
            fb: Framebuffer::new(1, 1, &Limits::DEFAULT).expect("fb"),
            colour_maps: Vec::new(),
            cursors: Vec::new(),
        }
    }

    pub async fn tcp(addr: SocketAddr) -> Console {
        let s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        Console::with(Wire::Tcp(s), None)
    }

    pub async fn ws(mock: &MockHandle) -> Console {
        let mut req = mock.screen_url().into_client_request().expect("request");
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "binary".parse().expect("header"));
        let tcp = TcpStream::connect(mock.addr()).await.expect("connect");
        let (ws, resp) = tokio_tungstenite::client_async(req, tcp)
            .await
            .expect("ws upgrade");
        let proto = resp
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Console::with(Wire::Ws(Box::new(ws)), proto)
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        match &mut self.wire {
            Wire::Tcp(s) => {
                let _ = s.write_all(bytes).await;
            }
            Wire::Ws(ws) => {
                let _ = ws
                    .send(Message::Binary(Bytes::copy_from_slice(bytes)))
                    .await;
            }
        }
    }

    pub async fn msg(&mut self, m: ClientMessage) {
        let mut out = Vec::new();
        m.write(&mut out);
        self.send(&out).await;
    }

    /// The next bytes from the terminal, `None` once the connection is closed.
    pub async fn chunk(&mut self) -> Option<Vec<u8>> {
        match &mut self.wire {
            Wire::Tcp(s) => {
                let mut b = vec![0u8; 64 * 1024];
                match s.read(&mut b).await {
                    Ok(0) | Err(_) => None,
                    Ok(n) => {
                        b.truncate(n);
                        Some(b)
                    }
                }
            }
            Wire::Ws(ws) => loop {
                match ws.next().await {
                    Some(Ok(Message::Binary(b))) => {
                        self.ws_sizes.push(b.len());
                        return Some(b.to_vec());
                    }
                    Some(Ok(Message::Text(t))) => panic!("terminal sent a text message {t:?}"),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                    Some(Ok(_)) => {}
                }
            },
        }
    }

    /// Decodes one handshake item, reading as needed; `None` when closed.
    pub async fn decode<V>(
        &mut self,
        f: impl Fn(&mut Reader<'_>) -> Result<V, ReadError>,
    ) -> Option<V> {
        loop {
            match try_decode(&self.buf, &f) {
                Ok(Some((v, n))) => {
                    self.buf.drain(..n);
                    return Some(v);
                }
                Ok(None) => {
                    let more = self.chunk().await?;
                    self.buf.extend_from_slice(&more);
                }
                Err(e) => panic!("terminal sent malformed handshake bytes: {e}"),
            }
        }
    }

    /// Runs the handshake answering `answer` to the version and using
    /// `password` if VNC Authentication is offered.
    pub async fn handshake(&mut self, answer: Version, password: Option<&str>) -> Outcome {
        let Some(server) = self.decode(read_version).await else {
            return Outcome::Closed;
        };
        assert_eq!(server, (3, 8), "the mock offers 3.8");
        self.send(answer.wire()).await;
        let types: Vec<u8> = if answer == Version::V3_3 {
            match self.decode(|r| r.u32()).await {
                None => return Outcome::Closed,
                Some(0) => return Outcome::Refused(self.reason().await),
                Some(t) => vec![u8::try_from(t).expect("type fits u8")],
            }
        } else {
            match self.decode(|r| r.u8()).await {
                None => return Outcome::Closed,
                Some(0) => return Outcome::Refused(self.reason().await),
                Some(n) => match self.decode(|r| Ok(r.take(usize::from(n))?.to_vec())).await {
                    None => return Outcome::Closed,
                    Some(t) => t,
                },
            }
        };
        let vnc = types.contains(&2);
        let chosen = if vnc { 2 } else { 1 };
        assert!(types.contains(&chosen), "offered {types:?}");
        if answer != Version::V3_3 {
            self.send(&[chosen]).await;
        }
        if vnc {
            let Some(challenge) = self.decode(|r| r.array::<16>()).await else {
                return Outcome::Closed;
            };
            let pw = password.unwrap_or("");
            let resp = vnc_auth_response(pw.as_bytes(), &challenge);
            self.send(&resp).await;
        }
        if answer == Version::V3_8 || vnc {
            match self.decode(|r| r.u32()).await {
                None => return Outcome::Closed,
                Some(0) => {}
                Some(_) => {
                    let reason = if answer == Version::V3_8 {
                        self.reason().await
                    } else {
                        None
                    };
                    return Outcome::Refused(reason);
                }
            }
        }
        self.send(&[0]).await; // ClientInit: exclusive
        let Some(init) = self.decode(|r| ServerInit::read(r, &Limits::DEFAULT)).await else {
            return Outcome::Closed;
        };
        self.fb = Framebuffer::new(init.width, init.height, &Limits::DEFAULT).expect("fb");
        self.init = Some(init);
        let rest = std::mem::take(&mut self.buf);
        self.dec.feed(&rest).expect("feed");
        Outcome::Admitted
    }

    pub async fn reason(&mut self) -> Option<String> {
        self.decode(|r| {
            let n = r.u32()?;
            Ok(String::from_utf8_lossy(r.take(n as usize)?).into_owned())
        })
        .await
    }

    /// SetPixelFormat (32-bit true colour) and SetEncodings.
    pub async fn setup(&mut self, encodings: &[i32]) {
        self.msg(ClientMessage::SetPixelFormat(PixelFormat::RGB888))
            .await;
        self.msg(ClientMessage::SetEncodings(encodings.to_vec()))
            .await;
    }

    pub async fn request(&mut self, incremental: bool, rect: Rect) {
        self.msg(ClientMessage::FramebufferUpdateRequest { incremental, rect })
            .await;
    }

    pub fn screen(&self) -> Rect {
        self.fb.bounds()
    }

    /// Decodes until a whole FramebufferUpdate arrived; `None` if closed.
    pub async fn update(&mut self) -> Option<Vec<RectInfo>> {
        let mut rects = Vec::new();
        loop {
            match self.dec.next_event(&mut self.fb) {
                Ok(Some(ServerEvent::UpdateEnd { .. })) => return Some(rects),
                Ok(Some(ServerEvent::Rect(info))) => rects.push(info),
                Ok(Some(ServerEvent::ColourMap { first, count })) => {
                    self.colour_maps.push((first, count))
                }
                Ok(Some(ServerEvent::Cursor(c))) => self.cursors.push(*c),
                Ok(Some(_)) => {}
                Ok(None) => {
                    let more = self.chunk().await?;
                    self.dec.feed(&more).expect("feed");
                }
                Err(e) => panic!("terminal sent an undecodable stream: {e}"),
            }
        }
    }

    /// A full update of the whole screen.
    pub async fn full(&mut self) -> Vec<RectInfo> {
        let r = self.screen();
        self.request(false, r).await;
        within("full update", self.update())
            .await
            .expect("connection open")
    }

    /// Waits until the terminal closes the connection (discarding data).
    pub async fn closed(&mut self) {
        while self.chunk().await.is_some() {}
    }

    pub async fn key(&mut self, key: u32) {
        self.msg(ClientMessage::KeyEvent { down: true, key }).await;
        self.msg(ClientMessage::KeyEvent { down: false, key }).await;
    }

    pub async fn click(&mut self, x: u16, y: u16) {
        self.msg(ClientMessage::PointerEvent { buttons: 1, x, y })
            .await;
        self.msg(ClientMessage::PointerEvent { buttons: 0, x, y })
            .await;
    }

    /// Drops the connection without any goodbye (TCP reset / WebSocket
    /// without close frame).
    pub fn abort(self) {
        match self.wire {
            Wire::Tcp(s) => {
                s.set_zero_linger().expect("linger");
                drop(s);
            }
            Wire::Ws(ws) => drop(ws),
        }
    }

    /// Closes cleanly (TCP FIN / WebSocket close frame) and waits for the end.
    pub async fn close_clean(mut self) {
        match &mut self.wire {
            Wire::Tcp(s) => {
                let _ = s.shutdown().await;
            }
            Wire::Ws(ws) => {
                let _ = WebSocketStream::close(&mut **ws, None).await;
            }
        }
        within("close", self.closed()).await;
    }
}

pub async fn start(cfg: MockConfig) -> MockHandle {
    MockTerminal::start(cfg).await.expect("mock starts")
}

pub fn small(cfg: MockConfig) -> MockConfig {
    MockConfig {
        width: 320,
        height: 240,
        rfb_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..cfg
    }
}

pub async fn admitted_tcp(mock: &MockHandle) -> Console {
    let mut c = Console::tcp(mock.rfb_addr().expect("rfb listener")).await;
    let o = within("handshake", c.handshake(Version::V3_8, None)).await;
    assert!(matches!(o, Outcome::Admitted), "{o:?}");
    c
}

pub async fn admitted_ws(mock: &MockHandle) -> Console {
    let mut c = Console::ws(mock).await;
    let o = within("handshake", c.handshake(Version::V3_8, None)).await;
    assert!(matches!(o, Outcome::Admitted), "{o:?}");
    c
}

/// Waits until the lock view satisfies `pred`.
pub async fn lock_until(mock: &MockHandle, pred: impl Fn(&LockView) -> bool) -> LockView {
    let mut rx = mock.lock_view();
    let v = within("lock state", rx.wait_for(|v| pred(v)))
        .await
        .expect("mock alive");
    *v
}

/// Requests incremental updates until the console's image equals the
/// terminal's screen; returns every rectangle received on the way.
pub async fn catch_up(c: &mut Console, mock: &MockHandle) -> Vec<RectInfo> {
    let mut all = Vec::new();
    while c.fb != mock.screen() {
        let r = c.screen();
        c.request(true, r).await;
        all.extend(
            within("incremental update", c.update())
                .await
                .expect("open"),
        );
    }
    all
}
