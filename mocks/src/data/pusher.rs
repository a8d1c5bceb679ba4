//! The mock's report pusher: delivers each queued revision to `push_to`, in
//! order, retrying transient failures (no answer, `408`, `429`, `5xx`) with
//! exponential backoff (honouring a short `Retry-After`), and giving up on
//! definitive answers (`2xx` delivered; `409` superseded; other `4xx` refused).
//! Under the `no-retry` fault the first failure is final. With a hostile push
//! configured ([`crate::MockConfig::hostile_data`]) each job is sent once as
//! that hostile push instead ([`crate::hostile::hostile_push`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{mpsc, watch};

use super::PushJob;
use crate::config::{Fault, MockConfig};
use crate::hostile::{hostile_push, HostilePush, HOLD};
use crate::tls::PushConnector;

/// How the pusher behaves.
#[derive(Debug, Clone)]
pub struct PusherConfig {
    /// Where to push (`None`: nowhere; jobs are dropped).
    pub push_to: Option<String>,
    /// Retry transient failures.
    pub retry: bool,
    /// Attempts per revision, the first included.
    pub max_attempts: u32,
    /// First backoff; doubled per attempt.
    pub first_backoff: Duration,
    /// Largest backoff (and largest `Retry-After` honoured).
    pub max_backoff: Duration,
    /// One attempt's timeout.
    pub attempt_timeout: Duration,
    /// TLS client settings for an `https://` receiver (the mock's TLS mode).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Send this hostile push instead of each report (plain `http://` only).
    pub hostile: Option<HostilePush>,
}

impl PusherConfig {
    /// The settings for a mock with `cfg`.
    pub fn for_mock(cfg: &MockConfig) -> Self {
        PusherConfig {
            push_to: cfg.push_to.clone(),
            retry: !cfg.has(Fault::NoRetry),
            max_attempts: 8,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(5),
            tls: None,
            hostile: cfg.hostile_push(),
        }
    }

    /// The wait before attempt `k + 1` after attempt `k` (0-based) failed.
    pub fn backoff(&self, k: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .first_backoff
            .saturating_mul(1u32.checked_shl(k.min(16)).unwrap_or(u32::MAX))
            .min(self.max_backoff);
        match retry_after {
            Some(r) => exp.max(r.min(self.max_backoff)),
            None => exp,
        }
    }
}

/// Counters, for tests and logs.
#[derive(Debug, Default)]
pub struct PushStats {
    /// HTTP attempts made.
    pub attempts: AtomicU64,
    /// Revisions delivered (2xx).
    pub delivered: AtomicU64,
    /// Revisions given up on.
    pub given_up: AtomicU64,
    /// Revisions dropped (queue full).
    pub dropped: AtomicU64,
}

/// A copy of [`PushStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushCounts {
    /// HTTP attempts made.
    pub attempts: u64,
    /// Revisions delivered.
    pub delivered: u64,
    /// Revisions given up on.
    pub given_up: u64,
    /// Revisions dropped.
    pub dropped: u64,
}

impl PushStats {
    /// The current counts.
    pub fn snapshot(&self) -> PushCounts {
        PushCounts {
            attempts: self.attempts.load(Ordering::SeqCst),
            delivered: self.delivered.load(Ordering::SeqCst),
            given_up: self.given_up.load(Ordering::SeqCst),
            dropped: self.dropped.load(Ordering::SeqCst),
        }
    }
}

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Taken (`2xx`) or superseded (`409`): done.
    Done,
    /// Refused for good (a `4xx` other than `408`/`429`).
    Refused,
    /// Worth another try, after at least this long if the server said so.
    Transient(Option<Duration>),
}

/// Classifies an answer status (and `Retry-After` seconds).
pub fn classify(status: u16, retry_after_s: Option<u64>) -> Attempt {
    match status {
        200..=299 | 409 => Attempt::Done,
        408 | 429 | 500..=599 => Attempt::Transient(retry_after_s.map(Duration::from_secs)),
        _ => Attempt::Refused,
    }
}

async fn attempt(
    client: &Client<PushConnector, Full<Bytes>>,
    url: &str,
    body: Bytes,
    timeout: Duration,
) -> Attempt {
    let req = match Request::builder()
        .method(Method::POST)
        .uri(url)
        .header(CONTENT_TYPE, HeaderValue::from_static(s301_wire::JSON))
        .body(Full::new(body))
    {
        Ok(r) => r,
        Err(_) => return Attempt::Refused,
    };
    let work = async {
        let resp = client.request(req).await.ok()?;
        let status = resp.status().as_u16();
        let ra = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok());
        // Drain the (small) answer so the connection can be reused.
        let _ = Limited::new(resp.into_body(), 64 * 1024).collect().await;
        Some(classify(status, ra))
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Some(a)) => a,
        _ => Attempt::Transient(None),
    }
}

/// The address of an `http://HOST:PORT/...` URL (port 80 by default).
pub async fn resolve(url: &str) -> Option<SocketAddr> {
    let uri: hyper::Uri = url.parse().ok()?;
    if uri.scheme_str() != Some("http") {
        return None;
    }
    let host = uri
        .host()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(80);
    let mut addrs = tokio::net::lookup_host((host.as_str(), port)).await.ok()?;
    addrs.next()
}

