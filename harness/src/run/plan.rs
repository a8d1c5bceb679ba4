//! The plan of a run: each lane's order and the prerequisites the runner
//! can honour, and each check's time limit.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::checks::{CheckDef, Lane};
use crate::config::declaration::Declaration;
use crate::config::scenario::Scenario;
use crate::model::ids::CheckId;

/// No check is cut off before this much time.
pub const MIN_TIME_LIMIT: Duration = Duration::from_secs(60);

/// No check may run longer than this, unless the scenario itself asks for a
/// longer wait (a long soak, a manual trigger): then the check gets that wait
/// plus [`LIMIT_MARGIN`].
pub const MAX_TIME_LIMIT: Duration = Duration::from_secs(600);

/// Slack on top of what the scenario says a check needs.
pub const LIMIT_MARGIN: Duration = Duration::from_secs(120);

/// The time limit of a check: twice what the scenario says it needs plus
/// 30 s, at least [`MIN_TIME_LIMIT`], at most [`MAX_TIME_LIMIT`] unless the
/// scenario's own waits are longer (then those waits plus [`LIMIT_MARGIN`]).
pub fn time_limit(def: &CheckDef, sc: &Scenario, decl: &Declaration) -> Duration {
    let nominal = (def.budget)(sc, decl);
    let generous = nominal.saturating_mul(2).saturating_add(30_000);
    let ceiling = (MAX_TIME_LIMIT.as_millis() as u64)
        .max(nominal.saturating_add(LIMIT_MARGIN.as_millis() as u64));
    Duration::from_millis(generous.clamp(MIN_TIME_LIMIT.as_millis() as u64, ceiling))
}

/// Orders the checks of each lane and keeps only the prerequisites the
/// runner can honour: a same-lane prerequisite must come earlier in its
/// lane; a cross-lane one is kept only if waiting for it cannot deadlock.
pub(super) struct Plan {
    pub(super) screen: Vec<usize>,
    pub(super) data: Vec<usize>,
    pub(super) needs: Vec<Vec<CheckId>>,
}

pub(super) fn plan(catalog: &[CheckDef]) -> Plan {
    let lane_order = |lane: Lane| {
        let mut v: Vec<usize> = (0..catalog.len())
            .filter(|&i| catalog[i].lane == lane)
            .collect();
        // Stable: catalog order within a phase.
        v.sort_by_key(|&i| catalog[i].phase);
        v
    };
    let screen = lane_order(Lane::Screen);
    let data = lane_order(Lane::Data);

    // Position of each check within its lane.
    let mut pos: BTreeMap<CheckId, (Lane, usize)> = BTreeMap::new();
    for (lane, order) in [(Lane::Screen, &screen), (Lane::Data, &data)] {
        for (p, &i) in order.iter().enumerate() {
            pos.insert(catalog[i].id, (lane, p));
        }
    }
    let index_of: BTreeMap<CheckId, usize> =
        catalog.iter().enumerate().map(|(i, c)| (c.id, i)).collect();

    // Graph edges: lane predecessor -> successor, kept prerequisite -> check.
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); catalog.len()];
    for order in [&screen, &data] {
        for w in order.windows(2) {
            edges[w[0]].push(w[1]);
        }
    }
    let mut needs = vec![Vec::new(); catalog.len()];
    for (i, def) in catalog.iter().enumerate() {
        let Some(&(lane, p)) = pos.get(&def.id) else {
            continue;
        };
        for need in def.needs {
            let (Some(&(nlane, np)), Some(&ni)) = (pos.get(need), index_of.get(need)) else {
                tracing::warn!(check = %def.id, need = %need, "prerequisite is not in the catalog; ignored");
                continue;
            };
            if nlane == lane {
                if np < p {
                    needs[i].push(*need);
                } else {
                    tracing::warn!(check = %def.id, need = %need, "prerequisite runs later in the same lane; ignored");
                }
            } else if reaches(&edges, i, ni) {
                tracing::warn!(check = %def.id, need = %need, "waiting for this prerequisite could deadlock; ignored");
            } else {
                edges[ni].push(i);
                needs[i].push(*need);
            }
        }
    }
    Plan {
        screen,
        data,
        needs,
    }
}

/// Whether `to` is reachable from `from`.
fn reaches(edges: &[Vec<usize>], from: usize, to: usize) -> bool {
    let mut seen = vec![false; edges.len()];
    let mut stack = vec![from];
    while let Some(n) = stack.pop() {
        if n == to {
            return true;
        }
        if std::mem::replace(&mut seen[n], true) {
            continue;
        }
        stack.extend(edges[n].iter().copied());
    }
    false
}
