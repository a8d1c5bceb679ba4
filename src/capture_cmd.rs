//! `s301 capture URL OUT.png`: one full-screen capture from a terminal, for
//! a vendor looking at what a console is sent and for a witness making a
//! reference image.
//!
//! It goes through exactly what the checks use: the screen binding
//! [`screen_from_decl`] builds from a `[screen]` section made of the
//! arguments, with the binding's limits,
//! one console opened once (a refusal, a failed authentication, a protocol
//! violation or a timeout ends it; nothing is retried, least of all an
//! authentication), then a non-incremental request for the whole screen,
//! repeated only when an answer leaves pixels unpainted (see
//! [`whole_screen`]).
//! The image is written as PNG (fast compression) through a temporary file
//! renamed into place, so `OUT.png` is either the whole capture or
//! untouched; the session is closed meanwhile.
//!
//! Exit status: 0 written; 1 the capture failed (the terminal refused or
//! broke off, timed out, or the file could not be written); 2 usage error
//! (nothing was connected).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use s301_harness::binding::screen::{valid_size, Image, Rect};
use s301_harness::binding::tls::{TlsDecl, TlsSettings};
use s301_harness::binding::{
    screen_from_decl, BindingError, CloseHow, Console, ConsoleEvent, DamageKind, OpenError,
    ScreenBinding, ScreenOptions, Stage, UpdateInfo,
};
use s301_harness::checks::support::describe_close;
use s301_harness::config::declaration::{Exclusivity, PixelFormatChoice, ScreenDecl};
use s301_harness::config::scenario::Scenario;

use crate::cli::CaptureArgs;
use crate::{EXIT_FAIL, EXIT_PASS, EXIT_USAGE};

/// The console label the capture's session carries.
const LABEL: &str = "capture";

/// Why a capture did not produce its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// The arguments cannot work; nothing was connected (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The terminal did not give a capture: refused, broke the protocol,
    /// closed, or was too slow (exit 1).
    #[error("{0}")]
    Terminal(String),
    /// The image could not be encoded or written (exit 1).
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The output file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

impl CaptureError {
    fn exit_code(&self) -> u8 {
        match self {
            CaptureError::Usage(_) => EXIT_USAGE,
            CaptureError::Terminal(_) | CaptureError::Write { .. } => EXIT_FAIL,
        }
    }
}

/// What a successful capture reports.
#[derive(Debug, Clone)]
pub struct Captured {
    /// Width of the image, in pixels.
    pub width: u16,
    /// Height of the image, in pixels.
    pub height: u16,
    /// The image as received, 8-bit RGB row by row (what the PNG holds).
    pub rgb: Vec<u8>,
    /// Desktop name (lossy UTF-8), transport, RFB version and security type.
    pub name: String,
    /// `"tcp"`, `"ws"`, `"wss"`.
    pub transport: String,
    /// `"3.8"` etc.
    pub version: String,
    /// Security type used.
    pub security: String,
    /// The pixel format in use, described.
    pub pixel_format: String,
    /// The updates that made up the answer (a terminal may send the
    /// pointer's shape in one of its own first, as TigerVNC does).
    pub updates: Vec<UpdateInfo>,
    /// Full-screen requests sent (more than one when an answer left pixels
    /// unpainted).
    pub requests: usize,
    /// Milliseconds from start to the console being admitted (ServerInit).
    pub open_ms: f64,
    /// Milliseconds from the request to the last pixel being applied.
    pub update_ms: f64,
}

/// Which pixels of the screen the answer has painted so far: one bit a
/// pixel, each row a whole number of words, so a rectangle is marked a
/// word at a time. The screen size is one the binding accepted, so the
/// bitmap is bounded by the limits' pixel count.
#[derive(Debug, Clone)]
pub struct Painted {
    width: u32,
    height: u32,
    words: usize,
    bits: Vec<u64>,
    count: u64,
}

impl Painted {
    /// Nothing painted on a `width` x `height` screen.
    pub fn new(width: u16, height: u16) -> Self {
        let words = usize::from(width).div_ceil(64);
        Painted {
            width: u32::from(width),
            height: u32::from(height),
            words,
            bits: vec![0; words * usize::from(height)],
            count: 0,
        }
    }

