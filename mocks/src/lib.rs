//! `s301-mocks`: the terminal side. A deterministic mock dedicated terminal
//! (専用端末) that speaks the default binding, with faults to inject.
//!
//! [`MockTerminal::start`] binds an HTTP/1.1 listener that serves the screen
//! as RFB inside a WebSocket at `/s3-01/v1/screen` and the data API under
//! `/s3-01/v1/`, plus, when asked, plain RFB over TCP. The returned
//! [`MockHandle`] knows the URLs and writes a matching terminal declaration.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod config;
pub mod damage;
pub mod data;
pub mod declaration;
pub mod desktop;
pub mod font;
pub mod hostile;
pub mod lock;
pub mod pointer;
pub mod server;
pub mod session;
pub mod tls;
pub mod transport;
pub mod update;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;

pub use config::{Exclusivity, Fault, MockConfig};
pub use desktop::Layout;
pub use lock::LockView;
pub use pointer::{PointerSprite, ScreenMode};
use s301_rfb::Framebuffer;

/// Environment variable named in the declaration when the mock has a password.
pub const PASSWORD_ENV: &str = "S301_MOCK_PASSWORD";

/// Bound on waiting for sessions and connections to end at shutdown.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(3);

/// Choices for [`MockHandle::declaration_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclOptions {
    /// Fills `[harness] listen`.
    pub harness_listen: Option<String>,
    /// The variable named in `password_env` when the mock has a password
    /// (default [`PASSWORD_ENV`]).
    pub password_env: Option<String>,
    /// Give the screen as `rfb://` (plain TCP) instead of `ws://`.
    pub plain_rfb: bool,
}

/// The mock dedicated terminal.
pub struct MockTerminal;

impl MockTerminal {
    /// Binds the listeners, starts serving and returns a handle.
    ///
    /// Fails with `InvalidInput` for a configuration the mock cannot serve
    /// (screen too small or too large) and with the bind error otherwise.
    pub async fn start(cfg: MockConfig) -> std::io::Result<MockHandle> {
        cfg.validate()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind(cfg.listen).await?;
        let addr = listener.local_addr()?;
        let rfb_listener = match cfg.rfb_listen {
            Some(a) => Some(TcpListener::bind(a).await?),
            None => None,
        };
        let rfb_addr = match &rfb_listener {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        // TLS mode: a fresh PKI, its PEM files in a private directory.
        let tls = match cfg.tls {
            Some(_) => {
                let pki = tls::TestPki::generate("s301 mock terminal test CA")?;
                let dir = tls::PemDir::create()?;
                pki.write_to(dir.path())?;
                Some((pki, dir))
            }
            None => None,
        };
        let modes = desktop::DesktopModes::of(&cfg);
        let desktop = desktop::Desktop::with_modes(cfg.width, cfg.height, modes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        let layout = desktop.layout();
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(session::Shared::new(cfg.clone(), desktop, shutdown_rx));
        let data = Arc::new(data::DataState::new(&cfg));
        let (live, live_rx) = session::Live::channel();
        let ctx = server::Ctx {
            shared: Arc::clone(&shared),
            data: Arc::clone(&data),
            sessions: Arc::new(Semaphore::new(server::MAX_SESSIONS)),
            live,
            tls: match &tls {
                Some((pki, _)) => Some(tokio_rustls::TlsAcceptor::from(
                    pki.server_config(cfg.tls.unwrap_or_default())?,
                )),
                None => None,
            },
        };
        let mut tasks = vec![tokio::spawn(server::http_loop(listener, ctx.clone()))];
        if cfg.blink {
            tasks.push(tokio::spawn(blink_loop(Arc::clone(&shared))));
        }
        if let Some(l) = rfb_listener {
            tasks.push(tokio::spawn(server::rfb_loop(l, ctx.clone())));
        }
        drop(ctx);
        let push_tls = match &tls {
            Some((pki, _)) => Some(pki.client_config()?),
            None => None,
        };
        data::start_background_tls(&data, push_tls);
        tracing::info!(%addr, rfb = ?rfb_addr, exclusivity = %cfg.exclusivity,
            faults = ?cfg.faults.iter().map(Fault::name).collect::<Vec<_>>(),
            "mock terminal started");
        Ok(MockHandle {
            addr,
            rfb_addr,
            cfg,
            layout,
            shared,
            data,
            shutdown_tx,
            live_rx,
            tasks,
            tls,
        })
    }
}

/// Toggles the blinking text cursor every [`desktop::BLINK_PERIOD`] until
/// shutdown (or until the handle is gone).
async fn blink_loop(shared: Arc<session::Shared>) {
    let mut stop = shared.shutdown.clone();
    let start = tokio::time::Instant::now() + desktop::BLINK_PERIOD;
    let mut tick = tokio::time::interval_at(start, desktop::BLINK_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = server::stopped(&mut stop) => break,
            _ = tick.tick() => {
                shared.desktop.toggle_blink();
            }
        }
    }
}

/// A running mock terminal. Dropping it stops the listeners too; call
/// [`MockHandle::shutdown`] to wait for everything to end.
pub struct MockHandle {
    addr: SocketAddr,
    rfb_addr: Option<SocketAddr>,
    cfg: MockConfig,
    layout: Layout,
    shared: Arc<session::Shared>,
    data: Arc<data::DataState>,
    shutdown_tx: watch::Sender<bool>,
    live_rx: mpsc::Receiver<()>,
    tasks: Vec<JoinHandle<()>>,
    tls: Option<(tls::TestPki, tls::PemDir)>,
}

impl MockHandle {
    /// The HTTP listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The plain RFB listener's address, when one was asked for.
    pub fn rfb_addr(&self) -> Option<SocketAddr> {
        self.rfb_addr
    }

