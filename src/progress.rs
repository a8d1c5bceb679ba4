//! Progress while checks run: a live bar naming the running checks when
//! stdout is a terminal, one plain line per finished check otherwise
//! (`[ 3/19] ST-03 pass  (812 ms)  detail`).

use std::io::Write;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use s301_harness::model::ids::CheckId;
use s301_harness::model::lang::Lang;
use s301_harness::model::verdict::Verdict;
use s301_harness::run::runner::{CheckResult, RunEvent, RunSink};

use crate::text::one_line;

/// Longest detail shown on a progress line; the report has all of it.
const DETAIL_CHARS: usize = 160;

/// The line printed for a finished check, its verdict in `lang`.
pub fn check_line(result: &CheckResult, index: usize, total: usize, lang: Lang) -> String {
    let w = total.to_string().len();
    let detail = one_line(&result.detail, DETAIL_CHARS);
    let verdict = result.verdict.label(lang);
    if result.verdict == Verdict::Skipped {
        format!("[{index:>w$}/{total}] {} {verdict}  {detail}", result.id)
    } else {
        format!(
            "[{index:>w$}/{total}] {} {verdict}  ({} ms)  {detail}",
            result.id, result.duration_ms
        )
    }
}

enum Mode {
    /// A live bar on a terminal.
    Bar {
        bar: ProgressBar,
        running: Vec<CheckId>,
    },
    /// Plain lines to a writer.
    Plain(Box<dyn Write + Send>),
}

/// The progress display, a run sink.
pub struct Progress {
    mode: Mode,
    lang: Lang,
}

impl Progress {
    /// A bar on stdout if it is a terminal, plain lines otherwise.
    pub fn for_stdout(lang: Lang) -> Progress {
        use std::io::IsTerminal;
        if std::io::stdout().is_terminal() {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{pos:>2}/{len}] {elapsed:>4} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            Progress {
                mode: Mode::Bar {
                    bar,
                    running: Vec::new(),
                },
                lang,
            }
        } else {
            Progress::plain(Box::new(std::io::stdout()), lang)
        }
    }

    /// Plain lines to `out`.
    pub fn plain(out: Box<dyn Write + Send>, lang: Lang) -> Progress {
        Progress {
            mode: Mode::Plain(out),
            lang,
        }
    }
}

fn running_message(running: &[CheckId], lang: Lang) -> String {
    if running.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = running
            .iter()
            .map(|id| format!("{id} {}", s301_harness::checks::def(*id).title))
            .collect();
        format!("{} {}", lang.pick("running", "実行中"), names.join(" | "))
    }
}

impl RunSink for Progress {
    fn on_event(&mut self, event: &RunEvent<'_>) {
        let lang = self.lang;
        match (&mut self.mode, event) {
            (Mode::Bar { bar, .. }, RunEvent::RunStarted(info)) => {
                bar.set_length(info.selected.len() as u64);
                bar.enable_steady_tick(Duration::from_millis(120));
            }
            (Mode::Bar { bar, running }, RunEvent::CheckStarted { id, .. }) => {
                running.push(*id);
                bar.set_message(running_message(running, lang));
            }
            (
                Mode::Bar { bar, running },
                RunEvent::CheckFinished {
                    result,
                    index,
                    total,
                },
            ) => {
                running.retain(|r| *r != result.id);
                bar.println(check_line(result, *index, *total, lang));
                bar.inc(1);
                bar.set_message(running_message(running, lang));
            }
            (Mode::Bar { bar, .. }, RunEvent::RunFinished(_)) => bar.finish_and_clear(),
            (
                Mode::Plain(out),
                RunEvent::CheckFinished {
                    result,
                    index,
                    total,
                },
            ) => {
                let _ = writeln!(out, "{}", check_line(result, *index, *total, lang));
                let _ = out.flush();
            }
            (Mode::Plain(_), _) => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn result(id: CheckId, verdict: Verdict, detail: &str) -> CheckResult {
        CheckResult {
            id,
            verdict,
            detail: detail.into(),
            duration_ms: 812,
            evidence: serde_json::Value::Null,
            skip: None,
        }
    }

    #[test]
    fn lines_have_the_documented_shape() {
        let r = result(CheckId::St03, Verdict::Pass, "equal after 3 updates");
        assert_eq!(
            check_line(&r, 3, 19, Lang::En),
            "[ 3/19] ST-03 pass  (812 ms)  equal after 3 updates"
        );
        let s = result(CheckId::St02, Verdict::Skipped, "prerequisite ST-01 failed");
        assert_eq!(
            check_line(&s, 12, 19, Lang::En),
            "[12/19] ST-02 skipped  prerequisite ST-01 failed"
        );
        assert_eq!(
            check_line(&r, 3, 19, Lang::Ja),
            "[ 3/19] ST-03 合格  (812 ms)  equal after 3 updates"
        );
        let one = result(CheckId::Ex01, Verdict::Fail, "two consoles\nserved");
        assert_eq!(
            check_line(&one, 1, 1, Lang::En),
            "[1/1] EX-01 fail  (812 ms)  two consoles …"
        );
    }

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn plain_mode_prints_one_line_per_finished_check() {
        let buf = Buf::default();
        let mut p = Progress::plain(Box::new(buf.clone()), Lang::En);
        p.on_event(&RunEvent::CheckStarted {
            id: CheckId::St01,
            index: 1,
            total: 2,
        });
        let r = result(CheckId::St01, Verdict::Pass, "ok");
        p.on_event(&RunEvent::CheckFinished {
            result: &r,
            index: 1,
            total: 2,
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "[1/2] ST-01 pass  (812 ms)  ok\n");
    }
}
