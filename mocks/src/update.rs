//! Building one console's FramebufferUpdates.
//!
//! This is the CPU-heavy part of a session (diffing and encoding a whole
//! screen), so sessions run it on a blocking thread with [`build`], handing
//! over the console's [`EncState`] and getting it back.
//!
//! A pointer sprite is composed here, per console: a console that gets it
//! in its image diffs a copy of the desktop with the sprite drawn in, so the
//! damage covers where the sprite was and where it is now, and the shared
//! desktop never holds it. A console that gets the pointer as a Cursor
//! pseudo-rectangle instead gets that rectangle with its next update.

use s301_rfb::encoding::{write_cursor, Encoder, Encoding};
use s301_rfb::messages::{write_colour_map_entries, write_rect_header, write_update_header};
use s301_rfb::{ColourMap, Framebuffer, Limits, PixelFormat, Rect, RfbError};

use crate::damage::{copy_region, damage};
use crate::desktop::Desktop;
use crate::pointer::{draw_sprite, sprite_cursor};

/// A canonical pixel value no desktop pixel ever has: marks "never sent".
const UNSENT: u32 = 0xff00_0000;

/// What one console has been sent and how it wants pixels.
pub struct EncState {
    /// The ZRLE zlib stream lives here: one per console.
    pub encoder: Encoder,
    /// The image the console has been sent (canonical pixels).
    pub sent: Framebuffer,
    /// The console's pixel format.
    pub pf: PixelFormat,
    /// The colour map for colour-mapped formats.
    pub map: ColourMap,
    /// The map must be sent before the next update.
    pub send_map: bool,
    /// The pointer's shape must go out as a Cursor pseudo-rectangle with the
    /// next update (the console asked for -239 and has not had it since).
    pub cursor_due: bool,
    /// With a pointer sprite: this console's copy of the desktop with the
    /// sprite drawn in, made on first use. Only the parts a job reads are
    /// kept current.
    view: Option<Framebuffer>,
}

impl EncState {
    /// State for a new console of a `width` x `height` screen, which has been
    /// sent nothing yet and uses the server's native format.
    pub fn new(width: u16, height: u16) -> Result<Self, RfbError> {
        let mut sent = Framebuffer::new(width, height, &Limits::DEFAULT)?;
        sent.pixels_mut().fill(UNSENT);
        Ok(EncState {
            encoder: Encoder::new(),
            sent,
            pf: PixelFormat::RGB888,
            map: ColourMap::new(),
            send_map: false,
            cursor_due: false,
            view: None,
        })
    }

    /// The console switched to `pf`: colour-mapped formats get the 3-3-2 map,
    /// sent ahead of the next update.
    pub fn set_pixel_format(&mut self, pf: PixelFormat) {
        self.pf = pf;
        if pf.true_colour {
            self.map = ColourMap::new();
            self.send_map = false;
        } else {
            self.map = ColourMap::rgb332();
            self.send_map = true;
        }
    }
}

/// Which request is being answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// A non-incremental request for this region (not yet clipped).
    Full(Rect),
    /// An incremental request for this region (clipped to the screen).
    Incremental(Rect),
}

/// How to answer (the encoding, and the faults that bend the answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opts {
    /// Encoding for every rectangle.
    pub encoding: Encoding,
    /// `rect-out-of-bounds`: full answers get a Raw rectangle past the right edge.
    pub out_of_bounds: bool,
    /// `stale-incremental`: incremental answers leave out the bottom quarter
    /// of each changed rectangle, though it counts as sent.
    pub stale: bool,
    /// Draw the pointer sprite into this console's image, at the pointer.
    pub sprite: bool,
    /// A full job with the pointer's shape due is answered with the shape
    /// alone; the image is left unsent for the next request.
    pub shape_first: bool,
}

