//! Decode throughput of each encoding on a synthetic 1920x1080 desktop
//! (solid background, windows, text-like glyphs, a photo-like gradient),
//! against a plain `memcpy` of the same raw frame for scale.
//!
//! Each encoding is decoded twice: through `feed` + `next_event` (the
//! piece is copied into the decoder's buffer, then decoded) and through
//! `ServerMessageDecoder::decode` (decoded in place from the piece).
//!
//! `benches/decode_count.rs` runs the same frames without criterion, for
//! profilers, instruction counts and interleaved comparisons on a busy
//! machine.
//!
//! Throughput is reported against the raw frame size (1920 * 1080 * 4 bytes)
//! for every encoding, so MB/s figures compare directly; frames per second
//! is the inverse of the time per iteration.

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use s301_rfb::encoding::Encoding;
use s301_rfb::{Framebuffer, Limits};

mod common;
use common::{decode, decode_in_place, desktop, update, H, W};

fn bench(c: &mut Criterion) {
    let src = desktop();
    let frame = u64::from(W) * u64::from(H) * 4;
    let mut group = c.benchmark_group("decode_1920x1080");
    group.throughput(Throughput::Bytes(frame));
    group.sample_size(20);
    let mut fb = Framebuffer::new(W, H, &Limits::DEFAULT).expect("framebuffer");
    for enc in [
        Encoding::Raw,
        Encoding::Rre,
        Encoding::Hextile,
        Encoding::Trle,
        Encoding::Zrle,
    ] {
        let bytes = update(&src, enc);
        // Check once that the benchmark decodes what it claims to.
        decode(&bytes, &mut fb);
        assert!(fb == src, "{} does not round-trip", enc.name());
        eprintln!("{}: {} wire bytes", enc.name(), bytes.len());
        group.bench_with_input(BenchmarkId::new("feed", enc.name()), &bytes, |b, bytes| {
            b.iter(|| decode(bytes, &mut fb))
        });
        let mut events = Vec::new();
        decode_in_place(&bytes, &mut fb, &mut events);
        assert!(fb == src, "{} does not round-trip in place", enc.name());
        group.bench_with_input(
            BenchmarkId::new("in_place", enc.name()),
            &bytes,
            |b, bytes| b.iter(|| decode_in_place(bytes, &mut fb, &mut events)),
        );
        if enc == Encoding::Raw {
            // The scale for Raw, measured right after it so that both see
            // much the same machine (on a shared machine figures taken
            // minutes apart differ by more than the two do).
            let payload = bytes.get(16..).unwrap_or(&[]).to_vec();
            let mut dst = vec![0u8; payload.len()];
            group.bench_function("memcpy", |b| {
                b.iter(|| {
                    dst.copy_from_slice(&payload);
                    std::hint::black_box(&dst);
                })
            });
        }
    }
    group.finish();
}

mod entry {
    //! The criterion group (its generated function carries no docs).
    #![allow(missing_docs)]
    criterion::criterion_group!(benches, super::bench);
}

criterion_main!(entry::benches);
