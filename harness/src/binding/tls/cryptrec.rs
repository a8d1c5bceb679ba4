//! Which TLS cipher suites are built only from algorithms on CRYPTREC's
//! e-Government Recommended Ciphers List (電子政府推奨暗号リスト).
//!
//! The list itself is data, `harness/data/cryptrec.toml`, which names the
//! edition it follows (30 March 2023) and says why each algorithm is in or
//! out: ephemeral (EC)DH; AES and Camellia; GCM, CCM and CBC (with HMAC);
//! SHA-256 and SHA-384. Not listed: ChaCha20-Poly1305 (not on the
//! recommended list), anything with SHA-1 (monitored list only), static RSA
//! key transport, CCM_8, Triple DES.
//!
//! The table is a judgment the report shows with its reason; it never
//! changes a mandatory condition's verdict.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The list this module classifies against, as named in evidence.
pub const LIST_NAME: &str =
    "CRYPTREC e-Government Recommended Ciphers List (電子政府推奨暗号リスト, 2023)";

const LIST_TOML: &str = include_str!("../../../data/cryptrec.toml");

/// The recommended list as `data/cryptrec.toml` gives it.
#[derive(Debug, Deserialize)]
struct List {
    edition: String,
    key_exchange: Vec<String>,
    ciphers: Vec<String>,
    modes: Vec<String>,
    hashes: Vec<String>,
    not_listed: std::collections::BTreeMap<String, String>,
}

fn list() -> &'static List {
    static LIST: OnceLock<List> = OnceLock::new();
    LIST.get_or_init(|| {
        toml::from_str(LIST_TOML).unwrap_or_else(|e| {
            // Part of the crate and tested below: a build defect, not input.
            panic!("embedded cryptrec.toml does not parse: {e}")
        })
    })
}

/// The edition of the list the table follows (from `data/cryptrec.toml`).
pub fn edition() -> &'static str {
    &list().edition
}

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

/// The parts of a suite name: `_`-separated words.
fn has_part(name: &str, part: &str) -> bool {
    name.split("_WITH_")
        .flat_map(|side| side.split('_'))
        .collect::<Vec<_>>()
        .windows(part.split('_').count())
        .any(|w| w.join("_") == part)
}

fn judge(suite: &str) -> (bool, String) {
    let l = list();
    let s = suite.to_ascii_uppercase();
    if let Some((_, why)) = l.not_listed.iter().find(|(k, _)| has_part(&s, k)) {
        return (false, why.clone());
    }
    // TLS 1.3 names carry only the AEAD and the hash: key exchange is always
    // ephemeral (EC)DH there.
    let rest = if let Some(rest) = s.strip_prefix("TLS13_") {
        rest.to_string()
    } else if let Some(rest) = s.strip_prefix("TLS_") {
        let Some((kx, cipher)) = rest.split_once("_WITH_") else {
            return (false, format!("unrecognised suite name {suite:?}"));
        };
        if !l
            .key_exchange
            .iter()
            .any(|k| kx.split('_').next() == Some(k))
        {
            return (
                false,
                format!("key exchange {kx} is not ephemeral DH/ECDH (static RSA key transport is not recommended)"),
            );
        }
        cipher.to_string()
    } else {
        return (false, format!("unrecognised suite name {suite:?}"));
    };
    let Some(cipher) = l
        .ciphers
        .iter()
        .find(|c| rest.starts_with(&format!("{c}_")))
    else {
        return (
            false,
            format!("bulk cipher of {suite} is not AES or Camellia"),
        );
    };
    let after = &rest[cipher.len() + 1..];
    let mode = after.split('_').next().unwrap_or("");
    if !l.modes.iter().any(|m| m == mode) {
        return (
            false,
            format!("{suite} uses no mode of the recommended list (GCM, CCM, CBC)"),
        );
    }
    let hash = after.rsplit('_').next().unwrap_or("");
    // CCM suites of TLS 1.2 have no hash suffix; their PRF is SHA-256.
    let tls12_ccm = mode == "CCM" && after == "CCM" && !s.starts_with("TLS13_");
    if !(tls12_ccm || l.hashes.iter().any(|h| h == hash)) {
        return (
            false,
            format!(
                "{suite} does not use SHA-256 or SHA-384 (SHA-1 is on the monitored list only)"
            ),
        );
    }
    (
        true,
        format!(
            "{} in {mode} with {} and ephemeral (EC)DH are all on the recommended list ({})",
            cipher.replace('_', "-"),
            if tls12_ccm { "SHA256" } else { hash },
            l.edition
        ),
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
    fn cbc_with_sha256_is_listed_as_the_2023_list_has_cbc_and_hmac() {
        assert!(classify("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256").listed);
        assert!(!classify("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA").listed);
    }

    #[test]
    fn the_embedded_list_names_its_edition() {
        assert!(edition().contains("2023-03-30"), "{}", edition());
        assert!(classify("TLS13_AES_128_GCM_SHA256")
            .reason
            .contains("2023-03-30"));
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
