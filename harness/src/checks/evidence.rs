//! Screenshots a check keeps as evidence: taken inside the running check
//! and held in `ctx.shared.images` (see [`crate::model::screenshots`]).

use std::borrow::Borrow;

use crate::binding::screen::{Image, Rect};

use super::CheckCtx;
use crate::binding::transcript::current_check;
use crate::model::png;

/// Most screenshots held at once (one check's, until it finishes); later
/// ones are dropped and the drop is logged. Held screenshots cost their
/// path, or their PNG bytes before the run directory is known (see
/// [`screenshots::MAX_HELD_BYTES`]), never their pixels.
pub const MAX_IMAGES: usize = 96;

/// Keeps a screenshot of the current check as `<CHECK-ID>/<name>` in
/// `ctx.shared.images`: encoded as PNG at once and, once the run directory
/// is known, written as `evidence/<CHECK-ID>/<name>.png` before this
/// returns. Takes the image by value or by reference, so a caller can hand
/// over a console's framebuffer without copying it
/// (`console.with_framebuffer(|fb| snapshot(ctx, name, fb))`). Outside a
/// check, or past [`MAX_IMAGES`], nothing is kept.
pub fn snapshot(ctx: &CheckCtx, name: &str, fb: impl Borrow<Image>) {
    let Some(id) = current_check() else {
        return;
    };
    let mut shared = ctx.shared.lock().unwrap_or_else(|p| p.into_inner());
    if shared.images.len() >= MAX_IMAGES {
        tracing::warn!("screenshot {id}/{name} dropped: {MAX_IMAGES} already kept");
        return;
    }
    let name: String = name
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    shared.images.insert(format!("{id}/{name}"), fb);
}

/// Keeps the part of `fb` around `r` (the rectangle plus a margin) with `r`
/// outlined: the before/after crops of an operation probe. Only the crop is
/// copied.
pub fn snapshot_around(ctx: &CheckCtx, name: &str, fb: &Image, r: Rect) {
    const MARGIN: u16 = 16;
    let area = Rect {
        x: r.x.saturating_sub(MARGIN),
        y: r.y.saturating_sub(MARGIN),
        w: r.w.saturating_add(2 * MARGIN),
        h: r.h.saturating_add(2 * MARGIN),
    };
    let Some(crop) = png::outlined_crop(fb, area, r) else {
        return;
    };
    snapshot(ctx, name, crop);
}
