//! The mock's pointer: what the click pad does with it ([`ScreenMode`]),
//! whether the server draws a pointer sprite ([`PointerSprite`]), and the
//! sprite itself, both as pixels to compose into one console's image and as
//! the shape of a Cursor pseudo-rectangle.

use std::str::FromStr;

use s301_rfb::encoding::CursorImage;
use s301_rfb::pixel::Rgb;
use s301_rfb::{Framebuffer, Rect};

/// The Cursor pseudo-encoding's wire code.
pub const CURSOR_ENCODING: i32 = -239;

/// What the click pad shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ScreenMode {
    /// Every click leaves a marker and bumps a click counter (the default,
    /// what the pinned fault matrices were made with).
    #[default]
    Counter,
    /// A crosshair follows the pointer while it is over the pad's marker
    /// area; clicks change nothing and there is no click counter.
    PointerFollow,
}

impl ScreenMode {
    /// Every mode.
    pub const ALL: [ScreenMode; 2] = [ScreenMode::Counter, ScreenMode::PointerFollow];

    /// The command-line name, `"counter"` or `"pointer-follow"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ScreenMode::Counter => "counter",
            ScreenMode::PointerFollow => "pointer-follow",
        }
    }
}

/// Whether and where the mock draws a pointer sprite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PointerSprite {
    /// No sprite (the default).
    #[default]
    Off,
    /// The sprite is drawn into the image of consoles that did not list the
    /// Cursor pseudo-encoding (-239); those that did get its shape as a
    /// Cursor rectangle instead, with their first update after asking.
    UnlessCursorEncoding,
    /// The sprite is drawn into every console's image, -239 or not (a
    /// server that ignores the pseudo-encoding).
    Always,
    /// The sprite is drawn into every console's image, and consoles that
    /// listed -239 also get its shape (TigerVNC can do both: it renders
    /// the pointer into the image for a console whose pointer position is
    /// not the server's, though it sends the shape).
    ShapeAndDrawn,
}

impl PointerSprite {
    /// Every variant.
    pub const ALL: [PointerSprite; 4] = [
        PointerSprite::Off,
        PointerSprite::UnlessCursorEncoding,
        PointerSprite::Always,
        PointerSprite::ShapeAndDrawn,
    ];

    /// The command-line name.
    pub fn as_str(&self) -> &'static str {
        match self {
            PointerSprite::Off => "off",
            PointerSprite::UnlessCursorEncoding => "unless-cursor-encoding",
            PointerSprite::Always => "always",
            PointerSprite::ShapeAndDrawn => "shape-and-drawn",
        }
    }

    /// Whether a console that asked for `encodings` gets the sprite drawn
    /// into its image.
    pub fn drawn_for(&self, encodings: &[i32]) -> bool {
        match self {
            PointerSprite::Off => false,
            PointerSprite::Always | PointerSprite::ShapeAndDrawn => true,
            PointerSprite::UnlessCursorEncoding => !encodings.contains(&CURSOR_ENCODING),
        }
    }

    /// Whether a console that asked for `encodings` gets the sprite's shape
    /// as a Cursor pseudo-rectangle.
    pub fn sent_as_cursor(&self, encodings: &[i32]) -> bool {
        matches!(
            self,
            PointerSprite::UnlessCursorEncoding | PointerSprite::ShapeAndDrawn
        ) && encodings.contains(&CURSOR_ENCODING)
    }
}

/// A name that is none of a choice's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?} (expected one of: {expected})")]
pub struct UnknownChoice {
    /// What was being chosen (`"screen mode"` ...).
    pub what: &'static str,
    /// The name given.
    pub given: String,
    /// The accepted names, comma-separated.
    pub expected: String,
}

fn parse_choice<T: Copy>(
    what: &'static str,
    s: &str,
    all: &[T],
    name: fn(&T) -> &'static str,
) -> Result<T, UnknownChoice> {
    all.iter()
        .copied()
        .find(|v| name(v) == s)
        .ok_or_else(|| UnknownChoice {
            what,
            given: s.to_string(),
            expected: all.iter().map(name).collect::<Vec<_>>().join(", "),
        })
}

impl FromStr for ScreenMode {
    type Err = UnknownChoice;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_choice("screen mode", s, &ScreenMode::ALL, ScreenMode::as_str)
    }
}

impl FromStr for PointerSprite {
    type Err = UnknownChoice;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_choice(
            "pointer sprite",
            s,
            &PointerSprite::ALL,
            PointerSprite::as_str,
        )
    }
}

impl std::fmt::Display for ScreenMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for PointerSprite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Width of the pointer sprite.
pub const SPRITE_W: u16 = 12;
/// Height of the pointer sprite.
pub const SPRITE_H: u16 = 19;

