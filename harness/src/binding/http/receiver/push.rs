//! Answering one request at the push receiver: the acknowledgement rules
//! of the module above, applied to an HTTP request, and the bookkeeping of
//! what was acknowledged and kept.

use super::*;

/// A request body that counts the bytes it yields, so a push still being
/// read can say how far it got.
struct Counted<B> {
    inner: B,
    read: Arc<AtomicU64>,
}

impl<B> Body for Counted<B>
where
    B: Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                this.read
                    .fetch_add(data.remaining() as u64, Ordering::Relaxed);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn ack_response(
    status: StatusCode,
    report_id: &str,
    revision: u64,
    ack_at: &str,
) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(&s301_wire::Ack {
        report_id: report_id.into(),
        revision,
        ack_at: ack_at.into(),
    })
    .unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(s301_wire::JSON));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{\"error\":\"internal\"}".to_vec());
    let mut r = Response::new(Full::new(Bytes::from(bytes)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(s301_wire::JSON));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn error_body(message: &str, details: &[Violation]) -> Value {
    serde_json::to_value(s301_wire::ErrorBody {
        error: message.to_string(),
        details: details.to_vec(),
    })
    .unwrap_or(Value::Null)
}

impl ReceiverState {
    fn reject(
        &self,
        d: Draft,
        status: StatusCode,
        outcome: PushOutcome,
        msg: &str,
        details: Vec<Violation>,
    ) -> Response<Full<Bytes>> {
        let body = error_body(msg, &details);
        let errors = if details.is_empty() {
            vec![Violation::new("", msg)]
        } else {
            details
        };
        self.record(d, status, outcome, errors);
        json_response(status, &body)
    }

    /// Answers one request.
    pub async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        let arrived = Instant::now();
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| crate::binding::schema::cut(&String::from_utf8_lossy(v.as_bytes()), 200));
        let cl_header = req
            .headers()
            .get(CONTENT_LENGTH)
            .map(|v| v.as_bytes().to_vec());
        let content_length = cl_header
            .as_ref()
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|s| s.trim().parse::<u64>().ok());
        let mut d = Draft {
            arrived,
            peer,
            method: req.method().as_str().to_string(),
            path: crate::binding::schema::cut(req.uri().path(), 300),
            content_type: content_type.clone(),
            content_length,
            body_bytes: 0,
            report_id: None,
            revision: None,
        };

        if req.uri().path() != REPORTS_PATH {
            let mut r = self.reject(
                d,
                StatusCode::NOT_FOUND,
                PushOutcome::WrongPath,
                "no such resource; reports are pushed to /s3-01/v1/reports",
                vec![],
            );
            r.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
        if req.method() != Method::POST {
            let mut r = self.reject(
                d,
                StatusCode::METHOD_NOT_ALLOWED,
                PushOutcome::WrongMethod,
                "only POST is allowed here",
                vec![],
            );
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            r.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
        match &content_type {
            Some(ct) if is_json_media_type(ct) => {}
            Some(ct) => {
                let msg = format!("Content-Type must be application/json, not {ct:?}");
                let mut r = self.reject(
                    d,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    PushOutcome::UnsupportedMediaType,
                    &msg,
                    vec![],
                );
                r.headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
                return r;
            }
            None => {
                let mut r = self.reject(
                    d,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    PushOutcome::UnsupportedMediaType,
                    "Content-Type application/json is required",
                    vec![],
                );
                r.headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
                return r;
            }
        }
        if cl_header.is_none() && !req.headers().contains_key(TRANSFER_ENCODING) {
            // HTTP gives such a request an empty body (RFC 9112 6.3); what
            // follows the head would be read as another request.
            let msg = format!(
                "{} push without Content-Length (or chunked Transfer-Encoding): a push must state its body's length, it cannot end the body by closing the connection",
                version_name(req.version())
            );
            let mut r = self.reject(
                d,
                StatusCode::LENGTH_REQUIRED,
                PushOutcome::LengthRequired,
                &msg,
                vec![],
            );
            r.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
        let max = self.limits.max_body;
        if let Some(len) = content_length {
            if len > max as u64 {
                let msg = format!("body of {len} bytes is over the {max}-byte limit");
                let mut r = self.reject(
                    d,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    PushOutcome::TooLarge,
                    &msg,
                    vec![],
                );
                r.headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
                return r;
            }
        } else if cl_header.is_some() {
            // hyper refuses malformed lengths itself; this is belt and braces.
            return self.reject(
                d,
                StatusCode::BAD_REQUEST,
                PushOutcome::BodyError,
                "malformed Content-Length",
                vec![],
            );
        }

        let (arriving, read) = self.start_arriving(&d);
        let counted = Counted {
            inner: req.into_body(),
            read,
        };
        let limited = Limited::new(counted, max);
        let collected = tokio::time::timeout(self.limits.body_timeout, limited.collect()).await;
        drop(arriving);
        let body: Bytes = match collected {
            Ok(Ok(c)) => c.to_bytes(),
            Ok(Err(e)) => {
                let mut r = if e.downcast_ref::<LengthLimitError>().is_some() {
                    let msg = format!("body is over the {max}-byte limit");
                    self.reject(
                        d,
                        StatusCode::PAYLOAD_TOO_LARGE,
                        PushOutcome::TooLarge,
                        &msg,
                        vec![],
                    )
                } else {
                    let msg = format!(
                        "body could not be read: {}",
                        crate::binding::http::request_error::body_reason(&*e)
                    );
                    self.reject(
                        d,
                        StatusCode::BAD_REQUEST,
                        PushOutcome::BodyError,
                        &msg,
                        vec![],
                    )
                };
                r.headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
                return r;
            }
            Err(_) => {
                let msg = format!(
                    "body did not arrive within {} ms",
                    self.limits.body_timeout.as_millis()
                );
                let mut r = self.reject(
                    d,
                    StatusCode::REQUEST_TIMEOUT,
                    PushOutcome::BodyTimeout,
                    &msg,
                    vec![],
                );
                r.headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
                return r;
            }
        };
        d.body_bytes = body.len();

        let text = match std::str::from_utf8(&body) {
            Ok(t) => Some(t),
            Err(e) => {
                let msg = format!(
                    "body is not valid UTF-8 (first bad byte at offset {})",
                    e.valid_up_to()
                );
                return self.reject(
                    d,
                    StatusCode::BAD_REQUEST,
                    PushOutcome::Invalid,
                    "invalid report",
                    vec![Violation::new("", msg)],
                );
            }
        };
        let parsed: Result<Value, String> = match text {
            Some(t) => serde_json::from_str(t).map_err(|e| e.to_string()),
            None => Err(String::new()),
        };

        // An injected failure answers before any judgement (the body is only peeked at).
        let injected = {
            let mut s = self.lock();
            match s.fail {
                Some((n, status)) => {
                    s.fail = (n > 1).then_some((n - 1, status));
                    Some(status)
                }
                None => None,
            }
        };
        if let Some(code) = injected {
            if let Ok(v) = &parsed {
                (d.report_id, d.revision) = peek_key(v);
            }
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let msg = format!(
                "the harness refused this push on purpose (test of redelivery, status {code})"
            );
            let mut r = self.reject(d, status, PushOutcome::Injected, &msg, vec![]);
            r.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            return r;
        }

        let report = match parsed {
            Ok(v) => v,
            Err(e) => {
                let msg = format!("body is not JSON: {e}");
                return self.reject(
                    d,
                    StatusCode::BAD_REQUEST,
                    PushOutcome::Invalid,
                    "invalid report",
                    vec![Violation::new("", msg)],
                );
            }
        };
        (d.report_id, d.revision) = peek_key(&report);
        let mut violations = self.schema().violations(&report);
        let key = ack_key(&report);
        if let Err(missing) = &key {
            for m in missing {
                if !violations.iter().any(|v| v.path == m.path) {
                    violations.push(m.clone());
                }
            }
        }
        let key = match key {
            Ok(k) if violations.is_empty() => k,
            _ => {
                // Keep what was sent, so a later GET can be compared with it.
                drop(report);
                let keep = match (d.report_id.clone(), d.revision) {
                    (Some(id), Some(rev)) => Some(Keep {
                        id,
                        rev,
                        raw: body,
                        acked: false,
                        valid: false,
                    }),
                    _ => None,
                };
                let n = violations.len();
                let msg = format!("invalid report: {n} problem(s)");
                let answer = error_body(&msg, &violations);
                self.record_keep(
                    d,
                    StatusCode::BAD_REQUEST,
                    PushOutcome::Invalid,
                    violations,
                    keep,
                    None,
                );
                return json_response(StatusCode::BAD_REQUEST, &answer);
            }
        };
        drop(report);
        self.acknowledge(d, key, body)
    }

    pub(super) fn keep_locked(&self, s: &mut Store, k: Keep) {
        if !s.reports.contains_key(&k.id) && s.reports.len() >= self.limits.max_acks {
            return;
        }
        let index = s.next_index;
        let stored_bytes = s.stored_bytes;
        let entry = s.reports.entry(k.id).or_default();
        let old_bytes = match entry.received.get(&k.rev) {
            Some(old) if old.acked && !k.acked => return,
            Some(old) if old.raw.is_some() => old.bytes,
            _ => 0,
        };
        let size = k.raw.len();
        let base = stored_bytes.saturating_sub(old_bytes);
        // A copy of exactly the body: the received buffer may be a slice of
        // a much larger read buffer that must not be kept alive.
        let raw =
            (base + size <= self.limits.max_stored_bytes).then(|| Bytes::copy_from_slice(&k.raw));
        let stored = if raw.is_some() { size } else { 0 };
        entry.received.insert(
            k.rev,
            Stored {
                revision: k.rev,
                raw,
                bytes: size,
                index,
                acked: k.acked,
                valid: k.valid,
            },
        );
        s.stored_bytes = base + stored;
    }

    fn acknowledge(&self, d: Draft, key: (String, u64), raw: Bytes) -> Response<Full<Bytes>> {
        let (id, rev) = key;
        enum Verdict {
            Created(String),
            Repeated(String),
            Stale(u64),
            Full,
        }
        let verdict = {
            let mut s = self.lock();
            let full = s.ack_count >= self.limits.max_acks;
            let entry = s.reports.get(&id);
            let repeated = entry
                .and_then(|e| e.acks.get(&rev))
                .map(|a| a.ack_at.clone());
            let newest = entry.and_then(|e| e.acks.keys().next_back().copied());
            match (repeated, newest) {
                (Some(ack_at), _) => Verdict::Repeated(ack_at),
                (None, Some(n)) if rev < n => Verdict::Stale(n),
                _ if full => Verdict::Full,
                _ => {
                    let ack_at = now_rfc3339();
                    s.reports.entry(id.clone()).or_default().acks.insert(
                        rev,
                        AckEntry {
                            ack_at: ack_at.clone(),
                        },
                    );
                    s.ack_count += 1;
                    Verdict::Created(ack_at)
                }
            }
        };
        match verdict {
            Verdict::Created(ack_at) => {
                let answer = ack_response(StatusCode::CREATED, &id, rev, &ack_at);
                let keep = Keep {
                    id,
                    rev,
                    raw,
                    acked: true,
                    valid: true,
                };
                self.record_keep(
                    d,
                    StatusCode::CREATED,
                    PushOutcome::Created,
                    vec![],
                    Some(keep),
                    Some(ack_at),
                );
                answer
            }
            Verdict::Repeated(ack_at) => {
                self.record(d, StatusCode::OK, PushOutcome::Repeated, vec![]);
                ack_response(StatusCode::OK, &id, rev, &ack_at)
            }
            Verdict::Stale(newest) => {
                let msg = format!("revision {rev} of report {id:?} is older than revision {newest}, already acknowledged");
                let errors = vec![Violation::new("/revision", msg.clone())];
                self.record(d, StatusCode::CONFLICT, PushOutcome::Stale, errors);
                let body = s301_wire::Conflict {
                    error: msg,
                    report_id: id,
                    revision: rev,
                    latest_revision: newest,
                };
                json_response(
                    StatusCode::CONFLICT,
                    &serde_json::to_value(body).unwrap_or(Value::Null),
                )
            }
            Verdict::Full => self.reject(
                d,
                StatusCode::INSUFFICIENT_STORAGE,
                PushOutcome::StoreFull,
                "the harness's acknowledgement store is full",
                vec![],
            ),
        }
    }
}

/// `HTTP/1.0`, `HTTP/1.1` ...: how a request's version is written.
fn version_name(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_11 => "HTTP/1.1",
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_3 => "HTTP/3",
        _ => "HTTP",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_named_as_written_on_the_wire() {
        assert_eq!(version_name(http::Version::HTTP_10), "HTTP/1.0");
        assert_eq!(version_name(http::Version::HTTP_11), "HTTP/1.1");
    }
}
