//! The hostile terminal suite: the screen checks against a terminal that
//! misbehaves on purpose (absurd lengths, bombs, trickles, endless streams,
//! broken WebSocket frames). Each case must end with its affected check
//! `fail` or `error` and a detail naming the problem, within the declared
//! timeouts, without a panic, and the whole suite within 200 MB peak RSS.
//! The data side, at two levels. Through the data checks' verdicts: a mock
//! terminal whose pusher sends a hostile push (100 MB body, slowloris,
//! invalid UTF-8, HTTP/1.0 without Content-Length) whenever it is asked to
//! push, or whose data API answers GETs of reports badly (JSON labelled
//! text/html, an endless HTTP/1.0 body), gets the exact set of data checks
//! pinned per case failing, every other one passing, each check within the
//! bound its declared timeouts give, and the affected check's detail naming
//! the problem. And at the wire: the hostile pushes get their refusal from
//! the harness's receiver within its timeouts, none acknowledged; the hostile
//! answers are refused by the data client.

mod data_support;

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use s301_harness::binding::http::{DataChannel, ReceiverLimits};
use s301_harness::binding::http::{RequestError, TerminalClient};
use s301_harness::binding::rfb::RfbBinding;
use s301_harness::checks::{catalog, CheckCtx, Outcome, Shared};
use s301_harness::config::declaration::Declaration;
use s301_harness::config::declaration::{DataDecl, Trigger};
use s301_harness::config::scenario::{DataScenario, OperationScenario, Scenario, ScreenScenario};
use s301_harness::model::ids::CheckId;
use s301_harness::model::verdict::Verdict;
use s301_mocks::hostile::{
    deflate_zeros, hostile_data_api, hostile_push, Hostile, HostileAnswer, HostileData,
    HostilePush, HostileTerminal,
};

/// The connect and update timeouts the scenario declares.
const TIMEOUT_MS: u64 = 2000;

/// Peak memory allowed for the whole suite.
const MAX_RSS_BYTES: u64 = 200 * 1024 * 1024;

fn scenario() -> Scenario {
    Scenario {
        name: "hostile-test".into(),
        description: String::new(),
        screen: ScreenScenario {
            connect_timeout_ms: TIMEOUT_MS,
            update_timeout_ms: TIMEOUT_MS,
            exclusivity_timeout_ms: 1000,
            quiet_ms: 100,
            sustain_ms: 300,
            sustain_interval_ms: 20,
            contention_trials: 2,
            contention_max_offset_ms: 20,
            contention_max_hold_ms: 40,
            contention_trial_timeout_ms: 1000,
            ..ScreenScenario::default()
        },
        operation: OperationScenario {
            change_timeout_ms: 500,
            control_ms: 300,
            unserved_watch_ms: 200,
            latency_samples: 2,
            latency_p50_ms: 500,
            latency_p95_ms: 1000,
        },
        data: DataScenario::default(),
        witness: Vec::new(),
    }
}

/// The screen-transfer checks, in execution order.
const ORDER: [CheckId; 4] = [CheckId::St01, CheckId::St02, CheckId::St03, CheckId::St04];

/// The check each case must make fail (or err), and words its detail must
/// contain (any of them, case-insensitive).
fn expected(case: Hostile) -> (CheckId, &'static [&'static str]) {
    match case {
        Hostile::HugeScreen => (CheckId::St01, &["width", "65535"]),
        Hostile::HugeName => (CheckId::St01, &["name"]),
        Hostile::Truncated => (CheckId::St01, &["init", "ms"]),
        Hostile::ZlibBomb => (CheckId::St01, &["zrle", "zlib", "inflate"]),
        Hostile::Trickle => (CheckId::St01, &["version", "ms"]),
        Hostile::EndlessRects => (CheckId::St02, &["unpainted"]),
        Hostile::HugeCutText => (CheckId::St01, &["cut"]),
        Hostile::WsTextFrame => (CheckId::St01, &["text"]),
        Hostile::WsHugeFrame => (CheckId::St01, &["frame", "size", "ms"]),
        // Answers every round in RRE, requested or not.
        Hostile::RreFlood => (CheckId::St02, &["rre"]),
    }
}

