//! Witnessed runs: manual confirmation steps answered by an operator.
//!
//! A scenario may hold `[[witness]]` steps ([`WitnessStep`]). Each is
//! attached to a condition (and optionally to the check whose screenshot the
//! operator should look at) and carries a question in Japanese and English
//! and a timeout. The steps are asked after the automatic checks have
//! finished and before the record is sealed, in scenario order, so that the
//! operator's thinking time cannot distort any timed check; the terminal is
//! still connected while they are asked.
//!
//! The operator answers one line per question on standard input:
//! `pass` (`p`, `y`, `yes`, `ok`), `fail` (`f`, `n`, `no`), or `n/a` (`na`),
//! optionally followed by a comment (`fail 画面が黒い`). An unrecognised line
//! is asked again. No answer within the step's timeout, end of input (also
//! the case in CI, where standard input is empty) or a run that was aborted
//! before the question could be asked give the answer `error`: never a pass.
//!
//! Effect on the condition it is attached to ([`apply`]): `fail` makes the
//! condition fail; `error` makes a passing (or not-applicable) condition
//! inconclusive; `pass` and `n/a` are recorded and change nothing (a
//! witness cannot make a failing automatic check pass). Every answer is
//! kept in `report.json` under its condition's `witness` array.

use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::model::ids::{CheckId, ConditionId};
use crate::model::verdict::ConditionVerdict;
use crate::sinks::report::{rfc3339_ms, Report};

pub use crate::config::witness::{
    validate, WitnessStep, DEFAULT_TIMEOUT_MS, MAX_ANSWER_BYTES, MAX_STEPS,
};
use crate::model::lang::Lang;
pub use crate::model::verdict::WitnessAnswer;
pub use crate::sinks::witness_bundle::{bundle, Bundle};
use serde_json::Value;

/// One answered (or unanswered) witness step, as kept in `report.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessRecord {
    /// The step id.
    pub id: String,
    /// The check it was attached to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckId>,
    /// The question in Japanese.
    pub question_ja: String,
    /// The question in English.
    pub question_en: String,
    /// The answer.
    pub answer: WitnessAnswer,
    /// The operator's comment, or why the answer is `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The screenshot or evidence folder shown, relative to the run directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screenshot: Option<String>,
    /// Who answered (`--operator`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// When the question was asked (RFC 3339, UTC), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked_at: Option<String>,
    /// When the answer came (RFC 3339, UTC), if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<String>,
    /// Where the answer was given: `stdin` or `browser` (the live witness
    /// console); none when no answer came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// Parses an answer line: the answer and the optional comment, or `None`
/// for a line that is not an answer.
pub fn parse_answer(line: &str) -> Option<(WitnessAnswer, Option<String>)> {
    let line = line.trim();
    let (word, rest) = match line.find(|c: char| c.is_whitespace() || c == ':') {
        Some(i) => (&line[..i], line[i..].trim_start_matches(':').trim()),
        None => (line, ""),
    };
    let answer = match word.to_ascii_lowercase().as_str() {
        "pass" | "p" | "y" | "yes" | "ok" => WitnessAnswer::Pass,
        "fail" | "f" | "n" | "no" => WitnessAnswer::Fail,
        "n/a" | "na" | "not_applicable" => WitnessAnswer::NotApplicable,
        _ => return None,
    };
    Some((answer, (!rest.is_empty()).then(|| rest.to_string())))
}

/// Answer lines from a reader, delivered through a channel by a background
/// thread so that each question can wait with a timeout. The channel
/// closes at end of input (or a read error).
pub fn spawn_line_reader<R: Read + Send + 'static>(input: R) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = std::io::BufReader::new(input);
        loop {
            let mut buf = Vec::new();
            match (&mut r).take(MAX_ANSWER_BYTES).read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            // Drop the rest of an over-long line.
            if buf.last() != Some(&b'\n') && buf.len() as u64 >= MAX_ANSWER_BYTES {
                let mut sink = Vec::new();
                if r.read_until(b'\n', &mut sink).is_err() {
                    break;
                }
            }
            if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
                break;
            }
        }
    });
    rx
}

