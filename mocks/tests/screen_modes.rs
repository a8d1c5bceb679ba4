//! The mock's screen modes end to end: the blinking text cursor, the
//! pointer-following pad and the pointer sprite (drawn into the image, or
//! sent as a Cursor pseudo-rectangle to consoles that list -239).

mod support;

use std::time::{Duration, Instant};

use s301_mocks::desktop::{Desktop, DesktopModes, InputAction, BLINK_PERIOD};
use s301_mocks::pointer::{draw_sprite, sprite_cursor, sprite_rect};
use s301_mocks::{Fault, MockConfig, MockHandle, PointerSprite, ScreenMode};
use s301_rfb::messages::ClientMessage;
use s301_rfb::stream::RectInfo;
use s301_rfb::{Framebuffer, Rect};
use support::*;

/// The desktop a mock configured as `cfg` starts with, to replay input on.
fn twin(cfg: &MockConfig) -> Desktop {
    Desktop::with_modes(cfg.width, cfg.height, DesktopModes::of(cfg)).expect("desktop")
}

/// `fb` with the pointer sprite drawn in at `at`.
fn with_sprite(fb: &Framebuffer, at: (u16, u16)) -> Framebuffer {
    let mut out = fb.clone();
    draw_sprite(&mut out, at);
    out
}

/// Pointer motion, no button.
async fn move_to(c: &mut Console, x: u16, y: u16) {
    c.msg(ClientMessage::PointerEvent { buttons: 0, x, y })
        .await;
}

/// The next update if one comes within `wait`, else `None`.
async fn update_within(c: &mut Console, wait: Duration) -> Option<Vec<RectInfo>> {
    tokio::time::timeout(wait, c.update())
        .await
        .ok()
        .map(|u| u.expect("connection open"))
}

/// Incremental updates (none asked for by input) for `span`: how many came
/// and the rectangles they carried.
async fn idle_updates(c: &mut Console, span: Duration) -> (usize, Vec<RectInfo>) {
    let end = Instant::now() + span;
    let (mut n, mut rects) = (0, Vec::new());
    while Instant::now() < end {
        let r = c.screen();
        c.request(true, r).await;
        match update_within(c, end.saturating_duration_since(Instant::now())).await {
            Some(u) => {
                n += 1;
                rects.extend(u);
            }
            None => break,
        }
    }
    (n, rects)
}

fn blinking(faults: Vec<Fault>) -> MockConfig {
    small(MockConfig {
        blink: true,
        faults,
        ..MockConfig::default()
    })
}

#[tokio::test]
async fn blink_changes_one_text_cell_with_no_input_for_every_console() {
    let mock = start(blinking(vec![Fault::ShareScreen])).await;
    let text = mock.layout().text;
    let mut a = admitted_tcp(&mock).await;
    let mut b = admitted_ws(&mock).await;
    for c in [&mut a, &mut b] {
        c.setup(&[16, 0]).await;
        c.full().await;
    }
    for c in [&mut a, &mut b] {
        let (n, rects) = idle_updates(c, BLINK_PERIOD * 5).await;
        assert!(n >= 3, "{n} blink updates in {:?}", BLINK_PERIOD * 5);
        for r in &rects {
            assert_eq!(text.intersect(&r.rect), Some(r.rect), "{}", r.rect);
            assert!(r.rect.w <= 12 && r.rect.h <= 16, "{}", r.rect);
        }
    }
    mock.shutdown().await;
}

#[tokio::test]
async fn typed_text_appears_beside_the_blinking_cursor() {
    let cfg = blinking(vec![]);
    let mock = start(cfg.clone()).await;
    let area_x = mock.layout().text.x + 1 + 4;
    let area_y = mock.layout().text.y + 22 + 3;
    let expected = twin(&cfg);
    let mut c = admitted_tcp(&mock).await;
    c.setup(&[5, 0]).await;
    c.full().await;
    for k in "S3".bytes() {
        c.key(u32::from(k)).await;
        expected.apply(InputAction::Key(u32::from(k)));
    }
    // The two glyph cells hold the text whatever phase the cursor is in.
    let glyphs = Rect::new(area_x, area_y, 24, 16);
    let want = expected.snapshot().crop(glyphs);
    within("typed text", async {
        while c.fb.crop(glyphs) != want {
            let r = c.screen();
            c.request(true, r).await;
            c.update().await.expect("open");
        }
    })
    .await;
    mock.shutdown().await;
}

