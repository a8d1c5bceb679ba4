//! The default screen binding: RFB (RFC 6143) over WebSocket or TCP.