/// Runs ST-01..ST-04 against a fresh hostile terminal; returns the outcomes
/// and how long each took.
async fn run_case(case: Hostile) -> Vec<(CheckId, Outcome, Duration)> {
    let listen = "127.0.0.1:0".parse().expect("address");
    let handle = HostileTerminal::start(case, listen)
        .await
        .expect("hostile terminal starts");
    let decl: Declaration =
        toml::from_str(&handle.declaration_toml()).expect("the declaration parses");
    let screen = RfbBinding::from_decl(&decl.screen).expect("binding");
    let ctx = CheckCtx {
        declaration: Arc::new(decl),
        scenario: Arc::new(scenario()),
        seed: 301,
        screen: Arc::new(screen),
        data: None,
        shared: Mutex::new(Shared::default()),
    };
    let defs = catalog();
    let mut done = Vec::new();
    for id in ORDER {
        let def = defs.iter().find(|d| d.id == id).expect("check in catalog");
        let blocked = def.needs.iter().any(|n| {
            done.iter().any(|(d, o, _): &(CheckId, Outcome, Duration)| {
                d == n && o.verdict != Verdict::Pass
            })
        });
        let t0 = Instant::now();
        println!("{} {} starts", case.name(), id.as_str());
        let outcome = if blocked {
            Outcome {
                verdict: Verdict::Skipped,
                detail: "prerequisite did not pass".into(),
                evidence: serde_json::Value::Null,
            }
        } else {
            (def.run)(&ctx).await
        };
        done.push((id, outcome, t0.elapsed()));
    }
    handle.shutdown().await;
    done
}

/// Peak resident set size of this process (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_case_ends_in_a_bounded_verdict_within_200_mb() {
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    // HOSTILE_CASE=NAME runs one case (for investigating it).
    let only = std::env::var("HOSTILE_CASE").ok();
    let cases: Vec<Hostile> = Hostile::ALL
        .iter()
        .copied()
        .filter(|c| only.as_deref().is_none_or(|o| o == c.name()))
        .collect();
    for case in cases.iter().copied() {
        tasks.spawn(async move {
            let outcomes = run_case(case).await;
            println!("{} done after {:?}", case.name(), t0.elapsed());
            (case, outcomes)
        });
    }
    let mut results = BTreeMap::new();
    // Bound on a case: each of its checks may use its timeouts a few times
    // over (open, first update, rounds, ST-03's rest and control periods),
    // never without end.
    let case_bound = Duration::from_millis(TIMEOUT_MS * 15);
    while let Some(joined) = tokio::time::timeout(case_bound, tasks.join_next())
        .await
        .expect("a hostile case hangs past its bound")
    {
        let (case, outcome) = joined.expect("a hostile case panicked");
        results.insert(case.name(), (case, outcome));
    }
    let mut problems = Vec::new();
    for (name, (case, outcomes)) in &results {
        let (affected, words) = expected(*case);
        for (id, o, took) in outcomes {
            println!(
                "{name:14} {:6} {:8?} {:>6} ms  {}",
                id.as_str(),
                o.verdict,
                took.as_millis(),
                o.detail
            );
            assert!(!o.detail.is_empty(), "{name} {}: empty detail", id.as_str());
        }
        let Some((_, o, _)) = outcomes.iter().find(|(id, _, _)| *id == affected) else {
            problems.push(format!("{name}: {} did not run", affected.as_str()));
            continue;
        };
        if !matches!(o.verdict, Verdict::Fail | Verdict::Error) {
            problems.push(format!(
                "{name}: {} is {:?}, expected fail or error ({})",
                affected.as_str(),
                o.verdict,
                o.detail
            ));
        }
        let lower = o.detail.to_lowercase();
        if !words.iter().any(|w| lower.contains(w)) {
            problems.push(format!(
                "{name}: {} detail names none of {words:?}: {}",
                affected.as_str(),
                o.detail
            ));
        }
    }
    problems.extend(hostile_pushes().await);
    problems.extend(hostile_answers().await);
    problems.extend(hostile_data_checks(only.as_deref()).await);
    let rss = peak_rss();
    println!(
        "hostile suite: {} cases in {:?}, peak RSS {:.1} MB",
        results.len(),
        t0.elapsed(),
        rss as f64 / (1024.0 * 1024.0)
    );
    assert_eq!(results.len(), cases.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        rss < MAX_RSS_BYTES,
        "peak RSS {rss} bytes is over {MAX_RSS_BYTES}"
    );
}