#[tokio::test]
async fn blink_goes_on_under_ignore_input_and_stall_after_still_stalls() {
    let mock = start(blinking(vec![Fault::IgnoreInput])).await;
    let mut c = admitted_tcp(&mock).await;
    c.setup(&[0]).await;
    c.full().await;
    let (n, _) = idle_updates(&mut c, BLINK_PERIOD * 3).await;
    assert!(n >= 2, "{n}");
    mock.shutdown().await;
    let mock = start(MockConfig {
        stall_after: Duration::from_millis(100),
        ..blinking(vec![Fault::StallAfter])
    })
    .await;
    let mut c = admitted_tcp(&mock).await;
    c.setup(&[0]).await;
    c.full().await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (n, _) = idle_updates(&mut c, BLINK_PERIOD * 3).await;
    assert_eq!(n, 0, "a stalled session answers nothing, blinking or not");
    mock.shutdown().await;
}

fn follow(faults: Vec<Fault>, pointer_start: Option<(u16, u16)>) -> MockConfig {
    small(MockConfig {
        screen_mode: ScreenMode::PointerFollow,
        pointer_start,
        faults,
        ..MockConfig::default()
    })
}

#[tokio::test]
async fn follow_mode_starts_at_the_click_point_and_moves_the_crosshair_on_motion() {
    let cfg = follow(vec![], None);
    let mock = start(cfg.clone()).await;
    let (x, y) = mock.layout().click_point();
    let expected = twin(&cfg);
    let classic = Desktop::new(cfg.width, cfg.height).expect("desktop");
    let mut c = admitted_tcp(&mock).await;
    c.setup(&[16]).await;
    c.full().await;
    assert_eq!(c.fb, expected.snapshot());
    assert_ne!(
        c.fb.get(x, y),
        classic.snapshot().get(x, y),
        "no crosshair at the start"
    );
    // Motion moves it; the update stays inside the pad.
    let r = c.screen();
    c.request(true, r).await;
    move_to(&mut c, x + 30, y - 5).await;
    expected.apply(InputAction::Move {
        x: x + 30,
        y: y - 5,
    });
    let rects = within("crosshair update", c.update()).await.expect("open");
    let pad = mock.layout().pad;
    assert!(!rects.is_empty());
    for r in &rects {
        assert_eq!(pad.intersect(&r.rect), Some(r.rect), "{}", r.rect);
    }
    catch_up(&mut c, &mock).await;
    assert_eq!(c.fb, expected.snapshot());
    // A click where the pointer is changes nothing at all.
    let before = mock.screen();
    c.click(x + 30, y - 5).await;
    c.full().await;
    assert_eq!(c.fb, before);
    assert_eq!(mock.screen(), before);
    // Keys still type.
    c.key(u32::from(b'K')).await;
    c.full().await;
    assert_ne!(
        c.fb.crop(mock.layout().text),
        before.crop(mock.layout().text)
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn follow_mode_pointer_persists_across_consoles_and_starts_where_configured() {
    let cfg = follow(vec![], Some((40, 170)));
    let mock = start(cfg.clone()).await;
    let expected = twin(&cfg);
    let mut a = admitted_tcp(&mock).await;
    a.setup(&[0]).await;
    a.full().await;
    assert_eq!(a.fb, expected.snapshot());
    move_to(&mut a, 200, 165).await;
    expected.apply(InputAction::Move { x: 200, y: 165 });
    a.full().await;
    a.close_clean().await;
    lock_until(&mock, |v| v.holder.is_none()).await;
    let mut b = admitted_ws(&mock).await;
    b.setup(&[0]).await;
    b.full().await;
    assert_eq!(
        b.fb,
        expected.snapshot(),
        "the next console sees the same pointer"
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn follow_mode_under_ignore_input_keeps_the_crosshair_still() {
    let cfg = follow(vec![Fault::IgnoreInput], None);
    let mock = start(cfg.clone()).await;
    let initial = twin(&cfg).snapshot();
    let (x, y) = mock.layout().click_point();
    let mut c = admitted_tcp(&mock).await;
    c.setup(&[0]).await;
    move_to(&mut c, x - 50, y + 3).await;
    c.click(x - 50, y + 3).await;
    c.full().await;
    assert_eq!(c.fb, initial);
    assert_eq!(mock.screen(), initial);
    mock.shutdown().await;
}

#[tokio::test]
async fn counter_mode_is_untouched_by_motion() {
    let mock = start(small(MockConfig::default())).await;
    let initial = mock.screen();
    let mut c = admitted_tcp(&mock).await;
    c.setup(&[0]).await;
    c.full().await;
    let r = c.screen();
    c.request(true, r).await;
    move_to(&mut c, 100, 170).await;
    assert!(update_within(&mut c, Duration::from_millis(300))
        .await
        .is_none());
    assert_eq!(mock.screen(), initial);
    mock.shutdown().await;
}

fn sprite(mode: PointerSprite, faults: Vec<Fault>) -> MockConfig {
    small(MockConfig {
        pointer_sprite: mode,
        faults,
        ..MockConfig::default()
    })
}

/// The part of the screen the sprite covers with the pointer at `at`.
fn sprite_at(mock: &MockHandle, at: (u16, u16)) -> Rect {
    let s = mock.screen().bounds();
    sprite_rect(at, s).expect("sprite on screen")
}

#[tokio::test]
async fn unless_cursor_encoding_draws_the_sprite_only_for_consoles_without_minus_239() {
    let mock = start(sprite(
        PointerSprite::UnlessCursorEncoding,
        vec![Fault::ShareScreen],
    ))
    .await;
    let at = mock.layout().click_point();
    let mut plain = admitted_tcp(&mock).await;
    let mut asks = admitted_ws(&mock).await;
    plain.setup(&[16, 0]).await;
    asks.setup(&[16, 0, -223, -239]).await;
    let plain_rects = plain.full().await;
    let asks_rects = asks.full().await;
    // Drawn into the image of the console that did not ask.
    assert_eq!(plain.fb, with_sprite(&mock.screen(), at));
    assert!(plain.cursors.is_empty());
    assert!(plain_rects.iter().all(|r| r.encoding != -239));
    // Sent as a shape, and only as a shape, to the one that did.
    assert_eq!(asks.fb, mock.screen());
    assert_eq!(asks.cursors, [sprite_cursor()]);
    assert_eq!(asks_rects[0].encoding, -239);
    assert_eq!(asks_rects[0].rect, Rect::new(0, 0, 12, 19));
    // Once: the next answer carries no shape.
    let again = asks.full().await;
    assert!(again.iter().all(|r| r.encoding != -239));
    assert_eq!(asks.cursors.len(), 1);
    // Dropping -239 puts the sprite into that console's image; a waiting
    // incremental request is answered with it.
    let r = asks.screen();
    asks.request(true, r).await;
    asks.setup(&[16, 0]).await;
    let rects = within("sprite appears", asks.update()).await.expect("open");
    assert!(rects
        .iter()
        .any(|r| r.rect.intersect(&sprite_at(&mock, at)).is_some()));
    assert_eq!(asks.fb, with_sprite(&mock.screen(), at));
    // Listing it again sends the shape again and takes the sprite out.
    let r = asks.screen();
    asks.request(true, r).await;
    asks.setup(&[16, 0, -239]).await;
    let rects = within("shape again", asks.update()).await.expect("open");
    assert_eq!(rects[0].encoding, -239);
    assert_eq!(asks.cursors.len(), 2);
    assert_eq!(asks.fb, mock.screen());
    mock.shutdown().await;
}

#[tokio::test]
async fn the_sprite_follows_motion_and_its_old_place_is_repainted() {
    let mock = start(sprite(PointerSprite::UnlessCursorEncoding, vec![])).await;
    let (x, y) = mock.layout().click_point();
    let mut c = admitted_tcp(&mock).await;
    c.setup(&[5, 0]).await;
    c.full().await;
    let r = c.screen();
    c.request(true, r).await;
    let to = (x - 40, y - 20);
    move_to(&mut c, to.0, to.1).await;
    let rects = within("sprite moved", c.update()).await.expect("open");
    let (old, new) = (sprite_at(&mock, (x, y)), sprite_at(&mock, to));
    for place in [old, new] {
        assert!(
            rects.iter().any(|r| r.rect.intersect(&place).is_some()),
            "{place} not repainted: {rects:?}"
        );
    }
    assert_eq!(c.fb, with_sprite(&mock.screen(), to));
    assert_eq!(mock.pointer(), to);
    mock.shutdown().await;
}

#[tokio::test]
async fn always_draws_the_sprite_even_for_a_console_that_listed_minus_239() {
    let mock = start(sprite(PointerSprite::Always, vec![])).await;
    let at = mock.layout().click_point();
    let mut c = admitted_ws(&mock).await;
    c.setup(&[16, -239]).await;
    let rects = c.full().await;
    assert!(rects.iter().all(|r| r.encoding != -239));
    assert!(c.cursors.is_empty());
    assert_eq!(c.fb, with_sprite(&mock.screen(), at));
    mock.shutdown().await;
}

#[tokio::test]
async fn off_sends_no_shape_and_draws_no_sprite_whatever_was_listed() {
    let mock = start(sprite(PointerSprite::Off, vec![])).await;
    let mut c = admitted_tcp(&mock).await;
    c.setup(&[16, -239]).await;
    c.full().await;
    assert!(c.cursors.is_empty());
    assert_eq!(c.fb, mock.screen());
    mock.shutdown().await;
}

#[tokio::test]
async fn under_ignore_input_the_sprite_still_follows_the_pointer() {
    for mode in [PointerSprite::Always, PointerSprite::UnlessCursorEncoding] {
        let mut cfg = sprite(mode, vec![Fault::IgnoreInput]);
        cfg.screen_mode = ScreenMode::PointerFollow;
        let mock = start(cfg.clone()).await;
        let initial = mock.screen();
        let (x, y) = mock.layout().click_point();
        let mut c = admitted_tcp(&mock).await;
        c.setup(&[0]).await;
        c.full().await;
        let r = c.screen();
        c.request(true, r).await;
        move_to(&mut c, x + 25, y + 4).await;
        c.click(x + 25, y + 4).await;
        c.key(u32::from(b'Z')).await;
        let rects = within("sprite moved", c.update()).await.expect("open");
        assert!(!rects.is_empty(), "{mode}");
        c.full().await;
        // The application saw nothing; only the server's pointer moved.
        assert_eq!(mock.screen(), initial, "{mode}");
        assert_eq!(c.fb, with_sprite(&initial, (x + 25, y + 4)), "{mode}");
        mock.shutdown().await;
    }
}

#[tokio::test]
async fn the_cursor_shape_decodes_in_every_pixel_format() {
    let mock = start(sprite(PointerSprite::UnlessCursorEncoding, vec![])).await;
    let mut c = admitted_tcp(&mock).await;
    for (i, pf) in [
        s301_rfb::PixelFormat::RGB565,
        s301_rfb::PixelFormat::MAPPED8,
        s301_rfb::PixelFormat::RGB888,
    ]
    .into_iter()
    .enumerate()
    {
        c.msg(ClientMessage::SetPixelFormat(pf)).await;
        c.dec.set_pixel_format(pf);
        // Listing -239 anew makes the shape due again.
        c.msg(ClientMessage::SetEncodings(vec![0])).await;
        c.msg(ClientMessage::SetEncodings(vec![0, -239])).await;
        c.full().await;
        assert_eq!(c.cursors.len(), i + 1);
        let got = &c.cursors[i];
        // Black and white survive every format.
        assert_eq!(got.cells(), sprite_cursor().cells(), "{}", pf.describe());
    }
    mock.shutdown().await;
}
