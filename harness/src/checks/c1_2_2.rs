//! Checks of condition 1-2-2. (Placeholder: being written.)

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
            id: CheckId::Op01,
            needs: &[],
            run: todo_check,
        },
        CheckDef {
            id: CheckId::Op02,
            needs: &[],
            run: todo_check,
        },
        CheckDef {
            id: CheckId::Op03,
            needs: &[],
            run: todo_check,
        },
        CheckDef {
            id: CheckId::Op04,
            needs: &[],
            run: todo_check,
        },
    ]
}
