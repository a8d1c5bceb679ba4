//! Checks of condition 1-3-1. (Placeholder: being written.)

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
            id: CheckId::Do01,
            needs: &[],
            run: todo_check,
        },
        CheckDef {
            id: CheckId::Do02,
            needs: &[],
            run: todo_check,
        },
        CheckDef {
            id: CheckId::Do03,
            needs: &[],
            run: todo_check,
        },
        CheckDef {
            id: CheckId::Di01,
            needs: &[],
            run: todo_check,
        },
        CheckDef {
            id: CheckId::Di02,
            needs: &[],
            run: todo_check,
        },
    ]
}
