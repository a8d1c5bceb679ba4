//! `declaration.md`: the header, the form with one table per 大項目 (so no
//! group title runs on into the next group's rows), and the check sheet.

use std::fmt::Write as _;

use super::form::{fill, form, groups, Filled};
use crate::sinks::report::outputs::EvidenceIndex;
use crate::sinks::report::Report;

/// Escapes text for a Markdown table cell: pipes, backslashes, line breaks
/// and the characters that would start HTML or emphasis.
pub fn cell(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '|' | '\\' | '*' | '_' | '`' | '[' | ']' | '#' => {
                o.push('\\');
                o.push(ch);
            }
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '\r' => {}
            '\n' => o.push_str("<br>"),
            c if c.is_control() => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

fn table_row(s: &mut String, cells: &[String]) {
    let v: Vec<String> = cells.iter().map(|c| cell(c)).collect();
    let _ = writeln!(s, "| {} |", v.join(" | "));
}

fn check_sheet(s: &mut String, f: &Filled) {
    let _ = writeln!(
        s,
        "\n## {} (the department's check sheet)\n",
        cell(&form().check_sheet)
    );
    let head = [
        "No.",
        "観点",
        "適合内容・関連文書で確認すること",
        "否採用の理由で確認すること",
        "確認の方法",
        "本試験の結果・証跡 / 事業者の添付文書",
        "確認欄",
    ]
    .map(String::from);
    table_row(s, &head);
    let _ = writeln!(s, "|{}", "---|".repeat(head.len()));
    for row in &f.rows {
        table_row(
            s,
            &[
                row.text.id(),
                row.text.viewpoint_ja.clone(),
                row.text.check_ja.clone(),
                row.text.reject_check_ja.clone(),
                row.confirm.method.clone(),
                row.confirm.basis.clone(),
                "☐".to_string(),
            ],
        );
    }
}

/// Renders `declaration.md`.
pub fn render(r: &Report, ev: &EvidenceIndex) -> String {
    let f = fill(r, ev);
    let text = form();
    let mut s = String::new();
    let _ = writeln!(s, "# 適合宣言 (Declaration of conformity)\n");
    let _ = writeln!(s, "{} — {}\n", cell(&text.document), cell(&text.form));
    for (label, value) in &f.header.fields {
        let _ = writeln!(s, "- {}: {}", cell(label), cell(value));
    }
    for note in &f.header.notes {
        let _ = writeln!(s, "\n{}", cell(note));
    }
    for (lv1, title, rows) in groups(&f.rows) {
        let _ = writeln!(s, "\n## {} {}\n", cell(lv1), cell(title));
        table_row(&mut s, &text.columns_ja);
        let _ = writeln!(s, "|{}", "---|".repeat(text.columns_ja.len()));
        for row in rows {
            table_row(&mut s, &row.cells());
        }
    }
    check_sheet(&mut s, &f);
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::sinks::report::tests::sample_outcome;

    #[test]
    fn markdown_has_both_groups_fifteen_rows_and_the_check_sheet() {
        let mut r = Report::from_outcome(&sample_outcome());
        r.checks[4].detail = "x | y\n<img src=z>".into();
        let md = render(&r, &EvidenceIndex::default());
        assert!(md.contains("x \\| y<br>&lt;img src=z&gt;"), "{md}");
        let (form_part, sheet) = md.split_once("【参考②】").unwrap();
        let form_rows = form_part
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| Lv.1"))
            .count();
        assert_eq!(form_rows, 15);
        let sheet_rows = sheet
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| No."))
            .count();
        assert_eq!(sheet_rows, 15);
        let g1 = md.find("## 1 標準インターフェイスの前提条件").unwrap();
        let g2 = md.find("## 2 セキュリティ対策").unwrap();
        let r221 = md.find("| 2 | 2 | 1 |").unwrap();
        assert!(g1 < g2 && g2 < r221, "2-2-1 sits under セキュリティ対策");
        assert!(
            md.contains("https://www.cryptrec.go.jp/list.html"),
            "補足 keeps the URL"
        );
    }
}