/// The newest PNG in `evidence/<CHECK>/` of the run directory, or that
/// folder, or nothing; relative to the run directory.
pub fn screenshot_for(run_dir: &Path, check: Option<CheckId>) -> Option<String> {
    let check = check?;
    let rel = format!("evidence/{check}");
    let dir = run_dir.join(&rel);
    let entries = std::fs::read_dir(&dir).ok()?;
    let newest = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "png"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.file_name())))
        .max();
    Some(match newest {
        Some((_, name)) => format!("{rel}/{}", name.to_string_lossy()),
        None => format!("{rel}/"),
    })
}

/// How often a waiting question looks at its `cancelled` flag (and at the
/// browser, when there is one).
const CANCEL_POLL: Duration = Duration::from_millis(200);

/// The answer comment when the operator interrupted the questions.
pub const INTERRUPTED: &str = "interrupted (Ctrl-C or SIGTERM) while waiting for the answer";

/// An answer given in the live witness console (the browser).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Given {
    /// The answer.
    pub answer: WitnessAnswer,
    /// The comment, if any.
    pub comment: Option<String>,
    /// When it was given.
    pub at: time::OffsetDateTime,
}

/// A second place answers come from besides standard input: the live
/// witness console. The first answer given, here or on standard input,
/// is the one kept.
pub trait BrowserAnswers: Send + Sync {
    /// Shows the question (if it is not shown yet) as waiting for its
    /// answer now, with its evidence; returns when it was first shown.
    fn open(&self, step: &WitnessStep, bundle: &Bundle) -> time::OffsetDateTime;
    /// The answer given for `step_id`, if one was (taken once).
    fn take(&self, step_id: &str) -> Option<Given>;
    /// Closes the question with the record kept (answered on standard
    /// input, timed out, interrupted): later answers are refused.
    fn settle(&self, record: &WitnessRecord);
}

/// How a question is asked: where the evidence is, who answers, in which
/// language the prompt comes first, and where else answers may come from.
pub struct Asking<'a> {
    /// The run directory (evidence paths are relative to it).
    pub run_dir: &'a Path,
    /// Who answers (the witness, else the operator), recorded with the answer.
    pub who: Option<&'a str>,
    /// The prompt's first language.
    pub lang: Lang,
    /// The evidence the question's check recorded (`Value::Null` if none).
    pub evidence: &'a Value,
    /// The live witness console, when the run has one.
    pub browser: Option<&'a dyn BrowserAnswers>,
}

/// An answer as `report.json` spells it (`pass`, `fail`, `not_applicable`, `error`).
pub fn answer_word(a: WitnessAnswer) -> &'static str {
    match a {
        WitnessAnswer::Pass => "pass",
        WitnessAnswer::Fail => "fail",
        WitnessAnswer::NotApplicable => "not_applicable",
        WitnessAnswer::Error => "error",
    }
}

/// Both languages, `lang`'s first.
fn both(lang: Lang, en: &str, ja: &str) -> String {
    match lang {
        Lang::En => format!("{en} / {ja}"),
        Lang::Ja => format!("{ja} / {en}"),
    }
}

/// What standard input is told for a line that is not an answer, in both
/// languages, `lang`'s first.
pub fn not_an_answer(line: &str, lang: Lang) -> String {
    let l = line.trim();
    both(
        lang,
        &format!("\"{l}\" is not an answer: type pass, fail or n/a (a comment may follow)"),
        &format!("「{l}」は回答ではありません。pass（合格）、fail（不合格）、n/a（該当なし）のいずれかを入力してください（後にコメントを続けられます）"),
    )
}

