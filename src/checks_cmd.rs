//! `s301 checks`: the catalog as a table.

use s301_harness::catalog::CheckId;

use crate::text::{pad, width};

/// The catalog table: id, condition, the condition's 観点 in Japanese and
/// English, and what the check requires.
pub fn table() -> String {
    let rows: Vec<[String; 5]> = CheckId::ALL
        .iter()
        .map(|id| {
            let c = id.condition();
            let text = c.text();
            [
                id.to_string(),
                c.to_string(),
                text.viewpoint_ja.clone(),
                text.viewpoint_en.clone(),
                id.title().to_string(),
            ]
        })
        .collect();
    let header = ["ID", "CONDITION", "観点", "VIEWPOINT", "CHECK"];
    let mut cols = header.map(width);
    for row in &rows {
        for (c, cell) in row.iter().enumerate() {
            cols[c] = cols[c].max(width(cell));
        }
    }
    let mut out = String::new();
    let line = |cells: [&str; 5]| {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                l.push_str(&pad(cell, cols[i]));
                l.push_str("  ");
            }
        }
        l.push('\n');
        l
    };
    out.push_str(&line(header));
    for row in &rows {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    #[test]
    fn table_lists_every_check_once_in_catalog_order() {
        let t = table();
        let ids: Vec<&str> = t
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let expected: Vec<&str> = CheckId::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(ids, expected);
        assert!(t.contains("画面転送機能"));
    }
}
