//! Report content for the mock terminal: Net119-like emergency reports
//! (a registered caller who chats in text, a position in JGD2011, a running
//! message log), deterministic so that runs are reproducible.

use serde_json::{json, Value};

/// Messages kept in one report; older ones fall off.
pub const MAX_MESSAGES: usize = 50;

struct Incident {
    category: &'static str,
    summary: &'static str,
    lat: f64,
    lon: f64,
    address: &'static str,
    caller: &'static str,
    phone: &'static str,
    opening: &'static str,
}

const INCIDENTS: [Incident; 4] = [
    Incident {
        category: "ambulance",
        summary: "急病: 高齢男性が自宅で倒れ意識もうろう",
        lat: 35.681_236,
        lon: 139.767_125,
        address: "東京都千代田区丸の内一丁目",
        caller: "山田 花子",
        phone: "090-0000-0001",
        opening: "父が倒れて返事がありません",
    },
    Incident {
        category: "fire",
        summary: "建物火災: 集合住宅の台所から煙",
        lat: 34.702_485,
        lon: 135.495_951,
        address: "大阪府大阪市北区梅田三丁目",
        caller: "佐藤 一郎",
        phone: "080-0000-0002",
        opening: "隣の部屋から煙が出ています",
    },
    Incident {
        category: "rescue",
        summary: "水難: 河川敷で子どもが流された",
        lat: 43.062_096,
        lon: 141.354_376,
        address: "北海道札幌市中央区北一条西二丁目",
        caller: "鈴木 美咲",
        phone: "070-0000-0003",
        opening: "川で子どもが流されています",
    },
    Incident {
        category: "other",
        summary: "その他: 道路上に倒木、通行不能",
        lat: 33.590_355,
        lon: 130.401_716,
        address: "福岡県福岡市中央区天神一丁目",
        caller: "高橋 健",
        phone: "090-0000-0004",
        opening: "道路に木が倒れて車が通れません",
    },
];

const FOLLOW_UPS: [(&str, &str); 6] = [
    ("operator", "住所を確認しました。救急隊が向かっています"),
    ("caller", "呼吸はしています"),
    ("operator", "そのまま安全な場所でお待ちください"),
    ("caller", "玄関の鍵を開けました"),
    ("system", "位置情報を更新しました"),
    ("caller", "サイレンが聞こえます"),
];

/// The first revision of report number `n`, id `id`, at time `now`.
/// `bad` breaks the schema (bad-schema fault) while keeping the id and
/// revision readable.
pub fn first_revision(n: u64, id: &str, now: &str, bad: bool) -> Value {
    let inc = &INCIDENTS[usize::try_from(n % INCIDENTS.len() as u64).unwrap_or(0)];
    let mut r = json!({
        "schema": "s3-01/report/v1",
        "reportId": id,
        "revision": 1,
        "test": true,
        "service": {"kind": "net119", "provider": "s301 mock Net119 relay", "terminalId": "MOCK-T-0001"},
        "receivedAt": now,
        "updatedAt": now,
        "category": inc.category,
        "summary": inc.summary,
        "location": {
            "lat": inc.lat,
            "lon": inc.lon,
            "datum": "JGD2011",
            "accuracyM": 40.0,
            "source": "gnss",
            "address": inc.address
        },
        "caller": {"name": inc.caller, "phone": inc.phone},
        "messages": [
            {"at": now, "from": "system", "text": "Net119 緊急通報を受信しました (テスト)"},
            {"at": now, "from": "caller", "text": inc.opening}
        ],
        // Service-specific data beyond the common fields (allowed by the binding).
        "net119": {"registered": true, "communication": "text-chat", "registrationId": format!("REG-{n:06}")}
    });
    if bad {
        break_schema(&mut r);
    }
    r
}

/// The revision after `prev`, as revision `rev` at time `now`: a new chat
/// message and a sharper position.
pub fn next_revision(prev: &Value, rev: u64, now: &str, bad: bool) -> Value {
    let mut r = prev.clone();
    r["revision"] = json!(rev);
    r["updatedAt"] = json!(now);
    let (from, text) =
        FOLLOW_UPS[usize::try_from((rev - 2) % FOLLOW_UPS.len() as u64).unwrap_or(0)];
    if let Some(m) = r.get_mut("messages").and_then(Value::as_array_mut) {
        m.push(json!({"at": now, "from": from, "text": text}));
        if m.len() > MAX_MESSAGES {
            let extra = m.len() - MAX_MESSAGES;
            m.drain(..extra);
        }
    }
    if let Some(acc) = r["location"].get("accuracyM").and_then(Value::as_f64) {
        r["location"]["accuracyM"] = json!((acc / 2.0).max(5.0));
    }
    if bad {
        break_schema(&mut r);
    }
    r
}

/// Two schema violations (a latitude as text, an unknown datum), keeping the
/// reportId and revision intact so the push is still identifiable.
fn break_schema(r: &mut Value) {
    if let Some(lat) = r["location"].get("lat").and_then(Value::as_f64) {
        r["location"]["lat"] = json!(format!("{lat}"));
    }
    r["location"]["datum"] = json!("Tokyo");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    #[test]
    fn revisions_grow_and_keep_the_id() {
        let a = first_revision(0, "R1", "2025-01-01T00:00:00Z", false);
        let b = next_revision(&a, 2, "2025-01-01T00:00:05Z", false);
        assert_eq!(b["reportId"], "R1");
        assert_eq!(b["revision"], 2);
        assert_eq!(b["messages"].as_array().map(Vec::len), Some(3));
        assert_eq!(b["receivedAt"], a["receivedAt"]);
        assert_ne!(b["updatedAt"], a["updatedAt"]);
    }

    #[test]
    fn bad_schema_keeps_identity_but_breaks_location() {
        let a = first_revision(1, "R2", "2025-01-01T00:00:00Z", true);
        assert_eq!(a["reportId"], "R2");
        assert!(a["location"]["lat"].is_string());
        assert_eq!(a["location"]["datum"], "Tokyo");
    }

    #[test]
    fn message_log_is_bounded() {
        let mut r = first_revision(2, "R3", "t", false);
        for rev in 2..200 {
            r = next_revision(&r, rev, "t", false);
        }
        assert_eq!(r["messages"].as_array().map(Vec::len), Some(MAX_MESSAGES));
    }
}
