//! The harness's HTTP client towards the terminal's data API: requests
//! (`GET /reports/{id}`, `GET /reports`), data input (`POST .../dispatch`) and
//! the test hooks. Every request has a timeout, every answer is read into a
//! bounded buffer, and nothing the terminal sends can make it panic: a wrong
//! media type or broken JSON is a value the checks judge.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::header::{HeaderValue, ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use super::request_error::body_reason;
use crate::binding::schema::cut;
use crate::binding::seq::{self, Seq};
use crate::binding::tls::http::Connector;
use crate::binding::tls::{TlsInfo, TlsSettings};
use crate::binding::transcript::TranscriptSlot;
use s301_wire::{is_json_media_type, paths};
use std::sync::{Arc, Mutex};

/// Largest answer body the client reads.
pub const MAX_RESPONSE: usize = s301_wire::limits::MAX_ANSWER_BODY;

/// Characters of an answer body kept in evidence.
const EXCERPT_CHARS: usize = 2000;

pub use super::request_error::RequestError;

/// A complete answer from the terminal.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Method and URL, for evidence.
    pub request: String,
    /// Status code.
    pub status: u16,
    /// `Content-Type` as sent.
    pub content_type: Option<String>,
    /// Body.
    pub body: Bytes,
    /// When the request was sent, in the harness's causal order.
    pub sent: Seq,
    /// When the answer was complete.
    pub done: Seq,
    /// Milliseconds from sending to the complete answer.
    pub elapsed_ms: f64,
}

/// What is wrong with an answer that should be a JSON document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonProblem {
    /// Not `application/json`.
    #[error("{}, not application/json", media_type_said(.0))]
    MediaType(Option<String>),
    /// Not UTF-8 or not JSON.
    #[error("body is not JSON: {0}")]
    Syntax(String),
}

/// `Content-Type is "text/html"`, or `no Content-Type` when there was none.
fn media_type_said(ct: &Option<String>) -> String {
    match ct {
        Some(ct) => format!("Content-Type is {ct:?}"),
        None => "no Content-Type".into(),
    }
}

impl Reply {
    /// The body as JSON, requiring the JSON media type.
    pub fn json(&self) -> Result<Value, JsonProblem> {
        match &self.content_type {
            Some(ct) if is_json_media_type(ct) => {}
            other => return Err(JsonProblem::MediaType(other.clone())),
        }
        serde_json::from_slice(&self.body).map_err(|e| JsonProblem::Syntax(e.to_string()))
    }

    /// The body as JSON when it is an object with an `"error"` member
    /// (the binding's error shape).
    pub fn json_error(&self) -> Result<Value, String> {
        let v = self.json().map_err(|e| e.to_string())?;
        match v.get("error") {
            Some(e) if !e.is_null() => Ok(v),
            _ => Err("JSON body has no \"error\" member".into()),
        }
    }

    /// A body excerpt (lossy UTF-8, cut).
    pub fn excerpt(&self) -> String {
        cut(&String::from_utf8_lossy(&self.body), EXCERPT_CHARS)
    }

    /// Evidence form.
    pub fn to_json(&self) -> Value {
        json!({
            "request": self.request,
            "status": self.status,
            "content_type": self.content_type,
            "body_bytes": self.body.len(),
            "body": self.excerpt(),
            "sent_seq": self.sent,
            "done_seq": self.done,
            "elapsed_ms": self.elapsed_ms,
        })
    }
}

pub use s301_wire::paths::encode_segment;

/// `host:port` (the scheme's port when the URI has none) and the host of
/// `uri`, to name the terminal in connection errors.
fn endpoint(uri: &Uri) -> (String, String) {
    let host = uri.host().unwrap_or_default().to_string();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    let shown = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    (format!("{shown}:{port}"), host)
}

