//! What the in-memory screen suites share (memory_screen.rs, screen_tap.rs):
//! a fresh in-memory terminal per case with short durations, run through the
//! screen checks in the runner's order, and each fault's pinned verdicts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use s301_harness::binding::memory::screen::{MemoryConfig, MemoryFault, MemoryScreen};
use s301_harness::checks::{CheckCtx, Outcome, Shared};
use s301_harness::config::declaration::{Declaration, Exclusivity};
use s301_harness::config::scenario::{DataScenario, OperationScenario, Scenario, ScreenScenario};
use s301_harness::model::ids::CheckId;
use s301_harness::model::verdict::Verdict;

use crate::screen_support::run_in_order;

/// How long a session is served before it stalls under `stall-after`:
/// longer than any session but ST-04's in [`scenario`].
pub const STALL_AFTER: Duration = Duration::from_millis(2500);

/// Short durations: the terminal answers at once.
pub fn scenario(fault: Option<MemoryFault>) -> Scenario {
    let stall = fault == Some(MemoryFault::StallAfter);
    Scenario {
        name: "memory-screen-test".into(),
        description: String::new(),
        screen: ScreenScenario {
            connect_timeout_ms: 2000,
            update_timeout_ms: if stall { 1000 } else { 2000 },
            exclusivity_timeout_ms: 1500,
            quiet_ms: 50,
            sustain_ms: if stall { 4000 } else { 300 },
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
        data: DataScenario::default(),
        witness: Vec::new(),
    }
}

/// Runs the screen checks in order against a fresh terminal, skipping a
/// check whose prerequisite did not pass (as the runner does).
pub async fn run_case(policy: Exclusivity, fault: Option<MemoryFault>) -> Vec<(CheckId, Outcome)> {
    let screen = MemoryScreen::new(MemoryConfig {
        policy,
        faults: fault.into_iter().collect(),
        stall_after: STALL_AFTER,
        ..MemoryConfig::default()
    })
    .expect("a valid in-memory terminal");
    let decl: Declaration =
        toml::from_str(&screen.declaration_toml()).expect("the memory declaration parses");
    let ctx = CheckCtx {
        declaration: Arc::new(decl),
        scenario: Arc::new(scenario(fault)),
        seed: 301,
        screen: Arc::new(screen),
        data: None,
        shared: Mutex::new(Shared::default()),
    };
    run_in_order(&ctx).await
}

/// What a case must show: the listed checks have the listed verdicts,
/// every other screen check passes.
pub type Expected = &'static [(CheckId, Verdict)];

pub fn pinned(fault: MemoryFault) -> Expected {
    use CheckId::*;
    use Verdict::{Error as E, Fail as F};
    match fault {
        // No probe changes the screen: OP-01, OP-02 and OP-04 fail; ST-03
        // cannot make the screen change, so it cannot judge.
        MemoryFault::IgnoreInput => &[(St03, E), (Op01, F), (Op02, F), (Op04, F)],
        // Two consoles served at once, their input applied together.
        MemoryFault::ShareScreen => &[(Op03, F), (Ex01, F), (Ex03, F), (Ex04, F)],
        // After EX-02's dropped holder nobody is admitted again.
        MemoryFault::StuckLock => &[(Ex02, F), (Ex03, F), (Ex04, F)],
        // Incremental answers miss part of each change: only ST-03 compares
        // the incremental image with a full one.
        MemoryFault::StaleIncremental => &[(St03, F)],
        // Only ST-04 keeps a session longer than STALL_AFTER.
        MemoryFault::StallAfter => &[(St04, F)],
        // The refused or displaced console's input is applied.
        MemoryFault::InputFromDisplaced => &[(Op03, F)],
    }
}

/// Every mismatch between `got` and `expected`, in words.
pub fn mismatches(got: &[(CheckId, Outcome)], expected: Expected) -> Vec<String> {
    let mut out = Vec::new();
    for (id, o) in got {
        let want = expected
            .iter()
            .find(|(e, _)| e == id)
            .map_or(Verdict::Pass, |(_, v)| *v);
        if o.verdict != want {
            out.push(format!(
                "{}: {:?} (want {want:?}): {}",
                id.as_str(),
                o.verdict,
                o.detail
            ));
        }
    }
    out
}
