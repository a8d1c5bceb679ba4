//! Checks of condition 1-2-1. (Placeholder: being written.)

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
            id: CheckId::St01,
            needs: &[],
            run: todo_check,
        },
        CheckDef {
            id: CheckId::St02,
            needs: &[],
            run: todo_check,
        },
        CheckDef {
            id: CheckId::St03,
            needs: &[],
            run: todo_check,
        },
        CheckDef {
            id: CheckId::St04,
            needs: &[],
            run: todo_check,
        },
        CheckDef {
            id: CheckId::Ex01,
            needs: &[],
            run: todo_check,
        },
        CheckDef {
            id: CheckId::Ex02,
            needs: &[],
            run: todo_check,
        },
        CheckDef {
            id: CheckId::Ex03,
            needs: &[],
            run: todo_check,
        },
    ]
}
