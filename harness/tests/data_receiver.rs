//! The push receiver over real sockets: acknowledgement semantics (201, the
//! idempotent 200, 409), refusals (400 with paths, 411, 413, 415, 404, 405, 408),
//! the injected 503, header and body timeouts, concurrency, and the report
//! fixtures (valid ones accepted, invalid ones refused at the right paths).
#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure

mod data_support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use data_support::{push_request, raw_exchange, receiver_only, report};
use s301_harness::binding::http::{PushOutcome, ReceiverLimits, ReportSchema};
use serde_json::Value;

const T: Duration = Duration::from_secs(5);

fn fixtures(kind: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reports")
        .join(kind);
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().to_string(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The instance paths each invalid fixture must be reported at.
fn expected_paths(name: &str) -> Vec<&'static str> {
    match name {
        // category, location.datum and service.provider are missing.
        "missing_required.json" => vec!["", "/location", "/service"],
        "bad_location.json" => vec![
            "/location/lat",
            "/location/lon",
            "/location/datum",
            "/location/accuracyM",
            "/location/source",
        ],
        "bad_identity.json" => vec![
            "/schema",
            "/reportId",
            "/revision",
            "/test",
            "/service/kind",
        ],
        "bad_times_and_lists.json" => vec![
            "/receivedAt",
            "/updatedAt",
            "/category",
            "/messages/0/from",
            "/messages/0/text",
            "/attachments/0/sha256",
            "/dispatch/status",
        ],
        "not_an_object.json" => vec![""],
        other => panic!("no expectation for fixture {other}"),
    }
}

#[test]
fn valid_fixtures_validate_and_invalid_ones_fail_at_their_paths() {
    let s = ReportSchema::shipped().unwrap();
    let valid = fixtures("valid");
    assert!(valid.len() >= 5);
    for (name, bytes) in &valid {
        let v: Value = serde_json::from_slice(bytes).unwrap();
        assert_eq!(s.violations(&v), vec![], "{name} should be valid");
    }
    let invalid = fixtures("invalid");
    assert!(invalid.len() >= 5);
    for (name, bytes) in &invalid {
        let v: Value = serde_json::from_slice(bytes).unwrap();
        let mut got: Vec<String> = s.violations(&v).into_iter().map(|x| x.path).collect();
        got.sort();
        got.dedup();
        let mut want: Vec<String> = expected_paths(name)
            .into_iter()
            .map(str::to_string)
            .collect();
        want.sort();
        assert_eq!(got, want, "{name}");
    }
}

#[tokio::test]
async fn fixtures_through_the_receiver() {
    let dc = receiver_only(ReceiverLimits::default()).await;
    let addr = dc.receiver_addr();
    for (name, bytes) in fixtures("valid") {
        let (a, _) = raw_exchange(
            addr,
            &push_request(Some("application/json"), &bytes),
            false,
            T,
        )
        .await;
        let a = a.unwrap();
        assert_eq!(
            a.status,
            201,
            "{name}: {}",
            String::from_utf8_lossy(&a.body)
        );
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(a.json()["reportId"], v["reportId"]);
        assert!(a.json()["ackAt"].is_string());
    }
    for (name, bytes) in fixtures("invalid") {
        let (a, _) = raw_exchange(
            addr,
            &push_request(Some("application/json"), &bytes),
            false,
            T,
        )
        .await;
        let a = a.unwrap();
        assert_eq!(a.status, 400, "{name}");
        assert!(a.is_json_4xx());
        let details = a.json()["details"].as_array().cloned().unwrap_or_default();
        for p in expected_paths(&name) {
            assert!(
                details
                    .iter()
                    .any(|d| d["path"] == p && d["message"].is_string()),
                "{name}: no detail at {p:?}: {details:?}"
            );
        }
    }
    dc.shutdown().await;
}

async fn push(addr: std::net::SocketAddr, v: &Value) -> data_support::RawAnswer {
    let body = serde_json::to_vec(v).unwrap();
    raw_exchange(
        addr,
        &push_request(Some("application/json; charset=utf-8"), &body),
        false,
        T,
    )
    .await
    .0
    .expect("an answer")
}

#[tokio::test]
async fn acks_are_created_repeated_and_stale_exactly_as_the_binding_says() {
    let dc = receiver_only(ReceiverLimits::default()).await;
    let a = dc.receiver_addr();
    let first = push(a, &report("R", 2)).await;
    assert_eq!(first.status, 201);
    let ack = first.json();
    assert_eq!(
        (ack["reportId"].as_str(), ack["revision"].as_u64()),
        (Some("R"), Some(2))
    );
    // The same (reportId, revision) again: 200 and the very same ack.
    let again = push(a, &report("R", 2)).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json(), ack);
    // Older than acknowledged: 409 with a JSON error.
    let older = push(a, &report("R", 1)).await;
    assert_eq!(older.status, 409);
    assert!(older.is_json_4xx());
    assert_eq!(older.json()["latestRevision"], 2);
    // Newer: 201; the earlier revision stays idempotent.
    assert_eq!(push(a, &report("R", 5)).await.status, 201);
    assert_eq!(push(a, &report("R", 2)).await.json(), ack);
    assert_eq!(push(a, &report("R", 3)).await.status, 409);
    // Another report is independent.
    assert_eq!(push(a, &report("S", 1)).await.status, 201);
    assert_eq!(dc.receiver().acked_revision("R"), Some(5));
    let outcomes: Vec<PushOutcome> = dc
        .receiver()
        .exchanges_since(0)
        .iter()
        .map(|e| e.outcome)
        .collect();
    use PushOutcome::*;
    assert_eq!(
        outcomes,
        vec![Created, Repeated, Stale, Created, Repeated, Stale, Created]
    );
    dc.shutdown().await;
}

