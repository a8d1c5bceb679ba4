//! Paths of the data channel. The terminal's API paths are relative to its
//! declared `base_url` (`http://HOST:PORT/s3-01/v1`); the push receiver's
//! path is absolute on the harness's listener.

/// The versioned prefix every data path lives under.
pub const PREFIX: &str = "/s3-01/v1";

/// Where the terminal pushes reports, on the harness's listener.
pub const PUSH: &str = "/s3-01/v1/reports";

/// `{base}/reports`: the report list.
pub const REPORTS: &str = "/reports";

/// `{base}/test-reports`: the test hook that makes a new test report.
pub const TEST_REPORTS: &str = "/test-reports";

/// `{base}/reports/{id}`.
pub fn report(id: &str) -> String {
    format!("/reports/{}", encode_segment(id))
}

/// `{base}/reports/{id}/dispatch`.
pub fn dispatch(id: &str) -> String {
    format!("/reports/{}/dispatch", encode_segment(id))
}

/// `{base}/test-reports/{id}/update`: the test hook that pushes the next
/// revision of a report.
pub fn test_update(id: &str) -> String {
    format!("/test-reports/{}/update", encode_segment(id))
}

/// A request path of the terminal's API, as routed by the terminal. An id
/// is `None` when its segment does not decode (malformed percent encoding,
/// not UTF-8, empty): the terminal knows no such report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/reports`.
    List,
    /// `/reports/{id}`.
    Report(Option<String>),
    /// `/reports/{id}/dispatch`.
    Dispatch(Option<String>),
    /// `/test-reports`.
    TestReports,
    /// `/test-reports/{id}/update`.
    TestUpdate(Option<String>),
    /// Anything else.
    Unknown,
}

/// Routes an absolute request path (`/s3-01/v1/reports/R-1`).
pub fn route(path: &str) -> Route {
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Route::Unknown;
    };
    let segs: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        ["reports"] => Route::List,
        ["reports", s] => Route::Report(decode_segment(s)),
        ["reports", s, "dispatch"] => Route::Dispatch(decode_segment(s)),
        ["test-reports"] => Route::TestReports,
        ["test-reports", s, "update"] => Route::TestUpdate(decode_segment(s)),
        _ => Route::Unknown,
    }
}

/// Percent-encodes one path segment (everything but RFC 3986 unreserved characters).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes a percent-encoded path segment; `None` if malformed, not UTF-8
/// or empty.
pub fn decode_segment(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b.get(i) {
            Some(b'%') => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            Some(c) => {
                out.push(*c);
                i += 1;
            }
            None => break,
        }
    }
    String::from_utf8(out).ok().filter(|s| !s.is_empty())
}

/// Whether an HTTP request line asks `GET` of the report list or of one
/// report (`/s3-01/v1/reports`, `/s3-01/v1/reports/...`, query aside).
pub fn is_report_get(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"GET ") else {
        return false;
    };
    let target = rest.split(|b| *b == b' ').next().unwrap_or(rest);
    let path = target.split(|b| *b == b'?').next().unwrap_or(target);
    let list = PUSH.as_bytes();
    path == list || (path.starts_with(list) && path.get(list.len()) == Some(&b'/'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    #[test]
    fn segments_round_trip() {
        assert_eq!(encode_segment("R-1_a.b~"), "R-1_a.b~");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
        assert_eq!(encode_segment("日"), "%E6%97%A5");
        for s in ["R-1", "a/b c", "日本", "%"] {
            assert_eq!(decode_segment(&encode_segment(s)).as_deref(), Some(s));
        }
        assert_eq!(decode_segment("%zz"), None);
        assert_eq!(decode_segment("%4"), None);
        assert_eq!(decode_segment("%FF"), None);
        assert_eq!(decode_segment(""), None);
    }

    #[test]
    fn routes() {
        assert_eq!(route("/s3-01/v1/reports"), Route::List);
        assert_eq!(
            route("/s3-01/v1/reports/a%2Fb"),
            Route::Report(Some("a/b".into()))
        );
        assert_eq!(
            route("/s3-01/v1/reports/R/dispatch"),
            Route::Dispatch(Some("R".into()))
        );
        assert_eq!(route("/s3-01/v1/test-reports"), Route::TestReports);
        assert_eq!(
            route("/s3-01/v1/test-reports/R/update"),
            Route::TestUpdate(Some("R".into()))
        );
        assert_eq!(route("/s3-01/v1/reports/%zz"), Route::Report(None));
        assert_eq!(route("/s3-01/v1/screen"), Route::Unknown);
        assert_eq!(route("/other"), Route::Unknown);
        assert_eq!(format!("{PREFIX}{REPORTS}"), PUSH);
        assert_eq!(report("R 1"), "/reports/R%201");
    }

    #[test]
    fn report_gets_are_picked_out() {
        assert!(is_report_get(b"GET /s3-01/v1/reports HTTP/1.1\r\n"));
        assert!(is_report_get(b"GET /s3-01/v1/reports/MOCK-1 HTTP/1.1\r\n"));
        assert!(is_report_get(b"GET /s3-01/v1/reports?x=1 HTTP/1.1\r\n"));
        assert!(!is_report_get(b"GET /s3-01/v1/reportsX HTTP/1.1\r\n"));
        assert!(!is_report_get(b"GET /s3-01/v1/screen HTTP/1.1\r\n"));
        assert!(!is_report_get(b"POST /s3-01/v1/test-reports HTTP/1.1\r\n"));
        assert!(!is_report_get(b""));
    }
}
