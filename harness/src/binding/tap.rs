//! The screen tap: a lossy, non-blocking look at what the harness's own
//! consoles receive, for the live witness view.
//!
//! The terminal admits one console at a time, so the harness's console is
//! the only view of the terminal's screen anyone can have. When a run
//! installs a [`ScreenTap`] ([`install`]), every [`super::Console`] opened
//! afterwards is registered with it (label, framebuffer), and its binding
//! notes the rectangles each update painted ([`TapNote::painted`]).
//!
//! Nothing here can slow a check or change what it sees:
//! - a binding's note takes a `try_lock` on a list of at most
//!   [`MAX_DIRTY`] rectangles; when that lock is busy the note only sets a
//!   flag ("copy everything next time"), so the binding never waits;
//! - the reader ([`ScreenTap::copy_dirty`]) copies pixels out of the
//!   console's framebuffer with `try_lock`, a band of [`BAND_ROWS`] rows at
//!   a time, and puts back what it could not copy: the binding's decoder
//!   waits at most for one band's `memcpy` (a few microseconds), never for
//!   an encoder or a browser;
//! - the tap keeps at most [`MAX_CONSOLES`] registrations (a console
//!   opened beyond them is not shown); a closed console's framebuffer is
//!   kept only until its last painted pixels are copied (the next look,
//!   within a frame interval), so a picture painted just before a check
//!   closes its console is still shown, and memory stays a few
//!   framebuffers at most.
//!
//! The tap sees pixels only: no socket, no message, no binding type.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::screen::{Damage, Image, Rect};

/// Most rectangles a console's note keeps before they merge into one.
pub const MAX_DIRTY: usize = 16;

/// Consoles the tap keeps registered at once.
pub const MAX_CONSOLES: usize = 4;

/// Rows copied under one `try_lock` of a console's framebuffer.
pub const BAND_ROWS: u32 = 16;

static TAP: OnceLock<Arc<ScreenTap>> = OnceLock::new();

/// Installs `tap` for every console opened from now on in this process;
/// false if a tap was installed already (the first one stays).
pub fn install(tap: Arc<ScreenTap>) -> bool {
    TAP.set(tap).is_ok()
}

/// The installed tap, if any.
pub fn installed() -> Option<Arc<ScreenTap>> {
    TAP.get().cloned()
}

/// What changed in one console since the reader last looked.
#[derive(Debug, Default)]
struct Dirty {
    rects: Vec<Rect>,
    /// Everything must be copied again (a missed note, a resize).
    all: bool,
}

impl Dirty {
    fn add(&mut self, r: Rect) {
        if self.all || r.w == 0 || r.h == 0 {
            return;
        }
        if self.rects.len() >= MAX_DIRTY {
            let b = self.rects.iter().fold(r, |a, b| union(&a, b));
            self.rects.clear();
            self.rects.push(b);
        } else {
            self.rects.push(r);
        }
    }
}

fn union(a: &Rect, b: &Rect) -> Rect {
    let x0 = a.x.min(b.x);
    let y0 = a.y.min(b.y);
    let x1 = (u32::from(a.x) + u32::from(a.w)).max(u32::from(b.x) + u32::from(b.w));
    let y1 = (u32::from(a.y) + u32::from(a.h)).max(u32::from(b.y) + u32::from(b.h));
    Rect {
        x: x0,
        y: y0,
        w: u16::try_from(x1 - u32::from(x0)).unwrap_or(u16::MAX),
        h: u16::try_from(y1 - u32::from(y0)).unwrap_or(u16::MAX),
    }
}

/// One registered console.
#[derive(Debug)]
struct Entry {
    id: u64,
    label: String,
    fb: Arc<Mutex<Image>>,
    alive: Arc<AtomicBool>,
    dirty: Arc<Mutex<Dirty>>,
    missed: Arc<AtomicBool>,
}

/// A binding's handle for noting what an update painted; a no-op when no
/// tap is installed.
#[derive(Debug, Clone, Default)]
pub struct TapNote {
    inner: Option<(Arc<Mutex<Dirty>>, Arc<AtomicBool>)>,
}

