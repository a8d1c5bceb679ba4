//! Tests of the mock's data side over real sockets: the data API, the
//! pusher's retries and each data fault's one changed behaviour.
#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};

use crate::config::{Fault, MockConfig};
use crate::{MockHandle, MockTerminal};

/// A stand-in for the harness's receiver: answers pushes from a script of
/// statuses (then 201) and records what arrived and when.
#[derive(Clone, Default)]
struct Sink {
    script: Arc<Mutex<VecDeque<u16>>>,
    got: Arc<Mutex<Vec<(Instant, Value, u16)>>>,
}

impl Sink {
    async fn start(script: &[u16]) -> (Sink, String) {
        let sink = Sink::default();
        sink.script.lock().unwrap().extend(script.iter().copied());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/s3-01/v1/reports", listener.local_addr().unwrap());
        let s = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let s = s.clone();
                        async move {
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                            let status = s.script.lock().unwrap().pop_front().unwrap_or(201);
                            s.got.lock().unwrap().push((Instant::now(), v, status));
                            let mut r = Response::new(Full::new(Bytes::from_static(b"{}")));
                            *r.status_mut() = StatusCode::from_u16(status).unwrap();
                            Ok::<_, Infallible>(r)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        (sink, url)
    }

    fn got(&self) -> Vec<(Instant, Value, u16)> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (bounded) until `n` pushes have arrived.
    async fn wait(&self, n: usize, within: Duration) -> Vec<(Instant, Value, u16)> {
        let deadline = Instant::now() + within;
        while self.got().len() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.got()
    }
}

struct Api {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Api {
    fn new(m: &MockHandle) -> Api {
        Api {
            base: m.data_base_url(),
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<&str>) -> (u16, Value) {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if body.is_some() {
            b = b.header("content-type", "application/json");
        }
        let req = b
            .body(Full::new(Bytes::from(body.unwrap_or("").to_string())))
            .unwrap();
        let resp = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .unwrap()
            .unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn create(&self) -> String {
        let (s, v) = self.call(Method::POST, "/test-reports", Some("{}")).await;
        assert_eq!(s, 202);
        v["reportId"].as_str().unwrap().to_string()
    }
}

async fn mock(faults: Vec<Fault>, push_to: Option<String>) -> MockHandle {
    MockTerminal::start(MockConfig {
        faults,
        push_to,
        ..MockConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn api_serves_reports_dispatch_and_hooks() {
    let (sink, url) = Sink::start(&[]).await;
    let m = mock(vec![], Some(url)).await;
    let api = Api::new(&m);
    assert_eq!(
        api.call(Method::GET, "/reports", None).await,
        (200, json!({"reports": []}))
    );
    let (s, e) = api.call(Method::GET, "/reports/nope", None).await;
    assert_eq!(s, 404);
    assert!(e["error"].is_string());
    let id = api.create().await;
    let (s, v) = api
        .call(
            Method::POST,
            &format!("/test-reports/{id}/update"),
            Some("{}"),
        )
        .await;
    assert_eq!((s, v["revision"].as_u64()), (202, Some(2)));
    let (s, r) = api.call(Method::GET, &format!("/reports/{id}"), None).await;
    assert_eq!((s, r["revision"].as_u64()), (200, Some(2)));
    assert_eq!(r["location"]["datum"], "JGD2011");
    let (_, l) = api.call(Method::GET, "/reports", None).await;
    assert_eq!(l["reports"][0]["reportId"], json!(id));
    assert_eq!(l["reports"][0]["revision"], 2);
    assert_eq!(l["reports"][0]["updatedAt"], r["updatedAt"]);
    // Dispatch input shows in the next GET; malformed input is a 400 JSON error.
    let d = r#"{"status":"on_scene","at":"2025-01-01T00:00:00Z","note":"n"}"#;
    assert_eq!(
        api.call(Method::POST, &format!("/reports/{id}/dispatch"), Some(d))
            .await
            .0,
        204
    );
    let (_, r) = api.call(Method::GET, &format!("/reports/{id}"), None).await;
    assert_eq!(r["dispatch"]["status"], "on_scene");
    let (s, e) = api
        .call(
            Method::POST,
            &format!("/reports/{id}/dispatch"),
            Some(r#"{"status":"x"}"#),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["details"][0]["path"], "/status");
    assert_eq!(
        api.call(Method::POST, "/reports/nope/dispatch", Some(d))
            .await
            .0,
        404
    );
    assert_eq!(
        api.call(Method::POST, "/test-reports/nope/update", Some("{}"))
            .await
            .0,
        404
    );
    assert_eq!(api.call(Method::DELETE, "/reports", None).await.0, 405);
    assert_eq!(api.call(Method::GET, "/elsewhere", None).await.0, 404);
    // Both revisions were pushed, in order, with the same body the GET shows.
    let got = sink.wait(2, Duration::from_secs(5)).await;
    let revs: Vec<_> = got.iter().map(|(_, v, _)| v["revision"].as_u64()).collect();
    assert_eq!(revs, vec![Some(1), Some(2)]);
    let mut shown = r.clone();
    shown.as_object_mut().unwrap().remove("dispatch");
    assert_eq!(got[1].1, shown);
    m.shutdown().await;
}

#[tokio::test]
async fn pusher_retries_transient_failures_with_backoff() {
    let (sink, url) = Sink::start(&[503, 500, 201]).await;
    let m = mock(vec![], Some(url)).await;
    let api = Api::new(&m);
    let id = api.create().await;
    let got = sink.wait(3, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 3);
    assert!(got
        .iter()
        .all(|(_, v, _)| v["reportId"] == json!(id) && v["revision"] == 1));
    let gap1 = got[1].0 - got[0].0;
    let gap2 = got[2].0 - got[1].0;
    assert!(gap1 >= Duration::from_millis(90), "{gap1:?}");
    assert!(
        gap2 >= Duration::from_millis(190),
        "backoff doubles: {gap2:?}"
    );
    // Delivered: no further attempt.
    assert_eq!(sink.wait(4, Duration::from_millis(500)).await.len(), 3);
    m.shutdown().await;
}

#[tokio::test]
async fn pusher_gives_up_on_refusals_and_no_retry_gives_up_at_once() {
    let (sink, url) = Sink::start(&[400]).await;
    let m = mock(vec![], Some(url)).await;
    Api::new(&m).create().await;
    assert_eq!(
        sink.wait(2, Duration::from_millis(600)).await.len(),
        1,
        "a 400 is not retried"
    );
    m.shutdown().await;
    let (sink, url) = Sink::start(&[503]).await;
    let m = mock(vec![Fault::NoRetry], Some(url)).await;
    Api::new(&m).create().await;
    assert_eq!(
        sink.wait(2, Duration::from_millis(800)).await.len(),
        1,
        "no-retry: one attempt"
    );
    m.shutdown().await;
}

#[tokio::test]
async fn data_faults_change_their_one_behaviour() {
    // no-push: hooks answer, nothing is pushed.
    let (sink, url) = Sink::start(&[]).await;
    let m = mock(vec![Fault::NoPush], Some(url)).await;
    let api = Api::new(&m);
    let id = api.create().await;
    assert_eq!(
        api.call(Method::GET, &format!("/reports/{id}"), None)
            .await
            .0,
        200
    );
    assert!(sink.wait(1, Duration::from_millis(400)).await.is_empty());
    m.shutdown().await;

    // bad-schema: identity kept, location broken.
    let (sink, url) = Sink::start(&[]).await;
    let m = mock(vec![Fault::BadSchema], Some(url)).await;
    let id = Api::new(&m).create().await;
    let got = sink.wait(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].1["reportId"], json!(id));
    assert_eq!(got[0].1["location"]["datum"], "Tokyo");
    m.shutdown().await;

    // ignore-dispatch: 204, never shown.
    let m = mock(vec![Fault::IgnoreDispatch], None).await;
    let api = Api::new(&m);
    let id = api.create().await;
    let d = r#"{"status":"closed"}"#;
    assert_eq!(
        api.call(Method::POST, &format!("/reports/{id}/dispatch"), Some(d))
            .await
            .0,
        204
    );
    assert!(api
        .call(Method::GET, &format!("/reports/{id}"), None)
        .await
        .1
        .get("dispatch")
        .is_none());
    m.shutdown().await;

    // stale-get: the previous revision; the list stays right.
    let m = mock(vec![Fault::StaleGet], None).await;
    let api = Api::new(&m);
    let id = api.create().await;
    api.call(
        Method::POST,
        &format!("/test-reports/{id}/update"),
        Some("{}"),
    )
    .await;
    assert_eq!(
        api.call(Method::GET, &format!("/reports/{id}"), None)
            .await
            .1["revision"],
        1
    );
    assert_eq!(
        api.call(Method::GET, "/reports", None).await.1["reports"][0]["revision"],
        2
    );
    m.shutdown().await;

    // unknown-200.
    let m = mock(vec![Fault::Unknown200], None).await;
    assert_eq!(
        Api::new(&m)
            .call(Method::GET, "/reports/nope", None)
            .await
            .0,
        200
    );
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_burst_slows_a_crowd_but_not_single_requests() {
    let m = mock(vec![Fault::SlowBurst], None).await;
    let api = Arc::new(Api::new(&m));
    let t = Instant::now();
    api.call(Method::GET, "/reports", None).await;
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "a lone request is fast"
    );
    tokio::time::sleep(super::CROWD_WINDOW).await;
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let api = api.clone();
        set.spawn(async move { api.call(Method::GET, "/reports", None).await.0 });
    }
    while let Some(s) = set.join_next().await {
        assert_eq!(s.unwrap(), 200);
    }
    assert!(
        t.elapsed() >= super::SLOW,
        "a crowd waits: {:?}",
        t.elapsed()
    );
    m.shutdown().await;
}

/// One raw HTTP/1.1 exchange: the answer's head and up to `max` body bytes.
async fn raw_get(addr: std::net::SocketAddr, path: &str, max: usize) -> (String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(5);
    while buf.len() < max && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    (head, buf[end + 4..].to_vec())
}

#[tokio::test]
async fn hostile_answers_hit_report_gets_only() {
    use crate::hostile::{HostileAnswer, HostileData};
    let (sink, url) = Sink::start(&[]).await;
    let m = MockTerminal::start(MockConfig {
        push_to: Some(url),
        hostile_data: Some(HostileData::Answer(HostileAnswer::WrongContentType)),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    // Hooks, dispatch input and pushes work as usual ...
    let api = Api::new(&m);
    let id = api.create().await;
    assert_eq!(sink.wait(1, Duration::from_secs(5)).await.len(), 1);
    let d = r#"{"status":"on_scene"}"#;
    assert_eq!(
        api.call(Method::POST, &format!("/reports/{id}/dispatch"), Some(d))
            .await
            .0,
        204
    );
    // ... but every GET of reports is JSON labelled text/html.
    for path in ["/s3-01/v1/reports", &format!("/s3-01/v1/reports/{id}")] {
        let (head, body) = raw_get(m.addr(), path, 1 << 20).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("Content-Type: text/html"), "{head}");
        assert!(serde_json::from_slice::<Value>(&body).is_ok());
    }
    m.shutdown().await;

    let m = MockTerminal::start(MockConfig {
        hostile_data: Some(HostileData::Answer(HostileAnswer::Http10Endless)),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let (head, body) = raw_get(m.addr(), "/s3-01/v1/reports/x", 1 << 20).await;
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("content-length"),
        "{head}"
    );
    assert!(
        body.len() >= (1 << 20) - 8192,
        "the body goes on: {}",
        body.len()
    );
    // The hook is not hostile.
    Api::new(&m).create().await;
    m.shutdown().await;
}

#[tokio::test]
async fn hostile_push_is_sent_once_instead_of_the_report() {
    use crate::hostile::{HostileData, HostilePush};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A receiver that reads one request and answers 503, which a report
    // push would retry: the hostile push is sent once all the same.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/s3-01/v1/reports", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<Vec<u8>>();
    let receiver = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(300), s.read(&mut chunk)).await
        {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
        }
        let _ = s
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
            .await;
        let _ = tx.send(got);
        // A retry would connect again within the pusher's first backoffs.
        tokio::time::timeout(Duration::from_millis(800), listener.accept())
            .await
            .is_ok()
    });
    let m = MockTerminal::start(MockConfig {
        push_to: Some(url),
        hostile_data: Some(HostileData::Push(HostilePush::InvalidUtf8)),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    Api::new(&m).create().await;
    let got = tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .unwrap()
        .unwrap();
    assert!(got.starts_with(b"POST /s3-01/v1/reports HTTP/1.1\r\n"));
    assert!(
        got.windows(2).any(|w| w == b"\xff\xfe"),
        "not the invalid UTF-8 push"
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while m.push_stats().given_up < 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = m.push_stats();
    assert_eq!((stats.attempts, stats.given_up, stats.delivered), (1, 1, 0));
    assert!(!receiver.await.unwrap(), "the hostile push was sent again");
    m.shutdown().await;
}
