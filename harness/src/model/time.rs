//! Time as records write it.

use time::OffsetDateTime;

/// RFC 3339 in UTC with millisecond precision (`2026-11-27T17:15:00.123Z`).
pub fn rfc3339_ms(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Japan Standard Time, UTC+9, in which a department reads a record.
pub const JST: time::UtcOffset = match time::UtcOffset::from_hms(9, 0, 0) {
    Ok(o) => o,
    Err(_) => time::UtcOffset::UTC,
};

/// An RFC 3339 time as a department reads it, in JST:
/// `2026年12月02日 12:49:20 JST`. `None` for text that is not RFC 3339.
pub fn jst_display(rfc3339: &str) -> Option<String> {
    let t = OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()?
        .to_offset(JST);
    Some(format!(
        "{:04}年{:02}月{:02}日 {:02}:{:02}:{:02} JST",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_reads_as_jst_nine_hours_later() {
        assert_eq!(
            super::jst_display("2026-12-01T16:30:05.250Z").as_deref(),
            Some("2026年12月02日 01:30:05 JST")
        );
        assert_eq!(super::jst_display("yesterday"), None);
    }
}
