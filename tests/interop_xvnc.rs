//! Interoperability suite: the real `s301` binary against VNC servers no one
//! here wrote. TigerVNC's Xvnc with an xterm on its display, by `rfb://`
//! directly and by `ws://` through websockify; and x11vnc (libvncserver) in
//! front of Xvfb, for a genuinely 8-bit colour-mapped screen and a second
//! implementation of exclusivity.
//!
//! Each test starts its own servers on a free port and display, so cargo runs
//! the cases concurrently. Every child runs in its own process group and is
//! killed with its group when the guard drops, also when an assertion fails.
//!
//! The tools come from Debian (tigervnc-standalone-server, tigervnc-tools,
//! xfonts-base, websockify, xterm, xvfb, x11vnc, x11-apps for xeyes,
//! xdotool);
//! `.ci/run` installs them.
//! Without them the tests fail under `CI=true` and print a skip notice
//! elsewhere.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a child may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Upper bound on one `s301 run` (the ci scenario takes seconds).
const RUN_TIMEOUT: Duration = Duration::from_secs(240);

/// The external programs the suite drives. Xvfb and x11vnc serve the
/// 8-bit colour-mapped screen that TigerVNC's Xvnc cannot; xeyes is a
/// window that visibly follows the pointer (OP-01's reaction); xdotool
/// gives the xterm the keyboard focus, without which it does not blink.
const TOOLS: [&str; 8] = [
    "Xvnc",
    "xterm",
    "websockify",
    "vncpasswd",
    "Xvfb",
    "x11vnc",
    "xeyes",
    "xdotool",
];

/// Finds `name` on PATH.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// True when the tools are present. Missing tools fail the test when
/// `CI=true` (CI installs them) and skip it with a notice otherwise.
fn tools_present(test: &str) -> bool {
    let missing: Vec<&str> = TOOLS.into_iter().filter(|t| which(t).is_none()).collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "interop test {test}: missing {} (Debian: tigervnc-standalone-server tigervnc-tools \
         websockify xterm xvfb x11vnc x11-apps xdotool)",
        missing.join(", ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}; CI must install them");
    }
    eprintln!("SKIPPED {msg}");
    false
}

/// A child process in its own process group, killed with the group on drop.
struct Proc {
    child: Child,
    what: String,
}

impl Proc {
    fn spawn(mut cmd: Command, what: &str) -> Proc {
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Proc {
            child,
            what: what.to_string(),
        }
    }

    /// An error when the process has already exited.
    fn running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(Some(st)) => Err(format!("{} exited early: {st}", self.what)),
            _ => Ok(()),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // The group id is the child's pid (process_group(0)); this reaches
        // websockify's per-connection children and xterm's shell as well.
        let pgid = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &pgid])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on loopback (the listener is dropped before returning).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A display number with no X server behind it.
fn free_display() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = 200 + (std::process::id() % 400);
    loop {
        let n = base + NEXT.fetch_add(1, Ordering::Relaxed);
        let lock = PathBuf::from(format!("/tmp/.X{n}-lock"));
        let sock = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
        if !lock.exists() && !sock.exists() {
            return n;
        }
        assert!(n < base + 1000, "no free X display number");
    }
}

