//! Row 2-2-1 伝送データの暗号化: the vendor's statement joined with what
//! TLS-01 saw on each transport of the run (protocol version, cipher suite,
//! and whether the suite is on CRYPTREC's e-Government Recommended Ciphers
//! List, as judged by [`crate::binding::tls::cryptrec`] when the run was
//! made and recorded in TLS-01's evidence).
//!
//! The run sees only the links between the terminal and the dispatch side;
//! encryption inside the service stays the vendor's statement. So:
//! - the vendor declares 採用 and every transport was TLS with a listed
//!   suite: 採用, with the suites as evidence;
//! - the vendor declares 採用 but a transport was plaintext, or its suite is
//!   not on the list, or its suite could not be seen: **否採用**, and
//!   否採用の理由 states the conflict (the form never says more than the
//!   run shows);
//! - the vendor declares 採用 and TLS-01 did not run: 採用 as the vendor's
//!   statement, marked unverified;
//! - the vendor declares 否採用: 否採用 with the vendor's reason;
//! - no statement: 未申告, with what the run saw.

use serde_json::Value;

use crate::config::declaration::conformity::{Adoption, RowAnswer};
use crate::model::verdict::Verdict;
use crate::sinks::report::Report;

use super::form::{Confirm, FilledRow, RowText, Source, NOT_DECLARED, VENDOR_LABEL};

/// What the run saw of the transports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// TLS-01 did not run or could not look (the reason).
    NotSeen(String),
    /// No transport contradicts encryption with listed suites: each is TLS
    /// with a listed suite, or encrypted with a suite the run could not see
    /// (the push receiver, whose suite the terminal picks); one line each.
    NoConflict(Vec<String>),
    /// Some transport is plaintext, or its observed suite is not listed:
    /// every line, and the problems alone.
    Problems {
        /// One line per transport.
        lines: Vec<String>,
        /// The transports that are not TLS with a listed suite.
        problems: Vec<String>,
    },
}

/// One transport's line, and whether it contradicts a declared 採用.
fn transport_line(t: &Value) -> (String, bool) {
    let name = t.get("transport").and_then(Value::as_str).unwrap_or("?");
    let url = t.get("url").and_then(Value::as_str).unwrap_or("?");
    let encrypted = t.get("encrypted").and_then(Value::as_bool).unwrap_or(false);
    if !encrypted {
        return (format!("{name}: 平文 plaintext（{url}）"), true);
    }
    let Some(tls) = t.get("tls") else {
        // Encrypted, but the suite was not observed: stated as such, no
        // conflict and no confirmation either.
        return (
            format!("{name}: 暗号化（TLS）、暗号スイートはこの経路では未観測（{url}）"),
            false,
        );
    };
    let version = tls.get("version").and_then(Value::as_str).unwrap_or("?");
    let suite = tls.get("suite").and_then(Value::as_str).unwrap_or("?");
    let listed = tls
        .pointer("/cryptrec/listed")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let why = tls
        .pointer("/cryptrec/reason")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mark = if listed {
        "電子政府推奨暗号リストに該当".to_string()
    } else {
        format!("電子政府推奨暗号リストに該当しない: {why}")
    };
    (format!("{name}: {version} {suite}（{mark}）"), !listed)
}

/// Reads TLS-01's record.
pub fn observed(r: &Report) -> Observed {
    let Some(k) = r.checks.iter().find(|k| k.id.as_str() == "TLS-01") else {
        return Observed::NotSeen("この記録に TLS-01 がない".to_string());
    };
    if matches!(k.verdict, Verdict::Skipped | Verdict::Error) {
        return Observed::NotSeen(format!("TLS-01 {}: {}", k.verdict.as_str(), k.detail));
    }
    let transports = k
        .evidence
        .get("transports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if transports.is_empty() {
        return Observed::NotSeen(format!("TLS-01 に経路の記録がない: {}", k.detail));
    }
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for t in &transports {
        let (line, contradicts) = transport_line(t);
        if contradicts {
            problems.push(line.clone());
        }
        lines.push(line);
    }
    if problems.is_empty() {
        Observed::NoConflict(lines)
    } else {
        Observed::Problems { lines, problems }
    }
}

