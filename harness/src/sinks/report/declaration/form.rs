//! The whole 【参考①】適合宣言フォーマット, filled in: the 15 rows of the
//! embedded `data/declaration-form.toml` in the form's order and columns,
//! and the header naming service, provider, terminal, declarant, date,
//! department and run.
//!
//! Where each row's answer comes from:
//! - **1-2-1 .. 1-3-2** from the run ([`super::evidence`]): 採用 only when the
//!   condition passed on a full selection of its checks; failed, inconclusive,
//!   not run or narrowed by `--only`/`--skip` gives 否採用 with the reason
//!   saying which (不適合 / 判定保留 / 未実施).
//! - **2-2-1** joins the vendor's statement with TLS-01's evidence
//!   ([`super::tls`]); a 採用 that the run contradicts becomes 否採用 and
//!   the conflict is written out.
//! - **the other rows** from `[conformity]`, marked as the vendor's statement
//!   not verified by the harness; a row without an answer reads 未申告.

use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

use crate::config::declaration::conformity::{ConformityDecl, RowAnswer};
use crate::sinks::report::outputs::EvidenceIndex;
use crate::sinks::report::Report;

/// 採否 of a row the vendor has not answered. Not one of the form's two
/// values: the form is incomplete until the vendor answers.
pub const NOT_DECLARED: &str = "未申告";

/// The label that opens 適合内容 of a vendor-answered row.
pub const VENDOR_LABEL: &str = "【事業者の申告・本試験では未検証】";

const FORM_TOML: &str = include_str!("../../../../data/declaration-form.toml");

/// The embedded form: titles, columns and rows in the document's wording.
#[derive(Debug, Clone, Deserialize)]
pub struct FormText {
    /// 「消防機関が緊急通報サービスに求める条件」.
    pub document: String,
    /// The S3-01 specification's title.
    pub spec: String,
    /// 【参考①】適合宣言フォーマット.
    pub form: String,
    /// 【参考②】消防本部のチェック観点.
    pub check_sheet: String,
    /// The 11 columns of 【参考①】.
    pub columns_ja: Vec<String>,
    /// The two 採否 values.
    pub adoption_ja: Vec<String>,
    /// The rows, in the form's order.
    pub row: Vec<RowText>,
}

/// How much of a row the run itself can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tested {
    /// The run produces the evidence (1-2-1 .. 1-3-2).
    Yes,
    /// The run sees part of it (2-2-1: the transports it uses).
    Partly,
    /// Only the vendor's documents can show it.
    No,
}

impl<'de> Deserialize<'de> for Tested {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Tested, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Word(String),
        }
        match Raw::deserialize(d)? {
            Raw::Flag(true) => Ok(Tested::Yes),
            Raw::Flag(false) => Ok(Tested::No),
            Raw::Word(w) if w == "partly" => Ok(Tested::Partly),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "tested must be true, false or \"partly\", not {w:?}"
            ))),
        }
    }
}

/// One row of the form, in the document's wording.
#[derive(Debug, Clone, Deserialize)]
pub struct RowText {
    /// Lv.1.
    pub lv1: String,
    /// Lv.2.
    pub lv2: String,
    /// Lv.3 (`-` where the row has none).
    pub lv3: String,
    /// 大項目.
    pub lv1_ja: String,
    /// 項目.
    pub item_ja: String,
    /// 観点.
    pub viewpoint_ja: String,
    /// 条件.
    pub condition_ja: String,
    /// 補足.
    pub note_ja: String,
    /// 【参考②】: what 適合内容 and 関連文書 must let the department confirm.
    pub check_ja: String,
    /// 【参考②】: what 否採用の理由 must let the department confirm.
    pub reject_check_ja: String,
    /// Whether the run shows it.
    pub tested: Tested,
}

impl RowText {
    /// The row id: `1-2-1`, or `2-7` where Lv.3 is `-`.
    pub fn id(&self) -> String {
        if self.lv3 == "-" {
            format!("{}-{}", self.lv1, self.lv2)
        } else {
            format!("{}-{}-{}", self.lv1, self.lv2, self.lv3)
        }
    }
}

