//! Checks of condition 1-3-2. (Placeholder: being written.)

use super::{CheckCtx, CheckDef, Outcome};
use crate::binding::BoxFuture;
use crate::catalog::CheckId;

fn todo_check(_: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(async { Outcome::error("not implemented yet", serde_json::Value::Null) })
}

/// The checks of this condition.
pub fn checks() -> Vec<CheckDef> {
    vec![
        CheckDef {
            id: CheckId::Dr01,
            needs: &[],
            run: todo_check,
        },
        CheckDef {
            id: CheckId::Dr02,
            needs: &[],
            run: todo_check,
        },
        CheckDef {
            id: CheckId::Dr03,
            needs: &[],
            run: todo_check,
        },
    ]
}
