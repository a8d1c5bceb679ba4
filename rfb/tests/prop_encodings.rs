//! Property tests of the rectangle encodings: every encoder's output decodes
//! back to the image (as quantised by the pixel format) in every supported
//! pixel format, however the stream is split; ZRLE keeps one zlib stream over
//! many rectangles; pointer shapes (Cursor pseudo-encoding) round trip beside
//! the image without touching it; arbitrary and hostile input never panics,
//! never grows the decoder past its limits, and a zlib bomb is refused early.

use flate2::{Compress, Compression, FlushCompress};
use proptest::prelude::*;

use s301_rfb::encoding::{write_cursor, CursorImage, Encoder, Encoding};
use s301_rfb::stream::{ServerEvent, ServerMessageDecoder};
use s301_rfb::Rect;
use s301_rfb::{ColourMap, Framebuffer, Limits, PixelFormat, RfbError};

const ENCODINGS: [Encoding; 5] = [
    Encoding::Raw,
    Encoding::Rre,
    Encoding::Hextile,
    Encoding::Trle,
    Encoding::Zrle,
];

/// The formats under test, with the colour map each uses.
fn formats() -> Vec<(&'static str, PixelFormat, ColourMap)> {
    let mut be32 = PixelFormat::RGB888;
    be32.big_endian = true;
    vec![
        ("RGB888", PixelFormat::RGB888, ColourMap::new()),
        ("RGB565", PixelFormat::RGB565, ColourMap::new()),
        ("BE32", be32, ColourMap::new()),
        ("MAPPED8", PixelFormat::MAPPED8, ColourMap::rgb332()),
    ]
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A synthetic screen of one of several styles (noise, few colours, solid
/// blocks, horizontal runs, gradient). Colour-mapped formats only get colours
/// that are in their map.
fn image(w: u16, h: u16, style: u8, seed: u64, map: &ColourMap, mapped: bool) -> Framebuffer {
    let mut fb = Framebuffer::new(w, h, &Limits::DEFAULT).expect("image");
    let mut rng = Rng(seed | 1);
    let colour = |rng: &mut Rng| -> u32 {
        if mapped {
            map.get(rng.below(256) as u32)
        } else {
            (rng.next() >> 40) as u32 & 0x00ff_ffff
        }
    };
    // Palettes of 2, 3-4 and 5-16 colours exercise each packed index width.
    let size = 2 + match rng.below(3) {
        0 => 0,
        1 => rng.below(3),
        _ => rng.below(20),
    };
    let palette: Vec<u32> = (0..size).map(|_| colour(&mut rng)).collect();
    let pick = |rng: &mut Rng| palette[rng.below(palette.len() as u64) as usize];
    let (w32, h32) = (u32::from(w), u32::from(h));
    match style % 5 {
        0 => {
            for p in fb.pixels_mut() {
                *p = colour(&mut rng);
            }
        }
        1 => {
            for p in fb.pixels_mut() {
                *p = pick(&mut rng);
            }
        }
        2 => {
            let bg = pick(&mut rng);
            fb.fill(fb.bounds(), bg);
            for _ in 0..rng.below(12) {
                let (x, y) = (rng.below(w32.into()) as u16, rng.below(h32.into()) as u16);
                let (bw, bh) = (1 + rng.below(40) as u16, 1 + rng.below(40) as u16);
                let c = pick(&mut rng);
                fb.fill(Rect::new(x, y, bw, bh), c);
            }
        }
        3 => {
            let mut c = pick(&mut rng);
            for p in fb.pixels_mut() {
                if rng.below(30) == 0 {
                    c = pick(&mut rng);
                }
                *p = c;
            }
        }
        _ => {
            for y in 0..h {
                for x in 0..w {
                    let rgb = (u32::from(x) * 255 / w32.max(1)) << 16
                        | (u32::from(y) * 255 / h32.max(1)) << 8
                        | 0x40;
                    let v = if mapped {
                        map.get(PixelFormat::MAPPED8.from_rgb(rgb, map))
                    } else {
                        rgb
                    };
                    fb.set(x, y, v);
                }
            }
        }
    }
    fb
}

/// What a client sees of `rgb` after it crossed the wire in `pf`.
fn quantised(pf: &PixelFormat, map: &ColourMap, rgb: u32) -> u32 {
    pf.to_rgb(pf.from_rgb(rgb, map), map)
}

fn update_header(rects: u16, out: &mut Vec<u8>) {
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&rects.to_be_bytes());
}

/// SetColourMapEntries for the whole of `map`.
fn colour_map_message(map: &ColourMap, out: &mut Vec<u8>) {
    let n = map.entries().len() as u16;
    out.extend_from_slice(&[1, 0, 0, 0]);
    out.extend_from_slice(&n.to_be_bytes());
    for e in map.entries() {
        for c in e {
            out.extend_from_slice(&c.to_be_bytes());
        }
    }
}

/// Feeds `bytes` in pieces whose sizes cycle through `splits`, through
/// either decoding entry point.
fn decode_split(
    dec: &mut ServerMessageDecoder,
    fb: &mut Framebuffer,
    bytes: &[u8],
    splits: &[usize],
) -> Result<Vec<ServerEvent>, RfbError> {
    let mut events = Vec::new();
    let mut rest = bytes;
    let mut i = 0;
    // Odd-length split lists use the in-place path, the rest feed/next_event.
    let in_place = splits.len() % 2 == 1;
    while !rest.is_empty() {
        let n = splits
            .get(i % splits.len().max(1))
            .copied()
            .unwrap_or(1)
            .clamp(1, rest.len());
        i += 1;
        let (piece, tail) = rest.split_at(n);
        if in_place {
            dec.decode(piece, fb, &mut events)?;
        } else {
            dec.feed(piece)?;
            while let Some(ev) = dec.next_event(fb)? {
                events.push(ev);
            }
        }
        rest = tail;
    }
    Ok(events)
}

/// Encodes `rect` of `src` in `enc`, decodes it onto a black screen of the
/// same size fed in `splits`, and checks the result pixel by pixel.
fn round_trip(
    enc: Encoding,
    (name, pf, map): &(&'static str, PixelFormat, ColourMap),
    src: &Framebuffer,
    rect: Rect,
    splits: &[usize],
) -> Result<(), TestCaseError> {
    let mut bytes = Vec::new();
    if !pf.true_colour {
        colour_map_message(map, &mut bytes);
    }
    update_header(1, &mut bytes);
    let mut encoder = Encoder::new();
    encoder
        .encode_rect(enc, src, rect, pf, map, &mut bytes)
        .map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    let mut dec = ServerMessageDecoder::new(*pf, Limits::DEFAULT);
    let mut fb = Framebuffer::new(src.width(), src.height(), &Limits::DEFAULT).expect("fb");
    let events = decode_split(&mut dec, &mut fb, &bytes, splits)
        .map_err(|e| TestCaseError::fail(format!("{} {name} decode: {e}", enc.name())))?;
    prop_assert_eq!(dec.buffered(), 0);
    let ended = matches!(events.last(), Some(ServerEvent::UpdateEnd { .. }));
    prop_assert!(ended, "the update did not end");
    for y in 0..src.height() {
        for x in 0..src.width() {
            let want = if rect.contains(x, y) {
                quantised(pf, map, src.get(x, y).unwrap_or(0))
            } else {
                0
            };
            prop_assert_eq!(
                fb.get(x, y),
                Some(want),
                "{} {} pixel {},{} of {}",
                enc.name(),
                name,
                x,
                y,
                rect
            );
        }
    }
    Ok(())
}

/// Image size (often not a multiple of 16 or 64), style, seed, a sub-rectangle
/// (as fractions) and split sizes.
fn case() -> impl Strategy<Value = (u16, u16, u8, u64, [u16; 4], Vec<usize>)> {
    (
        prop_oneof![1u16..=20, 1u16..=140],
        prop_oneof![1u16..=20, 1u16..=140],
        0u8..5,
        any::<u64>(),
        [0u16..=100, 0u16..=100, 1u16..=100, 1u16..=100],
        prop::collection::vec(prop_oneof![1usize..=3, 1usize..=600], 1..8),
    )
}

/// The sub-rectangle of a `w` x `h` image picked by four percentages.
fn sub_rect(w: u16, h: u16, f: [u16; 4]) -> Rect {
    let x = (u32::from(w) * u32::from(f[0]) / 101) as u16;
    let y = (u32::from(h) * u32::from(f[1]) / 101) as u16;
    let rw = (u32::from(w - x) * u32::from(f[2])).div_ceil(100).max(1) as u16;
    let rh = (u32::from(h - y) * u32::from(f[3])).div_ceil(100).max(1) as u16;
    Rect::new(x, y, rw, rh)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_encoding_round_trips_in_every_pixel_format_however_split(
        enc in 0usize..ENCODINGS.len(),
        fmt in 0usize..4,
        (w, h, style, seed, f, splits) in case(),
        whole in any::<bool>(),
    ) {
        let formats = formats();
        let format = &formats[fmt];
        let src = image(w, h, style, seed, &format.2, !format.1.true_colour);
        let rect = if whole { src.bounds() } else { sub_rect(w, h, f) };
        round_trip(ENCODINGS[enc], format, &src, rect, &splits)?;
    }

    #[test]
    fn zrle_rectangles_share_one_zlib_stream_across_updates(
        rects in prop::collection::vec(([0u16..=100, 0u16..=100, 1u16..=100, 1u16..=100], 0u8..5, any::<u64>()), 2..6),
        splits in prop::collection::vec(1usize..=300, 1..6),
        fmt in 0usize..4,
    ) {
        let formats = formats();
        let (_, pf, map) = &formats[fmt];
        let (w, h) = (150u16, 90u16);
        let mut encoder = Encoder::new();
        let mut bytes = Vec::new();
        if !pf.true_colour {
            colour_map_message(map, &mut bytes);
        }
        let mut want = Framebuffer::new(w, h, &Limits::DEFAULT).expect("fb");
        for (i, (f, style, seed)) in rects.iter().enumerate() {
            let src = image(w, h, *style, *seed, map, !pf.true_colour);
            let r = sub_rect(w, h, *f);
            // Alternate: one update per rectangle, or two rectangles in one update.
            if i % 2 == 0 {
                update_header(if i + 1 < rects.len() { 2 } else { 1 }, &mut bytes);
            }
            encoder.encode_rect(Encoding::Zrle, &src, r, pf, map, &mut bytes)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            for y in r.y..r.y + r.h {
                for x in r.x..r.x + r.w {
                    want.set(x, y, quantised(pf, map, src.get(x, y).unwrap_or(0)));
                }
            }
        }
        let mut dec = ServerMessageDecoder::new(*pf, Limits::DEFAULT);
        let mut fb = Framebuffer::new(w, h, &Limits::DEFAULT).expect("fb");
        let events = decode_split(&mut dec, &mut fb, &bytes, &splits)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let n = events.iter().filter(|e| matches!(e, ServerEvent::Rect(_))).count();
        prop_assert_eq!(n, rects.len());
        prop_assert!(fb == want, "image differs: {:?}", fb.diff(&want, &[]));
    }

    #[test]
    fn cursor_shapes_round_trip_in_every_pixel_format_however_split(
        (w, h) in (0u16..=40, 0u16..=40),
        hot in (any::<u16>(), any::<u16>()),
        seed in any::<u64>(),
        fmt in 0usize..4,
        splits in prop::collection::vec(prop_oneof![1usize..=3, 1usize..=600], 1..8),
    ) {
        let formats = formats();
        let (name, pf, map) = &formats[fmt];
        let mut rng = Rng(seed | 1);
        let cells: Vec<Option<u32>> = (0..usize::from(w) * usize::from(h))
            .map(|_| {
                let rgb = if pf.true_colour {
                    (rng.next() >> 40) as u32 & 0x00ff_ffff
                } else {
                    map.get(rng.below(256) as u32)
                };
                (rng.below(3) != 0).then_some(rgb)
            })
            .collect();
        let (hx, hy) = (hot.0 % w.max(1), hot.1 % h.max(1));
        let shape = CursorImage::from_cells(w, h, hx, hy, &cells)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut bytes = Vec::new();
        if !pf.true_colour {
            colour_map_message(map, &mut bytes);
        }
        update_header(1, &mut bytes);
        write_cursor(&shape, pf, map, &mut bytes)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut dec = ServerMessageDecoder::new(*pf, Limits::DEFAULT);
        let mut fb = Framebuffer::new(8, 8, &Limits::DEFAULT).expect("fb");
        let events = decode_split(&mut dec, &mut fb, &bytes, &splits)
            .map_err(|e| TestCaseError::fail(format!("{name} decode: {e}")))?;
        prop_assert_eq!(dec.buffered(), 0);
        let got: Vec<&CursorImage> = events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Cursor(c) => Some(&**c),
                _ => None,
            })
            .collect();
        prop_assert_eq!(got.len(), 1);
        let c = got[0];
        prop_assert_eq!((c.width, c.height, c.hot_x, c.hot_y), (w, h, hx, hy));
        let want: Vec<Option<u32>> = cells
            .iter()
            .map(|p| p.map(|rgb| quantised(pf, map, rgb)))
            .collect();
        prop_assert_eq!(c.cells(), want, "{}", name);
        prop_assert!(fb.pixels().iter().all(|p| *p == 0), "the screen was touched");
        let ended = matches!(events.last(), Some(ServerEvent::UpdateEnd { .. }));
        prop_assert!(ended, "the update did not end");
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_within_max_buffered(
        bytes in prop::collection::vec(any::<u8>(), 0..3000),
        splits in prop::collection::vec(1usize..=700, 1..6),
        max_buffered in 16usize..=2048,
        fmt in 0usize..4,
    ) {
        let limits = Limits { max_buffered, ..Limits::DEFAULT };
        let (_, pf, _) = &formats()[fmt];
        let mut dec = ServerMessageDecoder::new(*pf, limits);
        let mut fb = Framebuffer::new(64, 48, &Limits::DEFAULT).expect("fb");
        feed_hostile(&mut dec, &mut fb, &bytes, &splits, max_buffered)?;
    }

    #[test]
    fn arbitrary_bytes_decoded_in_place_never_panic_and_stay_bounded(
        prefix in prop_oneof![Just(vec![]), Just(vec![0u8, 0, 0, 3])],
        bytes in prop::collection::vec(any::<u8>(), 0..3000),
        splits in prop::collection::vec(1usize..=700, 1..6),
        max_buffered in 16usize..=2048,
        fmt in 0usize..4,
    ) {
        let limits = Limits { max_buffered, ..Limits::DEFAULT };
        let (_, pf, _) = &formats()[fmt];
        let mut dec = ServerMessageDecoder::new(*pf, limits);
        let mut fb = Framebuffer::new(64, 48, &Limits::DEFAULT).expect("fb");
        let all: Vec<u8> = prefix.iter().chain(bytes.iter()).copied().collect();
        let mut rest = all.as_slice();
        let mut events = Vec::new();
        let mut i = 0;
        while !rest.is_empty() {
            let n = splits[i % splits.len()].clamp(1, rest.len());
            i += 1;
            let (piece, tail) = rest.split_at(n);
            let r = dec.decode(piece, &mut fb, &mut events);
            prop_assert!(dec.buffered() <= max_buffered);
            prop_assert!(dec.allocated() <= 2 * max_buffered + 64 * 1024 + 1024 * 1024 + 4096);
            if let Err(e) = r {
                prop_assert!(!matches!(e, RfbError::BufferFull { .. }), "in-place decode buffered too much");
                prop_assert_eq!(dec.next_event(&mut fb), Err(e));
                break;
            }
            rest = tail;
        }
    }

    #[test]
    fn random_payloads_behind_valid_headers_never_panic(
        enc in prop_oneof![Just(0i32), Just(1), Just(2), Just(5), Just(15), Just(16), Just(-223), Just(-239), any::<i32>()],
        rect in (any::<u16>(), any::<u16>(), 0u16..=300, 0u16..=300),
        payload in prop::collection::vec(any::<u8>(), 0..4000),
        splits in prop::collection::vec(1usize..=700, 1..6),
        fmt in 0usize..4,
    ) {
        let (_, pf, _) = &formats()[fmt];
        let mut bytes = Vec::new();
        update_header(2, &mut bytes);
        for v in [rect.0, rect.1, rect.2, rect.3] {
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        bytes.extend_from_slice(&enc.to_be_bytes());
        bytes.extend_from_slice(&payload);
        let limits = Limits { max_buffered: 1024, ..Limits::DEFAULT };
        let mut dec = ServerMessageDecoder::new(*pf, limits);
        let mut fb = Framebuffer::new(64, 48, &Limits::DEFAULT).expect("fb");
        feed_hostile(&mut dec, &mut fb, &bytes, &splits, 1024)?;
    }
}

/// Feeds hostile bytes, draining whenever the buffer is full, and checks
/// the buffer bound after every call. Stops at the first decoding error,
/// after checking that it sticks.
fn feed_hostile(
    dec: &mut ServerMessageDecoder,
    fb: &mut Framebuffer,
    bytes: &[u8],
    splits: &[usize],
    max_buffered: usize,
) -> Result<(), TestCaseError> {
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let n = splits[i % splits.len()].clamp(1, rest.len());
        i += 1;
        let (piece, tail) = rest.split_at(n);
        let fed = match dec.feed(piece) {
            Ok(()) => true,
            Err(RfbError::BufferFull { .. }) => false,
            Err(e) => return Err(TestCaseError::fail(format!("feed after error: {e}"))),
        };
        prop_assert!(dec.buffered() <= max_buffered);
        loop {
            match dec.next_event(fb) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    prop_assert_eq!(dec.next_event(fb), Err(e.clone()));
                    prop_assert_eq!(dec.feed(&[0]), Err(e));
                    return Ok(());
                }
            }
            prop_assert!(dec.buffered() <= max_buffered);
        }
        prop_assert!(dec.allocated() <= 2 * max_buffered + 64 * 1024 + 1024 * 1024 + 4096);
        if fed {
            rest = tail;
        } else if dec.feed(piece).is_err() {
            // Still full after draining: the piece alone passes the limit,
            // so feed it in halves.
            let half = (piece.len() / 2).max(1);
            let (a, _) = piece.split_at(half);
            if dec.feed(a).is_ok() {
                rest = &rest[half..];
            } else {
                // Not even half fits: the decoder waits for a unit it cannot hold,
                // which only a limit smaller than one unit can cause.
                return Ok(());
            }
        } else {
            rest = tail;
        }
    }
    Ok(())
}

