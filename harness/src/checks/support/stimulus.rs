//! Attributing a change on the screen to an input.
//!
//! Real terminals change their screens on their own (a blinking text cursor,
//! a clock), react to where the pointer is rather than to a click (hover),
//! and often react to an input only once (focus, selection). Every input
//! check therefore runs one *trial* per stimulus, in this order:
//!
//! 1. **Rest.** A pointer stimulus (click or move) first moves the pointer
//!    to a rest point: the probe's `from`, else a point outside the watched
//!    region (see [`rest_point`]). The screen then gets
//!    [`crate::config::scenario::ScreenScenario::quiet_ms`] to finish reacting to
//!    that move. So every repetition moves the pointer onto the target anew
//!    and can take effect.
//! 2. **Control.** With no input at all, the watched region is observed for
//!    the scenario's `control_ms`. Every pixel that changes meanwhile is
//!    *self-changing* ([`Control`]) and never counts as a reaction. When
//!    such pixels are more than [`MAX_SELF_CHANGE_SHARE`] of the region the
//!    trial cannot judge at all: the check errs and asks the vendor to
//!    declare the area under `[screen] ignore`.
//! 3. **Stimulus.** The input is written; its sequence number orders it
//!    against everything the console receives ([`crate::binding::seq`]).
//! 4. **Reaction.** A pixel counts as the terminal's reaction only if it
//!    differs from the image as it stood when the input was written, lies
//!    outside the declared `ignore` regions and outside the self-changing
//!    pixels, and arrived in an update whose first bytes came after the input
//!    was written ([`crate::binding::UpdateInfo::began`]). Updates that began
//!    earlier are applied to the reference image instead: they were composed
//!    before the terminal could have read the input.
//! 5. **Pointer sprite.** A terminal that sends its pointer shape apart from
//!    the image (RFB's Cursor pseudo-encoding) leaves the pointer out of the
//!    framebuffer. One that does not may draw the pointer into the image, so
//!    the pointer's own footprint at the rest point and at the target
//!    ([`footprint`]) is excluded as well: moving a sprite is never by itself
//!    a reaction.
//!
//! Only the watched region's pixels are copied ([`Patch`], in
//! [`super::patch`]) and updates are
//! compared in place, within the rectangles they painted, so memory does not
//! grow with the screen size the terminal announces beyond one copy of the
//! region.

use std::time::{Duration, Instant};

use crate::binding::screen::Rect;
use serde_json::{json, Value};

pub use super::patch::{damage, Exclusions, Patch};
use super::{closed_outcome, rect_json, round_ms, Coverage, Ev, Sent, Tracked, Watch};
use crate::binding::CloseReason;
use crate::checks::{CheckCtx, Outcome};
use crate::config::declaration::Probe;

/// The largest share of a watched region that may change on its own and be
/// excluded automatically. Above it a trial cannot judge.
pub const MAX_SELF_CHANGE_SHARE: f64 = 0.10;

/// Half the side of the box assumed around the pointer when the terminal
/// does not send the pointer's shape (common sprites are at most 32x32,
/// their hotspot anywhere inside).
pub const SPRITE_REACH: u16 = 32;

/// What changed on its own during a control period.
pub struct Control {
    /// How long the region was watched.
    pub period_ms: u64,
    /// The region watched.
    pub region: Rect,
    /// Pixels that changed.
    pub mask: Coverage,
    /// Updates that changed at least one of them.
    pub changes: u32,
}

impl Control {
    /// Pixels that changed, and their bounding box.
    pub fn changed(&self) -> (u64, Option<Rect>) {
        self.mask.marked()
    }

    /// Whether so much of the region changed on its own that no reaction
    /// can be told apart from it.
    pub fn too_busy(&self) -> bool {
        let (n, _) = self.changed();
        n as f64 > self.region.area() as f64 * MAX_SELF_CHANGE_SHARE
    }

    /// `6x13+123+3 changed 4 times in 1000 ms with no input`, or `None`.
    pub fn describe(&self) -> Option<String> {
        let (n, bbox) = self.changed();
        let bbox = bbox?;
        Some(format!(
            "{bbox} changed {} time{} in {} ms with no input ({n} pixels)",
            self.changes,
            if self.changes == 1 { "" } else { "s" },
            self.period_ms
        ))
    }

