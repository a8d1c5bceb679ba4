//! The live witness view's screen tap cannot change what a check sees:
//! with the tap installed and a reader copying and encoding frames a
//! thousand times a second (fifty times what the witness console does),
//! the in-memory terminal still passes every screen check under both
//! policies, and each fault still fails exactly its pinned checks. The
//! reader is shown frames all along, so the tap is really in the path.

mod screen_support;
use screen_support::run_in_order;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use s301_harness::binding::memory::screen::{MemoryConfig, MemoryFault, MemoryScreen};
use s301_harness::binding::tap::{self, ScreenTap};
use s301_harness::checks::{CheckCtx, Shared};
use s301_harness::config::declaration::{Declaration, Exclusivity};
use s301_harness::config::scenario::{OperationScenario, Scenario, ScreenScenario};
use s301_harness::model::ids::CheckId;
use s301_harness::model::verdict::Verdict;
use s301_harness::sinks::witness_ui::frames::Frames;

/// The checks a case fails, with their verdicts; every other one passes.
type Pinned = &'static [(CheckId, Verdict)];

fn scenario() -> Scenario {
    Scenario {
        name: "screen-tap-test".into(),
        description: String::new(),
        screen: ScreenScenario {
            connect_timeout_ms: 2000,
            update_timeout_ms: 2000,
            exclusivity_timeout_ms: 1500,
            quiet_ms: 50,
            sustain_ms: 300,
            sustain_interval_ms: 20,
            contention_trials: 6,
            contention_max_offset_ms: 30,
            contention_max_hold_ms: 60,
            contention_trial_timeout_ms: 1500,
            storm_consoles: 8,
            storm_window_ms: 200,
            storm_max_hold_ms: 150,
            ..ScreenScenario::default()
        },
        operation: OperationScenario {
            change_timeout_ms: 1000,
            control_ms: 200,
            unserved_watch_ms: 300,
            latency_samples: 4,
            latency_p50_ms: 1000,
            latency_p95_ms: 2000,
        },
        ..Scenario::default_embedded().expect("the default scenario parses")
    }
}

async fn verdicts(
    policy: Exclusivity,
    fault: Option<MemoryFault>,
) -> Vec<(CheckId, Verdict, String)> {
    let screen = MemoryScreen::new(MemoryConfig {
        policy,
        faults: fault.into_iter().collect(),
        ..MemoryConfig::default()
    })
    .expect("a valid in-memory terminal");
    let decl: Declaration =
        toml::from_str(&screen.declaration_toml()).expect("the memory declaration parses");
    let ctx = CheckCtx {
        declaration: Arc::new(decl),
        scenario: Arc::new(scenario()),
        seed: 301,
        screen: Arc::new(screen),
        data: None,
        shared: Mutex::new(Shared::default()),
    };
    run_in_order(&ctx)
        .await
        .into_iter()
        .map(|(id, o)| (id, o.verdict, o.detail))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_reader_of_the_tap_changes_no_verdict() {
    let t = Arc::new(ScreenTap::new());
    assert!(
        tap::install(t.clone()),
        "this test binary installs the tap once"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let shown = Arc::new(AtomicU64::new(0));
    let reader = {
        let (stop, shown) = (stop.clone(), shown.clone());
        std::thread::spawn(move || {
            let frames = Frames::new();
            let (mut session, mut version) = (0, 0);
            while !stop.load(Ordering::Relaxed) {
                frames.pump(&t);
                if let Some(f) = frames.frame(session, version) {
                    (session, version) = (f.session, f.version);
                    shown.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    use CheckId::*;
    use Verdict::{Error as E, Fail as F};
    let cases: [(Option<MemoryFault>, Pinned); 3] = [
        (None, &[]),
        (
            Some(MemoryFault::IgnoreInput),
            &[(St03, E), (Op01, F), (Op02, F), (Op04, F)],
        ),
        (
            Some(MemoryFault::ShareScreen),
            &[(Op03, F), (Ex01, F), (Ex03, F), (Ex04, F)],
        ),
    ];
    let mut bad = Vec::new();
    for (fault, pinned) in cases {
        for policy in [Exclusivity::Refuse, Exclusivity::Takeover] {
            for (id, v, detail) in verdicts(policy, fault).await {
                let want = pinned
                    .iter()
                    .find(|(p, _)| *p == id)
                    .map_or(Verdict::Pass, |(_, v)| *v);
                if v != want {
                    bad.push(format!(
                        "{fault:?} {policy:?} {id}: {v:?} (want {want:?}): {detail}"
                    ));
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().expect("the reader thread");
    assert!(bad.is_empty(), "{bad:#?}");
    assert!(
        shown.load(Ordering::Relaxed) > 10,
        "the reader was shown {} frames",
        shown.load(Ordering::Relaxed)
    );
}
