//! Shared set-up for the data-channel tests: a harness data channel and a
//! mock terminal wired to push to it, and a check context around them.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use s301_harness::binding::http::DataChannel;
use s301_harness::binding::{BoxFuture, Console, OpenError, ScreenBinding};
use s301_harness::checks::{catalog, CheckCtx, Outcome, Shared};
use s301_harness::config::declaration::{DataDecl, Declaration, Trigger};
use s301_harness::config::scenario::Scenario;
use s301_harness::model::ids::CheckId;
use s301_mocks::{Fault, MockConfig, MockHandle, MockTerminal};

/// A screen binding for data-only tests: every open is refused by the harness.
pub struct NoScreen;

impl ScreenBinding for NoScreen {
    fn target(&self) -> String {
        "none (data-only test)".into()
    }

    fn open<'a>(
        &'a self,
        _label: &'a str,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<Console, OpenError>> {
        Box::pin(async { Err(OpenError::Harness("no screen in a data-only test".into())) })
    }
}

/// The data checks, in catalog order.
pub const DATA_CHECKS: [CheckId; 8] = [
    CheckId::Do01,
    CheckId::Do02,
    CheckId::Do03,
    CheckId::Di01,
    CheckId::Di02,
    CheckId::Dr01,
    CheckId::Dr02,
    CheckId::Dr03,
];

/// A short scenario for tests (the CI one, with tighter push waits).
pub fn test_scenario() -> Scenario {
    let mut sc = Scenario::parse(include_str!("../../../scenarios/ci.toml"), "ci.toml")
        .expect("ci scenario");
    sc.data.push_timeout_ms = 2500;
    sc.data.request_timeout_ms = 2000;
    sc.data.random_requests = 16;
    sc.data.window_ms = 800;
    sc
}

/// A data channel, a mock terminal pushing to it, and a check context.
pub struct Rig {
    pub dc: Arc<DataChannel>,
    pub mock: MockHandle,
    pub ctx: Arc<CheckCtx>,
}

impl Rig {
    pub async fn shutdown(self) {
        self.dc.shutdown().await;
        self.mock.shutdown().await;
    }
}

/// Starts the channel first (as the contract says), then the mock with
/// `push_to` = the receiver, then points the channel at the mock.
pub async fn rig(faults: Vec<Fault>, tweak: impl FnOnce(&mut DataDecl), seed: u64) -> Rig {
    rig_with(faults, tweak, |_| {}, seed).await
}

/// [`rig`] with a scenario tweak too.
pub async fn rig_with(
    faults: Vec<Fault>,
    tweak: impl FnOnce(&mut DataDecl),
    tweak_sc: impl FnOnce(&mut Scenario),
    seed: u64,
) -> Rig {
    rig_full(faults, tweak, tweak_sc, |_| {}, seed).await
}

/// [`rig_with`] with a tweak of the mock's configuration too (applied last,
/// after `faults` and `push_to` are set), e.g. a hostile data side.
pub async fn rig_full(
    faults: Vec<Fault>,
    tweak: impl FnOnce(&mut DataDecl),
    tweak_sc: impl FnOnce(&mut Scenario),
    tweak_mock: impl FnOnce(&mut MockConfig),
    seed: u64,
) -> Rig {
    let mut sc = test_scenario();
    tweak_sc(&mut sc);
    let placeholder = DataDecl {
        base_url: "http://127.0.0.1:9/s3-01/v1".into(),
        output: true,
        input: true,
        revisions: true,
        trigger: Trigger::Hook,
        schema: None,
    };
    let dc = DataChannel::start(&placeholder, &sc.data, None)
        .await
        .expect("data channel starts");
    let mut cfg = MockConfig {
        faults,
        push_to: Some(dc.receiver_url()),
        ..MockConfig::default()
    };
    tweak_mock(&mut cfg);
    let mock = MockTerminal::start(cfg).await.expect("mock starts");
    let mut decl = Declaration::parse(&mock.declaration_toml(None), "mock declaration")
        .expect("mock declaration parses");
    let data = decl.data.as_mut().expect("mock declares [data]");
    tweak(data);
    dc.set_terminal(data).expect("channel retargets");
    let ctx = Arc::new(CheckCtx {
        declaration: Arc::new(decl),
        scenario: Arc::new(sc),
        seed,
        screen: Arc::new(NoScreen),
        data: Some(dc.clone()),
        shared: Mutex::new(Shared::default()),
    });
    Rig { dc, mock, ctx }
}