    /// The control as evidence.
    pub fn json(&self) -> Value {
        let (n, bbox) = self.changed();
        json!({
            "period_ms": self.period_ms,
            "region": rect_json(self.region),
            "self_changing": bbox.map(|b| json!({
                "bbox": rect_json(b),
                "pixels": n,
                "changes": self.changes,
            })),
        })
    }

    /// The error when the region is too busy to judge.
    pub fn busy_detail(&self, what: &str) -> String {
        format!(
            "{} changes on its own ({}; over {}% of it); cannot judge {what} (declare such regions under [screen] ignore, or watch a quieter region)",
            self.region,
            self.describe().unwrap_or_default(),
            (MAX_SELF_CHANGE_SHARE * 100.0) as u32
        )
    }
}

/// Watches `region` with no input for `period`, keeping one incremental
/// request for it outstanding, and records every pixel that changes outside
/// `ignore`.
pub async fn control(
    t: &mut Tracked,
    region: Rect,
    ignore: &[Rect],
    period: Duration,
) -> Result<Control, CloseReason> {
    let mut mask = Coverage::of(region);
    let mut changes = 0u32;
    let Some(mut reference) = Patch::capture(t, region) else {
        return Ok(Control {
            period_ms: period.as_millis() as u64,
            region,
            mask,
            changes,
        });
    };
    let skip = Exclusions::declared(ignore);
    let until = Instant::now() + period;
    loop {
        if t.outstanding() == 0 && t.request(true, Some(region)).await.is_err() {
            return Err(t.gone_reason().await);
        }
        match t.next(until).await {
            Ev::Update(u) => {
                let areas = damage(&u, region);
                let mut any = false;
                t.with_framebuffer(|fb| {
                    reference.for_each_change(fb, &areas, |x, y| {
                        if !skip.excludes(x, y) {
                            mask.mark(x, y);
                            any = true;
                        }
                    });
                    reference.refresh(fb, &areas);
                });
                changes += u32::from(any);
            }
            Ev::Closed { reason, .. } => return Err(reason),
            Ev::Timeout => break,
        }
    }
    Ok(Control {
        period_ms: period.as_millis() as u64,
        region,
        mask,
        changes,
    })
}

/// Consumes updates for `period` (keeping a request for `region`
/// outstanding), whatever they change: time for the screen to finish
/// reacting to a move to the rest point.
pub async fn pause(t: &mut Tracked, region: Rect, period: Duration) -> Result<(), CloseReason> {
    let until = Instant::now() + period;
    loop {
        if t.outstanding() == 0 && t.request(true, Some(region)).await.is_err() {
            return Err(t.gone_reason().await);
        }
        match t.next(until).await {
            Ev::Update(_) => {}
            Ev::Closed { reason, .. } => return Err(reason),
            Ev::Timeout => return Ok(()),
        }
    }
}

/// One input, as a trial sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stimulus {
    /// Pointer to (x, y), button 1 down and up.
    Click(u16, u16),
    /// Pointer to (x, y), no button.
    Move(u16, u16),
    /// Keys for each character.
    Type(String),
}

impl Stimulus {
    /// The stimulus of an automatic probe (`None` for a manual one).
    pub fn of(p: &Probe) -> Option<Stimulus> {
        match p {
            Probe::Click { x, y, .. } => Some(Stimulus::Click(*x, *y)),
            Probe::Move { x, y, .. } => Some(Stimulus::Move(*x, *y)),
            Probe::Type { text, .. } => Some(Stimulus::Type(text.clone())),
            Probe::Manual { .. } => None,
        }
    }

    /// Where the pointer goes, for pointer stimuli.
    pub fn point(&self) -> Option<(u16, u16)> {
        match self {
            Stimulus::Click(x, y) | Stimulus::Move(x, y) => Some((*x, *y)),
            Stimulus::Type(_) => None,
        }
    }

    /// A short description (`a click at (10, 20)`).
    pub fn describe(&self) -> String {
        match self {
            Stimulus::Click(x, y) => format!("a click at ({x}, {y})"),
            Stimulus::Move(x, y) => format!("a pointer move to ({x}, {y})"),
            Stimulus::Type(text) => format!("typing {text:?}"),
        }
    }