/// The embedded form (parsed once; a test proves it parses).
pub fn form() -> &'static FormText {
    static FORM: OnceLock<FormText> = OnceLock::new();
    FORM.get_or_init(|| {
        toml::from_str(FORM_TOML).unwrap_or_else(|e| {
            // The file is part of the crate and tested below: this is a
            // build defect, not input data.
            panic!("embedded declaration-form.toml does not parse: {e}")
        })
    })
}

/// Where a filled row's answer comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The run's verdict and evidence.
    Run,
    /// The vendor's statement joined with the run's evidence (2-2-1).
    Joined,
    /// The vendor's statement alone.
    Vendor,
    /// No answer from the vendor.
    NotDeclared,
}

/// One filled row: the form's text and the four answer columns.
#[derive(Debug, Clone)]
pub struct FilledRow {
    /// The form's wording for the row.
    pub text: &'static RowText,
    /// 採否: 採用, 否採用 or [`NOT_DECLARED`].
    pub adoption: String,
    /// 適合内容.
    pub content: String,
    /// 関連文書/サービスを示すURL等.
    pub documents: String,
    /// 否採用の理由.
    pub reason: String,
    /// Where the answer came from.
    pub source: Source,
    /// True when the vendor's statement and the run disagree (2-2-1).
    pub conflict: bool,
    /// For the check sheet: how the department confirms the row, and with
    /// what (the evidence, or the vendor's documents).
    pub confirm: Confirm,
}

/// How the check sheet says a row is confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    /// 確認の方法 (by this run's evidence, partly, or from documents).
    pub method: String,
    /// The result and the evidence named, or the documents attached.
    pub basis: String,
}

impl FilledRow {
    /// The 11 cells in the order of [`FormText::columns_ja`].
    pub fn cells(&self) -> [String; 11] {
        let t = self.text;
        [
            t.lv1.clone(),
            t.lv2.clone(),
            t.lv3.clone(),
            t.item_ja.clone(),
            t.viewpoint_ja.clone(),
            t.condition_ja.clone(),
            t.note_ja.clone(),
            self.adoption.clone(),
            self.content.clone(),
            self.documents.clone(),
            self.reason.clone(),
        ]
    }
}

/// The header of the declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// (label, value) pairs, in the order printed.
    pub fields: Vec<(&'static str, String)>,
    /// Remarks about the record (partial, aborted), each one line.
    pub notes: Vec<String>,
}

/// The filled form.
#[derive(Debug, Clone)]
pub struct Filled {
    /// Who, what, when, for whom.
    pub header: Header,
    /// All rows, in the form's order.
    pub rows: Vec<FilledRow>,
}