impl TapNote {
    /// Notes the rectangles `damage` painted (after they were applied to
    /// the framebuffer). Never waits.
    pub fn painted(&self, damage: &[Damage]) {
        let Some((dirty, missed)) = &self.inner else {
            return;
        };
        match dirty.try_lock() {
            Ok(mut d) => {
                for x in damage {
                    match x.kind {
                        super::DamageKind::Paint => d.add(x.rect),
                        super::DamageKind::Resize => d.all = true,
                        _ => {}
                    }
                }
            }
            Err(_) => missed.store(true, Ordering::Relaxed),
        }
    }
}

/// Marks its console gone when the console is dropped.
#[derive(Debug, Default)]
pub struct TapGuard {
    alive: Option<Arc<AtomicBool>>,
}

impl Drop for TapGuard {
    fn drop(&mut self) {
        if let Some(a) = &self.alive {
            a.store(false, Ordering::Relaxed);
        }
    }
}

/// The consoles the tap watches, and what changed in them.
#[derive(Debug, Default)]
pub struct ScreenTap {
    entries: Mutex<Vec<Entry>>,
    next_id: AtomicU64,
}

/// A console as the live view names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapConsole {
    /// Registration number, increasing: a new number is a new session.
    pub id: u64,
    /// The console's label (`"A"`, `"B"`, `"trial-3/1"`).
    pub label: String,
}

/// Pixels copied out of a console.
#[derive(Debug)]
pub struct Copied {
    /// The console.
    pub console: TapConsole,
    /// The console's screen size now.
    pub width: u16,
    /// The console's screen size now.
    pub height: u16,
    /// Whether every pixel must be shown again (new console, resize).
    pub all: bool,
    /// The rectangles copied, each with its pixels row by row.
    pub patches: Vec<(Rect, Vec<u32>)>,
}

impl ScreenTap {
    /// A tap watching nothing yet.
    pub fn new() -> ScreenTap {
        ScreenTap::default()
    }

    /// Registers a console's framebuffer under `label`; a no-op note when
    /// [`MAX_CONSOLES`] open consoles are registered already.
    pub fn register(&self, label: &str, fb: &Arc<Mutex<Image>>) -> (TapNote, TapGuard) {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        e.retain(|x| x.alive.load(Ordering::Relaxed) || x.pending());
        if e.len() >= MAX_CONSOLES {
            match e.iter().position(|x| !x.alive.load(Ordering::Relaxed)) {
                Some(i) => {
                    e.remove(i);
                }
                None => return (TapNote::default(), TapGuard::default()),
            }
        }
        let alive = Arc::new(AtomicBool::new(true));
        let dirty = Arc::new(Mutex::new(Dirty {
            rects: Vec::new(),
            all: true,
        }));
        let missed = Arc::new(AtomicBool::new(false));
        e.push(Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed) + 1,
            label: label.chars().take(64).collect(),
            fb: fb.clone(),
            alive: alive.clone(),
            dirty: dirty.clone(),
            missed: missed.clone(),
        });
        (
            TapNote {
                inner: Some((dirty, missed)),
            },
            TapGuard { alive: Some(alive) },
        )
    }

    /// The consoles open now, oldest first.
    pub fn consoles(&self) -> Vec<TapConsole> {
        let e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        e.iter()
            .filter(|x| x.alive.load(Ordering::Relaxed))
            .map(|x| TapConsole {
                id: x.id,
                label: x.label.clone(),
            })
            .collect()
    }

    /// Copies what changed in the console shown (the oldest open one, or
    /// one closed since with pixels not yet copied) since the last call,
    /// or `None` when there is none. Whatever could not be copied because
    /// the binding held its framebuffer stays noted for the next call; a
    /// closed console is let go once all it painted was copied.
    pub fn copy_dirty(&self) -> Option<Copied> {
        let (console, fb, dirty, missed, alive) = {
            let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            e.retain(|x| x.alive.load(Ordering::Relaxed) || x.pending());
            let x = e.first()?;
            (
                TapConsole {
                    id: x.id,
                    label: x.label.clone(),
                },
                x.fb.clone(),
                x.dirty.clone(),
                x.missed.clone(),
                x.alive.clone(),
            )
        };
        let copied = copy(console, &fb, &dirty, &missed);
        if !alive.load(Ordering::Relaxed) {
            // Let go of a closed console whose pixels are all copied.
            let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            e.retain(|x| x.alive.load(Ordering::Relaxed) || x.pending());
        }
        Some(copied)
    }
}