fn seen_text(o: &Observed) -> String {
    match o {
        Observed::NotSeen(why) => format!("【本試験】経路の暗号化は未確認（{why}）"),
        Observed::NoConflict(lines) | Observed::Problems { lines, .. } => format!(
            "【本試験で観測した専用端末と消防指令システム間の経路】{}",
            lines.join("; ")
        ),
    }
}

fn evidence_doc(r: &Report, o: &Observed) -> Option<String> {
    (!matches!(o, Observed::NotSeen(_))).then(|| {
        format!(
            "接続試験の記録 report.json（ラン {}、チェック TLS-01）",
            r.run.id
        )
    })
}

/// Fills row 2-2-1.
pub fn row(r: &Report, text: &'static RowText, answer: Option<&RowAnswer>) -> FilledRow {
    let o = observed(r);
    let seen = seen_text(&o);
    let run_doc = evidence_doc(r, &o);
    let join_docs = |vendor: &str| -> String {
        [
            Some(vendor.to_string()).filter(|v| !v.trim().is_empty()),
            run_doc.clone(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ")
    };
    let method = "一部を本試験で確認（専用端末と消防指令システム間の経路）、サービス内の伝送は事業者の文書で確認".to_string();
    let Some(a) = answer else {
        return FilledRow {
            text,
            adoption: NOT_DECLARED.to_string(),
            content: format!(
                "未申告 (not declared): 事業者の回答がない（[conformity.row.\"2-2-1\"] に記入）。\n{seen}"
            ),
            documents: join_docs(""),
            reason: String::new(),
            source: Source::NotDeclared,
            conflict: false,
            confirm: Confirm {
                method,
                basis: format!("{seen}; 事業者の文書: 未申告"),
            },
        };
    };
    let vendor_text = format!("{VENDOR_LABEL}{}", a.content);
    let (adoption, reason, conflict) = match (a.adoption, &o) {
        (Adoption::Adopted, Observed::Problems { problems, .. }) => (
            "否採用",
            format!(
                "申告と試験結果の不一致: 事業者は採用と申告しているが、本試験では次の経路が電子政府推奨暗号リストに該当する暗号で保護されていなかった。{}",
                problems.join("; ")
            ),
            true,
        ),
        (Adoption::Adopted, _) => ("採用", String::new(), false),
        (Adoption::NotAdopted, _) => ("否採用", a.reason.clone(), false),
    };
    FilledRow {
        text,
        adoption: adoption.to_string(),
        content: format!("{vendor_text}\n{seen}"),
        documents: join_docs(&a.documents),
        reason,
        source: Source::Joined,
        conflict,
        confirm: Confirm {
            method,
            basis: format!(
                "{}{seen}; 事業者の添付: {}",
                if conflict {
                    "申告と試験結果の不一致（否採用の理由を参照）; "
                } else {
                    ""
                },
                if a.documents.trim().is_empty() {
                    "記載なし"
                } else {
                    a.documents.as_str()
                }
            ),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::super::form::form;
    use super::*;
    use crate::sinks::report::tests::sample_outcome;
    use serde_json::json;

    fn text() -> &'static RowText {
        form().row.iter().find(|r| r.id() == "2-2-1").unwrap()
    }

    fn report_with(transports: Value) -> Report {
        let mut r = Report::from_outcome(&sample_outcome());
        let k = r
            .checks
            .iter_mut()
            .find(|k| k.id.as_str() == "TLS-01")
            .unwrap();
        k.verdict = Verdict::Pass;
        k.evidence = json!({ "transports": transports });
        r
    }

    fn adopted() -> RowAnswer {
        RowAnswer {
            adoption: Adoption::Adopted,
            content: "TLS 1.3 で暗号化する".into(),
            documents: "設計書 3.2 節".into(),
            reason: String::new(),
        }
    }

    #[test]
    fn plaintext_against_a_declared_adoption_is_a_conflict() {
        let r = report_with(json!([
            {"transport": "screen", "url": "ws://t/s", "encrypted": false}
        ]));
        let f = row(&r, text(), Some(&adopted()));
        assert_eq!(f.adoption, "否採用");
        assert!(f.conflict);
        assert!(
            f.reason.starts_with("申告と試験結果の不一致"),
            "{}",
            f.reason
        );
        assert!(
            f.reason.contains("screen: 平文 plaintext（ws://t/s）"),
            "{}",
            f.reason
        );
        assert!(f.content.contains("TLS 1.3 で暗号化する"), "{}", f.content);
        assert!(
            f.confirm.basis.starts_with("申告と試験結果の不一致"),
            "{}",
            f.confirm.basis
        );
    }

    #[test]
    fn a_listed_suite_is_shown_as_evidence_of_an_adoption() {
        let r = report_with(json!([{
            "transport": "screen", "url": "wss://t/s", "encrypted": true,
            "tls": {"version": "TLSv1_3", "suite": "TLS13_AES_128_GCM_SHA256",
                    "cryptrec": {"listed": true, "reason": "ok"}}
        }]));
        let f = row(&r, text(), Some(&adopted()));
        assert_eq!(f.adoption, "採用");
        assert!(!f.conflict);
        assert!(
            f.content
                .contains("TLSv1_3 TLS13_AES_128_GCM_SHA256（電子政府推奨暗号リストに該当）"),
            "{}",
            f.content
        );
        assert!(f.documents.contains("設計書 3.2 節") && f.documents.contains("TLS-01"));
    }

    #[test]
    fn an_unlisted_suite_conflicts_and_no_statement_is_not_declared() {
        let r = report_with(json!([{
            "transport": "data", "url": "https://t/d", "encrypted": true,
            "tls": {"version": "TLSv1_3", "suite": "TLS13_CHACHA20_POLY1305_SHA256",
                    "cryptrec": {"listed": false, "reason": "ChaCha20-Poly1305 is not on the recommended list"}}
        }]));
        let f = row(&r, text(), Some(&adopted()));
        assert_eq!(f.adoption, "否採用");
        assert!(f.reason.contains("CHACHA20"), "{}", f.reason);
        let f = row(&r, text(), None);
        assert_eq!(f.adoption, NOT_DECLARED);
        assert!(
            f.content.contains("CHACHA20"),
            "what was seen is still shown"
        );
    }

    #[test]
    fn an_encrypted_transport_with_an_unseen_suite_is_stated_not_counted_as_a_conflict() {
        let r = report_with(json!([
            {"transport": "screen", "url": "wss://t/s", "encrypted": true,
             "tls": {"version": "TLSv1_3", "suite": "TLS13_AES_128_GCM_SHA256",
                     "cryptrec": {"listed": true, "reason": "ok"}}},
            {"transport": "push receiver", "url": "https://h/r", "encrypted": true, "note": "n"}
        ]));
        let f = row(&r, text(), Some(&adopted()));
        assert_eq!(f.adoption, "採用");
        assert!(
            f.content
                .contains("push receiver: 暗号化（TLS）、暗号スイートはこの経路では未観測"),
            "{}",
            f.content
        );
    }

    #[test]
    fn without_tls01_an_adoption_stays_the_vendors_unverified_statement() {
        let r = Report::from_outcome(&sample_outcome());
        let mut r = r;
        r.checks.retain(|k| k.id.as_str() != "TLS-01");
        let f = row(&r, text(), Some(&adopted()));
        assert_eq!(f.adoption, "採用");
        assert!(f.content.contains(VENDOR_LABEL));
        assert!(f.content.contains("未確認"), "{}", f.content);
    }
}