/// Polls until `ok` holds, at most `READY_TIMEOUT`; an error when the
/// process exits first, a panic when it never gets ready.
fn wait_for(what: &str, proc: &mut Proc, mut ok: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    while !ok() {
        proc.running()?;
        assert!(
            Instant::now() < deadline,
            "{what} not ready within {READY_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn port_open(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A scratch directory for one case.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("s301-interop-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An X server served over RFB with an xterm covering its whole screen (so
/// the xterm has the keyboard focus wherever the pointer is, as there is no
/// window manager): TigerVNC's Xvnc, or Xvfb with x11vnc in front of it.
struct Desktop {
    port: u16,
    width: u32,
    height: u32,
    /// Killed in order when dropped: the VNC server or xterm first, the
    /// X server last.
    _procs: Vec<Proc>,
}

impl Desktop {
    /// Starts the desktop; panics when it cannot.
    fn start(dir: &Path, width: u32, height: u32, depth: u32, flags: &[&str]) -> Desktop {
        Desktop::try_start(dir, width, height, depth, flags).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts Xvnc and the xterm; an error when either exits at start.
    fn try_start(
        dir: &Path,
        width: u32,
        height: u32,
        depth: u32,
        flags: &[&str],
    ) -> Result<Desktop, String> {
        Desktop::try_start_with(dir, width, height, depth, flags, Clients::default())
    }

    /// Like [`Desktop::try_start`], with the X clients `clients` asks for.
    fn try_start_with(
        dir: &Path,
        width: u32,
        height: u32,
        depth: u32,
        flags: &[&str],
        clients: Clients,
    ) -> Result<Desktop, String> {
        let port = free_port();
        let display = free_display();
        let mut cmd = Command::new("Xvnc");
        cmd.arg(format!(":{display}"))
            .args(["-rfbport", &port.to_string(), "-localhost"])
            .args(["-geometry", &format!("{width}x{height}")])
            .args(["-depth", &depth.to_string()])
            .args(flags);
        if !flags.contains(&"-SecurityTypes") {
            cmd.args(["-SecurityTypes", "None"]);
        }
        let mut xvnc = Proc::spawn(cmd, "Xvnc");
        let sock = PathBuf::from(format!("/tmp/.X11-unix/X{display}"));
        wait_for("Xvnc", &mut xvnc, || sock.exists() && port_open(port))?;
        let xterm = xterm_with(dir, display, width, height, clients.blinking_cursor)?;
        let mut procs = vec![xterm];
        if clients.xeyes {
            procs.insert(0, xeyes(display)?);
        }
        procs.push(xvnc);
        Ok(Desktop {
            port,
            width,
            height,
            _procs: procs,
        })
    }

    /// Starts Xvfb at `depth`, the xterm, and x11vnc (libvncserver) with
    /// `flags` serving that display in its native pixel format (at depth 8,
    /// PseudoColor: a colour map).
    fn start_x11vnc(dir: &Path, width: u32, height: u32, depth: u32, flags: &[&str]) -> Desktop {
        let display = free_display();
        let mut cmd = Command::new("Xvfb");
        cmd.arg(format!(":{display}"))
            .args(["-screen", "0", &format!("{width}x{height}x{depth}")])
            .args(["-nolisten", "tcp"]);
        let mut xvfb = Proc::spawn(cmd, "Xvfb");
        let sock = PathBuf::from(format!("/tmp/.X11-unix/X{display}"));
        wait_for("Xvfb", &mut xvfb, || sock.exists()).unwrap_or_else(|e| panic!("{e}"));
        let xterm = xterm(dir, display, width, height).unwrap_or_else(|e| panic!("{e}"));
        let port = free_port();
        let mut cmd = Command::new("x11vnc");
        cmd.args(["-display", &format!(":{display}")])
            .args(["-rfbport", &port.to_string(), "-localhost"])
            .args(["-nopw", "-forever", "-quiet"])
            .args(flags);
        let mut x11vnc = Proc::spawn(cmd, "x11vnc");
        wait_for("x11vnc", &mut x11vnc, || port_open(port)).unwrap_or_else(|e| panic!("{e}"));
        Desktop {
            port,
            width,
            height,
            _procs: vec![x11vnc, xterm, xvfb],
        }
    }

    fn rfb_url(&self) -> String {
        format!("rfb://127.0.0.1:{}", self.port)
    }
}

/// The X clients on a desktop besides the xterm that covers it.
#[derive(Debug, Clone, Copy, Default)]
struct Clients {
    /// The xterm's cursor blinks (`-bc`): the screen changes by itself.
    blinking_cursor: bool,
    /// An xeyes window at the bottom right, whose eyes follow the pointer.
    xeyes: bool,
}

/// An xeyes window (160x120) at the bottom right of display `display`, on
/// top of the xterm and away from its text: it redraws its eyes whenever
/// the pointer moves, anywhere on the screen, so a click's pointer motion
/// visibly changes it.
fn xeyes(display: u32) -> Result<Proc, String> {
    let mut cmd = Command::new("xeyes");
    cmd.env("DISPLAY", format!(":{display}"))
        .args(["-geometry", "160x120-0-0"]);
    let mut p = Proc::spawn(cmd, "xeyes");
    // xeyes says nothing when its window is up: give it a moment.
    std::thread::sleep(Duration::from_millis(800));
    p.running()?;
    Ok(p)
}

/// An xterm covering the whole of display `display`.
fn xterm(dir: &Path, display: u32, width: u32, height: u32) -> Result<Proc, String> {
    xterm_with(dir, display, width, height, false)
}

/// An xterm covering the whole of display `display`, its cursor blinking
/// when `blink`.
fn xterm_with(
    dir: &Path,
    display: u32,
    width: u32,
    height: u32,
    blink: bool,
) -> Result<Proc, String> {
    // The fixed font is 6x13: enough columns and rows to cover the screen.
    // `+bc`: no blinking cursor, so the screen is quiet between probes
    // (`-bc` makes it blink, for the cases about a screen that changes by
    // itself). The shell marks readiness after xterm has realised its
    // window, then `cat` leaves the typed text echoed by the tty.
    let ready = dir.join(format!("xterm-ready-{display}"));
    let geometry = format!("{}x{}+0+0", width / 6 + 1, height / 13 + 1);
    let mut cmd = Command::new("xterm");
    cmd.env("DISPLAY", format!(":{display}"))
        .args(["-geometry", &geometry, if blink { "-bc" } else { "+bc" }])
        .args(["-e", "sh", "-c"])
        .arg(format!("touch '{}' && exec cat", ready.display()));
    let mut xterm = Proc::spawn(cmd, "xterm");
    wait_for("xterm", &mut xterm, || ready.exists())?;
    if blink {
        // xterm blinks only while it holds the keyboard focus, which no
        // one gives it without a window manager (pointer-root focus does
        // not count): set it, as a window manager would.
        // (The display has this one xterm.)
        let display = format!(":{display}");
        wait_for("xterm's focus", &mut xterm, || {
            Command::new("xdotool")
                .env("DISPLAY", &display)
                .args(["search", "--class", "xterm", "windowfocus"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })?;
    }
    Ok(xterm)
}

/// websockify from a free port to the desktop's RFB port.
fn websockify(to: u16) -> (Proc, String) {
    let port = free_port();
    let mut cmd = Command::new("websockify");
    cmd.arg(port.to_string()).arg(format!("127.0.0.1:{to}"));
    let mut p = Proc::spawn(cmd, "websockify");
    wait_for("websockify", &mut p, || port_open(port)).unwrap_or_else(|e| panic!("{e}"));
    (p, format!("ws://127.0.0.1:{port}/"))
}

/// A screen-only declaration whose type probe lands in the xterm;
/// `screen_keys` are more `[screen]` lines (password_env, pixel_format).
fn declaration(
    dir: &Path,
    name: &str,
    url: &str,
    policy: &str,
    screen_keys: &str,
    d: &Desktop,
) -> PathBuf {
    let text = format!(
        "[terminal]\nvendor = \"Debian\"\nservice = \"VNC server\"\nmodel = \"X + xterm\"\n\
         version = \"debian\"\n\n[screen]\nurl = \"{url}\"\nexclusivity = \"{policy}\"\n{screen_keys}\n\
         [operation]\nsupported = true\n\n[[operation.probe]]\nkind = \"type\"\n\
         text = \"S301\"\nwatch = [0, 0, {}, {}]\n",
        d.width, d.height
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `s301 run` with the ci scenario and returns the report.
fn run(dir: &Path, decl: &Path, select: &[&str], env: &[(&str, &str)]) -> Value {
    let out = dir.join(format!(
        "run-{}",
        decl.file_stem().unwrap().to_string_lossy()
    ));
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ci.toml");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_s301"));
    cmd.arg("run")
        .arg("--terminal")
        .arg(decl)
        .arg("--scenario")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .args(["--seed", "1"])
        .args(select)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("start s301");
    let pid = child.id();
    // Bound the run: a watchdog kills s301 if it overruns.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if rx.recv_timeout(RUN_TIMEOUT).is_err() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    });
    let output = child.wait_with_output().expect("wait for s301");
    let _ = tx.send(());
    let _ = watchdog.join();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("--- s301 {}\n{stdout}{stderr}", decl.display());
    assert_ne!(
        output.status.code(),
        Some(2),
        "usage/declaration error: {stderr}"
    );
    let bytes = std::fs::read(out.join("report.json"))
        .unwrap_or_else(|e| panic!("no report.json ({e}); status {}", output.status));
    serde_json::from_slice(&bytes).unwrap()
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("{id} missing from the report"))
}

fn assert_verdict(report: &Value, id: &str, want: &str) {
    let c = check(report, id);
    assert_eq!(
        c["verdict"].as_str(),
        Some(want),
        "{id}: expected {want}, got {} ({})",
        c["verdict"],
        c["detail"]
    );
}

/// The checks a conforming desktop passes under either policy.
const SCREEN_AND_OPERATION: [&str; 9] = [
    "ST-01", "ST-02", "ST-03", "ST-04", "OP-02", "OP-04", "EX-01", "EX-02", "EX-03",
];

/// Both transports against one desktop: rfb:// then ws:// through websockify.
fn both_transports(name: &str, flags: &[&str], policy: &str) {
    if !tools_present(name) {
        return;
    }
    let dir = scratch(name);
    let desk = Desktop::start(&dir, 1024, 768, 24, flags);
    let (_ws, ws_url) = websockify(desk.port);
    for (tag, url) in [("rfb", desk.rfb_url()), ("ws", ws_url)] {
        let decl = declaration(&dir, &format!("{name}-{tag}"), &url, policy, "", &desk);
        let report = run(&dir, &decl, &["--only", "1-2-1,1-2-2"], &[]);
        for id in SCREEN_AND_OPERATION {
            assert_verdict(&report, id, "pass");
        }
        // OP-02's detail counts the pixels the typed text changed: the
        // screen carries the real xterm image, not a blank.
        let op02 = check(&report, "OP-02")["detail"].as_str().unwrap_or("");
        assert!(op02.contains("pixels"), "OP-02 detail: {op02}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn never_shared_without_disconnect_passes_exclusivity_under_refuse() {
    both_transports(
        "refuse",
        &["-NeverShared", "-DisconnectClients=0"],
        "refuse",
    );
}

#[test]
fn defaults_pass_exclusivity_under_takeover() {
    both_transports("takeover", &[], "takeover");
}

#[test]
fn always_shared_fails_ex01() {
    if !tools_present("always_shared") {
        return;
    }
    let dir = scratch("shared");
    let desk = Desktop::start(&dir, 1024, 768, 24, &["-AlwaysShared"]);
    for policy in ["refuse", "takeover"] {
        let decl = declaration(
            &dir,
            &format!("shared-{policy}"),
            &desk.rfb_url(),
            policy,
            "",
            &desk,
        );
        let report = run(&dir, &decl, &["--only", "EX-01"], &[]);
        assert_verdict(&report, "EX-01", "fail");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn vnc_authentication_with_vncpasswd_file() {
    if !tools_present("vnc_auth") {
        return;
    }
    let dir = scratch("auth");
    let pwf = password_file(&dir, "s301-pw");
    let desk = Desktop::start(
        &dir,
        1024,
        768,
        24,
        &["-SecurityTypes", "VncAuth", "-PasswordFile", &pwf],
    );
    let env_var = "S301_INTEROP_PASSWORD";
    let pw_key = format!("password_env = \"{env_var}\"");
    let good = declaration(
        &dir,
        "auth-good",
        &desk.rfb_url(),
        "takeover",
        &pw_key,
        &desk,
    );
    let report = run(&dir, &good, &["--only", "ST-01"], &[(env_var, "s301-pw")]);
    assert_verdict(&report, "ST-01", "pass");
    let detail = check(&report, "ST-01")["detail"].as_str().unwrap_or("");
    assert!(detail.contains("VNC"), "security named in: {detail}");

    let bad = declaration(
        &dir,
        "auth-bad",
        &desk.rfb_url(),
        "takeover",
        &pw_key,
        &desk,
    );
    let report = run(&dir, &bad, &["--only", "ST-01"], &[(env_var, "wrong-pw")]);
    assert_verdict(&report, "ST-01", "fail");
    let detail = check(&report, "ST-01")["detail"]
        .as_str()
        .unwrap_or("")
        .to_lowercase();
    assert!(
        detail.contains("auth") || detail.contains("password"),
        "ST-01 fail detail should name the authentication failure: {detail}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A TigerVNC password file holding `password` (made by `vncpasswd -f`).
fn password_file(dir: &Path, password: &str) -> String {
    let pwfile = dir.join("passwd");
    let mut child = Command::new("vncpasswd")
        .arg("-f")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("vncpasswd");
    {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(format!("{password}\n").as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "vncpasswd -f failed");
    assert!(!out.stdout.is_empty(), "vncpasswd -f wrote nothing");
    std::fs::write(&pwfile, &out.stdout).unwrap();
    pwfile.to_string_lossy().into_owned()
}

/// ST-02, ST-03 and OP-02 on an unusual screen, in the pixel format the
/// `pixel_format` declaration key asks for; `st02` is ST-02's expected
/// verdict, `bpp` what the server announces in ServerInit. The ST-02
/// screenshot must be the xterm's image (black text on white, decoded to
/// the exact colours). Returns the report.
fn st02_st03(name: &str, desk: &Desktop, pixel_format: &str, bpp: u32, st02: &str) -> Value {
    let dir = scratch(name);
    let (width, height) = (desk.width, desk.height);
    let keys = format!("pixel_format = \"{pixel_format}\"");
    let decl = declaration(&dir, name, &desk.rfb_url(), "takeover", &keys, desk);
    let report = run(&dir, &decl, &["--only", "ST-01,ST-02,ST-03,OP-02"], &[]);
    for id in ["ST-01", "ST-03", "OP-02"] {
        assert_verdict(&report, id, "pass");
    }
    assert_verdict(&report, "ST-02", st02);
    let session = &check(&report, "ST-01")["evidence"]["session"];
    assert_eq!(session["width"], width, "{session}");
    assert_eq!(session["height"], height, "{session}");
    let spf = session["server_pixel_format"].as_str().unwrap_or("");
    assert!(
        spf.starts_with(&format!("{bpp}bpp")),
        "server pixel format: {spf}"
    );
    // The ST-02 screenshot is the xterm's image: the screen's size, and
    // not one flat colour (a blank or undecoded screen would be).
    let shot = dir
        .join(format!("run-{name}"))
        .join("evidence/ST-02/full.png");
    let (w, h, colours) = png_colours(&shot);
    assert_eq!((w, h), (width, height), "{}", shot.display());
    assert!(colours >= 2, "{} is one flat colour", shot.display());
    // Every ST-02 round covered the screen; the typed text showed up in
    // OP-02, so the decoded image is the xterm's, not a blank one.
    for round in check(&report, "ST-02")["evidence"]["rounds"]
        .as_array()
        .unwrap()
    {
        assert_eq!(round["uncovered_pixels"], 0, "{round}");
    }
    let (white, black) = white_and_black(&shot);
    assert!(
        white > 0.5 && black > 0.0,
        "{}: white {white}, black {black}",
        shot.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
    report
}

/// The share of a PNG's pixels that are pure white and pure black: an
/// xterm is black text on white, so a colour map applied right shows both
/// exactly (an unapplied one leaves every pixel black).
fn white_and_black(path: &Path) -> (f64, f64) {
    let bytes = std::fs::read(path).unwrap();
    let mut r = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("a PNG");
    let mut buf = vec![0; r.output_buffer_size().expect("buffer size")];
    let info = r.next_frame(&mut buf).expect("a PNG frame");
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "8-bit channels");
    let px = info.color_type.samples();
    let (mut white, mut black, mut all) = (0u64, 0u64, 0u64);
    for p in buf.get(..info.buffer_size()).unwrap_or(&[]).chunks(px) {
        let rgb = p.get(..3).unwrap_or(&[]);
        all += 1;
        if rgb == [255, 255, 255] {
            white += 1;
        } else if rgb == [0, 0, 0] {
            black += 1;
        }
    }
    let all = all.max(1) as f64;
    (white as f64 / all, black as f64 / all)
}

/// Width, height and number of distinct colours (counted up to 16) of a PNG.
fn png_colours(path: &Path) -> (u32, u32, usize) {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("screenshot {}: {e}", path.display()));
    let mut r = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("a PNG");
    let mut buf = vec![0; r.output_buffer_size().expect("buffer size")];
    let info = r.next_frame(&mut buf).expect("a PNG frame");
    let px = info.color_type.samples() * usize::from(info.bit_depth as u8).div_ceil(8);
    let mut seen: Vec<&[u8]> = Vec::new();
    for p in buf
        .get(..info.buffer_size())
        .unwrap_or(&[])
        .chunks(px.max(1))
    {
        if !seen.contains(&p) {
            seen.push(p);
            if seen.len() >= 16 {
                break;
            }
        }
    }
    (info.width, info.height, seen.len())
}

#[test]
fn large_screen_3840x2160_passes_st02_st03() {
    if !tools_present("large") {
        return;
    }
    let dir = scratch("large-desk");
    let desk = Desktop::start(&dir, 3840, 2160, 24, &[]);
    st02_st03("large", &desk, "rgb888", 32, "pass");
    drop(desk);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A genuinely 8-bit colour-mapped screen: Xvfb at depth 8 (PseudoColor)
/// served by x11vnc, tested in its native format, so the pixels are
/// colour-map indices and the colours come from SetColourMapEntries.
/// (TigerVNC 1.12's Xvnc cannot run at `-depth 8`.)
///
/// ST-02 rightly fails on this server, for a reason that has nothing to do
/// with colour maps: libvncserver (x11vnc 0.9.16) does not implement TRLE,
/// and when a SetEncodings lists no encoding it knows, it keeps the
/// previous list's preferred one, so the "TRLE only" round is answered in
/// ZRLE, which was not requested (RFC 6143 allows only the requested
/// encodings, plus Raw). Every other round, ST-03 and OP-02 pass.
#[test]
fn colour_map_depth_8_gives_the_real_image() {
    if !tools_present("depth8") {
        return;
    }
    let dir = scratch("depth8-desk");
    let desk = Desktop::start_x11vnc(&dir, 1024, 768, 8, &[]);
    let report = st02_st03("depth8", &desk, "native", 8, "fail");
    let st02 = check(&report, "ST-02");
    let failed: Vec<(&str, &Value)> = st02["evidence"]["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["violations"]["total"] != 0)
        .map(|r| (r["round"].as_str().unwrap_or(""), &r["encodings_seen"]))
        .collect();
    assert_eq!(
        failed,
        vec![("TRLE only", &serde_json::json!({"ZRLE": 1}))],
        "{st02}"
    );
    assert!(
        st02["detail"]
            .as_str()
            .unwrap_or("")
            .contains("sent in ZRLE, which was not requested"),
        "{}",
        st02["detail"]
    );
    let session = &check(&report, "ST-01")["evidence"]["session"];
    assert_eq!(
        session["server_pixel_format"], "8bpp depth 8 colour-mapped",
        "{session}"
    );
    assert_eq!(session["pixel_format"], "8bpp depth 8 colour-mapped");
    assert_eq!(session["pixel_format_sent"], false);
    drop(desk);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A colour map asked of a true-colour server: Xvnc at depth 24 with the
/// harness asking for 8-bit colour-mapped pixels (TigerVNC then sends a
/// colour map of its own).
#[test]
fn colour_map_asked_of_xvnc_passes_st02_st03() {
    if !tools_present("mapped8") {
        return;
    }
    let dir = scratch("mapped8-desk");
    let desk = Desktop::start(&dir, 1024, 768, 24, &[]);
    let report = st02_st03("mapped8", &desk, "colour-map-8", 32, "pass");
    let session = &check(&report, "ST-01")["evidence"]["session"];
    assert_eq!(session["pixel_format"], "8bpp depth 8 colour-mapped");
    assert_eq!(session["pixel_format_sent"], true);
    drop(desk);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A second, independent implementation of exclusivity: libvncserver in
/// x11vnc. By default it refuses a second exclusive viewer (after
/// ServerInit), so the EX checks pass under `refuse`, and a declaration
/// that claims `takeover` is caught by EX-01; with `-shared` it serves both
/// viewers and EX-01 and EX-03 fail.
#[test]
fn x11vnc_exclusivity_verdicts() {
    if !tools_present("x11vnc_exclusivity") {
        return;
    }
    let dir = scratch("x11vnc-excl");
    let desk = Desktop::start_x11vnc(&dir, 1024, 768, 24, &[]);
    let refuse = declaration(&dir, "x11vnc-refuse", &desk.rfb_url(), "refuse", "", &desk);
    let report = run(&dir, &refuse, &["--only", "EX-01,EX-02,EX-03"], &[]);
    for id in ["EX-01", "EX-02", "EX-03"] {
        assert_verdict(&report, id, "pass");
    }
    let takeover = declaration(
        &dir,
        "x11vnc-takeover",
        &desk.rfb_url(),
        "takeover",
        "",
        &desk,
    );
    let report = run(&dir, &takeover, &["--only", "EX-01"], &[]);
    assert_verdict(&report, "EX-01", "fail");
    let detail = check(&report, "EX-01")["detail"].as_str().unwrap_or("");
    assert!(detail.contains("console B"), "EX-01 detail: {detail}");
    drop(desk);

    let desk = Desktop::start_x11vnc(&dir, 1024, 768, 24, &["-shared"]);
    let shared = declaration(&dir, "x11vnc-shared", &desk.rfb_url(), "refuse", "", &desk);
    let report = run(&dir, &shared, &["--only", "EX-01,EX-03"], &[]);
    assert_verdict(&report, "EX-01", "fail");
    assert_verdict(&report, "EX-03", "fail");
    let detail = check(&report, "EX-01")["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("two consoles served at once"),
        "EX-01 detail: {detail}"
    );
    drop(desk);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A TCP proxy in front of a VNC server that counts VNC Authentication
/// attempts: connections on which the client chose security type 2 and
/// sent its 16-byte response (RFB 3.7/3.8: 12 bytes of version, the type,
/// then the response). Plain connects (the harness's liveness probe) and
/// connections that stop earlier are not attempts. Stops when dropped.
struct AuthCounter {
    port: u16,
    attempts: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl AuthCounter {
    fn start(to: u16) -> AuthCounter {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let attempts = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, st) = (attempts.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", to)) else {
                    continue;
                };
                let a = a.clone();
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                // Client to server, watching for the authentication response.
                std::thread::spawn(move || {
                    let (mut from, mut to) = (client, server);
                    let mut head = Vec::new();
                    let mut counted = false;
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 || to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        if head.len() < 29 {
                            head.extend_from_slice(&buf[..n.min(29 - head.len())]);
                        }
                        if !counted && head.len() >= 29 && head[12] == 2 {
                            counted = true;
                            a.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
                // Server to client.
                std::thread::spawn(move || {
                    let (mut from, mut to) = (s2, c2);
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        AuthCounter {
            port,
            attempts,
            stop,
        }
    }

    fn url(&self) -> String {
        format!("rfb://127.0.0.1:{}", self.port)
    }

    fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }
}

impl Drop for AuthCounter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A wrong password is sent once in the whole run, never retried (TigerVNC
/// blacklists a client after five failures, and a console locked out of
/// its terminal is real harm), ST-01 quotes TigerVNC's reason, and the
/// right password still works from the same address afterwards.
#[test]
fn wrong_password_is_tried_once_per_run_and_the_right_one_still_works() {
    if !tools_present("auth_once") {
        return;
    }
    let dir = scratch("auth-once");
    let pwf = password_file(&dir, "s301-pw");
    let desk = Desktop::start(
        &dir,
        1024,
        768,
        24,
        &["-SecurityTypes", "VncAuth", "-PasswordFile", &pwf],
    );
    let proxy = AuthCounter::start(desk.port);
    let env_var = "S301_INTEROP_PASSWORD";
    let pw_key = format!("password_env = \"{env_var}\"");
    // The whole run: ST-01 and TLS-01 open consoles of their own, the
    // other screen checks need ST-01.
    let bad = declaration(&dir, "once-bad", &proxy.url(), "takeover", &pw_key, &desk);
    let report = run(&dir, &bad, &[], &[(env_var, "wrong-pw")]);
    assert_verdict(&report, "ST-01", "fail");
    let detail = check(&report, "ST-01")["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("Authentication failure"),
        "ST-01 quotes TigerVNC's reason: {detail}"
    );
    assert!(
        !detail.contains("Too many security failures"),
        "the terminal must never get to blacklist the console: {detail}"
    );
    assert_eq!(
        proxy.attempts(),
        1,
        "authentication attempts in one run with a wrong password"
    );
    let good = declaration(&dir, "once-good", &proxy.url(), "takeover", &pw_key, &desk);
    let report = run(&dir, &good, &["--only", "ST-01"], &[(env_var, "s301-pw")]);
    assert_verdict(&report, "ST-01", "pass");
    assert_eq!(proxy.attempts(), 2, "the right password, once");
    drop(proxy);
    drop(desk);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A declaration for the xterm + xeyes desktop: a click probe on the
/// xterm, away from the pointer's start at the centre (the pointer's
/// motion moves xeyes' eyes), and a type probe; both watch the whole
/// screen, which holds the xterm's cursor.
fn input_declaration(dir: &Path, name: &str, url: &str, d: &Desktop) -> PathBuf {
    let (w, h) = (d.width, d.height);
    let text = format!(
        "[terminal]\nvendor = \"Debian\"\nservice = \"VNC server\"\nmodel = \"X + xterm + xeyes\"\n\
         version = \"debian\"\n\n[screen]\nurl = \"{url}\"\nexclusivity = \"takeover\"\n\n\
         [operation]\nsupported = true\n\n\
         [[operation.probe]]\nkind = \"click\"\nx = {}\ny = {}\nfrom = [{}, {}]\nwatch = [0, 0, {w}, {h}]\n\n\
         [[operation.probe]]\nkind = \"type\"\ntext = \"S301\"\nwatch = [0, 0, {w}, {h}]\n",
        w / 4,
        h / 2,
        w / 2,
        h / 2,
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// OP-01 and OP-02 on an Xvnc desktop with an xterm and xeyes, input
/// accepted or not (`-AcceptPointerEvents=0 -AcceptKeyEvents=0`), the
/// xterm's cursor blinking or not. Returns the report.
fn input_case(name: &str, accept: bool, blink: bool) -> Value {
    let dir = scratch(name);
    let mut flags: Vec<&str> = Vec::new();
    if !accept {
        flags.extend(["-AcceptPointerEvents=0", "-AcceptKeyEvents=0"]);
    }
    let clients = Clients {
        blinking_cursor: blink,
        xeyes: true,
    };
    let desk = Desktop::try_start_with(&dir, 1024, 768, 24, &flags, clients)
        .unwrap_or_else(|e| panic!("{e}"));
    let decl = input_declaration(&dir, name, &desk.rfb_url(), &desk);
    let report = run(&dir, &decl, &["--only", "ST-01,OP-01,OP-02"], &[]);
    assert_verdict(&report, "ST-01", "pass");
    drop(desk);
    let _ = std::fs::remove_dir_all(&dir);
    report
}

#[test]
fn input_accepted_passes_op01_and_op02() {
    if !tools_present("input_on") {
        return;
    }
    let report = input_case("input-on", true, false);
    assert_verdict(&report, "OP-01", "pass");
    assert_verdict(&report, "OP-02", "pass");
}

#[test]
fn input_refused_by_the_server_fails_op01_and_op02() {
    if !tools_present("input_off") {
        return;
    }
    let report = input_case("input-off", false, false);
    assert_verdict(&report, "OP-01", "fail");
    assert_verdict(&report, "OP-02", "fail");
}

/// The hard case: input refused, but the xterm's blinking cursor changes
/// the watched region by itself. The change is not the input's doing, so
/// OP-01 and OP-02 must still fail (before the control period, the blink
/// made them pass).
#[test]
fn input_refused_with_a_blinking_cursor_still_fails_op01_and_op02() {
    if !tools_present("input_off_blink") {
        return;
    }
    let report = input_case("input-off-blink", false, true);
    assert_verdict(&report, "OP-01", "fail");
    assert_verdict(&report, "OP-02", "fail");
}

/// Input accepted with the cursor blinking: the typed text and the eyes
/// following the pointer are reactions; the blink, found in the control
/// period, is left out and named.
#[test]
fn input_accepted_with_a_blinking_cursor_passes_op01_and_op02() {
    if !tools_present("input_on_blink") {
        return;
    }
    let report = input_case("input-on-blink", true, true);
    assert_verdict(&report, "OP-01", "pass");
    assert_verdict(&report, "OP-02", "pass");
}

/// The same with libvncserver: x11vnc `-viewonly` ignores every input.
#[test]
fn x11vnc_viewonly_fails_op02() {
    if !tools_present("x11vnc_viewonly") {
        return;
    }
    let dir = scratch("x11vnc-viewonly");
    let desk = Desktop::start_x11vnc(&dir, 1024, 768, 24, &["-viewonly"]);
    let decl = declaration(&dir, "viewonly", &desk.rfb_url(), "refuse", "", &desk);
    let report = run(&dir, &decl, &["--only", "ST-01,OP-02"], &[]);
    assert_verdict(&report, "ST-01", "pass");
    assert_verdict(&report, "OP-02", "fail");
    drop(desk);
    let _ = std::fs::remove_dir_all(&dir);
}
