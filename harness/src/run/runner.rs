//! The runner: decides which checks run and in what order, runs each one in
//! its own task under a time limit, and reports what happens to sinks.
//!
//! Checks run in two lanes at the same time, each check in the lane its
//! literal names ([`CheckDef::lane`]), phase by phase ([`CheckDef::phase`])
//! and within a phase in catalog order:
//! - the screen lane (1-2-1, 1-2-2 and TLS-01): the session and transfer
//!   checks, then operation, then exclusivity last, so a terminal wedged by
//!   a contention bug cannot hide the operation results;
//! - the data lane (1-3-1 and 1-3-2).
//!
//! A check whose prerequisite (`CheckDef::needs`) failed, errored or was
//! itself skipped for a prerequisite is `skipped`, and its detail names the
//! prerequisite; a prerequisite left out of the selection does not count. A
//! check that panics or outlives its limit is an `error`, never a crash. An
//! abort ([`AbortSignal`]) cancels the running checks and marks the ones not
//! yet run as skipped; the run still finishes and is recorded.
//!
//! The runner does not print or write anything itself: it emits
//! [`RunEvent`]s to [`RunSink`]s (the CLI progress display, the report
//! writer ...).
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::checks::{CheckCtx, CheckDef, Outcome};
use crate::model::ids::CheckId;
use crate::model::verdict::{SkipReason, Verdict};

pub use super::abort::AbortSignal;
use super::events::judge_conditions;
pub use super::events::{
    fresh_run_id, judged_checks, new_run_id, random_seed, CheckResult, ConditionResult, RunConfig,
    RunEvent, RunInfo, RunOutcome, RunSink, RunStatus,
};
use super::plan::plan;
pub use super::plan::{time_limit, LIMIT_MARGIN, MAX_TIME_LIMIT, MIN_TIME_LIMIT};
pub use super::select::{Selection, SelectionError};
pub use crate::checks::Lane;

/// After cancelling a check's task, how long to wait for it to wind down
/// (drop its consoles) before the lane moves on.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// State shared by the two lanes.
struct Shared<'a, 'b> {
    sinks: Mutex<&'a mut [&'b mut dyn RunSink]>,
    results: Mutex<BTreeMap<CheckId, CheckResult>>,
    started: Mutex<usize>,
    finished: Mutex<usize>,
    /// Bumped whenever a result is recorded; cross-lane waits watch it.
    progress: watch::Sender<usize>,
    total: usize,
    /// Set when the abort signal cut a check short or kept one from running.
    aborted: AtomicBool,
}

impl Shared<'_, '_> {
    fn emit(&self, ev: &RunEvent<'_>) {
        let mut sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
        for s in sinks.iter_mut() {
            s.on_event(ev);
        }
    }

    fn started(&self, id: CheckId) {
        let index = {
            let mut n = self.started.lock().unwrap_or_else(|p| p.into_inner());
            *n += 1;
            *n
        };
        self.emit(&RunEvent::CheckStarted {
            id,
            index,
            total: self.total,
        });
    }

    fn finished(&self, mut result: CheckResult) {
        {
            let mut sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
            for s in sinks.iter_mut() {
                s.review(&mut result);
            }
        }
        if result.skip == Some(SkipReason::Aborted) {
            self.aborted.store(true, Ordering::Relaxed);
        }
        let index = {
            let mut n = self.finished.lock().unwrap_or_else(|p| p.into_inner());
            *n += 1;
            *n
        };
        self.emit(&RunEvent::CheckFinished {
            result: &result,
            index,
            total: self.total,
        });
        self.results
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(result.id, result);
        self.progress.send_modify(|n| *n += 1);
    }

    fn result(&self, id: CheckId) -> Option<(Verdict, Option<SkipReason>)> {
        self.results
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .map(|r| (r.verdict, r.skip.clone()))
    }
}

