//! What a check is: one literal per check ([`CheckDef`]) holding everything
//! the rest of the harness needs to know about it. The catalog, the
//! runner's lanes, order and time limits, `s301 checks` and the docs' table
//! all read these literals; nothing else describes a check.

use crate::binding::BoxFuture;
use crate::config::declaration::{Declaration, Trigger};
use crate::config::scenario::Scenario;
use crate::model::ids::{CheckId, ConditionId};

use super::{CheckCtx, Outcome};

/// A check's body.
pub type RunFn = for<'a> fn(&'a CheckCtx) -> BoxFuture<'a, Outcome>;

/// Roughly how long a check takes on a slow but conforming terminal (ms),
/// from the scenario's timeouts and the declaration (its probes, its push
/// trigger). The runner's time limit is derived from it.
pub type BudgetFn = fn(&Scenario, &Declaration) -> u64;

/// Which lane a check runs in. The two lanes run at the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lane {
    /// Checks that open screen consoles (1-2-1, 1-2-2, and TLS-01, which
    /// opens a console of its own): one console at a time.
    Screen,
    /// Checks of the data channel (1-3-1, 1-3-2).
    Data,
}

impl Lane {
    /// The lane check `id`'s literal names.
    pub fn of(id: CheckId) -> Lane {
        super::def(id).lane
    }
}

/// Where a check runs within its lane: lanes run phase by phase, and within
/// a phase in catalog order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// The session and the transfer of the screen (ST, TLS-01).
    Transfer,
    /// Input from the console (OP): before exclusivity, so that a terminal
    /// left wedged by a contention bug cannot hide the operation results.
    Operation,
    /// More than one console (EX): last.
    Exclusivity,
    /// The data channel (DO, DI, DR).
    Data,
}

/// What a check requires, in the words a department reads (Japanese first)
/// and in English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    /// 日本語の要件.
    pub ja: &'static str,
    /// The requirement in English.
    pub en: &'static str,
}

/// A check of the catalog: its identity, where it stands, what it requires
/// and how it runs.
#[derive(Clone, Copy)]
pub struct CheckDef {
    /// Stable id.
    pub id: CheckId,
    /// The condition it judges.
    pub condition: ConditionId,
    /// What must hold, in one English line (tables, JUnit).
    pub title: &'static str,
    /// The requirement in full, Japanese and English.
    pub requirement: Requirement,
    /// Checks whose failure makes this one `skipped` (the detail names them).
    pub needs: &'static [CheckId],
    /// The lane it runs in.
    pub lane: Lane,
    /// Its phase within the lane.
    pub phase: Phase,
    /// Its nominal duration.
    pub budget: BudgetFn,
    /// Runs the check.
    pub run: RunFn,
}

impl std::fmt::Debug for CheckDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckDef")
            .field("id", &self.id)
            .field("condition", &self.condition)
            .field("lane", &self.lane)
            .field("phase", &self.phase)
            .field("needs", &self.needs)
            .finish_non_exhaustive()
    }
}

/// Shared pieces of the checks' budgets (ms, saturating).
pub mod budget {
    use super::*;

    /// `a + b`, saturating.
    pub fn add(a: u64, b: u64) -> u64 {
        a.saturating_add(b)
    }

    /// `a * b`, saturating.
    pub fn mul(a: u64, b: u64) -> u64 {
        a.saturating_mul(b)
    }

    /// The declared probes (at least one).
    pub fn probes(decl: &Declaration) -> u64 {
        decl.operation.probes.len().max(1) as u64
    }

    /// One input trial: settle after the move to the rest point, the control
    /// period, then the wait for the reaction.
    pub fn trial(sc: &Scenario) -> u64 {
        add(
            add(sc.screen.quiet_ms, sc.operation.control_ms),
            sc.operation.change_timeout_ms,
        )
    }

    /// The wait for a push: the manual trigger's wait when a person
    /// triggers the report, the push timeout otherwise.
    pub fn push(sc: &Scenario, decl: &Declaration) -> u64 {
        match decl.data.as_ref().map(|x| x.trigger) {
            Some(Trigger::Manual) => sc.data.manual_timeout_ms,
            _ => sc.data.push_timeout_ms,
        }
    }

    /// A push, then `requests` requests of the data channel.
    pub fn push_then_requests(sc: &Scenario, decl: &Declaration, requests: u64) -> u64 {
        add(push(sc, decl), mul(sc.data.request_timeout_ms, requests))
    }

    /// Opening a console and waiting for one answer.
    pub fn console(sc: &Scenario) -> u64 {
        add(sc.screen.connect_timeout_ms, sc.screen.update_timeout_ms)
    }
}
