//! The live witness console: a local web page served from the harness
//! process (`s301 run --witness-ui [ADDR]`), for the fire department's
//! witness (立会者) who watches the vendor's operator run the test.
//!
//! It shows, while checks run:
//! - **the live screen**: the picture the harness's own console receives
//!   (the terminal admits one console, so it is the only view there is),
//!   with the console named; fed by the lossy screen tap
//!   ([`crate::binding::tap`]) into one mirror ([`frames`]), and sent as
//!   PNGs of the changed tiles, latest wins;
//! - **the progress**: every selected check with its verdict as it arrives,
//!   what the running checks do (their requirement, Japanese and English,
//!   from each check's literal), and the transcript's tail;
//! - **the questions**: each witness step, once its check has finished,
//!   with the evidence that answers it ([`crate::sinks::witness_bundle`]),
//!   to answer pass, fail or n/a with a comment.
//!
//! It is one more sink of the runner's event stream ([`UiSink`]); answers
//! given in it reach the record only through [`crate::sinks::witness::ask`]
//! (the [`BrowserAnswers`] it implements) and the one judge. The server
//! runs on a thread of its own with its own runtime, so the page, its
//! encoder and its browsers never take time from the checks' runtime.
//!
//! The browser is untrusted input: the server listens on 127.0.0.1 unless
//! told otherwise, answers only requests whose `Host` is the address it
//! listens on (no DNS rebinding), takes answers only as JSON bodies of at
//! most [`MAX_BODY`] bytes (no cross-site form posts), validates each, and
//! serves files only from the run's `evidence/` folder. The page and its
//! script are in the binary; nothing is loaded from the network.

pub mod frames;
mod server;
mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::binding::tap::ScreenTap;
use crate::config::witness::WitnessStep;
use crate::model::lang::Lang;
use crate::run::events::{RunEvent, RunSink};
use crate::sinks::witness::{BrowserAnswers, Bundle, Given, WitnessRecord};

pub use state::{AnswerError, Hub};

/// Where the console listens unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8301";

/// Largest request body taken (an answer with its comment).
pub const MAX_BODY: usize = 8 * 1024;

/// Browser connections served at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 8;

/// How often the live screen is taken from the tap (at most 20 frames/s).
pub const PUMP_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

/// What the console needs to know about the run.
#[derive(Debug, Clone)]
pub struct UiConfig {
    /// The run directory (evidence, transcript).
    pub run_dir: PathBuf,
    /// The scenario's witness steps.
    pub steps: Vec<WitnessStep>,
    /// The page's first language.
    pub lang: Lang,
    /// Who answers (the witness, else the operator).
    pub who: Option<String>,
}

/// Why the console could not start.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// The address could not be bound.
    #[error("--witness-ui {addr}: cannot listen: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The server thread could not start.
    #[error("--witness-ui: cannot start the server thread: {0}")]
    Thread(std::io::Error),
}

/// A running witness console.
pub struct WitnessUi {
    hub: Arc<Hub>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WitnessUi {
    /// Listens on `addr` and serves the console from a thread of its own.
    /// `tap` is the screen tap the run's consoles report to (see
    /// [`crate::binding::tap::install`]).
    pub fn start(
        addr: SocketAddr,
        cfg: UiConfig,
        tap: Arc<ScreenTap>,
    ) -> Result<WitnessUi, UiError> {
        let listener =
            std::net::TcpListener::bind(addr).map_err(|source| UiError::Listen { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| UiError::Listen { addr, source })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| UiError::Listen { addr, source })?;
        let hub = Arc::new(Hub::new(cfg, tap));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let h = hub.clone();
        let thread = std::thread::Builder::new()
            .name("witness-ui".into())
            .spawn(move || server::serve_thread(listener, local, h, stopped))
            .map_err(UiError::Thread)?;
        Ok(WitnessUi {
            hub,
            addr: local,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The sink that feeds it the run's events.
    pub fn sink(&self) -> UiSink {
        UiSink(self.hub.clone())
    }

    /// Where browser answers come from, for [`crate::sinks::witness::ask`].
    pub fn answers(&self) -> &dyn BrowserAnswers {
        &*self.hub
    }

    /// Tells the page the record is written (`report.json` at `path`).
    pub fn recorded(&self, summary: &str) {
        self.hub.recorded(summary);
    }

    /// Stops the server and waits (bounded) for its thread.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for WitnessUi {
    fn drop(&mut self) {
        self.shut();
    }
}

/// The run sink of a witness console: checks, verdicts, and the moment
/// each question opens. It only updates the page's state (a short lock);
/// it never waits for a browser.
pub struct UiSink(Arc<Hub>);

impl RunSink for UiSink {
    fn on_event(&mut self, event: &RunEvent<'_>) {
        self.0.on_event(event);
    }
}

impl BrowserAnswers for Hub {
    fn open(&self, step: &WitnessStep, bundle: &Bundle) -> time::OffsetDateTime {
        self.open_question(step, bundle)
    }
    fn take(&self, step_id: &str) -> Option<Given> {
        self.take_answer(step_id)
    }
    fn settle(&self, record: &WitnessRecord) {
        self.settle_question(record);
    }
}