    /// Writes it; returns the first event written.
    pub async fn send(&self, t: &mut Tracked) -> Result<Sent, crate::binding::ConsoleGone> {
        match self {
            Stimulus::Click(x, y) => t.click(*x, *y).await,
            Stimulus::Move(x, y) => t.move_pointer(*x, *y).await,
            Stimulus::Type(text) => match t.type_text(text).await? {
                Some(s) => Ok(s),
                None => Ok(Sent {
                    seq: crate::binding::seq::next(),
                    at: Instant::now(),
                }),
            },
        }
    }
}

/// The box a pointer drawn into the image may cover around `(x, y)`:
/// [`SPRITE_REACH`] in every direction, grown to hold the shape the
/// terminal sent, if any. A terminal that sends the shape may still draw
/// the pointer into the image (TigerVNC does, for a console whose pointer
/// is not where the server's is), so the box applies either way.
pub fn footprint(x: u16, y: u16, shape: Option<&crate::binding::CursorShape>) -> Rect {
    let reach = Rect::new(
        x.saturating_sub(SPRITE_REACH),
        y.saturating_sub(SPRITE_REACH),
        SPRITE_REACH.saturating_mul(2),
        SPRITE_REACH.saturating_mul(2),
    );
    match shape {
        Some(s) => reach.union(&Rect::new(
            x.saturating_sub(s.hot_x),
            y.saturating_sub(s.hot_y),
            s.width,
            s.height,
        )),
        None => reach,
    }
}

/// The rest point of a pointer stimulus at `target`: the declared one, else
/// the first screen corner or edge middle outside `region` and clear of the
/// pointer's footprint around `target`, else the corner farthest from it.
pub fn rest_point(
    declared: Option<(u16, u16)>,
    target: (u16, u16),
    region: Rect,
    screen: Rect,
) -> (u16, u16) {
    if let Some(p) = declared {
        return p;
    }
    let (r, b) = (screen.w.saturating_sub(1), screen.h.saturating_sub(1));
    let (mx, my) = (screen.w / 2, screen.h / 2);
    let candidates = [
        (0, b),
        (r, b),
        (0, 0),
        (r, 0),
        (mx, b),
        (0, my),
        (r, my),
        (mx, 0),
    ];
    let near = footprint(target.0, target.1, None);
    let clear = |&(x, y): &(u16, u16)| !region.contains(x, y) && !near.contains(x, y);
    if let Some(p) = candidates.iter().copied().find(clear) {
        return p;
    }
    let dist = |&(x, y): &(u16, u16)| {
        let dx = i64::from(x) - i64::from(target.0);
        let dy = i64::from(y) - i64::from(target.1);
        dx * dx + dy * dy
    };
    candidates[..4]
        .iter()
        .copied()
        .max_by_key(dist)
        .unwrap_or((0, 0))
}

/// How long each phase of a trial may take.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// After the move to the rest point.
    pub settle: Duration,
    /// The control period.
    pub control: Duration,
    /// From the input to the reaction.
    pub reaction: Duration,
}

/// Why a trial could not judge.
pub enum TrialError {
    /// The session ended in this phase.
    Closed(&'static str, CloseReason),
    /// The region changes on its own too much (the control is returned).
    TooBusy(Control),
}

/// What one trial saw.
pub struct Trial {
    /// The rest point used (pointer stimuli).
    pub rest: Option<(u16, u16)>,
    /// Whether the rest point was the declared `from`.
    pub rest_declared: bool,
    /// The control period.
    pub control: Control,
    /// The input as written.
    pub sent: Sent,
    /// How the watch for the reaction ended (pixels and box exclude what
    /// cannot be the reaction).
    pub watch: Watch,
    /// The region as it stood when the input was written.
    pub before: Option<Patch>,
    /// The pointer's footprints that were excluded (around the rest point
    /// and the target of a pointer stimulus).
    pub footprints: Vec<Rect>,
    /// Whether the terminal sent its pointer shape.
    pub cursor_shape: bool,
}

impl Trial {
    /// The trial as evidence.
    pub fn json(&self) -> Value {
        let mut v = json!({
            "control": self.control.json(),
            "cursor_shape_received": self.cursor_shape,
            "pointer_footprints_excluded": self.footprints.iter().map(|r| rect_json(*r)).collect::<Vec<_>>(),
        });
        if let Some((x, y)) = self.rest {
            v["rest_point"] = json!([x, y]);
            v["rest_point_declared"] = json!(self.rest_declared);
        }
        match &self.watch {
            Watch::Changed {
                at, pixels, bbox, ..
            } => {
                v["reaction"] = json!({
                    "ms": round_ms(super::ms_between(self.sent.at, *at)),
                    "pixels": pixels,
                    "bbox": rect_json(*bbox),
                });
            }
            Watch::Unchanged => v["reaction"] = Value::Null,
            Watch::Closed(_) => {}
        }
        v
    }

