//! The whole catalog once over TLS: the mock terminal in TLS mode with
//! mutual TLS required, the harness on `wss://` and `https://` with the
//! declaration's `[tls]` section. Also: a wrong CA is an ST-01 failure that
//! names certificate verification, and plaintext with encryption required
//! fails TLS-01.
#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure

use std::sync::{Arc, Mutex};

use s301_harness::binding::http::{DataChannel, ReceiverLimits, REPORTS_PATH};
use s301_harness::binding::rfb::RfbBinding;
use s301_harness::checks::tls01::REQUIRE_ENCRYPTION_KEY;
use s301_harness::checks::{catalog, CheckCtx, Shared};
use s301_harness::config::declaration::Declaration;
use s301_harness::config::scenario::Scenario;
use s301_harness::model::ids::{CheckId, ConditionId};
use s301_harness::model::verdict::{ConditionVerdict, Verdict};
use s301_harness::run::runner::{self, AbortSignal, RunConfig, RunOutcome, RunSink, Selection};
use s301_mocks::tls::{PemDir, TestPki, TlsMode};
use s301_mocks::{MockConfig, MockTerminal};

fn scenario() -> Scenario {
    let mut sc = Scenario::parse(include_str!("../../scenarios/ci.toml"), "ci.toml").unwrap();
    sc.data.push_timeout_ms = 2500;
    sc.data.request_timeout_ms = 2000;
    sc.data.random_requests = 16;
    sc.data.window_ms = 800;
    sc
}

fn free_port() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    l.local_addr().unwrap()
}

