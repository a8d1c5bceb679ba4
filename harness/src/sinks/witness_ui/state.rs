//! What the witness console shows and takes: the run's checks and
//! verdicts, the questions with their evidence, and the answers given in
//! the browser (validated, first answer wins).

use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::sync::watch;

use super::frames::Frames;
use super::UiConfig;
use crate::binding::tap::ScreenTap;
use crate::config::witness::{WitnessStep, MAX_ANSWER_BYTES};
use crate::model::ids::CheckId;
use crate::model::lang::Lang;
use crate::model::time::rfc3339_ms;
use crate::run::events::RunEvent;
use crate::sinks::witness::{answer_word, bundle, Bundle, Given, WitnessAnswer, WitnessRecord};

/// Transcript lines shown at most.
pub const TAIL_LINES: usize = 12;

/// Bytes read from the end of `transcript.jsonl` for its tail.
const TAIL_BYTES: u64 = 16 * 1024;

#[derive(Debug, Clone)]
struct CheckView {
    id: CheckId,
    running: bool,
    verdict: Option<String>,
    detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Its check has not finished.
    Waiting,
    /// Shown, no answer yet.
    Open,
    /// Answered in the browser; the record takes it when the question is asked.
    Answered,
    /// In the record.
    Closed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Waiting => "waiting",
            Status::Open => "open",
            Status::Answered => "answered",
            Status::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone)]
struct Question {
    step: WitnessStep,
    status: Status,
    shown_at: Option<OffsetDateTime>,
    bundle: Option<Bundle>,
    given: Option<Given>,
    taken: bool,
    kept: Option<WitnessRecord>,
}

#[derive(Debug, Default)]
struct State {
    version: u64,
    run_id: String,
    scenario: String,
    checks: Vec<CheckView>,
    questions: Vec<Question>,
    finished: bool,
    recorded: Option<String>,
}

/// Why an answer from the browser was refused; shown in both languages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// The body is not the JSON the page sends.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// No such question.
    #[error("no question {0}")]
    Unknown(String),
    /// Its check has not finished: nothing to judge yet.
    #[error("question {0} is not open yet")]
    NotOpen(String),
    /// Answered already (here or on standard input).
    #[error("question {0} is answered already")]
    Answered(String),
    /// The answer is not pass, fail or n/a.
    #[error("not an answer: {0}")]
    NotAnAnswer(String),
    /// The comment is too long.
    #[error("comment longer than {MAX_ANSWER_BYTES} bytes")]
    TooLong,
}

impl AnswerError {
    /// The message in both languages, `lang`'s first.
    pub fn message(&self, lang: Lang) -> String {
        let ja = match self {
            AnswerError::Malformed(_) => "回答の形式が正しくありません".to_string(),
            AnswerError::Unknown(id) => format!("質問 {id} はありません"),
            AnswerError::NotOpen(id) => {
                format!("質問 {id} はまだ開かれていません（対応する確認項目が終わっていません）")
            }
            AnswerError::Answered(id) => format!("質問 {id} は回答済みです"),
            AnswerError::NotAnAnswer(a) => format!(
                "「{a}」は回答ではありません。pass（合格）、fail（不合格）、n/a（該当なし）から選んでください"
            ),
            AnswerError::TooLong => format!("コメントは {MAX_ANSWER_BYTES} バイト以内にしてください"),
        };
        let en = match self {
            AnswerError::NotAnAnswer(a) => {
                format!("\"{a}\" is not an answer: choose pass, fail or n/a")
            }
            e => e.to_string(),
        };
        match lang {
            Lang::En => format!("{en} / {ja}"),
            Lang::Ja => format!("{ja} / {en}"),
        }
    }
}

/// The console's shared state: the run as the page shows it, the live
/// screen, and the answers given.
pub struct Hub {
    cfg: UiConfig,
    state: Mutex<State>,
    changed: watch::Sender<u64>,
    /// The live screen.
    pub frames: Frames,
    /// The screen tap the run's consoles report to.
    pub tap: Arc<ScreenTap>,
}

