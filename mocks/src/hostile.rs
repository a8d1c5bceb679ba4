//! A hostile terminal: a screen server that misbehaves on purpose, so the
//! harness can be shown to end every such session with a verdict, in bounded
//! time and memory.
//!
//! Each [`Hostile`] case is one misbehaviour. [`HostileTerminal::start`]
//! serves it to every connection on a loopback listener, either as plain RFB
//! over TCP or, for the WebSocket cases, behind a hand-written upgrade so the
//! frames can be as broken as the case wants. Nothing here allocates what it
//! announces: huge lengths are written as headers only, and the zlib bomb is
//! produced as a compact deflate stream, never inflated.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// How long a hostile connection is held open at most (the harness is
/// expected to give up long before).
pub const HOLD: Duration = Duration::from_secs(120);
/// Longest upgrade request read.
const MAX_REQUEST: usize = 16 * 1024;

/// One way of misbehaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hostile {
    /// ServerInit announces a 65535x65535 screen.
    HugeScreen,
    /// ServerInit announces a desktop name of 4 GiB - 1.
    HugeName,
    /// ServerInit is cut off halfway, then nothing more is sent.
    Truncated,
    /// The first update is a ZRLE rectangle whose zlib data inflates to
    /// 256 MiB, far beyond the rectangle.
    ZlibBomb,
    /// The protocol version arrives one byte per second.
    Trickle,
    /// After the first request, updates of 65535 one-pixel rectangles keep
    /// coming without end.
    EndlessRects,
    /// A ServerCutText claiming 2 GiB of text.
    HugeCutText,
    /// The WebSocket carries the protocol version in a text frame.
    WsTextFrame,
    /// A binary WebSocket frame announcing 100 MiB (header only).
    WsHugeFrame,
    /// A screen (1024x768 unless started with another size, e.g. the
    /// harness's 4096x4096 limit) whose every FramebufferUpdateRequest is answered
    /// at once by one RRE rectangle of a new colour over the requested
    /// area: 20 bytes that repaint every requested pixel, as fast as the
    /// harness asks. For measuring the harness's memory and time under a
    /// screen that never stops changing; it never sends an encoding other
    /// than RRE, requested or not.
    RreFlood,
}

impl Hostile {
    /// Every case.
    pub const ALL: &'static [Hostile] = &[
        Hostile::HugeScreen,
        Hostile::HugeName,
        Hostile::Truncated,
        Hostile::ZlibBomb,
        Hostile::Trickle,
        Hostile::EndlessRects,
        Hostile::HugeCutText,
        Hostile::WsTextFrame,
        Hostile::WsHugeFrame,
        Hostile::RreFlood,
    ];

    /// The case's name (as on the command line).
    pub fn name(&self) -> &'static str {
        match self {
            Hostile::HugeScreen => "huge-screen",
            Hostile::HugeName => "huge-name",
            Hostile::Truncated => "truncated",
            Hostile::ZlibBomb => "zlib-bomb",
            Hostile::Trickle => "trickle",
            Hostile::EndlessRects => "endless-rects",
            Hostile::HugeCutText => "huge-cut-text",
            Hostile::WsTextFrame => "ws-text-frame",
            Hostile::WsHugeFrame => "ws-huge-frame",
            Hostile::RreFlood => "rre-flood",
        }
    }

    /// The case named `s`.
    pub fn parse(s: &str) -> Option<Hostile> {
        Hostile::ALL.iter().copied().find(|h| h.name() == s)
    }

    /// Whether the case is served over WebSocket (`ws://`) rather than TCP.
    pub fn over_websocket(&self) -> bool {
        matches!(self, Hostile::WsTextFrame | Hostile::WsHugeFrame)
    }
}

/// The hostile terminal.
pub struct HostileTerminal;

/// The screen [`Hostile::RreFlood`] announces unless told otherwise.
pub const RRE_FLOOD_SCREEN: (u16, u16) = (1024, 768);

/// A running hostile terminal.
pub struct HostileHandle {
    addr: SocketAddr,
    case: Hostile,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl HostileTerminal {
    /// Binds `listen` and serves `case` to every connection.
    pub async fn start(case: Hostile, listen: SocketAddr) -> std::io::Result<HostileHandle> {
        Self::start_with_screen(case, listen, RRE_FLOOD_SCREEN).await
    }

    /// Like [`Self::start`]; the cases that serve a working screen
    /// ([`Hostile::RreFlood`]) announce `screen` (width, height). The
    /// others keep the size their misbehaviour needs.
    pub async fn start_with_screen(
        case: Hostile,
        listen: SocketAddr,
        screen: (u16, u16),
    ) -> std::io::Result<HostileHandle> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, case, screen, stopped));
        Ok(HostileHandle {
            addr,
            case,
            stop,
            task,
        })
    }
}