/// A client for one terminal's data API.
#[derive(Clone)]
pub struct TerminalClient {
    base: String,
    timeout: Duration,
    client: Client<Connector, Full<Bytes>>,
    last_tls: Arc<Mutex<Option<TlsInfo>>>,
    transcript: TranscriptSlot,
}

impl TerminalClient {
    /// A client for `base_url` (`http://HOST:PORT/s3-01/v1`); each request
    /// must be answered completely within `timeout`.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, RequestError> {
        Self::new_with_tls(base_url, timeout, None)
    }

    /// Like [`Self::new`], speaking `https://` with `tls` (the
    /// declaration's `[tls]`: CA and, for mutual TLS, the client certificate).
    pub fn new_with_tls(
        base_url: &str,
        timeout: Duration,
        tls: Option<Arc<TlsSettings>>,
    ) -> Result<Self, RequestError> {
        let base = base_url.trim_end_matches('/').to_string();
        let uri: Uri =
            base.parse()
                .map_err(|e: hyper::http::uri::InvalidUri| RequestError::Url {
                    url: base.clone(),
                    detail: e.to_string(),
                })?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") if tls.as_ref().is_some_and(|t| t.has_client()) => {}
            Some("https") => {
                return Err(RequestError::Url {
                    url: base,
                    detail: "https needs a [tls] section with a ca to verify the terminal".into(),
                })
            }
            _ => {
                return Err(RequestError::Url {
                    url: base,
                    detail: "the data base URL must start with http:// or https://".into(),
                })
            }
        }
        if uri.host().is_none() {
            return Err(RequestError::Url {
                url: base,
                detail: "no host".into(),
            });
        }
        let mut conn = HttpConnector::new();
        conn.set_connect_timeout(Some(timeout));
        conn.set_nodelay(true);
        let conn = Connector::new(conn, tls);
        let last_tls = conn.last_tls();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .build(conn);
        Ok(TerminalClient {
            base,
            timeout,
            client,
            last_tls,
            transcript: TranscriptSlot::default(),
        })
    }

    /// The same client logging its exchanges to the transcript `slot`
    /// holds (when it holds one).
    pub fn with_transcript(mut self, slot: TranscriptSlot) -> Self {
        self.transcript = slot;
        self
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The TLS parameters of the latest `https://` connection (none before
    /// the first, and none over `http://`).
    pub fn last_tls(&self) -> Option<TlsInfo> {
        self.last_tls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `GET {base}/reports/{id}`.
    pub async fn get_report(&self, id: &str) -> Result<Reply, RequestError> {
        self.send(Method::GET, &paths::report(id), None).await
    }

    /// `GET {base}/reports`.
    pub async fn list_reports(&self) -> Result<Reply, RequestError> {
        self.send(Method::GET, paths::REPORTS, None).await
    }

    /// `POST {base}/reports/{id}/dispatch` with `body` as JSON.
    pub async fn dispatch(&self, id: &str, body: Bytes) -> Result<Reply, RequestError> {
        self.send(Method::POST, &paths::dispatch(id), Some(body))
            .await
    }

    /// `POST {base}/test-reports`.
    pub async fn test_report(&self) -> Result<Reply, RequestError> {
        self.send(
            Method::POST,
            paths::TEST_REPORTS,
            Some(Bytes::from_static(b"{}")),
        )
        .await
    }

    /// `POST {base}/test-reports/{id}/update`.
    pub async fn test_update(&self, id: &str) -> Result<Reply, RequestError> {
        self.send(
            Method::POST,
            &paths::test_update(id),
            Some(Bytes::from_static(b"{}")),
        )
        .await
    }

    /// Sends one request to `{base}{path}`; a body is sent as JSON.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Reply, RequestError> {
        let url = format!("{}{}", self.base, path);
        let label = format!("{method} {url}");
        let mut b = Request::builder()
            .method(method)
            .uri(&url)
            .header(ACCEPT, HeaderValue::from_static(s301_wire::JSON));
        if body.is_some() {
            b = b.header(CONTENT_TYPE, HeaderValue::from_static(s301_wire::JSON));
        }
        let req = b
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| RequestError::Url {
                url: url.clone(),
                detail: e.to_string(),
            })?;
        let sent = seq::next();
        let start = Instant::now();
        let transcript = self.transcript.get();
        if let Some(t) = &transcript {
            t.log(
                "data-client",
                crate::binding::transcript::Direction::Send,
                "HTTP request",
                serde_json::json!({"request": label, "body_bytes": hyper::body::Body::size_hint(req.body()).exact(), "seq": sent}),
            );
        }
        let timeout = self.timeout;
        let client = self.client.clone();
        let (addr, host) = endpoint(req.uri());
        let work = async move {
            let resp = client
                .request(req)
                .await
                .map_err(|e| RequestError::from_client(&e, &addr, &host))?;
            let status = resp.status().as_u16();
            let content_type = resp
                .headers()
                .get(CONTENT_TYPE)
                .map(|v| cut(&String::from_utf8_lossy(v.as_bytes()), 200));
            let declared = resp
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.trim().parse::<u64>().ok());
            if declared.is_some_and(|n| n > MAX_RESPONSE as u64) {
                return Err(RequestError::TooLarge {
                    limit: MAX_RESPONSE,
                });
            }
            let body = Limited::new(resp.into_body(), MAX_RESPONSE)
                .collect()
                .await
                .map_err(|e| {
                    if e.downcast_ref::<LengthLimitError>().is_some() {
                        RequestError::TooLarge {
                            limit: MAX_RESPONSE,
                        }
                    } else {
                        RequestError::Body {
                            reason: cut(&body_reason(&*e), 300),
                        }
                    }
                })?
                .to_bytes();
            Ok((status, content_type, body))
        };
        let result = tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| RequestError::Timeout {
                after_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            })
            .and_then(|r| r);
        if let Some(t) = &transcript {
            let fields = match &result {
                Ok((status, content_type, body)) => {
                    serde_json::json!({"request": label, "status": status, "content_type": content_type, "body_bytes": body.len(), "elapsed_ms": start.elapsed().as_secs_f64() * 1000.0})
                }
                Err(e) => {
                    serde_json::json!({"request": label, "error": e.to_string(), "elapsed_ms": start.elapsed().as_secs_f64() * 1000.0})
                }
            };
            t.log(
                "data-client",
                crate::binding::transcript::Direction::Recv,
                "HTTP response",
                fields,
            );
        }
        let (status, content_type, body) = result?;
        Ok(Reply {
            request: label,
            status,
            content_type,
            body,
            sent,
            done: seq::next(),
            elapsed_ms: start.elapsed().as_secs_f64() * 1000.0,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(encode_segment("R-1_a.b~"), "R-1_a.b~");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
        assert_eq!(encode_segment("日"), "%E6%97%A5");
    }

    #[test]
    fn base_url_must_be_http() {
        assert!(
            TerminalClient::new("http://127.0.0.1:1/s3-01/v1/", Duration::from_secs(1)).is_ok()
        );
        assert!(matches!(
            TerminalClient::new("https://x/s3-01/v1", Duration::from_secs(1)),
            Err(RequestError::Url { .. })
        ));
        assert!(TerminalClient::new("ftp://x/", Duration::from_secs(1)).is_err());
        assert!(TerminalClient::new("not a url", Duration::from_secs(1)).is_err());
    }

    fn reply(ct: Option<&str>, body: &'static [u8]) -> Reply {
        Reply {
            request: "GET x".into(),
            status: 200,
            content_type: ct.map(str::to_string),
            body: Bytes::from_static(body),
            sent: Seq(1),
            done: Seq(2),
            elapsed_ms: 1.0,
        }
    }

    #[test]
    fn json_needs_media_type_and_syntax() {
        assert!(reply(Some("application/json"), b"{\"a\":1}").json().is_ok());
        assert!(matches!(
            reply(Some("text/html"), b"{}").json(),
            Err(JsonProblem::MediaType(_))
        ));
        assert!(matches!(
            reply(None, b"{}").json(),
            Err(JsonProblem::MediaType(None))
        ));
        assert_eq!(
            reply(Some("text/html"), b"{}")
                .json()
                .unwrap_err()
                .to_string(),
            "Content-Type is \"text/html\", not application/json"
        );
        assert_eq!(
            reply(None, b"{}").json().unwrap_err().to_string(),
            "no Content-Type, not application/json"
        );
        assert!(matches!(
            reply(Some("application/json"), b"{\"a\":").json(),
            Err(JsonProblem::Syntax(_))
        ));
        assert!(reply(Some("application/json"), b"{\"error\":\"x\"}")
            .json_error()
            .is_ok());
        assert!(reply(Some("application/json"), b"{\"message\":\"x\"}")
            .json_error()
            .is_err());
    }

    /// What no detail may show: Rust debug output and library internals.
    fn assert_plain(text: &str) {
        for bad in ["Error(", "hyper", "Some(", "::", "Kind", "os error"] {
            assert!(!text.contains(bad), "{bad:?} in {text:?}");
        }
    }

    /// A server on loopback that answers every connection with `answer`
    /// (after reading the request head); `None` closes without a word.
    async fn answering(answer: Option<Vec<u8>>) -> std::net::SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    if let Some(a) = answer {
                        let _ = s.write_all(&a).await;
                        let _ = s.flush().await;
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_closed_port_is_a_refused_connection_in_plain_words() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = TerminalClient::new(
            &format!("http://127.0.0.1:{port}/s3-01/v1"),
            Duration::from_secs(2),
        )
        .unwrap();
        let e = c.get_report("x").await.unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("connection to 127.0.0.1:{port} refused")
        );
        assert_plain(&e.to_string());
        assert_plain(&serde_json::to_string(&e).unwrap());
    }

    #[tokio::test]
    async fn an_answer_with_ten_thousand_headers_is_over_the_limit() {
        let mut a = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..10_000 {
            a.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        a.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        let addr = answering(Some(a)).await;
        let c = TerminalClient::new(&format!("http://{addr}/s3-01/v1"), Duration::from_secs(5))
            .unwrap();
        let e = c.list_reports().await.unwrap_err();
        assert_eq!(e.to_string(), "the answer's headers are over the limit");
        assert_plain(&e.to_string());
        assert_plain(&serde_json::to_string(&e).unwrap());
    }

    #[tokio::test]
    async fn a_connection_closed_without_an_answer_says_so() {
        let addr = answering(None).await;
        let c = TerminalClient::new(&format!("http://{addr}/s3-01/v1"), Duration::from_secs(5))
            .unwrap();
        let e = c.list_reports().await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "the terminal closed the connection before answering"
        );
        assert_plain(&serde_json::to_string(&e).unwrap());
    }

    #[tokio::test]
    async fn a_garbled_answer_is_not_http_in_plain_words() {
        let addr = answering(Some(b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec())).await;
        let c = TerminalClient::new(&format!("http://{addr}/s3-01/v1"), Duration::from_secs(5))
            .unwrap();
        let e = c.list_reports().await.unwrap_err();
        assert!(
            e.to_string().starts_with("the answer is not HTTP/1.1"),
            "{e}"
        );
        assert_plain(&e.to_string());
    }

    #[tokio::test]
    async fn unreachable_terminal_is_an_error_not_a_panic() {
        // Port 9 (discard) on loopback is normally closed: connection refused.
        let c =
            TerminalClient::new("http://127.0.0.1:9/s3-01/v1", Duration::from_millis(500)).unwrap();
        assert!(c.get_report("x").await.is_err());
    }
}
