//! Every screen check against the in-memory terminal
//! (`binding::memory::screen`): no socket and no wire format, only the
//! neutral screen channel. A clean terminal passes all twelve screen checks
//! under both policies (ST-02 judges its one full-screen round and says
//! its encoding sweep is not applicable: the binding has no encodings);
//! each fault fails exactly its pinned checks and every other check passes.

mod memory_support;
mod screen_support;
use memory_support::{mismatches, pinned, run_case};

use s301_harness::binding::memory::screen::MemoryFault;
use s301_harness::config::declaration::Exclusivity;
use s301_harness::model::ids::CheckId;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_memory_terminal_passes_every_screen_check() {
    for policy in [Exclusivity::Refuse, Exclusivity::Takeover] {
        let got = run_case(policy, None).await;
        let bad = mismatches(&got, &[]);
        assert!(bad.is_empty(), "{policy:?}: {bad:#?}");
        // ST-02 passed its full-screen round and says the sweep did not run.
        let (_, st02) = got
            .iter()
            .find(|(id, _)| *id == CheckId::St02)
            .expect("ST-02 ran");
        assert!(
            st02.detail.contains("not applicable"),
            "ST-02: {}",
            st02.detail
        );
        assert_eq!(st02.evidence["encoding_sweep"]["applicable"], false);
        assert_eq!(
            st02.evidence["rounds"].as_array().map(Vec::len),
            Some(1),
            "one full-screen round"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_memory_fault_fails_exactly_its_pinned_checks() {
    let mut cases = Vec::new();
    for fault in MemoryFault::ALL {
        for policy in [Exclusivity::Refuse, Exclusivity::Takeover] {
            cases.push(tokio::spawn(async move {
                (fault, policy, run_case(policy, Some(fault)).await)
            }));
        }
    }
    let mut bad = Vec::new();
    for c in cases {
        let (fault, policy, got) = c.await.expect("case ran");
        for m in mismatches(&got, pinned(fault)) {
            bad.push(format!("{} / {policy:?}: {m}", fault.name()));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}
