//! Every screen check (1-2-1 and 1-2-2) passes against the conforming mock
//! terminal, under both exclusivity policies, through the default RFB binding;
//! and EX-03 holds over many trials. Speed is measured by the screen_perf bench.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use s301_harness::binding::rfb::RfbBinding;
use s301_harness::checks::{catalog, CheckCtx, Outcome, Shared};
use s301_harness::config::declaration::Declaration;
use s301_harness::config::scenario::{DataScenario, OperationScenario, Scenario, ScreenScenario};
use s301_harness::model::ids::CheckId;
use s301_harness::model::verdict::Verdict;
use s301_mocks::{Exclusivity, MockConfig, MockHandle, MockTerminal};

/// The screen checks in execution order.
const ORDER: [CheckId; 12] = [
    CheckId::St01,
    CheckId::St02,
    CheckId::St03,
    CheckId::St04,
    CheckId::Op01,
    CheckId::Op02,
    CheckId::Op03,
    CheckId::Op04,
    CheckId::Ex01,
    CheckId::Ex02,
    CheckId::Ex03,
    CheckId::Ex04,
];

/// Short durations so a whole run takes seconds.
fn scenario() -> Scenario {
    Scenario {
        name: "screen-checks-test".into(),
        description: String::new(),
        screen: ScreenScenario {
            connect_timeout_ms: 5000,
            update_timeout_ms: 5000,
            exclusivity_timeout_ms: 1500,
            quiet_ms: 100,
            sustain_ms: 500,
            sustain_interval_ms: 20,
            contention_trials: 10,
            contention_max_offset_ms: 30,
            contention_max_hold_ms: 60,
            contention_trial_timeout_ms: 3000,
            storm_consoles: 8,
            storm_window_ms: 200,
            storm_max_hold_ms: 150,
            ..ScreenScenario::default()
        },
        operation: OperationScenario {
            change_timeout_ms: 3000,
            control_ms: 300,
            unserved_watch_ms: 300,
            latency_samples: 5,
            latency_p50_ms: 500,
            latency_p95_ms: 1000,
        },
        data: DataScenario::default(),
        witness: Vec::new(),
    }
}

fn ctx_for(handle: &MockHandle, scenario: Scenario) -> CheckCtx {
    ctx_with(handle, scenario, |_| {})
}

/// Like [`ctx_for`], with the mock's declaration changed by `edit` first.
fn ctx_with(
    handle: &MockHandle,
    scenario: Scenario,
    edit: impl FnOnce(&mut Declaration),
) -> CheckCtx {
    let mut decl: Declaration =
        toml::from_str(&handle.declaration_toml(None)).expect("the mock's declaration parses");
    edit(&mut decl);
    let screen = RfbBinding::from_decl(&decl.screen).expect("binding from the mock's declaration");
    CheckCtx {
        declaration: Arc::new(decl),
        scenario: Arc::new(scenario),
        seed: 301,
        screen: Arc::new(screen),
        data: None,
        shared: Mutex::new(Shared::default()),
    }
}

/// Runs `ids` in order, skipping a check whose prerequisite did not pass.
async fn run(ctx: &CheckCtx, ids: &[CheckId]) -> Vec<(CheckId, Outcome)> {
    let defs = catalog();
    let mut done: Vec<(CheckId, Outcome)> = Vec::new();
    for id in ids {
        let def = defs.iter().find(|d| d.id == *id).expect("check in catalog");
        let blocked = def.needs.iter().find(|n| {
            done.iter()
                .any(|(d, o)| d == *n && o.verdict != Verdict::Pass)
        });
        let outcome = match blocked {
            Some(n) => Outcome {
                verdict: Verdict::Skipped,
                detail: format!("needs {}", n.as_str()),
                evidence: serde_json::Value::Null,
            },
            None => (def.run)(ctx).await,
        };
        done.push((*id, outcome));
    }
    done
}