#[test]
fn one_by_one_images_round_trip_in_every_encoding_and_format() {
    for format in formats() {
        for enc in ENCODINGS {
            for seed in 1..4u64 {
                let src = image(
                    1,
                    1,
                    (seed % 5) as u8,
                    seed,
                    &format.2,
                    !format.1.true_colour,
                );
                round_trip(enc, &format, &src, src.bounds(), &[1])
                    .unwrap_or_else(|e| panic!("{} {}: {e}", enc.name(), format.0));
            }
        }
    }
}

#[test]
fn every_encoding_round_trips_fed_one_byte_at_a_time() {
    for format in formats() {
        for enc in ENCODINGS {
            for (w, h, style) in [(70u16, 65u16, 0u8), (33, 17, 1), (64, 64, 2), (17, 80, 3)] {
                let src = image(w, h, style, 99, &format.2, !format.1.true_colour);
                round_trip(enc, &format, &src, src.bounds(), &[1])
                    .unwrap_or_else(|e| panic!("{} {}: {e}", enc.name(), format.0));
            }
        }
    }
}

/// A ZRLE rectangle claiming 16x16 whose zlib stream inflates to 50 MB.
fn zlib_bomb() -> Vec<u8> {
    let zeros = vec![0u8; 1 << 20];
    let mut z = Compress::new(Compression::fast(), true);
    let mut data = Vec::with_capacity(1 << 20);
    for i in 0..50 {
        let flush = if i == 49 {
            FlushCompress::Sync
        } else {
            FlushCompress::None
        };
        let mut consumed = 0;
        loop {
            data.reserve(64 * 1024);
            let before = z.total_in();
            z.compress_vec(&zeros[consumed..], &mut data, flush)
                .expect("compress");
            consumed += (z.total_in() - before) as usize;
            if consumed >= zeros.len() && data.len() < data.capacity() {
                break;
            }
        }
    }
    let mut bytes = Vec::new();
    update_header(1, &mut bytes);
    for v in [0u16, 0, 16, 16] {
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    bytes.extend_from_slice(&16i32.to_be_bytes());
    bytes.extend_from_slice(&(data.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&data);
    bytes
}

#[test]
fn zlib_bomb_in_a_small_zrle_rectangle_is_refused_early_with_bounded_memory() {
    let bytes = zlib_bomb();
    let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, Limits::DEFAULT);
    let mut fb = Framebuffer::new(16, 16, &Limits::DEFAULT).expect("fb");
    let mut fed = 0usize;
    let mut peak = 0usize;
    let mut result = Ok(());
    'feed: for piece in bytes.chunks(4096) {
        dec.feed(piece).expect("feed");
        fed += piece.len();
        loop {
            peak = peak.max(dec.allocated());
            match dec.next_event(&mut fb) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    result = Err(e);
                    break 'feed;
                }
            }
        }
    }
    assert!(
        matches!(
            result,
            Err(RfbError::MalformedEncoding {
                encoding: "ZRLE",
                ..
            })
        ),
        "{result:?}"
    );
    // Refused within the first few compressed pieces, long before the whole
    // stream (about 50 KB) arrived, and never holding more than the input
    // pieces plus the fixed inflate buffer.
    assert!(
        fed <= 3 * 4096 && fed < bytes.len(),
        "fed {fed} of {}",
        bytes.len()
    );
    assert!(peak < 256 * 1024, "peak {peak}");
}

#[test]
fn zrle_declared_length_over_the_limit_is_refused_before_reading_it() {
    let mut bytes = Vec::new();
    update_header(1, &mut bytes);
    for v in [0u16, 0, 16, 16] {
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    bytes.extend_from_slice(&16i32.to_be_bytes());
    bytes.extend_from_slice(&u32::MAX.to_be_bytes());
    let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, Limits::DEFAULT);
    let mut fb = Framebuffer::new(16, 16, &Limits::DEFAULT).expect("fb");
    let err = decode_split(&mut dec, &mut fb, &bytes, &[100]);
    assert!(
        matches!(
            err,
            Err(RfbError::LimitExceeded {
                field: "ZRLE length",
                ..
            })
        ),
        "{err:?}"
    );
}
