//! Condition 1-3-2 (データ連携要求の受付機能, accepting data requests):
//! DR-01, DR-02 and DR-03, each in a file of its own.

use super::CheckDef;

/// The checks of this condition.
pub fn checks() -> Vec<CheckDef> {
    vec![super::dr01::DEF, super::dr02::DEF, super::dr03::DEF]
}
