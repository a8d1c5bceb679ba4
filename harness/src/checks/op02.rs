//! OP-02 (condition 1-2-2): a keyboard probe from the serving console
//! changes its watch region in time.

use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::BoxFuture;
use crate::config::declaration::Declaration;
use crate::config::scenario::Scenario;
use crate::model::ids::{CheckId, ConditionId};

use super::support::operate::input_changes;

/// OP-02: Keyboard input from the serving console visibly changes the declared region in time.
pub const DEF: CheckDef = CheckDef {
    id: CheckId::Op02,
    condition: ConditionId::C1_2_2,
    title: "Keyboard input from the serving console visibly changes the declared region in time",
    requirement: Requirement {
        ja: "画面提供中の指令台からのキー入力によって、宣言した監視領域が期限内に変化すること（入力への反応として判定）。",
        en: "A keyboard probe from the serving console changes its watched region in time, judged as a reaction to the input.",
    },
    needs: &[CheckId::St01],
    lane: Lane::Screen,
    phase: Phase::Operation,
    budget: op02_budget,
    run: op02,
};

fn op02_budget(sc: &Scenario, decl: &Declaration) -> u64 {
    budget::add(
        sc.screen.connect_timeout_ms,
        budget::mul(budget::probes(decl), budget::trial(sc)),
    )
}

fn op02(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(input_changes(ctx, "type", "OP-02"))
}
