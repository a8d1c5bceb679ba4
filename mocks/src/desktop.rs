//! The synthetic screen the mock terminal shows: deterministic, with no
//! randomness, so two runs draw the same pixels for the same input. The only
//! clock is the optional blinking text cursor, toggled from outside with
//! [`Desktop::toggle_blink`].
//!
//! It has a title bar, a text panel where typed characters appear, a click
//! pad and a colour ramp that gives the encoders many colours to deal with.
//! In the default [`ScreenMode::Counter`] every click leaves a marker on the
//! pad and bumps a counter, so every accepted key and every click changes
//! the screen (the counters make sure of it). In
//! [`ScreenMode::PointerFollow`] the pad shows a crosshair at the pointer
//! instead and clicks change nothing.
//!
//! The pointer's position is desktop state shared by every console. A
//! pointer sprite is not drawn here: sessions compose it into their own
//! image (see [`crate::update`]), since whether a console sees it depends on
//! the encodings it asked for.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use s301_rfb::pixel::Rgb;
use s301_rfb::{Framebuffer, Limits, Rect, RfbError};
use tokio::sync::watch;

use crate::font;
use crate::pointer::ScreenMode;
use crate::MockConfig;

/// X keysym of BackSpace.
pub const KEY_BACKSPACE: u32 = 0xff08;
/// X keysym of Return.
pub const KEY_RETURN: u32 = 0xff0d;
/// X keysym of the keypad Enter key, treated like Return.
pub const KEY_KP_ENTER: u32 = 0xff8d;

const BG_A: Rgb = 0x1b2a3a;
const BG_B: Rgb = 0x203246;
const TITLE_BG: Rgb = 0x0b5394;
const TITLE_FG: Rgb = 0xffffff;
const BORDER: Rgb = 0x8899aa;
const STRIP_BG: Rgb = 0xd5dde8;
const STRIP_FG: Rgb = 0x1a2a3a;
const TEXT_BG: Rgb = 0xfffff2;
const TEXT_FG: Rgb = 0x102030;
const CURSOR: Rgb = 0xc00000;
const PAD_BG: Rgb = 0xe6edf4;
const CROSSHAIR: Rgb = 0x0060d0;
const MARKERS: [Rgb; 6] = [0xd00000, 0x0060d0, 0x008000, 0xc06000, 0x8000a0, 0x007070];

/// Text scale used everywhere on the desktop (5x7 glyphs drawn 10x14).
const SCALE: u16 = 2;
/// Height of the header strip of the text panel and the click pad.
const STRIP_H: u16 = 20;
/// Height of one text line in the text panel.
const LINE_H: u16 = 20;
/// Arm length of a click marker.
const ARM: i32 = 6;

/// The title bar's text.
pub const TITLE: &str = "S3-01 MOCK TERMINAL";

/// How long the blinking text cursor stays on, and off.
pub const BLINK_PERIOD: Duration = Duration::from_millis(250);

/// How the desktop behaves beyond its size (all off: the classic desktop).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DesktopModes {
    /// The text cursor is a blinking text cell instead of a steady bar.
    pub blink: bool,
    /// What the click pad shows.
    pub screen_mode: ScreenMode,
    /// A pointer sprite follows the pointer, so pointer motion changes what
    /// consoles see even where the desktop's own pixels stay the same.
    pub sprite: bool,
    /// Where the pointer starts; `None` is [`Layout::click_point`].
    pub pointer_start: Option<(u16, u16)>,
}

impl DesktopModes {
    /// The modes `cfg` asks for.
    pub fn of(cfg: &MockConfig) -> DesktopModes {
        DesktopModes {
            blink: cfg.blink,
            screen_mode: cfg.screen_mode,
            sprite: cfg.pointer_sprite != crate::PointerSprite::Off,
            pointer_start: cfg.pointer_start,
        }
    }
}

/// Where the desktop's parts are, for a given screen size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The title bar across the top.
    pub title: Rect,
    /// The text panel (header strip with a key counter, then the typed text).
    pub text: Rect,
    /// The click pad (header strip with a click counter, then the markers).
    pub pad: Rect,
    /// The colour ramp near the bottom.
    pub ramp: Rect,
}

