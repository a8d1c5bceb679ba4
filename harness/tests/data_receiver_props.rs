//! Property tests of the push receiver: whatever body, headers or truncation
//! a terminal sends, the receiver neither crashes nor hangs, and a well-framed
//! request that is not a valid report always gets a 4xx with a JSON error.
//! Generated valid reports (any mix of optional fields, any extra members)
//! always validate and are acknowledged.
#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure

mod data_support;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use data_support::{push_request, raw_exchange, receiver_only};
use proptest::prelude::*;
use s301_harness::binding::http::{DataChannel, ReceiverLimits, ReportSchema};
use serde_json::{json, Map, Value};

const T: Duration = Duration::from_secs(5);

struct Rig {
    rt: tokio::runtime::Runtime,
    dc: Arc<DataChannel>,
}

fn rig() -> &'static Rig {
    static R: OnceLock<Rig> = OnceLock::new();
    R.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let limits = ReceiverLimits {
            max_body: 16 * 1024,
            header_timeout: Duration::from_millis(500),
            body_timeout: Duration::from_millis(500),
            ..ReceiverLimits::default()
        };
        let dc = rt.block_on(receiver_only(limits));
        Rig { rt, dc }
    })
}

/// The receiver still takes a fresh valid report.
fn still_alive(r: &Rig, tag: u64) {
    let v = data_support::report(&format!("alive-{tag}-{}", rand_tag()), 1);
    let body = serde_json::to_vec(&v).unwrap();
    let (a, _) = r.rt.block_on(raw_exchange(
        r.dc.receiver_addr(),
        &push_request(Some("application/json"), &body),
        false,
        T,
    ));
    assert_eq!(a.map(|a| a.status), Some(201), "receiver stopped answering");
}

fn rand_tag() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(Some("application/json".to_string())),
        Just(Some("application/json; charset=utf-8".to_string())),
        Just(None),
        "[a-z/;= +-]{0,30}".prop_map(Some),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1.0e12..1.0e12f64).prop_map(|f| json!(f)),
        "\\PC{0,20}".prop_map(Value::String),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

/// Header names that do not change HTTP framing or routing.
fn header_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = "[A-Za-z][A-Za-z0-9-]{0,15}".prop_filter("framing header", |n| {
        let l = n.to_ascii_lowercase();
        ![
            "content-type",
            "content-length",
            "transfer-encoding",
            "connection",
            "host",
            "expect",
            "upgrade",
            "te",
            "trailer",
            "keep-alive",
            "proxy-connection",
        ]
        .contains(&l.as_str())
    });
    prop::collection::vec((name, "[!-~]([ -~]{0,38}[!-~])?"), 0..12)
}

fn timestamp() -> impl Strategy<Value = String> {
    (
        1970u32..2100,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
        prop::option::of("[0-9]{1,9}"),
        prop_oneof![
            Just("Z".to_string()),
            (0u32..14, 0u32..60, any::<bool>())
                .prop_map(|(h, m, neg)| format!("{}{h:02}:{m:02}", if neg { '-' } else { '+' }))
        ],
    )
        .prop_map(|(y, mo, d, h, mi, s, frac, off)| {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{off}")
        })
}

fn one_of(v: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(v).prop_map(str::to_string)
}

fn opt_insert(m: &mut Map<String, Value>, k: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(k.to_string(), v);
    }
}

prop_compose! {
    fn location()(
        lat in -90.0..=90.0f64,
        lon in -180.0..=180.0f64,
        datum in one_of(&["JGD2011", "WGS84"]),
        acc in prop::option::of(0.0..1.0e5f64),
        source in prop::option::of(one_of(&["gnss", "network", "registered", "caller", "other"])),
        address in prop::option::of("\\PC{0,30}"),
    ) -> Value {
        let mut m = Map::new();
        m.insert("lat".into(), json!(lat));
        m.insert("lon".into(), json!(lon));
        m.insert("datum".into(), json!(datum));
        opt_insert(&mut m, "accuracyM", acc.map(|a| json!(a)));
        opt_insert(&mut m, "source", source.map(Value::String));
        opt_insert(&mut m, "address", address.map(Value::String));
        Value::Object(m)
    }
}

