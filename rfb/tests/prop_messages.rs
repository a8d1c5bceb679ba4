//! Property tests of the client-message codec, the streaming client decoder
//! and the handshake readers: round trips, split-independence, robustness on
//! arbitrary bytes, and the hostile lengths each reader must refuse before
//! allocating.

use proptest::prelude::*;
use s301_rfb::error::Direction;
use s301_rfb::handshake::{
    read_security_offer, read_security_result, read_version, ServerInit, Version,
};
use s301_rfb::messages::ClientMessage;
use s301_rfb::reader::{try_decode, Reader};
use s301_rfb::stream::ClientMessageDecoder;
use s301_rfb::{Limits, PixelFormat, Rect, RfbError};

/// A valid pixel format: true colour with each channel's max of 2^n-1 fitting
/// after its shift, or colour-mapped with arbitrary (ignored) channel fields.
fn pixel_format() -> impl Strategy<Value = PixelFormat> {
    (
        prop_oneof![Just(8u8), Just(16u8), Just(32u8)],
        any::<bool>(),
    )
        .prop_flat_map(|(bpp, big_endian)| {
            let channel = (1u32..=u32::from(bpp).min(16)).prop_flat_map(move |bits| {
                (Just(((1u32 << bits) - 1) as u16), 0..=(bpp - bits as u8))
            });
            (
                Just(bpp),
                1..=bpp,
                Just(big_endian),
                any::<bool>(),
                channel.clone(),
                channel.clone(),
                channel,
                any::<[u16; 3]>(),
                any::<[u8; 3]>(),
            )
        })
        .prop_map(|(bpp, depth, big_endian, tc, r, g, b, maxes, shifts)| {
            if tc {
                PixelFormat {
                    bits_per_pixel: bpp,
                    depth,
                    big_endian,
                    true_colour: true,
                    red_max: r.0,
                    green_max: g.0,
                    blue_max: b.0,
                    red_shift: r.1,
                    green_shift: g.1,
                    blue_shift: b.1,
                }
            } else {
                PixelFormat {
                    bits_per_pixel: bpp,
                    depth,
                    big_endian,
                    true_colour: false,
                    red_max: maxes[0],
                    green_max: maxes[1],
                    blue_max: maxes[2],
                    red_shift: shifts[0],
                    green_shift: shifts[1],
                    blue_shift: shifts[2],
                }
            }
        })
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        pixel_format().prop_map(ClientMessage::SetPixelFormat),
        prop::collection::vec(any::<i32>(), 0..40).prop_map(ClientMessage::SetEncodings),
        (any::<bool>(), any::<[u16; 4]>()).prop_map(|(incremental, [x, y, w, h])| {
            ClientMessage::FramebufferUpdateRequest {
                incremental,
                rect: Rect::new(x, y, w, h),
            }
        }),
        (any::<bool>(), any::<u32>()).prop_map(|(down, key)| ClientMessage::KeyEvent { down, key }),
        (any::<u8>(), any::<u16>(), any::<u16>())
            .prop_map(|(buttons, x, y)| ClientMessage::PointerEvent { buttons, x, y }),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(ClientMessage::ClientCutText),
    ]
}