/// The arrow: `B` black outline, `W` white fill, `.` transparent. The
/// hotspot is the tip, the top-left pixel.
const ARROW: [&str; SPRITE_H as usize] = [
    "B...........",
    "BB..........",
    "BWB.........",
    "BWWB........",
    "BWWWB.......",
    "BWWWWB......",
    "BWWWWWB.....",
    "BWWWWWWB....",
    "BWWWWWWWB...",
    "BWWWWWWWWB..",
    "BWWWWWWWWWB.",
    "BWWWWWWWWWWB",
    "BWWWWWWBBBBB",
    "BWWWBWWB....",
    "BWWBBWWB....",
    "BWB..BWWB...",
    "BB...BWWB...",
    "B.....BWWB..",
    "......BBB...",
];

/// The sprite's pixel at `(x, y)`, `None` where transparent or outside.
pub fn sprite_pixel(x: u16, y: u16) -> Option<Rgb> {
    let row = ARROW.get(usize::from(y))?;
    match row.as_bytes().get(usize::from(x)) {
        Some(b'B') => Some(0x00_0000),
        Some(b'W') => Some(0xff_ffff),
        _ => None,
    }
}

/// Where the sprite covers the screen with the pointer at `at` (the hotspot
/// is the tip, so the sprite starts there), clipped to `screen`.
pub fn sprite_rect(at: (u16, u16), screen: Rect) -> Option<Rect> {
    Rect::new(at.0, at.1, SPRITE_W, SPRITE_H).intersect(&screen)
}

/// Draws the sprite into `fb` with the pointer at `at`.
pub fn draw_sprite(fb: &mut Framebuffer, at: (u16, u16)) {
    let Some(r) = sprite_rect(at, fb.bounds()) else {
        return;
    };
    for y in r.y..r.y + r.h {
        for x in r.x..r.x + r.w {
            if let Some(c) = sprite_pixel(x - at.0, y - at.1) {
                fb.set(x, y, c);
            }
        }
    }
}

/// The sprite as a pointer shape for a Cursor pseudo-rectangle.
pub fn sprite_cursor() -> CursorImage {
    let cells: Vec<Option<Rgb>> = (0..SPRITE_H)
        .flat_map(|y| (0..SPRITE_W).map(move |x| sprite_pixel(x, y)))
        .collect();
    // The shape is a constant: 12x19 with its hotspot inside.
    CursorImage::from_cells(SPRITE_W, SPRITE_H, 0, 0, &cells).unwrap_or(CursorImage {
        width: 0,
        height: 0,
        hot_x: 0,
        hot_y: 0,
        pixels: Vec::new(),
        mask: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use s301_rfb::Limits;

    #[test]
    fn arrow_rows_are_the_sprite_size_and_the_tip_is_opaque() {
        assert!(ARROW.iter().all(|r| r.len() == usize::from(SPRITE_W)));
        assert_eq!(sprite_pixel(0, 0), Some(0));
        assert_eq!(sprite_pixel(SPRITE_W, 0), None);
        let c = sprite_cursor();
        assert_eq!((c.width, c.height, c.hot_x, c.hot_y), (12, 19, 0, 0));
        assert_eq!(c.pixel(1, 2), Some(0xff_ffff));
        assert_eq!(c.pixel(5, 0), None);
    }

    #[test]
    fn sprite_is_clipped_at_the_screen_edge() {
        let mut fb = Framebuffer::new(20, 20, &Limits::DEFAULT).expect("fb");
        fb.fill(fb.bounds(), 0x123456);
        draw_sprite(&mut fb, (15, 10));
        assert_eq!(fb.get(15, 10), Some(0));
        assert_eq!(fb.get(16, 12), Some(0xff_ffff));
        assert_eq!(
            sprite_rect((15, 10), fb.bounds()),
            Some(Rect::new(15, 10, 5, 10))
        );
        assert_eq!(sprite_rect((20, 0), fb.bounds()), None);
        draw_sprite(&mut fb, (u16::MAX, u16::MAX));
    }

    #[test]
    fn names_parse_and_unknown_ones_list_the_choices() {
        for m in ScreenMode::ALL {
            assert_eq!(m.as_str().parse(), Ok(m));
        }
        for s in PointerSprite::ALL {
            assert_eq!(s.as_str().parse(), Ok(s));
        }
        let e = "sometimes".parse::<PointerSprite>().expect_err("unknown");
        assert!(e.to_string().contains("unless-cursor-encoding"), "{e}");
        assert!("Counter".parse::<ScreenMode>().is_err());
    }

    #[test]
    fn sprite_variants_decide_per_console_encodings() {
        let with = [16, -239];
        let without = [16, -223];
        assert!(!PointerSprite::Off.drawn_for(&without));
        assert!(PointerSprite::Always.drawn_for(&with));
        assert!(!PointerSprite::UnlessCursorEncoding.drawn_for(&with));
        assert!(PointerSprite::UnlessCursorEncoding.drawn_for(&without));
        assert!(PointerSprite::UnlessCursorEncoding.sent_as_cursor(&with));
        assert!(!PointerSprite::Always.sent_as_cursor(&with));
        assert!(!PointerSprite::UnlessCursorEncoding.sent_as_cursor(&without));
    }
}
