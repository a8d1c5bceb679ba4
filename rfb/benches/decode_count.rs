//! Decodes the synthetic 1920x1080 desktop a given number of times, for
//! profilers and instruction counters (callgrind, `perf record`) and for
//! timing on a busy machine, where criterion's statistics only get in the
//! way.
//!
//! ```text
//! cargo bench -p s301-rfb --bench decode_count -- ENCODING [MODE[,MODE]] [N]
//! ```
//!
//! ENCODING is `raw`, `rre`, `hextile`, `trle` or `zrle` (default `zrle`),
//! N the number of frames after one warm-up frame (default 10). MODE is
//!
//! - `in-place` (default): `ServerMessageDecoder::decode` on 64 KiB pieces;
//! - `feed`: `feed` and `next_event` on the same pieces;
//! - `memcpy`: copies the update's payload (after the message and rectangle
//!   headers) into a buffer of its size, the scale for `raw`;
//! - `inflate-flate2` / `inflate-miniz`: only inflates the zlib stream of
//!   the ZRLE frame, with flate2's configured backend or with miniz_oxide
//!   called directly (as benches/inflate.rs does).
//!
//! Two modes separated by a comma run interleaved, frame by frame, so both
//! see the same machine load; the ratio of their times is printed too.
//! Every frame is timed: the minimum is the figure least disturbed by other
//! processes, the median the typical one.
//!
//! Building the desktop and encoding it costs the same whatever N is, so
//! the instructions of one frame are the difference between two counts
//! (N and N + k frames) divided by k. With N = 0 only the warm-up frame is
//! run.

use std::time::Instant;

use s301_rfb::encoding::Encoding;
use s301_rfb::stream::ServerEvent;
use s301_rfb::{Framebuffer, Limits};

mod common;
use common::{decode, decode_in_place, desktop, update, with_flate2, with_miniz, H, PIECE, W};

/// One way of processing the frame.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    InPlace,
    Feed,
    Memcpy,
    InflateFlate2,
    InflateMiniz,
}

impl Mode {
    fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "in-place" => Mode::InPlace,
            "feed" => Mode::Feed,
            "memcpy" => Mode::Memcpy,
            "inflate-flate2" => Mode::InflateFlate2,
            "inflate-miniz" => Mode::InflateMiniz,
            _ => return None,
        })
    }
}

/// What the modes work on and with.
struct Work {
    bytes: Vec<u8>,
    fb: Framebuffer,
    events: Vec<ServerEvent>,
    piece: Vec<u8>,
    copy: Vec<u8>,
}

impl Work {
    /// Runs `mode` once; returns the seconds it took.
    fn run(&mut self, mode: Mode) -> f64 {
        let t = Instant::now();
        match mode {
            Mode::InPlace => decode_in_place(&self.bytes, &mut self.fb, &mut self.events),
            Mode::Feed => decode(&self.bytes, &mut self.fb),
            Mode::Memcpy => {
                let payload = self.bytes.get(16..).unwrap_or(&[]);
                self.copy.resize(payload.len(), 0);
                self.copy.copy_from_slice(payload);
                std::hint::black_box(&self.copy);
            }
            Mode::InflateFlate2 | Mode::InflateMiniz => {
                // Message header (4), rectangle header (12), ZRLE length (4).
                let z = self.bytes.get(20..).unwrap_or(&[]);
                let out = if mode == Mode::InflateFlate2 {
                    with_flate2(z, &mut self.piece)
                } else {
                    with_miniz(z, &mut self.piece)
                };
                std::hint::black_box(out);
            }
        }
        t.elapsed().as_secs_f64()
    }
}

fn usage(msg: &str) -> ! {
    eprintln!("{msg}\nusage: decode_count [raw|rre|hextile|trle|zrle] [MODE[,MODE]] [N]");
    std::process::exit(2);
}

/// Minimum and median of `v` (sorted in place), in milliseconds.
fn min_median(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let min = v.first().copied().unwrap_or(0.0);
    let med = v.get(v.len() / 2).copied().unwrap_or(0.0);
    (min * 1e3, med * 1e3)
}

fn main() {
    // Cargo passes `--bench`; the rest are ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let enc = match args.first().map(String::as_str).unwrap_or("zrle") {
        "raw" => Encoding::Raw,
        "rre" => Encoding::Rre,
        "hextile" => Encoding::Hextile,
        "trle" => Encoding::Trle,
        "zrle" => Encoding::Zrle,
        other => usage(&format!("unknown encoding {other:?}")),
    };
    let modes: Vec<Mode> = args
        .get(1)
        .map_or("in-place", String::as_str)
        .split(',')
        .map(|m| Mode::parse(m).unwrap_or_else(|| usage(&format!("unknown mode {m:?}"))))
        .collect();
    if modes.len() > 2 {
        usage("at most two modes");
    }
    let n: usize = match args.get(2).map(|s| s.parse()) {
        None => 10,
        Some(Ok(n)) => n,
        Some(Err(e)) => usage(&format!("N: {e}")),
    };
    let src = desktop();
    let mut work = Work {
        bytes: update(&src, enc),
        fb: Framebuffer::new(W, H, &Limits::DEFAULT).expect("framebuffer"),
        events: Vec::new(),
        piece: vec![0u8; PIECE],
        copy: Vec::new(),
    };
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(n); modes.len()];
    for &m in &modes {
        work.run(m);
    }
    for _ in 0..n {
        for (t, &m) in times.iter_mut().zip(&modes) {
            t.push(work.run(m));
        }
    }
    if modes
        .iter()
        .any(|m| matches!(m, Mode::InPlace | Mode::Feed))
    {
        assert!(work.fb == src, "{} does not round-trip", enc.name());
    }
    let names: Vec<&str> = args
        .get(1)
        .map_or("in-place", String::as_str)
        .split(',')
        .collect();
    let mut mins = Vec::new();
    let mut meds = Vec::new();
    for (t, name) in times.iter_mut().zip(&names) {
        let (min, med) = min_median(t);
        eprintln!(
            "{} {name}: {} wire bytes, {n} frames: min {min:.3} ms ({:.0}/s), median {med:.3} ms ({:.0}/s)",
            enc.name(),
            work.bytes.len(),
            1e3 / min,
            1e3 / med,
        );
        mins.push(min);
        meds.push(med);
    }
    if let ([a, b], [ma, mb]) = (mins.as_slice(), meds.as_slice()) {
        eprintln!(
            "speed of {} relative to {}: {:.2}x at the minimum, {:.2}x at the median",
            names.first().unwrap_or(&""),
            names.get(1).unwrap_or(&""),
            b / a,
            mb / ma
        );
    }
}
