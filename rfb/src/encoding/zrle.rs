//! ZRLE encoding (RFC 6143 section 7.7.6): a length, then zlib data that
//! inflates to 64x64 tiles in the TRLE tile format. One zlib stream runs for
//! the whole connection, on both sides.
//!
//! The decoder streams: compressed bytes are inflated as they arrive into a
//! small fixed-size buffer ([`Inflater`]), and tiles are decoded from it unit
//! by unit. The inflated size of a rectangle is capped at the most any legal
//! encoding of that rectangle can take, so a zlib bomb is refused after a
//! bounded amount of work and memory.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

use super::conv::{unit, Conv, Step, Unit};
use super::trle::{encode_tiles, TileDecoder};
use crate::framebuffer::Framebuffer;
use crate::pixel::{PixelFormat, Rgb};
use crate::rect::Rect;
use crate::RfbError;

/// Tile edge of ZRLE.
pub(crate) const ZRLE_TILE: u32 = 64;
/// Capacity of the inflate buffer. The largest unit the tile decoder needs
/// whole is a tile header with a 127-entry palette (under 520 bytes).
const ZBUF_CAP: usize = 32 * 1024;

/// The per-connection inflate state: the zlib stream and a bounded buffer
/// of inflated bytes not yet decoded.
pub(crate) struct Inflater {
    z: Decompress,
    buf: Vec<u8>,
    pos: usize,
    /// Inflated bytes needed before the tile decoder is worth retrying.
    gate: usize,
}

impl Inflater {
    /// A fresh zlib stream.
    pub(crate) fn new() -> Self {
        Inflater {
            z: Decompress::new(true),
            buf: Vec::new(),
            pos: 0,
            gate: 0,
        }
    }

    /// Moves undecoded bytes to the front and makes room up to the cap.
    fn prepare(&mut self) {
        if self.pos > 0 {
            self.buf.drain(..self.pos.min(self.buf.len()));
            self.pos = 0;
        }
        if self.buf.capacity() < ZBUF_CAP {
            self.buf.reserve_exact(ZBUF_CAP - self.buf.len());
        }
    }

    /// Inflates from `input` into the spare capacity of the buffer; returns
    /// (compressed bytes consumed, inflated bytes produced).
    fn inflate(&mut self, input: &[u8]) -> Result<(usize, usize), RfbError> {
        let (bi, bo) = (self.z.total_in(), self.z.total_out());
        self.z
            .decompress_vec(input, &mut self.buf, FlushDecompress::Sync)
            .map_err(|e| RfbError::Zlib(e.to_string()))?;
        Ok((
            (self.z.total_in() - bi) as usize,
            (self.z.total_out() - bo) as usize,
        ))
    }

    /// Heap bytes of the inflate buffer (the zlib window is fixed-size too).
    pub(crate) fn allocated(&self) -> usize {
        self.buf.capacity()
    }
}

/// The most bytes any legal ZRLE encoding of a `w` x `h` rectangle inflates
/// to: plain RLE with runs of one costs `cpx + 1` bytes a pixel, the worst
/// per pixel, and each tile may add a subencoding byte and a 127-entry palette.
pub(crate) fn inflated_bound(w: u32, h: u32, cpx: usize) -> u64 {
    let tiles = u64::from(w.div_ceil(ZRLE_TILE)) * u64::from(h.div_ceil(ZRLE_TILE));
    let cpx = cpx as u64;
    u64::from(w) * u64::from(h) * (cpx + 1) + tiles * (1 + 127 * cpx)
}

/// Resumable ZRLE decoder for one rectangle.
pub(crate) struct ZrleDecoder {
    rect: Rect,
    tiles: TileDecoder,
    palette: Vec<Rgb>,
    max_len: u32,
    /// Compressed bytes still to come; `None` before the length field.
    zleft: Option<u32>,
    inflated: u64,
    bound: u64,
}

impl ZrleDecoder {
    /// A decoder for `rect`, refusing a declared length over `max_len`.
    pub(crate) fn new(rect: Rect, max_len: u32) -> Self {
        ZrleDecoder {
            rect,
            tiles: TileDecoder::zrle(rect),
            palette: Vec::new(),
            max_len,
            zleft: None,
            inflated: 0,
            bound: 0,
        }
    }

    /// Consumes as much of `input` as can be used now.
    pub(crate) fn step(
        &mut self,
        input: &[u8],
        fb: &mut Framebuffer,
        conv: &Conv<'_>,
        inf: &mut Inflater,
    ) -> Result<Step, RfbError> {
        let mut used = 0;
        let mut zleft = match self.zleft {
            Some(z) => z,
            None => match unit(input, |r| r.u32())? {
                Unit::Need(n) => return Ok(Step::more(0, n)),
                Unit::Got(len, n) => {
                    if len > self.max_len {
                        return Err(RfbError::LimitExceeded {
                            field: "ZRLE length",
                            value: u64::from(len),
                            limit: u64::from(self.max_len),
                        });
                    }
                    used = n;
                    self.bound =
                        inflated_bound(u32::from(self.rect.w), u32::from(self.rect.h), conv.cpx());
                    inf.gate = 0;
                    len
                }
            },
        };
        let r = self.run(input, &mut used, &mut zleft, fb, conv, inf);
        self.zleft = Some(zleft);
        r.map(|done| {
            if done {
                Step::done(used)
            } else {
                Step::more(used, 1)
            }
        })
    }