    /// Marks the part of `r` on the screen.
    pub fn add(&mut self, r: Rect) {
        let x0 = u32::from(r.x).min(self.width);
        let x1 = (u32::from(r.x) + u32::from(r.w)).min(self.width);
        let y0 = u32::from(r.y).min(self.height);
        let y1 = (u32::from(r.y) + u32::from(r.h)).min(self.height);
        if x0 >= x1 {
            return;
        }
        for y in y0..y1 {
            let row = y as usize * self.words;
            let mut x = x0;
            while x < x1 {
                let (w, b) = ((x / 64) as usize, x % 64);
                let n = (64 - b).min(x1 - x);
                let mask = if n == 64 {
                    u64::MAX
                } else {
                    ((1u64 << n) - 1) << b
                };
                if let Some(word) = self.bits.get_mut(row + w) {
                    self.count += u64::from((mask & !*word).count_ones());
                    *word |= mask;
                }
                x += n;
            }
        }
    }

    /// Pixels not painted yet.
    pub fn left(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height) - self.count
    }
}

/// `--pixel-format`: the declaration's names.
pub fn parse_pixel_format(s: &str) -> Result<PixelFormatChoice, String> {
    Ok(match s {
        "rgb888" => PixelFormatChoice::Rgb888,
        "rgb565" => PixelFormatChoice::Rgb565,
        "colour-map-8" => PixelFormatChoice::ColourMap8,
        "native" => PixelFormatChoice::Native,
        _ => {
            return Err(format!(
                "unknown pixel format \"{s}\"; expected rgb888, rgb565, colour-map-8 or native"
            ))
        }
    })
}

