//! `s301 capture URL OUT.png`: one full-screen capture from a terminal, for
//! a vendor looking at what a console is sent and for a witness making a
//! reference image.
//!
//! It goes through exactly what the checks use: an [`RfbBinding`] built from
//! a `[screen]` section made of the arguments, with the binding's limits,
//! one console opened once (a refusal, a failed authentication, a protocol
//! violation or a timeout ends it; nothing is retried, least of all an
//! authentication), then one non-incremental request for the whole screen.
//! The image is written as PNG through a temporary file renamed into place,
//! so `OUT.png` is either the whole capture or untouched.
//!
//! Exit status: 0 written; 1 the capture failed (the terminal refused or
//! broke off, timed out, or the file could not be written); 2 usage error
//! (nothing was connected).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use s301_harness::binding::rfb::url::Scheme;
use s301_harness::binding::rfb::RfbBinding;
use s301_harness::binding::{BindingError, CloseHow, ConsoleEvent, OpenError, Stage, UpdateInfo};
use s301_harness::checks::screen::{describe_close, is_security_stage};
use s301_harness::declaration::{Exclusivity, PixelFormatChoice, ScreenDecl};
use s301_harness::scenario::Scenario;
use s301_harness::tls::{TlsDecl, TlsSettings};
use s301_rfb::encoding::Encoding;
use s301_rfb::Framebuffer;

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
    /// The image as received.
    pub image: Framebuffer,
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
    /// The answering update.
    pub update: UpdateInfo,
    /// Milliseconds from start to the console being admitted (ServerInit).
    pub open_ms: f64,
    /// Milliseconds from the request to the update being applied.
    pub update_ms: f64,
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
        Ok((binding, timeouts)) => match capture(&binding, timeouts, started).await {
            Ok(c) => write(&args.out, &c).map(|bytes| (c, bytes)),
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
fn prepare(args: &CaptureArgs) -> Result<(RfbBinding, Timeouts), CaptureError> {
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
    let binding = RfbBinding::from_decl(&decl).map_err(|e| {
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
    let wss = binding.url().scheme == Scheme::Wss;
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
    Ok((binding.with_tls(tls), timeouts))
}

/// The open failure in the user's terms.
fn open_failure(url: &str, e: &OpenError) -> CaptureError {
    CaptureError::Terminal(match e {
        OpenError::Refused { stage, reason } if is_security_stage(*stage) => format!(
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

/// Opens one console, asks for the whole screen once and waits for the
/// update that answers it.
pub async fn capture(
    binding: &RfbBinding,
    timeouts: Timeouts,
    started: Instant,
) -> Result<Captured, CaptureError> {
    let url = binding.url().raw.clone();
    let mut console = binding
        .open_console(LABEL, timeouts.open)
        .await
        .map_err(|e| open_failure(&url, &e))?;
    let open_ms = started.elapsed().as_secs_f64() * 1e3;
    let asked = Instant::now();
    let gone = |what: &str| CaptureError::Terminal(format!("{url}: the session ended {what}"));
    let Ok(seq) = console.request(false, None).await else {
        return Err(gone("before the full update could be requested"));
    };
    let deadline = asked + timeouts.update;
    let update = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match console.next_event(left).await {
            // Only the answer to this request counts; an unsolicited update
            // sent before it may cover part of the screen only.
            ConsoleEvent::Update(u) if u.answers == Some(seq) => break u,
            ConsoleEvent::Update(_) | ConsoleEvent::Bell(_) | ConsoleEvent::CutText { .. } => {}
            ConsoleEvent::Closed { reason, .. } => {
                return Err(CaptureError::Terminal(format!(
                    "{url}: the session ended before the full update arrived: {}",
                    describe_close(&reason)
                )))
            }
            ConsoleEvent::Timeout => {
                console.close(CloseHow::Clean).await;
                return Err(CaptureError::Terminal(format!(
                    "{url}: no answer to the full update request within {} ms",
                    timeouts.update.as_millis()
                )));
            }
        }
    };
    let update_ms = asked.elapsed().as_secs_f64() * 1e3;
    let image = console.snapshot();
    let info = console.info().clone();
    console.close(CloseHow::Clean).await;
    Ok(Captured {
        image,
        name: info.name,
        transport: info.transport,
        version: info.version,
        security: info.security,
        pixel_format: info.pixel_format,
        update,
        open_ms,
        update_ms,
    })
}

/// Encodes the image and puts it at `out` whole; returns the file's size.
fn write(out: &Path, c: &Captured) -> Result<usize, CaptureError> {
    let err = |reason: String| CaptureError::Write {
        path: out.display().to_string(),
        reason,
    };
    let png = s301_harness::report::png::encode(&c.image).map_err(|e| err(e.to_string()))?;
    s301_harness::report::json::write_atomic(out, &png).map_err(|e| err(e.to_string()))?;
    Ok(png.len())
}

/// Rectangles per encoding, most used first: `ZRLE 30, CopyRect 2`.
pub fn encodings_used(u: &UpdateInfo) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in &u.rects {
        *counts
            .entry(Encoding::from_code(r.encoding).name())
            .or_default() += 1;
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

/// Pixels of the screen that no pixel-carrying rectangle of `u` covers,
/// counted from the rectangles' areas (overlaps count twice, so this can
/// only miss a gap, never invent one).
fn unpainted_at_least(u: &UpdateInfo, fb: &Framebuffer) -> u64 {
    let screen = fb.bounds();
    let covered: u64 = u
        .rects
        .iter()
        .filter(|r| !Encoding::from_code(r.encoding).is_pseudo())
        .filter_map(|r| r.rect.intersect(&screen))
        .map(|r| r.area())
        .sum();
    screen.area().saturating_sub(covered)
}

/// The lines printed after a capture.
fn summary(args: &CaptureArgs, c: &Captured, bytes: usize, total: Duration) -> String {
    let (w, h) = (c.image.width(), c.image.height());
    let mut s = format!(
        "{}: {w}x{h} \"{}\", {bytes} bytes of PNG\n\
         session: {} over {} (RFB {}, security {}), pixel format {} ({})\n\
         full update: {} rectangle{} ({}), {} bytes, {:.1} ms after the request; \
         console open in {:.1} ms; {:.1} ms in all\n",
        args.out.display(),
        c.name,
        args.url,
        c.transport,
        c.version,
        c.security,
        args.pixel_format.as_str(),
        c.pixel_format,
        c.update.rect_count,
        if c.update.rect_count == 1 { "" } else { "s" },
        encodings_used(&c.update),
        c.update.bytes,
        c.update_ms,
        c.open_ms,
        total.as_secs_f64() * 1e3,
    );
    let gap = unpainted_at_least(&c.update, &c.image);
    if gap > 0 {
        s.push_str(&format!(
            "warning: the update's rectangles leave at least {gap} pixels of the screen unpainted (black in the image)\n"
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_security_refusal_says_it_is_not_retried() {
        let e = open_failure(
            "rfb://t:5900",
            &OpenError::Refused {
                stage: Stage::SecurityResult,
                reason: "authentication failed".into(),
            },
        );
        assert!(e.to_string().contains("never tried again"), "{e}");
        let e = open_failure(
            "rfb://t:5900",
            &OpenError::Timeout {
                stage: Stage::Version,
                after_ms: 5000,
            },
        );
        assert_eq!(
            e.to_string(),
            "rfb://t:5900: no progress at the version exchange within 5000 ms"
        );
    }
}
