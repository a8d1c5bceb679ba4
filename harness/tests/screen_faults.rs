//! The screen fault matrix: for every screen fault of the mock terminal and
//! both exclusivity policies, the screen checks run in execution order
//! against a fresh mock carrying that fault, and the exact set of checks that
//! do not pass is pinned. Every check can fail, and no check fails (or
//! errs) beyond the pinned set. The same holds for the mock's screen modes
//! that behave like real terminals (a cell blinking on its own, a screen
//! that reacts to where the pointer is, a pointer sprite drawn into the
//! image), alone and together with `ignore-input`.

mod screen_support;
use screen_support::run_in_order;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use s301_harness::binding::rfb::RfbBinding;
use s301_harness::checks::{CheckCtx, Outcome, Shared};
use s301_harness::config::declaration::Declaration;
use s301_harness::config::scenario::{DataScenario, OperationScenario, Scenario, ScreenScenario};
use s301_harness::model::ids::CheckId;
use s301_harness::model::verdict::Verdict;
use s301_mocks::{Exclusivity, Fault, MockConfig, MockTerminal, PointerSprite, ScreenMode};

/// Short durations: the whole matrix runs in well under two minutes.
fn scenario() -> Scenario {
    Scenario {
        name: "screen-faults-test".into(),
        description: String::new(),
        screen: ScreenScenario {
            connect_timeout_ms: 5000,
            update_timeout_ms: 5000,
            // Longer than the mock's 500 ms input-from-displaced window, so
            // that fault is judged on input, not on a slow refusal.
            exclusivity_timeout_ms: 1500,
            quiet_ms: 100,
            sustain_ms: 400,
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
            control_ms: 300,
            unserved_watch_ms: 300,
            latency_samples: 4,
            latency_p50_ms: 1000,
            latency_p95_ms: 2000,
        },
        data: DataScenario::default(),
        witness: Vec::new(),
    }
}

/// How many cases run at once.
const CONCURRENT_CASES: usize = 7;

/// What a case must show: every listed check has the listed verdict, every
/// other screen check passes.
type Expected = &'static [(CheckId, Verdict)];

const F: Verdict = Verdict::Fail;
const E: Verdict = Verdict::Error;

/// How the mock's screen behaves besides its faults.
#[derive(Debug, Clone, Copy, Default)]
struct Modes {
    blink: bool,
    follow: bool,
    sprite: PointerSprite,
    /// A console's first full request is answered with the pointer's shape
    /// alone (TigerVNC's way); the image comes with the next request.
    shape_first: bool,
}

impl Modes {
    const BLINK: Modes = Modes {
        blink: true,
        follow: false,
        sprite: PointerSprite::Off,
        shape_first: false,
    };
    const FOLLOW: Modes = Modes {
        blink: false,
        follow: true,
        sprite: PointerSprite::Off,
        shape_first: false,
    };
    const SPRITE: Modes = Modes {
        blink: false,
        follow: false,
        sprite: PointerSprite::Always,
        shape_first: false,
    };
    const SPRITE_UNLESS_ASKED: Modes = Modes {
        blink: false,
        follow: false,
        sprite: PointerSprite::UnlessCursorEncoding,
        shape_first: false,
    };
    const SHAPE_AND_DRAWN: Modes = Modes {
        blink: false,
        follow: false,
        sprite: PointerSprite::ShapeAndDrawn,
        shape_first: false,
    };
    const SHAPE_FIRST: Modes = Modes {
        blink: false,
        follow: false,
        sprite: PointerSprite::UnlessCursorEncoding,
        shape_first: true,
    };

    fn name(&self) -> String {
        let mut v = Vec::new();
        if self.blink {
            v.push("blink".to_string());
        }
        if self.follow {
            v.push("pointer-follow".to_string());
        }
        if self.sprite != PointerSprite::Off {
            v.push(format!("sprite-{:?}", self.sprite));
        }
        if self.shape_first {
            v.push("shape-first".to_string());
        }
        v.join("+")
    }
}

/// One pinned case.
struct Case {
    faults: Vec<Fault>,
    modes: Modes,
    policy: Exclusivity,
    expected: Expected,
}

