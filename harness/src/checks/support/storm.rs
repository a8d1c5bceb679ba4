//! EX-04's storm plan: who arrives when (seeded), and how each console's
//! time in a storm ends. The storm itself is in [`crate::checks::ex04`].

use rand::Rng;
use serde::Serialize;

use crate::binding::CloseHow;
use crate::config::scenario::{ScreenScenario, MAX_STORM_CONSOLES, MIN_STORM_CONSOLES};

/// Most bursts in the second storm.
pub const MAX_BURSTS: usize = 6;

/// Why EX-04 could not judge: the harness got in its own way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StormError {
    /// The scenario's console count is out of range (a scenario built in
    /// code, not parsed, can carry any value).
    #[error("screen.storm_consoles = {0} is outside {MIN_STORM_CONSOLES}..={MAX_STORM_CONSOLES}")]
    Count(u32),
    /// A console could not be opened for a reason on the harness's side.
    #[error("console {console}: harness error: {detail}")]
    Open {
        /// The console.
        console: String,
        /// What went wrong.
        detail: String,
    },
    /// A console's session was ended by the harness itself.
    #[error("console {0} was closed by the harness itself")]
    ClosedByHarness(String),
}

/// How the consoles of a storm arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wave {
    /// All at the same moment.
    AtOnce,
    /// In seeded bursts within `storm_window_ms`.
    Bursts,
}

impl Wave {
    /// `"at-once"` / `"bursts"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Wave::AtOnce => "at-once",
            Wave::Bursts => "bursts",
        }
    }
}

/// One console's part in a storm, drawn from the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// Its burst (0 is the first).
    pub burst: usize,
    /// When it arrives, after the storm's start.
    pub offset_ms: u64,
    /// How long it holds once served; `None`: until the storm is over.
    pub hold_ms: Option<u64>,
    /// How it leaves.
    pub leave: CloseHow,
}

/// The parts of `n` consoles arriving as `wave`, in arrival order.
pub fn draw(rng: &mut impl Rng, wave: Wave, n: usize, sc: &ScreenScenario) -> Vec<Part> {
    let bursts = match wave {
        Wave::AtOnce => 1,
        Wave::Bursts => rng.random_range(2..=n.clamp(2, MAX_BURSTS)),
    }
    .min(n.max(1));
    let mut offsets: Vec<u64> = (0..bursts)
        .map(|b| match b {
            0 => 0,
            _ => rng.random_range(0..=sc.storm_window_ms),
        })
        .collect();
    offsets.sort_unstable();
    // One console for every burst, the rest anywhere.
    let mut of: Vec<usize> = (0..bursts)
        .chain((bursts..n).map(|_| rng.random_range(0..bursts)))
        .collect();
    of.sort_unstable();
    of.into_iter()
        .map(|burst| Part {
            burst,
            offset_ms: offsets.get(burst).copied().unwrap_or(0),
            hold_ms: (!rng.random_ratio(1, 4)).then(|| rng.random_range(0..=sc.storm_max_hold_ms)),
            leave: [CloseHow::Clean, CloseHow::Drop][usize::from(rng.random_bool(0.5))],
        })
        .collect()
}

/// How a console's time in a storm ended (`{"how": ..., "detail": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "how", content = "detail")]
pub enum Left {
    /// The open failed (refused before ServerInit, or no progress in time).
    NotAdmitted(String),
    /// The terminal closed it after ServerInit, before serving it.
    TurnedAway(String),
    /// The terminal closed it after serving it.
    ClosedByTerminal(String),
    /// It left as planned, cleanly or by a dropped connection.
    Left(CloseHow),
    /// It was still there when the dust settled and left after the verdict.
    Stayed(CloseHow),
}
