//! EX-04 (condition 1-2-1): console storms. A dispatch centre has many
//! consoles, so exclusivity must hold when several arrive at the same moment,
//! not only between two (EX-03).
//!
//! Two storms of `[screen] storm_consoles` consoles: all at once, then in
//! seeded bursts within `storm_window_ms`. Each console opens once; when
//! served it holds with small pings for a seeded time (at most
//! `storm_max_hold_ms`) and leaves, cleanly or by dropping its connection,
//! or stays. Once every arrival has had its answer and every planned leave
//! has happened, the dust has settled: within the exclusivity timeout
//! exactly one console must be served and keep being answered (a fresh one
//! if nobody is left). Judged by the causal order only: never two served at
//! once ([`violations`]); under `refuse` a served console keeps the terminal
//! while it stays; under `takeover` the newest arrival wins (the console
//! served at the end was not admitted before another began to arrive).
//!
//! Load stays within what the scenario declares: at most `storm_consoles`
//! connections at once (a semaphore), one request outstanding per console, a
//! pause between pings, a deadline on every wait, and only the small ping
//! region asked for, so nothing is kept beyond the binding's own framebuffer.

use std::time::Instant;

use serde_json::json;

pub use super::support::storm::{draw, Left, Part, StormError, Wave, MAX_BURSTS};
use super::support::storm_run::*;
pub use super::support::storm_run::{KEEP_PINGS, PING_GAP};
use super::support::{ms_between, round_ms};
use super::{CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::BoxFuture;
use crate::config::declaration::Declaration;
use crate::config::scenario::{Scenario, ScreenScenario, MAX_STORM_CONSOLES, MIN_STORM_CONSOLES};
use crate::model::ids::{CheckId, ConditionId};

/// EX-04: Storms: many consoles arriving at once and in seeded bursts; never two served, exactly one once they settle, the declared policy kept.
pub const DEF: CheckDef = CheckDef {
    id: CheckId::Ex04,
    condition: ConditionId::C1_2_1,
    title: "Storms: many consoles arriving at once and in seeded bursts; never two served, exactly one once they settle, the declared policy kept",
    requirement: Requirement {
        ja: "多数の指令台が一斉に、またシード付きの集中で接続し、ランダムに離脱しても、2台が同時に画面提供されることがなく、収まった後はちょうど1台が提供され続け、宣言した方針が守られること。",
        en: "In two storms of consoles (all at once, then in seeded bursts) that leave at random, no two are ever served together, and once the storm is over exactly one is served and keeps being answered, as the declared policy says.",
    },
    needs: &[CheckId::St01],
    lane: Lane::Screen,
    phase: Phase::Exclusivity,
    budget: ex04_budget,
    run: ex04,
};

fn ex04_budget(sc: &Scenario, _decl: &Declaration) -> u64 {
    nominal_ms(&sc.screen)
}

/// Roughly how long EX-04 takes on a slow but conforming terminal (ms):
/// both storms, each its own deadline plus the settling.
pub fn nominal_ms(sc: &ScreenScenario) -> u64 {
    storm_ms(sc).saturating_add(settle_ms(sc)).saturating_mul(2)
}

fn ex04(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(ex04_run(ctx))
}

async fn ex04_run(ctx: &CheckCtx) -> Outcome {
    let sc = &ctx.scenario.screen;
    let n = sc.storm_consoles;
    if !(MIN_STORM_CONSOLES..=MAX_STORM_CONSOLES).contains(&n) {
        return Outcome::error(
            format!("cannot run EX-04: {}", StormError::Count(n)),
            json!({"storm_consoles": n}),
        );
    }
    let policy = ctx.declaration.screen.exclusivity;
    let mut rng = ctx.rng(CheckId::Ex04);
    let plans = [Wave::AtOnce, Wave::Bursts].map(|w| (w, draw(&mut rng, w, n as usize, sc)));
    let t0 = Instant::now();
    let mut storms = Vec::new();
    let mut failure: Option<String> = None;
    let mut harness: Option<StormError> = None;
    for (wave, parts) in &plans {
        let r = storm(ctx.screen.as_ref(), sc, policy, *wave, parts).await;
        if let Some(f) = &r.failure {
            failure.get_or_insert_with(|| format!("storm {}: {f}", wave.as_str()));
        }
        if harness.is_none() {
            harness = r.harness;
        }
        storms.push(r.evidence);
    }
    let evidence = json!({
        "seed": ctx.seed,
        "policy": policy.as_str(),
        "storm_consoles": n,
        "storm_window_ms": sc.storm_window_ms,
        "storm_max_hold_ms": sc.storm_max_hold_ms,
        "storms": storms,
        "elapsed_ms": round_ms(ms_between(t0, Instant::now())),
    });
    if let Some(f) = failure {
        return Outcome::fail(format!("{f} (seed {})", ctx.seed), evidence);
    }
    if let Some(h) = harness {
        return Outcome::error(
            format!("harness problem; cannot judge EX-04: {h}"),
            evidence,
        );
    }
    Outcome::pass(
        format!(
            "two storms of {n} consoles (at once, then in seeded bursts; seed {}): never two served, exactly one served once the dust settled ({})",
            ctx.seed,
            policy.as_str()
        ),
        evidence,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::binding::screen::Rect;
    use crate::binding::{CloseHow, Seq};
    use crate::checks::support::ping_rect;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use serde_json::Value;

    fn parts(seed: u64, wave: Wave, n: usize) -> Vec<Part> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        draw(&mut rng, wave, n, &ScreenScenario::default())
    }

    #[test]
    fn storms_are_seeded_and_bounded() {
        let sc = ScreenScenario::default();
        for seed in 0..200 {
            for n in [3, 8, 64] {
                assert_eq!(parts(seed, Wave::Bursts, n), parts(seed, Wave::Bursts, n));
                let once = parts(seed, Wave::AtOnce, n);
                assert_eq!(once.len(), n);
                assert!(once.iter().all(|p| p.burst == 0 && p.offset_ms == 0));
                let b = parts(seed, Wave::Bursts, n);
                assert_eq!(b.len(), n);
                let bursts = b.iter().map(|p| p.burst).max().unwrap() + 1;
                assert!((2..=MAX_BURSTS.min(n)).contains(&bursts), "{bursts}");
                // Every burst has a console; consoles come in arrival order.
                for k in 0..bursts {
                    assert!(b.iter().any(|p| p.burst == k));
                }
                assert!(b.windows(2).all(|w| w[0].offset_ms <= w[1].offset_ms));
                assert_eq!(b[0].offset_ms, 0);
                assert!(b.iter().all(|p| p.offset_ms <= sc.storm_window_ms));
                assert!(b
                    .iter()
                    .all(|p| p.hold_ms.is_none_or(|h| h <= sc.storm_max_hold_ms)));
            }
        }
        let all: Vec<Part> = (0..50).flat_map(|s| parts(s, Wave::Bursts, 8)).collect();
        assert!(
            all.iter().any(|p| p.hold_ms.is_none()),
            "some consoles stay"
        );
        assert!(all.iter().any(|p| p.leave == CloseHow::Drop));
        assert!(all.iter().any(|p| p.leave == CloseHow::Clean));
        assert_ne!(parts(1, Wave::Bursts, 8), parts(2, Wave::Bursts, 8));
    }

    fn seat(label: &str, arrived: u64, admitted: Option<u64>) -> Seat {
        Seat {
            label: label.into(),
            part: Some(Part {
                burst: 0,
                offset_ms: 0,
                hold_ms: None,
                leave: CloseHow::Drop,
            }),
            arrived: Some(Seq(arrived)),
            admitted: admitted.map(Seq),
            ..Seat::default()
        }
    }

    #[test]
    fn under_takeover_a_later_arrival_must_displace_the_final_holder() {
        let seats = [
            seat("A", 1, Some(5)),
            seat("B", 2, Some(9)),
            seat("C", 3, None),
        ];
        assert_eq!(newest_lost(&seats, 1), None);
        // A served at the end is no proof either: B and C began to arrive
        // (#2, #3) before A was admitted (#5), so they may have lost to it.
        assert_eq!(newest_lost(&seats, 0), None);
        let late = [seat("A", 1, Some(5)), seat("B", 6, None)];
        let why = newest_lost(&late, 0).unwrap();
        assert!(
            why.contains("console B arrived (#6) after A had been admitted (#5)"),
            "{why}"
        );
        // A fresh console opened after everyone left is never out of date.
        let mut fresh = late;
        fresh[0].part = None;
        assert_eq!(newest_lost(&fresh, 0), None);
    }

    #[test]
    fn nominal_time_covers_both_storms_and_grows_with_the_timeouts() {
        let sc = ScreenScenario::default();
        let n = nominal_ms(&sc);
        assert_eq!(n, 2 * (storm_ms(&sc) + settle_ms(&sc)));
        assert!(n > 2 * (sc.connect_timeout_ms + sc.exclusivity_timeout_ms));
        let slow = ScreenScenario {
            update_timeout_ms: 2 * sc.update_timeout_ms,
            ..sc.clone()
        };
        assert!(nominal_ms(&slow) > n);
        let absurd = ScreenScenario {
            update_timeout_ms: u64::MAX,
            ..sc
        };
        assert_eq!(nominal_ms(&absurd), u64::MAX);
    }

    #[test]
    fn ping_region_fits_tiny_screens() {
        assert_eq!(
            ping_rect(Rect::new(0, 0, 1024, 768)),
            Rect::new(0, 0, 64, 64)
        );
        assert_eq!(ping_rect(Rect::new(0, 0, 40, 30)), Rect::new(0, 0, 40, 30));
    }

    #[test]
    fn seat_evidence_names_arrival_admission_service_and_leaving() {
        let mut s = seat("at-once/C01", 3, Some(4));
        s.served = Some(Seq(7));
        s.left = Some(Left::Stayed(CloseHow::Drop));
        let j = s.json();
        assert_eq!(j["label"], "at-once/C01");
        assert_eq!(j["arrived"], 3);
        assert_eq!(j["admitted"], 4);
        assert_eq!(j["served"], 7);
        assert_eq!(j["left"]["how"], "stayed");
        assert_eq!(j["left"]["detail"], "drop");
        assert_eq!(j["hold_ms"], Value::Null);
        assert_eq!(j["stays"], true);
        assert_eq!(j["fresh"], false);
    }
}
