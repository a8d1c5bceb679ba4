//! `s301 capture` against a standalone `s301 mock` process: the PNG holds
//! exactly the mock's screen (over ws:// in RGB888, over rfb:// quantised to
//! RGB565), failures exit 1 without leaving a file, usage errors exit 2.

mod support;

use std::path::Path;

use s301_mocks::desktop::Desktop;
use s301_mocks::MockConfig;
use s301_rfb::{ColourMap, PixelFormat};
use support::{s301, scratch, spawn_mock, text};

/// The screen URL the mock's declaration names (`[screen] url`).
fn screen_url(declaration: &str) -> String {
    declaration
        .lines()
        .find_map(|l| l.trim().strip_prefix("url = \""))
        .and_then(|rest| rest.split('"').next())
        .expect("the declaration names the screen url")
        .to_string()
}

/// The plain RFB URL the mock prints with --rfb-listen.
fn rfb_url(declaration: &str) -> String {
    declaration
        .lines()
        .find_map(|l| l.strip_prefix("# plain RFB also at "))
        .expect("the mock prints its rfb:// URL")
        .trim()
        .to_string()
}

/// The mock's screen as a standalone mock draws it (default size, no modes).
fn mock_screen() -> s301_rfb::Framebuffer {
    let cfg = MockConfig::default();
    Desktop::new(cfg.width, cfg.height)
        .expect("desktop")
        .snapshot()
}

/// Width, height and `0x00RRGGBB` pixels of a PNG file.
fn read_png(path: &Path) -> (u32, u32, Vec<u32>) {
    let file = std::fs::File::open(path).expect("the PNG exists");
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("frame");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let px = buf[..info.buffer_size()]
        .chunks_exact(3)
        .map(|c| (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]))
        .collect();
    (info.width, info.height, px)
}

#[test]
fn capture_over_websocket_holds_the_mock_screen_exactly() {
    let dir = scratch("capture", "ws");
    let mock = spawn_mock(&[]);
    let out = dir.join("screen.png");
    let url = screen_url(&mock.declaration);
    let run = s301(&["capture", &url, out.to_str().expect("utf-8 path")]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}{}", text(&run.stderr));
    let want = mock_screen();
    assert!(stdout.contains("1024x768"), "{stdout}");
    assert!(stdout.contains("ZRLE"), "{stdout}");
    assert!(stdout.contains("RFB 3.8"), "{stdout}");
    let (w, h, px) = read_png(&out);
    assert_eq!((w, h), (1024, 768));
    assert!(
        px == want.pixels(),
        "the PNG differs from the mock's screen"
    );
    // Nothing but the PNG is left behind (the temporary file was renamed).
    let names: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["screen.png"]);
}

#[test]
fn capture_over_plain_rfb_in_rgb565_holds_the_screen_as_quantised() {
    let dir = scratch("capture", "rfb565");
    let mock = spawn_mock(&["--rfb-listen", "127.0.0.1:0"]);
    let out = dir.join("screen.png");
    let url = rfb_url(&mock.declaration);
    let run = s301(&[
        "capture",
        &url,
        out.to_str().expect("utf-8 path"),
        "--pixel-format",
        "rgb565",
    ]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}{}", text(&run.stderr));
    assert!(stdout.contains("over tcp"), "{stdout}");
    let pf = PixelFormat::RGB565;
    let map = ColourMap::new();
    let want: Vec<u32> = mock_screen()
        .pixels()
        .iter()
        .map(|&p| pf.to_rgb(pf.from_rgb(p, &map), &map))
        .collect();
    let (w, h, px) = read_png(&out);
    assert_eq!((w, h), (1024, 768));
    assert!(px == want, "the PNG differs from the quantised screen");
}

#[test]
fn nothing_listening_exits_1_and_writes_nothing() {
    let dir = scratch("capture", "nothing");
    // A port that was free a moment ago.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let out = dir.join("screen.png");
    let url = format!("rfb://127.0.0.1:{port}");
    let run = s301(&["capture", &url, out.to_str().expect("utf-8 path")]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("refused the console at connect"),
        "{stderr}"
    );
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 0);
}

#[test]
fn a_wrong_password_exits_1_naming_authentication() {
    let dir = scratch("capture", "password");
    // The mock child reads its password from this variable at start (std
    // serialises its own environment access, and only children read it).
    std::env::set_var("S301_CAPTURE_TEST_PW", "right");
    let mock = spawn_mock(&["--password-env", "S301_CAPTURE_TEST_PW"]);
    let out = dir.join("screen.png");
    let url = screen_url(&mock.declaration);
    let run = std::process::Command::new(support::BIN)
        .args(["capture", &url, out.to_str().expect("utf-8 path")])
        .args(["--password-env", "S301_CAPTURE_WRONG_PW"])
        .env("S301_CAPTURE_WRONG_PW", "wrong")
        .output()
        .expect("s301 runs");
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("authentication"), "{stderr}");
    assert!(stderr.contains("never tried again"), "{stderr}");
    assert!(!out.exists());
    drop(mock);
}

#[test]
fn usage_errors_exit_2_before_connecting() {
    let dir = scratch("capture", "usage");
    let out = dir.join("x.png");
    let out = out.to_str().expect("utf-8 path");
    for (args, says) in [
        (
            vec!["capture", "wss://127.0.0.1:1/s3-01/v1/screen", out],
            "--ca",
        ),
        (vec!["capture", "http://127.0.0.1:1/", out], "URL"),
        (
            vec![
                "capture",
                "rfb://127.0.0.1:1",
                out,
                "--password-env",
                "S301_CAPTURE_TEST_UNSET",
            ],
            "not set",
        ),
        (
            vec!["capture", "rfb://127.0.0.1:1", out, "--pixel-format", "rgb"],
            "colour-map-8",
        ),
        (
            vec!["capture", "rfb://127.0.0.1:1", "/nonexistent-dir/x.png"],
            "does not exist",
        ),
        (
            vec!["capture", "rfb://127.0.0.1:1", out, "--ca", "ca.pem"],
            "wss://",
        ),
    ] {
        let run = s301(&args);
        let stderr = text(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
