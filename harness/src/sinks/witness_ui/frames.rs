//! The live screen: one mirror of the served console's picture, fed from
//! the screen tap, and the changed part of it since a browser's last frame
//! as one PNG.
//!
//! Memory stays bounded: one mirror (one framebuffer) and a version per
//! 64x64 tile; a frame is cut from the mirror when a browser asks for it,
//! so a slow browser simply skips the pictures it was too slow for
//! (latest wins) and nothing queues.

use std::sync::Mutex;

use tokio::sync::watch;

use crate::binding::screen::{blank_image, Image, Rect};
use crate::binding::tap::{ScreenTap, TapConsole};

/// Side of a tile whose version is kept.
pub const TILE: u16 = 64;

/// The mirror of the served console.
#[derive(Debug)]
struct Mirror {
    console: Option<TapConsole>,
    /// Whether the console shown is still open (its last picture stays).
    live: bool,
    image: Option<Image>,
    /// Bumped for each new console or size: a browser's frames of an
    /// older session are replaced whole.
    session: u64,
    version: u64,
    tiles: Vec<u64>,
    tiles_x: usize,
}

/// A frame for a browser.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The mirror's version this frame brings the browser to.
    pub version: u64,
    /// The session it belongs to.
    pub session: u64,
    /// The console shown.
    pub console: String,
    /// The screen's size.
    pub width: u16,
    /// The screen's size.
    pub height: u16,
    /// Where the picture goes.
    pub rect: Rect,
    /// The picture (PNG, 8-bit RGB).
    pub png: Vec<u8>,
}

/// The live screen of a witness console.
#[derive(Debug)]
pub struct Frames {
    mirror: Mutex<Mirror>,
    changed: watch::Sender<u64>,
}

impl Default for Frames {
    fn default() -> Self {
        Frames::new()
    }
}

impl Frames {
    /// Nothing shown yet.
    pub fn new() -> Frames {
        Frames {
            mirror: Mutex::new(Mirror {
                console: None,
                live: false,
                image: None,
                session: 0,
                version: 0,
                tiles: Vec::new(),
                tiles_x: 0,
            }),
            changed: watch::channel(0).0,
        }
    }