/// Feeds `wire` to a fresh decoder in pieces ending at `cuts` (positions taken
/// modulo the length), draining after every piece. Returns the messages and
/// the first error, and checks the buffer bound throughout.
fn feed_split(
    wire: &[u8],
    cuts: &[usize],
    limits: Limits,
) -> (Vec<ClientMessage>, Option<RfbError>) {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| if wire.is_empty() { 0 } else { c % wire.len() })
        .collect();
    points.push(0);
    points.push(wire.len());
    points.sort_unstable();
    points.dedup();
    let mut d = ClientMessageDecoder::new(limits);
    let mut got = Vec::new();
    for pair in points.windows(2) {
        let piece = &wire[pair[0]..pair[1]];
        // Feed in small slices, draining after each, so that the partial
        // message left behind plus one slice always fits the buffer limit.
        for slice in piece.chunks(64) {
            match d.feed(slice) {
                Ok(()) => {}
                Err(RfbError::BufferFull { .. }) => {
                    panic!("decoder refused input while it still had messages to give")
                }
                Err(e) => return (got, Some(e)),
            }
            assert!(d.buffered() <= limits.max_buffered);
            loop {
                match d.next_message() {
                    Ok(Some(m)) => got.push(m),
                    Ok(None) => break,
                    Err(e) => return (got, Some(e)),
                }
            }
        }
    }
    (got, None)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn write_then_read_is_identity(msg in client_message()) {
        let mut wire = Vec::new();
        msg.write(&mut wire);
        let mut r = Reader::new(&wire);
        let back = ClientMessage::read(&mut r, &Limits::DEFAULT);
        prop_assert_eq!(back, Ok(msg));
        prop_assert_eq!(r.left(), 0);
    }

    #[test]
    fn every_proper_prefix_asks_for_more(msg in client_message(), cut in any::<usize>()) {
        let mut wire = Vec::new();
        msg.write(&mut wire);
        let cut = cut % wire.len();
        let got = try_decode(&wire[..cut], |r| ClientMessage::read(r, &Limits::DEFAULT));
        prop_assert_eq!(got, Ok(None));
    }

    #[test]
    fn decoder_yields_same_messages_however_split(
        msgs in prop::collection::vec(client_message(), 0..40),
        cuts in prop::collection::vec(any::<usize>(), 0..60),
    ) {
        let mut wire = Vec::new();
        for m in &msgs {
            m.write(&mut wire);
        }
        let (got, err) = feed_split(&wire, &cuts, Limits::DEFAULT);
        prop_assert_eq!(err, None);
        prop_assert_eq!(got, msgs);
    }

    #[test]
    fn decoder_on_arbitrary_bytes_is_split_independent_and_bounded(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
        max_encodings in 0u16..64,
        max_cut_text in 0u32..512,
    ) {
        let limits = Limits {
            max_encodings,
            max_cut_text,
            // A partial message (under 520 bytes here) plus a 64-byte slice
            // always fits.
            max_buffered: 600,
            ..Limits::DEFAULT
        };
        let whole = feed_split(&bytes, &[], limits);
        let split = feed_split(&bytes, &cuts, limits);
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn decoder_on_corrupted_stream_is_split_independent(
        msgs in prop::collection::vec(client_message(), 1..30),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let limits = Limits {
            max_encodings: 64,
            max_cut_text: 512,
            max_buffered: 600,
            ..Limits::DEFAULT
        };
        let mut wire = Vec::new();
        for m in &msgs {
            m.write(&mut wire);
        }
        for (at, b) in &flips {
            let i = at % wire.len();
            wire[i] = *b;
        }
        let whole = feed_split(&wire, &[], limits);
        let split = feed_split(&wire, &cuts, limits);
        // Messages before the first corrupted byte come out unchanged.
        let first_bad = flips.iter().map(|(at, _)| at % wire.len()).min().unwrap_or(0);
        let mut clean = 0;
        let mut end = 0;
        for m in &msgs {
            let mut one = Vec::new();
            m.write(&mut one);
            end += one.len();
            if end > first_bad {
                break;
            }
            clean += 1;
        }
        prop_assert!(whole.0.len() >= clean);
        prop_assert_eq!(&whole.0[..clean], &msgs[..clean]);
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn decoder_never_buffers_past_its_limit(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..30),
        max_buffered in 1usize..1024,
    ) {
        let limits = Limits { max_buffered, ..Limits::DEFAULT };
        let mut d = ClientMessageDecoder::new(limits);
        for c in &chunks {
            let before = d.buffered();
            match d.feed(c) {
                Ok(()) => prop_assert_eq!(d.buffered(), before + c.len()),
                Err(RfbError::BufferFull { limit }) => {
                    prop_assert_eq!(limit, max_buffered);
                    prop_assert_eq!(d.buffered(), before);
                }
                Err(_) => {}
            }
            prop_assert!(d.buffered() <= max_buffered);
            // Decode only now and then, so the backlog can reach the limit.
            if c.len() % 3 == 0 {
                let _ = d.next_message();
            }
            prop_assert!(d.buffered() <= max_buffered);
        }
    }

    #[test]
    fn handshake_readers_never_panic_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        max_name_len in 0u32..256,
        max_reason_len in 0u32..256,
    ) {
        let limits = Limits { max_name_len, max_reason_len, ..Limits::DEFAULT };
        let n = bytes.len();
        if let Ok(Some((si, used))) = try_decode(&bytes, |r| ServerInit::read(r, &limits)) {
            prop_assert!(used <= n);
            prop_assert!(si.name.len() <= max_name_len as usize);
            prop_assert!(limits.check_screen(si.width, si.height).is_ok());
            prop_assert!(si.pixel_format.validate().is_ok());
        }
        for v in [Version::V3_3, Version::V3_7, Version::V3_8] {
            if let Ok(Some((_, used))) = try_decode(&bytes, |r| read_security_offer(r, v, &limits)) {
                prop_assert!(used <= n);
            }
            if let Ok(Some((_, used))) = try_decode(&bytes, |r| read_security_result(r, v, &limits)) {
                prop_assert!(used <= n);
            }
        }
        match try_decode(&bytes, read_version) {
            Ok(Some((_, used))) => prop_assert_eq!(used, 12),
            Ok(None) => prop_assert!(n < 12),
            Err(e) => prop_assert!(matches!(e, RfbError::BadVersion(_))),
        }
    }

    #[test]
    fn server_init_round_trips(
        width in 1u16..=4096,
        height in 1u16..=4096,
        pixel_format in pixel_format(),
        name in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let si = ServerInit { width, height, pixel_format, name };
        let mut wire = Vec::new();
        si.write(&mut wire);
        let got = try_decode(&wire, |r| ServerInit::read(r, &Limits::DEFAULT));
        prop_assert_eq!(got, Ok(Some((si, wire.len()))));
    }
}

