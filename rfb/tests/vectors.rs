//! Captured FramebufferUpdates from TigerVNC and libvncserver
//! (testdata/rfb, listed in vectors.json) decoded by
//! [`ServerMessageDecoder`]: each must give exactly the pixels of the Raw
//! update of the same screen, whole or fed in any pieces.

use std::io::Read;
use std::path::PathBuf;

use s301_rfb::stream::{ServerEvent, ServerMessageDecoder};
use s301_rfb::{Framebuffer, Limits, PixelFormat};

/// One entry of vectors.json.
struct Vector {
    file: String,
    reference: String,
    encodings: Vec<i64>,
    width: u16,
    height: u16,
    bytes: u64,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/rfb")
}

fn load(name: &str) -> Vec<u8> {
    let raw = std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    if name.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        out
    } else {
        raw
    }
}

fn vectors() -> Vec<Vector> {
    let json: serde_json::Value =
        serde_json::from_slice(&load("vectors.json")).expect("vectors.json parses");
    let list = json.as_array().expect("vectors.json is a list");
    assert!(!list.is_empty());
    list.iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("{k}")).to_string();
            let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k}"));
            Vector {
                file: s("file"),
                reference: s("reference"),
                encodings: v["encodings_in_update"]
                    .as_array()
                    .expect("encodings_in_update")
                    .iter()
                    .map(|e| e.as_i64().expect("encoding code"))
                    .collect(),
                width: n("width") as u16,
                height: n("height") as u16,
                bytes: n("bytes"),
            }
        })
        .collect()
}

/// Decodes `bytes` onto a blank screen, feeding pieces of the sizes `sizes`
/// yields (cycled), and returns the image and the events.
fn decode(
    v: &Vector,
    bytes: &[u8],
    mut sizes: impl FnMut() -> usize,
) -> (Framebuffer, Vec<ServerEvent>) {
    let limits = Limits::DEFAULT;
    let mut fb = Framebuffer::new(v.width, v.height, &limits).expect("framebuffer");
    let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, limits);
    let mut events = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = sizes().clamp(1, rest.len());
        let (piece, tail) = rest.split_at(n);
        dec.feed(piece)
            .unwrap_or_else(|e| panic!("{}: feed: {e}", v.file));
        while let Some(ev) = dec
            .next_event(&mut fb)
            .unwrap_or_else(|e| panic!("{}: decode: {e}", v.file))
        {
            events.push(ev);
        }
        assert!(dec.buffered() <= limits.max_buffered);
        rest = tail;
    }
    assert_eq!(dec.buffered(), 0, "{}: bytes left undecoded", v.file);
    (fb, events)
}

fn whole(v: &Vector, bytes: &[u8]) -> (Framebuffer, Vec<ServerEvent>) {
    decode(v, bytes, || usize::MAX)
}

#[test]
fn every_listed_vector_exists_with_its_declared_size() {
    for v in vectors() {
        assert_eq!(load(&v.file).len() as u64, v.bytes, "{}", v.file);
        assert!(dir().join(&v.reference).exists(), "{}", v.reference);
    }
}

#[test]
fn every_vector_decodes_pixel_exact_to_its_raw_reference() {
    for v in vectors() {
        let (fb, _) = whole(&v, &load(&v.file));
        let (reference, _) = whole(&v, &load(&v.reference));
        if let Some((n, bbox)) = fb.diff(&reference, &[]) {
            panic!(
                "{}: {n} pixels differ from the reference within {bbox}",
                v.file
            );
        }
        // A blank result would match a blank reference: the screens are not blank.
        assert!(fb.pixels().iter().any(|&p| p != 0), "{}", v.file);
    }
}

#[test]
fn every_vector_is_one_whole_update_in_its_listed_encodings() {
    for v in vectors() {
        let (_, events) = whole(&v, &load(&v.file));
        let Some(ServerEvent::UpdateBegin { rects }) = events.first() else {
            panic!("{}: no UpdateBegin first", v.file);
        };
        let infos: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Rect(i) => Some(i.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(infos.len(), usize::from(*rects), "{}", v.file);
        for i in &infos {
            assert!(i.in_bounds, "{}: {} off screen", v.file, i.rect);
            assert!(
                v.encodings.contains(&i64::from(i.encoding)),
                "{}: encoding {}",
                v.file,
                i.encoding
            );
        }
        let rect_bytes: u64 = infos.iter().map(|i| i.bytes).sum();
        assert_eq!(4 + rect_bytes, v.bytes, "{}", v.file);
        assert_eq!(
            events.last(),
            Some(&ServerEvent::UpdateEnd { bytes: v.bytes }),
            "{}",
            v.file
        );
        assert_eq!(events.len(), infos.len() + 2, "{}", v.file);
    }
}

#[test]
fn every_vector_decodes_identically_fed_one_byte_at_a_time() {
    for v in vectors() {
        let bytes = load(&v.file);
        let (want_fb, want_events) = whole(&v, &bytes);
        let (fb, events) = decode(&v, &bytes, || 1);
        assert_eq!(events, want_events, "{}", v.file);
        assert!(fb == want_fb, "{}: image differs", v.file);
    }
}

#[test]
fn every_vector_decodes_identically_fed_in_random_pieces() {
    for v in vectors() {
        let bytes = load(&v.file);
        let (want_fb, want_events) = whole(&v, &bytes);
        for seed in [1u64, 0xdead_beef, 42_424_242] {
            // xorshift64: piece sizes from 1 to 5000, skewed towards small.
            let mut x = seed;
            let sizes = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let cap = [7u64, 300, 5000][(x % 3) as usize];
                (x >> 8) as usize % cap as usize + 1
            };
            let (fb, events) = decode(&v, &bytes, sizes);
            assert_eq!(events, want_events, "{} seed {seed}", v.file);
            assert!(fb == want_fb, "{} seed {seed}: image differs", v.file);
        }
    }
}

#[test]
fn every_vector_decodes_identically_in_place_in_random_pieces() {
    for v in vectors() {
        let bytes = load(&v.file);
        let (want_fb, want_events) = whole(&v, &bytes);
        for seed in [3u64, 77] {
            let limits = Limits::DEFAULT;
            let mut fb = Framebuffer::new(v.width, v.height, &limits).expect("framebuffer");
            let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, limits);
            let mut events = Vec::new();
            let mut x = seed;
            let mut rest = bytes.as_slice();
            while !rest.is_empty() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let n = ((x >> 8) as usize % [5usize, 2000, 70_000][(x % 3) as usize] + 1)
                    .min(rest.len());
                let (piece, tail) = rest.split_at(n);
                dec.decode(piece, &mut fb, &mut events)
                    .unwrap_or_else(|e| panic!("{}: {e}", v.file));
                rest = tail;
            }
            assert_eq!(dec.buffered(), 0, "{}", v.file);
            assert_eq!(events, want_events, "{} seed {seed}", v.file);
            assert!(fb == want_fb, "{} seed {seed}: image differs", v.file);
        }
    }
}
