//! `s301 init [FILE] [--interactive]`: writes a commented declaration
//! template for a new terminal (default `terminal.toml`), never over an
//! existing file.
//!
//! The template holds every part a run reads (`[terminal]`, `[screen]`,
//! `[operation]`, `[data]`, `[harness]`, a commented `[tls]`) and the
//! `[conformity]` part with one entry per row the vendor answers, each key
//! explained in Japanese and English. What only the vendor knows is written
//! as a `<<…>>` placeholder: the file is valid TOML as written, and
//! `s301 run --terminal FILE` refuses it with the key and line of the first
//! placeholder left (and the count of the rest) until every one is filled.
//!
//! `--interactive` asks for the essentials on the terminal (identity, the
//! two URLs, where the harness listens, declarant, date, department) and
//! writes them in place of their placeholders.
//!
//! Exit status: 0 written; 2 the file exists, or cannot be written.

use std::fmt::Write as _;
use std::io::{BufRead, Write as _};
use std::path::Path;
use std::process::ExitCode;

use s301_harness::config::declaration::conformity::VENDOR_ROWS;
use s301_harness::sinks::report::declaration::form::form;

use crate::cli::InitArgs;
use crate::{EXIT_PASS, EXIT_USAGE};

/// One value of the template that `--interactive` can ask for.
struct Essential {
    /// The TOML key, as a comment reader sees it.
    key: &'static str,
    /// The question (Japanese / English).
    question: &'static str,
    /// The placeholder written when nobody answers.
    placeholder: &'static str,
}

const ESSENTIALS: [Essential; 10] = [
    Essential {
        key: "terminal.vendor",
        question: "提供事業者名 / provider (vendor) of the service",
        placeholder: "<<提供事業者名 provider>>",
    },
    Essential {
        key: "terminal.service",
        question: "サービス名 / service name",
        placeholder: "<<サービス名 service name>>",
    },
    Essential {
        key: "terminal.model",
        question: "専用端末の型番 / terminal model",
        placeholder: "<<専用端末の型番 terminal model>>",
    },
    Essential {
        key: "terminal.version",
        question: "専用端末のソフトウェアの版 / terminal software version",
        placeholder: "<<ソフトウェアの版 software version>>",
    },
    Essential {
        key: "screen.url",
        question: "画面転送の URL / screen URL (ws://, wss:// or rfb://)",
        placeholder: "<<画面の URL screen URL, e.g. ws://192.0.2.10:5901/s3-01/v1/screen>>",
    },
    Essential {
        key: "data.base_url",
        question: "データ API のベース URL / data API base URL (http:// or https://)",
        placeholder:
            "<<データ API の URL data API base URL, e.g. http://192.0.2.10:8080/s3-01/v1>>",
    },
    Essential {
        key: "harness.listen",
        question: "通報を受ける s301 の待受アドレス / where s301 takes pushes (HOST:PORT)",
        placeholder: "<<s301 の待受 HOST:PORT, e.g. 0.0.0.0:8119>>",
    },
    Essential {
        key: "conformity.declarant",
        question: "宣言者（組織・氏名） / declarant (organisation, name)",
        placeholder: "<<宣言者 declarant>>",
    },
    Essential {
        key: "conformity.date",
        question: "宣言日 / date of the declaration (e.g. 2026-12-01)",
        placeholder: "<<宣言日 date, e.g. 2026-12-01>>",
    },
    Essential {
        key: "conformity.department",
        question: "提出先の消防本部 / fire department addressed",
        placeholder: "<<提出先の消防本部 department>>",
    },
];