impl Case {
    fn name(&self) -> String {
        let mut parts: Vec<String> = self.faults.iter().map(|f| f.name().to_string()).collect();
        let m = self.modes.name();
        if !m.is_empty() {
            parts.push(m);
        }
        if parts.is_empty() {
            parts.push("clean".into());
        }
        format!("{} / {}", parts.join("+"), self.policy)
    }
}

/// The mock's screen modes, clean and with `ignore-input`, under both
/// policies. A mode alone passes everything; with `ignore-input` the input
/// checks fail exactly as without the mode: a blinking cell, a pointer
/// sprite moving or a crosshair that would follow the pointer are never
/// taken for the terminal's reaction.
fn mode_cases() -> Vec<Case> {
    use CheckId::*;
    let ignored: Expected = &[(St03, E), (Op01, F), (Op02, F), (Op04, F)];
    let mut v = Vec::new();
    for policy in [Exclusivity::Refuse, Exclusivity::Takeover] {
        for modes in [
            Modes::BLINK,
            Modes::FOLLOW,
            Modes::SPRITE,
            Modes::SPRITE_UNLESS_ASKED,
            Modes::SHAPE_FIRST,
            Modes::SHAPE_AND_DRAWN,
        ] {
            v.push(Case {
                faults: Vec::new(),
                modes,
                policy,
                expected: &[],
            });
            v.push(Case {
                faults: vec![Fault::IgnoreInput],
                modes,
                policy,
                expected: ignored,
            });
        }
    }
    v
}

/// Every pinned case: the fault matrix, then the screen modes.
fn cases() -> Vec<Case> {
    let mut v: Vec<Case> = matrix()
        .into_iter()
        .map(|(f, policy, expected)| Case {
            faults: vec![f],
            modes: Modes::default(),
            policy,
            expected,
        })
        .collect();
    v.extend(mode_cases());
    v
}

/// The pinned matrix: (fault, policy, checks that do not pass).
fn matrix() -> Vec<(Fault, Exclusivity, Expected)> {
    use CheckId::*;
    use Exclusivity::{Refuse, Takeover};
    vec![
        // share-screen admits and serves every console.
        // EX-01: under refuse B is served beside A; under takeover A is never
        //   closed and answers a request written after B was served.
        // EX-03: in the trials where the first console still pings after the
        //   second was served, that answer proves both were served.
        // OP-03: the second console is served too, so its input (refuse:
        //   B's; takeover: displaced A's) reaches the screen the holder sees:
        //   two consoles operate the terminal at once.
        // EX-04: every console of a storm is served; those still pinging
        //   after another was served prove it.
        (
            Fault::ShareScreen,
            Refuse,
            &[(Op03, F), (Ex01, F), (Ex03, F), (Ex04, F)],
        ),
        (
            Fault::ShareScreen,
            Takeover,
            &[(Op03, F), (Ex01, F), (Ex03, F), (Ex04, F)],
        ),
        // stuck-lock: after EX-02's dropped holder nobody is admitted again,
        // so EX-02 fails (phase "dropped") and EX-03 and EX-04, which run
        // after it, never get a console served.
        (Fault::StuckLock, Refuse, &[(Ex02, F), (Ex03, F), (Ex04, F)]),
        (
            Fault::StuckLock,
            Takeover,
            &[(Ex02, F), (Ex03, F), (Ex04, F)],
        ),
        // stale-lock-check: the lock checks a newcomer against the console
        // it last turned away (refused, or displaced before it was shown
        // anything) instead of the holder, when the newcomer was already
        // connecting at that moment. That takes three consoles connecting at
        // once, which only EX-04's storms bring: several are let in beside
        // the holder. EX-01..EX-03 and OP-03 use two consoles, and a console
        // that tries again connects after its answer, so none of them meets
        // the fault.
        (Fault::StaleLockCheck, Refuse, &[(Ex04, F)]),
        (Fault::StaleLockCheck, Takeover, &[(Ex04, F)]),
        // ignore-input: no probe changes the screen: OP-01, OP-02 and OP-04
        // (no latency sample can be taken) fail. ST-03 needs input to change
        // the screen before it can compare incremental and full images, so
        // it cannot judge: error, not pass.
        (
            Fault::IgnoreInput,
            Refuse,
            &[(St03, E), (Op01, F), (Op02, F), (Op04, F)],
        ),
        (
            Fault::IgnoreInput,
            Takeover,
            &[(St03, E), (Op01, F), (Op02, F), (Op04, F)],
        ),
        // input-from-displaced: the refused (refuse) or displaced (takeover)
        // console's input is still applied for 500 ms: OP-03 only. EX-01
        // passes: the refused console is closed and never served, the
        // displaced one gets no more updates and is closed within the window.
        (Fault::InputFromDisplaced, Refuse, &[(Op03, F)]),
        (Fault::InputFromDisplaced, Takeover, &[(Op03, F)]),
        // rect-out-of-bounds: full answers carry a rectangle past the right
        // edge: ST-02 only (ST-04 records such rectangles in its evidence;
        // bounds are ST-02's requirement).
        (Fault::RectOutOfBounds, Refuse, &[(St02, F)]),
        (Fault::RectOutOfBounds, Takeover, &[(St02, F)]),
        // unrequested-encoding: Hextile whatever was asked: ST-02's
        // single-encoding rounds catch it; every other check asks for the
        // preference list, which includes Hextile.
        (Fault::UnrequestedEncoding, Refuse, &[(St02, F)]),
        (Fault::UnrequestedEncoding, Takeover, &[(St02, F)]),
        // stale-incremental: incremental answers drop the bottom quarter of
        // each change: ST-03 only (OP probes still see the top of the change).
        (Fault::StaleIncremental, Refuse, &[(St03, F)]),
        (Fault::StaleIncremental, Takeover, &[(St03, F)]),
        // stall-after: every session stops answering requests once it has
        // been served for STALL_AFTER; only ST-04 keeps one session that
        // long (its sustain time is raised past it for this case).
        (Fault::StallAfter, Refuse, &[(St04, F)]),
        (Fault::StallAfter, Takeover, &[(St04, F)]),
    ]
}

