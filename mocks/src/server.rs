//! The mock's listeners: HTTP/1.1 (the WebSocket screen and the data API)
//! and, optionally, plain RFB over TCP.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

use crate::data::{self, DataState};
use crate::session::{self, Live, Shared};
use crate::transport::{ws_config, BoxIo, Transport};

/// Path of the WebSocket screen.
pub const SCREEN_PATH: &str = "/s3-01/v1/screen";
/// Prefix of the data API.
pub const API_PREFIX: &str = s301_wire::paths::PREFIX;
/// Most console sessions alive at once (each keeps a screen-sized image).
pub const MAX_SESSIONS: usize = 64;
/// Bound on reading an HTTP request head, and on the upgrade completing.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything a listener hands to its connections.
#[derive(Clone)]
pub struct Ctx {
    /// Screen-side state.
    pub shared: Arc<Shared>,
    /// Data-side state.
    pub data: Arc<DataState>,
    /// Caps concurrent sessions.
    pub sessions: Arc<Semaphore>,
    /// Shutdown tracking.
    pub live: Live,
    /// The TLS acceptor when the mock serves TLS.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Resolves once shutdown is asked for (or the handle is gone).
pub async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// Accepts HTTP connections until shutdown.
pub async fn http_loop(listener: TcpListener, ctx: Ctx) {
    let mut stop = ctx.shared.shutdown.clone();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    match ctx.tls.clone() {
                        None if ctx.data.cfg.hostile_answer().is_some() => {
                            tokio::spawn(maybe_hostile_conn(stream, peer, ctx.clone()));
                        }
                        None => {
                            tokio::spawn(http_conn(stream, peer, ctx.clone()));
                        }
                        Some(acceptor) => {
                            let ctx = ctx.clone();
                            tokio::spawn(async move {
                                match tokio::time::timeout(HEAD_TIMEOUT, acceptor.accept(stream)).await {
                                    Ok(Ok(tls)) => http_conn(tls, peer, ctx).await,
                                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                                }
                            });
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "http accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// Accepts plain RFB connections until shutdown.
pub async fn rfb_loop(listener: TcpListener, ctx: Ctx) {
    let mut stop = ctx.shared.shutdown.clone();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let Ok(permit) = Arc::clone(&ctx.sessions).try_acquire_owned() else {
                        tracing::warn!(%peer, "too many sessions: connection dropped");
                        continue;
                    };
                    let ctx = ctx.clone();
                    tokio::spawn(async move {
                        let _permit = permit;
                        let io: BoxIo = Box::new(stream);
                        session::run(ctx.shared, Transport::tcp(io), peer.to_string(), ctx.live).await;
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "rfb accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// With a hostile answer configured: a connection whose request is a GET
/// of reports gets the hostile answer; any other is served as usual.
async fn maybe_hostile_conn(stream: tokio::net::TcpStream, peer: SocketAddr, ctx: Ctx) {
    let Some(case) = data::hostile_answer_for(&ctx.data, &stream).await else {
        return http_conn(stream, peer, ctx).await;
    };
    tracing::debug!(%peer, case = case.name(), "hostile answer");
    let mut stop = ctx.shared.shutdown.clone();
    tokio::select! {
        _ = crate::hostile::answer_badly(stream, case) => {}
        _ = stopped(&mut stop) => {}
    }
    drop(ctx);
}

/// Serves one HTTP connection (possibly upgraded to a WebSocket).
async fn http_conn<S>(stream: S, peer: SocketAddr, ctx: Ctx)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut stop = ctx.shared.shutdown.clone();
    let svc_ctx = ctx.clone();
    let svc = service_fn(move |req: Request<Incoming>| {
        let ctx = svc_ctx.clone();
        async move { Ok::<_, Infallible>(route(req, peer, ctx).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        // Hostile answers are chosen per connection: one request each.
        .keep_alive(ctx.data.cfg.hostile_answer().is_none())
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "http connection ended with an error");
            }
        }
        _ = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
        }
    }
    drop(ctx);
}

/// Dispatches one request by path.
async fn route(req: Request<Incoming>, peer: SocketAddr, ctx: Ctx) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if path == SCREEN_PATH {
        return screen_upgrade(req, peer, ctx);
    }
    if path
        .strip_prefix(API_PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    {
        return data::handle(&ctx.data, req).await;
    }
    json_error(StatusCode::NOT_FOUND, "not found")
}

/// A JSON `{"error": ...}` response.
fn json_error(status: StatusCode, msg: &str) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(&s301_wire::ErrorBody::<s301_wire::Problem>::new(msg))
        .unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(s301_wire::JSON),
    );
    resp
}

/// Whether the comma-separated header `name` holds `token` (case-insensitive).
fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Answers the WebSocket upgrade on the screen path and starts the session
/// once the connection is upgraded.
fn screen_upgrade(mut req: Request<Incoming>, peer: SocketAddr, ctx: Ctx) -> Response<Full<Bytes>> {
    if req.method() != Method::GET {
        return json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "the screen is a WebSocket: use GET",
        );
    }
    let h = req.headers();
    let is_ws = header_has_token(h, header::UPGRADE, "websocket")
        && header_has_token(h, header::CONNECTION, "upgrade");
    let Some(key) = h.get(header::SEC_WEBSOCKET_KEY).filter(|_| is_ws) else {
        return json_error(StatusCode::UPGRADE_REQUIRED, "WebSocket upgrade required");
    };
    if h.get(header::SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
        let mut resp = json_error(
            StatusCode::UPGRADE_REQUIRED,
            "WebSocket version 13 required",
        );
        resp.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return resp;
    }
    let accept = derive_accept_key(key.as_bytes());
    let binary = header_has_token(h, header::SEC_WEBSOCKET_PROTOCOL, "binary");
    let Ok(permit) = Arc::clone(&ctx.sessions).try_acquire_owned() else {
        return json_error(StatusCode::SERVICE_UNAVAILABLE, "too many sessions");
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let _permit = permit;
        let upgraded = match tokio::time::timeout(HEAD_TIMEOUT, on_upgrade).await {
            Ok(Ok(u)) => u,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "WebSocket upgrade failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "WebSocket upgrade timed out");
                return;
            }
        };
        let io: BoxIo = Box::new(TokioIo::new(upgraded));
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(ws_config())).await;
        session::run(ctx.shared, Transport::ws(ws), peer.to_string(), ctx.live).await;
    });
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let hm = resp.headers_mut();
    hm.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    hm.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        hm.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    if binary {
        hm.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("binary"),
        );
    }
    resp
}
