//! `s301 mock`: the mock terminal on its own. Prints its declaration (TOML)
//! on stdout, then serves until Ctrl-C, SIGTERM or SIGHUP.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use s301_harness::binding::http::REPORTS_PATH;
use s301_mocks::{DeclOptions, MockConfig, MockTerminal};

use crate::cli::MockArgs;
use crate::run_cmd::signals::{self, StopSignals};
use crate::{EXIT_INCONCLUSIVE, EXIT_PASS, EXIT_USAGE};

/// The last line printed after the declaration: readers of stdout can stop there.
pub const SERVING_LINE: &str = "# s301 mock: serving; stop with Ctrl-C";

/// Runs `s301 mock`.
pub async fn run(args: MockArgs) -> ExitCode {
    // Watched from the start: a stop signal during setup still lets the
    // mock remove its --tls private keys.
    let signals = signals::install();
    if let Some(case) = args.hostile {
        return run_hostile(case, &args, signals).await;
    }
    let password = match &args.password_env {
        None => None,
        Some(var) => match std::env::var(var) {
            Ok(p) if !p.is_empty() => Some(p),
            Ok(_) | Err(std::env::VarError::NotPresent) => {
                eprintln!("s301: error: --password-env {var}: the variable is not set or empty (export it first)");
                return ExitCode::from(EXIT_USAGE);
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                eprintln!("s301: error: --password-env {var}: the value is not valid UTF-8");
                return ExitCode::from(EXIT_USAGE);
            }
        },
    };
    // The printed declaration says `output = true`, so the mock must push:
    // to --push-to, or else to a free local port that the declaration's
    // `[harness] listen` then names.
    let push_to = match &args.push_to {
        Some(url) => url.clone(),
        None => match default_push_to(args.tls) {
            Ok(url) => url,
            Err(e) => {
                eprintln!("s301: error: cannot find a free local port for the harness to receive pushed reports on: {e} (give --push-to URL)");
                return ExitCode::from(EXIT_INCONCLUSIVE);
            }
        },
    };
    let Some(listen) = listen_of(&push_to) else {
        eprintln!(
            "s301: error: --push-to {push_to}: expected http(s)://HOST:PORT/s3-01/v1/reports"
        );
        return ExitCode::from(EXIT_USAGE);
    };
    let harness_listen = Some(listen);
    let cfg = MockConfig {
        listen: args.listen,
        rfb_listen: args.rfb_listen,
        exclusivity: args.exclusivity,
        faults: args.faults.clone(),
        input_delay: Duration::from_millis(args.input_delay_ms),
        stall_after: Duration::from_millis(args.stall_after_ms),
        hostile_data: args.hostile_data,
        width: args.width,
        height: args.height,
        password,
        push_to: Some(push_to.clone()),
        tls: args.tls.then_some(s301_mocks::tls::TlsMode {
            require_client_cert: args.tls_client_auth,
        }),
        blink: args.blink,
        screen_mode: args.screen_mode,
        pointer_start: args.pointer_start,
        pointer_sprite: args.pointer_sprite,
        shape_first: args.cursor_shape_first,
    };
    let mock = match MockTerminal::start(cfg).await {
        Ok(m) => m,
        Err(e) => {
            let on = match args.rfb_listen {
                Some(r) => format!("--listen {} / --rfb-listen {r}", args.listen),
                None => format!("--listen {}", args.listen),
            };
            let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                " (choose a free address, or port 0 for any free port)"
            } else {
                ""
            };
            eprintln!(
                "s301: error: cannot start the mock terminal on {on}: {}{hint}",
                s301_harness::config::declaration::io_reason(&e)
            );
            return ExitCode::from(EXIT_INCONCLUSIVE);
        }
    };
    let opts = DeclOptions {
        harness_listen,
        // Name the variable the password was actually read from.
        password_env: args.password_env.clone(),
        plain_rfb: false,
    };
    let decl = mock
        .declaration_with(&opts)
        .unwrap_or_else(|| mock.declaration_toml(opts.harness_listen.as_deref()));
    let faults: Vec<&str> = args.faults.iter().map(|f| f.name()).collect();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "# s301 mock terminal: exclusivity {}, faults [{}]",
        args.exclusivity,
        faults.join(", ")
    );
    if let Some(h) = args.hostile_data {
        let _ = writeln!(
            out,
            "# hostile data side: {h} (for testing the harness, never a conformance run)"
        );
    }
    if let Some(url) = mock.rfb_url() {
        let _ = writeln!(out, "# plain RFB also at {url}");
    }
    let _ = writeln!(out, "# reports are pushed to {push_to}");
    let _ = write!(out, "{decl}");
    if !decl.ends_with('\n') {
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "{SERVING_LINE}");
    let _ = out.flush();
    drop(out);

    let stopped = wait_for_stop(signals).await;
    eprintln!("s301 mock: stopping");
    // Shutting down removes the --tls PEM directory too.
    mock.shutdown().await;
    stopped
}