impl HostileHandle {
    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The screen URL (`ws://` for the WebSocket cases, else `rfb://`).
    pub fn screen_url(&self) -> String {
        if self.case.over_websocket() {
            format!("ws://{}/s3-01/v1/screen", self.addr)
        } else {
            format!("rfb://{}", self.addr)
        }
    }

    /// A screen-only declaration for this terminal.
    pub fn declaration_toml(&self) -> String {
        format!(
            "# Declaration of the s301 hostile terminal ({}).\n\n[terminal]\n\
             vendor = \"s301\"\nservice = \"hostile\"\nmodel = \"{}\"\nversion = \"0\"\n\n\
             [screen]\nurl = \"{}\"\nexclusivity = \"refuse\"\n\n[operation]\n\
             supported = true\n\n[[operation.probe]]\nkind = \"type\"\ntext = \"S301\"\n\
             watch = [0, 0, 64, 64]\n",
            self.case.name(),
            self.case.name(),
            self.screen_url()
        )
    }

    /// Stops accepting and ends every connection.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(3), self.task).await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    case: Hostile,
    screen: (u16, u16),
    mut stopped: watch::Receiver<bool>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            acc = listener.accept() => {
                let Ok((sock, _)) = acc else { continue };
                let mut stop = stopped.clone();
                conns.spawn(async move {
                    tokio::select! {
                        _ = stop.changed() => {}
                        _ = tokio::time::timeout(HOLD, serve(sock, case, screen)) => {}
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
}

/// Serves one connection; returns when the harness goes away (a write or
/// read fails) or the case is over.
async fn serve(mut s: TcpStream, case: Hostile, screen: (u16, u16)) -> std::io::Result<()> {
    match case {
        Hostile::WsTextFrame | Hostile::WsHugeFrame => {
            upgrade(&mut s).await?;
            if case == Hostile::WsTextFrame {
                let payload = b"RFB 003.008\n";
                let mut f = vec![0x81, payload.len() as u8];
                f.extend_from_slice(payload);
                s.write_all(&f).await?;
            } else {
                // FIN + binary, 64-bit length of 100 MiB; only the first
                // bytes of the payload follow.
                let mut f = vec![0x82, 127];
                f.extend_from_slice(&(100u64 * 1024 * 1024).to_be_bytes());
                f.extend_from_slice(b"RFB 003.008\n");
                s.write_all(&f).await?;
            }
            drain(&mut s).await
        }
        Hostile::Trickle => {
            for b in b"RFB 003.008\n".iter().cycle() {
                s.write_all(&[*b]).await?;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Ok(())
        }
        _ => {
            handshake(&mut s).await?;
            match case {
                Hostile::HugeScreen => {
                    s.write_all(&server_init(65535, 65535, 7)).await?;
                    s.write_all(b"hostile").await?;
                }
                Hostile::HugeName => {
                    s.write_all(&server_init(1024, 768, u32::MAX)).await?;
                    s.write_all(b"a name that never ends ").await?;
                }
                Hostile::Truncated => {
                    let init = server_init(1024, 768, 7);
                    s.write_all(init.get(..10).unwrap_or(&init)).await?;
                }
                Hostile::ZlibBomb => {
                    s.write_all(&server_init(1024, 768, 7)).await?;
                    s.write_all(b"hostile").await?;
                    wait_for_request(&mut s).await?;
                    let bomb = deflate_zeros(256 * 1024 * 1024);
                    let mut u = update_header(1);
                    u.extend_from_slice(&rect_header(0, 0, 1024, 768, 16));
                    u.extend_from_slice(&(bomb.len() as u32).to_be_bytes());
                    s.write_all(&u).await?;
                    s.write_all(&bomb).await?;
                }
                Hostile::EndlessRects => {
                    s.write_all(&server_init(1024, 768, 7)).await?;
                    s.write_all(b"hostile").await?;
                    wait_for_request(&mut s).await?;
                    // One update's worth of 1x1 Raw rectangles, sent again
                    // and again, read side ignored.
                    let mut rects = Vec::with_capacity(65535 * 16);
                    for i in 0..65535u32 {
                        let (x, y) = ((i % 1024) as u16, ((i / 1024) % 768) as u16);
                        rects.extend_from_slice(&rect_header(x, y, 1, 1, 0));
                        rects.extend_from_slice(&[0x20, 0x40, 0x60, 0]);
                    }
                    let (mut r, mut w) = s.into_split();
                    tokio::spawn(async move {
                        let mut sink = [0u8; 4096];
                        while matches!(r.read(&mut sink).await, Ok(n) if n > 0) {}
                    });
                    loop {
                        w.write_all(&update_header(65535)).await?;
                        w.write_all(&rects).await?;
                    }
                }
                Hostile::HugeCutText => {
                    s.write_all(&server_init(1024, 768, 7)).await?;
                    s.write_all(b"hostile").await?;
                    let mut m = vec![3, 0, 0, 0];
                    m.extend_from_slice(&0x8000_0000u32.to_be_bytes());
                    m.extend_from_slice(b"just the beginning of two gibibytes");
                    s.write_all(&m).await?;
                }
                Hostile::RreFlood => {
                    let (w, h) = screen;
                    s.write_all(&server_init(w, h, 7)).await?;
                    s.write_all(b"hostile").await?;
                    return rre_flood(s).await;
                }
                _ => {}
            }
            drain(&mut s).await
        }
    }
}

/// Answers every FramebufferUpdateRequest with one RRE rectangle over the
/// requested area in the next colour, following the client's messages
/// (and its pixel size from SetPixelFormat) until it goes away.
async fn rre_flood(mut s: TcpStream) -> std::io::Result<()> {
    let mut inbuf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut bytes_per_pixel = 4usize;
    let mut colour: u32 = 0;
    loop {
        // One whole client message at the front of `inbuf`, or read more.
        let need = match inbuf.first() {
            None => None,
            Some(0) => Some(20),
            Some(2) => inbuf
                .get(2..4)
                .map(|n| 4 + 4 * usize::from(u16::from_be_bytes([n[0], n[1]])))
                .or(Some(4)),
            Some(3) => Some(10),
            Some(4) => Some(8),
            Some(5) => Some(6),
            Some(6) => inbuf
                .get(4..8)
                .map(|n| 8 + u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize)
                .or(Some(8)),
            Some(_) => return Ok(()),
        };
        match need {
            Some(n) if inbuf.len() >= n => {
                let msg: Vec<u8> = inbuf.drain(..n).collect();
                match msg.first() {
                    Some(0) => {
                        bytes_per_pixel = usize::from(msg.get(4).copied().unwrap_or(32) / 8).max(1)
                    }
                    Some(3) => {
                        let at = |i: usize| {
                            u16::from_be_bytes([
                                msg.get(i).copied().unwrap_or(0),
                                msg.get(i + 1).copied().unwrap_or(0),
                            ])
                        };
                        colour = colour.wrapping_add(0x0012_3457);
                        let mut u = update_header(1);
                        u.extend_from_slice(&rect_header(at(2), at(4), at(6), at(8), 2));
                        u.extend_from_slice(&0u32.to_be_bytes()); // no sub-rectangles
                        u.extend_from_slice(
                            colour
                                .to_le_bytes()
                                .get(..bytes_per_pixel.min(4))
                                .unwrap_or(&[]),
                        );
                        s.write_all(&u).await?;
                    }
                    _ => {}
                }
            }
            // A cut text too long to keep: this server only plays screens.
            Some(n) if n > 1024 * 1024 => return Ok(()),
            _ => {
                let n = s.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(());
                }
                inbuf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
            }
        }
    }
}

/// RFB 3.8 with security type None, up to and including ClientInit.
async fn handshake(s: &mut TcpStream) -> std::io::Result<()> {
    s.write_all(b"RFB 003.008\n").await?;
    let mut version = [0u8; 12];
    s.read_exact(&mut version).await?;
    s.write_all(&[1, 1]).await?;
    let mut choice = [0u8; 1];
    s.read_exact(&mut choice).await?;
    s.write_all(&0u32.to_be_bytes()).await?;
    let mut client_init = [0u8; 1];
    s.read_exact(&mut client_init).await?;
    Ok(())
}

/// ServerInit up to and including the name length (32 bpp, depth 24).
fn server_init(w: u16, h: u16, name_len: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(24);
    v.extend_from_slice(&w.to_be_bytes());
    v.extend_from_slice(&h.to_be_bytes());
    v.extend_from_slice(&[32, 24, 0, 1]);
    v.extend_from_slice(&255u16.to_be_bytes());
    v.extend_from_slice(&255u16.to_be_bytes());
    v.extend_from_slice(&255u16.to_be_bytes());
    v.extend_from_slice(&[16, 8, 0, 0, 0, 0]);
    v.extend_from_slice(&name_len.to_be_bytes());
    v
}

fn update_header(rects: u16) -> Vec<u8> {
    let mut v = vec![0, 0];
    v.extend_from_slice(&rects.to_be_bytes());
    v
}

fn rect_header(x: u16, y: u16, w: u16, h: u16, encoding: i32) -> [u8; 12] {
    let mut r = [0u8; 12];
    r[0..2].copy_from_slice(&x.to_be_bytes());
    r[2..4].copy_from_slice(&y.to_be_bytes());
    r[4..6].copy_from_slice(&w.to_be_bytes());
    r[6..8].copy_from_slice(&h.to_be_bytes());
    r[8..12].copy_from_slice(&encoding.to_be_bytes());
    r
}

/// Reads until a FramebufferUpdateRequest (type 3) has likely arrived: the
/// harness sends SetPixelFormat, SetEncodings and a request right after
/// ServerInit. Bounded by the connection's hold time.
async fn wait_for_request(s: &mut TcpStream) -> std::io::Result<()> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    // SetPixelFormat (20) + SetEncodings (4 + 4n) + request (10).
    while seen.len() < 34 || !seen.contains(&3) {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if seen.len() < 64 * 1024 {
            seen.extend_from_slice(buf.get(..n).unwrap_or(&[]));
        }
    }
    Ok(())
}

/// Reads and discards until the peer closes.
async fn drain(s: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    while s.read(&mut buf).await? > 0 {}
    Ok(())
}

/// Answers a WebSocket upgrade request (with subprotocol `binary` when
/// offered).
async fn upgrade(s: &mut TcpStream) -> std::io::Result<()> {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await?;
        if n == 0 || req.len() > MAX_REQUEST {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        req.extend_from_slice(buf.get(..n).unwrap_or(&[]));
    }
    let text = String::from_utf8_lossy(&req);
    let header = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let key = header("Sec-WebSocket-Key").ok_or(std::io::ErrorKind::InvalidData)?;
    let proto = header("Sec-WebSocket-Protocol")
        .filter(|p| p.split(',').any(|x| x.trim() == "binary"))
        .map(|_| "Sec-WebSocket-Protocol: binary\r\n")
        .unwrap_or("");
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{proto}\r\n",
        derive_accept_key(key.as_bytes())
    );
    s.write_all(answer.as_bytes()).await
}

/// A zlib stream that inflates to `n` zero bytes, built directly: one fixed
/// Huffman block of a literal zero and back-references of length 258 at
/// distance 1 (13 bits each), so 256 MiB fit in about 1.7 MB.
pub fn deflate_zeros(n: usize) -> Vec<u8> {
    let mut w = BitWriter::default();
    w.out.extend_from_slice(&[0x78, 0x01]);
    w.bits(1, 1); // BFINAL
    w.bits(1, 2); // BTYPE = fixed Huffman
    w.code(0x30, 8); // literal 0
    let mut left = n.saturating_sub(1);
    while left >= 258 {
        w.code(0xC5, 8); // length code 285 = 258
        w.code(0, 5); // distance code 0 = 1
        left -= 258;
    }
    for _ in 0..left {
        w.code(0x30, 8);
    }
    w.code(0, 7); // end of block
    if w.nbits > 0 {
        w.out.push(w.acc as u8);
    }
    // Adler-32 of n zeros: a = 1, b = n mod 65521.
    let b = (n % 65521) as u32;
    w.out.extend_from_slice(&((b << 16) | 1).to_be_bytes());
    w.out
}

#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u32,
    nbits: u32,
}

impl BitWriter {
    /// Appends `n` bits of `v`, least significant first.
    fn bits(&mut self, v: u32, n: u32) {
        self.acc |= v << self.nbits;
        self.nbits += n;
        while self.nbits >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.nbits -= 8;
        }
    }

