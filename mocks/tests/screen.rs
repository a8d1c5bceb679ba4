//! Drives the mock terminal end to end with a small RFB console
//! (tests/support), over plain TCP and over WebSocket: handshakes, updates,
//! input, exclusivity and every screen fault.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use s301_mocks::desktop::{Desktop, InputAction};
use s301_mocks::session::{BUSY_REASON, DESKTOP_NAME};
use s301_mocks::{Exclusivity, Fault, MockConfig, MockTerminal};
use s301_rfb::handshake::Version;
use s301_rfb::messages::ClientMessage;
use s301_rfb::{ColourMap, PixelFormat, Rect};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn tcp_handshake_with_none_gives_server_init_and_exact_full_update() {
    let mock = start(MockConfig {
        rfb_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..MockConfig::default()
    })
    .await;
    let mut c = admitted_tcp(&mock).await;
    let init = c.init.clone().expect("init");
    assert_eq!((init.width, init.height), (1024, 768));
    assert_eq!(init.name, DESKTOP_NAME.as_bytes());
    assert_eq!(init.pixel_format, PixelFormat::RGB888);
    c.setup(&[16, 15, 5, 2, 1, 0, -223]).await;
    let rects = c.full().await;
    assert!(rects.iter().all(|r| r.encoding == 16 && r.in_bounds));
    assert_eq!(c.fb, mock.screen());
    mock.shutdown().await;
}

#[tokio::test]
async fn every_supported_encoding_decodes_to_the_screen_and_the_first_listed_is_used() {
    let mock = start(small(MockConfig::default())).await;
    let mut c = admitted_tcp(&mock).await;
    for enc in [16, 15, 5, 2, 0] {
        c.setup(&[-223, 7, enc, 0]).await;
        c.fb.pixels_mut().fill(0);
        let rects = c.full().await;
        assert!(!rects.is_empty());
        assert!(rects.iter().all(|r| r.encoding == enc), "{rects:?}");
        assert_eq!(c.fb, mock.screen(), "encoding {enc}");
    }
    // Nothing supported listed: Raw.
    c.setup(&[7, 1]).await;
    let rects = c.full().await;
    assert!(rects.iter().all(|r| r.encoding == 0));
    mock.shutdown().await;
}

#[tokio::test]
async fn websocket_echoes_binary_and_splits_the_stream_across_messages() {
    let mock = start(small(MockConfig::default())).await;
    let mut c = admitted_ws(&mock).await;
    assert_eq!(c.ws_protocol.as_deref(), Some("binary"));
    // The 12-byte ProtocolVersion came in pieces.
    assert_eq!(c.ws_sizes.get(..3), Some(&[3usize, 1, 8][..]));
    c.setup(&[5, 0]).await;
    c.full().await;
    assert_eq!(c.fb, mock.screen());
    mock.shutdown().await;
}

#[tokio::test]
async fn older_versions_are_accepted() {
    let mock = start(small(MockConfig::default())).await;
    for v in [Version::V3_3, Version::V3_7] {
        let mut c = Console::ws(&mock).await;
        let o = within("handshake", c.handshake(v, None)).await;
        assert!(matches!(o, Outcome::Admitted), "{v:?}: {o:?}");
        c.setup(&[0]).await;
        c.full().await;
        assert_eq!(c.fb, mock.screen());
        c.close_clean().await;
        lock_until(&mock, |v| v.holder.is_none()).await;
    }
    mock.shutdown().await;
}

