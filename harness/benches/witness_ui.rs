//! The live witness view's cost per frame at 1920x1080 when every pixel
//! changes and the picture does not compress (noise): the screen tap's copy
//! out of the console's framebuffer, the mirror's update, and the PNG of the
//! changed tiles, as the console's server thread does them for each frame.
//! Prints the mean time per frame and the frames per second one core could
//! sustain. `scripts/bench-witness-ui.sh` measures the same end to end
//! against a mock terminal.
//!
//! Run: `cargo bench -p s301-harness --bench witness_ui`

use std::sync::{Arc, Mutex};
use std::time::Instant;

use s301_harness::binding::screen::{blank_image, Damage, DamageKind, Rect};
use s301_harness::binding::tap::ScreenTap;
use s301_harness::sinks::witness_ui::frames::Frames;

fn main() {
    let (w, h) = (1920u16, 1080u16);
    let tap = ScreenTap::new();
    let Some(img) = blank_image(w, h) else {
        eprintln!("cannot make a 1920x1080 image");
        return;
    };
    let fb = Arc::new(Mutex::new(img));
    let (note, _guard) = tap.register("A", &fb);
    let frames = Frames::new();
    let all = Rect { x: 0, y: 0, w, h };
    let damage = [Damage {
        kind: DamageKind::Paint,
        rect: all,
        in_bounds: true,
        bytes: 0,
        encoding: None,
    }];
    let mut seed = 0x1234_5678u32;
    let (mut session, mut version) = (0, 0);
    let n = 40;
    let (mut paint_s, mut view_s, mut bytes) = (0.0, 0.0, 0usize);
    for _ in 0..n {
        let t = Instant::now();
        {
            let mut g = fb.lock().unwrap_or_else(|p| p.into_inner());
            for p in g.pixels_mut() {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                *p = seed & 0x00ff_ffff;
            }
        }
        note.painted(&damage);
        paint_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        frames.pump(&tap);
        let Some(f) = frames.frame(session, version) else {
            eprintln!("no frame");
            return;
        };
        view_s += t.elapsed().as_secs_f64();
        bytes += f.png.len();
        (session, version) = (f.session, f.version);
    }
    let per = view_s / f64::from(n);
    println!(
        "witness view, 1920x1080 noise, every pixel changed: {:.1} ms a frame (copy + mirror + PNG {:.1} MB), {:.1} frames/s on one core; painting the noise took {:.1} ms a frame (not counted)",
        per * 1000.0,
        bytes as f64 / f64::from(n) / 1e6,
        1.0 / per,
        paint_s / f64::from(n) * 1000.0
    );
}
