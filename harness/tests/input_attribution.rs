//! Which change counts as the terminal's reaction to an input (docs/binding.md,
//! "Which change is the terminal's reaction"), against mock terminals that do
//! what real ones do: a cell that blinks on its own, a screen that reacts to
//! where the pointer is rather than to clicks, a pointer sprite drawn into the
//! image. And declarations whose regions lie outside the screen are the
//! declaration's error, not the terminal's fail.

use std::sync::{Arc, Mutex};

use s301_harness::binding::rfb::RfbBinding;
use s301_harness::catalog::CheckId;
use s301_harness::checks::{catalog, CheckCtx, Outcome, Shared};
use s301_harness::declaration::{Declaration, Probe};
use s301_harness::scenario::{DataScenario, OperationScenario, Scenario, ScreenScenario};
use s301_harness::verdict::Verdict;
use s301_mocks::{MockConfig, MockHandle, MockTerminal};
use s301_rfb::Rect;

fn scenario() -> Scenario {
    Scenario {
        name: "input-attribution-test".into(),
        description: String::new(),
        screen: ScreenScenario {
            connect_timeout_ms: 5000,
            update_timeout_ms: 5000,
            exclusivity_timeout_ms: 1500,
            quiet_ms: 150,
            sustain_ms: 300,
            sustain_interval_ms: 20,
            contention_trials: 2,
            contention_max_offset_ms: 20,
            contention_max_hold_ms: 40,
            contention_trial_timeout_ms: 1500,
        },
        operation: OperationScenario {
            change_timeout_ms: 1000,
            // Longer than two periods of the mock's 250 ms blink.
            control_ms: 600,
            unserved_watch_ms: 300,
            latency_samples: 4,
            latency_p50_ms: 1000,
            latency_p95_ms: 2000,
        },
        data: DataScenario::default(),
        witness: Vec::new(),
    }
}

/// A context on `handle`'s own declaration, changed by `edit`.
fn ctx_with(
    handle: &MockHandle,
    scenario: Scenario,
    edit: impl FnOnce(&mut Declaration),
) -> CheckCtx {
    let mut decl: Declaration =
        toml::from_str(&handle.declaration_toml(None)).expect("the mock's declaration parses");
    edit(&mut decl);
    let screen = RfbBinding::from_decl(&decl.screen).expect("binding");
    CheckCtx {
        declaration: Arc::new(decl),
        scenario: Arc::new(scenario),
        seed: 301,
        screen: Arc::new(screen),
        data: None,
        shared: Mutex::new(Shared::default()),
    }
}

/// Runs `ids` in the order given (ST-01 first when a check needs it).
async fn run(ctx: &CheckCtx, ids: &[CheckId]) -> Vec<(CheckId, Outcome)> {
    let defs = catalog();
    let mut done = Vec::new();
    for id in ids {
        let def = defs.iter().find(|d| d.id == *id).expect("check in catalog");
        done.push((*id, (def.run)(ctx).await));
    }
    done
}

fn verdict_of(results: &[(CheckId, Outcome)], id: CheckId) -> &Outcome {
    &results.iter().find(|(i, _)| *i == id).expect("check ran").1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_region_outside_the_screen_is_the_declarations_error() {
    let handle = MockTerminal::start(MockConfig::default())
        .await
        .expect("mock starts");
    let ctx = ctx_with(&handle, scenario(), |d| {
        for p in &mut d.operation.probes {
            if let Probe::Click { watch, .. } = p {
                *watch = Some(Rect::new(5000, 5000, 100, 100));
            }
        }
    });
    let results = run(&ctx, &[CheckId::St01, CheckId::Op01, CheckId::Op02]).await;
    let op01 = verdict_of(&results, CheckId::Op01);
    assert_eq!(op01.verdict, Verdict::Error, "{}", op01.detail);
    assert!(
        op01.detail.contains("operation.probe[0].watch") && op01.detail.contains("1024x768"),
        "{}",
        op01.detail
    );
    // Every input check is judged on the same declaration: OP-02 too.
    let op02 = verdict_of(&results, CheckId::Op02);
    assert_eq!(op02.verdict, Verdict::Error, "{}", op02.detail);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ignore_region_outside_the_screen_is_the_declarations_error() {
    let handle = MockTerminal::start(MockConfig::default())
        .await
        .expect("mock starts");
    let ctx = ctx_with(&handle, scenario(), |d| {
        d.screen.ignore = vec![Rect::new(1000, 0, 100, 10)];
    });
    let results = run(&ctx, &[CheckId::St01, CheckId::St03]).await;
    let st03 = verdict_of(&results, CheckId::St03);
    assert_eq!(st03.verdict, Verdict::Error, "{}", st03.detail);
    assert!(st03.detail.contains("screen.ignore[0]"), "{}", st03.detail);
    handle.shutdown().await;
}