#[tokio::test]
async fn vnc_authentication_admits_the_right_password_only() {
    let mock = start(small(MockConfig {
        password: Some("s3cret".into()),
        ..MockConfig::default()
    }))
    .await;
    let decl = mock.declaration_toml(None);
    assert!(decl.contains("password_env = \"S301_MOCK_PASSWORD\""));
    let mut bad = Console::tcp(mock.rfb_addr().expect("rfb")).await;
    let o = within("handshake", bad.handshake(Version::V3_8, Some("wrong"))).await;
    assert!(
        matches!(&o, Outcome::Refused(Some(r)) if r.contains("authentication")),
        "{o:?}"
    );
    let mut bad33 = Console::tcp(mock.rfb_addr().expect("rfb")).await;
    let o = within("handshake", bad33.handshake(Version::V3_3, Some("nope"))).await;
    assert!(matches!(o, Outcome::Refused(None)), "{o:?}");
    let mut good = Console::ws(&mock).await;
    let o = within("handshake", good.handshake(Version::V3_8, Some("s3cret"))).await;
    assert!(matches!(o, Outcome::Admitted), "{o:?}");
    mock.shutdown().await;
}

#[tokio::test]
async fn typing_changes_the_text_panel_only() {
    let mock = start(small(MockConfig::default())).await;
    let layout = mock.layout();
    // The same keys on a private desktop give the image to expect.
    let expected = Desktop::new(320, 240).expect("desktop");
    let mut c = admitted_ws(&mock).await;
    c.setup(&[16, 0]).await;
    c.full().await;
    let before = c.fb.clone();
    for k in "S301".bytes() {
        c.key(u32::from(k)).await;
        expected.apply(InputAction::Key(u32::from(k)));
    }
    let expected = expected.snapshot();
    let mut rects = Vec::new();
    while c.fb != expected {
        let r = c.screen();
        c.request(true, r).await;
        rects.extend(within("typed text", c.update()).await.expect("open"));
    }
    assert!(!rects.is_empty());
    for r in &rects {
        assert_eq!(layout.text.intersect(&r.rect), Some(r.rect), "{:?}", r.rect);
    }
    assert_ne!(before.crop(layout.text), c.fb.crop(layout.text));
    assert_eq!(before.crop(layout.pad), c.fb.crop(layout.pad));
    mock.shutdown().await;
}

#[tokio::test]
async fn each_click_changes_the_pad_even_at_the_same_spot() {
    let mock = start(small(MockConfig::default())).await;
    let layout = mock.layout();
    let (x, y) = layout.click_point();
    let mut c = admitted_tcp(&mock).await;
    c.setup(&[5, 0]).await;
    c.full().await;
    for round in 0..3 {
        let before = c.fb.clone();
        let r = c.screen();
        c.request(true, r).await;
        c.click(x, y).await;
        let rects = within("click update", c.update()).await.expect("open");
        assert!(!rects.is_empty(), "round {round}");
        for r in &rects {
            assert_eq!(layout.pad.intersect(&r.rect), Some(r.rect));
        }
        catch_up(&mut c, &mock).await;
        assert_ne!(before.get(x, y), c.fb.get(x, y), "round {round}");
    }
    mock.shutdown().await;
}

#[tokio::test]
async fn incremental_request_is_held_until_the_screen_changes() {
    let mock = start(small(MockConfig::default())).await;
    let mut c = admitted_tcp(&mock).await;
    c.setup(&[0]).await;
    c.full().await;
    let r = c.screen();
    c.request(true, r).await;
    // A full request sent after the incremental one is answered first: the
    // incremental one is still waiting for damage.
    c.request(false, Rect::new(0, 0, 8, 8)).await;
    let first = within("full", c.update()).await.expect("open");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].rect, Rect::new(0, 0, 8, 8));
    c.key(u32::from(b'x')).await;
    let second = within("incremental", c.update()).await.expect("open");
    assert!(!second.is_empty());
    mock.shutdown().await;
}

#[tokio::test]
async fn requests_past_the_screen_are_clipped() {
    let mock = start(small(MockConfig::default())).await;
    let mut c = admitted_tcp(&mock).await;
    c.setup(&[0]).await;
    c.request(false, Rect::new(300, 200, 5000, 5000)).await;
    let rects = within("update", c.update()).await.expect("open");
    assert_eq!(rects.len(), 1);
    assert_eq!(rects[0].rect, Rect::new(300, 200, 20, 40));
    c.request(false, Rect::new(400, 400, 10, 10)).await;
    let rects = within("update", c.update()).await.expect("open");
    assert!(rects.is_empty());
    mock.shutdown().await;
}

