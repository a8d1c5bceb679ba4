//! The mock terminal's data API (`/s3-01/v1/*` except the screen), owned by
//! the data agent. This placeholder answers every request with 404 until the
//! real implementation lands.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};

use crate::config::MockConfig;

/// Shared state of the data API, built once per mock terminal.
pub struct DataState {
    /// The configuration the mock was started with.
    pub cfg: MockConfig,
}

impl DataState {
    /// State for a mock started with `cfg`.
    pub fn new(cfg: &MockConfig) -> Self {
        DataState { cfg: cfg.clone() }
    }
}

/// Answers one HTTP request under `/s3-01/v1/` (the screen path excepted).
pub async fn handle(
    state: &DataState,
    req: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let _ = (state, req);
    let mut resp = Response::new(Full::new(Bytes::from_static(b"{\"error\":\"not found\"}")));
    *resp.status_mut() = StatusCode::NOT_FOUND;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// Called once right after the mock has started listening, so background work
/// (the report pusher) can begin. Does nothing yet.
pub fn start_background(state: &DataState) {
    let _ = state;
}

/// Called once when the mock shuts down, so background work can stop. Does
/// nothing yet.
pub async fn stop_background(state: &DataState) {
    let _ = state;
}
