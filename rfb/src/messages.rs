//! Post-handshake messages (RFC 6143 section 7.5 and 7.6).
//!
//! Client-to-server messages are whole values ([`ClientMessage`]). Of the
//! server-to-client messages, FramebufferUpdate is streamed rectangle by
//! rectangle by [`crate::stream::ServerMessageDecoder`]; this module has the
//! writers a terminal needs to produce them.

use crate::error::ReadError;
use crate::limits::Limits;
use crate::pixel::PixelFormat;
use crate::reader::Reader;
use crate::rect::Rect;

/// Message type bytes, client to server.
pub mod client_type {
    /// SetPixelFormat.
    pub const SET_PIXEL_FORMAT: u8 = 0;
    /// SetEncodings.
    pub const SET_ENCODINGS: u8 = 2;
    /// FramebufferUpdateRequest.
    pub const FRAMEBUFFER_UPDATE_REQUEST: u8 = 3;
    /// KeyEvent.
    pub const KEY_EVENT: u8 = 4;
    /// PointerEvent.
    pub const POINTER_EVENT: u8 = 5;
    /// ClientCutText.
    pub const CLIENT_CUT_TEXT: u8 = 6;
}

/// Message type bytes, server to client.
pub mod server_type {
    /// FramebufferUpdate.
    pub const FRAMEBUFFER_UPDATE: u8 = 0;
    /// SetColourMapEntries.
    pub const SET_COLOUR_MAP_ENTRIES: u8 = 1;
    /// Bell.
    pub const BELL: u8 = 2;
    /// ServerCutText.
    pub const SERVER_CUT_TEXT: u8 = 3;
}

/// A message from a console (client) to the terminal (server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// SetPixelFormat.
    SetPixelFormat(PixelFormat),
    /// SetEncodings, in preference order.
    SetEncodings(Vec<i32>),
    /// FramebufferUpdateRequest.
    FramebufferUpdateRequest {
        /// Only changes are wanted.
        incremental: bool,
        /// The region asked for.
        rect: Rect,
    },
    /// KeyEvent.
    KeyEvent {
        /// Pressed (else released).
        down: bool,
        /// X keysym.
        key: u32,
    },
    /// PointerEvent.
    PointerEvent {
        /// Button mask, bit 0 = left.
        buttons: u8,
        /// Column.
        x: u16,
        /// Row.
        y: u16,
    },
    /// ClientCutText (Latin-1 bytes).
    ClientCutText(Vec<u8>),
}

impl ClientMessage {
    /// The message's RFC name, for transcripts.
    pub fn name(&self) -> &'static str {
        match self {
            ClientMessage::SetPixelFormat(_) => "SetPixelFormat",
            ClientMessage::SetEncodings(_) => "SetEncodings",
            ClientMessage::FramebufferUpdateRequest { .. } => "FramebufferUpdateRequest",
            ClientMessage::KeyEvent { .. } => "KeyEvent",
            ClientMessage::PointerEvent { .. } => "PointerEvent",
            ClientMessage::ClientCutText(_) => "ClientCutText",
        }
    }

    /// Appends the wire form.
    pub fn write(&self, out: &mut Vec<u8>) {
        let _ = out;
        todo!("rfb-messages agent")
    }

    /// Decodes one message, checking lengths against `limits` before allocating.
    /// The pixel format of SetPixelFormat is validated.
    pub fn read(r: &mut Reader<'_>, limits: &Limits) -> Result<Self, ReadError> {
        let _ = (r, limits);
        todo!("rfb-messages agent")
    }
}

/// Appends a FramebufferUpdate header announcing `rects` rectangles.
pub fn write_update_header(rects: u16, out: &mut Vec<u8>) {
    let _ = (rects, out);
    todo!("rfb-messages agent")
}

/// Appends a rectangle header (x, y, w, h, encoding type).
pub fn write_rect_header(rect: Rect, encoding: i32, out: &mut Vec<u8>) {
    let _ = (rect, encoding, out);
    todo!("rfb-messages agent")
}

/// Appends SetColourMapEntries.
pub fn write_colour_map_entries(first: u16, colours: &[[u16; 3]], out: &mut Vec<u8>) {
    let _ = (first, colours, out);
    todo!("rfb-messages agent")
}

/// Appends Bell.
pub fn write_bell(out: &mut Vec<u8>) {
    out.push(server_type::BELL);
}

/// Appends ServerCutText.
pub fn write_server_cut_text(text: &[u8], out: &mut Vec<u8>) {
    let _ = (text, out);
    todo!("rfb-messages agent")
}
