//! The check catalog. Each check is one [`CheckDef`] literal (see [`def`]);
//! this module lists them in catalog order and defines what a check sees.

pub mod def;
pub mod di01;
pub mod di02;
pub mod do01;
pub mod do02;
pub mod do03;
pub mod dr01;
pub mod dr02;
pub mod dr03;
pub mod evidence;
pub mod ex01;
pub mod ex02;
pub mod ex03;
pub mod ex04;
pub mod op01;
pub mod op02;
pub mod op03;
pub mod op04;
pub mod st01;
pub mod st02;
pub mod st03;
pub mod st04;
pub mod support;
pub mod tls01;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::binding::ScreenBinding;
use crate::config::declaration::Declaration;
use crate::config::scenario::Scenario;
use crate::model::ids::CheckId;
use crate::model::verdict::Verdict;

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

pub use def::{budget, BudgetFn, CheckDef, Lane, Phase, Requirement, RunFn};

/// State checks hand to later checks (e.g. ST-02's screenshot, the report
/// DO-01 received). Keys are free-form; values are JSON or images.
#[derive(Default)]
pub struct Shared {
    /// Named JSON values.
    pub values: std::collections::BTreeMap<String, Value>,
    /// Screenshots taken by the running check, as PNG (on disk once the run
    /// directory is known): see [`crate::sinks::record::screenshots`].
    pub images: crate::model::screenshots::Screenshots,
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

/// Every check, in catalog order (the order of [`CheckId::ALL`]).
pub const CATALOG: &[&CheckDef] = &[
    &st01::DEF,
    &st02::DEF,
    &st03::DEF,
    &st04::DEF,
    &ex01::DEF,
    &ex02::DEF,
    &ex03::DEF,
    &ex04::DEF,
    &op01::DEF,
    &op02::DEF,
    &op03::DEF,
    &op04::DEF,
    &do01::DEF,
    &do02::DEF,
    &do03::DEF,
    &di01::DEF,
    &di02::DEF,
    &dr01::DEF,
    &dr02::DEF,
    &dr03::DEF,
    &tls01::DEF,
];

/// The whole catalog, in catalog order, as values (a runner test may build
/// a catalog of its own from them).
pub fn catalog() -> Vec<CheckDef> {
    CATALOG.iter().map(|d| **d).collect()
}

/// Whether every witness step's `check` belongs to the step's condition:
/// `Err((key, message))` naming the first step that does not.
pub fn witness_steps_fit(
    steps: &[crate::config::witness::WitnessStep],
) -> Result<(), (String, String)> {
    for (i, s) in steps.iter().enumerate() {
        if let Some(c) = s.check {
            let cond = def(c).condition;
            if cond != s.condition {
                return Err((
                    format!("witness[{i}].check"),
                    format!("{c} belongs to {cond}, not to {}", s.condition),
                ));
            }
        }
    }
    Ok(())
}

/// The literal of check `id`.
pub fn def(id: CheckId) -> &'static CheckDef {
    match CATALOG.iter().find(|d| d.id == id) {
        Some(d) => d,
        // Every id has a literal: `catalog_has_every_id_once_in_order`.
        None => unreachable!("check {id} has no literal in the catalog"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_has_every_id_once_in_order() {
        let ids: Vec<CheckId> = catalog().iter().map(|c| c.id).collect();
        assert_eq!(ids, CheckId::ALL.to_vec());
        for id in CheckId::ALL {
            assert_eq!(def(*id).id, *id);
        }
    }

    #[test]
    fn every_literal_is_complete_and_consistent() {
        use crate::model::ids::ConditionId;
        for d in catalog() {
            assert!(!d.title.is_empty(), "{}: title", d.id);
            assert!(!d.requirement.ja.is_empty(), "{}: requirement.ja", d.id);
            assert!(!d.requirement.en.is_empty(), "{}: requirement.en", d.id);
            assert!(
                !d.requirement.ja.is_ascii(),
                "{}: the Japanese requirement is Japanese",
                d.id
            );
            let lane = match d.condition {
                ConditionId::C1_3_1 | ConditionId::C1_3_2 => Lane::Data,
                _ => Lane::Screen,
            };
            assert_eq!(d.lane, lane, "{}: lane", d.id);
            assert_eq!(
                d.phase == Phase::Data,
                d.lane == Lane::Data,
                "{}: phase",
                d.id
            );
            for n in d.needs {
                assert_ne!(*n, d.id, "{} needs itself", d.id);
            }
        }
    }
}