    /// Appends a Huffman code of `n` bits, most significant first.
    fn code(&mut self, c: u32, n: u32) {
        for i in (0..n).rev() {
            self.bits((c >> i) & 1, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for h in Hostile::ALL {
            assert_eq!(Hostile::parse(h.name()), Some(*h));
        }
        assert_eq!(Hostile::parse("nice"), None);
    }

    #[test]
    fn deflate_zeros_is_small_and_starts_like_zlib() {
        let z = deflate_zeros(1 << 20);
        assert_eq!(z.get(..2), Some(&[0x78u8, 0x01][..]));
        // 13 bits per 258 bytes.
        assert!(z.len() < (1 << 20) / 150, "{}", z.len());
    }
}

/// One way of pushing reports badly to the harness's receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostilePush {
    /// A push announcing a 100 MB body, streamed until the receiver answers.
    HugeBody,
    /// A push whose body arrives one byte every 200 ms.
    Slowloris,
    /// A push whose body is not UTF-8.
    InvalidUtf8,
    /// An HTTP/1.0 push without Content-Length (body ended by closing).
    Http10NoLength,
}

impl HostilePush {
    /// Every case.
    pub const ALL: &'static [HostilePush] = &[
        HostilePush::HugeBody,
        HostilePush::Slowloris,
        HostilePush::InvalidUtf8,
        HostilePush::Http10NoLength,
    ];

