//! [`DataBinding`] for the HTTP data channel: the one place where status
//! codes, paths and bodies are turned into the neutral outcomes checks judge.
//!
//! - pushes: each receiver [`Exchange`] becomes a [`PushEvent`] whose
//!   [`PushKind`] names what the status meant (`201` accepted, `200` repeated,
//!   `409` older revision, `413` too large ...);
//! - `GET reports/{id}`: `200` JSON is `Answered`, `404` with a JSON error is
//!   `NotFound`; `GET reports`: `200` JSON with a `reports` array;
//! - `POST reports/{id}/dispatch`: `204` is `Answered`, `400` with a JSON
//!   error is `Rejected`;
//! - a refusal asked for by a check is answered `503` (with `Retry-After`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};

use super::client::Reply as HttpReply;
use super::receiver::{revision_of, Exchange, PushOutcome, ReceiverLimits};
use super::{DataChannel, DataError, RequestError};
use crate::binding::data::{
    Answer, Arriving, Asked, DataBinding, DispatchInput, Expected, ListEntry, Malformation,
    NoAnswer, ProbeError, PushEvent, PushKind, PushPred, Received, Refusal, Reply, Request,
    Security, Transport, TriggerError,
};
use crate::binding::BoxFuture;
use crate::config::declaration::DataDecl;
use crate::config::scenario::DataScenario;

/// Starts the HTTP data channel for `decl` (the push receiver on `listen`,
/// default `127.0.0.1:0`), as [`DataChannel::start_with_tls`] does.
pub async fn from_decl(
    decl: &DataDecl,
    sc: &DataScenario,
    listen: Option<&str>,
    limits: ReceiverLimits,
    tls: Option<Arc<crate::binding::tls::TlsSettings>>,
) -> Result<Arc<DataChannel>, DataError> {
    DataChannel::start_with_tls(decl, sc, listen, limits, tls).await
}

/// The status a refusal is answered with.
fn status_of(why: Refusal) -> u16 {
    match why {
        Refusal::TooLarge => 413,
        Refusal::WrongMediaType => 415,
        Refusal::NoStatedLength => 411,
        Refusal::Invalid | Refusal::BrokenBody => 400,
        Refusal::BodyTimeout => 408,
        Refusal::OlderRevision => 409,
        Refusal::StoreFull => 507,
        Refusal::Unavailable => 503,
    }
}

/// What an injected status stands for.
fn injected_as(status: u16) -> Refusal {
    [
        Refusal::TooLarge,
        Refusal::WrongMediaType,
        Refusal::NoStatedLength,
        Refusal::Invalid,
        Refusal::BodyTimeout,
        Refusal::OlderRevision,
        Refusal::StoreFull,
    ]
    .into_iter()
    .find(|r| status_of(*r) == status)
    .unwrap_or(Refusal::Unavailable)
}

fn kind_of(e: &Exchange) -> PushKind {
    match e.outcome {
        PushOutcome::Created => PushKind::Accepted,
        PushOutcome::Repeated => PushKind::Repeated,
        PushOutcome::Stale => PushKind::Refused(Refusal::OlderRevision),
        PushOutcome::Invalid => PushKind::Refused(Refusal::Invalid),
        PushOutcome::BodyError => PushKind::Refused(Refusal::BrokenBody),
        PushOutcome::BodyTimeout => PushKind::Refused(Refusal::BodyTimeout),
        PushOutcome::TooLarge => PushKind::Refused(Refusal::TooLarge),
        PushOutcome::UnsupportedMediaType => PushKind::Refused(Refusal::WrongMediaType),
        PushOutcome::LengthRequired => PushKind::Refused(Refusal::NoStatedLength),
        PushOutcome::StoreFull => PushKind::Refused(Refusal::StoreFull),
        PushOutcome::Injected => PushKind::Injected(injected_as(e.status)),
        PushOutcome::WrongPath | PushOutcome::WrongMethod => PushKind::Stray,
    }
}

/// `413 Payload Too Large`: a status with its reason phrase.
fn named(status: u16) -> String {
    let reason = hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default();
    format!("{status}{reason}")
}

