//! The data checks against the in-memory data binding (a terminal simulated
//! in process, no socket): the seam between checks and bindings holds.
//! Clean, every data check passes; each fault of the simulated terminal makes
//! exactly its checks fail and every other one still pass. TLS-01 is left
//! out: it also opens a screen console, which this test has none of.
#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure

mod data_support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use data_support::{describe, run_data_checks, test_scenario, NoScreen, DATA_CHECKS};
use s301_harness::binding::memory::data::{MemoryData, MemoryFault};
use s301_harness::checks::{CheckCtx, Shared};
use s301_harness::config::declaration::{DataDecl, Declaration, Trigger};
use s301_harness::model::ids::CheckId;
use s301_harness::model::verdict::Verdict;

use CheckId::*;

/// A declaration whose `[data]` the memory binding stands behind.
const DECL: &str = r#"
[terminal]
vendor = "s301"
service = "memory"
model = "in-memory terminal"
version = "1"
[screen]
url = "ws://127.0.0.1:1/s3-01/v1/screen"
exclusivity = "refuse"
[operation]
supported = false
[data]
base_url = "http://127.0.0.1:9/s3-01/v1"
output = true
input = true
revisions = true
trigger = "hook"
"#;

fn ctx(faults: Vec<MemoryFault>, seed: u64) -> Arc<CheckCtx> {
    let decl = Declaration::parse(DECL, "memory.toml").unwrap();
    let data: DataDecl = decl.data.clone().unwrap();
    assert_eq!(data.trigger, Trigger::Hook);
    let sc = test_scenario();
    let binding = MemoryData::new(data, sc.data.clone(), faults).unwrap();
    Arc::new(CheckCtx {
        declaration: Arc::new(decl),
        scenario: Arc::new(sc),
        seed,
        screen: Arc::new(NoScreen),
        data: Some(Arc::new(binding)),
        shared: Mutex::new(Shared::default()),
    })
}

/// (fault, the exact failing set, why).
fn matrix() -> Vec<(MemoryFault, Vec<CheckId>)> {
    vec![
        // Nothing is pushed: DO-01..03 are about pushing, and DR-01 compares
        // the answer with what was pushed. DR-02 judges answers against
        // what was acknowledged (nothing), so it holds; DI and DR-03 do not
        // involve pushes.
        (MemoryFault::NoPush, vec![Do01, Do02, Do03, Dr01]),
        // An update repeats the current revision: only DO-02 asks for a
        // higher one.
        (MemoryFault::SameRevision, vec![Do02]),
        (MemoryFault::NoRedelivery, vec![Do03]),
        (MemoryFault::IgnoreDispatch, vec![Di01]),
        (MemoryFault::AcceptMalformedDispatch, vec![Di02]),
        // DR-02 judges every answer against what had been acknowledged
        // before it was sent, so its answers are stale too.
        (MemoryFault::StaleAnswer, vec![Dr01, Dr02]),
        // DR-02's plan asks for reports that do not exist.
        (MemoryFault::UnknownAnswered, vec![Dr02, Dr03]),
    ]
}

#[test]
fn matrix_covers_every_fault() {
    let covered: Vec<MemoryFault> = matrix().iter().map(|(f, _)| *f).collect();
    assert_eq!(covered, MemoryFault::ALL.to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_data_check_passes_against_the_clean_memory_terminal() {
    let c = ctx(vec![], 7);
    let res = run_data_checks(&c).await;
    for id in DATA_CHECKS {
        assert_eq!(
            res[&id].verdict,
            Verdict::Pass,
            "{id} did not pass:\n{}",
            describe(&res)
        );
    }
    // The details quote the binding's own words, not HTTP's.
    assert!(
        res[&Do03]
            .detail
            .starts_with("after the refusal (unavailable), "),
        "{}",
        res[&Do03].detail
    );
    assert!(
        res[&Di01].detail.contains("(accepted)"),
        "{}",
        res[&Di01].detail
    );
    assert!(
        res[&Dr03]
            .detail
            .ends_with("answered not found with a JSON error"),
        "{}",
        res[&Dr03].detail
    );
}

async fn one_fault(fault: MemoryFault, expected: &[CheckId], seed: u64) {
    let c = ctx(vec![fault], seed);
    let res = run_data_checks(&c).await;
    let failing: BTreeSet<CheckId> = res
        .iter()
        .filter(|(_, o)| o.verdict == Verdict::Fail)
        .map(|(id, _)| *id)
        .collect();
    let want: BTreeSet<CheckId> = expected.iter().copied().collect();
    assert_eq!(
        failing,
        want,
        "{fault:?}: failing set differs\n{}",
        describe(&res)
    );
    for id in DATA_CHECKS {
        if !want.contains(&id) {
            assert_eq!(
                res[&id].verdict,
                Verdict::Pass,
                "{fault:?}: {id} should pass\n{}",
                describe(&res)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_fails_exactly_its_checks() {
    for (i, (fault, set)) in matrix().into_iter().enumerate() {
        one_fault(fault, &set, 40 + i as u64).await;
    }
}
