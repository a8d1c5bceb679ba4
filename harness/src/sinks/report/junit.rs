//! `junit.xml`: the record for CI systems (quick-junit).
//!
//! One `<testsuite>` per condition, one `<testcase>` per check with
//! `condition` and `check` properties. `fail` is a failure and `error` an
//! error, both with the check's detail as message; `not_applicable` and
//! `skipped` are skipped, the message saying which.

use std::time::Duration;

use quick_junit::{
    NonSuccessKind, Property, Report as JReport, TestCase, TestCaseStatus, TestSuite,
};

use super::Report;
use crate::model::verdict::Verdict;

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
        j.add_test_suite(suite);
    }
    j.to_string()
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
    fn terminal_text_in_details_is_escaped() {
        let mut r = Report::from_outcome(&sample_outcome());
        r.checks[4].detail = "<script>&\"x\"</script>".into();
        let x = render(&r).unwrap();
        assert!(!x.contains("<script>"));
        assert!(x.contains("&lt;script&gt;"));
    }
}
