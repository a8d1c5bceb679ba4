//! A hyper connector for the data client that speaks `http://` and
//! `https://` and remembers the TLS parameters of its last handshake.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;

use super::{MaybeTls, TlsInfo, TlsSettings};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Connects TCP with [`HttpConnector`], then TLS for `https` URIs.
#[derive(Clone)]
pub struct Connector {
    http: HttpConnector,
    tls: Option<Arc<TlsSettings>>,
    last: Arc<Mutex<Option<TlsInfo>>>,
}

impl Connector {
    /// A connector over `http` (which must not enforce the `http` scheme),
    /// using `tls` for `https` URIs.
    pub fn new(mut http: HttpConnector, tls: Option<Arc<TlsSettings>>) -> Connector {
        http.enforce_http(false);
        Connector {
            http,
            tls,
            last: Arc::new(Mutex::new(None)),
        }
    }

    /// The slot holding the parameters of the latest TLS handshake.
    pub fn last_tls(&self) -> Arc<Mutex<Option<TlsInfo>>> {
        self.last.clone()
    }
}

/// A connection made by [`Connector`]: plain TCP or TLS over TCP, with
/// hyper's I/O traits.
pub type Stream = TokioIo<MaybeTls>;

impl Connection for MaybeTls {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let https = uri.scheme_str() == Some("https");
        let host = uri.host().unwrap_or_default().to_string();
        let tcp = self.http.call(uri);
        let tls = self.tls.clone();
        let last = self.last.clone();
        Box::pin(async move {
            let tcp = tcp.await.map_err(|e| Box::new(e) as BoxError)?;
            if !https {
                return Ok(TokioIo::new(MaybeTls::Plain(tcp.into_inner())));
            }
            let Some(tls) = tls else {
                return Err("https needs a [tls] section with a ca".into());
            };
            let (stream, info) = super::connect(&tls, &host, tcp.into_inner()).await?;
            *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(info);
            Ok(TokioIo::new(MaybeTls::Tls(Box::new(stream))))
        })
    }
}