/// Runs the selected checks of `catalog` against the terminal in `ctx`.
///
/// Never fails: every problem becomes a check verdict. Sinks see every
/// event; the returned outcome is the same one `RunFinished` carried.
pub async fn run(
    catalog: Vec<CheckDef>,
    ctx: Arc<CheckCtx>,
    cfg: RunConfig,
    sinks: &mut [&mut dyn RunSink],
) -> RunOutcome {
    let started_at = OffsetDateTime::now_utc();
    let t0 = Instant::now();
    let info = RunInfo {
        id: cfg.run_id.clone(),
        started_at,
        seed: ctx.seed,
        scenario: ctx.scenario.name.clone(),
        partial: cfg.selection.is_partial(),
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        terminal: ctx.declaration.redacted(),
        selected: catalog
            .iter()
            .map(|c| c.id)
            .filter(|id| cfg.selection.includes(*id))
            .collect(),
        catalog: catalog.iter().map(|c| c.id).collect(),
    };
    let plan = plan(&catalog);
    let (progress, _) = watch::channel(0usize);
    let shared = Shared {
        sinks: Mutex::new(sinks),
        results: Mutex::new(BTreeMap::new()),
        started: Mutex::new(0),
        finished: Mutex::new(0),
        progress,
        total: info.selected.len(),
        aborted: AtomicBool::new(false),
    };
    shared.emit(&RunEvent::RunStarted(&info));

    let lane = |order: &[usize]| {
        let order = order.to_vec();
        let shared = &shared;
        let catalog = &catalog;
        let plan = &plan;
        let ctx = ctx.clone();
        let cfg = &cfg;
        async move {
            for i in order {
                let def = &catalog[i];
                run_step(def, &plan.needs[i], &ctx, cfg, shared).await;
            }
        }
    };
    tokio::join!(lane(&plan.screen), lane(&plan.data));

    let mut results = shared
        .results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    let checks: Vec<CheckResult> = catalog
        .iter()
        .map(|def| {
            results
                .remove(&def.id)
                .unwrap_or_else(|| CheckResult::skipped(def.id, SkipReason::Deselected))
        })
        .collect();
    let conditions = judge_conditions(&checks);
    let aborted = shared.aborted.load(Ordering::Relaxed);
    let outcome = RunOutcome {
        info,
        finished_at: OffsetDateTime::now_utc(),
        duration_ms: ms(t0.elapsed()),
        status: if aborted {
            RunStatus::Aborted
        } else {
            RunStatus::Completed
        },
        checks,
        conditions,
    };
    let sinks = shared.sinks.into_inner().unwrap_or_else(|p| p.into_inner());
    for s in sinks.iter_mut() {
        s.on_event(&RunEvent::RunFinished(&outcome));
    }
    outcome
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One check of a lane: selection, abort, prerequisites, then the run.
async fn run_step(
    def: &CheckDef,
    needs: &[CheckId],
    ctx: &Arc<CheckCtx>,
    cfg: &RunConfig,
    shared: &Shared<'_, '_>,
) {
    if !cfg.selection.includes(def.id) {
        return;
    }
    if cfg.abort.is_aborted() {
        shared.finished(CheckResult::skipped(def.id, SkipReason::Aborted));
        return;
    }
    for need in needs.iter().filter(|n| cfg.selection.includes(**n)) {
        let state = tokio::select! {
            s = wait_for_result(shared, *need) => s,
            _ = cfg.abort.aborted() => {
                shared.finished(CheckResult::skipped(def.id, SkipReason::Aborted));
                return;
            }
        };
        let why = match state {
            (Verdict::Fail, _) => "failed",
            (Verdict::Error, _) => "errored",
            (Verdict::Skipped, Some(SkipReason::Prerequisite(_))) => "was skipped",
            (Verdict::Skipped, Some(SkipReason::Aborted)) => {
                shared.finished(CheckResult::skipped(def.id, SkipReason::Aborted));
                return;
            }
            _ => continue,
        };
        shared.finished(CheckResult::skipped(
            def.id,
            SkipReason::Prerequisite(format!("{need} {why}")),
        ));
        return;
    }
    shared.started(def.id);
    let limit = cfg
        .time_limit
        .unwrap_or_else(|| time_limit(def, &ctx.scenario, &ctx.declaration));
    // The data channel notes which of its requests overlap screen transfer.
    let screen_data = match (Lane::of(def.id), &ctx.data) {
        (Lane::Screen, Some(d)) => Some(d.clone()),
        _ => None,
    };
    if let Some(d) = &screen_data {
        d.set_screen_lane_active(true);
    }
    let t = Instant::now();
    let (outcome, aborted) = run_guarded(def, ctx.clone(), limit, &cfg.abort).await;
    if let Some(d) = &screen_data {
        d.set_screen_lane_active(false);
    }
    if aborted {
        shared.aborted.store(true, Ordering::Relaxed);
    }
    shared.finished(CheckResult {
        id: def.id,
        verdict: outcome.verdict,
        detail: outcome.detail,
        duration_ms: ms(t.elapsed()),
        evidence: outcome.evidence,
        skip: None,
    });
}

async fn wait_for_result(shared: &Shared<'_, '_>, id: CheckId) -> (Verdict, Option<SkipReason>) {
    let mut rx = shared.progress.subscribe();
    loop {
        rx.borrow_and_update();
        if let Some(r) = shared.result(id) {
            return r;
        }
        if rx.changed().await.is_err() {
            // Cannot happen while `shared` lives; do not spin if it does.
            return (
                Verdict::Error,
                Some(SkipReason::Prerequisite(format!("{id} never finished"))),
            );
        }
    }
}

/// Runs the check in its own task so that a panic, a hang or an abort
/// cannot take the runner down. The flag tells whether the abort signal
/// cut it short.
async fn run_guarded(
    def: &CheckDef,
    ctx: Arc<CheckCtx>,
    limit: Duration,
    abort: &AbortSignal,
) -> (Outcome, bool) {
    let body = def.run;
    let id = def.id;
    let mut task = tokio::spawn(crate::binding::transcript::in_check(id, async move {
        body(&ctx).await
    }));
    let (outcome, aborted) = tokio::select! {
        joined = &mut task => return (match joined {
            Ok(outcome) => outcome,
            Err(e) if e.is_panic() => Outcome::error(
                format!("harness: check panicked: {}", panic_message(e.into_panic())),
                Value::Null,
            ),
            Err(_) => Outcome::error("harness: check task was cancelled", Value::Null),
        }, false),
        _ = tokio::time::sleep(limit) => (Outcome::error(
            format!("harness: check exceeded its time limit ({:.1} s)", limit.as_secs_f64()),
            json!({ "time_limit_ms": ms(limit) }),
        ), false),
        _ = abort.aborted() => (Outcome::error(
            "run aborted while this check was running",
            Value::Null,
        ), true),
    };
    task.abort();
    // Let the cancelled check drop its consoles before the lane moves on.
    let _ = tokio::time::timeout(CANCEL_GRACE, task).await;
    (outcome, aborted)
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::binding::{BoxFuture, Console, OpenError, ScreenBinding};
    use crate::checks::Shared as CheckShared;
    use crate::config::declaration::Declaration;
    use crate::config::scenario::Scenario;
    use crate::model::ids::ConditionId;
    use crate::model::verdict::ConditionVerdict;

    struct NoScreen;

    impl ScreenBinding for NoScreen {
        fn target(&self) -> String {
            "none".into()
        }
        fn open<'a>(
            &'a self,
            _label: &'a str,
            _timeout: Duration,
        ) -> BoxFuture<'a, Result<Console, OpenError>> {
            Box::pin(async { Err(OpenError::Harness("no screen in tests".into())) })
        }
    }

    const DECL: &str = r#"