/// Asks one step: prints the question and its evidence to `out` and waits
/// for an answer line on `answers`, or an answer in the browser, within the
/// step's timeout, or until `cancelled` says so (checked every 200 ms):
/// then the answer is `error`, comment [`INTERRUPTED`]. The first answer
/// from either place is kept. End of standard input ends the wait at once
/// only when there is no browser to answer in.
pub fn ask(
    step: &WitnessStep,
    how: &Asking<'_>,
    answers: &mpsc::Receiver<String>,
    out: &mut dyn Write,
    cancelled: &dyn Fn() -> bool,
) -> WitnessRecord {
    let lang = how.lang;
    let bundle = bundle(how.run_dir, step.check, how.evidence);
    let screenshot = screenshot_for(how.run_dir, step.check);
    let now = time::OffsetDateTime::now_utc();
    let shown = how.browser.map(|b| b.open(step, &bundle));
    let asked_at = rfc3339_ms(shown.map_or(now, |s| s.min(now)));
    let _ = writeln!(
        out,
        "\n[witness {}] {} {}",
        step.id,
        lang.pick("condition", "条件"),
        step.condition
    );
    let (first, second) = match lang {
        Lang::En => (&step.question_en, &step.question_ja),
        Lang::Ja => (&step.question_ja, &step.question_en),
    };
    let _ = writeln!(out, "  {first}");
    let _ = writeln!(out, "  {second}");
    for l in bundle.lines(how.run_dir, lang) {
        let _ = writeln!(out, "  {l}");
    }
    let secs = step.timeout_ms.div_ceil(1000);
    let _ = writeln!(
        out,
        "  {}:",
        both(
            lang,
            &format!("answer pass / fail / n/a [comment] within {secs} s"),
            &format!("{secs} 秒以内に pass / fail / n/a [コメント] で回答してください"),
        )
    );
    let _ = out.flush();
    let deadline = Instant::now() + Duration::from_millis(step.timeout_ms);
    let mut stdin_open = true;
    let stamp = || Some(rfc3339_ms(time::OffsetDateTime::now_utc()));
    let (answer, comment, answered_at, via) = loop {
        if let Some(g) = how.browser.and_then(|b| b.take(&step.id)) {
            let _ = writeln!(
                out,
                "  {}: {}{}",
                both(lang, "answered in the browser", "ブラウザで回答"),
                answer_word(g.answer),
                g.comment
                    .as_deref()
                    .map(|c| format!(" {c}"))
                    .unwrap_or_default()
            );
            break (g.answer, g.comment, Some(rfc3339_ms(g.at)), Some("browser"));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if cancelled() {
            break (
                WitnessAnswer::Error,
                Some(INTERRUPTED.to_string()),
                None,
                None,
            );
        }
        if left.is_zero() {
            break (
                WitnessAnswer::Error,
                Some(format!("no answer within {} ms", step.timeout_ms)),
                None,
                None,
            );
        }
        if !stdin_open {
            std::thread::sleep(left.min(CANCEL_POLL));
            continue;
        }
        match answers.recv_timeout(left.min(CANCEL_POLL)) {
            Ok(line) => match parse_answer(&line) {
                Some((a, c)) => break (a, c, stamp(), Some("stdin")),
                None => {
                    let _ = writeln!(out, "  {}", not_an_answer(&line, lang));
                    let _ = out.flush();
                }
            },
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) if how.browser.is_some() => {
                stdin_open = false;
                let _ = writeln!(
                    out,
                    "  {}",
                    both(
                        lang,
                        "standard input is closed: waiting for the answer in the browser",
                        "標準入力が閉じています。ブラウザでの回答を待ちます",
                    )
                );
                let _ = out.flush();
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break (
                    WitnessAnswer::Error,
                    Some("no answer: standard input is closed (no operator)".to_string()),
                    None,
                    None,
                )
            }
        }
    };
    let record = WitnessRecord {
        id: step.id.clone(),
        check: step.check,
        question_ja: step.question_ja.clone(),
        question_en: step.question_en.clone(),
        answer,
        comment,
        screenshot,
        operator: how.who.map(str::to_string),
        asked_at: Some(asked_at),
        answered_at,
        via: via.map(str::to_string),
    };
    if let Some(b) = how.browser {
        b.settle(&record);
    }
    record
}

/// The record of a step that was never asked (the run was aborted).
pub fn not_asked(step: &WitnessStep, why: &str) -> WitnessRecord {
    WitnessRecord {
        id: step.id.clone(),
        check: step.check,
        question_ja: step.question_ja.clone(),
        question_en: step.question_en.clone(),
        answer: WitnessAnswer::Error,
        comment: Some(format!("not asked: {why}")),
        screenshot: None,
        operator: None,
        asked_at: None,
        answered_at: None,
        via: None,
    }
}

