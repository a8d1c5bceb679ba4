//! Opening consoles for a check and turning failures into outcomes: open
//! with retries, the full update that serves a console, how a session that
//! ended is judged (the harness's own end is `error`, never `fail`).

use std::time::Instant;

use serde_json::{json, Value};

use super::*;
use super::{Coverage, Timeline};
use crate::binding::screen::Rect;
use crate::binding::{CloseHow, CloseReason, ConsoleGone, OpenError, Seq, UpdateInfo};
use crate::checks::{CheckCtx, Outcome};

/// How an open failure is judged: refusals, protocol errors and timeouts are
/// the terminal's (`fail`), harness problems are `error`.
pub fn open_failure_outcome(what: &str, f: &OpenFailure, evidence: Value) -> Outcome {
    let attempts = match (&f.first_error, f.attempts > 1) {
        (Some(first), _) => format!(" after {} attempts (the first was {first})", f.attempts),
        (None, true) => format!(" after {} attempts", f.attempts),
        (None, false) => String::new(),
    };
    match &f.error {
        OpenError::Refused { stage, reason } => Outcome::fail(
            format!("{what}: the terminal refused the console at {stage}{attempts}: {reason}"),
            evidence,
        ),
        OpenError::Protocol { stage, reason } => Outcome::fail(
            format!("{what}: protocol violation at {stage}: {reason}"),
            evidence,
        ),
        OpenError::Timeout { stage, after_ms } => Outcome::fail(
            format!("{what}: no progress at {stage} within {after_ms} ms"),
            evidence,
        ),
        OpenError::Harness(e) => Outcome::error(format!("{what}: harness error: {e}"), evidence),
    }
}

/// The open error as evidence.
pub fn open_error_json(e: &OpenError) -> Value {
    match e {
        OpenError::Refused { stage, reason } => {
            json!({"kind": "refused", "stage": stage, "reason": reason})
        }
        OpenError::Protocol { stage, reason } => {
            json!({"kind": "protocol", "stage": stage, "reason": reason})
        }
        OpenError::Timeout { stage, after_ms } => {
            json!({"kind": "timeout", "stage": stage, "after_ms": after_ms})
        }
        OpenError::Harness(e) => json!({"kind": "harness", "reason": e}),
    }
}

/// Opens a console for a check that is not about exclusivity: refusals are
/// retried for the scenario's exclusivity timeout (the terminal may still be
/// releasing the previous check's console).
pub async fn open_console(ctx: &CheckCtx, label: &str, tl: &Timeline) -> Result<Tracked, Outcome> {
    let sc = &ctx.scenario.screen;
    Tracked::open_retrying(
        ctx.screen.as_ref(),
        label,
        CheckCtx::ms(sc.connect_timeout_ms),
        CheckCtx::ms(sc.exclusivity_timeout_ms),
        REOPEN_INTERVAL,
        tl,
    )
    .await
    .map_err(|f| {
        open_failure_outcome(
            &format!("opening console {label}"),
            &f,
            json!({"open_error": open_error_json(&f.error), "attempts": f.attempts, "timeline": tl.evidence()}),
        )
    })
}

/// Most full update requests [`serve_full`] sends before it gives up on a
/// terminal that keeps answering without painting the whole screen.
pub const FULL_ASKS: u32 = 4;

/// Asks for the whole screen and waits, within the update timeout, until
/// every pixel has been painted. A terminal may answer the request with
/// updates that do not paint it all (TigerVNC can answer a new console's
/// first request with the pointer's shape alone); when the answers are
/// used up and pixels are still unpainted, the whole screen is asked for
/// again, at most [`FULL_ASKS`] times in all. Returns the update that
/// completed the image. The error is the outcome to return (fail or error).
pub async fn serve_full(
    ctx: &CheckCtx,
    t: &mut Tracked,
    tl: &Timeline,
) -> Result<UpdateInfo, Outcome> {
    let timeout = ctx.scenario.screen.update_timeout_ms;
    let label = t.label().to_string();
    let screen = t.bounds();
    let mut painted = Coverage::of(screen);
    let mut asks = 0u32;
    let mut updates = 0u32;
    let mut deadline = None;
    loop {
        if t.outstanding() == 0 {
            if asks == FULL_ASKS {
                let (n, bbox) = painted.uncovered();
                return Err(Outcome::fail(
                    format!(
                        "console {label}: {asks} full update requests were answered ({updates} update(s)) \
                         but {n} pixels{} were never painted",
                        bbox.map(|b| format!(" within {b}")).unwrap_or_default()
                    ),
                    json!({"timeline": tl.evidence()}),
                ));
            }
            match t.request(false, None).await {
                Ok(s) => {
                    asks += 1;
                    deadline.get_or_insert(s.at + CheckCtx::ms(timeout));
                }
                Err(ConsoleGone) => {
                    let reason = t.gone_reason().await;
                    return Err(closed_outcome(
                        &format!("console {label} could not ask for a full update"),
                        &reason,
                        json!({"timeline": tl.evidence()}),
                    ));
                }
            }
        }
        let until = deadline.unwrap_or_else(Instant::now);
        match t.next_update(until).await {
            Ok(u) => {
                updates += 1;
                for r in super::patch::damage(&u, screen) {
                    painted.add(r);
                }
                if painted.uncovered().0 == 0 {
                    return Ok(u);
                }
            }
            Err(Ev::Closed { reason, .. }) => {
                return Err(closed_outcome(
                    &format!("console {label} was closed before its first full update"),
                    &reason,
                    json!({"timeline": tl.evidence()}),
                ))
            }
            Err(_) if updates == 0 => {
                return Err(Outcome::fail(
                    format!(
                        "console {label}: no answer to a full update request within {timeout} ms"
                    ),
                    json!({"timeline": tl.evidence()}),
                ))
            }
            Err(_) => {
                let (n, bbox) = painted.uncovered();
                return Err(Outcome::fail(
                    format!(
                        "console {label}: the answers to {asks} full update request(s) left {n} pixels{} \
                         unpainted within {timeout} ms",
                        bbox.map(|b| format!(" within {b}")).unwrap_or_default()
                    ),
                    json!({"timeline": tl.evidence()}),
                ));
            }
        }
    }
}

/// Opens a console and has it served with a full update.
pub async fn open_served(ctx: &CheckCtx, label: &str, tl: &Timeline) -> Result<Tracked, Outcome> {
    let mut t = open_console(ctx, label, tl).await?;
    match serve_full(ctx, &mut t, tl).await {
        Ok(_) => Ok(t),
        Err(o) => {
            t.close(CloseHow::Clean).await;
            Err(o)
        }
    }
}

/// The outcome when a session ended where it should not have: the harness's
/// own close is an `error`, anything else a `fail`.
pub fn closed_outcome(what: &str, reason: &CloseReason, evidence: Value) -> Outcome {
    if reason.harness_side() {
        Outcome::error(
            format!(
                "{what}: the harness ended the session itself ({}); cannot judge",
                describe_close(reason)
            ),
            evidence,
        )
    } else {
        Outcome::fail(format!("{what}: {}", describe_close(reason)), evidence)
    }
}

/// How a watch for change ended.
#[derive(Debug, Clone)]
pub enum Watch {
    /// The region changed with the update applied at `at`.
    Changed {
        /// When the changing update was applied.
        at: Instant,
        /// Its sequence number.
        seq: Seq,
        /// Pixels changed.
        pixels: u64,
        /// Their bounding box.
        bbox: Rect,
    },
    /// Nothing changed by the deadline.
    Unchanged,
    /// The session ended.
    Closed(CloseReason),
}
