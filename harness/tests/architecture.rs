//! The harness's layers, kept true: imports flow one way,
//! model ← config ← binding ← checks ← run ← sinks.
//!
//! This reads every source file under `harness/src/`, finds each path into
//! the crate (`crate::x`, also inside `use crate::{x, y}` groups), and fails
//! when a file of a lower layer names a module of a higher one, naming the
//! file, the line and the import.

use std::path::{Path, PathBuf};

/// The layers, lowest first.
const LAYERS: [&str; 6] = ["model", "config", "binding", "checks", "run", "sinks"];

/// The layer of a crate-root module, or `None` for one this test does not
/// know (a new module must be placed in a layer here).
fn layer_of(module: &str) -> Option<usize> {
    let layer = match module {
        "model" | "catalog" | "verdict" => "model",
        "config" | "declaration" | "scenario" => "config",
        "binding" | "data" | "tls" => "binding",
        "checks" => "checks",
        "run" | "runner" => "run",
        "sinks" | "record" | "report" | "integrity" | "history" | "liveness" | "witness" => "sinks",
        _ => return None,
    };
    LAYERS.iter().position(|l| *l == layer)
}

/// One import that goes the wrong way (or names an unknown module).
#[derive(Debug, PartialEq, Eq)]
struct Finding {
    file: String,
    line: usize,
    import: String,
    why: String,
}

/// `text` without comments (line comments, doc comments, block comments);
/// string contents are kept, which is harmless here.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_str = false;
    let mut depth = 0usize;
    while let Some(c) = chars.next() {
        if depth > 0 {
            if c == '*' && chars.peek() == Some(&'/') {
                chars.next();
                depth -= 1;
            } else if c == '/' && chars.peek() == Some(&'*') {
                chars.next();
                depth += 1;
            } else if c == '\n' {
                out.push('\n');
            }
            continue;
        }
        if in_str {
            out.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '/' if chars.peek() == Some(&'/') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                depth = 1;
            }
            _ => out.push(c),
        }
    }
    out
}

/// The crate-root modules a line names: `crate::x` and each name of a
/// `crate::{x, y::z}` group.
fn modules_named(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        let after = &rest[i + "crate::".len()..];
        rest = after;
        // `s301_crate::` or `mycrate::` are other paths.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = after.strip_prefix('{') {
            // The first name of each top-level item of the group.
            let (mut depth, mut start, mut name) = (0usize, true, String::new());
            for c in group.chars() {
                if start && (c.is_alphanumeric() || c == '_') {
                    name.push(c);
                    continue;
                }
                if !name.is_empty() {
                    out.push(std::mem::take(&mut name));
                    start = false;
                }
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    _ => {}
                }
            }
            if !name.is_empty() {
                out.push(name);
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

/// The findings of one file of layer `layer` (its path is `file`).
fn check_file(file: &str, layer: usize, text: &str) -> Vec<Finding> {
    let mut found = Vec::new();
    for (n, line) in strip_comments(text).lines().enumerate() {
        for m in modules_named(line) {
            let why = match layer_of(&m) {
                None => format!(
                    "crate::{m} is in no layer: place the module in tests/architecture.rs's LAYERS"
                ),
                Some(l) if l > layer => format!(
                    "{} imports crate::{m}, which is in {}, a higher layer",
                    LAYERS[layer], LAYERS[l]
                ),
                Some(_) => continue,
            };
            found.push(Finding {
                file: file.to_string(),
                line: n + 1,
                import: line.trim().to_string(),
                why,
            });
        }
    }
    found
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn imports_flow_from_the_sinks_down_to_the_model() {
    let root = source_root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(
        files.len() > 20,
        "found the sources under {}",
        root.display()
    );
    let mut findings = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(&root).unwrap_or(path);
        let top = rel
            .components()
            .next()
            .map(|c| {
                c.as_os_str()
                    .to_string_lossy()
                    .trim_end_matches(".rs")
                    .to_string()
            })
            .unwrap_or_default();
        if top == "lib" {
            continue;
        }
        let Some(layer) = layer_of(&top) else {
            findings.push(Finding {
                file: rel.display().to_string(),
                line: 0,
                import: String::new(),
                why: format!("top-level module {top} is in no layer"),
            });
            continue;
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        findings.extend(check_file(&rel.display().to_string(), layer, &text));
    }
    let report: Vec<String> = findings
        .iter()
        .map(|f| format!("src/{}:{}: {} ({})", f.file, f.line, f.why, f.import))
        .collect();
    assert!(
        report.is_empty(),
        "{} import(s) against the layers:\n{}",
        report.len(),
        report.join("\n")
    );
}

#[test]
fn a_wrong_import_is_named_with_its_file_line_and_layer() {
    let src = "//! a model file\nuse crate::model::ids::CheckId;\n// use crate::sinks::report; (a comment)\nuse crate::{model::png, run::runner::RunSink};\nfn f() { let _ = crate::checks::def; }\n";
    let found = check_file("model/x.rs", 0, src);
    let lines: Vec<(usize, &str)> = found.iter().map(|f| (f.line, f.why.as_str())).collect();
    assert_eq!(
        lines,
        [
            (
                4,
                "model imports crate::run, which is in run, a higher layer"
            ),
            (
                5,
                "model imports crate::checks, which is in checks, a higher layer"
            ),
        ]
    );
    assert!(check_file("sinks/x.rs", 5, src).is_empty());
}

#[test]
fn comments_and_other_crates_are_not_imports() {
    assert!(modules_named("use s301_crate::x;").is_empty());
    assert_eq!(strip_comments("a /* b /* c */ d */ e // f\ng"), "a  e \ng");
    assert_eq!(
        modules_named("use crate::{a::b, c, d::{e, f}};"),
        ["a", "c", "d"]
    );
}
