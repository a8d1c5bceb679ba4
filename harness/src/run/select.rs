//! Which checks a run includes: `--only` and `--skip`.

use std::collections::BTreeSet;

use crate::model::ids::{CheckId, ConditionId};

/// A `--only` / `--skip` entry that is not a check id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    /// Neither a check id nor a condition id.
    #[error("{flag}: unknown check \"{given}\" (see `s301 checks` for the ids, e.g. ST-01, or a condition such as 1-2-1)")]
    UnknownId {
        /// `--only` or `--skip`.
        flag: &'static str,
        /// What was given.
        given: String,
    },
    /// The selection leaves nothing to run.
    #[error("--only/--skip leave no check to run")]
    Empty,
}

/// Which checks a run includes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    only: Option<BTreeSet<CheckId>>,
    skip: BTreeSet<CheckId>,
}

impl Selection {
    /// Every check.
    pub fn all() -> Selection {
        Selection::default()
    }

    /// Builds a selection from `--only` and `--skip` entries. Each entry may
    /// hold several ids separated by commas; an id is a check (`ST-01`,
    /// case-insensitive) or a condition (`1-2-1`, meaning all its checks).
    pub fn from_lists(only: &[String], skip: &[String]) -> Result<Selection, SelectionError> {
        let only = if only.is_empty() {
            None
        } else {
            Some(expand("--only", only)?)
        };
        let skip = expand("--skip", skip)?;
        let sel = Selection { only, skip };
        if !CheckId::ALL.iter().any(|id| sel.includes(*id)) {
            return Err(SelectionError::Empty);
        }
        Ok(sel)
    }

    /// Whether the check is selected.
    pub fn includes(&self, id: CheckId) -> bool {
        self.only.as_ref().is_none_or(|o| o.contains(&id)) && !self.skip.contains(&id)
    }

    /// Whether `--only` or `--skip` was used: such a run is not a full
    /// conformance record.
    pub fn is_partial(&self) -> bool {
        self.only.is_some() || !self.skip.is_empty()
    }
}

fn expand(flag: &'static str, items: &[String]) -> Result<BTreeSet<CheckId>, SelectionError> {
    let mut out = BTreeSet::new();
    for item in items {
        for part in item.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if let Some(id) = CheckId::parse(part) {
                out.insert(id);
            } else if let Some(cond) = ConditionId::ALL
                .iter()
                .chain(&[ConditionId::C2_2_1])
                .find(|c| c.as_str() == part)
            {
                out.extend(
                    CheckId::ALL
                        .iter()
                        .filter(|id| crate::checks::def(**id).condition == *cond),
                );
            } else {
                return Err(SelectionError::UnknownId {
                    flag,
                    given: part.to_string(),
                });
            }
        }
    }
    Ok(out)
}