#[tokio::test]
async fn refusals_are_json_with_the_right_status() {
    let limits = ReceiverLimits {
        max_body: 4096,
        ..ReceiverLimits::default()
    };
    let dc = receiver_only(limits).await;
    let a = dc.receiver_addr();
    let body = serde_json::to_vec(&report("R", 1)).unwrap();
    // 415: wrong or missing media type.
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let (r, _) = raw_exchange(a, &push_request(ct, &body), false, T).await;
        let r = r.unwrap();
        assert_eq!(r.status, 415, "{ct:?}");
        assert!(r.is_json_4xx());
    }
    // 413 by Content-Length, before reading anything.
    let big = vec![b' '; 5000];
    let (r, _) = raw_exchange(a, &push_request(Some("application/json"), &big), false, T).await;
    assert_eq!(r.unwrap().status, 413);
    // 413 while streaming a chunked body with no length.
    let mut chunked = b"POST /s3-01/v1/reports HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..5 {
        chunked.extend_from_slice(b"400\r\n");
        chunked.extend_from_slice(&[b' '; 0x400]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (r, _) = raw_exchange(a, &chunked, false, T).await;
    let r = r.unwrap();
    assert_eq!(r.status, 413);
    assert!(r.is_json_4xx());
    // 400: not UTF-8, not JSON.
    let (r, _) = raw_exchange(
        a,
        &push_request(Some("application/json"), b"{\"a\":\"\xff\"}"),
        false,
        T,
    )
    .await;
    let r = r.unwrap();
    assert_eq!(r.status, 400);
    assert!(r.json()["details"][0]["message"]
        .as_str()
        .unwrap()
        .contains("UTF-8"));
    let (r, _) = raw_exchange(
        a,
        &push_request(Some("application/json"), b"{\"a\":"),
        false,
        T,
    )
    .await;
    let r = r.unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["details"][0]["path"], "");
    // 411: no stated length, whether HTTP/1.0 ended by closing or HTTP/1.1.
    for (head, version) in [
        (&b"POST /s3-01/v1/reports HTTP/1.0\r\nHost: t\r\nContent-Type: application/json\r\n\r\n"[..], "HTTP/1.0"),
        (b"POST /s3-01/v1/reports HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\n\r\n", "HTTP/1.1"),
    ] {
        let mut req = head.to_vec();
        req.extend_from_slice(&body);
        let (r, _) = raw_exchange(a, &req, true, T).await;
        let r = r.unwrap();
        assert_eq!(r.status, 411, "{version}");
        assert!(r.is_json_4xx());
        let msg = r.json()["error"].as_str().unwrap().to_string();
        assert!(msg.contains(version) && msg.contains("Content-Length"), "{msg}");
    }
    // 404 elsewhere, 405 for other methods.
    let (r, _) = raw_exchange(a, b"POST /s3-01/v1/report HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", false, T).await;
    assert_eq!(r.as_ref().map(|r| r.status), Some(404));
    assert!(r.unwrap().is_json_4xx());
    let (r, _) = raw_exchange(
        a,
        b"GET /s3-01/v1/reports HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        false,
        T,
    )
    .await;
    let r = r.unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    // Every one of them is in the log.
    assert_eq!(dc.receiver().exchanges_since(0).len(), 11);
    dc.shutdown().await;
}

