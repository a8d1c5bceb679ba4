//! The live witness view's screen tap cannot change what a check sees:
//! with the tap installed and a reader copying and encoding frames a
//! thousand times a second (fifty times what the witness console does),
//! the in-memory terminal still passes every screen check under both
//! policies, and each fault still fails exactly its pinned checks. The
//! reader is shown frames all along, so the tap is really in the path.

mod memory_support;
mod screen_support;
use memory_support::{mismatches, pinned, run_case};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use s301_harness::binding::memory::screen::MemoryFault;
use s301_harness::binding::tap::{self, ScreenTap};
use s301_harness::config::declaration::Exclusivity;
use s301_harness::sinks::witness_ui::frames::Frames;

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
    let mut bad = Vec::new();
    for fault in [
        None,
        Some(MemoryFault::IgnoreInput),
        Some(MemoryFault::ShareScreen),
    ] {
        let expected = fault.map_or(&[][..], pinned);
        for policy in [Exclusivity::Refuse, Exclusivity::Takeover] {
            for m in mismatches(&run_case(policy, fault).await, expected) {
                bad.push(format!("{fault:?} {policy:?} {m}"));
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
