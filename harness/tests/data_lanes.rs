//! Screen and data channels in one run: the runner's two lanes interleave
//! (data checks run while screen checks hold consoles), and neither lane's
//! verdicts depend on the other's timing: a mixed run gives the same
//! verdicts as a data-only and a screen-only run with the same seed.
#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure

mod data_support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use data_support::{ctx_with_screen, rig};
use s301_harness::binding::rfb::RfbBinding;
use s301_harness::checks::catalog;
use s301_harness::model::ids::CheckId;
use s301_harness::model::verdict::Verdict;
use s301_harness::run::runner::{
    self, AbortSignal, Lane, RunConfig, RunEvent, RunOutcome, RunSink, Selection,
};

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<(bool, CheckId)>>>);

impl RunSink for Recorder {
    fn on_event(&mut self, event: &RunEvent<'_>) {
        let mut v = self.0.lock().unwrap();
        match event {
            RunEvent::CheckStarted { id, .. } => v.push((true, *id)),
            RunEvent::CheckFinished { result, .. } => v.push((false, result.id)),
            _ => {}
        }
    }
}

async fn run(only: &[&str], seed: u64) -> (RunOutcome, Vec<(bool, CheckId)>) {
    let r = rig(vec![], |_| {}, seed).await;
    let screen = RfbBinding::from_decl(&r.ctx.declaration.screen).expect("screen binding");
    let ctx = ctx_with_screen(&r, Arc::new(screen), seed);
    let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
    let cfg = RunConfig {
        run_id: format!("lanes-{seed}"),
        selection: Selection::from_lists(&only, &[]).expect("selection"),
        abort: AbortSignal::new(),
        time_limit: None,
    };
    let mut rec = Recorder::default();
    let out = {
        // The runner itself tells the data channel when screen checks run.
        let mut sinks: [&mut dyn RunSink; 1] = [&mut rec];
        runner::run(catalog(), ctx, cfg, &mut sinks).await
    };
    r.shutdown().await;
    let events = rec.0.lock().unwrap().clone();
    (out, events)
}

fn verdicts(o: &RunOutcome, lane: Lane) -> BTreeMap<CheckId, Verdict> {
    CheckId::ALL
        .iter()
        .filter(|id| Lane::of(**id) == lane)
        .filter_map(|id| o.check(*id).map(|c| (*id, c.verdict)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lanes_interleave_and_judge_independently() {
    let seed = 4242;
    let (mixed, events) = run(&[], seed).await;

    // Interleaving: some data check started while a screen check was running.
    let mut screen_running = 0i32;
    let mut data_started_during_screen = Vec::new();
    for (started, id) in &events {
        match (Lane::of(*id), started) {
            (Lane::Screen, true) => screen_running += 1,
            (Lane::Screen, false) => screen_running = (screen_running - 1).max(0),
            (Lane::Data, true) if screen_running > 0 => data_started_during_screen.push(*id),
            _ => {}
        }
    }
    assert!(
        !data_started_during_screen.is_empty(),
        "the data lane never ran beside the screen lane: {events:?}"
    );

    // Every data check passes in the mixed run, and DR-02 recorded the overlap.
    let data_mixed = verdicts(&mixed, Lane::Data);
    assert_eq!(data_mixed.len(), 8);
    for (id, v) in &data_mixed {
        let c = mixed.check(*id).unwrap();
        assert_eq!(*v, Verdict::Pass, "{id}: {}", c.detail);
    }
    if data_started_during_screen.contains(&CheckId::Dr02) {
        let counts = &mixed.check(CheckId::Dr02).unwrap().evidence["counts"];
        assert!(counts["during_screen"].as_u64() > Some(0), "{counts}");
    }

    // The same seed without the other lane gives the same verdicts.
    let (data_only, _) = run(&["1-3-1", "1-3-2"], seed).await;
    assert_eq!(verdicts(&data_only, Lane::Data), data_mixed);
    // TLS-01 (informational 2-2-1) runs in the screen lane too.
    let (screen_only, _) = run(&["1-2-1", "1-2-2", "TLS-01"], seed).await;
    assert_eq!(
        verdicts(&screen_only, Lane::Screen),
        verdicts(&mixed, Lane::Screen)
    );
}