prop_compose! {
    fn message()(at in prop::option::of(timestamp()), from in prop::option::of(one_of(&["caller", "operator", "system"])), text in prop::option::of("\\PC{0,40}")) -> Value {
        let mut m = Map::new();
        opt_insert(&mut m, "at", at.map(Value::String));
        opt_insert(&mut m, "from", from.map(Value::String));
        opt_insert(&mut m, "text", text.map(Value::String));
        Value::Object(m)
    }
}

prop_compose! {
    fn attachment()(
        kind in prop::option::of(one_of(&["image", "video", "audio", "document", "other"])),
        uri in prop::option::of(prop_oneof!["https://media\\.example/[a-z0-9]{1,10}", "urn:uuid:[0-9a-f]{8}", "[a-z]{1,8}/[a-z]{1,8}\\.jpg"]),
        sha in prop::option::of("[0-9a-fA-F]{64}"),
    ) -> Value {
        let mut m = Map::new();
        opt_insert(&mut m, "kind", kind.map(Value::String));
        opt_insert(&mut m, "uri", uri.map(Value::String));
        opt_insert(&mut m, "sha256", sha.map(Value::String));
        Value::Object(m)
    }
}

prop_compose! {
    fn valid_report()(
        id in "\\PC{1,30}",
        rev in 1u64..1_000_000_000,
        test in any::<bool>(),
        kind in one_of(&["net119", "video", "vehicle", "proxy", "other"]),
        provider in "\\PC{0,20}",
        terminal in prop::option::of("\\PC{0,20}"),
        received in timestamp(),
        updated in timestamp(),
        category in one_of(&["fire", "ambulance", "rescue", "other"]),
        summary in prop::option::of("\\PC{0,60}"),
        loc in location(),
        caller in prop::option::of((prop::option::of("\\PC{0,20}"), prop::option::of("[0-9+-]{0,15}"))),
        messages in prop::option::of(prop::collection::vec(message(), 0..5)),
        attachments in prop::option::of(prop::collection::vec(attachment(), 0..3)),
        dispatch in prop::option::of((prop::option::of(one_of(&["received", "dispatched", "on_scene", "closed"])), prop::option::of(timestamp()), prop::option::of("\\PC{0,20}"))),
        extras in prop::collection::btree_map("x[a-zA-Z]{1,8}", any_json(), 0..3),
    ) -> Value {
        let mut m = Map::new();
        m.insert("schema".into(), json!("s3-01/report/v1"));
        m.insert("reportId".into(), json!(id));
        m.insert("revision".into(), json!(rev));
        m.insert("test".into(), json!(test));
        let mut svc = Map::new();
        svc.insert("kind".into(), json!(kind));
        svc.insert("provider".into(), json!(provider));
        opt_insert(&mut svc, "terminalId", terminal.map(Value::String));
        m.insert("service".into(), Value::Object(svc));
        m.insert("receivedAt".into(), json!(received));
        m.insert("updatedAt".into(), json!(updated));
        m.insert("category".into(), json!(category));
        opt_insert(&mut m, "summary", summary.map(Value::String));
        m.insert("location".into(), loc);
        opt_insert(&mut m, "caller", caller.map(|(n, p)| {
            let mut c = Map::new();
            opt_insert(&mut c, "name", n.map(Value::String));
            opt_insert(&mut c, "phone", p.map(Value::String));
            Value::Object(c)
        }));
        opt_insert(&mut m, "messages", messages.map(Value::Array));
        opt_insert(&mut m, "attachments", attachments.map(Value::Array));
        opt_insert(&mut m, "dispatch", dispatch.map(|(s, a, n)| {
            let mut d = Map::new();
            opt_insert(&mut d, "status", s.map(Value::String));
            opt_insert(&mut d, "at", a.map(Value::String));
            opt_insert(&mut d, "note", n.map(Value::String));
            Value::Object(d)
        }));
        for (k, v) in extras {
            m.insert(k, v);
        }
        Value::Object(m)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_valid_reports_always_validate(r in valid_report()) {
        static S: OnceLock<ReportSchema> = OnceLock::new();
        let s = S.get_or_init(|| ReportSchema::shipped().unwrap());
        prop_assert_eq!(s.violations(&r), vec![], "{}", r);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_valid_reports_are_acknowledged(r in valid_report()) {
        let rig = rig();
        let mut r = r;
        // Unique per case, so each push is a creation.
        r["reportId"] = json!(format!("{}#{}", r["reportId"].as_str().unwrap_or(""), rand_tag()));
        let body = serde_json::to_vec(&r).unwrap();
        let (a, _) = rig.rt.block_on(raw_exchange(rig.dc.receiver_addr(), &push_request(Some("application/json"), &body), false, T));
        let a = a.expect("an answer");
        prop_assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    }

    #[test]
    fn arbitrary_bodies_get_a_json_4xx(body in prop::collection::vec(any::<u8>(), 0..2048), ct in content_type()) {
        let rig = rig();
        let (a, _) = rig.rt.block_on(raw_exchange(rig.dc.receiver_addr(), &push_request(ct.as_deref(), &body), false, T));
        let a = a.expect("an answer");
        prop_assert!(a.is_json_4xx(), "status {} body {}", a.status, String::from_utf8_lossy(&a.body));
    }

    #[test]
    fn arbitrary_json_gets_a_json_4xx(v in any_json(), ct in content_type()) {
        let rig = rig();
        let body = serde_json::to_vec(&v).unwrap();
        let (a, _) = rig.rt.block_on(raw_exchange(rig.dc.receiver_addr(), &push_request(ct.as_deref(), &body), false, T));
        let a = a.expect("an answer");
        prop_assert!(a.is_json_4xx(), "status {} body {}", a.status, String::from_utf8_lossy(&a.body));
    }

    #[test]
    fn arbitrary_headers_get_a_json_4xx(headers in header_pairs(), body in prop::collection::vec(any::<u8>(), 0..256)) {
        let rig = rig();
        let mut req = format!("POST /s3-01/v1/reports HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in &headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(&body);
        let (a, _) = rig.rt.block_on(raw_exchange(rig.dc.receiver_addr(), &bytes, false, T));
        let a = a.expect("an answer");
        prop_assert!(a.is_json_4xx(), "status {} body {}", a.status, String::from_utf8_lossy(&a.body));
    }

    #[test]
    fn truncated_requests_never_crash_or_hang_it(r in valid_report(), cut in 0.0..1.0f64) {
        let rig = rig();
        let body = serde_json::to_vec(&r).unwrap();
        let full = push_request(Some("application/json"), &body);
        let head_len = full.len() - body.len();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let k = ((full.len() as f64) * cut) as usize;
        let k = k.min(full.len() - 1);
        let (a, closed) = rig.rt.block_on(raw_exchange(rig.dc.receiver_addr(), &full[..k], true, T));
        if k >= head_len {
            // The headers were complete: the short body is answered.
            let a = a.expect("an answer to a truncated body");
            prop_assert!(a.is_json_4xx(), "status {} body {}", a.status, String::from_utf8_lossy(&a.body));
        } else {
            // Headers cut short: no answer or a 4xx, and the connection ends.
            prop_assert!(a.as_ref().is_none_or(|a| (400..500).contains(&a.status)), "{:?}", a);
            prop_assert!(closed || a.is_some());
        }
        still_alive(rig, 0);
    }
}