/// With `stall-after`: how long the mock serves a session before it stalls.
/// Longer than any session of the other checks in [`scenario`].
const STALL_AFTER: Duration = Duration::from_millis(2500);

/// The scenario for a case: `stall-after` needs a sustained transfer that
/// outlasts [`STALL_AFTER`], and a shorter update timeout to fail in.
fn scenario_for(fault: Fault) -> Scenario {
    let mut sc = scenario();
    if fault == Fault::StallAfter {
        sc.screen.sustain_ms = 4000;
        sc.screen.update_timeout_ms = 1500;
    }
    sc
}

/// Runs the screen checks in order against a fresh mock with `faults` and
/// `modes`.
async fn run_case(
    faults: Vec<Fault>,
    modes: Modes,
    policy: Exclusivity,
) -> Vec<(CheckId, Outcome)> {
    let sc = match faults.first() {
        Some(f) => scenario_for(*f),
        None => scenario(),
    };
    let handle = MockTerminal::start(MockConfig {
        exclusivity: policy,
        faults,
        blink: modes.blink,
        screen_mode: if modes.follow {
            ScreenMode::PointerFollow
        } else {
            ScreenMode::Counter
        },
        pointer_sprite: modes.sprite,
        shape_first: modes.shape_first,
        stall_after: STALL_AFTER,
        // A small screen keeps whole-screen encoding cheap in debug builds,
        // so many cases can run at once without starving one another.
        width: 400,
        height: 300,
        ..MockConfig::default()
    })
    .await
    .expect("mock starts");
    let decl: Declaration =
        toml::from_str(&handle.declaration_toml(None)).expect("the mock's declaration parses");
    let screen = RfbBinding::from_decl(&decl.screen).expect("binding");
    let ctx = CheckCtx {
        declaration: Arc::new(decl),
        scenario: Arc::new(sc),
        seed: 301,
        screen: Arc::new(screen),
        data: None,
        shared: Mutex::new(Shared::default()),
    };
    let done = run_in_order(&ctx).await;
    handle.shutdown().await;
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_screen_fault_fails_exactly_its_pinned_checks() {
    let t0 = Instant::now();
    let cases = matrix();
    let all = self::cases();
    // Each brief-mapped check is in its fault's pinned set.
    let mapped: [(Fault, CheckId); 10] = [
        (Fault::ShareScreen, CheckId::Ex01),
        (Fault::StuckLock, CheckId::Ex02),
        (Fault::StaleLockCheck, CheckId::Ex04),
        (Fault::IgnoreInput, CheckId::Op01),
        (Fault::IgnoreInput, CheckId::Op02),
        (Fault::InputFromDisplaced, CheckId::Op03),
        (Fault::RectOutOfBounds, CheckId::St02),
        (Fault::UnrequestedEncoding, CheckId::St02),
        (Fault::StaleIncremental, CheckId::St03),
        (Fault::StallAfter, CheckId::St04),
    ];
    for (fault, id) in mapped {
        for (f, p, exp) in &cases {
            if *f == fault {
                assert!(
                    exp.iter().any(|(i, v)| *i == id && *v == Verdict::Fail),
                    "{} / {p}: pinned set lacks {}",
                    fault.name(),
                    id.as_str()
                );
            }
        }
    }
    // Every screen fault is covered under both policies.
    for fault in Fault::ALL.iter().filter(|f| f.is_screen()) {
        for policy in [Exclusivity::Refuse, Exclusivity::Takeover] {
            assert!(
                cases.iter().any(|(f, p, _)| f == fault && *p == policy),
                "{} / {policy} missing from the matrix",
                fault.name()
            );
        }
    }
    // Cases run concurrently, a few at a time: the mocks are independent.
    // Each case gets a runtime of its own: the mock encodes whole screens
    // synchronously inside its tasks, and sharing worker threads across
    // cases would let one case's encoding starve another's handshakes.
    let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_CASES));
    let mut tasks = Vec::new();
    for case in all {
        let limit = Arc::clone(&limit);
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore open");
            let started = Instant::now();
            let results = tokio::task::spawn_blocking(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(4)
                    .enable_all()
                    .build()
                    .expect("case runtime");
                // Every check bounds its own waits; this bound turns a
                // harness hang into a failure that names the case.
                let name = case.name();
                let r = rt.block_on(tokio::time::timeout(
                    Duration::from_secs(180),
                    run_case(case.faults.clone(), case.modes, case.policy),
                ));
                rt.shutdown_timeout(Duration::from_secs(2));
                let results =
                    r.unwrap_or_else(|_| panic!("{name}: the case did not finish within 180 s"));
                (case, results)
            })
            .await
            .expect("case thread");
            let (case, results) = results;
            eprintln!("{}: {:?}", case.name(), started.elapsed());
            (case, results)
        }));
    }
    let mut problems = Vec::new();
    for task in tasks {
        let (case, results) = task.await.expect("case task");
        let want: BTreeMap<CheckId, Verdict> = case.expected.iter().copied().collect();
        let got: BTreeMap<CheckId, Verdict> = results
            .iter()
            .filter(|(_, o)| o.verdict != Verdict::Pass)
            .map(|(id, o)| (*id, o.verdict))
            .collect();
        if want != got {
            let detail: Vec<String> = results
                .iter()
                .filter(|(id, o)| o.verdict != Verdict::Pass || want.contains_key(id))
                .map(|(id, o)| {
                    let mut line =
                        format!("  {} {}: {}", id.as_str(), o.verdict.as_str(), o.detail);
                    if want.get(id) != Some(&o.verdict) {
                        // Unexpected: show the evidence (bounded) to debug it.
                        let ev: String = o.evidence.to_string().chars().take(6000).collect();
                        line.push_str(&format!("\n    evidence: {ev}"));
                    }
                    line
                })
                .collect();
            problems.push(format!(
                "{}: expected {want:?}, got {got:?}\n{}",
                case.name(),
                detail.join("\n")
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    eprintln!("screen fault matrix: {:?}", t0.elapsed());
}
