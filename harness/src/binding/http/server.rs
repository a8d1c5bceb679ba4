//! A small bounded HTTP/1.1 server loop (hyper 1.x) shared by the push
//! receiver and the benchmark's bare handler, so both are served the same way.
//!
//! Bounds: a header read timeout (a client that trickles its request line or
//! headers is cut off), a maximum header size, and a cap on concurrent
//! connections (further clients wait in the listen backlog). Body timeouts are
//! the handler's business, since only it reads the body.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;

use crate::binding::BoxFuture;

/// A request handler: the request and the peer address in, a response out.
pub type Handler = Arc<
    dyn Fn(Request<Incoming>, SocketAddr) -> BoxFuture<'static, Response<Full<Bytes>>>
        + Send
        + Sync,
>;

/// Connection-level bounds.
#[derive(Debug, Clone, Copy)]
pub struct ServerBounds {
    /// A request's start line and headers must arrive within this.
    pub header_timeout: Duration,
    /// Largest request head (start line plus headers).
    pub max_header_bytes: usize,
    /// Connections served at once.
    pub max_connections: usize,
    /// How long shutdown waits for open exchanges to finish.
    pub shutdown_grace: Duration,
}

impl Default for ServerBounds {
    fn default() -> Self {
        ServerBounds {
            header_timeout: Duration::from_secs(5),
            max_header_bytes: 64 * 1024,
            max_connections: 256,
            shutdown_grace: Duration::from_secs(2),
        }
    }
}

/// A running server.
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets open exchanges finish (bounded by the grace
    /// period), then returns.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        // The accept task itself bounds the graceful phase; this only guards
        // against a task that does not end.
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
        self.task.abort();
    }
}

/// Serves `handler` on `listener` until stopped.
pub fn serve(
    listener: TcpListener,
    bounds: ServerBounds,
    handler: Handler,
) -> std::io::Result<RunningServer> {
    serve_tls(listener, bounds, handler, None)
}

/// Like [`serve`], speaking https when `tls` is given: each connection's
/// TLS handshake must finish within the header timeout.
pub fn serve_tls(
    listener: TcpListener,
    bounds: ServerBounds,
    handler: Handler,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<RunningServer> {
    let addr = listener.local_addr()?;
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let graceful = GracefulShutdown::new();
        let permits = Arc::new(Semaphore::new(bounds.max_connections.max(1)));
        loop {
            let permit = tokio::select! {
                _ = &mut stop_rx => break,
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let accepted = tokio::select! {
                _ = &mut stop_rx => break,
                a = listener.accept() => a,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!("accept failed: {e}");
                    // Out of descriptors or the like: back off briefly.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let h = handler.clone();
            let svc = service_fn(move |req: Request<Incoming>| {
                let h = h.clone();
                async move { Ok::<_, Infallible>(h(req, peer).await) }
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(bounds.header_timeout)
                .max_buf_size(bounds.max_header_bytes.max(8192))
                // A client that half-closes after its request still gets the answer.
                .half_close(true)
                .keep_alive(true);
            if let Some(acceptor) = tls.clone() {
                let watcher = graceful.watcher();
                let handshake_timeout = bounds.header_timeout;
                tokio::spawn(async move {
                    let accepted =
                        tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await;
                    match accepted {
                        Ok(Ok(tls)) => {
                            let conn = builder.serve_connection(TokioIo::new(tls), svc);
                            if let Err(e) = watcher.watch(conn).await {
                                tracing::debug!("TLS connection from {peer} ended: {e}");
                            }
                        }
                        Ok(Err(e)) => tracing::debug!("TLS handshake from {peer} failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake from {peer} timed out"),
                    }
                    drop(permit);
                });
                continue;
            }
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            let fut = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = fut.await {
                    tracing::debug!("connection from {peer} ended: {e}");
                }
                drop(permit);
            });
        }
        drop(listener);
        let _ = tokio::time::timeout(bounds.shutdown_grace, graceful.shutdown()).await;
    });
    Ok(RunningServer {
        addr,
        stop: Some(stop_tx),
        task,
    })
}