    /// The case's name.
    pub fn name(&self) -> &'static str {
        match self {
            HostilePush::HugeBody => "huge-push",
            HostilePush::Slowloris => "slowloris-push",
            HostilePush::InvalidUtf8 => "invalid-utf8-push",
            HostilePush::Http10NoLength => "http10-push",
        }
    }
}

/// Sends the hostile push `case` to the receiver at `addr` (path
/// `/s3-01/v1/reports`) and returns the status the receiver answered, or
/// `None` when it closed without an answer. Gives up after `limit`.
pub async fn hostile_push(
    case: HostilePush,
    addr: SocketAddr,
    limit: Duration,
) -> std::io::Result<Option<u16>> {
    let s = TcpStream::connect(addr).await?;
    let (mut r, mut w) = s.into_split();
    let writer = async move {
        // A write fails when the receiver gives up on the push; its answer
        // (if any) is still read by the reader.
        let _ = write_push(&mut w, case).await;
        std::future::pending::<()>().await;
    };
    let reader = async move {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            let n = match r.read(&mut chunk).await {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
                Err(e) => return Err(e),
            };
            if n == 0 {
                break;
            }
            buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
            if buf.windows(4).any(|x| x == b"\r\n\r\n") || buf.len() > MAX_REQUEST {
                break;
            }
        }
        let status = std::str::from_utf8(buf.get(..12).unwrap_or(&[]))
            .ok()
            .and_then(|l| l.get(9..12))
            .and_then(|c| c.parse::<u16>().ok());
        Ok(status)
    };
    let both = async {
        tokio::select! {
            st = reader => st,
            _ = writer => Ok(None),
        }
    };
    tokio::time::timeout(limit, both)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

