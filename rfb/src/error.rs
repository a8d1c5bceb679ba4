//! Errors of the RFB codec. Each names the field or message at fault, so a
//! verdict's evidence can say exactly what the peer got wrong.

/// Which way a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Server (terminal) to client (console).
    ServerToClient,
    /// Client (console) to server (terminal).
    ClientToServer,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::ServerToClient => "server-to-client",
            Direction::ClientToServer => "client-to-server",
        })
    }
}

/// A protocol violation or a limit breach found while decoding or encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RfbError {
    /// A field held a value the protocol does not allow.
    #[error("invalid {field}: {value}")]
    InvalidValue {
        /// The field, e.g. `"bits-per-pixel"`.
        field: &'static str,
        /// The offending value.
        value: u64,
    },
    /// A declared length or count exceeded a limit.
    #[error("{field} of {value} exceeds the limit of {limit}")]
    LimitExceeded {
        /// The field, e.g. `"name-length"`.
        field: &'static str,
        /// The declared value.
        value: u64,
        /// The limit it broke.
        limit: u64,
    },
    /// The 12-byte ProtocolVersion was not `RFB xxx.yyy\n`.
    #[error("malformed ProtocolVersion {0:?}")]
    BadVersion(String),
    /// A message type byte that is not defined for this direction.
    #[error("unknown {direction} message type {ty}")]
    UnknownMessageType {
        /// Direction of the stream.
        direction: Direction,
        /// The type byte.
        ty: u8,
    },
    /// A rectangle used an encoding the decoder cannot decode; the stream cannot
    /// be followed past it.
    #[error("rectangle uses encoding {0}, which cannot be decoded")]
    UnsupportedEncoding(i32),
    /// A rectangle's encoded data was inconsistent (a sub-rectangle outside its
    /// rectangle, a palette index past the palette, a run past the tile ...).
    #[error("malformed {encoding} data: {reason}")]
    MalformedEncoding {
        /// The encoding's name.
        encoding: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The zlib stream of a ZRLE rectangle could not be inflated.
    #[error("zlib error in ZRLE data: {0}")]
    Zlib(String),
    /// The decoder's input buffer would exceed [`crate::Limits::max_buffered`]:
    /// the caller fed more without draining events.
    #[error("decoder buffer would exceed {limit} bytes")]
    BufferFull {
        /// The configured bound.
        limit: usize,
    },
    /// A message was longer or shorter than its own header says.
    #[error("{field}: {reason}")]
    Framing {
        /// The message or field.
        field: &'static str,
        /// What was wrong.
        reason: String,
    },
}

impl RfbError {
    /// Shorthand for [`RfbError::MalformedEncoding`].
    pub fn malformed(encoding: &'static str, reason: impl Into<String>) -> Self {
        RfbError::MalformedEncoding {
            encoding,
            reason: reason.into(),
        }
    }
}

/// The outcome of trying to decode from a buffer that may not yet hold a
/// whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// More bytes are needed; `needed` is a lower bound on how many more.
    Incomplete {
        /// At least this many more bytes are needed.
        needed: usize,
    },
    /// The bytes can never form a valid message.
    Invalid(RfbError),
}

impl From<RfbError> for ReadError {
    fn from(e: RfbError) -> Self {
        ReadError::Invalid(e)
    }
}
