//! `s301-rfb`: the RFB (RFC 6143) codec shared by the s301 harness (the dispatch
//! console, an RFB viewer) and the s301 mock terminal (an RFB server).
//!
//! The codec is sans-IO: it never touches a socket. Bytes go in through
//! [`reader::Reader`] or the streaming decoders in [`stream`], typed messages and
//! events come out, and every length read off the wire is checked against
//! [`limits::Limits`] before anything is allocated. Any input, however hostile,
//! yields either a value, "need more bytes", or an [`error::RfbError`] naming the
//! field at fault; it never panics.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod auth;
pub mod encoding;
pub mod error;
pub mod framebuffer;
pub mod handshake;
pub mod limits;
pub mod messages;
pub mod pixel;
pub mod reader;
pub mod rect;
pub mod stream;

pub use error::RfbError;
pub use framebuffer::Framebuffer;
pub use limits::Limits;
pub use pixel::{ColourMap, PixelFormat};
pub use rect::Rect;
