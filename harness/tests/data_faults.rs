//! The data fault matrix: for each data fault of the mock terminal, the
//! exact set of data checks that fail. It always holds the check the brief
//! maps the fault to; every extra is explained next to it. Every other data
//! check passes.
#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure

mod data_support;

use std::collections::BTreeSet;

use data_support::{describe, rig, run_data_checks, DATA_CHECKS};
use s301_harness::model::ids::CheckId;
use s301_harness::model::verdict::Verdict;
use s301_mocks::Fault;

use CheckId::*;

/// (fault, the check the brief maps it to, the exact failing set).
fn matrix() -> Vec<(Fault, CheckId, Vec<CheckId>)> {
    vec![
        // Nothing is ever pushed. DO-02 (a revision pushed) and DO-03 (a
        // push retried after 503) are about pushing too, so they cannot hold;
        // DR-01 compares the terminal's answer with what it pushed, and with
        // no push there is nothing it can be shown equal to. DR-02 still
        // passes: every answer is consistent with what had been acknowledged
        // (nothing), and DR-03 does not involve pushes.
        (Fault::NoPush, Do01, vec![Do01, Do02, Do03, Dr01]),
        // The reports break the schema but stay identifiable; only DO-01
        // judges schema validity (the update and the redelivery still come,
        // and the GET still equals what was pushed).
        (Fault::BadSchema, Do01, vec![Do01]),
        // Only the redelivery after a 503 is missing.
        (Fault::NoRetry, Do03, vec![Do03]),
        // 204 but never shown. DI-02 passes: malformed input is still
        // refused with 400, and the dispatch state stays as it was.
        (Fault::IgnoreDispatch, Di01, vec![Di01]),
        // A malformed status is acknowledged instead of refused: only DI-02
        // sends malformed input; it is not stored, so DI-01 still holds.
        (Fault::AcceptMalformedDispatch, Di02, vec![Di02]),
        // GET of a report returns the previous revision. DR-02 judges every
        // answer against the revision acknowledged before the request was
        // sent, so its answers for the known report are stale too.
        (Fault::StaleGet, Dr01, vec![Dr01, Dr02]),
        // Requests in a crowd take 3 s, over the 2 s bound: only DR-02's
        // burst makes a crowd; the other checks ask one at a time.
        (Fault::SlowBurst, Dr02, vec![Dr02]),
        // An unknown reportId answers 200. DR-02's schedule includes
        // requests for reports that do not exist, which must answer 404.
        (Fault::Unknown200, Dr03, vec![Dr02, Dr03]),
    ]
}

#[test]
fn matrix_covers_every_data_fault_and_holds_each_mapped_check() {
    let m = matrix();
    let data_faults: Vec<Fault> = Fault::ALL
        .iter()
        .copied()
        .filter(|f| !f.is_screen())
        .collect();
    let covered: Vec<Fault> = m.iter().map(|(f, _, _)| *f).collect();
    assert_eq!(covered, data_faults);
    for (f, mapped, set) in &m {
        assert!(
            set.contains(mapped),
            "{f}: pinned set lacks the mapped {mapped}"
        );
        assert!(set.iter().all(|c| DATA_CHECKS.contains(c)));
    }
}

/// Runs the data checks against a mock with `fault` and asserts its pinned
/// row of [`matrix`] (looked up by fault, never by position).
async fn pinned(fault: Fault, seed: u64) {
    let (f, mapped, set) = matrix()
        .into_iter()
        .find(|(f, _, _)| *f == fault)
        .unwrap_or_else(|| panic!("{fault} is not in the matrix"));
    one_fault(f, mapped, &set, seed).await;
}

async fn one_fault(fault: Fault, mapped: CheckId, expected: &[CheckId], seed: u64) {
    let r = rig(vec![fault], |_| {}, seed).await;
    let res = run_data_checks(&r.ctx).await;
    r.shutdown().await;
    eprintln!("fault {fault}:\n{}", describe(&res));
    let failing: BTreeSet<CheckId> = res
        .iter()
        .filter(|(_, o)| o.verdict == Verdict::Fail)
        .map(|(id, _)| *id)
        .collect();
    let want: BTreeSet<CheckId> = expected.iter().copied().collect();
    assert_eq!(
        failing,
        want,
        "fault {fault}: failing set differs\n{}",
        describe(&res)
    );
    for id in DATA_CHECKS {
        if !want.contains(&id) {
            assert_eq!(
                res[&id].verdict,
                Verdict::Pass,
                "fault {fault}: {id} should pass\n{}",
                describe(&res)
            );
        }
    }
    let d = &res[&mapped].detail;
    assert!(
        d.len() > 30,
        "fault {fault}: {mapped} detail is not useful: {d}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_push() {
    pinned(Fault::NoPush, 21).await;
    // The detail says what did not happen, and where the push was expected.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_schema() {
    pinned(Fault::BadSchema, 22).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_retry() {
    pinned(Fault::NoRetry, 23).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_dispatch() {
    pinned(Fault::IgnoreDispatch, 24).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_malformed_dispatch() {
    pinned(Fault::AcceptMalformedDispatch, 28).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_get() {
    pinned(Fault::StaleGet, 25).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_burst() {
    pinned(Fault::SlowBurst, 26).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_200() {
    pinned(Fault::Unknown200, 27).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_details_name_the_defect() {
    // Spot-check the wording a person acts on, for the two schema-facing faults.
    let r = rig(vec![Fault::BadSchema], |_| {}, 28).await;
    let res = run_data_checks(&r.ctx).await;
    r.shutdown().await;
    let d = &res[&Do01].detail;
    assert!(
        d.contains("/location/lat") && d.contains("/location/datum"),
        "{d}"
    );
    let r = rig(vec![Fault::StaleGet], |_| {}, 29).await;
    let res = run_data_checks(&r.ctx).await;
    r.shutdown().await;
    assert!(
        res[&Dr01].detail.contains("not the latest"),
        "{}",
        res[&Dr01].detail
    );
}
