//! Scenarios: the durations, counts and bounds a run uses. Data files live in
//! `scenarios/`; the default one is embedded.

use serde::{Deserialize, Serialize};

/// Screen-channel settings (all times in milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScreenScenario {
    /// Transport connect plus handshake.
    pub connect_timeout_ms: u64,
    /// A full or incremental update must arrive within this.
    pub update_timeout_ms: u64,
    /// A newcomer must be refused / a holder closed within this (EX-01, EX-02).
    pub exclusivity_timeout_ms: u64,
    /// The screen counts as quiet after this long without updates (ST-03).
    pub quiet_ms: u64,
    /// ST-04 duration.
    pub sustain_ms: u64,
    /// ST-04: gap between incremental requests.
    pub sustain_interval_ms: u64,
    /// EX-03 trial count.
    pub contention_trials: u32,
    /// EX-03: largest arrival offset between the two consoles.
    pub contention_max_offset_ms: u64,
    /// EX-03: longest a console stays.
    pub contention_max_hold_ms: u64,
    /// EX-03: how long a trial may take before it is judged.
    pub contention_trial_timeout_ms: u64,
}

impl Default for ScreenScenario {
    fn default() -> Self {
        ScreenScenario {
            connect_timeout_ms: 5000,
            update_timeout_ms: 5000,
            exclusivity_timeout_ms: 3000,
            quiet_ms: 300,
            sustain_ms: 3000,
            sustain_interval_ms: 50,
            contention_trials: 20,
            contention_max_offset_ms: 30,
            contention_max_hold_ms: 60,
            contention_trial_timeout_ms: 3000,
        }
    }
}

/// Operation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OperationScenario {
    /// Input must visibly change the screen within this (OP-01, OP-02).
    pub change_timeout_ms: u64,
    /// OP-03: how long to watch for an input wrongly applied.
    pub unserved_watch_ms: u64,
    /// OP-04 probe count.
    pub latency_samples: u32,
    /// OP-04 bound on the median.
    pub latency_p50_ms: u64,
    /// OP-04 bound on the 95th percentile.
    pub latency_p95_ms: u64,
}

impl Default for OperationScenario {
    fn default() -> Self {
        OperationScenario {
            change_timeout_ms: 3000,
            unserved_watch_ms: 500,
            latency_samples: 20,
            latency_p50_ms: 500,
            latency_p95_ms: 1000,
        }
    }
}

/// Data-channel settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataScenario {
    /// A push must arrive within this after the trigger.
    pub push_timeout_ms: u64,
    /// A manual trigger waits this long for the operator.
    pub manual_timeout_ms: u64,
    /// Each request must be answered within this.
    pub request_timeout_ms: u64,
    /// DR-02: how many requests at random moments.
    pub random_requests: u32,
    /// DR-02: concurrent requests in a burst (at least 20).
    pub burst: u32,
    /// DR-02: window over which the random moments are spread.
    pub window_ms: u64,
}

impl Default for DataScenario {
    fn default() -> Self {
        DataScenario {
            push_timeout_ms: 5000,
            manual_timeout_ms: 300_000,
            request_timeout_ms: 2000,
            random_requests: 30,
            burst: 20,
            window_ms: 2000,
        }
    }
}

/// A scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name, echoed in reports.
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// `[screen]`.
    #[serde(default)]
    pub screen: ScreenScenario,
    /// `[operation]`.
    #[serde(default)]
    pub operation: OperationScenario,
    /// `[data]`.
    #[serde(default)]
    pub data: DataScenario,
}