    /// `ws://ADDR/s3-01/v1/screen` (`wss://` in TLS mode).
    pub fn screen_url(&self) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}{}", self.addr, server::SCREEN_PATH)
    }

    /// The generated PKI and the directory of its PEM files, in TLS mode.
    pub fn tls_pki(&self) -> Option<(&tls::TestPki, &std::path::Path)> {
        self.tls.as_ref().map(|(p, d)| (p, d.path()))
    }

    /// `rfb://ADDR` of the plain RFB listener, when there is one.
    pub fn rfb_url(&self) -> Option<String> {
        self.rfb_addr.map(|a| format!("rfb://{a}"))
    }

    /// `http://ADDR/s3-01/v1` (`https://` in TLS mode).
    pub fn data_base_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}{}", self.addr, server::API_PREFIX)
    }

    /// Counters of the report pusher (attempts, deliveries, give-ups).
    pub fn push_stats(&self) -> data::pusher::PushCounts {
        self.data.push_stats()
    }

    /// The configuration the mock runs with.
    pub fn config(&self) -> &MockConfig {
        &self.cfg
    }

    /// Where the desktop's parts are.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// A copy of the screen as it is now.
    pub fn screen(&self) -> Framebuffer {
        self.shared.desktop.snapshot()
    }

    /// Where the terminal's pointer is now (the last pointer event applied
    /// from a served console, or the start point).
    pub fn pointer(&self) -> (u16, u16) {
        self.shared.desktop.pointer()
    }

    /// Follows the exclusivity lock: who holds the terminal, whether it is
    /// stuck, how many holders have been released. Lets a test wait until
    /// the mock has noticed a console leaving.
    pub fn lock_view(&self) -> watch::Receiver<LockView> {
        self.shared.lock.watch()
    }

    /// A complete terminal declaration (TOML) for this mock with the
    /// WebSocket screen URL; `harness_listen` fills `[harness] listen`.
    pub fn declaration_toml(&self, harness_listen: Option<&str>) -> String {
        let decl = declaration::render(&self.decl_input(self.screen_url()), harness_listen);
        decl + &self.tls_section()
    }

    /// The `[tls]` section in TLS mode (empty otherwise): the CA, the
    /// harness's client certificate and, when the mock pushes over https,
    /// the receiver's certificate.
    pub fn tls_section(&self) -> String {
        match &self.tls {
            Some((_, dir)) => {
                let https_push = self
                    .cfg
                    .push_to
                    .as_deref()
                    .is_some_and(|u| u.starts_with("https://"));
                tls::TestPki::declaration_section(dir.path(), https_push)
            }
            None => String::new(),
        }
    }

    /// The same declaration with the screen at `rfb://` (plain TCP), when the
    /// mock has an RFB listener.
    pub fn declaration_toml_for_rfb(&self, harness_listen: Option<&str>) -> Option<String> {
        let url = self.rfb_url()?;
        Some(declaration::render(&self.decl_input(url), harness_listen) + &self.tls_section())
    }

    /// The declaration with every choice spelled out: where the harness
    /// listens, which environment variable holds the password (instead of
    /// [`PASSWORD_ENV`]), and whether the screen is given as `rfb://`.
    /// `None` when `rfb://` is asked for but the mock has no RFB listener.
    pub fn declaration_with(&self, opts: &DeclOptions) -> Option<String> {
        let url = if opts.plain_rfb {
            self.rfb_url()?
        } else {
            self.screen_url()
        };
        let mut input = self.decl_input(url);
        if input.password_env.is_some() {
            if let Some(env) = &opts.password_env {
                input.password_env = Some(env.clone());
            }
        }
        Some(declaration::render(&input, opts.harness_listen.as_deref()) + &self.tls_section())
    }

    fn decl_input(&self, screen_url: String) -> declaration::DeclInput {
        declaration::DeclInput {
            screen_url,
            exclusivity: self.cfg.exclusivity,
            password_env: self.cfg.password.as_ref().map(|_| PASSWORD_ENV.to_string()),
            layout: self.layout,
            data_base_url: self.data_base_url(),
        }
    }

    /// Stops listening, closes every console session and waits (bounded)
    /// for all of it to end.
    pub async fn shutdown(self) {
        let MockHandle {
            shutdown_tx,
            mut live_rx,
            tasks,
            data,
            ..
        } = self;
        shutdown_tx.send_replace(true);
        data::stop_background(&data).await;
        let wait = async {
            for t in tasks {
                let _ = t.await;
            }
            // Every connection and session holds a sender; all gone = all done.
            let _ = live_rx.recv().await;
        };
        if tokio::time::timeout(SHUTDOWN_WAIT, wait).await.is_err() {
            tracing::warn!("mock terminal: some sessions did not end in time");
        }
        tracing::info!("mock terminal stopped");
    }
}