#[tokio::test]
async fn refuse_refuses_a_second_console_with_a_reason_and_keeps_the_first() {
    let mock = start(small(MockConfig::default())).await;
    let mut a = admitted_ws(&mock).await;
    a.setup(&[0]).await;
    let mut b = Console::tcp(mock.rfb_addr().expect("rfb")).await;
    let o = within("handshake", b.handshake(Version::V3_8, None)).await;
    assert!(
        matches!(&o, Outcome::Refused(Some(r)) if r == BUSY_REASON),
        "{o:?}"
    );
    within("refused close", b.closed()).await;
    let mut b37 = Console::ws(&mock).await;
    let o = within("handshake", b37.handshake(Version::V3_7, None)).await;
    assert!(matches!(o, Outcome::Closed), "{o:?}");
    a.full().await;
    assert_eq!(a.fb, mock.screen());
    // Once the holder leaves, a newcomer gets in.
    a.close_clean().await;
    lock_until(&mock, |v| v.holder.is_none()).await;
    admitted_tcp(&mock).await;
    mock.shutdown().await;
}

#[tokio::test]
async fn simultaneous_arrivals_admit_exactly_one_under_refuse() {
    let mock = start(small(MockConfig::default())).await;
    let addr = mock.rfb_addr().expect("rfb");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        tasks.push(tokio::spawn(async move {
            let mut c = Console::tcp(addr).await;
            let o = within("handshake", c.handshake(Version::V3_8, None)).await;
            (o, c)
        }));
    }
    let mut admitted = 0;
    let mut keep = Vec::new();
    for t in tasks {
        let (o, c) = t.await.expect("join");
        match o {
            Outcome::Admitted => admitted += 1,
            Outcome::Refused(Some(r)) => assert_eq!(r, BUSY_REASON),
            other => panic!("unexpected {other:?}"),
        }
        keep.push(c);
    }
    assert_eq!(admitted, 1);
    mock.shutdown().await;
}

#[tokio::test]
async fn takeover_closes_the_holder_before_serving_the_newcomer() {
    let mock = start(small(MockConfig {
        exclusivity: Exclusivity::Takeover,
        ..MockConfig::default()
    }))
    .await;
    let mut a = admitted_tcp(&mock).await;
    a.setup(&[0]).await;
    a.full().await;
    let mut b = admitted_ws(&mock).await;
    // By the time b was admitted, a's session had ended.
    let v = *mock.lock_view().borrow();
    assert!(v.holder.is_some());
    within("holder closed", a.closed()).await;
    b.setup(&[16]).await;
    b.full().await;
    assert_eq!(b.fb, mock.screen());
    mock.shutdown().await;
}

#[tokio::test]
async fn simultaneous_takeovers_leave_one_console_served() {
    let mock = start(small(MockConfig {
        exclusivity: Exclusivity::Takeover,
        ..MockConfig::default()
    }))
    .await;
    let addr = mock.rfb_addr().expect("rfb");
    let mut tasks = Vec::new();
    for _ in 0..6 {
        tasks.push(tokio::spawn(async move {
            let mut c = Console::tcp(addr).await;
            let o = within("handshake", c.handshake(Version::V3_8, None)).await;
            (o, c)
        }));
    }
    let mut open = Vec::new();
    for t in tasks {
        let (o, c) = t.await.expect("join");
        if matches!(o, Outcome::Admitted) {
            open.push(c);
        }
    }
    assert!(!open.is_empty());
    // Every admitted console but one gets closed; exactly one is served.
    let mut served = 0;
    for mut c in open {
        c.setup(&[0]).await;
        let r = c.screen();
        c.request(false, r).await;
        if within("answer or close", c.update()).await.is_some() {
            served += 1;
        }
    }
    assert_eq!(served, 1);
    mock.shutdown().await;
}