impl Hub {
    /// A console for `cfg`, fed from `tap`.
    pub fn new(cfg: UiConfig, tap: Arc<ScreenTap>) -> Hub {
        let questions = cfg
            .steps
            .iter()
            .map(|s| Question {
                step: s.clone(),
                status: Status::Waiting,
                shown_at: None,
                bundle: None,
                given: None,
                taken: false,
                kept: None,
            })
            .collect();
        Hub {
            cfg,
            state: Mutex::new(State {
                questions,
                ..State::default()
            }),
            changed: watch::channel(0).0,
            frames: Frames::new(),
            tap,
        }
    }

    /// The page's first language.
    pub fn lang(&self) -> Lang {
        self.cfg.lang
    }

    /// The run directory.
    pub fn run_dir(&self) -> &std::path::Path {
        &self.cfg.run_dir
    }

    /// Watches the state's version.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        let v = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut s);
            s.version += 1;
            s.version
        };
        self.changed.send_replace(v);
    }

    pub(super) fn on_event(&self, event: &RunEvent<'_>) {
        match event {
            RunEvent::RunStarted(info) => {
                let (id, scenario) = (info.id.clone(), info.scenario.clone());
                let checks = info
                    .selected
                    .iter()
                    .map(|id| CheckView {
                        id: *id,
                        running: false,
                        verdict: None,
                        detail: String::new(),
                    })
                    .collect();
                self.update(|s| {
                    s.run_id = id;
                    s.scenario = scenario;
                    s.checks = checks;
                });
            }
            RunEvent::CheckStarted { id, .. } => self.update(|s| {
                if let Some(c) = s.checks.iter_mut().find(|c| c.id == *id) {
                    c.running = true;
                }
            }),
            RunEvent::CheckFinished { result, .. } => {
                // The evidence folder is on disk already (the record's sinks
                // come first); read it before taking the lock.
                let opens = self.cfg.steps.iter().any(|s| s.check == Some(result.id));
                let b = opens.then(|| bundle(&self.cfg.run_dir, Some(result.id), &result.evidence));
                let now = OffsetDateTime::now_utc();
                self.update(|s| {
                    if let Some(c) = s.checks.iter_mut().find(|c| c.id == result.id) {
                        c.running = false;
                        c.verdict = Some(result.verdict.as_str().to_string());
                        c.detail = result.detail.chars().take(400).collect();
                    }
                    for q in &mut s.questions {
                        if q.step.check == Some(result.id) && q.status == Status::Waiting {
                            q.status = Status::Open;
                            q.shown_at = Some(now);
                            q.bundle = b.clone();
                        }
                    }
                });
            }
            RunEvent::RunFinished(_) => self.update(|s| s.finished = true),
        }
    }

    pub(super) fn recorded(&self, summary: &str) {
        let summary = summary.to_string();
        self.update(|s| s.recorded = Some(summary));
    }

    pub(super) fn open_question(&self, step: &WitnessStep, b: &Bundle) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        let mut shown = now;
        self.update(|s| {
            if let Some(q) = s.questions.iter_mut().find(|q| q.step.id == step.id) {
                if q.status == Status::Waiting {
                    q.status = Status::Open;
                }
                shown = *q.shown_at.get_or_insert(now);
                q.bundle = Some(b.clone());
            }
        });
        shown
    }

    pub(super) fn take_answer(&self, id: &str) -> Option<Given> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let q = s.questions.iter_mut().find(|q| q.step.id == id)?;
        if q.taken {
            return None;
        }
        let g = q.given.clone()?;
        q.taken = true;
        Some(g)
    }

    pub(super) fn settle_question(&self, rec: &WitnessRecord) {
        let rec = rec.clone();
        self.update(|s| {
            if let Some(q) = s.questions.iter_mut().find(|q| q.step.id == rec.id) {
                q.status = Status::Closed;
                q.taken = true;
                q.kept = Some(rec);
            }
        });
    }

    /// Takes an answer posted by the browser (`{"id", "answer", "comment"}`).
    pub fn answer(&self, body: &[u8]) -> Result<(), AnswerError> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| AnswerError::Malformed(e.to_string()))?;
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| AnswerError::Malformed("no id".into()))?
            .to_string();
        let word = v.get("answer").and_then(Value::as_str).unwrap_or("");
        let answer = match word {
            "pass" => WitnessAnswer::Pass,
            "fail" => WitnessAnswer::Fail,
            "n/a" => WitnessAnswer::NotApplicable,
            w => return Err(AnswerError::NotAnAnswer(w.chars().take(40).collect())),
        };
        let comment = match v.get("comment") {
            None | Some(Value::Null) => None,
            Some(Value::String(c)) => {
                if c.len() as u64 > MAX_ANSWER_BYTES {
                    return Err(AnswerError::TooLong);
                }
                let c: String = c
                    .chars()
                    .filter(|ch| !ch.is_control() || *ch == ' ')
                    .collect();
                let c = c.trim().to_string();
                (!c.is_empty()).then_some(c)
            }
            Some(_) => return Err(AnswerError::Malformed("comment is not text".into())),
        };
        let mut result = Ok(());
        self.update(|s| {
            let Some(q) = s.questions.iter_mut().find(|q| q.step.id == id) else {
                result = Err(AnswerError::Unknown(id.chars().take(40).collect()));
                return;
            };
            result = match q.status {
                Status::Waiting => Err(AnswerError::NotOpen(id.clone())),
                Status::Answered | Status::Closed => Err(AnswerError::Answered(id.clone())),
                Status::Open => {
                    q.status = Status::Answered;
                    q.given = Some(Given {
                        answer,
                        comment,
                        at: OffsetDateTime::now_utc(),
                    });
                    Ok(())
                }
            };
        });
        result
    }

    /// The state as the page reads it, with its version.
    pub fn snapshot(&self) -> (u64, Value) {
        let consoles: Vec<Value> = self
            .tap
            .consoles()
            .into_iter()
            .map(|c| json!({"id": c.id, "label": c.label}))
            .collect();
        let shown = self.frames.console().map(|c| c.label);
        let tail = transcript_tail(&self.cfg.run_dir);
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let checks: Vec<Value> = s
            .checks
            .iter()
            .map(|c| {
                let d = crate::checks::def(c.id);
                json!({
                    "id": c.id.as_str(),
                    "condition": d.condition.as_str(),
                    "title": d.title,
                    "requirement_ja": d.requirement.ja,
                    "requirement_en": d.requirement.en,
                    "running": c.running,
                    "verdict": c.verdict,
                    "detail": c.detail,
                })
            })
            .collect();
        let questions: Vec<Value> = s
            .questions
            .iter()
            .map(|q| {
                let given = q.given.as_ref().map(|g| {
                    json!({"answer": answer_word(g.answer), "comment": g.comment, "at": rfc3339_ms(g.at)})
                });
                let kept = q.kept.as_ref().map(|k| {
                    json!({"answer": answer_word(k.answer), "comment": k.comment,
                           "answered_at": k.answered_at, "via": k.via, "who": k.operator})
                });
                json!({
                    "id": q.step.id,
                    "condition": q.step.condition.as_str(),
                    "check": q.step.check.map(|c| c.as_str()),
                    "question_ja": q.step.question_ja,
                    "question_en": q.step.question_en,
                    "status": q.status.as_str(),
                    "shown_at": q.shown_at.map(rfc3339_ms),
                    "evidence": q.bundle,
                    "given": given,
                    "kept": kept,
                })
            })
            .collect();
        let v = json!({
            "version": s.version,
            "run": {"id": s.run_id, "scenario": s.scenario, "dir": self.cfg.run_dir.display().to_string(),
                    "finished": s.finished, "recorded": s.recorded},
            "lang": self.cfg.lang.as_str(),
            "who": self.cfg.who,
            "consoles": consoles,
            "shown": shown,
            "checks": checks,
            "questions": questions,
            "transcript": tail,
        });
        (s.version, v)
    }
}

