//! `[[witness]]` steps of a scenario: questions a witness answers during a
//! run (asked by `crate::sinks::witness`).

use serde::{Deserialize, Serialize};

use crate::model::ids::{CheckId, ConditionId};

/// Default time an operator has to answer one question (5 minutes).
pub const DEFAULT_TIMEOUT_MS: u64 = 300_000;
/// Longest accepted answer line; the rest of a longer line is dropped.
pub const MAX_ANSWER_BYTES: u64 = 4096;
/// Most witness steps a scenario may hold.
pub const MAX_STEPS: usize = 100;

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

/// A `[[witness]]` step of a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessStep {
    /// Short id, unique in the scenario (`W-01`).
    pub id: String,
    /// The condition the answer counts towards.
    pub condition: ConditionId,
    /// The check whose evidence (screenshot) the operator looks at; must
    /// belong to `condition`.
    #[serde(default)]
    pub check: Option<CheckId>,
    /// The question in Japanese.
    pub question_ja: String,
    /// The question in English.
    pub question_en: String,
    /// How long the operator has to answer, in milliseconds.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

/// A problem with the scenario's witness steps: (key, message). Whether a
/// step's `check` belongs to its condition is the catalog's to say
/// (`crate::checks::witness_steps_fit`).
pub fn validate(steps: &[WitnessStep]) -> Result<(), (String, String)> {
    if steps.len() > MAX_STEPS {
        return Err((
            "witness".into(),
            format!("{} steps; at most {MAX_STEPS}", steps.len()),
        ));
    }
    for (i, s) in steps.iter().enumerate() {
        let key = |k: &str| format!("witness[{i}].{k}");
        if s.id.trim().is_empty() {
            return Err((key("id"), "must not be empty".into()));
        }
        if steps.iter().take(i).any(|o| o.id == s.id) {
            return Err((key("id"), format!("\"{}\" is used twice", s.id)));
        }
        if s.question_ja.trim().is_empty() || s.question_en.trim().is_empty() {
            return Err((
                key("question_ja"),
                "both questions (question_ja, question_en) are required".into(),
            ));
        }
        if s.timeout_ms == 0 || s.timeout_ms > super::scenario::MAX_SCENARIO_MS {
            return Err((
                key("timeout_ms"),
                format!(
                    "must be between 1 and {} ms",
                    super::scenario::MAX_SCENARIO_MS
                ),
            ));
        }
    }
    Ok(())
}
