//! The witness console's HTTP server: the page (embedded), the state and
//! the live screen by long poll, the evidence images, and the answers.
//!
//! | request | answer |
//! |---|---|
//! | `GET /`, `/app.js`, `/app.css` | the page, from the binary |
//! | `GET /api/state?since=N` | the state as JSON once its version passes N (or after 10 s) |
//! | `GET /api/frame?session=S&since=V` | a PNG of what changed since version V of session S, its place in `X-Frame-*` headers (204 after 2 s of no change) |
//! | `GET /evidence/CHECK/FILE.png` | an evidence image of the run |
//! | `POST /api/answer` | `{"id", "answer": "pass"\|"fail"\|"n/a", "comment"}` as `application/json` |

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

use super::{Hub, MAX_BODY, MAX_CONNECTIONS, PUMP_INTERVAL};

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

/// How long a state request waits for a change.
const STATE_WAIT: Duration = Duration::from_secs(10);
/// How long a frame request waits for a change.
const FRAME_WAIT: Duration = Duration::from_secs(2);
/// Largest evidence file served.
const MAX_FILE: u64 = 64 * 1024 * 1024;

type Body = Full<Bytes>;

/// Runs the server on this thread until `stop`.
pub(super) fn serve_thread(
    listener: std::net::TcpListener,
    local: SocketAddr,
    hub: Arc<Hub>,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::warn!("witness console: no runtime: {e}");
            return;
        }
    };
    rt.block_on(serve(listener, local, hub, stop));
}

async fn serve(
    listener: std::net::TcpListener,
    local: SocketAddr,
    hub: Arc<Hub>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("witness console: cannot listen: {e}");
            return;
        }
    };
    // The live screen: taken from the tap at most 20 times a second.
    let pump_hub = hub.clone();
    let pump = tokio::spawn(async move {
        let mut tick = tokio::time::interval(PUMP_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            pump_hub.frames.pump(&pump_hub.tap);
        }
    });
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            _ = &mut stop => break,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let accepted = tokio::select! {
            _ = &mut stop => break,
            a = listener.accept() => a,
        };
        let Ok((stream, _peer)) = accepted else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let h = hub.clone();
        let svc = service_fn(move |req: Request<Incoming>| {
            let h = h.clone();
            async move { Ok::<_, Infallible>(route(&h, local, req).await) }
        });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(10))
            .max_buf_size(16 * 1024);
        tokio::spawn(async move {
            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
            drop(permit);
        });
    }
    pump.abort();
}

fn reply(status: StatusCode, kind: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    if let Ok(v) = header::HeaderValue::from_str(kind) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    h.insert(
        "x-content-type-options",
        header::HeaderValue::from_static("nosniff"),
    );
    r
}

fn json_error(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": message }).to_string();
    reply(status, "application/json; charset=utf-8", body)
}

/// Whether the request's `Host` names the address listened on (or
/// `localhost` with its port): a page of another site resolved to
/// 127.0.0.1 (DNS rebinding) is refused.
fn host_ok(req: &Request<Incoming>, local: SocketAddr) -> bool {
    let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
    else {
        return false;
    };
    let port = local.port();
    host == local.to_string()
        || host == format!("localhost:{port}")
        || (local.ip().is_unspecified() && host.ends_with(&format!(":{port}")))
}

fn query(req: &Request<Incoming>, key: &str) -> Option<u64> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.parse().ok())?
    })
}

async fn route(hub: &Hub, local: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    if !host_ok(&req, local) {
        return json_error(StatusCode::MISDIRECTED_REQUEST, "unknown Host");
    }
    let path = req.uri().path().to_string();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/") => reply(StatusCode::OK, "text/html; charset=utf-8", INDEX),
        (&Method::GET, "/app.js") => {
            reply(StatusCode::OK, "text/javascript; charset=utf-8", SCRIPT)
        }
        (&Method::GET, "/app.css") => reply(StatusCode::OK, "text/css; charset=utf-8", STYLE),
        (&Method::GET, "/api/state") => state(hub, query(&req, "since").unwrap_or(0)).await,
        (&Method::GET, "/api/frame") => {
            frame(
                hub,
                query(&req, "session").unwrap_or(0),
                query(&req, "since").unwrap_or(0),
            )
            .await
        }
        (&Method::POST, "/api/answer") => answer(hub, req).await,
        (&Method::GET, p) if p.starts_with("/evidence/") => evidence(hub, p),
        _ => json_error(StatusCode::NOT_FOUND, "not found / ありません"),
    }
}

async fn state(hub: &Hub, since: u64) -> Response<Body> {
    let mut rx = hub.subscribe();
    let _ = tokio::time::timeout(STATE_WAIT, async {
        while *rx.borrow_and_update() <= since {
            if rx.changed().await.is_err() {
                break;
            }
        }
    })
    .await;
    let (_, v) = hub.snapshot();
    reply(
        StatusCode::OK,
        "application/json; charset=utf-8",
        v.to_string(),
    )
}