/// Attaches witness records to their conditions in `report`, judges those
/// conditions again with [`ConditionVerdict::judge`] from `outcome`'s check
/// results and every answer given for them, and recounts
/// `metrics.conditions`.
pub fn apply(
    report: &mut Report,
    outcome: &crate::run::runner::RunOutcome,
    records: Vec<(ConditionId, WitnessRecord)>,
) {
    for (cond, rec) in records {
        let Some(c) = report.conditions.iter_mut().find(|c| c.id == cond) else {
            continue;
        };
        c.witness.push(rec);
        let answers: Vec<WitnessAnswer> = c.witness.iter().map(|w| w.answer).collect();
        c.verdict = ConditionVerdict::judge(&outcome.judged(cond), &answers);
    }
    for v in report.metrics.conditions.values_mut() {
        *v = 0;
    }
    for c in report.conditions.iter().filter(|c| !c.informational) {
        *report
            .metrics
            .conditions
            .entry(c.verdict.as_str().to_string())
            .or_default() += 1;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    fn step(timeout_ms: u64) -> WitnessStep {
        WitnessStep {
            id: "W-01".into(),
            condition: ConditionId::C1_2_1,
            check: Some(CheckId::St02),
            question_ja: "指令台の画面に専用端末の画面が表示されていますか？".into(),
            question_en: "Does the console show the terminal's screen?".into(),
            timeout_ms,
        }
    }

    fn asking(who: Option<&'static str>) -> Asking<'static> {
        Asking {
            run_dir: Path::new("/nonexistent"),
            who,
            lang: Lang::En,
            evidence: &Value::Null,
            browser: None,
        }
    }

    fn answer_from(input: &'static [u8], timeout_ms: u64) -> WitnessRecord {
        let rx = spawn_line_reader(input);
        let mut out = Vec::new();
        ask(
            &step(timeout_ms),
            &asking(Some("山田")),
            &rx,
            &mut out,
            &|| false,
        )
    }

    /// A browser that answers `given` once, and records what it was told.
    struct FakeBrowser {
        given: std::sync::Mutex<Option<Given>>,
        opened: std::sync::Mutex<Vec<String>>,
        settled: std::sync::Mutex<Vec<WitnessRecord>>,
        shown: time::OffsetDateTime,
    }

    impl FakeBrowser {
        fn new(given: Option<Given>) -> FakeBrowser {
            FakeBrowser {
                given: std::sync::Mutex::new(given),
                opened: Default::default(),
                settled: Default::default(),
                shown: time::OffsetDateTime::now_utc() - time::Duration::minutes(3),
            }
        }
    }

    impl BrowserAnswers for FakeBrowser {
        fn open(&self, step: &WitnessStep, _: &Bundle) -> time::OffsetDateTime {
            self.opened.lock().unwrap().push(step.id.clone());
            self.shown
        }
        fn take(&self, _: &str) -> Option<Given> {
            self.given.lock().unwrap().take()
        }
        fn settle(&self, r: &WitnessRecord) {
            self.settled.lock().unwrap().push(r.clone());
        }
    }

    #[test]
    fn a_browser_answer_is_kept_with_when_it_was_shown_and_given() {
        let at = time::OffsetDateTime::now_utc();
        let b = FakeBrowser::new(Some(Given {
            answer: WitnessAnswer::Fail,
            comment: Some("画面が黒い".into()),
            at,
        }));
        let (_tx, rx) = mpsc::channel::<String>();
        let how = Asking {
            browser: Some(&b),
            ..asking(Some("立会 花子"))
        };
        let mut out = Vec::new();
        let r = ask(&step(60_000), &how, &rx, &mut out, &|| false);
        assert_eq!(r.answer, WitnessAnswer::Fail);
        assert_eq!(r.comment.as_deref(), Some("画面が黒い"));
        assert_eq!(r.via.as_deref(), Some("browser"));
        assert_eq!(r.operator.as_deref(), Some("立会 花子"));
        assert_eq!(r.asked_at, Some(rfc3339_ms(b.shown)));
        assert_eq!(r.answered_at, Some(rfc3339_ms(at)));
        assert_eq!(*b.opened.lock().unwrap(), ["W-01"]);
        assert_eq!(b.settled.lock().unwrap()[0], r);
    }

    #[test]
    fn with_a_browser_closed_stdin_waits_for_the_timeout_never_a_pass() {
        let b = FakeBrowser::new(None);
        let rx = spawn_line_reader(&b""[..]);
        let how = Asking {
            browser: Some(&b),
            ..asking(None)
        };
        let mut out = Vec::new();
        let t = Instant::now();
        let r = ask(&step(300), &how, &rx, &mut out, &|| false);
        assert!(t.elapsed() >= Duration::from_millis(300));
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!(r.answer, WitnessAnswer::Error);
        assert_eq!(r.comment.as_deref(), Some("no answer within 300 ms"));
        assert_eq!(b.settled.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_stdin_answer_wins_and_closes_the_browser_question() {
        let b = FakeBrowser::new(None);
        let rx = spawn_line_reader(&b"pass ok\n"[..]);
        let how = Asking {
            browser: Some(&b),
            ..asking(None)
        };
        let r = ask(&step(5000), &how, &rx, &mut Vec::new(), &|| false);
        assert_eq!(r.answer, WitnessAnswer::Pass);
        assert_eq!(r.via.as_deref(), Some("stdin"));
        assert_eq!(b.settled.lock().unwrap()[0].answer, WitnessAnswer::Pass);
    }

    #[test]
    fn junk_is_refused_in_both_languages_the_chosen_one_first() {
        let ja = not_an_answer("maybe\n", Lang::Ja);
        assert!(ja.starts_with("「maybe」は回答ではありません"), "{ja}");
        assert!(ja.contains("\"maybe\" is not an answer"), "{ja}");
        let en = not_an_answer("maybe", Lang::En);
        assert!(en.starts_with("\"maybe\" is not an answer"), "{en}");
        let rx = spawn_line_reader(&b"maybe\npass\n"[..]);
        let how = Asking {
            lang: Lang::Ja,
            ..asking(None)
        };
        let mut out = Vec::new();
        let r = ask(&step(5000), &how, &rx, &mut out, &|| false);
        assert_eq!(r.answer, WitnessAnswer::Pass);
        let shown = String::from_utf8(out).unwrap();
        assert!(shown.contains("「maybe」は回答ではありません"), "{shown}");
        // Japanese first: the Japanese question comes before the English one.
        assert!(shown.find("指令台").unwrap() < shown.find("Does the console").unwrap());
    }

    #[test]
    fn answers_parse_with_optional_comments() {
        assert_eq!(parse_answer("pass\n"), Some((WitnessAnswer::Pass, None)));
        assert_eq!(
            parse_answer(" FAIL 画面が黒い "),
            Some((WitnessAnswer::Fail, Some("画面が黒い".into())))
        );
        assert_eq!(
            parse_answer("n/a: no console"),
            Some((WitnessAnswer::NotApplicable, Some("no console".into())))
        );
        assert_eq!(parse_answer("maybe"), None);
        assert_eq!(parse_answer(""), None);
    }

    #[test]
    fn an_answer_line_is_recorded_and_junk_is_asked_again() {
        let r = answer_from(b"what?\nfail black screen\n", 5000);
        assert_eq!(r.answer, WitnessAnswer::Fail);
        assert_eq!(r.comment.as_deref(), Some("black screen"));
        assert_eq!(r.operator.as_deref(), Some("山田"));
        assert!(r.answered_at.is_some());
    }

    #[test]
    fn end_of_input_is_an_error_not_a_pass() {
        let r = answer_from(b"", 5000);
        assert_eq!(r.answer, WitnessAnswer::Error);
        assert!(r.comment.unwrap().contains("closed"));
        let r = answer_from(b"hmm\n", 5000);
        assert_eq!(r.answer, WitnessAnswer::Error);
    }

    #[test]
    fn silence_until_the_timeout_is_an_error() {
        // A reader that never yields a line: the channel's sender stays alive.
        let (_tx, rx) = mpsc::channel::<String>();
        let mut out = Vec::new();
        let r = ask(&step(50), &asking(None), &rx, &mut out, &|| false);
        assert_eq!(r.answer, WitnessAnswer::Error);
        assert!(r.comment.unwrap().contains("within 50 ms"));
        let shown = String::from_utf8(out).unwrap();
        assert!(shown.contains("指令台"), "{shown}");
    }

    #[test]
    fn shipped_witness_and_acceptance_scenarios_parse() {
        let w = crate::config::scenario::Scenario::parse(
            include_str!("../../../scenarios/witness.toml"),
            "scenarios/witness.toml",
        )
        .unwrap();
        assert_eq!(w.witness.len(), 5);
        assert!(w.witness.iter().all(|s| s.question_ja.ends_with('？')));
        let a = crate::config::scenario::Scenario::parse(
            include_str!("../../../scenarios/acceptance.toml"),
            "scenarios/acceptance.toml",
        )
        .unwrap();
        assert!(a.witness.is_empty());
        assert!(
            a.screen.contention_trials
                > crate::config::scenario::ScreenScenario::default().contention_trials
        );
    }

    #[test]
    fn a_witness_step_with_a_foreign_check_names_its_key() {
        let src = "name = \"x\"\n[[witness]]\nid = \"W\"\ncondition = \"1-2-1\"\ncheck = \"DO-01\"\nquestion_ja = \"?\"\nquestion_en = \"?\"\n";
        // The scenario parses; the catalog says the check is foreign.
        let sc = crate::config::scenario::Scenario::parse(src, "s.toml").unwrap();
        let (key, message) = crate::checks::witness_steps_fit(&sc.witness).unwrap_err();
        assert_eq!(key, "witness[0].check");
        assert_eq!(message, "DO-01 belongs to 1-3-1, not to 1-2-1");
    }

    #[test]
    fn an_interrupted_question_is_an_error() {
        let (_tx, rx) = mpsc::channel::<String>();
        let mut out = Vec::new();
        let r = ask(&step(60_000), &asking(None), &rx, &mut out, &|| true);
        assert_eq!(r.answer, WitnessAnswer::Error);
        assert_eq!(r.comment.as_deref(), Some(INTERRUPTED));
    }

    #[test]
    fn validation_rejects_mismatched_checks_and_duplicates() {
        let mut s = step(1000);
        s.check = Some(CheckId::Do01);
        let fit = crate::checks::witness_steps_fit(std::slice::from_ref(&s));
        assert_eq!(fit.unwrap_err().0, "witness[0].check");
        assert!(crate::checks::witness_steps_fit(&[step(1000)]).is_ok());
        assert_eq!(
            validate(&[step(1000), step(1000)]).unwrap_err().0,
            "witness[1].id"
        );
        assert_eq!(validate(&[step(0)]).unwrap_err().0, "witness[0].timeout_ms");
        assert!(validate(&[step(1000)]).is_ok());
    }

    #[test]
    fn fail_fails_the_condition_and_error_makes_a_pass_inconclusive() {
        let outcome = crate::sinks::report::tests::sample_outcome();
        let mut r = Report::from_outcome(&outcome);
        // In the sample, 1-2-2 passes and 1-3-1 passes.
        let rec = |a| WitnessRecord {
            answer: a,
            ..not_asked(&step(1000), "x")
        };
        apply(
            &mut r,
            &outcome,
            vec![
                (ConditionId::C1_2_2, rec(WitnessAnswer::Fail)),
                (ConditionId::C1_3_1, rec(WitnessAnswer::Error)),
                (ConditionId::C1_2_1, rec(WitnessAnswer::Pass)),
            ],
        );
        let v = |id| r.conditions.iter().find(|c| c.id == id).unwrap();
        assert_eq!(v(ConditionId::C1_2_2).verdict, ConditionVerdict::Fail);
        assert_eq!(
            v(ConditionId::C1_3_1).verdict,
            ConditionVerdict::Inconclusive
        );
        // A pass cannot lift the failing condition.
        assert_eq!(v(ConditionId::C1_2_1).verdict, ConditionVerdict::Fail);
        assert_eq!(v(ConditionId::C1_2_1).witness.len(), 1);
        assert_eq!(r.metrics.conditions["fail"], 2);
        assert_eq!(r.metrics.conditions["inconclusive"], 1);
    }
}
