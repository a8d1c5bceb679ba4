//! `s301 mock`: the mock terminal on its own. Prints its declaration (TOML)
//! on stdout, then serves until Ctrl-C.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use s301_mocks::{DeclOptions, MockConfig, MockTerminal};

use crate::cli::MockArgs;
use crate::{EXIT_INCONCLUSIVE, EXIT_PASS, EXIT_USAGE};

/// The last line printed after the declaration: readers of stdout can stop there.
pub const SERVING_LINE: &str = "# s301 mock: serving; stop with Ctrl-C";

/// Runs `s301 mock`.
pub async fn run(args: MockArgs) -> ExitCode {
    if let Some(case) = args.hostile {
        return run_hostile(case, &args).await;
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
    let harness_listen = match &args.push_to {
        None => None,
        Some(url) => match listen_of(url) {
            Some(l) => Some(l),
            None => {
                eprintln!(
                    "s301: error: --push-to {url}: expected http(s)://HOST:PORT/s3-01/v1/reports"
                );
                return ExitCode::from(EXIT_USAGE);
            }
        },
    };
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
        push_to: args.push_to.clone(),
        tls: args.tls.then_some(s301_mocks::tls::TlsMode {
            require_client_cert: args.tls_client_auth,
        }),
    };
    let mock = match MockTerminal::start(cfg).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("s301: error: cannot start the mock terminal: {e}");
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
    let _ = write!(out, "{decl}");
    if !decl.ends_with('\n') {
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "{SERVING_LINE}");
    let _ = out.flush();
    drop(out);

    let stopped = tokio::signal::ctrl_c().await;
    eprintln!("s301 mock: stopping");
    mock.shutdown().await;
    match stopped {
        Ok(()) => ExitCode::from(EXIT_PASS),
        Err(e) => {
            eprintln!("s301: error: cannot wait for Ctrl-C: {e}");
            ExitCode::from(EXIT_INCONCLUSIVE)
        }
    }
}

/// `s301 mock --hostile NAME`: serves the hostile screen until Ctrl-C.
async fn run_hostile(case: s301_mocks::hostile::Hostile, args: &MockArgs) -> ExitCode {
    let screen = (args.width, args.height);
    let h = match s301_mocks::hostile::HostileTerminal::start_with_screen(case, args.listen, screen)
        .await
    {
        Ok(h) => h,
        Err(e) => {
            eprintln!("s301: error: cannot start the hostile terminal: {e}");
            return ExitCode::from(EXIT_INCONCLUSIVE);
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{}", h.declaration_toml());
    let _ = writeln!(out, "{SERVING_LINE}");
    let _ = out.flush();
    drop(out);
    let stopped = tokio::signal::ctrl_c().await;
    eprintln!("s301 mock: stopping");
    h.shutdown().await;
    match stopped {
        Ok(()) => ExitCode::from(EXIT_PASS),
        Err(e) => {
            eprintln!("s301: error: cannot wait for Ctrl-C: {e}");
            ExitCode::from(EXIT_INCONCLUSIVE)
        }
    }
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
}
