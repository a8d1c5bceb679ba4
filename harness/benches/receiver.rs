//! Receiver throughput on loopback: validated reports per second through the
//! harness's push receiver (media type, size bound, UTF-8, JSON, the full
//! schema, acknowledgement bookkeeping, evidence log) against a bare hyper
//! handler on the same server loop that reads the body and answers 201
//! without looking at it. Both are driven by the same client: a fixed number
//! of requests with a fixed concurrency over a keep-alive pool.
//!
//! Run: `cargo bench -p s301-harness --bench receiver`. Besides criterion's
//! figures it prints one summary line with both rates and their ratio.
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use s301_harness::binding::http::server::{self, Handler, ServerBounds};
use s301_harness::binding::http::{DataChannel, ReceiverLimits, ReportSchema};
use s301_harness::config::declaration::{DataDecl, Trigger};
use s301_harness::config::scenario::DataScenario;
use serde_json::json;

/// Requests per measured batch.
const BATCH: u64 = 2000;
/// Requests in flight at once.
const CONCURRENCY: u64 = 16;

/// A realistic Net119-like report, split around its reportId so each
/// request can carry a fresh id cheaply.
fn template() -> (String, String) {
    let now = "2025-04-01T19:02:31.250+09:00";
    let mut v = json!({
        "schema": "s3-01/report/v1",
        "reportId": "@@ID@@",
        "revision": 1,
        "test": true,
        "service": {"kind": "net119", "provider": "bench relay", "terminalId": "T-1"},
        "receivedAt": now,
        "updatedAt": now,
        "category": "ambulance",
        "summary": "急病: 高齢男性が自宅で倒れ意識もうろう",
        "location": {"lat": 35.681236, "lon": 139.767125, "datum": "JGD2011", "accuracyM": 12.5, "source": "gnss", "address": "東京都千代田区丸の内一丁目"},
        "caller": {"name": "山田 花子", "phone": "090-0000-0001"},
        "messages": [],
        "net119": {"registered": true, "communication": "text-chat"}
    });
    let msgs: Vec<_> = (0..6)
        .map(|i| json!({"at": now, "from": if i % 2 == 0 { "caller" } else { "operator" }, "text": format!("メッセージ {i}: 状況を確認しています")}))
        .collect();
    v["messages"] = json!(msgs);
    let s = v.to_string();
    let (a, b) = s.split_once("@@ID@@").expect("marker present");
    (a.to_string(), b.to_string())
}

struct Load {
    client: Client<HttpConnector, Full<Bytes>>,
    prefix: Arc<str>,
    suffix: Arc<str>,
    counter: Arc<AtomicU64>,
}

impl Load {
    fn new() -> Self {
        let (p, s) = template();
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        Load {
            client: Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(CONCURRENCY as usize)
                .build(conn),
            prefix: p.into(),
            suffix: s.into(),
            counter: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Sends `n` pushes to `url`, `CONCURRENCY` at a time; returns the
    /// elapsed time and the number answered 201.
    async fn run(&self, url: &str, n: u64) -> (Duration, u64) {
        let per = n / CONCURRENCY;
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..CONCURRENCY {
            let client = self.client.clone();
            let (p, s, c) = (
                self.prefix.clone(),
                self.suffix.clone(),
                self.counter.clone(),
            );
            let url = url.to_string();
            tasks.push(tokio::spawn(async move {
                let mut ok = 0u64;
                for _ in 0..per {
                    let id = c.fetch_add(1, Ordering::Relaxed);
                    let body = format!("{p}B-{id}{s}");
                    let req = Request::post(url.as_str())
                        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                        .body(Full::new(Bytes::from(body)))
                        .expect("request builds");
                    let fut = async {
                        let resp = client.request(req).await.ok()?;
                        let status = resp.status();
                        Limited::new(resp.into_body(), 64 * 1024)
                            .collect()
                            .await
                            .ok()?;
                        Some(status)
                    };
                    if let Ok(Some(StatusCode::CREATED)) =
                        tokio::time::timeout(Duration::from_secs(10), fut).await
                    {
                        ok += 1;
                    }
                }
                ok
            }));
        }
        let mut ok = 0;
        for t in tasks {
            ok += t.await.unwrap_or(0);
        }
        (start.elapsed(), ok)
    }
}

fn bare_handler() -> Handler {
    Arc::new(|req, _peer| {
        Box::pin(async move {
            let _ = Limited::new(req.into_body(), 1024 * 1024).collect().await;
            let mut r = Response::new(Full::new(Bytes::from_static(
                b"{\"reportId\":\"x\",\"revision\":1,\"ackAt\":\"t\"}",
            )));
            *r.status_mut() = StatusCode::CREATED;
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        })
    })
}

/// A fresh receiver: each measured batch starts from an empty store, as a
/// run does (a run sees a handful of reports, not hundreds of thousands).
async fn validated_receiver() -> Arc<DataChannel> {
    let decl = DataDecl {
        base_url: "http://127.0.0.1:9/s3-01/v1".into(),
        output: true,
        input: false,
        revisions: true,
        trigger: Trigger::Hook,
        schema: None,
    };
    DataChannel::start_with(
        &decl,
        &DataScenario::default(),
        None,
        ReceiverLimits::default(),
    )
    .await
    .expect("receiver starts")
}

async fn bare_server() -> (server::RunningServer, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let bare =
        server::serve(listener, ServerBounds::default(), bare_handler()).expect("bare server");
    let url = format!("http://{}/s3-01/v1/reports", bare.addr());
    (bare, url)
}

/// One validated batch on a fresh receiver; only the pushes are timed.
async fn validated_batch(load: &Load) -> Duration {
    let dc = validated_receiver().await;
    let (d, ok) = load.run(&dc.receiver_url(), BATCH).await;
    assert_eq!(ok, BATCH, "every validated push must be acknowledged");
    dc.shutdown().await;
    d
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (bare, bare_url) = rt.block_on(bare_server());
    let load = Load::new();

    let mut g = c.benchmark_group("receiver");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("validated_201", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += rt.block_on(validated_batch(&load));
            }
            total
        })
    });
    g.bench_function("bare_201", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (d, ok) = rt.block_on(load.run(&bare_url, BATCH));
                assert_eq!(ok, BATCH);
                total += d;
            }
            total
        })
    });
    g.finish();

    // The validation work alone, without HTTP: parse plus schema.
    let mut g = c.benchmark_group("schema");
    g.throughput(Throughput::Elements(1));
    let schema = ReportSchema::shipped().expect("shipped schema");
    let (p, sfx) = template();
    let body = format!("{p}B-1{sfx}").into_bytes();
    g.bench_function("parse_and_validate", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_slice(&body).expect("bench body is JSON");
            schema.violations(&v).len()
        })
    });
    g.finish();

    // One summary in the same run: alternating rounds, so drift affects both.
    let rounds = 5;
    let (mut tv, mut tb) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        tv += rt.block_on(validated_batch(&load));
        tb += rt.block_on(load.run(&bare_url, BATCH)).0;
    }
    let n = (BATCH * rounds) as f64;
    let (v, b) = (n / tv.as_secs_f64(), n / tb.as_secs_f64());
    println!(
        "receiver summary: validated {v:.0} reports/s, bare {b:.0} req/s, ratio validated/bare = {:.2} ({} requests each, concurrency {CONCURRENCY}, {} B body)",
        v / b,
        BATCH * rounds,
        template().0.len() + template().1.len() + 8
    );
    rt.block_on(bare.stop());
}

criterion_group!(benches, bench);
criterion_main!(benches);
