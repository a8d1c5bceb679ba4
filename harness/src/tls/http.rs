//! A hyper connector for the data client that speaks `http://` and
//! `https://` and remembers the TLS parameters of its last handshake.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::{TlsInfo, TlsSettings};

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

/// A connection made by [`Connector`].
pub enum Stream {
    /// Plain TCP.
    Plain(TokioIo<TcpStream>),
    /// TLS over TCP.
    Tls(Box<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl hyper::rt::Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
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
                return Ok(Stream::Plain(tcp));
            }
            let Some(tls) = tls else {
                return Err("https needs a [tls] section with a ca".into());
            };
            let (stream, info) = super::connect(&tls, &host, tcp.into_inner()).await?;
            *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(info);
            Ok(Stream::Tls(Box::new(TokioIo::new(stream))))
        })
    }
}
