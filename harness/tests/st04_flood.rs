//! ST-04 against a terminal that floods valid 1x1 updates as fast as it can
//! and never reads a request: no request is answered (an answer is an update
//! that began after the request and paints the requested area), so ST-04
//! fails and its detail does not claim answers, also when the flood happens
//! to paint the requested area (its updates keep coming while no request is
//! open). The same harness passes a terminal that answers each request.

use std::sync::{Arc, Mutex};

use s301_harness::binding::rfb::RfbBinding;
use s301_harness::checks::{catalog, CheckCtx, Outcome, Shared};
use s301_harness::config::declaration::Declaration;
use s301_harness::config::scenario::Scenario;
use s301_harness::model::ids::CheckId;
use s301_harness::model::verdict::Verdict;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// RFB 3.8, security None, then ServerInit for a 256x256 32-bpp screen.
async fn handshake(s: &mut TcpStream) -> std::io::Result<()> {
    s.write_all(b"RFB 003.008\n").await?;
    let mut version = [0u8; 12];
    s.read_exact(&mut version).await?;
    s.write_all(&[1, 1]).await?;
    let mut choice = [0u8; 1];
    s.read_exact(&mut choice).await?;
    s.write_all(&0u32.to_be_bytes()).await?;
    let mut client_init = [0u8; 1];
    s.read_exact(&mut client_init).await?;
    let mut init = Vec::new();
    init.extend_from_slice(&256u16.to_be_bytes());
    init.extend_from_slice(&256u16.to_be_bytes());
    init.extend_from_slice(&[32, 24, 0, 1]);
    for _ in 0..3 {
        init.extend_from_slice(&255u16.to_be_bytes());
    }
    init.extend_from_slice(&[16, 8, 0, 0, 0, 0]);
    init.extend_from_slice(&5u32.to_be_bytes());
    init.extend_from_slice(b"flood");
    s.write_all(&init).await
}

/// One update of one Raw rectangle filled with `colour`.
fn raw_update(x: u16, y: u16, w: u16, h: u16, colour: u32) -> Vec<u8> {
    let mut v = vec![0, 0, 0, 1];
    for n in [x, y, w, h] {
        v.extend_from_slice(&n.to_be_bytes());
    }
    v.extend_from_slice(&0i32.to_be_bytes());
    for _ in 0..u32::from(w) * u32::from(h) {
        v.extend_from_slice(&colour.to_le_bytes());
    }
    v
}

/// How the test terminal sends updates.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// 1x1 updates as fast as it can, never reading a request.
    Flood,
    /// Updates that repaint the whole screen, as fast as it can, never
    /// reading a request: each one paints any requested area.
    FloodWhole,
    /// One update per FramebufferUpdateRequest, painting its area.
    Honest,
}

/// Serves one console in `mode`.
async fn serve(mut s: TcpStream, mode: Mode) -> std::io::Result<()> {
    handshake(&mut s).await?;
    if let Mode::Flood | Mode::FloodWhole = mode {
        let (mut r, mut w) = s.into_split();
        // Read (and drop) whatever comes, so writes never block on a full
        // receive buffer of the harness's requests.
        tokio::spawn(async move {
            let mut sink = [0u8; 4096];
            while matches!(r.read(&mut sink).await, Ok(n) if n > 0) {}
        });
        let mut i = 0u32;
        loop {
            let u = match mode {
                Mode::FloodWhole => raw_update(0, 0, 256, 256, i),
                _ => raw_update((i % 256) as u16, ((i / 256) % 256) as u16, 1, 1, i),
            };
            w.write_all(&u).await?;
            i = i.wrapping_add(1);
            tokio::time::sleep(std::time::Duration::from_micros(200)).await;
        }
    }
    // An honest terminal: parse client messages and answer requests.
    loop {
        let mut t = [0u8; 1];
        s.read_exact(&mut t).await?;
        match t[0] {
            0 => {
                let mut b = [0u8; 19];
                s.read_exact(&mut b).await?;
            }
            2 => {
                let mut b = [0u8; 3];
                s.read_exact(&mut b).await?;
                let n = u16::from_be_bytes([b[1], b[2]]);
                let mut e = vec![0u8; usize::from(n) * 4];
                s.read_exact(&mut e).await?;
            }
            3 => {
                let mut b = [0u8; 9];
                s.read_exact(&mut b).await?;
                let f = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
                s.write_all(&raw_update(f(1), f(3), f(5), f(7), 0x336699))
                    .await?;
            }
            4 => {
                let mut b = [0u8; 7];
                s.read_exact(&mut b).await?;
            }
            5 => {
                let mut b = [0u8; 5];
                s.read_exact(&mut b).await?;
            }
            6 => {
                let mut b = [0u8; 7];
                s.read_exact(&mut b).await?;
                let n = u32::from_be_bytes([b[3], b[4], b[5], b[6]]);
                let mut e = vec![0u8; n as usize];
                s.read_exact(&mut e).await?;
            }
            _ => return Ok(()),
        }
    }
}