#[tokio::test]
async fn injected_failure_answers_the_next_push_only() {
    let dc = receiver_only(ReceiverLimits::default()).await;
    let a = dc.receiver_addr();
    dc.fail_next(1, 503);
    let r = push(a, &report("R", 1)).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.json()["error"].is_string());
    let e = &dc.receiver().exchanges_since(0)[0];
    assert_eq!(
        (e.outcome, e.report_id.as_deref(), e.revision),
        (PushOutcome::Injected, Some("R"), Some(1))
    );
    // Not acknowledged, so the retry is a creation.
    assert_eq!(push(a, &report("R", 1)).await.status, 201);
    dc.shutdown().await;
}

#[tokio::test]
async fn stalled_clients_are_cut_off_and_do_not_hold_the_receiver() {
    let limits = ReceiverLimits {
        header_timeout: Duration::from_millis(1000),
        body_timeout: Duration::from_millis(1000),
        ..ReceiverLimits::default()
    };
    let dc = receiver_only(limits).await;
    let a = dc.receiver_addr();
    // Headers that never finish: the connection is closed by the receiver.
    let t0 = Instant::now();
    let slow_head = tokio::spawn(raw_exchange(
        a,
        b"POST /s3-01/v1/reports HTTP/1.1\r\nHost: t\r\nX-Slow: ",
        false,
        Duration::from_secs(5),
    ));
    // A body that stops short: 408 with a JSON error.
    let slow_body = tokio::spawn(raw_exchange(
        a,
        b"POST /s3-01/v1/reports HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"report",
        false,
        Duration::from_secs(5),
    ));
    // Meanwhile a normal push is served at once.
    let r = push(a, &report("R", 1)).await;
    assert_eq!(r.status, 201);
    // Served while both stalled clients were still connected.
    assert!(
        !slow_head.is_finished() && !slow_body.is_finished(),
        "a stalled client held the receiver"
    );
    // The stalled body is listed as arriving, with how much of it came.
    let deadline = Instant::now() + Duration::from_millis(800);
    let arriving = loop {
        let now = dc.receiver().arriving();
        if now.iter().any(|a| a.body_bytes > 0) || Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(arriving.len(), 1, "{arriving:?}");
    assert_eq!(
        (arriving[0].content_length, arriving[0].body_bytes),
        (Some(100), 8)
    );
    assert!(
        arriving[0].describe().contains("8 of 100 bytes"),
        "{}",
        arriving[0].describe()
    );
    let (ans, closed) = slow_head.await.unwrap();
    assert!(closed, "stalled headers must end the connection");
    assert!(ans.is_none_or(|a| (400..500).contains(&a.status)));
    let (ans, _) = slow_body.await.unwrap();
    let ans = ans.expect("an answer to the stalled body");
    assert_eq!(ans.status, 408);
    assert!(ans.is_json_4xx());
    assert!(
        dc.receiver().arriving().is_empty(),
        "a refused push is no longer arriving"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "timeouts were not enforced"
    );
    dc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pushes_are_all_acknowledged() {
    let dc = receiver_only(ReceiverLimits::default()).await;
    let a = dc.receiver_addr();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..64 {
        set.spawn(async move {
            push(a, &report(&format!("C-{}", i % 16), 1 + i / 16))
                .await
                .status
        });
    }
    let mut statuses = Vec::new();
    while let Some(s) = set.join_next().await {
        statuses.push(s.unwrap());
    }
    // Per report, revisions may arrive out of order: older ones then get 409.
    assert_eq!(statuses.len(), 64);
    assert!(
        statuses.iter().all(|s| matches!(s, 201 | 409)),
        "{statuses:?}"
    );
    for i in 0..16 {
        assert_eq!(dc.receiver().acked_revision(&format!("C-{i}")), Some(4));
    }
    dc.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let dc = receiver_only(ReceiverLimits::default()).await;
    let a = dc.receiver_addr();
    dc.shutdown().await;
    dc.shutdown().await;
    assert!(tokio::net::TcpStream::connect(a).await.is_err());
}