impl Layout {
    /// The layout for a `width` x `height` screen (at least
    /// [`crate::MockConfig::MIN_WIDTH`] x [`crate::MockConfig::MIN_HEIGHT`]
    /// for every part to be usable; smaller sizes give empty parts).
    pub fn for_screen(width: u16, height: u16) -> Layout {
        let margin: u16 = if width >= 640 { 32 } else { 8 };
        let inner_w = width.saturating_sub(2 * margin);
        let title = Rect::new(0, 0, width, 32.min(height));
        let text_y = 48;
        let text_h = (height / 4).clamp(72, 200);
        let text = Rect::new(margin, text_y, inner_w, text_h);
        let pad_y = text_y + text_h + 16;
        let pad_h = height.saturating_sub(48).saturating_sub(pad_y);
        let pad = Rect::new(margin, pad_y, inner_w, pad_h);
        let ramp = Rect::new(0, height.saturating_sub(32), width, 24.min(height));
        Layout {
            title,
            text,
            pad,
            ramp,
        }
    }

    /// Where a click probe should click: the middle of the pad's marker area.
    pub fn click_point(&self) -> (u16, u16) {
        let area = self.pad_area();
        (area.x + area.w / 2, area.y + area.h / 2)
    }

    /// The text panel's header strip (holds the key counter).
    fn text_strip(&self) -> Rect {
        strip_of(self.text)
    }

    /// Where typed text goes, below the text panel's strip.
    fn text_area(&self) -> Rect {
        area_of(self.text)
    }

    /// The click pad's header strip (holds the click counter).
    fn pad_strip(&self) -> Rect {
        strip_of(self.pad)
    }

    /// Where click markers are drawn, below the pad's strip.
    fn pad_area(&self) -> Rect {
        area_of(self.pad)
    }

    /// Text columns that fit on one line.
    fn text_cols(&self) -> usize {
        usize::from(self.text_area().w.saturating_sub(8) / (font::CELL_W * SCALE))
    }

    /// Text lines that fit in the text area.
    fn text_rows(&self) -> usize {
        usize::from(self.text_area().h.saturating_sub(4) / LINE_H)
    }
}

/// The header strip inside a bordered panel.
fn strip_of(panel: Rect) -> Rect {
    Rect::new(
        panel.x + 1,
        panel.y + 1,
        panel.w.saturating_sub(2),
        STRIP_H.min(panel.h.saturating_sub(2)),
    )
}

/// The panel's interior below its strip.
fn area_of(panel: Rect) -> Rect {
    let top = 1 + STRIP_H + 1;
    Rect::new(
        panel.x + 1,
        panel.y.saturating_add(top),
        panel.w.saturating_sub(2),
        panel.h.saturating_sub(top + 1),
    )
}

/// One input event, as the desktop applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputAction {
    /// A key was pressed (X keysym).
    Key(u32),
    /// Button 1 was pressed at `(x, y)`.
    Click {
        /// Column.
        x: u16,
        /// Row.
        y: u16,
    },
    /// The pointer moved to `(x, y)` (any pointer event): the sprite and,
    /// in [`ScreenMode::PointerFollow`], the pad's crosshair follow it.
    Move {
        /// Column.
        x: u16,
        /// Row.
        y: u16,
    },
    /// Pointer motion the application never sees (fault `ignore-input`):
    /// only the server's pointer, and so its sprite, moves.
    MoveIgnored {
        /// Column.
        x: u16,
        /// Row.
        y: u16,
    },
}

/// What the desktop keeps besides its pixels.
struct State {
    fb: Framebuffer,
    layout: Layout,
    modes: DesktopModes,
    lines: VecDeque<String>,
    keys: u64,
    clicks: u64,
    /// With blinking: whether the cursor cell is shown now.
    blink_on: bool,
    /// Where the server's pointer is (where a sprite goes).
    pointer: (u16, u16),
    /// Where the application last saw the pointer (the crosshair).
    seen_pointer: (u16, u16),
}

/// The shared screen of one mock terminal. Sessions read it to build updates;
/// input applies to it; every change bumps a version others can wait on.
pub struct Desktop {
    state: Mutex<State>,
    version: watch::Sender<u64>,
}

impl Desktop {
    /// A freshly drawn classic desktop of `width` x `height` (no modes).
    pub fn new(width: u16, height: u16) -> Result<Desktop, RfbError> {
        Self::with_modes(width, height, DesktopModes::default())
    }