async fn write_push(
    w: &mut tokio::net::tcp::OwnedWriteHalf,
    case: HostilePush,
) -> std::io::Result<()> {
    match case {
        HostilePush::HugeBody => {
            let head = "POST /s3-01/v1/reports HTTP/1.1\r\nHost: t\r\n\
                        Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n";
            w.write_all(head.as_bytes()).await?;
            let chunk = vec![b' '; 64 * 1024];
            let mut sent = 0usize;
            while sent < 100_000_000 {
                w.write_all(&chunk).await?;
                sent += chunk.len();
            }
        }
        HostilePush::Slowloris => {
            let head = "POST /s3-01/v1/reports HTTP/1.1\r\nHost: t\r\n\
                        Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
            w.write_all(head.as_bytes()).await?;
            loop {
                w.write_all(b" ").await?;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        HostilePush::InvalidUtf8 => {
            let body = b"{\"report_id\":\"\xff\xfe\",\"revision\":1}";
            let head = format!(
                "POST /s3-01/v1/reports HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            w.write_all(head.as_bytes()).await?;
            w.write_all(body).await?;
        }
        HostilePush::Http10NoLength => {
            let head = "POST /s3-01/v1/reports HTTP/1.0\r\nHost: t\r\n\
                        Content-Type: application/json\r\n\r\n";
            w.write_all(head.as_bytes()).await?;
            w.write_all(br#"{"report_id":"H-1","revision":1}"#).await?;
            w.shutdown().await?;
        }
    }
    Ok(())
}

/// One way of answering the harness's requests to the data API badly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostileAnswer {
    /// `200` with a JSON body labelled `text/html`.
    WrongContentType,
    /// An HTTP/1.0 `200` without Content-Length whose body (100 MB of JSON
    /// array padding) ends only when the connection closes.
    Http10Endless,
}

impl HostileAnswer {
    /// Every case.
    pub const ALL: &'static [HostileAnswer] = &[
        HostileAnswer::WrongContentType,
        HostileAnswer::Http10Endless,
    ];

    /// The case's name.
    pub fn name(&self) -> &'static str {
        match self {
            HostileAnswer::WrongContentType => "wrong-content-type",
            HostileAnswer::Http10Endless => "http10-answer",
        }
    }
}

/// A data API that answers every request with `case`; returns its base URL
/// (`http://ADDR/s3-01/v1`) and the task serving it (abort it to stop).
pub async fn hostile_data_api(case: HostileAnswer) -> std::io::Result<(String, JoinHandle<()>)> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((s, _)) = listener.accept().await {
            conns.spawn(answer_badly(s, case));
            while conns.try_join_next().is_some() {}
        }
    });
    Ok((format!("http://{addr}/s3-01/v1"), task))
}

