//! `junit.xml`: the record for CI systems (quick-junit).
//!
//! One `<testsuite>` per condition, one `<testcase>` per check with
//! `condition` and `check` properties. `fail` is a failure and `error` an
//! error, both with the check's detail as message; `not_applicable` and
//! `skipped` are skipped, the message saying which.
//!
//! A witnessed run adds one `<testcase>` per witness question to its
//! condition's suite: a `fail` answer is a failure and a missing answer an
//! error, each with the question, the comment, who answered and when, so
//! that a condition failed by its witness never reads `failures="0"`.

use std::time::Duration;

use quick_junit::{
    NonSuccessKind, Property, Report as JReport, TestCase, TestCaseStatus, TestSuite,
};

use super::Report;
use crate::model::verdict::{Verdict, WitnessAnswer};
use crate::sinks::witness::WitnessRecord;

/// The file name inside the run directory.
pub const JUNIT_FILE: &str = "junit.xml";

/// Renders `report` as JUnit XML.
pub fn render(report: &Report) -> Result<String, quick_junit::SerializeError> {
    let mut j = JReport::new(format!("s301 {}", report.run.id));
    j.set_time(Duration::from_millis(report.metrics.duration_ms));
    for cond in &report.conditions {
        let mut suite = TestSuite::new(format!("{} {}", cond.id, cond.name_en));
        suite.add_property(Property::new("condition", cond.id.as_str()));
        suite.add_property(Property::new("condition.verdict", cond.verdict.as_str()));
        suite.add_property(Property::new("condition.name_ja", cond.name_ja.as_str()));
        for check in report.checks.iter().filter(|c| c.condition == cond.id) {
            let status = match check.verdict {
                Verdict::Pass => TestCaseStatus::success(),
                Verdict::Fail | Verdict::Error => {
                    let kind = if check.verdict == Verdict::Fail {
                        NonSuccessKind::Failure
                    } else {
                        NonSuccessKind::Error
                    };
                    let mut s = TestCaseStatus::non_success(kind);
                    s.set_message(check.detail.as_str());
                    s.set_type(check.verdict.as_str());
                    s
                }
                Verdict::NotApplicable | Verdict::Skipped => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(format!("{}: {}", check.verdict.as_str(), check.detail));
                    s
                }
            };
            let mut case = TestCase::new(
                format!("{} {}", check.id, crate::checks::def(check.id).title),
                status,
            );
            case.set_classname(format!("s301.{}", cond.id));
            case.set_time(Duration::from_millis(check.duration_ms));
            case.add_property(Property::new("condition", cond.id.as_str()));
            case.add_property(Property::new("check", check.id.as_str()));
            case.add_property(Property::new("verdict", check.verdict.as_str()));
            suite.add_test_case(case);
        }
        for w in &cond.witness {
            suite.add_test_case(witness_case(cond.id.as_str(), w));
        }
        j.add_test_suite(suite);
    }
    j.to_string()
}

/// What a witness answer says in one line: the answer, the comment, who
/// and when.
pub fn witness_message(w: &WitnessRecord) -> String {
    let mut m = format!("witness answered {}", w.answer.as_str());
    if let Some(c) = &w.comment {
        m.push_str(&format!(": {c}"));
    }
    if let Some(who) = &w.operator {
        m.push_str(&format!(" (by {who}"));
        if let Some(at) = &w.answered_at {
            m.push_str(&format!(" at {at}"));
        }
        m.push(')');
    }
    m
}

fn witness_case(cond: &str, w: &WitnessRecord) -> TestCase {
    let status = match w.answer {
        WitnessAnswer::Pass => TestCaseStatus::success(),
        WitnessAnswer::Fail | WitnessAnswer::Error => {
            let kind = if w.answer == WitnessAnswer::Fail {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            };
            let mut s = TestCaseStatus::non_success(kind);
            s.set_message(witness_message(w));
            s.set_type(format!("witness {}", w.answer.as_str()));
            s.set_description(format!("{}\n{}", w.question_ja, w.question_en));
            s
        }
        WitnessAnswer::NotApplicable => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(witness_message(w));
            s
        }
    };
    let mut case = TestCase::new(format!("{} witness: {}", w.id, w.question_en), status);
    case.set_classname(format!("s301.{cond}.witness"));
    case.add_property(Property::new("condition", cond));
    case.add_property(Property::new("witness", w.id.as_str()));
    case.add_property(Property::new("question_ja", w.question_ja.as_str()));
    case.add_property(Property::new("answer", w.answer.as_str()));
    if let Some(c) = &w.comment {
        case.add_property(Property::new("comment", c.as_str()));
    }
    case
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::sinks::report::tests::sample_outcome;

    #[test]
    fn one_suite_per_condition_one_case_per_check_with_verdicts_mapped() {
        let r = Report::from_outcome(&sample_outcome());
        let x = render(&r).unwrap();
        assert_eq!(x.matches("<testsuite ").count(), r.conditions.len());
        assert_eq!(x.matches("<testcase ").count(), r.checks.len());
        assert_eq!(x.matches("<failure").count(), 1);
        assert!(x.contains("message=\"EX-01 detail\""), "{x}");
        // 1-3-2's three checks were skipped.
        assert_eq!(x.matches("<skipped").count(), 3);
        assert!(
            x.contains("<property name=\"check\" value=\"ST-01\"/>"),
            "{x}"
        );
    }

    #[test]
    fn a_failed_witness_answer_is_a_failure_with_its_comment() {
        let mut r = Report::from_outcome(&sample_outcome());
        let c = r
            .conditions
            .iter_mut()
            .find(|c| c.id.as_str() == "1-2-2")
            .unwrap();
        c.witness.push(WitnessRecord {
            id: "W-03".into(),
            check: None,
            question_ja: "操作は反映されましたか？".into(),
            question_en: "Did the input show?".into(),
            answer: WitnessAnswer::Fail,
            comment: Some("画面が黒い".into()),
            screenshot: None,
            operator: Some("佐藤".into()),
            asked_at: None,
            answered_at: Some("2026-12-02T01:00:00.000Z".into()),
            via: None,
        });
        let x = render(&r).unwrap();
        assert_eq!(x.matches("<failure").count(), 2, "{x}");
        assert!(
            x.contains("witness answered fail: 画面が黒い (by 佐藤 at 2026-12-02T01:00:00.000Z)"),
            "{x}"
        );
        assert!(x.contains("W-03 witness: Did the input show?"), "{x}");
    }

    #[test]
    fn terminal_text_in_details_is_escaped() {
        let mut r = Report::from_outcome(&sample_outcome());
        r.checks[4].detail = "<script>&\"x\"</script>".into();
        let x = render(&r).unwrap();
        assert!(!x.contains("<script>"));
        assert!(x.contains("&lt;script&gt;"));
    }
}