/// A TOML basic string holding `s`.
fn quoted(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(o, "\\u{:04X}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// The value for `key`: the answer given, or its placeholder.
fn value(answers: &[(&str, String)], key: &str) -> String {
    let answer = answers
        .iter()
        .find(|(k, v)| *k == key && !v.trim().is_empty())
        .map(|(_, v)| v.clone());
    let placeholder = ESSENTIALS
        .iter()
        .find(|e| e.key == key)
        .map_or("<<記入 fill in>>", |e| e.placeholder);
    quoted(&answer.unwrap_or_else(|| placeholder.to_string()))
}

/// Shortens a form text for a comment line.
fn excerpt(s: &str, max: usize) -> String {
    let t: String = s.chars().take(max).collect();
    if s.chars().count() > max {
        format!("{t}…")
    } else {
        t
    }
}

/// The template, with `answers` (key, value) written in place of their
/// placeholders.
pub fn template(answers: &[(&str, String)]) -> String {
    let v = |k: &str| value(answers, k);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"# s301 端末宣言 (terminal declaration), written by `s301 init`.
#
# 「<<」と「>>」で囲まれた値はまだ記入されていない箇所です。すべて書き換えるまで
# `s301 run --terminal` はその箇所（キーと行番号）を示して実行しません。
# Values between << and >> are placeholders: `s301 run --terminal` refuses the file,
# naming the key and line of each one, until all are replaced.

# --- 端末 / the terminal (echoed in every report and in the 適合宣言's header) ---
[terminal]
# 提供事業者名 / the provider of the service
vendor = {}
# サービス名 / the service's name
service = {}
# 専用端末の型番 / the terminal's model
model = {}
# ソフトウェアの版 / the terminal's software version
version = {}

# --- 画面転送 / screen transfer (1-2-1) ---
[screen]
# 画面の URL: ws://（WebSocket）、wss://（TLS、[tls] ca が必要）、rfb://（TCP）
# the screen's URL: ws:// (WebSocket), wss:// (TLS; needs [tls] ca) or rfb:// (TCP)
url = {}
# 2 台目の指令台への対応: "refuse"（接続を断る）または "takeover"（後着が引き継ぐ）
# a second console is "refuse"d, or "takeover" serves it and closes the first
exclusivity = "refuse"
# VNC 認証のパスワードを持つ環境変数名（認証なしなら行ごと削除のまま）
# the environment variable holding the VNC password (leave out for no authentication)
# password_env = "S301_VNC_PASSWORD"
# 比較から除く領域（時計など） [x, y, 幅, 高さ] / regions ST-03 ignores (a clock) as [x, y, w, h]
# ignore = [[0, 0, 200, 24]]

# --- 操作受付 / operation (1-2-2) ---
[operation]
# 指令台からの操作を受け付けるか（1-2-2 は必須） / whether console input operates the terminal (required)
supported = true

# 操作の試験: クリックすると watch の領域の表示が変わる位置を指定する
# a probe: a click at (x, y) must visibly change the region watch = [x, y, w, h]
[[operation.probe]]
kind = "click"
x = 100
y = 100
watch = [0, 0, 400, 300]

# 文字入力の試験: text を入力すると watch の領域の表示が変わること
# typing text must visibly change the region watch
[[operation.probe]]
kind = "type"
text = "S301"
watch = [0, 0, 400, 300]

# --- データ連携 / data (1-3-1, 1-3-2) ---
[data]
# データ API のベース URL（/s3-01/v1 で終わる） / the data API's base URL (ends in /s3-01/v1)
base_url = {}
# 通報データを出力する / the terminal pushes reports
output = true
# 指令台からの入力を受け付ける（任意機能） / the terminal accepts dispatch input (optional)
input = false
# 版を更新して再送する / the terminal pushes revisions
revisions = true
# 試験用通報の起こし方: "hook"（試験用 API）、"manual"（人が試験通報する）、"auto"
# how a test report is triggered: "hook" (test API), "manual" (a person places a call), "auto"
trigger = "hook"

# --- s301 の待受 / where the harness takes the terminal's pushes ---
[harness]
listen = {}

# --- TLS（wss:// や https:// を使うとき） / TLS, for wss:// and https:// ---
# [tls]
# ca = "ca.pem"                   # 端末の証明書を発行した CA / the CA that signed the terminal's certificate
# client_cert = "client.pem"      # 相互認証で s301 が示す証明書 / the harness's certificate (mutual TLS)
# client_key = "client-key.pem"
# receiver_cert = "receiver.pem"  # 通報受信（https）の証明書 / the push receiver's certificate
# receiver_key = "receiver-key.pem"

# --- 適合宣言 / the declaration of conformity (【参考①】) ---
# 1-2-1〜1-3-2 は接続試験の結果から s301 が記入する。それ以外の行は事業者が回答する。
# Rows 1-2-1 to 1-3-2 are filled by s301 from the run. The vendor answers the others:
#   adoption  採否: "採用" または "否採用" / "採用" (meets it) or "否採用" (does not)
#   content   適合内容: 採用なら必須 / how the service meets it (needed for 採用)
#   documents 関連文書/サービスを示すURL等 / the documents or URLs attached
#   reason    否採用の理由: 否採用なら必須 / why not (needed for 否採用)
[conformity]
# 宣言者（組織・氏名） / who declares (organisation, name)
declarant = {}
# 宣言日 / the date of the declaration
date = {}
# 提出先の消防本部 / the fire department it is addressed to
department = {}"#,
        v("terminal.vendor"),
        v("terminal.service"),
        v("terminal.model"),
        v("terminal.version"),
        v("screen.url"),
        v("data.base_url"),
        v("harness.listen"),
        v("conformity.declarant"),
        v("conformity.date"),
        v("conformity.department"),
    );
    for id in VENDOR_ROWS {
        let Some(row) = form().row.iter().find(|r| r.id() == id) else {
            continue;
        };
        let _ = writeln!(
            s,
            "\n# {id} {} / {}: {}",
            row.item_ja,
            row.viewpoint_ja,
            excerpt(&row.condition_ja, 60)
        );
        let _ = writeln!(
            s,
            "# 確認の観点 (【参考②】): {}",
            excerpt(&row.check_ja, 80)
        );
        if id == "2-2-1" {
            let _ = writeln!(
                s,
                "# s301 は TLS-01 で端末との経路の暗号スイートを確かめ、申告と食い違えば否採用とする。\n# s301 joins this with TLS-01: a plaintext or unlisted transport contradicts 採用."
            );
        }
        let _ = writeln!(
            s,
            "[conformity.row.\"{id}\"]\nadoption = \"採用\"\ncontent = {}\ndocuments = {}\nreason = \"\"",
            quoted(&format!("<<{id} 適合内容 how the service meets it>>")),
            quoted(&format!("<<{id} 関連文書/URL documents>>")),
        );
    }
    s
}

fn ask(
    input: &mut dyn BufRead,
    prompt: &mut dyn std::io::Write,
) -> Result<Vec<(&'static str, String)>, std::io::Error> {
    let mut answers = Vec::new();
    writeln!(
        prompt,
        "空欄のままなら記入欄（<<…>>）を残します / leave empty to keep a placeholder"
    )?;
    for e in &ESSENTIALS {
        write!(prompt, "{}: ", e.question)?;
        prompt.flush()?;
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        answers.push((e.key, line.trim().to_string()));
    }
    Ok(answers)
}

/// Writes `text` to `path` only if no file is there (create-new, so a file
/// appearing meanwhile is not overwritten either).
fn write_new(path: &Path, text: &str) -> Result<(), std::io::Error> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Runs `s301 init`.
pub fn run(args: &InitArgs) -> ExitCode {
    let path = &args.file;
    if path.exists() {
        eprintln!(
            "s301: error: {} already exists; s301 init never overwrites (choose another FILE)",
            path.display()
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let answers = if args.interactive {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut err = std::io::stderr();
        match ask(&mut input, &mut err) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("s301: error: reading the answers: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        }
    } else {
        Vec::new()
    };
    let text = template(&answers);
    match write_new(path, &text) {
        Ok(()) => {
            let left = text.matches("\"<<").count();
            crate::out(&format!(
                "wrote {} ({left} placeholder(s) <<…>> to fill in; `s301 run --terminal {}` names each one left)\n",
                path.display(),
                path.display()
            ));
            ExitCode::from(EXIT_PASS)
        }
        Err(e) => {
            eprintln!("s301: error: {}: {e}", path.display());
            ExitCode::from(EXIT_USAGE)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use s301_harness::config::declaration::{ConfigErrorKind, Declaration};

    #[test]
    fn the_template_is_toml_and_names_its_first_placeholder() {
        let t = template(&[]);
        let e = Declaration::parse(&t, "terminal.toml").unwrap_err();
        // Valid TOML: the first complaint is the placeholder, not the syntax.
        assert_ne!(e.kind, ConfigErrorKind::Syntax, "{e}");
        assert_eq!(e.key, "terminal.vendor");
        assert!(e.message.contains("<<提供事業者名 provider>>"), "{e}");
        assert!(e.message.contains("conformity.row.2-7.documents"), "{e}");
        for id in VENDOR_ROWS {
            assert!(t.contains(&format!("[conformity.row.\"{id}\"]")), "{id}");
        }
    }

    #[test]
    fn answers_replace_their_placeholders_and_are_quoted() {
        let t = template(&[("terminal.vendor", "Ex \"A\"".to_string())]);
        assert!(t.contains("vendor = \"Ex \\\"A\\\"\""), "{t}");
        let e = Declaration::parse(&t, "terminal.toml").unwrap_err();
        assert_eq!(e.key, "terminal.service", "the next placeholder is named");
    }

    #[test]
    fn ask_reads_one_answer_per_question_and_stops_at_eof() {
        let mut input = std::io::Cursor::new("Example\nNet119\n");
        let mut out = Vec::new();
        let a = ask(&mut input, &mut out).unwrap();
        assert_eq!(
            a,
            [
                ("terminal.vendor", "Example".to_string()),
                ("terminal.service", "Net119".to_string())
            ]
        );
        assert!(String::from_utf8(out).unwrap().contains("サービス名"));
    }
}
