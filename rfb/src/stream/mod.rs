//! Streaming decoders: bytes in, in whatever pieces the transport delivers
//! them; typed messages and events out. Both give the same sequence of results
//! however the input is split, and both refuse to buffer more than
//! [`crate::Limits::max_buffered`] bytes.

mod client;
mod server;

pub use client::ClientMessageDecoder;
pub use server::{RectInfo, ServerEvent, ServerMessageDecoder};