/// Waits for Ctrl-C, SIGTERM or SIGHUP: any of them stops the mock cleanly.
async fn wait_for_stop(signals: std::io::Result<StopSignals>) -> ExitCode {
    let mut signals = match signals {
        Ok(s) => s,
        Err(e) => {
            eprintln!("s301: error: cannot watch for Ctrl-C, SIGTERM and SIGHUP: {e}");
            return ExitCode::from(EXIT_INCONCLUSIVE);
        }
    };
    match signals.recv().await {
        Some(_) => ExitCode::from(EXIT_PASS),
        None => ExitCode::from(EXIT_INCONCLUSIVE),
    }
}

/// `s301 mock --hostile NAME`: serves the hostile screen until Ctrl-C.
async fn run_hostile(
    case: s301_mocks::hostile::Hostile,
    args: &MockArgs,
    signals: std::io::Result<StopSignals>,
) -> ExitCode {
    let screen = (args.width, args.height);
    let h = match s301_mocks::hostile::HostileTerminal::start_with_screen(case, args.listen, screen)
        .await
    {
        Ok(h) => h,
        Err(e) => {
            eprintln!(
                "s301: error: cannot start the hostile terminal on --listen {}: {}",
                args.listen,
                s301_harness::config::declaration::io_reason(&e)
            );
            return ExitCode::from(EXIT_INCONCLUSIVE);
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{}", h.declaration_toml());
    let _ = writeln!(out, "{SERVING_LINE}");
    let _ = out.flush();
    drop(out);
    let stopped = wait_for_stop(signals).await;
    eprintln!("s301 mock: stopping");
    h.shutdown().await;
    stopped
}

/// Where the mock pushes without `--push-to`: the reports path on a port of
/// 127.0.0.1 that was free a moment ago (`https://` in TLS mode, so the
/// declaration's `[tls]` gives the harness a receiver certificate).
fn default_push_to(tls: bool) -> std::io::Result<String> {
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port();
    let scheme = if tls { "https" } else { "http" };
    Ok(format!("{scheme}://127.0.0.1:{port}{REPORTS_PATH}"))
}

/// `HOST:PORT` of an `http://HOST:PORT/...` URL.
fn listen_of(url: &str) -> Option<String> {
    // https:// when the mock runs with --tls (it then pushes over TLS).
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let authority = rest.split('/').next()?;
    let (host, port) = authority.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    if host.is_empty() {
        return None;
    }
    Some(authority.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    #[test]
    fn push_url_gives_the_harness_listen_address() {
        assert_eq!(
            listen_of("http://127.0.0.1:8119/s3-01/v1/reports").as_deref(),
            Some("127.0.0.1:8119")
        );
        assert_eq!(listen_of("http://host/s3-01"), None);
        // https:// is for the mock's TLS mode.
        assert_eq!(listen_of("https://h:1/x").as_deref(), Some("h:1"));
        assert_eq!(listen_of("ftp://h:1/x"), None);
        assert_eq!(listen_of("http://:80/x"), None);
    }

    #[test]
    fn default_push_goes_to_a_local_port_the_declaration_can_name() {
        let url = default_push_to(false).unwrap();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        assert!(url.ends_with(REPORTS_PATH), "{url}");
        assert!(listen_of(&url).is_some(), "{url}");
        assert!(default_push_to(true).unwrap().starts_with("https://"));
    }
}