/// The receiver's body timeout in the push cases.
const BODY_TIMEOUT_MS: u64 = 1500;

/// The status each hostile push must get (any 4xx when `None`).
fn expected_push(case: HostilePush) -> Option<u16> {
    match case {
        HostilePush::HugeBody => Some(413),
        HostilePush::Slowloris => Some(408),
        HostilePush::InvalidUtf8 => Some(400),
        HostilePush::Http10NoLength => Some(411),
    }
}

/// The hostile pushes against the harness's receiver, all at once: each gets
/// its refusal within the receiver's timeouts, and nothing is acknowledged.
async fn hostile_pushes() -> Vec<String> {
    let decl = DataDecl {
        base_url: "http://127.0.0.1:9/s3-01/v1".into(),
        output: true,
        input: false,
        revisions: true,
        trigger: Trigger::Hook,
        schema: None,
    };
    let limits = ReceiverLimits {
        header_timeout: Duration::from_millis(BODY_TIMEOUT_MS),
        body_timeout: Duration::from_millis(BODY_TIMEOUT_MS),
        ..ReceiverLimits::default()
    };
    let dc = DataChannel::start_with(&decl, &scenario().data, None, limits)
        .await
        .expect("receiver starts");
    let addr = dc.receiver_addr();
    let bound = Duration::from_millis(BODY_TIMEOUT_MS * 4);
    let mut tasks = tokio::task::JoinSet::new();
    for case in HostilePush::ALL.iter().copied() {
        tasks.spawn(async move {
            let t0 = Instant::now();
            (case, hostile_push(case, addr, bound).await, t0.elapsed())
        });
    }
    let mut problems = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (case, answer, took) = joined.expect("a hostile push panicked");
        let name = case.name();
        println!("{name:18} {answer:?} after {} ms", took.as_millis());
        match (answer, expected_push(case)) {
            (Ok(Some(st)), Some(want)) if st == want => {}
            (Ok(Some(st)), None) if (400..500).contains(&st) => {}
            (other, want) => problems.push(format!(
                "{name}: answered {other:?}, expected {}",
                want.map_or("a 4xx".to_string(), |w| w.to_string())
            )),
        }
    }
    if !dc.receiver().acked_all().is_empty() {
        problems.push(format!(
            "hostile pushes were acknowledged: {:?}",
            dc.receiver().acked_all()
        ));
    }
    dc.shutdown().await;
    problems
}

/// The harness's data client against hostile answers: a JSON body with the
/// wrong media type is refused as JSON, an endless HTTP/1.0 body is cut at
/// the client's response limit, both within the request timeout.
async fn hostile_answers() -> Vec<String> {
    let timeout = Duration::from_millis(TIMEOUT_MS);
    let mut problems = Vec::new();
    for case in HostileAnswer::ALL.iter().copied() {
        let name = case.name();
        let (base, task) = hostile_data_api(case).await.expect("hostile data API");
        let client = TerminalClient::new(&base, timeout).expect("client");
        let t0 = Instant::now();
        let reply = client.get_report("H-1").await;
        let took = t0.elapsed();
        task.abort();
        println!("{name:18} after {} ms", took.as_millis());
        if took > timeout * 2 {
            problems.push(format!("{name}: took {took:?}"));
        }
        match (case, reply) {
            (HostileAnswer::WrongContentType, Ok(r)) => match r.json() {
                Err(e) if e.to_string().contains("text/html") => {}
                other => problems.push(format!("{name}: json() gave {other:?}")),
            },
            (HostileAnswer::Http10Endless, Err(RequestError::TooLarge { .. })) => {}
            (_, other) => problems.push(format!("{name}: request gave {other:?}")),
        }
    }
    problems
}

