//! Screenshots as PNG: a [`Framebuffer`] (canonical `0x00RRGGBB` pixels)
//! encoded as 8-bit RGB, optionally with a rectangle outlined (the changed
//! bounding box of an operation probe), and base64 for embedding in HTML.

use s301_rfb::{Framebuffer, Rect};

/// The colour of drawn outlines: pure red, visible on the mock's desktop.
pub const OUTLINE: u32 = 0x00FF_0000;

/// Encodes `fb` as an 8-bit RGB PNG.
pub fn encode(fb: &Framebuffer) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    encode_to(fb, &mut out)?;
    Ok(out)
}

/// Encodes `fb` as an 8-bit RGB PNG into `w`, one row at a time: besides
/// what `w` keeps, the encoder holds a few rows and its deflate window,
/// never a copy of the image (a 4096x4096 screen would be 48 MiB as RGB).
pub fn encode_to<W: std::io::Write>(fb: &Framebuffer, w: W) -> Result<(), png::EncodingError> {
    let width = usize::from(fb.width());
    let mut enc = png::Encoder::new(w, u32::from(fb.width()), u32::from(fb.height()));
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    // fdeflate: fast enough to run at the moment a check takes the picture,
    // and screens (flat areas, text) still compress well.
    enc.set_compression(png::Compression::Fast);
    let mut writer = enc.write_header()?;
    let mut stream = writer.stream_writer()?;
    let mut row = Vec::with_capacity(width.saturating_mul(3));
    for line in fb.pixels().chunks(width.max(1)) {
        row.clear();
        for p in line {
            row.extend_from_slice(&[(p >> 16) as u8, (p >> 8) as u8, *p as u8]);
        }
        std::io::Write::write_all(&mut stream, &row)?;
    }
    stream.finish()?;
    writer.finish()
}

/// A copy of `fb` with the border of `r` (clipped to the frame) drawn in
/// [`OUTLINE`], two pixels thick where room allows.
pub fn outlined(fb: &Framebuffer, r: Rect) -> Framebuffer {
    let mut out = fb.clone();
    outline(&mut out, r);
    out
}

/// Draws the border of `r` (clipped to the frame) into `fb` in [`OUTLINE`],
/// two pixels thick where room allows.
pub fn outline(fb: &mut Framebuffer, r: Rect) {
    for (x, y, w, h) in border_bands(fb.bounds(), r).into_iter().flatten() {
        fb.fill_area(x, y, w, h, OUTLINE);
    }
}

/// The part of `fb` inside `area`, with the border of `r` drawn on it
/// exactly as [`outlined`] would draw it on the whole frame: only the crop
/// is copied, never the frame. `None` when `area` misses the frame.
pub fn outlined_crop(fb: &Framebuffer, area: Rect, r: Rect) -> Option<Framebuffer> {
    let c = area.intersect(&fb.bounds())?;
    let mut crop = fb.crop(c)?;
    let (cx0, cy0) = (u32::from(c.x), u32::from(c.y));
    let (cx1, cy1) = (cx0 + u32::from(c.w), cy0 + u32::from(c.h));
    for (x, y, w, h) in border_bands(fb.bounds(), r).into_iter().flatten() {
        let (x0, y0) = (x.max(cx0), y.max(cy0));
        let (x1, y1) = ((x + w).min(cx1), (y + h).min(cy1));
        if x1 > x0 && y1 > y0 {
            crop.fill_area(x0 - cx0, y0 - cy0, x1 - x0, y1 - y0, OUTLINE);
        }
    }
    Some(crop)
}

