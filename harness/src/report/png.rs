//! Screenshots as PNG: a [`Framebuffer`] (canonical `0x00RRGGBB` pixels)
//! encoded as 8-bit RGB, optionally with a rectangle outlined (the changed
//! bounding box of an operation probe), and base64 for embedding in HTML.

use s301_rfb::{Framebuffer, Rect};

/// The colour of drawn outlines: pure red, visible on the mock's desktop.
pub const OUTLINE: u32 = 0x00FF_0000;

/// Encodes `fb` as an 8-bit RGB PNG.
pub fn encode(fb: &Framebuffer) -> Result<Vec<u8>, png::EncodingError> {
    let mut rgb = Vec::with_capacity(fb.pixels().len().saturating_mul(3));
    for p in fb.pixels() {
        rgb.extend_from_slice(&[(p >> 16) as u8, (p >> 8) as u8, *p as u8]);
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, u32::from(fb.width()), u32::from(fb.height()));
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header()?;
        w.write_image_data(&rgb)?;
        w.finish()?;
    }
    Ok(out)
}

/// A copy of `fb` with the border of `r` (clipped to the frame) drawn in
/// [`OUTLINE`], two pixels thick where room allows.
pub fn outlined(fb: &Framebuffer, r: Rect) -> Framebuffer {
    let mut out = fb.clone();
    let (fw, fh) = (u32::from(fb.width()), u32::from(fb.height()));
    let x0 = u32::from(r.x).min(fw);
    let y0 = u32::from(r.y).min(fh);
    let x1 = (u32::from(r.x) + u32::from(r.w)).min(fw);
    let y1 = (u32::from(r.y) + u32::from(r.h)).min(fh);
    if x1 <= x0 || y1 <= y0 {
        return out;
    }
    let t = 2u32.min(x1 - x0).min(y1 - y0);
    out.fill_area(x0, y0, x1 - x0, t, OUTLINE);
    out.fill_area(x0, y1 - t, x1 - x0, t, OUTLINE);
    out.fill_area(x0, y0, t, y1 - y0, OUTLINE);
    out.fill_area(x1 - t, y0, t, y1 - y0, OUTLINE);
    out
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
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