impl Entry {
    /// Whether painted pixels wait to be copied.
    fn pending(&self) -> bool {
        self.missed.load(Ordering::Relaxed)
            || self
                .dirty
                .try_lock()
                .map(|d| d.all || !d.rects.is_empty())
                .unwrap_or(true)
    }
}

/// Copies the noted rectangles of `fb`, a band at a time, never waiting.
fn copy(
    console: TapConsole,
    fb: &Mutex<Image>,
    dirty: &Mutex<Dirty>,
    missed: &AtomicBool,
) -> Copied {
    let (mut rects, mut all) = {
        let mut d = dirty.lock().unwrap_or_else(|p| p.into_inner());
        (std::mem::take(&mut d.rects), std::mem::take(&mut d.all))
    };
    if missed.swap(false, Ordering::Relaxed) {
        all = true;
    }
    let (width, height) = match fb.try_lock() {
        Ok(g) => (g.width(), g.height()),
        Err(_) => {
            put_back(dirty, rects, all);
            return Copied {
                console,
                width: 0,
                height: 0,
                all: false,
                patches: Vec::new(),
            };
        }
    };
    if all {
        rects = vec![Rect {
            x: 0,
            y: 0,
            w: width,
            h: height,
        }];
    }
    let mut patches = Vec::new();
    let mut left = Vec::new();
    let mut resized = false;
    for r in rects {
        let Some(r) = clip(r, width, height) else {
            continue;
        };
        let mut px = Vec::with_capacity(usize::from(r.w) * usize::from(r.h));
        let mut row = u32::from(r.y);
        let end = u32::from(r.y) + u32::from(r.h);
        while row < end {
            let band_end = (row + BAND_ROWS).min(end);
            let Ok(g) = fb.try_lock() else { break };
            if g.width() != width || g.height() != height {
                drop(g);
                resized = true;
                break;
            }
            let pixels = g.pixels();
            for y in row..band_end {
                let start = (y * u32::from(width) + u32::from(r.x)) as usize;
                px.extend_from_slice(&pixels[start..start + usize::from(r.w)]);
            }
            row = band_end;
        }
        let done = u16::try_from(row - u32::from(r.y)).unwrap_or(0);
        if done > 0 {
            patches.push((Rect { h: done, ..r }, px));
        }
        if done < r.h {
            left.push(Rect {
                y: r.y + done,
                h: r.h - done,
                ..r
            });
        }
    }
    put_back(dirty, left, resized);
    Copied {
        console,
        width,
        height,
        all: patches
            .first()
            .is_some_and(|(p, _)| p.x == 0 && p.y == 0 && p.w == width && p.h == height),
        patches,
    }
}

fn put_back(dirty: &Mutex<Dirty>, rects: Vec<Rect>, all: bool) {
    let mut d = dirty.lock().unwrap_or_else(|p| p.into_inner());
    d.all |= all;
    for r in rects {
        d.add(r);
    }
}