/// Sends `case` to the receiver at `url` once: the status it answered, or
/// why there was none. Bounded by [`HOLD`] (a slowloris push lasts until the
/// receiver gives up on it).
async fn send_hostile(case: HostilePush, url: &str) -> Result<u16, String> {
    let addr = resolve(url)
        .await
        .ok_or_else(|| format!("cannot resolve {url} (plain http:// only)"))?;
    match hostile_push(case, addr, HOLD).await {
        Ok(Some(status)) => Ok(status),
        Ok(None) => Err("closed without an answer".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Delivers jobs from `rx` until `stop` turns true or the queue closes.
pub async fn run(
    cfg: PusherConfig,
    mut rx: mpsc::Receiver<PushJob>,
    mut stop: watch::Receiver<bool>,
    stats: Arc<PushStats>,
) {
    let mut conn = HttpConnector::new();
    conn.set_connect_timeout(Some(cfg.attempt_timeout));
    conn.set_nodelay(true);
    let conn = PushConnector::new(conn, cfg.tls.clone());
    let client: Client<PushConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(5))
        .build(conn);
    loop {
        let job = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            j = rx.recv() => match j {
                Some(j) => j,
                None => return,
            },
        };
        let Some(url) = cfg.push_to.as_deref() else {
            continue;
        };
        if let Some(case) = cfg.hostile {
            stats.attempts.fetch_add(1, Ordering::SeqCst);
            let sent = tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                r = send_hostile(case, url) => r,
            };
            match sent {
                Ok(status) if (200..300).contains(&status) => {
                    stats.delivered.fetch_add(1, Ordering::SeqCst);
                }
                other => {
                    tracing::info!(report = %job.report_id, revision = job.revision, case = case.name(), answer = ?other, "hostile push sent instead of the report");
                    stats.given_up.fetch_add(1, Ordering::SeqCst);
                }
            }
            continue;
        }
        let body = match serde_json::to_vec(&*job.body) {
            Ok(b) => Bytes::from(b),
            Err(_) => continue,
        };
        let mut k = 0u32;
        loop {
            stats.attempts.fetch_add(1, Ordering::SeqCst);
            match attempt(&client, url, body.clone(), cfg.attempt_timeout).await {
                Attempt::Done => {
                    stats.delivered.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                Attempt::Refused => {
                    tracing::info!(report = %job.report_id, revision = job.revision, "push refused; not retried");
                    stats.given_up.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                Attempt::Transient(ra) => {
                    k += 1;
                    if !cfg.retry || k >= cfg.max_attempts {
                        tracing::info!(report = %job.report_id, revision = job.revision, attempts = k, "push failed; giving up");
                        stats.given_up.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    let wait = cfg.backoff(k - 1, ra);
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => return,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let c = PusherConfig::for_mock(&MockConfig::default());
        assert_eq!(c.backoff(0, None), Duration::from_millis(100));
        assert_eq!(c.backoff(1, None), Duration::from_millis(200));
        assert_eq!(c.backoff(3, None), Duration::from_millis(800));
        assert_eq!(c.backoff(10, None), Duration::from_secs(2));
        assert_eq!(c.backoff(40, None), Duration::from_secs(2));
        assert_eq!(
            c.backoff(0, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(
            c.backoff(0, Some(Duration::from_secs(3600))),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn answers_are_classified() {
        assert_eq!(classify(201, None), Attempt::Done);
        assert_eq!(classify(200, None), Attempt::Done);
        assert_eq!(classify(409, None), Attempt::Done);
        assert_eq!(classify(400, None), Attempt::Refused);
        assert_eq!(classify(413, None), Attempt::Refused);
        assert_eq!(
            classify(503, Some(1)),
            Attempt::Transient(Some(Duration::from_secs(1)))
        );
        assert_eq!(classify(429, None), Attempt::Transient(None));
    }

    #[tokio::test]
    async fn receiver_urls_resolve_for_hostile_pushes() {
        assert_eq!(
            resolve("http://127.0.0.1:8080/s3-01/v1/reports").await,
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            resolve("http://[::1]:9/x").await,
            Some("[::1]:9".parse().unwrap())
        );
        assert_eq!(resolve("https://127.0.0.1:8080/x").await, None);
        assert_eq!(resolve("not a url").await, None);
    }

    #[test]
    fn hostile_push_comes_from_the_config() {
        let cfg = MockConfig {
            hostile_data: Some(crate::hostile::HostileData::Push(HostilePush::HugeBody)),
            ..MockConfig::default()
        };
        assert_eq!(
            PusherConfig::for_mock(&cfg).hostile,
            Some(HostilePush::HugeBody)
        );
        assert_eq!(PusherConfig::for_mock(&MockConfig::default()).hostile, None);
    }

    #[test]
    fn no_retry_fault_disables_retries() {
        let cfg = MockConfig {
            faults: vec![Fault::NoRetry],
            ..MockConfig::default()
        };
        assert!(!PusherConfig::for_mock(&cfg).retry);
        assert!(PusherConfig::for_mock(&MockConfig::default()).retry);
    }
}