    /// A freshly drawn desktop of `width` x `height` behaving as `modes` says.
    pub fn with_modes(width: u16, height: u16, modes: DesktopModes) -> Result<Desktop, RfbError> {
        let fb = Framebuffer::new(width, height, &Limits::DEFAULT)?;
        let layout = Layout::for_screen(width, height);
        let pointer = modes.pointer_start.unwrap_or(layout.click_point());
        let mut st = State {
            fb,
            layout,
            modes,
            lines: VecDeque::from([String::new()]),
            keys: 0,
            clicks: 0,
            blink_on: true,
            pointer,
            seen_pointer: pointer,
        };
        st.render_all();
        let (version, _) = watch::channel(0);
        Ok(Desktop {
            state: Mutex::new(st),
            version,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while drawing leaves a drawable image behind;
        // keep serving it rather than poisoning every session.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The layout in use.
    pub fn layout(&self) -> Layout {
        self.lock().layout
    }

    /// A receiver that sees the version change whenever the screen changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Runs `f` on the current image, under the desktop's lock (keep it short).
    pub fn with_image<R>(&self, f: impl FnOnce(&Framebuffer) -> R) -> R {
        f(&self.lock().fb)
    }

    /// Runs `f` on the current image and the pointer's position, read
    /// together under the desktop's lock (keep it short).
    pub fn with_view<R>(&self, f: impl FnOnce(&Framebuffer, (u16, u16)) -> R) -> R {
        let st = self.lock();
        f(&st.fb, st.pointer)
    }

    /// Where the server's pointer is now.
    pub fn pointer(&self) -> (u16, u16) {
        self.lock().pointer
    }

    /// With blinking on, shows or hides the text cursor cell (the other of
    /// the two) and bumps the version; otherwise does nothing. Returns
    /// whether the screen changed.
    pub fn toggle_blink(&self) -> bool {
        let changed = {
            let mut st = self.lock();
            if st.modes.blink {
                st.blink_on = !st.blink_on;
                st.render_cursor();
            }
            st.modes.blink
        };
        if changed {
            self.version.send_modify(|v| *v = v.wrapping_add(1));
        }
        changed
    }

    /// A copy of the current image.
    pub fn snapshot(&self) -> Framebuffer {
        self.lock().fb.clone()
    }

    /// Applies one input event. Returns whether the screen changed (and, if
    /// so, bumps the version).
    pub fn apply(&self, action: InputAction) -> bool {
        let changed = {
            let mut st = self.lock();
            match action {
                InputAction::Key(k) => st.key(k),
                InputAction::Click { x, y } => st.click(x, y),
                InputAction::Move { x, y } => st.moved((x, y), true),
                InputAction::MoveIgnored { x, y } => st.moved((x, y), false),
            }
        };
        if changed {
            self.version.send_modify(|v| *v = v.wrapping_add(1));
        }
        changed
    }
}

impl State {
    fn render_all(&mut self) {
        let (w, h) = (self.fb.width(), self.fb.height());
        for y in 0..h {
            for x in 0..w {
                let c = if (x / 32 + y / 32) % 2 == 0 {
                    BG_A
                } else {
                    BG_B
                };
                self.fb.set(x, y, c);
            }
        }
        let l = self.layout;
        self.fb.fill(l.title, TITLE_BG);
        let ty = u32::from(l.title.h.saturating_sub(font::GLYPH_H * SCALE) / 2);
        font::draw_text(&mut self.fb, 12, ty, TITLE, SCALE, TITLE_FG);
        self.render_text_panel();
        self.fb.fill(l.pad, BORDER);
        self.fb.fill(l.pad_area(), PAD_BG);
        self.render_pad_strip();
        self.crosshair(CROSSHAIR);
        for y in l.ramp.y..l.ramp.y.saturating_add(l.ramp.h).min(h) {
            for x in 0..w {
                // Hue across the width, two brightness bands down the ramp.
                let hue = u32::from(x) * 1536 / u32::from(w.max(1));
                let dark = y >= l.ramp.y + l.ramp.h / 2;
                self.fb.set(x, y, ramp_colour(hue, dark));
            }
        }
    }

    fn render_text_panel(&mut self) {
        let l = self.layout;
        self.fb.fill(l.text, BORDER);
        self.fb.fill(l.text_strip(), STRIP_BG);
        let strip = l.text_strip();
        let label = format!("TEXT   KEYS {}", self.keys);
        font::draw_text(
            &mut self.fb,
            u32::from(strip.x) + 4,
            u32::from(strip.y) + 3,
            &label,
            SCALE,
            STRIP_FG,
        );
        let area = l.text_area();
        self.fb.fill(area, TEXT_BG);
        let x0 = u32::from(area.x) + 4;
        let y0 = u32::from(area.y) + 3;
        for (row, line) in self.lines.iter().enumerate() {
            let y = y0 + row as u32 * u32::from(LINE_H);
            font::draw_text(&mut self.fb, x0, y, line, SCALE, TEXT_FG);
        }
        self.render_cursor();
    }

    /// Where the text cursor is: after the last character of the last line,
    /// a bar, or with blinking a whole text cell (where the next character
    /// will be drawn).
    fn cursor_rect(&self) -> Option<Rect> {
        let area = self.layout.text_area();
        let advance = u32::from(font::CELL_W * SCALE);
        let row = self.lines.len().saturating_sub(1) as u32;
        let col = self.lines.back().map_or(0, |l| l.chars().count()) as u32;
        let cx = u32::from(area.x) + 4 + col * advance;
        let cy = u32::from(area.y) + 3 + row * u32::from(LINE_H);
        let w = if self.modes.blink {
            font::CELL_W * SCALE
        } else {
            2
        };
        Rect::new(
            u16::try_from(cx).unwrap_or(u16::MAX),
            u16::try_from(cy).unwrap_or(u16::MAX),
            w,
            font::CELL_H * SCALE,
        )
        .intersect(&area)
    }

    /// Draws the text cursor (a blinking one only in its on phase; in the
    /// off phase its cell shows the text background).
    fn render_cursor(&mut self) {
        if let Some(c) = self.cursor_rect() {
            let shown = !self.modes.blink || self.blink_on;
            self.fb.fill(c, if shown { CURSOR } else { TEXT_BG });
        }
    }

    fn render_pad_strip(&mut self) {
        let strip = self.layout.pad_strip();
        self.fb.fill(strip, STRIP_BG);
        let label = match self.modes.screen_mode {
            ScreenMode::Counter => format!("CLICK PAD   CLICKS {}", self.clicks),
            ScreenMode::PointerFollow => "POINTER PAD".to_string(),
        };
        font::draw_text(
            &mut self.fb,
            u32::from(strip.x) + 4,
            u32::from(strip.y) + 3,
            &label,
            SCALE,
            STRIP_FG,
        );
    }

    /// Starts a new line, scrolling the oldest one away when the area is full.
    fn new_line(&mut self, rows: usize) {
        self.lines.push_back(String::new());
        while self.lines.len() > rows.max(1) {
            self.lines.pop_front();
        }
    }

    fn key(&mut self, keysym: u32) -> bool {
        let cols = self.layout.text_cols();
        let rows = self.layout.text_rows();
        match keysym {
            0x20..=0x7e => {
                let Some(c) = char::from_u32(keysym) else {
                    return false;
                };
                if cols > 0 {
                    if self.lines.back().is_some_and(|l| l.chars().count() >= cols) {
                        self.new_line(rows);
                    }
                    if let Some(line) = self.lines.back_mut() {
                        line.push(c);
                    }
                }
            }
            KEY_BACKSPACE => {
                let last_empty = self.lines.back().is_none_or(String::is_empty);
                if last_empty && self.lines.len() > 1 {
                    self.lines.pop_back();
                } else if let Some(line) = self.lines.back_mut() {
                    line.pop();
                }
            }
            KEY_RETURN | KEY_KP_ENTER => self.new_line(rows),
            _ => return false,
        }
        self.keys += 1;
        self.render_text_panel();
        true
    }

    /// In [`ScreenMode::PointerFollow`], paints the crosshair at the
    /// pointer the application saw, if it is over the pad's marker area:
    /// one row and one column across the whole area.
    fn crosshair(&mut self, colour: Rgb) {
        if self.modes.screen_mode != ScreenMode::PointerFollow {
            return;
        }
        let area = self.layout.pad_area();
        let (x, y) = self.seen_pointer;
        if !area.contains(x, y) {
            return;
        }
        self.fb.fill(Rect::new(area.x, y, area.w, 1), colour);
        self.fb.fill(Rect::new(x, area.y, 1, area.h), colour);
    }

    /// The pointer moved to `to`; `seen` when the application sees it.
    /// Returns whether a console may now see something different: the
    /// crosshair moved, or a sprite follows the pointer and it moved.
    fn moved(&mut self, to: (u16, u16), seen: bool) -> bool {
        let sprite_moved = self.modes.sprite && self.pointer != to;
        self.pointer = to;
        let mut crosshair_moved = false;
        if seen && self.seen_pointer != to {
            if self.modes.screen_mode == ScreenMode::PointerFollow {
                let area = self.layout.pad_area();
                crosshair_moved = area.contains(self.seen_pointer.0, self.seen_pointer.1)
                    || area.contains(to.0, to.1);
                self.crosshair(PAD_BG);
                self.seen_pointer = to;
                self.crosshair(CROSSHAIR);
            } else {
                self.seen_pointer = to;
            }
        }
        sprite_moved || crosshair_moved
    }

    fn click(&mut self, x: u16, y: u16) -> bool {
        if !self.layout.pad.contains(x, y) || self.modes.screen_mode != ScreenMode::Counter {
            return false;
        }
        let colour = MARKERS[(self.clicks % MARKERS.len() as u64) as usize];
        self.clicks += 1;
        let area = self.layout.pad_area();
        let (cx, cy) = (i32::from(x), i32::from(y));
        let mut plot = |px: i32, py: i32| {
            if let (Ok(px), Ok(py)) = (u16::try_from(px), u16::try_from(py)) {
                if area.contains(px, py) {
                    self.fb.set(px, py, colour);
                }
            }
        };
        for d in -ARM..=ARM {
            plot(cx + d, cy);
            plot(cx, cy + d);
        }
        for dy in -1..=1 {
            for dx in -1..=1 {
                plot(cx + dx, cy + dy);
            }
        }
        self.render_pad_strip();
        true
    }
}

/// A fully saturated colour for `hue` in 0..1536, darkened when `dark`.
fn ramp_colour(hue: u32, dark: bool) -> Rgb {
    let f = hue % 256;
    let (r, g, b) = match hue / 256 {
        0 => (255, f, 0),
        1 => (255 - f, 255, 0),
        2 => (0, 255, f),
        3 => (0, 255 - f, 255),
        4 => (f, 0, 255),
        _ => (255, 0, 255 - f),
    };
    let k = if dark { 2 } else { 1 };
    ((r / k) << 16) | ((g / k) << 8) | (b / k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region_differs(a: &Framebuffer, b: &Framebuffer, r: Rect) -> bool {
        a.crop(r) != b.crop(r)
    }

    #[test]
    fn default_layout_matches_the_declared_regions() {
        let l = Layout::for_screen(1024, 768);
        assert_eq!(l.title, Rect::new(0, 0, 1024, 32));
        assert_eq!(l.text, Rect::new(32, 48, 960, 192));
        assert_eq!(l.pad, Rect::new(32, 256, 960, 464));
        assert_eq!(l.click_point(), (512, 498));
        for r in [l.title, l.text, l.pad, l.ramp] {
            assert!(r.within(1024, 768), "{r}");
        }
    }

    #[test]
    fn small_screen_layout_stays_on_screen_and_usable() {
        let l = Layout::for_screen(160, 240);
        for r in [l.title, l.text, l.pad, l.ramp] {
            assert!(r.within(160, 240), "{r}");
        }
        assert!(l.text_cols() > 0 && l.text_rows() > 0);
        let (x, y) = l.click_point();
        assert!(l.pad_area().contains(x, y));
    }

    #[test]
    fn drawing_is_deterministic() {
        let a = Desktop::new(320, 240).expect("desktop");
        let b = Desktop::new(320, 240).expect("desktop");
        assert_eq!(a.snapshot(), b.snapshot());
        for d in [&a, &b] {
            d.apply(InputAction::Key(u32::from(b'S')));
            d.apply(InputAction::Click { x: 100, y: 180 });
        }
        assert_eq!(a.snapshot(), b.snapshot());
    }

    #[test]
    fn typing_changes_only_the_text_panel() {
        let d = Desktop::new(1024, 768).expect("desktop");
        let l = d.layout();
        let before = d.snapshot();
        let mut rx = d.subscribe();
        for c in "S301".bytes() {
            assert!(d.apply(InputAction::Key(u32::from(c))));
        }
        assert!(rx.has_changed().unwrap_or(false));
        rx.mark_unchanged();
        let after = d.snapshot();
        let (_, bbox) = before.diff(&after, &[]).expect("screen changed");
        assert!(
            l.text.intersect(&bbox) == Some(bbox),
            "{bbox} outside {}",
            l.text
        );
        // The typed text is there: the first glyph cell is no longer blank.
        let area = l.text_area();
        assert!(region_differs(
            &before,
            &after,
            Rect::new(area.x + 4, area.y + 3, 12, 16)
        ));
    }

    #[test]
    fn every_accepted_key_changes_the_screen_even_space_and_backspace() {
        let d = Desktop::new(320, 240).expect("desktop");
        for k in [0x20, KEY_BACKSPACE, KEY_BACKSPACE, KEY_RETURN, KEY_KP_ENTER] {
            let before = d.snapshot();
            assert!(d.apply(InputAction::Key(k)), "key {k:#x}");
            assert_ne!(before, d.snapshot(), "key {k:#x}");
        }
        let before = d.snapshot();
        assert!(!d.apply(InputAction::Key(0xffe1))); // Shift: ignored
        assert_eq!(before, d.snapshot());
    }

    #[test]
    fn text_wraps_and_scrolls_without_growing() {
        let d = Desktop::new(160, 240).expect("desktop");
        for i in 0..5000u32 {
            let k = if i % 97 == 0 {
                KEY_RETURN
            } else {
                0x41 + i % 26
            };
            assert!(d.apply(InputAction::Key(k)));
        }
        let st = d.lock();
        assert!(st.lines.len() <= st.layout.text_rows().max(1));
        assert!(st
            .lines
            .iter()
            .all(|l| l.chars().count() <= st.layout.text_cols()));
    }

    #[test]
    fn click_marks_the_exact_point_and_repeats_still_change_the_screen() {
        let d = Desktop::new(1024, 768).expect("desktop");
        let l = d.layout();
        let (x, y) = l.click_point();
        let before = d.snapshot();
        assert!(d.apply(InputAction::Click { x, y }));
        let once = d.snapshot();
        assert_eq!(once.get(x, y), Some(MARKERS[0]));
        let (_, bbox) = before.diff(&once, &[]).expect("changed");
        assert_eq!(l.pad.intersect(&bbox), Some(bbox));
        assert!(d.apply(InputAction::Click { x, y }));
        let twice = d.snapshot();
        assert_ne!(once, twice);
        assert_eq!(twice.get(x, y), Some(MARKERS[1]));
    }

    #[test]
    fn clicks_outside_the_pad_change_nothing() {
        let d = Desktop::new(1024, 768).expect("desktop");
        let before = d.snapshot();
        assert!(!d.apply(InputAction::Click { x: 5, y: 5 }));
        assert!(!d.apply(InputAction::Click {
            x: u16::MAX,
            y: u16::MAX
        }));
        assert_eq!(before, d.snapshot());
    }

    #[test]
    fn click_at_pad_edges_is_clipped_not_panicking() {
        let d = Desktop::new(160, 240).expect("desktop");
        let p = d.layout().pad;
        for (x, y) in [
            (p.x, p.y),
            (p.x + p.w - 1, p.y + p.h - 1),
            (p.x, p.y + p.h - 1),
        ] {
            assert!(d.apply(InputAction::Click { x, y }));
        }
    }

    fn follow() -> DesktopModes {
        DesktopModes {
            screen_mode: ScreenMode::PointerFollow,
            ..DesktopModes::default()
        }
    }

    #[test]
    fn the_classic_desktop_ignores_motion_and_blink_ticks() {
        let d = Desktop::new(320, 240).expect("desktop");
        let before = d.snapshot();
        assert!(!d.toggle_blink());
        assert!(!d.apply(InputAction::Move { x: 100, y: 180 }));
        assert!(!d.apply(InputAction::MoveIgnored { x: 10, y: 10 }));
        assert_eq!(before, d.snapshot());
        assert_eq!(d.pointer(), (10, 10));
        // Clicks still mark the pad and count.
        assert!(d.apply(InputAction::Click { x: 100, y: 180 }));
    }

    #[test]
    fn blinking_toggles_one_text_cell_and_typing_still_shows() {
        let modes = DesktopModes {
            blink: true,
            ..DesktopModes::default()
        };
        let d = Desktop::with_modes(1024, 768, modes).expect("desktop");
        let area = d.layout().text_area();
        let cell = Rect::new(area.x + 4, area.y + 3, 12, 16);
        let on = d.snapshot();
        assert_eq!(on.get(cell.x, cell.y), Some(CURSOR));
        assert!(d.toggle_blink());
        let off = d.snapshot();
        let (n, bbox) = on.diff(&off, &[]).expect("the blink changed the screen");
        assert_eq!((n, bbox), (12 * 16, cell));
        assert!(d.toggle_blink());
        assert_eq!(d.snapshot(), on);
        // A typed character lands in the cursor's cell; the cursor moves on.
        assert!(d.apply(InputAction::Key(u32::from(b'W'))));
        let typed = d.snapshot();
        assert!(region_differs(&on, &typed, cell));
        assert_ne!(typed.get(cell.x, cell.y), Some(CURSOR));
        assert_eq!(typed.get(cell.x + 12, cell.y), Some(CURSOR));
        assert!(d.toggle_blink());
        let (_, bbox) = typed.diff(&d.snapshot(), &[]).expect("blinked");
        assert_eq!(bbox, Rect::new(cell.x + 12, cell.y, 12, 16));
    }

    #[test]
    fn follow_mode_draws_a_crosshair_where_the_pointer_starts_and_follows_it() {
        let d = Desktop::with_modes(1024, 768, follow()).expect("desktop");
        let l = d.layout();
        let area = l.pad_area();
        let (x, y) = l.click_point();
        let start = d.snapshot();
        assert_eq!(start.get(x, y), Some(CROSSHAIR));
        assert_eq!(start.get(area.x, y), Some(CROSSHAIR));
        assert_eq!(start.get(x, area.y + area.h - 1), Some(CROSSHAIR));
        assert_eq!(start.get(x + 1, y + 1), Some(PAD_BG));
        // Clicks change nothing, not even a counter.
        assert!(!d.apply(InputAction::Click { x, y }));
        assert_eq!(d.snapshot(), start);
        // Motion moves the crosshair, within the pad only.
        assert!(d.apply(InputAction::Move {
            x: x + 40,
            y: y - 30
        }));
        let moved = d.snapshot();
        assert_eq!(moved.get(x, y), Some(PAD_BG));
        assert_eq!(moved.get(x + 40, y + 5), Some(CROSSHAIR));
        let (_, bbox) = start.diff(&moved, &[]).expect("moved");
        assert_eq!(area.intersect(&bbox), Some(bbox));
        assert!(d.apply(InputAction::Move { x: 5, y: 5 }));
        assert!(!d.apply(InputAction::Move { x: 6, y: 6 }));
        // Off the pad: no crosshair at all.
        let pad = d.snapshot().crop(area).expect("area");
        assert!(pad.pixels().iter().all(|p| *p == PAD_BG));
        // Motion the application ignores moves only the server's pointer.
        let before = d.snapshot();
        assert!(!d.apply(InputAction::MoveIgnored { x, y }));
        assert_eq!(d.snapshot(), before);
        assert_eq!(d.pointer(), (x, y));
    }

    #[test]
    fn a_sprite_makes_motion_a_change_and_the_start_point_is_configurable() {
        let modes = DesktopModes {
            sprite: true,
            pointer_start: Some((7, 9)),
            ..DesktopModes::default()
        };
        let d = Desktop::with_modes(320, 240, modes).expect("desktop");
        assert_eq!(d.pointer(), (7, 9));
        let before = d.snapshot();
        assert!(d.apply(InputAction::MoveIgnored { x: 8, y: 9 }));
        assert!(!d.apply(InputAction::Move { x: 8, y: 9 }));
        assert_eq!(
            d.snapshot(),
            before,
            "the sprite is not in the shared image"
        );
        assert_eq!(d.with_view(|_, p| p), (8, 9));
    }
}