/// The neutral form of an exchange; `full` adds its evidence (predicates
/// do without, so a wait does not serialise every exchange it looks at).
fn event(e: &Exchange, full: bool) -> PushEvent {
    PushEvent {
        index: e.index,
        seq: e.seq,
        arrived: e.arrived,
        kind: kind_of(e),
        report_id: e.report_id.clone(),
        revision: e.revision,
        problems: e.errors.clone(),
        bytes: e.body_bytes,
        answered: e.status.to_string(),
        answered_named: if full { named(e.status) } else { String::new() },
        evidence: if full { e.to_json() } else { Value::Null },
    }
}

fn no_answer(e: RequestError) -> NoAnswer {
    NoAnswer {
        detail: e.to_string(),
        evidence: json!(e),
    }
}

/// An answer of the client as a neutral one, `map` saying what kind it was.
fn answer<T>(
    r: Result<HttpReply, RequestError>,
    extra: Option<(&str, Value)>,
    map: impl FnOnce(&HttpReply) -> Reply<T>,
) -> Asked<T> {
    let rep = r.map_err(no_answer)?;
    let mut evidence = rep.to_json();
    if let Some((k, v)) = extra {
        evidence[k] = v;
    }
    Ok(Answer {
        reply: map(&rep),
        wire: rep.status.to_string(),
        sent: rep.sent,
        elapsed_ms: rep.elapsed_ms,
        evidence,
    })
}

/// A `404` (or `400`) must carry the JSON error shape; what is wrong if not.
fn error_shape(rep: &HttpReply) -> Option<String> {
    rep.json_error()
        .err()
        .map(|e| format!("{} without a JSON error: {e}", rep.status))
}

fn report_reply(rep: &HttpReply) -> Reply<Value> {
    match rep.status {
        200 => match rep.json() {
            Ok(v) => Reply::Answered(v),
            Err(e) => Reply::Malformed {
                problem: e.to_string(),
            },
        },
        404 => Reply::NotFound {
            problem: error_shape(rep),
        },
        _ => Reply::Unexpected,
    }
}

fn list_reply(rep: &HttpReply) -> Reply<Vec<ListEntry>> {
    if rep.status != 200 {
        return Reply::Unexpected;
    }
    let v = match rep.json() {
        Ok(v) => v,
        Err(e) => {
            return Reply::Malformed {
                problem: e.to_string(),
            }
        }
    };
    let Some(list) = v.get("reports").and_then(Value::as_array) else {
        return Reply::Malformed {
            problem: "no \"reports\" array".into(),
        };
    };
    Reply::Answered(
        list.iter()
            .map(|e| ListEntry {
                report_id: e
                    .get("reportId")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                revision: e.get("revision").and_then(revision_of),
                updated_at: e.get("updatedAt").cloned(),
            })
            .collect(),
    )
}

fn dispatch_reply(rep: &HttpReply) -> Reply<()> {
    match rep.status {
        204 => Reply::Answered(()),
        400 => Reply::Rejected {
            problem: error_shape(rep),
        },
        404 => Reply::NotFound {
            problem: error_shape(rep),
        },
        _ => Reply::Unexpected,
    }
}

/// The JSON body for a dispatch input.
fn dispatch_body(input: &DispatchInput) -> String {
    match input {
        DispatchInput::Status(s) => {
            json!({"status": s.status, "at": s.at, "note": s.note}).to_string()
        }
        DispatchInput::Malformed { how, at, note } => match how {
            Malformation::Truncated => {
                format!("{{\"status\": \"dispatched\", \"at\": \"{at}\", \"note\": ")
            }
            Malformation::UnknownStatus => {
                json!({"status": "teleported", "at": at, "note": note}).to_string()
            }
            Malformation::StatusNotText => {
                json!({"status": 42, "at": at, "note": note}).to_string()
            }
            Malformation::StatusMissing => json!({"at": at, "note": note}).to_string(),
            Malformation::NotARecord => json!(["dispatched", at]).to_string(),
        },
    }
}

const RECEIVER_NOTE: &str = "the harness serves this with [tls] receiver_cert; the suite of each push is chosen by the terminal from the harness's rustls defaults, all of which are AEAD suites";

impl DataBinding for DataChannel {
    fn decl(&self) -> DataDecl {
        DataChannel::decl(self)
    }

