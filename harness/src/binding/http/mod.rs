//! The data channel of the default binding (JSON over HTTP/1.1, the wire
//! contract of [`s301_wire`]): the harness's push receiver ([`receiver`]),
//! its client for requests, dispatch input and test hooks ([`client`]), and
//! the triggers that make a terminal push (`hook`, `auto`, `manual`). The
//! checks reach it through [`crate::binding::DataBinding`], implemented in
//! [`binding`], the only place where HTTP answers are mapped to outcomes.
//!
//! A [`DataChannel`] is started before the terminal is pointed at it and
//! lives for the whole run, so the data checks (DO, DI, DR) can run in a lane
//! of their own while the screen checks run in another.

pub mod binding;
pub mod client;
pub mod receiver;
pub mod request_error;
pub mod server;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::config::declaration::{DataDecl, Trigger};
use crate::config::scenario::DataScenario;

pub use crate::binding::schema::{ReportSchema, SchemaError, Violation};
pub use binding::from_decl;
pub use client::{Reply, RequestError, TerminalClient};
pub use receiver::{
    Arriving, Exchange, PushOutcome, Received, ReceiverLimits, ReceiverState, REPORTS_PATH,
};

/// Why the data channel could not start.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The report schema could not be loaded (`[data] schema`).
    #[error("[data] schema: {0}")]
    Schema(#[from] SchemaError),
    /// The receiver could not listen.
    #[error("[harness] listen \"{addr}\": cannot listen there: {reason}")]
    Listen {
        /// The address asked for.
        addr: String,
        /// Why.
        reason: String,
    },
    /// `[data] base_url` is unusable.
    #[error("[data] base_url: {0}")]
    BaseUrl(RequestError),
}

pub use crate::binding::data::TriggerError;

/// The harness's data channel to one terminal.
pub struct DataChannel {
    decl: std::sync::RwLock<DataDecl>,
    sc: DataScenario,
    state: Arc<ReceiverState>,
    server: tokio::sync::Mutex<Option<server::RunningServer>>,
    addr: SocketAddr,
    url: String,
    client: std::sync::RwLock<TerminalClient>,
    screen_lane: AtomicUsize,
    triggers: Mutex<Vec<Value>>,
    started: Instant,
    tls: Option<Arc<crate::binding::tls::TlsSettings>>,
}

impl std::fmt::Debug for DataChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataChannel")
            .field("receiver", &self.url)
            .field("terminal", &self.client().base().to_string())
            .finish()
    }
}

/// Trigger log entries kept for evidence.
const MAX_TRIGGER_LOG: usize = 1000;

impl DataChannel {
    /// Starts the push receiver on `listen` (`host:port`; default
    /// `127.0.0.1:0`) for the terminal declared in `decl`.
    pub async fn start(
        decl: &DataDecl,
        sc: &DataScenario,
        listen: Option<&str>,
    ) -> Result<Arc<DataChannel>, DataError> {
        Self::start_with(decl, sc, listen, ReceiverLimits::default()).await
    }

    /// [`DataChannel::start`] with explicit receiver limits (tests use short timeouts).
    pub async fn start_with(
        decl: &DataDecl,
        sc: &DataScenario,
        listen: Option<&str>,
        limits: ReceiverLimits,
    ) -> Result<Arc<DataChannel>, DataError> {
        Self::start_with_tls(decl, sc, listen, limits, None).await
    }