async fn all_pass(policy: Exclusivity) {
    let handle = MockTerminal::start(MockConfig {
        exclusivity: policy,
        ..MockConfig::default()
    })
    .await
    .expect("mock starts");
    let ctx = ctx_for(&handle, scenario());
    let results = run(&ctx, &ORDER).await;
    let bad: Vec<String> = results
        .iter()
        .filter(|(_, o)| o.verdict != Verdict::Pass)
        .map(|(id, o)| format!("{} {}: {}", id.as_str(), o.verdict.as_str(), o.detail))
        .collect();
    assert!(bad.is_empty(), "policy {policy}: {bad:#?}");
    // ST-02 kept its screenshot of the whole screen.
    let size = {
        let shared = ctx.shared.lock().expect("shared state");
        let shot = shared.images.get("ST-02/full").expect("ST-02 screenshot");
        (shot.width(), shot.height())
    };
    assert_eq!(size, (1024, 768));
    // Evidence carries the negotiated session.
    let st01 = &results[0].1;
    assert_eq!(st01.evidence["session"]["width"], 1024);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_screen_check_passes_against_the_refusing_mock() {
    all_pass(Exclusivity::Refuse).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_screen_check_passes_against_the_takeover_mock() {
    all_pass(Exclusivity::Takeover).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn op04_measures_the_terminals_input_delay() {
    let handle = MockTerminal::start(MockConfig {
        input_delay: Duration::from_millis(40),
        ..MockConfig::default()
    })
    .await
    .expect("mock starts");
    let mut sc = scenario();
    sc.operation.latency_samples = 10;
    let ctx = ctx_for(&handle, sc);
    let results = run(&ctx, &[CheckId::St01, CheckId::Op04]).await;
    let (_, op04) = &results[1];
    assert_eq!(op04.verdict, Verdict::Pass, "{}", op04.detail);
    let p50 = op04.evidence["p50_ms"].as_f64().expect("p50 recorded");
    // The mock applies input 40 ms after it arrives, so no sample can be
    // shorter: a lower bound is causal, not a timing guess. How close p50
    // comes to 40 ms is measured by `cargo bench --bench screen_perf`.
    assert!(
        p50 >= 40.0,
        "p50 {p50} ms is below the mock's 40 ms input delay: {}",
        op04.evidence["samples"]
    );
    assert_eq!(
        op04.evidence["samples"].as_array().map(|a| a.len()),
        Some(10)
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn op04_fails_when_latency_exceeds_the_bound() {
    let handle = MockTerminal::start(MockConfig {
        input_delay: Duration::from_millis(120),
        ..MockConfig::default()
    })
    .await
    .expect("mock starts");
    let mut sc = scenario();
    sc.operation.latency_p50_ms = 60;
    sc.operation.latency_p95_ms = 80;
    let ctx = ctx_for(&handle, sc);
    let results = run(&ctx, &[CheckId::St01, CheckId::Op04]).await;
    assert_eq!(
        results[1].1.verdict,
        Verdict::Fail,
        "{}",
        results[1].1.detail
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_contention_trials_all_pass_under_both_policies() {
    for policy in [Exclusivity::Refuse, Exclusivity::Takeover] {
        let handle = MockTerminal::start(MockConfig {
            exclusivity: policy,
            ..MockConfig::default()
        })
        .await
        .expect("mock starts");
        let mut sc = scenario();
        sc.screen.contention_trials = 100;
        let ctx = ctx_for(&handle, sc);
        // How long 100 trials take is measured by `cargo bench --bench
        // screen_perf`, not asserted here.
        let results = run(&ctx, &[CheckId::Ex03]).await;
        let (_, o) = &results[0];
        assert_eq!(o.verdict, Verdict::Pass, "policy {policy}: {}", o.detail);
        assert_eq!(o.evidence["trials"], 100);
        assert_eq!(o.evidence["seed"], 301);
        handle.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ex03_replays_the_same_trials_for_the_same_seed() {
    let handle = MockTerminal::start(MockConfig::default())
        .await
        .expect("mock starts");
    let mut sc = scenario();
    sc.screen.contention_trials = 3;
    let ctx = ctx_for(&handle, sc);
    let a = run(&ctx, &[CheckId::Ex03]).await;
    let b = run(&ctx, &[CheckId::Ex03]).await;
    assert_eq!(a[0].1.verdict, Verdict::Pass, "{}", a[0].1.detail);
    assert_eq!(a[0].1.evidence["seed"], b[0].1.evidence["seed"]);
    assert_eq!(
        a[0].1.evidence["simultaneous_trials"],
        b[0].1.evidence["simultaneous_trials"]
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn op_checks_fail_when_operation_is_declared_unsupported() {
    let handle = MockTerminal::start(MockConfig::default())
        .await
        .expect("mock starts");
    let mut ctx = ctx_for(&handle, scenario());
    let mut decl = (*ctx.declaration).clone();
    decl.operation.supported = false;
    ctx.declaration = Arc::new(decl);
    let results = run(
        &ctx,
        &[CheckId::Op01, CheckId::Op02, CheckId::Op03, CheckId::Op04],
    )
    .await;
    for (id, o) in &results {
        assert_eq!(o.verdict, Verdict::Fail, "{}: {}", id.as_str(), o.detail);
        assert!(o.detail.contains("supported = false"), "{}", o.detail);
    }
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_without_automatic_probes_are_errors_not_passes() {
    let handle = MockTerminal::start(MockConfig::default())
        .await
        .expect("mock starts");
    let mut ctx = ctx_for(&handle, scenario());
    let mut decl = (*ctx.declaration).clone();
    decl.operation.probes = vec![s301_harness::config::declaration::Probe::Manual {
        prompt: "press any key".into(),
        watch: None,
    }];
    ctx.declaration = Arc::new(decl);
    let results = run(
        &ctx,
        &[
            CheckId::St03,
            CheckId::Op01,
            CheckId::Op02,
            CheckId::Op03,
            CheckId::Op04,
        ],
    )
    .await;
    for (id, o) in &results {
        assert_eq!(o.verdict, Verdict::Error, "{}: {}", id.as_str(), o.detail);
        assert!(o.detail.contains("no automatic"), "{}", o.detail);
    }
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn st01_fails_naming_the_stage_when_nothing_listens() {
    // Bind a port, then free it: nothing listens there.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let decl_toml = format!(
        "[screen]\nurl = \"ws://{addr}/s3-01/v1/screen\"\nexclusivity = \"refuse\"\n\n[operation]\nsupported = true\n"
    );
    let decl: Declaration = toml::from_str(&decl_toml).expect("declaration");
    let screen = RfbBinding::from_decl(&decl.screen).expect("binding");
    let mut sc = scenario();
    sc.screen.connect_timeout_ms = 1000;
    let ctx = CheckCtx {
        declaration: Arc::new(decl),
        scenario: Arc::new(sc),
        seed: 1,
        screen: Arc::new(screen),
        data: None,
        shared: Mutex::new(Shared::default()),
    };
    let results = run(&ctx, &[CheckId::St01, CheckId::St02]).await;
    assert_eq!(
        results[0].1.verdict,
        Verdict::Fail,
        "{}",
        results[0].1.detail
    );
    assert!(
        results[0].1.detail.contains("at connect"),
        "{}",
        results[0].1.detail
    );
    assert_eq!(results[1].1.verdict, Verdict::Skipped);
}

/// Every declared pixel format works end to end against the mock: the
/// screen checks pass, ST-01's evidence names the format in use, and the
/// ST-02 screenshot is the mock's desktop as that format can carry it
/// (colour-mapped pixels looked up in the colour map the mock sent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pixel_format_choice_gives_the_terminals_image() {
    use s301_harness::config::declaration::PixelFormatChoice;
    use s301_rfb::{ColourMap, PixelFormat};
    let choices = [
        PixelFormatChoice::Rgb888,
        PixelFormatChoice::Rgb565,
        PixelFormatChoice::ColourMap8,
        PixelFormatChoice::Native,
    ];
    for choice in choices {
        let handle = MockTerminal::start(MockConfig {
            width: 320,
            height: 240,
            ..MockConfig::default()
        })
        .await
        .expect("mock starts");
        let ctx = ctx_with(&handle, scenario(), |d| d.screen.pixel_format = choice);
        let results = run(&ctx, &[CheckId::St01, CheckId::St02]).await;
        for (id, o) in &results {
            assert_eq!(
                o.verdict,
                Verdict::Pass,
                "{} under {}: {}",
                id.as_str(),
                choice.as_str(),
                o.detail
            );
        }
        // The mock announces 32-bit true colour; `native` keeps it.
        let pf = match choice {
            PixelFormatChoice::Rgb888 | PixelFormatChoice::Native => PixelFormat::RGB888,
            PixelFormatChoice::Rgb565 => PixelFormat::RGB565,
            PixelFormatChoice::ColourMap8 => PixelFormat::MAPPED8,
        };
        let session = &results[0].1.evidence["session"];
        assert_eq!(session["pixel_format"], pf.describe(), "{session}");
        assert_eq!(
            session["pixel_format_sent"],
            choice != PixelFormatChoice::Native,
            "{session}"
        );
        // The mock's desktop through the format: true colour loses low
        // bits, the 8-bit map is the mock's RGB332 palette.
        let map = if pf.true_colour {
            ColourMap::new()
        } else {
            ColourMap::rgb332()
        };
        let desktop = handle.screen();
        let shot = ctx
            .shared
            .lock()
            .expect("shared state")
            .images
            .get("ST-02/full")
            .expect("ST-02 screenshot")
            .decode("ST-02/full")
            .expect("ST-02 screenshot decodes");
        assert_eq!((shot.width(), shot.height()), (320, 240));
        let mismatched = desktop
            .pixels()
            .iter()
            .zip(shot.pixels())
            .filter(|(want, got)| pf.to_rgb(pf.from_rgb(**want, &map), &map) != **got)
            .count();
        assert_eq!(
            mismatched,
            0,
            "{}: {mismatched} pixels differ from the mock's desktop",
            choice.as_str()
        );
        let distinct: std::collections::BTreeSet<u32> = shot.pixels().iter().copied().collect();
        assert!(distinct.len() > 2, "{}: a flat screenshot", choice.as_str());
        handle.shutdown().await;
    }
}

/// EX-04 alone against a fresh mock under `policy`, storms of `consoles`.
async fn ex04_with(policy: Exclusivity, consoles: u32) -> Outcome {
    let handle = MockTerminal::start(MockConfig {
        exclusivity: policy,
        ..MockConfig::default()
    })
    .await
    .expect("mock starts");
    let mut sc = scenario();
    sc.screen.storm_consoles = consoles;
    let ctx = ctx_for(&handle, sc);
    let mut r = run(&ctx, &[CheckId::Ex04]).await;
    handle.shutdown().await;
    r.remove(0).1
}

/// The smallest storm passes under both policies, and its evidence names
/// every console's arrival, admission, service and leaving, the violations
/// (none), the console served at the end and the timings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ex04_smallest_storm_passes_and_records_every_console() {
    for policy in [Exclusivity::Refuse, Exclusivity::Takeover] {
        let o = ex04_with(policy, 3).await;
        assert_eq!(o.verdict, Verdict::Pass, "{policy}: {}", o.detail);
        let e = &o.evidence;
        assert_eq!(e["seed"], 301);
        assert_eq!(e["policy"], policy.as_str());
        let storms = e["storms"].as_array().expect("storms");
        assert_eq!(storms.len(), 2);
        assert_eq!(storms[0]["wave"], "at-once");
        assert_eq!(storms[1]["wave"], "bursts");
        for st in storms {
            // The storm's own consoles, then any fresh one opened after all
            // of them had left.
            let seats = st["seats"].as_array().expect("seats");
            let own = seats.iter().filter(|s| s["fresh"] == false).count();
            assert_eq!(own, 3, "{st}");
            for s in seats {
                assert!(s["arrived"].is_u64(), "{s}");
                assert!(s["left"]["how"].is_string(), "{s}");
            }
            assert_eq!(st["violations"]["total"], 0);
            assert!(st["final_holder"]["label"].is_string(), "{st}");
            assert!(st["timings"]["storm_ms"].is_f64(), "{st}");
            assert!(st["served"].as_u64().unwrap_or(0) >= 1, "{st}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ex04_replays_the_same_storms_for_the_same_seed() {
    let plan = |o: &Outcome| -> Vec<String> {
        o.evidence["storms"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|st| st["seats"].as_array().cloned().unwrap_or_default())
            .filter(|s| s["fresh"] == false)
            .map(|s| {
                format!(
                    "{} {} {} {} {}",
                    s["label"], s["burst"], s["offset_ms"], s["hold_ms"], s["leave"]
                )
            })
            .collect()
    };
    let a = ex04_with(Exclusivity::Refuse, 5).await;
    let b = ex04_with(Exclusivity::Refuse, 5).await;
    assert_eq!(a.verdict, Verdict::Pass, "{}", a.detail);
    assert_eq!(plan(&a).len(), 10);
    assert_eq!(plan(&a), plan(&b));
}
