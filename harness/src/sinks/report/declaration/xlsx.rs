//! `declaration.xlsx`: the form laid out like the official 【参考①】, and the
//! check sheet (【参考②】) on a second worksheet.
//!
//! Sheet 「適合宣言」: the title, the header (service, provider, terminal,
//! declarant, date, department, run, seal), one table header row with the
//! form's 11 columns, then per 大項目 a title row spanning the table and its
//! rows. Lv.1 is merged down its group; Lv.2 and 項目 are merged down the
//! rows that share them, as on the paper form. Text wraps, columns have
//! fixed widths chosen for the content, rows get a height estimated from the
//! longest cell, and the print setup is A4 landscape, one page wide, with
//! the table header repeated on every page.
//!
//! The file is byte-for-byte reproducible from `report.json`: its creation
//! time is the run's start, and the zip entries carry a fixed time.

use rust_xlsxwriter::{
    DocProperties, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, Worksheet, XlsxError,
};

use super::form::{fill, form, groups, Filled, FilledRow};
use crate::sinks::report::outputs::EvidenceIndex;
use crate::sinks::report::Report;

/// The name of the form's worksheet.
pub const FORM_SHEET: &str = "適合宣言";
/// The name of the check sheet's worksheet.
pub const CHECK_SHEET: &str = "チェック観点";

/// Column widths of the form, in Excel character units (a CJK character
/// takes about two).
const FORM_WIDTHS: [f64; 11] = [5.0, 5.0, 5.0, 16.0, 16.0, 44.0, 32.0, 9.0, 44.0, 28.0, 34.0];

/// Column widths of the check sheet.
const SHEET_WIDTHS: [f64; 7] = [8.0, 18.0, 48.0, 30.0, 26.0, 52.0, 8.0];

/// Excel's largest row height, in points.
const MAX_ROW_HEIGHT: f64 = 409.0;

/// The display width of a line: two units for a wide character.
fn width(line: &str) -> usize {
    line.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
}

/// Lines the text takes in a wrapped cell `cols` units wide.
fn lines_in(text: &str, cols: f64) -> usize {
    let per_line = (cols.max(2.0) as usize).saturating_sub(1).max(1);
    text.split('\n')
        .map(|l| width(l).div_ceil(per_line).max(1))
        .sum()
}

/// A row height (points) that shows every cell's text in full.
fn height_for(cells: &[(String, f64)]) -> f64 {
    let lines = cells
        .iter()
        .map(|(t, w)| lines_in(t, *w))
        .max()
        .unwrap_or(1);
    (lines as f64 * 14.0 + 4.0).min(MAX_ROW_HEIGHT)
}

struct Formats {
    title: Format,
    label: Format,
    value: Format,
    head: Format,
    group: Format,
    cell: Format,
    center: Format,
    conflict: Format,
}

fn formats() -> Formats {
    let cell = Format::new()
        .set_text_wrap()
        .set_align(FormatAlign::Top)
        .set_border(FormatBorder::Thin)
        .set_font_size(9);
    Formats {
        title: Format::new().set_bold().set_font_size(14),
        label: cell.clone().set_bold().set_background_color(0xF2F2F2),
        value: cell.clone(),
        head: cell
            .clone()
            .set_bold()
            .set_background_color(0xD9D9D9)
            .set_align(FormatAlign::Center),
        group: cell.clone().set_bold().set_background_color(0xEDEDED),
        center: cell
            .clone()
            .set_align(FormatAlign::Center)
            .set_align(FormatAlign::Top),
        conflict: cell.clone().set_bold().set_background_color(0xFCE4D6),
        cell,
    }
}

fn page_setup(ws: &mut Worksheet, header_row: u32) -> Result<(), XlsxError> {
    ws.set_paper_size(9); // A4
    ws.set_landscape();
    ws.set_margins(0.4, 0.4, 0.5, 0.5, 0.3, 0.3);
    ws.set_print_fit_to_pages(1, 0);
    ws.set_repeat_rows(header_row, header_row)?;
    Ok(())
}

/// Writes `text` into `first..=last` rows of one column, merged when the
/// range is more than one row.
fn put(
    ws: &mut Worksheet,
    (first, last): (u32, u32),
    col: u16,
    text: &str,
    f: &Format,
) -> Result<(), XlsxError> {
    if first == last {
        ws.write_string_with_format(first, col, text, f)?;
    } else {
        ws.merge_range(first, col, last, col, text, f)?;
    }
    Ok(())
}

/// Runs of consecutive rows that share `key`, as (first, last) offsets.
fn runs(rows: &[&FilledRow], key: impl Fn(&FilledRow) -> String) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        match out.last_mut() {
            Some((start, end)) if key(rows[*start]) == key(row) => *end = i,
            _ => out.push((i, i)),
        }
    }
    out
}