/// Runs every data check once, in catalog order, with a generous bound each.
pub async fn run_data_checks(ctx: &CheckCtx) -> BTreeMap<CheckId, Outcome> {
    let mut out = BTreeMap::new();
    for def in catalog()
        .into_iter()
        .filter(|d| DATA_CHECKS.contains(&d.id))
    {
        let o = tokio::time::timeout(Duration::from_secs(60), (def.run)(ctx))
            .await
            .unwrap_or_else(|_| {
                Outcome::error("test bound of 60 s exceeded", serde_json::Value::Null)
            });
        out.insert(def.id, o);
    }
    out
}

/// `id: verdict — detail` lines, for assertion messages.
pub fn describe(r: &BTreeMap<CheckId, Outcome>) -> String {
    r.iter()
        .map(|(id, o)| format!("{id}: {} — {}", o.verdict.as_str(), o.detail))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A raw HTTP answer read off a socket.
#[derive(Debug, Clone)]
pub struct RawAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A 4xx with `Content-Type: application/json` and an `"error"` member.
    pub fn is_json_4xx(&self) -> bool {
        (400..500).contains(&self.status)
            && self
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/json"))
            && self.json().get("error").is_some_and(|e| e.is_string())
    }
}

/// Parses one HTTP/1.1 answer (Content-Length framed, as the receiver sends).
pub fn parse_answer(buf: &[u8]) -> Option<RawAnswer> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let body = buf.get(end + 4..end + 4 + len)?.to_vec();
    Some(RawAnswer {
        status,
        headers,
        body,
    })
}

/// Sends `bytes` on a fresh connection, optionally half-closes, and reads
/// until the answer is complete, the peer closes, or `timeout` passes.
pub async fn raw_exchange(
    addr: std::net::SocketAddr,
    bytes: &[u8],
    half_close: bool,
    timeout: Duration,
) -> (Option<RawAnswer>, bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let _ = s.write_all(bytes).await;
    if half_close {
        let _ = s.shutdown().await;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + timeout;
    let mut closed = false;
    loop {
        if let Some(a) = parse_answer(&buf) {
            return (Some(a), closed);
        }
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                return (parse_answer(&buf), closed);
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return (parse_answer(&buf), closed),
        }
    }
}

/// A POST to the reports path with the given content type and body.
pub fn push_request(content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST /s3-01/v1/reports HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(ct) = content_type {
        r.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    r.push_str("\r\n");
    let mut v = r.into_bytes();
    v.extend_from_slice(body);
    v
}

/// A data channel on its own (no terminal), with `limits`.
pub async fn receiver_only(
    limits: s301_harness::binding::http::ReceiverLimits,
) -> Arc<DataChannel> {
    let decl = DataDecl {
        base_url: "http://127.0.0.1:9/s3-01/v1".into(),
        output: true,
        input: false,
        revisions: true,
        trigger: Trigger::Hook,
        schema: None,
    };
    DataChannel::start_with(&decl, &test_scenario().data, None, limits)
        .await
        .expect("receiver starts")
}

/// A minimal valid report.
pub fn report(id: &str, rev: u64) -> serde_json::Value {
    serde_json::json!({
        "schema": "s3-01/report/v1",
        "reportId": id,
        "revision": rev,
        "test": true,
        "service": {"kind": "net119", "provider": "P"},
        "receivedAt": "2025-04-01T10:00:00Z",
        "updatedAt": "2025-04-01T10:00:00Z",
        "category": "fire",
        "location": {"lat": 35.0, "lon": 139.0, "datum": "JGD2011"}
    })
}

/// A new check context on the rig's channel and declaration with `screen`.
pub fn ctx_with_screen(r: &Rig, screen: Arc<dyn ScreenBinding>, seed: u64) -> Arc<CheckCtx> {
    Arc::new(CheckCtx {
        declaration: r.ctx.declaration.clone(),
        scenario: r.ctx.scenario.clone(),
        seed,
        screen,
        data: Some(r.dc.clone()),
        shared: Mutex::new(Shared::default()),
    })
}