/// Answers `job` from `desktop`, appending the update to `out`. Returns
/// whether an update was written: an incremental job with no damage (and no
/// pointer shape due) writes nothing and stays to be answered later.
pub fn build(
    desktop: &Desktop,
    st: &mut EncState,
    job: Job,
    opts: &Opts,
    out: &mut Vec<u8>,
) -> Result<bool, String> {
    if opts.shape_first && st.cursor_due && matches!(job, Job::Full(_)) {
        write_update_header(1, out);
        write_cursor(&sprite_cursor(), &st.pf, &st.map, out).map_err(|e| format!("Cursor: {e}"))?;
        st.cursor_due = false;
        return Ok(true);
    }
    let bounds = st.sent.bounds();
    let (rects, oob) = match job {
        Job::Full(req) => {
            let clip = req.intersect(&bounds);
            let oob = opts
                .out_of_bounds
                .then(|| Rect::new(bounds.w.saturating_sub(8), 0, 16, 16));
            let regions: Vec<Rect> = clip.iter().chain(oob.iter()).copied().collect();
            desktop.with_view(|img, at| {
                let src = source(img, &mut st.view, &regions, opts.sprite.then_some(at));
                for r in &regions {
                    copy_region(src, &mut st.sent, *r);
                }
            });
            (clip.into_iter().collect::<Vec<_>>(), oob)
        }
        Job::Incremental(region) => {
            let changed = desktop.with_view(|img, at| {
                let src = source(img, &mut st.view, &[region], opts.sprite.then_some(at));
                let d = damage(src, &st.sent, region);
                for r in &d {
                    copy_region(src, &mut st.sent, *r);
                }
                d
            });
            let rects: Vec<Rect> = if opts.stale {
                changed
                    .iter()
                    .filter_map(|r| {
                        let cut = (r.h / 4).max(1);
                        (r.h > cut).then(|| Rect::new(r.x, r.y, r.w, r.h - cut))
                    })
                    .collect()
            } else {
                changed
            };
            if rects.is_empty() && !st.cursor_due {
                return Ok(false);
            }
            (rects, None)
        }
    };
    if st.send_map {
        write_colour_map_entries(0, st.map.entries(), out);
        st.send_map = false;
    }
    let cursor = st.cursor_due.then(sprite_cursor);
    let count = rects.len() + usize::from(oob.is_some()) + usize::from(cursor.is_some());
    let count =
        u16::try_from(count).map_err(|_| "too many rectangles for one update".to_string())?;
    write_update_header(count, out);
    if let Some(c) = &cursor {
        write_cursor(c, &st.pf, &st.map, out).map_err(|e| format!("Cursor: {e}"))?;
        st.cursor_due = false;
    }
    for r in &rects {
        st.encoder
            .encode_rect(opts.encoding, &st.sent, *r, &st.pf, &st.map, out)
            .map_err(|e| format!("{} {r}: {e}", opts.encoding.name()))?;
    }
    if let Some(o) = oob {
        tracing::warn!(rect = %o, "fault rect-out-of-bounds: rectangle past the edge");
        write_raw_clipped(st, o, out);
    }
    Ok(true)
}

/// The image a console's rectangles come from: the desktop's own `img`, or
/// with the pointer at `sprite`, the console's `view` of it with the sprite
/// drawn in, refreshed from `img` inside `regions` (where the job reads).
fn source<'a>(
    img: &'a Framebuffer,
    view: &'a mut Option<Framebuffer>,
    regions: &[Rect],
    sprite: Option<(u16, u16)>,
) -> &'a Framebuffer {
    let Some(at) = sprite else {
        return img;
    };
    let stale = view
        .as_ref()
        .is_none_or(|v| v.width() != img.width() || v.height() != img.height());
    if stale {
        *view = Some(img.clone());
    }
    let Some(v) = view.as_mut() else {
        return img;
    };
    for r in regions {
        copy_region(img, v, *r);
    }
    draw_sprite(v, at);
    v
}