    /// [`DataChannel::start_with`] with the declaration's `[tls]`: the client
    /// speaks `https://` to the terminal, and the receiver serves https when
    /// `receiver_cert` is set (its URL then starts with `https://`).
    pub async fn start_with_tls(
        decl: &DataDecl,
        sc: &DataScenario,
        listen: Option<&str>,
        limits: ReceiverLimits,
        tls: Option<Arc<crate::binding::tls::TlsSettings>>,
    ) -> Result<Arc<DataChannel>, DataError> {
        let schema = Arc::new(ReportSchema::load(decl.schema.as_deref())?);
        let client = TerminalClient::new_with_tls(
            &decl.base_url,
            Duration::from_millis(sc.request_timeout_ms.max(1)),
            tls.clone(),
        )
        .map_err(DataError::BaseUrl)?;
        let listen = listen.unwrap_or("127.0.0.1:0");
        let listener =
            tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| DataError::Listen {
                    addr: listen.to_string(),
                    reason: crate::config::declaration::input_file::io_reason(&e),
                })?;
        let state = Arc::new(ReceiverState::new(schema, limits));
        let client = client.with_transcript(state.transcript().clone());
        let st = state.clone();
        let handler: server::Handler = Arc::new(move |req, peer| {
            let st = st.clone();
            Box::pin(async move { st.handle(req, peer).await })
        });
        let bounds = server::ServerBounds {
            header_timeout: limits.header_timeout,
            max_connections: limits.max_connections,
            ..server::ServerBounds::default()
        };
        let acceptor = tls.as_ref().and_then(|t| t.acceptor());
        let scheme = if acceptor.is_some() { "https" } else { "http" };
        let running = server::serve_tls(listener, bounds, handler, acceptor).map_err(|e| {
            DataError::Listen {
                addr: listen.to_string(),
                reason: crate::config::declaration::input_file::io_reason(&e),
            }
        })?;
        let addr = running.addr();
        let host = match addr.ip() {
            std::net::IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
            std::net::IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            std::net::IpAddr::V4(ip) => ip.to_string(),
        };
        let url = format!("{scheme}://{host}:{}{REPORTS_PATH}", addr.port());
        Ok(Arc::new(DataChannel {
            decl: std::sync::RwLock::new(decl.clone()),
            sc: sc.clone(),
            state,
            server: tokio::sync::Mutex::new(Some(running)),
            addr,
            url,
            client: std::sync::RwLock::new(client),
            screen_lane: AtomicUsize::new(0),
            triggers: Mutex::new(Vec::new()),
            started: Instant::now(),
            tls,
        }))
    }

    /// `http://HOST:PORT/s3-01/v1/reports`: where the terminal must push.
    pub fn receiver_url(&self) -> String {
        self.url.clone()
    }

    /// The receiver's bound address.
    pub fn receiver_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the receiver (open exchanges get a short grace period). Idempotent.
    pub async fn shutdown(&self) {
        let running = self.server.lock().await.take();
        if let Some(r) = running {
            r.stop().await;
        }
    }

    /// Logs the channel's HTTP exchanges (requests it makes, pushes it
    /// receives) to `t` from now on (`None`: stop).
    pub fn set_transcript(&self, t: Option<crate::binding::transcript::Transcript>) {
        self.state.transcript().set(t);
    }

    /// Points the channel at the terminal `decl` describes (its base URL,
    /// capabilities, trigger and schema), for when the receiver had to be
    /// started before the terminal's address was known: start the channel,
    /// start the terminal with `push_to = receiver_url()`, then call this
    /// with the terminal's `[data]`.
    pub fn set_terminal(&self, decl: &DataDecl) -> Result<(), DataError> {
        let client = TerminalClient::new_with_tls(
            &decl.base_url,
            Duration::from_millis(self.sc.request_timeout_ms.max(1)),
            self.tls.clone(),
        )
        .map_err(DataError::BaseUrl)?
        .with_transcript(self.state.transcript().clone());
        let schema_changed = self.decl().schema != decl.schema;
        if schema_changed {
            self.state
                .set_schema(Arc::new(ReportSchema::load(decl.schema.as_deref())?));
        }
        *self.client.write().unwrap_or_else(|p| p.into_inner()) = client;
        *self.decl.write().unwrap_or_else(|p| p.into_inner()) = decl.clone();
        Ok(())
    }

    /// The `[data]` declaration in force.
    pub fn decl(&self) -> DataDecl {
        self.decl.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The scenario's data settings.
    pub fn scenario(&self) -> &DataScenario {
        &self.sc
    }

    /// The client for the terminal's data API.
    pub fn client(&self) -> TerminalClient {
        self.client
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The receiver: its log, acknowledgements and received reports.
    pub fn receiver(&self) -> &ReceiverState {
        &self.state
    }

    /// Answers the next `n` pushes with `status` (DO-03 uses `503`).
    pub fn fail_next(&self, n: u32, status: u16) {
        self.state.fail_next(n, status);
    }

    /// The runner calls this with `true` when the screen lane starts a check
    /// and `false` when it ends one, so the data checks can record which of
    /// their requests overlapped screen transfer (DR-02 evidence).
    pub fn set_screen_lane_active(&self, active: bool) {
        if active {
            self.screen_lane.fetch_add(1, Ordering::SeqCst);
        } else {
            let _ = self
                .screen_lane
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    Some(n.saturating_sub(1))
                });
        }
    }

    /// Whether a screen check is running now (see [`Self::set_screen_lane_active`]).
    pub fn screen_lane_active(&self) -> bool {
        self.screen_lane.load(Ordering::SeqCst) > 0
    }

    /// How long to wait for a push after a trigger: the scenario's push
    /// timeout, or its manual timeout when an operator must act.
    pub fn push_wait(&self) -> Duration {
        match self.decl().trigger {
            Trigger::Manual => Duration::from_millis(self.sc.manual_timeout_ms),
            Trigger::Hook | Trigger::Auto => Duration::from_millis(self.sc.push_timeout_ms),
        }
    }

    fn log_trigger(&self, v: Value) {
        let mut t = self.triggers.lock().unwrap_or_else(|p| p.into_inner());
        if t.len() < MAX_TRIGGER_LOG {
            t.push(v);
        }
    }

    /// Makes the terminal produce a new report, as the declaration's trigger
    /// says: `hook` posts `test-reports` and returns the announced reportId;
    /// `auto` does nothing (the terminal pushes by itself); `manual` asks the
    /// operator on stderr to place a test call. `purpose` names the check.
    pub async fn announce_new(&self, purpose: &str) -> Result<Option<String>, TriggerError> {
        match self.decl().trigger {
            Trigger::Auto => Ok(None),
            Trigger::Manual => {
                self.prompt(
                    purpose,
                    "place a TEST call (通報) on the terminal so that it pushes a new report",
                );
                Ok(None)
            }
            Trigger::Hook => {
                let r = self.client().test_report().await;
                let (detail, evidence) = match r {
                    Err(e) => (
                        format!("test hook POST test-reports got no answer: {e}"),
                        json!({"error": e}),
                    ),
                    Ok(reply) => {
                        let ev = reply.to_json();
                        if reply.status != 202 {
                            (
                                format!(
                                    "test hook POST test-reports answered {} instead of 202",
                                    reply.status
                                ),
                                ev,
                            )
                        } else {
                            match reply.json() {
                                Err(e) => (format!("test hook POST test-reports: {e}"), ev),
                                Ok(v) => match v.get("reportId").and_then(Value::as_str) {
                                    Some(id) if !id.is_empty() => {
                                        self.log_trigger(json!({"purpose": purpose, "hook": "test-reports", "reportId": id, "reply": ev}));
                                        return Ok(Some(id.to_string()));
                                    }
                                    _ => ("test hook POST test-reports: 202 body has no string reportId".to_string(), ev),
                                },
                            }
                        }
                    }
                };
                self.log_trigger(json!({"purpose": purpose, "hook": "test-reports", "failed": detail, "reply": evidence}));
                Err(TriggerError { detail, evidence })
            }
        }
    }

    /// Makes the terminal push the next revision of `report_id`: `hook` posts
    /// `test-reports/{id}/update`; `auto` waits for the terminal; `manual`
    /// asks the operator to update the call.
    pub async fn announce_update(
        &self,
        report_id: &str,
        purpose: &str,
    ) -> Result<(), TriggerError> {
        match self.decl().trigger {
            Trigger::Auto => Ok(()),
            Trigger::Manual => {
                self.prompt(
                    purpose,
                    &format!("make the terminal UPDATE the test report {report_id} (e.g. add a message or change its location)"),
                );
                Ok(())
            }
            Trigger::Hook => {
                let r = self.client().test_update(report_id).await;
                let (detail, evidence) = match r {
                    Err(e) => (format!("test hook POST test-reports/{report_id}/update got no answer: {e}"), json!({"error": e})),
                    Ok(reply) if reply.status == 202 => {
                        self.log_trigger(json!({"purpose": purpose, "hook": "update", "reportId": report_id, "reply": reply.to_json()}));
                        return Ok(());
                    }
                    Ok(reply) => (
                        format!("test hook POST test-reports/{report_id}/update answered {} instead of 202", reply.status),
                        reply.to_json(),
                    ),
                };
                self.log_trigger(json!({"purpose": purpose, "hook": "update", "failed": detail, "reply": evidence}));
                Err(TriggerError { detail, evidence })
            }
        }
    }

    fn prompt(&self, purpose: &str, what: &str) {
        let secs = self.sc.manual_timeout_ms / 1000;
        eprintln!();
        eprintln!("[s301] ==== OPERATOR ACTION NEEDED ({purpose}) ====");
        eprintln!("[s301] Please {what}.");
        eprintln!("[s301] The terminal must push to {}", self.url);
        eprintln!("[s301] Waiting up to {secs} s; the check fails if nothing arrives.");
        self.log_trigger(
            json!({"purpose": purpose, "manual": what, "timeout_ms": self.sc.manual_timeout_ms}),
        );
    }

    /// Waits up to [`Self::push_wait`] for the first exchange at or after
    /// log index `since` that satisfies `pred`. With the manual trigger a
    /// countdown is shown on stderr while waiting.
    pub async fn wait_push(
        &self,
        since: u64,
        mut pred: impl FnMut(&Exchange) -> bool,
    ) -> Option<Exchange> {
        let total = self.push_wait();
        if self.decl().trigger != Trigger::Manual {
            return self.state.wait_for(since, total, pred).await;
        }
        let start = Instant::now();
        let tty = std::io::stderr().is_terminal();
        let step = if tty {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(10)
        };
        loop {
            let left = total.saturating_sub(start.elapsed());
            if left.is_zero() {
                if tty {
                    eprintln!();
                }
                eprintln!("[s301] no push arrived in time");
                return None;
            }
            if tty {
                eprint!(
                    "\r[s301] waiting for the terminal's push: {:>4} s left ",
                    left.as_secs()
                );
            } else {
                eprintln!(
                    "[s301] waiting for the terminal's push: {} s left",
                    left.as_secs()
                );
            }
            if let Some(e) = self.state.wait_for(since, left.min(step), &mut pred).await {
                if tty {
                    eprintln!();
                }
                eprintln!("[s301] push received ({} ms)", start.elapsed().as_millis());
                return Some(e);
            }
        }
    }

    /// The channel's evidence for the run record: the receiver's log and
    /// the triggers used.
    pub fn evidence(&self) -> Value {
        let triggers = self
            .triggers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        json!({
            "receiver_url": self.url,
            "base_url": self.client().base(),
            "trigger": self.decl().trigger,
            "schema": self.state.schema().origin(),
            "uptime_ms": self.started.elapsed().as_millis() as u64,
            "receiver": self.state.log_json(),
            "triggers": triggers,
        })
    }
}