/// For each hostile data case: the exact set of data checks that fail
/// (every other data check passes), the check the case is about, and words
/// its detail must all contain (case-insensitive).
fn data_matrix() -> Vec<(HostileData, Vec<CheckId>, CheckId, &'static [&'static str])> {
    use CheckId::*;
    // Every push is refused or never completes, so nothing is acknowledged:
    // as with the no-push fault, DO-02 and DO-03 have no push to work on
    // and DR-01 nothing to compare the terminal's answer with. DI-01/DI-02
    // work on a report announced by the hook (the terminal's API knows it),
    // DR-02 judges answers against what was acknowledged (nothing), DR-03
    // involves no push: they pass.
    let pushes = vec![Do01, Do02, Do03, Dr01];
    // Every GET of reports is broken, pushes are fine: DI-01 reads its input
    // back with a GET, DR-01..DR-03 are all about GETs. DI-02 only needs its
    // malformed input refused (the before/after GETs are DR-01's subject).
    let answers = vec![Di01, Dr01, Dr02, Dr03];
    vec![
        (
            HostileData::Push(HostilePush::HugeBody),
            pushes.clone(),
            Do01,
            &["no acceptable report", "413", "100000000 bytes", "limit"],
        ),
        (
            // The receiver's body timeout (10 s by default) is longer than
            // the push wait, so the push is still trickling in when DO-01
            // gives up, and the detail says how far it got.
            HostileData::Push(HostilePush::Slowloris),
            pushes.clone(),
            Do01,
            &["no acceptable report", "still arriving", "of 1000 bytes"],
        ),
        (
            HostileData::Push(HostilePush::InvalidUtf8),
            pushes.clone(),
            Do01,
            &["no acceptable report", "400", "utf-8"],
        ),
        (
            HostileData::Push(HostilePush::Http10NoLength),
            pushes,
            Do01,
            &["no acceptable report", "411", "http/1.0", "content-length"],
        ),
        (
            HostileData::Answer(HostileAnswer::WrongContentType),
            answers.clone(),
            Dr01,
            &["content-type", "text/html"],
        ),
        (
            HostileData::Answer(HostileAnswer::Http10Endless),
            answers,
            Dr01,
            &["answer body over the 4194304-byte limit"],
        ),
    ]
}

/// The longest a data check may take by the waits the scenario declares
/// (`P` push wait, `R` request timeout, `W` DR-02 window), with a second of
/// slack: the others make a few requests and wait for at most three pushes
/// (DR-01: 3P + 4R; DI-02: 8R), DR-02 announces (R), spreads its requests
/// over W, collects them within W + P + R + 5 s and its push driver within
/// P + 2 s.
fn check_bound(id: CheckId, sc: &Scenario) -> Duration {
    let p = sc.data.push_timeout_ms;
    let r = sc.data.request_timeout_ms;
    let w = sc.data.window_ms;
    let ms = match id {
        CheckId::Dr02 => w + 2 * p + 2 * r + 7000,
        _ => 3 * p + 8 * r,
    };
    Duration::from_millis(ms + 1000)
}

/// Runs the data checks in catalog order against a mock terminal with the
/// hostile data side `case`; each check is cut off at its bound (recorded as
/// an error). Returns the outcomes, how long each took, and the whole case.
async fn run_data_case(
    case: HostileData,
    seed: u64,
) -> (Vec<(CheckId, Outcome, Duration)>, Duration) {
    let t0 = Instant::now();
    let r = data_support::rig_full(
        vec![],
        |_| {},
        |_| {},
        |m| m.hostile_data = Some(case),
        seed,
    )
    .await;
    let mut done = Vec::new();
    for def in catalog()
        .into_iter()
        .filter(|d| data_support::DATA_CHECKS.contains(&d.id))
    {
        let bound = check_bound(def.id, &r.ctx.scenario);
        let t = Instant::now();
        let o = tokio::time::timeout(bound, (def.run)(&r.ctx))
            .await
            .unwrap_or_else(|_| {
                Outcome::error(
                    format!("test: overran its bound of {bound:?}"),
                    serde_json::Value::Null,
                )
            });
        done.push((def.id, o, t.elapsed()));
    }
    r.shutdown().await;
    (done, t0.elapsed())
}