/// `r` clipped to a `w` x `h` screen, or `None` if nothing is left.
fn clip(r: Rect, w: u16, h: u16) -> Option<Rect> {
    if r.x >= w || r.y >= h {
        return None;
    }
    let rw = r.w.min(w - r.x);
    let rh = r.h.min(h - r.y);
    (rw > 0 && rh > 0).then_some(Rect {
        x: r.x,
        y: r.y,
        w: rw,
        h: rh,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::binding::screen::{blank_image, DamageKind};

    fn paint(r: Rect) -> Damage {
        Damage {
            kind: DamageKind::Paint,
            rect: r,
            in_bounds: true,
            bytes: 0,
            encoding: None,
        }
    }

    #[test]
    fn a_new_console_is_copied_whole_then_only_what_changed() {
        let tap = ScreenTap::new();
        let fb = Arc::new(Mutex::new(blank_image(100, 50).unwrap()));
        let (note, guard) = tap.register("A", &fb);
        let c = tap.copy_dirty().unwrap();
        assert_eq!(c.console.label, "A");
        assert!(c.all);
        assert_eq!(c.patches.len(), 1);
        assert_eq!(c.patches[0].1.len(), 100 * 50);
        // Nothing changed: nothing copied.
        assert!(tap.copy_dirty().unwrap().patches.is_empty());
        let r = Rect {
            x: 10,
            y: 5,
            w: 4,
            h: 3,
        };
        fb.lock().unwrap().fill(r, 0x00ff_0000);
        note.painted(&[paint(r)]);
        let c = tap.copy_dirty().unwrap();
        assert!(!c.all);
        assert_eq!(c.patches, vec![(r, vec![0x00ff_0000; 12])]);
        // Painted just before the console closes: still copied once.
        fb.lock().unwrap().fill(r, 0x0000_ff00);
        note.painted(&[paint(r)]);
        drop(guard);
        assert!(tap.consoles().is_empty());
        let c = tap.copy_dirty().unwrap();
        assert_eq!(c.patches, vec![(r, vec![0x0000_ff00; 12])]);
        // Then let go.
        assert!(tap.copy_dirty().is_none());
    }

    #[test]
    fn a_held_framebuffer_is_never_waited_for_and_nothing_is_lost() {
        let tap = ScreenTap::new();
        let fb = Arc::new(Mutex::new(blank_image(64, 64).unwrap()));
        let (_note, _guard) = tap.register("A", &fb);
        {
            let _held = fb.lock().unwrap();
            // The binding holds the lock: the reader returns at once.
            let c = tap.copy_dirty().unwrap();
            assert!(c.patches.is_empty());
        }
        // What it could not copy is copied next time.
        let c = tap.copy_dirty().unwrap();
        assert!(c.all, "{c:?}");
    }

    #[test]
    fn a_busy_note_asks_for_everything_and_many_rects_merge() {
        let tap = ScreenTap::new();
        let fb = Arc::new(Mutex::new(blank_image(64, 64).unwrap()));
        let (note, _guard) = tap.register("A", &fb);
        let _ = tap.copy_dirty();
        let rs: Vec<Damage> = (0..40u16)
            .map(|i| {
                paint(Rect {
                    x: i,
                    y: i,
                    w: 1,
                    h: 1,
                })
            })
            .collect();
        note.painted(&rs);
        let c = tap.copy_dirty().unwrap();
        assert!(c.patches.len() <= MAX_DIRTY, "{}", c.patches.len());
        let covered: u64 = c
            .patches
            .iter()
            .map(|(r, _)| u64::from(r.w) * u64::from(r.h))
            .sum();
        assert!(covered >= 40);
        // A note that cannot get its lock is not lost.
        let (dirty, missed) = note.inner.clone().unwrap();
        {
            let _g = dirty.lock().unwrap();
            note.painted(&rs);
        }
        assert!(missed.load(Ordering::Relaxed));
        assert!(tap.copy_dirty().unwrap().all);
    }

    #[test]
    fn the_served_console_is_the_oldest_open_one() {
        let tap = ScreenTap::new();
        let a = Arc::new(Mutex::new(blank_image(8, 8).unwrap()));
        let b = Arc::new(Mutex::new(blank_image(8, 8).unwrap()));
        let (_na, ga) = tap.register("A", &a);
        let (_nb, _gb) = tap.register("B", &b);
        let labels: Vec<String> = tap.consoles().into_iter().map(|c| c.label).collect();
        assert_eq!(labels, ["A", "B"]);
        assert_eq!(tap.copy_dirty().unwrap().console.label, "A");
        drop(ga);
        assert_eq!(tap.copy_dirty().unwrap().console.label, "B");
        // No more than MAX_CONSOLES open ones are registered.
        let more: Vec<_> = (0..MAX_CONSOLES).map(|_| tap.register("C", &b)).collect();
        assert_eq!(tap.consoles().len(), MAX_CONSOLES);
        assert!(more.last().unwrap().0.inner.is_none());
    }
}