[screen]
url = "ws://127.0.0.1:1/s3-01/v1/screen"
exclusivity = "refuse"
[operation]
supported = true
"#;

    fn ctx() -> Arc<CheckCtx> {
        Arc::new(CheckCtx {
            declaration: Arc::new(Declaration::parse(DECL, "t.toml").unwrap()),
            scenario: Arc::new(Scenario::parse("name = \"test\"", "s.toml").unwrap()),
            seed: 7,
            screen: Arc::new(NoScreen),
            data: None,
            shared: Mutex::new(CheckShared::default()),
        })
    }

    fn pass(_: &CheckCtx) -> BoxFuture<'_, Outcome> {
        Box::pin(async { Outcome::pass("ok", json!({"n": 1})) })
    }
    fn fail(_: &CheckCtx) -> BoxFuture<'_, Outcome> {
        Box::pin(async { Outcome::fail("broken", Value::Null) })
    }
    fn boom(_: &CheckCtx) -> BoxFuture<'_, Outcome> {
        Box::pin(async { panic!("kaboom") })
    }
    fn hang(_: &CheckCtx) -> BoxFuture<'_, Outcome> {
        Box::pin(async {
            std::future::pending::<()>().await;
            Outcome::pass("unreachable", Value::Null)
        })
    }
    fn not_applicable(_: &CheckCtx) -> BoxFuture<'_, Outcome> {
        Box::pin(async { Outcome::not_applicable("not declared") })
    }

    fn def(id: CheckId, needs: &'static [CheckId], run: crate::checks::RunFn) -> CheckDef {
        CheckDef {
            needs,
            run,
            ..*crate::checks::def(id)
        }
    }

    /// Every catalog id, passing, except the overrides.
    fn catalog_with(overrides: Vec<CheckDef>) -> Vec<CheckDef> {
        CheckId::ALL
            .iter()
            .map(|id| {
                overrides
                    .iter()
                    .find(|d| d.id == *id)
                    .map(|d| def(d.id, d.needs, d.run))
                    .unwrap_or_else(|| def(*id, &[], pass))
            })
            .collect()
    }

    #[derive(Default)]
    struct Recorder {
        lines: Vec<String>,
    }

    impl RunSink for Recorder {
        fn on_event(&mut self, ev: &RunEvent<'_>) {
            self.lines.push(match ev {
                RunEvent::RunStarted(info) => format!("run-started {}", info.selected.len()),
                RunEvent::CheckStarted { id, index, total } => {
                    format!("started {id} {index}/{total}")
                }
                RunEvent::CheckFinished {
                    result,
                    index,
                    total,
                } => format!(
                    "finished {} {} {index}/{total}",
                    result.id,
                    result.verdict.as_str()
                ),
                RunEvent::RunFinished(o) => format!("run-finished {}", o.status.as_str()),
            });
        }
    }

    async fn go(catalog: Vec<CheckDef>, selection: Selection) -> (RunOutcome, Recorder) {
        go_with(catalog, selection, AbortSignal::new()).await
    }

    async fn go_with(
        catalog: Vec<CheckDef>,
        selection: Selection,
        abort: AbortSignal,
    ) -> (RunOutcome, Recorder) {
        let mut rec = Recorder::default();
        let cfg = RunConfig {
            run_id: "test".into(),
            selection,
            abort,
            time_limit: Some(Duration::from_millis(300)),
        };
        let out = run(catalog, ctx(), cfg, &mut [&mut rec]).await;
        (out, rec)
    }

    fn verdict(o: &RunOutcome, id: CheckId) -> Verdict {
        o.check(id).map(|c| c.verdict).unwrap()
    }

    #[tokio::test]
    async fn all_passing_run_completes_with_exit_zero() {
        let (o, rec) = go(catalog_with(vec![]), Selection::all()).await;
        assert_eq!(o.status, RunStatus::Completed);
        assert!(o.checks.iter().all(|c| c.verdict == Verdict::Pass));
        assert_eq!(o.checks.len(), CheckId::ALL.len());
        assert!(o
            .conditions
            .iter()
            .all(|c| c.verdict == ConditionVerdict::Pass));
        assert_eq!(o.exit_code(), 0);
        assert_eq!(
            rec.lines.first().map(String::as_str),
            Some(format!("run-started {}", CheckId::ALL.len()).as_str())
        );
        assert_eq!(
            rec.lines.last().map(String::as_str),
            Some("run-finished completed")
        );
        let all = format!(" {0}/{0}", CheckId::ALL.len());
        assert!(rec
            .lines
            .iter()
            .any(|l| l.starts_with("finished ") && l.ends_with(&all)));
        assert!(!o.info.partial);
    }

    #[tokio::test]
    async fn screen_lane_runs_exclusivity_checks_last() {
        let (_, rec) = go(catalog_with(vec![]), Selection::all()).await;
        let screen_starts: Vec<String> = rec
            .lines
            .iter()
            .filter_map(|l| l.strip_prefix("started "))
            .map(|l| l.split(' ').next().unwrap_or("").to_string())
            .filter(|id| CheckId::parse(id).is_some_and(|c| Lane::of(c) == Lane::Screen))
            .collect();
        // Transfer (with TLS-01), then operation, then exclusivity.
        let expected = [
            "ST-01", "ST-02", "ST-03", "ST-04", "TLS-01", "OP-01", "OP-02", "OP-03", "OP-04",
            "EX-01", "EX-02", "EX-03", "EX-04",
        ];
        assert_eq!(screen_starts, expected);
    }

    #[tokio::test]
    async fn failed_prerequisite_skips_dependent_with_reason() {
        let cat = catalog_with(vec![
            def(CheckId::St01, &[], fail),
            def(CheckId::St02, &[CheckId::St01], pass),
            def(CheckId::St03, &[CheckId::St02], pass),
        ]);
        let (o, _) = go(cat, Selection::all()).await;
        let st02 = o.check(CheckId::St02).unwrap();
        assert_eq!(st02.verdict, Verdict::Skipped);
        assert_eq!(st02.detail, "prerequisite ST-01 failed");
        let st03 = o.check(CheckId::St03).unwrap();
        assert_eq!(st03.detail, "prerequisite ST-02 was skipped");
        assert_eq!(o.conditions[0].verdict, ConditionVerdict::Fail);
        assert_eq!(o.exit_code(), 1);
    }

    /// Turns every failure into an error, like the dead-terminal watch.
    struct FailIsError;

    impl RunSink for FailIsError {
        fn on_event(&mut self, _: &RunEvent<'_>) {}
        fn review(&mut self, result: &mut CheckResult) {
            if result.verdict == Verdict::Fail {
                result.verdict = Verdict::Error;
            }
        }
    }

    #[tokio::test]
    async fn a_reviewed_verdict_is_the_one_every_sink_and_the_outcome_see() {
        let cat = catalog_with(vec![
            def(CheckId::St01, &[], fail),
            def(CheckId::St02, &[CheckId::St01], pass),
        ]);
        let mut rec = Recorder::default();
        let mut review = FailIsError;
        let cfg = RunConfig {
            run_id: "test".into(),
            selection: Selection::all(),
            abort: AbortSignal::new(),
            time_limit: Some(Duration::from_millis(300)),
        };
        // The reviewer comes after the recorder: order does not matter.
        let o = run(cat, ctx(), cfg, &mut [&mut rec, &mut review]).await;
        assert!(
            rec.lines
                .iter()
                .any(|l| l.starts_with("finished ST-01 error")),
            "{:?}",
            rec.lines
        );
        assert_eq!(verdict(&o, CheckId::St01), Verdict::Error);
        // Prerequisites see the reviewed verdict too.
        assert_eq!(
            o.check(CheckId::St02).unwrap().detail,
            "prerequisite ST-01 errored"
        );
        assert_eq!(o.conditions[0].verdict, ConditionVerdict::Inconclusive);
    }

    #[tokio::test]
    async fn errored_prerequisite_makes_condition_inconclusive() {
        let cat = catalog_with(vec![
            def(CheckId::Do01, &[], boom),
            def(CheckId::Do02, &[CheckId::Do01], pass),
        ]);
        let (o, _) = go(cat, Selection::all()).await;
        assert_eq!(
            o.check(CheckId::Do02).unwrap().detail,
            "prerequisite DO-01 errored"
        );
        assert_eq!(o.conditions[2].verdict, ConditionVerdict::Inconclusive);
        assert_eq!(o.exit_code(), 3);
    }

    #[tokio::test]
    async fn deselected_prerequisite_does_not_skip() {
        let cat = catalog_with(vec![
            def(CheckId::St01, &[], fail),
            def(CheckId::St02, &[CheckId::St01], pass),
        ]);
        let sel = Selection::from_lists(&["ST-02".into()], &[]).unwrap();
        let (o, rec) = go(cat, sel).await;
        assert_eq!(verdict(&o, CheckId::St02), Verdict::Pass);
        let st01 = o.check(CheckId::St01).unwrap();
        assert_eq!(st01.verdict, Verdict::Skipped);
        assert_eq!(st01.skip, Some(SkipReason::Deselected));
        assert_eq!(o.conditions[0].verdict, ConditionVerdict::Pass);
        // Conditions none of whose checks ran are skipped, and do not count.
        assert_eq!(o.conditions[1].verdict, ConditionVerdict::Skipped);
        assert_eq!(o.conditions[3].verdict, ConditionVerdict::Skipped);
        assert_eq!(o.exit_code(), 0);
        assert!(o.info.partial);
        assert_eq!(rec.lines.first().map(String::as_str), Some("run-started 1"));
    }

    #[tokio::test]
    async fn panicking_check_is_an_error_not_a_crash() {
        let (o, _) = go(
            catalog_with(vec![def(CheckId::Op02, &[], boom)]),
            Selection::all(),
        )
        .await;
        let op02 = o.check(CheckId::Op02).unwrap();
        assert_eq!(op02.verdict, Verdict::Error);
        assert!(op02.detail.contains("panicked: kaboom"), "{}", op02.detail);
        // The lane went on.
        assert_eq!(verdict(&o, CheckId::Op03), Verdict::Pass);
        assert_eq!(o.status, RunStatus::Completed);
    }

    #[tokio::test]
    async fn hanging_check_times_out_as_error() {
        let (o, _) = go(
            catalog_with(vec![def(CheckId::St04, &[], hang)]),
            Selection::all(),
        )
        .await;
        let st04 = o.check(CheckId::St04).unwrap();
        assert_eq!(st04.verdict, Verdict::Error);
        assert!(
            st04.detail
                .starts_with("harness: check exceeded its time limit"),
            "{}",
            st04.detail
        );
        assert_eq!(verdict(&o, CheckId::Op01), Verdict::Pass);
        assert_eq!(o.exit_code(), 3);
    }

    #[tokio::test]
    async fn abort_cancels_running_and_skips_the_rest() {
        let abort = AbortSignal::new();
        let trigger = abort.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            trigger.abort();
        });
        let cat = catalog_with(vec![
            def(CheckId::St02, &[], hang),
            def(CheckId::Do01, &[], hang),
        ]);
        let (o, rec) = go_with(cat, Selection::all(), abort).await;
        assert_eq!(o.status, RunStatus::Aborted);
        assert_eq!(verdict(&o, CheckId::St01), Verdict::Pass);
        let st02 = o.check(CheckId::St02).unwrap();
        assert_eq!(st02.verdict, Verdict::Error);
        assert_eq!(st02.detail, "run aborted while this check was running");
        let st03 = o.check(CheckId::St03).unwrap();
        assert_eq!(st03.verdict, Verdict::Skipped);
        assert_eq!(st03.detail, "run aborted before this check ran");
        assert_eq!(verdict(&o, CheckId::Dr03), Verdict::Skipped);
        assert_eq!(o.exit_code(), 3);
        assert_eq!(
            rec.lines.last().map(String::as_str),
            Some("run-finished aborted")
        );
        // Every selected check still got a CheckFinished event.
        assert_eq!(
            rec.lines
                .iter()
                .filter(|l| l.starts_with("finished"))
                .count(),
            CheckId::ALL.len()
        );
    }

    #[tokio::test]
    async fn not_applicable_condition_does_not_fail_the_run() {
        let cat = catalog_with(vec![
            def(CheckId::Dr01, &[], not_applicable),
            def(CheckId::Dr02, &[], not_applicable),
            def(CheckId::Dr03, &[], not_applicable),
        ]);
        let (o, _) = go(cat, Selection::all()).await;
        assert_eq!(o.conditions[3].verdict, ConditionVerdict::NotApplicable);
        assert_eq!(o.exit_code(), 0);
    }

    #[tokio::test]
    async fn cross_lane_prerequisite_is_waited_for() {
        let cat = catalog_with(vec![
            def(CheckId::St01, &[], fail),
            def(CheckId::Dr02, &[CheckId::St01], pass),
        ]);
        let (o, _) = go(cat, Selection::all()).await;
        assert_eq!(
            o.check(CheckId::Dr02).unwrap().detail,
            "prerequisite ST-01 failed"
        );
    }

    #[test]
    fn plan_drops_prerequisites_it_cannot_honour() {
        // ST-01 needing EX-01 (later in its lane) and a cross-lane cycle.
        let cat = catalog_with(vec![
            def(CheckId::St01, &[CheckId::Ex01], pass),
            def(CheckId::St02, &[CheckId::Do02], pass),
            def(CheckId::Do01, &[CheckId::St03], pass),
        ]);
        let p = plan(&cat);
        let idx = |id| CheckId::ALL.iter().position(|c| *c == id).unwrap();
        assert!(p.needs[idx(CheckId::St01)].is_empty());
        // Exactly one of the two cross-lane edges can be kept.
        let kept = p.needs[idx(CheckId::St02)].len() + p.needs[idx(CheckId::Do01)].len();
        assert_eq!(kept, 1);
    }

    #[test]
    fn real_catalog_prerequisites_are_all_honoured() {
        let cat = crate::checks::catalog();
        let p = plan(&cat);
        for (i, def) in cat.iter().enumerate() {
            assert_eq!(p.needs[i], def.needs.to_vec(), "{}", def.id);
        }
    }

    #[test]
    fn selection_parses_ids_conditions_and_commas() {
        let s = Selection::from_lists(&["st-01, EX-01".into(), "1-3-2".into()], &["DR-03".into()])
            .unwrap();
        assert!(s.includes(CheckId::St01) && s.includes(CheckId::Ex01));
        assert!(s.includes(CheckId::Dr01) && !s.includes(CheckId::Dr03));
        assert!(!s.includes(CheckId::St02));
        assert!(s.is_partial());
        assert!(!Selection::all().is_partial());
        // The informational condition selects TLS-01.
        let s = Selection::from_lists(&["2-2-1".into()], &[]).unwrap();
        assert!(s.includes(CheckId::Tls01) && !s.includes(CheckId::St01));
    }

    #[test]
    fn selection_rejects_unknown_ids_and_empty_results() {
        let e = Selection::from_lists(&["ST-99".into()], &[]).unwrap_err();
        assert_eq!(
            e,
            SelectionError::UnknownId {
                flag: "--only",
                given: "ST-99".into()
            }
        );
        assert!(e.to_string().contains("s301 checks"));
        let e = Selection::from_lists(&["ST-01".into()], &["1-2-1".into()]).unwrap_err();
        assert_eq!(e, SelectionError::Empty);
    }

    #[test]
    fn time_limits_are_generous_but_bounded() {
        let decl = Declaration::parse(DECL, "t.toml").unwrap();
        let sc = Scenario::default_embedded().unwrap();
        for id in CheckId::ALL {
            let l = time_limit(crate::checks::def(*id), &sc, &decl);
            assert!(l >= MIN_TIME_LIMIT && l <= MAX_TIME_LIMIT, "{id}: {l:?}");
        }
        let mut soak = sc.clone();
        soak.screen.sustain_ms = 3_600_000;
        assert_eq!(
            time_limit(crate::checks::def(CheckId::St04), &soak, &decl),
            Duration::from_millis(3_600_000 + 5000 + 5000) + LIMIT_MARGIN
        );
    }

    #[test]
    fn run_ids_have_the_documented_shape() {
        let t = time::macros::datetime!(2026-11-27 17:15:00 UTC);
        let id = new_run_id(t);
        assert!(id.starts_with("20261127T171500Z-"), "{id}");
        assert_eq!(id.len(), "20261127T171500Z-".len() + 4);
        assert!(random_seed() < (1 << 53));
    }

    #[test]
    fn exit_codes_follow_the_run_contract() {
        let info = RunInfo {
            id: "x".into(),
            started_at: OffsetDateTime::UNIX_EPOCH,
            seed: 0,
            scenario: "s".into(),
            partial: false,
            harness_version: "0".into(),
            terminal: Value::Null,
            selected: vec![],
            catalog: vec![],
        };
        let with = |verdicts: &[ConditionVerdict], status| RunOutcome {
            info: info.clone(),
            finished_at: OffsetDateTime::UNIX_EPOCH,
            duration_ms: 0,
            status,
            checks: vec![],
            conditions: verdicts
                .iter()
                .zip(ConditionId::ALL)
                .map(|(v, id)| ConditionResult {
                    id,
                    verdict: *v,
                    checks: vec![],
                })
                .collect(),
        };
        use ConditionVerdict as C;
        use RunStatus as S;
        assert_eq!(
            with(&[C::Pass, C::NotApplicable, C::Skipped], S::Completed).exit_code(),
            0
        );
        assert_eq!(
            with(&[C::Pass, C::Fail, C::Inconclusive], S::Completed).exit_code(),
            1
        );
        assert_eq!(
            with(&[C::Pass, C::Inconclusive], S::Completed).exit_code(),
            3
        );
        assert_eq!(with(&[C::Pass], S::Aborted).exit_code(), 3);
        assert_eq!(with(&[C::Fail], S::Aborted).exit_code(), 1);
    }

    #[test]
    fn interim_outcome_marks_the_unfinished_checks_not_run() {
        let info = RunInfo {
            id: "x".into(),
            started_at: OffsetDateTime::now_utc(),
            seed: 0,
            scenario: "s".into(),
            partial: true,
            harness_version: "0".into(),
            terminal: Value::Null,
            selected: vec![CheckId::St01, CheckId::St02, CheckId::Do01],
            catalog: CheckId::ALL.to_vec(),
        };
        let mut results = BTreeMap::new();
        results.insert(
            CheckId::St01,
            CheckResult {
                id: CheckId::St01,
                verdict: Verdict::Pass,
                detail: "ok".into(),
                duration_ms: 5,
                evidence: Value::Null,
                skip: None,
            },
        );
        let o = RunOutcome::interim(&info, &results);
        assert_eq!(o.status, RunStatus::Aborted);
        assert_eq!(o.checks.len(), CheckId::ALL.len());
        let get = |id: CheckId| o.checks.iter().find(|c| c.id == id).unwrap();
        assert_eq!(get(CheckId::St01).verdict, Verdict::Pass);
        assert_eq!(get(CheckId::St02).skip, Some(SkipReason::Aborted));
        assert_eq!(get(CheckId::Do01).skip, Some(SkipReason::Aborted));
        assert_eq!(get(CheckId::Op01).skip, Some(SkipReason::Deselected));
        // 1-2-1 has a check that never ran: not a pass.
        let c121 = o
            .conditions
            .iter()
            .find(|c| c.id == ConditionId::C1_2_1)
            .unwrap();
        assert_eq!(c121.verdict, ConditionVerdict::Inconclusive);
        assert_eq!(o.exit_code(), 3);
    }
}
