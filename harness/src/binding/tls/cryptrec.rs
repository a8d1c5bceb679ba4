//! Which TLS cipher suites are built only from algorithms on CRYPTREC's
//! e-Government Recommended Ciphers List (電子政府推奨暗号リスト).
//!
//! Basis: the CRYPTREC Ciphers List (「電子政府における調達のために参照すべき
//! 暗号のリスト」, revised March 2023) puts these on its *recommended* list,
//! among others: the 128-bit block ciphers AES and Camellia; the modes GCM
//! and CCM for authenticated encryption; the hash functions SHA-256 and
//! SHA-384 (SHA-2); the key agreements DH and ECDH (used ephemeral, as DHE and
//! ECDHE, in TLS); the signatures RSA-PSS, RSASSA-PKCS1-v1_5, ECDSA and EdDSA.
//! A suite counts as listed here when its key exchange (TLS 1.2), its bulk
//! cipher, its mode and its hash are all on that list.
//!
//! Not listed, so reported as such:
//! - ChaCha20-Poly1305: neither ChaCha20 nor Poly1305 is on the recommended
//!   list (CRYPTREC evaluated it, but it did not join the recommended list);
//! - CBC suites with HMAC-SHA1 and any SHA-1 suite (SHA-1 is on the
//!   monitored list only, kept for compatibility);
//! - static RSA key transport (TLS uses RSAES-PKCS1-v1_5, a monitored-list
//!   item, and it gives no forward secrecy);
//! - CCM_8 (its 64-bit tag is shorter than the list's guidance assumes).
//!
//! The table is a judgment the report shows with its reason; it never
//! changes a mandatory condition's verdict.

use serde::{Deserialize, Serialize};

/// The list this module classifies against, as named in evidence.
pub const LIST_NAME: &str =
    "CRYPTREC e-Government Recommended Ciphers List (電子政府推奨暗号リスト, 2023)";

/// Where a cipher suite stands against the recommended list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CryptrecStatus {
    /// True when every algorithm of the suite is on the recommended list.
    pub listed: bool,
    /// The list judged against ([`LIST_NAME`]).
    pub list: String,
    /// Why, in a few words.
    pub reason: String,
}

/// Classifies a suite by its IANA-style name as rustls prints it
/// (`TLS13_AES_128_GCM_SHA256`, `TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384`).
pub fn classify(suite: &str) -> CryptrecStatus {
    let (listed, reason) = judge(suite);
    CryptrecStatus {
        listed,
        list: LIST_NAME.to_string(),
        reason,
    }
}

fn judge(suite: &str) -> (bool, String) {
    let s = suite.to_ascii_uppercase();
    if s.contains("CHACHA20") || s.contains("POLY1305") {
        return (
            false,
            "ChaCha20-Poly1305 is not on the recommended list".into(),
        );
    }
    // TLS 1.3 names carry only the AEAD and the hash: key exchange is always
    // ephemeral (EC)DH there.
    let (kx_ok, rest) = if let Some(rest) = s.strip_prefix("TLS13_") {
        (true, rest.to_string())
    } else if let Some(rest) = s.strip_prefix("TLS_") {
        let Some((kx, cipher)) = rest.split_once("_WITH_") else {
            return (false, format!("unrecognised suite name {suite:?}"));
        };
        let ephemeral = kx.starts_with("ECDHE_") || kx.starts_with("DHE_");
        if !ephemeral {
            return (
                false,
                format!("key exchange {kx} is not ephemeral DH/ECDH (static RSA key transport is not recommended)"),
            );
        }
        (true, cipher.to_string())
    } else {
        return (false, format!("unrecognised suite name {suite:?}"));
    };
    let cipher_ok = ["AES_128_", "AES_256_", "CAMELLIA_128_", "CAMELLIA_256_"]
        .iter()
        .any(|c| rest.starts_with(c));
    if !kx_ok || !cipher_ok {
        return (
            false,
            format!("bulk cipher of {suite} is not AES or Camellia"),
        );
    }
    if rest.contains("CCM_8") {
        return (false, "CCM_8 truncates the tag to 64 bits".into());
    }
    let gcm = rest.contains("_GCM");
    let ccm = rest.contains("_CCM");
    if !(gcm || ccm) {
        return (
            false,
            format!(
                "{suite} does not use GCM or CCM (CBC with HMAC-SHA1 or SHA-1 is not recommended)"
            ),
        );
    }
    // CCM suites of TLS 1.2 have no hash suffix; their PRF is SHA-256.
    let hash_ok =
        rest.ends_with("_SHA256") || rest.ends_with("_SHA384") || (ccm && !s.starts_with("TLS13_"));
    if !hash_ok {
        return (false, format!("{suite} does not use SHA-256 or SHA-384"));
    }
    let mode = if gcm { "GCM" } else { "CCM" };
    (
        true,
        format!("AES/Camellia in {mode} with SHA-256/384 and ephemeral (EC)DH are all on the recommended list"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls13_aes_gcm_suites_are_listed() {
        assert!(classify("TLS13_AES_128_GCM_SHA256").listed);
        assert!(classify("TLS13_AES_256_GCM_SHA384").listed);
        assert!(classify("TLS13_AES_128_CCM_SHA256").listed);
    }

    #[test]
    fn tls12_ecdhe_aes_gcm_and_camellia_are_listed() {
        assert!(classify("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256").listed);
        assert!(classify("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384").listed);
        assert!(classify("TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256").listed);
        assert!(classify("TLS_ECDHE_ECDSA_WITH_AES_128_CCM").listed);
    }

    #[test]
    fn chacha20_poly1305_is_not_listed() {
        let c = classify("TLS13_CHACHA20_POLY1305_SHA256");
        assert!(!c.listed);
        assert!(c.reason.contains("ChaCha20"), "{}", c.reason);
        assert!(!classify("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256").listed);
    }

    #[test]
    fn static_rsa_cbc_sha1_and_ccm8_are_not_listed() {
        assert!(!classify("TLS_RSA_WITH_AES_128_GCM_SHA256").listed);
        assert!(!classify("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA").listed);
        assert!(!classify("TLS13_AES_128_CCM_8_SHA256").listed);
        assert!(!classify("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA").listed);
        assert!(!classify("garbage").listed);
    }
}
