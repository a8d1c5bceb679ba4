//! TLS for the default binding: `wss://` screens, `https://` data APIs and an
//! https push receiver, through rustls with the `ring` provider.
//!
//! The `[tls]` declaration section names PEM files: the CA that signed the
//! terminal's certificate, the client certificate and key the harness shows
//! (mutual TLS, as closed dispatch networks use it) and the certificate and
//! key of the harness's own push receiver. [`TlsSettings::load`] reads them
//! once; every connection then records a [`TlsInfo`] (version, suite and the
//! suite's standing against CRYPTREC's list, see [`cryptrec`]) as evidence.

pub mod cryptrec;
pub mod http;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use self::cryptrec::CryptrecStatus;

pub use crate::config::declaration::tls::{
    load_certs, load_key, TlsDecl, TlsFileError, MAX_PEM_BYTES,
};

/// TLS configuration ready to use, built from a [`TlsDecl`].
#[derive(Clone)]
pub struct TlsSettings {
    client: Option<Arc<ClientConfig>>,
    server: Option<Arc<ServerConfig>>,
    server_name: Option<String>,
    mutual: bool,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("client", &self.client.is_some())
            .field("receiver", &self.server.is_some())
            .field("server_name", &self.server_name)
            .field("mutual", &self.mutual)
            .finish()
    }
}

/// The crypto provider every config uses (ring, chosen explicitly).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn pair_error(key: &'static str, file: Option<&String>, reason: String) -> TlsFileError {
    TlsFileError {
        key,
        file: file.cloned().unwrap_or_default(),
        reason,
    }
}

/// The TLS settings a declaration's `[tls]` section describes (none
/// without one).
pub fn settings(
    decl: &crate::config::declaration::Declaration,
) -> Result<Option<Arc<TlsSettings>>, TlsFileError> {
    match &decl.tls {
        None => Ok(None),
        Some(t) => TlsSettings::load(t).map(|s| Some(Arc::new(s))),
    }
}

impl TlsSettings {
    /// Reads every file `decl` names and builds the client and receiver
    /// configurations. Errors name the key and the file.
    pub fn load(decl: &TlsDecl) -> Result<TlsSettings, TlsFileError> {
        let provider = provider();
        let client_auth = match (&decl.client_cert, &decl.client_key) {
            (Some(c), Some(k)) => Some((load_certs("client_cert", c)?, load_key("client_key", k)?)),
            (None, None) => None,
            (Some(c), None) => {
                return Err(pair_error(
                    "client_key",
                    Some(c),
                    "client_cert needs client_key".into(),
                ))
            }
            (None, Some(k)) => {
                return Err(pair_error(
                    "client_cert",
                    Some(k),
                    "client_key needs client_cert".into(),
                ))
            }
        };
        let mut roots = RootCertStore::empty();
        if let Some(ca) = &decl.ca {
            for cert in load_certs("ca", ca)? {
                roots.add(cert).map_err(|e| TlsFileError {
                    key: "ca",
                    file: ca.clone(),
                    reason: format!("not a usable CA certificate: {e}"),
                })?;
            }
        }
        let roots = Arc::new(roots);
        let client = match &decl.ca {
            None => None,
            Some(ca) => {
                let builder = ClientConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| pair_error("ca", Some(ca), e.to_string()))?
                    .with_root_certificates(roots.clone());
                let cfg = match client_auth {
                    Some((certs, key)) => {
                        builder.with_client_auth_cert(certs, key).map_err(|e| {
                            pair_error(
                                "client_key",
                                decl.client_key.as_ref(),
                                format!("does not match client_cert: {e}"),
                            )
                        })?
                    }
                    None => builder.with_no_client_auth(),
                };
                Some(Arc::new(cfg))
            }
        };
        let server = match (&decl.receiver_cert, &decl.receiver_key) {
            (Some(c), Some(k)) => {
                let certs = load_certs("receiver_cert", c)?;
                let key = load_key("receiver_key", k)?;
                let builder = ServerConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| pair_error("receiver_cert", Some(c), e.to_string()))?;
                // A terminal that shows a client certificate must show one
                // the CA signed; one that shows none is still served.
                let builder = if decl.ca.is_some() {
                    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                        roots.clone(),
                        provider.clone(),
                    )
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| pair_error("ca", decl.ca.as_ref(), e.to_string()))?;
                    builder.with_client_cert_verifier(verifier)
                } else {
                    builder.with_no_client_auth()
                };
                let cfg = builder.with_single_cert(certs, key).map_err(|e| {
                    pair_error(
                        "receiver_key",
                        Some(k),
                        format!("does not match receiver_cert: {e}"),
                    )
                })?;
                Some(Arc::new(cfg))
            }
            (None, None) => None,
            (Some(c), None) => {
                return Err(pair_error(
                    "receiver_key",
                    Some(c),
                    "receiver_cert needs receiver_key".into(),
                ))
            }
            (None, Some(k)) => {
                return Err(pair_error(
                    "receiver_cert",
                    Some(k),
                    "receiver_key needs receiver_cert".into(),
                ))
            }
        };
        Ok(TlsSettings {
            client,
            server,
            server_name: decl.server_name.clone(),
            mutual: decl.client_cert.is_some(),
        })
    }

    /// True when a CA is configured, so `wss://` and `https://` can be used.
    pub fn has_client(&self) -> bool {
        self.client.is_some()
    }

    /// True when the harness presents a client certificate.
    pub fn mutual(&self) -> bool {
        self.mutual
    }

    /// The acceptor for the push receiver, when `receiver_cert` is set.
    pub fn acceptor(&self) -> Option<TlsAcceptor> {
        self.server.clone().map(TlsAcceptor::from)
    }

    /// The connector and the name to verify for a terminal at `host`.
    pub fn connector(&self, host: &str) -> Result<(TlsConnector, ServerName<'static>), String> {
        let cfg = self.client.clone().ok_or_else(|| {
            "no [tls] ca is declared, so the terminal's certificate cannot be verified".to_string()
        })?;
        let name = self.server_name.as_deref().unwrap_or(host);
        let name = name.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(name.to_string())
            .map_err(|e| format!("{name:?} is not a valid TLS server name: {e}"))?;
        Ok((TlsConnector::from(cfg), name))
    }
}

