//! What the decode benches share: the synthetic 1920x1080 desktop, one
//! update carrying it, and the two ways of decoding that update.

#![allow(dead_code)] // each bench uses its own subset

use s301_rfb::encoding::{Encoder, Encoding};
use s301_rfb::stream::{ServerEvent, ServerMessageDecoder};
use s301_rfb::{ColourMap, Framebuffer, Limits, PixelFormat, Rect};

pub const W: u16 = 1920;
pub const H: u16 = 1080;
/// Transport read size the decoder is fed in.
pub const CHUNK: usize = 64 * 1024;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Draws a window: border, title bar, white client area.
fn window(fb: &mut Framebuffer, r: Rect, title: u32) {
    fb.fill(r, 0x0080_8080);
    fb.fill(Rect::new(r.x + 1, r.y + 1, r.w - 2, 24), title);
    fb.fill(Rect::new(r.x + 1, r.y + 25, r.w - 2, r.h - 26), 0x00ff_ffff);
}

/// Fills `r` with rows of 7x12 glyph cells of random dark strokes, like text.
fn text(fb: &mut Framebuffer, r: Rect, rng: &mut Rng) {
    for line in (r.y..r.y + r.h - 12).step_by(16) {
        let len = (rng.next() % u64::from(r.w / 8)) as u16;
        for cell in 0..len {
            let glyph = rng.next();
            if glyph % 7 == 0 {
                continue; // a space
            }
            for gy in 0..12u16 {
                for gx in 0..7u16 {
                    let bit = (glyph >> ((gy * 7 + gx) % 64)) & 1;
                    if bit == 1 && gy % 3 != 0 {
                        fb.set(r.x + cell * 8 + gx, line + gy, 0x0020_2020);
                    }
                }
            }
        }
    }
}

/// A photo-like area: a two-way gradient with noise.
fn photo(fb: &mut Framebuffer, r: Rect, rng: &mut Rng) {
    for y in r.y..r.y + r.h {
        for x in r.x..r.x + r.w {
            let n = (rng.next() >> 60) as u32;
            let red = (u32::from(x - r.x) * 255 / u32::from(r.w)).saturating_add(n) & 0xff;
            let green = (u32::from(y - r.y) * 255 / u32::from(r.h)) & 0xff;
            let blue = (128 + n * 4) & 0xff;
            fb.set(x, y, (red << 16) | (green << 8) | blue);
        }
    }
}

/// The synthetic desktop.
pub fn desktop() -> Framebuffer {
    let mut fb = Framebuffer::new(W, H, &Limits::DEFAULT).expect("framebuffer");
    let mut rng = Rng(0x5301_5301);
    fb.fill(fb.bounds(), 0x003a_6ea5);
    fb.fill(Rect::new(0, H - 40, W, 40), 0x0030_3030);
    for i in 0..8u16 {
        fb.fill(
            Rect::new(8 + i * 52, H - 34, 44, 28),
            0x0050_5060 + u32::from(i) * 0x10,
        );
    }
    let editor = Rect::new(60, 40, 900, 700);
    window(&mut fb, editor, 0x0033_5599);
    text(&mut fb, Rect::new(70, 75, 880, 650), &mut rng);
    let viewer = Rect::new(1000, 80, 840, 560);
    window(&mut fb, viewer, 0x0055_3399);
    photo(&mut fb, Rect::new(1001, 105, 838, 534), &mut rng);
    let term = Rect::new(400, 620, 1100, 400);
    window(&mut fb, term, 0x0022_2222);
    fb.fill(Rect::new(401, 645, 1098, 374), 0x0010_1010);
    for line in (650..1010).step_by(14) {
        let len = (rng.next() % 130) as u16;
        for cell in 0..len {
            let glyph = rng.next();
            for gy in 0..10u16 {
                for gx in 0..7u16 {
                    if (glyph >> ((gy * 7 + gx) % 64)) & 1 == 1 && gy % 4 != 0 {
                        fb.set(410 + cell * 8 + gx, line + gy, 0x0033_ff33);
                    }
                }
            }
        }
    }
    fb
}

/// One FramebufferUpdate holding the whole screen in `enc`.
pub fn update(fb: &Framebuffer, enc: Encoding) -> Vec<u8> {
    let mut out = vec![0, 0, 0, 1];
    Encoder::new()
        .encode_rect(
            enc,
            fb,
            fb.bounds(),
            &PixelFormat::RGB888,
            &ColourMap::new(),
            &mut out,
        )
        .expect("encode");
    out
}

/// Decodes `bytes` onto `fb` with a fresh decoder, fed in transport-sized
/// pieces through `feed` and `next_event` (each piece is copied into the
/// decoder's buffer first).
pub fn decode(bytes: &[u8], fb: &mut Framebuffer) {
    let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, Limits::DEFAULT);
    for piece in bytes.chunks(CHUNK) {
        dec.feed(piece).expect("feed");
        while dec.next_event(fb).expect("decode").is_some() {}
    }
}

/// The same through `ServerMessageDecoder::decode`, which decodes each piece
/// in place.
pub fn decode_in_place(bytes: &[u8], fb: &mut Framebuffer, events: &mut Vec<ServerEvent>) {
    let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, Limits::DEFAULT);
    events.clear();
    for piece in bytes.chunks(CHUNK) {
        dec.decode(piece, fb, events).expect("decode");
    }
}

/// Output piece size (the ZRLE decoder's inflate buffer).
pub const PIECE: usize = 32 * 1024;

/// Inflates `z` with flate2 (its configured backend); returns the bytes out.
pub fn with_flate2(z: &[u8], out: &mut [u8]) -> u64 {
    let mut d = flate2::Decompress::new(true);
    let mut used = 0;
    while used < z.len() {
        let before = d.total_in();
        d.decompress(&z[used..], out, flate2::FlushDecompress::Sync)
            .expect("inflate");
        used += (d.total_in() - before) as usize;
    }
    d.total_out()
}

/// Inflates `z` with miniz_oxide's stream API; returns the bytes out.
pub fn with_miniz(z: &[u8], out: &mut [u8]) -> u64 {
    use miniz_oxide::inflate::stream::{inflate, InflateState};
    use miniz_oxide::{DataFormat, MZFlush};
    let mut s = InflateState::new_boxed(DataFormat::Zlib);
    let (mut used, mut total) = (0, 0u64);
    while used < z.len() {
        let r = inflate(&mut s, &z[used..], out, MZFlush::Sync);
        r.status.expect("inflate");
        used += r.bytes_consumed;
        total += r.bytes_written as u64;
    }
    total
}
