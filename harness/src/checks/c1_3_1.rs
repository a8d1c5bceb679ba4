//! Condition 1-3-1 (データ入出力機能, data input/output): DO-01, DO-02,
//! DO-03, DI-01 and DI-02, each in a file of its own.

use super::CheckDef;

/// The checks of this condition.
pub fn checks() -> Vec<CheckDef> {
    vec![
        super::do01::DEF,
        super::do02::DEF,
        super::do03::DEF,
        super::di01::DEF,
        super::di02::DEF,
    ]
}
