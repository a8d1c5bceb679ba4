//! The conditions and the check catalog: stable ids, the condition each check
//! belongs to, and the official Japanese wording of each condition.

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// The conditions of 「消防機関が緊急通報サービスに求める条件」 the harness judges,
/// plus 2-2-1, reported for information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ConditionId {
    /// 1-2-1 画面転送機能 (screen transfer).
    #[serde(rename = "1-2-1")]
    C1_2_1,
    /// 1-2-2 操作受付機能 (accepting operation).
    #[serde(rename = "1-2-2")]
    C1_2_2,
    /// 1-3-1 データ入出力機能 (data input/output).
    #[serde(rename = "1-3-1")]
    C1_3_1,
    /// 1-3-2 データ連携要求の受付機能 (accepting data requests).
    #[serde(rename = "1-3-2")]
    C1_3_2,
    /// 2-2-1 伝送データの暗号化 (encryption of transmitted data): reported
    /// for information only. It is not in [`ConditionId::ALL`], so it never
    /// gets a condition verdict and never moves the exit status.
    #[serde(rename = "2-2-1")]
    C2_2_1,
}

impl ConditionId {
    /// Every judged condition, in document order.
    pub const ALL: [ConditionId; 4] = [
        ConditionId::C1_2_1,
        ConditionId::C1_2_2,
        ConditionId::C1_3_1,
        ConditionId::C1_3_2,
    ];

    /// `"1-2-1"` etc.
    pub fn as_str(&self) -> &'static str {
        match self {
            ConditionId::C1_2_1 => "1-2-1",
            ConditionId::C1_2_2 => "1-2-2",
            ConditionId::C1_3_1 => "1-3-1",
            ConditionId::C1_3_2 => "1-3-2",
            ConditionId::C2_2_1 => "2-2-1",
        }
    }

    /// True for a condition reported for information only (2-2-1).
    pub fn informational(&self) -> bool {
        matches!(self, ConditionId::C2_2_1)
    }

    /// The official wording of this condition.
    pub fn text(&self) -> &'static ConditionText {
        conditions()
            .iter()
            .find(|c| c.no == self.as_str())
            .expect("conditions.toml is embedded and holds every judged condition")
    }
}

/// One row of the conditions table, as embedded from `data/conditions.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ConditionText {
    /// `"1-2-1"`.
    pub no: String,
    /// Reported for information only (2-2-1).
    #[serde(default)]
    pub informational: bool,
    /// 大項目.
    pub lv1_ja: String,
    /// 項目.
    pub item_ja: String,
    /// 観点, e.g. 画面転送機能.
    pub viewpoint_ja: String,
    /// 条件.
    pub condition_ja: String,
    /// 補足.
    pub note_ja: String,
    /// The department's check viewpoint (【参考②】).
    pub check_ja: String,
    /// 項目 in English.
    pub item_en: String,
    /// 観点 in English.
    pub viewpoint_en: String,
}

#[derive(Deserialize)]
struct ConditionsFile {
    condition: Vec<ConditionText>,
    declaration_columns_ja: Vec<String>,
}

const CONDITIONS_TOML: &str = include_str!("../../data/conditions.toml");

fn file() -> &'static ConditionsFile {
    static F: OnceLock<ConditionsFile> = OnceLock::new();
    F.get_or_init(|| {
        toml::from_str(CONDITIONS_TOML).expect("embedded conditions.toml parses (tested)")
    })
}

/// Every row of the embedded conditions table (1-2-1 .. 1-3-2 and 2-2-1).
pub fn conditions() -> &'static [ConditionText] {
    &file().condition
}

/// The columns of the 適合宣言 (【参考①】), in order.
pub fn declaration_columns() -> &'static [String] {
    &file().declaration_columns_ja
}

macro_rules! check_ids {
    ($( $variant:ident = $s:literal; )*) => {
        /// A check's stable id. Everything else about a check (its
        /// condition, lane, budget, requirement text and run) is in its
        /// literal, `crate::checks::def(id)`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum CheckId {
            $(
                #[doc = $s]
                #[serde(rename = $s)]
                $variant,
            )*
        }

        impl CheckId {
            /// Every check, in catalog order.
            pub const ALL: &'static [CheckId] = &[$(CheckId::$variant,)*];

            /// `"ST-01"` etc.
            pub fn as_str(&self) -> &'static str {
                match self { $(CheckId::$variant => $s,)* }
            }

            /// Parses `"ST-01"` (case-insensitive).
            pub fn parse(s: &str) -> Option<CheckId> {
                let u = s.trim().to_ascii_uppercase();
                match u.as_str() { $($s => Some(CheckId::$variant),)* _ => None }
            }
        }
    };
}

check_ids! {
    St01 = "ST-01";
    St02 = "ST-02";
    St03 = "ST-03";
    St04 = "ST-04";
    Ex01 = "EX-01";
    Ex02 = "EX-02";
    Ex03 = "EX-03";
    Ex04 = "EX-04";
    Op01 = "OP-01";
    Op02 = "OP-02";
    Op03 = "OP-03";
    Op04 = "OP-04";
    Do01 = "DO-01";
    Do02 = "DO-02";
    Do03 = "DO-03";
    Di01 = "DI-01";
    Di02 = "DI-02";
    Dr01 = "DR-01";
    Dr02 = "DR-02";
    Dr03 = "DR-03";
    Tls01 = "TLS-01";
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for ConditionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_conditions_cover_every_judged_condition() {
        for c in ConditionId::ALL {
            assert_eq!(c.text().no, c.as_str());
        }
        assert_eq!(ConditionId::C1_2_1.text().viewpoint_ja, "画面転送機能");
        assert_eq!(declaration_columns().len(), 8);
        assert!(conditions()
            .iter()
            .any(|c| c.no == "2-2-1" && c.informational));
    }

    #[test]
    fn check_ids_round_trip() {
        for id in CheckId::ALL {
            assert_eq!(CheckId::parse(id.as_str()), Some(*id));
        }
        assert_eq!(CheckId::parse("ex-01"), Some(CheckId::Ex01));
        assert_eq!(CheckId::parse("XX-01"), None);
        assert_eq!(CheckId::ALL.len(), 21);
        assert!(ConditionId::C2_2_1.informational());
        assert!(!ConditionId::ALL.contains(&ConditionId::C2_2_1));
        assert_eq!(ConditionId::C2_2_1.text().no, "2-2-1");
    }
}
