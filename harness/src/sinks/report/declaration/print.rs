//! `declaration.html`: the form and the check sheet as one printable page
//! set, A4 landscape (`@page { size: A4 landscape }`).
//!
//! The table has fixed column widths in millimetres that add up to the
//! printable width, so no column is squeezed to one character a line and no
//! text is set vertically; Lv.1 is merged down its 大項目, Lv.2 and 項目 down
//! the rows that share them, as on the paper form. The check sheet starts on
//! a page of its own. The page is self-contained: no script, no external
//! file, nothing fetched.

use std::fmt::Write as _;

use super::form::{fill, form, groups, Filled, FilledRow};
use crate::sinks::report::outputs::EvidenceIndex;
use crate::sinks::report::Report;

/// Column widths of the form (mm); A4 landscape less 10 mm margins is 277.
const FORM_MM: [u32; 11] = [9, 9, 9, 22, 22, 46, 34, 13, 46, 30, 37];
/// Column widths of the check sheet (mm).
const SHEET_MM: [u32; 7] = [13, 28, 68, 44, 36, 72, 16];

const STYLE: &str = r#"@page { size: A4 landscape; margin: 10mm; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK JP", "Noto Sans JP", "Hiragino Sans", "Yu Gothic", sans-serif; font-size: 7pt; line-height: 1.3; margin: 0; color: #000; writing-mode: horizontal-tb; }
h1 { font-size: 13pt; margin: 0 0 2mm 0; }
h2 { font-size: 11pt; margin: 0 0 2mm 0; }
table { border-collapse: collapse; table-layout: fixed; width: 277mm; }
th, td { border: 0.3mm solid #444; padding: 0.8mm 1mm; vertical-align: top; text-align: left; word-break: normal; overflow-wrap: anywhere; white-space: pre-line; }
th { background: #d9d9d9; text-align: center; }
td.c { text-align: center; }
tr.group td { background: #ededed; font-weight: bold; }
table.head { width: 277mm; margin-bottom: 3mm; }
table.head th { width: 60mm; background: #f2f2f2; text-align: left; }
td.conflict { background: #fce4d6; font-weight: bold; }
td.undeclared { color: #7a4d00; }
th { white-space: nowrap; overflow-wrap: normal; }
table.form th, table.check th { white-space: normal; }
table.form th.lv { white-space: nowrap; }
thead { display: table-header-group; }
.sheet { break-before: page; }
.note { margin: 1mm 0; }
"#;

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() && c != '\n' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// The form's bullet points (`・`) each on a line of its own; the words
/// are the document's.
fn bullets(s: &str) -> String {
    s.replace(" ・", "\n・")
}

fn colgroup(s: &mut String, mm: &[u32]) {
    s.push_str("<colgroup>");
    for w in mm {
        let _ = write!(s, "<col style=\"width:{w}mm\">");
    }
    s.push_str("</colgroup>\n");
}

/// Runs of consecutive rows sharing Lv.2, as (first, length).
fn lv2_runs(rows: &[&FilledRow]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        match out.last_mut() {
            Some((start, len)) if rows[*start].text.lv2 == r.text.lv2 => *len += 1,
            _ => out.push((i, 1)),
        }
    }
    out
}

fn form_table(s: &mut String, f: &Filled) {
    let text = form();
    s.push_str("<table class=\"form\">\n");
    colgroup(s, &FORM_MM);
    s.push_str("<thead><tr>");
    for (i, c) in text.columns_ja.iter().enumerate() {
        let class = if i < 3 { " class=\"lv\"" } else { "" };
        let _ = write!(s, "<th{class}>{}</th>", esc(c));
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for (lv1, title, rows) in groups(&f.rows) {
        let _ = writeln!(
            s,
            "<tr class=\"group\"><td colspan=\"{}\">{} {}</td></tr>",
            text.columns_ja.len(),
            esc(lv1),
            esc(title)
        );
        let runs = lv2_runs(&rows);
        for (i, r) in rows.iter().enumerate() {
            let _ = write!(s, "<tr data-row=\"{}\">", esc(&r.text.id()));
            if i == 0 {
                let _ = write!(
                    s,
                    "<td class=\"c\" rowspan=\"{}\">{}</td>",
                    rows.len(),
                    esc(lv1)
                );
            }
            if let Some((_, len)) = runs.iter().find(|(start, _)| *start == i) {
                let _ = write!(
                    s,
                    "<td class=\"c\" rowspan=\"{len}\">{}</td>",
                    esc(&r.text.lv2)
                );
            }
            let _ = write!(s, "<td class=\"c\">{}</td>", esc(&r.text.lv3));
            if let Some((_, len)) = runs.iter().find(|(start, _)| *start == i) {
                let _ = write!(s, "<td rowspan=\"{len}\">{}</td>", esc(&r.text.item_ja));
            }
            let cells = r.cells().map(|c| bullets(&c));
            for (col, cell) in cells.iter().enumerate().skip(4) {
                let class = match col {
                    7 | 10 if r.conflict => " class=\"conflict\"",
                    7 if r.adoption == super::form::NOT_DECLARED => " class=\"c undeclared\"",
                    7 => " class=\"c\"",
                    _ => "",
                };
                let _ = write!(s, "<td{class}>{}</td>", esc(cell));
            }
            s.push_str("</tr>\n");
        }
    }
    s.push_str("</tbody>\n</table>\n");
}

fn check_sheet(s: &mut String, f: &Filled) {
    let _ = writeln!(
        s,
        "<section class=\"sheet\">\n<h2>{} <span>(the department's check sheet)</span></h2>",
        esc(&form().check_sheet)
    );
    s.push_str("<table class=\"check\">\n");
    colgroup(s, &SHEET_MM);
    s.push_str("<thead><tr>");
    for h in [
        "No.",
        "観点",
        "適合内容・関連文書で確認すること",
        "否採用の理由で確認すること",
        "確認の方法",
        "本試験の結果・証跡 / 事業者の添付文書",
        "確認欄",
    ] {
        let _ = write!(s, "<th>{h}</th>");
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for r in &f.rows {
        let _ = writeln!(
            s,
            "<tr data-row=\"{id}\"><td class=\"c\">{id}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"c\">☐</td></tr>",
            esc(&r.text.viewpoint_ja),
            esc(&bullets(&r.text.check_ja)),
            esc(&bullets(&r.text.reject_check_ja)),
            esc(&r.confirm.method),
            esc(&r.confirm.basis),
            id = esc(&r.text.id()),
        );
    }
    s.push_str("</tbody>\n</table>\n</section>\n");
}

/// Renders `declaration.html`.
pub fn render(r: &Report, ev: &EvidenceIndex) -> String {
    let f = fill(r, ev);
    let text = form();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<!DOCTYPE html>\n<html lang=\"ja\">\n<head>\n<meta charset=\"utf-8\">\n<title>適合宣言書 — {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>",
        esc(&r.run.id)
    );
    let _ = writeln!(
        s,
        "<section class=\"form\">\n<h1>適合宣言書 <span>— {}（{}）</span></h1>",
        esc(&text.form),
        esc(&text.document)
    );
    s.push_str("<table class=\"head\">\n");
    for (label, value) in &f.header.fields {
        let _ = writeln!(s, "<tr><th>{}</th><td>{}</td></tr>", esc(label), esc(value));
    }
    s.push_str("</table>\n");
    for note in &f.header.notes {
        let _ = writeln!(s, "<p class=\"note\">{}</p>", esc(note));
    }
    form_table(&mut s, &f);
    s.push_str("</section>\n");
    check_sheet(&mut s, &f);
    s.push_str("</body>\n</html>\n");
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::sinks::report::tests::sample_outcome;

    #[test]
    fn widths_fill_the_printable_width_and_the_page_is_a4_landscape() {
        assert_eq!(FORM_MM.iter().sum::<u32>(), 277);
        assert_eq!(SHEET_MM.iter().sum::<u32>(), 277);
        assert_eq!(FORM_MM.len(), form().columns_ja.len());
        let html = render(
            &Report::from_outcome(&sample_outcome()),
            &EvidenceIndex::default(),
        );
        assert!(html.contains("@page { size: A4 landscape"));
        assert!(!html.contains("vertical-rl") && !html.contains("<script"));
        assert_eq!(
            html.matches("<tr data-row=").count(),
            30,
            "15 form rows, 15 sheet rows"
        );
        assert!(
            html.contains("<td class=\"c\" rowspan=\"6\">1</td>"),
            "Lv.1 spans its group"
        );
        assert!(html.contains("<td class=\"c\" rowspan=\"9\">2</td>"));
        assert!(html.contains("class=\"sheet\""));
    }

    #[test]
    fn cell_text_is_escaped() {
        let mut r = Report::from_outcome(&sample_outcome());
        r.checks[4].detail = "<script>alert(1)</script>".into();
        let html = render(&r, &EvidenceIndex::default());
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;alert(1)"));
    }
}