#[tokio::test]
async fn share_screen_serves_both_and_applies_input_from_both() {
    let mock = start(small(MockConfig {
        faults: vec![Fault::ShareScreen],
        ..MockConfig::default()
    }))
    .await;
    let (x, y) = mock.layout().click_point();
    let mut a = admitted_ws(&mock).await;
    let mut b = admitted_tcp(&mock).await;
    a.setup(&[0]).await;
    b.setup(&[0]).await;
    a.full().await;
    b.full().await;
    let r = a.screen();
    a.request(true, r).await;
    b.click(x, y).await;
    let rects = within("a sees b's click", a.update()).await.expect("open");
    assert!(!rects.is_empty());
    mock.shutdown().await;
}

async fn stuck_lock_case(policy: Exclusivity, ws: bool, abrupt: bool) {
    let mock = start(small(MockConfig {
        exclusivity: policy,
        faults: vec![Fault::StuckLock],
        ..MockConfig::default()
    }))
    .await;
    let a = if ws {
        admitted_ws(&mock).await
    } else {
        admitted_tcp(&mock).await
    };
    if abrupt {
        a.abort();
    } else {
        a.close_clean().await;
    }
    let v = lock_until(&mock, |v| v.releases >= 1).await;
    assert_eq!(v.stuck, abrupt, "{policy} ws={ws} abrupt={abrupt}");
    for _ in 0..2 {
        let mut b = Console::tcp(mock.rfb_addr().expect("rfb")).await;
        let o = within("handshake", b.handshake(Version::V3_8, None)).await;
        if abrupt {
            assert!(
                matches!(&o, Outcome::Refused(Some(r)) if r == BUSY_REASON),
                "{o:?}"
            );
        } else {
            assert!(matches!(o, Outcome::Admitted), "{o:?}");
            b.close_clean().await;
            lock_until(&mock, |v| v.holder.is_none()).await;
        }
    }
    mock.shutdown().await;
}

#[tokio::test]
async fn stuck_lock_keeps_refusing_after_an_abrupt_drop() {
    stuck_lock_case(Exclusivity::Refuse, false, true).await;
    stuck_lock_case(Exclusivity::Refuse, true, true).await;
    stuck_lock_case(Exclusivity::Takeover, false, true).await;
}

#[tokio::test]
async fn stuck_lock_still_releases_after_a_clean_close() {
    stuck_lock_case(Exclusivity::Refuse, false, false).await;
    stuck_lock_case(Exclusivity::Refuse, true, false).await;
    stuck_lock_case(Exclusivity::Takeover, true, false).await;
}

#[tokio::test]
async fn without_the_fault_an_abrupt_drop_releases() {
    let mock = start(small(MockConfig::default())).await;
    let a = admitted_tcp(&mock).await;
    a.abort();
    let v = lock_until(&mock, |v| v.releases >= 1).await;
    assert!(!v.stuck);
    admitted_ws(&mock).await;
    mock.shutdown().await;
}