    /// The control's note for a detail: `; 6x13+123+3 changed ... (not counted)`.
    pub fn self_change_note(&self) -> String {
        match self.control.describe() {
            Some(d) => format!("; {d}, not counted"),
            None => String::new(),
        }
    }
}

/// Runs one trial of `stim` watching `region` (see the module docs).
pub async fn trial(
    t: &mut Tracked,
    stim: &Stimulus,
    declared_rest: Option<(u16, u16)>,
    region: Rect,
    ignore: &[Rect],
    timing: Timing,
) -> Result<Trial, TrialError> {
    let screen = t.bounds();
    let mut rest = None;
    if let Some(target) = stim.point() {
        let p = rest_point(declared_rest, target, region, screen);
        if t.move_pointer(p.0, p.1).await.is_err() {
            return Err(TrialError::Closed(
                "moving to the rest point",
                t.gone_reason().await,
            ));
        }
        rest = Some(p);
        pause(t, region, timing.settle)
            .await
            .map_err(|r| TrialError::Closed("after the move to the rest point", r))?;
    }
    let control = control(t, region, ignore, timing.control)
        .await
        .map_err(|r| TrialError::Closed("during the control period", r))?;
    if control.too_busy() {
        return Err(TrialError::TooBusy(control));
    }
    let shape = t.cursor();
    // Where the pointer was and goes: a sprite drawn there is never the
    // reaction, whether or not the terminal also sent its shape.
    let mut footprints = Vec::new();
    if let Some(target) = stim.point() {
        footprints.push(footprint(target.0, target.1, shape.as_ref()));
        if let Some((x, y)) = rest {
            footprints.push(footprint(x, y, shape.as_ref()));
        }
    }
    let mut before = Patch::capture(t, region);
    let sent = match stim.send(t).await {
        Ok(s) => s,
        Err(_) => {
            return Err(TrialError::Closed(
                "sending the input",
                t.gone_reason().await,
            ))
        }
    };
    let skip = Exclusions {
        ignore: ignore.to_vec(),
        self_changing: Some(control.mask.clone()),
        footprints: footprints.clone(),
    };
    let until = sent.at + timing.reaction;
    let watch = match before.as_mut() {
        Some(b) => react(t, region, b, sent, &skip, until).await,
        None => Watch::Unchanged,
    };
    Ok(Trial {
        rest,
        rest_declared: declared_rest.is_some(),
        control,
        sent,
        watch,
        before,
        footprints,
        cursor_shape: shape.is_some(),
    })
}

/// Waits until a pixel of `region` that `skip` does not exclude differs from
/// `before` in an update that began after `sent`, or `until`. Updates that
/// began earlier are folded into `before`. The change reported is the whole
/// of it at that moment, within `region`.
pub async fn react(
    t: &mut Tracked,
    region: Rect,
    before: &mut Patch,
    sent: Sent,
    skip: &Exclusions,
    until: Instant,
) -> Watch {
    loop {
        if t.outstanding() == 0 && t.request(true, Some(region)).await.is_err() {
            return Watch::Closed(t.gone_reason().await);
        }
        match t.next(until).await {
            Ev::Update(u) => {
                let areas = damage(&u, region);
                if u.began < sent.seq {
                    t.with_framebuffer(|fb| before.refresh(fb, &areas));
                    continue;
                }
                let hit = t.with_framebuffer(|fb| {
                    before
                        .diff(fb, &areas, skip)
                        .map(|_| before.diff(fb, &[region], skip))
                });
                if let Some(Some((pixels, bbox))) = hit {
                    return Watch::Changed {
                        at: u.at,
                        seq: u.seq,
                        pixels,
                        bbox,
                    };
                }
            }
            Ev::Closed { reason, .. } => return Watch::Closed(reason),
            Ev::Timeout => return Watch::Unchanged,
        }
    }
}

/// The trial timing a scenario gives: settle for `quiet_ms`, control for
/// `control_ms`, react within `change_timeout_ms`.
pub fn timing(ctx: &CheckCtx) -> Timing {
    Timing {
        settle: CheckCtx::ms(ctx.scenario.screen.quiet_ms),
        control: CheckCtx::ms(ctx.scenario.operation.control_ms),
        reaction: CheckCtx::ms(ctx.scenario.operation.change_timeout_ms),
    }
}

/// The outcome of a trial that could not judge.
pub fn trial_error_outcome(e: TrialError, what: &str, evidence: Value) -> Outcome {
    match e {
        TrialError::Closed(phase, reason) => {
            closed_outcome(&format!("the session ended {phase}"), &reason, evidence)
        }
        TrialError::TooBusy(c) => {
            let mut ev = evidence;
            if ev.is_object() {
                ev["control"] = c.json();
            }
            Outcome::error(c.busy_detail(what), ev)
        }
    }
}

/// Keeps the region around `r` before the input (from `before`) and now
/// (from the console), `r` outlined, as `before` and `after`. Only the
/// crops are copied.
pub fn keep_before_after(ctx: &CheckCtx, t: &Tracked, before: &Patch, r: Rect) {
    const MARGIN: u16 = 16;
    let Some(area) = Rect::new(
        r.x.saturating_sub(MARGIN),
        r.y.saturating_sub(MARGIN),
        r.w.saturating_add(2 * MARGIN),
        r.h.saturating_add(2 * MARGIN),
    )
    .intersect(&before.area()) else {
        return;
    };
    let origin = before.area();
    let local = |q: Rect| Rect::new(q.x - origin.x, q.y - origin.y, q.w, q.h);
    let Some(mark) = r.intersect(&area) else {
        return;
    };
    if let Some(img) = before.image().crop(local(area)) {
        let m = Rect::new(mark.x - area.x, mark.y - area.y, mark.w, mark.h);
        crate::checks::evidence::snapshot(ctx, "before", crate::model::png::outlined(&img, m));
    }
    if let Some(img) = t.with_framebuffer(|fb| fb.crop(area)) {
        let m = Rect::new(mark.x - area.x, mark.y - area.y, mark.w, mark.h);
        crate::checks::evidence::snapshot(ctx, "after", crate::model::png::outlined(&img, m));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_point_is_outside_the_region_and_clear_of_the_target() {
        let screen = Rect::new(0, 0, 1024, 768);
        let region = Rect::new(32, 300, 960, 400);
        let p = rest_point(None, (512, 500), region, screen);
        assert!(!region.contains(p.0, p.1));
        assert_eq!(p, (0, 767));
        // The declared one wins.
        assert_eq!(rest_point(Some((5, 6)), (512, 500), region, screen), (5, 6));
        // A region covering the screen: the corner farthest from the target.
        assert_eq!(rest_point(None, (10, 10), screen, screen), (1023, 767));
    }

    #[test]
    fn footprint_is_the_reach_grown_to_the_shape() {
        let shape = crate::binding::CursorShape {
            width: 12,
            height: 19,
            hot_x: 0,
            hot_y: 0,
            pixels: Vec::new(),
        };
        // A shape inside the reach leaves the 64x64 box.
        assert_eq!(footprint(100, 50, Some(&shape)), Rect::new(68, 18, 64, 64));
        assert_eq!(footprint(10, 10, None), Rect::new(0, 0, 64, 64));
        // A large shape grows it.
        let big = crate::binding::CursorShape {
            width: 100,
            height: 10,
            ..shape
        };
        assert_eq!(footprint(100, 50, Some(&big)), Rect::new(68, 18, 132, 64));
    }

    #[test]
    fn control_describes_what_changed_on_its_own() {
        let mut mask = Coverage::of(Rect::new(0, 0, 100, 100));
        mask.add(Rect::new(123 - 100, 3, 6, 13));
        let c = Control {
            period_ms: 1000,
            region: Rect::new(0, 0, 100, 100),
            mask,
            changes: 4,
        };
        assert_eq!(
            c.describe().as_deref(),
            Some("6x13+23+3 changed 4 times in 1000 ms with no input (78 pixels)")
        );
        assert!(!c.too_busy());
    }
}