/// The parameters of one TLS connection, for evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsInfo {
    /// `TLSv1_3`, `TLSv1_2`.
    pub version: String,
    /// The negotiated suite (`TLS13_AES_256_GCM_SHA384`).
    pub suite: String,
    /// The suite against CRYPTREC's recommended list.
    pub cryptrec: CryptrecStatus,
    /// Whether the harness presented a client certificate.
    pub client_certificate: bool,
    /// The name the terminal's certificate was verified against.
    pub server_name: String,
}

impl TlsInfo {
    /// Reads the negotiated parameters of a finished handshake.
    pub fn of(conn: &rustls::CommonState, server_name: &str, client_certificate: bool) -> TlsInfo {
        let version = conn
            .protocol_version()
            .map_or_else(|| "unknown".to_string(), |v| format!("{v:?}"));
        let suite = conn
            .negotiated_cipher_suite()
            .map_or_else(|| "unknown".to_string(), |s| format!("{:?}", s.suite()));
        TlsInfo {
            cryptrec: cryptrec::classify(&suite),
            version,
            suite,
            client_certificate,
            server_name: server_name.to_string(),
        }
    }
}

/// Classifies and explains a failed client handshake: a rustls error is a
/// protocol failure (certificate problems say so first), anything else an
/// I/O failure.
pub fn handshake_error(e: &std::io::Error) -> TlsConnectError {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(
            err @ (rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::InvalidCertRevocationList(_)),
        ) => TlsConnectError::Rejected(format!(
            "TLS handshake failed: certificate verification failed ({err})"
        )),
        Some(err @ rustls::Error::AlertReceived(_)) => TlsConnectError::Rejected(format!(
            "TLS handshake failed: the terminal sent an alert ({err}); a missing or rejected client certificate looks like this"
        )),
        Some(err) => TlsConnectError::Rejected(format!("TLS handshake failed: {err}")),
        None => TlsConnectError::Io(format!("TLS handshake failed: {e}")),
    }
}

/// Why a client TLS handshake did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsConnectError {
    /// The settings cannot verify this terminal (no CA declared, a host
    /// that is no valid server name): the declaration's problem, found
    /// before a byte was sent.
    #[error("{0}")]
    Setup(String),
    /// The TLS protocol failed: a certificate did not verify, the terminal
    /// sent an alert, or it broke the protocol.
    #[error("{0}")]
    Rejected(String),
    /// The connection failed or closed during the handshake.
    #[error("{0}")]
    Io(String),
}

/// Performs a client handshake on `tcp` (not bounded here: callers wrap it
/// in their own deadline).
pub async fn connect(
    settings: &TlsSettings,
    host: &str,
    tcp: TcpStream,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, TlsInfo), TlsConnectError> {
    let (connector, name) = settings.connector(host).map_err(TlsConnectError::Setup)?;
    let shown = name.to_str().into_owned();
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| handshake_error(&e))?;
    let info = TlsInfo::of(tls.get_ref().1, &shown, settings.mutual);
    Ok((tls, info))
}

/// A TCP stream, with or without TLS on it.
pub enum MaybeTls {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (client side).
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl MaybeTls {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            MaybeTls::Plain(s) => s,
            MaybeTls::Tls(t) => t.get_ref().0,
        }
    }
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTls::Tls(t) => Pin::new(t.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Tls(t) => Pin::new(t.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(t) => Pin::new(t.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Tls(t) => Pin::new(t.as_mut()).poll_shutdown(cx),
        }
    }
}
