//! The mock's report pusher: delivers each queued revision to `push_to`, in
//! order, retrying transient failures (no answer, `408`, `429`, `5xx`) with
//! exponential backoff (honouring a short `Retry-After`), and giving up on
//! definitive answers (`2xx` delivered; `409` superseded; other `4xx` refused).
//! Under the `no-retry` fault the first failure is final.

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
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
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
