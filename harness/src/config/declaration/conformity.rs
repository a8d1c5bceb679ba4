//! `[conformity]`: the vendor's own answers on the 適合宣言 (declaration of
//! conformity) for the rows the connection test cannot judge, and who
//! declares, when, to which department.
//!
//! ```toml
//! [conformity]
//! declarant = "株式会社Example 品質保証部 山田太郎"
//! date = "2026-12-01"
//! department = "○○市消防局"
//!
//! [conformity.row."2-7"]
//! adoption = "採用"          # 採用 or 否採用
//! content = "契約書第12条に定める手順で職員へ通知する"
//! documents = "セキュリティ侵害時対応手順書 v2"
//! reason = ""               # needed when adoption = "否採用"
//! ```
//!
//! Rows 1-2-1 .. 1-3-2 are the harness's to fill from the run's evidence, so
//! an answer for one of them is an error; so is a row the form does not
//! have. 採用 needs 適合内容 (`content`), 否採用 needs 否採用の理由 (`reason`).
//! Every error names the file, the line and the key.
//!
//! `s301 init` writes [`PLACEHOLDER_OPEN`]…[`PLACEHOLDER_CLOSE`] markers into
//! the template: any string value still holding one is refused with the key
//! and line of the first, and the count of the rest, so the vendor sees what
//! is left to fill in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::config_error::{ConfigError, Doc};

/// The rows a vendor answers, in 【参考①】 order (2-2-1 is also partly
/// observed by TLS-01).
pub const VENDOR_ROWS: [&str; 11] = [
    "1-1-1", "1-1-2", "2-1", "2-2-1", "2-2-2", "2-3", "2-4-1", "2-4-2", "2-5", "2-6", "2-7",
];

/// The rows the harness fills from the run's evidence.
pub const TESTED_ROWS: [&str; 4] = ["1-2-1", "1-2-2", "1-3-1", "1-3-2"];

/// Opens a placeholder `s301 init` leaves for the vendor to replace.
pub const PLACEHOLDER_OPEN: &str = "<<";
/// Closes a placeholder.
pub const PLACEHOLDER_CLOSE: &str = ">>";

/// 採否: the two values the form takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Adoption {
    /// 採用: the service meets the row's condition.
    #[serde(rename = "採用")]
    Adopted,
    /// 否採用: it does not, with the reason.
    #[serde(rename = "否採用")]
    NotAdopted,
}

impl Adoption {
    /// `"採用"` / `"否採用"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Adoption::Adopted => "採用",
            Adoption::NotAdopted => "否採用",
        }
    }
}

/// The vendor's answer for one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowAnswer {
    /// 採否.
    pub adoption: Adoption,
    /// 適合内容: how the service meets the condition.
    #[serde(default)]
    pub content: String,
    /// 関連文書/サービスを示すURL等: the documents attached.
    #[serde(default)]
    pub documents: String,
    /// 否採用の理由.
    #[serde(default)]
    pub reason: String,
}

/// `[conformity]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConformityDecl {
    /// 宣言者: who declares (person and organisation).
    #[serde(default)]
    pub declarant: String,
    /// 宣言日 (free text, e.g. `2026-12-01`).
    #[serde(default)]
    pub date: String,
    /// 提出先: the fire department the declaration is addressed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// The answers, keyed by row (`"2-7"`).
    #[serde(default)]
    pub row: BTreeMap<String, RowAnswer>,
}

impl ConformityDecl {
    /// The answer for `row`, if the vendor gave one.
    pub fn answer(&self, row: &str) -> Option<&RowAnswer> {
        self.row.get(row)
    }
}

