//! Condition 2-2-1 (伝送データの暗号化, informational): TLS-01, in
//! [`super::tls01`].

use super::CheckDef;

/// The checks of 2-2-1.
pub fn checks() -> Vec<CheckDef> {
    vec![super::tls01::DEF]
}