/// The data checks against each hostile data side, two cases at a time (the
/// checks' own timing bounds are short, and the machine may be small). Each
/// case must end with exactly its pinned failing set, every other data check
/// passing, no check over its bound, no panic.
async fn hostile_data_checks(only: Option<&str>) -> Vec<String> {
    let sc = data_support::test_scenario();
    let all: Vec<_> = data_matrix()
        .into_iter()
        .filter(|(c, ..)| only.is_none_or(|o| o == c.name()))
        .collect();
    let case_bound: Duration = data_support::DATA_CHECKS
        .iter()
        .map(|id| check_bound(*id, &sc))
        .sum::<Duration>()
        // Starting and stopping the mock and the channel (bounded waits).
        + Duration::from_secs(10);
    let mut problems = Vec::new();
    for pair in all.chunks(2) {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, (case, ..)) in pair.iter().enumerate() {
            let case = *case;
            tasks.spawn(async move { (case, run_data_case(case, 4100 + i as u64).await) });
        }
        loop {
            let joined = match tokio::time::timeout(case_bound, tasks.join_next()).await {
                Ok(Some(j)) => j,
                Ok(None) => break,
                Err(_) => {
                    problems.push(format!("a hostile data case hangs past {case_bound:?}"));
                    tasks.abort_all();
                    break;
                }
            };
            let (case, (outcomes, took)) = match joined {
                Ok(x) => x,
                Err(e) => {
                    problems.push(format!("a hostile data case panicked: {e}"));
                    continue;
                }
            };
            let name = case.name();
            println!("{name} done in {} ms", took.as_millis());
            let Some((_, want, mapped, words)) = pair.iter().find(|(c, ..)| *c == case) else {
                continue;
            };
            for (id, o, t) in &outcomes {
                println!(
                    "{name:18} {:6} {:8?} {:>6} ms  {}",
                    id.as_str(),
                    o.verdict,
                    t.as_millis(),
                    o.detail
                );
                if o.detail.is_empty() {
                    problems.push(format!("{name} {id}: empty detail"));
                }
                let bound = check_bound(*id, &sc);
                if *t > bound {
                    problems.push(format!("{name} {id}: took {t:?}, over its bound {bound:?}"));
                }
                let expected = if want.contains(id) {
                    Verdict::Fail
                } else {
                    Verdict::Pass
                };
                if o.verdict != expected {
                    problems.push(format!(
                        "{name} {id}: {:?}, expected {expected:?} ({})",
                        o.verdict, o.detail
                    ));
                }
            }
            match outcomes.iter().find(|(id, ..)| id == mapped) {
                Some((_, o, _)) => {
                    let lower = o.detail.to_lowercase();
                    let missing: Vec<_> = words.iter().filter(|w| !lower.contains(*w)).collect();
                    if !missing.is_empty() {
                        problems.push(format!(
                            "{name} {mapped}: detail lacks {missing:?}: {}",
                            o.detail
                        ));
                    }
                }
                None => problems.push(format!("{name}: {mapped} did not run")),
            }
            if took > case_bound {
                problems.push(format!("{name}: took {took:?}, over {case_bound:?}"));
            }
        }
    }
    problems
}

#[test]
fn the_data_matrix_covers_every_hostile_data_case() {
    let m = data_matrix();
    let cases: Vec<HostileData> = m.iter().map(|(c, ..)| *c).collect();
    assert_eq!(cases, HostileData::ALL);
    for (case, set, mapped, words) in &m {
        assert!(set.contains(mapped), "{case}: pinned set lacks {mapped}");
        assert!(set.iter().all(|c| data_support::DATA_CHECKS.contains(c)));
        assert!(!words.is_empty());
        assert!(
            words.iter().all(|w| w.to_lowercase() == *w),
            "{case}: lower-case words"
        );
    }
}

#[test]
fn the_zlib_bomb_inflates_to_exactly_what_it_claims() {
    let n = (1 << 20) + 77;
    let z = deflate_zeros(n);
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(&z[..])
        .read_to_end(&mut out)
        .expect("a valid zlib stream");
    assert_eq!(out.len(), n);
    assert!(out.iter().all(|b| *b == 0));
}
