//! The declaration's probes and regions as the screen checks read them.

use serde_json::{json, Value};

use super::*;
use crate::binding::screen::Rect;
use crate::checks::{CheckCtx, Outcome};
use crate::config::declaration::Probe;

/// The smallest rectangle holding every region (`None` for none: the whole
/// screen).
pub fn union_of(regions: &[Rect]) -> Option<Rect> {
    regions.iter().copied().reduce(|a, b| a.union(&b))
}

/// The first automatic probe of the wanted kind: `"click"`, `"move"`,
/// `"pointer"` (click or move) or `"type"`.
pub fn find_probe<'a>(ctx: &'a CheckCtx, kind: &str) -> Option<&'a Probe> {
    ctx.declaration.operation.probes.iter().find(|p| {
        matches!(
            (kind, p),
            ("click", Probe::Click { .. })
                | ("move", Probe::Move { .. })
                | ("pointer", Probe::Click { .. } | Probe::Move { .. })
                | ("type", Probe::Type { .. })
        )
    })
}

/// Every automatic probe: pointer probes (click, move) first, then typing.
pub fn auto_probes(ctx: &CheckCtx) -> Vec<&Probe> {
    let probes = &ctx.declaration.operation.probes;
    let pointer = probes
        .iter()
        .filter(|p| matches!(p, Probe::Click { .. } | Probe::Move { .. }));
    let types = probes.iter().filter(|p| matches!(p, Probe::Type { .. }));
    pointer.chain(types).collect()
}

/// The error when a check needs an automatic probe of `kind` and none is
/// declared.
pub fn no_probe(kind: &str, why: &str) -> Outcome {
    let manual = "manual probes are not automated yet";
    Outcome::error(
        format!("no automatic {kind} probe declared; {why} ({manual}: declare a [[operation.probe]] with kind = \"{kind}\")"),
        Value::Null,
    )
}

/// A probe as evidence.
pub fn probe_json(p: &Probe) -> Value {
    match p {
        Probe::Click { x, y, from, watch } | Probe::Move { x, y, from, watch } => {
            json!({"kind": p.kind().as_str(), "x": x, "y": y, "from": from, "watch": watch.map(rect_json)})
        }
        Probe::Type { text, watch } => {
            json!({"kind": "type", "text": text, "watch": watch.map(rect_json)})
        }
        Probe::Manual { prompt, watch } => {
            json!({"kind": "manual", "prompt": prompt, "watch": watch.map(rect_json)})
        }
    }
}

/// The declaration's fault when a region or point it gives lies outside
/// the screen the terminal announced: such a probe could never pass, and
/// the terminal is not to blame. Checked once the size is known.
pub fn declared_regions_fit(ctx: &CheckCtx, screen: Rect) -> Result<(), Outcome> {
    let size = format!("{}x{}", screen.w, screen.h);
    let inside = |r: &Rect| r.w > 0 && r.h > 0 && r.within(screen.w, screen.h);
    let point_in = |x: u16, y: u16| screen.contains(x, y);
    let bad = |key: String, what: String| {
        Err(Outcome::error(
            format!("the declaration's {key} {what} lies outside the {size} screen the terminal announced; fix the declaration (the terminal is not judged on it)"),
            json!({"key": key, "screen": [screen.w, screen.h]}),
        ))
    };
    for (i, r) in ctx.declaration.screen.ignore.iter().enumerate() {
        if !inside(r) {
            return bad(
                format!("screen.ignore[{i}]"),
                format!("[{}, {}, {}, {}]", r.x, r.y, r.w, r.h),
            );
        }
    }
    for (i, p) in ctx.declaration.operation.probes.iter().enumerate() {
        if let Some(r) = p.watch() {
            if !inside(&r) {
                return bad(
                    format!("operation.probe[{i}].watch"),
                    format!("[{}, {}, {}, {}]", r.x, r.y, r.w, r.h),
                );
            }
        }
        if let Some((x, y)) = p.point() {
            if !point_in(x, y) {
                return bad(format!("operation.probe[{i}] point"), format!("({x}, {y})"));
            }
        }
        if let Some((x, y)) = p.from() {
            if !point_in(x, y) {
                return bad(format!("operation.probe[{i}].from"), format!("[{x}, {y}]"));
            }
        }
    }
    Ok(())
}

/// The region a probe watches: its own, else the whole screen.
pub fn probe_region(p: &Probe, screen: Rect) -> Rect {
    p.watch().unwrap_or(screen)
}

/// The session facts as evidence.
pub fn session_json(t: &Tracked) -> Value {
    serde_json::to_value(t.info()).unwrap_or(Value::Null)
}
