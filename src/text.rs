//! Small text helpers for terminal output: display width (CJK characters
//! take two columns), padding and one-line truncation.

/// Columns a string takes on a terminal: East Asian wide characters count two.
pub fn width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

fn char_width(c: char) -> usize {
    let c = c as u32;
    let wide = matches!(c,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6);
    if wide {
        2
    } else {
        1
    }
}

/// `s` followed by spaces up to `cols` display columns.
pub fn pad(s: &str, cols: usize) -> String {
    let w = width(s);
    let mut out = s.to_string();
    out.extend(std::iter::repeat_n(' ', cols.saturating_sub(w)));
    out
}

/// The first line of `s`, cut to at most `max` characters (with `…`).
pub fn one_line(s: &str, max: usize) -> String {
    let first = s.lines().next().unwrap_or("");
    let more_lines = s.lines().nth(1).is_some();
    if first.chars().count() > max {
        let mut t: String = first.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    } else if more_lines {
        format!("{first} …")
    } else {
        first.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    #[test]
    fn wide_characters_count_two_columns() {
        assert_eq!(width("画面転送機能"), 12);
        assert_eq!(width("ST-01"), 5);
        assert_eq!(pad("操作", 6), "操作  ");
        assert_eq!(pad("toolong", 3), "toolong");
    }

    #[test]
    fn one_line_cuts_long_and_multi_line_text() {
        assert_eq!(one_line("short", 10), "short");
        assert_eq!(one_line("abcdefghijkl", 5), "abcd…");
        assert_eq!(one_line("first\nsecond", 20), "first …");
        assert_eq!(one_line("", 5), "");
    }
}