/// Checks the answers against the form: known vendor rows only, 採用 with
/// 適合内容, 否採用 with a reason.
pub(crate) fn validate(c: &ConformityDecl, doc: &Doc<'_>) -> Result<(), ConfigError> {
    for (id, a) in &c.row {
        let key = format!("conformity.row.{id}");
        if TESTED_ROWS.contains(&id.as_str()) {
            return Err(doc.error_at(
                &key,
                format!(
                    "row {id} is filled by the harness from the run's evidence; remove this entry"
                ),
            ));
        }
        if !VENDOR_ROWS.contains(&id.as_str()) {
            return Err(doc.error_at(
                &key,
                format!(
                    "the form has no row \"{id}\"; the rows a vendor answers are {}",
                    VENDOR_ROWS.join(", ")
                ),
            ));
        }
        match a.adoption {
            Adoption::Adopted if a.content.trim().is_empty() => {
                return Err(doc.error_at(
                    &format!("{key}.adoption"),
                    "採用 needs 適合内容: say in `content` how the service meets the condition",
                ));
            }
            Adoption::NotAdopted if a.reason.trim().is_empty() => {
                return Err(doc.error_at(
                    &format!("{key}.adoption"),
                    "否採用 needs 否採用の理由: give the reason in `reason`",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Refuses a document that still holds a placeholder of `s301 init`: the
/// error names the first one's key and line, and how many more remain.
pub(crate) fn check_placeholders(src: &str, doc: &Doc<'_>) -> Result<(), ConfigError> {
    let Ok(root) = toml::from_str::<toml::Table>(src) else {
        // Syntax errors are Doc's to report; nothing to look for here.
        return Ok(());
    };
    let mut found: Vec<(String, String)> = Vec::new();
    for (k, v) in &root {
        collect(k, v, &mut found);
    }
    // The table is sorted by key: put the placeholders in file order.
    let mut found: Vec<(usize, String, String)> = found
        .into_iter()
        .map(|(k, t)| (doc.error_at(&k, "").line.unwrap_or(usize::MAX), k, t))
        .collect();
    found.sort();
    let Some((_, key, text)) = found.first() else {
        return Ok(());
    };
    let mut msg = format!("still a placeholder from `s301 init`: {text} (replace it)");
    if found.len() > 1 {
        let rest: Vec<String> = found[1..]
            .iter()
            .map(|(line, k, _)| format!("{k} (line {line})"))
            .collect();
        msg.push_str(&format!(
            "; {} more to fill in: {}",
            rest.len(),
            rest.join(", ")
        ));
    }
    Err(doc.error_at(key, msg))
}

fn is_placeholder(s: &str) -> bool {
    s.find(PLACEHOLDER_OPEN)
        .is_some_and(|i| s[i..].contains(PLACEHOLDER_CLOSE))
}

fn collect(path: &str, v: &toml::Value, out: &mut Vec<(String, String)>) {
    match v {
        toml::Value::String(s) if is_placeholder(s) => out.push((path.to_string(), s.clone())),
        toml::Value::Table(t) => {
            for (k, child) in t {
                collect(&format!("{path}.{k}"), child, out);
            }
        }
        toml::Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                collect(&format!("{path}[{i}]"), child, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use crate::config::declaration::{ConfigErrorKind, Declaration};

    const BASE: &str = r#"
[screen]
url = "ws://127.0.0.1:5901/s3-01/v1/screen"
exclusivity = "refuse"

[operation]
supported = true

[conformity]
declarant = "Example 株式会社 山田"
date = "2026-12-01"

[conformity.row."2-7"]
adoption = "採用"
content = "契約に基づき通知する"
documents = "手順書 v2"
"#;

    fn line_of(src: &str, needle: &str) -> Option<usize> {
        src.lines().position(|l| l.contains(needle)).map(|i| i + 1)
    }

    #[test]
    fn answers_parse_and_appear_in_the_redacted_declaration() {
        let d = Declaration::parse(BASE, "t.toml").unwrap();
        let c = d.conformity.as_ref().unwrap();
        assert_eq!(c.declarant, "Example 株式会社 山田");
        let a = c.answer("2-7").unwrap();
        assert_eq!(a.adoption.as_str(), "採用");
        assert_eq!(a.documents, "手順書 v2");
        assert_eq!(d.redacted()["conformity"]["row"]["2-7"]["adoption"], "採用");
    }

    #[test]
    fn an_unknown_row_is_an_error_at_its_line() {
        let src = BASE.replace("\"2-7\"", "\"2-8\"");
        let e = Declaration::parse(&src, "t.toml").unwrap_err();
        assert_eq!(e.key, "conformity.row.2-8");
        assert!(e.message.contains("no row \"2-8\""), "{e}");
        assert!(e.line.is_some(), "{e}");
        assert!(e.line >= line_of(&src, "2-8"), "{e}");
    }

    #[test]
    fn a_tested_row_cannot_be_answered_by_the_vendor() {
        let src = BASE.replace("\"2-7\"", "\"1-2-1\"");
        let e = Declaration::parse(&src, "t.toml").unwrap_err();
        assert_eq!(e.key, "conformity.row.1-2-1");
        assert!(e.message.contains("filled by the harness"), "{e}");
    }

    #[test]
    fn adoption_without_content_and_rejection_without_reason_are_refused() {
        let src = BASE.replace("content = \"契約に基づき通知する\"\n", "");
        let e = Declaration::parse(&src, "t.toml").unwrap_err();
        assert_eq!(e.key, "conformity.row.2-7.adoption");
        assert_eq!(e.line, line_of(&src, "adoption"));
        assert!(e.message.contains("採用 needs 適合内容"), "{e}");

        let src = BASE.replace("adoption = \"採用\"", "adoption = \"否採用\"");
        let e = Declaration::parse(&src, "t.toml").unwrap_err();
        assert!(e.message.contains("否採用 needs 否採用の理由"), "{e}");
        let ok = src.replace("documents", "reason = \"未対応\"\ndocuments");
        assert!(Declaration::parse(&ok, "t.toml").is_ok());
    }

    #[test]
    fn adoption_takes_only_the_two_values_of_the_form() {
        let src = BASE.replace("adoption = \"採用\"", "adoption = \"yes\"");
        let e = Declaration::parse(&src, "t.toml").unwrap_err();
        assert_eq!(e.kind, ConfigErrorKind::BadValue);
        assert_eq!(e.key, "conformity.row.2-7.adoption");
        assert!(e.message.contains("採用"), "{e}");
    }

    #[test]
    fn unknown_answer_key_is_rejected_with_its_path() {
        let src = BASE.replace("documents =", "documnets =");
        let e = Declaration::parse(&src, "t.toml").unwrap_err();
        assert_eq!(e.kind, ConfigErrorKind::UnknownKey);
        assert_eq!(e.key, "conformity.row.2-7.documnets");
    }

    #[test]
    fn placeholders_are_refused_naming_the_first_and_counting_the_rest() {
        let src = BASE
            .replace("Example 株式会社 山田", "<<宣言者 declarant>>")
            .replace("手順書 v2", "<<関連文書 documents>>");
        let e = Declaration::parse(&src, "t.toml").unwrap_err();
        assert_eq!(e.key, "conformity.declarant");
        assert_eq!(e.line, line_of(&src, "declarant ="));
        assert!(e.message.contains("<<宣言者 declarant>>"), "{e}");
        assert!(
            e.message
                .contains("1 more to fill in: conformity.row.2-7.documents (line"),
            "{e}"
        );
    }
}