// Hostile inputs. Each carries only the header that declares the absurd size,
// so a reader that waited for (or allocated) the payload would answer
// "need more bytes" instead of refusing.

#[test]
fn rejects_server_init_name_length_of_4_gib() {
    let mut wire = vec![0x04, 0x00, 0x03, 0x00];
    PixelFormat::RGB888.write(&mut wire);
    wire.extend_from_slice(&u32::MAX.to_be_bytes());
    let got = try_decode(&wire, |r| ServerInit::read(r, &Limits::DEFAULT));
    assert_eq!(
        got,
        Err(RfbError::LimitExceeded {
            field: "ServerInit name-length",
            value: u64::from(u32::MAX),
            limit: u64::from(Limits::DEFAULT.max_name_len),
        })
    );
}

#[test]
fn rejects_client_cut_text_of_2_gib() {
    let mut d = ClientMessageDecoder::new(Limits::DEFAULT);
    assert_eq!(d.feed(&[6, 0, 0, 0, 0x80, 0, 0, 0]), Ok(()));
    assert_eq!(
        d.next_message(),
        Err(RfbError::LimitExceeded {
            field: "ClientCutText length",
            value: 0x8000_0000,
            limit: u64::from(Limits::DEFAULT.max_cut_text),
        })
    );
    assert_eq!(d.buffered(), 8);
}

#[test]
fn rejects_set_encodings_count_65535_over_low_limit() {
    let limits = Limits {
        max_encodings: 16,
        ..Limits::DEFAULT
    };
    let mut d = ClientMessageDecoder::new(limits);
    assert_eq!(d.feed(&[2, 0, 0xff, 0xff]), Ok(()));
    assert_eq!(
        d.next_message(),
        Err(RfbError::LimitExceeded {
            field: "SetEncodings number-of-encodings",
            value: 65535,
            limit: 16,
        })
    );
}

#[test]
fn rejects_server_init_of_65535_by_65535() {
    let got = try_decode(&[0xff, 0xff, 0xff, 0xff], |r| {
        ServerInit::read(r, &Limits::DEFAULT)
    });
    assert!(
        matches!(
            got,
            Err(RfbError::LimitExceeded {
                field: "width",
                value: 65535,
                ..
            })
        ),
        "{got:?}"
    );
}

#[test]
fn rejects_security_failure_reason_of_4_gib() {
    for v in [Version::V3_7, Version::V3_8] {
        let got = try_decode(&[0, 0xff, 0xff, 0xff, 0xff], |r| {
            read_security_offer(r, v, &Limits::DEFAULT)
        });
        assert!(
            matches!(
                got,
                Err(RfbError::LimitExceeded {
                    value: 0xffff_ffff,
                    ..
                })
            ),
            "{got:?}"
        );
    }
    let got = try_decode(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], |r| {
        read_security_offer(r, Version::V3_3, &Limits::DEFAULT)
    });
    assert!(matches!(
        got,
        Err(RfbError::LimitExceeded {
            value: 0xffff_ffff,
            ..
        })
    ));
}

#[test]
fn rejects_unknown_client_message_type_in_stream() {
    let mut d = ClientMessageDecoder::new(Limits::DEFAULT);
    assert_eq!(d.feed(&[0xfa]), Ok(()));
    assert_eq!(
        d.next_message(),
        Err(RfbError::UnknownMessageType {
            direction: Direction::ClientToServer,
            ty: 0xfa,
        })
    );
}
