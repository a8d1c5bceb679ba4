//! Test hooks: named points in the writing of a run record where a test
//! can make the process die, or wait for a signal, without relying on
//! timing.
//!
//! Both are driven by environment variables read once, and do nothing
//! when the variables are unset (a normal run pays one lookup per point):
//!
//! - `S301_TEST_KILL_AT=POINT`: when the process reaches `POINT` it prints
//!   `s301: test hook: killed at POINT` on stderr and dies by
//!   [`std::process::abort`]. Like SIGKILL, that runs no cleanup code of
//!   s301 (no destructor, no temporary file removal), so what is on disk
//!   afterwards is what any outright kill at that moment would leave.
//! - `S301_TEST_HOLD_AT=POINT[@N]`: the first time the process reaches
//!   `POINT` it prints `s301: test hook: holding at POINT` on stderr and
//!   waits, at most [`HOLD_LIMIT`], until it has received `N` stop
//!   signals (default 1; see [`signalled`]), then goes on.
//!
//! The hooks cannot make a run claim anything: killing is what the record
//! must survive anyway, and holding only delays. The points are listed in
//! `docs/integrity.md` ("How a run ends").

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The variable naming the point to die at.
pub const KILL_ENV: &str = "S301_TEST_KILL_AT";
/// The variable naming the point to wait at.
pub const HOLD_ENV: &str = "S301_TEST_HOLD_AT";
/// Longest wait at a hold point.
pub const HOLD_LIMIT: Duration = Duration::from_secs(30);

struct Config {
    kill: Option<String>,
    hold: Option<(String, usize)>,
}

static CONFIG: OnceLock<Config> = OnceLock::new();
static SIGNALS: AtomicUsize = AtomicUsize::new(0);
static HELD: AtomicBool = AtomicBool::new(false);

fn config() -> &'static Config {
    CONFIG.get_or_init(|| {
        let var = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
        let hold = var(HOLD_ENV).map(|v| {
            let counted = v
                .rsplit_once('@')
                .and_then(|(p, n)| Some((p.to_string(), n.parse::<usize>().ok()?)));
            counted.unwrap_or((v, 1))
        });
        Config {
            kill: var(KILL_ENV),
            hold,
        }
    })
}

/// Marks the point `name`: dies or waits there when a test asked for it.
pub fn point(name: &str) {
    let c = config();
    if c.kill.as_deref() == Some(name) {
        eprintln!("s301: test hook: killed at {name}");
        std::process::abort();
    }
    if let Some((hold, signals)) = &c.hold {
        if hold == name && !HELD.swap(true, Ordering::SeqCst) {
            eprintln!("s301: test hook: holding at {name}");
            let until = Instant::now() + HOLD_LIMIT;
            while SIGNALS.load(Ordering::SeqCst) < *signals && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// Counts a stop signal (SIGINT, SIGTERM, SIGHUP) for hold points.
pub fn signalled() {
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}
