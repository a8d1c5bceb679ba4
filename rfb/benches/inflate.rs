//! Inflate throughput of the zlib stream of one ZRLE frame of the synthetic
//! 1920x1080 desktop, through two inflaters in the same run: miniz_oxide
//! called directly, and `flate2::Decompress` with whichever backend flate2 is
//! built with (the one the codec uses). Both inflate in 32 KiB pieces with
//! sync flushes, as the ZRLE decoder does.
//!
//! Throughput is counted in compressed bytes.

use criterion::{criterion_main, Criterion, Throughput};
use s301_rfb::encoding::Encoding;

mod common;
use common::{desktop, update, with_flate2, with_miniz, PIECE};

fn bench(c: &mut Criterion) {
    let bytes = update(&desktop(), Encoding::Zrle);
    // Message header (4), rectangle header (12), ZRLE length (4).
    let z = bytes.get(20..).expect("a ZRLE payload").to_vec();
    let mut out = vec![0u8; PIECE];
    let inflated = with_flate2(&z, &mut out);
    assert_eq!(inflated, with_miniz(&z, &mut out));
    eprintln!(
        "ZRLE frame: {} compressed bytes, {inflated} inflated",
        z.len()
    );
    let mut group = c.benchmark_group("inflate_zrle_frame");
    group.throughput(Throughput::Bytes(z.len() as u64));
    group.sample_size(30);
    group.bench_function("flate2", |b| b.iter(|| with_flate2(&z, &mut out)));
    group.bench_function("miniz_oxide", |b| b.iter(|| with_miniz(&z, &mut out)));
    group.finish();
}

mod entry {
    //! The criterion group (its generated function carries no docs).
    #![allow(missing_docs)]
    criterion::criterion_group!(benches, super::bench);
}

criterion_main!(entry::benches);