    /// The decode/inflate loop; `Ok(true)` when the rectangle is complete,
    /// `Ok(false)` when every available compressed byte has been used.
    fn run(
        &mut self,
        input: &[u8],
        used: &mut usize,
        zleft: &mut u32,
        fb: &mut Framebuffer,
        conv: &Conv<'_>,
        inf: &mut Inflater,
    ) -> Result<bool, RfbError> {
        let trailing = || RfbError::malformed("ZRLE", "inflated data continues past the last tile");
        loop {
            if !self.tiles.done() {
                let avail = inf.buf.len().saturating_sub(inf.pos);
                if avail >= inf.gate {
                    let data = inf.buf.get(inf.pos..).unwrap_or(&[]);
                    let s = self.tiles.step(data, fb, conv, &mut self.palette)?;
                    inf.pos += s.used;
                    inf.gate = if s.done { 0 } else { avail - s.used + s.need };
                }
            }
            if self.tiles.done() {
                if inf.pos < inf.buf.len() {
                    return Err(trailing());
                }
                if *zleft == 0 {
                    // Nothing of this rectangle may remain inside zlib either.
                    inf.prepare();
                    let (_, produced) = inf.inflate(&[])?;
                    if produced > 0 {
                        return Err(trailing());
                    }
                    return Ok(true);
                }
            }
            let rest = input.get(*used..).unwrap_or(&[]);
            if *zleft > 0 && rest.is_empty() {
                return Ok(false);
            }
            inf.prepare();
            let take = rest.len().min(*zleft as usize);
            let (consumed, produced) = inf.inflate(rest.get(..take).unwrap_or(&[]))?;
            *used += consumed;
            *zleft -= consumed as u32;
            self.inflated += produced as u64;
            if self.inflated > self.bound {
                return Err(RfbError::malformed(
                    "ZRLE",
                    format!(
                        "inflated data passes {} bytes, the most a {}x{} rectangle can need",
                        self.bound, self.rect.w, self.rect.h
                    ),
                ));
            }
            if consumed == 0 && produced == 0 {
                return Err(if *zleft == 0 {
                    RfbError::malformed("ZRLE", "compressed data ended before the last tile")
                } else {
                    RfbError::Zlib("inflate made no progress".into())
                });
            }
        }
    }
}

/// Appends the ZRLE payload (length and zlib data) for the `w` x `h` image
/// `vals`, continuing the connection's stream `z` and ending with a sync
/// flush so the peer can decode the rectangle at once.
pub(crate) fn encode(
    z: &mut Compress,
    scratch: &mut Vec<u8>,
    vals: &[u32],
    (w, h): (u32, u32),
    pf: &PixelFormat,
    out: &mut Vec<u8>,
) -> Result<(), RfbError> {
    scratch.clear();
    encode_tiles(vals, w, h, ZRLE_TILE, false, pf, scratch);
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let start = out.len();
    let mut consumed = 0usize;
    loop {
        out.reserve(scratch.len().saturating_sub(consumed) / 2 + 1024);
        let before = z.total_in();
        z.compress_vec(
            scratch.get(consumed..).unwrap_or(&[]),
            out,
            FlushCompress::Sync,
        )
        .map_err(|e| RfbError::Zlib(e.to_string()))?;
        consumed += (z.total_in() - before) as usize;
        if consumed >= scratch.len() && out.len() < out.capacity() {
            break;
        }
    }
    let len = u32::try_from(out.len() - start).map_err(|_| RfbError::LimitExceeded {
        field: "ZRLE length",
        value: (out.len() - start) as u64,
        limit: u64::from(u32::MAX),
    })?;
    if let Some(slot) = out.get_mut(len_at..start) {
        slot.copy_from_slice(&len.to_be_bytes());
    }
    Ok(())
}

