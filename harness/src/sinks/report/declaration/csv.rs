//! `declaration.csv`: the form's 11 columns and its 15 rows.
//!
//! UTF-8 **with a byte-order mark** and CRLF line ends (RFC 4180): Excel,
//! common in Japanese offices, reads UTF-8 without the BOM as Shift_JIS and
//! garbles the Japanese text. Every field is quoted. The file holds only the
//! table, so it can be read back by a program; the header (who declares,
//! for which department) is in the other formats.

use super::form::{fill, form};
use crate::sinks::report::outputs::EvidenceIndex;
use crate::sinks::report::Report;

fn field(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn line<'a>(cells: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<String> = cells.map(field).collect();
    format!("{}\r\n", v.join(","))
}

/// Renders `declaration.csv`.
pub fn render(r: &Report, ev: &EvidenceIndex) -> String {
    let mut s = String::from("\u{feff}");
    s.push_str(&line(form().columns_ja.iter().map(String::as_str)));
    for row in fill(r, ev).rows {
        let cells = row.cells();
        s.push_str(&line(cells.iter().map(String::as_str)));
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::sinks::report::tests::sample_outcome;

    #[test]
    fn csv_has_a_bom_the_form_columns_and_fifteen_quoted_rows() {
        let mut r = Report::from_outcome(&sample_outcome());
        r.checks[4].detail = "a \"quoted\", comma\nline".into();
        let csv = render(&r, &EvidenceIndex::default());
        assert!(csv.starts_with("\u{feff}\"Lv.1\",\"Lv.2\",\"Lv.3\",\"項目\""));
        assert!(csv.contains("\"否採用の理由\"\r\n"));
        assert!(csv.contains("a \"\"quoted\"\", comma\nline"), "{csv}");
        assert_eq!(csv.matches("\r\n").count(), 16);
        assert!(csv.contains("\r\n\"2\",\"7\",\"-\",\"セキュリティ侵害時の対応\""));
    }
}
