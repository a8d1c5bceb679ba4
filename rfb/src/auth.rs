//! VNC Authentication (RFC 6143 section 7.2.2): DES of a 16-byte challenge
//! keyed by the password, with each key byte's bits reversed.

/// The 16-byte response to `challenge` for `password` (first 8 bytes used,
/// zero-padded).
pub fn vnc_auth_response(password: &[u8], challenge: &[u8; 16]) -> [u8; 16] {
    let _ = (password, challenge);
    todo!("rfb-messages agent")
}

/// Whether `response` answers `challenge` for `password`.
pub fn vnc_auth_check(password: &[u8], challenge: &[u8; 16], response: &[u8; 16]) -> bool {
    vnc_auth_response(password, challenge) == *response
}