/// Runs `s301 capture`.
pub async fn run(args: CaptureArgs) -> ExitCode {
    let started = Instant::now();
    let result = match prepare(&args) {
        Ok((binding, timeouts)) => match capture(binding.as_ref(), timeouts, started).await {
            Ok((mut c, console)) => {
                // Leave the session while the image is encoded and written.
                let closing = tokio::spawn(console.close(CloseHow::Clean));
                let out = args.out.clone();
                let (w, h, rgb) = (c.width, c.height, std::mem::take(&mut c.rgb));
                let written = tokio::task::spawn_blocking(move || write(&out, w, h, &rgb))
                    .await
                    .unwrap_or_else(|e| {
                        Err(CaptureError::Write {
                            path: args.out.display().to_string(),
                            reason: format!("the encoder stopped: {e}"),
                        })
                    });
                let _ = closing.await;
                written.map(|bytes| (c, bytes))
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match result {
        Ok((c, bytes)) => {
            crate::out(&summary(&args, &c, bytes, started.elapsed()));
            ExitCode::from(EXIT_PASS)
        }
        Err(e) => {
            eprintln!("s301: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// How long opening the console, and then the full update, may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Connect, upgrade and handshake up to ServerInit.
    pub open: Duration,
    /// From the request to the whole update.
    pub update: Duration,
}

/// Checks the arguments and builds the binding, before anything connects.
fn prepare(args: &CaptureArgs) -> Result<(Arc<dyn ScreenBinding>, Timeouts), CaptureError> {
    let usage = CaptureError::Usage;
    let timeouts = match args.timeout_ms {
        Some(0) => return Err(usage("--timeout-ms must be at least 1".into())),
        Some(ms) => Timeouts {
            open: Duration::from_millis(ms),
            update: Duration::from_millis(ms),
        },
        // ST-01's bounds in the default scenario.
        None => {
            let sc = Scenario::default_embedded()
                .map_err(|e| usage(format!("the built-in scenario: {e}")))?;
            Timeouts {
                open: Duration::from_millis(sc.screen.connect_timeout_ms),
                update: Duration::from_millis(sc.screen.update_timeout_ms),
            }
        }
    };
    let dir = match args.out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(usage(format!(
            "{}: the directory {} does not exist",
            args.out.display(),
            dir.display()
        )));
    }
    if args.out.is_dir() {
        return Err(usage(format!("{} is a directory", args.out.display())));
    }
    let decl = ScreenDecl {
        url: args.url.clone(),
        exclusivity: Exclusivity::Refuse,
        password_env: args.password_env.clone(),
        ignore: Vec::new(),
        pixel_format: args.pixel_format,
    };
    // Checked before the TLS files are read: a bad URL or password says so first.
    screen_from_decl(&decl, ScreenOptions::default()).map_err(|e| {
        usage(match e {
            BindingError::Url { url, reason } => format!("URL {url:?}: {reason}"),
            BindingError::PasswordUnset { var } => {
                format!("--password-env {var}: the variable is not set (export it first)")
            }
            BindingError::PasswordNotUnicode { var } => {
                format!("--password-env {var}: the value is not valid UTF-8")
            }
        })
    })?;
    let wss = args
        .url
        .get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case("wss://"));
    let tls_given = args.ca.is_some() || args.client_cert.is_some() || args.server_name.is_some();
    if wss && args.ca.is_none() {
        return Err(usage(format!(
            "{} is wss://: give --ca FILE, the CA certificate (PEM) that signed the terminal's certificate",
            args.url
        )));
    }
    if !wss && tls_given {
        return Err(usage(format!(
            "--ca, --client-cert and --server-name are for wss:// URLs; {} has no TLS",
            args.url
        )));
    }
    let tls = if wss {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let decl = TlsDecl {
            ca: path(&args.ca),
            client_cert: path(&args.client_cert),
            client_key: path(&args.client_key),
            server_name: args.server_name.clone(),
            ..TlsDecl::default()
        };
        let settings = TlsSettings::load(&decl).map_err(|e| {
            usage(format!(
                "--{} {}: {}",
                e.key.replace('_', "-"),
                e.file,
                e.reason
            ))
        })?;
        Some(Arc::new(settings))
    } else {
        None
    };
    let binding = screen_from_decl(
        &decl,
        ScreenOptions {
            tls,
            ..ScreenOptions::default()
        },
    )
    .map_err(|e| usage(e.to_string()))?;
    Ok((binding, timeouts))
}

/// The open failure in the user's terms.
fn open_failure(url: &str, e: &OpenError) -> CaptureError {
    CaptureError::Terminal(match e {
        OpenError::Refused { stage, reason } if stage.is_authentication() => format!(
            "{url}: the terminal refused the console at {stage}: {reason} \
             (not retried: a failed authentication is never tried again)"
        ),
        OpenError::Refused {
            stage: Stage::Connect,
            reason,
        } => format!("{url}: the terminal refused the console at connect: {reason}"),
        OpenError::Refused { stage, reason } => format!(
            "{url}: the terminal refused the console at {stage}: {reason} \
             (a terminal serving one console at a time refuses others while one holds it)"
        ),
        OpenError::Protocol { stage, reason } => {
            format!("{url}: protocol violation at {stage}: {reason}")
        }
        OpenError::Timeout { stage, after_ms } => {
            format!("{url}: no progress at {stage} within {after_ms} ms")
        }
        OpenError::Harness(reason) => format!("{url}: harness error: {reason}"),
    })
}

/// Opens one console and takes the whole screen with [`whole_screen`];
/// returns the capture and the console, still open, for the caller to close.
pub async fn capture(
    binding: &dyn ScreenBinding,
    timeouts: Timeouts,
    started: Instant,
) -> Result<(Captured, Console), CaptureError> {
    let url = binding.target();
    let mut console = binding
        .open(LABEL, timeouts.open)
        .await
        .map_err(|e| open_failure(&url, &e))?;
    let open_ms = started.elapsed().as_secs_f64() * 1e3;
    let asked = Instant::now();
    let (updates, requests) = match whole_screen(&mut console, timeouts.update, &url).await {
        Ok(u) => u,
        Err(e) => {
            console.close(CloseHow::Clean).await;
            return Err(e);
        }
    };
    let update_ms = asked.elapsed().as_secs_f64() * 1e3;
    // Straight from the console's framebuffer to the PNG's pixel layout.
    let (width, height, rgb) = console.with_framebuffer(|fb| (fb.width(), fb.height(), rgb_of(fb)));
    let info = console.info().clone();
    let captured = Captured {
        width,
        height,
        rgb,
        name: info.name,
        transport: info.transport,
        version: info.version,
        security: info.security,
        pixel_format: info
            .binding
            .get("pixel_format")
            .and_then(|v| v.as_str())
            .unwrap_or("as the binding chose")
            .to_string(),
        updates,
        requests,
        open_ms,
        update_ms,
    };
    Ok((captured, console))
}

/// Most full-screen requests one capture sends (see [`whole_screen`]).
pub const MAX_REQUESTS: usize = 8;

/// Asks `console` for the whole screen (non-incremental) and waits, up to
/// `timeout` in all, until the answer has painted every pixel; returns the
/// updates that made it up and the number of requests sent.
///
/// An answer that leaves pixels unpainted is not the end: TigerVNC, busy,
/// answers with the pointer's shape alone and sends the pixels only when
/// asked again. So once the request is answered and pixels are missing, the
/// whole screen is asked for again, at most [`MAX_REQUESTS`] times.
pub async fn whole_screen(
    console: &mut Console,
    timeout: Duration,
    url: &str,
) -> Result<(Vec<UpdateInfo>, usize), CaptureError> {
    let deadline = Instant::now() + timeout;
    let gone = || {
        CaptureError::Terminal(format!(
            "{url}: the session ended before the full update could be requested"
        ))
    };
    let first = console.request(false, None).await.map_err(|_| gone())?;
    let (mut last, mut requests) = (first, 1);
    let (w, h) = console.with_framebuffer(|fb| (fb.width(), fb.height()));
    let mut painted = Painted::new(w, h);
    let mut updates = Vec::new();
    while painted.left() > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        match console.next_event(left).await {
            // The answer is the updates to these requests and any begun after
            // the first was written; one begun before may be stale or partial.
            ConsoleEvent::Update(u) if u.answers.is_some() || u.began > first => {
                for r in &u.damage {
                    if r.kind == DamageKind::Resize {
                        // A new size: what counts is painted afterwards.
                        if valid_size(r.rect.w, r.rect.h) {
                            painted = Painted::new(r.rect.w, r.rect.h);
                        }
                    } else if r.paints() {
                        painted.add(r.rect);
                    }
                }
                let answered = u.answers == Some(last);
                updates.push(u);
                if answered && painted.left() > 0 {
                    if requests == MAX_REQUESTS {
                        return Err(CaptureError::Terminal(format!(
                            "{url}: after {requests} full update requests, {} of the screen's pixels are still unpainted",
                            painted.left()
                        )));
                    }
                    last = console.request(false, None).await.map_err(|_| gone())?;
                    requests += 1;
                }
            }
            ConsoleEvent::Update(_) | ConsoleEvent::Bell(_) | ConsoleEvent::CutText { .. } => {}
            ConsoleEvent::Closed { reason, .. } => {
                return Err(CaptureError::Terminal(format!(
                    "{url}: the session ended before the full update arrived: {}",
                    describe_close(&reason)
                )))
            }
            ConsoleEvent::Timeout => {
                let ms = timeout.as_millis();
                return Err(CaptureError::Terminal(if updates.is_empty() {
                    format!("{url}: no answer to the full update request within {ms} ms")
                } else {
                    format!(
                        "{url}: the answer to the full update request left {} of the screen's pixels unpainted after {ms} ms",
                        painted.left()
                    )
                }));
            }
        }
    }
    Ok((updates, requests))
}

/// Encodes the `w` x `h` image `rgb` as PNG and puts it at `out` whole;
/// returns the file's size.
fn write(out: &Path, w: u16, h: u16, rgb: &[u8]) -> Result<usize, CaptureError> {
    let err = |reason: String| CaptureError::Write {
        path: out.display().to_string(),
        reason,
    };
    let png = encode_png(w, h, rgb).map_err(|e| err(e.to_string()))?;
    replace_file(out, &png).map_err(|e| err(e.to_string()))?;
    Ok(png.len())
}

/// The pixels of `fb` as 8-bit RGB, row by row.
pub fn rgb_of(fb: &Image) -> Vec<u8> {
    let mut rgb = vec![0u8; fb.pixels().len() * 3];
    for (d, p) in rgb.chunks_exact_mut(3).zip(fb.pixels()) {
        let [b, g, r, _] = p.to_le_bytes();
        d.copy_from_slice(&[r, g, b]);
    }
    rgb
}

/// The `w` x `h` image `rgb` (8-bit RGB) as PNG, compressed with the png
/// crate's fast setting: a screen of flat colours and text compresses to
/// about twice the default's size in a sixth of the time.
pub fn encode_png(w: u16, h: u16, rgb: &[u8]) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, u32::from(w), u32::from(h));
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let mut w = enc.write_header()?;
    w.write_image_data(rgb)?;
    w.finish()?;
    Ok(out)
}

/// Writes `bytes` to a temporary file beside `path` and renames it over
/// `path`, so a reader sees the old file or the whole new one, never part
/// of it. Not flushed to disk first: a capture lost to a crash is simply
/// taken again, and syncing would double the time of a capture.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "capture".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Rectangles per encoding over `updates`, most used first: `ZRLE 30, Cursor 1`.
pub fn encodings_used(updates: &[UpdateInfo]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in updates.iter().flat_map(|u| &u.damage) {
        let name = r.encoding.as_deref().unwrap_or("unnamed");
        *counts.entry(name.to_string()).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let parts: Vec<String> = v.iter().map(|(n, c)| format!("{n} {c}")).collect();
    if parts.is_empty() {
        "no rectangles".into()
    } else {
        parts.join(", ")
    }
}

/// The lines printed after a capture.
fn summary(args: &CaptureArgs, c: &Captured, bytes: usize, total: Duration) -> String {
    let (w, h) = (c.width, c.height);
    let rects: usize = c.updates.iter().map(|u| u.rect_count).sum();
    let wire: u64 = c.updates.iter().map(|u| u.bytes).sum();
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    format!(
        "{}: {w}x{h} \"{}\", {bytes} bytes of PNG\n\
         session: {} over {} (RFB {}, security {}), pixel format {} ({})\n\
         full update: {} of {} ({}), {wire} bytes, {:.1} ms after the {}; \
         console open in {:.1} ms; {:.1} ms in all\n",
        args.out.display(),
        c.name,
        args.url,
        c.transport,
        c.version,
        c.security,
        args.pixel_format.as_str(),
        c.pixel_format,
        plural(c.updates.len(), "update", "updates"),
        plural(rects, "rectangle", "rectangles"),
        encodings_used(&c.updates),
        c.update_ms,
        if c.requests == 1 {
            "request".to_string()
        } else {
            format!("first of {} requests", c.requests)
        },
        c.open_ms,
        total.as_secs_f64() * 1e3,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use s301_harness::binding::rfb::session::damage;
    use s301_harness::binding::seq::{self, Seq};
    use s301_harness::binding::{Command, ConsoleDriver, SessionInfo};
    use s301_rfb::stream::RectInfo;
    use s301_rfb::{Framebuffer, Limits};

    fn info(w: u16, h: u16) -> SessionInfo {
        SessionInfo {
            url: "rfb://t:5900".into(),
            transport: "tcp".into(),
            subprotocol: None,
            protocol: "RFB".into(),
            version: "3.8".into(),
            server_version: "RFB 003.008".into(),
            security: "None".into(),
            width: w,
            height: h,
            name: "t".into(),
            connect_ms: 0.0,
            handshake_ms: 0.0,
            tls: None,
            binding: serde_json::Map::new(),
        }
    }

    /// An update of `rects` (rectangle, encoding code), begun at `began`.
    fn update(began: Seq, answers: Option<Seq>, rects: &[(Rect, i32)]) -> ConsoleEvent {
        ConsoleEvent::Update(UpdateInfo {
            began,
            seq: seq::next(),
            answers,
            incremental: answers.map(|_| false),
            damage: rects
                .iter()
                .map(|&(rect, encoding)| {
                    damage(&RectInfo {
                        rect,
                        encoding,
                        bytes: 12,
                        in_bounds: true,
                    })
                })
                .collect(),
            rect_count: rects.len(),
            bytes: 16,
            latency_ms: None,
            at: Instant::now(),
        })
    }

    /// A console whose terminal side answers each request with what
    /// `answer` makes of (the seq before the first request, this request's
    /// seq, how many requests came before).
    fn console(
        mut answer: impl FnMut(Seq, Seq, usize) -> Vec<ConsoleEvent> + Send + 'static,
    ) -> Console {
        let fb = Framebuffer::new(100, 50, &Limits::DEFAULT).expect("fb");
        let (console, mut d): (Console, ConsoleDriver) = Console::new("t", info(100, 50), fb);
        let before = seq::next();
        tokio::spawn(async move {
            let mut n = 0;
            while let Some((cmd, reply)) = d.commands.recv().await {
                let Command::Request { incremental, rect } = cmd else {
                    continue;
                };
                assert!(!incremental && rect.is_none());
                let s = seq::next();
                let _ = reply.send(s);
                for ev in answer(before, s, n) {
                    let _ = d.events.send(ev).await;
                }
                n += 1;
            }
        });
        console
    }

    const RAW: i32 = 0;
    const CURSOR: i32 = -239;

    #[tokio::test]
    async fn a_cursor_only_answer_is_followed_by_the_pixels() {
        let mut c = console(|_, s, _| {
            vec![
                update(seq::next(), Some(s), &[(Rect::new(0, 0, 16, 16), CURSOR)]),
                update(seq::next(), None, &[(Rect::new(0, 0, 100, 30), RAW)]),
                update(seq::next(), None, &[(Rect::new(0, 30, 100, 20), RAW)]),
            ]
        });
        let (got, requests) = whole_screen(&mut c, Duration::from_secs(5), "rfb://t")
            .await
            .expect("captured");
        // The cursor-only answer was asked over at once; the pixels that
        // followed unasked complete the screen all the same.
        assert_eq!((got.len(), requests), (3, 2));
        assert_eq!(encodings_used(&got), "Raw 2, Cursor 1");
    }

    #[tokio::test]
    async fn a_cursor_only_answer_and_nothing_more_is_asked_again() {
        // As TigerVNC does when busy: the shape alone, the pixels only when
        // asked again.
        let mut c = console(|_, s, n| {
            let rect = if n == 0 {
                (Rect::new(0, 0, 16, 16), CURSOR)
            } else {
                (Rect::new(0, 0, 100, 50), RAW)
            };
            vec![update(seq::next(), Some(s), &[rect])]
        });
        let (got, requests) = whole_screen(&mut c, Duration::from_secs(5), "rfb://t")
            .await
            .expect("captured");
        assert_eq!((got.len(), requests), (2, 2));
    }

    #[tokio::test]
    async fn requests_stop_at_the_cap_when_answers_paint_nothing() {
        let mut c = console(|_, s, _| vec![update(seq::next(), Some(s), &[])]);
        let err = whole_screen(&mut c, Duration::from_secs(5), "rfb://t")
            .await
            .expect_err("never painted");
        assert!(
            err.to_string().contains("after 8 full update requests"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_update_begun_before_the_request_does_not_count() {
        let mut c =
            console(|before, _, _| vec![update(before, None, &[(Rect::new(0, 0, 100, 50), RAW)])]);
        let err = whole_screen(&mut c, Duration::from_millis(200), "rfb://t")
            .await
            .expect_err("no answer");
        assert_eq!(
            err.to_string(),
            "rfb://t: no answer to the full update request within 200 ms"
        );
    }

    #[tokio::test]
    async fn a_partial_answer_times_out_naming_what_is_missing() {
        // Answered once, partly; asked again, no answer.
        let mut c = console(|_, s, n| {
            if n > 0 {
                return Vec::new();
            }
            vec![update(
                seq::next(),
                Some(s),
                &[(Rect::new(0, 0, 100, 49), RAW)],
            )]
        });
        let err = whole_screen(&mut c, Duration::from_millis(200), "rfb://t")
            .await
            .expect_err("partial");
        assert!(
            err.to_string()
                .contains("left 100 of the screen's pixels unpainted"),
            "{err}"
        );
        assert_eq!(err.exit_code(), EXIT_FAIL);
    }

    #[test]
    fn pixel_formats_parse_by_their_declaration_names() {
        for c in [
            PixelFormatChoice::Rgb888,
            PixelFormatChoice::Rgb565,
            PixelFormatChoice::ColourMap8,
            PixelFormatChoice::Native,
        ] {
            assert_eq!(parse_pixel_format(c.as_str()), Ok(c));
        }
        let err = parse_pixel_format("rgb").expect_err("not a format");
        assert!(err.contains("colour-map-8"), "{err}");
    }

    #[test]
    fn usage_errors_exit_2_and_capture_failures_exit_1() {
        assert_eq!(CaptureError::Usage("x".into()).exit_code(), EXIT_USAGE);
        assert_eq!(CaptureError::Terminal("x".into()).exit_code(), EXIT_FAIL);
        let w = CaptureError::Write {
            path: "a.png".into(),
            reason: "disk full".into(),
        };
        assert_eq!(w.exit_code(), EXIT_FAIL);
        assert_eq!(w.to_string(), "cannot write a.png: disk full");
    }

    #[test]
    fn the_png_decodes_to_the_image_and_replaces_the_file_whole() {
        let mut fb = Framebuffer::new(7, 3, &Limits::DEFAULT).expect("fb");
        fb.set(1, 2, 0x00ab_cdef);
        fb.fill(Rect::new(3, 0, 4, 1), 0x0012_3456);
        let dir = std::env::temp_dir().join(format!("s301-capture-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let out = dir.join("x.png");
        std::fs::write(&out, b"old").expect("old file");
        let n = write(&out, 7, 3, &rgb_of(&fb)).expect("written");
        let bytes = std::fs::read(&out).expect("read");
        assert_eq!(bytes.len(), n);
        let mut r = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .expect("png");
        let mut buf = vec![0; r.output_buffer_size().expect("size")];
        let info = r.next_frame(&mut buf).expect("frame");
        assert_eq!((info.width, info.height), (7, 3));
        let px: Vec<u32> = buf[..info.buffer_size()]
            .chunks_exact(3)
            .map(|c| (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]))
            .collect();
        assert_eq!(px, fb.pixels());
        let names: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["x.png"]);
        // A directory in the way: an error, and no temporary file left.
        let err = write(&dir, 7, 3, &rgb_of(&fb)).expect_err("a directory");
        assert!(matches!(err, CaptureError::Write { .. }));
        assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn painted_counts_each_pixel_once_and_clips_to_the_screen() {
        let mut p = Painted::new(130, 3);
        assert_eq!(p.left(), 390);
        p.add(Rect::new(60, 0, 10, 1)); // across a word boundary
        assert_eq!(p.left(), 380);
        p.add(Rect::new(0, 0, 130, 1)); // overlaps what is painted
        assert_eq!(p.left(), 260);
        p.add(Rect::new(120, 1, 65535, 65535)); // runs off the screen
        assert_eq!(p.left(), 240);
        p.add(Rect::new(200, 0, 5, 5)); // wholly off the screen
        p.add(Rect::new(0, 1, 0, 2)); // empty
        assert_eq!(p.left(), 240);
        p.add(Rect::new(0, 0, 130, 3));
        assert_eq!(p.left(), 0);
    }

    #[test]
    fn a_security_refusal_says_it_is_not_retried() {
        let e = open_failure(
            "rfb://t:5900",
            &OpenError::Refused {
                stage: Stage::AuthenticationResult,
                reason: "authentication failed".into(),
            },
        );
        assert!(e.to_string().contains("never tried again"), "{e}");
        let e = open_failure(
            "rfb://t:5900",
            &OpenError::Timeout {
                stage: Stage::Negotiation,
                after_ms: 5000,
            },
        );
        assert_eq!(
            e.to_string(),
            "rfb://t:5900: no progress at the version exchange within 5000 ms"
        );
    }
}