#[tokio::test]
async fn input_delay_is_honoured() {
    let delay = Duration::from_millis(300);
    let mock = start(small(MockConfig {
        input_delay: delay,
        ..MockConfig::default()
    }))
    .await;
    let mut c = admitted_tcp(&mock).await;
    c.setup(&[0]).await;
    c.full().await;
    let r = c.screen();
    c.request(true, r).await;
    let sent = Instant::now();
    c.key(u32::from(b'A')).await;
    let rects = within("delayed update", c.update()).await.expect("open");
    assert!(!rects.is_empty());
    let took = sent.elapsed();
    assert!(
        took >= delay,
        "update after {took:?}, before the {delay:?} delay"
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn ignore_input_drops_keys_and_clicks() {
    let mock = start(small(MockConfig {
        faults: vec![Fault::IgnoreInput],
        ..MockConfig::default()
    }))
    .await;
    let initial = mock.screen();
    let (x, y) = mock.layout().click_point();
    let mut c = admitted_tcp(&mock).await;
    c.setup(&[0]).await;
    c.key(u32::from(b'Q')).await;
    c.click(x, y).await;
    // Messages are handled in order: the full answer comes after the input.
    c.full().await;
    assert_eq!(c.fb, initial);
    assert_eq!(mock.screen(), initial);
    mock.shutdown().await;
}

#[tokio::test]
async fn without_faults_input_before_a_full_request_shows_in_its_answer() {
    let mock = start(small(MockConfig::default())).await;
    let initial = mock.screen();
    let mut c = admitted_tcp(&mock).await;
    c.setup(&[0]).await;
    c.key(u32::from(b'Q')).await;
    c.full().await;
    assert_ne!(c.fb, initial);
    mock.shutdown().await;
}

#[tokio::test]
async fn input_from_displaced_applies_the_old_holders_input_after_takeover() {
    let mock = start(small(MockConfig {
        exclusivity: Exclusivity::Takeover,
        faults: vec![Fault::InputFromDisplaced],
        ..MockConfig::default()
    }))
    .await;
    let (x, y) = mock.layout().click_point();
    let mut a = admitted_tcp(&mock).await;
    a.setup(&[0]).await;
    a.full().await;
    let mut b = admitted_ws(&mock).await;
    b.setup(&[0]).await;
    b.full().await;
    let r = b.screen();
    b.request(true, r).await;
    a.click(x, y).await;
    let rects = within("b sees a's click", b.update()).await.expect("open");
    assert!(!rects.is_empty());
    // a gets no more updates and is closed after the window.
    let r = a.screen();
    a.request(false, r).await;
    assert!(within("a closed", a.update()).await.is_none());
    mock.shutdown().await;
}

#[tokio::test]
async fn input_from_displaced_applies_a_refused_newcomers_input() {
    let mock = start(small(MockConfig {
        faults: vec![Fault::InputFromDisplaced],
        ..MockConfig::default()
    }))
    .await;
    let (x, y) = mock.layout().click_point();
    let mut a = admitted_tcp(&mock).await;
    a.setup(&[0]).await;
    a.full().await;
    let mut b = admitted_ws(&mock).await;
    b.setup(&[0]).await;
    let r = a.screen();
    a.request(true, r).await;
    b.click(x, y).await;
    let rects = within("a sees b's click", a.update()).await.expect("open");
    assert!(!rects.is_empty());
    // b is never sent an update and is closed.
    let r = b.screen();
    b.request(false, r).await;
    assert!(within("b closed", b.update()).await.is_none());
    mock.shutdown().await;
}

#[tokio::test]
async fn rect_out_of_bounds_adds_a_raw_rectangle_past_the_right_edge_to_full_answers() {
    let mock = start(small(MockConfig {
        faults: vec![Fault::RectOutOfBounds],
        ..MockConfig::default()
    }))
    .await;
    let mut c = admitted_tcp(&mock).await;
    c.setup(&[16, 0]).await;
    let rects = c.full().await;
    let bad: Vec<_> = rects.iter().filter(|r| !r.in_bounds).collect();
    assert_eq!(bad.len(), 1, "{rects:?}");
    assert_eq!(bad[0].rect, Rect::new(312, 0, 16, 16));
    assert_eq!(bad[0].encoding, 0);
    assert_eq!(c.fb, mock.screen());
    // Incremental answers are normal.
    let r = c.screen();
    c.request(true, r).await;
    c.key(u32::from(b'k')).await;
    let rects = within("incremental", c.update()).await.expect("open");
    assert!(rects.iter().all(|r| r.in_bounds));
    mock.shutdown().await;
}

#[tokio::test]
async fn unrequested_encoding_sends_hextile_whatever_was_asked() {
    let mock = start(small(MockConfig {
        faults: vec![Fault::UnrequestedEncoding],
        ..MockConfig::default()
    }))
    .await;
    let mut c = admitted_tcp(&mock).await;
    c.setup(&[0]).await;
    let rects = c.full().await;
    assert!(rects.iter().all(|r| r.encoding == 5), "{rects:?}");
    assert_eq!(c.fb, mock.screen());
    mock.shutdown().await;
}

#[tokio::test]
async fn stale_incremental_leaves_the_console_image_behind() {
    let mock = start(small(MockConfig {
        faults: vec![Fault::StaleIncremental],
        ..MockConfig::default()
    }))
    .await;
    let (x, y) = mock.layout().click_point();
    let mut c = admitted_tcp(&mock).await;
    c.setup(&[0]).await;
    c.full().await;
    let r = c.screen();
    c.request(true, r).await;
    c.click(x, y).await;
    let rects = within("incremental", c.update()).await.expect("open");
    assert!(!rects.is_empty());
    // The click's effects are all applied at once; the update left a part out.
    assert_ne!(c.fb, mock.screen());
    // Nothing more comes for it: the terminal believes it was sent. A full
    // request repairs the image.
    c.full().await;
    assert_eq!(c.fb, mock.screen());
    mock.shutdown().await;
}

#[tokio::test]
async fn colour_mapped_console_gets_the_332_map_before_its_update() {
    let mock = start(small(MockConfig::default())).await;
    let mut c = admitted_tcp(&mock).await;
    c.msg(ClientMessage::SetPixelFormat(PixelFormat::MAPPED8))
        .await;
    c.msg(ClientMessage::SetEncodings(vec![16])).await;
    c.dec.set_pixel_format(PixelFormat::MAPPED8);
    c.full().await;
    assert_eq!(c.colour_maps, vec![(0, 256)]);
    let map = ColourMap::rgb332();
    let screen = mock.screen();
    for (got, want) in c.fb.pixels().iter().zip(screen.pixels()) {
        assert_eq!(*got, map.get(map.nearest(*want)));
    }
    mock.shutdown().await;
}

#[tokio::test]
async fn a_text_message_or_garbage_ends_only_that_session() {
    let mock = start(small(MockConfig {
        faults: vec![Fault::ShareScreen],
        ..MockConfig::default()
    }))
    .await;
    let mut keep = admitted_tcp(&mock).await;
    keep.setup(&[0]).await;

    let mut t = admitted_ws(&mock).await;
    if let Wire::Ws(ws) = &mut t.wire {
        ws.send(Message::text("hello")).await.expect("send");
    }
    within("closed after text", t.closed()).await;

    let mut g = admitted_tcp(&mock).await;
    g.send(&[9, 9, 9, 9, 9, 9, 9, 9]).await;
    within("closed after garbage", g.closed()).await;

    let mut v = Console::tcp(mock.rfb_addr().expect("rfb")).await;
    v.send(b"HTTP/1.1 200\r\n").await;
    within("closed after a bad version", v.closed()).await;

    keep.full().await;
    assert_eq!(keep.fb, mock.screen());
    mock.shutdown().await;
}

#[tokio::test]
async fn declaration_is_valid_toml_with_probes_inside_the_screen() {
    let mock = start(small(MockConfig {
        exclusivity: Exclusivity::Takeover,
        ..MockConfig::default()
    }))
    .await;
    let text = mock.declaration_toml(Some("127.0.0.1:7001"));
    let v: toml::Value = toml::from_str(&text).expect("valid TOML");
    assert_eq!(
        v["screen"]["url"].as_str(),
        Some(mock.screen_url().as_str())
    );
    assert_eq!(v["screen"]["exclusivity"].as_str(), Some("takeover"));
    assert_eq!(
        v["terminal"]["version"].as_str(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        v["data"]["base_url"].as_str(),
        Some(mock.data_base_url().as_str())
    );
    assert_eq!(v["harness"]["listen"].as_str(), Some("127.0.0.1:7001"));
    let probes = v["operation"]["probe"].as_array().expect("probes");
    assert_eq!(probes.len(), 2);
    let layout = mock.layout();
    let (x, y) = layout.click_point();
    assert_eq!(probes[0]["x"].as_integer(), Some(i64::from(x)));
    assert_eq!(probes[0]["y"].as_integer(), Some(i64::from(y)));
    assert_eq!(probes[1]["text"].as_str(), Some("S301"));
    let rfb = mock.declaration_toml_for_rfb(None).expect("rfb listener");
    let v: toml::Value = toml::from_str(&rfb).expect("valid TOML");
    assert!(v["screen"]["url"]
        .as_str()
        .is_some_and(|u| u.starts_with("rfb://")));
    assert!(v.get("harness").is_none());
    mock.shutdown().await;
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    within("http answer", s.read_to_end(&mut out))
        .await
        .expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn http_paths_route_to_screen_data_or_404() {
    let mock = start(small(MockConfig::default())).await;
    let r = http_get(mock.addr(), "/elsewhere").await;
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    assert!(r.contains("{\"error\":"));
    let r = http_get(mock.addr(), "/s3-01/v1/screen").await;
    assert!(r.starts_with("HTTP/1.1 426"), "{r}");
    mock.shutdown().await;
}

#[tokio::test]
async fn start_rejects_a_screen_too_small_for_the_layout() {
    let r = MockTerminal::start(MockConfig {
        width: 10,
        height: 10,
        ..MockConfig::default()
    })
    .await;
    assert_eq!(
        r.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::InvalidInput)
    );
}

#[tokio::test]
async fn shutdown_closes_open_sessions() {
    let mock = start(small(MockConfig::default())).await;
    let mut a = admitted_ws(&mock).await;
    let shut = tokio::spawn(mock.shutdown());
    within("session closed by shutdown", a.closed()).await;
    within("shutdown", shut).await.expect("join");
}

#[tokio::test]
async fn a_burst_of_full_requests_is_answered_one_by_one() {
    let mock = start(small(MockConfig::default())).await;
    let mut c = admitted_tcp(&mock).await;
    c.setup(&[0]).await;
    let mut burst = Vec::new();
    for _ in 0..200 {
        ClientMessage::FramebufferUpdateRequest {
            incremental: false,
            rect: Rect::new(0, 0, 320, 240),
        }
        .write(&mut burst);
    }
    c.send(&burst).await;
    for i in 0..200 {
        let rects = within("burst answer", c.update()).await.expect("open");
        assert_eq!(rects.len(), 1, "answer {i}");
    }
    assert_eq!(c.fb, mock.screen());
    mock.shutdown().await;
}

/// A small deterministic generator for the random-traffic test.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }

    fn below(&mut self, n: u32) -> u32 {
        self.next() % n.max(1)
    }
}

fn pixel_formats() -> Vec<PixelFormat> {
    let bgr233 = PixelFormat {
        bits_per_pixel: 8,
        depth: 8,
        big_endian: false,
        true_colour: true,
        red_max: 7,
        green_max: 7,
        blue_max: 3,
        red_shift: 0,
        green_shift: 3,
        blue_shift: 6,
    };
    let be888 = PixelFormat {
        big_endian: true,
        ..PixelFormat::RGB888
    };
    let bgr888 = PixelFormat {
        red_shift: 0,
        blue_shift: 16,
        ..PixelFormat::RGB888
    };
    let high888 = PixelFormat {
        red_shift: 24,
        green_shift: 16,
        blue_shift: 8,
        ..PixelFormat::RGB888
    };
    let be555 = PixelFormat {
        bits_per_pixel: 16,
        depth: 15,
        big_endian: true,
        true_colour: true,
        red_max: 31,
        green_max: 31,
        blue_max: 31,
        red_shift: 10,
        green_shift: 5,
        blue_shift: 0,
    };
    vec![
        PixelFormat::RGB888,
        PixelFormat::RGB565,
        PixelFormat::MAPPED8,
        bgr233,
        be888,
        bgr888,
        high888,
        be555,
    ]
}

#[tokio::test]
async fn random_valid_traffic_keeps_the_session_consistent() {
    let mock = start(small(MockConfig::default())).await;
    let mut c = admitted_tcp(&mock).await;
    let formats = pixel_formats();
    let mut rng = Lcg(0x5301);
    let mut outstanding = 0usize;
    for _ in 0..400 {
        match rng.below(7) {
            0 => {
                // Drain answers in the old format before switching.
                for _ in 0..outstanding {
                    within("answer", c.update()).await.expect("open");
                }
                outstanding = 0;
                let pf = formats[rng.below(formats.len() as u32) as usize];
                c.msg(ClientMessage::SetPixelFormat(pf)).await;
                c.dec.set_pixel_format(pf);
            }
            1 => {
                let n = rng.below(6);
                let list = (0..n)
                    .map(|_| [16, 15, 5, 2, 1, 0, -223, 7, -239, 99][rng.below(10) as usize])
                    .collect();
                c.msg(ClientMessage::SetEncodings(list)).await;
            }
            2 => {
                let wide = if rng.below(4) == 0 { 65535 } else { 64 };
                let rect = Rect::new(
                    rng.below(400) as u16,
                    rng.below(300) as u16,
                    rng.below(wide) as u16,
                    rng.below(64) as u16,
                );
                c.request(false, rect).await;
                outstanding += 1;
            }
            3 => {
                let key =
                    [0x41, 0x7e, 0x20, 0xff08, 0xff0d, 0xffe1, 0, u32::MAX][rng.below(8) as usize];
                c.msg(ClientMessage::KeyEvent {
                    down: rng.below(2) == 0,
                    key,
                })
                .await;
            }
            4 => {
                c.msg(ClientMessage::PointerEvent {
                    buttons: rng.below(256) as u8,
                    x: rng.below(70000).min(65535) as u16,
                    y: rng.below(300) as u16,
                })
                .await;
            }
            5 => {
                let n = rng.below(300) as usize;
                c.msg(ClientMessage::ClientCutText(vec![b'x'; n])).await;
            }
            _ => {
                for _ in 0..outstanding {
                    within("answer", c.update()).await.expect("open");
                }
                outstanding = 0;
            }
        }
    }
    for _ in 0..outstanding {
        within("answer", c.update()).await.expect("open");
    }
    c.msg(ClientMessage::SetPixelFormat(PixelFormat::RGB888))
        .await;
    c.dec.set_pixel_format(PixelFormat::RGB888);
    c.setup(&[16]).await;
    c.full().await;
    assert_eq!(c.fb, mock.screen());
    mock.shutdown().await;
}

#[tokio::test]
async fn an_invalid_pixel_format_closes_the_session() {
    let mock = start(small(MockConfig::default())).await;
    let mut c = admitted_tcp(&mock).await;
    let mut bad = Vec::new();
    ClientMessage::SetPixelFormat(PixelFormat::RGB888).write(&mut bad);
    bad[4] = 24; // bits-per-pixel
    c.send(&bad).await;
    within("closed", c.closed()).await;
    // The terminal is free again.
    lock_until(&mock, |v| v.holder.is_none()).await;
    admitted_ws(&mock).await;
    mock.shutdown().await;
}

#[tokio::test]
async fn declaration_with_names_the_chosen_password_variable_and_transport() {
    let mock = start(small(MockConfig {
        password: Some("pw".into()),
        ..MockConfig::default()
    }))
    .await;
    let opts = s301_mocks::DeclOptions {
        harness_listen: Some("127.0.0.1:9".into()),
        password_env: Some("MY_PW".into()),
        plain_rfb: true,
    };
    let text = mock.declaration_with(&opts).expect("rfb listener");
    let v: toml::Value = toml::from_str(&text).expect("valid TOML");
    assert_eq!(v["screen"]["password_env"].as_str(), Some("MY_PW"));
    assert_eq!(v["screen"]["url"].as_str(), mock.rfb_url().as_deref());
    assert_eq!(v["harness"]["listen"].as_str(), Some("127.0.0.1:9"));
    mock.shutdown().await;
    let plain = start(MockConfig::default()).await;
    let rfb = s301_mocks::DeclOptions {
        plain_rfb: true,
        ..Default::default()
    };
    assert!(plain.declaration_with(&rfb).is_none());
    let ws = plain
        .declaration_with(&s301_mocks::DeclOptions::default())
        .expect("ws");
    assert_eq!(ws, plain.declaration_toml(None));
    assert!(!ws.contains("password_env"));
    plain.shutdown().await;
}