async fn frame(hub: &Hub, session: u64, since: u64) -> Response<Body> {
    let mut rx = hub.frames.subscribe();
    let deadline = tokio::time::Instant::now() + FRAME_WAIT;
    loop {
        rx.borrow_and_update();
        if let Some(f) = hub.frames.frame(session, since) {
            let mut r = reply(StatusCode::OK, "image/png", f.png);
            let h = r.headers_mut();
            let put = |h: &mut http::HeaderMap, k: &'static str, v: String| {
                if let Ok(v) = header::HeaderValue::from_str(&v) {
                    h.insert(k, v);
                }
            };
            put(h, "x-frame-version", f.version.to_string());
            put(h, "x-frame-session", f.session.to_string());
            put(
                h,
                "x-frame-rect",
                format!("{},{},{},{}", f.rect.x, f.rect.y, f.rect.w, f.rect.h),
            );
            put(h, "x-frame-size", format!("{},{}", f.width, f.height));
            return r;
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => continue,
            _ => return reply(StatusCode::NO_CONTENT, "text/plain", Bytes::new()),
        }
    }
}

async fn answer(hub: &Hub, req: Request<Incoming>) -> Response<Body> {
    let lang = hub.lang();
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the answer as application/json / 回答は application/json で送ってください",
        );
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "answer longer than {MAX_BODY} bytes / 回答が {MAX_BODY} バイトを超えています"
                ),
            )
        }
    };
    match hub.answer(&body) {
        Ok(()) => reply(
            StatusCode::OK,
            "application/json; charset=utf-8",
            r#"{"ok":true}"#,
        ),
        Err(e) => {
            let status = match e {
                super::AnswerError::Answered(_) | super::AnswerError::NotOpen(_) => {
                    StatusCode::CONFLICT
                }
                super::AnswerError::Unknown(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::BAD_REQUEST,
            };
            json_error(status, &e.message(lang))
        }
    }
}

/// `/evidence/CHECK/FILE.png`: only PNG files directly in a check's
/// evidence folder; no other path is opened.
fn evidence(hub: &Hub, path: &str) -> Response<Body> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ok = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let [dir, check, file] = parts.as_slice() else {
        return json_error(StatusCode::NOT_FOUND, "not found / ありません");
    };
    if *dir != crate::model::files::EVIDENCE_DIR
        || crate::model::ids::CheckId::parse(check).is_none()
        || !ok(file)
        || !file.ends_with(".png")
    {
        return json_error(StatusCode::NOT_FOUND, "not found / ありません");
    }
    let p = hub.run_dir().join(dir).join(check).join(file);
    let small = std::fs::metadata(&p).is_ok_and(|m| m.is_file() && m.len() <= MAX_FILE);
    match small.then(|| std::fs::read(&p)) {
        Some(Ok(b)) => reply(StatusCode::OK, "image/png", b),
        _ => json_error(StatusCode::NOT_FOUND, "not found / ありません"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use std::io::{Read, Write};
    use std::sync::Arc;

    use super::super::{UiConfig, WitnessUi};
    use crate::binding::tap::ScreenTap;
    use crate::model::lang::Lang;

    fn request(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, text)
    }

    #[test]
    fn the_browser_is_untrusted_input() {
        let dir = std::env::temp_dir().join(format!("s301-ui-server-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("evidence/OP-01")).unwrap();
        std::fs::write(dir.join("evidence/OP-01/after.png"), b"png").unwrap();
        std::fs::write(dir.join("report.json"), b"{}").unwrap();
        let cfg = UiConfig {
            run_dir: dir.clone(),
            steps: Vec::new(),
            lang: Lang::Ja,
            who: None,
        };
        let ui = WitnessUi::start(
            "127.0.0.1:0".parse().unwrap(),
            cfg,
            Arc::new(ScreenTap::new()),
        )
        .unwrap();
        let a = ui.addr();
        let get = |path: &str, host: &str| {
            request(
                a,
                &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
                b"",
            )
        };
        let host = a.to_string();
        let (st, page) = get("/", &host);
        assert_eq!(st, 200);
        assert!(page.contains("立会者コンソール"));
        // Another site's name resolved to 127.0.0.1 (DNS rebinding).
        assert_eq!(get("/", "evil.example:80").0, 421);
        assert_eq!(get("/evidence/OP-01/after.png", &host).0, 200);
        assert_eq!(get("/evidence/../report.json", &host).0, 404);
        assert_eq!(get("/evidence/OP-01/../../report.json", &host).0, 404);
        assert_eq!(get("/evidence/ZZ-99/after.png", &host).0, 404);
        let post = |kind: &str, body: &[u8]| {
            request(
                a,
                &format!(
                    "POST /api/answer HTTP/1.1\r\nHost: {host}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                ),
                body,
            )
        };
        // A cross-site form cannot post an answer.
        assert_eq!(
            post("text/plain", br#"{"id":"W-01","answer":"pass"}"#).0,
            415
        );
        assert_eq!(post("application/json", &vec![b' '; 9000]).0, 413);
        let (st, text) = post("application/json", br#"{"id":"W-01","answer":"pass"}"#);
        assert_eq!(st, 404);
        assert!(text.contains("W-01"), "{text}");
        ui.stop();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