/// A fresh compressor for a connection's ZRLE stream.
pub(crate) fn new_compressor() -> Compress {
    Compress::new(Compression::new(6), true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;
    use crate::pixel::ColourMap;

    fn payload(z: &mut Compress, vals: &[u32], w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        encode(
            z,
            &mut scratch,
            vals,
            (w, h),
            &PixelFormat::RGB888,
            &mut out,
        )
        .expect("encode");
        out
    }

    fn raw_zlib(z: &mut Compress, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 1024);
        let mut consumed = 0;
        loop {
            out.reserve(64 * 1024);
            let before = z.total_in();
            z.compress_vec(&data[consumed..], &mut out, FlushCompress::Sync)
                .expect("compress");
            consumed += (z.total_in() - before) as usize;
            if consumed >= data.len() && out.len() < out.capacity() {
                break;
            }
        }
        let mut p = (out.len() as u32).to_be_bytes().to_vec();
        p.extend_from_slice(&out);
        p
    }

    #[test]
    fn zrle_two_rectangles_share_one_stream_and_split_anywhere() {
        let l = Limits::DEFAULT;
        let (w, h) = (70u32, 66u32);
        let a: Vec<u32> = (0..w * h).map(|i| (i / 7) % 5).collect();
        let b: Vec<u32> = (0..w * h)
            .map(|i| i.wrapping_mul(2_654_435_761) >> 8)
            .collect();
        let mut z = new_compressor();
        let pa = payload(&mut z, &a, w, h);
        let pb = payload(&mut z, &b, w, h);
        let map = ColourMap::new();
        let conv = Conv::new(&PixelFormat::RGB888, &map);
        let mut inf = Inflater::new();
        let mut fb = Framebuffer::new(80, 80, &l).expect("fb");
        for (p, want) in [(&pa, &a), (&pb, &b)] {
            let mut d = ZrleDecoder::new(Rect::new(0, 0, w as u16, h as u16), u32::MAX);
            let mut buf: Vec<u8> = Vec::new();
            let mut done = false;
            for chunk in p.chunks(7) {
                buf.extend_from_slice(chunk);
                let s = d.step(&buf, &mut fb, &conv, &mut inf).expect("step");
                buf.drain(..s.used);
                done = s.done;
            }
            assert!(done && buf.is_empty());
            for (i, v) in want.iter().enumerate() {
                let (x, y) = ((i as u32 % w) as u16, (i as u32 / w) as u16);
                assert_eq!(fb.get(x, y), Some(v & 0x00ff_ffff));
            }
        }
        assert!(inf.allocated() <= 2 * ZBUF_CAP);
    }

    #[test]
    fn zrle_bomb_is_refused_with_a_bounded_buffer() {
        let l = Limits::DEFAULT;
        let mut z = new_compressor();
        let p = raw_zlib(&mut z, &vec![0u8; 8 << 20]);
        let map = ColourMap::new();
        let conv = Conv::new(&PixelFormat::RGB888, &map);
        let mut inf = Inflater::new();
        let mut fb = Framebuffer::new(16, 16, &l).expect("fb");
        let mut d = ZrleDecoder::new(Rect::new(0, 0, 16, 16), u32::MAX);
        let err = d.step(&p, &mut fb, &conv, &mut inf);
        assert!(matches!(
            err,
            Err(RfbError::MalformedEncoding {
                encoding: "ZRLE",
                ..
            })
        ));
        assert!(inf.allocated() <= 2 * ZBUF_CAP);
        assert!(d.inflated <= d.bound + 2 * ZBUF_CAP as u64);
    }

    #[test]
    fn zrle_missing_compressed_bytes_are_an_error() {
        let l = Limits::DEFAULT;
        let mut z = new_compressor();
        // One 16x16 raw tile needs 1 + 768 bytes; give it only the header byte.
        let p = raw_zlib(&mut z, &[0u8]);
        let map = ColourMap::new();
        let conv = Conv::new(&PixelFormat::RGB888, &map);
        let mut inf = Inflater::new();
        let mut fb = Framebuffer::new(16, 16, &l).expect("fb");
        let err =
            ZrleDecoder::new(Rect::new(0, 0, 16, 16), u32::MAX).step(&p, &mut fb, &conv, &mut inf);
        assert!(matches!(err, Err(RfbError::MalformedEncoding { .. })));
    }

    #[test]
    fn zrle_declared_length_over_the_limit_is_refused() {
        let l = Limits::DEFAULT;
        let map = ColourMap::new();
        let conv = Conv::new(&PixelFormat::RGB888, &map);
        let mut inf = Inflater::new();
        let mut fb = Framebuffer::new(16, 16, &l).expect("fb");
        let err = ZrleDecoder::new(Rect::new(0, 0, 16, 16), 100).step(
            &[0, 0, 1, 0],
            &mut fb,
            &conv,
            &mut inf,
        );
        assert!(matches!(err, Err(RfbError::LimitExceeded { .. })));
    }

    #[test]
    fn inflated_bound_covers_every_subencoding() {
        // A 1x1 rectangle's worst case: palette RLE with a needless
        // 127-colour palette (subencoding, palette, one index byte).
        let worst = 1 + 127 * 3 + 1;
        assert!(inflated_bound(1, 1, 3) >= worst);
        let (w, h) = (64u32, 64u32);
        let noise: Vec<u32> = (0..w * h).map(|i| i.wrapping_mul(2_654_435_761)).collect();
        let mut tiles = Vec::new();
        encode_tiles(
            &noise,
            w,
            h,
            ZRLE_TILE,
            false,
            &PixelFormat::RGB888,
            &mut tiles,
        );
        assert!((tiles.len() as u64) <= inflated_bound(w, h, 3));
    }
}
