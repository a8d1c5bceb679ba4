//! The `s301` command line: runs the conformance checks against a dedicated
//! terminal (or the built-in mock), runs the mock terminal on its own, and
//! lists the check catalog.
//!
//! Exit status: 0 every applicable condition passed, 1 a condition failed,
//! 2 usage or declaration error (nothing ran), 3 inconclusive or aborted.

mod capture_cmd;
mod checks_cmd;
mod cli;
mod diff_cmd;
mod init_cmd;
mod keygen_cmd;
mod mock_cmd;
mod progress;
mod record;
mod report_cmd;
mod run_cmd;
mod runs_cmd;
mod summary;
mod text;
mod verify_cmd;

use std::process::ExitCode;

use clap::Parser;

/// Every applicable condition passed.
pub const EXIT_PASS: u8 = 0;
/// A condition failed.
pub const EXIT_FAIL: u8 = 1;
/// Usage or declaration error; nothing ran.
pub const EXIT_USAGE: u8 = 2;
/// Inconclusive (an error or a skipped prerequisite), or aborted.
pub const EXIT_INCONCLUSIVE: u8 = 3;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.verbose);
    match cli.command {
        cli::Command::Checks(args) => {
            out(&if args.markdown {
                checks_cmd::markdown()
            } else {
                checks_cmd::table()
            });
            ExitCode::from(EXIT_PASS)
        }
        cli::Command::Run(args) => block_on(run_cmd::run(args)),
        cli::Command::Mock(args) => block_on(mock_cmd::run(args)),
        cli::Command::Verify(args) => verify_cmd::run(&args),
        cli::Command::Keygen(args) => keygen_cmd::run(&args),
        cli::Command::Report(args) => report_cmd::run(&args),
        cli::Command::Runs(args) => runs_cmd::run(&args),
        cli::Command::Diff(args) => diff_cmd::run(&args),
        cli::Command::Capture(args) => block_on(capture_cmd::run(args)),
        cli::Command::Init(args) => init_cmd::run(&args),
    }
}

/// Writes to stdout, ignoring errors: a closed pipe (`s301 ... | head`) must
/// not turn into a panic, and the report is on disk anyway.
pub fn out(text: &str) {
    out_bytes(text.as_bytes());
}

/// Writes bytes (a text or a binary output) to stdout, flushing it.
pub fn out_bytes(bytes: &[u8]) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(bytes);
    let _ = o.flush();
}

fn block_on(fut: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(fut),
        Err(e) => {
            eprintln!("s301: error: cannot start the async runtime: {e}");
            ExitCode::from(EXIT_INCONCLUSIVE)
        }
    }
}

/// Whether log lines may be coloured: only on a terminal, and never when
/// `NO_COLOR` is set to anything but the empty string (no-color.org).
fn colour_logs(stderr_is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Logs go to stderr; `-v` shows info, `-vv` debug, `RUST_LOG` overrides.
/// Colour codes only reach a terminal (see [`colour_logs`]).
fn init_tracing(verbose: u8) {
    use std::io::IsTerminal;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour_logs(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR"),
        ))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_coloured_only_on_a_terminal_without_no_color() {
        assert!(colour_logs(true, None));
        assert!(colour_logs(true, Some("".into())));
        assert!(!colour_logs(true, Some("1".into())));
        assert!(!colour_logs(false, None));
        assert!(!colour_logs(false, Some("".into())));
    }
}