/// The four bands (x, y, w, h) of `r`'s border clipped to `frame`: top,
/// bottom, left, right, two pixels thick where room allows; `None` when
/// `r` misses the frame.
fn border_bands(frame: Rect, r: Rect) -> Option<[(u32, u32, u32, u32); 4]> {
    let (fw, fh) = (u32::from(frame.w), u32::from(frame.h));
    let x0 = u32::from(r.x).min(fw);
    let y0 = u32::from(r.y).min(fh);
    let x1 = (u32::from(r.x) + u32::from(r.w)).min(fw);
    let y1 = (u32::from(r.y) + u32::from(r.h)).min(fh);
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let t = 2u32.min(x1 - x0).min(y1 - y0);
    Some([
        (x0, y0, x1 - x0, t),
        (x0, y1 - t, x1 - x0, t),
        (x0, y0, t, y1 - y0),
        (x1 - t, y0, t, y1 - y0),
    ])
}

/// Standard base64 (RFC 4648, with padding), for `data:` URIs.
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use s301_rfb::Limits;

    #[test]
    fn encoded_png_decodes_to_the_same_size_and_pixels() {
        let mut fb = Framebuffer::new(5, 3, &Limits::default()).unwrap();
        fb.set(1, 2, 0x0012_3456);
        let bytes = encode(&fb).unwrap();
        let dec = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (5, 3));
        let i = (2 * 5 + 1) * 3;
        assert_eq!(&buf[i..i + 3], &[0x12, 0x34, 0x56]);
    }

    #[test]
    fn outline_draws_the_border_only_and_clips_to_the_frame() {
        let fb = Framebuffer::new(20, 20, &Limits::default()).unwrap();
        let o = outlined(
            &fb,
            Rect {
                x: 5,
                y: 5,
                w: 10,
                h: 10,
            },
        );
        assert_eq!(o.get(5, 5), Some(OUTLINE));
        assert_eq!(o.get(14, 14), Some(OUTLINE));
        assert_eq!(o.get(10, 10), Some(0));
        let clipped = outlined(
            &fb,
            Rect {
                x: 15,
                y: 15,
                w: 100,
                h: 100,
            },
        );
        assert_eq!(clipped.get(19, 19), Some(OUTLINE));
        let empty = outlined(
            &fb,
            Rect {
                x: 30,
                y: 30,
                w: 5,
                h: 5,
            },
        );
        assert_eq!(empty.pixels(), fb.pixels());
    }

    #[test]
    fn streamed_png_matches_the_image_row_for_row() {
        let mut fb = Framebuffer::new(300, 7, &Limits::default()).unwrap();
        for y in 0..7u16 {
            for x in 0..300u16 {
                fb.set(x, y, u32::from(x) * 0x0101 + u32::from(y) * 0x01_0000);
            }
        }
        let bytes = encode(&fb).unwrap();
        let mut r = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        r.next_frame(&mut buf).unwrap();
        for (p, rgb) in fb.pixels().iter().zip(buf.chunks(3)) {
            assert_eq!(rgb, [(p >> 16) as u8, (p >> 8) as u8, *p as u8]);
        }
    }

    #[test]
    fn outlined_crop_equals_cropping_the_outlined_frame() {
        let mut fb = Framebuffer::new(40, 30, &Limits::default()).unwrap();
        fb.set(3, 4, 0x0012_3456);
        let cases = [
            (Rect::new(0, 0, 20, 20), Rect::new(4, 4, 8, 8)),
            (Rect::new(10, 10, 100, 100), Rect::new(5, 5, 10, 10)),
            (Rect::new(2, 3, 9, 9), Rect::new(0, 0, 40, 30)),
            (Rect::new(30, 20, 10, 10), Rect::new(35, 25, 50, 50)),
            (Rect::new(0, 0, 40, 30), Rect::new(39, 0, 1, 30)),
        ];
        for (area, r) in cases {
            let want = outlined(&fb, r).crop(area);
            assert_eq!(outlined_crop(&fb, area, r), want, "area {area:?} r {r:?}");
        }
        assert_eq!(
            outlined_crop(&fb, Rect::new(50, 50, 5, 5), Rect::new(0, 0, 1, 1)),
            None
        );
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
