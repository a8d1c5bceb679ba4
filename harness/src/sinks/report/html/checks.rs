//! The checks' part of report.html: per check, its requirement in
//! Japanese and English (from the check's own definition), its result and
//! its screenshots in before-then-after order.

use std::fmt::Write as _;

use super::{escape, verdict_cell};
use crate::model::png::base64;
use crate::model::verdict::Verdict;
use crate::sinks::report::outputs::{EvidenceIndex, MAX_EMBEDDED_BYTES};
use crate::sinks::report::Report;

/// Evidence JSON shown per check is cut after this many characters.
const EVIDENCE_CHARS: usize = 4000;

/// Sort key that puts a file named `…before…` ahead of the rest of its
/// group and `…after…` behind it: `clean-A-before-leaving`, then
/// `clean-B-served`; `before`, then `after`.
fn before_after_key(path: &str) -> (String, u8, String) {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    for (word, rank) in [("before", 0u8), ("after", 2u8)] {
        if let Some(i) = name.find(word) {
            return (name[..i].to_string(), rank, name.clone());
        }
    }
    (name.clone(), 1, name)
}

/// The images of one check in the order a reader follows them.
pub(super) fn ordered_images(ev: &EvidenceIndex, check: &str) -> Vec<String> {
    let mut images = ev.images_of(check);
    images.sort_by_cached_key(|p| before_after_key(p));
    images
}

/// Writes every check's section.
pub(super) fn section(s: &mut String, r: &Report, ev: &EvidenceIndex) {
    let _ = writeln!(
        s,
        "<h2>確認項目ごとの結果と証跡 <span class=\"en\">Each check: requirement, result, evidence</span></h2>"
    );
    let mut embedded: u64 = 0;
    for c in &r.checks {
        let def = crate::checks::def(c.id);
        let _ = writeln!(
            s,
            "<section class=\"check\" id=\"{id}\">\n<h3>{id}（条件 {cond}）{v}</h3>\n<p class=\"en\">{title}</p>\n\
<p>要件: {req_ja}<br><span class=\"en\">Requirement: {req_en}</span></p>\n<p>結果 <span class=\"en\">result</span>: {detail}</p>\n<p class=\"en\">所要 duration {ms} ms</p>",
            id = escape(c.id.as_str()),
            cond = escape(c.condition.as_str()),
            v = verdict_cell(c.verdict.as_str(), c.verdict.as_ja()),
            title = escape(def.title),
            req_ja = escape(def.requirement.ja),
            req_en = escape(def.requirement.en),
            detail = escape(&c.detail),
            ms = c.duration_ms
        );
        for img in ordered_images(ev, c.id.as_str()) {
            let name = img.rsplit('/').next().unwrap_or(&img).to_string();
            let data = ev.root.as_ref().and_then(|root| {
                let p = root.join(&img);
                let len = std::fs::metadata(&p).ok()?.len();
                if embedded.saturating_add(len) > MAX_EMBEDDED_BYTES {
                    return None;
                }
                let bytes = std::fs::read(&p).ok()?;
                embedded = embedded.saturating_add(len);
                Some(bytes)
            });
            match data {
                Some(b) => {
                    let _ = writeln!(
                        s,
                        "<figure><img alt=\"{n}\" src=\"data:image/png;base64,{}\"><figcaption>{n}</figcaption></figure>",
                        base64(&b),
                        n = escape(&name)
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "<figure><figcaption>{} (未埋込 <span class=\"en\">not embedded</span>)</figcaption></figure>",
                        escape(&img)
                    );
                }
            }
        }
        let files = ev.files_of(c.id.as_str());
        if !files.is_empty() {
            let _ = writeln!(
                s,
                "<p class=\"en\">証跡ファイル evidence files: {}</p>",
                escape(&files.join(", "))
            );
        }
        if c.verdict != Verdict::Skipped && !c.evidence.is_null() {
            let mut text = serde_json::to_string_pretty(&c.evidence).unwrap_or_default();
            if text.chars().count() > EVIDENCE_CHARS {
                text = text.chars().take(EVIDENCE_CHARS).collect::<String>();
                text.push_str("\n… (以下省略 truncated; see report.json)");
            }
            let _ = writeln!(
                s,
                "<details><summary>記録 <span class=\"en\">recorded evidence</span></summary><pre>{}</pre></details>",
                escape(&text)
            );
        }
        s.push_str("</section>\n");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn before_comes_first_within_its_group() {
        let mut v = vec![
            "evidence/OP-01/after.png",
            "evidence/OP-01/before.png",
            "evidence/EX-02/dropped-B-served.png",
            "evidence/EX-02/clean-B-served.png",
            "evidence/EX-02/dropped-A-before-leaving.png",
            "evidence/EX-02/clean-A-before-leaving.png",
        ];
        v.sort_by_cached_key(|p| super::before_after_key(p));
        assert_eq!(
            v,
            [
                "evidence/OP-01/before.png",
                "evidence/OP-01/after.png",
                "evidence/EX-02/clean-A-before-leaving.png",
                "evidence/EX-02/clean-B-served.png",
                "evidence/EX-02/dropped-A-before-leaving.png",
                "evidence/EX-02/dropped-B-served.png",
            ]
        );
    }
}
