//! Shared set-up for the data-channel tests: a harness data channel and a
//! mock terminal wired to push to it, and a check context around them.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use s301_harness::binding::{BoxFuture, Console, OpenError, ScreenBinding};
use s301_harness::catalog::CheckId;
use s301_harness::checks::{catalog, CheckCtx, Outcome, Shared};
use s301_harness::data::DataChannel;
use s301_harness::declaration::{DataDecl, Declaration, Trigger};
use s301_harness::scenario::Scenario;
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
    let mock = MockTerminal::start(MockConfig {
        faults,
        push_to: Some(dc.receiver_url()),
        ..MockConfig::default()
    })
    .await
    .expect("mock starts");
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
