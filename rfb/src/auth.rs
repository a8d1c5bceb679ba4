//! VNC Authentication (RFC 6143 section 7.2.2): DES of a 16-byte challenge
//! keyed by the password, with each key byte's bits reversed.
//!
//! The key is the password's first eight bytes, padded with zeros when it is
//! shorter. VNC's historical DES code reads key bits least-significant first,
//! so every key byte is bit-reversed before it reaches a standard DES. The
//! challenge is then encrypted as two independent 8-byte blocks (ECB).

use des::cipher::generic_array::GenericArray;
use des::cipher::{BlockEncrypt, KeyInit};
use des::Des;

/// The DES key VNC derives from `password`.
fn vnc_key(password: &[u8]) -> [u8; 8] {
    let mut key = [0u8; 8];
    for (k, p) in key.iter_mut().zip(password.iter()) {
        *k = p.reverse_bits();
    }
    key
}

/// The 16-byte response to `challenge` for `password` (first 8 bytes used,
/// zero-padded).
pub fn vnc_auth_response(password: &[u8], challenge: &[u8; 16]) -> [u8; 16] {
    let key = vnc_key(password);
    let cipher = Des::new(&GenericArray::from(key));
    let mut out = *challenge;
    for chunk in out.chunks_exact_mut(8) {
        cipher.encrypt_block(GenericArray::from_mut_slice(chunk));
    }
    out
}

/// Whether `response` answers `challenge` for `password`.
pub fn vnc_auth_check(password: &[u8], challenge: &[u8; 16], response: &[u8; 16]) -> bool {
    vnc_auth_response(password, challenge) == *response
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHALLENGE: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    fn hex(s: &str) -> [u8; 16] {
        let mut out = [0u8; 16];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap_or(0);
        }
        out
    }

    #[test]
    fn des_itself_matches_the_classic_fips_vector() {
        // Key 133457799BBCDFF1, plaintext 0123456789ABCDEF -> 85E813540F0AB405.
        let cipher = Des::new(&GenericArray::from([
            0x13, 0x34, 0x57, 0x79, 0x9b, 0xbc, 0xdf, 0xf1,
        ]));
        let mut block = GenericArray::from([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);
        cipher.encrypt_block(&mut block);
        assert_eq!(
            block.as_slice(),
            &[0x85, 0xe8, 0x13, 0x54, 0x0f, 0x0a, 0xb4, 0x05]
        );
    }

    #[test]
    fn key_bytes_are_bit_reversed_and_zero_padded() {
        assert_eq!(
            vnc_key(b"password"),
            [0x0e, 0x86, 0xce, 0xce, 0xee, 0xf6, 0x4e, 0x26]
        );
        assert_eq!(
            vnc_key(b"secret"),
            [0xce, 0xa6, 0xc6, 0x4e, 0xa6, 0x2e, 0, 0]
        );
    }

    // The expected responses below were computed once with OpenSSL's DES-ECB
    // using the bit-reversed keys, independently of this code.
    #[test]
    fn response_matches_openssl_vector_for_password() {
        assert_eq!(
            vnc_auth_response(b"password", &CHALLENGE),
            hex("b866924125c8eebb9debc1db61c538e2")
        );
    }

    #[test]
    fn short_password_is_zero_padded() {
        assert_eq!(
            vnc_auth_response(b"secret", &CHALLENGE),
            hex("ee22539f33a5983ec12f9c2edbc995dd")
        );
        // Explicit zero padding gives the same key.
        assert_eq!(
            vnc_auth_response(b"secret\0\0", &CHALLENGE),
            vnc_auth_response(b"secret", &CHALLENGE)
        );
    }

    #[test]
    fn only_first_eight_password_bytes_count() {
        let ch = hex("ffeeddccbbaa99887766554433221100");
        assert_eq!(
            vnc_auth_response(b"longpassword", &ch),
            hex("f4e80437d9839abed2c0bd7dcac8a5fc")
        );
        assert_eq!(
            vnc_auth_response(b"longpassword", &ch),
            vnc_auth_response(b"longpass", &ch)
        );
    }

    #[test]
    fn blocks_are_encrypted_independently() {
        // ECB: equal challenge halves give equal response halves.
        let ch = [7u8; 16];
        let r = vnc_auth_response(b"pw", &ch);
        assert_eq!(r[..8], r[8..]);
        assert_ne!(r, ch);
    }

    #[test]
    fn check_accepts_right_and_rejects_wrong_password() {
        let r = vnc_auth_response(b"password", &CHALLENGE);
        assert!(vnc_auth_check(b"password", &CHALLENGE, &r));
        assert!(!vnc_auth_check(b"passwore", &CHALLENGE, &r));
        assert!(!vnc_auth_check(b"", &CHALLENGE, &r));
        let mut other = CHALLENGE;
        other[15] ^= 1;
        assert!(!vnc_auth_check(b"password", &other, &r));
    }
}