/// Runs `only` (all when empty) against a mock started with `tls`, with the
/// declaration rewritten by `edit`.
async fn run(
    tls: Option<TlsMode>,
    only: &[&str],
    require_encryption: bool,
    edit: impl FnOnce(String) -> String,
) -> RunOutcome {
    let sc = scenario();
    let receiver = free_port();
    let mock = MockTerminal::start(MockConfig {
        // In TLS mode the mock pushes over https too.
        push_to: Some(format!(
            "{}://{receiver}{REPORTS_PATH}",
            if tls.is_some() { "https" } else { "http" }
        )),
        tls,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let listen = receiver.to_string();
    let toml = edit(mock.declaration_toml(Some(&listen)));
    let decl = Declaration::parse(&toml, "mock declaration").unwrap();
    let tls = s301_harness::binding::tls::settings(&decl).unwrap();
    let dc = DataChannel::start_with_tls(
        decl.data.as_ref().unwrap(),
        &sc.data,
        Some(&listen),
        ReceiverLimits::default(),
        tls.clone(),
    )
    .await
    .unwrap();
    let screen = RfbBinding::from_decl(&decl.screen).unwrap().with_tls(tls);
    let mut shared = Shared::default();
    shared.values.insert(
        REQUIRE_ENCRYPTION_KEY.to_string(),
        serde_json::Value::Bool(require_encryption),
    );
    let ctx = Arc::new(CheckCtx {
        declaration: Arc::new(decl),
        scenario: Arc::new(sc),
        seed: 7,
        screen: Arc::new(screen),
        data: Some(dc.clone()),
        shared: Mutex::new(shared),
    });
    let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
    let cfg = RunConfig {
        run_id: "tls".into(),
        selection: Selection::from_lists(&only, &[]).unwrap(),
        abort: AbortSignal::new(),
        time_limit: None,
    };
    let mut sinks: [&mut dyn RunSink; 0] = [];
    let out = runner::run(catalog(), ctx, cfg, &mut sinks).await;
    dc.shutdown().await;
    mock.shutdown().await;
    out
}

fn describe(o: &RunOutcome) -> String {
    o.checks
        .iter()
        .map(|c| format!("{}: {} — {}", c.id, c.verdict.as_str(), c.detail))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_condition_passes_over_wss_and_https_with_mutual_tls() {
    let o = run(
        Some(TlsMode {
            require_client_cert: true,
        }),
        &[],
        false,
        |t| t,
    )
    .await;
    for c in &o.conditions {
        assert_eq!(
            c.verdict,
            ConditionVerdict::Pass,
            "{}: {}",
            c.id,
            describe(&o)
        );
    }
    assert_eq!(o.conditions.len(), ConditionId::ALL.len());
    let tls01 = o.check(CheckId::Tls01).unwrap();
    // Screen, data API and push receiver: all TLS, with listed suites.
    let ev = &tls01.evidence["transports"];
    for (i, name) in ["screen", "data API"].iter().enumerate() {
        assert_eq!(ev[i]["transport"], *name, "{}", tls01.evidence);
        assert_eq!(ev[i]["encrypted"], true, "{}", tls01.evidence);
        let tls = &ev[i]["tls"];
        assert!(
            tls["version"].as_str().unwrap().starts_with("TLSv1_"),
            "{tls}"
        );
        assert!(tls["suite"].as_str().unwrap().contains("GCM"), "{tls}");
        assert_eq!(tls["cryptrec"]["listed"], true, "{tls}");
        assert_eq!(tls["client_certificate"], true, "{tls}");
    }
    assert_eq!(ev[2]["transport"], "push receiver");
    assert_eq!(ev[2]["encrypted"], true, "{}", tls01.evidence);
    assert!(ev[2]["url"].as_str().unwrap().starts_with("https://"));
    assert_eq!(tls01.verdict, Verdict::Pass, "{}", tls01.detail);
    assert_eq!(o.exit_code(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_with_encryption_required_fails_tls01_but_not_the_run() {
    let o = run(None, &["ST-01", "TLS-01", "DR-03"], true, |t| t).await;
    let tls01 = o.check(CheckId::Tls01).unwrap();
    assert_eq!(tls01.verdict, Verdict::Fail, "{}", describe(&o));
    assert!(
        tls01.detail.contains("screen: plaintext"),
        "{}",
        tls01.detail
    );
    assert!(
        tls01.detail.contains("data API: plaintext"),
        "{}",
        tls01.detail
    );
    // 2-2-1 is informational: the judged conditions and the exit status ignore it.
    assert_eq!(o.exit_code(), 0, "{}", describe(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_without_the_flag_is_informational() {
    let o = run(None, &["TLS-01"], false, |t| t).await;
    let tls01 = o.check(CheckId::Tls01).unwrap();
    assert_eq!(tls01.verdict, Verdict::NotApplicable, "{}", tls01.detail);
    assert!(
        tls01.detail.contains("--require-encryption"),
        "{}",
        tls01.detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_fails_st01_naming_certificate_verification() {
    let other = TestPki::generate("some other CA").unwrap();
    let dir = PemDir::create().unwrap();
    other.write_to(dir.path()).unwrap();
    let wrong_ca = dir.path().join("ca.pem").display().to_string();
    let o = run(Some(TlsMode::default()), &["ST-01"], false, |t| {
        let at = t.find("\nca = ").unwrap() + 1;
        let end = at + t[at..].find('\n').unwrap();
        format!("{}ca = {:?}{}", &t[..at], wrong_ca, &t[end..])
    })
    .await;
    let st01 = o.check(CheckId::St01).unwrap();
    assert_eq!(st01.verdict, Verdict::Fail, "{}", describe(&o));
    assert!(
        st01.detail.contains("certificate verification failed"),
        "{}",
        st01.detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_push_receiver_serves_https_with_receiver_cert() {
    let pki = TestPki::generate("receiver test CA").unwrap();
    let dir = PemDir::create().unwrap();
    pki.write_to(dir.path()).unwrap();
    let p = |f: &str| Some(dir.path().join(f).display().to_string());
    let decl = s301_harness::binding::tls::TlsDecl {
        ca: p("ca.pem"),
        receiver_cert: p("receiver.pem"),
        receiver_key: p("receiver.key"),
        ..Default::default()
    };
    let tls = Arc::new(s301_harness::binding::tls::TlsSettings::load(&decl).unwrap());
    let data = s301_harness::config::declaration::DataDecl {
        base_url: "https://127.0.0.1:9/s3-01/v1".into(),
        output: true,
        input: true,
        revisions: true,
        trigger: s301_harness::config::declaration::Trigger::Hook,
        schema: None,
    };
    let sc = scenario();
    let dc = DataChannel::start_with_tls(
        &data,
        &sc.data,
        None,
        ReceiverLimits::default(),
        Some(tls.clone()),
    )
    .await
    .unwrap();
    let url = dc.receiver_url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    // A client trusting the CA reaches the receiver over TLS; any HTTP
    // answer proves the https path (the receiver only takes POSTs).
    let base = url.trim_end_matches("/reports").to_string();
    let client = s301_harness::binding::http::TerminalClient::new_with_tls(
        &base,
        std::time::Duration::from_secs(5),
        Some(tls),
    )
    .unwrap();
    let reply = client.list_reports().await.unwrap();
    assert!(reply.status >= 200, "{}", reply.status);
    let info = client.last_tls().expect("a TLS handshake is on record");
    assert!(info.cryptrec.listed, "{info:?}");
    dc.shutdown().await;
}