    fn set_transcript(&self, t: Option<crate::binding::transcript::Transcript>) {
        DataChannel::set_transcript(self, t)
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(DataChannel::shutdown(self))
    }

    fn scenario(&self) -> &DataScenario {
        DataChannel::scenario(self)
    }

    fn push_target(&self) -> String {
        self.receiver_url()
    }

    fn schema_origin(&self) -> String {
        self.receiver().schema().origin().to_string()
    }

    fn push_wait(&self) -> Duration {
        DataChannel::push_wait(self)
    }

    fn set_screen_lane_active(&self, active: bool) {
        DataChannel::set_screen_lane_active(self, active);
    }

    fn screen_lane_active(&self) -> bool {
        DataChannel::screen_lane_active(self)
    }

    fn next_push_index(&self) -> u64 {
        self.receiver().next_index()
    }

    fn pushes_since(&self, since: u64) -> Vec<PushEvent> {
        self.receiver()
            .exchanges_since(since)
            .iter()
            .map(|e| event(e, true))
            .collect()
    }

    fn wait_push_within<'a>(
        &'a self,
        since: u64,
        timeout: Duration,
        pred: PushPred<'a>,
    ) -> BoxFuture<'a, Option<PushEvent>> {
        Box::pin(async move {
            self.receiver()
                .wait_for(since, timeout, |e| pred(&event(e, false)))
                .await
                .map(|e| event(&e, true))
        })
    }

    fn wait_push<'a>(&'a self, since: u64, pred: PushPred<'a>) -> BoxFuture<'a, Option<PushEvent>> {
        Box::pin(async move {
            DataChannel::wait_push(self, since, |e| pred(&event(e, false)))
                .await
                .map(|e| event(&e, true))
        })
    }

    fn arriving(&self) -> Vec<Arriving> {
        self.receiver()
            .arriving()
            .into_iter()
            .map(|a| Arriving {
                description: a.describe(),
                evidence: serde_json::to_value(&a).unwrap_or(Value::Null),
            })
            .collect()
    }

    fn received(&self, report_id: &str, revision: u64) -> Option<Received> {
        self.receiver().received(report_id, revision)
    }

    fn latest_received(&self, report_id: &str) -> Option<Received> {
        self.receiver().latest_received(report_id)
    }

    fn acked_all(&self) -> BTreeMap<String, u64> {
        self.receiver().acked_all()
    }

    fn refuse_next_push(&self, why: Refusal) -> String {
        let status = status_of(why);
        self.fail_next(1, status);
        status.to_string()
    }

    fn cancel_refusal(&self) {
        self.fail_next(0, status_of(Refusal::Unavailable));
    }

    fn announce_new<'a>(
        &'a self,
        purpose: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, TriggerError>> {
        Box::pin(DataChannel::announce_new(self, purpose))
    }

    fn announce_update<'a>(
        &'a self,
        report_id: &'a str,
        purpose: &'a str,
    ) -> BoxFuture<'a, Result<(), TriggerError>> {
        Box::pin(DataChannel::announce_update(self, report_id, purpose))
    }

    fn get_report<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Asked<Value>> {
        Box::pin(async move { answer(self.client().get_report(id).await, None, report_reply) })
    }

    fn list_reports(&self) -> BoxFuture<'_, Asked<Vec<ListEntry>>> {
        Box::pin(async move { answer(self.client().list_reports().await, None, list_reply) })
    }

    fn dispatch<'a>(&'a self, id: &'a str, input: &'a DispatchInput) -> BoxFuture<'a, Asked<()>> {
        Box::pin(async move {
            let body = dispatch_body(input);
            let r = self.client().dispatch(id, Bytes::from(body.clone())).await;
            answer(r, Some(("sent_body", json!(body))), dispatch_reply)
        })
    }

    fn describe(&self, request: Request<'_>) -> String {
        match request {
            Request::Get(id) => format!("GET reports/{id}"),
            Request::List => "GET reports".into(),
            Request::Dispatch(id) => format!("POST reports/{id}/dispatch"),
        }
    }

    fn wire_of(&self, expected: Expected) -> String {
        match expected {
            Expected::Report | Expected::List => "200",
            Expected::DispatchAccepted => "204",
            Expected::DispatchRejected => "400",
            Expected::NotFound => "404",
        }
        .into()
    }

    fn transports(&self) -> BoxFuture<'_, Result<Vec<Transport>, ProbeError>> {
        Box::pin(async move {
            let client = self.client();
            let base = client.base().to_string();
            let https = base
                .get(..8)
                .is_some_and(|p| p.eq_ignore_ascii_case("https://"));
            if https {
                if let Err(e) = client.list_reports().await {
                    return Err(ProbeError {
                        detail: format!("data API: GET /reports over https failed: {e}"),
                        evidence: json!({ "base_url": base, "error": e }),
                    });
                }
            }
            let receiver = self.receiver_url();
            let encrypted = receiver.starts_with("https://");
            Ok(vec![
                Transport {
                    name: "data API",
                    url: base,
                    security: Security::Observed(client.last_tls()),
                },
                Transport {
                    name: "push receiver",
                    url: receiver,
                    security: Security::Configured {
                        encrypted,
                        note: RECEIVER_NOTE.into(),
                    },
                },
            ])
        })
    }

    fn evidence(&self) -> Value {
        DataChannel::evidence(self)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::binding::Seq;

    fn reply(status: u16, ct: Option<&str>, body: &str) -> HttpReply {
        HttpReply {
            request: "GET x".into(),
            status,
            content_type: ct.map(str::to_string),
            body: Bytes::from(body.to_string()),
            sent: Seq(1),
            done: Seq(2),
            elapsed_ms: 1.0,
        }
    }

    const J: Option<&str> = Some("application/json");

    #[test]
    fn report_answers_map_by_status_and_shape() {
        assert!(matches!(
            report_reply(&reply(200, J, r#"{"reportId":"r"}"#)),
            Reply::Answered(_)
        ));
        assert!(matches!(
            report_reply(&reply(200, Some("text/html"), "{}")),
            Reply::Malformed { .. }
        ));
        assert_eq!(
            report_reply(&reply(404, J, r#"{"error":"no"}"#)),
            Reply::NotFound { problem: None }
        );
        assert!(matches!(
            report_reply(&reply(404, J, "{}")),
            Reply::NotFound { problem: Some(p) } if p.starts_with("404 without a JSON error")
        ));
        assert_eq!(report_reply(&reply(500, J, "{}")), Reply::Unexpected);
    }

    #[test]
    fn lists_and_dispatch_answers_map_too() {
        let l = list_reply(&reply(
            200,
            J,
            r#"{"reports":[{"reportId":"a","revision":2.0,"updatedAt":"t"},7]}"#,
        ));
        let Reply::Answered(entries) = l else {
            panic!("{l:?}")
        };
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].revision, Some(2));
        assert_eq!(entries[1].report_id, None);
        assert!(matches!(
            list_reply(&reply(200, J, r#"{"items":[]}"#)),
            Reply::Malformed { .. }
        ));
        assert_eq!(dispatch_reply(&reply(204, None, "")), Reply::Answered(()));
        assert_eq!(
            dispatch_reply(&reply(400, J, r#"{"error":"bad"}"#)),
            Reply::Rejected { problem: None }
        );
        assert_eq!(dispatch_reply(&reply(202, J, "{}")), Reply::Unexpected);
    }

    #[test]
    fn malformed_dispatch_bodies_are_malformed() {
        for how in Malformation::ALL {
            let body = dispatch_body(&DispatchInput::Malformed {
                how,
                at: "2025-01-01T00:00:00Z".into(),
                note: "t".into(),
            });
            let v: Result<Value, _> = serde_json::from_str(&body);
            let valid = v.ok().is_some_and(|v| {
                v.get("status")
                    .and_then(Value::as_str)
                    .is_some_and(|s| s301_wire::DISPATCH_STATES.contains(&s))
            });
            assert!(!valid, "{} would be a valid status", how.label());
        }
    }

    #[test]
    fn injected_statuses_round_trip() {
        for r in [Refusal::Unavailable, Refusal::TooLarge, Refusal::StoreFull] {
            assert_eq!(injected_as(status_of(r)), r);
        }
    }
}
