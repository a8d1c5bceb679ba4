//! Limits that protect either side from a peer that sends absurd lengths.
//!
//! Every length or count read off the wire is checked against one of these
//! before any memory is reserved for it.

/// Bounds applied while decoding. The defaults follow the s301 binding brief.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest screen width accepted in ServerInit or DesktopSize. A dispatch
    /// console never needs more than 16384 columns.
    pub max_width: u16,
    /// Largest screen height accepted.
    pub max_height: u16,
    /// Largest screen area in pixels (64 Mpixel): bounds the framebuffer at 256 MiB.
    pub max_pixels: u64,
    /// Longest desktop name in ServerInit (64 KiB); names are labels, not payloads.
    pub max_name_len: u32,
    /// Longest cut-text payload (1 MiB) in either direction.
    pub max_cut_text: u32,
    /// Longest failure-reason string in the handshake (64 KiB).
    pub max_reason_len: u32,
    /// Most encodings a SetEncodings message may list.
    pub max_encodings: u16,
    /// Most bytes a streaming decoder keeps buffered before it refuses more input.
    /// Decoders consume data in small units (a row, a tile, a sub-rectangle), so
    /// this only has to hold one unit plus one read from the transport.
    pub max_buffered: usize,
    /// Largest zlib payload length a ZRLE rectangle may declare.
    pub max_zrle_len: u32,
    /// Largest pointer shape (Cursor pseudo-encoding) in pixels, 256x256 by
    /// default: more than any real pointer (HiDPI pointers are at most
    /// 256 pixels square), and at most 256 KiB of colours plus an 8 KiB mask
    /// per shape. A larger shape is refused from its rectangle header.
    pub max_cursor_pixels: u32,
}

impl Limits {
    /// The limits of the s301 binding brief.
    pub const DEFAULT: Limits = Limits {
        max_width: 16384,
        max_height: 16384,
        max_pixels: 64 * 1024 * 1024,
        max_name_len: 64 * 1024,
        max_cut_text: 1024 * 1024,
        max_reason_len: 64 * 1024,
        max_encodings: 1024,
        max_buffered: 4 * 1024 * 1024,
        max_zrle_len: 256 * 1024 * 1024,
        max_cursor_pixels: 256 * 256,
    };

    /// Checks a screen size against the limits.
    pub fn check_screen(&self, width: u16, height: u16) -> Result<(), crate::RfbError> {
        if width == 0 || width > self.max_width {
            return Err(crate::RfbError::LimitExceeded {
                field: "width",
                value: u64::from(width),
                limit: u64::from(self.max_width),
            });
        }
        if height == 0 || height > self.max_height {
            return Err(crate::RfbError::LimitExceeded {
                field: "height",
                value: u64::from(height),
                limit: u64::from(self.max_height),
            });
        }
        let px = u64::from(width) * u64::from(height);
        if px > self.max_pixels {
            return Err(crate::RfbError::LimitExceeded {
                field: "width*height",
                value: px,
                limit: self.max_pixels,
            });
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screen_limits_reject_zero_and_huge() {
        let l = Limits::DEFAULT;
        assert!(l.check_screen(1024, 768).is_ok());
        assert!(l.check_screen(0, 768).is_err());
        assert!(l.check_screen(65535, 65535).is_err());
        assert!(l.check_screen(16384, 16384).is_err()); // 256 Mpixel > 64 Mpixel
        assert!(l.check_screen(8192, 8192).is_ok());
    }
}
