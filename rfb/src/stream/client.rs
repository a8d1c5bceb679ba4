//! Decoding the client-to-server stream (used by terminals).

use crate::limits::Limits;
use crate::messages::ClientMessage;
use crate::RfbError;

/// Decodes [`ClientMessage`]s from a byte stream split arbitrarily.
pub struct ClientMessageDecoder {
    _limits: Limits,
}

impl ClientMessageDecoder {
    /// A decoder for the stream that starts right after ClientInit.
    pub fn new(limits: Limits) -> Self {
        ClientMessageDecoder { _limits: limits }
    }

    /// Appends received bytes. Fails with [`RfbError::BufferFull`] when the
    /// buffer would pass the limit.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), RfbError> {
        let _ = data;
        todo!("rfb-messages agent")
    }

    /// The next whole message, `Ok(None)` when more bytes are needed. After an
    /// error the stream cannot be followed and every later call fails.
    pub fn next_message(&mut self) -> Result<Option<ClientMessage>, RfbError> {
        todo!("rfb-messages agent")
    }

    /// Bytes received but not yet decoded.
    pub fn buffered(&self) -> usize {
        todo!("rfb-messages agent")
    }
}
