//! Screen-side performance figures, measured against the in-process mock
//! terminal (a bench binary, not a test: nothing here asserts a timing).
//!
//! - OP-04 latency accuracy: with the mock's input delay at 40 ms, how far
//!   OP-04's p50 lands from 40 ms (the target is within ±5 ms).
//! - EX-03 throughput: wall time of 100 contention trials under each
//!   exclusivity policy (the target is under 10 s).
//! - EX-04 storms: wall time of the check (two storms) with 8, 16 and 64
//!   consoles under each policy, each storm's arrival and settling time,
//!   and the process's peak resident memory so far.
//!
//! Run with `cargo bench -p s301-harness --bench screen_perf`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use s301_harness::binding::rfb::RfbBinding;
use s301_harness::checks::{catalog, CheckCtx, Outcome, Shared};
use s301_harness::config::declaration::Declaration;
use s301_harness::config::scenario::Scenario;
use s301_harness::model::ids::CheckId;
use s301_mocks::{Exclusivity, MockConfig, MockHandle, MockTerminal, ScreenMode};

fn ctx_for(handle: &MockHandle, scenario: Scenario) -> CheckCtx {
    let decl = Declaration::parse(&handle.declaration_toml(None), "mock")
        .unwrap_or_else(|e| panic!("the mock's declaration parses: {e}"));
    let screen = RfbBinding::from_decl(&decl.screen)
        .unwrap_or_else(|e| panic!("binding from the mock's declaration: {e}"));
    CheckCtx {
        declaration: Arc::new(decl),
        scenario: Arc::new(scenario),
        seed: 301,
        screen: Arc::new(screen),
        data: None,
        shared: Mutex::new(Shared::default()),
    }
}

async fn run(ctx: &CheckCtx, ids: &[CheckId]) -> Vec<(CheckId, Outcome)> {
    let defs = catalog();
    let mut out = Vec::new();
    for id in ids {
        let def = defs
            .iter()
            .find(|d| d.id == *id)
            .unwrap_or_else(|| panic!("{id} is in the catalog"));
        out.push((*id, (def.run)(ctx).await));
    }
    out
}

async fn op04_accuracy(follow: bool) {
    let handle = MockTerminal::start(MockConfig {
        input_delay: Duration::from_millis(40),
        screen_mode: if follow {
            ScreenMode::PointerFollow
        } else {
            ScreenMode::Counter
        },
        ..MockConfig::default()
    })
    .await
    .unwrap_or_else(|e| panic!("mock starts: {e}"));
    let mut sc = Scenario::default_embedded().unwrap_or_else(|e| panic!("embedded scenario: {e}"));
    let samples = if follow { 20 } else { 40 };
    sc.operation.latency_samples = samples;
    let mut ctx = ctx_for(&handle, sc);
    if follow {
        // Only the click probe: each sample moves from the rest point onto
        // the pad, where the crosshair follows the pointer.
        let mut decl = (*ctx.declaration).clone();
        decl.operation
            .probes
            .retain(|p| matches!(p, s301_harness::config::declaration::Probe::Click { .. }));
        ctx.declaration = Arc::new(decl);
    }
    let r = run(&ctx, &[CheckId::St01, CheckId::Op04]).await;
    let o = &r[1].1;
    let p50 = o.evidence["p50_ms"].as_f64().unwrap_or(f64::NAN);
    let p95 = o.evidence["p95_ms"].as_f64().unwrap_or(f64::NAN);
    let measured = o.evidence["measured"].as_u64().unwrap_or(0);
    let off = p50 - 40.0;
    println!(
        "op04_latency_accuracy[{}]: input delay 40 ms, {measured} of {samples} samples registered: p50 {p50:.2} ms (off by {off:+.2} ms, target ±5: {}), p95 {p95:.2} ms, verdict {}",
        if follow { "pointer-follow, click probe" } else { "counter, type probe" },
        if off.abs() <= 5.0 { "met" } else { "MISSED" },
        o.verdict.as_str()
    );
    handle.shutdown().await;
}

async fn ex03_throughput(policy: Exclusivity) {
    let handle = MockTerminal::start(MockConfig {
        exclusivity: policy,
        ..MockConfig::default()
    })
    .await
    .unwrap_or_else(|e| panic!("mock starts: {e}"));
    let mut sc = Scenario::default_embedded().unwrap_or_else(|e| panic!("embedded scenario: {e}"));
    sc.screen.contention_trials = 100;
    let ctx = ctx_for(&handle, sc);
    let t0 = Instant::now();
    let r = run(&ctx, &[CheckId::Ex03]).await;
    let took = t0.elapsed();
    println!(
        "ex03_100_trials[{policy}]: {:.2} s (target < 10 s: {}), verdict {}",
        took.as_secs_f64(),
        if took < Duration::from_secs(10) {
            "met"
        } else {
            "MISSED"
        },
        r[0].1.verdict.as_str()
    );
    handle.shutdown().await;
}

/// The process's peak resident set so far (Linux), for the storm figures.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

async fn ex04_storms(policy: Exclusivity, consoles: u32) {
    let handle = MockTerminal::start(MockConfig {
        exclusivity: policy,
        ..MockConfig::default()
    })
    .await
    .unwrap_or_else(|e| panic!("mock starts: {e}"));
    let mut sc = Scenario::default_embedded().unwrap_or_else(|e| panic!("embedded scenario: {e}"));
    sc.screen.storm_consoles = consoles;
    let ctx = ctx_for(&handle, sc);
    let t0 = Instant::now();
    let r = run(&ctx, &[CheckId::Ex04]).await;
    let took = t0.elapsed();
    let o = &r[0].1;
    let storms: Vec<String> = o.evidence["storms"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|st| {
            format!(
                "{} {} ms + settle {} ms ({} served)",
                st["wave"].as_str().unwrap_or("?"),
                st["timings"]["storm_ms"],
                st["timings"]["settle_ms"],
                st["served"]
            )
        })
        .collect();
    println!(
        "ex04_storm[{policy}, {consoles} consoles]: {:.2} s, verdict {}; {}; peak RSS {:.0} MiB",
        took.as_secs_f64(),
        o.verdict.as_str(),
        storms.join("; "),
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    handle.shutdown().await;
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    // useful either: run the figures only when asked to bench.
    if !std::env::args().any(|a| a == "--bench") {
        println!("screen_perf: run with `cargo bench --bench screen_perf`");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    rt.block_on(async {
        op04_accuracy(false).await;
        op04_accuracy(true).await;
        ex03_throughput(Exclusivity::Refuse).await;
        ex03_throughput(Exclusivity::Takeover).await;
        for consoles in [8, 16, 64] {
            for policy in [Exclusivity::Refuse, Exclusivity::Takeover] {
                ex04_storms(policy, consoles).await;
            }
        }
    });
}
