//! The check catalog. One file per condition declares its checks; this module
//! only assembles them and defines what a check is.

pub mod c1_2_1;
pub mod c1_2_2;
pub mod c1_3_1;
pub mod c1_3_2;
pub mod c2_2_1;
pub mod causal;
pub mod coverage;
pub mod di01;
pub mod di02;
pub mod do01;
pub mod do02;
pub mod do03;
pub mod dr01;
pub mod dr02;
pub mod dr03;
pub mod ex04;
pub mod op04;
pub mod patch;
pub mod screen;
pub mod st03;
pub mod st04;
pub mod stimulus;
pub mod support;
pub mod timeline;
pub mod tls01;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::binding::{BoxFuture, ScreenBinding};
use crate::catalog::CheckId;
use crate::declaration::Declaration;
use crate::scenario::Scenario;
use crate::verdict::Verdict;

/// What a check concluded.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The verdict.
    pub verdict: Verdict,
    /// One line a person can act on.
    pub detail: String,
    /// Negotiated parameters, timings, counts, offending rectangles ...
    pub evidence: Value,
}

impl Outcome {
    /// A pass.
    pub fn pass(detail: impl Into<String>, evidence: Value) -> Self {
        Outcome {
            verdict: Verdict::Pass,
            detail: detail.into(),
            evidence,
        }
    }

    /// A fail: the terminal broke the requirement.
    pub fn fail(detail: impl Into<String>, evidence: Value) -> Self {
        Outcome {
            verdict: Verdict::Fail,
            detail: detail.into(),
            evidence,
        }
    }

    /// An error: the harness could not decide.
    pub fn error(detail: impl Into<String>, evidence: Value) -> Self {
        Outcome {
            verdict: Verdict::Error,
            detail: detail.into(),
            evidence,
        }
    }

    /// Not applicable per the declaration.
    pub fn not_applicable(detail: impl Into<String>) -> Self {
        Outcome {
            verdict: Verdict::NotApplicable,
            detail: detail.into(),
            evidence: Value::Null,
        }
    }
}

/// A check's body.
pub type RunFn = for<'a> fn(&'a CheckCtx) -> BoxFuture<'a, Outcome>;

/// A check of the catalog.
pub struct CheckDef {
    /// Stable id; its condition and title come from [`CheckId`].
    pub id: CheckId,
    /// Checks whose failure makes this one `skipped` (the detail names them).
    pub needs: &'static [CheckId],
    /// Runs the check.
    pub run: RunFn,
}

/// State checks hand to later checks (e.g. ST-02's screenshot, the report
/// DO-01 received). Keys are free-form; values are JSON or images.
#[derive(Default)]
pub struct Shared {
    /// Named JSON values.
    pub values: std::collections::BTreeMap<String, Value>,
    /// Screenshots taken by the running check, as PNG (on disk once the run
    /// directory is known): see [`crate::record::screenshots`].
    pub images: crate::record::Screenshots,
}

/// Everything a check may use. Checks get bindings, never sockets.
pub struct CheckCtx {
    /// The terminal declaration.
    pub declaration: Arc<Declaration>,
    /// The scenario.
    pub scenario: Arc<Scenario>,
    /// The run's seed.
    pub seed: u64,
    /// The screen binding.
    pub screen: Arc<dyn ScreenBinding>,
    /// The data binding, when the declaration has `[data]`.
    pub data: Option<Arc<dyn crate::binding::DataBinding>>,
    /// State passed between checks.
    pub shared: Mutex<Shared>,
}

impl CheckCtx {
    /// A random generator for `check`, derived from the run's seed and the
    /// check id only, so `--seed` replays a check exactly even with `--only`.
    pub fn rng(&self, check: CheckId) -> ChaCha8Rng {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in check.as_str().bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        ChaCha8Rng::seed_from_u64(self.seed ^ h)
    }

    /// Milliseconds as a Duration.
    pub fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }
}

/// The whole catalog, in catalog order.
pub fn catalog() -> Vec<CheckDef> {
    let mut v = Vec::new();
    v.extend(c1_2_1::checks());
    v.extend(c1_2_2::checks());
    v.extend(c1_3_1::checks());
    v.extend(c1_3_2::checks());
    v.extend(c2_2_1::checks());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_has_every_id_once_in_order() {
        let ids: Vec<CheckId> = catalog().iter().map(|c| c.id).collect();
        assert_eq!(ids, CheckId::ALL.to_vec());
    }
}
