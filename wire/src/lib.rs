//! The data channel's wire contract of s301's default binding: JSON over
//! HTTP/1.1 under a versioned prefix. One definition, used by the harness's
//! HTTP binding (`s301_harness::binding::http`) and by the mock terminal
//! (`s301_mocks`), so the two cannot drift apart.
//!
//! What is here is what travels: paths ([`paths`]), the media type and the
//! size limits ([`limits`]), and the bodies ([`Ack`], [`ErrorBody`],
//! [`Conflict`], [`DispatchBody`], [`ReportList`], [`HookAnswer`]). The
//! report itself is a JSON document judged by the report schema, which the
//! harness keeps (every binding judges reports with it, not only this one).
//!
//! Nothing here does I/O or knows status codes' meaning to a check; the
//! mapping from answers to verdict-relevant outcomes lives in the harness's
//! HTTP binding.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod paths;

/// The media type of every body on the data channel.
pub const JSON: &str = "application/json";

/// Whether a `Content-Type` value names [`JSON`] (parameters such as
/// `charset=utf-8` allowed, case-insensitive).
pub fn is_json_media_type(ct: &str) -> bool {
    let media = ct.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case(JSON)
}

/// Size limits of the contract.
pub mod limits {
    /// Largest report body a push may carry (1 MiB); over it the receiver
    /// answers `413`.
    pub const MAX_PUSH_BODY: usize = 1024 * 1024;
    /// Largest request body (dispatch status, test hook) the terminal's API
    /// reads.
    pub const MAX_REQUEST_BODY: usize = 64 * 1024;
    /// Largest answer body the harness reads from the terminal's API.
    pub const MAX_ANSWER_BODY: usize = 4 * 1024 * 1024;
}

/// The report schema's identifier, in each report's `schema` member.
pub const REPORT_SCHEMA_ID: &str = "s3-01/report/v1";

/// The dispatch states a dispatch status may carry, in their usual order.
pub const DISPATCH_STATES: [&str; 4] = ["received", "dispatched", "on_scene", "closed"];

/// The receiver's acknowledgement of a push (`201`, or `200` for the same
/// revision again): `{"reportId", "revision", "ackAt"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack<'a> {
    /// The report acknowledged.
    #[serde(rename = "reportId", borrow)]
    pub report_id: Cow<'a, str>,
    /// Its revision.
    pub revision: u64,
    /// When it was first acknowledged (RFC 3339, UTC).
    #[serde(rename = "ackAt", borrow)]
    pub ack_at: Cow<'a, str>,
}

/// One problem with a request: where (a JSON pointer, `""` for the whole
/// body) and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// JSON pointer of the offending value.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// The error body of every `4xx`/`5xx` answer: `{"error", "details"?}`;
/// `details` is left out when empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody<D = Problem> {
    /// One line.
    pub error: String,
    /// What was wrong, item by item.
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<D>,
}

impl<D> ErrorBody<D> {
    /// An error with no details.
    pub fn new(error: impl Into<String>) -> Self {
        ErrorBody {
            error: error.into(),
            details: Vec::new(),
        }
    }
}

/// The receiver's answer to a revision older than one acknowledged (`409`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// One line.
    pub error: String,
    /// The report pushed.
    #[serde(rename = "reportId")]
    pub report_id: String,
    /// The revision pushed.
    pub revision: u64,
    /// The newest revision acknowledged.
    #[serde(rename = "latestRevision")]
    pub latest_revision: u64,
}

/// A dispatch status (`POST {base}/reports/{id}/dispatch`):
/// `{"status", "at", "note"}`; `status` is one of [`DISPATCH_STATES`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchBody {
    /// The dispatch state.
    pub status: String,
    /// When it was set (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One entry of the report list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListEntry {
    /// The report.
    #[serde(rename = "reportId")]
    pub report_id: String,
    /// Its latest revision.
    pub revision: u64,
    /// The latest revision's `updatedAt` (`null` when it has none).
    #[serde(rename = "updatedAt")]
    pub updated_at: Value,
}

/// `GET {base}/reports`: `{"reports": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportList {
    /// The reports the terminal holds.
    pub reports: Vec<ListEntry>,
}

/// The answer to a test hook (`202`): the report a new test report got, or
/// the report and revision an update will push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookAnswer {
    /// The report.
    #[serde(rename = "reportId")]
    pub report_id: String,
    /// The revision about to be pushed (updates only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    #[test]
    fn json_media_type_allows_parameters_and_case() {
        assert!(is_json_media_type("application/json"));
        assert!(is_json_media_type("Application/JSON; charset=utf-8"));
        assert!(is_json_media_type(" application/json ;charset=UTF-8"));
        assert!(!is_json_media_type("text/json"));
        assert!(!is_json_media_type("application/jsonx"));
        assert!(!is_json_media_type(""));
    }

    #[test]
    fn bodies_have_the_documented_member_names() {
        let a = Ack {
            report_id: "R".into(),
            revision: 2,
            ack_at: "t".into(),
        };
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"reportId":"R","revision":2,"ackAt":"t"}"#
        );
        let e: ErrorBody = ErrorBody::new("x");
        assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"error":"x"}"#);
        let l = ReportList {
            reports: vec![ListEntry {
                report_id: "R".into(),
                revision: 1,
                updated_at: Value::Null,
            }],
        };
        assert_eq!(
            serde_json::to_string(&l).unwrap(),
            r#"{"reports":[{"reportId":"R","revision":1,"updatedAt":null}]}"#
        );
        let h = HookAnswer {
            report_id: "R".into(),
            revision: None,
        };
        assert_eq!(serde_json::to_string(&h).unwrap(), r#"{"reportId":"R"}"#);
    }
}
