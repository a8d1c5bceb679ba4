//! Decoding the server-to-client stream (used by consoles): FramebufferUpdate
//! rectangle by rectangle straight into a [`Framebuffer`], plus
//! SetColourMapEntries, Bell and ServerCutText.

use crate::framebuffer::Framebuffer;
use crate::limits::Limits;
use crate::pixel::{ColourMap, PixelFormat};
use crate::rect::Rect;
use crate::RfbError;

/// One rectangle, fully decoded and applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RectInfo {
    /// Where the server said it goes (as sent, even if outside the screen).
    pub rect: Rect,
    /// The encoding code as sent.
    pub encoding: i32,
    /// Wire bytes of this rectangle, header included.
    pub bytes: u64,
    /// Whether `rect` lay wholly within the screen (pseudo-rectangles: true).
    /// Pixels outside the screen are decoded and dropped, so the stream stays
    /// in step and the violation is reported, not fatal.
    pub in_bounds: bool,
}

/// What the decoder produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// A FramebufferUpdate header announcing `rects` rectangles.
    UpdateBegin {
        /// Announced rectangle count.
        rects: u16,
    },
    /// A rectangle was decoded into the framebuffer (a DesktopSize rectangle
    /// has resized it).
    Rect(RectInfo),
    /// The update's last rectangle is done.
    UpdateEnd {
        /// Wire bytes of the whole update.
        bytes: u64,
    },
    /// SetColourMapEntries was applied to the decoder's colour map.
    ColourMap {
        /// First index set.
        first: u16,
        /// How many entries.
        count: u16,
    },
    /// Bell.
    Bell,
    /// ServerCutText (at most [`Limits::max_cut_text`] bytes).
    CutText(Vec<u8>),
}

/// Decodes the server-to-client stream after ServerInit.
pub struct ServerMessageDecoder {
    _limits: Limits,
}

impl ServerMessageDecoder {
    /// A decoder for pixels in `pf` (the format last set by SetPixelFormat, or
    /// the ServerInit format).
    pub fn new(pf: PixelFormat, limits: Limits) -> Self {
        let _ = pf;
        ServerMessageDecoder { _limits: limits }
    }

    /// Switches the pixel format; takes effect from the next message. A client
    /// calls this when it sends SetPixelFormat.
    pub fn set_pixel_format(&mut self, pf: PixelFormat) {
        let _ = pf;
        todo!("rfb-encodings agent")
    }

    /// The colour map built from SetColourMapEntries so far.
    pub fn colour_map(&self) -> &ColourMap {
        todo!("rfb-encodings agent")
    }

    /// Appends received bytes. Fails with [`RfbError::BufferFull`] when the
    /// buffer would pass the limit; drain with [`Self::next_event`] first.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), RfbError> {
        let _ = data;
        todo!("rfb-encodings agent")
    }

    /// Decodes as far as the buffered bytes allow and returns the next event,
    /// or `Ok(None)` when more bytes are needed. Pixels go into `fb`. After an
    /// error the stream cannot be followed and every later call fails.
    pub fn next_event(&mut self, fb: &mut Framebuffer) -> Result<Option<ServerEvent>, RfbError> {
        let _ = fb;
        todo!("rfb-encodings agent")
    }

    /// Bytes received but not yet decoded.
    pub fn buffered(&self) -> usize {
        todo!("rfb-encodings agent")
    }
}