/// Runs ST-01 then ST-04 against a server of the given kind.
async fn st04_against(mode: Mode) -> (Outcome, Outcome) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve(s, mode));
        }
    });
    let decl = Declaration::parse(
        &format!(
            "[terminal]\nvendor = \"t\"\nservice = \"t\"\nmodel = \"t\"\nversion = \"1\"\n\n\
             [screen]\nurl = \"rfb://{addr}\"\nexclusivity = \"refuse\"\n\n\
             [operation]\nsupported = true\n"
        ),
        "flood.toml",
    )
    .expect("declaration");
    let mut sc = Scenario::default_embedded().expect("the built-in scenario");
    sc.screen.sustain_ms = 500;
    sc.screen.sustain_interval_ms = 20;
    sc.screen.update_timeout_ms = 1000;
    let screen = RfbBinding::from_decl(&decl.screen).expect("binding");
    let ctx = CheckCtx {
        declaration: Arc::new(decl),
        scenario: Arc::new(sc),
        seed: 1,
        screen: Arc::new(screen),
        data: None,
        shared: Mutex::new(Shared::default()),
    };
    let defs = catalog();
    let run = |id: CheckId| defs.iter().find(|d| d.id == id).expect("in catalog").run;
    let st01 = run(CheckId::St01)(&ctx).await;
    let st04 = run(CheckId::St04)(&ctx).await;
    server.abort();
    (st01, st04)
}

#[tokio::test]
async fn a_flood_of_unrequested_updates_answers_no_request() {
    let (st01, st04) = st04_against(Mode::Flood).await;
    assert_eq!(st01.verdict, Verdict::Pass, "{}", st01.detail);
    assert_eq!(st04.verdict, Verdict::Fail, "{}", st04.detail);
    // Its updates never paint the whole screen, so the console is never
    // served a whole image: ST-04 fails before its sustained part, saying
    // how much was never painted.
    assert!(
        st04.detail.contains("were never painted"),
        "{}",
        st04.detail
    );
}

#[tokio::test]
async fn a_flood_that_happens_to_paint_the_area_answers_no_request_either() {
    let (st01, st04) = st04_against(Mode::FloodWhole).await;
    assert_eq!(st01.verdict, Verdict::Pass, "{}", st01.detail);
    assert_eq!(st04.verdict, Verdict::Fail, "{}", st04.detail);
    assert!(
        st04.detail.contains("while no request was open"),
        "{}",
        st04.detail
    );
    assert!(!st04.detail.contains("answered"), "{}", st04.detail);
    assert!(
        st04.evidence["unasked_updates"].as_u64() > Some(0),
        "{}",
        st04.evidence
    );
}

#[tokio::test]
async fn a_terminal_that_answers_each_request_passes() {
    let (st01, st04) = st04_against(Mode::Honest).await;
    assert_eq!(st01.verdict, Verdict::Pass, "{}", st01.detail);
    assert_eq!(st04.verdict, Verdict::Pass, "{}", st04.detail);
    assert!(
        st04.evidence["answered"].as_u64() > Some(10),
        "{}",
        st04.evidence
    );
}