/// Reads one request head off `s` and answers it with `case`, then closes;
/// gives up after [`HOLD`] or when the client goes away. The mock terminal
/// uses it for GETs of reports under [`HostileData::Answer`].
pub async fn answer_badly(mut s: TcpStream, case: HostileAnswer) {
    let _ = tokio::time::timeout(HOLD, answer(&mut s, case)).await;
}

async fn answer(s: &mut TcpStream, case: HostileAnswer) -> std::io::Result<()> {
    // Read the request head (the body, if any, is ignored).
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await?;
        if n == 0 || req.len() > MAX_REQUEST {
            return Ok(());
        }
        req.extend_from_slice(buf.get(..n).unwrap_or(&[]));
    }
    match case {
        HostileAnswer::WrongContentType => {
            let body = br#"{"report_id":"H-1","revision":1}"#;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).await?;
            s.write_all(body).await?;
        }
        HostileAnswer::Http10Endless => {
            s.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[")
                .await?;
            let chunk = b"0,".repeat(32 * 1024);
            let mut sent = 0usize;
            while sent < 100_000_000 {
                s.write_all(&chunk).await?;
                sent += chunk.len();
            }
            s.write_all(b"0]").await?;
        }
    }
    s.shutdown().await
}

/// A misbehaving data side for the mock terminal
/// ([`crate::MockConfig::hostile_data`]), while the rest of it works: either
/// every push is a hostile push, or every GET of a report (or of the list)
/// gets a hostile answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostileData {
    /// Whenever the mock is to push a report, it sends this push instead
    /// (once: a refused hostile push is not retried).
    Push(HostilePush),
    /// Every `GET /s3-01/v1/reports` and `GET /s3-01/v1/reports/{id}` is
    /// answered this way; hooks, dispatch input and pushes work as usual.
    Answer(HostileAnswer),
}

impl HostileData {
    /// Every case: the pushes, then the answers.
    pub const ALL: &'static [HostileData] = &[
        HostileData::Push(HostilePush::HugeBody),
        HostileData::Push(HostilePush::Slowloris),
        HostileData::Push(HostilePush::InvalidUtf8),
        HostileData::Push(HostilePush::Http10NoLength),
        HostileData::Answer(HostileAnswer::WrongContentType),
        HostileData::Answer(HostileAnswer::Http10Endless),
    ];

    /// The case's name (as on the command line), e.g. `slowloris-push`.
    pub fn name(&self) -> &'static str {
        match self {
            HostileData::Push(p) => p.name(),
            HostileData::Answer(a) => a.name(),
        }
    }

    /// The case named `s`.
    pub fn parse(s: &str) -> Option<HostileData> {
        HostileData::ALL.iter().copied().find(|h| h.name() == s)
    }
}

impl std::fmt::Display for HostileData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod data_tests {
    use super::*;

    #[test]
    fn data_case_names_round_trip_and_cover_every_push_and_answer() {
        for h in HostileData::ALL {
            assert_eq!(HostileData::parse(h.name()), Some(*h));
        }
        let pushes = HostileData::ALL
            .iter()
            .filter(|h| matches!(h, HostileData::Push(_)))
            .count();
        assert_eq!(pushes, HostilePush::ALL.len());
        assert_eq!(
            HostileData::ALL.len(),
            HostilePush::ALL.len() + HostileAnswer::ALL.len()
        );
        assert_eq!(HostileData::parse("zlib-bomb"), None);
    }
}
