//! Bindings: how the harness reaches a terminal.
//!
//! A binding turns a terminal's wire protocol into typed events. Checks use
//! only the neutral types of [`screen`] ([`ScreenBinding`], [`Console`],
//! [`ConsoleEvent`], [`Damage`], the pixel model [`screen::Rect`] and
//! [`screen::Image`]) and never see a socket or a byte, so a department
//! holding the official S3-01 wire text can add a binding as one new module
//! without touching the checks. What only one binding can do is an optional
//! capability a check asks for ([`ScreenBinding::encodings`]).
//!
//! The default binding is [`rfb`]: RFB over WebSocket (`ws://`, `wss://`) or
//! TCP (`rfb://`) for the screen, and [`http`] (JSON over HTTP/1.1) for the
//! data channel, which checks reach through [`data::DataBinding`];
//! [`memory`] holds bindings that simulate a terminal in process (no socket,
//! no wire format) to prove the seam. [`screen_from_decl`] builds the screen
//! binding a declaration's `[screen]` names.

pub mod data;
pub mod http;
pub mod memory;
pub mod rfb;
pub mod schema;
pub mod screen;
pub mod seq;
pub mod tap;
pub mod tls;
pub mod transcript;

use std::sync::Arc;

pub use data::DataBinding;
pub use screen::{
    CloseHow, CloseReason, Command, Console, ConsoleDriver, ConsoleEvent, ConsoleGone, CursorShape,
    Damage, DamageKind, EncodingControl, EncodingSet, OpenError, ScreenBinding, SessionInfo, Stage,
    UpdateInfo, EVENT_QUEUE,
};
pub use seq::Seq;

/// A boxed, sendable future (bindings are used as trait objects).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What a screen binding needs from the run beyond the declaration's
/// `[screen]`: the TLS settings of `[tls]`, the transcript and the
/// scenario's screen-size bound.
#[derive(Debug, Clone, Default)]
pub struct ScreenOptions {
    /// The declaration's `[tls]`, loaded (needed for encrypted transports).
    pub tls: Option<Arc<crate::binding::tls::TlsSettings>>,
    /// Where every console's messages are logged (`transcript.jsonl`).
    pub transcript: Option<crate::binding::transcript::Transcript>,
    /// The scenario's `[screen] max_pixels`; `None` keeps the binding's default.
    pub max_pixels: Option<u64>,
}

/// The screen binding a declaration's `[screen]` names, built with `options`.
///
/// The URL's scheme chooses: `ws://`, `wss://` and `rfb://` are the default
/// RFB binding ([`rfb::RfbBinding`]); `memory://` is a clean simulated
/// terminal keeping the declared policy ([`memory::screen::MemoryScreen`]).
/// A department adding a binding adds its scheme here.
pub fn screen_from_decl(
    decl: &crate::config::declaration::ScreenDecl,
    options: ScreenOptions,
) -> Result<Arc<dyn ScreenBinding>, BindingError> {
    if decl.url == memory::screen::URL {
        let cfg = memory::screen::MemoryConfig {
            policy: decl.exclusivity,
            ..memory::screen::MemoryConfig::default()
        };
        let screen = memory::screen::MemoryScreen::new(cfg).map_err(|e| BindingError::Url {
            url: decl.url.clone(),
            reason: e.to_string(),
        })?;
        return Ok(Arc::new(screen));
    }
    let mut b = rfb::RfbBinding::from_decl(decl)?
        .with_tls(options.tls)
        .with_transcript(options.transcript);
    if let Some(max) = options.max_pixels {
        b = b.with_max_pixels(max);
    }
    Ok(Arc::new(b))
}

/// The data binding a declaration's `[data]` names, started.
///
/// The base URL's scheme chooses: `http://` and `https://` are the default
/// HTTP binding ([`http::DataChannel`], its push receiver listening on
/// `listen`); `memory://` is a clean simulated terminal
/// ([`memory::data::MemoryData`]). A department adding a binding adds its
/// scheme here, as in [`screen_from_decl`].
pub async fn data_from_decl(
    decl: &crate::config::declaration::DataDecl,
    sc: &crate::config::scenario::DataScenario,
    listen: Option<&str>,
    limits: http::ReceiverLimits,
    tls: Option<Arc<tls::TlsSettings>>,
) -> Result<Arc<dyn DataBinding>, http::DataError> {
    if decl.base_url.starts_with(memory::data::URL_SCHEME) {
        let m = memory::data::MemoryData::new(decl.clone(), sc.clone(), Vec::new())?;
        return Ok(Arc::new(m));
    }
    let ch = http::from_decl(decl, sc, listen, limits, tls).await?;
    Ok(ch)
}

/// Why a binding could not be built from a declaration (before anything
/// is connected): a usage error naming the key or variable at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// `[screen] url` is not a URL the binding accepts.
    #[error("[screen] url {url:?}: {reason}")]
    Url {
        /// The URL as declared.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `[screen] password_env` names a variable that is not set.
    #[error("[screen] password_env names ${var}, which is not set")]
    PasswordUnset {
        /// The variable's name.
        var: String,
    },
    /// The password variable holds bytes that are not UTF-8.
    #[error("[screen] password_env names ${var}, which is not valid UTF-8")]
    PasswordNotUnicode {
        /// The variable's name.
        var: String,
    },
}