/// The last [`TAIL_LINES`] lines of the run's transcript, each in short.
fn transcript_tail(run_dir: &std::path::Path) -> Vec<String> {
    let path = run_dir.join(crate::binding::transcript::TRANSCRIPT_FILE);
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if f.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))
        .is_err()
    {
        return Vec::new();
    }
    let mut buf = Vec::new();
    if f.take(TAIL_BYTES).read_to_end(&mut buf).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().filter(|l| l.ends_with('}')).collect();
    lines
        .iter()
        .rev()
        .take(TAIL_LINES)
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| {
            let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            format!(
                "{:>10.1} {:<6} {:<10} {:<4} {}",
                v.get("t_ms").and_then(Value::as_f64).unwrap_or(0.0),
                s("check"),
                s("channel"),
                s("dir"),
                s("type")
            )
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::model::ids::ConditionId;

    fn hub() -> Hub {
        let step = WitnessStep {
            id: "W-03".into(),
            condition: ConditionId::C1_2_2,
            check: Some(CheckId::Op01),
            question_ja: "反映されましたか？".into(),
            question_en: "Did it show?".into(),
            timeout_ms: 1000,
        };
        Hub::new(
            UiConfig {
                run_dir: "/nonexistent".into(),
                steps: vec![step],
                lang: Lang::Ja,
                who: Some("立会 花子".into()),
            },
            Arc::new(ScreenTap::new()),
        )
    }

    fn result(id: CheckId) -> crate::run::events::CheckResult {
        crate::run::events::CheckResult {
            id,
            verdict: crate::model::verdict::Verdict::Pass,
            detail: "ok".into(),
            duration_ms: 1,
            evidence: json!({"changed_bbox": [1, 2, 3, 4]}),
            skip: None,
        }
    }

    #[test]
    fn a_question_opens_when_its_check_finishes_and_takes_one_answer() {
        let h = hub();
        let body = r#"{"id":"W-03","answer":"fail","comment":"画面が黒い"}"#.as_bytes();
        assert_eq!(h.answer(body), Err(AnswerError::NotOpen("W-03".into())));
        let r = result(CheckId::Op01);
        h.on_event(&RunEvent::CheckFinished {
            result: &r,
            index: 1,
            total: 1,
        });
        let (_, v) = h.snapshot();
        assert_eq!(v["questions"][0]["status"], "open");
        assert_eq!(v["questions"][0]["evidence"]["mark"], json!([1, 2, 3, 4]));
        assert_eq!(h.answer(body), Ok(()));
        assert_eq!(h.answer(body), Err(AnswerError::Answered("W-03".into())));
        let g = h.take_answer("W-03").unwrap();
        assert_eq!(g.answer, WitnessAnswer::Fail);
        assert_eq!(g.comment.as_deref(), Some("画面が黒い"));
        // Taken once.
        assert!(h.take_answer("W-03").is_none());
    }

    #[test]
    fn junk_answers_are_refused_in_both_languages() {
        let h = hub();
        let e = h.answer(br#"{"id":"W-03","answer":"maybe"}"#).unwrap_err();
        let m = e.message(Lang::Ja);
        assert!(m.starts_with("「maybe」は回答ではありません"), "{m}");
        assert!(m.contains("is not an answer"), "{m}");
        assert!(matches!(
            h.answer(b"{not json"),
            Err(AnswerError::Malformed(_))
        ));
        assert!(matches!(
            h.answer(br#"{"id":"W-99","answer":"pass"}"#),
            Err(AnswerError::Unknown(_))
        ));
        let long = format!(
            r#"{{"id":"W-03","answer":"pass","comment":"{}"}}"#,
            "x".repeat(5000)
        );
        assert_eq!(h.answer(long.as_bytes()), Err(AnswerError::TooLong));
    }
}