/// A Raw rectangle `r` that may reach past the screen: pixels on the screen
/// come from the sent image, the rest are black.
fn write_raw_clipped(st: &EncState, r: Rect, out: &mut Vec<u8>) {
    write_rect_header(r, Encoding::Raw.code(), out);
    for y in u32::from(r.y)..r.bottom() {
        for x in u32::from(r.x)..r.right() {
            let rgb = match (u16::try_from(x), u16::try_from(y)) {
                (Ok(x), Ok(y)) => st.sent.get(x, y).unwrap_or(0),
                _ => 0,
            };
            let v = st.pf.from_rgb(rgb, &st.map);
            st.pf.write_value(v, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desktop::InputAction;
    use s301_rfb::stream::{ServerEvent, ServerMessageDecoder};

    fn opts() -> Opts {
        Opts {
            encoding: Encoding::Raw,
            out_of_bounds: false,
            stale: false,
            sprite: false,
            shape_first: false,
        }
    }

    /// Decodes `bytes` into `fb`, returning the rectangles seen.
    fn decode(bytes: &[u8], pf: PixelFormat, fb: &mut Framebuffer) -> Vec<Rect> {
        let mut dec = ServerMessageDecoder::new(pf, Limits::DEFAULT);
        dec.feed(bytes).expect("feed");
        let mut rects = Vec::new();
        while let Some(ev) = dec.next_event(fb).expect("decodes") {
            if let ServerEvent::Rect(i) = ev {
                rects.push(i.rect);
            }
        }
        rects
    }

    #[test]
    fn first_incremental_answer_sends_the_whole_screen() {
        let d = Desktop::new(160, 240).expect("desktop");
        let mut st = EncState::new(160, 240).expect("state");
        let mut out = Vec::new();
        let region = Rect::new(0, 0, 160, 240);
        assert_eq!(
            build(&d, &mut st, Job::Incremental(region), &opts(), &mut out),
            Ok(true)
        );
        let mut fb = Framebuffer::new(160, 240, &Limits::DEFAULT).expect("fb");
        decode(&out, PixelFormat::RGB888, &mut fb);
        assert_eq!(fb, d.snapshot());
        // Nothing changed since: the next incremental job writes nothing.
        out.clear();
        assert_eq!(
            build(&d, &mut st, Job::Incremental(region), &opts(), &mut out),
            Ok(false)
        );
        assert!(out.is_empty());
    }

    #[test]
    fn stale_answers_cut_each_rectangle_but_mark_it_sent() {
        let d = Desktop::new(160, 240).expect("desktop");
        let mut st = EncState::new(160, 240).expect("state");
        let mut fb = Framebuffer::new(160, 240, &Limits::DEFAULT).expect("fb");
        let mut out = Vec::new();
        build(&d, &mut st, Job::Full(fb.bounds()), &opts(), &mut out).expect("full");
        decode(&out, PixelFormat::RGB888, &mut fb);
        let (x, y) = d.layout().click_point();
        d.apply(InputAction::Click { x, y });
        let stale = Opts {
            stale: true,
            ..opts()
        };
        out.clear();
        let region = fb.bounds();
        assert_eq!(
            build(&d, &mut st, Job::Incremental(region), &stale, &mut out),
            Ok(true)
        );
        decode(&out, PixelFormat::RGB888, &mut fb);
        assert_ne!(fb, d.snapshot());
        out.clear();
        assert_eq!(
            build(&d, &mut st, Job::Incremental(region), &stale, &mut out),
            Ok(false)
        );
    }

    #[test]
    fn out_of_bounds_rectangle_matches_the_screen_where_on_it() {
        let d = Desktop::new(160, 240).expect("desktop");
        let mut st = EncState::new(160, 240).expect("state");
        let o = Opts {
            out_of_bounds: true,
            ..opts()
        };
        let mut out = Vec::new();
        build(&d, &mut st, Job::Full(Rect::new(0, 0, 4, 4)), &o, &mut out).expect("full");
        let mut fb = Framebuffer::new(160, 240, &Limits::DEFAULT).expect("fb");
        let rects = decode(&out, PixelFormat::RGB888, &mut fb);
        assert_eq!(
            rects,
            vec![Rect::new(0, 0, 4, 4), Rect::new(152, 0, 16, 16)]
        );
        let screen = d.snapshot();
        assert_eq!(
            fb.crop(Rect::new(152, 0, 8, 16)),
            screen.crop(Rect::new(152, 0, 8, 16))
        );
    }

    #[test]
    fn colour_map_goes_out_once_before_the_next_update() {
        let d = Desktop::new(160, 240).expect("desktop");
        let mut st = EncState::new(160, 240).expect("state");
        st.set_pixel_format(PixelFormat::MAPPED8);
        let mut out = Vec::new();
        build(
            &d,
            &mut st,
            Job::Full(Rect::new(0, 0, 1, 1)),
            &opts(),
            &mut out,
        )
        .expect("full");
        assert_eq!(out.first(), Some(&1)); // SetColourMapEntries
        assert!(!st.send_map);
        out.clear();
        build(
            &d,
            &mut st,
            Job::Full(Rect::new(0, 0, 1, 1)),
            &opts(),
            &mut out,
        )
        .expect("full");
        assert_eq!(out.first(), Some(&0)); // FramebufferUpdate
        st.set_pixel_format(PixelFormat::RGB888);
        assert!(!st.send_map);
    }

    #[test]
    fn shape_first_answers_a_full_job_with_the_shape_alone_and_the_image_next() {
        let d = Desktop::new(160, 240).expect("desktop");
        let mut st = EncState::new(160, 240).expect("state");
        st.cursor_due = true;
        let o = Opts {
            shape_first: true,
            ..opts()
        };
        let region = Rect::new(0, 0, 160, 240);
        let mut out = Vec::new();
        assert_eq!(
            build(&d, &mut st, Job::Full(region), &o, &mut out),
            Ok(true)
        );
        let mut fb = Framebuffer::new(160, 240, &Limits::DEFAULT).expect("fb");
        let blank = fb.clone();
        let rects = decode(&out, PixelFormat::RGB888, &mut fb);
        assert_eq!(rects.len(), 1, "one rectangle, the shape: {rects:?}");
        assert_eq!(fb, blank, "no pixel of the image was sent");
        assert!(!st.cursor_due, "the shape went out");
        // The image was not sent: the next request, even incremental, gets it all.
        out.clear();
        assert_eq!(
            build(&d, &mut st, Job::Incremental(region), &o, &mut out),
            Ok(true)
        );
        decode(&out, PixelFormat::RGB888, &mut fb);
        assert_eq!(fb, d.snapshot());
    }

    #[test]
    fn a_due_shape_is_an_update_of_its_own_and_goes_out_once() {
        let d = Desktop::new(160, 240).expect("desktop");
        let mut st = EncState::new(160, 240).expect("state");
        let mut out = Vec::new();
        let region = Rect::new(0, 0, 160, 240);
        build(&d, &mut st, Job::Full(region), &opts(), &mut out).expect("full");
        st.cursor_due = true;
        out.clear();
        assert_eq!(
            build(&d, &mut st, Job::Incremental(region), &opts(), &mut out),
            Ok(true)
        );
        let mut fb = Framebuffer::new(160, 240, &Limits::DEFAULT).expect("fb");
        let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, Limits::DEFAULT);
        dec.feed(&out).expect("feed");
        let mut shapes = Vec::new();
        while let Some(ev) = dec.next_event(&mut fb).expect("decodes") {
            if let ServerEvent::Cursor(c) = ev {
                shapes.push(*c);
            }
        }
        assert_eq!(shapes, [crate::pointer::sprite_cursor()]);
        out.clear();
        assert_eq!(
            build(&d, &mut st, Job::Incremental(region), &opts(), &mut out),
            Ok(false)
        );
    }

    #[test]
    fn the_sprite_is_composed_per_console_not_into_the_desktop() {
        let d = Desktop::new(160, 240).expect("desktop");
        d.apply(InputAction::MoveIgnored { x: 20, y: 30 });
        let with = Opts {
            sprite: true,
            ..opts()
        };
        let mut st = EncState::new(160, 240).expect("state");
        let mut out = Vec::new();
        build(
            &d,
            &mut st,
            Job::Full(Rect::new(0, 0, 160, 240)),
            &with,
            &mut out,
        )
        .expect("full");
        let mut fb = Framebuffer::new(160, 240, &Limits::DEFAULT).expect("fb");
        decode(&out, PixelFormat::RGB888, &mut fb);
        let mut want = d.snapshot();
        crate::pointer::draw_sprite(&mut want, (20, 30));
        assert_eq!(fb, want);
        assert_ne!(d.snapshot(), want);
        // Without the sprite the same console gets its old place repainted.
        out.clear();
        let region = Rect::new(0, 0, 160, 240);
        assert_eq!(
            build(&d, &mut st, Job::Incremental(region), &opts(), &mut out),
            Ok(true)
        );
        let rects = decode(&out, PixelFormat::RGB888, &mut fb);
        assert!(rects
            .iter()
            .all(|r| Rect::new(20, 30, 12, 19).intersect(r) == Some(*r)));
        assert_eq!(fb, d.snapshot());
    }
}