    /// Watches the mirror's version.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The console shown, if it is still open.
    pub fn console(&self) -> Option<TapConsole> {
        let m = self.lock();
        m.console.clone().filter(|_| m.live)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mirror> {
        self.mirror.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes what changed in the served console from `tap` into the
    /// mirror; true if the mirror changed.
    pub fn pump(&self, tap: &ScreenTap) -> bool {
        let copied = tap.copy_dirty();
        let mut m = self.lock();
        let Some(c) = copied else {
            if std::mem::take(&mut m.live) {
                m.version += 1;
                let v = m.version;
                drop(m);
                self.changed.send_replace(v);
                return true;
            }
            return false;
        };
        if c.width == 0 || c.patches.is_empty() {
            return false;
        }
        m.live = true;
        let same = m.console.as_ref().is_some_and(|x| x.id == c.console.id)
            && m.image
                .as_ref()
                .is_some_and(|i| i.width() == c.width && i.height() == c.height);
        if !same {
            let Some(img) = blank_image(c.width, c.height) else {
                return false;
            };
            m.image = Some(img);
            m.console = Some(c.console.clone());
            m.session += 1;
            m.tiles_x = usize::from(c.width.div_ceil(TILE));
            m.tiles = vec![0; m.tiles_x * usize::from(c.height.div_ceil(TILE))];
        }
        m.version += 1;
        let v = m.version;
        let tiles_x = m.tiles_x;
        let Mirror { image, tiles, .. } = &mut *m;
        let Some(img) = image.as_mut() else {
            return false;
        };
        for (r, px) in &c.patches {
            let w = usize::from(r.w).max(1);
            for (i, row) in px.chunks(w).enumerate() {
                let y = u16::try_from(usize::from(r.y) + i).unwrap_or(u16::MAX);
                img.write_row(r.x, y, row);
            }
            for ty in usize::from(r.y / TILE)..=usize::from((r.y + r.h.max(1) - 1) / TILE) {
                for tx in usize::from(r.x / TILE)..=usize::from((r.x + r.w.max(1) - 1) / TILE) {
                    if let Some(t) = tiles.get_mut(ty * tiles_x + tx) {
                        *t = v;
                    }
                }
            }
        }
        drop(m);
        self.changed.send_replace(v);
        true
    }

    /// What changed since a browser's `version` of `session`, as one PNG
    /// of the changed tiles' bounding box (the whole screen for a new
    /// session), or `None` when nothing did.
    pub fn frame(&self, session: u64, version: u64) -> Option<Frame> {
        let m = self.lock();
        let img = m.image.as_ref()?;
        let console = m.console.as_ref()?;
        if m.version <= version && m.session == session {
            return None;
        }
        let rect = if m.session != session {
            img.bounds()
        } else {
            let mut bbox: Option<(usize, usize, usize, usize)> = None;
            for (i, t) in m.tiles.iter().enumerate() {
                if *t > version {
                    let (x, y) = (i % m.tiles_x, i / m.tiles_x);
                    bbox = Some(match bbox {
                        None => (x, y, x, y),
                        Some((a, b, c, d)) => (a.min(x), b.min(y), c.max(x), d.max(y)),
                    });
                }
            }
            let (x0, y0, x1, y1) = bbox?;
            let t = usize::from(TILE);
            let x = u16::try_from(x0 * t).unwrap_or(0);
            let y = u16::try_from(y0 * t).unwrap_or(0);
            let xe = u16::try_from(((x1 + 1) * t).min(usize::from(img.width()))).unwrap_or(0);
            let ye = u16::try_from(((y1 + 1) * t).min(usize::from(img.height()))).unwrap_or(0);
            Rect {
                x,
                y,
                w: xe.saturating_sub(x),
                h: ye.saturating_sub(y),
            }
        };
        let part = img.crop(rect)?;
        let (width, height) = (img.width(), img.height());
        let (session, version, label) = (m.session, m.version, console.label.clone());
        drop(m);
        let png = crate::model::png::encode(&part).ok()?;
        Some(Frame {
            version,
            session,
            console: label,
            width,
            height,
            rect,
            png,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::binding::screen::{Damage, DamageKind};
    use std::sync::Arc;

    #[test]
    fn a_new_console_is_sent_whole_then_only_the_changed_tiles() {
        let tap = ScreenTap::new();
        let fb = Arc::new(Mutex::new(blank_image(300, 200).unwrap()));
        let (note, _g) = tap.register("A", &fb);
        let frames = Frames::new();
        assert!(frames.pump(&tap));
        let f = frames.frame(0, 0).unwrap();
        assert_eq!((f.rect.w, f.rect.h), (300, 200));
        assert_eq!(f.console, "A");
        assert!(frames.frame(f.session, f.version).is_none());
        let r = Rect {
            x: 130,
            y: 70,
            w: 5,
            h: 5,
        };
        fb.lock().unwrap().fill(r, 0x00_12_34_56);
        note.painted(&[Damage {
            kind: DamageKind::Paint,
            rect: r,
            in_bounds: true,
            bytes: 0,
            encoding: None,
        }]);
        assert!(frames.pump(&tap));
        let g = frames.frame(f.session, f.version).unwrap();
        // The one 64x64 tile holding the change.
        assert_eq!(
            g.rect,
            Rect {
                x: 128,
                y: 64,
                w: 64,
                h: 64
            }
        );
        let dec = png::Decoder::new(std::io::Cursor::new(g.png));
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut buf).unwrap();
        // Pixel (2, 6) of the tile is (130, 70) on screen.
        let i = (6 * 64 + 2) * 3;
        assert_eq!(&buf[i..i + 3], &[0x12, 0x34, 0x56]);
    }
}