/// The vendor's `[conformity]` as recorded in the report's `terminal`.
pub fn conformity_of(r: &Report) -> ConformityDecl {
    r.terminal
        .get("conformity")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

fn terminal_str(r: &Report, key: &str) -> String {
    r.terminal
        .pointer(&format!("/terminal/{key}"))
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .unwrap_or("（未記入）")
        .to_string()
}

fn or_unfilled(s: &str) -> String {
    if s.trim().is_empty() {
        "（未記入）".to_string()
    } else {
        s.to_string()
    }
}

fn header(r: &Report, c: &ConformityDecl) -> Header {
    let department = c
        .department
        .clone()
        .or_else(|| r.run.department.clone())
        .unwrap_or_default();
    let fields = vec![
        ("サービス名 Service", terminal_str(r, "service")),
        ("提供事業者 Provider", terminal_str(r, "vendor")),
        (
            "専用端末 型番・版 Terminal model / version",
            format!("{} / {}", terminal_str(r, "model"), terminal_str(r, "version")),
        ),
        ("宣言者 Declarant", or_unfilled(&c.declarant)),
        ("宣言日 Date", or_unfilled(&c.date)),
        ("提出先 Department", or_unfilled(&department)),
        (
            "接続試験 Run",
            {
                let jst = |t: &str| {
                    crate::model::time::jst_display(t).unwrap_or_else(|| t.to_string())
                };
                format!(
                    "s301 {} ラン {}（{} – {}）",
                    r.run.harness_version,
                    r.run.id,
                    jst(&r.run.started_at),
                    jst(&r.run.finished_at)
                )
            },
        ),
        (
            "試験実施者・立会者 Operator / witness",
            format!(
                "{} / {}",
                r.run.operator.as_deref().unwrap_or("（記録なし）"),
                r.run.witness.as_deref().unwrap_or("（記録なし）")
            ),
        ),
        (
            "封印 Seal",
            "ランのディレクトリに置かれたこの宣言書は、report.json と証跡とともに manifest.json に封印される。改ざんの有無は `s301 verify <ランのディレクトリ>` で確かめられる。".to_string(),
        ),
    ];
    let mut notes = Vec::new();
    if r.run.partial {
        notes.push(
            "※ 一部のチェックのみ実施したラン（--only/--skip）: 完全な適合の記録ではない。"
                .to_string(),
        );
    }
    if let Some(reason) = &r.run.abort_reason {
        notes.push(format!("※ 中断したラン: {reason}"));
    }
    Header { fields, notes }
}

fn vendor_row(text: &'static RowText, a: Option<&RowAnswer>) -> FilledRow {
    match a {
        Some(a) => FilledRow {
            text,
            adoption: a.adoption.as_str().to_string(),
            content: if a.content.trim().is_empty() {
                VENDOR_LABEL.to_string()
            } else {
                format!("{VENDOR_LABEL}{}", a.content)
            },
            documents: a.documents.clone(),
            reason: a.reason.clone(),
            source: Source::Vendor,
            conflict: false,
            confirm: Confirm {
                method: "事業者の文書で確認 (from the vendor's documents)".to_string(),
                basis: if a.documents.trim().is_empty() {
                    "添付文書の記載なし (no documents named)".to_string()
                } else {
                    format!("添付 attached: {}", a.documents)
                },
            },
        },
        None => not_declared(text),
    }
}

fn not_declared(text: &'static RowText) -> FilledRow {
    FilledRow {
        text,
        adoption: NOT_DECLARED.to_string(),
        content: format!(
            "未申告 (not declared): 事業者の回答がない。宣言ファイルの [conformity.row.\"{}\"] に記入する。",
            text.id()
        ),
        documents: String::new(),
        reason: String::new(),
        source: Source::NotDeclared,
        conflict: false,
        confirm: Confirm {
            method: "事業者の文書で確認 (from the vendor's documents)".to_string(),
            basis: "未申告のため確認できない (not declared)".to_string(),
        },
    }
}

/// Fills the whole form from the report and the evidence folders.
pub fn fill(r: &Report, ev: &EvidenceIndex) -> Filled {
    let c = conformity_of(r);
    let rows = form()
        .row
        .iter()
        .map(|text| {
            let id = text.id();
            match text.tested {
                Tested::Yes => super::evidence::tested_row(r, ev, text),
                Tested::Partly => super::tls::row(r, text, c.answer(&id)),
                Tested::No => vendor_row(text, c.answer(&id)),
            }
        })
        .collect();
    Filled {
        header: header(r, &c),
        rows,
    }
}

/// The groups of rows by 大項目, in order: (Lv.1, 大項目, the rows).
pub fn groups(rows: &[FilledRow]) -> Vec<(&str, &str, Vec<&FilledRow>)> {
    let mut out: Vec<(&str, &str, Vec<&FilledRow>)> = Vec::new();
    for row in rows {
        match out.last_mut() {
            Some((lv1, _, list)) if *lv1 == row.text.lv1 => list.push(row),
            _ => out.push((&row.text.lv1, &row.text.lv1_ja, vec![row])),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::sinks::report::tests::sample_outcome;

    #[test]
    fn the_embedded_form_has_fifteen_rows_in_document_order() {
        let f = form();
        let ids: Vec<String> = f.row.iter().map(RowText::id).collect();
        assert_eq!(
            ids,
            [
                "1-1-1", "1-1-2", "1-2-1", "1-2-2", "1-3-1", "1-3-2", "2-1", "2-2-1", "2-2-2",
                "2-3", "2-4-1", "2-4-2", "2-5", "2-6", "2-7"
            ]
        );
        assert_eq!(f.columns_ja.len(), 11);
        assert_eq!(f.adoption_ja, ["採用", "否採用"]);
        let tested: Vec<String> = f
            .row
            .iter()
            .filter(|r| r.tested == Tested::Yes)
            .map(RowText::id)
            .collect();
        assert_eq!(tested, ["1-2-1", "1-2-2", "1-3-1", "1-3-2"]);
    }

    #[test]
    fn the_vendor_rows_of_the_config_match_the_form() {
        use crate::config::declaration::conformity::{TESTED_ROWS, VENDOR_ROWS};
        let f = form();
        let vendor: Vec<String> = f
            .row
            .iter()
            .filter(|r| r.tested != Tested::Yes)
            .map(RowText::id)
            .collect();
        assert_eq!(vendor, VENDOR_ROWS);
        let tested: Vec<String> = f
            .row
            .iter()
            .filter(|r| r.tested == Tested::Yes)
            .map(RowText::id)
            .collect();
        assert_eq!(tested, TESTED_ROWS);
    }

    #[test]
    fn without_answers_every_vendor_row_is_not_declared_and_groups_split_at_lv1() {
        let r = Report::from_outcome(&sample_outcome());
        let f = fill(&r, &EvidenceIndex::default());
        assert_eq!(f.rows.len(), 15);
        for row in &f.rows {
            if row.text.tested != Tested::Yes {
                assert_eq!(row.adoption, NOT_DECLARED, "{}", row.text.id());
                assert_eq!(row.source, Source::NotDeclared);
            } else {
                assert_ne!(row.adoption, NOT_DECLARED, "{}", row.text.id());
            }
        }
        let g = groups(&f.rows);
        assert_eq!(g.len(), 2);
        assert_eq!(
            (g[0].0, g[0].1, g[0].2.len()),
            ("1", "標準インターフェイスの前提条件", 6)
        );
        assert_eq!((g[1].0, g[1].1, g[1].2.len()), ("2", "セキュリティ対策", 9));
        assert_eq!(
            g[1].2[1].text.id(),
            "2-2-1",
            "2-2-1 belongs to セキュリティ対策"
        );
    }

    #[test]
    fn vendor_answers_fill_their_rows_marked_as_unverified() {
        let mut r = Report::from_outcome(&sample_outcome());
        r.terminal = serde_json::json!({
            "terminal": {"service": "Net119", "vendor": "Example", "model": "T-1", "version": "2.0"},
            "conformity": {
                "declarant": "山田", "date": "2026-12-01", "department": "○○消防局",
                "row": {
                    "2-7": {"adoption": "採用", "content": "通知する", "documents": "手順書"},
                    "2-3": {"adoption": "否採用", "content": "", "documents": "", "reason": "未対応"}
                }
            }
        });
        let f = fill(&r, &EvidenceIndex::default());
        let row = |id: &str| f.rows.iter().find(|x| x.text.id() == id).unwrap();
        assert_eq!(row("2-7").adoption, "採用");
        assert_eq!(row("2-7").content, format!("{VENDOR_LABEL}通知する"));
        assert_eq!(row("2-7").documents, "手順書");
        assert_eq!(row("2-7").confirm.basis, "添付 attached: 手順書");
        assert_eq!(row("2-3").adoption, "否採用");
        assert_eq!(row("2-3").reason, "未対応");
        let h: Vec<&str> = f.header.fields.iter().map(|(_, v)| v.as_str()).collect();
        assert!(h.contains(&"Net119") && h.contains(&"T-1 / 2.0"), "{h:?}");
        assert!(h.contains(&"山田") && h.contains(&"○○消防局"), "{h:?}");
    }
}