fn form_sheet(ws: &mut Worksheet, f: &Filled, fm: &Formats) -> Result<(), XlsxError> {
    let text = form();
    let last_col = (text.columns_ja.len() - 1) as u16;
    ws.set_name(FORM_SHEET)?;
    for (i, w) in FORM_WIDTHS.iter().enumerate() {
        ws.set_column_width(i as u16, *w)?;
    }
    ws.merge_range(
        0,
        0,
        0,
        last_col,
        &format!("適合宣言書 — {}（{}）", text.form, text.document),
        &fm.title,
    )?;
    ws.set_row_height(0, 22)?;
    let mut row: u32 = 1;
    for (label, value) in &f.header.fields {
        ws.merge_range(row, 0, row, 3, label, &fm.label)?;
        ws.merge_range(row, 4, row, last_col, value, &fm.value)?;
        let value_width: f64 = FORM_WIDTHS[4..].iter().sum();
        ws.set_row_height(row, height_for(&[(value.clone(), value_width)]))?;
        row += 1;
    }
    for note in &f.header.notes {
        ws.merge_range(row, 0, row, last_col, note, &fm.value)?;
        row += 1;
    }
    row += 1;
    let header_row = row;
    for (i, c) in text.columns_ja.iter().enumerate() {
        ws.write_string_with_format(row, i as u16, c, &fm.head)?;
    }
    row += 1;
    for (lv1, title, rows) in groups(&f.rows) {
        ws.merge_range(row, 0, row, last_col, &format!("{lv1} {title}"), &fm.group)?;
        row += 1;
        let first = row;
        for (i, r) in rows.iter().enumerate() {
            let at = first + i as u32;
            let cells = r.cells();
            for (col, cell) in cells.iter().enumerate().skip(3) {
                if col == 3 {
                    continue; // 項目, merged below
                }
                let fmt = if r.conflict && (col == 7 || col == 10) {
                    &fm.conflict
                } else if col == 7 {
                    &fm.center
                } else {
                    &fm.cell
                };
                ws.write_string_with_format(at, col as u16, cell, fmt)?;
            }
            let measured: Vec<(String, f64)> = cells
                .iter()
                .zip(FORM_WIDTHS)
                .skip(4)
                .map(|(t, w)| (t.clone(), w))
                .collect();
            ws.set_row_height(at, height_for(&measured))?;
        }
        let span = |(a, b): (usize, usize)| (first + a as u32, first + b as u32);
        put(ws, span((0, rows.len() - 1)), 0, lv1, &fm.center)?;
        for run in runs(&rows, |r| r.text.lv2.clone()) {
            let lead = rows[run.0];
            put(ws, span(run), 1, &lead.text.lv2, &fm.center)?;
            put(ws, span(run), 3, &lead.text.item_ja, &fm.cell)?;
        }
        for (i, r) in rows.iter().enumerate() {
            ws.write_string_with_format(first + i as u32, 2, &r.text.lv3, &fm.center)?;
        }
        row = first + rows.len() as u32;
    }
    page_setup(ws, header_row)
}

fn check_sheet(ws: &mut Worksheet, f: &Filled, fm: &Formats) -> Result<(), XlsxError> {
    ws.set_name(CHECK_SHEET)?;
    for (i, w) in SHEET_WIDTHS.iter().enumerate() {
        ws.set_column_width(i as u16, *w)?;
    }
    ws.merge_range(
        0,
        0,
        0,
        (SHEET_WIDTHS.len() - 1) as u16,
        &format!("{} — ラン {}", form().check_sheet, run_of(f)),
        &fm.title,
    )?;
    let head = [
        "No.",
        "観点",
        "適合内容・関連文書で確認すること",
        "否採用の理由で確認すること",
        "確認の方法",
        "本試験の結果・証跡 / 事業者の添付文書",
        "確認欄",
    ];
    for (i, h) in head.iter().enumerate() {
        ws.write_string_with_format(2, i as u16, *h, &fm.head)?;
    }
    for (i, r) in f.rows.iter().enumerate() {
        let at = 3 + i as u32;
        let cells = [
            r.text.id(),
            r.text.viewpoint_ja.clone(),
            r.text.check_ja.clone(),
            r.text.reject_check_ja.clone(),
            r.confirm.method.clone(),
            r.confirm.basis.clone(),
            "☐".to_string(),
        ];
        for (col, c) in cells.iter().enumerate() {
            ws.write_string_with_format(at, col as u16, c, &fm.cell)?;
        }
        let measured: Vec<(String, f64)> = cells.iter().cloned().zip(SHEET_WIDTHS).collect();
        ws.set_row_height(at, height_for(&measured))?;
    }
    page_setup(ws, 2)
}

fn run_of(f: &Filled) -> String {
    f.header
        .fields
        .iter()
        .find(|(l, _)| l.starts_with("接続試験"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// Renders `declaration.xlsx`.
pub fn render(r: &Report, ev: &EvidenceIndex) -> Result<Vec<u8>, XlsxError> {
    let f = fill(r, ev);
    let fm = formats();
    let mut wb = Workbook::new();
    let created = ExcelDateTime::parse_from_str(r.run.started_at.trim_end_matches('Z'))
        .or_else(|_| ExcelDateTime::from_ymd(2000, 1, 1))?;
    wb.set_properties(
        &DocProperties::new()
            .set_title("適合宣言書")
            .set_subject(form().form.as_str())
            .set_comment(format!("s301 run {}", r.run.id))
            .set_creation_datetime(&created),
    );
    form_sheet(wb.add_worksheet(), &f, &fm)?;
    check_sheet(wb.add_worksheet(), &f, &fm)?;
    wb.save_to_buffer()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::sinks::report::tests::sample_outcome;

    #[test]
    fn the_workbook_is_reproducible_and_a_zip() {
        let r = Report::from_outcome(&sample_outcome());
        let a = render(&r, &EvidenceIndex::default()).unwrap();
        let b = render(&r, &EvidenceIndex::default()).unwrap();
        assert!(a.starts_with(b"PK"), "an xlsx is a zip");
        assert_eq!(a, b, "same report, same bytes");
    }

    #[test]
    fn row_heights_grow_with_wrapped_text() {
        assert_eq!(lines_in("abc", 10.0), 1);
        assert_eq!(lines_in("あいうえおかきくけこ", 11.0), 2);
        assert_eq!(lines_in("a\nb", 10.0), 2);
        assert!(height_for(&[("x".repeat(400), 20.0)]) > height_for(&[("x".into(), 20.0)]));
        assert!(height_for(&[("x".repeat(100_000), 1.0)]) <= MAX_ROW_HEIGHT);
    }
}
